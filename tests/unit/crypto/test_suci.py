"""SUCI concealment / SIDF de-concealment and SUCI encodings.

The key pairs, ephemeral keys and outputs below are PUBLIC 3GPP SPEC TEST DATA
from TS 33.501 Annex C.4 ("Implementers' test data"): C.4.2 null scheme,
C.4.3 ECIES Profile A, C.4.4 ECIES Profile B, each for an IMSI-based SUPI
(MCC|MNC 274012, MSIN 001002086) and an NAI SUPI (verylongusername1@3gpp.com).
They are not key material of this project.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrate_mobile.TS24501_IE import FGSID

from testbed.crypto import suci as S
from testbed.crypto.identity import Supi
from testbed.crypto.suci import NULL_SCHEME, PROFILE_A, PROFILE_B, Suci, conceal, deconceal
from testbed.errors import CryptoError, DecodeError

h = bytes.fromhex

IMSI_SUPI = Supi.imsi("274", "012", "001002086")
NAI_SUPI = Supi.nai("verylongusername1", "3gpp.com")

# --- C.4.3 Profile A ---------------------------------------------------------
A_HN_PRIV = h("c53c22208b61860b06c62e5406a7b330c2b577aa5558981510d128247d38bd1d")
A_HN_PUB = h("5a8d38864820197c3394b92613b20b91633cbd897119273bf8e4a6f4eec0a650")
A1_EPH_PRIV = h("c80949f13ebe61af4ebdbd293ea4f942696b9e815d7e8f0096bbf6ed7de62256")
A1_EPH_PUB = h("b2e92f836055a255837debf850b528997ce0201cb82adfe4be1f587d07d8457d")
A1_SHARED = h("028ddf890ec83cdf163947ce45f6ec1a0e3070ea5fe57e2b1f05139f3e82422a")
A1_ENC_KEY = h("2ba342cabd2b3b1e5e4e890da11b65f6")
A1_ICB = h("e2622cb0cdd08204e721c8ea9b95a7c6")
A1_MAC_KEY = h("d9846966fb7cf5fcf11266c5957dea60b83fff2b7c940690a4bfe57b1eb52bd2")
A1_OUTPUT = h(
    "b2e92f836055a255837debf850b528997ce0201cb82adfe4be1f587d07d8457d" "cb02352410" "cddd9e730ef3fa87"
)
A2_EPH_PRIV = h("BE9EFF3E9F22A4B42A3D236E7A6C500B3F2E7E0C7449988BA800D664BF4FCD97")
A2_EPH_PUB = h("977D8B2FDAA7B64AA700D04227D5B440630EA4EC50F9082273A26BB678C92222")
A2_SHARED = h("511C1DF473BB88317F923501F8BA944FD3B667D25699DCB552DBCEF60BBDC56D")
A2_ENC_KEY = h("FE77B87D87F40428EDD71BCA69D79059")
A2_MAC_KEY = h("D87B69F4FE8CD6B211264EA5E69F682F151A82252684CDB15A047E6EF0595028")
A2_NAI_OUTPUT = (
    "ecckey977D8B2FDAA7B64AA700D04227D5B440630EA4EC50F9082273A26BB678C92222"
    ".cip8E358A1582ADB15322C10E515141D2039A.mac12E1D7783A97F1AC"
)

# --- C.4.4 Profile B ---------------------------------------------------------
B_HN_PUB_UNCOMPRESSED = h(
    "0472DA71976234CE833A6907425867B82E074D44EF907DFB4B3E21C1C2256EBCD1"
    "5A7DED52FCBB097A4ED250E036C7B9C8C7004C4EEDC4F068CD7BF8D3F900E3B4"
)
B_HN_PUB = h("0272DA71976234CE833A6907425867B82E074D44EF907DFB4B3E21C1C2256EBCD1")
B_HN_PRIV = h("F1AB1074477EBCC7F554EA1C5FC368B1616730155E0041AC447D6301975FECDA")
B1_EPH_PRIV = h("99798858A1DC6A2C68637149A4B1DBFD1FDFF5ADDD62A2142F06699ED7602529")
B1_EPH_PUB = h("039AAB8376597021E855679A9778EA0B67396E68C66DF32C0F41E9ACCA2DA9B9D1")
B1_SHARED = h("6C7E6518980025B982FBB2FF746E3C2E85A196D252099A7AD23EA7B4C0959CAE")
B1_ENC_KEY = h("8A65C3AED80295C12BD55087E965702A")
B1_ICB = h("EF285B4061C3BAEE858AB6EC68487DAE")
B1_MAC_KEY = h("A5EBAC0BC48D9CF7AE5CE39CD840AC6C761AEC04078FAB954D634F923E901C64")
B1_OUTPUT = h(
    "039AAB8376597021E855679A9778EA0B67396E68C66DF32C0F41E9ACCA2DA9B9D1" "46A33FC271" "6AC7DAE96AA30A4D"
)
B2_EPH_PRIV = h("90A5898BD29FFA3F261E00E980067C70A2B1B992A21F5B4FEF6D4DF69FE804AD")
B2_SHARED = h("BC3529ED79541CF8C007CE9806330F4A5FF15064D7CF4B16943EF8F007597872")
B2_ENC_KEY = h("84F9A78995D39E6968047547ECC12C4F")
B2_MAC_KEY = h("39D5517E965F8E1252B61345ED45226C5F1A8C69F03D6C91437591F0B8E48FA0")
B2_NAI_OUTPUT = (
    "ecckey03759BB22C563D9F4A6B3C1419E543FC2F39D6823F02A9D71162B39399218B244B"
    ".cipBE22D8B9F856A52ED381CD7EAF4CF2D525.mac3CDDC61A0A7882EB"
)


# --- C.4.2 null scheme -------------------------------------------------------


def test_c421_null_scheme_imsi():
    assert IMSI_SUPI.scheme_input() == h("00012080F6")
    s = conceal(IMSI_SUPI, NULL_SCHEME, routing_indicator="678")
    assert s.output == h("00012080F6")
    assert s.key_id == 0
    assert s.msin == "001002086"
    assert s.to_string() == "suci-0-274-012-678-0-0-001002086"
    assert deconceal(s, {}) == IMSI_SUPI


def test_c422_null_scheme_nai():
    assert NAI_SUPI.scheme_input() == h("766572796C6F6E67757365726E616D6531")
    s = conceal(NAI_SUPI, NULL_SCHEME, routing_indicator="678")
    assert s.output == h("766572796C6F6E67757365726E616D6531")
    assert s.to_nai() == "type1.rid678.schid0.useridverylongusername1@3gpp.com"
    assert deconceal(s, {}) == NAI_SUPI


# --- C.4.3 Profile A ---------------------------------------------------------


def test_c43_profile_a_key_data():
    hn = S.load_hn_private_key(PROFILE_A, A_HN_PRIV)
    assert S.hn_public_key_bytes(hn) == A_HN_PUB
    for eph_priv, eph_pub, shared, enc_key, mac_key in (
        (A1_EPH_PRIV, A1_EPH_PUB, A1_SHARED, A1_ENC_KEY, A1_MAC_KEY),
        (A2_EPH_PRIV, A2_EPH_PUB, A2_SHARED, A2_ENC_KEY, A2_MAC_KEY),
    ):
        eph = S.load_hn_private_key(PROFILE_A, eph_priv)
        assert S.hn_public_key_bytes(eph) == eph_pub
        z = eph.exchange(x25519.X25519PublicKey.from_public_bytes(A_HN_PUB))
        assert z == shared
        k_enc, icb, k_mac = S._ecies_keys(z, eph_pub)
        assert (k_enc, k_mac) == (enc_key, mac_key)
    assert S._ecies_keys(A1_SHARED, A1_EPH_PUB)[1] == A1_ICB


def test_c431_profile_a_imsi():
    s = conceal(IMSI_SUPI, PROFILE_A, A_HN_PUB, key_id=1, routing_indicator="678", ephemeral_private=A1_EPH_PRIV)
    assert s.output == A1_OUTPUT
    assert (s.ephemeral_public, s.ciphertext, s.mac) == (A1_EPH_PUB, h("cb02352410"), h("cddd9e730ef3fa87"))
    assert deconceal(s, {1: A_HN_PRIV}) == IMSI_SUPI
    assert deconceal(s, {1: S.load_hn_private_key(PROFILE_A, A_HN_PRIV)}) == IMSI_SUPI


def test_c432_profile_a_nai():
    s = conceal(NAI_SUPI, PROFILE_A, A_HN_PUB, key_id=1, routing_indicator="678", ephemeral_private=A2_EPH_PRIV)
    assert s.to_nai().lower() == f"type1.rid678.schid1.hnkey1.{A2_NAI_OUTPUT}@3gpp.com".lower()
    assert deconceal(s, {1: A_HN_PRIV}) == NAI_SUPI
    assert Suci.from_nai(f"type1.rid678.schid1.hnkey1.{A2_NAI_OUTPUT}@3gpp.com") == s


# --- C.4.4 Profile B ---------------------------------------------------------


def test_c44_profile_b_key_data():
    hn = S.load_hn_private_key(PROFILE_B, B_HN_PRIV)
    assert S.hn_public_key_bytes(hn) == B_HN_PUB
    for eph_priv, shared, enc_key, mac_key in (
        (B1_EPH_PRIV, B1_SHARED, B1_ENC_KEY, B1_MAC_KEY),
        (B2_EPH_PRIV, B2_SHARED, B2_ENC_KEY, B2_MAC_KEY),
    ):
        eph = S.load_hn_private_key(PROFILE_B, eph_priv)
        eph_pub = S.hn_public_key_bytes(eph)
        z = S._ecdh(PROFILE_B, eph, S._public_key(PROFILE_B, B_HN_PUB_UNCOMPRESSED))
        assert z == shared
        k_enc, icb, k_mac = S._ecies_keys(z, eph_pub)
        assert (k_enc, k_mac) == (enc_key, mac_key)
    assert S.hn_public_key_bytes(S.load_hn_private_key(PROFILE_B, B1_EPH_PRIV)) == B1_EPH_PUB
    assert S._ecies_keys(B1_SHARED, B1_EPH_PUB)[1] == B1_ICB


@pytest.mark.parametrize("hn_pub", [B_HN_PUB, B_HN_PUB_UNCOMPRESSED], ids=["compressed", "uncompressed"])
def test_c441_profile_b_imsi(hn_pub):
    s = conceal(IMSI_SUPI, PROFILE_B, hn_pub, key_id=2, routing_indicator="678", ephemeral_private=B1_EPH_PRIV)
    assert s.output == B1_OUTPUT
    assert deconceal(s, {2: B_HN_PRIV}) == IMSI_SUPI


def test_c442_profile_b_nai():
    s = conceal(NAI_SUPI, PROFILE_B, B_HN_PUB, key_id=2, routing_indicator="678", ephemeral_private=B2_EPH_PRIV)
    assert s.to_nai().lower() == f"type1.rid678.schid2.hnkey2.{B2_NAI_OUTPUT}@3gpp.com".lower()
    assert deconceal(s, {2: B_HN_PRIV}) == NAI_SUPI


# --- SIDF negative cases -----------------------------------------------------


@pytest.fixture(scope="module")
def a1():
    return conceal(IMSI_SUPI, PROFILE_A, A_HN_PUB, 1, "678", A1_EPH_PRIV)


@pytest.fixture(scope="module")
def b1():
    return conceal(IMSI_SUPI, PROFILE_B, B_HN_PUB, 2, "678", B1_EPH_PRIV)


def _with_output(s: Suci, output: bytes) -> Suci:
    return Suci(s.mcc, s.mnc, s.routing_indicator, s.scheme, s.key_id, output)


@pytest.mark.parametrize("pos", [0, 32, 36, -1], ids=["eph-key", "ciphertext", "ciphertext-end", "mac"])
def test_tampered_profile_a_rejected(a1, pos):
    out = bytearray(a1.output)
    out[pos] ^= 0x01
    with pytest.raises(CryptoError):
        deconceal(_with_output(a1, bytes(out)), {1: A_HN_PRIV})


@pytest.mark.parametrize("pos", [5, 33, -1])
def test_tampered_profile_b_rejected(b1, pos):
    out = bytearray(b1.output)
    out[pos] ^= 0x01
    with pytest.raises(CryptoError):
        deconceal(_with_output(b1, bytes(out)), {2: B_HN_PRIV})


def test_unknown_key_id_and_wrong_key(a1, b1):
    with pytest.raises(CryptoError, match="unknown home network public key id"):
        deconceal(a1, {2: A_HN_PRIV})
    other_priv, _ = S.generate_hn_keypair(PROFILE_A)
    with pytest.raises(CryptoError):
        deconceal(a1, {1: other_priv})
    with pytest.raises(CryptoError):  # a Profile B key for a Profile A SUCI
        deconceal(a1, {1: S.load_hn_private_key(PROFILE_B, B_HN_PRIV)})
    with pytest.raises(CryptoError):
        deconceal(b1, {2: S.load_hn_private_key(PROFILE_A, A_HN_PRIV)})


def test_invalid_ephemeral_points_rejected(a1, b1):
    # Profile A: the all-zero (low order) point gives an all-zero shared secret
    with pytest.raises(CryptoError):
        deconceal(_with_output(a1, bytes(32) + a1.output[32:]), {1: A_HN_PRIV})
    # Profile B: x = 0 is not on secp256r1
    with pytest.raises(CryptoError):
        deconceal(_with_output(b1, b"\x02" + bytes(32) + b1.output[33:]), {2: B_HN_PRIV})


def test_unsupported_scheme():
    s = Suci("001", "01", "0000", 12, 7, b"\x01\x02\x03")
    with pytest.raises(CryptoError):
        deconceal(s, {7: A_HN_PRIV})
    with pytest.raises(CryptoError):
        conceal(IMSI_SUPI, 3, A_HN_PUB, 1)
    with pytest.raises(CryptoError):
        conceal(IMSI_SUPI, PROFILE_A)  # no public key
    with pytest.raises(CryptoError):
        conceal(IMSI_SUPI, PROFILE_A, h("00") * 31, 1)
    with pytest.raises(CryptoError):
        conceal(IMSI_SUPI, PROFILE_B, h("04") + bytes(32), 1)
    with pytest.raises(CryptoError):
        S.generate_hn_keypair(0)


@pytest.mark.parametrize("profile,raw", [(PROFILE_A, A_HN_PRIV), (PROFILE_B, B_HN_PRIV)])
def test_private_key_raw_round_trip(profile, raw):
    key = S.load_hn_private_key(profile, raw)
    assert S.hn_private_key_bytes(key) == raw
    priv, pub = S.generate_hn_keypair(profile)
    again = S.load_hn_private_key(profile, S.hn_private_key_bytes(priv))
    assert S.hn_public_key_bytes(again) == pub
    with pytest.raises(CryptoError):
        S.load_hn_private_key(profile, raw[:31])


def test_fresh_ephemeral_key_per_conceal():
    a = conceal(IMSI_SUPI, PROFILE_A, A_HN_PUB, 1)
    b = conceal(IMSI_SUPI, PROFILE_A, A_HN_PUB, 1)
    assert a.ephemeral_public != b.ephemeral_public and a.output != b.output
    assert deconceal(a, {1: A_HN_PRIV}) == deconceal(b, {1: A_HN_PRIV}) == IMSI_SUPI


# --- NAS encoding --------------------------------------------------------------


def test_nas_bytes_profile_a_known(a1):
    # octet 1: SUPI format IMSI, type SUCI; PLMN 274/012; RI 678 -> 76 f8; scheme 1; key id 1
    assert a1.to_nas_bytes() == h("01" "72" "24" "10" "76f8" "01" "01") + A1_OUTPUT
    assert Suci.from_nas_bytes(a1.to_nas_bytes()) == a1


def test_nas_bytes_null_scheme_known():
    s = conceal(Supi.parse("imsi-001010000000001"), NULL_SCHEME)
    assert s.to_nas_bytes() == h("0100f110000000000000000010")
    assert s.to_string() == "suci-0-001-01-0000-0-0-0000000001"


@pytest.mark.parametrize("which", ["a1", "b1", "null"])
def test_pycrate_decodes_our_suci(which, a1, b1):
    s = {"a1": a1, "b1": b1, "null": conceal(Supi.imsi("001", "01", "0123456789"), NULL_SCHEME, None, 0, "12")}[
        which
    ]
    ie = FGSID()
    ie.from_bytes(s.to_nas_bytes())
    assert ie["Type"].get_val() == 1 and ie["Fmt"].get_val() == 0
    v = ie["Value"].get_alt()
    assert v["PLMN"].decode() == s.mcc + s.mnc
    assert v["RoutingInd"].decode() == s.routing_indicator
    assert v["ProtSchemeID"].get_val() == s.scheme
    assert v["HNPKID"].get_val() == s.key_id
    out = v["Output"].get_alt()
    if s.scheme == NULL_SCHEME:
        assert out.decode() == s.msin
    else:
        assert out["ECCEphemPK"].get_val() == s.ephemeral_public
        assert out["CipherText"].get_val() == s.ciphertext
        assert out["MAC"].get_val() == s.mac
    if s.scheme != NULL_SCHEME:
        # pycrate's SBA string (TS 29.503) is our string without the "suci-" prefix. (For the null
        # scheme pycrate 0.8.1 prints the BCD octets in hex: its to_sba() tests the identity type
        # instead of the protection scheme id.)
        assert "suci-" + v.to_sba() == s.to_string()


def test_we_decode_pycrate_encoding():
    ie = FGSID()
    ie.set_val(
        {
            "Type": 1,
            "Fmt": 0,
            "Value": {
                "PLMN": "20893",
                "RoutingInd": "0000",
                "ProtSchemeID": 0,
                "HNPKID": 0,
                "Output": "0000007487",
            },
        }
    )
    s = Suci.from_nas_bytes(ie.to_bytes())
    assert (s.mcc, s.mnc, s.routing_indicator, s.scheme, s.msin) == ("208", "93", "0000", 0, "0000007487")
    assert deconceal(s, {}).to_string() == "imsi-208930000007487"


def test_nai_format_nas_round_trip():
    s = conceal(NAI_SUPI, PROFILE_A, A_HN_PUB, 1, "678", A2_EPH_PRIV)
    data = s.to_nas_bytes()
    assert data[0] == 0x11 and data[1:].startswith(b"type1.rid678.schid1.hnkey1.ecckey")
    assert Suci.from_nas_bytes(data) == s
    ie = FGSID()
    ie.from_bytes(data)
    assert ie["Fmt"].get_val() == 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        h("02"),  # not a SUCI
        h("0100f110"),  # truncated
        h("0100f11000000000"),  # no scheme output
        h("010af110000000000010"),  # invalid MCC digit
        h("0100f1100f00000010"),  # routing indicator with leading filler
        h("0100f110a000000010"),  # invalid RI digit
        h("0100f110000000001f10"),  # null scheme: filler in the wrong place
        h("0100f1100000000001aa"),  # null scheme: invalid BCD
        h("0100f11000000101") + bytes(40),  # Profile A: output too short
        h("0100f11000000202") + b"\x04" + bytes(41),  # Profile B: uncompressed eph. key
        h("0100f1100000000000000000000010"),  # MSIN longer than 10 digits
        h("0100f11000000007000010"),  # null scheme with key id 7 (TS 23.003 2.2B: must be 0)
        h("0111") + b"x",  # NAI format but not a SUCI NAI
        h("11") + b"\xff\xfe",  # NAI format, not UTF-8
        h("11") + b"type0.rid1.schid0.userid1@5gc.mnc001.mcc001.3gppnetwork.org",  # type mismatch
        h("31") + b"type3.rid1.schid0.useridx@realm",  # unsupported SUPI format
    ],
)
def test_from_nas_bytes_rejects_malformed(data):
    with pytest.raises(DecodeError):
        Suci.from_nas_bytes(data)


# --- strings -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "suci-0-001-01-0000-0-0-0000000001",
        "suci-0-274-012-678-1-1-" + A1_OUTPUT.hex(),
        "suci-0-274-012-678-2-255-" + B1_OUTPUT.hex(),
        "suci-1-3gpp.com-678-0-0-verylongusername1",
        "suci-0-001-01-1-c-17-0102030405",
    ],
)
def test_string_round_trip(text):
    s = Suci.from_string(text)
    assert s.to_string() == text
    assert str(s) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "imsi-001010000000001",
        "suci-0-001-01-0000-0-0-",
        "suci-0-001-01-0000-0-0-00a1",  # null-scheme MSIN must be digits
        "suci-0-001-01-00000-0-0-0000000001",  # RI too long
        "suci-0-001-01-0000-1-1-abc",  # odd hex
        "suci-0-001-01-0000-1-1-" + "00" * 10,  # too short for Profile A
        "suci-0-001-01-0000-1-256-" + A1_OUTPUT.hex(),  # key id > 255
    ],
)
def test_bad_strings_rejected(text):
    with pytest.raises(DecodeError):
        Suci.from_string(text)


def test_nai_form_imsi():
    s = Suci.from_string("suci-0-274-012-678-1-1-" + A1_OUTPUT.hex())
    nai = s.to_nai()
    assert nai == (
        "type0.rid678.schid1.hnkey1.ecckey" + A1_EPH_PUB.hex() + ".cipcb02352410.maccddd9e730ef3fa87"
        "@5gc.mnc012.mcc274.3gppnetwork.org"
    )
    assert Suci.from_nai(nai) == s
    # a 2-digit MNC comes back as its 3-digit realm form (TS 23.003 28.2)
    s2 = conceal(Supi.imsi("001", "01", "1"), NULL_SCHEME)
    assert s2.to_nai() == "type0.rid0000.schid0.userid1@5gc.mnc001.mcc001.3gppnetwork.org"
    assert Suci.from_nai(s2.to_nai()).mnc == "001"
    assert Suci.from_nai(s2.to_nai(), mnc_digits=2) == s2
    with pytest.raises(DecodeError):
        Suci.from_nai(conceal(Supi.imsi("310", "410", "1"), NULL_SCHEME).to_nai(), mnc_digits=2)
    with pytest.raises(DecodeError):
        Suci.from_nai("type0.rid1.schid1.hnkey1.ecckey00.cip00.mac0000000000000000@5gc.mnc001.mcc001.3gppnetwork.org")


def test_ecies_parts_only_for_profiles():
    s = conceal(IMSI_SUPI, NULL_SCHEME)
    with pytest.raises(ValueError):
        s.ephemeral_public  # noqa: B018
    with pytest.raises(ValueError):
        _ = conceal(IMSI_SUPI, PROFILE_A, A_HN_PUB, 1).msin


# --- properties ------------------------------------------------------------------

HN_KEYS = {PROFILE_A: S.generate_hn_keypair(PROFILE_A), PROFILE_B: S.generate_hn_keypair(PROFILE_B)}

imsi_supis = st.builds(
    lambda mcc, mnc, msin: Supi.imsi(mcc, mnc, msin[: 15 - 3 - len(mnc)]),
    st.from_regex(r"\A[0-9]{3}\Z"),
    st.from_regex(r"\A[0-9]{2,3}\Z"),
    st.from_regex(r"\A[0-9]{1,10}\Z"),
)
routing_indicators = st.from_regex(r"\A[0-9]{1,4}\Z")


@settings(max_examples=200, deadline=None)
@given(imsi_supis, st.sampled_from([NULL_SCHEME, PROFILE_A, PROFILE_B]), routing_indicators, st.integers(0, 255))
def test_property_conceal_deconceal(supi, scheme, ri, key_id):
    priv, pub = HN_KEYS.get(scheme, (None, None))
    s = conceal(supi, scheme, pub, key_id, ri)
    assert deconceal(s, {key_id: priv} if priv else {}) == supi
    assert Suci.from_nas_bytes(s.to_nas_bytes()) == s
    assert Suci.from_string(s.to_string()) == s


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"\A[a-z0-9.]{1,40}\Z"),
    st.from_regex(r"\A[a-z0-9]{1,20}\.[a-z]{2,5}\Z"),
    st.sampled_from([NULL_SCHEME, PROFILE_A, PROFILE_B]),
)
def test_property_nai_conceal_deconceal(user, realm, scheme):
    supi = Supi.nai(user, realm)
    priv, pub = HN_KEYS.get(scheme, (None, None))
    s = conceal(supi, scheme, pub, 9, "12")
    assert deconceal(s, {9: priv} if priv else {}) == supi
    assert Suci.from_nas_bytes(s.to_nas_bytes()) == s
    assert Suci.from_nai(s.to_nai()) == s
