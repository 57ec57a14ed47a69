"""5G-AKA on the SEAF side (TS 33.501 6.1.3.2, TS 24.501 5.4.1.3): each failure and its control."""

from __future__ import annotations

from testbed.protocols import nas, ngap

from .scripted_ran import Env


def _env():
    env = Env()
    return env, env.h.setup()


def test_control_successful_authentication() -> None:
    env, g = _env()
    ue = env.ue()
    env.h.register(ue, g)
    assert ue.registered and not ue.auth_rejected and env.h.ev("auth_success")
    assert env.ausf.calls == ["start", "confirm"]


def test_wrong_res_star_gets_authentication_reject() -> None:
    env, g = _env()
    ue = env.ue()
    ue.wrong_res = True
    env.h.register(ue, g)
    assert ue.auth_rejected and not ue.registered
    (ev,) = env.h.ev("auth_failure")
    assert ev["cause"] == "res-mismatch" and ev["stage"] == "seaf"  # caught by HRES* before the AUSF
    assert "confirm" not in env.ausf.calls and not env.ausf.contexts  # AUSF context forgotten
    rel = [m for m in g.inbox if isinstance(m, ngap.UEContextReleaseCommand)]
    assert rel and rel[0].cause == ngap.Cause("nas", "authentication-failure")
    assert env.amf.ue_contexts() == [] and not env.h.timers


def test_mac_failure_with_suci_is_rejected() -> None:
    env, g = _env()
    ue = env.ue()
    ue.mac_failure_times = 1
    env.h.register(ue, g)
    assert env.h.ev("auth_failure")[0]["cause"] == "mac-failure"
    assert ue.auth_rejected and not env.h.ev("identity_request")


def test_mac_failure_with_guti_asks_for_the_suci_once() -> None:
    env, g = _env()
    ue = env.ue()
    env.h.register(ue, g)
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "user-inactivity")))
    ue.sec = None  # plain request with the GUTI -> re-authentication
    ue.mac_failure_times = 1
    env.h.clear()
    env.h.register(ue, g, identity="guti")
    assert env.h.ev("auth_failure")[0]["cause"] == "mac-failure"
    assert env.h.ev("identity_request")[0]["reason"] == "auth-mac-failure"
    assert ue.registered  # after the SUCI the authentication succeeds


def test_second_mac_failure_after_identity_request_is_rejected() -> None:
    env, g = _env()
    ue = env.ue()
    env.h.register(ue, g)
    g.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "user-inactivity")))
    ue.sec = None
    ue.mac_failure_times = 2
    env.h.clear()
    env.h.register(ue, g, identity="guti")
    assert len(env.h.ev("identity_request")) == 1 and ue.auth_rejected


def test_sync_failure_resyncs_and_succeeds() -> None:
    env, g = _env()
    ue = env.ue()
    ue.desync()  # the USIM is ahead of the HE: genuine synch failure
    env.h.register(ue, g)
    assert env.h.ev("sync_failure")[0]["auts"] is True
    assert "resync" in env.ausf.calls
    assert [e["resync"] for e in env.h.ev("authentication_request")] == [False, True]
    assert ue.registered and not ue.auth_rejected


def test_second_sync_failure_is_rejected() -> None:
    env, g = _env()
    ue = env.ue()
    ue.sync_failure_forced = 2
    env.h.register(ue, g)
    assert len(env.h.ev("sync_failure")) == 2 and ue.auth_rejected
    assert env.h.ev("auth_failure")[-1]["cause"] == "sync-failure-repeated"
    assert env.ausf.calls.count("resync") == 1


def test_resync_with_bad_auts_is_rejected() -> None:
    env, g = _env()
    ue = env.ue()
    env.h.register(ue, g)  # control: a registered UE next to the victim of the forged AUTS
    ue2 = env.ue()
    ue2.drop = {"AuthenticationRequest"}
    g.connect(ue2, ue2.registration_request())
    g.uplink(ue2, nas.AuthenticationFailure(cause=nas.FiveGmmCause.SYNCH_FAILURE, auts=bytes(14)).encode())
    assert env.h.ev("auth_failure")[-1]["cause"] == "resync-mac-failure"
    assert any(isinstance(m, nas.AuthenticationReject) for m in ue2.received)
    assert [c["supi"] for c in env.amf.ue_contexts()] == [ue.supi.to_string()]  # ue2's context is gone


def test_non_5g_authentication_unacceptable_is_rejected() -> None:
    env, g = _env()
    ue = env.ue()
    ue.drop = {"AuthenticationRequest"}
    g.connect(ue, ue.registration_request())
    g.uplink(ue, nas.AuthenticationFailure(cause=nas.FiveGmmCause.NON_5G_AUTHENTICATION_UNACCEPTABLE).encode())
    assert env.h.ev("auth_failure")[0]["cause"] == "non-5g-authentication-unacceptable"
    assert any(isinstance(m, nas.AuthenticationReject) for m in ue.received)


def test_authentication_response_out_of_procedure_is_ignored() -> None:
    env, g = _env()
    ue = env.ue()
    env.h.register(ue, g)
    env.h.clear()
    g.uplink(ue, ue.protect(nas.AuthenticationResponse(res_star=bytes(16)).encode()))
    assert env.h.types() == ["nas_unexpected"] and ue.registered


def test_failed_emergency_authentication_continues_unauthenticated() -> None:
    env, g = _env()
    ue = env.ue()
    ue.wrong_res = True
    env.h.register(ue, g, nas.RegistrationType.EMERGENCY)
    assert env.h.ev("auth_failure") and env.h.ev("unauthenticated_emergency")
    assert ue.registered and ue.sec is not None and ue.sec.nia == 0
