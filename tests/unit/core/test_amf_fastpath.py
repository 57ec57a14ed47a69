"""The AMF's learned codec short-cuts must be byte-identical to the real codecs, and memory per
registered UE stays small."""

from __future__ import annotations

import gc
import os
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.core.amf.fastpath import AmfCodecCache
from testbed.protocols import nas, ngap
from testbed.protocols.templates import nbytes

from .scripted_ran import CAG_FEMTO, NAS_PLMN, PLMN, Env

ULI = ngap.UserLocationNR(ngap.NrCgi(PLMN, 0x4000), ngap.Tai(PLMN, 1))
GUAMI = ngap.Guami(PLMN, 1, 1, 0)
ids = st.integers(0, (1 << 32) - 1)
amf_ids = st.integers(0, (1 << 40) - 1)


def _warm(cache: AmfCodecCache, fn, *args) -> None:
    fn(*args)
    fn(*args)  # learned on the second sighting


@settings(max_examples=60, deadline=None)
@given(amf_ids, ids, st.binary(min_size=3, max_size=40))
def test_downlink_nas_transport_equals_the_codec(amf_id: int, ran_id: int, pdu: bytes) -> None:
    c = AmfCodecCache()
    _warm(c, c.downlink_nas_transport, amf_id, ran_id, pdu)
    other = os.urandom(len(pdu))
    a2 = (amf_id ^ 1) if nbytes(amf_id ^ 1) == nbytes(amf_id) else amf_id
    assert c.downlink_nas_transport(a2, ran_id, other) == ngap.encode(ngap.DownlinkNASTransport(a2, ran_id, other))
    assert c.hits >= 1


@settings(max_examples=40, deadline=None)
@given(amf_ids, ids, st.binary(min_size=3, max_size=60))
def test_uplink_decode_equals_the_codec(amf_id: int, ran_id: int, pdu: bytes) -> None:
    c = AmfCodecCache()
    data = ngap.encode(ngap.UplinkNASTransport(amf_id, ran_id, pdu, ULI))
    assert c.decode(data) == ngap.decode(data)
    assert c.decode(data) == ngap.decode(data)
    other = ngap.encode(ngap.UplinkNASTransport(amf_id, ran_id, os.urandom(len(pdu)), ULI))
    hits = c.hits
    assert c.decode(other) == ngap.decode(other) and c.hits == hits + 1


def test_decode_template_rejects_other_structures() -> None:
    c = AmfCodecCache()
    data = ngap.encode(ngap.UplinkNASTransport(5, 6, b"\x7e\x00\x43", ULI))
    c.decode(data)
    c.decode(data)
    uli2 = ngap.UserLocationNR(ngap.NrCgi(PLMN, 0x4001), ngap.Tai(PLMN, 1))
    other = ngap.encode(ngap.UplinkNASTransport(5, 6, b"\x7e\x00\x43", uli2))
    assert len(other) == len(data)
    hits = c.hits
    assert c.decode(other).user_location == uli2 and c.hits == hits  # not served by the template
    bad = bytearray(data)
    bad[0] ^= 0xFF
    try:
        c.decode(bytes(bad))
    except Exception as exc:  # the real decoder judges malformed input
        assert type(exc).__name__ == "DecodeError"


def test_initial_context_setup_request_and_nas_messages_equal_the_codecs() -> None:
    c = AmfCodecCache()
    mr = ngap.MobilityRestriction(PLMN, (), (ngap.AllowedCagList(PLMN, (CAG_FEMTO,), True),))
    for i in range(4):
        m = ngap.InitialContextSetupRequest(1000 + i, 7 + i, GUAMI, (ngap.Snssai(1),), ngap.UeSecurityCapabilities(),
                                            os.urandom(32), mobility_restriction=mr, nas_pdu=os.urandom(50))
        assert c.initial_context_setup_request(m) == ngap.encode(m)
        rand, autn = os.urandom(16), os.urandom(16)
        assert c.authentication_request(3, b"\x00\x00", rand, autn) == nas.AuthenticationRequest(
            ngksi=nas.NgKsi(3), rand=rand, autn=autn).encode()
        acc = nas.RegistrationAccept(guti=nas.Guti5g("001", "01", 1, 1, 0, int.from_bytes(os.urandom(4), "big")),
                                     tai_list=(nas.Tai(NAS_PLMN, 1),), allowed_nssai=(nas.SNssai(1),),
                                     cag_information_list=(nas.CagInfo(NAS_PLMN, (CAG_FEMTO,), False),))
        assert c.registration_accept(acc) == acc.encode()
    assert c.hits == 6  # learned on the second sighting, served from the template after


def test_disabled_cache_still_registers() -> None:
    env = Env(codec_cache=0)
    g = env.h.setup()
    for _ in range(3):
        ue = env.ue()
        env.h.register(ue, g)
        assert ue.registered
    assert env.amf.codec.hits == 0


def test_memory_per_registered_ue_is_small_and_hits_dominate() -> None:
    """tracemalloc: the AMF's per-UE state after registration (target < 20 KiB per UE)."""
    n = 60
    env = Env()
    g = env.femto()
    ues = [env.ue(scheme=0, allowed_cag_ids=(CAG_FEMTO,)) for _ in range(n)]
    tracemalloc.start()
    try:
        for ue in ues:
            env.h.register(ue, g)
            env.h.clear()
        assert all(u.registered for u in ues)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        amf = env.amf
        amf.ues.clear()
        amf.by_supi.clear()
        amf.by_tmsi.clear()
        amf.n2.clear()
        for gnb in amf.gnb_contexts.values():
            gnb.ue_ids.clear()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    per_ue = (before - after) / n
    assert 500 < per_ue < 20 * 1024, per_ue
    assert env.amf.codec.hits > 4 * env.amf.codec.misses
