"""PFCP codec (TS 29.244): round trips, error causes, robustness, Wireshark cross-check."""

from __future__ import annotations

import random
import subprocess

import pytest

from testbed.core.smf import pfcp as P
from testbed.errors import DecodeError
from testbed.protocols.pcap import ipv4_udp, tshark_available, tshark_check, write_pcap

PDRS, FARS, URRS, QERS = P.pdu_session_rules("10.45.0.2", P.Fteid(choose=True), mbr_kbps=(1000, 2000))

MESSAGES: list[P.PfcpMessage] = [
    P.HeartbeatRequest(seq=1, recovery_ts=3_900_000_000),
    P.HeartbeatResponse(seq=1, recovery_ts=5),
    P.AssociationSetupRequest(seq=2, node_id="10.10.0.1", recovery_ts=7),
    P.AssociationSetupResponse(seq=2, node_id="upf.example.org", cause=1, recovery_ts=7, up_features=b"\x10\x00"),
    P.AssociationReleaseRequest(seq=3, node_id="10.10.0.1"),
    P.AssociationReleaseResponse(seq=3, node_id="10.10.0.3", cause=1),
    P.SessionEstablishmentRequest(seq=4, node_id="10.10.0.1", cp_fseid=P.Fseid(1, "10.10.0.1"), pdrs=PDRS,
                                  fars=FARS, urrs=URRS, qers=QERS, dnn="internet", snssai=(1, 0x010203)),
    P.SessionEstablishmentRequest(seq=5, node_id="10.10.0.1", cp_fseid=P.Fseid(2, "10.10.0.1"),
                                  pdrs=P.pdu_session_rules("10.45.0.3", P.Fteid(0x1234, "10.10.0.3"),
                                                           dl_tunnel=P.OuterHeaderCreation(9, "10.20.0.9"))[0],
                                  fars=P.pdu_session_rules("10.45.0.3", P.Fteid(0x1234, "10.10.0.3"),
                                                           dl_tunnel=P.OuterHeaderCreation(9, "10.20.0.9"))[1],
                                  pdn_type=None),
    P.SessionEstablishmentResponse(seq=4, seid=1, node_id="10.10.0.3", cause=1, up_fseid=P.Fseid(2**63 + 5, "10.10.0.3"),
                                   created_pdrs=(P.CreatedPdr(1, P.Fteid(0xDEADBEEF, "10.10.0.3")),)),
    P.SessionEstablishmentResponse(seq=4, seid=0, node_id="10.10.0.3", cause=73, offending_ie=93,
                                   failed_rule=P.FailedRule(0, 2)),
    P.SessionModificationRequest(seq=6, seid=2**63 + 5, update_fars=P.dl_tunnel_update(P.OuterHeaderCreation(0x55, "10.20.0.9"))),
    P.SessionModificationResponse(seq=6, seid=1, cause=1),
    P.SessionModificationResponse(seq=6, seid=0, cause=65),
    P.SessionDeletionRequest(seq=7, seid=2**63 + 5),
    P.SessionDeletionResponse(seq=7, seid=1, cause=1,
                              usage_reports=(P.UsageReport(1, 0, P.USAGE_TRIGGER_TERMR, 100, 2**40, 1, 2),)),
    P.VersionNotSupportedResponse(seq=9),
    P.SessionReportRequest(seq=10, seid=1, report_type=P.ReportType.DLDR, dl_data_pdr_ids=(P.PDR_DL,)),
    P.SessionReportResponse(seq=10, seid=2**63 + 5, cause=1),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(msg):
    wire = P.encode(msg)
    assert P.decode(wire) == msg
    hdr = P.peek_header(wire)
    assert (hdr.msg_type, hdr.seq, hdr.version) == (msg.MSG_TYPE, msg.seq, 1)
    assert hdr.seid == (msg.seid if msg.SESSION else None)  # type: ignore[attr-defined]
    assert hdr.length == len(wire) - 4


def test_rules_of_a_pdu_session():
    ul, dl = PDRS
    assert (ul.source_interface, ul.fteid, ul.ue_ipv4, ul.qfi, ul.outer_header_removal) == (
        P.Interface.ACCESS, P.Fteid(choose=True), "10.45.0.2", 1, True)
    assert (dl.source_interface, dl.ue_ipv4, dl.fteid) == (P.Interface.CORE, "10.45.0.2", None)
    far_ul, far_dl = FARS
    assert (far_ul.action, far_ul.destination_interface) == (P.ApplyAction.FORW, P.Interface.CORE)
    assert far_dl.action == P.ApplyAction.BUFF and far_dl.outer_header_creation is None
    (upd,) = P.dl_tunnel_update(P.OuterHeaderCreation(7, "10.20.0.1"))
    assert (upd.far_id, upd.action, upd.destination_interface) == (dl.far_id, P.ApplyAction.FORW, P.Interface.ACCESS)


def test_set_seq_patches_node_and_session_headers():
    for msg in (MESSAGES[0], MESSAGES[6]):
        wire = P.set_seq(P.encode(msg), 0xABCDEF)
        assert P.decode(wire).seq == 0xABCDEF
        assert P.decode(wire) == type(msg)(**{**msg.__dict__, "seq": 0xABCDEF})
    with pytest.raises(ValueError):
        P.set_seq(P.encode(MESSAGES[0]), 1 << 24)


def test_invalid_values_are_refused_on_encode():
    with pytest.raises(ValueError):
        P.Fteid(teid=1)  # no address
    with pytest.raises(ValueError):
        P.Fteid(teid=1, ipv4="10.0.0.1", choose=True)
    with pytest.raises(ValueError):
        P.Fseid(1 << 64, "10.0.0.1")
    with pytest.raises(ValueError):
        P.Pdr(1, 1, P.Interface.ACCESS, qfi=64)
    with pytest.raises(ValueError):
        P.encode(P.HeartbeatRequest(seq=1 << 24, recovery_ts=1))
    with pytest.raises(ValueError):
        P.encode(P.SessionEstablishmentRequest(node_id="10.0.0.1", cp_fseid=P.Fseid(1, "10.0.0.1"), pdrs=(), fars=()))
    with pytest.raises(TypeError):
        P.encode(P.OtherMessage(msg_type=56))


# --- decoding errors ---------------------------------------------------------------


def test_truncated_and_inconsistent_headers():
    wire = P.encode(MESSAGES[6])
    for bad in (b"", wire[:7], wire[:15], wire[:-1], wire + b"\0"):
        with pytest.raises(DecodeError):
            P.decode(bad)
    with pytest.raises(DecodeError):
        P.decode(bytes([0x20, 200]) + wire[2:8])  # unknown message type
    bad_len = bytearray(wire)
    bad_len[3] = 2  # length shorter than the header
    with pytest.raises(DecodeError):
        P.decode(bytes(bad_len))


def test_version_2_is_reported_not_decoded():
    wire = bytearray(P.encode(MESSAGES[0]))
    wire[0] = (2 << 5) | (wire[0] & 0x1F)
    assert P.peek_header(bytes(wire)).version == 2
    with pytest.raises(DecodeError, match="version"):
        P.decode(bytes(wire))


def _without_ie(msg: P.PfcpMessage, ie_type: int) -> bytes:
    """Re-frame ``msg`` without its top-level IE ``ie_type`` (length fixed)."""
    wire = P.encode(msg)
    off = 16 if msg.SESSION else 8
    body, out = wire[off:], b""
    i = 0
    while i < len(body):
        t, ln = int.from_bytes(body[i:i + 2], "big"), int.from_bytes(body[i + 2:i + 4], "big")
        if t != ie_type:
            out += body[i:i + 4 + ln]
        i += 4 + ln
    hdr = bytearray(wire[:off])
    hdr[2:4] = (off - 4 + len(out)).to_bytes(2, "big")
    return bytes(hdr) + out


@pytest.mark.parametrize("msg_index,ie", [(0, P.IeType.RECOVERY_TIME_STAMP), (2, P.IeType.NODE_ID),
                                          (6, P.IeType.F_SEID), (6, P.IeType.CREATE_FAR), (8, P.IeType.CAUSE)])
def test_missing_mandatory_ie_gives_cause_66(msg_index, ie):
    with pytest.raises(P.PfcpIeError) as ei:
        P.decode(_without_ie(MESSAGES[msg_index], ie))
    assert ei.value.cause == P.Cause.MANDATORY_IE_MISSING
    assert ei.value.ie_type == ie
    assert ei.value.header is not None and ei.value.header.seq == MESSAGES[msg_index].seq


def _ie(t: int, payload: bytes) -> bytes:
    return t.to_bytes(2, "big") + len(payload).to_bytes(2, "big") + payload


def _est(*ies: bytes, seq: int = 3) -> bytes:
    body = b"".join(ies)
    return bytes([0x21, 50]) + (12 + len(body)).to_bytes(2, "big") + bytes(8) + (seq << 8).to_bytes(4, "big") + body


NODE = _ie(60, bytes([0, 10, 0, 0, 1]))
FSEID = _ie(57, bytes([0x02]) + (1).to_bytes(8, "big") + bytes([10, 0, 0, 1]))
FAR = _ie(3, _ie(108, (1).to_bytes(4, "big")) + _ie(44, b"\x02\x00"))


def _pdr(pdi: bytes) -> bytes:
    return _ie(1, _ie(56, b"\x00\x01") + _ie(29, (10).to_bytes(4, "big")) + _ie(2, pdi) + _ie(108, (1).to_bytes(4, "big")))


def test_hand_built_request_decodes():
    msg = P.decode(_est(NODE, FSEID, _pdr(_ie(20, b"\x00") + _ie(21, b"\x05")), FAR))
    assert isinstance(msg, P.SessionEstablishmentRequest)
    assert msg.pdrs[0].fteid == P.Fteid(choose=True) and msg.cp_fseid == P.Fseid(1, "10.0.0.1")


def test_missing_ie_inside_a_grouped_ie():
    with pytest.raises(P.PfcpIeError) as ei:
        P.decode(_est(NODE, FSEID, _pdr(_ie(21, b"\x05")), FAR))  # PDI without Source Interface
    assert ei.value.cause == P.Cause.MANDATORY_IE_MISSING
    assert ei.value.ie_type == P.IeType.SOURCE_INTERFACE
    assert ei.value.header is not None and ei.value.header.seq == 3


def test_malformed_mandatory_ie_gives_cause_69():
    bad_fseid = _ie(57, bytes([0x00]) + (1).to_bytes(8, "big"))  # neither V4 nor V6
    with pytest.raises(P.PfcpIeError) as ei:
        P.decode(_est(NODE, bad_fseid, _pdr(_ie(20, b"\x00") + _ie(21, b"\x05")), FAR))
    assert ei.value.cause == P.Cause.MANDATORY_IE_INCORRECT
    assert ei.value.ie_type == P.IeType.F_SEID
    short_fteid = _ie(21, b"\x01\x00\x00")  # V4 without TEID and address
    with pytest.raises(P.PfcpIeError) as ei:
        P.decode(_est(NODE, FSEID, _pdr(_ie(20, b"\x00") + short_fteid), FAR))
    assert ei.value.cause == P.Cause.MANDATORY_IE_INCORRECT and ei.value.ie_type == P.IeType.F_TEID


def test_control_valid_message_has_no_error():
    assert isinstance(P.decode(P.encode(MESSAGES[6])), P.SessionEstablishmentRequest)


def test_other_message_types_decode_generically():
    # Session Set Deletion Request (14) with a Node ID IE (60): well-formed, not modelled
    body = bytes.fromhex("003c0005000a000001")
    wire = bytes([0x20, 14]) + (4 + len(body)).to_bytes(2, "big") + b"\x00\x00\x09\x00" + body
    msg = P.decode(wire)
    assert isinstance(msg, P.OtherMessage)
    assert (msg.msg_type, msg.seid, msg.seq, msg.ies) == (14, None, 9, (60,))


def test_session_report_request_with_downlink_data_report():
    """TS 29.244 7.5.8: Report Type DLDR (8.2.21) and the Downlink Data Report (7.5.8.2) naming the
    downlink PDR; DLDR without the report is refused with cause 67 (conditional IE missing)."""
    msg = P.SessionReportRequest(seq=3, seid=42, report_type=P.ReportType.DLDR, dl_data_pdr_ids=(2, 7))
    wire = P.encode(msg)
    assert wire[1] == 56 and P.peek_header(wire).seid == 42 and P.peek_header(wire).is_request
    assert bytes.fromhex("00270001010053000c003800020002003800020007") in wire
    assert P.decode(wire) == msg == P.decode_pycrate(wire)
    bare = P.encode(P.SessionReportRequest(seq=3, seid=42, report_type=P.ReportType.DLDR))
    for dec in (P.decode, P.decode_pycrate):
        with pytest.raises(P.PfcpIeError) as ei:
            dec(bare)
        assert (ei.value.cause, ei.value.ie_type) == (P.Cause.CONDITIONAL_IE_MISSING, P.IeType.DOWNLINK_DATA_REPORT)
    usage_only = P.SessionReportRequest(seq=3, seid=42, report_type=P.ReportType.USAR)  # control: no DLDR
    assert P.decode(P.encode(usage_only)) == usage_only


def test_random_mutations_raise_only_decode_error():
    rng = random.Random(1234)
    seeds = [P.encode(m) for m in MESSAGES]
    outcomes = {"ok": 0, "error": 0}
    for _ in range(600):
        buf = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            pos = rng.randrange(len(buf))
            if op < 0.6:
                buf[pos] = rng.randrange(256)
            elif op < 0.8:
                del buf[pos]
            else:
                buf.insert(pos, rng.randrange(256))
        try:
            P.decode(bytes(buf))
            outcomes["ok"] += 1
        except DecodeError:
            outcomes["error"] += 1
    assert outcomes["error"] > 50 and outcomes["ok"] > 10, outcomes


# --- Wireshark ------------------------------------------------------------------------

needs_tshark = pytest.mark.skipif(not tshark_available(), reason="tshark not installed")


@needs_tshark
def test_wireshark_dissects_every_message_cleanly(tmp_path):
    frames = [ipv4_udp("10.10.0.1", "10.10.0.3", P.PORT, P.PORT, P.encode(m)) for m in MESSAGES]
    reports = tshark_check(write_pcap(tmp_path / "pfcp.pcap", frames))
    assert len(reports) == len(MESSAGES)
    for msg, rep in zip(MESSAGES, reports, strict=True):
        assert "pfcp" in rep.protocols, (type(msg).__name__, rep.protocols)
        assert rep.ok and not rep.expert, (type(msg).__name__, rep.expert)


@needs_tshark
def test_wireshark_reads_our_field_values(tmp_path):
    est = MESSAGES[6]
    resp = MESSAGES[8]
    mod = MESSAGES[10]
    frames = [ipv4_udp("10.10.0.1", "10.10.0.3", P.PORT, P.PORT, P.encode(m)) for m in (est, resp, mod)]
    path = write_pcap(tmp_path / "f.pcap", frames)
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=|",
                          "-e", "pfcp.msg_type", "-e", "pfcp.seid", "-e", "pfcp.ue_ip_addr_ipv4",
                          "-e", "pfcp.f_teid.teid", "-e", "pfcp.outer_hdr_creation.teid",
                          "-e", "pfcp.outer_hdr_creation.ipv4", "-e", "pfcp.f_teid_flags.ch"],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()
    t, seid, ueip, _teid, _, _, ch = out[0].split("|")
    assert int(t) == 50 and int(seid.split(",")[0], 16) == 0 and int(seid.split(",")[1], 16) == 1 and ueip.split(",")[0] == "10.45.0.2" and ch.split(",")[0] == "1"
    t, seid, _, teid, _, _, _ = out[1].split("|")
    assert int(t) == 51 and int(seid.split(",")[0], 16) == 1 and int(teid, 0) == 0xDEADBEEF
    t, seid, _, _, ohc_teid, ohc_ip, _ = out[2].split("|")
    assert int(t) == 52 and int(seid.split(",")[0], 16) == 2**63 + 5 and int(ohc_teid, 0) == 0x55 and ohc_ip == "10.20.0.9"
