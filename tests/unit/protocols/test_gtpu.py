"""GTP-U (TS 29.281) with the PDU Session Container (TS 38.415): encodings, Wireshark, hostile input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.errors import DecodeError
from testbed.protocols import gtpu
from testbed.protocols.pcap import ipv4_udp, tshark_available, tshark_check, write_pcap

# ICMP echo request 10.45.0.2 -> 10.45.0.1, as a UE would send through its PDU session
IP_PACKET = bytes.fromhex("4500001c00010000400164c90a2d00020a2d00010800f7ff00000000")

SAMPLES = [
    gtpu.GPdu(1, IP_PACKET),
    gtpu.GPdu(0xFFFFFFFF, IP_PACKET, gtpu.PduSessionContainer(gtpu.PDU_TYPE_DL, 9, rqi=True)),
    gtpu.GPdu(2, IP_PACKET, gtpu.PduSessionContainer(gtpu.PDU_TYPE_UL, 63)),
    gtpu.GPdu(3, IP_PACKET, gtpu.PduSessionContainer(gtpu.PDU_TYPE_UL, 1), seq=0xFFFF),
    gtpu.GPdu(4, IP_PACKET, None, seq=0),
    gtpu.EchoRequest(7),
    gtpu.EchoResponse(7),
    gtpu.ErrorIndication(0x01020304, "192.168.1.2", 5),
    gtpu.ErrorIndication(1, "2001:db8::7"),
    gtpu.SupportedExtHeadersNotification((0x85, 0x40)),
    gtpu.EndMarker(0x10),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=[type(m).__name__ for m in SAMPLES])
def test_round_trip(msg):
    assert gtpu.decode(gtpu.encode(msg)) == msg


def test_known_encodings():
    # plain G-PDU: flags 0x30 (v1, PT), type 0xff, length, TEID (TS 29.281 5.1)
    assert gtpu.encode_gpdu(1, b"\x45") == bytes.fromhex("30ff00010000000145")
    # DL PDU Session Container, QFI 9, RQI: E flag, next ext 0x85, len 1, PDU type 0, RQI|QFI, next 0 (TS 38.415 5.5.2.1)
    assert gtpu.encode_gpdu(0x11, b"\x45", qfi=9, rqi=True) == bytes.fromhex("34ff0009000000110000008501004900" "45")
    # UL PDU Session Container (PDU type 1), QFI 5 (TS 38.415 5.5.2.2)
    assert gtpu.encode_gpdu(0x11, b"\x45", qfi=5, pdu_type=gtpu.PDU_TYPE_UL) == bytes.fromhex(
        "34ff000900000011000000850110050045")
    # Echo Request: S flag set, TEID 0 (TS 29.281 7.2.1); Echo Response carries Recovery (IE 14, value 0)
    assert gtpu.EchoRequest(1).encode() == bytes.fromhex("320100040000000000010000")
    assert gtpu.EchoResponse(1).encode() == bytes.fromhex("3202000600000000000100000e00")
    # End Marker (TS 29.281 7.3.2)
    assert gtpu.EndMarker(5).encode() == bytes.fromhex("30fe000000000005")


def test_decode_open5gs_style_dl_gpdu():
    # What an Open5GS UPF sends on N3: flags 0x34, PDU Session Container with N-PDU/seq fields zero
    buf = bytes.fromhex("34ff0024000000010000008501000100") + IP_PACKET
    msg = gtpu.decode(buf)
    assert msg == gtpu.GPdu(1, IP_PACKET, gtpu.PduSessionContainer(0, 1))
    assert msg.qfi == 1


def _gtp(flags: int, mtype: int, teid: int, rest: bytes, length: int | None = None) -> bytes:
    """A GTP-U message with a correct length field unless ``length`` is given."""
    return struct.pack("!BBHI", flags, mtype, len(rest) if length is None else length, teid) + rest


def test_unknown_extension_headers_are_kept_and_skipped():
    # UDP Port extension (0x40, length 1: 2-octet port, next 0x85) then the PDU Session Container (UL, QFI 5)
    buf = _gtp(0x34, 255, 9, bytes.fromhex("00000040" "01086885" "01100500") + IP_PACKET)
    msg = gtpu.decode(buf)
    assert msg.ext_headers == ((0x40, b"\x08\x68"),)
    assert msg.pdu_session == gtpu.PduSessionContainer(1, 5)
    assert msg.payload == IP_PACKET


@pytest.mark.parametrize("buf, match", [
    (b"", "shorter"),
    (bytes.fromhex("30ff0001000000"), "shorter"),
    (_gtp(0x50, 255, 1, b"E"), "version"),
    (_gtp(0x20, 255, 1, b"E"), "GTP'"),
    (_gtp(0x30, 255, 1, b"E", length=2), "length field"),
    (_gtp(0x30, 255, 1, b"EE", length=1), "length field"),
    (_gtp(0x34, 255, 1, b"\x00\x00"), "optional header"),
    (_gtp(0x34, 255, 1, bytes.fromhex("00000085")), "missing"),
    (_gtp(0x34, 255, 1, bytes.fromhex("00000085" "02000900")), "overruns"),
    (_gtp(0x34, 255, 1, bytes.fromhex("00000085" "00000000")), "length 0"),
    (_gtp(0x34, 255, 1, bytes.fromhex("00000085" "01f00500")), "PDU type"),
    (_gtp(0x34, 255, 1, bytes.fromhex("00000085" "01000985" "01000900")), "two PDU Session"),
    (_gtp(0x32, 2, 0, bytes.fromhex("00010000")), "Recovery"),
    (_gtp(0x32, 26, 0, bytes.fromhex("00000000" "1000000001")), "Peer Address"),
    (_gtp(0x32, 26, 0, bytes.fromhex("00000000" "1000000001" "8500")), "truncated"),
    (_gtp(0x32, 26, 0, bytes.fromhex("00000000" "1000000001" "850004" "0a00")), "overruns"),
    (_gtp(0x32, 26, 0, bytes.fromhex("00000000" "1000000001" "850003" "0a0000")), "Peer Address of 3"),
    (_gtp(0x32, 99, 0, bytes.fromhex("00000000")), "unsupported"),
    (_gtp(0x30, 254, 5, b"E"), "End Marker"),
    (_gtp(0x32, 1, 0, bytes.fromhex("00010000" "0701")), "TV IE"),
    (_gtp(0x32, 31, 0, bytes.fromhex("00010000")), "type list"),
])
def test_malformed_input_raises_decode_error(buf, match):
    with pytest.raises(DecodeError, match=match):
        gtpu.decode(buf)


def test_encode_rejects_bad_values():
    with pytest.raises(ValueError):
        gtpu.encode_gpdu(1 << 32, b"")
    with pytest.raises(ValueError):
        gtpu.encode_gpdu(1, b"", qfi=64)
    with pytest.raises(ValueError):
        gtpu.encode_gpdu(1, b"", seq=1 << 16)
    with pytest.raises(ValueError):
        gtpu.PduSessionContainer(2, 1)
    with pytest.raises(ValueError):
        gtpu.ErrorIndication(1, "nowhere").encode()
    with pytest.raises(ValueError):
        gtpu.SupportedExtHeadersNotification(()).encode()


@pytest.mark.skipif(not tshark_available(), reason="tshark not installed")
def test_wireshark_dissects_every_sample(tmp_path):
    frames = [ipv4_udp("10.0.0.1", "10.0.0.2", gtpu.PORT, gtpu.PORT, gtpu.encode(m)) for m in SAMPLES]
    reports = tshark_check(write_pcap(tmp_path / "gtpu.pcap", frames))
    assert len(reports) == len(SAMPLES)
    for m, rep in zip(SAMPLES, reports, strict=True):
        assert rep.ok and not rep.expert, (m, rep.expert)
        assert "gtp" in rep.protocols
        if isinstance(m, gtpu.GPdu):
            assert rep.protocols[-2:] == ["ip", "icmp"], rep.protocols


@settings(max_examples=200, deadline=None)
@given(teid=st.integers(0, (1 << 32) - 1), payload=st.binary(max_size=200), qfi=st.none() | st.integers(0, 63),
       ptype=st.sampled_from([0, 1]), rqi=st.booleans(), seq=st.none() | st.integers(0, 0xFFFF))
def test_gpdu_round_trip(teid, payload, qfi, ptype, rqi, seq):
    buf = gtpu.encode_gpdu(teid, payload, qfi=qfi, pdu_type=ptype, rqi=rqi, seq=seq)
    msg = gtpu.decode(buf)
    assert (msg.teid, msg.payload, msg.seq, msg.qfi) == (teid, payload, seq, qfi)
    if qfi is not None:
        assert msg.pdu_session == gtpu.PduSessionContainer(ptype, qfi, rqi and ptype == 0)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_raise_only_decode_error(buf):
    try:
        msg = gtpu.decode(buf)
    except DecodeError:
        return
    assert isinstance(msg, gtpu.GPdu | gtpu.EchoRequest | gtpu.EchoResponse | gtpu.ErrorIndication
                      | gtpu.SupportedExtHeadersNotification | gtpu.EndMarker)


@settings(max_examples=200, deadline=None)
@given(idx=st.integers(0, len(SAMPLES) - 1), pos=st.integers(0, 100), val=st.integers(0, 255), cut=st.integers(0, 3))
def test_mutations_raise_only_decode_error(idx, pos, val, cut):
    buf = bytearray(gtpu.encode(SAMPLES[idx]))
    buf[pos % len(buf)] = val
    try:
        gtpu.decode(bytes(buf[:len(buf) - cut]))
    except DecodeError:
        pass
