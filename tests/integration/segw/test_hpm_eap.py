"""Hosting party authentication (TS 33.320 7.2.3): IKEv2 certificate round, then EAP-AKA answered by the HPM.

Real charons in a SeGW and a femto namespace (RFC 4739 multiple authentication):

* femto: ``local-1`` device certificate, ``local-2`` ``auth = eap-aka`` with the HPM's permanent
  identity "0<IMSI>@realm" (RFC 4187 4.1.1.6); its charon loads ``eap-aka`` plus the
  ``eap-aka-hpm`` card plugin (testbed/segw/hpm_plugin, built by scripts/build_hpm_plugin.sh),
  which sends RAND/AUTN to the HPM's control socket;
* SeGW: ``remote-1`` pubkey, ``remote-2`` ``auth = eap-radius`` towards the AAA
  (``python -m testbed.aaa`` over the core's store, RADIUS on the SeGW namespace's loopback);
* HPM: a stand-in serving the HPM control-socket interface in this test, backed by MILENAGE
  (testbed/crypto/milenage.py) and the USIM check of TS 33.102 6.3.3 (testbed.crypto.aka.UsimAka).

Cases: right K -> CHILD SA; wrong K in the HPM -> MAC failure at the HPM, AKA-Authentication-Reject,
Access-Reject, no CHILD SA, the reason recorded by the femto's charon, the AAA and the HPM; an HPM
whose SQN is ahead -> sync_failure with AUTS, AKA-Synchronization-Failure, the AAA resynchronises
(TS 33.102 6.3.5) and the second challenge succeeds; a removed card (no_card) -> refused.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from testbed.crypto.aka import MacFailure, SyncFailure, UsimAka
from testbed.crypto.milenage import Milenage
from testbed.runtime.control import serve_json_lines
from testbed.runtime.events import read_events
from testbed.segw import profiles
from testbed.segw.charon import CHARON_BIN, HPM_PLUGIN_PATH, Charon, RadiusServer
from testbed.segw.credentials import load_node_credentials
from testbed.segw.netns_lab import SegwLab
from testbed.segw.vici_driver import ViciDriver, ViciError

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
POOL = "10.200.0.0/24"
OUI = "001122"
IMSI = "001010000009001"
REALM = "nai.5gc.mnc001.mcc001.3gppnetwork.org"
IDENTITY = f"0{IMSI}@{REALM}"  # RFC 4187 4.1.1.6, TS 23.003 19.3.2
K = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
OPC = bytes.fromhex("69d5c2eb2e2e624750541d3bbc692ba5")
WRONG_K = bytes.fromhex("f0e0d0c0b0a090807060504030201000")
IND_BITS = 5


class FakeHpm:
    """The HPM control socket (JSON lines) for one card, answering like a USIM (TS 33.102 6.3.3).

    ``results`` lists the outcome of every ``authenticate`` (ok / sync_failure / mac_failure /
    no_card), as the real HPM's ``hpm.authenticate`` events do. Never logs keys.
    """

    def __init__(self, path: Path, k: bytes, opc: bytes, *, seq_ms: int = 0, inserted: bool = True) -> None:
        self.path = path
        self.usim = UsimAka(Milenage(k, opc=opc))
        for ind in range(1 << IND_BITS) if seq_ms else ():
            self.usim.sqn_array.accept(seq_ms << IND_BITS | ind)  # every array entry has seen SEQ_MS (Annex C.2)
        self.inserted = inserted
        self.results: list[str] = []
        self.responses: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-hpm", daemon=True)
        self._thread.start()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_unix_server(lambda r, w: serve_json_lines(r, w, self.handle), path=str(path)),
            self._loop).result(5)

    def handle(self, req: Any) -> dict[str, Any]:
        reply = self._handle(req)
        self.responses.append(reply)
        return reply

    def _handle(self, req: Any) -> dict[str, Any]:
        if not isinstance(req, dict):
            return {"ok": False, "error": "bad_request"}
        op = req.get("op")
        if op == "status":
            return {"ok": True, "inserted": self.inserted, **({"identity": IDENTITY} if self.inserted else {})}
        if op == "identity":
            return {"ok": True, "identity": IDENTITY} if self.inserted else {"ok": False, "error": "no_card"}
        if op != "authenticate":
            return {"ok": False, "error": "bad_request"}
        if not self.inserted:
            self.results.append("no_card")
            return {"ok": False, "error": "no_card"}
        try:
            rand, autn = bytes.fromhex(req["rand"]), bytes.fromhex(req["autn"])
            result = self.usim.check(rand, autn)
        except (KeyError, TypeError, ValueError):
            return {"ok": False, "error": "bad_request"}
        if isinstance(result, MacFailure):
            self.results.append("mac_failure")
            return {"ok": False, "error": "mac_failure"}
        if isinstance(result, SyncFailure):
            self.results.append("sync_failure")
            return {"ok": False, "error": "sync_failure", "auts": result.auts.hex()}
        self.results.append("ok")
        return {"ok": True, "res": result.res.hex(), "ck": result.ck.hex(), "ik": result.ik.hex()}

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()


@dataclass
class HpmLab:
    """SeGW (eap-radius -> AAA) and femto (eap-aka + eap-aka-hpm) charons, the AAA and the core's store."""

    lab: SegwLab
    tmp: Path
    segw: Charon
    femto: Charon
    segw_vici: ViciDriver
    femto_vici: ViciDriver
    udr: Path
    aaa_events: Path
    hpm_socket: Path
    closers: list[Any] = field(default_factory=list)

    def configure(self, pki: Any) -> None:
        segw_cert, femto_cert = pki.segw(), pki.femto(OUI, "HPM1")
        load_node_credentials(self.segw_vici, pki, segw_cert)
        paths = profiles.PkiPaths(cert=segw_cert.cert_path, key=segw_cert.key_path, root=pki.root.cert_path)
        self.segw_vici.load_pool("femtos", POOL)
        conn = profiles.segw_conn(paths, "femtos", self.lab.services, eap_round=True)
        assert conn["remote-2"] == {"auth": "eap-radius", "eap_id": "%any"}
        self.segw_vici.load_conn("segw", conn)
        load_node_credentials(self.femto_vici, pki, femto_cert)
        fconn = profiles.femto_conn(self.lab.addr_segw, pki.femto_identity(OUI, "HPM1"),
                                    cert=femto_cert.cert_pem(), root=pki.root.cert_pem(),
                                    remote_ts=self.lab.services, eap_identity=IDENTITY)
        # the second round's IDi (RFC 4739 3): the device identity again, not charon's default (the IP address)
        assert fconn["local-2"] == {"auth": "eap-aka", "id": pki.femto_identity(OUI, "HPM1"), "eap_id": IDENTITY}
        self.femto_vici.load_conn("femto", fconn)

    def hpm(self, k: bytes, **kw: Any) -> FakeHpm:
        hpm = FakeHpm(self.hpm_socket, k, OPC, **kw)
        self.closers.append(hpm)
        return hpm

    def initiate(self, timeout: float = 10.0) -> float:
        t0 = time.monotonic()
        self.femto_vici.initiate("femto", "femto", timeout=timeout)
        return time.monotonic() - t0

    def hpm_sqn(self) -> int:
        from testbed.core.udr import SubscriberStore

        with SubscriberStore(self.udr, create=False) as store:
            rec = store.get_hpm(IMSI)
            assert rec is not None
            return rec.sqn

    def aaa(self, type_: str, timeout: float = 3.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = read_events(self.aaa_events, type_) if self.aaa_events.exists() else []
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def _netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _wait_file_event(path: Path, type_: str, proc: subprocess.Popen[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and read_events(path, type_):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"AAA exited with {proc.returncode}: {read_events(path) if path.exists() else ''}")
        time.sleep(0.05)
    raise TimeoutError(f"no {type_} event in {path} within {timeout} s")


def _make_udr(path: Path) -> None:
    """The core's store with femto1 and its HPM record (K/OPc, SQN 0; TS 33.320 7.2.3)."""
    from testbed.core.udr import SubscriberStore
    from testbed.core.udr.models import SubscriberFile

    file = SubscriberFile.model_validate({"femtos": [{
        "name": "femto1", "mcc": "001", "mnc": "01", "gnb_id": 1, "authorised_cag_ids": [1],
        "hpm": {"imsi": IMSI, "k": K.hex(), "opc": OPC.hex(), "sqn": 0, "required": True},
    }]})
    path.parent.mkdir(parents=True, exist_ok=True)
    with SubscriberStore(path) as store:
        store.load(file)


@pytest.fixture
def hpm_lab(tmp_path: Path) -> Iterator[HpmLab]:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces, mount namespaces, TUN devices")
    if not CHARON_BIN.exists() or not shutil.which("unshare"):
        pytest.skip("strongSwan charon or unshare missing (run scripts/setup.sh)")
    if not HPM_PLUGIN_PATH.is_file():
        pytest.skip(f"{HPM_PLUGIN_PATH} not built (scripts/build_hpm_plugin.sh, run by scripts/setup.sh)")
    if importlib.util.find_spec("testbed.aaa.__main__") is None:
        pytest.skip("testbed.aaa (RADIUS/EAP-AKA server) not available")
    pytest.importorskip("testbed.pki")
    from testbed.aaa.radius_server import write_secret

    udr = tmp_path / "core" / "udr.sqlite"
    _make_udr(udr)
    secret = write_secret(tmp_path / "aaa" / "radius.secret").decode()
    aaa_events = tmp_path / "events" / "aaa.jsonl"
    lab = SegwLab().create()
    closers: list[Any] = []
    pids: list[int] = []
    try:
        env = {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        with open(tmp_path / "aaa" / "aaa.log", "ab") as log:
            aaa = lab.popen(["ip", "netns", "exec", lab.ns_segw, sys.executable, "-m", "testbed.aaa",
                             "--udr", str(udr), "--listen", "127.0.0.1", "--port", "1812",
                             "--secret-file", str(tmp_path / "aaa" / "radius.secret"), "--events", str(aaa_events),
                             "--wait-udr", "5"],
                            env=env, cwd=str(REPO), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        pids.append(aaa.pid)
        _wait_file_event(aaa_events, "aaa.ready", aaa, 15)
        hpm_socket = tmp_path / "femto" / "hpm" / "hpm.sock"
        segw = lab.start_charon("segw", tmp_path / "segw", radius_servers=[RadiusServer("127.0.0.1", secret)])
        femto = lab.start_charon("femto", tmp_path / "femto", hpm_socket=hpm_socket)
        pids += [p for p in (segw.pid, femto.pid) if p is not None]
        sv, fv = ViciDriver(segw.vici_socket), ViciDriver(femto.vici_socket)
        closers += [sv, fv]
        hl = HpmLab(lab, tmp_path, segw, femto, sv, fv, udr, aaa_events, hpm_socket, closers)
        yield hl
    finally:
        for c in reversed(closers):
            c.close()
        lab.destroy()
    left = _netns_names() & {lab.ns_segw, lab.ns_femto}
    assert not left, f"namespaces left behind: {left}"
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")], "processes left behind"


def _refused(hl: HpmLab) -> str:
    with pytest.raises(ViciError) as info:
        hl.initiate(timeout=8)
    assert not hl.femto_vici.child_sas()
    assert not hl.segw_vici.child_sas()
    return str(info.value)


def _no_key_material(hl: HpmLab, hpm: FakeHpm) -> None:
    """RES/CK/IK/AUTS the HPM handed out appear in no charon log (the plugin never logs them)."""
    logs = hl.femto.log_path.read_text().lower() + hl.segw.log_path.read_text().lower()
    for reply in hpm.responses:
        for name in ("res", "ck", "ik", "auts"):
            if name in reply:
                assert reply[name] not in logs, f"{name} in a charon log"


def test_hpm_answers_eap_aka_tunnel_up(hpm_lab: HpmLab, run_pki: Any, record_property: Callable[..., None]) -> None:
    hl = hpm_lab
    hpm = hl.hpm(K)
    hl.configure(run_pki)
    elapsed = hl.initiate()
    record_property("tunnel_with_eap_aka_s", elapsed)
    print(f"certificate + EAP-AKA (HPM) tunnel: {elapsed * 1000:.1f} ms")

    assert hpm.results == ["ok"]
    children = hl.segw_vici.child_sas()
    assert len(children) == 1 and children[0][2]["state"] == "INSTALLED"
    _, ike, _ = children[0]
    # both rounds of RFC 4739 on the SeGW's IKE SA: the device identity and the HPM's EAP identity
    assert ike["remote-id"] == run_pki.femto_identity(OUI, "HPM1")
    assert ike.get("remote-eap-id") == IDENTITY, ike
    assert hl.femto_vici.child_sas()[0][2]["state"] == "INSTALLED"
    ping = hl.lab.exec(hl.lab.ns_femto, "ping", "-c", "2", "-i", "0.2", "-W", "2", hl.lab.services[0])
    assert ping.returncode == 0, ping.stdout + ping.stderr

    accept = hl.aaa("aaa.accept")
    assert accept and accept[0]["identity"] == IDENTITY
    assert "eap-aka-hpm: HPM verified AUTN" in hl.femto.log_path.read_text()
    _no_key_material(hl, hpm)


def test_wrong_k_in_hpm_refused_with_reason(hpm_lab: HpmLab, run_pki: Any) -> None:
    hl = hpm_lab
    hpm = hl.hpm(WRONG_K)
    hl.configure(run_pki)
    msg = _refused(hl)
    assert "AUTHENTICATION_FAILED" in msg or "failed" in msg.lower(), msg

    assert hpm.results == ["mac_failure"]
    femto_log = hl.femto.log_path.read_text()
    assert "eap-aka-hpm: HPM rejected AUTN: MAC failure" in femto_log
    assert "AKA_AUTHENTICATION_REJECT" in femto_log  # RFC 4187 9.5 sent by the peer
    reject = hl.aaa("aaa.reject")
    assert reject and "AUTN MAC" in reject[0]["reason"], reject
    assert not hl.aaa("aaa.accept", timeout=0.2)
    segw_log = hl.segw.log_path.read_text()
    assert "RADIUS authentication of '" + IDENTITY + "' failed" in segw_log, segw_log[-2000:]


def test_sync_failure_then_resync_and_success(hpm_lab: HpmLab, run_pki: Any) -> None:
    hl = hpm_lab
    card_seq = 1000  # the card has accepted SEQ 1000 in every IND entry already, the store says SQN 0
    hpm = hl.hpm(K, seq_ms=card_seq)
    hl.configure(run_pki)
    assert hl.hpm_sqn() == 0
    hl.initiate()

    assert hpm.results == ["sync_failure", "ok"]  # one AKA-Synchronization-Failure (RFC 4187 9.6), then success
    assert len(hl.segw_vici.child_sas()) == 1
    femto_log = hl.femto.log_path.read_text()
    assert "eap-aka-hpm: HPM reports a synchronisation failure" in femto_log
    assert "AKA_SYNCHRONIZATION_FAILURE" in femto_log
    sync = hl.aaa("aaa.sync_failure")
    assert sync and sync[0]["resynced"] is True, sync
    assert hl.aaa("aaa.accept")
    # the AAA resynchronised SQN_HE from AUTS (TS 33.102 6.3.5): its vectors are now beyond the card's SQN_MS
    assert hl.hpm_sqn() >> IND_BITS > card_seq
    _no_key_material(hl, hpm)


def test_removed_card_refused(hpm_lab: HpmLab, run_pki: Any) -> None:
    hl = hpm_lab
    hpm = hl.hpm(K, inserted=False)
    hl.configure(run_pki)
    _refused(hl)
    assert hpm.results == ["no_card"]
    assert "eap-aka-hpm: HPM has no card inserted" in hl.femto.log_path.read_text()
    assert hl.aaa("aaa.reject")


def test_hpm_socket_missing_refused(hpm_lab: HpmLab, run_pki: Any) -> None:
    hl = hpm_lab  # no HPM listening at all
    hl.configure(run_pki)
    _refused(hl)
    log = hl.femto.log_path.read_text()
    assert f"eap-aka-hpm: HPM at {hl.hpm_socket} unusable: cannot connect" in log, log[-2000:]
    events = [json.dumps(e) for e in read_events(hl.aaa_events)] if hl.aaa_events.exists() else []
    assert any("aaa.reject" in e for e in events), events


def test_real_hpm_process_answers_then_removal_refused(hpm_lab: HpmLab, run_pki: Any) -> None:
    """The same with the HPM process itself (``python -m testbed.hpm``): its card file's SQN_MS moves on
    (TS 33.102 Annex C), and after ``remove`` the femto cannot authenticate (no_card)."""
    if importlib.util.find_spec("testbed.hpm.__main__") is None:
        pytest.skip("testbed.hpm not available")
    from testbed.runtime.control import control_request

    hl = hpm_lab
    card = hl.hpm_socket.parent / "card.json"
    card.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(card, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"imsi": IMSI, "k": K.hex(), "opc": OPC.hex(), "sqn": "000000000000", "amf": "8000",
                   "realm": REALM, "inserted": True}, f)
    events = hl.hpm_socket.parent / "events.jsonl"
    env = {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(hl.hpm_socket.parent / "hpm.log", "ab") as log:
        proc = hl.lab.popen(["ip", "netns", "exec", hl.lab.ns_femto, sys.executable, "-m", "testbed.hpm",
                             "--card", str(card), "--socket", str(hl.hpm_socket), "--events", str(events)],
                            env=env, cwd=str(REPO), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    _wait_file_event(events, "hpm.ready", proc, 10)
    hl.configure(run_pki)
    hl.initiate()
    assert len(hl.segw_vici.child_sas()) == 1
    assert [e["result"] for e in read_events(events, "hpm.authenticate")] == ["ok"]
    assert int(json.loads(card.read_text())["sqn"], 16) > 0  # the accepted SQN persisted

    assert control_request(hl.hpm_socket, {"op": "remove"}, timeout=2) == {"ok": True}
    hl.femto_vici.terminate("femto")
    _refused(hl)
    assert read_events(events, "hpm.authenticate")[-1]["result"] == "no_card"
    assert "eap-aka-hpm: HPM has no card inserted" in hl.femto.log_path.read_text()
    log_text = hl.femto.log_path.read_text() + hl.segw.log_path.read_text()
    assert K.hex() not in log_text and OPC.hex() not in log_text
