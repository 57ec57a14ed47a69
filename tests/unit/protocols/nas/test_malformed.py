"""Malformed, truncated, unknown and random input: only DecodeError comes out."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.errors import DecodeError
from testbed.protocols import nas

from .samples import samples

ENCODED = [nas.encode(m) for m in samples()]


def _decode_or_decodeerror(buf: bytes) -> nas.NasMessage | None:
    try:
        return nas.decode(buf)
    except DecodeError:
        return None


@pytest.mark.parametrize("buf", ENCODED, ids=[m.name for m in samples()])
def test_every_truncation_is_decodeerror_or_a_valid_message(buf: bytes) -> None:
    """Cutting a message anywhere yields DecodeError, or (cut after the mandatory part) a message
    that re-encodes to exactly the cut buffer."""
    for cut in range(len(buf)):
        msg = _decode_or_decodeerror(buf[:cut])
        if msg is not None:
            assert nas.encode(msg) == buf[:cut], cut


def test_truncated_mandatory_parts() -> None:
    for buf in (b"", b"\x7e", b"\x7e\x00", b"\x2e\x01\x01", b"\x7e\x00\x41", b"\x7e\x00\x41\x79\x00\x0d\x01",
                bytes.fromhex("7e0056010200"), bytes.fromhex("7e005621"), bytes.fromhex("2e0101c2")):
        with pytest.raises(DecodeError):
            nas.decode(buf)


@pytest.mark.parametrize("buf,what", [
    ("00004100", "extended protocol discriminator"),
    ("7e0541000000000000000000", "reserved security header type"),
    ("7e0099", "message type"),
    ("7e0090", "message type"),  # a 5GMM type pycrate knows but we do not model (NSSAA, 0x50..)
    ("2e0101c0", "message type"),
    ("7e0101020304", "too short"),  # protected envelope without a NAS message
])
def test_header_errors(buf: str, what: str) -> None:
    with pytest.raises(DecodeError, match=what):
        nas.decode(bytes.fromhex(buf))


def test_unsupported_message_type_carries_the_type() -> None:
    with pytest.raises(nas.UnsupportedMessageType) as info:
        nas.decode(bytes.fromhex("7e005a01"))  # AUTHENTICATION RESULT: not implemented here
    assert info.value.message_type == 0x5A


@pytest.mark.parametrize("buf", [
    "7e004179000d0100f11000000000222222222225",  # trailing garbage: truncated type 4 IE
    "7e004179000d0100f1100000000022222222222e05e0e0",  # IE length beyond the end
    "7e004179000d0100f1100000000022222222222e01e0",  # UE security capability of 1 octet
    "7e004179000d0100f1100000000022222222222f0300",  # NSSAI with a truncated S-NSSAI
    "7e004179000d0100f1100000000022222222222f0203" "00",  # S-NSSAI of length 3
    "7e004179000d01a0f1100000000022222222222e02e0e0",  # MCC digit 0xA
    "7e004179000401000000",  # SUCI too short
    "7e00417900010e",  # reserved identity type
    "7e0042010154050000f110000001",  # TAI list entry truncated
    "7e004201017507050000f1100100",  # CAG entry length 5
    "7e0044037500060400f1100000",  # CAG entry longer than the list
    "7e00440375000a0400f110000400f11000",  # two CAG entries for one PLMN
    "7e00560002000021" + "00" * 15,  # RAND truncated
    "7e0056000200002010" + "00" * 15,  # AUTN of 15 octets in a 16-octet TLV
    "7e0059153008" + "00" * 8,  # AUTS of 8 octets
    "7e005d8800020000",  # reserved NAS security algorithm value
    "2e0101c211000400000000060000010000",  # QoS rule of length 0
    "2e0101c21100090100060131ff0101ff06060001060001",  # QoS rules: packet filter overruns the rule
    "2e0101c2110009010006313101010000060600010600012905",  # PDU address without address
    "2e0101c2110009010006313101010000060600010600012905070a2d0002",  # PDU address type 7
    "7e006701000200ff2503036162",  # DNN label longer than the IE
])
def test_malformed_ies(buf: str) -> None:
    with pytest.raises(DecodeError):
        nas.decode(bytes.fromhex(buf))


def test_wrong_identity_types_are_rejected() -> None:
    guti = nas.Guti5g("001", "01", 1, 1, 1, 1)
    # a SERVICE REQUEST must carry a 5G-S-TMSI, REGISTRATION ACCEPT's 5G-GUTI IE a 5G-GUTI
    sr = nas.encode(nas.ServiceRequest(s_tmsi=guti.s_tmsi))
    bad = sr[:4] + len(guti.to_nas_bytes()).to_bytes(2, "big") + guti.to_nas_bytes()
    with pytest.raises(DecodeError, match="not allowed"):
        nas.decode(bad)
    acc = nas.encode(nas.RegistrationAccept(guti=guti))
    stmsi = guti.s_tmsi.to_nas_bytes()
    with pytest.raises(DecodeError, match="not allowed"):
        nas.decode(acc[:5] + b"\x77\x00" + bytes([len(stmsi)]) + stmsi)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decodeerror(buf: bytes) -> None:
    msg = _decode_or_decodeerror(buf)
    if msg is not None:
        assert nas.decode(nas.encode(msg)) == msg


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from([b"\x7e\x00", b"\x2e\x01\x01"]),
       mtype=st.sampled_from(sorted(nas.MM_MESSAGE_CLASSES) + sorted(nas.SM_MESSAGE_CLASSES)),
       body=st.binary(max_size=120))
def test_random_bodies_raise_only_decodeerror(prefix: bytes, mtype: int, body: bytes) -> None:
    """Random bytes behind a valid header reach the IE decoders of every message type."""
    msg = _decode_or_decodeerror(prefix + bytes([mtype]) + body)
    if msg is not None:
        assert nas.decode(nas.encode(msg)) == msg


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(ENCODED) - 1), data=st.data())
def test_mutated_valid_messages_raise_only_decodeerror(index: int, data: st.DataObject) -> None:
    buf = bytearray(ENCODED[index])
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    msg = _decode_or_decodeerror(bytes(buf))
    if msg is not None:
        assert nas.decode(nas.encode(msg)) == msg
