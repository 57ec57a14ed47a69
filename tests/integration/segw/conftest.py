"""Fixtures: a SeGW/femto namespace pair with a charon in each, the run PKI, and a tunnel helper."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from testbed.runtime.events import EventWriter
from testbed.segw import profiles
from testbed.segw.charon import CHARON_BIN, Charon
from testbed.segw.credentials import load_node_credentials
from testbed.segw.events import TunnelMonitor
from testbed.segw.netns_lab import SegwLab
from testbed.segw.vici_driver import ViciDriver

POOL = "10.200.0.0/24"


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

    def configure(self, pki: Any, segw_cert: Any, femto_cert: Any | None, *, identity: str | None = None,
                  proposals: list[str] | None = None, esp_proposals: list[str] | None = None,
                  segw_local_id: str = profiles.SEGW_FQDN) -> None:
        load_node_credentials(self.segw_vici, pki, segw_cert)
        paths = profiles.PkiPaths(cert=segw_cert.cert_path, key=segw_cert.key_path, root=pki.root.cert_path)
        self.segw_vici.load_pool("femtos", POOL)
        self.segw_vici.load_conn("segw", profiles.segw_conn(paths, "femtos", self.lab.services,
                                                            local_id=segw_local_id))
        if femto_cert is not None:
            load_node_credentials(self.femto_vici, pki, femto_cert)
            self.femto_vici.load_conn("femto", profiles.femto_conn(
                self.lab.addr_segw, identity or dns_identity(femto_cert.cert), cert=femto_cert.cert_pem(),
                root=pki.root.cert_pem(), remote_ts=self.lab.services, proposals=proposals,
                esp_proposals=esp_proposals))

    def initiate(self, timeout: float = 10.0) -> float:
        t0 = time.monotonic()
        self.femto_vici.initiate("femto", "femto", timeout=timeout)
        return time.monotonic() - t0


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
        bh = Backhaul(lab, segw, femto, sv, fv, events_path, monitor, closers)
        yield bh
        assert not monitor.errors, monitor.errors
    finally:
        if monitor is not None:
            monitor.stop()
        for c in reversed(closers):
            c.close()
        lab.destroy()
    left = _netns_names() & {lab.ns_segw, lab.ns_femto}
    assert not left, f"namespaces left behind: {left}"
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")], "charon processes left behind"
