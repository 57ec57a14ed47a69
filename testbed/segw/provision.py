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
- hosting-party authentication (TS 33.320 7.2.3): with a ``testbed.aaa`` service in the operator
  network, a per-run RADIUS shared secret (0600) at its ``--secret-file`` and ``radius`` in
  ``segw.json``; the operator's policy per femto (``core.femtos[].hpm.required``) goes into
  ``segw.json`` (``femtos``: which connections demand the second round) and, for a femto that has
  an HPM service (``testbed.hpm --socket S``), into its ``backhaul.json`` (``hpm_required``: the
  agent runs the EAP-AKA round with the HPM and watches ``S``). A femto whose policy does not require
  it gets a certificate-only tunnel even with an HPM; a femto whose policy requires it but that has
  no HPM cannot pass the SeGW (and a progress warning says so).

Revocation online (TS 33.320 7.2.4, TS 33.310 6.1a): with a ``testbed.pki.ocsp_server`` service on the
operator segment (:func:`~testbed.segw.topology.responder_of`) the PKI is created with its OCSP URI
(authorityInfoAccess) and CRL distribution point, in the *device* certificates only (the SeGW is
their relying party and reaches the responder; the femto could not reach it for the SeGW's
certificate before its tunnel is up). The SeGW's charon then asks the responder (OCSP first, the
CRL from the distribution point if OCSP gives no answer); it loads only the root's ARL through vici
(the issuing CA's certificate carries no pointer, and ``revocation = strict`` wants its status too).

Returns the extra routes (every operator service node -> the virtual IP pool via the SeGW).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from testbed.errors import ConfigError
from testbed.segw.config import BackhaulSettings, FemtoPolicy, RadiusSettings, SegwSettings
from testbed.segw.topology import (
    AaaPlan,
    BackhaulPlan,
    RevocationPlan,
    aaa_of,
    backhaul_plan,
    device_of,
    femto_control_path,
    hpm_card_of,
    hpm_policies_of,
    hpm_socket_of,
    pool_routes,
    responder_of,
    tunnelled_femtos,
)
from testbed.topology.plan import NetworkPlan, RoutePlan

__all__ = ["BackhaulProvision", "pki_options", "provision_backhaul"]

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
    aaa: AaaPlan | None = None
    #: node -> hosting-party authentication required by the operator's policy
    hp_required: dict[str, bool] = field(default_factory=dict)
    #: the OCSP responder / CRL server whose URLs the device certificates carry (None: CRL via vici only)
    revocation: RevocationPlan | None = None
    warnings: list[str] = field(default_factory=list)


def write_radius_secret(run_path: Path, secret_file: str) -> Path:
    """The per-run RADIUS shared secret (SeGW <-> AAA, RFC 2865 3) at ``secret_file`` (0600), created once."""
    from testbed.aaa.radius_server import write_secret

    path = Path(secret_file)
    if not path.is_absolute():
        path = run_path / path
    if not path.exists():
        write_secret(path)
    return path


def pki_options(responder: RevocationPlan | None) -> dict[str, object]:
    """:meth:`RunPki.create` options for a run with (or without) an OCSP responder / CRL server:
    its OCSP URI and CRL distribution point, in device certificates only."""
    if responder is None:
        return {}
    return {"ocsp_url": responder.ocsp_url, "crl_url": responder.crl_url, "pointer_kinds": ("femto",)}


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
    responder = responder_of(plan, bp)
    pki = RunPki.open(pki_dir, **pki_options(responder))
    if responder is not None and pki.ocsp_url != responder.ocsp_url:
        raise ConfigError(plan.topology.source_file, f"nodes.{responder.node}.services.{responder.service}",
                          f"{pki_dir} already holds a PKI whose certificates point to {pki.ocsp_url!r}, "
                          f"not to this responder ({responder.ocsp_url})")
    rel = os.path.relpath
    segw_cert = pki.segw(ip=bp.public_address)
    (pki_dir / "root-crl.pem").write_bytes(pki.root_crl().public_bytes(serialization.Encoding.PEM))
    segw_dir = run_path / bp.segw
    segw_dir.mkdir(parents=True, exist_ok=True)
    result = BackhaulProvision(bp, backend, reason, pool_routes(plan, bp), revocation=responder)
    femtos = tunnelled_femtos(plan)
    aaa = aaa_of(plan, bp)
    policies = hpm_policies_of(plan)
    radius = None
    if aaa is not None:
        result.files.append(write_radius_secret(run_path, aaa.secret_file))
        radius = RadiusSettings(address=aaa.address, port=aaa.port, secret_file=aaa.secret_file)
    required = [n for n in femtos if policies.get(n)]
    if required and aaa is None:
        raise ConfigError(plan.topology.source_file, "core.femtos",
                          f"hosting-party authentication required for {required} but the topology has no AAA "
                          "(a 'python -m testbed.aaa' service on the operator segment)")
    result.aaa = aaa
    result.hp_required = {n: bool(policies.get(n)) for n in femtos}
    identities = {n: pki.femto_identity(*device_of(plan, n)) for n in femtos}
    segw_settings = SegwSettings(
        name=bp.segw, pki_dir=rel(pki_dir, run_path), cert_name=segw_cert.name,
        public_address=bp.public_address, operator_address=bp.operator_address, pool=bp.pool,
        services=bp.services, ipsec_backend=backend, backend_reason=reason,  # type: ignore[arg-type]
        control_socket=f"{bp.segw}/control.sock", radius=radius,
        femtos=tuple(FemtoPolicy(node=n, identity=identities[n], hpm_required=result.hp_required[n]) for n in femtos))
    path = segw_dir / SEGW_SETTINGS
    path.write_text(json.dumps(segw_settings.model_dump(mode="json"), indent=2) + "\n")
    result.files.append(path)

    if femtos:
        from testbed.femto import tre

    for node in femtos:
        oui, serial = device_of(plan, node)
        cert = pki.femto(oui, serial)
        identity = identities[node]
        hpm_socket = hpm_socket_of(plan, node)
        if result.hp_required[node] and hpm_socket is None:
            result.warnings.append(f"{node}: the operator requires hosting-party authentication but the node has "
                                   "no HPM service (testbed.hpm): the SeGW will refuse it")
        card = hpm_card_of(plan, node)
        if card is not None and node in policies and Path(card) != Path(node) / "hpm" / "card.json":
            # write_hpm_cards (testbed.core.provision) writes <run>/<femto>/hpm/card.json
            result.warnings.append(f"{node}: its HPM service reads --card {card}, but this run's card with the "
                                   f"keys of the core's store is {node}/hpm/card.json")
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
            hpm_socket=hpm_socket, hpm_required=result.hp_required[node] and hpm_socket is not None)
        path = node_dir / BACKHAUL_SETTINGS
        path.write_text(json.dumps(settings.model_dump(mode="json"), indent=2) + "\n")
        result.files.append(path)
        result.femtos[node] = identity
    return result
