"""Value-part codecs of the IEs, checked against the layouts of TS 24.501 clause 9.11."""

from __future__ import annotations

import pytest

from testbed.errors import DecodeError
from testbed.protocols import nas
from testbed.protocols.nas import ies

PLMN = nas.PlmnId("001", "01")


def test_plmn_bcd() -> None:
    assert nas.PlmnId("001", "01").to_bytes() == bytes.fromhex("00f110")
    assert nas.PlmnId("208", "930").to_bytes() == bytes.fromhex("020839")
    assert nas.PlmnId.from_bytes(bytes.fromhex("02f839")) == nas.PlmnId("208", "93")
    with pytest.raises(ValueError):
        nas.PlmnId("01", "01")


def test_cag_information_list_layout() -> None:
    """TS 24.501 figure 9.11.3.18A.2: length of entry (4 + 4n), MCC/MNC, CAG-only bit, CAG-IDs."""
    entries = (nas.CagInfo(PLMN, (0x00000001, 0xCAFE0002), cag_only=True), nas.CagInfo(nas.PlmnId("208", "93")))
    value = ies.encode_cag_info_list(entries)
    assert value == bytes.fromhex("0c" "00f110" "01" "00000001" "cafe0002" + "04" "02f839" "00")
    assert ies.decode_cag_info_list(value) == entries
    assert ies.decode_cag_info_list(b"") == ()  # NOTE 1: no CAG subscription data
    # bit 2 of the CAG-only octet may be set (NOTE 3) and is ignored
    assert ies.decode_cag_info_list(bytes.fromhex("0400f11003"))[0].cag_only is True
    with pytest.raises(ValueError):
        ies.encode_cag_info_list([nas.CagInfo(PLMN), nas.CagInfo(PLMN, (1,))])


def test_registration_reject_cause_76_with_cag_list_bytes() -> None:
    msg = nas.RegistrationReject(
        cause=nas.FiveGmmCause.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY,
        cag_information_list=(nas.CagInfo(PLMN, (7,)),))
    assert nas.encode(msg) == bytes.fromhex("7e00444c" "750009" "0800f11000" "00000007")
    assert nas.FiveGmmCause(0x4C).name == "NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY"


def test_tai_list_types() -> None:
    tais = (nas.Tai(PLMN, 1), nas.Tai(PLMN, 5), nas.Tai(nas.PlmnId("208", "93"), 2))
    value = ies.encode_tai_list(tais)
    # two "type 00" partial lists: 0b000_00001 (2 TACs), then 0b000_00000 (1 TAC)
    assert value == bytes.fromhex("01" "00f110" "000001" "000005" + "00" "02f839" "000002")
    assert ies.decode_tai_list(value) == tais
    consecutive = bytes.fromhex("22" "00f110" "000010")  # type 01, 3 TACs from 16
    assert ies.decode_tai_list(consecutive) == tuple(nas.Tai(PLMN, t) for t in (16, 17, 18))
    mixed = bytes.fromhex("41" "00f110000001" "02f839000002")  # type 10, 2 TAIs
    assert ies.decode_tai_list(mixed) == (nas.Tai(PLMN, 1), nas.Tai(nas.PlmnId("208", "93"), 2))
    with pytest.raises(DecodeError):
        ies.decode_tai_list(bytes.fromhex("6000f110000001"))  # type 11 reserved
    with pytest.raises(ValueError):
        ies.encode_tai_list([nas.Tai(PLMN, t) for t in range(17)])


def test_s_nssai_lengths() -> None:
    for s, hexval in ((nas.SNssai(1), "01"), (nas.SNssai(1, mapped_sst=2), "0102"),
                      (nas.SNssai(1, 0x010203), "01010203"), (nas.SNssai(1, 0x010203, 4), "0101020304"),
                      (nas.SNssai(1, 0x010203, 4, 0x050607), "0101020304050607")):
        assert s.to_bytes().hex() == hexval
        assert nas.SNssai.from_bytes(s.to_bytes()) == s
    for bad in ("", "010203", "010203040506"):
        with pytest.raises(DecodeError):
            nas.SNssai.from_bytes(bytes.fromhex(bad))
    assert ies.encode_nssai([nas.SNssai(1), nas.SNssai(2, 3)]) == bytes.fromhex("0101" "0402000003")


def test_ue_security_capability_bits() -> None:
    cap = nas.UeSecurityCapability(nea={0, 2}, nia={1, 2}, eea={0}, eia={2})
    assert cap.to_bytes() == bytes([0b1010_0000, 0b0110_0000, 0b1000_0000, 0b0010_0000])
    assert nas.UeSecurityCapability.from_bytes(cap.to_bytes()) == cap
    # spare octets 7-10 are ignored
    assert nas.UeSecurityCapability.from_bytes(cap.to_bytes() + b"\x00\x00") == cap
    with pytest.raises(DecodeError):
        nas.UeSecurityCapability.from_bytes(b"\x80")
    with pytest.raises(ValueError):
        nas.UeSecurityCapability(nea={8})


def test_timers() -> None:
    assert nas.GprsTimer3.from_seconds(3600) == nas.GprsTimer3(0, 6)  # finest unit: 6 x 10 min
    assert nas.GprsTimer3(1, 1).seconds == 3600
    assert nas.GprsTimer3.from_seconds(54) == nas.GprsTimer3(3, 27)
    assert nas.GprsTimer3.from_seconds(None).deactivated
    assert nas.GprsTimer.from_seconds(720) == nas.GprsTimer(1, 12)
    assert nas.GprsTimer(2, 3).seconds == 1080
    assert nas.GprsTimer3(6, 1).seconds == 320 * 3600
    assert nas.GprsTimer3(7, 0).seconds is None
    with pytest.raises(ValueError):
        nas.GprsTimer3.from_seconds(54 * 60)  # not representable exactly


def test_session_ambr_units() -> None:
    ambr = nas.SessionAmbr(6, 100, 11, 2)
    assert ambr.downlink_bps == 100_000_000 and ambr.uplink_bps == 2_000_000_000
    assert nas.SessionAmbr.unit_bps(1) == 1000 and nas.SessionAmbr.unit_bps(5) == 256_000
    assert nas.SessionAmbr.unit_bps(0) is None


def test_pdu_address() -> None:
    v4 = nas.PduAddress(nas.PduSessionType.IPV4, "10.45.0.2")
    assert v4.to_bytes() == bytes.fromhex("010a2d0002")
    v46 = nas.PduAddress(nas.PduSessionType.IPV4V6, "10.0.0.1", bytes(range(8)), "fe80::1")
    assert nas.PduAddress.from_bytes(v46.to_bytes()) == v46
    with pytest.raises(ValueError):
        nas.PduAddress(nas.PduSessionType.IPV6, "10.0.0.1")


def test_qos_rules() -> None:
    rule = nas.QosRule(1, 1, True, (nas.PacketFilter(1, 3, b"\x01"),), 255, 9)
    assert ies.encode_qos_rules([rule]) == bytes.fromhex("01" "0006" "31" "31" "01" "01" "ff" "09")
    delete = nas.QosRule(2, 2)
    assert ies.decode_qos_rules(ies.encode_qos_rules([rule, delete])) == (rule, delete)
    del_filters = nas.QosRule(3, 5, packet_filters=(nas.PacketFilter(4, 0, b""),), precedence=1, qfi=1)
    assert ies.decode_qos_rules(ies.encode_qos_rules([del_filters])) == (del_filters,)
    with pytest.raises(DecodeError):
        ies.decode_qos_rules(bytes.fromhex("010001" "e0"))  # operation code 7 is reserved


def test_dnn_labels() -> None:
    assert ies.encode_dnn("internet") == b"\x08internet"
    assert ies.encode_dnn("ims.mnc001.mcc001.gprs") == b"\x03ims\x06mnc001\x06mcc001\x04gprs"
    assert ies.decode_dnn(b"\x03ims\x06mnc001") == "ims.mnc001"
    for bad in (b"\x00", b"\x05ab", b"\x02a."):
        with pytest.raises(DecodeError):
            ies.decode_dnn(bad)


def test_half_octet_ies() -> None:
    assert nas.NgKsi(3, 1).to_nibble() == 0b1011 and nas.NgKsi.from_nibble(0b1011) == nas.NgKsi(3, 1)
    d = nas.DeregistrationType(nas.DeregistrationAccessType.THREEGPP, switch_off=True)
    assert d.to_nibble() == 0b1001 and nas.DeregistrationType.from_nibble(0b1001) == d
    c = nas.ConfigurationUpdateIndication(acknowledgement_requested=True, registration_requested=True)
    assert nas.ConfigurationUpdateIndication.from_nibble(c.to_nibble()) == c


def test_pdu_session_status_bitmap() -> None:
    assert ies.encode_pdu_session_status({1, 8, 15}) == bytes([0b0000_0010, 0b1000_0001])
    assert ies.decode_pdu_session_status(bytes([0b0000_0011, 0, 0xFF])) == frozenset({1})  # PSI 0 spare
