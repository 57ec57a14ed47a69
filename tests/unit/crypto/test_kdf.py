"""The generic KDF of TS 33.220 Annex B.2, checked with published derivations that
use it with different FC values and parameter shapes.

Test data (all public):
- RFC 5448 Appendix C, Test Case 1: CK' || IK' (FC 0x20, TS 33.402 Annex A.2),
  also asserted by free5gc/util ueauth/ueauth_test.go (TestGetKDFValue).
- KASME (FC 0x10, TS 33.401 Annex A.2) from the TS 35.208 test set 1 CK/IK,
  as asserted by Open5GS tests/unit/security-test.c (security_test3), and the
  srsRAN 4G lib/test/common/test_security_kdf.cc KASME/KeNB cases.
- KeNB (FC 0x11, TS 33.401 Annex A.3) from OpenAirInterface
  openair-cn/TEST/test_secu_kenb.c.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.crypto.kdf import kdf, kdf_input
from testbed.errors import CryptoError

h = bytes.fromhex


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def test_rfc5448_test_case_1_ck_ik_prime():
    # RFC 5448 Appendix C, Test Case 1 (network name "WLAN").
    ck = h("5349fbe098649f948f5d2e973a81c00f")
    ik = h("9744871ad32bf9bbd1dd5ce54e3e2e5a")
    sqn_xor_ak = h("bb52e91c747a")  # first 6 octets of AUTN bb52e91c747ac3ab2a5c23d15ee351d5
    out = kdf(ck + ik, 0x20, b"WLAN", sqn_xor_ak)
    assert out == h("0093962d0dd84aa5684b045c9edffa04" "ccfc230ca74fcc96c0a5d61164f5a76c")
    # a different network name must give a different key (free5gc's negative case)
    assert kdf(ck + ik, 0x20, b"WLANNNNNNNNNNNNNNN", sqn_xor_ak) != out


def test_kasme_from_ts_35_208_set1():
    # Open5GS tests/unit/security-test.c security_test3: CK/IK of TS 35.208 test set 1.
    ck = h("b40ba9a3c58b2a05bbf0d987b21bf8cb")
    ik = h("f769bcd751044604127672711c6d3441")
    plmn = h("024830")
    sqn_xor_ak = _xor(h("fd8eef40df7d"), h("aa689c648370"))
    assert kdf(ck + ik, 0x10, plmn, sqn_xor_ak) == h(
        "238e457e0f758badbca8d34bb2612c10428d426757cb5553b2b184fa64bfc549"
    )


def test_kasme_and_kenb_srsran():
    # srsRAN 4G test_generate_k_asme / test_generate_k_enb (MCC 001, MNC 01 -> 00 f1 10).
    ck = h("7bc15d69309cf3ec5d324404edd6f0f9")
    ik = h("c15d69309cf3ec5d324404edd6f0f97b")
    sqn_xor_ak = _xor(h("0000000012d9"), h("5d69309cf3ec"))
    assert kdf(ck + ik, 0x10, h("00f110"), sqn_xor_ak) == h(
        "d5ef4d8f33266902295d42f322a2f2cf11fb2ccc124c09b4d88d361597037990"
    )
    kasme = h("6144c681d1bea9dae1b8cf6cd10a686341db8046a1e7a9ab4d1ea0e33c994ac0")
    assert kdf(kasme, 0x11, (0).to_bytes(4, "big")) == h(
        "c4c7bc798ab94e3d354cd6608e79aa92f5569df46519507850051e36f018ca5f"
    )


# OpenAirInterface openair-cn/TEST/test_secu_kenb.c: (uplink NAS COUNT, KASME, KeNB)
OAI_KENB = [
    (0xDB1A3569, "238E457E0F758BADBCA8D34BB2612C10428D426757CB5553B2B184FA64BFC549",
     "8EB1BF0083BD79281EF7034BF677E9EC529F196E15287514A2D122ACF713B8E8"),
    (0x001FB39C, "564CB4D2007E4F293B67D9B29392A64ADD4C776B133D895AF6499AA6882AAB62",
     "009010688F85855E218339DE6C5BD7B6394958DA12DDFBF7559E978CE43408F1"),
    (0x00000012, "FA77E41F693C2A6E71455CB8687E6E6058EF91E2F5ABD1BD3C496179481F308C",
     "0AFE81266DE52B8C8F1C3F4FE799BE883F364B018E7368C41F14DD6D050E13E1"),
    (0xFE56A1D3, "FA77E41F693C2A6E71455CB8687E6E6058EF91E2F5ABD1BD3C496179481F308C",
     "3622874B06C683586A009DEC81DBE28BDD8E3E6E67A2C22C31630EC97641828E"),
    (0xFE56A1D3, "70D7071AA016A087F9D888AD51F3A83E2C83443AB27843B35BD1B4923615091C",
     "E59BE6F0FBEFA1207DA3FF05D0F82014100E7A63A11EEBFE4F8AA92E7CF8B847"),
    (0xAABBCCDD, "70D7071AA016A087F9D888AD51F3A83E2C83443AB27843B35BD1B4923615091C",
     "158781A2FDF2CE53ABFA186D22EB751DECB8273471DC792B5016C9016947D1AE"),
]


@pytest.mark.parametrize("count,kasme,kenb", OAI_KENB)
def test_kenb_oai(count, kasme, kenb):
    assert kdf(h(kasme), 0x11, count.to_bytes(4, "big")) == h(kenb)


def test_kdf_input_layout():
    # TS 33.220 B.2.1: S = FC || P0 || L0 || P1 || L1, Li two octets big-endian
    assert kdf_input(0x6A, b"abc", b"\x01\x02") == b"\x6a" + b"abc" + b"\x00\x03" + b"\x01\x02" + b"\x00\x02"
    assert kdf_input(0x6C) == b"\x6c"
    assert kdf_input(0x69, b"") == b"\x69\x00\x00"


def test_kdf_rejects_bad_fc_and_long_param():
    with pytest.raises(CryptoError):
        kdf(bytes(32), 0x100, b"x")
    with pytest.raises(CryptoError):
        kdf(bytes(32), -1, b"x")
    with pytest.raises(CryptoError):
        kdf(bytes(32), 0x6A, bytes(0x10000))


@settings(max_examples=200, deadline=None)
@given(
    st.binary(min_size=1, max_size=64),
    st.integers(0, 255),
    st.lists(st.binary(max_size=300), max_size=4),
)
def test_kdf_is_hmac_sha256_over_s(key, fc, params):
    s = bytes([fc]) + b"".join(p + len(p).to_bytes(2, "big") for p in params)
    assert kdf(key, fc, *params) == hmac.new(key, s, hashlib.sha256).digest()
