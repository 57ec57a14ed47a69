"""Service request with user-plane re-activation and paging, UeNas against the real AMF + SMF + UPF
(LocalN4, in process; tests.unit.ue.core_bridge): TS 24.501 5.6.1 / 5.6.2, TS 23.502 4.2.3.2 / 4.2.3.3,
TS 29.244 5.2.3.1 / 7.5.8.

The UPF's downlink FAR is followed through AN release (BUFF|NOCP), the Downlink Data Report, the
AMF's PAGING, the UE's SERVICE REQUEST, the re-activation (FORW with the gNB's new F-TEID) and the
buffered packet leaving towards the gNB."""

from __future__ import annotations

import dataclasses
import struct

import pytest

from testbed.core.smf import pfcp as P
from testbed.crypto.nas_algorithms import DIRECTION_UPLINK, nea
from testbed.protocols import gtpu, nas, ngap
from testbed.ue.nas import Event, SendNas, UserPlaneResult
from testbed.ue.radio.ue import s_tmsi_of

from .core_bridge import MEMBER, NON_MEMBER, outcome, standard_core, subscribed_usim

DN = "10.20.0.10"


@pytest.fixture
def core(tmp_path):
    c = standard_core(tmp_path, sessions=True)
    yield c
    c.close()


def ipv4_udp(src: str, dst: str, payload: bytes = b"x") -> bytes:
    import ipaddress

    udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, ipaddress.IPv4Address(src).packed,
                       ipaddress.IPv4Address(dst).packed) + udp


def _idle_with_session(core, supi=MEMBER, gnb=None):
    g = gnb or core.gnb()
    ue = core.ue(supi, g, usim=subscribed_usim(supi))
    core.register(ue)
    core.do(ue, ue.nas.establish_session(1))
    assert outcome(ue) == ("registered", None) and 1 in ue.sessions_up
    core.release(ue)
    assert ue.nas.cm_state == "idle" and ue.ran_id is None
    return g, ue


def _upf_session(core, ue_ip: str):
    (s,) = [s for s in core.upf._sessions.values() if s.ue_ipv4 == ue_ip]
    return s


def _full_service_request(ue, sr: SendNas) -> nas.ServiceRequest:
    """The complete SERVICE REQUEST from the ciphered NAS message container (TS 24.501 4.4.6)."""
    outer = nas.SecurityProtectedMessage.decode(sr.pdu)
    clear = nas.decode_plain(outer.payload)
    assert isinstance(clear, nas.ServiceRequest)
    assert clear.uplink_data_status is None and clear.pdu_session_status is None  # only cleartext IEs outside
    sec = ue.nas.sec
    count = ((sec.send_count - 1) & ~0xFF) | outer.sequence_number  # NAS COUNT = overflow | sequence number
    data = nea(sec.nea, sec.k_nas_enc, count, sec.bearer, DIRECTION_UPLINK, clear.nas_message_container) \
        if sec.nea else clear.nas_message_container
    full = nas.decode_plain(data)
    assert isinstance(full, nas.ServiceRequest)
    return full


def test_an_release_deactivates_the_user_plane_and_the_upf_buffers(core) -> None:
    g, ue = _idle_with_session(core)
    ip = ue.sessions_up[1]
    (info,) = core.smf.sessions(MEMBER)
    assert info.state == "inactive" and info.dl_teid is None
    s = _upf_session(core, ip)
    assert s.dl_action == P.ApplyAction.BUFF | P.ApplyAction.NOCP and s.dl_peer is None
    # control: before the release the FAR forwarded (the deactivation is what changed it)
    assert [e for e in core.amf_events if e.type == "ue_context_release"]


def test_downlink_data_pages_the_idle_ue_and_is_delivered_after_its_service_request(core) -> None:
    g, ue = _idle_with_session(core)
    ip = ue.sessions_up[1]
    pkt = ipv4_udp(DN, ip, b"ping")
    assert core.n6_downlink(pkt) is None  # buffered
    # UPF: one Downlink Data Report -> SMF -> AMF PAGING -> the UE answers (mobile terminated services)
    assert core.n4.upf_requests == 1
    pagings = [m for m in g.inbox if isinstance(m, ngap.Paging)]
    assert len(pagings) == 1 and pagings[0].ue_paging_identity.to_int() == s_tmsi_of(ue.nas.guti)
    assert [t.tac for t in pagings[0].tai_list] == [1]
    assert ue.paged == 1 and ue.ev("ue.paged")
    sr = [o for o in ue.sent if o.initial][-1]
    assert sr.cause == "mt-Access"
    full = _full_service_request(ue, sr)
    assert full.service_type == nas.ServiceType.MOBILE_TERMINATED_SERVICES and full.pdu_session_status == {1}
    # the AMF re-activated session 1 (ICS with its N2 SM information) and the buffered packet went out
    (acc,) = core.amf_ev("service_request_accepted")
    assert acc["reactivated"] == [1] and acc["failed"] == [] and acc["service_type"] == "mobile-terminated"
    assert core.smf.sessions(MEMBER)[0].state == "active"
    (out,) = core.n3
    assert out[1] == ("10.0.0.2", 2152)
    g_pdu = gtpu.decode(out[0])
    assert (g_pdu.teid, g_pdu.payload) == (0x101, pkt)
    assert ue.nas.cm_state == "connected" and ue.ev("ue.service_accept")[-1]["service_type"] == "mobile-terminated"
    # the UE stayed registered: no implicit de-registration, no periodic registration was needed
    assert outcome(ue) == ("registered", None) and core.amf.ue_contexts()[0]["registered"]
    assert not core.amf_ev("deregistration") and not core.amf_ev("paging_failed")
    assert not any(t.startswith("T3513") for t in core.amf_timers)
    # now connected: downlink goes straight through
    assert core.n6_downlink(pkt) is not None


def test_more_downlink_while_paging_is_buffered_and_reported_once(core) -> None:
    g, ue = _idle_with_session(core)
    ip = ue.sessions_up[1]
    ue.gnb = None  # the UE is out of coverage: nobody answers the paging
    for i in range(3):
        assert core.n6_downlink(ipv4_udp(DN, ip, bytes([i]))) is None
    assert core.n4.upf_requests == 1  # duplicate report suppression (TS 29.244 5.2.3.1)
    assert len([m for m in g.inbox if isinstance(m, ngap.Paging)]) == 1
    s = _upf_session(core, ip)
    assert len(s.dl_buffer) == 3 and s.report_sent
    # T3513: one retransmission, then the AMF gives up and tells the SMF, which re-arms the UPF
    core.fire_amf("T3513")
    assert len([m for m in g.inbox if isinstance(m, ngap.Paging)]) == 2
    core.fire_amf("T3513")
    assert core.amf_ev("paging_failed")[0]["pdu_session_ids"] == [1]
    assert not s.dl_buffer and s.drops["dl_buffer_discarded"] == 3 and not s.report_sent
    assert outcome(ue) == ("registered", None) and core.amf.ue_contexts()[0]["registered"]  # not de-registered
    # the next packet is reported again and pages again; this time the UE is back in coverage
    ue.gnb = g
    pkt = ipv4_udp(DN, ip, b"again")
    assert core.n6_downlink(pkt) is None
    assert core.n4.upf_requests == 2 and len([m for m in g.inbox if isinstance(m, ngap.Paging)]) == 3
    assert [gtpu.decode(d).payload for d, _ in core.n3] == [pkt]


def test_uplink_data_while_idle_uses_a_service_request_of_type_data(core) -> None:
    g, ue = _idle_with_session(core)
    outs = ue.nas.uplink_data(1)
    assert 1 in ue.nas.ul_data_pending
    (sr,) = [o for o in outs if isinstance(o, SendNas)]
    assert sr.initial and sr.cause == "mo-Data"
    full = _full_service_request(ue, sr)
    assert full.service_type == nas.ServiceType.DATA and full.uplink_data_status == {1}
    assert ue.nas.uplink_data(1) == [] and ue.nas.counters["service_requests"] == 1  # joins the running one
    core.do(ue, outs)
    assert ue.of(UserPlaneResult) == [UserPlaneResult((1,), ())]
    assert core.amf_ev("service_request_accepted")[0]["reactivated"] == [1]
    (info,) = core.smf.sessions(MEMBER)
    assert (info.state, info.dl_teid) == ("active", 0x101)
    # the uplink path works again: a G-PDU on the session's TEID reaches N6
    pkt = ipv4_udp(ue.sessions_up[1], DN, b"up")
    assert core.upf.uplink(gtpu.encode_gpdu(info.ul_teid, pkt, qfi=1, pdu_type=gtpu.PDU_TYPE_UL)) == pkt


def test_uplink_data_on_an_unknown_session_is_dropped(core) -> None:
    g, ue = _idle_with_session(core)
    outs = ue.nas.uplink_data(7)
    assert not [o for o in outs if isinstance(o, SendNas)] and 7 not in ue.nas.ul_data_pending
    assert any(isinstance(o, Event) and o.type == "ue.uplink_data_dropped" for o in outs)


def test_a_service_request_for_a_session_the_network_lost_reports_it_not_reactivated(core) -> None:
    g, ue = _idle_with_session(core)
    core.loop.run_until_complete(core.smf.release_all(MEMBER))  # the SMF lost the session
    core.do(ue, ue.nas.uplink_data(1))
    (acc,) = core.amf_ev("service_request_accepted")
    assert acc["reactivated"] == [] and acc["failed"] == [1]
    assert ue.of(UserPlaneResult) == [UserPlaneResult((), (1,))]
    sa = [e for e in ue.events if e.type == "ue.service_accept"][-1].fields
    assert sa["not_reactivated"] == [1]


def test_paging_for_another_ue_is_not_answered(core) -> None:
    g = core.gnb()
    _, ue1 = _idle_with_session(core, MEMBER, g)
    cg = core.gnb(assoc=4, gnb_id=4, cag_ids=())  # NON_MEMBER registers on a non-CAG cell, same TA
    ue2 = core.ue(NON_MEMBER, cg, usim=subscribed_usim(NON_MEMBER))
    core.register(ue2)
    assert outcome(ue2) == ("registered", None)
    core.release(ue2)
    assert ue2.nas.cm_state == "idle"
    assert s_tmsi_of(ue1.nas.guti) != s_tmsi_of(ue2.nas.guti)
    n1, n2 = len(ue1.sent), len(ue2.sent)
    core.n6_downlink(ipv4_udp(DN, ue1.sessions_up[1]))
    assert ue1.paged == 1 and len(ue1.sent) > n1
    assert ue2.paged == 0 and len(ue2.sent) == n2 and ue2.nas.cm_state == "idle"
    assert len([m for m in cg.inbox if isinstance(m, ngap.Paging)]) == 1  # both cells serve TA 1: both page
    # control: the NAS layer itself answers a paging only in 5GMM-IDLE
    outs = ue1.nas.paging_received()
    assert not [o for o in outs if isinstance(o, SendNas)]
    assert [o.fields["reason"] for o in outs if isinstance(o, Event) and o.type == "ue.paging_ignored"] == ["connected"]


def test_a_service_request_with_a_bad_mac_is_rejected_and_no_user_plane_comes_back(core) -> None:
    g, ue = _idle_with_session(core)

    def flip_mac(pdu: bytes) -> bytes:
        # an integrity protected (header type 1) SERVICE REQUEST (message type 0x4C after the 7-octet header)
        if pdu[1] & 0x0F == nas.SecurityHeaderType.INTEGRITY_PROTECTED and len(pdu) > 9 and pdu[9] == 0x4C:
            return pdu[:2] + bytes([pdu[2] ^ 0xFF]) + pdu[3:]  # first MAC octet
        return pdu

    smf_events: list[str] = []
    core.smf.on_event = lambda t, sev, **f: smf_events.append(t)
    g.mitm_ul = flip_mac
    core.do(ue, ue.nas.uplink_data(1))
    g.mitm_ul = None
    assert core.amf_ev("nas_mac_failure") and core.amf_ev("service_reject")[0]["reason"] == "unverified"
    assert not core.amf_ev("service_request_accepted")
    # no SmfActivate, no ICS with PDU sessions (the UE then registers afresh, #9: its session is released)
    assert "smf.session.activating" not in smf_events and "smf.session.active" not in smf_events
    assert not [m for m in g.inbox if isinstance(m, ngap.InitialContextSetupRequest) and m.pdu_sessions]
    assert ue.of(UserPlaneResult) == [UserPlaneResult((), (1,))]  # the held data is dropped
    assert ue.ev("ue.service_reject")[0]["cause"] == nas.FiveGmmCause.UE_IDENTITY_CANNOT_BE_DERIVED


def test_t3517_expiry_drops_the_held_data(core) -> None:
    g, ue = _idle_with_session(core)
    g.drop_ul = True
    core.do(ue, ue.nas.uplink_data(1))
    assert "T3517" in ue.timers and 1 in ue.nas.ul_data_pending
    core.fire_ue(ue, "T3517")
    assert ue.of(UserPlaneResult) == [UserPlaneResult((), (1,))] and not ue.nas.ul_data_pending


def test_service_accept_releases_sessions_the_network_no_longer_has(core) -> None:
    """5.6.1.4.1: PDU sessions the network reports inactive in SERVICE ACCEPT are released locally."""
    from testbed.ue.nas import SessionDown

    g, ue = _idle_with_session(core)
    core.do(ue, ue.nas.establish_session(2))  # from idle: a signalling service request
    core.release(ue)
    # the network forgets PDU session 2 (AMF and SMF), the UE still has it
    ctx = next(c for c in core.amf.ues.values() if c.supi_str == MEMBER)
    del ctx.pdu_sessions[2]
    core.do(ue, ue.nas.uplink_data(1))
    assert SessionDown(2) in ue.of(SessionDown) and 2 not in ue.nas.sessions and 1 in ue.nas.sessions
    assert ue.ev("ue.service_accept")[-1]["released_locally"] == [2]


def test_container_and_cleartext_of_the_service_request(core) -> None:
    """The complete message travels ciphered: a relay sees only service type, ngKSI, 5G-S-TMSI."""
    g, ue = _idle_with_session(core)
    outs = ue.nas.uplink_data(1)
    (sr,) = [o for o in outs if isinstance(o, SendNas)]
    clear = nas.decode_plain(nas.SecurityProtectedMessage.decode(sr.pdu).payload)
    assert clear.nas_message_container is not None and ue.nas.sec.nea != 0
    full = _full_service_request(ue, sr)
    assert dataclasses.replace(clear, nas_message_container=None) == nas.cleartext_part(full)
    assert full.encode() != clear.nas_message_container  # ciphered (control: the deciphered one is the message)
