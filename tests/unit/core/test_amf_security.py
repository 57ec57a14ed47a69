"""NAS security (TS 24.501 4.4, 5.4.2; TS 33.501 6.7.2): algorithm choice, integrity enforcement."""

from __future__ import annotations

import pytest

from testbed.core.amf import select_algorithms
from testbed.protocols import nas, ngap

from .scripted_ran import SHT, Env

CAP = nas.UeSecurityCapability


@pytest.mark.parametrize("cap,nia_p,nea_p,expected", [
    (CAP({0, 1, 2, 3}, {1, 2, 3}), (2, 1, 3), (2, 1, 3, 0), (2, 2)),
    (CAP({0, 1}, {1}), (2, 1, 3), (2, 1, 3, 0), (1, 1)),
    (CAP({0}, {3}), (2, 1, 3), (2, 1, 3, 0), (3, 0)),
    (CAP({0}, {3}), (2, 1, 3), (2, 1, 3), None),  # NEA0 not in the operator's list
    (CAP({0, 2}, {0}), (2, 1, 3), (2, 1, 3, 0), None),  # only NIA0: never
    (CAP({0, 2}, {0, 2}), (3, 1), (2,), None),
    (CAP({1, 3}, {1, 3}), (3, 1, 2), (3, 1), (3, 3)),
])
def test_select_algorithms(cap, nia_p, nea_p, expected) -> None:
    assert select_algorithms(cap, nia_p, nea_p) == expected


def test_ue_supporting_only_nia0_is_rejected_with_23() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue(nia={0})
    env.h.register(ue, g)
    assert ue.reject is not None and ue.reject.cause == nas.FiveGmmCause.UE_SECURITY_CAPABILITIES_MISMATCH
    (ev,) = env.h.ev("bidding_down_refused")
    assert ev["ue_nia"] == [0]
    assert not env.h.ev("security_mode") and not any(isinstance(m, nas.SecurityModeCommand) for m in ue.received)
    # control: the same UE with NIA2 is accepted
    ok = env.ue(nia={0, 2})
    env.h.register(ok, g)
    assert ok.registered and env.h.ev("security_mode")[-1]["nia"] == 2


def test_nea0_is_used_only_when_the_priority_list_allows_it() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue(nea_algs={0})
    env.h.register(ue, g)
    assert ue.registered and env.h.ev("security_mode")[0]["nea"] == 0
    strict = Env(nea_priority=(2, 1, 3))
    g2 = strict.h.setup()
    ue2 = strict.ue(nea_algs={0})
    strict.h.register(ue2, g2)
    assert ue2.reject is not None and ue2.reject.cause == nas.FiveGmmCause.UE_SECURITY_CAPABILITIES_MISMATCH


def _registered():
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    env.h.register(ue, g)
    assert ue.registered
    env.h.clear()
    return env, g, ue


def test_replayed_uplink_message_is_dropped() -> None:
    env, g, ue = _registered()
    old = ue.sent_ul[-1]  # the protected REGISTRATION COMPLETE
    g.uplink(ue, old)
    (ev,) = env.h.ev("nas_replay")
    assert ev["amf_ue_ngap_id"] == ue.amf_ue_ngap_id and ev["supi"] == ue.supi.to_string()
    assert env.h.types() == ["nas_replay"] and not env.h.sent  # nothing else happened
    # control: a fresh protected message is still processed
    g.uplink(ue, ue.protect(nas.FiveGmmStatus(cause=nas.FiveGmmCause.PROTOCOL_ERROR_UNSPECIFIED).encode()))
    assert env.h.ev("nas_5gmm_status")


def test_bad_mac_is_dropped_and_the_context_is_unchanged() -> None:
    env, g, ue = _registered()
    good = ue.protect(nas.FiveGmmStatus(cause=nas.FiveGmmCause.PROTOCOL_ERROR_UNSPECIFIED).encode())
    bad = bytearray(good)
    bad[2] ^= 1
    g.uplink(ue, bytes(bad))
    assert env.h.types() == ["nas_mac_failure"]
    g.uplink(ue, good)  # the genuine message with the same COUNT is still accepted
    assert env.h.types() == ["nas_mac_failure", "nas_5gmm_status"]


def test_unprotected_message_after_security_is_dropped() -> None:
    env, g, ue = _registered()
    sm = nas.PduSessionEstablishmentRequest(pdu_session_id=1, pti=1, pdu_session_type=nas.PduSessionType.IPV4)
    plain = nas.UlNasTransport(payload_container=sm.encode(), pdu_session_id=1, dnn="internet").encode()
    g.uplink(ue, plain)
    assert env.h.ev("nas_unprotected_dropped")[0]["message"] == "UlNasTransport"
    assert not env.h.smf
    g.uplink(ue, nas.DeregistrationRequestUeOriginating(mobile_identity=ue.guti).encode())
    assert len(env.h.ev("nas_unprotected_dropped")) == 2 and ue.registered
    g.uplink(ue, ue.ul_nas_transport(sm))  # control: protected, relayed
    assert len(env.h.smf) == 1


def test_integrity_only_uplink_while_ciphering_is_active_is_dropped() -> None:
    env, g, ue = _registered()
    assert ue.sec is not None
    pdu = ue.sec.protect(nas.FiveGmmStatus(cause=nas.FiveGmmCause.PROTOCOL_ERROR_UNSPECIFIED).encode(),
                         SHT.INTEGRITY_PROTECTED)
    g.uplink(ue, pdu)
    assert env.h.types() == ["nas_not_ciphered"]


def test_messages_before_security_are_limited_to_the_allowed_list() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    ue.drop = {"AuthenticationRequest"}
    g.connect(ue, ue.registration_request())
    env.h.clear()
    g.uplink(ue, nas.RegistrationComplete().encode())  # plain, out of place
    g.uplink(ue, nas.SecurityModeComplete().encode())
    assert env.h.types() == ["nas_unprotected_dropped", "nas_unprotected_dropped"]


def test_security_mode_reject_releases() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    ue.reject_smc = True
    env.h.register(ue, g)
    assert env.h.ev("security_mode_reject")[0]["cause"] == 24
    assert any(isinstance(m, ngap.UEContextReleaseCommand) for m in g.inbox)
    assert env.amf.ue_contexts() == [] and not ue.registered


def test_smc_complete_with_a_bad_mac_is_dropped_and_smc_retransmitted() -> None:
    env = Env()
    g = env.h.setup()
    ue = env.ue()
    ue.drop = {"SecurityModeCommand"}
    g.connect(ue, ue.registration_request())
    assert env.h.ev("security_mode")
    g.uplink(ue, b"\x7e\x04" + bytes(4) + b"\x00" + nas.SecurityModeComplete().encode())
    assert env.h.ev("nas_mac_failure") and not env.h.ev("registration_accept")
    ue.drop = set()
    env.h.fire("T3560")  # retransmitted SMC, protected again with a new DL NAS COUNT
    assert ue.registered and env.h.ev("nas_retransmission")[0]["timer"] == "T3560"
    smcs = [m for m in ue.received if isinstance(m, nas.SecurityModeCommand)]
    assert len(smcs) == 2


def test_downlink_after_smc_is_always_protected_and_ciphered() -> None:
    env, g, ue = _registered()
    g.uplink(ue, ue.deregistration_request())
    assert ue.received_plain_after_security == [] and ue.mac_failures == 0
    dl = [ngap.decode(s.data) for s in env.h.sent]
    nas_pdus = [m.nas_pdu for m in dl if isinstance(m, ngap.DownlinkNASTransport)]
    assert nas_pdus and all(p[1] & 0x0F == 2 for p in nas_pdus)
