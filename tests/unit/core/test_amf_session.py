"""5GSM relay between the UE and the SMF (TS 23.502 4.3.2.2.1) with a scripted SMF."""

from __future__ import annotations

from testbed.core.amf import SmfCreate, SmfN2Response, SmfRelease, SmReply
from testbed.protocols import nas, ngap

from .scripted_ran import Env

EST = nas.PduSessionEstablishmentRequest(pdu_session_id=5, pti=1, pdu_session_type=nas.PduSessionType.IPV4)
ACCEPT = nas.PduSessionEstablishmentAccept(
    pdu_session_id=5, pti=1, qos_rules=(nas.QosRule(1, 1, True, (nas.PacketFilter(1),), 255, 1),),
    session_ambr=nas.SessionAmbr(6, 100, 6, 100), pdu_address=nas.PduAddress(nas.PduSessionType.IPV4, "10.45.0.2"))
N2 = ngap.PduSessionResourceSetupRequestTransfer(ngap.GtpTunnel("10.100.0.1", 7)).to_bytes()


def _registered():
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    env.h.register(ue, g)
    env.h.clear()
    return env, g, ue


def test_pdu_session_establishment_is_relayed_both_ways() -> None:
    env, g, ue = _registered()
    g.uplink(ue, ue.ul_nas_transport(EST))
    (create,) = env.h.smf
    assert isinstance(create, SmfCreate) and create.amf_ue_ngap_id == ue.amf_ue_ngap_id
    req = create.request
    assert (req.supi, req.pdu_session_id, req.dnn, req.snssai) == (ue.supi.to_string(), 5, "internet", (1, None))
    assert req.n1_sm == EST.encode() and req.subscribed_dnns == ("internet",)
    assert req.subscribed_snssai == ((1, None),)
    env.h.smf.clear()
    env.h.feed(env.amf.smf_reply(ue.amf_ue_ngap_id, SmReply(5, ACCEPT.encode(), N2, "setup", ue_ipv4="10.45.0.2")))
    setup = next(m for m in g.inbox if isinstance(m, ngap.PDUSessionResourceSetupRequest))
    assert setup.sessions[0].pdu_session_id == 5 and setup.sessions[0].snssai == ngap.Snssai(1)
    dl = next(m for m in ue.received if isinstance(m, nas.DlNasTransport))
    assert dl.payload_container == ACCEPT.encode() and dl.pdu_session_id == 5
    assert ue.mac_failures == 0 and ue.received_plain_after_security == []
    (resp,) = env.h.smf
    assert isinstance(resp, SmfN2Response) and resp.success and resp.pdu_session_id == 5
    assert ngap.PduSessionResourceSetupResponseTransfer.from_bytes(resp.transfer).dl_tunnel.teid == 0x105
    assert env.h.ev("pdu_session_setup")[0]["ue_ipv4"] == "10.45.0.2"
    assert env.amf.ue_contexts()[0]["pdu_sessions"] == [5]


def test_failed_setup_at_the_gnb_reports_failure() -> None:
    env, g, ue = _registered()
    env.h.pdu_setup_fails = True
    g.uplink(ue, ue.ul_nas_transport(EST))
    env.h.smf.clear()
    env.h.feed(env.amf.smf_reply(ue.amf_ue_ngap_id, SmReply(5, ACCEPT.encode(), N2, "setup")))
    (resp,) = env.h.smf
    assert isinstance(resp, SmfN2Response) and not resp.success
    assert env.h.ev("pdu_session_setup_failed")


def test_reject_goes_in_dl_nas_transport_only() -> None:
    env, g, ue = _registered()
    g.uplink(ue, ue.ul_nas_transport(EST))
    rej = nas.PduSessionEstablishmentReject(pdu_session_id=5, pti=1, cause=nas.FiveGsmCause.MISSING_OR_UNKNOWN_DNN)
    env.h.feed(env.amf.smf_reply(ue.amf_ue_ngap_id, SmReply(5, rej.encode(), None, "reject", cause="dnn")))
    assert not any(isinstance(m, ngap.PDUSessionResourceSetupRequest) for m in g.inbox)
    dl = [m for m in ue.received if isinstance(m, nas.DlNasTransport)]
    assert dl and dl[-1].payload_container == rej.encode()
    assert env.h.ev("pdu_session_reject") and env.amf.ue_contexts()[0]["pdu_sessions"] == []


def test_release_request_and_command_and_complete() -> None:
    env, g, ue = _registered()
    g.uplink(ue, ue.ul_nas_transport(EST))
    env.h.feed(env.amf.smf_reply(ue.amf_ue_ngap_id, SmReply(5, ACCEPT.encode(), N2, "setup")))
    env.h.smf.clear()
    rel_req = nas.PduSessionReleaseRequest(pdu_session_id=5, pti=2)
    g.uplink(ue, ue.ul_nas_transport(rel_req, dnn=None, snssai=None))
    assert env.h.smf == [SmfRelease(ue.amf_ue_ngap_id, ue.supi.to_string(), 5, rel_req.encode())]
    cmd = nas.PduSessionReleaseCommand(pdu_session_id=5, pti=2)
    env.h.feed(env.amf.smf_reply(ue.amf_ue_ngap_id, SmReply(5, cmd.encode(), None, "release")))
    dl = [m for m in ue.received if isinstance(m, nas.DlNasTransport)]
    assert dl[-1].payload_container == cmd.encode()
    assert env.h.ev("pdu_session_release")[0]["ngap_release"] is True  # PDU SESSION RESOURCE RELEASE COMMAND
    complete = nas.PduSessionReleaseComplete(pdu_session_id=5, pti=2)
    g.uplink(ue, ue.ul_nas_transport(complete, dnn=None, snssai=None))
    assert env.h.smf[-1] == SmfRelease(ue.amf_ue_ngap_id, ue.supi.to_string(), 5, complete.encode())
    env.h.feed(env.amf.smf_reply(ue.amf_ue_ngap_id, SmReply(5, None, None, "released")))
    assert env.amf.ue_contexts()[0]["pdu_sessions"] == []


def test_smf_reply_for_idle_or_unknown_ue_is_dropped() -> None:
    env, g, ue = _registered()
    aid = ue.amf_ue_ngap_id
    g.send(ngap.UEContextReleaseRequest(aid, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "user-inactivity")))
    env.h.clear()
    env.h.feed(env.amf.smf_reply(aid, SmReply(5, ACCEPT.encode(), N2, "setup")))
    env.h.feed(env.amf.smf_reply(12345, SmReply(5, ACCEPT.encode(), N2, "setup")))
    assert [e["reason"] for e in env.h.ev("smf_reply_dropped")] == ["ue-idle", "no-context"]
    assert not env.h.sent


def test_sm_before_registration_and_bad_payloads_are_not_relayed() -> None:
    env, g, ue = _registered()
    g.uplink(ue, ue.protect(nas.UlNasTransport(payload_container=b"\x01\x02\x03\x04",
                                               payload_container_type=nas.PayloadContainerType.N1_SM_INFORMATION,
                                               pdu_session_id=5).encode()))
    g.uplink(ue, ue.protect(nas.UlNasTransport(payload_container=b"\x00" * 4,
                                               payload_container_type=nas.PayloadContainerType.SMS).encode()))
    assert not env.h.smf
    assert env.h.ev("nas_malformed") and env.h.ev("nas_unsupported_payload")
