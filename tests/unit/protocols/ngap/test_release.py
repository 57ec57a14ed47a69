"""PDU Session Resource Release (TS 38.413 8.2.2): the messages and their transfers."""

from __future__ import annotations

import subprocess

import pytest

from testbed.errors import DecodeError
from testbed.protocols import nas, ngap
from testbed.protocols.ngap import _asn1
from testbed.protocols.ngap.release_messages import (
    PduSessionReleased,
    PDUSessionResourceReleaseCommand,
    PDUSessionResourceReleaseResponse,
    PduSessionToRelease,
)
from testbed.protocols.ngap.release_transfer import (
    PduSessionResourceReleaseCommandTransfer,
    PduSessionResourceReleaseResponseTransfer,
)
from testbed.protocols.pcap import ipv4_sctp, tshark_available, tshark_check, write_pcap

CMD_T = PduSessionResourceReleaseCommandTransfer(ngap.Cause("nas", "normal-release"))
RSP_T = PduSessionResourceReleaseResponseTransfer()
RELEASE_COMMAND_NAS = nas.encode(nas.PduSessionReleaseCommand(pdu_session_id=5, pti=3))
ULI = ngap.UserLocationNR(ngap.NrCgi(ngap.Plmn("001", "01"), 0x123456789), ngap.Tai(ngap.Plmn("001", "01"), 1))

MESSAGES = [
    PDUSessionResourceReleaseCommand(1, 2, (PduSessionToRelease(5, CMD_T),)),
    PDUSessionResourceReleaseCommand(0xFF_FFFF_FFFF, 0xFFFF_FFFF, (
        PduSessionToRelease(5, CMD_T),
        PduSessionToRelease(6, PduSessionResourceReleaseCommandTransfer(ngap.Cause("radioNetwork", "user-inactivity")))),
        nas_pdu=RELEASE_COMMAND_NAS, ran_paging_priority=256),
    PDUSessionResourceReleaseResponse(1, 2, (PduSessionReleased(5, RSP_T),)),
    PDUSessionResourceReleaseResponse(7, 8, (PduSessionReleased(5, RSP_T), PduSessionReleased(15, RSP_T)),
                                      user_location=ULI),
]


@pytest.mark.parametrize("t", [CMD_T, PduSessionResourceReleaseCommandTransfer(ngap.Cause("misc", "unspecified")), RSP_T])
def test_transfer_round_trip(t, pycrate_checks):
    assert type(t).from_bytes(t.to_bytes()) == t


def test_default_release_cause_is_normal_release():
    assert PduSessionResourceReleaseCommandTransfer().cause == ngap.Cause("nas", "normal-release")


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: f"{type(m).__name__}-{len(m.sessions)}")
def test_message_round_trip(msg, pycrate_checks):
    buf = ngap.encode(msg)
    assert ngap.decode(buf) == msg


def test_pre_encoded_transfers_decode_typed():
    msg = PDUSessionResourceReleaseCommand(1, 2, (PduSessionToRelease(5, CMD_T.to_bytes()),), nas_pdu=RELEASE_COMMAND_NAS)
    out = ngap.decode(ngap.encode(msg))
    assert out.sessions[0].transfer == CMD_T and out.nas_pdu == RELEASE_COMMAND_NAS
    rsp = PDUSessionResourceReleaseResponse(1, 2, (PduSessionReleased(9),))  # default: the empty transfer octets
    assert ngap.decode(ngap.encode(rsp)).sessions[0].transfer == RSP_T


def test_header_procedure_code_and_kind():
    cmd, rsp = ngap.encode(MESSAGES[0]), ngap.encode(MESSAGES[2])
    # initiatingMessage / successfulOutcome, procedure code 28, criticality reject (TS 38.413 9.4.4)
    assert cmd[:3] == bytes((0x00, 28, 0x00)) and rsp[:3] == bytes((0x20, 28, 0x00))
    assert (PDUSessionResourceReleaseCommand.procedure_code, PDUSessionResourceReleaseCommand.kind) == (28, ngap.Kind.INITIATING)
    assert PDUSessionResourceReleaseResponse.kind is ngap.Kind.SUCCESSFUL
    ids = [ie["id"] for ie in MESSAGES[1].to_asn()[1]["value"][1]["protocolIEs"]]
    assert ids == [10, 85, 83, 38, 79]  # the ASN.1 class set order


@pytest.mark.parametrize("make, match", [
    (lambda: PDUSessionResourceReleaseCommand(1, 2, ()), "to release list"),
    (lambda: PDUSessionResourceReleaseCommand(1, 2, (PduSessionToRelease(256, CMD_T),)), "PDU session ID"),
    (lambda: PDUSessionResourceReleaseCommand(1, 2, (PduSessionToRelease(1, b""),)), "must not be empty"),
    (lambda: PDUSessionResourceReleaseCommand(1, 2, (PduSessionToRelease(1, RSP_T),)), "expected"),
    (lambda: PDUSessionResourceReleaseCommand(1, 2, (PduSessionReleased(1),)), "PduSessionToRelease"),
    (lambda: PDUSessionResourceReleaseCommand(1, 2, (PduSessionToRelease(1, CMD_T),), ran_paging_priority=0),
     "paging priority"),
    (lambda: PDUSessionResourceReleaseCommand(1 << 40, 2, (PduSessionToRelease(1, CMD_T),)), "AMF UE NGAP ID"),
    (lambda: PDUSessionResourceReleaseResponse(1, 2, ()), "released list"),
    (lambda: PDUSessionResourceReleaseCommand(1, 2, (PduSessionToRelease(1, PduSessionResourceReleaseCommandTransfer(
        ngap.Cause("nas", "not-a-cause"))),)), "not a nas cause"),
])
def test_invalid_values_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        ngap.encode(make())


def test_decode_errors():
    for junk in (b"\xff\xff", b"\x00", b"\x80\x00"):
        bad = PDUSessionResourceReleaseCommand(1, 2, (PduSessionToRelease(1, junk),))
        with pytest.raises(DecodeError):
            ngap.decode(ngap.encode(bad))
    with pytest.raises(DecodeError):
        PduSessionResourceReleaseCommandTransfer.from_bytes(b"")
    with pytest.raises(DecodeError):
        PduSessionResourceReleaseCommandTransfer.from_bytes(b"\x70")  # cause choice out of range
    buf = ngap.encode(MESSAGES[1])
    for cut in range(1, len(buf), 3):
        with pytest.raises(DecodeError):
            ngap.decode(buf[:cut])
    with pytest.raises(DecodeError, match="trailing"):
        ngap.decode(buf + b"\x00")


def test_missing_mandatory_ie_is_a_decode_error():
    from pycrate_asn1dir import NGAP

    val = MESSAGES[0].to_asn()
    ies = val[1]["value"][1]["protocolIEs"]
    val[1]["value"][1]["protocolIEs"] = [ie for ie in ies if ie["id"] != 79]
    pdu = NGAP.NGAP_PDU_Descriptions.NGAP_PDU
    with _asn1.LOCK:
        pdu.set_val(val)
        buf = pdu.to_aper()
    with pytest.raises(DecodeError, match="mandatory IE"):
        ngap.decode(buf)


@pytest.mark.skipif(not tshark_available(), reason="tshark not installed")
def test_wireshark_dissects_them(tmp_path):
    frames = [ipv4_sctp("10.0.0.1", "10.0.0.2", ngap.encode(m), tsn=i + 1) for i, m in enumerate(MESSAGES)]
    path = write_pcap(tmp_path / "rel.pcap", frames)
    reports = tshark_check(path)
    assert len(reports) == len(MESSAGES)
    for msg, rep in zip(MESSAGES, reports, strict=True):
        assert rep.ok and not rep.expert, (msg, rep.expert)
        assert "ngap" in rep.protocols
        assert ("nas-5gs" in rep.protocols) == (getattr(msg, "nas_pdu", None) is not None)
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=|",
                          "-e", "ngap.procedureCode", "-e", "ngap.pDUSessionID", "-e", "ngap.nas",
                          "-e", "nas_5gs.sm.message_type"], capture_output=True, text=True, check=True).stdout
    rows = [r.split("|") for r in out.strip().splitlines()]
    assert [r[0] for r in rows] == ["28"] * 4
    assert rows[1][1] == "5,6" and rows[3][1] == "5,15"
    assert int(rows[1][3], 0) == 0xD3  # PDU session release command
