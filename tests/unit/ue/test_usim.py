"""Software USIM: SUCI schemes against the core's SIDF, AKA freshness and re-synchronisation against
the core's UDM, and load_usims from a materialised run directory."""

from __future__ import annotations

import json

import pytest

from testbed.core.config import CoreSettings
from testbed.core.provision import materialise
from testbed.core.udm import Udm, UdmError, deconceal_suci
from testbed.core.udr import SubscriberStore, parse_subscriber_data
from testbed.crypto.aka import AkaSuccess, MacFailure, SeparationBitFailure, SyncFailure, generate_5g_he_av
from testbed.crypto.keys import serving_network_name
from testbed.crypto.milenage import Milenage
from testbed.crypto.milenage import opc as compute_opc
from testbed.errors import ConfigError
from testbed.ue.usim import Usim, UsimConfig, load_usims

from .core_bridge import OPC, K, hn_keys

SUPI = "imsi-001010000000042"
SN = serving_network_name("001", "01")


def _usim(scheme: int = 1, **kw) -> Usim:
    keys = hn_keys()
    kid = 0 if scheme == 0 else next(k for k in keys.key_ids() if keys.scheme_of(k) == scheme)
    return Usim(UsimConfig(supi=SUPI, k=K, opc=OPC, scheme=scheme,
                           hn_public_key=None if scheme == 0 else keys.public_key(kid), hn_key_id=kid, **kw))


@pytest.mark.parametrize("scheme", [0, 1, 2])
def test_suci_deconceals_with_the_core_keys(scheme: int) -> None:
    u = _usim(scheme, routing_indicator="12")
    s1, s2 = u.suci(), u.suci()
    assert s1.scheme == scheme and s1.routing_indicator == "12"
    assert deconceal_suci(s1, hn_keys()).to_string() == SUPI
    assert deconceal_suci(s2, hn_keys()).to_string() == SUPI
    msin_bcd = bytes.fromhex("0000000024f0")[:5]  # "0000000042" in BCD
    if scheme == 0:
        assert s1 == s2 and s1.msin == "0000000042" and s1.key_id == 0  # control: the MSIN is in clear
        assert msin_bcd in s1.to_nas_bytes()
    else:
        assert s1.output != s2.output and s1.ephemeral_public != s2.ephemeral_public  # fresh key per call
        assert msin_bcd not in s1.to_nas_bytes()


def test_forced_null_scheme_and_wrong_key_id_fails_at_the_sidf() -> None:
    u = _usim(1)
    assert u.suci(0).scheme == 0 and u.suci(0).msin == "0000000042"
    wrong = Usim(UsimConfig(supi=SUPI, k=K, opc=OPC, scheme=1, hn_public_key=hn_keys().public_key(1), hn_key_id=9))
    with pytest.raises(UdmError):
        deconceal_suci(wrong.suci(), hn_keys())


def test_config_checks_and_repr_hides_keys() -> None:
    with pytest.raises(ValueError):
        UsimConfig(supi=SUPI, k=K, opc=OPC, scheme=1, hn_public_key=None)
    with pytest.raises(ValueError):
        UsimConfig(supi=SUPI, k=K[:8], opc=OPC, scheme=0)
    c = UsimConfig(supi=SUPI, k=K, opc=OPC, scheme=0)
    assert K.hex() not in repr(c) and OPC.hex() not in repr(c) and "k=" not in repr(c)
    assert Usim(c).imei == "353490069873319"  # Luhn check digit of 35349006987331 (TS 23.003 6.2.1)


def _core(tmp_path):
    store = SubscriberStore(tmp_path / "udr.sqlite")
    store.load(parse_subscriber_data({"subscribers": [{"supi": SUPI, "k": K.hex(), "opc": OPC.hex()}]}))
    return store, Udm(store, hn_keys())


def test_authentication_with_udm_vectors_and_freshness(tmp_path) -> None:
    store, udm = _core(tmp_path)
    u = _usim(1)
    supi = u.supi
    av = udm.generate_auth_data(supi, SN)
    r = u.authenticate(av.rand, av.autn, SN)
    assert isinstance(r, AkaSuccess) and r.res_star == av.xres_star
    # the same AUTN again: SQN not fresh -> synch failure with AUTS (TS 33.102 Annex C.2.2)
    again = u.authenticate(av.rand, av.autn, SN)
    assert isinstance(again, SyncFailure) and len(again.auts) == 14
    # control: the next vector is fresh
    assert isinstance(u.authenticate(*_ra(udm.generate_auth_data(supi, SN)), SN), AkaSuccess)
    # a corrupted MAC
    av3 = udm.generate_auth_data(supi, SN)
    bad = av3.autn[:-1] + bytes([av3.autn[-1] ^ 1])
    assert isinstance(u.authenticate(av3.rand, bad, SN), MacFailure)
    store.close()


def _ra(av):
    return av.rand, av.autn


def test_resync_auts_is_accepted_by_the_udm(tmp_path) -> None:
    store, udm = _core(tmp_path)
    u = _usim(1)
    arr = u.aka.sqn_array
    for ind in range(1 << arr.ind_bits):  # the USIM is far ahead of the home network
        arr.accept(((1 << 20) << arr.ind_bits) | ind)
    av = udm.generate_auth_data(u.supi, SN)
    r = u.authenticate(av.rand, av.autn, SN)
    assert isinstance(r, SyncFailure)
    with pytest.raises(UdmError):  # control: a corrupted AUTS is refused, SQN unchanged
        udm.resync(u.supi, av.rand, r.auts[:-1] + bytes([r.auts[-1] ^ 1]))
    assert isinstance(u.authenticate(*_ra(udm.generate_auth_data(u.supi, SN)), SN), SyncFailure)
    av2 = udm.generate_auth_data(u.supi, SN)
    r2 = u.authenticate(av2.rand, av2.autn, SN)
    assert isinstance(r2, SyncFailure)
    udm.resync(u.supi, av2.rand, r2.auts)
    ok = u.authenticate(*_ra(udm.generate_auth_data(u.supi, SN)), SN)
    assert isinstance(ok, AkaSuccess)
    assert u.auts(av2.rand) != r2.auts  # SQN_MS moved on
    store.close()


def test_separation_bit_failure() -> None:
    u = _usim(0)
    he = generate_5g_he_av(Milenage(K, opc=OPC), 1 << 5, b"\x00\x00", SN, require_separation_bit=False)
    assert isinstance(u.authenticate(he.rand, he.autn, SN), SeparationBitFailure)


def test_load_usims_from_a_materialised_run(tmp_path) -> None:
    run = tmp_path / "run"
    settings = CoreSettings(
        subscribers=[{"supi": "imsi-001010000000001", "allowed_cag_ids": [7], "cag_only": True, "msisdn": "4917"},
                     {"supi": "imsi-001010000000002"},
                     {"supi": "imsi-001010000000003", "k": K.hex(), "op": OPC.hex()}],
        ranges=[{"first_supi": "imsi-001010000100000", "count": 3, "allowed_cag_ids": [9]}])
    path = materialise(settings, run / "core")
    hn_keys().save(run / "core")
    usims = load_usims(run)
    assert [u.supi for u in usims] == ["imsi-001010000000001", "imsi-001010000000002", "imsi-001010000000003",
                                       "imsi-001010000100000", "imsi-001010000100001", "imsi-001010000100002"]
    data = __import__("yaml").safe_load(path.read_text())
    first = usims[0]
    assert first.k.hex() == data["subscribers"][0]["k"] and first.opc.hex() == data["subscribers"][0]["opc"]
    assert first.allowed_cag_ids == {7} and first.cag_only and first.scheme == 1
    assert first.hn_key_id == 1 and first.hn_public_key == hn_keys().public_key(1)
    assert usims[2].opc == compute_opc(K, OPC)  # OP given: OPc derived (TS 35.206 4.1)
    assert usims[3].k == usims[5].k and usims[4].allowed_cag_ids == {9}
    # Profile B picks the key of that profile; the null scheme needs none
    b = load_usims(run, scheme=2, supis=["imsi-001010000100001", "imsi-001010000000002"])
    assert [u.supi for u in b] == ["imsi-001010000100001", "imsi-001010000000002"]
    assert b[0].hn_key_id == 2 and b[0].hn_public_key == hn_keys().public_key(2)
    assert load_usims(run, scheme=0)[0].hn_public_key is None
    # the loaded USIM conceals to a SUCI the core's SIDF resolves
    assert deconceal_suci(Usim(b[0]).suci(), hn_keys()).to_string() == "imsi-001010000100001"
    with pytest.raises(ConfigError):
        load_usims(run, supis=["imsi-001010000200000"])
    (run / "core" / "hn-public.json").write_text(json.dumps([{"key_id": 1, "profile": 1, "public_key": "00"}]))
    with pytest.raises(ConfigError):
        load_usims(run, scheme=2)
