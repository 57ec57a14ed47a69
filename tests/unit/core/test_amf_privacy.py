"""SUPI hiding towards the femto (TS 33.501 5.2.5, 6.12): nothing the AMF sends to a gNB names the
SUPI/IMSI, the MSIN or the MSISDN, over a run that exercises every procedure."""

from __future__ import annotations

from testbed.core.amf import SendNgap, SmReply
from testbed.crypto.identity import bcd_encode
from testbed.crypto.suci import NULL_SCHEME, PROFILE_A, PROFILE_B
from testbed.protocols import nas, ngap

from .scripted_ran import CAG_FEMTO, CAG_OTHER, Env

MSISDNS = ("491700000001", "491700000002", "491700000003", "491700000004", "491700000005")


def _needles(ue, msisdn: str) -> list[bytes]:
    imsi = ue.supi.imsi_digits
    out = [imsi.encode(), ue.supi.msin.encode(), bcd_encode(ue.supi.msin), bcd_encode(imsi), msisdn.encode(),
           bcd_encode(msisdn), ue.supi.to_string().encode()]
    return out


def test_supi_msin_and_msisdn_never_reach_a_gnb() -> None:
    env = Env()
    femto = env.femto()
    macro = env.h.setup(2, 2)
    h = env.h
    ues = []
    for i, (scheme, cags) in enumerate([(PROFILE_A, (CAG_FEMTO,)), (PROFILE_B, (CAG_FEMTO,)), (NULL_SCHEME, (CAG_FEMTO,)),
                                        (PROFILE_A, (CAG_OTHER,)), (PROFILE_B, ())]):
        ue = env.ue(scheme=scheme, allowed_cag_ids=cags, msisdn=MSISDNS[i])
        ues.append(ue)
    member, member_b, member_null, outsider, plain = ues
    for ue in (member, member_b, member_null):
        h.register(ue, femto)
        assert ue.registered
    h.register(outsider, femto)  # #76 with CAG information list
    assert outsider.reject is not None
    h.register(plain, macro)
    outsider2 = env.ue(scheme=PROFILE_A, allowed_cag_ids=(CAG_OTHER,), msisdn="491700000009")
    h.register(outsider2, femto, nas.RegistrationType.EMERGENCY)  # emergency bypass
    # failures
    bad = env.ue(msisdn="491700000010")
    bad.wrong_res = True
    h.register(bad, femto)
    sync = env.ue(msisdn="491700000011")
    sync.desync()
    h.register(sync, macro)
    # PDU session, release to idle, service request, GUTI re-registration, deregistrations, CAG refresh
    est = nas.PduSessionEstablishmentRequest(pdu_session_id=1, pti=1, pdu_session_type=nas.PduSessionType.IPV4)
    femto.uplink(member, member.ul_nas_transport(est))
    n2 = ngap.PduSessionResourceSetupRequestTransfer(ngap.GtpTunnel("10.100.0.1", 7)).to_bytes()
    h.feed(env.amf.smf_reply(member.amf_ue_ngap_id, SmReply(1, est.encode(), n2, "setup")))
    femto.send(ngap.UEContextReleaseRequest(member.amf_ue_ngap_id, member.ran_ue_ngap_id,
                                            ngap.Cause("radioNetwork", "user-inactivity")))
    femto.connect(member, member.service_request())
    femto.send(ngap.UEContextReleaseRequest(member.amf_ue_ngap_id, member.ran_ue_ngap_id,
                                            ngap.Cause("radioNetwork", "user-inactivity")))
    h.feed(env.amf.n1n2_message_transfer(member.supi.to_string(), 1))  # downlink data: PAGING (5G-S-TMSI)
    assert any(isinstance(m, ngap.Paging) for m in femto.inbox)
    h.register(member, femto, nas.RegistrationType.MOBILITY_UPDATING)
    env.udm.subscribers[member_b.supi.to_string()].allowed_cag_ids = frozenset({CAG_FEMTO, 5})
    h.feed(env.amf.refresh_cag(member_b.supi.to_string()))
    env.udm.subscribers[member_null.supi.to_string()].allowed_cag_ids = frozenset()
    h.feed(env.amf.refresh_cag(member_null.supi.to_string()))
    femto.uplink(member, member.deregistration_request())
    h.feed(env.amf.deregister(plain.supi.to_string()))
    env.h.feed(env.amf.ngap_received(1, b"\x00\x01garbage"))

    sent = [o for o in h.sent if isinstance(o, SendNgap)]
    assert len(sent) > 40
    types = set(h.types())
    for t in ("registration_complete", "registration_reject", "auth_failure", "sync_failure", "pdu_session_setup",
              "service_request_accepted", "cag_update", "cag_reject", "deregistration", "cag_bypass_emergency",
              "paging_sent"):
        assert t in types, t
    for ue, msisdn in zip(ues + [outsider2, bad, sync], MSISDNS + ("491700000009", "491700000010", "491700000011"),
                          strict=True):
        for needle in _needles(ue, msisdn):
            for o in sent:
                assert needle not in o.data, (ue.supi, needle, ngap.decode(o.data))
    # control: the search does find the SUPI where it legitimately is (events, operator domain)
    assert any(ue.supi.to_string() == e.fields.get("supi") for e in h.events for ue in ues)
    # and would find a MSIN if one were in an NGAP PDU (the null-scheme SUCI the UE itself sent)
    first = ngap.encode(ngap.InitialUEMessage(1, member_null.registration_request(identity="suci"), femto.uli()))
    assert bcd_encode(member_null.supi.msin) in first
