"""Fixtures: a SeGW/femto namespace pair with a charon in each, the run PKI, and a tunnel helper.

Also: an HTTP OCSP responder / CRL server (``python -m testbed.pki.ocsp_server``) in the SeGW
namespace for PKIs whose certificates point to it (:meth:`Backhaul.pki_server`), and a tunnel
monitor on the femto's charon too (rejections the femto makes, e.g. of the SeGW's certificate).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from testbed.runtime.events import EventWriter
from testbed.segw import profiles
from testbed.segw.charon import CHARON_BIN, Charon
from testbed.segw.credentials import load_node_credentials
from testbed.segw.events import TunnelMonitor
from testbed.segw.netns_lab import SegwLab
from testbed.segw.vici_driver import ViciDriver

POOL = "10.200.0.0/24"
#: Port of the OCSP responder / CRL server on the SeGW's backhaul address.
PKI_HTTP_PORT = 8080
REPO = Path(__file__).resolve().parents[3]
#: ``configure(..., segw_crls=...)``: "vici" loads the issuing CA's CRL and the root's ARL into the
#: SeGW; "arl" only the root's ARL (status of the issuing CA), so a femto certificate's status can
#: only come from its OCSP URI or CRL distribution point (fetched over HTTP).
SegwCrls = Literal["vici", "arl"]
_DEFAULT: Any = object()


def _netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.fixture
def run_pki(tmp_path: Path) -> Any:
    pki_mod = pytest.importorskip("testbed.pki")
    return pki_mod.RunPki.create(tmp_path / "pki")


def dns_identity(cert: x509.Certificate) -> str:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName)[0]


@dataclass
class PkiServer:
    """An OCSP responder / CRL server of ``pki`` running in the SeGW namespace."""

    pki: Any
    url: str
    access_log: Path
    events: Path

    @property
    def ocsp_url(self) -> str:
        return f"{self.url}/ocsp"

    @property
    def crl_url(self) -> str:
        return f"{self.url}/crl.der"

    def requests(self) -> list[str]:
        """The HTTP request lines the server logged so far (``--verbose`` access log)."""
        return [line for line in self.access_log.read_text(errors="replace").splitlines() if '"' in line]


@dataclass
class Backhaul:
    """A started SeGW and femto charon pair with drivers, monitor and event file."""

    lab: SegwLab
    segw: Charon
    femto: Charon
    segw_vici: ViciDriver
    femto_vici: ViciDriver
    events_path: Path
    monitor: TunnelMonitor
    closers: list[Any] = field(default_factory=list)
    femto_events_path: Path | None = None
    tmp: Path | None = None

    def configure(self, pki: Any, segw_cert: Any, femto_cert: Any | None, *, identity: str | None = None,
                  proposals: list[str] | None = None, esp_proposals: list[str] | None = None,
                  segw_local_id: str = profiles.SEGW_FQDN, segw_crls: SegwCrls = "vici",
                  femto_key_pem: bytes | None = _DEFAULT, femto_local: dict[str, Any] | None = None,
                  femto_conn_extra: dict[str, Any] | None = None) -> None:
        """SeGW responder and (if ``femto_cert`` or ``femto_local``) femto initiator.

        ``femto_key_pem``: the key loaded into the femto's charon (default the certificate's key;
        ``None``: no key at all). ``femto_local`` replaces the initiator's ``local-1`` round (e.g.
        PSK, or pubkey without a certificate); ``femto_conn_extra`` is merged into its connection.
        """
        self.configure_segw(pki, segw_cert, segw_local_id=segw_local_id, segw_crls=segw_crls)
        if femto_cert is not None or femto_local is not None:
            self.configure_femto(pki, femto_cert, identity=identity, proposals=proposals,
                                 esp_proposals=esp_proposals, key_pem=femto_key_pem, local=femto_local,
                                 conn_extra=femto_conn_extra)

    def configure_segw(self, pki: Any, segw_cert: Any, *, segw_local_id: str = profiles.SEGW_FQDN,
                       segw_crls: SegwCrls = "vici") -> None:
        load_node_credentials(self.segw_vici, pki, segw_cert, with_crls=segw_crls == "vici")
        if segw_crls == "arl":
            self.segw_vici.load_cert(pki.root_crl().public_bytes(serialization.Encoding.PEM), "x509crl")
        paths = profiles.PkiPaths(cert=segw_cert.cert_path, key=segw_cert.key_path, root=pki.root.cert_path)
        self.segw_vici.load_pool("femtos", POOL)
        self.segw_vici.load_conn("segw", profiles.segw_conn(paths, "femtos", self.lab.services,
                                                            local_id=segw_local_id))

    def configure_femto(self, pki: Any, femto_cert: Any | None, *, identity: str | None = None,
                        proposals: list[str] | None = None, esp_proposals: list[str] | None = None,
                        key_pem: bytes | None = _DEFAULT, local: dict[str, Any] | None = None,
                        conn_extra: dict[str, Any] | None = None) -> None:
        load_node_credentials(self.femto_vici, pki, None)
        if key_pem is _DEFAULT:
            key_pem = femto_cert.key_pem() if femto_cert is not None else None
        if key_pem is not None:
            self.femto_vici.load_key(key_pem)
        if identity is None:
            assert femto_cert is not None, "identity needed without a certificate"
            identity = dns_identity(femto_cert.cert)
        conn = profiles.femto_conn(
            self.lab.addr_segw, identity, cert=femto_cert.cert_pem() if femto_cert is not None else b"",
            root=pki.root.cert_pem(), remote_ts=self.lab.services, proposals=proposals,
            esp_proposals=esp_proposals)
        if femto_cert is None:
            conn["local-1"].pop("certs")
        if local is not None:
            conn["local-1"] = local
        conn.update(conn_extra or {})
        self.femto_vici.load_conn("femto", conn)

    def initiate(self, timeout: float = 10.0) -> float:
        t0 = time.monotonic()
        self.femto_vici.initiate("femto", "femto", timeout=timeout)
        return time.monotonic() - t0

    @property
    def pki_url(self) -> str:
        """Base URL of the OCSP responder / CRL server (on the SeGW's backhaul address)."""
        return f"http://{self.lab.addr_segw}:{PKI_HTTP_PORT}"

    def pki_server(self, directory: Path, *, ocsp: bool = False, crl: bool = False,
                   timeout: float = 10.0) -> PkiServer:
        """A new run PKI in ``directory`` whose certificates carry the AIA OCSP URI (``ocsp``) and/or
        the CRL distribution point (``crl``) of a responder started here in the SeGW namespace.

        The responder is a process of the lab (stopped with it); it answers OCSP POST/GET and
        serves ``/crl.der`` (RFC 6960 A.1, RFC 5280 4.2.1.13).
        """
        from testbed.pki import RunPki

        pki = RunPki.create(directory, ocsp_url=f"{self.pki_url}/ocsp" if ocsp else None,
                            crl_url=f"{self.pki_url}/crl.der" if crl else None)
        base = self.tmp or directory.parent
        access_log, events = base / "pki-http.log", base / "events" / "ocsp.jsonl"
        events.parent.mkdir(parents=True, exist_ok=True)
        env = {"NRFEMTO_EVENTS": str(events), "NRFEMTO_NODE": "segw",
               "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        with open(access_log, "ab") as err:
            proc = self.lab.popen(["ip", "netns", "exec", self.lab.ns_segw, sys.executable, "-m",
                                   "testbed.pki.ocsp_server", "--pki-dir", str(directory), "--host",
                                   self.lab.addr_segw, "--port", str(PKI_HTTP_PORT), "--verbose"],
                                  env=env, cwd=str(REPO), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=err)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline().decode(errors="replace") if ready else ""
        if "ready" not in line:
            raise RuntimeError(f"OCSP responder did not start: {line!r}; see {access_log}")
        return PkiServer(pki, self.pki_url, access_log, events)


@pytest.fixture
def backhaul(tmp_path: Path) -> Iterator[Backhaul]:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces, mount namespaces, TUN devices")
    if not CHARON_BIN.exists() or not shutil.which("unshare"):
        pytest.skip("strongSwan charon or unshare missing (run scripts/setup.sh)")
    lab = SegwLab().create()
    closers: list[Any] = []
    pids: list[int] = []
    monitor: TunnelMonitor | None = None
    femto_monitor: TunnelMonitor | None = None
    try:
        segw = lab.start_charon("segw", tmp_path / "segw")
        femto = lab.start_charon("femto", tmp_path / "femto")
        pids += [p for p in (segw.pid, femto.pid) if p is not None]
        sv, fv = ViciDriver(segw.vici_socket), ViciDriver(femto.vici_socket)
        closers += [sv, fv]
        events_path = tmp_path / "events" / "segw.jsonl"
        writer = EventWriter(events_path, "segw", "segw")
        closers.append(writer)
        monitor = TunnelMonitor(segw.vici_socket, segw.log_path, writer).start()
        # the femto's side of the tunnel: its rejections (e.g. of the SeGW's certificate), same event types
        femto_events_path = tmp_path / "events" / "femto-backhaul.jsonl"
        femto_writer = EventWriter(femto_events_path, "femto-backhaul", "femto")
        closers.append(femto_writer)
        femto_monitor = TunnelMonitor(femto.vici_socket, femto.log_path, femto_writer).start()
        bh = Backhaul(lab, segw, femto, sv, fv, events_path, monitor, closers, femto_events_path, tmp_path)
        yield bh
        assert not monitor.errors, monitor.errors
        assert not femto_monitor.errors, femto_monitor.errors
    finally:
        if femto_monitor is not None:
            femto_monitor.stop()
        if monitor is not None:
            monitor.stop()
        for c in reversed(closers):
            c.close()
        lab.destroy()
    left = _netns_names() & {lab.ns_segw, lab.ns_femto}
    assert not left, f"namespaces left behind: {left}"
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")], "charon processes left behind"
