"""Authentication and NAS security of UeNas against the real core: MAC/sync failure, resync, the
bidding-down defences on both sides, the misbehaviour knobs, and downlink integrity checks."""

from __future__ import annotations

import dataclasses
import random

import pytest

from testbed.crypto import keys
from testbed.protocols import nas
from testbed.ue.nas import Event, Knobs, RegistrationFailed, SendNas, UeNasConfig

from .core_bridge import MEMBER, outcome, standard_core, subscribed_usim

SHT = nas.SecurityHeaderType


@pytest.fixture
def core(tmp_path):
    c = standard_core(tmp_path)
    yield c
    c.close()


def _ue(core, g, supi=MEMBER, knobs: Knobs | None = None, **usim):
    return core.ue(supi, g, usim={**subscribed_usim(supi), **usim},
                   config=UeNasConfig(knobs=knobs or Knobs()))


def test_mac_failure_with_a_false_network(core) -> None:
    g = core.gnb()
    ue = _ue(core, g, k=bytes(16))  # the network does not know this K: AUTN does not verify
    core.register(ue)
    assert ue.ev("ue.auth_failure")[0]["cause"] == 20
    fail = nas.decode(ue.sent[1].pdu)
    assert isinstance(fail, nas.AuthenticationFailure) and fail.cause == 20 and fail.auts is None
    assert core.amf_ev("auth_failure")[0]["cause"] == "mac-failure"
    assert ue.nas.state == "deregistered" and ue.nas.usim_invalid  # AUTHENTICATION REJECT followed
    # control: the right K
    ok = _ue(core, g)
    core.register(ok)
    assert outcome(ok) == ("registered", None) and not ok.ev("ue.auth_failure")


def test_sync_failure_and_resynchronisation(core) -> None:
    g = core.gnb()
    ue = _ue(core, g)
    arr = ue.nas.usim.aka.sqn_array
    for ind in range(1 << arr.ind_bits):  # the USIM is ahead of the home network
        arr.accept(((1 << 22) << arr.ind_bits) | ind)
    core.register(ue)
    assert ue.ev("ue.auth_failure") == [{"cause": 21, "consecutive": 1}]
    fail = nas.decode(ue.sent[1].pdu)
    assert fail.cause == 21 and len(fail.auts) == 14
    assert core.amf_ev("sync_failure") and len(core.amf_ev("authentication_request")) == 2
    assert outcome(ue) == ("registered", None)
    assert "T3520" not in ue.timers  # stopped by the new AUTHENTICATION REQUEST
    # control: a UE in step with the network registers without a sync failure
    ok = _ue(core, g)
    core.register(ok)
    assert outcome(ok) == ("registered", None) and not ok.ev("ue.auth_failure")


def test_repeated_authentication_request_gets_the_stored_res(core) -> None:
    g = core.gnb()
    ue = _ue(core, g)
    g.mitm_dl = lambda pdu: (setattr(g, "drop_ul", True), pdu)[1]  # the RESPONSE gets lost
    core.register(ue)
    g.mitm_dl = None
    assert len(ue.sent) == 2 and ue.nas.state == "registered-initiated"
    g.drop_ul = False
    core.fire_amf("T3560")  # the AMF retransmits the same AUTHENTICATION REQUEST (same RAND)
    assert ue.sent[2].pdu == ue.sent[1].pdu  # the stored RES*, without running the USIM again
    assert ue.ev("ue.auth_response") == [{"repeated": True}] and not ue.ev("ue.auth_failure")
    assert outcome(ue) == ("registered", None)


def test_smc_with_tampered_capabilities_is_rejected(core) -> None:
    """A man in the middle strips NIA2/NEA2 from the cleartext REGISTRATION REQUEST: the SMC replays
    what the AMF saw, the UE notices (TS 33.501 6.7.2) and answers SECURITY MODE REJECT #23."""
    g = core.gnb()
    ue = _ue(core, g)

    def strip(pdu: bytes) -> bytes:
        msg = nas.decode(pdu)
        if isinstance(msg, nas.RegistrationRequest):
            weak = nas.UeSecurityCapability(nea={0, 1}, nia={1})
            return dataclasses.replace(msg, ue_security_capability=weak).encode()
        return pdu

    g.mitm_ul = strip
    core.register(ue)
    assert ue.ev("ue.security_mode_reject") == [{"cause": 23, "reason": "replayed-capabilities-mismatch"}]
    assert core.amf_ev("security_mode_reject")[0]["cause"] == 23
    assert core.amf_ev("security_mode")[0]["nia"] == 1  # what the attacker made the AMF choose
    assert ue.nas.state != "registered" and ue.nas.sec is None
    # control: no tampering
    g.mitm_ul = None
    ok = _ue(core, g)
    core.register(ok)
    assert outcome(ok) == ("registered", None) and not ok.ev("ue.security_mode_reject")
    assert ok.ev("ue.security_mode_complete")[0]["nia"] == 2


def test_bidding_down_knob_is_refused_by_the_amf(core) -> None:
    g = core.gnb()
    ue = _ue(core, g, knobs=Knobs(only_null_algorithms=True))
    core.register(ue)
    req = nas.decode(ue.sent[0].pdu)
    assert req.ue_security_capability == nas.UeSecurityCapability(nea={0}, nia={0})
    assert core.amf_ev("bidding_down_refused") and outcome(ue) == ("deregistered", 23)
    assert ue.of(RegistrationFailed)[-1].cause == 23 and "T3511" in ue.timers  # abnormal: retry later
    # control
    ok = _ue(core, g)
    core.register(ok)
    assert outcome(ok) == ("registered", None) and not core.amf_ev("bidding_down_refused")[1:]


def test_wrong_res_knob_gets_authentication_reject(core) -> None:
    g = core.gnb()
    ue = _ue(core, g, knobs=Knobs(wrong_res=True))
    core.register(ue)
    assert core.amf_ev("auth_failure")[0]["cause"] == "res-mismatch"
    assert ue.ev("ue.auth_reject") and ue.nas.usim_invalid and ue.nas.state == "deregistered"
    assert ue.nas.guti is None and ue.nas.sec is None
    ok = _ue(core, g)
    core.register(ok)
    assert outcome(ok) == ("registered", None) and not ok.ev("ue.auth_reject")


def test_replay_knob_is_dropped_by_the_amf(core) -> None:
    g = core.gnb()
    ue = _ue(core, g, knobs=Knobs(replay_nas=True))
    core.register(ue)
    # REGISTRATION COMPLETE was replaced by the SECURITY MODE COMPLETE already sent (same COUNT)
    assert ue.ev("ue.nas_replay_sent") and ue.sent[-1].pdu == ue.sent[-2].pdu
    assert core.amf_ev("nas_replay") and not core.amf_ev("registration_complete")
    core.fire_amf("T3550")  # the AMF repeats REGISTRATION ACCEPT, the UE answers again (once only)
    assert core.amf_ev("registration_complete") and len(core.amf_ev("nas_replay")) == 1
    assert ue.nas.counters["registration_complete_repeated"] == 1
    # control: without the knob the AMF sees no replay
    core.amf_events.clear()
    ok = _ue(core, g)
    core.register(ok)
    assert not core.amf_ev("nas_replay") and core.amf_ev("registration_complete")


def _flip_mac(pdu: bytes) -> bytes:
    if pdu[0] == 0x7E and pdu[1] & 0x0F in (1, 2):
        return pdu[:2] + bytes([pdu[2] ^ 0x01]) + pdu[3:]
    return pdu


def test_downlink_with_a_bad_mac_is_dropped(core) -> None:
    g = core.gnb()
    ue = _ue(core, g)
    g.mitm_dl = _flip_mac  # REGISTRATION ACCEPT (header type 2) arrives with a wrong MAC
    core.register(ue)
    assert ue.nas.counters["nas_mac_failure"] == 1 and ue.ev("ue.nas_mac_failure")
    assert ue.nas.state == "registered-initiated" and not core.amf_ev("registration_complete")
    # control: the AMF's retransmission arrives intact
    g.mitm_dl = None
    core.fire_amf("T3550")
    assert outcome(ue) == ("registered", None) and core.amf_ev("registration_complete")
    # a replayed protected downlink message is dropped too (NAS COUNT already accepted)
    accept_pdu = ue.received[-1]
    core.do(ue, ue.nas.nas_received(accept_pdu))
    assert ue.nas.counters["nas_replay"] == 1


def test_plain_messages_after_security_are_dropped(core) -> None:
    g = core.gnb()
    ue = _ue(core, g)
    core.register(ue)
    for plain in (nas.DeregistrationRequestUeTerminated().encode(), nas.AuthenticationReject().encode(),
                  nas.IdentityRequest(identity_type=nas.IdentityType.SUCI).encode(),
                  nas.RegistrationReject(cause=3).encode()):
        assert not any(isinstance(o, SendNas) for o in ue.nas.nas_received(plain))
    assert ue.nas.counters["nas_unprotected_dropped"] == 4 and outcome(ue) == ("registered", None)
    # control: the same DEREGISTRATION REQUEST protected by the AMF is processed
    ctx = core.amf.by_supi[MEMBER]
    g.to_ue(ue, ctx.sec.protect(nas.DeregistrationRequestUeTerminated().encode()))
    assert ue.nas.state == "deregistered"


def test_plain_identity_request_for_the_imei_is_ignored_before_security(core) -> None:
    g = core.gnb()
    ue = _ue(core, g)
    g.drop_ul = True
    core.register(ue)
    out = ue.nas.nas_received(nas.IdentityRequest(identity_type=nas.IdentityType.IMEI).encode())
    assert not any(isinstance(o, SendNas) for o in out)  # 4.4.4.2: only a SUCI request may be plain
    out = ue.nas.nas_received(nas.IdentityRequest(identity_type=nas.IdentityType.SUCI).encode())
    resp = nas.decode(next(o for o in out if isinstance(o, SendNas)).pdu)
    assert isinstance(resp.mobile_identity, nas.Suci) and resp.mobile_identity.scheme == 1


def test_smc_with_null_integrity_or_unknown_kamf_is_rejected(core) -> None:
    g = core.gnb()
    ue = _ue(core, g)
    g.drop_ul = True
    core.register(ue)
    cap = ue.nas.sent_capability
    kamf = bytes(range(32))
    for nia_alg, reason in ((0, "null-integrity-refused"), (2, "no-kamf-for-ngksi")):
        k_enc, k_int = keys.nas_keys(kamf, 0, nia_alg)
        amf_ctx = nas.NasSecurityContext("amf", k_nas_int=k_int, k_nas_enc=k_enc, nia=nia_alg, nea=0, ngksi=3)
        smc = nas.SecurityModeCommand(selected_algorithms=nas.NasSecurityAlgorithms(0, nia_alg),
                                      ngksi=nas.NgKsi(3), replayed_ue_security_capability=cap)
        out = ue.nas.nas_received(amf_ctx.protect(smc.encode(), SHT.INTEGRITY_PROTECTED_NEW_CONTEXT))
        rej = nas.decode(next(o for o in out if isinstance(o, SendNas)).pdu)
        assert isinstance(rej, nas.SecurityModeReject) and rej.cause == 24
        assert [o.fields["reason"] for o in out if isinstance(o, Event)] == [reason]
    assert ue.nas.sec is None


def test_garbage_from_the_network_never_raises(core) -> None:
    g = core.gnb()
    ue = _ue(core, g)
    dl: list[bytes] = []
    g.mitm_dl = lambda pdu: (dl.append(pdu), pdu)[1]
    core.register(ue)
    core.do(ue, ue.nas.deregister())
    rnd = random.Random(7)
    samples = [b"", b"\x7e", b"\x2e\x01\x02\x03", b"\x7e\x05" + bytes(10), b"\x7e\x00\x99"]
    for pdu in dl:
        for _ in range(40):
            b = bytearray(pdu)
            for _ in range(rnd.randint(1, 4)):
                b[rnd.randrange(len(b))] = rnd.randrange(256)
            samples.append(bytes(b[: rnd.randint(0, len(b))]) if rnd.random() < 0.3 else bytes(b))
    fresh = _ue(core, g)
    for s in samples:
        fresh.nas.nas_received(s)
        ue.nas.nas_received(s)
        ue.nas.timer_expired("T3580:x")
    assert fresh.nas.counters["internal_error"] == 0 and ue.nas.counters["internal_error"] == 0
    dropped = sum(v for k, v in fresh.nas.counters.items() if k.startswith("nas_") and k not in ("nas_rx", "nas_tx"))
    assert dropped > len(samples) // 2


def test_ue_restart_while_the_amf_keeps_its_context(core) -> None:
    """A fresh UE instance (no GUTI, new SQN array) for a SUPI the AMF still has registered: the AMF
    moves the old context over after authentication and must keep naming the ngKSI of the
    authentication just run in the SMC (it used to copy the old context's ngKSI over it)."""
    g = core.gnb()
    old = _ue(core, g)
    core.register(old)
    core.do(old, old.nas.deregister())
    core.register(old)  # identity request, a second authentication: the AMF's ngKSI moves on
    core.release(old)
    new = _ue(core, g)
    core.register(new)
    assert outcome(new) == ("registered", None) and not new.ev("ue.security_mode_reject")
    assert not new.ev("ue.smc_ngksi_mismatch")
    ctx = core.amf.by_supi[MEMBER]
    assert ctx.guti == new.nas.guti and ctx.ngksi == new.nas.sec.ngksi.ksi  # both sides agree
    # and the new context works: a GUTI registration is verified without authentication
    core.release(new)
    core.amf_events.clear()
    core.register(new)
    assert new.nas.registered and not core.amf_ev("authentication_request")
