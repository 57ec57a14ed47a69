"""5GMM timers of UeNas against the real core: T3510 abort and the attempt counter (T3511, T3502),
T3521 retransmission, radio link loss during procedures, stale expiries."""

from __future__ import annotations

import pytest

from testbed.protocols import nas
from testbed.ue.nas import Deregistered, RegistrationFailed, ReleaseConnection, UeNasConfig

from .core_bridge import CAG_FEMTO, MCC, MEMBER, MNC, outcome, standard_core, subscribed_usim


@pytest.fixture
def core(tmp_path):
    c = standard_core(tmp_path)
    yield c
    c.close()


def _ue(core, g, **cfg):
    return core.ue(MEMBER, g, usim=subscribed_usim(MEMBER), config=UeNasConfig(**cfg))


def test_t3510_abort_retry_and_t3502(core) -> None:
    g = core.gnb()
    ue = _ue(core, g)
    g.drop_ul = True  # the network never hears the UE
    core.register(ue)
    assert ue.timers["T3510"] == 15.0 and ue.nas.state == "registered-initiated"
    sucis = set()
    for attempt in range(1, 6):
        sucis.add(nas.decode(ue.sent[-1].pdu).mobile_identity.output)
        core.fire_ue(ue, "T3510")  # abort: local release, attempt counter (5.5.1.2.7 c)
        assert ue.of(ReleaseConnection)[-1].reason == "T3510" and ue.nas.cm_state == "idle"
        assert ue.nas.attempt_counter == attempt and ue.nas.state == "deregistered"
        assert ue.of(RegistrationFailed)[-1].reason == "T3510"
        if attempt < 5:
            assert ue.timers == {"T3511": 10.0}
            core.fire_ue(ue, "T3511")  # registration again, on a new connection, with a fresh SUCI
            assert ue.sent[-1].initial and ue.nas.state == "registered-initiated"
    assert ue.timers == {"T3502": 720.0} and len(sucis) == 5
    assert len([s for s in ue.sent if s.initial]) == 5
    g.drop_ul = False
    core.fire_ue(ue, "T3502")
    assert outcome(ue) == ("registered", None) and ue.nas.attempt_counter == 0


def test_connection_loss_during_registration_is_an_abnormal_case(core) -> None:
    g = core.gnb()
    ue = _ue(core, g)
    g.drop_ul = True
    core.register(ue)
    core.do(ue, ue.nas.connection_released("radio-link-failure"))
    assert ue.nas.state == "deregistered" and "T3511" in ue.timers and "T3510" not in ue.timers
    assert ue.of(RegistrationFailed)[-1].reason == "connection-radio-link-failure"
    # control: after registration a release only starts T3512
    g.drop_ul = False
    core.fire_ue(ue, "T3511")
    assert outcome(ue) == ("registered", None)
    core.release(ue)
    assert ue.nas.registered and set(ue.timers) == {"T3512"}


def test_stale_timer_expiry_is_ignored(core) -> None:
    g = core.gnb()
    ue = _ue(core, g)
    core.register(ue)
    assert ue.nas.timer_expired("T3510") == [] and ue.nas.timer_expired("T3511") == []
    assert outcome(ue) == ("registered", None)


def test_t3521_retransmission_and_local_deregistration(core) -> None:
    g = core.gnb()
    ue = _ue(core, g)
    core.register(ue)
    g.drop_ul = True
    core.do(ue, ue.nas.deregister())
    assert ue.nas.state == "deregistered-initiated" and ue.timers["T3521"] == 15.0
    for _ in range(4):
        core.fire_ue(ue, "T3521")
    assert ue.nas.counters["retransmissions"] == 4 and ue.nas.state == "deregistered-initiated"
    dereg = ue.sent[-5:]
    assert len({s.pdu for s in dereg}) == 5  # new NAS COUNT each time
    core.fire_ue(ue, "T3521")  # fifth expiry (5.5.2.2.6 b)
    assert ue.nas.state == "deregistered" and ue.of(Deregistered)[-1].reason == "T3521"
    # control: with the network reachable the ACCEPT ends it before any expiry
    g.drop_ul = False
    core.register(ue)
    core.do(ue, ue.nas.deregister())
    assert ue.of(Deregistered)[-1].reason == "ue-initiated" and "T3521" not in ue.timers


def test_t3520_after_authentication_failure(core) -> None:
    g = core.gnb()
    ue = core.ue(MEMBER, g, usim={**subscribed_usim(MEMBER), "k": bytes(16)})
    g.drop_ul = False
    g.mitm_ul = None
    # make the AMF not answer the AUTHENTICATION FAILURE: drop uplink once it arrives at the UE
    g.mitm_dl = lambda pdu: (setattr(g, "drop_ul", True), pdu)[1]
    core.register(ue)
    assert ue.ev("ue.auth_failure")[0]["cause"] == 20 and "T3520" in ue.timers
    core.fire_ue(ue, "T3520")
    assert ue.ev("ue.network_auth_failed") and ue.of(ReleaseConnection)[-1].reason == "T3520"


def test_timer_durations_are_configurable(core) -> None:
    g = core.gnb()
    ue = _ue(core, g, timers={"T3510": 1.5})
    g.drop_ul = True
    core.register(ue)
    assert ue.timers["T3510"] == 1.5


@pytest.mark.parametrize(("cause", "state", "timers", "usim_invalid", "guti_kept"), [
    (3, "deregistered", set(), True, False),          # illegal UE: USIM invalid for 5GS
    (7, "deregistered", set(), True, False),
    (11, "deregistered", set(), False, False),        # PLMN not allowed: forbidden, no retry
    (12, "deregistered", set(), False, False),
    (15, "deregistered", set(), False, True),
    (22, "deregistered", {"T3346"}, False, True),     # congestion: back-off, then retry
    (62, "deregistered", set(), False, True),
    (111, "deregistered", {"T3511"}, False, True),    # abnormal: attempt counter, T3511
])
def test_registration_reject_causes(core, cause, state, timers, usim_invalid, guti_kept) -> None:
    """5.5.1.2.5 per cause, with a plain REGISTRATION REJECT before security (accepted, 4.4.4.2)."""
    g = core.gnb()
    ue = _ue(core, g)
    core.register(ue)
    core.release(ue)
    guti = ue.nas.guti
    g.drop_ul = True
    core.register(ue)
    rej = nas.RegistrationReject(cause=cause, t3346=nas.GprsTimer.from_seconds(60) if cause == 22 else None)
    core.do(ue, ue.nas.nas_received(rej.encode()))
    assert (ue.nas.state, set(ue.timers), ue.nas.usim_invalid) == (state, timers, usim_invalid)
    assert (ue.nas.guti == guti) is guti_kept and ue.nas.reject_cause == cause
    assert ue.of(RegistrationFailed)[-1].cause == cause
    if cause == 22:
        assert ue.timers["T3346"] == 60
        g.drop_ul = False
        core.do(ue, ue.nas.connection_released())  # the network releases the connection
        core.fire_ue(ue, "T3346")
        assert outcome(ue) == ("registered", None)
    if cause == 11:
        assert not ue.nas.cell_allowed((MCC, MNC), (CAG_FEMTO,))


def test_reject_9_leads_to_a_registration_with_the_suci(core) -> None:
    g = core.gnb()
    ue = _ue(core, g)
    core.register(ue)
    core.release(ue)
    g.drop_ul = True
    core.register(ue)  # with the 5G-GUTI
    core.do(ue, ue.nas.nas_received(nas.RegistrationReject(cause=9).encode()))
    assert ue.nas.guti is None and ue.nas.pending_registration == "initial"
    g.drop_ul = False
    core.do(ue, ue.nas.connection_released())  # the network releases the connection
    assert outcome(ue) == ("registered", None)
    assert isinstance(nas.decode([s for s in ue.sent if s.initial][-1].pdu).mobile_identity, nas.Suci)
