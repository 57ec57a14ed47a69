"""N2 robustness: cross-gNB UE-context protection (Open5GS #4498) and malformed NGAP."""

from __future__ import annotations

import random

from testbed.protocols import nas, ngap

from .scripted_ran import Env

UNKNOWN = ngap.Cause("radioNetwork", "unknown-local-UE-NGAP-ID")
INCONSISTENT = ngap.Cause("radioNetwork", "inconsistent-remote-UE-NGAP-ID")


def _two_gnbs():
    env = Env()
    g1 = env.h.setup(1, 1)
    g2 = env.h.setup(2, 2)
    ue = env.ue()
    env.h.register(ue, g1)
    assert ue.registered
    env.h.clear()
    return env, g1, g2, ue


def _errors(g) -> list[ngap.ErrorIndication]:
    return [m for m in g.inbox if isinstance(m, ngap.ErrorIndication)]


def test_foreign_uplink_nas_transport_is_refused_and_the_victim_unaffected() -> None:
    env, g1, g2, ue = _two_gnbs()
    victim = env.amf.ue_contexts()[0]
    forged = ue.protect(nas.FiveGmmStatus(cause=nas.FiveGmmCause.PROTOCOL_ERROR_UNSPECIFIED).encode())
    g2.send(ngap.UplinkNASTransport(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, forged, g2.uli()))
    (err,) = _errors(g2)
    assert err.cause == UNKNOWN and err.amf_ue_ngap_id == ue.amf_ue_ngap_id
    assert not _errors(g1)
    (ev,) = env.h.ev("ngap_foreign_ue")
    assert ev["assoc"] == 2 and ev["amf_ue_ngap_id"] == ue.amf_ue_ngap_id and ev["owner_assoc"] == 1
    assert env.amf.ue_contexts()[0] == victim
    # the genuine message from gNB 1 (same NAS COUNT) still works: nothing was consumed
    g1.uplink(ue, forged)
    assert env.h.ev("nas_5gmm_status")


def test_foreign_release_request_does_not_release_the_victim() -> None:
    env, g1, g2, ue = _two_gnbs()
    g2.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "unspecified")))
    assert _errors(g2)[0].cause == UNKNOWN
    assert not any(isinstance(m, ngap.UEContextReleaseCommand) for m in g1.inbox + g2.inbox)
    assert env.amf.ue_contexts()[0]["cm"] == "connected"
    # control: gNB 1 may release its own UE
    g1.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, ngap.Cause("radioNetwork", "unspecified")))
    assert env.amf.ue_contexts()[0]["cm"] == "idle"


def test_foreign_pdu_session_setup_response_is_not_forwarded_to_the_smf() -> None:
    env, g1, g2, ue = _two_gnbs()
    rogue = ngap.PDUSessionResourceSetupResponse(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, setup=(
        ngap.PduSessionSetupResult(1, ngap.PduSessionResourceSetupResponseTransfer(ngap.GtpTunnel("6.6.6.6", 66))),))
    g2.send(rogue)
    assert not env.h.smf and _errors(g2)[0].cause == UNKNOWN and env.h.ev("ngap_foreign_ue")


def test_mismatching_ran_ue_ngap_id_is_inconsistent() -> None:
    env, g1, g2, ue = _two_gnbs()
    g1.send(ngap.UEContextReleaseRequest(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id + 100,
                                         ngap.Cause("radioNetwork", "unspecified")))
    assert _errors(g1)[0].cause == INCONSISTENT
    assert env.h.ev("ngap_foreign_ue")[0]["reason"] == "ran-ue-ngap-id-mismatch"
    assert env.amf.ue_contexts()[0]["cm"] == "connected"


def test_unknown_amf_ue_ngap_id() -> None:
    env, g1, g2, ue = _two_gnbs()
    g2.send(ngap.UplinkNASTransport(999, 1, b"\x7e\x00\x43", g2.uli()))
    assert _errors(g2)[0].cause == UNKNOWN and env.h.ev("ngap_unknown_ue")


def test_malformed_ngap_gets_error_indication_and_never_raises() -> None:
    env, g1, g2, ue = _two_gnbs()
    for data in (b"", b"\x00", b"\xff" * 40, ngap.encode(ngap.NGReset(ngap.Cause("misc", "unspecified")))[:-3]):
        env.h.feed(env.amf.ngap_received(1, data))
    errs = _errors(g1)
    assert len(errs) == 4 and all(e.cause == ngap.Cause("protocol", "transfer-syntax-error") for e in errs)
    assert len(env.h.ev("ngap_malformed")) == 4


def test_fuzzed_ngap_and_nas_never_crash_the_amf() -> None:
    """Mutated copies of real PDUs: every outcome is an output list, never an exception, and no
    handler hits an unexpected exception (internal_error)."""
    env, g1, g2, ue = _two_gnbs()
    samples = [s.data for s in env.h.sent] + [
        ngap.encode(ngap.UplinkNASTransport(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, p, g1.uli())) for p in ue.sent_ul]
    samples.append(g1.ng_setup_request())
    rng = random.Random(4498)
    for _ in range(400):
        data = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        outs = env.amf.ngap_received(rng.choice((1, 2)), bytes(data))
        assert isinstance(outs, list)
        assert not [o for o in outs if getattr(o, "type", "") == "internal_error"], outs
    # NAS-level fuzz inside well-formed NGAP from the right gNB
    for _ in range(200):
        pdu = bytearray(rng.choice(ue.sent_ul))
        pdu[rng.randrange(len(pdu))] ^= 1 << rng.randrange(8)
        ctx = env.amf.ues.get(ue.amf_ue_ngap_id)
        if ctx is None or ctx.assoc is None:
            break
        outs = env.amf.ngap_received(1, ngap.encode(ngap.UplinkNASTransport(
            ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, bytes(pdu), g1.uli())))
        assert not [o for o in outs if getattr(o, "type", "") == "internal_error"], outs


def test_unexpected_amf_side_message_from_a_gnb() -> None:
    env, g1, g2, ue = _two_gnbs()
    g1.send(ngap.NGSetupResponse("evil", (env.amf.config.guami,), (ngap.PlmnSupport(ngap.Plmn("001", "01"),
                                                                                     (ngap.Snssai(1),)),)))
    assert env.h.ev("ngap_unexpected") and _errors(g1)


def test_internal_error_is_contained() -> None:
    env, g1, g2, ue = _two_gnbs()

    def boom(*a, **k):
        raise RuntimeError("bug")

    env.amf.udm.subscription = boom  # type: ignore[method-assign]
    ue2 = env.ue()
    outs = []
    g1.connect(ue2, ue2.registration_request())
    outs = env.h.ev("internal_error")
    assert outs and outs[0]["where"] == "ngap_received" and "RuntimeError" in outs[0]["error"]
