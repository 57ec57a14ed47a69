"""NR RRC round trips, known answers from real UEs, Wireshark cross-check and DecodeError behaviour."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.errors import DecodeError
from testbed.protocols import rrc
from testbed.protocols.ngap import _asn1
from testbed.protocols.pcap import LINKTYPE_USER0, tshark_available, tshark_check, write_pcap

from ._samples import PLMN, REGISTRATION_REQUEST, SAMPLES, USER_DLT

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _id(m: object) -> str:
    return type(m).__name__


@pytest.fixture
def pycrate_checks():
    _asn1.set_safe(True)
    try:
        yield
    finally:
        _asn1.set_safe(False)


@pytest.mark.parametrize("msg", SAMPLES, ids=[_id(m) for m in SAMPLES])
def test_round_trip_with_pycrate_checks(msg, pycrate_checks):
    assert rrc.decode(msg.channel, rrc.encode(msg)) == msg


@pytest.mark.parametrize("msg", SAMPLES, ids=[_id(m) for m in SAMPLES])
def test_fast_mode_encodes_the_same_bytes(msg):
    fast = rrc.encode(msg)
    _asn1.set_safe(True)
    try:
        assert rrc.encode(msg) == fast
    finally:
        _asn1.set_safe(False)


def test_every_message_type_has_a_sample():
    assert {type(m) for m in SAMPLES} == set(rrc.MESSAGE_TYPES)


def test_mib_matches_ueransim():
    # UERANSIM ConstructMibMessage: SFN 0, scs15or60, offset 0, pos2, CORESET0/SS0 0, notBarred, allowed, spare 0:
    # BCCH-BCH choice mib (0) | 6-bit SFN | scs 0 | offset 0000 | pos2 0 | 0000 0000 | notBarred 1 | allowed 0 | spare 0
    assert rrc.encode(rrc.Mib()) == bytes.fromhex("000004")
    assert rrc.decode(rrc.Channel.BCCH_BCH, bytes.fromhex("000004")) == rrc.Mib()


def test_sib1_fields_ueransim_reads():
    sib1 = rrc.Sib1.for_cell(PLMN, 0x000001, 0x000000010)
    out = rrc.decode(rrc.Channel.BCCH_DL_SCH, rrc.encode(sib1))
    assert (out.plmn, out.tac, out.nci) == (PLMN, 1, 0x10)
    assert not out.cell_reserved_for_other_use and not out.plmn_infos[0].reserved_for_operator_use
    assert out.uac_barring_for_access_identity == 0  # uac-BarringInfo present, nothing barred
    assert not out.is_cag_only and out.cag_ids == ()


def test_cag_only_cell_marking():
    sib1 = rrc.Sib1.for_cell(PLMN, 7, 5, cag_ids=(0x1234, 0x5678), cag_only=True)
    v = sib1.to_asn()["cellAccessRelatedInfo"]
    # TS 38.304 5.3.1: CAG IDs broadcast + cellReservedForOtherUse true; operator-use stays notReserved so
    # non-NPN UEs (like UERANSIM's, which checks both flags) still see a non-reserved cell.
    assert v["cellReservedForOtherUse"] == "true"
    assert v["plmn-IdentityInfoList"][0]["cellReservedForOperatorUse"] == "notReserved"
    npn = v["npn-IdentityInfoList-r16"][0]
    assert npn["npn-IdentityList-r16"][0][0] == "pni-npn-r16"
    out = rrc.decode(rrc.Channel.BCCH_DL_SCH, rrc.encode(sib1))
    assert out.is_cag_only and out.cag_ids == (0x1234, 0x5678)
    plain_cag = rrc.decode(rrc.Channel.BCCH_DL_SCH, rrc.encode(rrc.Sib1.for_cell(PLMN, 7, 5, cag_ids=(1,))))
    assert plain_cag.cag_ids == (1,) and not plain_cag.is_cag_only
    with pytest.raises(ValueError):
        rrc.Sib1.for_cell(PLMN, 7, 5, cag_only=True)


def test_rrc_setup_like_ueransim():
    out = rrc.decode(rrc.Channel.DL_CCCH, rrc.encode(rrc.RRCSetup(1)))
    assert out.transaction_id == 1 and out.master_cell_group == b"\x00\x00"


# Real UE messages from srsran/srsRAN_Project tests/unittests/rrc/rrc_ue_test_helpers.h
SRS_SETUP_REQUEST = bytes.fromhex("1dec89d05766")
SRS_SETUP_COMPLETE = bytes.fromhex(
    "10c01000082727e01c3ff100c047e004139000bf202f8998000410000000f2e04f070f0707100517e004139000bf202f"
    "8998000410000000f1001032e04f070f0702f1b08010027db00000000080101b66900000000080100000100000000520"
    "2f8990000011707f070c0401980b0180101740000905301010")


def test_known_answer_rrc_setup_request_from_a_real_ue():
    msg = rrc.decode(rrc.Channel.UL_CCCH, SRS_SETUP_REQUEST)
    assert msg == rrc.RRCSetupRequest(0x6F644E82BB, "mo-Signalling")
    assert rrc.encode(msg) == SRS_SETUP_REQUEST


def test_known_answer_rrc_setup_complete_from_a_real_ue():
    msg = rrc.decode(rrc.Channel.UL_DCCH, SRS_SETUP_COMPLETE)
    assert isinstance(msg, rrc.RRCSetupComplete)
    assert (msg.transaction_id, msg.selected_plmn_index) == (0, 1)
    assert msg.registered_amf == rrc.RegisteredAmf(0x800041)
    # integrity-protected 5GMM message (MAC c3ff100c, SQN 04) around a Registration Request (7e 00 41)
    assert msg.nas_pdu[:10] == bytes.fromhex("7e01c3ff100c047e0041")
    assert len(msg.nas_pdu) == 114


def test_unmodelled_message_is_reported():
    # DL-DCCH SecurityModeCommand from the same srsRAN test file (rrc_smc_pdu)
    assert rrc.decode(rrc.Channel.DL_DCCH, bytes.fromhex("220810")) == rrc.UnsupportedRrcMessage(
        rrc.Channel.DL_DCCH, "securityModeCommand")


@pytest.mark.skipif(not tshark_available(), reason="tshark not installed")
def test_wireshark_dissects_every_sample(tmp_path):
    for channel, dlt in USER_DLT.items():
        msgs = [m for m in SAMPLES if m.channel is channel]
        path = write_pcap(tmp_path / f"{dlt}.pcap", [rrc.encode(m) for m in msgs], LINKTYPE_USER0)
        reports = tshark_check(path, user_dlt=dlt)
        assert len(reports) == len(msgs)
        for m, rep in zip(msgs, reports, strict=True):
            assert rep.ok and not rep.expert, (m, rep.expert)
            assert "nr-rrc" in rep.protocols
            assert ("nas-5gs" in rep.protocols) == (getattr(m, "nas_pdu", None) is not None), (m, rep.protocols)


@pytest.mark.parametrize("make", [
    lambda: rrc.RRCSetupRequest(1 << 39),
    lambda: rrc.RRCSetupRequest(1, "bogus"),
    lambda: rrc.RRCSetupComplete(b""),
    lambda: rrc.RRCSetupComplete(REGISTRATION_REQUEST, 4),
    lambda: rrc.RRCSetupComplete(REGISTRATION_REQUEST, selected_plmn_index=0),
    lambda: rrc.RRCSetupComplete(REGISTRATION_REQUEST, s_tmsi=1, s_tmsi_part2=1),
    lambda: rrc.DLInformationTransfer(b""),
    lambda: rrc.RRCReject(17),
    lambda: rrc.Mib(system_frame_number=64),
    lambda: rrc.Paging(tuple(range(33))),
    lambda: rrc.Sib1((), False),
])
def test_invalid_values_raise_value_error(make):
    with pytest.raises(ValueError):
        rrc.encode(make())


def test_invalid_constructions():
    with pytest.raises(ValueError):
        rrc.PlmnIdentityInfo((PLMN,), 1 << 24, 1)
    with pytest.raises(ValueError):
        rrc.PniNpn(PLMN, ())
    with pytest.raises(ValueError):
        rrc.RegisteredAmf(1 << 24)


def test_decode_errors():
    with pytest.raises(DecodeError, match="channel"):
        rrc.decode(9, b"\x00")
    with pytest.raises(DecodeError, match="empty"):
        rrc.decode(rrc.Channel.UL_DCCH, b"")
    buf = rrc.encode(rrc.ULInformationTransfer(REGISTRATION_REQUEST))
    with pytest.raises(DecodeError, match="trailing"):
        rrc.decode(rrc.Channel.UL_DCCH, buf + b"\x00")
    for cut in range(len(buf)):
        with pytest.raises(DecodeError):
            rrc.decode(rrc.Channel.UL_DCCH, buf[:cut])


def _decode_only_decode_error(channel: int, buf: bytes) -> None:
    try:
        msg = rrc.decode(channel, buf)
    except DecodeError:
        return
    if not isinstance(msg, rrc.UnsupportedRrcMessage):
        assert rrc.decode(channel, rrc.encode(msg)) == msg


@SETTINGS
@given(channel=st.integers(0, 7), buf=st.binary(max_size=120))
def test_random_bytes_raise_only_decode_error(channel, buf):
    _decode_only_decode_error(channel, buf)


@SETTINGS
@given(idx=st.integers(0, len(SAMPLES) - 1), flips=st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 7)),
                                                               min_size=1, max_size=3))
def test_bit_flips_raise_only_decode_error(idx, flips):
    msg = SAMPLES[idx]
    buf = bytearray(rrc.encode(msg))
    for pos, bit in flips:
        buf[pos % len(buf)] ^= 1 << bit
    _decode_only_decode_error(msg.channel, bytes(buf))


plmns = st.builds(rrc.Plmn, st.text("0123456789", min_size=3, max_size=3), st.text("0123456789", min_size=2, max_size=3))


@settings(max_examples=60, deadline=None)
@given(plmn=plmns, tac=st.integers(0, (1 << 24) - 1), nci=st.integers(0, (1 << 36) - 1),
       cags=st.lists(st.integers(0, (1 << 32) - 1), max_size=12).map(tuple), cag_only=st.booleans(),
       ai=st.none() | st.integers(0, 127))
def test_sib1_round_trip(plmn, tac, nci, cags, cag_only, ai):
    sib1 = rrc.Sib1.for_cell(plmn, tac, nci, cag_ids=cags, cag_only=cag_only and bool(cags))
    sib1.uac_barring_for_access_identity = ai
    assert rrc.decode(rrc.Channel.BCCH_DL_SCH, rrc.encode(sib1)) == sib1


@settings(max_examples=100, deadline=None)
@given(nas=st.binary(min_size=1, max_size=2000), tid=st.integers(0, 3), idx=st.integers(1, 12),
       tmsi=st.none() | st.integers(0, (1 << 48) - 1), amf=st.none() | st.builds(
           rrc.RegisteredAmf, st.integers(0, (1 << 24) - 1), st.none() | plmns))
def test_setup_complete_and_info_transfer_round_trip(nas, tid, idx, tmsi, amf):
    for msg in (rrc.RRCSetupComplete(nas, tid, idx, amf, s_tmsi=tmsi), rrc.ULInformationTransfer(nas),
                rrc.DLInformationTransfer(nas, tid)):
        assert rrc.decode(msg.channel, rrc.encode(msg)) == msg


def test_out_of_range_per_values_are_decode_errors():
    # selectedPLMN-Identity INTEGER (1..12) travels in 4 bits, so 13..16 can be sent: pycrate only
    # notices with the constraint check _asn1 runs on every decoded tree.
    from pycrate_asn1dir import RRCNR

    obj = RRCNR.NR_RRC_Definitions.UL_DCCH_Message
    val = {"message": ("c1", ("rrcSetupComplete", {"rrc-TransactionIdentifier": 0, "criticalExtensions": (
        "rrcSetupComplete", {"selectedPLMN-Identity": 13, "dedicatedNAS-Message": REGISTRATION_REQUEST})}))}
    buf = _asn1.per_encode(obj, val, False, "test")  # pycrate's checks are off: it encodes 13 as '1100'
    with pytest.raises(DecodeError, match="constraint"):
        rrc.decode(rrc.Channel.UL_DCCH, buf)
    _asn1.set_constraint_check(False)
    try:
        assert rrc.decode(rrc.Channel.UL_DCCH, buf).selected_plmn_index == 13
    finally:
        _asn1.set_constraint_check(True)


def test_empty_dedicated_nas_message_is_malformed_input():
    """Found by fuzz_rrc: UL-DCCH 87 3a 00 04 is a ULInformationTransfer with an empty NAS container;
    it must be a DecodeError (never a message the encoder then refuses)."""
    with pytest.raises(DecodeError):
        rrc.decode(rrc.Channel.UL_DCCH, bytes.fromhex("3a0004"))
