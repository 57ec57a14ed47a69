"""The HPM's software UICC (testbed.hpm.softuicc): AUTHENTICATE per TS 33.102 6.3.3 / Annex C.

The network side is the real thing: AVs from the core's store through the AAA's HpmVectors
(SQN persisted per vector, re-synchronisation from AUTS, TS 33.102 6.3.5)."""

from __future__ import annotations

import os

import pytest

from testbed.aaa.vectors import HpmVectors
from testbed.core.udr import SubscriberStore, parse_subscriber_data
from testbed.crypto.aka import MacFailure, SyncFailure, generate_av
from testbed.crypto.milenage import Milenage
from testbed.hpm.card import HpmCard
from testbed.hpm.softuicc import AuthOk, NoCard, SoftUicc

IMSI = "001010000009001"
REALM = "nai.5gc.mnc001.mcc001.3gppnetwork.org"
K, OPC = os.urandom(16), os.urandom(16)


@pytest.fixture
def vectors() -> HpmVectors:
    store = SubscriberStore(":memory:")
    store.load(parse_subscriber_data({"femtos": [{
        "name": "femto1", "mcc": "001", "mnc": "01", "gnb_id": 1, "authorised_cag_ids": [1],
        "hpm": {"imsi": IMSI, "k": K.hex(), "opc": OPC.hex()}}]}))
    yield HpmVectors(store)
    store.close()


def uicc(**kw) -> SoftUicc:
    return SoftUicc(IMSI, kw.pop("k", K), OPC, realm=REALM, **kw)


def test_good_vector_gives_res_ck_ik_of_the_network(vectors):
    card = uicc()
    av = vectors.vector(IMSI)
    r = card.authenticate(av.rand, av.autn)
    assert isinstance(r, AuthOk)
    assert (r.res, r.ck, r.ik) == (av.xres, av.ck, av.ik)
    assert card.sqn_ms == av.sqn


def test_autn_of_another_key_is_a_mac_failure(vectors):
    av = vectors.vector(IMSI)
    assert isinstance(uicc(k=os.urandom(16)).authenticate(av.rand, av.autn), MacFailure)
    # control: the right key accepts the very same AUTN
    assert isinstance(uicc().authenticate(av.rand, av.autn), AuthOk)


def test_tampered_autn_is_a_mac_failure(vectors):
    av = vectors.vector(IMSI)
    bad = av.autn[:-1] + bytes([av.autn[-1] ^ 1])
    card = uicc()
    assert isinstance(card.authenticate(av.rand, bad), MacFailure)
    assert card.sqn_ms == 0  # nothing accepted
    assert isinstance(card.authenticate(av.rand, av.autn), AuthOk)


def test_replayed_rand_autn_is_a_sync_failure(vectors):
    card = uicc()
    av = vectors.vector(IMSI)
    assert isinstance(card.authenticate(av.rand, av.autn), AuthOk)
    again = card.authenticate(av.rand, av.autn)
    assert isinstance(again, SyncFailure) and len(again.auts) == 14


def test_sync_failure_auts_resyncs_the_network(vectors):
    # The card has seen SQNs far ahead of the store (e.g. the store was reset).
    card = uicc(sqn_ms=5000 << 5 | 7)
    av = vectors.vector(IMSI)
    r = card.authenticate(av.rand, av.autn)
    assert isinstance(r, SyncFailure)
    assert vectors.resync(IMSI, av.rand, r.auts) is True
    assert vectors.store.get_hpm(IMSI).sqn >> 5 == 5000  # SEQ_HE := SEQ_MS (TS 33.102 6.3.5)
    av2 = vectors.vector(IMSI)
    assert isinstance(card.authenticate(av2.rand, av2.autn), AuthOk)


def test_auts_with_a_wrong_rand_or_flipped_bit_is_refused_by_the_network(vectors):
    card = uicc(sqn_ms=5000 << 5)
    av = vectors.vector(IMSI)
    r = card.authenticate(av.rand, av.autn)
    assert isinstance(r, SyncFailure)
    before = vectors.store.get_hpm(IMSI).sqn
    assert vectors.resync(IMSI, os.urandom(16), r.auts) is False
    assert vectors.resync(IMSI, av.rand, r.auts[:-1] + bytes([r.auts[-1] ^ 0x80])) is False
    assert vectors.store.get_hpm(IMSI).sqn == before
    assert vectors.resync(IMSI, av.rand, r.auts) is True  # control


def test_sqn_beyond_delta_is_a_sync_failure():
    mil = Milenage(K, opc=OPC)
    card = uicc()
    far = generate_av(mil, ((1 << 28) + 2) << 5, b"\x80\x00")  # SEQ - SEQ_MS > delta (Annex C.2.1)
    assert isinstance(card.authenticate(far.rand, far.autn), SyncFailure)
    near = generate_av(mil, 2 << 5, b"\x80\x00")
    assert isinstance(card.authenticate(near.rand, near.autn), AuthOk)


def test_vectors_in_flight_with_different_ind_are_each_accepted(vectors):
    card = uicc()
    avs = [vectors.vector(IMSI) for _ in range(3)]
    for av in reversed(avs):  # out of order, IND differs per vector (Annex C.3.2)
        assert isinstance(card.authenticate(av.rand, av.autn), AuthOk)


def test_removed_card_answers_nothing_until_inserted(vectors):
    card = uicc()
    av = vectors.vector(IMSI)
    card.remove()
    assert card.identity is None
    assert isinstance(card.authenticate(av.rand, av.autn), NoCard)
    card.insert()
    assert card.identity == f"0{IMSI}@{REALM}"
    assert isinstance(card.authenticate(av.rand, av.autn), AuthOk)


def test_card_roundtrip_keeps_sqn_and_refuses_older_sqns(vectors):
    card = uicc()
    avs = [vectors.vector(IMSI) for _ in range(3)]
    assert isinstance(card.authenticate(avs[1].rand, avs[1].autn), AuthOk)
    base = HpmCard(imsi=IMSI, k=K.hex(), opc=OPC.hex(), realm=REALM)
    saved = card.to_card(base)
    assert saved.sqn_int == avs[1].sqn
    again = SoftUicc.from_card(saved)
    assert again.sqn_ms == avs[1].sqn
    # avs[0] has a lower SEQ (another IND): the restored array is conservative and refuses it,
    assert isinstance(again.authenticate(avs[0].rand, avs[0].autn), SyncFailure)
    # while the next fresh SQN is accepted.
    assert isinstance(again.authenticate(avs[2].rand, avs[2].autn), AuthOk)


def test_bad_arguments_and_no_key_in_repr():
    card = uicc()
    with pytest.raises(ValueError):
        card.authenticate(b"\x00" * 15, b"\x00" * 16)
    with pytest.raises(ValueError):
        SoftUicc("12ab", K, OPC)
    r = AuthOk(b"\x01" * 8, b"\x02" * 16, b"\x03" * 16)
    assert "0101" not in repr(r) and K.hex() not in repr(card)
