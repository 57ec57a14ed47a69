"""EAP-AKA key derivation (RFC 4187 7, Appendix A): FIPS 186-2 PRF and MK against published vectors."""

from __future__ import annotations

import hashlib

from testbed.aaa.eap_aka_keys import checkcode, derive_keys, fips186_2_prf, hmac_sha1_128, master_key


def test_fips186_2_known_answer():
    # FIPS 186-2 change notice 1, Appendix 3.1 (XKEY, XSEED = 0): the first x_j = w_0 | w_1.
    xkey = bytes.fromhex("bd029bbe7f51960bcf9edb2b61f06f0feb5a38b6")
    assert fips186_2_prf(xkey, 40) == bytes.fromhex(
        "2070b3223dba372fde1c0ffc7b2e3b498b260614" "3c6c18bacb0f6c55babb13788e20d737a3275116")


def test_rfc4186_a5_key_derivation():
    # RFC 4186 A.5: the PRF of RFC 4186 Appendix B (which RFC 4187 7 uses too) from MK.
    mk = bytes.fromhex("e576d5ca332e9930018bf1baee2763c795b3c712")
    x = fips186_2_prf(mk, 160)
    assert x[0:16] == bytes.fromhex("536e5ebc4465582aa6a8ec9986ebb620")  # K_encr
    assert x[16:32] == bytes.fromhex("25af1942efcbf4bc72b3943421f2a974")  # K_aut
    assert x[32:96] == bytes.fromhex(
        "39d45aeaf4e30601983e972b6cfd46d1c363773365690d09cd44976b525f47d3"
        "a60a985e955c53b090b2e4b73719196a402542968fd14a888f46b9a7886e4488")  # MSK
    assert x[96:160] == bytes.fromhex(
        "5949eab0fff69d52315c6c634fd14a7f0d52023d56f79698fa6596abeed4f93f"
        "bb48eb534d985414ceed0d9a8ed33c387c9dfdab92ffbdf240fcecf65a2c93b9")  # EMSK


def test_mk_and_key_split():
    ident, ik, ck = b"0001010000009001@realm", bytes(range(16)), bytes(range(16, 32))
    assert master_key(ident, ik, ck) == hashlib.sha1(ident + ik + ck).digest()
    keys = derive_keys(ident, ik, ck)
    x = fips186_2_prf(keys.mk, 160)
    assert (keys.k_encr, keys.k_aut, keys.msk, keys.emsk) == (x[:16], x[16:32], x[32:96], x[96:])
    assert derive_keys(b"other", ik, ck).msk != keys.msk  # the identity is bound into the keys
    assert keys.msk.hex() not in repr(keys) and keys.k_aut.hex() not in repr(keys)


def test_prf_output_is_a_prefix_stream():
    xkey = bytes(range(20))
    assert fips186_2_prf(xkey, 100)[:40] == fips186_2_prf(xkey, 40)


def test_hmac_sha1_128_and_checkcode():
    import hmac

    assert hmac_sha1_128(b"k", b"data") == hmac.new(b"k", b"data", hashlib.sha1).digest()[:16]
    assert checkcode([]) == b""
    assert checkcode([b"ab", b"cd"]) == hashlib.sha1(b"abcd").digest()
