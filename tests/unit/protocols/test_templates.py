"""Learned codec templates (testbed.protocols.templates): octet and bit slots, byte-identical to the
codec they were learned from, and never a match for anything but the learned shape."""

from __future__ import annotations

import os
import random

import pytest

from testbed.protocols import ngap, rrc
from testbed.protocols.templates import BitTemplate, SpliceTemplate, learn, learn_bits, nbytes

ULI = ngap.UserLocationNR(ngap.NrCgi(ngap.Plmn("001", "01"), 0x10), ngap.Tai(ngap.Plmn("001", "01"), 1))


def _i(v: bytes) -> int:
    return int.from_bytes(v, "big")


def _dl_nas(v) -> bytes:
    return ngap.encode(ngap.DownlinkNASTransport(_i(v[0]), _i(v[1]), bytes(v[2])))


@pytest.mark.parametrize("value, n", [(0, 1), (1, 1), (255, 1), (256, 2), (0xFFFF, 2), (1 << 32, 5), ((1 << 40) - 1, 5)])
def test_nbytes(value: int, n: int) -> None:
    assert nbytes(value) == n


def test_splice_template_equals_the_codec() -> None:
    tpl = learn(_dl_nas, [2, 1, 10], [True, True, False])
    assert isinstance(tpl, SpliceTemplate)
    rnd = random.Random(3)
    for _ in range(30):
        amf, ran, pdu = rnd.randrange(256, 1 << 16), rnd.randrange(1, 256), rnd.randbytes(10)
        vals = (amf.to_bytes(2, "big"), ran.to_bytes(1, "big"), pdu)
        data = ngap.encode(ngap.DownlinkNASTransport(amf, ran, pdu))
        assert tpl.fill(vals) == data
        assert tpl.match(data) == vals
    with pytest.raises(ValueError, match="wrong length"):
        tpl.fill((b"\x01\x00", b"\x01", bytes(9)))


def test_splice_template_matches_only_the_learned_shape() -> None:
    tpl = learn(lambda v: ngap.encode(ngap.UplinkNASTransport(_i(v[0]), _i(v[1]), bytes(v[2]), ULI)),
                [1, 1, 3], [True, True, False])
    assert tpl is not None
    data = ngap.encode(ngap.UplinkNASTransport(5, 6, b"\x7e\x00\x43", ULI))
    assert tpl.match(data) == (b"\x05", b"\x06", b"\x7e\x00\x43")
    uli2 = ngap.UserLocationNR(ngap.NrCgi(ngap.Plmn("001", "01"), 0x11), ULI.tai)
    other = ngap.encode(ngap.UplinkNASTransport(5, 6, b"\x7e\x00\x43", uli2))
    assert len(other) == len(data) and tpl.match(other) is None  # a constant byte differs
    assert tpl.match(data[:-1]) is None and tpl.match(data + b"\x00") is None
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        got = tpl.match(bytes(bad))
        in_slot = any(off <= i < off + ln for off, ln in tpl.slots)
        assert (got is not None) == in_slot, i


def test_learn_refuses_what_is_not_a_template() -> None:
    # the length depends on the value
    assert learn(lambda v: bytes(v[0]).lstrip(b"\x00"), [4], [False]) is None
    # a slot that does not change the output where expected (here: not at all)
    assert learn(lambda v: b"\x00\x00\x00\x00", [2], [False]) is None
    # a slot whose changes are not one run of its length (here: spread out)
    assert learn(lambda v: bytes((v[0][0], 0, v[0][1])), [2], [False]) is None
    # two slots at the same place
    assert learn(lambda v: bytes(a ^ b for a, b in zip(v[0], v[1], strict=True)), [2, 2], [False, False]) is None
    # a build that depends on the values beyond the slot (here: only the two probe values give 0x00)
    # fails the check with random values
    assert learn(lambda v: bytes(v[0]) + (b"\x00" if v[0] in (bytes(2), b"\xff\xff") else b"\x01"),
                 [2], [False]) is None
    # a codec error while learning is no template either
    assert learn(lambda v: ngap.encode(ngap.DownlinkNASTransport(_i(v[0]), 1, bytes(v[1]))), [6, 3],
                 [True, False]) is None  # AMF UE NGAP ID > 40 bits: ValueError


def test_bit_template_learns_an_unaligned_slot() -> None:
    tpl = learn_bits(lambda v: rrc.encode(rrc.DLInformationTransfer(v[0].to_bytes(5, "big"), 2)), (40,))
    assert isinstance(tpl, BitTemplate)
    for _ in range(20):
        nas = os.urandom(5)
        data = rrc.encode(rrc.DLInformationTransfer(nas, 2))
        assert tpl.fill((int.from_bytes(nas, "big"),)) == data
        assert tpl.match(data) == (int.from_bytes(nas, "big"),)
    with pytest.raises(ValueError, match="too wide"):
        tpl.fill((1 << 40,))
    other = rrc.encode(rrc.DLInformationTransfer(bytes(5), 3))  # another transaction id: a constant bit
    assert len(other) == tpl.size and tpl.match(other) is None
    # a build whose length changes with the value cannot be a template
    assert learn_bits(lambda v: bytes(1 + v[0] % 2), (1,)) is None


def test_bit_template_with_several_slots() -> None:
    def build(v) -> bytes:
        return rrc.encode(rrc.RRCSetupComplete(v[0].to_bytes(3, "big"), 1, s_tmsi_part2=v[1]))
    tpl = learn_bits(build, (24, 9))
    assert tpl is not None and len(tpl.slots) == 2
    rnd = random.Random(4)
    for _ in range(20):
        vals = (rnd.getrandbits(24), rnd.getrandbits(9))
        data = build(vals)
        assert tpl.fill(vals) == data and tpl.match(data) == vals


def test_learn_bits_refuses_what_is_not_a_template() -> None:
    assert learn_bits(lambda v: b"\x00", (1,)) is None  # the slot changes nothing
    assert learn_bits(lambda v: bytes(((v[0] & 1) | ((v[0] >> 1) << 2),)), (2,)) is None  # not contiguous
    assert learn_bits(lambda v: bytes((v[0] | v[1],)), (2, 2)) is None  # overlapping slots
    assert learn_bits(lambda v: bytes((0x80 | v[0],)), (1,)) is not None  # a control: this one is fine
