"""UDM: home network keys, SIDF (TS 33.501 6.12.5), 5G HE AV generation, resync, subscription data."""

from __future__ import annotations

import dataclasses
import json
import stat

import pytest

from testbed.core.udm import (
    HN_KEYS_FILE,
    HN_PUBLIC_FILE,
    HnKey,
    HomeNetworkKeys,
    SidfError,
    SubscriptionData,
    Udm,
    UdmError,
    deconceal_suci,
)
from testbed.core.udr import SubscriberStore, parse_subscriber_data
from testbed.crypto import keys as kdf
from testbed.crypto.aka import AkaSuccess, MacFailure, SyncFailure, UsimAka
from testbed.crypto.identity import Supi
from testbed.crypto.milenage import Milenage
from testbed.crypto.suci import (
    NULL_SCHEME,
    PROFILE_A,
    PROFILE_B,
    Suci,
    conceal,
    ecies_protect,
    generate_hn_keypair,
)
from testbed.errors import ConfigError

K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"
K2 = "fec86ba6eb707ed08905757b1bb44b8f"
OPC2 = "1006020f0a478bf6b699f15c062e42b3"
SUPI_S = "imsi-001010000000001"
NAI_S = "nai-alice@example.org"
SN = "5G:mnc001.mcc001.3gppnetwork.org"


@pytest.fixture(scope="module")
def hn() -> HomeNetworkKeys:
    return HomeNetworkKeys.generate()


def make_store(**extra) -> SubscriberStore:
    st = SubscriberStore(":memory:")
    st.load(
        parse_subscriber_data(
            {
                "subscribers": [
                    {
                        "supi": SUPI_S,
                        "k": K,
                        "opc": OPC,
                        "allowed_cag_ids": [7],
                        "cag_only": True,
                        "msisdn": "4917",
                        **extra,
                    },
                    {"supi": NAI_S, "k": K2, "opc": OPC2},
                ]
            }
        )
    )
    return st


@pytest.fixture
def udm(hn) -> Udm:
    return Udm(make_store(), hn)


def usim(k: str = K, opc: str = OPC) -> UsimAka:
    return UsimAka(Milenage(bytes.fromhex(k), opc=bytes.fromhex(opc)))


def seen_everywhere(ue: UsimAka, seq: int) -> None:
    """Make the USIM's SQN array hold SEQ ``seq`` in every IND entry (TS 33.102 Annex C.2).

    With a single entry only, a lower SEQ in another IND entry is still fresh
    (no age limit), so no synchronisation failure would happen.
    """
    for ind in range(32):
        ue.sqn_array.accept((seq << 5) | ind)


SUPI = Supi.parse(SUPI_S)
NAI = Supi.parse(NAI_S)


# ---------------------------------------------------------------------------
# Home network keys
# ---------------------------------------------------------------------------


def test_generate_profiles_and_ids(hn):
    assert hn.key_ids() == [1, 2]
    assert hn.scheme_of(1) == PROFILE_A and hn.scheme_of(2) == PROFILE_B
    pubs = hn.public_keys()
    assert [(p["key_id"], p["profile"], len(bytes.fromhex(p["public_key"]))) for p in pubs] == [
        (1, 1, 32),
        (2, 2, 33),
    ]
    assert set(hn.private_keys()) == {1, 2}
    with pytest.raises(KeyError):
        hn.scheme_of(3)
    assert "private" not in repr(hn).lower() or "key" in repr(hn)


def test_save_load_permissions(tmp_path, hn):
    priv_path, pub_path = hn.save(tmp_path / "run")
    assert priv_path.name == HN_KEYS_FILE and pub_path.name == HN_PUBLIC_FILE
    assert stat.S_IMODE(priv_path.stat().st_mode) == 0o600
    priv = json.loads(priv_path.read_text())
    pub = json.loads(pub_path.read_text())
    assert [set(e) for e in priv] == [{"key_id", "profile", "private_key"}] * 2
    assert [set(e) for e in pub] == [{"key_id", "profile", "public_key"}] * 2
    text = pub_path.read_text()
    assert "private" not in text
    for e in priv:
        assert e["private_key"] not in text
    assert not list((tmp_path / "run").glob("*.tmp"))
    # saving again over a file with wider permissions still ends at 0600
    priv_path.chmod(0o644)
    hn.save(tmp_path / "run")
    assert stat.S_IMODE(priv_path.stat().st_mode) == 0o600
    loaded = HomeNetworkKeys.load(priv_path)
    assert loaded.public_keys() == hn.public_keys()
    suci = conceal(SUPI, PROFILE_B, hn.public_key(2), key_id=2)
    assert deconceal_suci(suci, loaded) == SUPI


@pytest.mark.parametrize(
    "content, path",
    [
        ("not json", ""),
        ('{"key_id": 1}', ""),
        ("[1]", "0"),
        ('[{"key_id": 0, "profile": 1, "private_key": "00"}]', "0.key_id"),
        ('[{"key_id": 1, "profile": 3, "private_key": "00"}]', "0.profile"),
        ('[{"key_id": 1, "profile": 1, "private_key": "abcd"}]', "0.private_key"),
        ('[{"key_id": 1, "profile": 2, "private_key": "' + "00" * 32 + '"}]', "0.private_key"),
        ('[{"key_id": 1, "profile": 1, "private_key": "' + "11" * 32 + '", "x": 1}]', "0.x"),
    ],
)
def test_load_errors(tmp_path, content, path):
    p = tmp_path / HN_KEYS_FILE
    p.write_text(content)
    with pytest.raises(ConfigError) as ei:
        HomeNetworkKeys.load(p)
    assert ei.value.file == str(p) and ei.value.path == path


def test_load_duplicate_id_and_missing(tmp_path):
    raw = "11" * 32
    p = tmp_path / "k.json"
    p.write_text(json.dumps([{"key_id": 1, "profile": 1, "private_key": raw}] * 2))
    with pytest.raises(ConfigError, match="duplicate"):
        HomeNetworkKeys.load(p)
    with pytest.raises(ConfigError, match="cannot read"):
        HomeNetworkKeys.load(tmp_path / "nope.json")


def test_constructor_validates():
    a, _ = generate_hn_keypair(PROFILE_A)
    with pytest.raises(ValueError):
        HomeNetworkKeys([HnKey(0, PROFILE_A, a)])
    with pytest.raises(ValueError):
        HomeNetworkKeys([HnKey(1, PROFILE_A, a), HnKey(1, PROFILE_A, a)])


# ---------------------------------------------------------------------------
# SIDF
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("supi", [SUPI, NAI], ids=["imsi", "nai"])
@pytest.mark.parametrize("scheme, key_id", [(PROFILE_A, 1), (PROFILE_B, 2), (NULL_SCHEME, 0)])
def test_sidf_roundtrip(hn, supi, scheme, key_id):
    suci = conceal(supi, scheme, hn.public_key(key_id) if key_id else None, key_id=key_id)
    assert deconceal_suci(suci, hn) == supi
    if scheme != NULL_SCHEME:
        assert supi.value.encode() not in suci.to_nas_bytes()  # control: really concealed


def _reason(fn) -> str:
    with pytest.raises(SidfError) as ei:
        fn()
    assert isinstance(ei.value, UdmError) and ei.value.cause == ei.value.reason
    return ei.value.cause


def test_sidf_unknown_key_id(hn):
    suci = conceal(SUPI, PROFILE_A, hn.public_key(1), key_id=9)
    assert _reason(lambda: deconceal_suci(suci, hn)) == "unknown-key-id"


def test_sidf_scheme_mismatch(hn):
    # Profile A SUCI that claims key id 2 (registered for Profile B), and vice versa
    a = conceal(SUPI, PROFILE_A, hn.public_key(1), key_id=2)
    assert _reason(lambda: deconceal_suci(a, hn)) == "scheme-mismatch"
    b = conceal(SUPI, PROFILE_B, hn.public_key(2), key_id=1)
    assert _reason(lambda: deconceal_suci(b, hn)) == "scheme-mismatch"


@pytest.mark.parametrize("scheme, key_id", [(PROFILE_A, 1), (PROFILE_B, 2)])
@pytest.mark.parametrize("where", [-1, -9, 5])  # MAC tag, ciphertext, ephemeral key
def test_sidf_corrupted(hn, scheme, key_id, where):
    suci = conceal(SUPI, scheme, hn.public_key(key_id), key_id=key_id)
    out = bytearray(suci.output)
    out[where] ^= 0x01
    bad = dataclasses.replace(suci, output=bytes(out))
    assert _reason(lambda: deconceal_suci(bad, hn)) == "mac-failure"


def test_sidf_wrong_private_key(hn):
    other = HomeNetworkKeys.generate()
    suci = conceal(SUPI, PROFILE_A, other.public_key(1), key_id=1)
    assert _reason(lambda: deconceal_suci(suci, hn)) == "mac-failure"


def test_sidf_invalid_supi(hn):
    out = ecies_protect(PROFILE_A, hn.public_key(1), b"\xab\xcd")  # not BCD
    suci = Suci("001", "01", "0000", PROFILE_A, 1, out)
    assert _reason(lambda: deconceal_suci(suci, hn)) == "invalid-supi"


def test_sidf_unsupported_scheme(hn):
    suci = Suci("001", "01", "0000", 3, 1, b"\x01" * 50)
    assert _reason(lambda: deconceal_suci(suci, hn)) == "unsupported-scheme"


def test_sidf_null_scheme_policy(hn):
    null = conceal(SUPI, NULL_SCHEME)
    assert deconceal_suci(null, hn) == SUPI
    assert _reason(lambda: deconceal_suci(null, hn, allow_null_scheme=False)) == "null-scheme-not-allowed"
    # control: ECIES SUCIs still accepted under the strict policy
    a = conceal(SUPI, PROFILE_A, hn.public_key(1), key_id=1)
    assert deconceal_suci(a, hn, allow_null_scheme=False) == SUPI


# ---------------------------------------------------------------------------
# Udm
# ---------------------------------------------------------------------------


def test_resolve_identity(udm, hn):
    assert udm.resolve_identity(SUPI) == (SUPI, -1)
    a = conceal(SUPI, PROFILE_A, hn.public_key(1), key_id=1)
    assert udm.resolve_identity(a) == (SUPI, PROFILE_A)
    b = conceal(NAI, PROFILE_B, hn.public_key(2), key_id=2)
    assert udm.resolve_identity(b) == (NAI, PROFILE_B)
    assert udm.resolve_identity(conceal(SUPI, NULL_SCHEME)) == (SUPI, NULL_SCHEME)
    unknown = conceal(Supi.parse("imsi-001010000000099"), PROFILE_A, hn.public_key(1), key_id=1)
    with pytest.raises(UdmError) as ei:
        udm.resolve_identity(unknown)
    assert ei.value.cause == "unknown-subscriber" and not isinstance(ei.value, SidfError)
    with pytest.raises(TypeError):
        udm.resolve_identity("imsi-001010000000001")  # type: ignore[arg-type]


def test_resolve_identity_null_policy(hn):
    strict = Udm(make_store(), hn, allow_null_scheme=False)
    with pytest.raises(SidfError) as ei:
        strict.resolve_identity(conceal(SUPI, NULL_SCHEME))
    assert ei.value.cause == "null-scheme-not-allowed"


@pytest.mark.parametrize("supi, k, opc", [(SUPI, K, OPC), (NAI, K2, OPC2)], ids=["imsi", "nai"])
def test_auth_data_accepted_by_usim(udm, supi, k, opc):
    ue = usim(k, opc)
    for _ in range(3):
        av = udm.generate_auth_data(supi, SN)
        r = ue.authenticate_5g(av.rand, av.autn, SN)
        assert isinstance(r, AkaSuccess)
        assert r.res_star == av.xres_star and r.kausf == av.kausf
    # control: a USIM with another key rejects the vector
    av = udm.generate_auth_data(supi, SN)
    other = usim(K2, OPC2) if k == K else usim(K, OPC)
    assert isinstance(other.authenticate_5g(av.rand, av.autn, SN), MacFailure)
    # the serving network name is bound into RES*
    av = udm.generate_auth_data(supi, SN)
    r = ue.authenticate_5g(av.rand, av.autn, "5G:mnc002.mcc001.3gppnetwork.org")
    assert isinstance(r, AkaSuccess) and r.res_star != av.xres_star


def test_auth_data_fixed_rand_and_sqn_advances(udm):
    rand = bytes(range(16))
    a = udm.generate_auth_data(SUPI, SN, rand)
    b = udm.generate_auth_data(SUPI, SN, rand)
    assert a.rand == b.rand == rand and a.autn != b.autn  # new SQN each time
    assert udm.store.get(SUPI_S).sqn == (2 << 5) | 2


def test_auth_data_errors(udm):
    with pytest.raises(UdmError) as ei:
        udm.generate_auth_data(Supi.parse("imsi-001010000000099"), SN)
    assert ei.value.cause == "unknown-subscriber"
    for bad in ("5G:mnc01.mcc001.3gppnetwork.org", "mnc001.mcc001.3gppnetwork.org", "", b"5G:x"):
        with pytest.raises(ValueError):
            udm.generate_auth_data(SUPI, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        udm.generate_auth_data(SUPI, SN, b"short")
    assert udm.store.get(SUPI_S).sqn == 0  # no SQN consumed by rejected requests


def test_milenage_cache_follows_key_change(hn):
    st = make_store()
    udm = Udm(st, hn)
    udm.generate_auth_data(SUPI, SN)
    st.load(parse_subscriber_data({"subscribers": [{"supi": SUPI_S, "k": K2, "opc": OPC2}]}))
    av = udm.generate_auth_data(SUPI, SN)
    assert isinstance(usim(K2, OPC2).authenticate_5g(av.rand, av.autn, SN), AkaSuccess)


def test_resync_then_next_vector_accepted(udm):
    ue = usim()
    seen_everywhere(ue, 5000)  # the USIM has seen much higher SQNs (e.g. from another core)
    av = udm.generate_auth_data(SUPI, SN)
    r = ue.authenticate_5g(av.rand, av.autn, SN)
    assert isinstance(r, SyncFailure)
    udm.resync(SUPI, av.rand, r.auts)
    av2 = udm.generate_auth_data(SUPI, SN)
    r2 = ue.authenticate_5g(av2.rand, av2.autn, SN)
    assert isinstance(r2, AkaSuccess) and r2.res_star == av2.xres_star
    assert r2.sqn >> 5 == 5001


def test_resync_bad_auts(udm):
    ue = usim()
    seen_everywhere(ue, 5000)
    av = udm.generate_auth_data(SUPI, SN)
    r = ue.authenticate_5g(av.rand, av.autn, SN)
    assert isinstance(r, SyncFailure)
    before = udm.store.get(SUPI_S).sqn
    bad = bytearray(r.auts)
    bad[-1] ^= 0x80
    other_rand = bytes(16)
    for auts, rand in (
        (bytes(bad), av.rand),
        (r.auts, other_rand),
        (r.auts[:13], av.rand),
        (r.auts, b"\x00"),
    ):
        with pytest.raises(UdmError) as ei:
            udm.resync(SUPI, rand, auts)
        assert ei.value.cause == "resync-mac-failure"
    assert udm.store.get(SUPI_S).sqn == before
    # AUTS of another subscriber's key fails too
    ue2 = usim(K2, OPC2)
    seen_everywhere(ue2, 9000)
    av2 = udm.generate_auth_data(NAI, SN)
    r2 = ue2.authenticate_5g(av2.rand, av2.autn, SN)
    with pytest.raises(UdmError, match="resync-mac-failure"):
        udm.resync(SUPI, av2.rand, r2.auts)
    # control: the genuine AUTS works
    udm.resync(SUPI, av.rand, r.auts)
    assert udm.store.get(SUPI_S).sqn >> 5 == 5000


def test_subscription(udm):
    sd = udm.subscription(SUPI)
    assert sd == SubscriptionData(SUPI_S, frozenset({7}), True, ((1, None),), ("internet",), "4917")
    with pytest.raises(dataclasses.FrozenInstanceError):
        sd.cag_only = False  # type: ignore[misc]
    udm.store.set_allowed_cag(SUPI_S, [8], cag_only=False)
    assert udm.subscription(SUPI).allowed_cag_ids == frozenset({8})
    with pytest.raises(UdmError) as ei:
        udm.subscription(Supi.parse("imsi-001010000000099"))
    assert ei.value.cause == "unknown-subscriber"


def test_parse_supi_mnc_len(hn):
    assert Udm(make_store(), hn, mnc_len=3).parse_supi(SUPI_S).mnc == "010"
    with pytest.raises(ValueError):
        Udm(make_store(), hn, mnc_len=4)


def test_kdf_chain_matches_ue(udm):
    """KAUSF from the UDM gives the same KSEAF/KAMF as the UE derives (TS 33.501 Annex A)."""
    av = udm.generate_auth_data(SUPI, SN)
    r = usim().authenticate_5g(av.rand, av.autn, SN)
    assert isinstance(r, AkaSuccess)
    kseaf = kdf.kseaf(av.kausf, SN)
    assert kseaf == r.kseaf and kdf.kamf(kseaf, SUPI.value) == r.kamf(SUPI.value)
