"""5G-AKA (TS 33.501 6.1.3.2) and SQN management (TS 33.102 6.3, Annex C).

Known answers:
- TS 35.208 test set 1 (public 3GPP test data) for the plain UMTS AV.
- wmnsk/milenage milenage_test.go (public): K = OP = RAND = 0011..eeff,
  SQN = 1, AMF = 8000 -> AUTN de656c8b0bcf80004af30b82a8531115, RES*
  (MCC 001, MNC 01) 31b6d938a5290ccc65bc829f9820a8d9, MAC-S cdf74673bc86e7ab
  and AUTS b9ac50c48a82cdf74673bc86e7ab (SQN_MS = 1, AMF = 0000).
- HXRES* 3308fb7cf06a35f1cd086b904ce82ecf for the same inputs (public Go
  5G-AKA example, see test_keys.py).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.crypto import aka, keys
from testbed.crypto.milenage import Milenage
from testbed.errors import CryptoError

h = bytes.fromhex

K = OP = RAND = h("00112233445566778899aabbccddeeff")
AMF_5G = h("8000")
SNN = keys.serving_network_name("001", "01")


@pytest.fixture()
def mil():
    return Milenage(K, op=OP)


def test_umts_av_ts_35_208_set1():
    m = Milenage(h("465b5ce8b199b49faa5f0a2ee238a6bc"), op=h("cdc202d5123e20f62b6d676ac72cb318"))
    rand = h("23553cbe9637a89d218ae64dae47bf35")
    av = aka.generate_av(m, 0xFF9BB4D0B607, h("b9b9"), rand)
    assert av.xres == h("a54211d5e3ba50bf")
    assert av.ck == h("b40ba9a3c58b2a05bbf0d987b21bf8cb")
    assert av.ik == h("f769bcd751044604127672711c6d3441")
    sqn_xor_ak = bytes(a ^ b for a, b in zip(h("ff9bb4d0b607"), h("aa689c648370"), strict=True))
    assert av.autn == sqn_xor_ak + h("b9b9") + h("4a9ffac354dfafb3")
    assert av.sqn_xor_ak == sqn_xor_ak


def test_he_av_known_answer(mil):
    he = aka.generate_5g_he_av(mil, 1, AMF_5G, SNN, RAND)
    assert he.rand == RAND
    assert he.autn == h("de656c8b0bcf80004af30b82a8531115")
    assert he.xres_star == h("31b6d938a5290ccc65bc829f9820a8d9")
    res, ck, ik, ak = mil.f2345(RAND)
    assert he.kausf == keys.kausf(ck, ik, SNN, he.autn[:6])
    se, kseaf = aka.ausf_se_av(he, SNN)
    assert se.hxres_star == h("3308fb7cf06a35f1cd086b904ce82ecf")
    assert (se.rand, se.autn) == (he.rand, he.autn)
    assert kseaf == keys.kseaf(he.kausf, SNN)


def test_random_rand_is_fresh(mil):
    a = aka.generate_5g_he_av(mil, 32, AMF_5G, SNN)
    b = aka.generate_5g_he_av(mil, 32, AMF_5G, SNN)
    assert len(a.rand) == 16 and a.rand != b.rand


def test_resync_known_answer(mil):
    assert aka.resync(mil, h("b9ac50c48a82cdf74673bc86e7ab"), RAND) == 1


def test_resync_bad_mac_s(mil):
    auts = bytearray(h("b9ac50c48a82cdf74673bc86e7ab"))
    auts[-1] ^= 1
    with pytest.raises(CryptoError):
        aka.resync(mil, bytes(auts), RAND)
    with pytest.raises(CryptoError):
        aka.resync(mil, bytes(13), RAND)


def test_ue_auts_known_answer(mil):
    # IND of 0 bits: SQN == SEQ, so SQN 1 is accepted once; the replay gives AUTS with SQN_MS = 1.
    usim = aka.UsimAka(mil, aka.UsimSqnArray(ind_bits=0))
    he = aka.generate_5g_he_av(mil, 1, AMF_5G, SNN, RAND)
    ok = usim.authenticate_5g(he.rand, he.autn, SNN)
    assert isinstance(ok, aka.AkaSuccess)
    replay = usim.authenticate_5g(he.rand, he.autn, SNN)
    assert replay == aka.SyncFailure(h("b9ac50c48a82cdf74673bc86e7ab"))
    assert replay.cause == 21


def test_full_5g_aka_both_sides(mil):
    gen = aka.HeSqnGenerator()
    sqn = gen.next()
    he = aka.generate_5g_he_av(mil, sqn, AMF_5G, SNN)
    se, kseaf_net = aka.ausf_se_av(he, SNN)

    usim = aka.UsimAka(Milenage(K, opc=mil.opc))
    r = usim.authenticate_5g(se.rand, se.autn, SNN)
    assert isinstance(r, aka.AkaSuccess)
    assert r.sqn == sqn
    assert aka.seaf_verify(r.res_star, se)
    assert aka.ausf_verify(r.res_star, he.xres_star)
    assert r.kausf == he.kausf
    assert r.kseaf == kseaf_net
    assert r.kamf("imsi-001010123456789") == keys.kamf(kseaf_net, "001010123456789")
    # wrong RES* is refused by SEAF and AUSF
    bad = bytes([r.res_star[0] ^ 1]) + r.res_star[1:]
    assert not aka.seaf_verify(bad, se)
    assert not aka.ausf_verify(bad, he.xres_star)
    assert not aka.ausf_verify(r.res_star[:8], he.xres_star)


def test_mac_failure_does_not_touch_sqn_state(mil):
    he = aka.generate_5g_he_av(mil, 64, AMF_5G, SNN)
    usim = aka.UsimAka(mil)
    tampered = he.autn[:15] + bytes([he.autn[15] ^ 0x80])
    assert usim.authenticate_5g(he.rand, tampered, SNN) == aka.MacFailure()
    # AMF is covered by the MAC too
    assert isinstance(usim.check(he.rand, he.autn[:6] + h("c000") + he.autn[8:]), aka.MacFailure)
    assert usim.sqn_array.sqn_ms == 0
    # a UE with another K rejects the network
    other = aka.UsimAka(Milenage(bytes(16), op=OP))
    assert other.authenticate_5g(he.rand, he.autn, SNN).cause == 20
    # the untouched vector still works
    assert isinstance(usim.authenticate_5g(he.rand, he.autn, SNN), aka.AkaSuccess)


def test_replay_then_resync_recovers(mil):
    gen = aka.HeSqnGenerator(seq=10)
    usim = aka.UsimAka(mil)
    he = aka.generate_5g_he_av(mil, gen.next(), AMF_5G, SNN)
    assert isinstance(usim.authenticate_5g(he.rand, he.autn, SNN), aka.AkaSuccess)
    # network lost its state (e.g. restored from backup) and reuses SEQ 11
    gen2 = aka.HeSqnGenerator(seq=5)
    he2 = aka.generate_5g_he_av(mil, gen2.next(), AMF_5G, SNN)
    fail = usim.authenticate_5g(he2.rand, he2.autn, SNN)
    assert isinstance(fail, aka.SyncFailure)
    sqn_ms = aka.resync(mil, fail.auts, he2.rand)
    assert sqn_ms == usim.sqn_array.sqn_ms == (11 << 5)
    gen2.apply_resync(sqn_ms)
    assert gen2.seq == 11
    he3 = aka.generate_5g_he_av(mil, gen2.next(), AMF_5G, SNN)
    assert isinstance(usim.authenticate_5g(he3.rand, he3.autn, SNN), aka.AkaSuccess)


def test_he_apply_resync_keeps_acceptable_seq():
    gen = aka.HeSqnGenerator(seq=100)
    gen.apply_resync(50 << 5)  # SEQ_MS 50 < 101 <= 50 + delta: nothing to do
    assert gen.seq == 100
    gen.apply_resync(200 << 5)
    assert gen.seq == 200
    assert gen.next(ind=3) == (201 << 5) | 3
    with pytest.raises(CryptoError):
        gen.next(ind=32)


def test_sqn_array_ind_and_delta_and_age():
    arr = aka.UsimSqnArray(ind_bits=5, delta=1000, age_limit=10)
    sqn = lambda seq, ind: (seq << 5) | ind  # noqa: E731
    assert arr.is_fresh(sqn(5, 0))
    arr.accept(sqn(5, 0))
    assert not arr.is_fresh(sqn(5, 0))  # replay
    assert not arr.is_fresh(sqn(4, 0))  # older on the same IND
    assert arr.is_fresh(sqn(3, 1))  # older SEQ but another IND: accepted (Annex C.2)
    arr.accept(sqn(3, 1))
    assert arr.sqn_ms == sqn(5, 0)
    assert arr.is_fresh(sqn(1005, 2))  # SEQ - SEQ_MS = 1000 = delta
    assert not arr.is_fresh(sqn(1006, 2))  # jump larger than delta
    arr.accept(sqn(1000, 0))
    assert not arr.is_fresh(sqn(990, 3))  # SEQ_MS - SEQ = 10 >= L
    assert arr.is_fresh(sqn(991, 3))
    assert arr.split(sqn(7, 9)) == (7, 9)


def test_sqn_array_bad_config():
    with pytest.raises(CryptoError):
        aka.UsimSqnArray(ind_bits=11)
    with pytest.raises(CryptoError):
        aka.UsimSqnArray(delta=0)
    with pytest.raises(CryptoError):
        aka.UsimSqnArray(age_limit=0)


def test_separation_bit(mil):
    with pytest.raises(CryptoError):
        aka.generate_5g_he_av(mil, 64, h("0000"), SNN)
    he = aka.generate_5g_he_av(mil, 64, h("0000"), SNN, require_separation_bit=False)
    usim = aka.UsimAka(mil)
    r = usim.authenticate_5g(he.rand, he.autn, SNN)
    assert r == aka.SeparationBitFailure() and r.cause == 26
    # the plain USIM procedure (EAP-AKA) does not care about the separation bit
    he2 = aka.generate_av(mil, 96, h("0000"))
    res = usim.check(he2.rand, he2.autn)
    assert isinstance(res, aka.UsimResult) and res.res == he2.xres
    assert aka.amf_separation_bit(h("8000")) and not aka.amf_separation_bit(h("7fff"))


def test_autn_helpers():
    autn = aka.build_autn(bytes(6), h("8000"), bytes(8))
    assert aka.parse_autn(autn) == (bytes(6), h("8000"), bytes(8))
    with pytest.raises(CryptoError):
        aka.parse_autn(bytes(15))
    with pytest.raises(CryptoError):
        aka.build_autn(bytes(5), h("8000"), bytes(8))


def test_bad_sqn_and_rand(mil):
    with pytest.raises(CryptoError):
        aka.generate_av(mil, 1 << 48, AMF_5G)
    with pytest.raises(CryptoError):
        aka.generate_av(mil, 1, AMF_5G, bytes(15))


@settings(max_examples=200, deadline=None)
@given(
    k=st.binary(min_size=16, max_size=16),
    opc=st.binary(min_size=16, max_size=16),
    seq=st.integers(1, (1 << 43) - 1),
    ind=st.integers(0, 31),
    amf_low=st.integers(0, 0x7FFF),
    rand=st.binary(min_size=16, max_size=16),
)
def test_property_ue_and_network_agree(k, opc, seq, ind, amf_low, rand):
    m = Milenage(k, opc=opc)
    sqn = (seq << 5) | ind
    he = aka.generate_5g_he_av(m, sqn, (0x8000 | amf_low).to_bytes(2, "big"), SNN, rand)
    se, kseaf = aka.ausf_se_av(he, SNN)
    arr = aka.UsimSqnArray(delta=1 << 43)
    usim = aka.UsimAka(m, arr)
    r = usim.authenticate_5g(se.rand, se.autn, SNN)
    assert isinstance(r, aka.AkaSuccess)
    assert r.sqn == sqn and r.kseaf == kseaf
    assert aka.seaf_verify(r.res_star, se) and aka.ausf_verify(r.res_star, he.xres_star)
    # the replay fails, and the network recovers SQN_MS from the AUTS
    again = usim.authenticate_5g(se.rand, se.autn, SNN)
    assert isinstance(again, aka.SyncFailure)
    assert aka.resync(m, again.auts, se.rand) == sqn
