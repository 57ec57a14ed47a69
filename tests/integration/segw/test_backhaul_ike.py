"""Femto -> SeGW IKEv2 (RFC 7296) with certificates (TS 33.320 7.2.2, TS 33.310), real charons in namespaces."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from testbed.runtime.events import read_events
from testbed.segw import profiles
from testbed.segw.events import rejection_reasons
from tests.integration.segw.conftest import POOL, Backhaul

OUI = "001122"


def _wait_events(path: Path, type: str, timeout: float = 3.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = read_events(path, type) if path.exists() else []
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _refused(bh: Backhaul) -> str:
    with pytest.raises(Exception) as info:  # noqa: B017 - ViciError carries the initiator log
        bh.initiate(timeout=8)
    assert not bh.femto_vici.child_sas()
    assert not bh.segw_vici.child_sas()
    return str(info.value)


def test_valid_femto_cert_tunnel_up_ping_and_only_ike_esp_on_wire(backhaul: Backhaul, run_pki, tmp_path: Path,
                                                                 record_property) -> None:
    bh = backhaul
    pcap = tmp_path / "wire.pcap"
    cap = bh.lab.capture(bh.lab.ns_femto, bh.lab.veth_femto, pcap)
    time.sleep(0.5)  # tcpdump attaches
    femto = run_pki.femto(OUI, "SN1")
    bh.lab.apply_nft(bh.lab.ns_segw, profiles.segw_nft_ruleset(POOL))  # femto-to-femto drop on the SeGW
    bh.configure(run_pki, run_pki.segw(), femto)
    elapsed = bh.initiate()
    record_property("tunnel_setup_s", elapsed)
    print(f"tunnel establishment (initiate -> CHILD SA up): {elapsed * 1000:.1f} ms, backend {bh.segw.backend}")
    assert elapsed < 2.0

    children = bh.femto_vici.child_sas()
    assert len(children) == 1
    _, ike, child = children[0]
    vip = ike["local-vips"][0]
    assert vip.startswith(POOL.rsplit(".", 2)[0])
    assert child["state"] == "INSTALLED"
    assert sorted(child["remote-ts"]) == sorted(f"{a}/32" for a in bh.lab.services)
    assert child["local-ts"] == [f"{vip}/32"]
    assert ike["encr-alg"] == "AES_GCM_16" and ike["dh-group"] == "ECP_384"

    ping = bh.lab.exec(bh.lab.ns_femto, "ping", "-c", "3", "-i", "0.2", "-W", "2", bh.lab.services[0])
    assert ping.returncode == 0, ping.stdout + ping.stderr
    # the other side of the pool / anything not an operator service is not routed into the tunnel
    other = bh.lab.exec(bh.lab.ns_femto, "ping", "-c", "1", "-W", "1", "10.200.0.77")
    assert other.returncode != 0

    up = _wait_events(bh.events_path, "segw.tunnel_up")
    assert up and up[0]["remote_id"] == run_pki.femto_identity(OUI, "SN1") and up[0]["vip"] == vip
    assert "AES_GCM_16" in up[0]["proposal"]

    time.sleep(0.5)
    bh.lab.kill(cap)
    out = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "frame.protocols"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    protos = [line for line in out.stdout.splitlines() if line]
    ip_frames = [p for p in protos if ":ip:" in p]
    assert sum(":esp" in p for p in ip_frames) >= 2, protos  # echo + reply at least: ESP in UDP 4500 (libipsec) or raw ESP
    stray = subprocess.run(["tshark", "-r", str(pcap), "-Y",
                            "ip and not (udp.port == 500 or udp.port == 4500 or esp)"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert stray.stdout.strip() == "", f"cleartext IP on the wire:\n{stray.stdout}"
    assert not any("icmp" in p and ":esp" not in p for p in ip_frames)

    bh.femto_vici.terminate("femto")
    assert _wait_events(bh.events_path, "segw.tunnel_down")


def test_expired_femto_cert_refused_with_reason(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    bh.configure(run_pki, run_pki.segw(), run_pki.femto(OUI, "EXP1", expired=True))
    msg = _refused(bh)
    assert "AUTHENTICATION_FAILED" in msg
    failed = _wait_events(bh.events_path, "segw.auth_failed")
    assert "certificate_expired" in [e["reason"] for e in failed], failed
    assert rejection_reasons(bh.segw.log_path.read_text().splitlines())[0] == "certificate_expired"


def test_not_yet_valid_femto_cert_refused_with_reason(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    bh.configure(run_pki, run_pki.segw(), run_pki.femto(OUI, "NYV1", not_yet_valid=True))
    _refused(bh)
    reasons = [e["reason"] for e in _wait_events(bh.events_path, "segw.auth_failed")]
    assert "certificate_not_yet_valid" in reasons, reasons


def test_revoked_femto_cert_refused_by_crl(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    bh.configure(run_pki, run_pki.segw(), run_pki.femto(OUI, "REV1", revoked=True))
    _refused(bh)
    reasons = [e["reason"] for e in _wait_events(bh.events_path, "segw.auth_failed")]
    assert "certificate_revoked" in reasons, reasons


def test_wrong_ca_refused(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    bh.configure(run_pki, run_pki.segw(), run_pki.femto(OUI, "RogueCA", wrong_ca=True))
    _refused(bh)
    reasons = [e["reason"] for e in _wait_events(bh.events_path, "segw.auth_failed")]
    assert "untrusted_certificate" in reasons, reasons


def test_weak_proposals_get_no_proposal_chosen(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    bh.configure(run_pki, run_pki.segw(), run_pki.femto(OUI, "SN1"),
                 proposals=["3des-sha1-modp1024"], esp_proposals=["3des-sha1"])
    msg = _refused(bh)
    assert "NO_PROPOSAL_CHOSEN" in msg, msg
    reasons = [e["reason"] for e in _wait_events(bh.events_path, "segw.auth_failed")]
    assert "no_proposal_chosen" in reasons, reasons


def test_segw_with_wrong_identity_cert_refused_by_femto(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    bad_segw = run_pki.segw(identity="evil.example.test")
    bh.configure(run_pki, bad_segw, run_pki.femto(OUI, "SN1"))
    _refused(bh)
    femto_reasons = rejection_reasons(bh.femto.log_path.read_text().splitlines())
    assert "untrusted_certificate" in femto_reasons, femto_reasons
    # the femto, not the SeGW, refused: the SeGW authenticated the femto
    assert "authentication of '" in bh.segw.log_path.read_text()
