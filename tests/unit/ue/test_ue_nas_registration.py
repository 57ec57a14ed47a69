"""UeNas against the real built-in core: initial (SUCI Profile A/B/null), GUTI, periodic, mobility and
emergency registration, de-registration both ways, configuration update, identity request."""

from __future__ import annotations

import pytest

from testbed.core.udm import deconceal_suci
from testbed.protocols import nas
from testbed.ue.nas import (
    Deregistered,
    Knobs,
    Registered,
    RegistrationFailed,
    SendNas,
    UeNasConfig,
)

from .core_bridge import (
    CAG_FEMTO,
    MCC,
    MEMBER,
    MNC,
    NON_MEMBER,
    hn_keys,
    outcome,
    standard_core,
    subscribed_usim,
)


@pytest.fixture
def core(tmp_path):
    c = standard_core(tmp_path)
    yield c
    c.close()


def _ue(core, supi=MEMBER, gnb=None, **kw):
    kw.setdefault("usim", subscribed_usim(supi))
    return core.ue(supi, gnb, **kw)


@pytest.mark.parametrize("scheme", [0, 1, 2])
def test_initial_registration_with_each_suci_scheme(core, scheme: int) -> None:
    g = core.gnb()
    ue = _ue(core, gnb=g, scheme=scheme)
    core.register(ue)
    assert outcome(ue) == ("registered", None) and ue.nas.cm_state == "connected"
    first = ue.sent[0]
    assert first.initial and first.cause == "mo-Signalling"
    req = nas.decode(first.pdu)
    assert isinstance(req, nas.RegistrationRequest) and nas.non_cleartext_ies(req) == []  # 4.4.6
    assert req.mobile_identity.scheme == scheme
    assert deconceal_suci(req.mobile_identity, hn_keys()).to_string() == MEMBER
    msin_bcd = bytes.fromhex("0000000010")  # MSIN 0000000001 in BCD
    assert (msin_bcd in first.pdu) == (scheme == 0)  # only the null scheme shows the MSIN
    (reg,) = ue.of(Registered)
    assert reg.guti == ue.nas.guti_str and reg.guti.startswith("5g-guti-00101")
    assert reg.allowed_nssai == ((1, None),) and reg.cag_info == ((MCC, MNC, (CAG_FEMTO,), False),)
    assert core.amf_ev("registration_request")[0]["suci_scheme"] == scheme
    assert core.amf_ev("registration_complete")
    # every uplink message after the cleartext REGISTRATION REQUEST is protected (4.4.5)
    assert all(nas.peek_header(s.pdu)[1] != 0 for s in ue.sent[2:])
    assert ue.nas.counters["nas_mac_failure"] == 0 and ue.nas.counters["internal_error"] == 0
    assert not ue.timers  # T3510 stopped


def test_guti_reregistration_skips_authentication(core) -> None:
    g = core.gnb()
    ue = _ue(core, gnb=g)
    core.register(ue)
    old = ue.nas.guti
    core.release(ue)
    assert ue.nas.cm_state == "idle" and "T3512" in ue.timers
    core.amf_events.clear()
    core.register(ue)
    assert outcome(ue) == ("registered", None)
    req_ev = core.amf_ev("registration_request")[0]
    assert req_ev["identity_type"] == "guti" and req_ev["protected"] is True
    assert not core.amf_ev("authentication_request")  # the stored context was verified
    initial = ue.sent[-2]
    assert initial.initial and nas.peek_header(initial.pdu)[1] == nas.SecurityHeaderType.INTEGRITY_PROTECTED
    inner = nas.decode_plain(nas.SecurityProtectedMessage.decode(initial.pdu).payload)
    assert inner.mobile_identity == old and inner.nas_message_container is not None
    assert nas.non_cleartext_ies(inner) == []
    assert ue.nas.guti != old  # a new 5G-GUTI each registration (TS 33.501 6.12.3)
    # control: after de-registration the network no longer knows the 5G-GUTI -> identity request
    core.do(ue, ue.nas.deregister())
    core.amf_events.clear()
    core.register(ue)
    assert outcome(ue) == ("registered", None)
    assert core.amf_ev("identity_request") and core.amf_ev("identity_response")[0]["suci_scheme"] == 1
    assert ue.ev("ue.identity_response")[-1]["suci_scheme"] == 1


def test_identity_request_answered_with_null_scheme_by_the_plain_supi_knob(core) -> None:
    g = core.gnb()
    results = {}
    for knob in (False, True):
        ue = _ue(core, gnb=g, config=UeNasConfig(knobs=Knobs(plain_supi_identity=knob)))
        core.register(ue)
        core.do(ue, ue.nas.deregister())
        core.amf_events.clear()
        core.register(ue)
        results[knob] = (core.amf_ev("identity_response")[0]["suci_scheme"], ue.nas.state)
    assert results == {False: (1, "registered"), True: (0, "registered")}


def test_periodic_registration_on_t3512(core) -> None:
    g = core.gnb()
    ue = _ue(core, gnb=g)
    core.register(ue)
    assert ue.nas.t3512 == 3600 and "T3512" not in ue.timers  # runs only in 5GMM-IDLE (5.3.7)
    core.release(ue)
    assert ue.timers["T3512"] == 3600
    core.amf_events.clear()
    core.fire_ue(ue, "T3512")
    assert outcome(ue) == ("registered", None) and ue.nas.reg_type == "periodic"
    ev = core.amf_ev("registration_request")[0]
    assert ev["registration_type"] == "periodic" and ev["identity_type"] == "guti" and ev["protected"]
    assert not core.amf_ev("authentication_request")
    # control: explicit periodic/mobility requests while registered
    core.release(ue)
    core.amf_events.clear()
    core.register(ue, "mobility")
    assert core.amf_ev("registration_request")[0]["registration_type"] == "mobility" and ue.nas.registered


def test_mobility_registration_when_entering_a_new_tracking_area(core) -> None:
    g1 = core.gnb()
    g2 = core.gnb(assoc=2, gnb_id=2, cag_ids=(CAG_FEMTO,), tac=1)
    ue = _ue(core, gnb=g1)
    core.register(ue)
    core.release(ue)
    core.amf_events.clear()
    core.camp(ue, g2)  # same TAC: no update (control)
    assert not core.amf_ev("registration_request")
    ue.nas.tai_list = frozenset({(MCC, MNC, 7)})  # pretend the TAI list did not contain TAC 1
    core.camp(ue, g2)
    assert core.amf_ev("registration_request")[0]["registration_type"] == "mobility" and ue.nas.registered


def test_emergency_registration(core) -> None:
    g = core.gnb()
    ue = _ue(core, NON_MEMBER, gnb=g)
    assert not ue.nas.cell_allowed((MCC, MNC), (CAG_FEMTO,))
    core.register(ue, "emergency")
    assert ue.sent[0].cause == "emergency" and ue.sent[0].initial
    assert outcome(ue) == ("registered", None) and ue.nas.emergency_registered
    assert ue.of(Registered)[0].emergency and core.amf_ev("cag_bypass_emergency")
    req = nas.decode(ue.sent[0].pdu)
    assert req.registration_type == nas.RegistrationType.EMERGENCY
    assert ue.ev("ue.registered")[0]["emergency"] is True


def test_emergency_registration_with_an_invalid_usim_uses_the_imei(core) -> None:
    g = core.gnb()
    ue = _ue(core, MEMBER, gnb=g, config=UeNasConfig(knobs=Knobs(wrong_res=True)))
    core.register(ue)
    assert ue.nas.usim_invalid and ue.nas.state == "deregistered"
    assert ue.of(RegistrationFailed)[-1].reason == "authentication-reject"
    # control: a normal registration is refused locally now
    n = len(ue.sent)
    core.register(ue)
    assert len(ue.sent) == n and ue.ev("ue.registration_refused")[-1]["reason"] == "usim-invalid"
    core.amf_events.clear()
    core.register(ue, "emergency")
    req = nas.decode(ue.sent[n].pdu)
    assert isinstance(req.mobile_identity, nas.Pei) and req.mobile_identity.digits == ue.nas.usim.imei
    assert core.amf_ev("unauthenticated_emergency")
    assert outcome(ue) == ("registered", None) and ue.nas.emergency_registered and ue.nas.sec.nia == 0


def test_ue_initiated_deregistration(core) -> None:
    g = core.gnb()
    ue = _ue(core, gnb=g)
    core.register(ue)
    core.do(ue, ue.nas.deregister())
    assert ue.nas.state == "deregistered" and ue.of(Deregistered)[-1].reason == "ue-initiated"
    assert core.amf_ev("deregistration")[0]["switch_off"] is False
    assert ue.nas.cm_state == "idle" and not ue.timers  # the network released the connection
    # from 5GMM-IDLE: the request is an initial message, integrity protected (not ciphered)
    core.register(ue)
    core.release(ue)
    core.do(ue, ue.nas.deregister())
    last = [s for s in ue.sent if s.initial][-1]
    assert nas.peek_header(last.pdu)[1] == nas.SecurityHeaderType.INTEGRITY_PROTECTED
    assert ue.nas.state == "deregistered" and core.amf_ev("deregistration")[-1]["switch_off"] is False


def test_switch_off_deregistration_needs_no_answer(core) -> None:
    g = core.gnb()
    ue = _ue(core, gnb=g)
    core.register(ue)
    n = len(ue.received)
    out = ue.nas.deregister(switch_off=True)
    assert any(isinstance(o, Deregistered) and o.reason == "switch-off" for o in out)
    assert ue.nas.state == "deregistered"
    core.do(ue, out)
    assert core.amf_ev("deregistration")[0]["switch_off"] is True
    assert len(ue.received) == n  # no DEREGISTRATION ACCEPT for a switch-off (5.5.2.2.2)


def test_network_initiated_deregistration(core) -> None:
    g = core.gnb()
    ue = _ue(core, gnb=g)
    core.register(ue)
    core.feed(core.amf.deregister(MEMBER, None))
    assert ue.nas.state == "deregistered" and ue.of(Deregistered)[-1].reason == "network"
    assert core.amf_ev("deregistration_complete") and not core.amf_ev("deregistration_complete")[0]["timeout"]
    assert ue.ev("ue.deregistered")[-1]["re_registration"] is False


def test_network_initiated_deregistration_with_reregistration(core) -> None:
    g = core.gnb()
    ue = _ue(core, gnb=g)
    core.register(ue)
    ctx = core.amf.by_supi[MEMBER]
    plain = nas.DeregistrationRequestUeTerminated(
        deregistration_type=nas.DeregistrationType(nas.DeregistrationAccessType.THREEGPP,
                                                   re_registration_required=True)).encode()
    core.feed(core.amf.deregister(MEMBER, None))  # the AMF's own procedure, then our variant
    core.register(ue)
    ctx = core.amf.by_supi[MEMBER]
    core.amf_events.clear()
    g.to_ue(ue, ctx.sec.protect(plain))  # as the AMF would send it
    assert ue.nas.state == "deregistered" and ue.nas.pending_registration == "initial"
    core.release(ue)  # once the connection is released, the UE registers again (5.5.2.3.2)
    assert ue.nas.state == "registered" and core.amf_ev("registration_request")


def test_configuration_update_with_new_cag_information(core) -> None:
    g = core.gnb()
    ue = _ue(core, gnb=g)
    core.register(ue)
    core.store.set_allowed_cag(MEMBER, [CAG_FEMTO, 0x42])
    core.feed(core.amf.refresh_cag(MEMBER))
    assert core.amf_ev("cag_update") and core.amf_ev("configuration_update_complete")
    assert ue.nas.usim.allowed_cag_ids == {CAG_FEMTO, 0x42}
    assert ue.nas.cell_allowed((MCC, MNC), (0x42,)) and ue.ev("ue.configuration_update")
    # the subscription loses the femto's CAG: the AMF de-registers with #76 (5.5.2.3.2)
    core.store.set_allowed_cag(MEMBER, [0x42])
    core.feed(core.amf.refresh_cag(MEMBER))
    assert ue.nas.state == "deregistered" and ue.nas.reject_cause == 76
    assert not ue.nas.cell_allowed((MCC, MNC), (CAG_FEMTO,)) and ue.ev("ue.cag_rejected")
    n = len(ue.sent)
    core.register(ue)
    assert len(ue.sent) == n  # no retry in that cell


def test_register_while_registering_is_refused_and_bad_type_raises(core) -> None:
    g = core.gnb()
    ue = _ue(core, gnb=g)
    g.drop_ul = True
    core.register(ue)
    assert ue.nas.state == "registered-initiated"
    assert ue.nas.register() == [] or not any(isinstance(o, SendNas) for o in ue.nas.register())
    with pytest.raises(ValueError):
        ue.nas.register("bogus")
