"""The SMF: PDU session establishment, N2 setup, release (TS 23.502 4.3.2, 4.3.4; TS 24.501 6.4).

:class:`Smf` is driven by the AMF through the Nsmf_PDUSession-like calls of the contract
(:meth:`create`, :meth:`n2_setup_response`, :meth:`n2_setup_failed`, :meth:`release`,
:meth:`release_all`) and talks PFCP to the UPF through an :class:`~.n4.N4Peer`.

Decisions (documented where the specification leaves a choice):

- Duplicate PDU session ID: TS 24.501 6.4.1.2 - the network performs a local release of the
  existing PDU session (PFCP deletion, address back to the pool) and proceeds with the new one.
- PDU session type: absent -> IPv4 (the default); IPv4v6 -> IPv4 with 5GSM cause #50 in the accept
  (TS 24.501 6.4.1.3); IPv6, Ethernet, Unstructured -> reject #28 (only IPv4 is supported).
- SSC mode 2/3 -> reject #68 (only SSC mode 1).
- DNN: absent -> the first subscribed DNN the SMF serves; unknown to the SMF or not subscribed -> #27.
  S-NSSAI: absent -> the first subscribed S-NSSAI the SMF serves; not subscribed -> #33 "requested
  service option not subscribed"; not served by this SMF -> #32 "service option not supported".
- Pool exhausted -> #26; the UPF refuses or does not answer -> #26 (no resources) / #38 (network failure).
- PTI 0 or 255 -> 5GSM STATUS #81 (TS 24.501 7.3.1); PDU session ID outside 1..15 -> reject #43 (7.3.2).
- Malformed ``n1_sm``, wrong message type or a PDU session ID that differs from the AMF's -> kind "error".
- N2 setup failure (TS 23.502 4.3.2.2.1 step 15 with a failure transfer): the SMF releases the session
  (PFCP deletion, address released) and returns a PDU SESSION RELEASE COMMAND (#26) without N2 transfer
  (the gNB holds no resources), kind "release".
- UP security (TS 33.501 6.6.1): the Security Result of the gNB's response transfer (TS 38.413
  9.3.4.2) is recorded in the session (:class:`SessionInfo` ``up_integrity_result`` /
  ``up_confidentiality_result``) and reported as event ``smf.up_security``; the session stays up
  whatever the result (a gNB that cannot honour "required" fails the setup instead, 8.2.1.2).
- Release: the UPF session and the address are freed when the RELEASE COMMAND is produced; the record
  stays in state "releasing" until the UE's RELEASE COMPLETE (-> kind "released").
- UP deactivation (:meth:`Smf.deactivate`, AN release TS 23.502 4.2.6 steps 5-6): PFCP Session
  Modification of the downlink FAR to Apply Action BUFF|NOCP (TS 29.244 5.2.3.1, 8.2.26); the session
  goes to "inactive". The UPF then buffers downlink packets and sends one PFCP Session Report Request
  with a Downlink Data Report (7.5.8); :meth:`Smf.handle_n4_request` answers it and, once per
  buffering episode, calls ``on_downlink_data(supi, psi)`` (Namf_Communication_N1N2MessageTransfer,
  TS 23.502 4.2.3.3 step 3a: the AMF pages the UE).
- UP re-activation (:meth:`Smf.activate`, service request TS 23.502 4.2.3.2 steps 4-5): kind
  "activate" with the PDU Session Resource Setup Request Transfer (same UPF F-TEID, QoS flow,
  security indication); the gNB's response transfer goes through :meth:`n2_setup_response` as for a
  new session (FAR back to FORW with the new gNB F-TEID: the UPF sends what it buffered). A gNB that
  cannot re-establish the resources of an "inactive" session leaves it inactive (no release).
- Paging failure (:meth:`Smf.paging_failed`, 4.2.3.3 step 4): the downlink FAR is set to BUFF|NOCP
  again, which the UPF reads as "discard what you buffered and report the next packet".
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from testbed.errors import DecodeError
from testbed.protocols import nas
from testbed.protocols.nas import FiveGsmCause, PduSessionType, SscMode
from testbed.protocols.ngap import (
    Cause,
    GtpTunnel,
    PduSessionResourceSetupRequestTransfer,
    PduSessionResourceSetupResponseTransfer,
    PduSessionResourceSetupUnsuccessfulTransfer,
    QosFlowRequest,
    UeAmbr,
)
from testbed.protocols.ngap.release_transfer import PduSessionResourceReleaseCommandTransfer

from . import pfcp as P
from .n4 import N4Error, N4Peer
from .pool import Ipv4Pool, PoolExhausted
from .session import (
    SessionInfo,
    SmContextCreate,
    SmfConfig,
    SmReply,
    SmSession,
    build_epco,
    default_qos_rule,
    parse_epco_requests,
    qos_flow_description,
    session_ambr_ie,
    up_security,
)

log = logging.getLogger("testbed.core.smf")

NTP_EPOCH_OFFSET = 2208988800

EventFn = Callable[..., Any]


class _Rejected(Exception):
    def __init__(self, cause: FiveGsmCause, why: str):
        super().__init__(why)
        self.cause = cause


class Smf:
    """Session management function. ``on_event(type, severity, **fields)`` receives events."""

    def __init__(self, config: SmfConfig, n4: N4Peer, *, on_event: EventFn | None = None):
        self.config = config
        self.n4 = n4
        self.on_event = on_event
        self.node_id = config.smf_n4_address[0]
        self.pool = Ipv4Pool(config.ue_pool, config.ue_pool_exclude)
        self.recovery_ts = (int(time.time()) + NTP_EPOCH_OFFSET) & 0xFFFFFFFF
        self.associated = False
        self.upf_node_id: str | None = None
        self.upf_recovery_ts: int | None = None
        self.upf_features: bytes | None = None
        self._sessions: dict[tuple[str, int], SmSession] = {}
        self._by_cp: dict[int, SmSession] = {}  # CP SEID -> session with a live PFCP session
        self._seids = itertools.count(1)
        self._locks: dict[str, asyncio.Lock] = {}
        self._assoc_lock: asyncio.Lock | None = None
        self.stats: dict[str, int] = {"created": 0, "rejected": 0, "released": 0, "errors": 0}
        # Namf_Communication_N1N2MessageTransfer (TS 23.502 4.2.3.3 step 3a): called with (supi, psi)
        # when the UPF reports buffered downlink data of an inactive session; the runner pages the UE
        self.on_downlink_data: Callable[[str, int], Any] | None = None

    # ------------------------------------------------------------------ helpers

    def _event(self, type: str, severity: str = "info", **fields: Any) -> None:
        if self.on_event is not None:
            try:
                self.on_event(type, severity, **fields)
            except Exception:  # noqa: BLE001
                log.exception("event sink failed for %s", type)

    def _lock(self, supi: str) -> asyncio.Lock:
        lk = self._locks.get(supi)
        if lk is None:
            lk = self._locks[supi] = asyncio.Lock()
        return lk

    async def _n4(self, msg: P.PfcpMessage) -> P.PfcpMessage:
        raw = await self.n4.request(P.encode(msg))
        try:
            resp = P.decode(raw)
        except DecodeError as e:
            raise N4Error(f"malformed PFCP response: {e}") from None
        expected = P.RESPONSE_TO[int(msg.MSG_TYPE)]
        if int(resp.MSG_TYPE) != expected:
            raise N4Error(f"expected PFCP message type {expected}, got {type(resp).__name__}")
        return resp

    # ------------------------------------------------------------------ N4 association

    async def start(self, timeout: float | None = None) -> None:
        """PFCP Association Setup with the UPF (TS 29.244 6.2.6), retried until it answers or ``timeout``
        (default ``config.association_timeout``) expires (N4Error then)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.association_timeout if timeout is None else timeout)
        last: Exception | None = None
        while True:
            try:
                await self._associate()
                break
            except N4Error as e:
                last = e
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise type(last)(f"no PFCP association with the UPF: {last}") from None
                await asyncio.sleep(min(1.0, remaining))
        if hasattr(self.n4, "on_peer_restart"):
            self.n4.on_peer_restart = self._upf_restarted  # type: ignore[attr-defined]
        if hasattr(self.n4, "on_peer_lost"):
            self.n4.on_peer_lost = lambda: self._event("smf.upf.lost", "warning", upf=self.upf_node_id)  # type: ignore[attr-defined]
        if hasattr(self.n4, "on_request"):
            self.n4.on_request = self.handle_n4_request  # type: ignore[attr-defined]

    async def _associate(self) -> None:
        if self._assoc_lock is None:
            self._assoc_lock = asyncio.Lock()
        async with self._assoc_lock:
            resp = await self._n4(P.AssociationSetupRequest(node_id=self.node_id, recovery_ts=self.recovery_ts))
            assert isinstance(resp, P.AssociationSetupResponse)
            if resp.cause != P.Cause.REQUEST_ACCEPTED:
                raise N4Error(f"UPF refused the PFCP association (cause {resp.cause})")
            self.associated = True
            self.upf_node_id = resp.node_id
            self.upf_recovery_ts = resp.recovery_ts
            self.upf_features = resp.up_features
        self._event("smf.upf.associated", upf=resp.node_id)
        log.info("PFCP association with UPF %s", resp.node_id)

    async def _upf_restarted(self) -> None:
        """The UPF lost its state (new Recovery Time Stamp): re-associate; our sessions are stale."""
        self.associated = False
        stale = [s.info().as_dict() for s in self._sessions.values() if s.state != "releasing"]
        self._event("smf.upf.restarted", "warning", upf=self.upf_node_id, stale_sessions=len(stale))
        try:
            await self._associate()
        except N4Error as e:
            log.warning("re-association with the UPF failed: %s", e)

    # ------------------------------------------------------------------ PDU session establishment

    async def create(self, req: SmContextCreate) -> SmReply:
        """Nsmf_PDUSession_CreateSMContext (TS 23.502 4.3.2.2.1 steps 3-11)."""
        psi = req.pdu_session_id
        try:
            msg = nas.decode(req.n1_sm)
        except DecodeError as e:
            return self._error(psi, f"malformed 5GSM message: {e}")
        if not isinstance(msg, nas.PduSessionEstablishmentRequest):
            return self._error(psi, f"expected PDU SESSION ESTABLISHMENT REQUEST, got {type(msg).__name__}")
        if msg.pdu_session_id != psi:
            return self._error(psi, f"PDU session ID {msg.pdu_session_id} in N1 differs from {psi}")
        pti = msg.pti
        if pti in (0, 255):  # TS 24.501 7.3.1 a)
            self.stats["rejected"] += 1
            st = nas.FiveGsmStatus(pdu_session_id=psi, pti=pti, cause=FiveGsmCause.INVALID_PTI_VALUE)
            return SmReply(psi, nas.encode(st), None, "reject", cause="#81 invalid PTI value")
        if not 1 <= psi <= 15:  # TS 24.501 7.3.2 a)
            return self._reject(req, pti, FiveGsmCause.INVALID_PDU_SESSION_IDENTITY, f"PDU session ID {psi}")
        async with self._lock(req.supi):
            old = self._sessions.get((req.supi, psi))
            if old is not None:  # TS 24.501 6.4.1.2: local release of the existing session
                await self._teardown(old, "replaced by a new PDU SESSION ESTABLISHMENT REQUEST")
                self._event("smf.session.replaced", "notice", supi=req.supi, pdu_session_id=psi)
            try:
                return await self._establish(req, msg)
            except _Rejected as r:
                return self._reject(req, pti, r.cause, str(r))

    async def _establish(self, req: SmContextCreate, msg: nas.PduSessionEstablishmentRequest) -> SmReply:
        cfg = self.config
        psi, pti = req.pdu_session_id, msg.pti
        # PDU session type (TS 24.501 6.4.1.2 / 6.4.1.3)
        ptype = PduSessionType.IPV4 if msg.pdu_session_type is None else msg.pdu_session_type
        accept_cause = None
        if ptype == PduSessionType.IPV4V6:
            accept_cause = FiveGsmCause.PDU_SESSION_TYPE_IPV4_ONLY_ALLOWED
        elif ptype != PduSessionType.IPV4:
            raise _Rejected(FiveGsmCause.UNKNOWN_PDU_SESSION_TYPE, f"PDU session type {ptype} not supported")
        if msg.ssc_mode not in (None, SscMode.SSC_MODE_1):
            raise _Rejected(FiveGsmCause.NOT_SUPPORTED_SSC_MODE, f"SSC mode {msg.ssc_mode} not supported")
        dnn = self._select_dnn(req)
        snssai = self._select_snssai(req)
        sec, why = up_security(cfg.security_for(dnn), msg.integrity_protection_max_data_rate)
        if sec is None:
            raise _Rejected(FiveGsmCause.MAXIMUM_DATA_RATE_FOR_UP_INTEGRITY_TOO_LOW, why or "")
        try:
            ue_ip = self.pool.allocate()
        except PoolExhausted as e:
            raise _Rejected(FiveGsmCause.INSUFFICIENT_RESOURCES, str(e)) from None
        s = SmSession(req.supi, psi, pti, dnn, snssai, ue_ip, cp_seid=next(self._seids))
        try:
            await self._pfcp_establish(s)
        except _Rejected:
            self.pool.release(ue_ip)
            raise
        assert s.ul_tunnel is not None
        self._sessions[(req.supi, psi)] = s
        self._by_cp[s.cp_seid] = s
        s.state = "pending-n2"
        s.security_indication = sec
        ul, dl = cfg.session_ambr
        accept = nas.PduSessionEstablishmentAccept(
            pdu_session_id=psi, pti=pti, pdu_session_type=PduSessionType.IPV4, ssc_mode=SscMode.SSC_MODE_1,
            qos_rules=(default_qos_rule(cfg.qfi),), session_ambr=session_ambr_ie(ul, dl), cause=accept_cause,
            pdu_address=nas.PduAddress(PduSessionType.IPV4, ue_ip), s_nssai=nas.SNssai(*snssai),
            qos_flow_descriptions=qos_flow_description(cfg.qfi, cfg.five_qi),
            extended_pco=build_epco(parse_epco_requests(msg.extended_pco), cfg.dns_server, cfg.ipv4_mtu),
            dnn=dnn)
        transfer = PduSessionResourceSetupRequestTransfer(
            ul_tunnel=s.ul_tunnel, pdu_session_type="ipv4",
            qos_flows=(QosFlowRequest(cfg.qfi, cfg.five_qi, cfg.arp_priority),),
            session_ambr=UeAmbr(dl=dl, ul=ul), security_indication=sec)
        self.stats["created"] += 1
        self._event("smf.session.established", supi=req.supi, pdu_session_id=psi, dnn=dnn, ue_ipv4=ue_ip,
                    ul_teid=s.ul_tunnel.teid, upf_n3=s.ul_tunnel.address, snssai=list(snssai),
                    up_integrity=sec.integrity, up_confidentiality=sec.confidentiality)
        return SmReply(psi, nas.encode(accept), transfer.to_bytes(), "setup", ue_ipv4=ue_ip)

    def _select_dnn(self, req: SmContextCreate) -> str:
        subscribed = {d.lower() for d in req.subscribed_dnns}
        if req.dnn is None:
            for d in req.subscribed_dnns:
                known = self.config.dnn_known(d)
                if known:
                    return known
            raise _Rejected(FiveGsmCause.MISSING_OR_UNKNOWN_DNN, "no DNN requested and no subscribed DNN served")
        known = self.config.dnn_known(req.dnn)
        if known is None:
            raise _Rejected(FiveGsmCause.MISSING_OR_UNKNOWN_DNN, f"DNN {req.dnn!r} is not served by this SMF")
        if known.lower() not in subscribed:
            raise _Rejected(FiveGsmCause.MISSING_OR_UNKNOWN_DNN, f"DNN {req.dnn!r} is not subscribed")
        return known

    def _select_snssai(self, req: SmContextCreate) -> tuple[int, int | None]:
        served = set(self.config.snssais)
        subscribed = [(s[0], s[1]) for s in req.subscribed_snssai]
        if req.snssai is None:
            for s in subscribed:
                if s in served:
                    return s
            raise _Rejected(FiveGsmCause.REQUESTED_SERVICE_OPTION_NOT_SUBSCRIBED,
                            "no S-NSSAI requested and no subscribed S-NSSAI served")
        sn = (req.snssai[0], req.snssai[1])
        if sn not in subscribed:
            raise _Rejected(FiveGsmCause.REQUESTED_SERVICE_OPTION_NOT_SUBSCRIBED, f"S-NSSAI {sn} not subscribed")
        if sn not in served:
            raise _Rejected(FiveGsmCause.SERVICE_OPTION_NOT_SUPPORTED, f"S-NSSAI {sn} not served by this SMF")
        return sn

    async def _pfcp_establish(self, s: SmSession) -> None:
        cfg = self.config
        ul, dl = cfg.session_ambr
        pdrs, fars, urrs, qers = P.pdu_session_rules(s.ue_ipv4, P.Fteid(choose=True), cfg.qfi,
                                                     mbr_kbps=(-(-ul // 1000), -(-dl // 1000)))
        req = P.SessionEstablishmentRequest(node_id=self.node_id, cp_fseid=P.Fseid(s.cp_seid, self.node_id),
                                            pdrs=pdrs, fars=fars, urrs=urrs, qers=qers, dnn=s.dnn, snssai=s.snssai)
        for attempt in (1, 2):
            try:
                resp = await self._n4(req)
            except N4Error as e:
                self._event("smf.n4.failure", "warning", op="establishment", error=str(e), supi=s.supi)
                raise _Rejected(FiveGsmCause.NETWORK_FAILURE, f"UPF unreachable: {e}") from None
            assert isinstance(resp, P.SessionEstablishmentResponse)
            if resp.cause == P.Cause.NO_ESTABLISHED_PFCP_ASSOCIATION and attempt == 1:
                try:  # the UPF restarted or never saw us: associate and retry once
                    await self._associate()
                except N4Error:
                    pass
                continue
            break
        if resp.cause != P.Cause.REQUEST_ACCEPTED:
            cause = (FiveGsmCause.INSUFFICIENT_RESOURCES
                     if resp.cause in (P.Cause.NO_RESOURCES_AVAILABLE, P.Cause.ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED,
                                       P.Cause.PFCP_ENTITY_IN_CONGESTION) else FiveGsmCause.NETWORK_FAILURE)
            self._event("smf.n4.rejected", "warning", op="establishment", pfcp_cause=resp.cause, supi=s.supi)
            raise _Rejected(cause, f"UPF refused the PFCP session (cause {resp.cause})")
        created = next((c.fteid for c in resp.created_pdrs if c.pdr_id == P.PDR_UL and c.fteid is not None
                        and not c.fteid.choose), None)
        if created is None or resp.up_fseid is None:
            await self._pfcp_delete_quietly(resp.up_fseid.seid if resp.up_fseid else 0)
            raise _Rejected(FiveGsmCause.NETWORK_FAILURE, "UPF response lacks the F-SEID or the uplink F-TEID")
        assert created.teid is not None and created.ipv4 is not None
        s.up_seid = resp.up_fseid.seid
        s.ul_tunnel = GtpTunnel(cfg.upf_n3_address or created.ipv4, created.teid)

    # ------------------------------------------------------------------ N2 setup outcome

    async def n2_setup_response(self, supi: str, pdu_session_id: int, transfer: bytes) -> SmReply:
        """PDU Session Resource Setup Response Transfer from the gNB -> PFCP modification with the
        gNB's DL F-TEID (TS 23.502 4.3.2.2.1 steps 14-16)."""
        psi = pdu_session_id
        try:
            t = PduSessionResourceSetupResponseTransfer.from_bytes(transfer)
        except DecodeError as e:
            return self._error(psi, f"malformed PDU Session Resource Setup Response Transfer: {e}")
        tun = t.dl_tunnel
        if tun.ipv6 is not None or ":" in tun.address:
            return self._error(psi, "the gNB's DL tunnel has no IPv4 address (only IPv4 N3 is supported)")
        async with self._lock(supi):
            s = self._sessions.get((supi, psi))
            if s is None or s.state not in ("pending-n2", "active", "inactive"):
                return self._error(psi, f"no PDU session {psi} awaiting N2 setup for this UE")
            upd = P.SessionModificationRequest(seid=s.up_seid,
                                               update_fars=P.dl_tunnel_update(P.OuterHeaderCreation(tun.teid, tun.address)))
            try:
                resp = await self._n4(upd)
            except N4Error as e:
                self._event("smf.n4.failure", "warning", op="modification", error=str(e), supi=supi)
                return self._error(psi, f"UPF unreachable: {e}")
            assert isinstance(resp, P.SessionModificationResponse)
            if resp.cause != P.Cause.REQUEST_ACCEPTED:
                return self._error(psi, f"UPF refused the modification (PFCP cause {resp.cause})")
            s.dl_tunnel = GtpTunnel(tun.address, tun.teid)
            reactivated = s.reactivating or s.state == "inactive"
            s.state = "active"
            s.reactivating = s.dl_data_notified = False
            s.security_result = t.security_result
        self._event("smf.session.active", supi=supi, pdu_session_id=psi, ue_ipv4=s.ue_ipv4, dl_teid=tun.teid,
                    gnb=tun.address, qos_flows=list(t.qos_flows), reactivated=reactivated)
        self._up_security_event(s)
        return SmReply(psi, None, None, "setup", ue_ipv4=s.ue_ipv4)

    def _up_security_event(self, s: SmSession) -> None:
        """``smf.up_security``: the UP security the gNB reports having applied (Security Result, TS 38.413
        8.2.1.2 / 9.3.4.2) against the policy sent (Security Indication, TS 33.501 6.6.1).

        Emitted when the gNB reported a result, or did not although the policy left it a choice
        ("preferred") or demanded protection ("required"). Severity: "warning" for protection that was
        required but is reported not performed, or for a missing result; "notice" when a preferred
        protection is not performed; "info" otherwise.
        """
        sec, res = s.security_indication, s.security_result
        wanted = sec is not None and (sec.integrity != "not-needed" or sec.confidentiality != "not-needed")
        if res is None and not wanted:
            return
        ind = (sec.integrity, sec.confidentiality) if sec is not None else (None, None)
        got = (res.integrity, res.confidentiality) if res is not None else (None, None)
        pairs = tuple(zip(ind, got, strict=True))
        if res is None or ("required", "not-performed") in pairs:
            severity = "warning"
        elif ("preferred", "not-performed") in pairs:
            severity = "notice"
        else:
            severity = "info"
        self._event("smf.up_security", severity, supi=s.supi, pdu_session_id=s.pdu_session_id,
                    integrity_indication=ind[0], confidentiality_indication=ind[1],
                    integrity_result=got[0], confidentiality_result=got[1], reported=res is not None)

    async def n2_setup_failed(self, supi: str, pdu_session_id: int, transfer: bytes | None) -> SmReply:
        """The gNB could not set the session up (TS 23.502 4.3.2.2.1 step 15): release it."""
        psi = pdu_session_id
        why = "gNB failed to set up the PDU session"
        if transfer is not None:
            try:
                why += f" ({PduSessionResourceSetupUnsuccessfulTransfer.from_bytes(transfer).cause})"
            except DecodeError as e:
                why += f" (unreadable transfer: {e})"
        async with self._lock(supi):
            s = self._sessions.get((supi, psi))
            if s is None or s.state == "releasing":
                return self._error(psi, f"no PDU session {psi} for this UE")
            if s.state == "inactive" or s.reactivating:
                # the gNB could not re-establish the UP of an existing session: it stays (inactive)
                s.reactivating = False
                s.state = "inactive"
                self._event("smf.session.reactivation_failed", "notice", supi=supi, pdu_session_id=psi, reason=why)
                return self._error(psi, why)
            await self._free(s, why)
            cmd = nas.encode(nas.PduSessionReleaseCommand(pdu_session_id=psi, pti=0,
                                                          cause=FiveGsmCause.INSUFFICIENT_RESOURCES))
            s.state, s.release_command, s.release_transfer = "releasing", cmd, None
        return SmReply(psi, cmd, None, "release", ue_ipv4=s.ue_ipv4, cause=why)

    # ------------------------------------------------------------------ UP deactivation / re-activation

    async def deactivate(self, supi: str, pdu_session_ids: tuple[int, ...] | list[int]) -> list[int]:
        """AN release (TS 23.502 4.2.6 steps 5-6): the UP connections of these sessions are deactivated.

        PFCP Session Modification: the downlink FAR buffers and notifies (BUFF|NOCP, TS 29.244 5.2.3.1);
        the session goes to "inactive". Returns the PDU session IDs deactivated (already inactive ones
        are skipped unless a re-activation or paging for them was cut short; releasing and unknown
        ones are skipped)."""
        done: list[int] = []
        async with self._lock(supi):
            for psi in pdu_session_ids:
                s = self._sessions.get((supi, psi))
                if s is None or s.state not in ("pending-n2", "active", "inactive"):
                    continue
                if s.state == "inactive" and not (s.reactivating or s.dl_data_notified):
                    continue  # nothing changed since the last deactivation
                # (an inactive session whose re-activation or paging was cut short: re-armed, so that
                # the next downlink packet is reported again)
                try:
                    resp = await self._n4(P.SessionModificationRequest(seid=s.up_seid,
                                                                       update_fars=P.dl_buffer_update()))
                except N4Error as e:
                    self._event("smf.n4.failure", "warning", op="modification", error=str(e), supi=supi)
                    continue
                assert isinstance(resp, P.SessionModificationResponse)
                if resp.cause != P.Cause.REQUEST_ACCEPTED:
                    self._event("smf.n4.failure", "warning", op="modification", cause=int(resp.cause), supi=supi)
                    continue
                s.state, s.dl_tunnel = "inactive", None
                s.reactivating = s.dl_data_notified = False
                done.append(psi)
                self._event("smf.session.deactivated", supi=supi, pdu_session_id=psi, ue_ipv4=s.ue_ipv4)
        return done

    async def activate(self, supi: str, pdu_session_id: int) -> SmReply:
        """UP re-activation (TS 23.502 4.2.3.2 steps 4-5): kind "activate" with the PDU Session Resource
        Setup Request Transfer for the (new) gNB; the gNB's answer comes through :meth:`n2_setup_response`."""
        psi = pdu_session_id
        cfg = self.config
        async with self._lock(supi):
            s = self._sessions.get((supi, psi))
            if s is None or s.state not in ("pending-n2", "active", "inactive") or s.ul_tunnel is None:
                self._event("smf.session.reactivation_failed", "notice", supi=supi, pdu_session_id=psi,
                            reason="no such PDU session")
                return self._error(psi, f"no PDU session {psi} to re-activate for this UE")
            s.reactivating = True
            ul, dl = cfg.session_ambr
            transfer = PduSessionResourceSetupRequestTransfer(
                ul_tunnel=s.ul_tunnel, pdu_session_type="ipv4",
                qos_flows=(QosFlowRequest(cfg.qfi, cfg.five_qi, cfg.arp_priority),),
                session_ambr=UeAmbr(dl=dl, ul=ul), security_indication=s.security_indication)
        self._event("smf.session.activating", supi=supi, pdu_session_id=psi, ue_ipv4=s.ue_ipv4,
                    ul_teid=s.ul_tunnel.teid)
        return SmReply(psi, None, transfer.to_bytes(), "activate", ue_ipv4=s.ue_ipv4)

    async def paging_failed(self, supi: str, pdu_session_ids: tuple[int, ...] | list[int]) -> None:
        """Namf_Communication_N1N2TransferFailureNotification (TS 23.502 4.2.3.3 step 4): the UE did not
        answer. The UPF discards what it buffered and will report the next downlink packet (the
        downlink FAR is set to BUFF|NOCP again)."""
        async with self._lock(supi):
            for psi in pdu_session_ids:
                s = self._sessions.get((supi, psi))
                if s is None or s.state != "inactive":
                    continue
                s.dl_data_notified = False
                try:
                    await self._n4(P.SessionModificationRequest(seid=s.up_seid, update_fars=P.dl_buffer_update()))
                except N4Error as e:
                    self._event("smf.n4.failure", "warning", op="modification", error=str(e), supi=supi)
                self._event("smf.paging_failed", "notice", supi=supi, pdu_session_id=psi)

    def handle_n4_request(self, data: bytes) -> bytes | None:
        """A PFCP request from the UPF (the N4 transport calls this): Session Report Request (TS 29.244
        7.5.8) -> Session Report Response; other requests None (the transport answers heartbeats)."""
        try:
            msg = P.decode(data)
        except P.PfcpIeError as e:
            hdr = e.header
            if hdr is None or hdr.msg_type != P.MsgType.SESSION_REPORT_REQUEST:
                return None
            s = self._by_cp_seid(hdr.seid or 0)
            return P.encode(P.SessionReportResponse(seq=hdr.seq, seid=s.up_seid if s else 0, cause=int(e.cause),
                                                    offending_ie=e.ie_type))
        except DecodeError as e:
            log.info("malformed PFCP request from the UPF dropped: %s", e)
            return None
        if not isinstance(msg, P.SessionReportRequest):
            return None
        s = self._by_cp_seid(msg.seid)
        if s is None:
            self._event("smf.session_report.unknown", "notice", seid=msg.seid)
            return P.encode(P.SessionReportResponse(seq=msg.seq, seid=0, cause=P.Cause.SESSION_CONTEXT_NOT_FOUND))
        if msg.report_type & P.ReportType.DLDR:
            self._downlink_data(s)
        return P.encode(P.SessionReportResponse(seq=msg.seq, seid=s.up_seid, cause=P.Cause.REQUEST_ACCEPTED))

    def _downlink_data(self, s: SmSession) -> None:
        """Downlink Data Report for ``s`` (TS 23.502 4.2.3.3 steps 2a-3a)."""
        notify = s.state == "inactive" and not s.dl_data_notified and not s.reactivating
        self._event("smf.dl_data_notification", supi=s.supi, pdu_session_id=s.pdu_session_id, state=s.state,
                    paging=notify)
        if not notify:
            return  # UP active again / re-activation running / AMF already paging: nothing to do
        s.dl_data_notified = True
        if self.on_downlink_data is not None:
            try:
                self.on_downlink_data(s.supi, s.pdu_session_id)
            except Exception:  # noqa: BLE001 - the AMF side must not break N4
                log.exception("downlink data notification for %s/%s failed", s.supi, s.pdu_session_id)

    def _by_cp_seid(self, seid: int) -> SmSession | None:
        return self._by_cp.get(seid)

    # ------------------------------------------------------------------ release

    async def release(self, supi: str, pdu_session_id: int, n1_sm: bytes | None) -> SmReply:
        """UE-requested (PDU SESSION RELEASE REQUEST, TS 24.501 6.4.3) or network-requested (``n1_sm``
        None, TS 24.501 6.3.3) release; PDU SESSION RELEASE COMPLETE -> kind "released"."""
        psi = pdu_session_id
        msg: nas.NasMessage | None = None
        if n1_sm is not None:
            try:
                msg = nas.decode(n1_sm)
            except DecodeError as e:
                return self._error(psi, f"malformed 5GSM message: {e}")
            if not isinstance(msg, nas.SmMessage):
                return self._error(psi, f"expected a 5GSM message, got {type(msg).__name__}")
            if msg.pdu_session_id != psi:
                return self._error(psi, f"PDU session ID {msg.pdu_session_id} in N1 differs from {psi}")
        async with self._lock(supi):
            s = self._sessions.get((supi, psi))
            if msg is None:
                if s is None:
                    return self._error(psi, f"no PDU session {psi} for this UE")
                return await self._command(s, 0, "network-requested release")
            if isinstance(msg, nas.PduSessionReleaseRequest):
                if msg.pti in (0, 255):  # TS 24.501 7.3.1 a)
                    st = nas.FiveGsmStatus(pdu_session_id=psi, pti=msg.pti, cause=FiveGsmCause.INVALID_PTI_VALUE)
                    return SmReply(psi, nas.encode(st), None, "reject", cause="#81 invalid PTI value")
                if s is None:  # TS 24.501 6.4.3.3 / 7.3.2: unknown PDU session -> reject #43
                    rej = nas.PduSessionReleaseReject(pdu_session_id=psi, pti=msg.pti,
                                                      cause=FiveGsmCause.INVALID_PDU_SESSION_IDENTITY)
                    return SmReply(psi, nas.encode(rej), None, "reject", cause="#43 invalid PDU session identity")
                return await self._command(s, msg.pti, "UE-requested release")
            if isinstance(msg, nas.PduSessionReleaseComplete) or (
                    isinstance(msg, nas.FiveGsmStatus) and msg.cause == FiveGsmCause.INVALID_PDU_SESSION_IDENTITY):
                if s is None or s.state != "releasing":
                    return self._error(psi, "no release pending for this PDU session")
                del self._sessions[(supi, psi)]
                self.stats["released"] += 1
                self._event("smf.session.released", supi=supi, pdu_session_id=psi, ue_ipv4=s.ue_ipv4)
                return SmReply(psi, None, None, "released", ue_ipv4=s.ue_ipv4)
            return self._error(psi, f"unexpected 5GSM message {type(msg).__name__} for a release")

    async def _command(self, s: SmSession, pti: int, why: str) -> SmReply:
        if s.state == "releasing" and s.release_command is not None:  # repeated request: same command
            return SmReply(s.pdu_session_id, s.release_command, s.release_transfer, "release", ue_ipv4=s.ue_ipv4)
        await self._free(s, why)
        cmd = nas.encode(nas.PduSessionReleaseCommand(pdu_session_id=s.pdu_session_id, pti=pti,
                                                      cause=FiveGsmCause.REGULAR_DEACTIVATION))
        n2 = PduSessionResourceReleaseCommandTransfer(Cause("nas", "normal-release")).to_bytes()
        s.state, s.release_command, s.release_transfer = "releasing", cmd, n2
        return SmReply(s.pdu_session_id, cmd, n2, "release", ue_ipv4=s.ue_ipv4, cause=why)

    async def release_all(self, supi: str) -> None:
        """Release every PDU session of ``supi`` locally (deregistration, TS 23.502 4.2.2.3.2 step 4)."""
        async with self._lock(supi):
            for key in [k for k in self._sessions if k[0] == supi]:
                s = self._sessions.pop(key)
                if s.state != "releasing":
                    await self._free(s, "UE deregistered")
                self.stats["released"] += 1
                self._event("smf.session.released", supi=supi, pdu_session_id=s.pdu_session_id,
                            ue_ipv4=s.ue_ipv4, reason="deregistration")
        self._locks.pop(supi, None)

    async def _teardown(self, s: SmSession, why: str) -> None:
        self._sessions.pop((s.supi, s.pdu_session_id), None)
        if s.state != "releasing":
            await self._free(s, why)

    async def _free(self, s: SmSession, why: str) -> None:
        """PFCP Session Deletion (usage reported in the event) and the address back to the pool."""
        self._by_cp.pop(s.cp_seid, None)
        usage: dict[str, int] = {}
        if s.up_seid:
            try:
                resp = await self._n4(P.SessionDeletionRequest(seid=s.up_seid))
                assert isinstance(resp, P.SessionDeletionResponse)
                if resp.cause not in (P.Cause.REQUEST_ACCEPTED, P.Cause.SESSION_CONTEXT_NOT_FOUND):
                    log.warning("UPF refused to delete session %#x: cause %s", s.up_seid, resp.cause)
                for u in resp.usage_reports:
                    usage = {"ul_bytes": u.ul_bytes, "dl_bytes": u.dl_bytes, "ul_packets": u.ul_packets,
                             "dl_packets": u.dl_packets}
            except N4Error as e:  # the UPF may be gone; the session is released locally anyway
                self._event("smf.n4.failure", "warning", op="deletion", error=str(e), supi=s.supi)
        try:
            self.pool.release(s.ue_ipv4)
        except ValueError:
            pass
        self._event("smf.session.deleted", supi=s.supi, pdu_session_id=s.pdu_session_id, ue_ipv4=s.ue_ipv4,
                    reason=why, **usage)

    async def _pfcp_delete_quietly(self, up_seid: int) -> None:
        if up_seid:
            try:
                await self._n4(P.SessionDeletionRequest(seid=up_seid))
            except N4Error:
                pass

    # ------------------------------------------------------------------ replies / introspection

    def _reject(self, req: SmContextCreate, pti: int, cause: FiveGsmCause, why: str) -> SmReply:
        self.stats["rejected"] += 1
        self._event("smf.session.rejected", "notice", supi=req.supi, pdu_session_id=req.pdu_session_id,
                    cause=int(cause), reason=why)
        rej = nas.PduSessionEstablishmentReject(pdu_session_id=req.pdu_session_id, pti=pti, cause=cause)
        return SmReply(req.pdu_session_id, nas.encode(rej), None, "reject", cause=f"#{int(cause)} {why}")

    def _error(self, psi: int, why: str) -> SmReply:
        self.stats["errors"] += 1
        log.info("SMF error for PDU session %s: %s", psi, why)
        return SmReply(psi, None, None, "error", cause=why)

    def sessions(self, supi: str | None = None) -> list[SessionInfo]:
        return [s.info() for (u, _), s in self._sessions.items() if supi is None or u == supi]
