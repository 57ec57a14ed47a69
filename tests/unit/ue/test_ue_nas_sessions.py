"""5GSM of UeNas against the real AMF + SMF + UPF (LocalN4): establishment, release both ways,
T3580 retransmissions, service request from 5GMM-IDLE, sessions across periodic registration."""

from __future__ import annotations

import ipaddress

import pytest

from testbed.protocols import nas
from testbed.ue.nas import SendNas, SessionDown, SessionUp

from .core_bridge import MEMBER, outcome, standard_core, subscribed_usim


@pytest.fixture
def core(tmp_path):
    c = standard_core(tmp_path, sessions=True)
    yield c
    c.close()


def _registered(core, supi=MEMBER):
    g = core.gnb()
    ue = core.ue(supi, g, usim=subscribed_usim(supi))
    core.register(ue)
    assert outcome(ue) == ("registered", None)
    return g, ue




def test_establish_and_release_a_pdu_session(core) -> None:
    g, ue = _registered(core)
    core.do(ue, ue.nas.establish_session(1))
    (up,) = ue.of(SessionUp)
    assert up.psi == 1 and ipaddress.IPv4Address(up.ipv4) in ipaddress.IPv4Network("10.45.0.0/16")
    s = ue.nas.sessions[1]
    assert (s.state, s.ipv4, s.dnn) == ("active", up.ipv4, "internet")
    assert ue.ev("ue.session_up") == [{"psi": 1, "ipv4": up.ipv4, "dnn": "internet"}]
    assert core.amf_ev("pdu_session_setup")[0]["ue_ipv4"] == up.ipv4 and "T3580:1" not in ue.timers
    assert core.smf.sessions(MEMBER)[0].state == "active"
    # a second session on another PSI, then UE-requested release of the first
    core.do(ue, ue.nas.establish_session(2))
    assert set(ue.sessions_up) == {1, 2}
    core.do(ue, ue.nas.release_session(1))
    assert ue.of(SessionDown) == [SessionDown(1)] and set(ue.nas.sessions) == {2}
    assert ue.ev("ue.session_down")[0]["reason"] == "released-by-ue" and "T3582:1" not in ue.timers
    assert [s.pdu_session_id for s in core.smf.sessions(MEMBER)] == [2]
    # control: releasing an unknown session sends nothing
    n = len(ue.sent)
    core.do(ue, ue.nas.release_session(9))
    assert len(ue.sent) == n and ue.ev("ue.session_release_refused")


def test_network_requested_release(core) -> None:
    g, ue = _registered(core)
    core.do(ue, ue.nas.establish_session(3))
    aid = ue.amf_id
    reply = core.loop.run_until_complete(core.smf.release(MEMBER, 3, None))
    core.feed(core.amf.smf_reply(aid, reply))
    assert ue.of(SessionDown) == [SessionDown(3)] and not ue.nas.sessions
    assert ue.ev("ue.session_down")[0]["reason"] == "released-by-network"
    assert core.smf.sessions(MEMBER) == []  # the RELEASE COMPLETE reached the SMF


def test_rejected_session(core) -> None:
    g, ue = _registered(core)
    core.do(ue, ue.nas.establish_session(1, dnn="nosuchdnn"))
    assert ue.ev("ue.session_reject")[0]["cause"] == nas.FiveGsmCause.MISSING_OR_UNKNOWN_DNN
    assert ue.of(SessionDown) == [SessionDown(1)] and not ue.of(SessionUp) and not ue.nas.sessions
    assert "T3580:1" not in ue.timers


def test_session_refused_before_registration_and_for_bad_psi(core) -> None:
    g = core.gnb()
    ue = core.ue(MEMBER, g, usim=subscribed_usim(MEMBER))
    out = ue.nas.establish_session(1)
    assert not any(isinstance(o, SendNas) for o in out)
    core.register(ue)
    with pytest.raises(ValueError):
        ue.nas.establish_session(16)


def test_t3580_retransmissions_and_abort(core) -> None:
    g, ue = _registered(core)
    g.drop_ul = True
    core.do(ue, ue.nas.establish_session(1))
    first = ue.sent[-1].pdu
    for i in range(4):
        core.fire_ue(ue, "T3580:1")
        assert len(ue.ev("ue.sm_retransmission")) == i + 1
    retx = [s.pdu for s in ue.sent[-5:]]
    assert retx[0] == first and len(set(retx)) == 5  # same request, a new NAS COUNT each time
    core.fire_ue(ue, "T3580:1")  # fifth expiry: abort (6.4.1.6)
    assert ue.ev("ue.sm_aborted")[0]["procedure"] == "establish" and ue.of(SessionDown) == [SessionDown(1)]
    assert "T3580:1" not in ue.timers and not ue.nas.sessions
    # control: a retransmission that gets through brings the session up
    g.drop_ul = False
    g.drop_ul = True
    core.do(ue, ue.nas.establish_session(2))
    g.drop_ul = False
    core.fire_ue(ue, "T3580:2")
    assert 2 in ue.sessions_up and "T3580:2" not in ue.timers


def test_session_from_idle_uses_a_service_request(core) -> None:
    g, ue = _registered(core)
    core.release(ue)
    assert ue.nas.cm_state == "idle"
    core.do(ue, ue.nas.establish_session(1))
    sr = [s for s in ue.sent if s.initial][-1]
    assert sr.initial and nas.peek_header(sr.pdu)[1] == nas.SecurityHeaderType.INTEGRITY_PROTECTED
    assert isinstance(nas.decode_plain(nas.SecurityProtectedMessage.decode(sr.pdu).payload), nas.ServiceRequest)
    assert core.amf_ev("service_request_accepted") and 1 in ue.sessions_up and "T3517" not in ue.timers


def test_sessions_survive_periodic_registration(core) -> None:
    g, ue = _registered(core)
    core.do(ue, ue.nas.establish_session(1))
    core.release(ue)
    core.fire_ue(ue, "T3512")
    assert outcome(ue) == ("registered", None) and ue.nas.sessions[1].state == "active"
    req = nas.decode_plain(nas.SecurityProtectedMessage.decode([s for s in ue.sent if s.initial][-1].pdu).payload)
    assert req.registration_type == nas.RegistrationType.PERIODIC_UPDATING
    assert not ue.of(SessionDown)
    # control: an initial registration releases them locally
    core.release(ue)
    core.register(ue, "initial")
    assert ue.of(SessionDown) == [SessionDown(1)] and not ue.nas.sessions


def test_deregistration_takes_the_sessions_down(core) -> None:
    g, ue = _registered(core)
    core.do(ue, ue.nas.establish_session(1))
    core.do(ue, ue.nas.deregister())
    assert ue.of(SessionDown) == [SessionDown(1)] and core.smf.sessions(MEMBER) == []


def test_t3582_retransmissions_then_local_release(core) -> None:
    g, ue = _registered(core)
    core.do(ue, ue.nas.establish_session(1))
    g.drop_ul = True
    core.do(ue, ue.nas.release_session(1))
    assert ue.nas.sessions[1].state == "releasing" and ue.timers["T3582:1"] == 16.0
    for _ in range(4):
        core.fire_ue(ue, "T3582:1")
    assert len(ue.ev("ue.sm_retransmission")) == 4 and not ue.of(SessionDown)
    core.fire_ue(ue, "T3582:1")  # fifth expiry: released locally (6.4.3.5)
    assert ue.of(SessionDown) == [SessionDown(1)] and not ue.nas.sessions and not ue.timers
