"""Decoding real NAS messages captured by other projects, and re-encoding them.

Sources (hex copied from the public repositories):

* pycrate, ``test/test_mobile.py`` (P1sec/pycrate, commit 3ae75e1b), ``nas_5g_pdu``: 5G NAS PDUs
  from captures (registration, authentication, security mode, PDU session, NAS transport).
* free5GC, ``nas_test.go`` (free5gc/nas, commit 67b00672): ``hexString``, an AUTHENTICATION REQUEST.
* UERANSIM's REGISTRATION REQUEST as carried in the NGAP InitialUEMessage that Open5GS and free5GC
  receive (SUCI null scheme, MCC 001 MNC 01, MSIN 0000000000, UE security capability f0f0f0f0).
"""

from __future__ import annotations

import pytest

from testbed.protocols import nas

PYCRATE = "pycrate test/test_mobile.py"


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def roundtrip(buf: bytes) -> nas.NasMessage:
    msg = nas.decode(buf)
    again = nas.encode(msg)
    assert nas.decode(again) == msg
    return msg


def test_registration_request_suci_null_scheme_pycrate() -> None:
    buf = h("7e004179000d0100f1100000000022222222222e02e0e0")
    msg = roundtrip(buf)
    assert nas.encode(msg) == buf
    assert isinstance(msg, nas.RegistrationRequest)
    assert msg.registration_type == nas.RegistrationType.INITIAL and msg.follow_on_request
    assert msg.ngksi.no_key
    suci = msg.mobile_identity
    assert isinstance(suci, nas.Suci)
    assert (suci.mcc, suci.mnc, suci.routing_indicator, suci.scheme) == ("001", "01", "0000", 0)
    assert suci.msin == "2222222222"
    assert msg.ue_security_capability == nas.UeSecurityCapability(nea={0, 1, 2}, nia={0, 1, 2})
    assert nas.non_cleartext_ies(msg) == []


def test_registration_request_ueransim() -> None:
    buf = h("7e004179000d0100f110000000000000000000" + "2e04f0f0f0f0")
    msg = roundtrip(buf)
    assert nas.encode(msg) == buf
    assert msg.ue_security_capability == nas.UeSecurityCapability({0, 1, 2, 3}, {0, 1, 2, 3}, {0, 1, 2, 3},
                                                                  {0, 1, 2, 3})
    assert msg.mobile_identity.msin == "0000000000"


def test_authentication_request_free5gc() -> None:
    buf = h("7e00560102000021e440b883d63a9f9c56b3703217152eba2010068f241c77748000b2180e54a9760068")
    msg = roundtrip(buf)
    assert nas.encode(msg) == buf
    assert msg == nas.AuthenticationRequest(
        ngksi=nas.NgKsi(1), abba=b"\x00\x00", rand=h("e440b883d63a9f9c56b3703217152eba"),
        autn=h("068f241c77748000b2180e54a9760068"))


def test_authentication_request_and_response_pycrate() -> None:
    req = roundtrip(h("7e0056000200002198a600000000000098a600000000000020105c717acfe29180001fb3117a0f18c3ab"))
    assert req.ngksi == nas.NgKsi(0) and req.rand == h("98a600000000000098a6000000000000")
    rsp = roundtrip(h("7e00572d1034f95b9d3826fc095c9d9232f4d182c5"))
    assert rsp == nas.AuthenticationResponse(res_star=h("34f95b9d3826fc095c9d9232f4d182c5"))


@pytest.mark.parametrize("hexstr,sht,sqn,inner", [
    ("7e038f2b564d007e005d010002e0e0", 3, 0, "7e005d010002e0e0"),  # security mode command
    ("7e04fd5a6e42007e005e", 4, 0, "7e005e"),  # security mode complete (ciphered with NEA0)
    ("7e0100000000037e004561000bf2030246010041c0e00010", 1, 3, None),  # MO deregistration request
])
def test_security_protected_envelopes_pycrate(hexstr: str, sht: int, sqn: int, inner: str | None) -> None:
    buf = h(hexstr)
    env = nas.decode(buf)
    assert isinstance(env, nas.SecurityProtectedMessage)
    assert env.security_header_type == sht and env.sequence_number == sqn
    assert nas.encode(env) == buf
    if inner is not None:
        assert env.payload == h(inner)
    nas.decode(env.payload)  # the (unciphered) payload is a valid plain message


def test_security_mode_command_inner_pycrate() -> None:
    msg = roundtrip(h("7e005d010002e0e0"))
    assert msg == nas.SecurityModeCommand(
        selected_algorithms=nas.NasSecurityAlgorithms(0, 1), ngksi=nas.NgKsi(0),
        replayed_ue_security_capability=nas.UeSecurityCapability(nea={0, 1, 2}, nia={0, 1, 2}))
    beefy = roundtrip(h("7e005d000602f0f0e1360102"))
    assert beefy.imeisv_request is True
    assert beefy.additional_security_information == nas.Additional5gSecurityInformation(True, False)


def test_security_mode_complete_with_container_pycrate() -> None:
    buf = h("7e005e7700091530014100002100f07100217e004169000d010302460fff000000000000f11001072e02f0f02f05040aabcdef")
    msg = roundtrip(buf)
    assert nas.encode(msg) == buf
    assert msg.imeisv == nas.Pei("1031014000012000", imeisv=True)
    # The REGISTRATION REQUEST in the container has its routing indicator octets as 0f ff: digit 1
    # is 0xF, which TS 24.501 9.11.3.4 does not allow (only trailing unused digits are 0xF).
    with pytest.raises(nas.DecodeError, match="routing indicator"):
        nas.decode(msg.nas_message_container)
    fixed = msg.nas_message_container.replace(h("0302460fff"), h("030246f0ff"))
    inner = nas.decode(fixed)
    assert isinstance(inner, nas.RegistrationRequest)
    assert inner.mobile_identity.mcc == "302" and inner.mobile_identity.mnc == "640"
    assert inner.mobile_identity.routing_indicator == "0"
    assert inner.requested_nssai == (nas.SNssai(10, 0xABCDEF),)
    assert nas.non_cleartext_ies(inner) == ["mm_capability", "requested_nssai"]


def test_registration_accept_pycrate() -> None:
    msg = roundtrip(h("7e0042010177000bf2030246010041c0e000105407200302460000641505040aabcdef"
                      "2101005e016516012c"))
    assert msg.guti == nas.Guti5g("302", "640", 1, 1, 1, 0xC0E00010)
    assert msg.tai_list == (nas.Tai(nas.PlmnId("302", "640"), 100),)  # a "consecutive TACs" list
    assert msg.allowed_nssai == (nas.SNssai(10, 0xABCDEF),)
    assert msg.t3512.seconds == 10 and msg.t3502.seconds == 720
    assert msg.result.value == nas.RegistrationResultValue.THREEGPP_ACCESS


def test_registration_reject_and_config_update_pycrate() -> None:
    rej = roundtrip(h("7e004407"))
    assert rej.cause == nas.FiveGmmCause.FIVEGS_SERVICES_NOT_ALLOWED
    buf = h("7e0054d0430989cef73a1d2696db6f450989cef73a1d2696db6f46694791501391446069490101")
    cuc = roundtrip(buf)
    assert nas.encode(cuc) == buf  # the time zone IEs come back from other_ies
    assert [r.name for r in cuc.other_ies] == ["LocalTimeZone", "UnivTimeAndTimeZone", "DLSavingTime"]


def test_pdu_session_messages_pycrate() -> None:
    req = roundtrip(h("2e0501c1ffff91a1"))
    assert (req.pdu_session_id, req.pti, req.pdu_session_type, req.ssc_mode) == (5, 1, 1, 1)
    acc = roundtrip(h("2e0501c211000901000631310101ff0506060001060001290501ac115f012506056461746131"))
    assert acc.pdu_address == nas.PduAddress(nas.PduSessionType.IPV4, "172.17.95.1")
    assert acc.dnn == "data1" and acc.session_ambr.downlink_bps == 1_000_000
    (rule,) = acc.qos_rules
    assert rule.default_rule and rule.qfi == 5 and rule.precedence == 255
    assert rule.packet_filters == (nas.PacketFilter(1, 3, nas.PacketFilter.MATCH_ALL),)


def test_nas_transport_pycrate() -> None:
    ul = roundtrip(h("7e00670100072e0602c1000091120681220401000001250706766973696f6e"))
    assert ul.dnn == "vision" and ul.s_nssai == nas.SNssai(1, 1) and ul.pdu_session_id == 6
    assert ul.request_type == nas.RequestType.INITIAL_REQUEST
    sm = nas.decode(ul.payload_container)
    assert isinstance(sm, nas.PduSessionEstablishmentRequest) and sm.pdu_session_id == 6
    env = nas.decode(h("7e0100000000067e006801002d2e0602c2110009ff000631310101ff050603f42403f4242905010b000033"
                       "220401000001250706766973696f6e1206"))
    dl = nas.decode(env.payload)
    assert isinstance(dl, nas.DlNasTransport) and dl.pdu_session_id == 6
    acc = nas.decode(dl.payload_container)
    assert isinstance(acc, nas.PduSessionEstablishmentAccept) and acc.pdu_address.ipv4 == "11.0.0.51"
