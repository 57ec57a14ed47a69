"""Sample NGAP messages for the tests: every modelled message, minimal and with all optional IEs."""

from __future__ import annotations

from testbed.protocols import ngap

# A plain 5GS Registration Request (initial, SUCI null scheme, 5GMM capability, UE security
# capability, requested NSSAI) as sent by UERANSIM; from aligungr/UERANSIM mts/decoder.py.
REGISTRATION_REQUEST = bytes.fromhex("7e004171000d010011000000000099898877f71001002e04804080402f020101")
# A plain Authentication Response (RES* IE) from a real capture: magma/magma
# lte/gateway/c/core/oai/test/ngap/test_ngap_flows.cpp (uplink_nas_transport_sunny_day).
AUTHENTICATION_RESPONSE = bytes.fromhex("7e00572d108f17ab63de8bdeba9a55e4c5dc12b154")

PLMN = ngap.Plmn("001", "01")
PLMN3 = ngap.Plmn("310", "410")
ULI = ngap.UserLocationNR(ngap.NrCgi(PLMN, 0x000000010), ngap.Tai(PLMN, 1))
GUAMI = ngap.Guami(PLMN, 0x02, 0x001, 0x00)
CAUSE = ngap.Cause("radioNetwork", "user-inactivity")
KGNB = bytes(range(32))
REQ_TRANSFER = ngap.PduSessionResourceSetupRequestTransfer(
    ngap.GtpTunnel("10.45.0.1", 0x00000001), "ipv4", (ngap.QosFlowRequest(1, 9, 8),),
    ngap.UeAmbr(1_000_000_000, 500_000_000), ngap.SecurityIndication("not-needed", "not-needed"))
RES_TRANSFER = ngap.PduSessionResourceSetupResponseTransfer(ngap.GtpTunnel("192.168.1.2", 0x0000000B), (1,))
MOBILITY = ngap.MobilityRestriction(PLMN, (PLMN3,), (ngap.AllowedCagList(PLMN, (0x00001234, 0x00ABCDEF), True),))

MINIMAL: list[ngap.NgapMessage] = [
    ngap.NGSetupRequest(ngap.GlobalGnbId(PLMN, 1), (ngap.SupportedTa(1, (ngap.BroadcastPlmn(PLMN, (ngap.Snssai(1),)),)),)),
    ngap.NGSetupResponse("amf", (GUAMI,), (ngap.PlmnSupport(PLMN, (ngap.Snssai(1),)),)),
    ngap.NGSetupFailure(ngap.Cause("misc", "unspecified")),
    ngap.InitialUEMessage(1, REGISTRATION_REQUEST, ULI),
    ngap.UplinkNASTransport(1, 1, AUTHENTICATION_RESPONSE, ULI),
    ngap.DownlinkNASTransport(1, 1, REGISTRATION_REQUEST),
    ngap.InitialContextSetupRequest(1, 1, GUAMI, (ngap.Snssai(1),), ngap.UeSecurityCapabilities(), KGNB),
    ngap.InitialContextSetupResponse(1, 1),
    ngap.InitialContextSetupFailure(1, 1, CAUSE),
    ngap.PDUSessionResourceSetupRequest(1, 1, (ngap.PduSessionSetupRequest(1, ngap.Snssai(1), REQ_TRANSFER),)),
    ngap.PDUSessionResourceSetupResponse(1, 1),
    ngap.UEContextReleaseRequest(1, 1, CAUSE),
    ngap.UEContextReleaseCommand(1, ngap.Cause("nas", "normal-release")),
    ngap.UEContextReleaseComplete(1, 1),
    ngap.ErrorIndication(),
    ngap.NGReset(ngap.Cause("misc", "om-intervention")),
    ngap.NGResetAcknowledge(),
]

FULL: list[ngap.NgapMessage] = [
    ngap.NGSetupRequest(
        ngap.GlobalGnbId(PLMN, 0x12345678, 32),
        (ngap.SupportedTa(0xABCDEF, (ngap.BroadcastPlmn(PLMN, (ngap.Snssai(1), ngap.Snssai(1, 0x010203))),
                                     ngap.BroadcastPlmn(PLMN3, (ngap.Snssai(2),), nid=0x123456789AB))),
         ngap.SupportedTa(2, (ngap.BroadcastPlmn(PLMN, (ngap.Snssai(3),)),))),
        256, "nr-femto-0001"),
    ngap.NGSetupResponse("open5gs-amf0", (GUAMI, ngap.Guami(PLMN3, 0xFF, 0x3FF, 0x3F)),
                         (ngap.PlmnSupport(PLMN, (ngap.Snssai(1), ngap.Snssai(1, 0xFFFFFF))),), 17),
    ngap.NGSetupFailure(ngap.Cause("misc", "unknown-PLMN-or-SNPN"), 10),
    ngap.InitialUEMessage(0xFFFFFFFF, REGISTRATION_REQUEST, ULI, "mo-Data", ngap.FiveGSTmsi(0x3FF, 0x3F, 0xFFFFFFFF),
                          True, (0x00001234, 0xFFFFFFFF)),
    ngap.UplinkNASTransport(0xFFFFFFFFFF, 0xFFFFFFFF, AUTHENTICATION_RESPONSE, ULI),
    ngap.DownlinkNASTransport(7, 9, REGISTRATION_REQUEST, MOBILITY, (ngap.Snssai(1), ngap.Snssai(2, 3))),
    ngap.InitialContextSetupRequest(
        7, 9, GUAMI, (ngap.Snssai(1),), ngap.UeSecurityCapabilities(0xE000, 0xE000, 0xE000, 0xE000), KGNB,
        ngap.UeAmbr(2_000_000_000, 1_000_000_000),
        (ngap.PduSessionSetupRequest(5, ngap.Snssai(1, 0x010203), REQ_TRANSFER, AUTHENTICATION_RESPONSE),),
        MOBILITY, REGISTRATION_REQUEST),
    ngap.InitialContextSetupResponse(7, 9, (ngap.PduSessionSetupResult(5, RES_TRANSFER),),
                                     (ngap.PduSessionFailed(6, ngap.Cause("radioNetwork", "slice-not-supported")),)),
    ngap.InitialContextSetupFailure(7, 9, ngap.Cause("protocol", "semantic-error"),
                                    (ngap.PduSessionFailed(5, ngap.Cause("transport", "unspecified")),)),
    ngap.PDUSessionResourceSetupRequest(
        7, 9, (ngap.PduSessionSetupRequest(
            1, ngap.Snssai(1), ngap.PduSessionResourceSetupRequestTransfer(
                ngap.GtpTunnel("2001:db8::1", 0xFFFFFFFF), "ipv4v6",
                (ngap.QosFlowRequest(1), ngap.QosFlowRequest(63, 5, 1, "may-trigger-pre-emption", "pre-emptable")),
                None, ngap.SecurityIndication("required", "preferred", "maximum-UE-rate")),
            AUTHENTICATION_RESPONSE),
            ngap.PduSessionSetupRequest(2, ngap.Snssai(2), REQ_TRANSFER)),
        REGISTRATION_REQUEST, ngap.UeAmbr(1, 2)),
    ngap.PDUSessionResourceSetupResponse(
        7, 9, (ngap.PduSessionSetupResult(1, ngap.PduSessionResourceSetupResponseTransfer(
            ngap.GtpTunnel("10.0.0.1", 1, "2001:db8::2"), (1, 63))),),
        (ngap.PduSessionFailed(2, ngap.Cause("radioNetwork", "unspecified")),)),
    ngap.UEContextReleaseRequest(7, 9, ngap.Cause("radioNetwork", "radio-connection-with-ue-lost"), (1, 2, 255)),
    ngap.UEContextReleaseCommand(7, ngap.Cause("nas", "deregister"), 9),
    ngap.UEContextReleaseComplete(7, 9, ULI, (1,)),
    ngap.ErrorIndication(7, 9, ngap.Cause("protocol", "abstract-syntax-error-reject"), ngap.FiveGSTmsi(1, 2, 3)),
    ngap.NGReset(ngap.Cause("misc", "om-intervention"), (ngap.UeConnection(7, 9), ngap.UeConnection(None, 10),
                                                         ngap.UeConnection(11, None))),
    ngap.NGResetAcknowledge((ngap.UeConnection(7, 9),)),
]

ALL = MINIMAL + FULL
