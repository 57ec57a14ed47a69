"""Registration (TS 24.501 5.5.1, TS 23.502 4.2.2.2): identities, types, keys, subscriptions."""

from __future__ import annotations

import pytest

from testbed.crypto import keys
from testbed.crypto.suci import NULL_SCHEME, PROFILE_A, PROFILE_B
from testbed.protocols import nas, ngap

from .amf_fakes import FakeSubscriber
from .scripted_ran import CAG_FEMTO, OPC, Env, K

RT = nas.RegistrationType


@pytest.mark.parametrize("scheme", [PROFILE_A, PROFILE_B, NULL_SCHEME])
def test_initial_registration_with_suci_scheme(scheme: int) -> None:
    env = Env()
    g = env.h.setup()  # non-CAG gNB
    ue = env.ue(scheme=scheme)
    env.h.register(ue, g)
    assert ue.registered and ue.mac_failures == 0
    (req,) = env.h.ev("registration_request")
    assert req["identity_type"] == "suci" and req["suci_scheme"] == scheme and req["registration_type"] == "initial"
    assert env.h.ev("auth_success")[0]["supi"] == ue.supi.to_string()
    assert env.h.ev("security_mode")[0]["nia"] == 2 and env.h.ev("security_mode")[0]["nea"] == 2
    assert env.h.types()[-1] == "registration_complete"
    # the accept carries a 5G-GUTI of this AMF, our TAI, the allowed NSSAI, no CAG list (none subscribed)
    acc = ue.accept
    assert acc is not None and acc.guti is not None and acc.guti.amf_set_id == env.amf.config.amf_set_id
    assert [t.tac for t in acc.tai_list or ()] == [1]
    assert acc.allowed_nssai == (nas.SNssai(1),) and acc.cag_information_list is None
    assert not env.h.timers  # T3550 stopped by REGISTRATION COMPLETE


def test_kgnb_and_initial_context_setup_contents() -> None:
    """KgNB = KDF(KAMF, UL NAS COUNT of SECURITY MODE COMPLETE) (TS 33.501 A.9); the UE derives
    its own KAMF, so equality proves the whole key chain."""
    env = Env()
    g = env.femto()
    ue = env.ue(allowed_cag_ids=(CAG_FEMTO, 7), cag_only=True)
    env.h.register(ue, g)
    assert ue.sec is not None and ue.kamf is not None
    smc_complete_count = 0  # first uplink message of the new context
    assert ue.kgnb == keys.kgnb(ue.kamf, smc_complete_count)
    ics = next(m for m in g.inbox if isinstance(m, ngap.InitialContextSetupRequest))
    assert ics.guami == env.amf.config.guami and ics.allowed_nssai == (ngap.Snssai(1),)
    assert ics.ue_security_capabilities.nr_integrity == 0xE000  # NIA1, NIA2, NIA3
    assert ics.mobility_restriction is not None
    assert ics.mobility_restriction.allowed_cag == (ngap.AllowedCagList(ngap.Plmn("001", "01"), (7, CAG_FEMTO), True),)
    assert ue.accept is not None and ue.accept.cag_information_list == (
        nas.CagInfo(nas.PlmnId("001", "01"), (7, CAG_FEMTO), True),)
    # the accept inside the ICS was protected and ciphered
    assert ics.nas_pdu is not None and ics.nas_pdu[1] & 0x0F == 2


def test_smc_requests_retransmission_and_the_full_request_replaces_the_cleartext_one() -> None:
    env = Env(snssais=((1, None), (2, 5)))
    g = env.h.setup()
    ue = env.ue(provision=False)
    env.udm.add(FakeSubscriber(ue.supi, K, OPC, snssai=((1, None), (2, 5))))
    g.connect(ue, ue.registration_request(requested_nssai=(nas.SNssai(2, 5),)))
    smc = next(m for m in ue.received if isinstance(m, nas.SecurityModeCommand))
    assert smc.additional_security_information is not None
    assert smc.additional_security_information.retransmission_requested
    assert smc.imeisv_request and smc.replayed_ue_security_capability == ue.cap
    # requested NSSAI (only in the complete message, not a cleartext IE) narrowed the allowed NSSAI
    assert ue.accept is not None and ue.accept.allowed_nssai == (nas.SNssai(2, 5),)


def test_reregistration_with_guti_reuses_the_context_without_authentication() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    env.h.register(ue, g)
    old_guti = ue.guti
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "user-inactivity")))
    env.h.clear()
    calls = len(env.ausf.calls)
    env.h.register(ue, g, RT.MOBILITY_UPDATING)
    assert ue.registered and len(env.ausf.calls) == calls  # no new authentication
    (req,) = env.h.ev("registration_request")
    assert req["protected"] and req["identity_type"] == "guti" and req["registration_type"] == "mobility"
    assert "security_mode" not in env.h.types()
    assert ue.guti != old_guti  # a fresh 5G-GUTI (TS 33.501 6.12.3)
    assert env.amf.lookup_guti(old_guti) is None and env.amf.lookup_guti(ue.guti) is not None
    # KgNB from the UL NAS COUNT of the verified REGISTRATION REQUEST (the last uplink accepted)
    assert ue.initial_count is not None and ue.kgnb == keys.kgnb(ue.kamf, ue.initial_count)
    assert len(env.amf.ue_contexts()) == 1


@pytest.mark.parametrize("reg_type,name", [(RT.PERIODIC_UPDATING, "periodic"), (RT.MOBILITY_UPDATING, "mobility")])
def test_periodic_and_mobility_update(reg_type: int, name: str) -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    env.h.register(ue, g)
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "user-inactivity")))
    env.h.clear()
    env.h.register(ue, g, reg_type)
    assert ue.registered
    assert env.h.ev("registration_accept")[0]["registration_type"] == name
    assert env.h.ev("registration_complete")


def test_guti_registration_with_a_wrong_mac_reauthenticates() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    env.h.register(ue, g)
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "user-inactivity")))
    env.h.clear()
    pdu = bytearray(ue.registration_request(RT.MOBILITY_UPDATING))
    pdu[3] ^= 0xFF  # corrupt the MAC
    g.connect(ue, bytes(pdu))
    assert env.h.ev("nas_mac_failure")[0]["initial"] is True
    assert env.h.ev("auth_success") and env.h.ev("security_mode")  # re-authenticated, new context
    assert ue.registered


def test_unknown_guti_gets_an_identity_request_for_the_suci() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    ue.guti = env.amf.new_guti()  # a GUTI of ours that was never allocated
    env.h.register(ue, g, identity="guti")
    (idr,) = env.h.ev("identity_request")
    assert idr["reason"] == "guti-unknown" and idr["requested"] == "suci"
    ir = next(m for m in ue.received if isinstance(m, nas.IdentityRequest))
    assert ir.identity_type == nas.IdentityType.SUCI
    assert ue.registered


def test_known_guti_in_plain_request_reauthenticates_the_stored_supi() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    env.h.register(ue, g)
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "user-inactivity")))
    ue.sec = None  # the UE lost its NAS security context: plain request with the GUTI
    env.h.clear()
    env.h.register(ue, g, identity="guti")
    assert not env.h.ev("identity_request") and env.h.ev("auth_success") and ue.registered
    assert len(env.amf.ue_contexts()) == 1


def test_sidf_failure_is_rejected_with_cause_9() -> None:
    env = Env()
    env.udm.hn_keys.pop(1)  # the Profile A key is unknown to the SIDF
    g = env.h.setup()
    ue = env.ue(scheme=PROFILE_A)
    env.h.register(ue, g)
    assert ue.reject is not None and ue.reject.cause == nas.FiveGmmCause.UE_IDENTITY_CANNOT_BE_DERIVED
    assert env.h.ev("suci_deconceal_failure")[0]["cause"] == "unknown-key-id"
    assert env.h.ev("registration_reject")[0]["cause"] == 9
    assert env.amf.ue_contexts() == []
    # control: Profile B still works
    ue_b = env.ue(scheme=PROFILE_B)
    env.h.register(ue_b, g)
    assert ue_b.registered


def test_unknown_subscriber_is_rejected_with_cause_7() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue(provision=False)
    env.h.register(ue, g)
    assert ue.reject is not None and ue.reject.cause == nas.FiveGmmCause.FIVEGS_SERVICES_NOT_ALLOWED
    assert env.h.ev("udm_error")[0]["cause"] == "unknown-subscriber"


def test_no_common_slice_is_rejected_with_cause_62() -> None:
    env = Env(snssais=((9, None),))
    g = env.h.setup()
    ue = env.ue()
    env.h.register(ue, g)
    assert ue.reject is not None and ue.reject.cause == nas.FiveGmmCause.NO_NETWORK_SLICES_AVAILABLE


def test_initial_context_setup_failure_aborts_and_releases() -> None:
    env = Env()
    g = env.h.setup(fail_ics=True)
    ue = env.ue()
    env.h.register(ue, g)
    assert env.h.ev("initial_context_setup")[0]["success"] is False
    assert any(isinstance(m, ngap.UEContextReleaseCommand) for m in g.inbox)
    assert env.amf.ue_contexts() == [] and not env.h.timers


def test_emergency_registration_unauthenticated_uses_null_algorithms() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue(provision=False)  # unknown to the UDM: authentication impossible
    env.h.register(ue, g, RT.EMERGENCY)
    assert ue.registered and ue.sec is not None and (ue.sec.nia, ue.sec.nea) == (0, 0)
    assert env.h.ev("unauthenticated_emergency")[0]["reason"] == "udm-unknown-subscriber"
    acc = env.h.ev("registration_accept")[0]
    assert acc["emergency"] and acc["unauthenticated"]
    assert ue.accept is not None and ue.accept.result.emergency_registered
    assert ue.accept.cag_information_list is None


def test_emergency_registration_with_imei_only() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    env.h.register(ue, g, RT.EMERGENCY, identity="imei")
    assert ue.registered and env.h.ev("registration_request")[0]["identity_type"] == "imei"
    assert env.h.ev("security_mode")[0]["nia"] == 0


def test_unauthenticated_emergency_refused_when_not_allowed() -> None:
    env = Env(allow_unauthenticated_emergency=False)
    g = env.h.setup()
    ue = env.ue(provision=False)
    env.h.register(ue, g, RT.EMERGENCY)
    assert not ue.registered and ue.reject is not None
    assert not env.h.ev("unauthenticated_emergency")


def test_authenticated_emergency_registration_uses_real_algorithms() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    env.h.register(ue, g, RT.EMERGENCY)
    assert ue.registered and env.h.ev("auth_success") and env.h.ev("security_mode")[0]["nia"] == 2
    assert not env.h.ev("unauthenticated_emergency")


def test_second_registration_of_same_supi_replaces_the_first_context() -> None:
    env = Env()
    g1 = env.h.setup(1, 1)
    g2 = env.h.setup(2, 2)
    ue = env.ue()
    env.h.register(ue, g1)
    ue.guti = None
    ue.sec = None
    env.h.register(ue, g2)  # same SUPI via SUCI on another gNB
    assert ue.registered
    ctxs = env.amf.ue_contexts()
    assert len(ctxs) == 1 and ctxs[0]["assoc"] == 2
    assert env.h.ev("ue_context_replaced")
    assert any(isinstance(m, ngap.UEContextReleaseCommand) for m in g1.inbox)


def test_unacceptable_initial_nas_message_gets_5gmm_status_and_release() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    g.connect(ue, nas.RegistrationComplete().encode())
    st = [m for m in ue.received if isinstance(m, nas.FiveGmmStatus)]
    assert st and st[0].cause == nas.FiveGmmCause.MESSAGE_TYPE_NOT_COMPATIBLE_WITH_PROTOCOL_STATE
    assert env.h.ev("nas_unexpected")[0]["initial"] is True
    assert any(isinstance(m, ngap.UEContextReleaseCommand) for m in g.inbox) and env.amf.ue_contexts() == []
    # malformed NAS in an INITIAL UE MESSAGE
    ue2 = env.ue()
    g.connect(ue2, b"\x7e\x00")
    assert env.h.ev("nas_malformed") and env.amf.ue_contexts() == []


def test_registration_update_in_connected_mode_uses_downlink_nas_transport() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    env.h.register(ue, g)
    env.h.clear()
    n_ics = sum(isinstance(m, ngap.InitialContextSetupRequest) for m in g.inbox)
    req = nas.RegistrationRequest(registration_type=RT.MOBILITY_UPDATING, ngksi=ue.sec.ngksi,
                                  mobile_identity=ue.guti, ue_security_capability=ue.cap)
    g.uplink(ue, ue.protect(req.encode()))
    assert sum(isinstance(m, ngap.InitialContextSetupRequest) for m in g.inbox) == n_ics
    assert env.h.ev("registration_accept") and env.h.ev("registration_complete") and ue.registered
    assert len(env.amf.ue_contexts()) == 1


def test_null_integrity_emergency_context_never_verifies_a_later_request() -> None:
    """An unauthenticated emergency (5G-IA0) context must not let anyone holding the GUTI skip
    authentication later."""
    env = Env()
    g = env.h.setup()
    ue = env.ue(provision=False)
    env.h.register(ue, g, RT.EMERGENCY)
    assert ue.registered and ue.sec is not None and ue.sec.nia == 0
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "user-inactivity")))
    env.h.clear()
    env.h.register(ue, g, RT.MOBILITY_UPDATING)
    assert env.h.ev("registration_request")[0]["protected"] is False
    assert env.h.ev("identity_request") and not env.h.ev("registration_accept")
