"""UP deactivation / re-activation: UPF buffering and the Downlink Data Report (TS 29.244 5.2.3.1,
7.5.8, 8.2.26), the SMF's PFCP side (TS 23.502 4.2.6, 4.2.3.2, 4.2.3.3), and the report over real
UDP sockets on loopback (UpfProcess + UdpN4Client)."""

from __future__ import annotations

import asyncio
import socket

from testbed.core.smf import LocalN4, SmContextCreate, Smf, SmfConfig, UdpN4Client
from testbed.core.smf import pfcp as P
from testbed.core.upf import Upf
from testbed.core.upf.process import UpfProcess
from testbed.protocols import gtpu, nas, ngap
from testbed.protocols.pcap import ipv4_udp

from .test_upf import CP, GNB, UE, Clock, active_session, associate, establish, make_upf, req

DN = "10.20.0.2"
SUPI = "imsi-001010000000001"


def dl(payload: bytes = b"pong", ue: str = UE) -> bytes:
    return ipv4_udp(DN, ue, 53, 4000, payload)


def buffering_session(upf: Upf, cp_seid: int = 11) -> int:
    """An active session whose AN tunnel was then released (downlink FAR: BUFF|NOCP)."""
    associate(upf)
    seid, _ = active_session(upf, cp_seid=cp_seid)
    m = req(upf, P.SessionModificationRequest(seq=90, seid=seid, update_fars=P.dl_buffer_update()))
    assert m.cause == P.Cause.REQUEST_ACCEPTED
    return seid


def events_of(events: list, name: str) -> list[dict]:
    return [f for t, _, f in events if t == name]


# --- UPF ---------------------------------------------------------------------------------------


def test_buffered_downlink_is_reported_once_to_the_cp_function() -> None:
    upf, events = make_upf()
    seid = buffering_session(upf)
    assert upf.downlink(dl(b"1")) is None
    (sent,) = upf.take_pfcp()
    data, dest = sent
    assert dest == CP  # the association's peer
    rep = P.decode(data)
    assert isinstance(rep, P.SessionReportRequest)
    assert (rep.seid, rep.report_type, rep.dl_data_pdr_ids) == (11, P.ReportType.DLDR, (P.PDR_DL,))
    assert events_of(events, "upf.buffered")[0]["notify"] is True
    assert events_of(events, "upf.dl_data_report")[0]["seid"] == seid
    # more packets: buffered, not reported again (TS 29.244 5.2.3.1)
    for i in range(5):
        assert upf.downlink(dl(bytes([i]))) is None
    assert upf.take_pfcp() == [] and len(upf.session(seid).dl_buffer) == 6
    assert len(events_of(events, "upf.buffered")) == 1
    # the CP function answers; then the FAR turns to FORW: the buffer goes out in order, first
    assert upf.handle_pfcp(P.encode(P.SessionReportResponse(seq=rep.seq, seid=seid, cause=1)), CP) is None
    assert upf.stats["pfcp_report_responses"] == 1
    req(upf, P.SessionModificationRequest(seq=91, seid=seid,
                                          update_fars=P.dl_tunnel_update(P.OuterHeaderCreation(0x55, GNB[0]))))
    out = upf.take_n3()
    assert [gtpu.decode(d).payload for d, _ in out] == [dl(b"1")] + [dl(bytes([i])) for i in range(5)]
    assert {p for _, p in out} == {GNB} and {gtpu.decode(d).teid for d, _ in out} == {0x55}
    assert events_of(events, "upf.buffer_flushed")[0]["packets"] == 6
    c = upf.session(seid).counters()
    assert (c["dl_packets"], c["dl_buffered"], c["dl_flushed"], c["dl_buffer_now"]) == (6, 6, 6, 0)
    # control: now forwarding, nothing is buffered or reported
    assert upf.downlink(dl()) is not None and upf.take_pfcp() == [] and upf.take_n3() == []


def test_buffer_limits_drop_and_count() -> None:
    upf, events = make_upf(dl_buffer_packets=3, dl_buffer_bytes=10_000)
    seid = buffering_session(upf)
    for i in range(5):
        upf.downlink(dl(bytes([i])))
    s = upf.session(seid)
    assert len(s.dl_buffer) == 3 and s.drops["dl_buffer_full"] == 2
    assert len(events_of(events, "upf.buffer_dropped")) == 1  # once per buffering episode
    assert upf.counters()["global"]["drops"]["dl_buffer_full"] == 2
    # octet limit
    upf2, _ = make_upf(dl_buffer_packets=100, dl_buffer_bytes=100)
    seid2 = buffering_session(upf2)
    upf2.downlink(dl(b"a" * 40))  # 68 octets
    upf2.downlink(dl(b"b" * 40))  # would exceed 100
    assert len(upf2.session(seid2).dl_buffer) == 1 and upf2.session(seid2).drops["dl_buffer_full"] == 1
    # the limit over all sessions: two idle UEs share 150 octets
    upf3, _ = make_upf(dl_buffer_total_bytes=150)
    associate(upf3)
    seids = []
    for ue, cp in (("10.45.0.7", 11), ("10.45.0.8", 12)):
        sid, _ = active_session(upf3, ue=ue, cp_seid=cp)
        req(upf3, P.SessionModificationRequest(seq=80 + cp, seid=sid, update_fars=P.dl_buffer_update()))
        seids.append(sid)
    upf3.downlink(dl(b"a" * 40, ue="10.45.0.7"))
    upf3.downlink(dl(b"b" * 40, ue="10.45.0.7"))
    upf3.downlink(dl(b"c" * 40, ue="10.45.0.8"))  # 3 x 68 > 150: refused
    assert [len(upf3.session(x).dl_buffer) for x in seids] == [2, 0]
    assert upf3.counters()["global"]["dl_buffer_octets_now"] == 136
    req(upf3, P.SessionDeletionRequest(seq=99, seid=seids[0]))  # deletion gives the room back
    assert upf3.buffered_octets == 0
    upf3.downlink(dl(b"c" * 40, ue="10.45.0.8"))
    assert len(upf3.session(seids[1]).dl_buffer) == 1


def test_report_is_retransmitted_on_t1_then_given_up() -> None:
    clock = Clock()
    upf, events = make_upf(clock=clock, report_t1=1.0, report_n1=3)
    seid = buffering_session(upf)
    upf.downlink(dl())
    (first,) = upf.take_pfcp()
    upf.poll()
    assert upf.take_pfcp() == []  # T1 not elapsed
    clock.t += 1.0
    upf.poll()
    assert upf.take_pfcp() == [first]  # the identical request (TS 29.244 6.4)
    clock.t += 1.0
    upf.poll()
    assert upf.take_pfcp() == [first]
    clock.t += 1.0
    upf.poll()  # N1 = 3 transmissions done: given up
    assert upf.take_pfcp() == [] and events_of(events, "upf.dl_data_report_failed")[0]["transmissions"] == 3
    assert not upf.session(seid).report_sent
    # the next buffered packet reports again
    upf.downlink(dl(b"2"))
    assert len(upf.take_pfcp()) == 1


def test_report_response_from_another_peer_or_unknown_sequence_is_ignored() -> None:
    upf, events = make_upf()
    seid = buffering_session(upf)
    upf.downlink(dl())
    ((data, _),) = upf.take_pfcp()
    seq = P.peek_header(data).seq
    resp = P.encode(P.SessionReportResponse(seq=seq, seid=seid, cause=1))
    upf.handle_pfcp(resp, ("10.66.6.6", 8805))
    upf.handle_pfcp(P.encode(P.SessionReportResponse(seq=seq + 1, seid=seid, cause=1)), CP)
    assert upf.stats["pfcp_unexpected_response"] == 2 and upf.stats["pfcp_report_responses"] == 0
    upf.handle_pfcp(P.encode(P.SessionReportResponse(seq=seq, seid=seid, cause=65)), CP)  # control: the right one
    assert upf.stats["pfcp_report_responses"] == 1
    assert events_of(events, "upf.dl_data_report_rejected")[0]["cause"] == 65


def test_buff_without_nocp_buffers_silently_and_rearming_or_drop_discards() -> None:
    upf, events = make_upf()
    associate(upf)
    r = establish(upf)  # a new session buffers (BUFF, no NOCP) until the gNB's tunnel is known
    seid = r.up_fseid.seid
    upf.downlink(dl())
    assert upf.take_pfcp() == [] and len(upf.session(seid).dl_buffer) == 1
    # BUFF|NOCP while already buffering: the CP function re-arms (paging failed): the old data goes
    req(upf, P.SessionModificationRequest(seq=70, seid=seid, update_fars=P.dl_buffer_update()))
    s = upf.session(seid)
    assert not s.dl_buffer and s.drops["dl_buffer_discarded"] == 1
    upf.downlink(dl(b"new"))
    assert len(upf.take_pfcp()) == 1
    # DROP discards as well
    req(upf, P.SessionModificationRequest(seq=71, seid=seid, update_fars=(P.UpdateFar(P.FAR_DL, P.ApplyAction.DROP),)))
    assert not s.dl_buffer and s.drops["dl_buffer_discarded"] == 2
    assert upf.downlink(dl()) is None and s.drops["dl_far_drop"] == 1
    # deletion discards and forgets pending reports
    req(upf, P.SessionModificationRequest(seq=72, seid=seid, update_fars=P.dl_buffer_update()))
    upf.downlink(dl())
    req(upf, P.SessionDeletionRequest(seq=73, seid=seid))
    assert events_of(events, "upf.buffer_discarded")[-1]["reason"] == "session deleted"
    upf.poll()


# --- SMF ---------------------------------------------------------------------------------------


class SpyN4(LocalN4):
    """LocalN4 that records the decoded requests."""

    def __init__(self, upf: Upf) -> None:
        super().__init__(upf, src=CP)
        self.sent: list[P.PfcpMessage] = []

    async def request(self, msg: bytes) -> bytes:
        self.sent.append(P.decode(msg))
        return await super().request(msg)


def _est() -> SmContextCreate:
    return SmContextCreate(SUPI, 1, "internet", (1, None),
                           nas.encode(nas.PduSessionEstablishmentRequest(pdu_session_id=1, pti=1)),
                           ("internet",), ((1, None),))


def _gnb_transfer(teid: int) -> bytes:
    return ngap.PduSessionResourceSetupResponseTransfer(ngap.GtpTunnel(GNB[0], teid), (1,)).to_bytes()


async def _smf_with_active_session(**kw):
    upf = Upf("10.10.0.3", "10.45.0.0/16", **kw)
    n4 = SpyN4(upf)
    events: list = []
    smf = Smf(SmfConfig(smf_n4_address=CP), n4, on_event=lambda t, sev, **f: events.append((t, sev, f)))
    notified: list[tuple[str, int]] = []
    smf.on_downlink_data = lambda supi, psi: notified.append((supi, psi))
    await smf.start(timeout=1)
    r = await smf.create(_est())
    assert (await smf.n2_setup_response(SUPI, 1, _gnb_transfer(0x10))).kind == "setup"
    return smf, upf, n4, r, events, notified


def test_smf_deactivation_reactivation_and_paging() -> None:
    async def flow():
        smf, upf, n4, r, events, notified = await _smf_with_active_session()
        n4.sent.clear()
        assert await smf.deactivate(SUPI, (1, 7)) == [1]  # 7: no such session
        (mod,) = n4.sent
        assert isinstance(mod, P.SessionModificationRequest)
        assert mod.update_fars == (P.UpdateFar(P.FAR_DL, P.ApplyAction.BUFF | P.ApplyAction.NOCP),)
        assert smf.sessions(SUPI)[0].state == "inactive" and smf.sessions(SUPI)[0].dl_teid is None
        assert await smf.deactivate(SUPI, (1,)) == []  # already inactive: nothing sent
        assert len(n4.sent) == 1
        # downlink data -> Session Report -> SMF -> one notification to the AMF
        pkt = dl(ue=r.ue_ipv4)
        assert upf.downlink(pkt) is None
        assert n4.pump() == 1 and notified == [(SUPI, 1)]
        assert upf.stats["pfcp_report_responses"] == 1  # the SMF answered "accepted"
        notif = [f for t, _, f in events if t == "smf.dl_data_notification"]
        assert notif[0]["paging"] is True
        # re-activation: the same UPF F-TEID and security indication for the new gNB
        a = await smf.activate(SUPI, 1)
        assert a.kind == "activate" and a.n1_sm is None
        t = ngap.PduSessionResourceSetupRequestTransfer.from_bytes(a.n2_transfer)
        assert t.ul_tunnel.teid == ngap.PduSessionResourceSetupRequestTransfer.from_bytes(r.n2_transfer).ul_tunnel.teid
        assert t.security_indication is not None
        assert (await smf.n2_setup_response(SUPI, 1, _gnb_transfer(0x20))).kind == "setup"
        info = smf.sessions(SUPI)[0]
        assert (info.state, info.dl_teid) == ("active", 0x20)
        ((g, peer),) = upf.take_n3()
        assert gtpu.decode(g).teid == 0x20 and gtpu.decode(g).payload == pkt and peer == GNB
        assert [f for t, _, f in events if t == "smf.session.active"][-1]["reactivated"] is True
    asyncio.run(flow())


def test_smf_notifies_once_per_episode_and_rearms_after_paging_failure() -> None:
    async def flow():
        smf, upf, n4, r, events, notified = await _smf_with_active_session()
        await smf.deactivate(SUPI, (1,))
        upf.downlink(dl(ue=r.ue_ipv4))
        n4.pump()
        # the UPF reports again (e.g. a retransmitted report): the SMF does not page twice
        assert smf.handle_n4_request(P.encode(P.SessionReportRequest(seq=5, seid=1, dl_data_pdr_ids=(2,)))) is not None
        assert notified == [(SUPI, 1)]
        await smf.paging_failed(SUPI, (1,))
        s = upf.session(smf.sessions(SUPI)[0].up_seid)
        assert not s.dl_buffer and not s.report_sent  # discarded and re-armed
        upf.downlink(dl(b"later", ue=r.ue_ipv4))
        n4.pump()
        assert notified == [(SUPI, 1), (SUPI, 1)]
    asyncio.run(flow())


def test_smf_session_report_for_unknown_session_and_malformed() -> None:
    async def flow():
        smf, upf, n4, r, events, notified = await _smf_with_active_session()
        resp = P.decode(smf.handle_n4_request(P.encode(P.SessionReportRequest(seq=3, seid=999, dl_data_pdr_ids=(2,)))))
        assert isinstance(resp, P.SessionReportResponse) and resp.cause == P.Cause.SESSION_CONTEXT_NOT_FOUND
        bare = P.encode(P.SessionReportRequest(seq=4, seid=1))  # DLDR without the Downlink Data Report
        resp = P.decode(smf.handle_n4_request(bare))
        assert (resp.cause, resp.offending_ie) == (P.Cause.CONDITIONAL_IE_MISSING, P.IeType.DOWNLINK_DATA_REPORT)
        assert smf.handle_n4_request(b"\x21\x38junk") is None
        assert smf.handle_n4_request(P.encode(P.HeartbeatRequest(recovery_ts=1))) is None
        # an active session's report (a race with the re-activation) does not page
        resp = P.decode(smf.handle_n4_request(P.encode(P.SessionReportRequest(seq=6, seid=1, dl_data_pdr_ids=(2,)))))
        assert resp.cause == P.Cause.REQUEST_ACCEPTED and notified == []
    asyncio.run(flow())


def test_smf_reactivation_failure_keeps_the_session() -> None:
    async def flow():
        smf, upf, n4, r, events, notified = await _smf_with_active_session()
        await smf.deactivate(SUPI, (1,))
        assert (await smf.activate(SUPI, 1)).kind == "activate"
        fail = ngap.PduSessionResourceSetupUnsuccessfulTransfer(ngap.Cause("radioNetwork", "unspecified")).to_bytes()
        rep = await smf.n2_setup_failed(SUPI, 1, fail)
        assert rep.kind == "error" and smf.sessions(SUPI)[0].state == "inactive" and upf.sessions()
        assert (await smf.activate(SUPI, 9)).kind == "error"  # no such session
        # control: a failed setup of a new (never active) session releases it
        r2 = await smf.create(SmContextCreate(SUPI, 2, "internet", (1, None), nas.encode(
            nas.PduSessionEstablishmentRequest(pdu_session_id=2, pti=2)), ("internet",), ((1, None),)))
        assert r2.kind == "setup"
        assert (await smf.n2_setup_failed(SUPI, 2, fail)).kind == "release"
    asyncio.run(flow())


# --- over UDP (loopback) -----------------------------------------------------------------------


def test_session_report_over_udp_between_upf_process_and_smf(tmp_path) -> None:
    async def flow():
        upf, events = make_upf()
        upf.n3_address = "127.0.0.1"
        proc = UpfProcess(upf, "127.0.0.1", "127.0.0.1", tun=None, n3_port=0, n4_port=0)
        await proc.start()
        client = UdpN4Client(proc.pfcp_address, ("127.0.0.1", 0), t1=0.2, heartbeat_interval=None)
        gnb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        gnb.bind(("127.0.0.1", 0))
        gnb.settimeout(2)
        try:
            smf = Smf(SmfConfig(upf_n4_address=proc.pfcp_address, smf_n4_address=("127.0.0.1", 0)), client)
            notified: asyncio.Queue = asyncio.Queue()
            smf.on_downlink_data = lambda supi, psi: notified.put_nowait((supi, psi))
            await smf.start(timeout=2)
            r = await smf.create(_est())
            tr = ngap.PduSessionResourceSetupResponseTransfer(ngap.GtpTunnel("127.0.0.1", 0x31), (1,)).to_bytes()
            assert (await smf.n2_setup_response(SUPI, 1, tr)).kind == "setup"
            await smf.deactivate(SUPI, (1,))
            pkt = dl(b"over-udp", ue=r.ue_ipv4)
            assert upf.downlink(pkt) is None
            proc.flush()  # what the TUN reader does after a buffered packet
            assert await asyncio.wait_for(notified.get(), 2) == (SUPI, 1)
            assert client.stats["session_requests_answered"] == 1
            for _ in range(20):
                if upf.stats["pfcp_report_responses"]:
                    break
                await asyncio.sleep(0.02)
            assert upf.stats["pfcp_report_responses"] == 1
            # re-activation towards our "gNB" socket: the UPF process sends the buffered packet on N3
            port = gnb.getsockname()[1]
            upf.n3_port = port
            assert (await smf.activate(SUPI, 1)).kind == "activate"
            tr2 = ngap.PduSessionResourceSetupResponseTransfer(ngap.GtpTunnel("127.0.0.1", 0x32), (1,)).to_bytes()
            assert (await smf.n2_setup_response(SUPI, 1, tr2)).kind == "setup"
            loop = asyncio.get_running_loop()
            g = gtpu.decode(await loop.run_in_executor(None, gnb.recv, 2000))
            assert (g.teid, g.payload) == (0x32, pkt)
        finally:
            gnb.close()
            await client.close()
            await proc.stop()
    asyncio.run(flow())


def test_smf_rearms_a_session_whose_reactivation_was_cut_short() -> None:
    """The UE answered paging but its connection went before the gNB's answer: the next AN release
    re-arms the report, so that the UE is paged again for the next packet."""
    async def flow():
        smf, upf, n4, r, events, notified = await _smf_with_active_session()
        await smf.deactivate(SUPI, (1,))
        upf.downlink(dl(ue=r.ue_ipv4))
        n4.pump()
        assert notified == [(SUPI, 1)]
        assert (await smf.activate(SUPI, 1)).kind == "activate"  # ... and no N2 setup response follows
        n4.sent.clear()
        assert await smf.deactivate(SUPI, (1,)) == [1]
        assert [m.update_fars for m in n4.sent] == [P.dl_buffer_update()]
        upf.downlink(dl(b"next", ue=r.ue_ipv4))
        n4.pump()
        assert notified == [(SUPI, 1), (SUPI, 1)]
        # control: deactivating an inactive session with nothing pending sends nothing
        n4.sent.clear()
        await smf.deactivate(SUPI, (1,))
        await smf.deactivate(SUPI, (1,))
        assert len(n4.sent) == 1  # the first call: the notification above was pending; the second: nothing
    asyncio.run(flow())
