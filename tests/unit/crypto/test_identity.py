"""PLMN BCD, SUPI, 5G-GUTI, 5G-S-TMSI, IMEI(SV) and the 5GS mobile identity
dispatcher (TS 24.501 clause 9.11.3.4), cross-checked with pycrate's
pycrate_mobile.TS24501_IE.FGSID codec."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrate_mobile.TS24501_IE import FGSID

from testbed.crypto.identity import (
    Guti5g,
    Pei,
    STmsi5g,
    Supi,
    bcd_decode,
    bcd_encode,
    decode_5gs_mobile_identity,
    plmn_from_bytes,
    plmn_to_bytes,
)
from testbed.crypto.suci import Suci
from testbed.errors import DecodeError

h = bytes.fromhex


@pytest.mark.parametrize(
    "mcc,mnc,octets",
    [
        ("001", "01", "00f110"),
        ("208", "93", "02f839"),
        ("310", "410", "130014"),
        ("274", "012", "722410"),
        ("999", "70", "99f907"),
    ],
)
def test_plmn(mcc, mnc, octets):
    assert plmn_to_bytes(mcc, mnc) == h(octets)
    assert plmn_from_bytes(h(octets)) == (mcc, mnc)


@pytest.mark.parametrize("octets", ["00f1", "00f11000", "0af110", "00e110", "00f1a0", "00f10a"])
def test_plmn_from_bytes_rejects(octets):
    with pytest.raises(DecodeError):
        plmn_from_bytes(h(octets))


@pytest.mark.parametrize("mcc,mnc", [("01", "01"), ("001", "1"), ("001", "0123"), ("00a", "01"), ("٠٠١", "01")])
def test_plmn_to_bytes_rejects(mcc, mnc):
    with pytest.raises(ValueError):
        plmn_to_bytes(mcc, mnc)


def test_plmn_matches_pycrate():
    from pycrate_mobile.TS24008_IE import PLMN

    for mcc, mnc in (("001", "01"), ("310", "410"), ("208", "93")):
        p = PLMN()
        p.encode(mcc + mnc)
        assert p.to_bytes() == plmn_to_bytes(mcc, mnc)


def test_bcd():
    assert bcd_encode("001002086") == h("00012080f6")
    assert bcd_encode("12") == h("21")
    assert bcd_encode("") == b""
    assert bcd_decode(h("00012080f6")) == "001002086"
    for bad in ("0a", "1f", "f121"):
        with pytest.raises(DecodeError):
            bcd_decode(h(bad))
    with pytest.raises(DecodeError):
        bcd_decode(h("f1"), allow_filler=False)
    with pytest.raises(ValueError):
        bcd_encode("12a")


def test_supi():
    s = Supi.parse("imsi-001010000000001")
    assert (s.mcc, s.mnc, s.msin) == ("001", "01", "0000000001")
    assert s.to_string() == str(s) == "imsi-001010000000001"
    assert s.value == s.imsi_digits == "001010000000001"
    assert Supi.from_imsi("310410123456789", mnc_len=3) == Supi.imsi("310", "410", "123456789")
    n = Supi.parse("nai-alice@example.org")
    assert (n.username, n.realm, n.value) == ("alice", "example.org", "alice@example.org")
    assert n.to_string() == "nai-alice@example.org"
    with pytest.raises(ValueError):
        _ = n.imsi_digits


@pytest.mark.parametrize(
    "make",
    [
        lambda: Supi.parse("001010000000001"),
        lambda: Supi.parse("imsi-0010100000000011"),  # 16 digits
        lambda: Supi.parse("imsi-00101"),  # no MSIN
        lambda: Supi.parse("nai-alice"),
        lambda: Supi.imsi("001", "01", "12345678901"),  # IMSI > 15 digits
        lambda: Supi.imsi("001", "012", "1234567890"),  # IMSI > 15 digits
        lambda: Supi.nai("a@b", "c"),
        lambda: Supi("msisdn"),
        lambda: Supi.from_imsi("00101000", mnc_len=4),
    ],
)
def test_supi_rejects(make):
    with pytest.raises(ValueError):
        make()


GUTI = Guti5g("001", "01", 0xCA, 0x3F8, 0x2A, 0x12345678)


def test_guti_known_bytes_and_pycrate():
    data = GUTI.to_nas_bytes()
    assert data == h("f2" "00f110" "ca" "fe2a" "12345678")
    ie = FGSID()
    ie.from_bytes(data)
    assert ie["Type"].get_val() == 2
    assert ie["PLMN"].decode() == "00101"
    assert ie["AMFRegionID"].get_val() == 0xCA
    assert ie["AMFSetID"].get_val() == 0x3F8
    assert ie["AMFPtr"].get_val() == 0x2A
    assert ie["5GTMSI"].get_val() == 0x12345678
    assert Guti5g.from_nas_bytes(data) == GUTI
    assert GUTI.s_tmsi == STmsi5g(0x3F8, 0x2A, 0x12345678)


def test_stmsi_known_bytes_and_pycrate():
    t = STmsi5g(0x3F8, 0x2A, 0x12345678)
    data = t.to_nas_bytes()
    assert data == h("f4" "fe2a" "12345678")
    ie = FGSID()
    ie.from_bytes(data)
    assert (ie["Type"].get_val(), ie["AMFSetID"].get_val(), ie["AMFPtr"].get_val(), ie["5GTMSI"].get_val()) == (
        4,
        0x3F8,
        0x2A,
        0x12345678,
    )
    assert STmsi5g.from_nas_bytes(data) == t
    assert t.to_int() == 0xFE2A12345678
    assert STmsi5g.from_int(0xFE2A12345678) == t
    with pytest.raises(DecodeError):
        STmsi5g.from_int(1 << 48)


def test_pei_and_pycrate():
    imeisv = Pei("3567890123456789", imeisv=True)
    imei = Pei("356789012345678")
    # octet 1: digit 1 | odd/even | type (5 = IMEISV, 3 = IMEI); then BCD digits, 0xF filler
    assert imeisv.to_nas_bytes() == h("35" "65870921436587f9")
    assert imei.to_nas_bytes() == h("3b" "65870921436587")
    for p in (imei, imeisv):
        ie = FGSID()
        ie.from_bytes(p.to_nas_bytes())
        assert ie.decode()[1] == p.digits
        assert Pei.from_nas_bytes(p.to_nas_bytes()) == p
    # pycrate-encoded IMEI decoded by us
    ie = FGSID()
    ie.encode(3, "356789012345678")
    assert decode_5gs_mobile_identity(ie.to_bytes()) == imei


def test_dispatcher():
    assert decode_5gs_mobile_identity(h("00")) is None
    assert decode_5gs_mobile_identity(GUTI.to_nas_bytes()) == GUTI
    assert decode_5gs_mobile_identity(h("f4fe2a12345678")) == STmsi5g(0x3F8, 0x2A, 0x12345678)
    s = decode_5gs_mobile_identity(h("0100f110000000000000000010"))
    assert isinstance(s, Suci) and s.msin == "0000000001"


@pytest.mark.parametrize(
    "data",
    [
        "",
        "0000",  # 'no identity' with extra octets
        "f200f110ca fe2a123456".replace(" ", ""),  # GUTI too short
        "f200f110cafe2a1234567800",  # GUTI too long
        "f20af110cafe2a12345678",  # GUTI bad PLMN
        "f4fe2a123456",  # S-TMSI too short
        "0e",  # MAC address type not supported
        "07",  # EUI-64 not supported
        "33",  # IMEI with no more digits: 1 digit, odd flag wrong
        "3b6587092143658709",  # IMEI with 17 digits
        "a3" + "65870921436587f9",  # first digit not BCD
        "35658709214365f709",  # filler in the middle
    ],
)
def test_dispatcher_rejects(data):
    with pytest.raises(DecodeError):
        decode_5gs_mobile_identity(h(data))


def test_value_errors_on_construction():
    with pytest.raises(ValueError):
        Guti5g("001", "01", 256, 0, 0, 0)
    with pytest.raises(ValueError):
        STmsi5g(1 << 10, 0, 0)
    with pytest.raises(ValueError):
        STmsi5g(0, 64, 0)
    with pytest.raises(ValueError):
        STmsi5g(0, 0, 1 << 32)
    with pytest.raises(ValueError):
        Pei("12345")


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"\A[0-9]{3}\Z"),
    st.from_regex(r"\A[0-9]{2,3}\Z"),
    st.integers(0, 255),
    st.integers(0, 1023),
    st.integers(0, 63),
    st.integers(0, 2**32 - 1),
)
def test_property_guti_round_trip(mcc, mnc, region, set_id, ptr, tmsi):
    g = Guti5g(mcc, mnc, region, set_id, ptr, tmsi)
    assert Guti5g.from_nas_bytes(g.to_nas_bytes()) == g
    assert decode_5gs_mobile_identity(g.s_tmsi.to_nas_bytes()) == g.s_tmsi
    assert STmsi5g.from_int(g.s_tmsi.to_int()) == g.s_tmsi
    assert plmn_from_bytes(plmn_to_bytes(mcc, mnc)) == (mcc, mnc)
