"""Per-run provisioning of the secure backhaul (called by the topology engine at ``up``).

For a topology with a ``segw`` node, into the run directory:

- ``pki/``: the run's operator PKI (:class:`testbed.pki.RunPki`): root and issuing CA, the SeGW
  certificate (FQDN + public address in subjectAltName, TS 33.310 6.1), one device certificate per
  tunnelled femto (FQDN from OUI + serial, TS 33.320 4.4.2), the CRL and the root's authority CRL
  (``root-crl.pem``: strict revocation checking needs the issuing CA's status too);
- each femto's device private key goes into its trusted environment
  (:func:`testbed.femto.tre.provision`, TS 33.320 6.1: usable only after secure boot) and the clear
  key file the PKI wrote is removed;
- ``<segw>/segw.json`` (:class:`~testbed.segw.config.SegwSettings`) and
  ``<femto>/backhaul.json`` (:class:`~testbed.segw.config.BackhaulSettings`);
- the ESP backend (kernel ESP or kernel-libipsec) is probed once here, in the root namespace, and
  written into both settings files (the services run inside nodes);
- a femto node with an HPM service (``testbed.hpm --socket S``) requires it: its agent watches ``S``.

Returns the extra routes (every operator node -> the virtual IP pool via the SeGW).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from testbed.segw.config import BackhaulSettings, SegwSettings
from testbed.segw.topology import (
    BackhaulPlan,
    backhaul_plan,
    device_of,
    femto_control_path,
    hpm_socket_of,
    pool_routes,
    tunnelled_femtos,
)
from testbed.topology.plan import NetworkPlan, RoutePlan

__all__ = ["BackhaulProvision", "provision_backhaul"]

SEGW_SETTINGS = "segw.json"
BACKHAUL_SETTINGS = "backhaul.json"


@dataclass
class BackhaulProvision:
    plan: BackhaulPlan
    backend: str
    backend_reason: str
    routes: dict[str, RoutePlan]
    femtos: dict[str, str] = field(default_factory=dict)  # node -> device identity
    files: list[Path] = field(default_factory=list)


def provision_backhaul(plan: NetworkPlan, run_path: Path, *,
                       detect: Callable[[], tuple[str, str]] | None = None) -> BackhaulProvision | None:
    """Create the PKI, TrE contents and settings files of the backhaul; None without a SeGW."""
    bp = backhaul_plan(plan)
    if bp is None:
        return None
    from testbed.pki import RunPki
    from testbed.segw.charon import esp_backend

    backend, reason = (detect or esp_backend)()
    run_path = Path(run_path)
    pki_dir = run_path / "pki"
    pki = RunPki.open(pki_dir)
    rel = os.path.relpath
    segw_cert = pki.segw(ip=bp.public_address)
    (pki_dir / "root-crl.pem").write_bytes(pki.root_crl().public_bytes(serialization.Encoding.PEM))
    segw_dir = run_path / bp.segw
    segw_dir.mkdir(parents=True, exist_ok=True)
    segw_settings = SegwSettings(
        name=bp.segw, pki_dir=rel(pki_dir, run_path), cert_name=segw_cert.name,
        public_address=bp.public_address, operator_address=bp.operator_address, pool=bp.pool,
        services=bp.services, ipsec_backend=backend, backend_reason=reason,  # type: ignore[arg-type]
        control_socket=f"{bp.segw}/control.sock")
    result = BackhaulProvision(bp, backend, reason, pool_routes(plan, bp))
    path = segw_dir / SEGW_SETTINGS
    path.write_text(json.dumps(segw_settings.model_dump(mode="json"), indent=2) + "\n")
    result.files.append(path)

    femtos = tunnelled_femtos(plan)
    if femtos:
        from testbed.femto import tre

    for node in femtos:
        oui, serial = device_of(plan, node)
        cert = pki.femto(oui, serial)
        identity = pki.femto_identity(oui, serial)
        node_dir = run_path / node
        node_dir.mkdir(parents=True, exist_ok=True)
        tre.provision(node_dir, cert.key_pem())
        # the key lives on only sealed in the femto's TrE (TS 33.320 6.1)
        if cert.key_path is not None:
            cert.key_path.unlink(missing_ok=True)
        settings = BackhaulSettings(
            name=node, node_dir=node, identity=identity, cert=rel(cert.cert_path, run_path),
            root_cert=rel(pki.root.cert_path, run_path), intermediates=(rel(pki.issuing.cert_path, run_path),),
            crls=(rel(pki_dir / "crl.pem", run_path), rel(pki_dir / "root-crl.pem", run_path)),
            segw_address=bp.public_address, segw_identity=segw_settings.identity, services=bp.services,
            ipsec_backend=backend, backend_reason=reason,  # type: ignore[arg-type]
            control_socket=f"{node}/backhaul.sock", femto_control=femto_control_path(plan, node),
            hpm_socket=hpm_socket_of(plan, node), hpm_required=hpm_socket_of(plan, node) is not None)
        path = node_dir / BACKHAUL_SETTINGS
        path.write_text(json.dumps(settings.model_dump(mode="json"), indent=2) + "\n")
        result.files.append(path)
        result.femtos[node] = identity
    return result
