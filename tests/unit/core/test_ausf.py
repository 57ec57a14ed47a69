"""AUSF: 5G-AKA (TS 33.501 6.1.3.2) end to end with a software USIM, resync (6.1.3.3.2), contexts."""

from __future__ import annotations

import dataclasses

import pytest

from testbed.core.ausf import Ausf, AuthChallenge, AuthResult
from testbed.core.udm import HomeNetworkKeys, SidfError, Udm, UdmError
from testbed.core.udr import SubscriberStore, parse_subscriber_data
from testbed.crypto import keys as kdf
from testbed.crypto.aka import AkaSuccess, SeAv, SyncFailure, UsimAka, seaf_verify
from testbed.crypto.identity import Supi
from testbed.crypto.milenage import Milenage
from testbed.crypto.suci import NULL_SCHEME, PROFILE_A, PROFILE_B, conceal

K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"
SUPI_S = "imsi-001010000000001"
SUPI = Supi.parse(SUPI_S)
SN = "5G:mnc001.mcc001.3gppnetwork.org"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def hn() -> HomeNetworkKeys:
    return HomeNetworkKeys.generate()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ausf(hn, clock) -> Ausf:
    st = SubscriberStore(":memory:")
    st.load(
        parse_subscriber_data(
            {
                "subscribers": [
                    {"supi": SUPI_S, "k": K, "opc": OPC},
                    {"supi": "imsi-001010000000002", "k": K, "opc": OPC},
                ]
            }
        )
    )
    return Ausf(Udm(st, hn), context_ttl=30.0, clock=clock)


def ue() -> UsimAka:
    return UsimAka(Milenage(bytes.fromhex(K), opc=bytes.fromhex(OPC)))


def seaf_check(ch: AuthChallenge, res_star: bytes) -> bool:
    return seaf_verify(res_star, SeAv(ch.rand, ch.autn, ch.hxres_star))


@pytest.mark.parametrize("scheme, key_id", [(PROFILE_A, 1), (PROFILE_B, 2), (NULL_SCHEME, 0)])
def test_full_5g_aka(ausf, hn, scheme, key_id):
    suci = conceal(SUPI, scheme, hn.public_key(key_id) if key_id else None, key_id=key_id)
    ch = ausf.start(suci, SN)
    assert ch.scheme == scheme
    # the challenge does not reveal the SUPI (step 12: only after confirmation)
    assert SUPI.msin not in repr(ch) and not any(
        isinstance(getattr(ch, f.name), Supi) for f in dataclasses.fields(ch)
    )
    u = ue()
    r = u.authenticate_5g(ch.rand, ch.autn, SN)
    assert isinstance(r, AkaSuccess)
    assert seaf_check(ch, r.res_star)  # SEAF: HRES* == HXRES* (step 10)
    res = ausf.confirm(ch.ctx_id, r.res_star)
    assert res == AuthResult(True, SUPI, r.kseaf)
    assert res.kseaf == r.kseaf and len(res.kseaf) == 32
    # the AMF derives KAMF from KSEAF and the SUPI; it equals the UE's
    assert kdf.kamf(res.kseaf, SUPI.value) == r.kamf(SUPI.value)
    assert r.kseaf.hex() not in repr(res)


def test_supi_input_scheme_minus_one(ausf):
    ch = ausf.start(SUPI, SN)
    assert ch.scheme == -1
    r = ue().authenticate_5g(ch.rand, ch.autn, SN)
    assert ausf.confirm(ch.ctx_id, r.res_star).success


def test_wrong_res_star_fails_without_supi(ausf):
    ch = ausf.start(SUPI, SN)
    r = ue().authenticate_5g(ch.rand, ch.autn, SN)
    assert isinstance(r, AkaSuccess)
    bad = bytes([r.res_star[0] ^ 1]) + r.res_star[1:]
    assert not seaf_check(ch, bad)
    assert ausf.confirm(ch.ctx_id, bad) == AuthResult(False, None, None)
    # the context was consumed: even the right RES* now fails
    assert ausf.confirm(ch.ctx_id, r.res_star) == AuthResult(False, None, None)


@pytest.mark.parametrize("res_star", [b"", b"\x00" * 15, b"\x00" * 17, "x" * 16, None])
def test_malformed_res_star(ausf, res_star):
    ch = ausf.start(SUPI, SN)
    assert ausf.confirm(ch.ctx_id, res_star) == AuthResult(False, None, None)  # type: ignore[arg-type]


def test_res_star_from_other_serving_network_fails(ausf):
    ch = ausf.start(SUPI, SN)
    r = ue().authenticate_5g(ch.rand, ch.autn, "5G:mnc002.mcc001.3gppnetwork.org")
    assert isinstance(r, AkaSuccess)
    assert not ausf.confirm(ch.ctx_id, r.res_star).success


def test_double_confirm_fails(ausf):
    ch = ausf.start(SUPI, SN)
    r = ue().authenticate_5g(ch.rand, ch.autn, SN)
    assert ausf.confirm(ch.ctx_id, r.res_star).success
    assert ausf.confirm(ch.ctx_id, r.res_star) == AuthResult(False, None, None)


def test_unknown_ctx(ausf):
    assert ausf.confirm("nope", b"\x00" * 16) == AuthResult(False, None, None)
    assert ausf.confirm(None, b"\x00" * 16).success is False  # type: ignore[arg-type]


def test_contexts_independent(ausf):
    a = ausf.start(SUPI, SN)
    b = ausf.start(Supi.parse("imsi-001010000000002"), SN)
    assert a.ctx_id != b.ctx_id
    u = ue()
    ra = u.authenticate_5g(a.rand, a.autn, SN)
    # b's RES* does not confirm a
    rb = ue().authenticate_5g(b.rand, b.autn, SN)
    assert not ausf.confirm(a.ctx_id, rb.res_star).success
    assert ausf.confirm(b.ctx_id, rb.res_star).supi == Supi.parse("imsi-001010000000002")
    assert ra.res_star != rb.res_star


def test_expiry(ausf, clock):
    ch = ausf.start(SUPI, SN)
    r = ue().authenticate_5g(ch.rand, ch.autn, SN)
    clock.t += 30.0
    assert ausf.confirm(ch.ctx_id, r.res_star) == AuthResult(False, None, None)
    # control: just before expiry it works
    ch = ausf.start(SUPI, SN)
    r = ue().authenticate_5g(ch.rand, ch.autn, SN)
    clock.t += 29.9
    assert ausf.confirm(ch.ctx_id, r.res_star).success


def test_expired_contexts_purged_and_bounded(hn, clock):
    st = SubscriberStore(":memory:")
    st.load(parse_subscriber_data({"subscribers": [{"supi": SUPI_S, "k": K, "opc": OPC}]}))
    a = Ausf(Udm(st, hn), context_ttl=5.0, clock=clock, max_contexts=10)
    ids = [a.start(SUPI, SN).ctx_id for _ in range(25)]
    assert a.context_count == 10  # bounded: oldest dropped
    assert not a.confirm(ids[0], b"\x00" * 16).success
    clock.t += 6
    a.start(SUPI, SN)
    assert a.context_count == 1  # the expired ones were purged
    a.forget("whatever")
    with pytest.raises(ValueError):
        Ausf(Udm(st, hn), context_ttl=0)


def test_forget(ausf):
    ch = ausf.start(SUPI, SN)
    r = ue().authenticate_5g(ch.rand, ch.autn, SN)
    ausf.forget(ch.ctx_id)
    assert not ausf.confirm(ch.ctx_id, r.res_star).success


@pytest.mark.parametrize(
    "sn",
    [
        "5G:mnc01.mcc001.3gppnetwork.org",
        "5G:mnc001.mcc001.3gppnetwork.org.",
        "4G:mnc001.mcc001.3gppnetwork.org",
        "",
        None,
    ],
)
def test_bad_sn_name(ausf, sn):
    with pytest.raises(ValueError):
        ausf.start(SUPI, sn)  # type: ignore[arg-type]
    assert ausf.context_count == 0


def test_start_errors(ausf, hn):
    with pytest.raises(UdmError) as ei:
        ausf.start(Supi.parse("imsi-001010000000099"), SN)
    assert ei.value.cause == "unknown-subscriber"
    with pytest.raises(SidfError) as ei2:
        ausf.start(conceal(SUPI, PROFILE_A, hn.public_key(1), key_id=5), SN)
    assert ei2.value.cause == "unknown-key-id"
    assert ausf.context_count == 0


def test_resync_flow(ausf):
    u = ue()
    for ind in range(32):
        u.sqn_array.accept((7000 << 5) | ind)  # the USIM is ahead of the home network
    ch = ausf.start(SUPI, SN)
    r = u.authenticate_5g(ch.rand, ch.autn, SN)
    assert isinstance(r, SyncFailure) and r.cause == 21
    ch2 = ausf.resync(ch.ctx_id, r.auts, SN)
    assert ch2.ctx_id != ch.ctx_id and ch2.rand != ch.rand and ch2.scheme == ch.scheme
    assert not ausf.confirm(ch.ctx_id, b"\x00" * 16).success  # old context consumed
    r2 = u.authenticate_5g(ch2.rand, ch2.autn, SN)
    assert isinstance(r2, AkaSuccess)
    res = ausf.confirm(ch2.ctx_id, r2.res_star)
    assert res.success and res.supi == SUPI and res.kseaf == r2.kseaf


def test_resync_bad_auts(ausf):
    u = ue()
    for ind in range(32):
        u.sqn_array.accept((7000 << 5) | ind)
    ch = ausf.start(SUPI, SN)
    r = u.authenticate_5g(ch.rand, ch.autn, SN)
    assert isinstance(r, SyncFailure)
    bad = r.auts[:-1] + bytes([r.auts[-1] ^ 1])
    with pytest.raises(UdmError) as ei:
        ausf.resync(ch.ctx_id, bad, SN)
    assert ei.value.cause == "resync-mac-failure"
    with pytest.raises(UdmError) as ei:
        ausf.resync(ch.ctx_id, r.auts, SN)  # context gone after a failed resync
    assert ei.value.cause == "unknown-context"
    with pytest.raises(UdmError) as ei:
        ausf.resync("nope", r.auts, SN)
    assert ei.value.cause == "unknown-context"
    with pytest.raises(ValueError):
        ausf.resync("nope", r.auts, "bad")


def test_resync_expired_context(ausf, clock):
    u = ue()
    for ind in range(32):
        u.sqn_array.accept((7000 << 5) | ind)
    ch = ausf.start(SUPI, SN)
    r = u.authenticate_5g(ch.rand, ch.autn, SN)
    clock.t += 31
    with pytest.raises(UdmError, match="unknown-context"):
        ausf.resync(ch.ctx_id, r.auts, SN)
