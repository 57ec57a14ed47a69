"""EAP packet codec (RFC 3748 4): roundtrips and malformed input -> DecodeError, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.aaa.eap import (
    EAP_FAILURE,
    EAP_REQUEST,
    EAP_RESPONSE,
    EAP_SUCCESS,
    TYPE_IDENTITY,
    EapPacket,
    decode_eap,
)
from testbed.errors import DecodeError


@pytest.mark.parametrize("pkt", [
    EapPacket(EAP_REQUEST, 7, TYPE_IDENTITY),
    EapPacket(EAP_RESPONSE, 255, TYPE_IDENTITY, b"0001010000009001@realm"),
    EapPacket(EAP_SUCCESS, 0),
    EapPacket(EAP_FAILURE, 9),
])
def test_roundtrip(pkt):
    assert decode_eap(pkt.encode()) == pkt


def test_wire_format():
    assert EapPacket(EAP_RESPONSE, 5, TYPE_IDENTITY, b"ab").encode() == bytes.fromhex("020500070161 62".replace(" ", ""))
    assert EapPacket(EAP_SUCCESS, 3).encode() == bytes.fromhex("03030004")


def test_trailing_octets_beyond_length_are_padding():
    assert decode_eap(bytes.fromhex("03030004") + b"\x00\x00") == EapPacket(EAP_SUCCESS, 3)


@pytest.mark.parametrize("raw", [
    b"", b"\x01\x01\x00", bytes.fromhex("05010004"), bytes.fromhex("01010003"),
    bytes.fromhex("01010009") + b"\x01", bytes.fromhex("01010004"), bytes.fromhex("03010005") + b"\x00",
])
def test_malformed(raw):
    with pytest.raises(DecodeError):
        decode_eap(raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_input_never_crashes(raw):
    try:
        pkt = decode_eap(raw)
    except DecodeError:
        return
    assert decode_eap(pkt.encode()) == pkt
