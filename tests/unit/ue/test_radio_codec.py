"""The UE's fast RRC paths agree bit for bit with the pycrate codec of testbed.protocols.rrc."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.errors import DecodeError
from testbed.protocols import rrc
from testbed.protocols.ngap.ies import Plmn
from testbed.protocols.rrc import Channel
from testbed.ue.radio import codec

LENGTHS = [1, 2, 7, 126, 127, 128, 129, 255, 256, 1000, 9000, 16383]


@pytest.mark.parametrize("n", LENGTHS)
def test_ul_information_transfer_matches_pycrate(n: int) -> None:
    nas = bytes((i * 37 + 11) & 0xFF for i in range(n))
    fast = codec.encode_ul_information_transfer(nas)
    assert fast == rrc.encode(rrc.ULInformationTransfer(nas))
    assert rrc.decode(Channel.UL_DCCH, fast) == rrc.ULInformationTransfer(nas)


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("tid", [0, 3])
def test_dl_information_transfer_fast_decode_matches_pycrate(n: int, tid: int) -> None:
    nas = bytes((i * 13 + 5) & 0xFF for i in range(n))
    buf = rrc.encode(rrc.DLInformationTransfer(nas, tid))
    before = codec.cache_info()["fast"]
    assert codec.decode_downlink(Channel.DL_DCCH, buf) == rrc.DLInformationTransfer(nas, tid)
    assert codec.cache_info()["fast"] == before + 1


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=600), st.integers(0, 3))
def test_dl_information_transfer_property(nas: bytes, tid: int) -> None:
    buf = rrc.encode(rrc.DLInformationTransfer(nas, tid))
    assert codec.decode_downlink(Channel.DL_DCCH, buf) == rrc.decode(Channel.DL_DCCH, buf)
    assert codec.encode_ul_information_transfer(nas) == rrc.encode(rrc.ULInformationTransfer(nas))


def test_other_downlink_messages_go_through_the_cache() -> None:
    sib1 = rrc.encode(rrc.Sib1.for_cell(Plmn("001", "01"), 7, 0x123, cag_ids=(0x101,), cag_only=True))
    a = codec.decode_downlink(Channel.BCCH_DL_SCH, sib1)
    hits = codec.cache_info()["hits"]
    b = codec.decode_downlink(Channel.BCCH_DL_SCH, sib1)
    assert a is b and codec.cache_info()["hits"] == hits + 1
    assert a.cag_ids == (0x101,) and a.is_cag_only
    rel = rrc.encode(rrc.RRCRelease(2))
    assert codec.decode_downlink(Channel.DL_DCCH, rel) == rrc.RRCRelease(2)


def test_errors_are_decode_errors_also_when_cached() -> None:
    for _ in range(2):
        with pytest.raises(DecodeError):
            codec.decode_downlink(Channel.DL_CCCH, b"\xff\xff\xff")
    with pytest.raises(DecodeError):
        codec.decode_downlink(Channel.UL_DCCH, b"\x00")  # uplink channel
    with pytest.raises(DecodeError):
        codec.decode_downlink(9, b"\x00")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([0, 1, 2, 3, 4]), st.binary(max_size=40))
def test_garbage_raises_only_decode_error(channel: int, data: bytes) -> None:
    try:
        codec.decode_downlink(channel, data)
    except DecodeError:
        pass
