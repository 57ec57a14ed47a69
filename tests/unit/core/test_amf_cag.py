"""CAG admission (TS 23.501 5.30.3, TS 24.501 5.5.1.2.5 #76): the pure decision and the AMF flows."""

from __future__ import annotations

import itertools

import pytest

from testbed.core.amf import CagDecision, check_cag_access
from testbed.protocols import nas, ngap

from .scripted_ran import CAG_FEMTO, CAG_OTHER, NAS_PLMN, Env

CAUSE_76 = nas.FiveGmmCause.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY


# --------------------------------------------------------------------------- pure function

@pytest.mark.parametrize("cells,allowed,cag_only,emergency,expected", [
    ((5,), {5}, False, False, CagDecision(True, "member", 5)),
    ((4, 5), {5, 9}, True, False, CagDecision(True, "member", 5)),
    ((5,), {6}, False, False, CagDecision(False, "not-in-allowed-list")),
    ((5,), set(), False, False, CagDecision(False, "not-in-allowed-list")),
    ((), set(), True, False, CagDecision(False, "cag-only-in-non-cag-cell")),
    ((), {5}, True, False, CagDecision(False, "cag-only-in-non-cag-cell")),
    ((), {5}, False, False, CagDecision(True, "non-cag-cell")),
    ((), set(), False, False, CagDecision(True, "non-cag-cell")),
    ((5,), {6}, True, True, CagDecision(True, "emergency-bypass")),
    ((), set(), True, True, CagDecision(True, "emergency-bypass")),
])
def test_check_cag_access(cells, allowed, cag_only, emergency, expected) -> None:
    assert check_cag_access(cells, allowed, cag_only, emergency) == expected


def test_check_cag_access_exhaustive_rule() -> None:
    """For every small combination: allowed iff emergency, or (CAG cell and overlap), or
    (non-CAG cell and not CAG-only)."""
    ids = (1, 2, 3)
    subsets = [frozenset(c) for n in range(4) for c in itertools.combinations(ids, n)]
    for cells, allowed, cag_only, emergency in itertools.product(subsets, subsets, (False, True), (False, True)):
        d = check_cag_access(sorted(cells), allowed, cag_only, emergency)
        want = emergency or (bool(cells & allowed) if cells else not cag_only)
        assert d.allowed == want
        assert (d.matched is not None) == (not emergency and bool(cells & allowed))


# --------------------------------------------------------------------------- AMF flows

def test_member_in_cag_cell_is_accepted() -> None:
    env = Env()
    g = env.femto()
    ue = env.ue(allowed_cag_ids=(CAG_FEMTO,))
    env.h.register(ue, g)
    assert ue.registered
    (ev,) = env.h.ev("cag_accept")
    assert ev["cell_cag_id"] == CAG_FEMTO and ev["reason"] == "member"


def test_non_member_in_cag_cell_gets_76_with_cag_information_list() -> None:
    env = Env()
    g = env.femto()
    ue = env.ue(allowed_cag_ids=(CAG_OTHER,))
    env.h.register(ue, g)
    assert not ue.registered and ue.reject is not None and ue.reject.cause == CAUSE_76
    assert ue.reject.cag_information_list == (nas.CagInfo(NAS_PLMN, (CAG_OTHER,), False),)
    (ev,) = env.h.ev("cag_reject")
    assert ev == {"amf_ue_ngap_id": ev["amf_ue_ngap_id"], "supi": ue.supi.to_string(),
                  "cell_cag_ids": [CAG_FEMTO], "reason": "not-in-allowed-list"}
    # the reject was integrity protected (NAS security was up) and the N2 connection released
    assert env.h.ev("registration_reject")[0]["protected"] is True
    assert ue.received_plain_after_security == [] and ue.mac_failures == 0
    assert any(isinstance(m, ngap.UEContextReleaseCommand) for m in g.inbox)
    assert env.amf.ue_contexts() == [] and not env.h.ev("registration_accept")


def test_non_member_without_any_cag_subscription_gets_76() -> None:
    env = Env()
    g = env.femto()
    ue = env.ue()
    env.h.register(ue, g)
    assert ue.reject is not None and ue.reject.cause == CAUSE_76 and ue.reject.cag_information_list is None


def test_cag_only_ue_in_non_cag_cell_gets_76_and_control_in_cag_cell() -> None:
    env = Env()
    macro = env.h.setup(1, 1)  # non-CAG cell
    ue = env.ue(allowed_cag_ids=(CAG_FEMTO,), cag_only=True)
    env.h.register(ue, macro)
    assert ue.reject is not None and ue.reject.cause == CAUSE_76
    assert env.h.ev("cag_reject")[0]["reason"] == "cag-only-in-non-cag-cell"
    assert ue.reject.cag_information_list == (nas.CagInfo(NAS_PLMN, (CAG_FEMTO,), True),)
    femto = env.femto(assoc=2, gnb_id=2)
    ue2 = env.ue(allowed_cag_ids=(CAG_FEMTO,), cag_only=True)
    env.h.register(ue2, femto)
    assert ue2.registered


def test_normal_ue_in_non_cag_cell_is_accepted() -> None:
    env = Env()
    macro = env.h.setup(1, 1)
    ue = env.ue(allowed_cag_ids=(CAG_FEMTO,))
    env.h.register(ue, macro)
    assert ue.registered and env.h.ev("cag_accept")[0]["reason"] == "non-cag-cell"


def test_emergency_registration_bypasses_cag() -> None:
    env = Env()
    g = env.femto()
    ue = env.ue(allowed_cag_ids=(CAG_OTHER,))  # non-member
    env.h.register(ue, g, nas.RegistrationType.EMERGENCY)
    assert ue.registered and ue.accept is not None and ue.accept.result.emergency_registered
    assert env.h.ev("cag_bypass_emergency")[0]["cell_cag_ids"] == [CAG_FEMTO]
    assert not env.h.ev("cag_reject")
    ics = next(m for m in g.inbox if isinstance(m, ngap.InitialContextSetupRequest))
    assert ics.mobility_restriction is not None and ics.mobility_restriction.allowed_cag == ()
    assert ue.accept.cag_information_list is None


def test_cell_cag_id_not_announced_at_ng_setup_is_rejected() -> None:
    env = Env()
    g = env.femto()  # announced CAG_FEMTO only
    ue = env.ue(allowed_cag_ids=(CAG_OTHER,))
    env.h.register(ue, g, cag_ids=(CAG_OTHER,))  # the femto claims another CAG for this UE
    (ev,) = env.h.ev("cag_id_not_announced")
    assert ev["unannounced"] == [CAG_OTHER] and ev["announced"] == [CAG_FEMTO]
    assert ue.reject is not None and ue.reject.cause == CAUSE_76
    assert env.h.ev("cag_reject")[0]["reason"] == "cag-id-not-announced"


def test_femto_omitting_the_cell_cag_ids_cannot_open_the_cell() -> None:
    env = Env()
    g = env.femto()
    ue = env.ue()  # no CAG subscription
    env.h.register(ue, g, cag_ids=None)
    assert env.h.ev("cag_ids_missing")[0]["assumed"] == [CAG_FEMTO]
    assert ue.reject is not None and ue.reject.cause == CAUSE_76


def test_non_cag_gnb_sending_cag_ids_is_treated_as_not_announced() -> None:
    env = Env()
    g = env.h.setup(1, 1)
    ue = env.ue(allowed_cag_ids=(CAG_FEMTO,))
    env.h.register(ue, g, cag_ids=(CAG_FEMTO,))
    assert env.h.ev("cag_id_not_announced") and ue.reject is not None


def test_refresh_cag_sends_configuration_update_when_still_allowed() -> None:
    env = Env()
    g = env.femto()
    ue = env.ue(allowed_cag_ids=(CAG_FEMTO,))
    env.h.register(ue, g)
    env.udm.subscribers[ue.supi.to_string()].allowed_cag_ids = frozenset({CAG_FEMTO, 77})
    env.h.clear()
    env.h.feed(env.amf.refresh_cag(ue.supi.to_string()))
    cuc = [m for m in ue.received if isinstance(m, nas.ConfigurationUpdateCommand)]
    assert cuc and cuc[0].cag_information_list == (nas.CagInfo(NAS_PLMN, (77, CAG_FEMTO), False),)
    assert ue.mac_failures == 0 and ue.received_plain_after_security == []  # protected (Annex I.4)
    assert env.h.ev("cag_update") and env.h.ev("configuration_update_complete")
    assert ue.registered


def test_refresh_cag_deregisters_with_76_when_the_cell_is_no_longer_allowed() -> None:
    env = Env()
    g = env.femto()
    ue = env.ue(allowed_cag_ids=(CAG_FEMTO,))
    env.h.register(ue, g)
    env.udm.subscribers[ue.supi.to_string()].allowed_cag_ids = frozenset({CAG_OTHER})
    env.h.clear()
    env.h.feed(env.amf.refresh_cag(ue.supi.to_string()))
    dr = [m for m in ue.received if isinstance(m, nas.DeregistrationRequestUeTerminated)]
    assert dr and dr[0].cause == CAUSE_76
    assert dr[0].cag_information_list == (nas.CagInfo(NAS_PLMN, (CAG_OTHER,), False),)
    assert env.h.ev("cag_reject")[0]["reason"] == "not-in-allowed-list"
    assert env.h.ev("deregistration_complete") and env.amf.ue_contexts() == []


def test_refresh_cag_for_an_idle_ue_is_deferred_to_its_next_access() -> None:
    env = Env()
    g = env.femto()
    ue = env.ue(allowed_cag_ids=(CAG_FEMTO,))
    env.h.register(ue, g)
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "user-inactivity")))
    env.udm.subscribers[ue.supi.to_string()].allowed_cag_ids = frozenset()
    env.h.feed(env.amf.refresh_cag(ue.supi.to_string()))
    assert env.h.ev("cag_refresh_deferred")
    env.h.clear()
    g.connect(ue, ue.service_request())
    assert env.h.ev("cag_reject")[0]["procedure"] == "service"
    sr = [m for m in ue.received if isinstance(m, nas.ServiceReject)]
    assert sr and sr[0].cause == CAUSE_76
