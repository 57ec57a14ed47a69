"""Cleartext IEs of initial NAS messages (TS 24.501 4.4.6)."""

from __future__ import annotations

import pytest

from testbed.protocols import nas

from .samples import GUTI, SEC_CAP, SLICE, STMSI, SUCI, TAI

FULL = nas.RegistrationRequest(
    registration_type=nas.RegistrationType.INITIAL, follow_on_request=True, mobile_identity=SUCI,
    ue_security_capability=SEC_CAP, requested_nssai=(SLICE,), last_visited_tai=TAI, mm_capability=b"\x07",
    ue_status=nas.UeStatus(s1_mode_registered=True), additional_guti=GUTI, pdu_session_status={1},
    update_type=b"\x01")


def test_cleartext_part_keeps_only_cleartext_ies() -> None:
    initial = nas.cleartext_part(FULL)
    assert initial == nas.RegistrationRequest(
        registration_type=nas.RegistrationType.INITIAL, follow_on_request=True, mobile_identity=SUCI,
        ue_security_capability=SEC_CAP, ue_status=nas.UeStatus(s1_mode_registered=True), additional_guti=GUTI)
    assert nas.non_cleartext_ies(initial) == []
    assert nas.non_cleartext_ies(nas.decode(nas.encode(initial))) == []


def test_non_cleartext_ies_lists_violations() -> None:
    assert nas.non_cleartext_ies(FULL) == [
        "mm_capability", "requested_nssai", "last_visited_tai", "pdu_session_status", "update_type"]


def test_full_message_goes_into_security_mode_complete() -> None:
    smc = nas.SecurityModeComplete(nas_message_container=nas.encode(FULL))
    inner = nas.decode(nas.decode(nas.encode(smc)).nas_message_container)
    assert inner == FULL


def test_unknown_and_raw_ies_count_as_non_cleartext() -> None:
    buf = nas.encode(nas.cleartext_part(FULL)) + bytes.fromhex("b1" "3f0100")  # MICO indication, unknown IEI
    msg = nas.decode(buf)
    assert nas.non_cleartext_ies(msg) == ["MICOInd", "IEI_0x3F"]
    assert nas.non_cleartext_ies(nas.cleartext_part(msg)) == []
    # NID (Rel-17) is a cleartext IE even though it is only kept as a raw IE
    with_nid = nas.decode(nas.encode(nas.cleartext_part(FULL)) + bytes.fromhex("3206" "f1" "0000000000"))
    assert [r.name for r in with_nid.other_ies] == ["NID"] and nas.non_cleartext_ies(with_nid) == []


def test_nas_message_container_is_allowed_but_dropped_by_cleartext_part() -> None:
    with_container = nas.RegistrationRequest(mobile_identity=GUTI, nas_message_container=b"\x01\x02")
    assert nas.non_cleartext_ies(with_container) == []
    assert nas.cleartext_part(with_container).nas_message_container is None


def test_service_request() -> None:
    sr = nas.ServiceRequest(s_tmsi=STMSI, pdu_session_status={1}, uplink_data_status={1})
    assert nas.non_cleartext_ies(sr) == ["uplink_data_status", "pdu_session_status"]
    assert nas.cleartext_part(sr) == nas.ServiceRequest(s_tmsi=STMSI)


def test_other_messages_have_no_rule() -> None:
    assert nas.non_cleartext_ies(nas.RegistrationComplete()) == []
    with pytest.raises(TypeError):
        nas.cleartext_part(nas.RegistrationComplete())  # type: ignore[type-var]
