"""5G key hierarchy (TS 33.501 Annex A).

Cross-check vectors (public, third-party; no 3GPP test data exists for Annex A):
- wmnsk/milenage milenage_test.go (TestComputeRESStar, TestGenerateAUTN):
  K = OP = RAND = 00112233445566778899aabbccddeeff, SQN = 1, AMF = 8000,
  MCC 001 / MNC 01 -> RES* 31b6d938a5290ccc65bc829f9820a8d9.
- A public Go 5G-AKA example built on wmnsk/milenage (module "5G_AKA",
  files main.go / aka/aka.go and their recorded "main.go output"; the
  repository name is not recoverable from the public code index): HXRES*,
  KAUSF and KSEAF for the same inputs. That example builds its serving network
  name as "5G:mnc01.mcc001.3gppnetwork.org" (MNC not zero-padded, unlike
  TS 24.501 9.12.1) for KAUSF/KSEAF, and keys its KAMF with KAUSF instead of
  KSEAF; the vectors below use its inputs as they are, which checks the input
  strings S of Annex A.2, A.6 and A.7.
- srsRAN Project tests/unittests/security/security_test.cpp
  (security_gen_k_rrc, security_gen_k_up): Annex A.8 RRC/UP keys.
KgNB (A.9) and NH (A.10): no published vector was found; they are checked
against an independent construction of S from the Annex text below.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from testbed.crypto import keys
from testbed.crypto.milenage import Milenage
from testbed.errors import CryptoError

h = bytes.fromhex

K = OP = RAND = h("00112233445566778899aabbccddeeff")
SQN = h("000000000001")
AMF = h("8000")
SNN = "5G:mnc001.mcc001.3gppnetwork.org"
SNN_UNPADDED = "5G:mnc01.mcc001.3gppnetwork.org"  # as used by the 5G_AKA example
SUPI = "001010123456789"


@pytest.fixture(scope="module")
def vec():
    m = Milenage(K, op=OP)
    res, ck, ik, ak = m.f2345(RAND)
    sqn_xor_ak = bytes(a ^ b for a, b in zip(SQN, ak, strict=True))
    return {"res": res, "ck": ck, "ik": ik, "ak": ak, "sqn_xor_ak": sqn_xor_ak}


def test_milenage_inputs_of_the_vectors(vec):
    # wmnsk/milenage expected values
    assert vec["res"] == h("700eb2300b2c4799")
    assert vec["ck"] == h("b379874b3d183d2a21291d439e7761e1")
    assert vec["ik"] == h("f4706f66629cf7ddf881d80025bf1255")
    assert vec["ak"] == h("de656c8b0bce")


@pytest.mark.parametrize(
    "mcc,mnc,name",
    [
        ("001", "01", "5G:mnc001.mcc001.3gppnetwork.org"),
        ("208", "93", "5G:mnc093.mcc208.3gppnetwork.org"),
        ("310", "410", "5G:mnc410.mcc310.3gppnetwork.org"),
    ],
)
def test_serving_network_name(mcc, mnc, name):
    assert keys.serving_network_name(mcc, mnc) == name


@pytest.mark.parametrize("mcc,mnc", [("01", "01"), ("001", "1"), ("001", "0001"), ("0a1", "01")])
def test_serving_network_name_rejects(mcc, mnc):
    with pytest.raises(CryptoError):
        keys.serving_network_name(mcc, mnc)


def test_res_star_a4(vec):
    out = keys.res_star(vec["ck"], vec["ik"], SNN, RAND, vec["res"])
    assert out == h("31b6d938a5290ccc65bc829f9820a8d9")
    assert keys.xres_star(vec["ck"], vec["ik"], SNN.encode(), RAND, vec["res"]) == out


def test_hxres_star_a5():
    assert keys.hxres_star(RAND, h("31b6d938a5290ccc65bc829f9820a8d9")) == h("3308fb7cf06a35f1cd086b904ce82ecf")


def test_kausf_a2(vec):
    assert keys.kausf(vec["ck"], vec["ik"], SNN_UNPADDED, vec["sqn_xor_ak"]) == h(
        "fe8d2546b6971c510329cd8ae34c177d6569486aa9b71159cc3b5c752a93bd10"
    )
    # the name really is an input
    assert keys.kausf(vec["ck"], vec["ik"], SNN, vec["sqn_xor_ak"]) != keys.kausf(
        vec["ck"], vec["ik"], SNN_UNPADDED, vec["sqn_xor_ak"]
    )


def test_kseaf_a6():
    kausf = h("fe8d2546b6971c510329cd8ae34c177d6569486aa9b71159cc3b5c752a93bd10")
    assert keys.kseaf(kausf, SNN_UNPADDED) == h("442ac77e2366d8084cb447883b03311065ea6bbd8753cf87e92c0669019cf829")


def test_kamf_a7_input_string():
    # The example keys KAMF derivation with its KAUSF: same S = 0x6D || SUPI || L0 || ABBA || L1.
    key = h("fe8d2546b6971c510329cd8ae34c177d6569486aa9b71159cc3b5c752a93bd10")
    expect = h("e0c07aacbba7d77ad55efa309882963a9d46dbc9f0045026df89a5d9a30d9915")
    assert keys.kamf(key, SUPI) == expect
    assert keys.kamf(key, "imsi-" + SUPI) == expect  # the TS 29.571 prefix is not part of P0
    assert keys.kamf(key, SUPI.encode()) == expect
    assert keys.kamf(key, SUPI, abba=b"\x00\x01") != expect


def test_kamf_chain_from_kseaf():
    # KSEAF -> KAMF with the default ABBA 0x0000, against an explicit S (Annex A.7).
    kseaf = h("442ac77e2366d8084cb447883b03311065ea6bbd8753cf87e92c0669019cf829")
    s = b"\x6d" + SUPI.encode() + b"\x00\x0f" + b"\x00\x00" + b"\x00\x02"
    assert keys.kamf(kseaf, SUPI) == hmac.new(kseaf, s, hashlib.sha256).digest()
    assert keys.kamf(kseaf, SUPI) == h("015fd21224d75eb42703abf8cc8e241d9c5e9ec03f99db027a59107b7694662c")


def test_kamf_nai_supi():
    kseaf = bytes(range(32))
    s = b"\x6d" + b"user@example.org" + b"\x00\x10" + b"\x00\x00\x00\x02"
    assert keys.kamf(kseaf, "nai-user@example.org") == hmac.new(kseaf, s, hashlib.sha256).digest()


# srsRAN Project security_test.cpp: 256-bit KDF outputs, key = 128 LSB (Annex A.8)
SK_GNB = h("45cbc3f8a81193fd5c5229300d59edf812e998a115ec4e0ce903ba89367e2628")


def test_rrc_keys_a8():
    enc, integ = keys.rrc_keys(SK_GNB, enc_alg=2, int_alg=0)
    assert enc == h("52a995dff89bc294bd89ffb137a29f2466a09e992386c8d1df7892964c6fb522")[16:]
    assert integ == h("534208f43b924efb677d95f93dbcbcb05c2cc2fda0f318a1e0ce35b9db5e80a5")[16:]


def test_up_keys_a8():
    enc, integ = keys.up_keys(SK_GNB, enc_alg=2, int_alg=0)
    assert enc == h("7ce20670bbbcc5904087c0d42653c540152052d3dfbc3f05869b7f920095be68")[16:]
    assert integ == h("1ac74475a60bea4b4002a0439b722361d0deb4584095599e5806eae4f67656d8")[16:]


def _ref(key: bytes, s: bytes) -> bytes:
    return hmac.new(key, s, hashlib.sha256).digest()


KAMF = h("015fd21224d75eb42703abf8cc8e241d9c5e9ec03f99db027a59107b7694662c")


def test_nas_keys_a8():
    enc, integ = keys.nas_keys(KAMF, enc_alg=1, int_alg=2)
    assert enc == _ref(KAMF, b"\x69\x01\x00\x01\x01\x00\x01")[16:]
    assert integ == _ref(KAMF, b"\x69\x02\x00\x01\x02\x00\x01")[16:]
    assert len(enc) == len(integ) == 16
    # the distinguisher separates the keys even for the same algorithm id
    assert keys.algorithm_key(KAMF, keys.N_NAS_ENC_ALG, 2) != keys.algorithm_key(KAMF, keys.N_NAS_INT_ALG, 2)


def test_kgnb_a9():
    s = b"\x6e" + (0x00000003).to_bytes(4, "big") + b"\x00\x04" + b"\x01" + b"\x00\x01"
    assert keys.kgnb(KAMF, 3) == _ref(KAMF, s)
    s2 = b"\x6e" + (0).to_bytes(4, "big") + b"\x00\x04" + b"\x02" + b"\x00\x01"
    assert keys.kgnb(KAMF, 0, keys.ACCESS_NON_3GPP) == _ref(KAMF, s2)
    assert keys.kgnb(KAMF, 3) != keys.kgnb(KAMF, 4)


def test_nh_a10_chain():
    kgnb = keys.kgnb(KAMF, 0)
    nh1 = keys.nh(KAMF, kgnb)
    assert nh1 == _ref(KAMF, b"\x6f" + kgnb + b"\x00\x20")
    nh2 = keys.nh(KAMF, nh1)
    assert nh2 == _ref(KAMF, b"\x6f" + nh1 + b"\x00\x20") and nh2 != nh1


def test_ck_ik_prime_rfc5448():
    ck_p, ik_p = keys.ck_ik_prime(
        h("5349fbe098649f948f5d2e973a81c00f"), h("9744871ad32bf9bbd1dd5ce54e3e2e5a"), "WLAN", h("bb52e91c747a")
    )
    assert ck_p == h("0093962d0dd84aa5684b045c9edffa04")
    assert ik_p == h("ccfc230ca74fcc96c0a5d61164f5a76c")


@pytest.mark.parametrize(
    "call",
    [
        lambda: keys.kausf(bytes(15), bytes(16), SNN, bytes(6)),
        lambda: keys.kausf(bytes(16), bytes(16), SNN, bytes(5)),
        lambda: keys.kausf(bytes(16), bytes(16), "", bytes(6)),
        lambda: keys.res_star(bytes(16), bytes(16), SNN, bytes(16), bytes(3)),
        lambda: keys.res_star(bytes(16), bytes(16), SNN, bytes(15), bytes(8)),
        lambda: keys.hres_star(bytes(16), bytes(8)),
        lambda: keys.kseaf(bytes(16), SNN),
        lambda: keys.kamf(bytes(32), "", b"\x00\x00"),
        lambda: keys.kamf(bytes(32), SUPI, b""),
        lambda: keys.algorithm_key(bytes(32), 7, 1),
        lambda: keys.algorithm_key(bytes(32), 1, 16),
        lambda: keys.algorithm_key(bytes(16), 1, 1),
        lambda: keys.kgnb(bytes(32), 1 << 32),
        lambda: keys.kgnb(bytes(32), 0, 3),
        lambda: keys.nh(bytes(32), bytes(16)),
    ],
)
def test_bad_arguments_rejected(call):
    with pytest.raises(CryptoError):
        call()
