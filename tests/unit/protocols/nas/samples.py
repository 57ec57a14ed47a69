"""Sample NAS messages: one or more per message class, with most optional IEs set."""

from __future__ import annotations

from testbed.crypto.suci import Suci
from testbed.protocols import nas

PLMN = nas.PlmnId("001", "01")
SUCI = Suci("001", "01", "0000", 0, 0, bytes.fromhex("0000000001"))
GUTI = nas.Guti5g("001", "01", 0xCA, 0x3F8, 0x01, 0x12345678)
STMSI = nas.STmsi5g(0x3F8, 0x01, 0x12345678)
IMEISV = nas.Pei("3534900698733119", imeisv=True)
IMEI = nas.Pei("353490069873311")
SEC_CAP = nas.UeSecurityCapability(nea={0, 1, 2, 3}, nia={0, 1, 2, 3})
SEC_CAP_EPS = nas.UeSecurityCapability(nea={0, 2}, nia={2}, eea={0, 2}, eia={2})
SLICE = nas.SNssai(1, 0x010203)
CAG = (nas.CagInfo(PLMN, (0x00000001, 0xCAFE0001), cag_only=True), nas.CagInfo(nas.PlmnId("208", "930"), ()))
TAI = nas.Tai(PLMN, 1)
SM_REQ = nas.PduSessionEstablishmentRequest(
    pdu_session_id=1, pti=1, pdu_session_type=nas.PduSessionType.IPV4, ssc_mode=nas.SscMode.SSC_MODE_1,
    extended_pco=bytes.fromhex("80000a00000d00"))
SM_ACC = nas.PduSessionEstablishmentAccept(
    pdu_session_id=1, pti=1,
    qos_rules=(nas.QosRule(1, 1, True, (nas.PacketFilter(1, 3, nas.PacketFilter.MATCH_ALL),), 255, 1),),
    session_ambr=nas.SessionAmbr(6, 100, 6, 50),
    pdu_address=nas.PduAddress(nas.PduSessionType.IPV4, "10.45.0.2"),
    s_nssai=SLICE, dnn="internet", qos_flow_descriptions=bytes.fromhex("0120410109040100000005"),
)


def samples() -> list[nas.NasMessage]:
    """Messages of every supported type (5GMM and 5GSM)."""
    return [
        nas.RegistrationRequest(
            registration_type=nas.RegistrationType.INITIAL, follow_on_request=True, mobile_identity=SUCI,
            ue_security_capability=SEC_CAP, requested_nssai=(SLICE, nas.SNssai(2)),
            ue_status=nas.UeStatus(n1_mode_registered=False, s1_mode_registered=True),
            mm_capability=b"\x07", last_visited_tai=TAI, update_type=b"\x01"),
        nas.RegistrationRequest(
            registration_type=nas.RegistrationType.MOBILITY_UPDATING, ngksi=nas.NgKsi(1),
            mobile_identity=GUTI, ue_security_capability=SEC_CAP_EPS, uplink_data_status={1, 5},
            pdu_session_status={1, 5, 15}, allowed_pdu_session_status={1}, additional_guti=GUTI,
            non_current_native_ngksi=nas.NgKsi(2, 0),
            nas_message_container=nas.RegistrationRequest(
                registration_type=nas.RegistrationType.MOBILITY_UPDATING, mobile_identity=GUTI,
                requested_nssai=(SLICE,)).encode()),
        nas.RegistrationRequest(registration_type=nas.RegistrationType.PERIODIC_UPDATING, ngksi=nas.NgKsi(3),
                                mobile_identity=GUTI),
        nas.RegistrationRequest(registration_type=nas.RegistrationType.EMERGENCY, mobile_identity=IMEI),
        nas.RegistrationAccept(
            result=nas.RegistrationResult(sms_allowed=True), guti=GUTI, equivalent_plmns=(nas.PlmnId("208", "93"),),
            tai_list=(TAI, nas.Tai(PLMN, 7), nas.Tai(nas.PlmnId("208", "93"), 1)), allowed_nssai=(SLICE,),
            configured_nssai=(SLICE, nas.SNssai(1)), network_feature_support=b"\x01\x00",
            pdu_session_status={1}, t3512=nas.GprsTimer3.from_seconds(3600),
            t3502=nas.GprsTimer.from_seconds(720), cag_information_list=CAG),
        nas.RegistrationComplete(),
        nas.RegistrationReject(
            cause=nas.FiveGmmCause.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY,
            cag_information_list=CAG, t3502=nas.GprsTimer(1, 12), t3346=nas.GprsTimer(0, 10)),
        nas.AuthenticationRequest(ngksi=nas.NgKsi(0), abba=b"\x00\x00", rand=bytes(range(16)),
                                  autn=bytes(range(16, 32))),
        nas.AuthenticationResponse(res_star=bytes(range(100, 116))),
        nas.AuthenticationFailure(cause=nas.FiveGmmCause.MAC_FAILURE),
        nas.AuthenticationFailure(cause=nas.FiveGmmCause.SYNCH_FAILURE, auts=bytes(range(14))),
        nas.AuthenticationFailure(cause=nas.FiveGmmCause.NON_5G_AUTHENTICATION_UNACCEPTABLE),
        nas.AuthenticationReject(),
        nas.IdentityRequest(identity_type=nas.IdentityType.SUCI),
        nas.IdentityResponse(mobile_identity=SUCI),
        nas.SecurityModeCommand(
            selected_algorithms=nas.NasSecurityAlgorithms(2, 2), ngksi=nas.NgKsi(0),
            replayed_ue_security_capability=SEC_CAP, imeisv_request=True,
            additional_security_information=nas.Additional5gSecurityInformation(True, False), abba=b"\x00\x00"),
        nas.SecurityModeComplete(imeisv=IMEISV, nas_message_container=bytes.fromhex("7e004179000d0100f110000000000000000001")),
        nas.SecurityModeReject(cause=nas.FiveGmmCause.UE_SECURITY_CAPABILITIES_MISMATCH),
        nas.DeregistrationRequestUeOriginating(
            deregistration_type=nas.DeregistrationType(switch_off=True), ngksi=nas.NgKsi(0), mobile_identity=GUTI),
        nas.DeregistrationAcceptUeOriginating(),
        nas.DeregistrationRequestUeTerminated(
            deregistration_type=nas.DeregistrationType(re_registration_required=True),
            cause=nas.FiveGmmCause.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY,
            cag_information_list=CAG[:1]),
        nas.DeregistrationAcceptUeTerminated(),
        nas.ServiceRequest(service_type=nas.ServiceType.DATA, ngksi=nas.NgKsi(1), s_tmsi=STMSI,
                           uplink_data_status={1}, pdu_session_status={1}),
        nas.ServiceAccept(pdu_session_status={1}, pdu_session_reactivation_result={1}),
        nas.ServiceReject(cause=nas.FiveGmmCause.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY,
                          cag_information_list=CAG, t3346=nas.GprsTimer(1, 2)),
        nas.ConfigurationUpdateCommand(
            indication=nas.ConfigurationUpdateIndication(acknowledgement_requested=True), guti=GUTI,
            tai_list=(TAI,), allowed_nssai=(SLICE,), cag_information_list=CAG),
        nas.ConfigurationUpdateComplete(),
        nas.UlNasTransport(payload_container=SM_REQ.encode(), pdu_session_id=1,
                           request_type=nas.RequestType.INITIAL_REQUEST, s_nssai=SLICE, dnn="internet"),
        nas.DlNasTransport(payload_container=SM_ACC.encode(), pdu_session_id=1),
        nas.DlNasTransport(payload_container=SM_REQ.encode(), pdu_session_id=1,
                           cause=nas.FiveGmmCause.PAYLOAD_WAS_NOT_FORWARDED,
                           back_off_timer=nas.GprsTimer3.from_seconds(60)),
        nas.FiveGmmStatus(cause=nas.FiveGmmCause.MESSAGE_TYPE_NON_EXISTENT_OR_NOT_IMPLEMENTED),
        SM_REQ,
        SM_ACC,
        nas.PduSessionEstablishmentReject(pdu_session_id=1, pti=1,
                                          cause=nas.FiveGsmCause.MISSING_OR_UNKNOWN_DNN,
                                          back_off_timer=nas.GprsTimer3(5, 1)),
        nas.PduSessionReleaseRequest(pdu_session_id=1, pti=2, cause=nas.FiveGsmCause.REGULAR_DEACTIVATION),
        nas.PduSessionReleaseReject(pdu_session_id=1, pti=2, cause=nas.FiveGsmCause.PDU_SESSION_DOES_NOT_EXIST),
        nas.PduSessionReleaseCommand(pdu_session_id=1, pti=2),
        nas.PduSessionReleaseComplete(pdu_session_id=1, pti=2),
        nas.FiveGsmStatus(pdu_session_id=1, pti=0, cause=nas.FiveGsmCause.INVALID_PTI_VALUE),
    ]
