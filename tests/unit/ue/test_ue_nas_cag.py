"""CAG on the UE (TS 23.501 5.30.3, TS 24.501 5.5.1.2.4/5.5.1.2.5): the cell_allowed matrix, and the
admission matrix against the real AMF (member, non-member #76, CAG-only in a non-CAG cell,
emergency bypass), each with its control case."""

from __future__ import annotations

import pytest

from testbed.protocols import nas
from testbed.ue.nas import Knobs, RegistrationFailed, SendNas, UeNas, UeNasConfig
from testbed.ue.usim import Usim, UsimConfig

from .core_bridge import (
    CAG_FEMTO,
    CAG_ONLY,
    CAG_ONLY_OTHER,
    CAG_OTHER,
    MCC,
    MEMBER,
    MNC,
    NON_MEMBER,
    OPC,
    K,
    outcome,
    standard_core,
    subscribed_usim,
)

P = (MCC, MNC)
OTHER_PLMN = ("999", "99")


def _nas(allowed=(), cag_only=False, **knobs) -> UeNas:
    u = Usim(UsimConfig(supi="imsi-001010000000009", k=K, opc=OPC, scheme=0, allowed_cag_ids=frozenset(allowed),
                        cag_only=cag_only))
    return UeNas(u, UeNasConfig(knobs=Knobs(**knobs)))


# (allowed CAG IDs, CAG-only, cell PLMN, cell CAG IDs, ignore_cag_only, emergency) -> may select
MATRIX = [
    ((), False, P, (), False, False, True),                       # plain UE, non-CAG cell
    ((), False, P, (CAG_FEMTO,), False, False, False),            # plain UE, CAG cell
    ((CAG_FEMTO,), False, P, (CAG_FEMTO,), False, False, True),   # member, its CAG cell
    ((CAG_FEMTO,), False, P, (CAG_OTHER, CAG_FEMTO), False, False, True),  # one of the cell's CAG IDs
    ((CAG_FEMTO,), False, P, (CAG_OTHER,), False, False, False),  # member elsewhere
    ((CAG_FEMTO,), False, P, (), False, False, True),             # member, non-CAG cell allowed
    ((CAG_FEMTO,), True, P, (), False, False, False),             # CAG-only, non-CAG cell
    ((CAG_FEMTO,), True, P, (CAG_FEMTO,), False, False, True),    # CAG-only, its CAG cell
    ((CAG_FEMTO,), True, P, (CAG_OTHER,), False, False, False),   # CAG-only, foreign CAG cell
    ((CAG_FEMTO,), True, OTHER_PLMN, (), False, False, True),     # CAG data are per PLMN
    ((CAG_FEMTO,), True, OTHER_PLMN, (CAG_FEMTO,), False, False, False),
    ((CAG_FEMTO,), True, P, (), True, False, True),               # knob: ignore CAG rules
    ((), False, P, (CAG_FEMTO,), True, False, True),
    ((CAG_FEMTO,), True, P, (), False, True, True),               # emergency: any cell
    ((), False, P, (CAG_FEMTO,), False, True, True),
]


@pytest.mark.parametrize(("allowed", "only", "plmn", "cells", "ignore", "emergency", "expected"), MATRIX)
def test_cell_allowed_matrix(allowed, only, plmn, cells, ignore, emergency, expected) -> None:
    ue = _nas(allowed, only, ignore_cag_only=ignore)
    assert ue.cell_allowed(plmn, cells, emergency=emergency) is expected


def test_rejected_cag_ids_and_new_lists() -> None:
    ue = _nas((CAG_FEMTO, CAG_OTHER))
    ue.cag.reject_cell(P, (CAG_FEMTO,))
    assert not ue.cell_allowed(P, (CAG_FEMTO,)) and ue.cell_allowed(P, (CAG_OTHER,))
    ue.cag.reject_cell(P, ())  # #76 in a non-CAG cell: CAG-only from now on
    assert not ue.cell_allowed(P, ()) and ue.cag.cag_only(P)
    ue.apply_cag_list((nas.CagInfo(nas.PlmnId(*P), (CAG_FEMTO,), False),))  # a fresh list from the network
    assert ue.cell_allowed(P, (CAG_FEMTO,)) and ue.cell_allowed(P, ()) and not ue.cell_allowed(P, (CAG_OTHER,))
    assert ue.usim.allowed_cag_ids == {CAG_FEMTO} and not ue.usim.cag_only


@pytest.fixture
def core(tmp_path):
    c = standard_core(tmp_path)
    yield c
    c.close()


def test_member_is_accepted_in_its_cag_cell(core) -> None:
    g = core.gnb()
    ue = core.ue(MEMBER, g, usim=subscribed_usim(MEMBER))
    core.register(ue)
    assert outcome(ue) == ("registered", None)
    assert core.amf_ev("cag_accept")[0]["cell_cag_id"] == CAG_FEMTO


def test_non_member_gets_76_and_never_retries_that_cell(core) -> None:
    g = core.gnb()
    # the USIM still lists the femto's CAG (stale), the subscription does not: the AMF decides
    ue = core.ue(NON_MEMBER, g, usim={"allowed_cag_ids": {CAG_FEMTO}})
    assert ue.nas.cell_allowed(P, (CAG_FEMTO,))
    core.register(ue)
    assert outcome(ue) == ("deregistered", 76) and ue.nas.substate == "limited-service"
    assert core.amf_ev("cag_reject")[0]["reason"] == "not-in-allowed-list"
    assert ue.ev("ue.cag_rejected") == [{"cag_ids": [CAG_FEMTO], "cag_cell": True, "cag_only": False}]
    assert ue.of(RegistrationFailed)[-1] == RegistrationFailed(76, "cag-not-allowed")
    assert not ue.nas.cell_allowed(P, (CAG_FEMTO,)) and CAG_FEMTO not in ue.nas.usim.allowed_cag_ids
    assert ue.nas.cell_allowed(P, ())  # non-CAG cells are still fine
    assert not {"T3511", "T3502", "T3510"} & set(ue.timers)  # no retry timer
    n = len(ue.sent)
    core.register(ue)
    assert len(ue.sent) == n and ue.ev("ue.registration_refused")[-1]["reason"] == "cell-not-allowed"
    # the reject was integrity protected (4.4.4.2: an unprotected #76 would be discarded)
    assert ue.nas.counters["nas_unprotected_dropped"] == 0


def test_misbehaving_ue_ignoring_cag_rules_is_stopped_by_the_amf(core) -> None:
    g = core.gnb()
    ue = core.ue(NON_MEMBER, g, config=UeNasConfig(knobs=Knobs(ignore_cag_only=True)))
    assert ue.nas.cell_allowed(P, (CAG_FEMTO,))  # the knob
    core.register(ue)
    assert outcome(ue) == ("deregistered", 76) and core.amf_ev("cag_reject")
    # control: the conformant UE does not even try
    ue2 = core.ue(NON_MEMBER, g)
    core.register(ue2)
    assert not ue2.sent and ue2.ev("ue.registration_refused")


def test_cag_only_ue_in_a_non_cag_cell(core) -> None:
    open_cell = core.gnb(assoc=4, gnb_id=4, cag_ids=())
    # the USIM does not know it is CAG-only; the subscription does: #76 with the CAG information
    ue = core.ue(CAG_ONLY, open_cell, usim={"allowed_cag_ids": {CAG_FEMTO}})
    core.register(ue)
    assert outcome(ue) == ("deregistered", 76)
    assert core.amf_ev("cag_reject")[0]["reason"] == "cag-only-in-non-cag-cell"
    assert ue.ev("ue.cag_rejected")[0]["cag_cell"] is False and ue.nas.usim.cag_only
    assert not ue.nas.cell_allowed(P, ()) and ue.nas.cell_allowed(P, (CAG_FEMTO,))
    # ... and then registers in its CAG cell
    femto = core.gnb()
    core.camp(ue, femto)
    core.register(ue)
    assert outcome(ue) == ("registered", None)
    # control: a CAG-only UE that knows it does not try the open cell at all
    ue2 = core.ue(CAG_ONLY, open_cell, usim=subscribed_usim(CAG_ONLY))
    core.register(ue2)
    assert not ue2.sent
    # a CAG-only UE of another CAG is refused by the AMF in our femto (knob) and by itself otherwise
    ue3 = core.ue(CAG_ONLY_OTHER, femto, usim=subscribed_usim(CAG_ONLY_OTHER),
                  config=UeNasConfig(knobs=Knobs(ignore_cag_only=True)))
    core.register(ue3)
    assert outcome(ue3) == ("deregistered", 76)


def test_emergency_bypasses_cag_but_normal_registration_does_not(core) -> None:
    g = core.gnb()
    ue = core.ue(NON_MEMBER, g, config=UeNasConfig(knobs=Knobs(ignore_cag_only=True)))
    core.register(ue)
    assert outcome(ue) == ("deregistered", 76)  # control
    core.register(ue, "emergency")  # allowed in a cell it may not select normally
    assert outcome(ue) == ("registered", None) and ue.nas.emergency_registered
    assert core.amf_ev("cag_bypass_emergency")
    ev = [e for e in core.amf_ev("registration_accept") if e["emergency"]]
    assert ev and ev[0]["cag_ids"] is None  # no CAG information for an emergency registration


def test_unprotected_cag_reject_is_discarded(core) -> None:
    """A fake gNB injecting a plain REGISTRATION REJECT #76 must not lock the UE out of its CAG cell."""
    g = core.gnb()
    ue = core.ue(MEMBER, g, usim=subscribed_usim(MEMBER))
    g.drop_ul = True
    core.register(ue)
    fake = nas.RegistrationReject(cause=76).encode()
    core.do(ue, ue.nas.nas_received(fake))
    assert ue.nas.state == "registered-initiated" and ue.nas.cell_allowed(P, (CAG_FEMTO,))
    assert ue.nas.counters["nas_unprotected_dropped"] == 1
    # control: a plain reject with another cause is processed before security (4.4.4.2)
    out = ue.nas.nas_received(nas.RegistrationReject(cause=111).encode())
    assert ue.nas.reject_cause == 111 and any(isinstance(o, RegistrationFailed) for o in out)
    assert not any(isinstance(o, SendNas) for o in out)
