"""Sans-I/O UPF: PFCP sessions (TS 29.244) and the GTP-U user plane (TS 29.281) of N3 <-> N6.

:class:`Upf` takes datagrams and returns datagrams; :mod:`testbed.core.upf.process` runs it
with sockets and a TUN device.

- N4 (:meth:`Upf.handle_pfcp`): Heartbeat, Association Setup/Release, Session Establishment,
  Modification, Deletion. The UPF allocates the uplink F-TEID when asked to CHOOSE (it announces
  FTUP, TS 29.244 5.5.3) and a random UP SEID; a retransmitted request gets the cached response
  (TS 29.244 6.4); a request without association is refused with cause 72, missing/incorrect IEs
  with cause 66/69 and the offending IE, unknown sessions with cause 65 and SEID 0 (7.2.2.4.2);
  malformed datagrams are dropped and counted. PFCP has no authentication of its own (N4 is to be
  protected by the network, TS 33.501 9.9): as a cheap guard the UPF binds each association to the
  peer address that set it up and each session to its CP peer address (requests from elsewhere are
  refused with cause 72 / answered as unknown sessions, cause 65), and ``allowed_cp`` can restrict
  which addresses may associate at all.
- N3 uplink (:meth:`Upf.uplink`, :meth:`Upf.handle_n3`): a G-PDU is accepted only on a known TEID
  and only if the inner IPv4 source address is the session's UE address (the uplink PDR carries the
  UE IP address as source address, TS 29.244 5.2.1 / 8.2.62: anti-spoofing); the T-PDU goes to N6.
  Echo Request is answered (TS 29.281 7.2.1); End Marker and Echo Response are ignored; a G-PDU on
  an unknown TEID is answered with an Error Indication (TS 29.281 7.3.1, rate limited).
- N6 downlink (:meth:`Upf.downlink`): an IPv4 packet to a UE address is encapsulated towards the
  gNB's F-TEID of the downlink FAR, with the QFI in a PDU Session Container (TS 38.415).
- Buffering (TS 29.244 5.2.3.1): while the downlink FAR says BUFF (no gNB tunnel yet, or the UE is
  in CM-IDLE after an AN release) downlink packets are buffered per session, at most
  ``dl_buffer_packets`` packets / ``dl_buffer_bytes`` octets, ``dl_buffer_total_bytes`` over all
  sessions (beyond: dropped and counted, ``dl_buffer_full``). With NOCP the first buffered packet of a buffering episode triggers one
  PFCP Session Report Request with a Downlink Data Report (7.5.8, report type DLDR) to the CP
  function; further packets are not reported until the FAR is updated (duplicate suppression).
  The request is retransmitted on T1 up to N1 times (:meth:`Upf.poll`) until the Session Report
  Response comes back. When the FAR turns to FORW with the gNB's F-TEID the buffer is sent, in
  order, before any newer packet (:meth:`Upf.take_n3`); a FAR update to DROP, or to BUFF while
  already buffering (the CP function re-arming after a paging failure, TS 23.502 4.2.3.3 step 4),
  discards it. Events ``upf.buffered`` (first packet of an episode), ``upf.buffer_dropped`` (first
  drop of an episode), ``upf.dl_data_report``, ``upf.buffer_flushed``, ``upf.buffer_discarded``.
- Outputs the UPF originates itself (not answers) wait in :meth:`Upf.take_pfcp` (Session Report
  Requests, to the CP function's association address) and :meth:`Upf.take_n3` (flushed G-PDUs).

Per-session and global counters (packets, octets, drops by reason) are in :meth:`Upf.counters`;
the deletion response reports the session's volumes in a Usage Report (TS 29.244 7.5.7.2).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from testbed.core.smf import pfcp as P
from testbed.errors import DecodeError
from testbed.protocols import gtpu

log = logging.getLogger("testbed.core.upf")

NTP_EPOCH_OFFSET = 2208988800  # Recovery Time Stamp counts seconds since 1900 (TS 29.244 8.2.65)
RESPONSE_CACHE_SECONDS = 30.0  # > T1 x N1 of any sane peer
RESPONSE_CACHE_SIZE = 4096
DL_BUFFER_PACKETS = 64  # per session
DL_BUFFER_BYTES = 256 * 1024  # per session
DL_BUFFER_TOTAL_BYTES = 64 * 1024 * 1024  # all sessions together (a DN flooding idle UEs cannot exhaust memory)
REPORT_T1 = 1.0  # Session Report Request retransmission timer (TS 29.244 7.6)
REPORT_N1 = 3  # transmissions of a Session Report Request

EventFn = Callable[..., Any]


@dataclass
class UpfSession:
    """One PFCP session: the rules as received plus the user-plane fast-path state."""

    up_seid: int
    cp_seid: int
    cp_address: str
    cp_node: str
    ue_ipv4: str
    ul_teid: int
    pdrs: dict[int, P.Pdr]
    fars: dict[int, P.Far]
    urrs: dict[int, P.Urr]
    qers: dict[int, P.Qer]
    dnn: str | None = None
    qfi: int | None = None
    dl_teid: int | None = None
    gnb_address: str | None = None
    dl_action: int = P.ApplyAction.BUFF
    ul_forward: bool = True
    created_at: float = field(default_factory=time.time)
    ul_packets: int = 0
    ul_bytes: int = 0
    dl_packets: int = 0
    dl_bytes: int = 0
    drops: Counter = field(default_factory=Counter)
    ur_seqn: int = 0
    last_spoof_event: float = -1e9
    ue_packed: bytes = b""
    dl_peer: tuple[str, int] | None = None
    cp_peer: str | None = None  # source IP of the CP function's requests (None: in-process, unchecked)
    dl_pdr_id: int = 0
    dl_buffer: deque = field(default_factory=deque)  # buffered downlink IPv4 packets (TS 29.244 5.2.3.1)
    dl_buffer_octets: int = 0
    report_sent: bool = False  # Downlink Data Report sent in this buffering episode (duplicate suppression)
    drop_reported: bool = False  # upf.buffer_dropped emitted in this buffering episode
    buffered: int = 0  # packets buffered, ever
    flushed: int = 0  # buffered packets sent once the FAR turned to FORW

    def info(self) -> dict[str, Any]:
        return {"seid": self.up_seid, "cp_seid": self.cp_seid, "cp": self.cp_node, "ue_ipv4": self.ue_ipv4,
                "ul_teid": self.ul_teid, "dl_teid": self.dl_teid, "gnb": self.gnb_address, "dnn": self.dnn,
                "qfi": self.qfi, "created_at": self.created_at}

    def counters(self) -> dict[str, Any]:
        return {"seid": self.up_seid, "ue_ipv4": self.ue_ipv4, "ul_packets": self.ul_packets,
                "ul_bytes": self.ul_bytes, "dl_packets": self.dl_packets, "dl_bytes": self.dl_bytes,
                "dl_buffered": self.buffered, "dl_flushed": self.flushed, "dl_buffer_now": len(self.dl_buffer),
                "drops": dict(self.drops)}


@dataclass
class _PendingReport:
    """A Session Report Request waiting for its response (retransmitted on T1, TS 29.244 7.6)."""

    up_seid: int
    data: bytes
    dest: Any
    sent_at: float
    transmissions: int = 1


@dataclass
class Association:
    node_id: str
    address: Any
    recovery_ts: int
    since: float


class _Reject(Exception):
    """Internal: answer a session request with ``cause`` (and the offending IE / failed rule)."""

    def __init__(self, cause: P.Cause, why: str, offending_ie: int | None = None,
                 failed_rule: P.FailedRule | None = None):
        super().__init__(why)
        self.cause = cause
        self.offending_ie = offending_ie
        self.failed_rule = failed_rule


class Upf:
    """The UPF state machine. ``n3_address``: the N3 GTP-U address put in allocated F-TEIDs;
    ``ue_pool``: the UE network routed to N6 (UE IP addresses of sessions must be inside).

    ``on_event(type, severity, **fields)`` receives the security-relevant events
    (session established/modified/released, spoofed uplink, malformed input).
    """

    def __init__(self, n3_address: str, ue_pool: str, *, node_id: str | None = None,
                 on_event: EventFn | None = None, clock: Callable[[], float] = time.monotonic,
                 max_sessions: int = 65536, strict_peer: bool = False, error_indication_rate: float = 100.0,
                 n3_port: int = gtpu.PORT, allowed_cp: Iterable[str] | None = None,
                 dl_buffer_packets: int = DL_BUFFER_PACKETS, dl_buffer_bytes: int = DL_BUFFER_BYTES,
                 dl_buffer_total_bytes: int = DL_BUFFER_TOTAL_BYTES,
                 report_t1: float = REPORT_T1, report_n1: int = REPORT_N1):
        try:
            self.n3_address = str(ipaddress.IPv4Address(n3_address))
        except ValueError:
            raise ValueError(f"n3_address: {n3_address!r} is not an IPv4 address") from None
        try:
            self.ue_pool = ipaddress.IPv4Network(ue_pool, strict=True)
        except ValueError as e:
            raise ValueError(f"ue_pool: {ue_pool!r} is not an IPv4 network: {e}") from None
        self.node_id = node_id or self.n3_address
        self.on_event = on_event
        self.clock = clock
        self.max_sessions = max_sessions
        self.strict_peer = strict_peer
        self.allowed_cp = None if allowed_cp is None else frozenset(str(ipaddress.ip_address(a)) for a in allowed_cp)
        self._last_malformed_event = -1e9
        self.n3_port = n3_port
        self.recovery_ts = (int(time.time()) + NTP_EPOCH_OFFSET) & 0xFFFFFFFF
        self.associations: dict[str, Association] = {}
        self._sessions: dict[int, UpfSession] = {}
        self._by_teid: dict[int, UpfSession] = {}
        self._by_ue: dict[bytes, UpfSession] = {}
        self._by_cp: dict[tuple[str, int], UpfSession] = {}
        self._responses: OrderedDict[tuple, tuple[float, bytes]] = OrderedDict()
        self._ei_rate = error_indication_rate
        self._ei_tokens = error_indication_rate
        self._ei_last = clock()
        self.stats: Counter = Counter()
        self.drops: Counter = Counter()
        if min(dl_buffer_packets, dl_buffer_bytes, dl_buffer_total_bytes) < 0 or report_t1 <= 0 or report_n1 < 1:
            raise ValueError("buffer limits must be >= 0, report T1 > 0 and N1 >= 1")
        self.dl_buffer_packets = dl_buffer_packets
        self.dl_buffer_bytes = dl_buffer_bytes
        self.dl_buffer_total_bytes = dl_buffer_total_bytes
        self.buffered_octets = 0  # over all sessions
        self.report_t1, self.report_n1 = report_t1, report_n1
        self._pfcp_out: list[tuple[bytes, Any]] = []  # requests the UPF originates (Session Report)
        self._n3_out: list[tuple[bytes, tuple[str, int]]] = []  # flushed buffered downlink G-PDUs
        self._reports: dict[int, _PendingReport] = {}  # sequence number -> unanswered Session Report
        self._report_seq = secrets.randbelow(0xFFFFFF)

    # ------------------------------------------------------------------ events / helpers

    def _event(self, type: str, severity: str = "info", **fields: Any) -> None:
        if self.on_event is not None:
            try:
                self.on_event(type, severity, **fields)
            except Exception:  # noqa: BLE001 - an event sink must never break the user plane
                log.exception("event sink failed for %s", type)

    def _drop(self, reason: str, session: UpfSession | None = None) -> None:
        self.drops[reason] += 1
        if session is not None:
            session.drops[reason] += 1

    def _new_id(self, bits: int, used: dict) -> int:
        while True:
            v = secrets.randbits(bits)
            if v and v not in used:
                return v

    # ------------------------------------------------------------------ introspection

    def sessions(self) -> list[dict[str, Any]]:
        return [s.info() for s in self._sessions.values()]

    def session(self, up_seid: int) -> UpfSession | None:
        return self._sessions.get(up_seid)

    def counters(self) -> dict[str, Any]:
        """Global counters (packets/octets per direction, drops by reason, PFCP stats) and per session."""
        tot: Counter = Counter()
        for s in self._sessions.values():
            tot["ul_packets"] += s.ul_packets
            tot["ul_bytes"] += s.ul_bytes
            tot["dl_packets"] += s.dl_packets
            tot["dl_bytes"] += s.dl_bytes
        g = {k: self.stats[k] + tot[k] for k in ("ul_packets", "ul_bytes", "dl_packets", "dl_bytes")}
        g.update({"sessions": len(self._sessions), "associations": len(self.associations),
                  "dl_buffered_packets": self.stats["dl_buffered"], "dl_buffer_octets_now": self.buffered_octets,
                  "drops": dict(self.drops), "pfcp": {k: v for k, v in self.stats.items() if k.startswith("pfcp")}})
        return {"global": g, "sessions": [s.counters() for s in self._sessions.values()]}

    # ------------------------------------------------------------------ N4 (PFCP)

    def handle_pfcp(self, datagram: bytes, src: Any = None) -> bytes | None:
        """Process one PFCP datagram from ``src``; return the response datagram or None (dropped)."""
        try:
            hdr = P.peek_header(datagram)
        except DecodeError as e:
            self.stats["pfcp_malformed"] += 1
            log.info("PFCP from %s dropped: %s", src, e)
            return None
        if hdr.version != P.VERSION:
            self.stats["pfcp_version_not_supported"] += 1
            return P.encode(P.VersionNotSupportedResponse(seq=hdr.seq))
        if not hdr.is_request:
            if hdr.msg_type == P.MsgType.SESSION_REPORT_RESPONSE:
                self._report_response(datagram, hdr, src)
                return None
            self.stats["pfcp_unexpected_response"] += 1
            return None
        now = self.clock()
        # A retransmitted request is the identical message (TS 29.244 6.4): same peer, sequence number
        # and octets. A restarted SMF reusing sequence numbers sends different requests (new recovery
        # time stamp, SEIDs, ...) and must not get the old responses.
        key = (src, hdr.seq, hdr.msg_type, bytes(datagram))
        cached = self._responses.get(key)
        if cached is not None and now - cached[0] < RESPONSE_CACHE_SECONDS:
            self.stats["pfcp_retransmission"] += 1
            return cached[1]
        try:
            msg = P.decode(datagram)
        except P.PfcpIeError as e:
            self.stats["pfcp_rejected"] += 1
            log.info("PFCP request from %s rejected: %s", src, e)
            resp = self._ie_error_response(hdr, e, src)
        except DecodeError as e:
            self.stats["pfcp_malformed"] += 1
            log.info("PFCP request from %s dropped: %s", src, e)
            if now - self._last_malformed_event >= 1.0:  # at most one event per second (log flooding)
                self._last_malformed_event = now
                self._event("pfcp.malformed", "notice", peer=str(src), error=str(e),
                            dropped_total=self.stats["pfcp_malformed"])
            return None
        else:
            self.stats["pfcp_requests"] += 1
            resp = self._dispatch(msg, src)
        if resp is None:
            return None
        out = P.encode(resp)
        self._remember(key, now, out)
        return out

    def _remember(self, key: tuple, now: float, out: bytes) -> None:
        r = self._responses
        r[key] = (now, out)
        while len(r) > RESPONSE_CACHE_SIZE:
            r.popitem(last=False)
        while r:
            k, (t, _) = next(iter(r.items()))
            if now - t < RESPONSE_CACHE_SECONDS:
                break
            del r[k]

    # -- requests the UPF originates: Session Report (TS 29.244 7.5.8, 5.2.3.1)

    def take_pfcp(self) -> list[tuple[bytes, Any]]:
        """The PFCP requests to send (datagram, CP function address), oldest first; clears the queue."""
        out, self._pfcp_out = self._pfcp_out, []
        return out

    def take_n3(self) -> list[tuple[bytes, tuple[str, int]]]:
        """Flushed buffered downlink G-PDUs (datagram, gNB address), in order; clears the queue."""
        out, self._n3_out = self._n3_out, []
        return out

    def poll(self) -> None:
        """Retransmit unanswered Session Report Requests after T1; give up after N1 transmissions
        (the session may report again on its next buffered packet). Call it about every T1."""
        now = self.clock()
        for seq, r in list(self._reports.items()):
            if now - r.sent_at < self.report_t1:
                continue
            s = self._sessions.get(r.up_seid)
            if s is None:
                del self._reports[seq]
                continue
            if r.transmissions >= self.report_n1:
                del self._reports[seq]
                s.report_sent = False
                self.stats["pfcp_reports_unanswered"] += 1
                self._event("upf.dl_data_report_failed", "warning", seid=s.up_seid, cp_seid=s.cp_seid,
                            ue_ipv4=s.ue_ipv4, transmissions=r.transmissions)
                continue
            r.transmissions += 1
            r.sent_at = now
            self.stats["pfcp_report_retransmissions"] += 1
            self._pfcp_out.append((r.data, r.dest))

    def _send_report(self, s: UpfSession) -> None:
        self._report_seq = (self._report_seq % 0xFFFFFF) + 1
        seq = self._report_seq
        data = P.encode(P.SessionReportRequest(seq=seq, seid=s.cp_seid, report_type=P.ReportType.DLDR,
                                               dl_data_pdr_ids=(s.dl_pdr_id,)))
        assoc = self.associations.get(s.cp_node)
        dest = assoc.address if assoc is not None else None
        self._reports[seq] = _PendingReport(s.up_seid, data, dest, self.clock())
        self._pfcp_out.append((data, dest))
        s.report_sent = True
        self.stats["pfcp_reports_sent"] += 1
        self._event("upf.dl_data_report", seid=s.up_seid, cp_seid=s.cp_seid, ue_ipv4=s.ue_ipv4,
                    pdr_id=s.dl_pdr_id, buffered=len(s.dl_buffer))

    def _report_response(self, datagram: bytes, hdr: P.Header, src: Any) -> None:
        r = self._reports.get(hdr.seq)
        if r is None or (r.dest is not None and src is not None and _ip_of(src) != _ip_of(r.dest)):
            self.stats["pfcp_unexpected_response"] += 1
            return
        try:
            msg = P.decode(datagram)
        except DecodeError as e:
            self.stats["pfcp_malformed"] += 1
            log.info("Session Report Response from %s dropped: %s", src, e)
            return
        del self._reports[hdr.seq]
        assert isinstance(msg, P.SessionReportResponse)
        self.stats["pfcp_report_responses"] += 1
        if msg.cause != P.Cause.REQUEST_ACCEPTED:
            s = self._sessions.get(r.up_seid)
            self._event("upf.dl_data_report_rejected", "notice", seid=r.up_seid, cause=int(msg.cause),
                        ue_ipv4=None if s is None else s.ue_ipv4)

    def _ie_error_response(self, hdr: P.Header, e: P.PfcpIeError, src: Any) -> P.PfcpMessage | None:
        t = hdr.msg_type
        cause, off = int(e.cause), e.ie_type
        if t == P.MsgType.ASSOCIATION_SETUP_REQUEST:
            return P.AssociationSetupResponse(seq=hdr.seq, node_id=self.node_id, cause=cause,
                                              recovery_ts=self.recovery_ts)
        if t == P.MsgType.SESSION_ESTABLISHMENT_REQUEST:
            return P.SessionEstablishmentResponse(seq=hdr.seq, seid=0, node_id=self.node_id, cause=cause,
                                                  offending_ie=off)
        s = self._session_for(hdr.seid or 0, src)
        cp_seid = s.cp_seid if s else 0
        if t == P.MsgType.SESSION_MODIFICATION_REQUEST:
            return P.SessionModificationResponse(seq=hdr.seq, seid=cp_seid, cause=cause, offending_ie=off)
        if t == P.MsgType.SESSION_DELETION_REQUEST:
            return P.SessionDeletionResponse(seq=hdr.seq, seid=cp_seid, cause=cause, offending_ie=off)
        return None  # heartbeat etc. without their mandatory IE: dropped

    def _dispatch(self, msg: P.PfcpMessage, src: Any) -> P.PfcpMessage | None:
        seq = msg.seq
        if isinstance(msg, P.HeartbeatRequest):
            return P.HeartbeatResponse(seq=seq, recovery_ts=self.recovery_ts)
        if isinstance(msg, P.AssociationSetupRequest):
            return self._association_setup(msg, src)
        if isinstance(msg, P.AssociationReleaseRequest):
            return self._association_release(msg)
        if isinstance(msg, P.SessionEstablishmentRequest):
            return self._establish(msg, src)
        if isinstance(msg, P.SessionModificationRequest):
            return self._modify(msg, src)
        if isinstance(msg, P.SessionDeletionRequest):
            return self._delete(msg, src)
        self.stats["pfcp_unsupported"] += 1
        log.info("PFCP message type %s from %s not supported", getattr(msg, "msg_type", msg.MSG_TYPE), src)
        return None

    def _association_setup(self, msg: P.AssociationSetupRequest, src: Any) -> P.PfcpMessage:
        if self.allowed_cp is not None and _ip_of(src) not in self.allowed_cp:
            self._event("pfcp.association.refused", "warning", node=msg.node_id, peer=str(src))
            return P.AssociationSetupResponse(seq=msg.seq, node_id=self.node_id, cause=P.Cause.REQUEST_REJECTED,
                                              recovery_ts=self.recovery_ts)
        old = self.associations.get(msg.node_id)
        if old is not None:
            # A new association from a known CP function replaces the old one and its sessions (TS 29.244 6.2.6.2.2)
            n = self._drop_sessions_of(msg.node_id, "association re-established")
            self._event("pfcp.association.replaced", "notice", node=msg.node_id, sessions_deleted=n,
                        restarted=old.recovery_ts != msg.recovery_ts)
        self.associations[msg.node_id] = Association(msg.node_id, src, msg.recovery_ts, time.time())
        self._event("pfcp.association.setup", node=msg.node_id, peer=str(src))
        return P.AssociationSetupResponse(seq=msg.seq, node_id=self.node_id, cause=P.Cause.REQUEST_ACCEPTED,
                                          recovery_ts=self.recovery_ts, up_features=bytes((P.UP_FEATURE_FTUP, 0)))

    def _association_release(self, msg: P.AssociationReleaseRequest) -> P.PfcpMessage:
        if msg.node_id not in self.associations:
            return P.AssociationReleaseResponse(seq=msg.seq, node_id=self.node_id,
                                                cause=P.Cause.NO_ESTABLISHED_PFCP_ASSOCIATION)
        n = self._drop_sessions_of(msg.node_id, "association released")
        del self.associations[msg.node_id]
        self._event("pfcp.association.released", node=msg.node_id, sessions_deleted=n)
        return P.AssociationReleaseResponse(seq=msg.seq, node_id=self.node_id, cause=P.Cause.REQUEST_ACCEPTED)

    def _drop_sessions_of(self, node_id: str, why: str) -> int:
        victims = [s for s in self._sessions.values() if s.cp_node == node_id]
        for s in victims:
            self._remove(s, why)
        return len(victims)

    # -- session establishment (TS 29.244 7.5.2, 5.2, 5.5.3)

    def _establish(self, msg: P.SessionEstablishmentRequest, src: Any) -> P.PfcpMessage:
        cp_seid = msg.cp_fseid.seid

        def reject(r: _Reject) -> P.PfcpMessage:
            self.stats["pfcp_session_rejected"] += 1
            self._event("upf.session.rejected", "notice", cause=int(r.cause), reason=str(r), cp=msg.node_id)
            return P.SessionEstablishmentResponse(seq=msg.seq, seid=cp_seid, node_id=self.node_id, cause=r.cause,
                                                  offending_ie=r.offending_ie, failed_rule=r.failed_rule)
        assoc = self.associations.get(msg.node_id)
        if assoc is None:
            return reject(_Reject(P.Cause.NO_ESTABLISHED_PFCP_ASSOCIATION, f"no association with {msg.node_id}"))
        if _ip_of(src) != _ip_of(assoc.address):
            # a node ID is no credential: only the peer that set up the association may use it
            return reject(_Reject(P.Cause.NO_ESTABLISHED_PFCP_ASSOCIATION,
                                  f"{src} is not the associated peer of {msg.node_id}"))
        try:
            s = self._build_session(msg)
        except _Reject as r:
            return reject(r)
        old = self._by_cp.get((msg.node_id, cp_seid))
        if old is not None:  # the CP reuses an F-SEID: it lost the old session (restart); replace it
            self._remove(old, "replaced by a new session with the same CP F-SEID")
        s.cp_peer = _ip_of(src)
        self._install(s)
        self._event("upf.session.established", seid=s.up_seid, cp_seid=cp_seid, ue_ipv4=s.ue_ipv4,
                    ul_teid=s.ul_teid, dnn=s.dnn, cp=msg.node_id)
        ul_pdr = next(p for p in s.pdrs.values() if p.source_interface == P.Interface.ACCESS and p.fteid)
        return P.SessionEstablishmentResponse(
            seq=msg.seq, seid=cp_seid, node_id=self.node_id, cause=P.Cause.REQUEST_ACCEPTED,
            up_fseid=P.Fseid(s.up_seid, self.node_id if _is_ipv4(self.node_id) else self.n3_address),
            created_pdrs=(P.CreatedPdr(ul_pdr.pdr_id, P.Fteid(s.ul_teid, self.n3_address)),))

    def _build_session(self, msg: P.SessionEstablishmentRequest) -> UpfSession:
        if len(self._sessions) >= self.max_sessions:
            raise _Reject(P.Cause.NO_RESOURCES_AVAILABLE, f"session limit {self.max_sessions} reached")
        if msg.pdn_type not in (None, P.PDN_TYPE_IPV4):
            raise _Reject(P.Cause.SERVICE_NOT_SUPPORTED, f"PDN type {msg.pdn_type} (only IPv4)", P.IeType.PDN_TYPE)
        pdrs = {p.pdr_id: p for p in msg.pdrs}
        fars = {f.far_id: f for f in msg.fars}
        if len(pdrs) != len(msg.pdrs) or len(fars) != len(msg.fars):
            raise _Reject(P.Cause.RULE_CREATION_MODIFICATION_FAILURE, "duplicate PDR or FAR ID")
        for p in msg.pdrs:
            if p.far_id is None or p.far_id not in fars:
                raise _Reject(P.Cause.RULE_CREATION_MODIFICATION_FAILURE, f"PDR {p.pdr_id} refers to no FAR",
                              P.IeType.FAR_ID, P.FailedRule(0, p.pdr_id))
        ul = [p for p in msg.pdrs if p.source_interface == P.Interface.ACCESS]
        dl = [p for p in msg.pdrs if p.source_interface in (P.Interface.CORE, P.Interface.SGI_LAN_N6_LAN)]
        if len(ul) != 1 or ul[0].fteid is None or len(dl) != 1 or dl[0].ue_ipv4 is None:
            raise _Reject(P.Cause.RULE_CREATION_MODIFICATION_FAILURE,
                          "need one uplink PDR with an F-TEID and one downlink PDR with the UE IP address",
                          P.IeType.CREATE_PDR, P.FailedRule(0, (ul or dl or msg.pdrs)[0].pdr_id))
        ulp, dlp = ul[0], dl[0]
        ue_ip = dlp.ue_ipv4
        assert ue_ip is not None and ulp.fteid is not None
        if ulp.ue_ipv4 not in (None, ue_ip):
            raise _Reject(P.Cause.RULE_CREATION_MODIFICATION_FAILURE, "uplink and downlink UE IP differ",
                          P.IeType.UE_IP_ADDRESS, P.FailedRule(0, ulp.pdr_id))
        packed = ipaddress.IPv4Address(ue_ip).packed
        if ipaddress.IPv4Address(ue_ip) not in self.ue_pool:
            raise _Reject(P.Cause.RULE_CREATION_MODIFICATION_FAILURE, f"UE IP {ue_ip} outside {self.ue_pool}",
                          P.IeType.UE_IP_ADDRESS, P.FailedRule(0, dlp.pdr_id))
        existing = self._by_ue.get(packed)
        if existing is not None and existing.cp_seid != msg.cp_fseid.seid:
            raise _Reject(P.Cause.RULE_CREATION_MODIFICATION_FAILURE, f"UE IP {ue_ip} already in use",
                          P.IeType.UE_IP_ADDRESS, P.FailedRule(0, dlp.pdr_id))
        ft = ulp.fteid
        if ft.choose:
            teid = self._new_id(32, self._by_teid)
        else:
            assert ft.teid is not None
            if ft.ipv4 != self.n3_address:
                raise _Reject(P.Cause.INVALID_F_TEID_ALLOCATION_OPTION, f"F-TEID address {ft.ipv4} is not ours",
                              P.IeType.F_TEID, P.FailedRule(0, ulp.pdr_id))
            if ft.teid == 0 or ft.teid in self._by_teid:
                raise _Reject(P.Cause.RULE_CREATION_MODIFICATION_FAILURE, f"TEID {ft.teid:#x} unavailable",
                              P.IeType.F_TEID, P.FailedRule(0, ulp.pdr_id))
            teid = ft.teid
        ulfar, dlfar = fars[ulp.far_id], fars[dlp.far_id]  # type: ignore[index]
        qers = {q.qer_id: q for q in msg.qers}
        qfi = next((qers[i].qfi for i in dlp.qer_ids if i in qers and qers[i].qfi is not None), ulp.qfi)
        s = UpfSession(up_seid=self._new_id(64, self._sessions), cp_seid=msg.cp_fseid.seid,
                       cp_address=msg.cp_fseid.ipv4, cp_node=msg.node_id, ue_ipv4=ue_ip, ul_teid=teid,
                       pdrs=pdrs, fars=fars, urrs={u.urr_id: u for u in msg.urrs}, qers=qers, dnn=msg.dnn, qfi=qfi,
                       ue_packed=packed, dl_pdr_id=dlp.pdr_id)
        s.ul_forward = bool(ulfar.action & P.ApplyAction.FORW)
        self._apply_dl_far(s, dlfar.action, dlfar.outer_header_creation)
        return s

    def _apply_dl_far(self, s: UpfSession, action: int, ohc: P.OuterHeaderCreation | None) -> None:
        was = s.dl_action
        s.dl_action = action
        if ohc is not None:
            s.dl_teid, s.gnb_address = ohc.teid, ohc.ipv4
        s.dl_peer = (s.gnb_address, self.n3_port) if action & P.ApplyAction.FORW and s.gnb_address else None
        # every update of the downlink FAR ends the buffering episode (TS 29.244 5.2.3.1: report again)
        s.report_sent = s.drop_reported = False
        if s.dl_peer is not None and s.dl_teid is not None:
            self._flush(s)
        elif s.dl_buffer and (action & P.ApplyAction.DROP or (was & P.ApplyAction.BUFF and action & P.ApplyAction.BUFF)):
            self._discard(s, "dropped by the FAR" if action & P.ApplyAction.DROP else "buffering re-armed")

    def _flush(self, s: UpfSession) -> None:
        """Send what was buffered, in order, towards the gNB (the FAR forwards now)."""
        if not s.dl_buffer:
            return
        assert s.dl_peer is not None and s.dl_teid is not None
        n = len(s.dl_buffer)
        while s.dl_buffer:
            pkt = s.dl_buffer.popleft()
            s.dl_packets += 1
            s.dl_bytes += len(pkt)
            self._n3_out.append((gtpu.encode_gpdu(s.dl_teid, pkt, qfi=s.qfi), s.dl_peer))
        self.buffered_octets -= s.dl_buffer_octets
        s.dl_buffer_octets = 0
        s.flushed += n
        self._event("upf.buffer_flushed", seid=s.up_seid, ue_ipv4=s.ue_ipv4, packets=n, gnb=s.gnb_address,
                    dl_teid=s.dl_teid)

    def _discard(self, s: UpfSession, why: str) -> None:
        n = len(s.dl_buffer)
        for _ in range(n):
            self._drop("dl_buffer_discarded", s)
        s.dl_buffer.clear()
        self.buffered_octets -= s.dl_buffer_octets
        s.dl_buffer_octets = 0
        if n:
            self._event("upf.buffer_discarded", "notice", seid=s.up_seid, ue_ipv4=s.ue_ipv4, packets=n, reason=why)

    def _buffer(self, s: UpfSession, pkt: bytes) -> None:
        """Buffer a downlink packet of ``s`` (FAR BUFF), report the first one when NOCP is set."""
        n = len(pkt)
        if (len(s.dl_buffer) >= self.dl_buffer_packets or s.dl_buffer_octets + n > self.dl_buffer_bytes
                or self.buffered_octets + n > self.dl_buffer_total_bytes):
            self._drop("dl_buffer_full", s)
            if not s.drop_reported:
                s.drop_reported = True
                self._event("upf.buffer_dropped", "warning", seid=s.up_seid, ue_ipv4=s.ue_ipv4,
                            buffered=len(s.dl_buffer), octets=s.dl_buffer_octets,
                            dropped_total=s.drops["dl_buffer_full"])
        else:
            first = not s.dl_buffer
            s.dl_buffer.append(pkt)
            s.dl_buffer_octets += n
            self.buffered_octets += n
            s.buffered += 1
            self.stats["dl_buffered"] += 1
            if first:
                self._event("upf.buffered", seid=s.up_seid, ue_ipv4=s.ue_ipv4, notify=bool(s.dl_action & P.ApplyAction.NOCP))
        if s.dl_action & P.ApplyAction.NOCP and not s.report_sent:
            self._send_report(s)

    def _install(self, s: UpfSession) -> None:
        self._sessions[s.up_seid] = s
        self._by_teid[s.ul_teid] = s
        self._by_ue[s.ue_packed] = s
        self._by_cp[(s.cp_node, s.cp_seid)] = s

    def _remove(self, s: UpfSession, why: str) -> None:
        self._discard(s, "session deleted")
        self._sessions.pop(s.up_seid, None)
        if self._by_teid.get(s.ul_teid) is s:
            del self._by_teid[s.ul_teid]
        if self._by_ue.get(s.ue_packed) is s:
            del self._by_ue[s.ue_packed]
        if self._by_cp.get((s.cp_node, s.cp_seid)) is s:
            del self._by_cp[(s.cp_node, s.cp_seid)]
        # keep the global totals monotonic
        for k in ("ul_packets", "ul_bytes", "dl_packets", "dl_bytes"):
            self.stats[k] += getattr(s, k)
        self._event("upf.session.released", seid=s.up_seid, cp_seid=s.cp_seid, ue_ipv4=s.ue_ipv4,
                    ul_teid=s.ul_teid, dl_teid=s.dl_teid, reason=why, **{k: v for k, v in s.counters().items()
                                                                          if k not in ("seid", "ue_ipv4")})

    # -- modification / deletion (TS 29.244 7.5.4, 7.5.6)

    def _session_for(self, seid: int, src: Any) -> UpfSession | None:
        s = self._sessions.get(seid)
        if s is not None and s.cp_peer != _ip_of(src):
            self._event("pfcp.foreign_peer", "warning", seid=seid, peer=str(src), expected=s.cp_peer)
            return None  # answered as an unknown session: no oracle for guessed SEIDs
        return s

    def _modify(self, msg: P.SessionModificationRequest, src: Any = None) -> P.PfcpMessage:
        s = self._session_for(msg.seid, src)
        if s is None:
            return P.SessionModificationResponse(seq=msg.seq, seid=0, cause=P.Cause.SESSION_CONTEXT_NOT_FOUND)
        for u in msg.update_fars:
            if u.far_id not in s.fars:
                return P.SessionModificationResponse(seq=msg.seq, seid=s.cp_seid,
                                                     cause=P.Cause.RULE_CREATION_MODIFICATION_FAILURE,
                                                     offending_ie=P.IeType.FAR_ID, failed_rule=P.FailedRule(1, u.far_id))
        for u in msg.update_fars:
            old = s.fars[u.far_id]
            new = P.Far(u.far_id, old.action if u.action is None else u.action,
                        old.destination_interface if u.destination_interface is None else u.destination_interface,
                        old.outer_header_creation if u.outer_header_creation is None else u.outer_header_creation,
                        old.network_instance)
            s.fars[u.far_id] = new
            for p in s.pdrs.values():
                if p.far_id != u.far_id:
                    continue
                if p.source_interface == P.Interface.ACCESS:
                    s.ul_forward = bool(new.action & P.ApplyAction.FORW)
                else:
                    self._apply_dl_far(s, new.action, new.outer_header_creation)
        if msg.cp_fseid is not None and msg.cp_fseid.seid != s.cp_seid:
            self._by_cp.pop((s.cp_node, s.cp_seid), None)
            s.cp_seid, s.cp_address = msg.cp_fseid.seid, msg.cp_fseid.ipv4
            self._by_cp[(s.cp_node, s.cp_seid)] = s
        self._event("upf.session.modified", seid=s.up_seid, ue_ipv4=s.ue_ipv4, dl_teid=s.dl_teid, gnb=s.gnb_address)
        return P.SessionModificationResponse(seq=msg.seq, seid=s.cp_seid, cause=P.Cause.REQUEST_ACCEPTED)

    def _delete(self, msg: P.SessionDeletionRequest, src: Any = None) -> P.PfcpMessage:
        s = self._session_for(msg.seid, src)
        if s is None:
            return P.SessionDeletionResponse(seq=msg.seq, seid=0, cause=P.Cause.SESSION_CONTEXT_NOT_FOUND)
        self._remove(s, "deleted by the CP function")
        reports = tuple(P.UsageReport(u, s.ur_seqn, P.USAGE_TRIGGER_TERMR, s.ul_bytes, s.dl_bytes,
                                      s.ul_packets, s.dl_packets) for u in s.urrs)
        return P.SessionDeletionResponse(seq=msg.seq, seid=s.cp_seid, cause=P.Cause.REQUEST_ACCEPTED,
                                         usage_reports=reports)

    # ------------------------------------------------------------------ N3 (GTP-U)

    def uplink(self, gtpu_datagram: bytes, src: tuple[str, int] | None = None) -> bytes | None:
        """The inner IPv4 packet of a valid uplink G-PDU (for the N6 TUN), else None (counted)."""
        return self.handle_n3(gtpu_datagram, src)[0]

    def handle_n3(self, datagram: bytes, src: tuple[str, int] | None = None) -> tuple[bytes | None, bytes | None]:
        """One N3 datagram -> (IP packet for N6 or None, reply datagram for ``src`` or None)."""
        try:
            msg = gtpu.decode(datagram)
        except DecodeError:
            self._drop("gtpu_malformed")
            return None, None
        if type(msg) is not gtpu.GPdu:
            return None, self._gtpu_signalling(msg, src)
        s = self._by_teid.get(msg.teid)
        if s is None:
            self._drop("unknown_teid")
            return None, self._error_indication(msg.teid, src)
        pkt = msg.payload
        n = len(pkt)
        if n < 20 or pkt[0] >> 4 != 4 or (pkt[0] & 0x0F) < 5 or int.from_bytes(pkt[2:4], "big") != n:
            self._drop("not_ipv4", s)
            return None, None
        if pkt[12:16] != s.ue_packed:
            self._spoofed(s, pkt, src)
            return None, None
        if msg.pdu_session is not None and s.qfi is not None and msg.pdu_session.qfi != s.qfi:
            self._drop("qfi_mismatch", s)
            return None, None
        if self.strict_peer and src is not None and s.gnb_address is not None and src[0] != s.gnb_address:
            self._drop("wrong_peer", s)
            return None, None
        if not s.ul_forward:
            self._drop("ul_far_drop", s)
            return None, None
        s.ul_packets += 1
        s.ul_bytes += n
        return pkt, None

    def _spoofed(self, s: UpfSession, pkt: bytes, src: Any) -> None:
        self._drop("spoofed_source", s)
        now = self.clock()
        if now - s.last_spoof_event >= 1.0:  # at most one event per session and second
            s.last_spoof_event = now
            self._event("upf.antispoofing.drop", "warning", seid=s.up_seid, ue_ipv4=s.ue_ipv4,
                        claimed_source=str(ipaddress.IPv4Address(pkt[12:16])), teid=s.ul_teid,
                        peer=None if src is None else str(src[0]), dropped_total=s.drops["spoofed_source"])

    def _gtpu_signalling(self, msg: gtpu.GtpuMessage, src: Any) -> bytes | None:
        if isinstance(msg, gtpu.EchoRequest):
            self.stats["gtpu_echo_requests"] += 1
            return gtpu.EchoResponse(msg.seq).encode()
        if isinstance(msg, gtpu.EndMarker):
            self.stats["gtpu_end_markers"] += 1
            return None
        if isinstance(msg, gtpu.ErrorIndication):
            self.stats["gtpu_error_indications"] += 1
            self._event("gtpu.error_indication", "notice", teid=msg.teid, peer=msg.peer_address,
                        src=None if src is None else str(src[0]))
            return None
        self.stats["gtpu_ignored"] += 1
        return None

    def _error_indication(self, teid: int, src: Any) -> bytes | None:
        if src is None or self._ei_rate <= 0:
            return None
        now = self.clock()
        self._ei_tokens = min(self._ei_rate, self._ei_tokens + (now - self._ei_last) * self._ei_rate)
        self._ei_last = now
        if self._ei_tokens < 1:
            return None
        self._ei_tokens -= 1
        self.stats["gtpu_error_indications_sent"] += 1
        return gtpu.ErrorIndication(teid, self.n3_address).encode()

    def downlink(self, ip_packet: bytes) -> tuple[bytes, tuple[str, int]] | None:
        """A downlink IPv4 packet from N6 -> (G-PDU, gNB address) or None (no session / no tunnel yet)."""
        if len(ip_packet) < 20 or ip_packet[0] >> 4 != 4:
            self._drop("dl_not_ipv4")
            return None
        s = self._by_ue.get(ip_packet[16:20])
        if s is None:
            self._drop("dl_unknown_ue")
            return None
        peer = s.dl_peer
        if peer is None or s.dl_teid is None:
            if s.dl_action & P.ApplyAction.BUFF:
                self._buffer(s, bytes(ip_packet))
            else:
                self._drop("dl_far_drop", s)
            return None
        s.dl_packets += 1
        s.dl_bytes += len(ip_packet)
        return gtpu.encode_gpdu(s.dl_teid, ip_packet, qfi=s.qfi), peer


def _ip_of(addr: Any) -> str | None:
    """The IP address of a socket address tuple (None for in-process callers)."""
    if isinstance(addr, tuple) and addr:
        return str(addr[0])
    return None if addr is None else str(addr)


def _is_ipv4(v: str) -> bool:
    try:
        ipaddress.IPv4Address(v)
    except ValueError:
        return False
    return True
