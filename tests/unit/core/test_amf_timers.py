"""NAS timers (TS 24.501 10.2): retransmission on expiry, abort on the fifth expiry."""

from __future__ import annotations

from testbed.protocols import nas, ngap

from .scripted_ran import Env


def _count(ue, cls) -> int:
    return sum(isinstance(m, cls) for m in ue.received)


def test_t3560_authentication_retransmitted_four_times_then_aborted() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    ue.drop = {"AuthenticationRequest"}
    g.connect(ue, ue.registration_request())
    tid = next(iter(env.h.timers))
    assert tid.startswith("T3560:") and env.h.timers[tid] == 6.0
    for i in range(4):
        env.h.fire("T3560")
        assert _count(ue, nas.AuthenticationRequest) == i + 2
    assert not env.h.ev("procedure_aborted")
    env.h.fire("T3560")  # fifth expiry
    assert _count(ue, nas.AuthenticationRequest) == 5
    (ab,) = env.h.ev("procedure_aborted")
    assert ab["timer"] == "T3560" and ab["procedure"] == "auth" and ab["expiries"] == 5
    assert any(isinstance(m, ngap.UEContextReleaseCommand) for m in g.inbox)
    assert env.amf.ue_contexts() == [] and not env.h.timers and not env.ausf.contexts


def test_retransmitted_authentication_request_is_identical_and_answered() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    ue.drop = {"AuthenticationRequest"}
    g.connect(ue, ue.registration_request())
    ue.drop = set()
    env.h.fire("T3560")
    reqs = [m for m in ue.received if isinstance(m, nas.AuthenticationRequest)]
    assert reqs[0] == reqs[1] and ue.registered


def test_t3570_identity_request_retransmission_and_abort() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    ue.guti = env.amf.new_guti()
    ue.drop = {"IdentityRequest"}
    env.h.register(ue, g, identity="guti")
    for _ in range(4):
        env.h.fire("T3570")
    assert _count(ue, nas.IdentityRequest) == 5 and not env.h.ev("procedure_aborted")
    env.h.fire("T3570")
    assert env.h.ev("procedure_aborted")[0]["timer"] == "T3570" and env.amf.ue_contexts() == []


def test_t3550_registration_accept_retransmitted_then_ue_considered_registered() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    ue.drop = {"RegistrationAccept"}
    env.h.register(ue, g)
    ctx = env.amf.ue_contexts()[0]
    assert ctx["procedure"] == "accept" and not ctx["registered"]
    first_guti = ue.received[-1].guti
    for _ in range(4):
        env.h.fire("T3550")
    accepts = [m for m in ue.received if isinstance(m, nas.RegistrationAccept)]
    assert len(accepts) == 5 and all(a == accepts[0] for a in accepts)  # same content, new NAS COUNTs
    assert ue.mac_failures == 0
    env.h.fire("T3550")
    assert env.h.ev("procedure_aborted")[0]["timer"] == "T3550"
    ctx = env.amf.ue_contexts()[0]
    assert ctx["registered"] and ctx["procedure"] is None and not env.h.timers
    assert env.amf.lookup_guti(first_guti) is not None


def test_t3550_stopped_by_registration_complete_after_a_retransmission() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    ue.drop = {"RegistrationAccept"}
    env.h.register(ue, g)
    ue.drop = set()
    env.h.fire("T3550")
    assert ue.registered and not env.h.timers and env.h.ev("registration_complete")


def test_t3522_network_deregistration_retransmitted_then_local() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    env.h.register(ue, g)
    ue.drop = {"DeregistrationRequestUeTerminated"}
    env.h.feed(env.amf.deregister(ue.supi.to_string()))
    for _ in range(4):
        env.h.fire("T3522")
    assert _count(ue, nas.DeregistrationRequestUeTerminated) == 5
    env.h.fire("T3522")
    assert env.h.ev("procedure_aborted")[0]["timer"] == "T3522"
    assert env.h.ev("deregistration_complete")[0]["timeout"] is True
    assert env.amf.ue_contexts() == []


def test_stale_timer_expiry_is_ignored() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    env.h.register(ue, g)
    assert env.amf.timer_expired(f"T3560:{ue.amf_ue_ngap_id}") == []
    assert env.amf.timer_expired("garbage") == []
    assert ue.registered
