"""De-registration both ways (TS 24.501 5.5.2) and UE context release (TS 38.413 8.3)."""

from __future__ import annotations

from testbed.core.amf import SmfReleaseAll
from testbed.protocols import nas, ngap

from .scripted_ran import Env


def _registered():
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    env.h.register(ue, g)
    assert ue.registered
    env.h.clear()
    return env, g, ue


def test_ue_originating_deregistration() -> None:
    env, g, ue = _registered()
    g.uplink(ue, ue.deregistration_request())
    assert any(isinstance(m, nas.DeregistrationAcceptUeOriginating) for m in ue.received)
    assert env.h.smf == [SmfReleaseAll(ue.supi.to_string())]
    rel = [m for m in g.inbox if isinstance(m, ngap.UEContextReleaseCommand)]
    assert rel and rel[-1].cause == ngap.Cause("nas", "deregister")
    assert env.h.ev("deregistration")[0] == {"initiator": "ue", "amf_ue_ngap_id": rel[-1].amf_ue_ngap_id,
                                             "supi": ue.supi.to_string(), "switch_off": False}
    assert env.amf.ue_contexts() == [] and env.amf.lookup_guti(ue.guti) is None


def test_switch_off_gets_no_accept() -> None:
    env, g, ue = _registered()
    n = len(ue.received)
    g.uplink(ue, ue.deregistration_request(switch_off=True))
    assert len(ue.received) == n and env.h.ev("deregistration")[0]["switch_off"]
    assert env.amf.ue_contexts() == []


def test_deregistration_as_initial_message_from_idle() -> None:
    env, g, ue = _registered()
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "user-inactivity")))
    g.connect(ue, ue.deregistration_request(switch_off=True, initial=True))
    assert env.h.ev("deregistration") and env.amf.ue_contexts() == []


def test_forged_initial_deregistration_is_not_acted_on() -> None:
    env, g, ue = _registered()
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "user-inactivity")))
    attacker = env.ue(provision=False)
    forged = nas.DeregistrationRequestUeOriginating(
        deregistration_type=nas.DeregistrationType(nas.DeregistrationAccessType.THREEGPP, True),
        mobile_identity=ue.guti).encode()  # plain, with the victim's GUTI
    g.connect(attacker, forged)
    assert env.h.ev("deregistration_unverified") and not env.h.ev("deregistration")
    assert [c["registered"] for c in env.amf.ue_contexts()] == [True]


def test_network_initiated_deregistration() -> None:
    env, g, ue = _registered()
    env.h.feed(env.amf.deregister(ue.supi.to_string(), cause=int(nas.FiveGmmCause.ILLEGAL_UE)))
    dr = [m for m in ue.received if isinstance(m, nas.DeregistrationRequestUeTerminated)]
    assert dr and dr[0].cause == nas.FiveGmmCause.ILLEGAL_UE
    assert env.h.ev("deregistration")[0]["initiator"] == "network"
    assert env.h.ev("deregistration_complete")[0]["timeout"] is False
    assert SmfReleaseAll(ue.supi.to_string()) in env.h.smf and env.amf.ue_contexts() == []
    assert not env.h.timers


def test_network_deregistration_of_an_idle_ue_pages_then_is_implicit_without_answer() -> None:
    """TS 24.501 5.5.2.3.1: a UE in 5GMM-IDLE is paged first; no answer to PAGING and its one
    retransmission (T3513) -> de-registered locally (implicitly)."""
    env, g, ue = _registered()
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "user-inactivity")))
    env.h.feed(env.amf.deregister(ue.supi.to_string()))
    assert not env.h.ev("deregistration") and env.amf.ue_contexts()[0]["registered"]  # not yet: paging
    pagings = [m for m in g.inbox if isinstance(m, ngap.Paging)]
    assert len(pagings) == 1 and pagings[0].ue_paging_identity.tmsi == ue.guti.tmsi
    assert env.h.ev("paging_sent")[0]["reason"] == "dereg"
    env.h.fire("T3513")
    assert len([m for m in g.inbox if isinstance(m, ngap.Paging)]) == 2 and not env.h.ev("deregistration")
    env.h.fire("T3513")
    assert env.h.ev("paging_failed")[0]["attempts"] == 2
    assert env.h.ev("deregistration")[0]["implicit"] is True and env.amf.ue_contexts() == []
    assert SmfReleaseAll(ue.supi.to_string()) in env.h.smf and not env.h.timers
    env.h.feed(env.amf.deregister("imsi-001019999999999"))
    assert env.h.ev("deregistration_unknown_ue")


def test_network_deregistration_of_an_idle_ue_that_answers_paging() -> None:
    """The paged UE answers with SERVICE REQUEST (mobile terminated services): SERVICE ACCEPT, then
    the DEREGISTRATION REQUEST on the new connection (TS 24.501 5.5.2.3.1)."""
    env, g, ue = _registered()
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "user-inactivity")))
    env.h.feed(env.amf.deregister(ue.supi.to_string(), cause=int(nas.FiveGmmCause.ILLEGAL_UE)))
    assert env.h.ev("paging_sent") and not env.h.ev("deregistration")
    g.connect(ue, ue.service_request(nas.ServiceType.MOBILE_TERMINATED_SERVICES))
    kinds = [type(m).__name__ for m in ue.received[-2:]]
    assert kinds == ["ServiceAccept", "DeregistrationRequestUeTerminated"]
    assert ue.received[-1].cause == nas.FiveGmmCause.ILLEGAL_UE
    assert env.h.ev("paging_answered") and not env.h.ev("paging_failed")
    assert env.h.ev("deregistration")[0]["implicit"] is False
    assert env.h.ev("deregistration_complete") and env.amf.ue_contexts() == []
    assert not any(t.startswith("T3513") for t in env.h.timers)


def test_ue_context_release_keeps_registration_and_guti() -> None:
    env, g, ue = _registered()
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "user-inactivity")))
    cmd = [m for m in g.inbox if isinstance(m, ngap.UEContextReleaseCommand)][-1]
    assert cmd.cause == ngap.Cause("radioNetwork", "user-inactivity")
    assert env.h.ev("ue_context_release")[0]["cm"] == "idle"
    ctx = env.amf.ue_contexts()[0]
    assert ctx["cm"] == "idle" and ctx["registered"] and ctx["assoc"] is None
    assert env.amf.lookup_guti(ue.guti) is not None
    env.h.clear()
    g.connect(ue, ue.service_request())  # CM-IDLE -> CM-CONNECTED with the stored context
    assert env.h.ev("service_request_accepted") and any(isinstance(m, nas.ServiceAccept) for m in ue.received)


def test_service_request_with_unknown_identity_is_rejected() -> None:
    env, g, ue = _registered()
    stranger = env.ue()
    stranger.guti, stranger.sec = env.amf.new_guti(), ue.sec  # right keys, unknown TMSI
    g.connect(stranger, stranger.service_request())
    sr = [m for m in stranger.received if isinstance(m, nas.ServiceReject)]
    assert sr and sr[0].cause == nas.FiveGmmCause.UE_IDENTITY_CANNOT_BE_DERIVED


def test_release_of_an_unregistered_context_removes_it() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    ue.drop = {"AuthenticationRequest"}
    g.connect(ue, ue.registration_request())
    assert env.h.timers
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "radio-connection-with-ue-lost")))
    assert env.amf.ue_contexts() == [] and not env.h.timers
    assert env.h.ev("ue_context_release")[0]["cm"] == "removed"
