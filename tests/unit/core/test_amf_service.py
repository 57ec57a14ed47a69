"""AMF: service request with user-plane re-activation (TS 24.501 5.6.1, TS 23.502 4.2.3.2) and paging
(TS 23.502 4.2.3.3, TS 38.413 8.5.1, T3513), driven with the scripted gNB/UE; the SMF is played by
the test (SmfActivate -> smf_reply)."""

from __future__ import annotations

from testbed.core.amf import SmfActivate, SmfDeactivate, SmfN2Response, SmfPagingFailed, SmReply
from testbed.crypto import keys
from testbed.protocols import nas, ngap

from .scripted_ran import Env

ST = nas.ServiceType


def _transfer(teid: int = 0x99) -> bytes:
    return ngap.PduSessionResourceSetupRequestTransfer(ngap.GtpTunnel("10.100.0.1", teid)).to_bytes()


def _with_session(env: Env | None = None, psis: tuple[int, ...] = (1,), **gnb_kw):
    """A registered UE with PDU sessions ``psis`` (the test plays the SMF), released to CM-IDLE."""
    env = env or Env()
    g = env.femto(**gnb_kw)
    ue = env.ue(allowed_cag_ids=(0x00C0FFEE,))
    env.h.register(ue, g)
    assert ue.registered
    for psi in psis:
        est = nas.PduSessionEstablishmentRequest(pdu_session_id=psi, pti=psi, pdu_session_type=nas.PduSessionType.IPV4)
        g.uplink(ue, ue.ul_nas_transport(est))
        env.h.feed(env.amf.smf_reply(ue.amf_ue_ngap_id, SmReply(psi, est.encode(), _transfer(psi), "setup")))
    assert all(env.amf.by_supi[ue.supi.to_string()].pdu_sessions[p].active for p in psis)
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id,
                                        ngap.Cause("radioNetwork", "user-inactivity")))
    assert env.amf.ue_contexts()[0]["cm"] == "idle"
    return env, g, ue


def _last(ue, cls):
    return [m for m in ue.received if isinstance(m, cls)][-1]


def test_an_release_deactivates_every_session_at_the_smf() -> None:
    env, g, ue = _with_session(psis=(1, 2))
    assert SmfDeactivate(ue.supi.to_string(), (1, 2)) in env.h.smf
    assert env.amf.ue_contexts()[0]["active_pdu_sessions"] == []


def test_service_request_data_reactivates_the_sessions_of_the_uplink_data_status() -> None:
    env, g, ue = _with_session(psis=(1, 2))
    env.h.clear()
    supi = ue.supi.to_string()
    g.connect(ue, ue.service_request(ST.DATA, uplink_data_status=frozenset({1}), pdu_session_status=frozenset({1, 2})))
    aid = env.amf.by_supi[supi].amf_ue_ngap_id  # the new N2 connection (the UE learns it from the first DL)
    # the AMF asks the SMF for PDU session 1 only and waits: no SERVICE ACCEPT yet
    assert [o for o in env.h.smf if isinstance(o, SmfActivate)] == [SmfActivate(aid, supi, 1)]
    assert not any(isinstance(m, ngap.InitialContextSetupRequest) for m in g.inbox[-3:])
    assert env.h.ev("service_request")[0]["uplink_data_status"] == [1]
    env.h.feed(env.amf.smf_reply(aid, SmReply(1, None, _transfer(0x77), "activate")))
    ics = [m for m in g.inbox if isinstance(m, ngap.InitialContextSetupRequest)][-1]
    (item,) = ics.pdu_sessions
    assert item.pdu_session_id == 1 and ngap.PduSessionResourceSetupRequestTransfer.from_bytes(
        item.transfer if isinstance(item.transfer, bytes) else item.transfer.to_bytes()).ul_tunnel.teid == 0x77
    assert ics.ue_ambr is not None  # conditional on the PDU Session Resource Setup List (9.2.2.1)
    assert ue.kgnb == keys.kgnb(ue.kamf, ue.initial_count)  # TS 33.501 A.9: the SERVICE REQUEST's UL NAS COUNT
    acc = _last(ue, nas.ServiceAccept)
    assert acc.pdu_session_reactivation_result == frozenset()  # every requested session re-established
    assert acc.pdu_session_status == frozenset({1, 2})  # the UE sent its status: the network's answer
    assert env.h.ev("service_request_accepted")[0]["reactivated"] == [1]
    # the gNB's answer in INITIAL CONTEXT SETUP RESPONSE goes to the SMF
    (n2,) = [o for o in env.h.smf if isinstance(o, SmfN2Response)]
    assert (n2.pdu_session_id, n2.success) == (1, True)
    t = ngap.PduSessionResourceSetupResponseTransfer.from_bytes(n2.transfer)
    assert t.dl_tunnel.teid == 0x201
    sessions = env.amf.by_supi[supi].pdu_sessions
    assert sessions[1].active and not sessions[2].active


def test_reactivation_failure_at_the_smf_is_reported_in_the_reactivation_result() -> None:
    env, g, ue = _with_session(psis=(1,))
    env.h.clear()
    g.connect(ue, ue.service_request(ST.DATA, uplink_data_status=frozenset({1, 5})))
    aid = env.amf.by_supi[ue.supi.to_string()].amf_ue_ngap_id
    assert [o.pdu_session_id for o in env.h.smf if isinstance(o, SmfActivate)] == [1]  # 5: unknown to the AMF
    env.h.feed(env.amf.smf_reply(aid, SmReply(1, None, None, "error", cause="no UPF")))
    acc = _last(ue, nas.ServiceAccept)
    assert acc.pdu_session_reactivation_result == frozenset({1, 5})  # bit set: not re-established (9.11.3.42)
    assert acc.pdu_session_status is None  # the UE did not send one
    ics = [m for m in g.inbox if isinstance(m, ngap.InitialContextSetupRequest)][-1]
    assert ics.pdu_sessions is None and ics.ue_ambr is None
    assert env.h.ev("service_request_accepted")[0]["failed"] == [1, 5]
    assert not [o for o in env.h.smf if isinstance(o, SmfN2Response)]


def test_gnb_failing_the_sessions_in_ics_is_told_to_the_smf() -> None:
    env, g, ue = _with_session(psis=(1,))
    env.h.clear()
    g.fail_ics_sessions = True
    g.connect(ue, ue.service_request(ST.DATA, uplink_data_status=frozenset({1})))
    (act,) = [o for o in env.h.smf if isinstance(o, SmfActivate)]
    env.h.feed(env.amf.smf_reply(act.amf_ue_ngap_id, SmReply(1, None, _transfer(), "activate")))
    (n2,) = [o for o in env.h.smf if isinstance(o, SmfN2Response)]
    assert (n2.pdu_session_id, n2.success) == (1, False)


def test_signalling_service_request_reactivates_nothing() -> None:
    env, g, ue = _with_session(psis=(1,))
    env.h.clear()
    g.connect(ue, ue.service_request())
    assert not [o for o in env.h.smf if isinstance(o, SmfActivate)]
    ics = [m for m in g.inbox if isinstance(m, ngap.InitialContextSetupRequest)][-1]
    assert ics.pdu_sessions is None and _last(ue, nas.ServiceAccept).pdu_session_reactivation_result is None


def test_service_request_with_a_bad_mac_is_rejected_without_touching_the_user_plane() -> None:
    env, g, ue = _with_session(psis=(1,))
    env.h.clear()
    wire = bytearray(ue.service_request(ST.DATA, uplink_data_status=frozenset({1})))
    wire[2] ^= 0x01  # MAC
    g.connect(ue, bytes(wire))
    assert env.h.ev("nas_mac_failure") and env.h.ev("service_reject")[0]["reason"] == "unverified"
    assert _last(ue, nas.ServiceReject).cause == nas.FiveGmmCause.UE_IDENTITY_CANNOT_BE_DERIVED
    assert not [o for o in env.h.smf if isinstance(o, SmfActivate)]
    assert not any(isinstance(m, ngap.InitialContextSetupRequest) for m in g.inbox[-3:])
    assert env.amf.ue_contexts()[0]["registered"]  # the victim's registration is untouched
    # control: the same request with its MAC intact is accepted
    env.h.clear()
    g.connect(ue, ue.service_request(ST.DATA, uplink_data_status=frozenset({1})))
    assert [o.pdu_session_id for o in env.h.smf if isinstance(o, SmfActivate)] == [1]


def test_paging_for_downlink_data_then_mobile_terminated_service_request() -> None:
    env, g, ue = _with_session(psis=(1, 2))
    env.h.clear()
    supi = ue.supi.to_string()
    env.h.feed(env.amf.n1n2_message_transfer(supi, 2))
    (p,) = [m for m in g.inbox if isinstance(m, ngap.Paging)]
    c = env.amf.config
    assert p.ue_paging_identity == ngap.FiveGSTmsi(c.amf_set_id, c.amf_pointer, ue.guti.tmsi)
    assert p.tai_list == (ngap.Tai(ngap.Plmn("001", "01"), 1),)
    assert env.h.timers == {f"T3513:{env.amf.by_supi[supi].amf_ue_ngap_id}": c.t3513}
    assert env.h.ev("paging_sent")[0]["pdu_session_ids"] == [2]
    # a second notification while paging: no second PAGING
    env.h.feed(env.amf.n1n2_message_transfer(supi, 2))
    assert len([m for m in g.inbox if isinstance(m, ngap.Paging)]) == 1 and env.h.ev("paging_pending")
    # the UE answers: mobile terminated services, without Uplink data status; session 2 is re-activated
    g.connect(ue, ue.service_request(ST.MOBILE_TERMINATED_SERVICES))
    assert not env.h.timers and env.h.ev("paging_answered")
    (act,) = [o for o in env.h.smf if isinstance(o, SmfActivate)]
    assert act.pdu_session_id == 2
    env.h.feed(env.amf.smf_reply(act.amf_ue_ngap_id, SmReply(2, None, _transfer(), "activate")))
    acc = env.h.ev("service_request_accepted")[0]
    assert (acc["service_type"], acc["reactivated"]) == ("mobile-terminated", [2])
    assert not env.h.ev("paging_failed") and not [o for o in env.h.smf if isinstance(o, SmfPagingFailed)]


def test_t3513_retransmits_paging_once_then_gives_up() -> None:
    env, g, ue = _with_session(psis=(1,))
    env.h.clear()
    supi = ue.supi.to_string()
    env.h.feed(env.amf.n1n2_message_transfer(supi, 1))
    env.h.fire("T3513")
    assert len([m for m in g.inbox if isinstance(m, ngap.Paging)]) == 2
    assert env.h.ev("paging_sent")[1]["retransmission"] is True and env.h.timers
    env.h.fire("T3513")
    assert len([m for m in g.inbox if isinstance(m, ngap.Paging)]) == 2 and not env.h.timers
    assert env.h.ev("paging_failed")[0] == {"amf_ue_ngap_id": env.amf.by_supi[supi].amf_ue_ngap_id, "supi": supi,
                                            "reason": "no-answer", "attempts": 2, "pdu_session_ids": [1]}
    assert SmfPagingFailed(supi, (1,)) in env.h.smf
    # the UE stays registered (paging failure is not a de-registration)
    assert env.amf.ue_contexts()[0]["registered"] and not env.h.ev("deregistration")


def test_paging_goes_only_to_gnbs_serving_the_registration_area() -> None:
    env = Env()
    other = env.femto(assoc=2, gnb_id=2, tacs=(7,))
    env2, g, ue = _with_session(env, psis=(1,))
    same_ta = env.femto(assoc=3, gnb_id=3, tacs=(5, 1))
    env.h.feed(env.amf.n1n2_message_transfer(ue.supi.to_string(), 1))
    assert [m for m in g.inbox if isinstance(m, ngap.Paging)]
    assert [m for m in same_ta.inbox if isinstance(m, ngap.Paging)]
    assert not [m for m in other.inbox if isinstance(m, ngap.Paging)]
    assert env.h.ev("paging_sent")[0]["gnbs"] == 2


def test_n1n2_transfer_for_a_connected_ue_sets_the_session_up_without_paging() -> None:
    env, g, ue = _with_session(psis=(1,))
    g.connect(ue, ue.service_request())  # back in CM-CONNECTED without user plane
    env.h.clear()
    supi = ue.supi.to_string()
    env.h.feed(env.amf.n1n2_message_transfer(supi, 1))
    assert not [m for m in g.inbox if isinstance(m, ngap.Paging)]
    assert [o for o in env.h.smf if isinstance(o, SmfActivate)] == [SmfActivate(ue.amf_ue_ngap_id, supi, 1)]
    env.h.feed(env.amf.smf_reply(ue.amf_ue_ngap_id, SmReply(1, None, _transfer(), "activate")))
    req = [m for m in g.inbox if isinstance(m, ngap.PDUSessionResourceSetupRequest)][-1]
    assert [s.pdu_session_id for s in req.sessions] == [1] and req.nas_pdu is None
    assert env.h.ev("pdu_session_reactivated")[0]["pdu_session_ids"] == [1]
    assert [o.success for o in env.h.smf if isinstance(o, SmfN2Response)] == [True]


def test_n1n2_transfer_for_unknown_ue_or_session_fails_back_to_the_smf() -> None:
    env, g, ue = _with_session(psis=(1,))
    env.h.clear()
    env.h.feed(env.amf.n1n2_message_transfer("imsi-001019999999999", 1))
    env.h.feed(env.amf.n1n2_message_transfer(ue.supi.to_string(), 9))
    assert [e["reason"] for e in env.h.ev("n1n2_transfer_failed")] == ["unknown-ue", "unknown-pdu-session"]
    assert [o for o in env.h.smf if isinstance(o, SmfPagingFailed)] == [
        SmfPagingFailed("imsi-001019999999999", (1,)), SmfPagingFailed(ue.supi.to_string(), (9,))]
    assert not [m for m in g.inbox if isinstance(m, ngap.Paging)]


def test_a_ue_returning_with_a_registration_stops_paging() -> None:
    env, g, ue = _with_session(psis=(1,))
    env.h.clear()
    env.h.feed(env.amf.n1n2_message_transfer(ue.supi.to_string(), 1))
    env.h.register(ue, g, nas.RegistrationType.MOBILITY_UPDATING)
    assert not any(t.startswith("T3513") for t in env.h.timers) and env.h.ev("paging_answered")
    # the SMF re-arms its downlink data report: the next packet reaches the now connected UE
    assert SmfPagingFailed(ue.supi.to_string(), (1,)) in env.h.smf


def test_idle_ue_cag_refresh_pages_and_configures_after_the_service_accept() -> None:
    env, g, ue = _with_session(psis=())
    env.udm.subscribers[ue.supi.to_string()].allowed_cag_ids = frozenset({0x00C0FFEE, 5})
    env.h.clear()
    env.h.feed(env.amf.refresh_cag(ue.supi.to_string()))
    assert env.h.ev("cag_refresh_deferred") and env.h.ev("paging_sent")[0]["reason"] == "cag"
    g.connect(ue, ue.service_request(ST.MOBILE_TERMINATED_SERVICES))
    assert [type(m).__name__ for m in ue.received[-2:]] == ["ServiceAccept", "ConfigurationUpdateCommand"]
    assert env.h.ev("cag_update")[0]["allowed_cag_ids"] == [5, 0x00C0FFEE]


def test_a_ue_paged_for_deregistration_that_registers_instead_is_deregistered_after_it() -> None:
    env, g, ue = _with_session(psis=())
    env.h.clear()
    env.h.feed(env.amf.deregister(ue.supi.to_string(), cause=int(nas.FiveGmmCause.ILLEGAL_UE)))
    assert env.h.ev("paging_sent")[0]["reason"] == "dereg"
    env.h.register(ue, g, nas.RegistrationType.MOBILITY_UPDATING)
    assert env.h.ev("registration_complete") and env.h.ev("paging_answered")
    dr = [m for m in ue.received if isinstance(m, nas.DeregistrationRequestUeTerminated)]
    assert dr and dr[0].cause == nas.FiveGmmCause.ILLEGAL_UE
    assert env.h.ev("deregistration_complete") and env.amf.ue_contexts() == []
