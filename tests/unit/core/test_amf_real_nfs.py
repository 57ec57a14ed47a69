"""The AMF against the real UDR/UDM/AUSF of the built-in core (not the fakes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.crypto.suci import PROFILE_A, PROFILE_B
from testbed.protocols import nas, ngap

from .scripted_ran import CAG_FEMTO, CAG_OTHER, MCC, MNC, OPC, Harness, K, ScriptedGnb, ScriptedUe

udm_mod = pytest.importorskip("testbed.core.udm")
ausf_mod = pytest.importorskip("testbed.core.ausf")
udr_mod = pytest.importorskip("testbed.core.udr")

from testbed.core.amf import Amf, AmfConfig  # noqa: E402
from testbed.core.udr.models import parse_subscriber_data  # noqa: E402

CAUSE_76 = nas.FiveGmmCause.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY


@pytest.fixture
def core(tmp_path: Path):
    store = udr_mod.SubscriberStore(tmp_path / "udr.sqlite")
    store.load(parse_subscriber_data({
        "subscribers": [
            {"supi": "imsi-001010000000001", "k": K.hex(), "opc": OPC.hex(), "allowed_cag_ids": [CAG_FEMTO],
             "msisdn": "491700000001"},
            {"supi": "imsi-001010000000002", "k": K.hex(), "opc": OPC.hex(), "allowed_cag_ids": [CAG_OTHER]},
        ],
        "femtos": [{"name": "femto1", "mcc": MCC, "mnc": MNC, "gnb_id": 1, "gnb_id_bits": 22,
                    "authorised_cag_ids": [CAG_FEMTO]}],
    }))
    keys = udm_mod.HomeNetworkKeys.generate()
    udm = udm_mod.Udm(store, keys)
    ausf = ausf_mod.Ausf(udm)
    amf = Amf(AmfConfig(mcc=MCC, mnc=MNC), ausf, udm, store)
    yield Harness(amf), keys, store
    store.close()


def _ue(keys, msin: str, scheme: int) -> ScriptedUe:
    from testbed.crypto.identity import Supi

    kid = 1 if scheme == PROFILE_A else 2
    return ScriptedUe(Supi.imsi(MCC, MNC, msin), K, OPC, scheme=scheme, hn_pub=keys.public_key(kid), key_id=kid)


@pytest.mark.parametrize("scheme", [PROFILE_A, PROFILE_B])
def test_member_registers_and_non_member_gets_76(core, scheme: int) -> None:
    h, keys, store = core
    g = h.gnb(1, 1, cag_ids=(CAG_FEMTO,))
    h.to_amf(1, g.ng_setup_request())
    assert isinstance(g.setup_result, ngap.NGSetupResponse)
    member = _ue(keys, "0000000001", scheme)
    h.register(member, g)
    assert member.registered and h.ev("registration_request")[0]["suci_scheme"] == scheme
    outsider = _ue(keys, "0000000002", scheme)
    h.register(outsider, g)
    assert outsider.reject is not None and outsider.reject.cause == CAUSE_76
    # provisioning change + refresh: the member loses the femto's CAG -> de-registered with #76
    store.set_allowed_cag("imsi-001010000000001", [CAG_OTHER])
    h.feed(h.amf.refresh_cag("imsi-001010000000001"))
    assert any(isinstance(m, nas.DeregistrationRequestUeTerminated) and m.cause == CAUSE_76 for m in member.received)


def test_femto_with_unauthorised_cag_refused_by_real_store(core) -> None:
    h, keys, store = core
    g = h.gnb(1, 1, cag_ids=(CAG_FEMTO, CAG_OTHER))
    h.to_amf(1, g.ng_setup_request())
    assert isinstance(g.setup_result, ngap.NGSetupFailure)
    assert h.ev("ng_setup_refused")[0]["unauthorised"] == [CAG_OTHER]
    rogue = ScriptedGnb(h, 2, 77, cag_ids=(CAG_FEMTO,))
    h.gnbs[2] = rogue
    h.feed(h.amf.association_up(2, "x"))
    h.to_amf(2, rogue.ng_setup_request())
    assert h.ev("ng_setup_refused")[-1]["reason"] == "unknown-femto"


def test_sync_failure_and_sidf_errors_with_real_nfs(core) -> None:
    h, keys, store = core
    g = h.gnb(1, 1, cag_ids=(CAG_FEMTO,))
    h.to_amf(1, g.ng_setup_request())
    ue = _ue(keys, "0000000001", PROFILE_A)
    ue.desync()
    h.register(ue, g)
    assert h.ev("sync_failure") and ue.registered
    bad = _ue(keys, "0000000001", PROFILE_A)
    bad.key_id = 9  # unknown home network key id
    h.register(bad, g)
    assert h.ev("suci_deconceal_failure")[0]["cause"] == "unknown-key-id"
    assert bad.reject is not None and bad.reject.cause == nas.FiveGmmCause.UE_IDENTITY_CANNOT_BE_DERIVED
