"""Wireshark cross-check: every encoded NGAP message, carried in SCTP, dissects without errors."""

from __future__ import annotations

import subprocess

import pytest

from testbed.protocols import ngap
from testbed.protocols.pcap import ipv4_sctp, tshark_available, tshark_check, write_pcap

from ._samples import ALL

pytestmark = pytest.mark.skipif(not tshark_available(), reason="tshark not installed")


def test_all_messages_dissect_cleanly(tmp_path):
    frames = [ipv4_sctp("10.0.0.1", "10.0.0.2", ngap.encode(m), tsn=i + 1) for i, m in enumerate(ALL)]
    reports = tshark_check(write_pcap(tmp_path / "ngap.pcap", frames))
    assert len(reports) == len(ALL)
    for msg, rep in zip(ALL, reports, strict=True):
        assert rep.ok, (type(msg).__name__, rep.expert)
        assert not rep.expert, (type(msg).__name__, rep.expert)
        assert "ngap" in rep.protocols, (type(msg).__name__, rep.protocols)
        has_nas = getattr(msg, "nas_pdu", None) is not None
        assert ("nas-5gs" in rep.protocols) == has_nas or any(
            getattr(s, "nas_pdu", None) for s in (getattr(msg, "sessions", None) or ())), type(msg).__name__


def test_wireshark_reads_our_field_values(tmp_path):
    msg = ngap.InitialUEMessage(
        0x1234, bytes.fromhex("7e004171000d010011000000000099898877f71001002e04804080402f020101"),
        ngap.UserLocationNR(ngap.NrCgi(ngap.Plmn("001", "01"), 0x123456789), ngap.Tai(ngap.Plmn("001", "01"), 0xABCDEF)),
        "mo-Data", None, True, (0x00C0FFEE,))
    path = write_pcap(tmp_path / "one.pcap", [ipv4_sctp("10.0.0.1", "10.0.0.2", ngap.encode(msg))])
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "ngap.RAN_UE_NGAP_ID",
                          "-e", "ngap.tAC", "-e", "ngap.RRCEstablishmentCause", "-e", "ngap.CAG_ID",
                          "-e", "nas_5gs.mm.message_type"], capture_output=True, text=True, check=True).stdout
    ran_id, tac, cause, cag, nas_type = out.strip().split("\t")
    assert int(ran_id) == 0x1234
    assert int(tac) == 0xABCDEF
    assert cause == "4"  # mo-Data
    assert "c0ffee" in cag.replace(":", "").lower()
    assert int(nas_type, 0) == 0x41  # Registration request
