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


# -- RRCSetupRequest / RRCSetupComplete from learned templates (TS 38.331 6.2.2) -------------------

def _templated(msg: rrc.RrcMessage) -> tuple[bytes, int]:
    """codec.encode(msg) and how many template encodes it took (0: pycrate)."""
    before = codec.cache_info()["templated"]
    data = codec.encode(msg)
    return data, codec.cache_info()["templated"] - before


@pytest.mark.parametrize("cause", ["mo-Signalling", "mo-Data", "mt-Access", "emergency"])
@pytest.mark.parametrize("part1", [False, True])
def test_setup_request_template_matches_pycrate(cause: str, part1: bool) -> None:
    values = [0, 1, (1 << 39) - 1, 0x12_3456_789A, 0x55_5555_5555, 0x2A_AAAA_AAAA]
    served = 0
    for v in values:
        msg = rrc.RRCSetupRequest(v, cause, identity_is_s_tmsi_part1=part1)
        data, n = _templated(msg)
        assert data == rrc.encode(msg)
        assert rrc.decode(Channel.UL_CCCH, data) == msg
        served += n
    assert served >= len(values) - 2  # first sighting: pycrate; second: learned; then the template


@pytest.mark.parametrize("n", [1, 20, 127, 128, 300])
@pytest.mark.parametrize("part2", [None, 0, 0x1FF, 0x0A5])
def test_setup_complete_template_matches_pycrate(n: int, part2: int | None) -> None:
    served = 0
    for k, (tid, plmn) in enumerate([(0, 1)] * 4 + [(3, 2)] * 3):
        nas = bytes((i * 31 + k * 7 + 1) & 0xFF for i in range(n))
        msg = rrc.RRCSetupComplete(nas, tid, plmn, s_tmsi_part2=part2)
        data, used = _templated(msg)
        assert data == rrc.encode(msg)
        assert rrc.decode(Channel.UL_DCCH, data) == msg
        served += used
    assert served >= 3  # (0, 1): 2 of 4 from the template; (3, 2): 1 of 3


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.integers(0, 3), st.integers(1, 12),
       st.one_of(st.none(), st.integers(0, 0x1FF)), st.integers(0, (1 << 39) - 1))
def test_setup_templates_property(nas: bytes, tid: int, plmn: int, part2: int | None, ident: int) -> None:
    for _ in range(3):  # the third encode of a shape comes from its template
        complete = rrc.RRCSetupComplete(nas, tid, plmn, s_tmsi_part2=part2)
        assert codec.encode(complete) == rrc.encode(complete)
        req = rrc.RRCSetupRequest(ident, "mo-Signalling", identity_is_s_tmsi_part1=part2 is not None)
        assert codec.encode(req) == rrc.encode(req)


def test_setup_templates_reject_what_pycrate_rejects() -> None:
    good = rrc.RRCSetupRequest(5, "mo-Data")
    for _ in range(3):
        codec.encode(good)  # the template exists now
    for bad in (rrc.RRCSetupRequest(1 << 39, "mo-Data"), rrc.RRCSetupRequest(-1, "mo-Data"),
                rrc.RRCSetupRequest(5, "no-such-cause"),
                rrc.RRCSetupComplete(b"\x7e\x00", 0, 1, s_tmsi_part2=0x200),
                rrc.RRCSetupComplete(b"\x7e\x00", 0, 13)):
        with pytest.raises(Exception) as fast:  # noqa: PT011 - the same exception as pycrate's, whatever it is
            for _ in range(3):
                codec.encode(bad)
        with pytest.raises(Exception) as slow:  # noqa: PT011
            rrc.encode(bad)
        assert type(fast.value) is type(slow.value)
    # other uplink messages and shapes the templates do not cover still go to pycrate
    amf = rrc.RRCSetupComplete(b"\x7e\x00", 0, 1, s_tmsi=0x1234_5678_9ABC)
    data, used = _templated(amf)
    assert used == 0 and data == rrc.encode(amf)
