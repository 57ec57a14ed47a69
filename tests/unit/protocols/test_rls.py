"""Radio link (RLS) codec: the layout of reference/radio-link-protocol.md = UERANSIM src/lib/rls/rls_pdu.cpp."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.errors import DecodeError
from testbed.protocols import rls

STI = 0x0102030405060708
HDR = "03030300"


@pytest.mark.parametrize("msg, hexstr", [
    # EncodeRlsMessage: 0x03, Major 3, Minor 3, Patch 0, msgType, STI (8 octets), then the body
    (rls.Heartbeat(STI, 1, -2, 3), HDR + "04" + "0102030405060708" + "00000001" "fffffffe" "00000003"),
    (rls.HeartbeatAck(STI, -87), HDR + "05" + "0102030405060708" + "ffffffa9"),
    (rls.PduTransmission(STI, rls.PduType.RRC, 5, b"\x10\x20", pdu_id=7),
     HDR + "06" + "0102030405060708" + "01" "00000007" "00000005" "00000002" "1020"),
    (rls.PduTransmission(STI, rls.PduType.DATA, 1, b"\x45"),
     HDR + "06" + "0102030405060708" + "02" "00000000" "00000001" "00000001" "45"),
    (rls.PduTransmissionAck(STI, (1, 0xFFFFFFFF)),
     HDR + "07" + "0102030405060708" + "00000002" "00000001" "ffffffff"),
    (rls.PduTransmissionAck(STI, ()), HDR + "07" + "0102030405060708" + "00000000"),
])
def test_known_encodings_and_round_trip(msg, hexstr):
    buf = bytes.fromhex(hexstr)
    assert rls.encode(msg) == buf
    assert rls.decode(buf) == msg


def test_limits_are_accepted_at_the_edge():
    big = rls.PduTransmission(STI, rls.PduType.DATA, 1, bytes(rls.MAX_PDU_LEN), 1)
    assert rls.decode(big.encode()) == big
    acks = rls.PduTransmissionAck(STI, tuple(range(rls.MAX_ACK_COUNT)))
    assert rls.decode(acks.encode()) == acks
    assert rls.decode(rls.PduTransmission(STI, rls.PduType.RRC, 7, b"").encode()).pdu == b""


def _hdr(mtype: int) -> bytes:
    return bytes.fromhex(HDR) + bytes((mtype,)) + STI.to_bytes(8, "big")


@pytest.mark.parametrize("buf, match", [
    (b"", "shorter"),
    (bytes.fromhex(HDR + "04" + "01020304050607"), "shorter"),
    (bytes.fromhex("02030300" + "04" + "0102030405060708" + "00" * 12), "marker"),
    (bytes.fromhex("03030200" + "04" + "0102030405060708" + "00" * 12), "version 3.2.0"),
    (bytes.fromhex("03030301" + "04" + "0102030405060708" + "00" * 12), "version 3.3.1"),
    (_hdr(4) + bytes(11), "HEARTBEAT body"),
    (_hdr(4) + bytes(13), "HEARTBEAT body"),
    (_hdr(5) + bytes(3), "HEARTBEAT_ACK body"),
    (_hdr(6) + bytes(12), "truncated"),
    (_hdr(6) + bytes.fromhex("01" "00000000" "00000000" "00004001"), "exceeds 16384"),
    (_hdr(6) + bytes.fromhex("01" "00000000" "00000000" "00000002" "00"), "2 but 1"),
    (_hdr(6) + bytes.fromhex("01" "00000000" "00000000" "00000000" "00"), "0 but 1"),
    (_hdr(6) + bytes.fromhex("03" "00000000" "00000000" "00000000"), "PDU type 3"),
    (_hdr(6) + bytes.fromhex("01" "00000000" "00000008" "00000000"), "channel 8"),
    (_hdr(7) + bytes(3), "truncated"),
    (_hdr(7) + bytes.fromhex("00001001") + bytes(4 * 4097), "exceeds 4096"),
    (_hdr(7) + bytes.fromhex("00000002") + bytes(4), "count 2"),
    (_hdr(7) + bytes.fromhex("00000000") + bytes(1), "count 0"),
    (_hdr(8) + bytes(4), "unknown RLS message type 8"),
    (_hdr(1), "unknown RLS message type 1"),
])
def test_malformed_input_raises_decode_error(buf, match):
    with pytest.raises(DecodeError, match=match):
        rls.decode(buf)


@pytest.mark.parametrize("make", [
    lambda: rls.Heartbeat(-1),
    lambda: rls.Heartbeat(STI, 1 << 31),
    lambda: rls.HeartbeatAck(1 << 64, 0),
    lambda: rls.PduTransmission(STI, rls.PduType.DATA, 1, bytes(rls.MAX_PDU_LEN + 1)),
    lambda: rls.PduTransmission(STI, rls.PduType.RRC, 8, b""),
    lambda: rls.PduTransmission(STI, 3, 1, b""),  # type: ignore[arg-type]
    lambda: rls.PduTransmission(STI, rls.PduType.DATA, 1, b"", pdu_id=1 << 32),
    lambda: rls.PduTransmissionAck(STI, tuple(range(rls.MAX_ACK_COUNT + 1))),
    lambda: rls.PduTransmissionAck(STI, (-1,)),
])
def test_encode_rejects_bad_values(make):
    with pytest.raises(ValueError):
        make().encode()


messages = st.one_of(
    st.builds(rls.Heartbeat, st.integers(0, (1 << 64) - 1), *[st.integers(-(1 << 31), (1 << 31) - 1)] * 3),
    st.builds(rls.HeartbeatAck, st.integers(0, (1 << 64) - 1), st.integers(-(1 << 31), (1 << 31) - 1)),
    st.builds(rls.PduTransmission, st.integers(0, (1 << 64) - 1), st.just(rls.PduType.RRC), st.integers(0, 7),
              st.binary(max_size=300), st.integers(0, (1 << 32) - 1)),
    st.builds(rls.PduTransmission, st.integers(0, (1 << 64) - 1), st.just(rls.PduType.DATA),
              st.integers(0, (1 << 32) - 1), st.binary(max_size=300), st.integers(0, (1 << 32) - 1)),
    st.builds(rls.PduTransmissionAck, st.integers(0, (1 << 64) - 1),
              st.lists(st.integers(0, (1 << 32) - 1), max_size=50).map(tuple)),
)


@settings(max_examples=200, deadline=None)
@given(messages)
def test_round_trip(msg):
    assert rls.decode(msg.encode()) == msg


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), st.booleans())
def test_random_bytes_raise_only_decode_error(buf, with_header):
    if with_header:
        buf = bytes.fromhex(HDR) + buf
    try:
        msg = rls.decode(buf)
    except DecodeError:
        return
    assert msg.encode() == buf


def test_other_ueransim_versions_on_request():
    # UERANSIM writes its build version in the header and drops other versions (src/utils/constants.hpp)
    msg = rls.HeartbeatAck(STI, -50)
    old = msg.encode(version=(3, 2, 6))
    assert old[:4] == bytes.fromhex("03030206")
    assert rls.decode(old, version=(3, 2, 6)) == msg
    with pytest.raises(DecodeError, match="expected 3.3.0"):
        rls.decode(old)
    with pytest.raises(DecodeError, match="expected 3.2.6"):
        rls.decode(msg.encode(), version=(3, 2, 6))
