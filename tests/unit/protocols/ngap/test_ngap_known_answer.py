"""Known-answer tests against NGAP PDUs captured from real stacks.

The PDUs are the ones magma uses in lte/gateway/c/core/oai/test/ngap/test_ngap_flows.cpp
(magma/magma), captured from a UERANSIM gNB talking to magma's AMF.
"""

from __future__ import annotations

from testbed.protocols import ngap

from ._samples import AUTHENTICATION_RESPONSE

# NGSetupRequest from the gNB "UERANSIM-gnb-222-456-1" (test_ngap_setup_request)
NG_SETUP_REQUEST = bytes.fromhex(
    "00150042000004001b0009002242655000000001005240180a80554552414e53494d2d676e622d3232322d3435362d31"
    "0066000d000000000100224265000000080015400140")
# UplinkNASTransport with an Authentication Response (uplink_nas_transport_sunny_day)
UL_NAS_TRANSPORT = bytes.fromhex(
    "002e4040000004000a000440010002005500048001000100260016157e00572d108f17ab63de8bdeba9a55e4c5dc12b154"
    "0079400f4013f184000200000013f184000088")
# InitialContextSetupResponse (initial_context_setup_response_sunny_day)
ICS_RESPONSE = bytes.fromhex("200e0011000002000a400200050055400480010001")
# UEContextReleaseRequest, cause radioNetwork/user-inactivity (ue_context_release_request_sunny_day)
UE_CONTEXT_RELEASE_REQUEST = bytes.fromhex("002a4017000003000a000200050055000480010001000f40020500")
# UEContextReleaseComplete (ue_context_release_complete_sunny_day)
UE_CONTEXT_RELEASE_COMPLETE = bytes.fromhex("20290011000002000a400200050055400480010001")
# PDUSessionResourceSetupResponse with a DL tunnel 5.5.5.2 / TEID 0x0b (pdu_session_resource_setup_resp_sunny_day)
PDU_SESSION_SETUP_RESPONSE = bytes.fromhex(
    "201d0027000003000a400200050055400480010001004b40120000050e0003e0050505020000000b010000")


def test_ueransim_ng_setup_request():
    msg = ngap.decode(NG_SETUP_REQUEST)
    # The PLMN octets are 22 42 65: MCC 222, and per TS 24.008 10.5.1.13 MNC digit 3 is the high
    # nibble of octet 2, so the MNC reads 564 (the gNB name says 456; Wireshark also shows 564).
    plmn = ngap.Plmn("222", "564")
    assert msg == ngap.NGSetupRequest(
        ngap.GlobalGnbId(plmn, 1, 32),
        (ngap.SupportedTa(1, (ngap.BroadcastPlmn(plmn, (ngap.Snssai(1),)),)),),
        128, "UERANSIM-gnb-222-456-1")
    assert ngap.encode(msg) == NG_SETUP_REQUEST


def test_uplink_nas_transport():
    msg = ngap.decode(UL_NAS_TRANSPORT)
    plmn = ngap.Plmn("311", "48")
    assert msg == ngap.UplinkNASTransport(
        65538, 65537, AUTHENTICATION_RESPONSE, ngap.UserLocationNR(ngap.NrCgi(plmn, 0x000200000), ngap.Tai(plmn, 0x88)))
    assert ngap.encode(msg) == UL_NAS_TRANSPORT


def test_initial_context_setup_response():
    msg = ngap.decode(ICS_RESPONSE)
    assert msg == ngap.InitialContextSetupResponse(5, 65537)
    assert ngap.encode(msg) == ICS_RESPONSE


def test_ue_context_release_request_and_complete():
    req = ngap.decode(UE_CONTEXT_RELEASE_REQUEST)
    assert req == ngap.UEContextReleaseRequest(5, 65537, ngap.Cause("radioNetwork", "user-inactivity"))
    assert ngap.encode(req) == UE_CONTEXT_RELEASE_REQUEST
    done = ngap.decode(UE_CONTEXT_RELEASE_COMPLETE)
    assert done == ngap.UEContextReleaseComplete(5, 65537)
    assert ngap.encode(done) == UE_CONTEXT_RELEASE_COMPLETE


def test_pdu_session_resource_setup_response():
    msg = ngap.decode(PDU_SESSION_SETUP_RESPONSE)
    assert msg == ngap.PDUSessionResourceSetupResponse(5, 65537, (ngap.PduSessionSetupResult(
        5, ngap.PduSessionResourceSetupResponseTransfer(ngap.GtpTunnel("5.5.5.2", 0x0B), (0,))),))
    # the capture also carries qosFlowMappingIndication 'ul', which we do not model: re-encoding drops it
    again = ngap.encode(msg)
    assert len(again) == len(PDU_SESSION_SETUP_RESPONSE) - 1
    assert ngap.decode(again) == msg
