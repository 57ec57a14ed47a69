"""Interoperability with an independent EAP-AKA peer: wpa_supplicant's eapol_test (Debian package
``eapoltest``) against our RADIUS server on 127.0.0.1.

Debian builds eapol_test without wpa_supplicant's software Milenage (CONFIG_USIM_SIMULATOR:
``password="K:OPc:SQN"`` answers "No UMTS authentication algorithm enabled"), so the UICC is
attached the way wpa_supplicant supports external SIMs: ``external_sim=1`` and its control
interface (CTRL-REQ-SIM-<id>:UMTS-AUTH:<RAND>:<AUTN> answered with CTRL-RSP-SIM-<id>:UMTS-AUTH:
<IK>:<CK>:<RES> or UMTS-AUTS:<AUTS>), the card being our HPM's software UICC. Everything of
EAP-AKA itself on the peer side (AT_MAC, MK, the FIPS 186-2 PRF, AT_CHECKCODE, AT_RES, the
identity rounds, synchronisation failure) is wpa_supplicant's, and eapol_test compares the MSK
it derived with the MS-MPPE keys of our Access-Accept ("MPPE keys OK: 1  mismatch: 0")."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from testbed.crypto.aka import SyncFailure
from testbed.hpm.softuicc import AuthOk, SoftUicc
from testbed.runtime.events import read_events

from .helpers import IDENTITY, IMSI, OPC, REALM, SECRET, K

EAPOL_TEST = shutil.which("eapol_test")
pytestmark = pytest.mark.skipif(
    EAPOL_TEST is None, reason="eapol_test is not installed (Debian package eapoltest; scripts/setup.sh installs it)")


def run_eapol_test(tmp_path: Path, port: int, uicc: SoftUicc, *, anonymous: str | None = None,
                   secret: bytes = SECRET, timeout: int = 10) -> tuple[int, str, list[str]]:
    """eapol_test against 127.0.0.1:``port`` with ``uicc`` as its external USIM: (rc, output, card results)."""
    ctrl = tmp_path / "ctrl"
    conf = tmp_path / "eapol.conf"
    anon = f'    anonymous_identity="{anonymous}"\n' if anonymous else ""
    conf.write_text(f"ctrl_interface={ctrl}\nexternal_sim=1\nnetwork={{\n    key_mgmt=IEEE8021X\n    eap=AKA\n"
                    f'    identity="{IDENTITY}"\n{anon}}}\n')
    out = tmp_path / "eapol_test.out"
    proc = subprocess.Popen([EAPOL_TEST, "-c", str(conf), "-a", "127.0.0.1", "-p", str(port), "-s", secret.decode(),
                             "-r", "0", "-t", str(timeout), "-W"], stdout=out.open("w"), stderr=subprocess.STDOUT)
    results: list[str] = []
    local = tmp_path / "cli.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            deadline = time.monotonic() + 10
            while not (ctrl / "test").exists():
                assert proc.poll() is None and time.monotonic() < deadline, out.read_text()[-2000:]
                time.sleep(0.05)
            s.bind(str(local))
            s.connect(str(ctrl / "test"))
            s.settimeout(0.1)
            s.send(b"ATTACH")
            deadline = time.monotonic() + timeout + 5
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    msg = s.recv(4096).decode(errors="replace")
                except TimeoutError:
                    continue
                except ConnectionRefusedError:
                    break
                if "CTRL-REQ-SIM-" not in msg:
                    continue
                nid, rest = msg.split("CTRL-REQ-SIM-", 1)[1].split(":", 1)
                kind, rand, autn = rest.split(" ", 1)[0].split(":")[:3]
                assert kind == "UMTS-AUTH"
                r = uicc.authenticate(bytes.fromhex(rand), bytes.fromhex(autn))
                if isinstance(r, AuthOk):
                    rsp, res = f"UMTS-AUTH:{r.ik.hex()}:{r.ck.hex()}:{r.res.hex()}", "ok"
                elif isinstance(r, SyncFailure):
                    rsp, res = f"UMTS-AUTS:{r.auts.hex()}", "sync_failure"
                else:
                    rsp, res = "UMTS-FAIL", "mac_failure"  # any other answer: AKA-Authentication-Reject
                results.append(res)
                s.send(f"CTRL-RSP-SIM-{nid}:{rsp}".encode())
            rc = proc.wait(timeout + 10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return rc, out.read_text(), results


def uicc(k: bytes = K, **kw) -> SoftUicc:
    return SoftUicc(IMSI, k, OPC, realm=REALM, **kw)


def test_eapol_test_authenticates_and_agrees_on_the_msk(aaa, tmp_path):
    port, _, events = aaa
    rc, out, results = run_eapol_test(tmp_path, port, uicc())
    assert rc == 0 and out.rstrip().endswith("SUCCESS"), out[-3000:]
    assert "MPPE keys OK: 1  mismatch: 0" in out
    assert results == ["ok"]
    assert read_events(events, "aaa.accept")[0]["identity"] == IDENTITY


def test_eapol_test_with_an_anonymous_identity_uses_aka_identity_and_checkcode(aaa, tmp_path):
    port, _, events = aaa
    rc, out, _ = run_eapol_test(tmp_path, port, uicc(), anonymous=f"anonymous@{REALM}")
    assert rc == 0 and "MPPE keys OK: 1  mismatch: 0" in out, out[-3000:]
    assert "AT_CHECKCODE" in out  # wpa_supplicant checked our AT_CHECKCODE over the identity round
    assert [e["stage"] for e in read_events(events, "aaa.challenge")] == ["aka-identity", "challenge"]


def test_eapol_test_resynchronisation(aaa, tmp_path):
    port, server, events = aaa
    rc, out, results = run_eapol_test(tmp_path, port, uicc(sqn_ms=7000 << 5))
    assert rc == 0 and "MPPE keys OK: 1  mismatch: 0" in out, out[-3000:]
    assert results == ["sync_failure", "ok"]
    assert read_events(events, "aaa.sync_failure")[0]["resynced"] is True
    assert server.vectors.store.get_hpm(IMSI).sqn >> 5 == 7001


def test_eapol_test_with_a_wrong_k_fails(aaa, tmp_path):
    port, _, events = aaa
    rc, out, results = run_eapol_test(tmp_path, port, uicc(k=os.urandom(16)))
    assert rc != 0 and out.rstrip().endswith("FAILURE"), out[-3000:]
    assert results == ["mac_failure"]
    assert "MPPE keys OK: 0" in out
    assert read_events(events, "aaa.reject") and not read_events(events, "aaa.accept")
