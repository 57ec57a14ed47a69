"""SMF: PDU session establishment, N2 setup, release, rejects, over an in-process UPF (LocalN4)."""

from __future__ import annotations

import asyncio

import pytest

from testbed.core.smf import (
    Ipv4Pool,
    LocalN4,
    N4Timeout,
    PoolExhausted,
    SmContextCreate,
    Smf,
    SmfConfig,
    SmReply,
)
from testbed.core.smf import pfcp as P
from testbed.core.upf import Upf
from testbed.errors import ConfigError
from testbed.protocols import gtpu, nas, ngap
from testbed.protocols.nas import FiveGsmCause, PduSessionType, SscMode
from testbed.protocols.ngap.release_transfer import PduSessionResourceReleaseCommandTransfer
from testbed.protocols.pcap import LINKTYPE_USER0, ipv4_udp, tshark_available, tshark_check, write_pcap

SUPI = "imsi-001010000000001"
GNB = ngap.GtpTunnel("10.20.0.9", 0x7777)


def est(psi: int = 1, pti: int = 1, **kw) -> bytes:
    return nas.encode(nas.PduSessionEstablishmentRequest(pdu_session_id=psi, pti=pti, **kw))


def ctx(n1: bytes | None = None, psi: int = 1, dnn: str | None = "internet", snssai=(1, None), supi: str = SUPI,
        sub_dnns=("internet",), sub_snssai=((1, None),)) -> SmContextCreate:
    return SmContextCreate(supi, psi, dnn, snssai, est(psi) if n1 is None else n1, tuple(sub_dnns), tuple(sub_snssai))


def setup_response(tun: ngap.GtpTunnel = GNB) -> bytes:
    return ngap.PduSessionResourceSetupResponseTransfer(tun, (1,)).to_bytes()


class Env:
    def __init__(self, config: SmfConfig | None = None):
        self.events: list[tuple[str, dict]] = []
        self.upf = Upf("10.10.0.3", "10.45.0.0/16")
        self.n4 = LocalN4(self.upf)
        self.smf = Smf(config or SmfConfig(dns_server="10.20.0.53"), self.n4,
                       on_event=lambda t, sev, **f: self.events.append((t, f)))

    def run(self, coro):
        return asyncio.run(coro)


async def started(env: Env) -> Env:
    await env.smf.start(timeout=1)
    return env


def run(coro):
    return asyncio.run(coro)


# --- full flow ------------------------------------------------------------------------


def test_full_flow_create_setup_traffic_release():
    async def flow():
        env = await started(Env())
        r = await env.smf.create(ctx(est(1, 5, extended_pco=b"\x80\x00\x0d\x00\x00\x10\x00")))
        assert (r.kind, r.pdu_session_id, r.ue_ipv4) == ("setup", 1, "10.45.0.2")
        accept = nas.decode(r.n1_sm)
        assert isinstance(accept, nas.PduSessionEstablishmentAccept)
        assert (accept.pdu_session_id, accept.pti) == (1, 5)
        assert accept.pdu_address == nas.PduAddress(PduSessionType.IPV4, "10.45.0.2")
        assert accept.dnn == "internet" and accept.s_nssai == nas.SNssai(1)
        (rule,) = accept.qos_rules
        assert rule.default_rule and rule.qfi == 1 and rule.packet_filters[0].contents == b"\x01"
        assert accept.session_ambr.uplink_bps >= 1_000_000_000 and accept.session_ambr.downlink_bps >= 1_000_000_000
        assert accept.cause is None
        # DNS and MTU were requested in the ePCO
        assert b"\x00\x0d\x04" + bytes([10, 20, 0, 53]) in accept.extended_pco
        assert b"\x00\x10\x02\x05\x78" in accept.extended_pco
        t = ngap.PduSessionResourceSetupRequestTransfer.from_bytes(r.n2_transfer)
        (upf_session,) = env.upf.sessions()
        assert t.ul_tunnel == ngap.GtpTunnel("10.10.0.3", upf_session["ul_teid"])
        assert t.pdu_session_type == "ipv4"
        assert [(q.qfi, q.five_qi) for q in t.qos_flows] == [(1, 9)]
        assert (t.security_indication.integrity, t.security_indication.confidentiality) == ("preferred", "preferred")
        assert t.security_indication.max_integrity_rate_ul == "maximum-UE-rate"
        assert t.session_ambr == ngap.UeAmbr(1_000_000_000, 1_000_000_000)
        assert env.smf.sessions(SUPI)[0].state == "pending-n2"
        # downlink before the gNB tunnel is known: buffered (TS 29.244 5.2.3.1; BUFF without NOCP: no report)
        dl = ipv4_udp("10.20.0.2", "10.45.0.2", 53, 4000, b"early")
        assert env.upf.downlink(dl) is None
        assert env.upf.take_pfcp() == [] and env.upf.take_n3() == []

        r2 = await env.smf.n2_setup_response(SUPI, 1, setup_response())
        assert r2 == SmReply(1, None, None, "setup", ue_ipv4="10.45.0.2")
        info = env.smf.sessions(SUPI)[0]
        assert (info.state, info.dl_teid, info.gnb_address) == ("active", 0x7777, "10.20.0.9")
        assert info.as_dict()["ue_ipv4"] == "10.45.0.2"
        (early,) = env.upf.take_n3()  # the FAR forwards now: the buffered packet goes to the gNB
        assert early[1] == ("10.20.0.9", 2152) and gtpu.decode(early[0]).payload == dl

        ul = ipv4_udp("10.45.0.2", "10.20.0.2", 4000, 53, b"query")
        assert env.upf.uplink(gtpu.encode_gpdu(t.ul_tunnel.teid, ul, qfi=1, pdu_type=gtpu.PDU_TYPE_UL)) == ul
        out = env.upf.downlink(dl)
        assert out is not None and out[1] == ("10.20.0.9", 2152)
        g = gtpu.decode(out[0])
        assert (g.teid, g.payload, g.qfi) == (0x7777, dl, 1)

        rel = await env.smf.release(SUPI, 1, nas.encode(nas.PduSessionReleaseRequest(pdu_session_id=1, pti=9)))
        assert rel.kind == "release"
        cmd = nas.decode(rel.n1_sm)
        assert isinstance(cmd, nas.PduSessionReleaseCommand) and cmd.pti == 9
        assert cmd.cause == FiveGsmCause.REGULAR_DEACTIVATION
        assert PduSessionResourceReleaseCommandTransfer.from_bytes(rel.n2_transfer).cause == ngap.Cause("nas", "normal-release")
        assert env.upf.sessions() == [] and env.smf.pool.in_use == 0
        assert env.smf.sessions(SUPI)[0].state == "releasing"
        deleted = [f for t, f in env.events if t == "smf.session.deleted"][0]
        assert (deleted["ul_packets"], deleted["dl_packets"], deleted["ul_bytes"]) == (1, 2, len(ul))

        done = await env.smf.release(SUPI, 1, nas.encode(nas.PduSessionReleaseComplete(pdu_session_id=1, pti=9)))
        assert done.kind == "released"
        assert env.smf.sessions() == []
        c = env.upf.counters()["global"]
        assert (c["ul_packets"], c["dl_packets"], c["sessions"]) == (1, 2, 0)
        assert c["drops"] == {}
    run(flow())


def test_default_dnn_and_snssai_and_security_per_dnn():
    async def flow():
        cfg = SmfConfig(dnns=("ims", "Internet"), snssais=((1, None), (2, 0xABCDEF)),
                        security_by_dnn={"internet": {"integrity": "required", "confidentiality": "not-needed"}})
        env = await started(Env(cfg))
        r = await env.smf.create(ctx(dnn=None, snssai=None, sub_dnns=("other", "INTERNET"),
                                     sub_snssai=((3, None), (2, 0xABCDEF))))
        assert r.kind == "setup", r.cause
        acc = nas.decode(r.n1_sm)
        assert acc.dnn == "Internet" and acc.s_nssai == nas.SNssai(2, 0xABCDEF)
        sec = ngap.PduSessionResourceSetupRequestTransfer.from_bytes(r.n2_transfer).security_indication
        assert (sec.integrity, sec.confidentiality) == ("required", "not-needed")
    run(flow())


def test_ipv4v6_is_accepted_as_ipv4_with_cause_50():
    async def flow():
        env = await started(Env())
        r = await env.smf.create(ctx(est(pdu_session_type=PduSessionType.IPV4V6)))
        acc = nas.decode(r.n1_sm)
        assert r.kind == "setup" and acc.cause == FiveGsmCause.PDU_SESSION_TYPE_IPV4_ONLY_ALLOWED
        assert acc.pdu_session_type == PduSessionType.IPV4
    run(flow())


# --- rejects ------------------------------------------------------------------------


def _reject_cause(r: SmReply) -> int:
    assert r.kind == "reject", r
    msg = nas.decode(r.n1_sm)
    assert isinstance(msg, nas.PduSessionEstablishmentReject)
    assert msg.pdu_session_id == r.pdu_session_id
    return int(msg.cause)


@pytest.mark.parametrize("kwargs,cause", [
    ({"dnn": "nowhere", "sub_dnns": ("nowhere",)}, FiveGsmCause.MISSING_OR_UNKNOWN_DNN),
    ({"dnn": "internet", "sub_dnns": ("ims",)}, FiveGsmCause.MISSING_OR_UNKNOWN_DNN),
    ({"dnn": None, "sub_dnns": ("ims",)}, FiveGsmCause.MISSING_OR_UNKNOWN_DNN),
    ({"snssai": (1, 5)}, FiveGsmCause.REQUESTED_SERVICE_OPTION_NOT_SUBSCRIBED),
    ({"snssai": (9, None), "sub_snssai": ((9, None),)}, FiveGsmCause.SERVICE_OPTION_NOT_SUPPORTED),
    ({"n1": est(pdu_session_type=PduSessionType.IPV6)}, FiveGsmCause.UNKNOWN_PDU_SESSION_TYPE),
    ({"n1": est(pdu_session_type=PduSessionType.ETHERNET)}, FiveGsmCause.UNKNOWN_PDU_SESSION_TYPE),
    ({"n1": est(ssc_mode=SscMode.SSC_MODE_3)}, FiveGsmCause.NOT_SUPPORTED_SSC_MODE),
    ({"n1": est(psi=0), "psi": 0}, FiveGsmCause.INVALID_PDU_SESSION_IDENTITY),
])
def test_reject_causes(kwargs, cause):
    async def flow():
        env = await started(Env())
        r = await env.smf.create(ctx(**kwargs))
        assert _reject_cause(r) == cause
        assert env.upf.sessions() == [] and env.smf.pool.in_use == 0 and env.smf.sessions() == []
        assert any(t == "smf.session.rejected" for t, _ in env.events)
        # control: the same UE with a valid request is accepted
        ok = await env.smf.create(ctx())
        assert ok.kind == "setup"
    run(flow())


def test_pool_exhausted_gives_26_and_release_frees_the_address():
    async def flow():
        env = await started(Env(SmfConfig(ue_pool="10.45.0.0/30")))  # one usable address (.2)
        assert (await env.smf.create(ctx(psi=1))).ue_ipv4 == "10.45.0.2"
        assert _reject_cause(await env.smf.create(ctx(psi=2))) == FiveGsmCause.INSUFFICIENT_RESOURCES
        await env.smf.release(SUPI, 1, None)
        assert (await env.smf.create(ctx(psi=2))).kind == "setup"
    run(flow())


def test_integrity_required_with_null_ue_rate_is_rejected_82():
    async def flow():
        env = await started(Env(SmfConfig(security_indication={"integrity": "required"})))
        n1 = est(integrity_protection_max_data_rate=nas.IntegrityProtectionMaxDataRate(0x01, 0x01))
        assert _reject_cause(await env.smf.create(ctx(n1))) == FiveGsmCause.MAXIMUM_DATA_RATE_FOR_UP_INTEGRITY_TOO_LOW
        # preferred + NULL -> integrity not needed; 64 kbps UE -> rate signalled
        env2 = await started(Env())
        r = await env2.smf.create(ctx(n1))
        assert ngap.PduSessionResourceSetupRequestTransfer.from_bytes(r.n2_transfer).security_indication.integrity == "not-needed"
        r = await env2.smf.create(ctx(est(2, integrity_protection_max_data_rate=nas.IntegrityProtectionMaxDataRate(0, 0)),
                                      psi=2))
        sec = ngap.PduSessionResourceSetupRequestTransfer.from_bytes(r.n2_transfer).security_indication
        assert (sec.integrity, sec.max_integrity_rate_ul) == ("preferred", "bitrate64kbs")
    run(flow())


def test_invalid_pti_gives_5gsm_status_81():
    async def flow():
        env = await started(Env())
        r = await env.smf.create(ctx(est(pti=0)))
        assert r.kind == "reject"
        st = nas.decode(r.n1_sm)
        assert isinstance(st, nas.FiveGsmStatus) and st.cause == FiveGsmCause.INVALID_PTI_VALUE
    run(flow())


@pytest.mark.parametrize("n1", [b"", b"\x2e", b"\x2e\x01\x01\xc1\xff\xff\x7b\x00\x09", b"\x2e\x01\x01\xff", b"\x7e\x00\x41",
                                nas.encode(nas.PduSessionReleaseRequest(pdu_session_id=1, pti=1)),
                                est(psi=2)], ids=["empty", "short", "junk", "unknown-type", "5gmm", "wrong-type", "psi-mismatch"])
def test_malformed_or_wrong_n1_is_an_error(n1):
    async def flow():
        env = await started(Env())
        r = await env.smf.create(ctx(n1))
        assert r.kind == "error" and r.n1_sm is None and r.n2_transfer is None and r.cause
        assert env.upf.sessions() == []
    run(flow())


class _DeadN4:
    async def request(self, msg: bytes) -> bytes:
        raise N4Timeout("no UPF")


class _RefusingUpf(Upf):
    def _build_session(self, msg):
        from testbed.core.upf.sessions import _Reject
        raise _Reject(P.Cause.NO_RESOURCES_AVAILABLE, "full")


def test_upf_unreachable_or_refusing():
    async def flow():
        smf = Smf(SmfConfig(), _DeadN4())
        with pytest.raises(N4Timeout):
            await smf.start(timeout=0.05)
        r = await smf.create(ctx())
        assert _reject_cause(r) == FiveGsmCause.NETWORK_FAILURE and smf.pool.in_use == 0
        upf = _RefusingUpf("10.10.0.3", "10.45.0.0/16")
        smf2 = Smf(SmfConfig(), LocalN4(upf))
        await smf2.start()
        assert _reject_cause(await smf2.create(ctx())) == FiveGsmCause.INSUFFICIENT_RESOURCES
        assert smf2.pool.in_use == 0
    run(flow())


def test_reassociates_after_upf_restart():
    async def flow():
        env = await started(Env())
        env.n4.upf = Upf("10.10.0.3", "10.45.0.0/16")  # a new UPF without association
        r = await env.smf.create(ctx())
        assert r.kind == "setup" and len(env.n4.upf.sessions()) == 1
    run(flow())


# --- duplicate, N2 outcomes, releases -------------------------------------------------------


def test_duplicate_pdu_session_id_releases_the_old_session():
    async def flow():
        env = await started(Env())
        first = await env.smf.create(ctx())
        old_teid = env.upf.sessions()[0]["ul_teid"]
        second = await env.smf.create(ctx(est(1, 2)))
        assert second.kind == "setup"
        (s,) = env.upf.sessions()
        assert s["ul_teid"] != old_teid and len(env.smf.sessions()) == 1
        assert env.smf.pool.in_use == 1
        assert any(t == "smf.session.replaced" for t, _ in env.events)
        # the old tunnel is dead
        pkt = ipv4_udp(first.ue_ipv4, "10.20.0.2", 1, 2, b"x")
        assert env.upf.uplink(gtpu.encode_gpdu(old_teid, pkt)) is None
    run(flow())


def test_n2_setup_response_errors():
    async def flow():
        env = await started(Env())
        assert (await env.smf.n2_setup_response(SUPI, 1, setup_response())).kind == "error"  # no session
        await env.smf.create(ctx())
        for bad in (b"", b"\xff\xff\xff", setup_response()[:-1]):
            r = await env.smf.n2_setup_response(SUPI, 1, bad)
            assert r.kind == "error" and r.cause
        r = await env.smf.n2_setup_response(SUPI, 1, setup_response(ngap.GtpTunnel("2001:db8::1", 5)))
        assert r.kind == "error"
        assert env.smf.sessions()[0].state == "pending-n2"
        assert (await env.smf.n2_setup_response(SUPI, 1, setup_response())).kind == "setup"
        assert (await env.smf.n2_setup_response("imsi-001019999999999", 1, setup_response())).kind == "error"
    run(flow())


def test_n2_setup_failed_releases():
    async def flow():
        env = await started(Env())
        await env.smf.create(ctx())
        fail = ngap.PduSessionResourceSetupUnsuccessfulTransfer(ngap.Cause("radioNetwork", "unspecified")).to_bytes()
        r = await env.smf.n2_setup_failed(SUPI, 1, fail)
        assert r.kind == "release" and r.n2_transfer is None and "radioNetwork" in r.cause
        cmd = nas.decode(r.n1_sm)
        assert isinstance(cmd, nas.PduSessionReleaseCommand) and cmd.cause == FiveGsmCause.INSUFFICIENT_RESOURCES
        assert env.upf.sessions() == [] and env.smf.pool.in_use == 0
        assert (await env.smf.release(SUPI, 1, nas.encode(nas.PduSessionReleaseComplete(pdu_session_id=1, pti=0)))).kind == "released"
        assert (await env.smf.n2_setup_failed(SUPI, 1, None)).kind == "error"
    run(flow())


NOT_PERFORMED = ngap.SecurityResult("not-performed", "not-performed")


def _up_security_events(events: list) -> list[tuple[str, dict]]:
    return [(sev, f) for t, sev, f in events if t == "smf.up_security"]


def _security_env(config: SmfConfig | None = None) -> tuple[Env, list]:
    env = Env(config)
    seen: list = []
    env.smf.on_event = lambda t, sev, **f: seen.append((t, sev, f))
    return env, seen


@pytest.mark.parametrize("policy, result, severity", [
    # the default policy (preferred / preferred) and a gNB without PDCP security (the femto)
    ({"integrity": "preferred", "confidentiality": "preferred"}, NOT_PERFORMED, "notice"),
    ({"integrity": "preferred", "confidentiality": "preferred"}, ngap.SecurityResult("performed", "performed"), "info"),
    ({"integrity": "not-needed", "confidentiality": "preferred"}, ngap.SecurityResult("not-performed", "performed"),
     "info"),
    # a gNB that accepted "required" but says it does not protect: contradictory, a warning
    ({"integrity": "required", "confidentiality": "not-needed"}, NOT_PERFORMED, "warning"),
    # a result is expected when the policy asks for protection: missing -> warning
    ({"integrity": "preferred", "confidentiality": "preferred"}, None, "warning"),
    # nothing asked, nothing reported: no event
    ({"integrity": "not-needed", "confidentiality": "not-needed"}, None, None),
])
def test_n2_setup_response_records_the_security_result(policy, result, severity):
    async def flow():
        env, seen = _security_env(SmfConfig(security_indication=policy))
        await started(env)
        assert (await env.smf.create(ctx())).kind == "setup"
        assert env.smf.sessions()[0].up_integrity_result is None  # nothing reported before N2 setup
        transfer = ngap.PduSessionResourceSetupResponseTransfer(GNB, (1,), result).to_bytes()
        r = await env.smf.n2_setup_response(SUPI, 1, transfer)
        assert r == SmReply(1, None, None, "setup", ue_ipv4="10.45.0.2")  # the reply to the AMF is unchanged
        info = env.smf.sessions(SUPI)[0]
        assert info.state == "active" and info.security_result == result
        d = info.as_dict()
        assert (d["up_integrity_result"], d["up_confidentiality_result"]) == (
            (result.integrity, result.confidentiality) if result else (None, None))
        events = _up_security_events(seen)
        if severity is None:
            assert events == []
            return
        ((sev, f),) = events
        assert sev == severity
        assert f == {"supi": SUPI, "pdu_session_id": 1, "integrity_indication": policy["integrity"],
                     "confidentiality_indication": policy["confidentiality"],
                     "integrity_result": result.integrity if result else None,
                     "confidentiality_result": result.confidentiality if result else None,
                     "reported": result is not None}
    run(flow())


def test_security_result_is_not_recorded_when_the_n2_setup_fails():
    async def flow():
        env, seen = _security_env()
        await started(env)
        await env.smf.create(ctx())
        bad_tunnel = ngap.PduSessionResourceSetupResponseTransfer(ngap.GtpTunnel("2001:db8::1", 5), (1,), NOT_PERFORMED)
        assert (await env.smf.n2_setup_response(SUPI, 1, bad_tunnel.to_bytes())).kind == "error"
        assert env.smf.sessions()[0].security_result is None and _up_security_events(seen) == []
        # a later, valid response records it; a repeated one replaces it
        ok = ngap.PduSessionResourceSetupResponseTransfer(GNB, (1,), NOT_PERFORMED).to_bytes()
        assert (await env.smf.n2_setup_response(SUPI, 1, ok)).kind == "setup"
        again = ngap.PduSessionResourceSetupResponseTransfer(GNB, (1,), ngap.SecurityResult("performed", "performed"))
        assert (await env.smf.n2_setup_response(SUPI, 1, again.to_bytes())).kind == "setup"
        assert env.smf.sessions()[0].security_result == ngap.SecurityResult("performed", "performed")
        assert [sev for sev, _ in _up_security_events(seen)] == ["notice", "info"]
    run(flow())


def test_session_info_with_a_security_result_is_json_serialisable():
    import dataclasses
    import json

    async def flow():
        env = await started(Env())
        await env.smf.create(ctx())
        await env.smf.n2_setup_response(
            SUPI, 1, ngap.PduSessionResourceSetupResponseTransfer(GNB, (1,), NOT_PERFORMED).to_bytes())
        info = env.smf.sessions()[0]
        assert json.loads(json.dumps(info.as_dict()))["up_integrity_result"] == "not-performed"
        assert json.loads(json.dumps(dataclasses.asdict(info)))["up_confidentiality_result"] == "not-performed"
    run(flow())


def test_network_requested_release_and_release_errors():
    async def flow():
        env = await started(Env())
        assert (await env.smf.release(SUPI, 1, None)).kind == "error"
        rej = await env.smf.release(SUPI, 3, nas.encode(nas.PduSessionReleaseRequest(pdu_session_id=3, pti=4)))
        assert rej.kind == "reject"
        m = nas.decode(rej.n1_sm)
        assert isinstance(m, nas.PduSessionReleaseReject) and m.cause == FiveGsmCause.INVALID_PDU_SESSION_IDENTITY
        await env.smf.create(ctx())
        await env.smf.n2_setup_response(SUPI, 1, setup_response())
        st = await env.smf.release(SUPI, 1, nas.encode(nas.PduSessionReleaseRequest(pdu_session_id=1, pti=0)))
        assert st.kind == "reject" and nas.decode(st.n1_sm).cause == FiveGsmCause.INVALID_PTI_VALUE
        assert env.smf.sessions()[0].state == "active"
        r = await env.smf.release(SUPI, 1, None)
        assert r.kind == "release" and nas.decode(r.n1_sm).pti == 0 and r.n2_transfer
        again = await env.smf.release(SUPI, 1, None)  # repeated: the same command, no second deletion
        assert (again.kind, again.n1_sm, again.n2_transfer) == ("release", r.n1_sm, r.n2_transfer)
        assert (await env.smf.release(SUPI, 1, b"\x2e")).kind == "error"
        assert (await env.smf.release(SUPI, 2, nas.encode(nas.PduSessionReleaseComplete(pdu_session_id=1, pti=0)))).kind == "error"
        st = nas.encode(nas.FiveGsmStatus(pdu_session_id=1, pti=0, cause=FiveGsmCause.INVALID_PDU_SESSION_IDENTITY))
        assert (await env.smf.release(SUPI, 1, st)).kind == "released"
        assert (await env.smf.release(SUPI, 1, nas.encode(nas.PduSessionReleaseComplete(pdu_session_id=1, pti=0)))).kind == "error"
    run(flow())


def test_release_all_on_deregistration():
    async def flow():
        env = await started(Env())
        for psi in (1, 2, 3):
            assert (await env.smf.create(ctx(psi=psi))).kind == "setup"
        other = await env.smf.create(ctx(supi="imsi-001010000000002"))
        await env.smf.release(SUPI, 3, None)
        await env.smf.release_all(SUPI)
        assert [s.supi for s in env.smf.sessions()] == ["imsi-001010000000002"]
        assert [s["ue_ipv4"] for s in env.upf.sessions()] == [other.ue_ipv4]
        assert env.smf.pool.in_use == 1
        await env.smf.release_all("imsi-unknown")  # no-op
    run(flow())


def test_concurrent_creates_for_many_ues():
    async def flow():
        env = await started(Env())
        replies = await asyncio.gather(*(env.smf.create(ctx(supi=f"imsi-0010100000{i:05d}")) for i in range(20)))
        assert all(r.kind == "setup" for r in replies)
        assert len({r.ue_ipv4 for r in replies}) == 20 and len(env.upf.sessions()) == 20
    run(flow())


# --- config and pool ------------------------------------------------------------------


@pytest.mark.parametrize("data,field", [
    ({"ue_pool": "10.45.0.1/16"}, "smf.ue_pool"),
    ({"dnns": []}, "smf.dnns"),
    ({"dnns": ["ok", "bad..dnn"]}, "smf.dnns[1]"),
    ({"snssais": [{"sst": 300}]}, "smf.snssais[0].sst"),
    ({"snssais": [{"sst": 1, "sd": "xyz"}]}, "smf.snssais[0].sd"),
    ({"upf_n4_address": "upf:8805"}, "smf.upf_n4_address"),
    ({"dns_server": "dns"}, "smf.dns_server"),
    ({"session_ambr": [1, 2]}, "smf.session_ambr"),
    ({"security_indication": {"integrity": "maybe"}}, "smf.security_indication.integrity"),
    ({"qfi": 0}, "smf.qfi"),
    ({"colour": "blue"}, "smf.colour"),
])
def test_config_errors_name_the_field(data, field):
    with pytest.raises(ConfigError) as ei:
        SmfConfig.from_mapping(data, file="core.yaml")
    assert ei.value.file == "core.yaml" and ei.value.path == field, str(ei.value)


def test_config_from_mapping_control():
    c = SmfConfig.from_mapping({"dnns": ["internet"], "snssais": [{"sst": 1, "sd": "010203"}, [2]],
                                "upf_n4_address": "10.10.0.3", "smf_n4_address": ["10.10.0.1", 0],
                                "session_ambr": [2000, 3000]})
    assert c.snssais == ((1, 0x010203), (2, None)) and c.upf_n4_address == ("10.10.0.3", 8805)
    assert c.smf_n4_address == ("10.10.0.1", 0) and c.session_ambr == (2000, 3000)


def test_pool():
    p = Ipv4Pool("10.45.0.0/29", exclude=["10.45.0.4"])
    assert p.gateway == "10.45.0.1" and p.size == 4  # .2 .3 .5 .6
    got = [p.allocate() for _ in range(4)]
    assert got == ["10.45.0.2", "10.45.0.3", "10.45.0.5", "10.45.0.6"]
    with pytest.raises(PoolExhausted):
        p.allocate()
    p.release("10.45.0.3")
    assert p.allocate() == "10.45.0.3"
    with pytest.raises(ValueError):
        p.release("10.45.0.1")  # the gateway is never allocated
    with pytest.raises(ValueError):
        p.release("10.99.0.1")
    p.release("10.45.0.5")
    with pytest.raises(ValueError):
        p.release("10.45.0.5")  # double release
    with pytest.raises(ValueError):
        Ipv4Pool("10.45.0.0/31")
    with pytest.raises(ValueError):
        Ipv4Pool("not-a-network")
    # round robin: a just released address is not handed out first
    q = Ipv4Pool("10.45.0.0/24")
    a = q.allocate()
    q.allocate()
    q.release(a)
    assert q.allocate() == "10.45.0.4"


@pytest.mark.skipif(not tshark_available(), reason="tshark not installed")
def test_wireshark_dissects_the_5gsm_messages(tmp_path):
    async def flow():
        env = await started(Env())
        acc = await env.smf.create(ctx(est(1, 1, pdu_session_type=PduSessionType.IPV4V6,
                                           extended_pco=b"\x80\x00\x0d\x00\x00\x10\x00")))
        rej = await env.smf.create(ctx(est(2), psi=2, dnn="nowhere"))
        rel = await env.smf.release(SUPI, 1, None)
        return [acc.n1_sm, rej.n1_sm, rel.n1_sm]
    msgs = run(flow())
    reports = tshark_check(write_pcap(tmp_path / "sm.pcap", msgs, LINKTYPE_USER0), user_dlt="nas-5gs")
    assert len(reports) == 3
    for rep in reports:
        assert rep.ok and not rep.expert and "nas-5gs" in rep.protocols, rep
