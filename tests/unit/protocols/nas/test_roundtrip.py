"""encode -> decode gives back the same typed message, for every message type and random values."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.crypto.suci import Suci
from testbed.protocols import nas

from .samples import samples

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("msg", samples(), ids=lambda m: m.name)
def test_sample_roundtrip(msg: nas.NasMessage) -> None:
    buf = nas.encode(msg)
    assert nas.decode(buf) == msg
    assert nas.encode(nas.decode(buf)) == buf  # our own encoding is canonical


def test_every_message_class_has_a_sample() -> None:
    covered = {type(m) for m in samples()}
    assert covered == set(nas.MM_MESSAGE_CLASSES.values()) | set(nas.SM_MESSAGE_CLASSES.values())


def test_lists_and_sets_are_normalised() -> None:
    a = nas.RegistrationAccept(allowed_nssai=[nas.SNssai(1)], pdu_session_status={1, 2})
    assert a.allowed_nssai == (nas.SNssai(1),) and a.pdu_session_status == frozenset({1, 2})
    assert nas.decode(nas.encode(a)) == a
    hash(a)


def test_other_ies_are_kept_and_put_back() -> None:
    # REGISTRATION REQUEST with a MICO indication (B-), a UE's usage setting (0x18) and an IEI that
    # pycrate does not know (0x3F, type 4): all kept in other_ies and re-encoded.
    base = nas.encode(nas.RegistrationRequest(mobile_identity=nas.NoIdentity()))
    buf = base + bytes.fromhex("b1" "180101" "3f0201ff")
    msg = nas.decode(buf)
    assert [r.name for r in msg.other_ies] == ["MICOInd", "UEUsage", "IEI_0x3F"]
    assert nas.encode(msg) == buf
    with pytest.raises(ValueError):
        nas.encode(nas.RegistrationRequest(mobile_identity=nas.NoIdentity(),
                                           other_ies=(nas.RawIe("UESecCap", 0x2E, b"\x2e\x02\x80\x80"),)))


def test_mandatory_field_missing_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="mandatory"):
        nas.encode(nas.RegistrationReject(cause=None))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        nas.encode(nas.RegistrationRequest(mobile_identity="imsi-001010000000001"))  # type: ignore[arg-type]


def test_unknown_cause_values_survive() -> None:
    msg = nas.RegistrationReject(cause=200)
    assert nas.decode(nas.encode(msg)).cause == 200


# --------------------------------------------------------------------------- hypothesis

digits = st.text("0123456789", min_size=1, max_size=1)
mcc = st.text("0123456789", min_size=3, max_size=3)
mnc = st.text("0123456789", min_size=2, max_size=3)
plmn = st.builds(nas.PlmnId, mcc, mnc)
u8 = st.integers(0, 255)
u24 = st.integers(0, 0xFFFFFF)
algs = st.frozensets(st.integers(0, 7))
suci_null = st.builds(lambda m, n, ri, msin: Suci(m, n, ri, 0, 0, bytes.fromhex(msin)),
                      mcc, mnc, st.text("0123456789", min_size=1, max_size=4),
                      st.text("0123456789", min_size=8, max_size=8))
guti = st.builds(nas.Guti5g, mcc, mnc, u8, st.integers(0, 1023), st.integers(0, 63), st.integers(0, 2**32 - 1))
stmsi = st.builds(nas.STmsi5g, st.integers(0, 1023), st.integers(0, 63), st.integers(0, 2**32 - 1))
snssai = st.one_of(
    st.builds(nas.SNssai, u8),
    st.builds(nas.SNssai, u8, u24),
    st.builds(lambda a, b: nas.SNssai(a, mapped_sst=b), u8, u8),
    st.builds(nas.SNssai, u8, u24, u8),
    st.builds(nas.SNssai, u8, u24, u8, u24),
)
nssai = st.lists(snssai, min_size=1, max_size=8).map(tuple)
tai = st.builds(nas.Tai, plmn, u24)
sec_cap = st.one_of(st.builds(nas.UeSecurityCapability, algs, algs),
                    st.builds(nas.UeSecurityCapability, algs, algs, algs, algs))
ngksi = st.builds(nas.NgKsi, st.integers(0, 7), st.integers(0, 1))
psis = st.frozensets(st.integers(1, 15))
cag_list = st.lists(
    st.builds(nas.CagInfo, plmn, st.lists(st.integers(0, 2**32 - 1), max_size=5).map(tuple), st.booleans()),
    max_size=4, unique_by=lambda c: c.plmn).map(tuple)
timer = st.builds(nas.GprsTimer, st.integers(0, 7), st.integers(0, 31))
timer3 = st.builds(nas.GprsTimer3, st.integers(0, 7), st.integers(0, 31))
octets = st.binary(min_size=1, max_size=40)
dnn = st.lists(st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12),
               min_size=1, max_size=4).map(".".join)
opt = st.none().__or__


@SETTINGS
@given(st.builds(
    nas.RegistrationRequest,
    registration_type=st.sampled_from(list(nas.RegistrationType)), follow_on_request=st.booleans(),
    ngksi=ngksi, mobile_identity=st.one_of(suci_null, guti, st.just(nas.NoIdentity())),
    non_current_native_ngksi=opt(ngksi), mm_capability=opt(st.binary(min_size=1, max_size=13)),
    ue_security_capability=opt(sec_cap), requested_nssai=opt(nssai), last_visited_tai=opt(tai),
    uplink_data_status=opt(psis), pdu_session_status=opt(psis),
    ue_status=opt(st.builds(nas.UeStatus, st.booleans(), st.booleans())), additional_guti=opt(guti),
    nas_message_container=opt(octets)))
def test_registration_request_property(msg: nas.RegistrationRequest) -> None:
    assert nas.decode(nas.encode(msg)) == msg


@SETTINGS
@given(st.builds(
    nas.RegistrationAccept,
    result=st.builds(nas.RegistrationResult, st.sampled_from(list(nas.RegistrationResultValue)),
                     st.booleans(), st.booleans(), st.booleans()),
    guti=opt(guti), equivalent_plmns=opt(st.lists(plmn, min_size=1, max_size=15).map(tuple)),
    tai_list=opt(st.lists(tai, min_size=1, max_size=16).map(tuple)), allowed_nssai=opt(nssai),
    configured_nssai=opt(nssai), pdu_session_status=opt(psis), t3512=opt(timer3), t3502=opt(timer),
    cag_information_list=opt(cag_list)))
def test_registration_accept_property(msg: nas.RegistrationAccept) -> None:
    assert nas.decode(nas.encode(msg)) == msg


@SETTINGS
@given(cause=u8, cag=opt(cag_list), t3502=opt(timer), t3346=opt(timer), service=st.booleans())
def test_rejects_property(cause: int, cag, t3502, t3346, service: bool) -> None:  # noqa: ANN001
    cls = nas.ServiceReject if service else nas.RegistrationReject
    kw = {} if service else {"t3502": t3502}
    msg = cls(cause=cause, cag_information_list=cag, t3346=t3346, **kw)
    assert nas.decode(nas.encode(msg)) == msg


@SETTINGS
@given(ngksi=ngksi, abba=st.binary(min_size=2, max_size=8), rand=st.binary(min_size=16, max_size=16),
       autn=st.binary(min_size=16, max_size=16), res=st.binary(min_size=16, max_size=16),
       auts=st.binary(min_size=14, max_size=14))
def test_authentication_property(ngksi, abba, rand, autn, res, auts) -> None:  # noqa: ANN001
    for msg in (nas.AuthenticationRequest(ngksi=ngksi, abba=abba, rand=rand, autn=autn),
                nas.AuthenticationResponse(res_star=res),
                nas.AuthenticationFailure(cause=nas.FiveGmmCause.SYNCH_FAILURE, auts=auts)):
        assert nas.decode(nas.encode(msg)) == msg


@SETTINGS
@given(st.builds(
    nas.SecurityModeCommand,
    selected_algorithms=st.builds(nas.NasSecurityAlgorithms, st.integers(0, 7), st.integers(0, 7)),
    ngksi=ngksi, replayed_ue_security_capability=sec_cap, imeisv_request=opt(st.booleans()),
    additional_security_information=opt(st.builds(nas.Additional5gSecurityInformation, st.booleans(),
                                                  st.booleans())),
    abba=opt(st.binary(min_size=2, max_size=4))))
def test_security_mode_command_property(msg: nas.SecurityModeCommand) -> None:
    assert nas.decode(nas.encode(msg)) == msg


@SETTINGS
@given(st.builds(
    nas.ServiceRequest, service_type=st.sampled_from(list(nas.ServiceType)), ngksi=ngksi, s_tmsi=stmsi,
    uplink_data_status=opt(psis), pdu_session_status=opt(psis), nas_message_container=opt(octets)))
def test_service_request_property(msg: nas.ServiceRequest) -> None:
    assert nas.decode(nas.encode(msg)) == msg


@SETTINGS
@given(payload=st.binary(min_size=1, max_size=300), psi=opt(st.integers(1, 15)), s_nssai=opt(snssai),
       dnn=opt(dnn), req=opt(st.sampled_from(list(nas.RequestType))), cause=opt(u8), backoff=opt(timer3))
def test_nas_transport_property(payload, psi, s_nssai, dnn, req, cause, backoff) -> None:  # noqa: ANN001
    ul = nas.UlNasTransport(payload_container=payload, pdu_session_id=psi, s_nssai=s_nssai, dnn=dnn,
                            request_type=req)
    dl = nas.DlNasTransport(payload_container=payload, pdu_session_id=psi, cause=cause, back_off_timer=backoff)
    assert nas.decode(nas.encode(ul)) == ul
    assert nas.decode(nas.encode(dl)) == dl


packet_filter = st.builds(nas.PacketFilter, st.integers(0, 15), st.integers(0, 3), st.binary(min_size=1, max_size=20))
qos_rule = st.builds(
    lambda rid, dqr, filters, prec, qfi, seg: nas.QosRule(
        rid, 1, dqr, tuple(filters), prec, None if prec is None else qfi,
        seg and prec is not None and qfi is not None),
    u8, st.booleans(), st.lists(packet_filter, max_size=4), opt(u8), opt(st.integers(0, 63)), st.booleans())
ipv4 = st.tuples(u8, u8, u8, u8).map(lambda t: ".".join(map(str, t)))


@SETTINGS
@given(psi=st.integers(1, 15), pti=u8, rules=st.lists(qos_rule, min_size=1, max_size=3).map(tuple),
       ambr=st.builds(nas.SessionAmbr, u8, st.integers(0, 65535), u8, st.integers(0, 65535)),
       addr=opt(ipv4), s_nssai=opt(snssai), dnn=opt(dnn), cause=opt(u8),
       ssc=st.sampled_from(list(nas.SscMode)))
def test_pdu_session_establishment_accept_property(psi, pti, rules, ambr, addr, s_nssai, dnn, cause,  # noqa: ANN001
                                                   ssc) -> None:
    msg = nas.PduSessionEstablishmentAccept(
        pdu_session_id=psi, pti=pti, ssc_mode=ssc, qos_rules=rules, session_ambr=ambr, s_nssai=s_nssai, dnn=dnn,
        cause=cause, pdu_address=None if addr is None else nas.PduAddress(nas.PduSessionType.IPV4, addr))
    assert nas.decode(nas.encode(msg)) == msg


@SETTINGS
@given(psi=st.integers(0, 255), pti=u8, cause=u8, typ=opt(st.sampled_from(list(nas.PduSessionType))),
       epco=opt(octets))
def test_other_5gsm_property(psi, pti, cause, typ, epco) -> None:  # noqa: ANN001
    for msg in (nas.PduSessionEstablishmentRequest(pdu_session_id=psi, pti=pti, pdu_session_type=typ,
                                                   extended_pco=epco),
                nas.PduSessionEstablishmentReject(pdu_session_id=psi, pti=pti, cause=cause, extended_pco=epco),
                nas.PduSessionReleaseRequest(pdu_session_id=psi, pti=pti, cause=cause),
                nas.PduSessionReleaseCommand(pdu_session_id=psi, pti=pti, cause=cause, extended_pco=epco),
                nas.PduSessionReleaseComplete(pdu_session_id=psi, pti=pti),
                nas.FiveGsmStatus(pdu_session_id=psi, pti=pti, cause=cause)):
        assert nas.decode(nas.encode(msg)) == msg


@SETTINGS
@given(ident=st.one_of(suci_null, guti, stmsi, st.just(nas.NoIdentity()),
                       st.text("0123456789", min_size=15, max_size=15).map(nas.Pei),
                       st.text("0123456789", min_size=16, max_size=16).map(lambda d: nas.Pei(d, True))),
       dereg=st.builds(nas.DeregistrationType, st.sampled_from(list(nas.DeregistrationAccessType)), st.booleans()),
       ksi=ngksi)
def test_identity_messages_property(ident, dereg, ksi) -> None:  # noqa: ANN001
    for msg in (nas.IdentityResponse(mobile_identity=ident),
                nas.DeregistrationRequestUeOriginating(deregistration_type=dereg, ngksi=ksi, mobile_identity=ident)):
        assert nas.decode(nas.encode(msg)) == msg
