"""UPF: PFCP session handling, GTP-U user plane, UDP N4 client, the UPF process (and, as root, its TUN)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from testbed.core.smf import N4Timeout, SmContextCreate, Smf, SmfConfig, UdpN4Client
from testbed.core.smf import pfcp as P
from testbed.core.upf import Upf
from testbed.core.upf.process import UpfProcess
from testbed.protocols import gtpu, nas, ngap
from testbed.protocols.pcap import ipv4_udp

REPO = Path(__file__).resolve().parents[3]
CP = ("10.10.0.1", 8805)
UE = "10.45.0.7"
GNB = ("10.20.0.9", 2152)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make_upf(**kw) -> tuple[Upf, list]:
    events: list = []
    upf = Upf("10.10.0.3", "10.45.0.0/16", on_event=lambda t, sev, **f: events.append((t, sev, f)), **kw)
    return upf, events


def req(upf: Upf, msg: P.PfcpMessage, src=CP) -> P.PfcpMessage:
    out = upf.handle_pfcp(P.encode(msg), src)
    assert out is not None
    return P.decode(out)


def associate(upf: Upf, node: str = "10.10.0.1", seq: int = 1) -> None:
    resp = req(upf, P.AssociationSetupRequest(seq=seq, node_id=node, recovery_ts=1))
    assert isinstance(resp, P.AssociationSetupResponse) and resp.cause == P.Cause.REQUEST_ACCEPTED
    assert resp.up_features and resp.up_features[0] & P.UP_FEATURE_FTUP


def establish_msg(ue: str = UE, cp_seid: int = 11, seq: int = 2, fteid: P.Fteid | None = None,
                  node: str = "10.10.0.1") -> P.SessionEstablishmentRequest:
    pdrs, fars, urrs, qers = P.pdu_session_rules(ue, fteid or P.Fteid(choose=True), qfi=1)
    return P.SessionEstablishmentRequest(seq=seq, node_id=node, cp_fseid=P.Fseid(cp_seid, node), pdrs=pdrs,
                                         fars=fars, urrs=urrs, qers=qers, dnn="internet")


def establish(upf: Upf, **kw) -> P.SessionEstablishmentResponse:
    resp = req(upf, establish_msg(**kw))
    assert isinstance(resp, P.SessionEstablishmentResponse)
    return resp


def active_session(upf: Upf, ue: str = UE, cp_seid: int = 11) -> tuple[int, int]:
    """(UP SEID, UL TEID) of an established session whose downlink goes to GNB with TEID 0x99."""
    r = establish(upf, ue=ue, cp_seid=cp_seid)
    assert r.cause == P.Cause.REQUEST_ACCEPTED and r.up_fseid is not None
    seid = r.up_fseid.seid
    m = req(upf, P.SessionModificationRequest(seq=50 + cp_seid, seid=seid,
                                              update_fars=P.dl_tunnel_update(P.OuterHeaderCreation(0x99, GNB[0])))
            )
    assert isinstance(m, P.SessionModificationResponse) and m.cause == P.Cause.REQUEST_ACCEPTED and m.seid == cp_seid
    return seid, r.created_pdrs[0].fteid.teid


def ul_packet(src: str = UE, dst: str = "10.20.0.2", payload: bytes = b"ping") -> bytes:
    return ipv4_udp(src, dst, 4000, 53, payload)


# --- PFCP -------------------------------------------------------------------------------


def test_heartbeat_and_association():
    upf, events = make_upf()
    hb = req(upf, P.HeartbeatRequest(seq=3, recovery_ts=1))
    assert isinstance(hb, P.HeartbeatResponse) and hb.seq == 3 and hb.recovery_ts == upf.recovery_ts
    associate(upf)
    assert "10.10.0.1" in upf.associations
    rel = req(upf, P.AssociationReleaseRequest(seq=9, node_id="10.10.0.1"))
    assert rel.cause == P.Cause.REQUEST_ACCEPTED and not upf.associations
    rel = req(upf, P.AssociationReleaseRequest(seq=10, node_id="10.10.0.1"))
    assert rel.cause == P.Cause.NO_ESTABLISHED_PFCP_ASSOCIATION


def test_establishment_allocates_teid_and_seid():
    upf, events = make_upf()
    associate(upf)
    r = establish(upf)
    assert (r.cause, r.seid, r.node_id) == (P.Cause.REQUEST_ACCEPTED, 11, "10.10.0.3")
    (created,) = r.created_pdrs
    assert created.pdr_id == P.PDR_UL and created.fteid.ipv4 == "10.10.0.3" and created.fteid.teid
    assert r.up_fseid.ipv4 == "10.10.0.3" and r.up_fseid.seid
    (s,) = upf.sessions()
    assert (s["ue_ipv4"], s["ul_teid"], s["dl_teid"], s["qfi"]) == (UE, created.fteid.teid, None, 1)
    ev = [f for t, _, f in events if t == "upf.session.established"][0]
    assert (ev["ue_ipv4"], ev["ul_teid"], ev["seid"]) == (UE, created.fteid.teid, r.up_fseid.seid)
    # two sessions get different TEIDs and SEIDs
    r2 = establish(upf, ue="10.45.0.8", cp_seid=12, seq=3)
    assert r2.created_pdrs[0].fteid.teid != created.fteid.teid and r2.up_fseid.seid != r.up_fseid.seid


def test_establishment_with_given_fteid():
    upf, _ = make_upf()
    associate(upf)
    r = establish(upf, fteid=P.Fteid(0x1234, "10.10.0.3"))
    assert r.cause == P.Cause.REQUEST_ACCEPTED and r.created_pdrs[0].fteid.teid == 0x1234
    r = establish(upf, ue="10.45.0.8", cp_seid=12, seq=3, fteid=P.Fteid(0x1234, "10.10.0.3"))
    assert r.cause == P.Cause.RULE_CREATION_MODIFICATION_FAILURE and r.offending_ie == P.IeType.F_TEID
    r = establish(upf, ue="10.45.0.8", cp_seid=12, seq=4, fteid=P.Fteid(0x99, "10.99.0.1"))
    assert r.cause == P.Cause.INVALID_F_TEID_ALLOCATION_OPTION


@pytest.mark.parametrize("case,cause", [
    ("no-association", P.Cause.NO_ESTABLISHED_PFCP_ASSOCIATION),
    ("ue-outside-pool", P.Cause.RULE_CREATION_MODIFICATION_FAILURE),
    ("ue-in-use", P.Cause.RULE_CREATION_MODIFICATION_FAILURE),
    ("dangling-far", P.Cause.RULE_CREATION_MODIFICATION_FAILURE),
    ("ipv6-pdn", P.Cause.SERVICE_NOT_SUPPORTED),
    ("limit", P.Cause.NO_RESOURCES_AVAILABLE),
])
def test_establishment_rejects(case, cause):
    upf, events = make_upf(max_sessions=1 if case == "limit" else 100)
    if case != "no-association":
        associate(upf)
    msg = establish_msg()
    if case == "ue-outside-pool":
        msg = establish_msg(ue="192.168.1.1")
    elif case in ("ue-in-use", "limit"):
        assert establish(upf, ue=UE if case == "ue-in-use" else "10.45.0.9", cp_seid=99, seq=40).cause == P.Cause.REQUEST_ACCEPTED
    elif case == "dangling-far":
        msg = P.SessionEstablishmentRequest(**{**msg.__dict__, "fars": msg.fars[:1]})
    elif case == "ipv6-pdn":
        msg = P.SessionEstablishmentRequest(**{**msg.__dict__, "pdn_type": 2})
    r = req(upf, msg)
    assert isinstance(r, P.SessionEstablishmentResponse) and r.cause == cause and r.seid == 11
    assert r.up_fseid is None and not r.created_pdrs
    assert len(upf.sessions()) == (0 if case in ("no-association", "ue-outside-pool", "dangling-far", "ipv6-pdn") else 1)
    assert any(t == "upf.session.rejected" for t, _, _ in events)


def test_missing_mandatory_ie_is_answered_with_cause_66():
    upf, _ = make_upf()
    associate(upf)
    wire = P.encode(establish_msg())
    # drop the F-SEID IE (type 57, 13 octets of value) and fix the message length
    i = wire.index(bytes.fromhex("0039000d"), 16)
    bad = bytearray(wire[:i] + wire[i + 17:])
    bad[2:4] = (len(bad) - 4).to_bytes(2, "big")
    out = upf.handle_pfcp(bytes(bad), CP)
    r = P.decode(out)
    assert isinstance(r, P.SessionEstablishmentResponse)
    assert (r.cause, r.offending_ie, r.seid) == (P.Cause.MANDATORY_IE_MISSING, P.IeType.F_SEID, 0)
    assert upf.sessions() == []


def test_unknown_session_is_cause_65_with_seid_0():
    upf, _ = make_upf()
    associate(upf)
    m = req(upf, P.SessionModificationRequest(seq=5, seid=12345))
    assert (m.cause, m.seid) == (P.Cause.SESSION_CONTEXT_NOT_FOUND, 0)
    d = req(upf, P.SessionDeletionRequest(seq=6, seid=12345))
    assert (d.cause, d.seid) == (P.Cause.SESSION_CONTEXT_NOT_FOUND, 0)
    seid, _ = active_session(upf)
    bad = req(upf, P.SessionModificationRequest(seq=7, seid=seid, update_fars=(P.UpdateFar(77, P.ApplyAction.DROP),)))
    assert bad.cause == P.Cause.RULE_CREATION_MODIFICATION_FAILURE and bad.failed_rule == P.FailedRule(1, 77)


def test_retransmitted_request_gets_the_cached_response():
    clock = Clock()
    upf, _ = make_upf(clock=clock)
    associate(upf)
    wire = P.encode(establish_msg(seq=77))
    first = upf.handle_pfcp(wire, CP)
    again = upf.handle_pfcp(wire, CP)
    assert first == again and len(upf.sessions()) == 1
    assert upf.counters()["global"]["pfcp"]["pfcp_retransmission"] == 1
    # the same sequence number from another port of the CP is a different request
    other = P.decode(upf.handle_pfcp(wire, ("10.10.0.1", 9999)))
    assert other.cause == P.Cause.REQUEST_ACCEPTED  # same node ID and CP F-SEID: replaces the session
    assert len(upf.sessions()) == 1 and upf.sessions()[0]["ul_teid"] != P.decode(first).created_pdrs[0].fteid.teid
    # after the cache lifetime the request is processed again
    clock.t += 1000
    upf.handle_pfcp(P.encode(P.HeartbeatRequest(seq=1, recovery_ts=1)), CP)  # expires old entries
    assert P.decode(upf.handle_pfcp(wire, CP)).cause == P.Cause.REQUEST_ACCEPTED


def test_requests_from_a_foreign_peer_are_refused():
    upf, events = make_upf()
    associate(upf)
    seid, teid = active_session(upf)
    intruder = ("10.10.0.66", 8805)
    est = P.decode(upf.handle_pfcp(P.encode(establish_msg(ue="10.45.0.50", cp_seid=50, seq=60)), intruder))
    assert est.cause == P.Cause.NO_ESTABLISHED_PFCP_ASSOCIATION  # claims the SMF's node ID: not enough
    for msg in (P.SessionModificationRequest(seq=61, seid=seid, update_fars=P.dl_tunnel_update(
                    P.OuterHeaderCreation(1, "10.66.0.1"))), P.SessionDeletionRequest(seq=62, seid=seid)):
        r = P.decode(upf.handle_pfcp(P.encode(msg), intruder))
        assert (r.cause, r.seid) == (P.Cause.SESSION_CONTEXT_NOT_FOUND, 0)
    (s,) = upf.sessions()
    assert s["gnb"] == GNB[0] and s["seid"] == seid  # untouched
    assert sum(t == "pfcp.foreign_peer" for t, _, _ in events) == 2
    # control: the real SMF can still modify it
    assert req(upf, P.SessionDeletionRequest(seq=63, seid=seid)).cause == P.Cause.REQUEST_ACCEPTED


def test_allowed_cp_restricts_associations():
    upf, events = make_upf(allowed_cp=["10.10.0.1"])
    r = req(upf, P.AssociationSetupRequest(seq=1, node_id="10.10.0.9", recovery_ts=1), src=("10.10.0.9", 8805))
    assert r.cause == P.Cause.REQUEST_REJECTED and not upf.associations
    associate(upf)  # from 10.10.0.1
    assert list(upf.associations) == ["10.10.0.1"]


def test_deletion_reports_usage_and_frees_everything():
    upf, events = make_upf()
    associate(upf)
    seid, teid = active_session(upf)
    pkt = ul_packet()
    assert upf.uplink(gtpu.encode_gpdu(teid, pkt)) == pkt
    dl = ipv4_udp("10.20.0.2", UE, 53, 4000, b"answer!")
    assert upf.downlink(dl) is not None
    d = req(upf, P.SessionDeletionRequest(seq=9, seid=seid))
    assert (d.cause, d.seid) == (P.Cause.REQUEST_ACCEPTED, 11)
    (u,) = d.usage_reports
    assert (u.ul_packets, u.ul_bytes, u.dl_packets, u.dl_bytes, u.trigger) == (1, len(pkt), 1, len(dl), P.USAGE_TRIGGER_TERMR)
    assert upf.sessions() == []
    assert upf.uplink(gtpu.encode_gpdu(teid, pkt)) is None and upf.downlink(dl) is None
    g = upf.counters()["global"]
    assert (g["ul_packets"], g["dl_packets"]) == (1, 1)  # totals survive the session
    released = [f for t, _, f in events if t == "upf.session.released"][0]
    assert released["ul_packets"] == 1 and released["ue_ipv4"] == UE
    # the UE address and TEID can be used again
    assert establish(upf, cp_seid=12, seq=10).cause == P.Cause.REQUEST_ACCEPTED


def test_new_association_from_same_node_drops_its_sessions():
    upf, events = make_upf()
    associate(upf)
    active_session(upf)
    associate(upf, seq=30)
    assert upf.sessions() == []
    assert any(t == "pfcp.association.replaced" for t, _, _ in events)


def test_malformed_pfcp_is_dropped_without_exception():
    upf, _ = make_upf()
    associate(upf)
    rng = random.Random(7)
    seeds = [P.encode(establish_msg()), P.encode(P.HeartbeatRequest(seq=1, recovery_ts=2)),
             P.encode(P.SessionModificationRequest(seq=3, seid=1, update_fars=P.dl_tunnel_update(
                 P.OuterHeaderCreation(1, "10.0.0.1"))))]
    for junk in (b"", b"\x20", b"\x20\x01\x00", b"\x20" * 30, b"\x21\x32\x00\x0c" + bytes(11)):
        assert upf.handle_pfcp(junk, CP) is None
    # version 0: Version Not Supported Response (TS 29.244 7.4.4.7), whatever follows
    assert isinstance(P.decode(upf.handle_pfcp(bytes(100), CP)), P.VersionNotSupportedResponse)
    for _ in range(150):
        buf = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        out = upf.handle_pfcp(bytes(buf), ("10.10.0.1", rng.randrange(65536)))
        if out is not None:
            P.decode(out)  # whatever we answer is well-formed
    assert upf.counters()["global"]["pfcp"]["pfcp_malformed"] >= 5


def test_version_not_supported_and_responses_ignored():
    upf, _ = make_upf()
    wire = bytearray(P.encode(P.HeartbeatRequest(seq=4, recovery_ts=1)))
    wire[0] = (3 << 5) | (wire[0] & 0x1F)
    out = P.decode(upf.handle_pfcp(bytes(wire), CP))
    assert isinstance(out, P.VersionNotSupportedResponse) and out.seq == 4
    assert upf.handle_pfcp(P.encode(P.HeartbeatResponse(seq=1, recovery_ts=1)), CP) is None


# --- GTP-U ---------------------------------------------------------------------------------


def test_uplink_and_downlink():
    upf, _ = make_upf()
    associate(upf)
    _, teid = active_session(upf)
    pkt = ul_packet()
    assert upf.uplink(gtpu.encode_gpdu(teid, pkt, qfi=1, pdu_type=gtpu.PDU_TYPE_UL)) == pkt
    assert upf.uplink(gtpu.encode_gpdu(teid, pkt)) == pkt  # without PDU session container
    dl = ipv4_udp("10.20.0.2", UE, 53, 4000, b"pong")
    out, peer = upf.downlink(dl)
    assert peer == GNB
    g = gtpu.decode(out)
    assert isinstance(g, gtpu.GPdu) and (g.teid, g.payload, g.qfi) == (0x99, dl, 1)
    assert g.pdu_session.pdu_type == gtpu.PDU_TYPE_DL
    (s,) = upf.counters()["sessions"]
    assert (s["ul_packets"], s["ul_bytes"], s["dl_packets"], s["dl_bytes"]) == (2, 2 * len(pkt), 1, len(dl))


def test_spoofed_source_is_dropped_counted_and_reported():
    clock = Clock()
    upf, events = make_upf(clock=clock)
    associate(upf)
    _, teid = active_session(upf)
    spoof = ul_packet(src="10.45.0.99")
    for _ in range(3):
        assert upf.uplink(gtpu.encode_gpdu(teid, spoof)) is None
    assert upf.uplink(gtpu.encode_gpdu(teid, ul_packet())) is not None  # control
    (s,) = upf.counters()["sessions"]
    assert s["drops"] == {"spoofed_source": 3} and s["ul_packets"] == 1
    ev = [(sev, f) for t, sev, f in events if t == "upf.antispoofing.drop"]
    assert len(ev) == 1  # rate limited to one per second and session
    assert ev[0][0] == "warning" and ev[0][1]["claimed_source"] == "10.45.0.99" and ev[0][1]["ue_ipv4"] == UE
    clock.t += 2
    upf.uplink(gtpu.encode_gpdu(teid, spoof))
    assert len([1 for t, _, _ in events if t == "upf.antispoofing.drop"]) == 2


def test_unknown_teid_dropped_with_error_indication():
    upf, _ = make_upf(error_indication_rate=2)
    associate(upf)
    _, teid = active_session(upf)
    g = gtpu.encode_gpdu(teid ^ 0xFFFF, ul_packet())
    assert upf.uplink(g) is None
    pkt, reply = upf.handle_n3(g, ("10.20.0.9", 2152))
    assert pkt is None
    ei = gtpu.decode(reply)
    assert isinstance(ei, gtpu.ErrorIndication) and ei.teid == teid ^ 0xFFFF and ei.peer_address == "10.10.0.3"
    replies = [upf.handle_n3(g, ("10.20.0.9", 2152))[1] for _ in range(10)]
    assert sum(r is not None for r in replies) <= 2  # rate limited
    assert upf.counters()["global"]["drops"]["unknown_teid"] == 12


def test_malformed_gtpu_and_non_ipv4_are_dropped():
    upf, _ = make_upf()
    associate(upf)
    _, teid = active_session(upf)
    rng = random.Random(3)
    good = gtpu.encode_gpdu(teid, ul_packet(), qfi=1, pdu_type=1)
    for junk in (b"", b"\x30", b"\x30\xff\x00\x10", good[:-1], b"\x50" + good[1:]):
        assert upf.handle_n3(junk, GNB) == (None, None)
    for _ in range(500):
        buf = bytearray(good)
        buf[rng.randrange(len(buf))] = rng.randrange(256)
        upf.handle_n3(bytes(buf), GNB)  # never raises
        upf.downlink(bytes(buf[16:]))
    bad_inner = [b"\x60" + ul_packet()[1:], ul_packet()[:10], ul_packet() + b"xx"]  # IPv6, short, bad length
    for inner in bad_inner:
        assert upf.uplink(gtpu.encode_gpdu(teid, inner)) is None
    assert upf.counters()["sessions"][0]["drops"]["not_ipv4"] >= 3
    wrong_qfi = gtpu.encode_gpdu(teid, ul_packet(), qfi=5, pdu_type=1)
    assert upf.uplink(wrong_qfi) is None


def test_echo_end_marker_and_error_indication():
    upf, events = make_upf()
    pkt, reply = upf.handle_n3(gtpu.EchoRequest(seq=42).encode(), GNB)
    assert pkt is None and gtpu.decode(reply) == gtpu.EchoResponse(42)
    assert upf.handle_n3(gtpu.EndMarker(5).encode(), GNB) == (None, None)
    assert upf.handle_n3(gtpu.EchoResponse(1).encode(), GNB) == (None, None)
    assert upf.handle_n3(gtpu.ErrorIndication(7, "10.20.0.9").encode(), GNB) == (None, None)
    assert any(t == "gtpu.error_indication" for t, _, _ in events)
    st = upf.counters()["global"]["pfcp"]
    assert st == {}  # GTP-U signalling is not PFCP


def test_downlink_unknown_ue_and_strict_peer():
    upf, _ = make_upf(strict_peer=True)
    associate(upf)
    _, teid = active_session(upf)
    assert upf.downlink(ipv4_udp("10.20.0.2", "10.45.9.9", 1, 2, b"x")) is None
    assert upf.downlink(b"\x45\x00") is None
    g = gtpu.encode_gpdu(teid, ul_packet())
    assert upf.handle_n3(g, ("10.66.0.1", 2152))[0] is None
    assert upf.handle_n3(g, GNB)[0] is not None
    assert upf.counters()["global"]["drops"] == {"dl_unknown_ue": 1, "dl_not_ipv4": 1, "wrong_peer": 1}


# --- UDP N4 client ------------------------------------------------------------------------


class _UpfServer(asyncio.DatagramProtocol):
    """A Upf on 127.0.0.1 that can drop the first ``drop`` requests."""

    def __init__(self, upf: Upf, drop: int = 0):
        self.upf, self.drop, self.seen = upf, drop, 0

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.seen += 1
        if self.drop > 0:
            self.drop -= 1
            return
        out = self.upf.handle_pfcp(data, addr)
        if out is not None:
            self.transport.sendto(out, addr)


async def _serve(upf: Upf, drop: int = 0):
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: _UpfServer(upf, drop), local_addr=("127.0.0.1", 0))
    return transport, proto, transport.get_extra_info("sockname")


def test_udp_client_association_session_and_retransmission():
    async def flow():
        upf, _ = make_upf()
        transport, proto, addr = await _serve(upf, drop=1)
        client = UdpN4Client(addr, ("127.0.0.1", 0), t1=0.1, n1=3, heartbeat_interval=None)
        try:
            smf = Smf(SmfConfig(upf_n4_address=addr, smf_n4_address=("127.0.0.1", 0)), client)
            await smf.start(timeout=2)
            assert client.stats["retransmissions"] == 1 and proto.seen == 2 and smf.associated
            r = await smf.create(SmContextCreate("imsi-001010000000001", 1, "internet", None,
                                                 nas.encode(nas.PduSessionEstablishmentRequest(pdu_session_id=1, pti=1)),
                                                 ("internet",), ((1, None),)))
            assert r.kind == "setup" and len(upf.sessions()) == 1
            assert upf.associations["127.0.0.1"].address[0] == "127.0.0.1"
            ts = await client.heartbeat()
            assert ts == upf.recovery_ts
        finally:
            await client.close()
            transport.close()
    asyncio.run(flow())


def test_udp_client_timeout_and_foreign_datagrams():
    async def flow():
        upf, _ = make_upf()
        transport, proto, addr = await _serve(upf, drop=10)
        client = UdpN4Client(addr, ("127.0.0.1", 0), t1=0.05, n1=3, heartbeat_interval=None)
        try:
            with pytest.raises(N4Timeout):
                await client.request(P.encode(P.HeartbeatRequest(recovery_ts=1)))
            assert proto.seen == 3 and client.stats["timeouts"] == 1
            # a datagram from another host/port is not accepted as the response
            fake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            fake.bind(("127.0.0.2", 0))
            proto.drop = 100
            task = asyncio.create_task(client.request(P.encode(P.HeartbeatRequest(recovery_ts=1))))
            await asyncio.sleep(0.01)
            fake.sendto(P.encode(P.HeartbeatResponse(seq=client._seq, recovery_ts=1)), client.local_address)
            with pytest.raises(N4Timeout):
                await task
            assert client.stats["foreign"] == 1
            fake.close()
            with pytest.raises(ValueError):
                await client.request(P.encode(P.HeartbeatResponse(recovery_ts=1)))
        finally:
            await client.close()
            transport.close()
    asyncio.run(flow())


def test_udp_client_heartbeats_detect_restart_and_answer_upf_heartbeats():
    async def flow():
        upf, _ = make_upf()
        transport, proto, addr = await _serve(upf)
        client = UdpN4Client(addr, ("127.0.0.1", 0), t1=0.1, n1=2, heartbeat_interval=0.05)
        restarted = asyncio.Event()
        client.on_peer_restart = restarted.set
        try:
            await client.open()
            await asyncio.sleep(0.15)
            assert client.peer_alive and client.peer_recovery_ts == upf.recovery_ts
            upf.recovery_ts += 1  # the UPF "restarted"
            await asyncio.wait_for(restarted.wait(), 1)
            # the UPF (or anybody at its address) sending a Heartbeat Request gets an answer
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.settimeout(1)
            await asyncio.get_running_loop().run_in_executor(
                None, s.sendto, P.encode(P.HeartbeatRequest(seq=77, recovery_ts=3)), client.local_address)
            data = await asyncio.get_running_loop().run_in_executor(None, s.recv, 100)
            hb = P.decode(data)
            assert isinstance(hb, P.HeartbeatResponse) and hb.seq == 77 and hb.recovery_ts == client.recovery_ts
            s.close()
        finally:
            await client.close()
            transport.close()
    asyncio.run(flow())


# --- the process (no TUN) ------------------------------------------------------------------


def test_upf_process_sockets_and_control(tmp_path):
    async def flow():
        upf, events = make_upf()
        upf.n3_address = "127.0.0.1"
        ctl = str(tmp_path / "upf.sock")
        proc = UpfProcess(upf, "127.0.0.1", "127.0.0.1", tun=None, control=ctl, n3_port=0, n4_port=0)
        await proc.start()
        client = UdpN4Client(proc.pfcp_address, ("127.0.0.1", 0), t1=0.2, heartbeat_interval=None)
        try:
            smf = Smf(SmfConfig(upf_n4_address=proc.pfcp_address, smf_n4_address=("127.0.0.1", 0)), client)
            await smf.start(timeout=2)
            r = await smf.create(SmContextCreate("imsi-001010000000001", 1, None, None,
                                                 nas.encode(nas.PduSessionEstablishmentRequest(pdu_session_id=1, pti=1)),
                                                 ("internet",), ((1, None),)))
            t = ngap.PduSessionResourceSetupRequestTransfer.from_bytes(r.n2_transfer)
            assert t.ul_tunnel.address == "127.0.0.1"
            gnb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            gnb.bind(("127.0.0.1", 0))
            gnb.settimeout(1)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, gnb.sendto, gtpu.EchoRequest(9).encode(), proc.gtpu_address)
            assert gtpu.decode(await loop.run_in_executor(None, gnb.recv, 100)) == gtpu.EchoResponse(9)
            g = gtpu.encode_gpdu(t.ul_tunnel.teid, ul_packet(src=r.ue_ipv4))
            await loop.run_in_executor(None, gnb.sendto, g, proc.gtpu_address)
            gnb.close()
            await asyncio.sleep(0.05)

            async def ask(op):
                reader, writer = await asyncio.open_unix_connection(ctl)
                writer.write(json.dumps({"op": op}).encode() + b"\n" + b"garbage\n")
                await writer.drain()
                a, b = await reader.readline(), await reader.readline()
                writer.close()
                assert json.loads(b)["ok"] is False
                return json.loads(a)
            sessions = await ask("sessions")
            assert sessions["ok"] and sessions["sessions"][0]["ue_ipv4"] == r.ue_ipv4
            counters = (await ask("counters"))["counters"]
            assert counters["global"]["ul_packets"] == 1 and counters["global"]["n6_write_dropped"] == 1
        finally:
            await client.close()
            await proc.stop()
        assert not os.path.exists(ctl)
    asyncio.run(flow())


def test_upf_cli_rejects_bad_arguments():
    from testbed.core.upf.process import main

    assert main(["--n3", "nope"]) == 2
    assert main(["--n3", "10.0.0.1", "--ue-pool", "10.45.0.1/16"]) == 2
    assert main(["--n3", "10.0.0.1", "--tun", "a/b"]) == 2
    assert main(["--n3", "10.0.0.1", "--mtu", "10"]) == 2
    assert main(["--n3", "10.0.0.1", "--allow-cp", "smf"]) == 2


# --- as root: the real process with its TUN in a fresh network namespace ----------------------------

_NS_SCRIPT = textwrap.dedent("""
    import asyncio, json, socket, subprocess, sys, time
    from testbed.core.smf import SmContextCreate, Smf, SmfConfig, UdpN4Client
    from testbed.protocols import gtpu, nas, ngap, pcap

    EVENTS, CTL = sys.argv[1], sys.argv[2]

    def icmp_echo(src, dst):
        body = bytes([8, 0, 0, 0, 0x12, 0x34, 0, 1]) + b"nrfemto"
        csum = pcap._inet_checksum(body)
        return pcap.ipv4(src, dst, 1, body[:2] + csum.to_bytes(2, "big") + body[4:])

    async def main():
        upf = subprocess.Popen([sys.executable, "-m", "testbed.core.upf", "--n3", "127.0.0.1", "--tun", "nrft-n6",
                                "--events", EVENTS, "--control", CTL], stderr=subprocess.PIPE, text=True)
        try:
            client = UdpN4Client(("127.0.0.1", 8805), ("127.0.0.1", 0), t1=0.2, heartbeat_interval=None)
            smf = Smf(SmfConfig(upf_n4_address=("127.0.0.1", 8805), smf_n4_address=("127.0.0.1", 0)), client)
            await smf.start(timeout=10)
            r = await smf.create(SmContextCreate("imsi-001010000000001", 1, "internet", None,
                nas.encode(nas.PduSessionEstablishmentRequest(pdu_session_id=1, pti=1)), ("internet",), ((1, None),)))
            ul = ngap.PduSessionResourceSetupRequestTransfer.from_bytes(r.n2_transfer).ul_tunnel
            gnb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            gnb.bind(("127.0.0.2", 2152))
            gnb.settimeout(3)
            resp = ngap.PduSessionResourceSetupResponseTransfer(ngap.GtpTunnel("127.0.0.2", 0xABC), (1,)).to_bytes()
            assert (await smf.n2_setup_response("imsi-001010000000001", 1, resp)).kind == "setup"
            # the UE pings the UPF's TUN address: the kernel answers through the TUN -> GTP-U downlink
            gnb.sendto(gtpu.encode_gpdu(ul.teid, icmp_echo(r.ue_ipv4, "10.45.0.1"), qfi=1, pdu_type=1),
                       ("127.0.0.1", 2152))
            dl = gtpu.decode(gnb.recv(2000))
            links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
            fwd = open("/proc/sys/net/ipv4/ip_forward").read().strip()
            await client.close()
        finally:
            upf.terminate()
            err = upf.communicate(timeout=10)[1]
        links_after = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        print(json.dumps({"teid": dl.teid, "qfi": dl.qfi, "src": ".".join(map(str, dl.payload[12:16])),
                          "dst": ".".join(map(str, dl.payload[16:20])), "icmp_type": dl.payload[20],
                          "ue": r.ue_ipv4, "tun_up": "nrft-n6" in links, "tun_gone": "nrft-n6" not in links_after,
                          "forwarding": fwd, "ready_logged": "upf ready" in err, "rc": upf.returncode}))

    asyncio.run(main())
""")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and iproute2 (netns + TUN)")
def test_upf_process_with_tun_in_a_namespace(tmp_path):
    ns = f"nrft-t-{uuid.uuid4().hex[:8]}"
    script = tmp_path / "ns_test.py"
    script.write_text(_NS_SCRIPT)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, str(script), str(tmp_path / "upf.jsonl"),
                              str(tmp_path / "upf.sock")], capture_output=True, text=True, timeout=60,
                             cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert out.returncode == 0, out.stderr[-3000:]
        res = json.loads(out.stdout.strip().splitlines()[-1])
        assert res["teid"] == 0xABC and res["qfi"] == 1
        assert (res["src"], res["dst"], res["icmp_type"]) == ("10.45.0.1", res["ue"], 0)  # echo reply to the UE
        assert res["tun_up"] and res["tun_gone"] and res["forwarding"] == "1"
        assert res["ready_logged"] and res["rc"] == 0
        events = [json.loads(x) for x in (tmp_path / "upf.jsonl").read_text().splitlines()]
        types = [e["type"] for e in events]
        assert "service.ready" in types and "upf.session.established" in types and "service.stopped" in types
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    assert ns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_restarted_smf_reusing_sequence_numbers_is_not_a_retransmission() -> None:
    """Found by the femto integration test (AMF/SMF restart): a new Association Setup with the same
    sequence number but a new recovery time stamp must be processed, not answered from the cache;
    only an identical request is a retransmission (TS 29.244 6.4)."""
    from testbed.core.smf import pfcp as P
    from testbed.core.upf.sessions import Upf

    upf = Upf("10.10.0.3", "10.45.0.0/16")
    smf = ("10.10.0.2", 8805)
    first = P.encode(P.AssociationSetupRequest(seq=1, node_id="10.10.0.2", recovery_ts=1000))
    upf.handle_pfcp(first, smf)
    upf.handle_pfcp(first, smf)  # control: the identical request is a retransmission
    assert upf.stats["pfcp_retransmission"] == 1
    restarted = P.encode(P.AssociationSetupRequest(seq=1, node_id="10.10.0.2", recovery_ts=2000))
    upf.handle_pfcp(restarted, smf)
    assert upf.stats["pfcp_retransmission"] == 1
    assert upf.associations["10.10.0.2"].recovery_ts == 2000
