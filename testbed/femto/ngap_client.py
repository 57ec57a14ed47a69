"""The femto's NGAP side (sans-I/O): NG Setup, UE-associated signalling, reconnects (TS 38.413).

Non-UE-associated (stream 0, TS 38.412 7):

- NG Setup (8.7.1): Global gNB ID, the supported TA with the broadcast PLMN, its S-NSSAIs and the
  cell's CAG IDs (testbed-private extension of the Broadcast PLMN Item, see
  :data:`testbed.protocols.ngap.TESTBED_CAG_EXTENSION_ID`), default paging DRX, RAN node name.
  NG SETUP RESPONSE -> up (``femto.ng_setup_accepted``, the first time ``femto.ready``); NG SETUP
  FAILURE -> ``femto.ng_setup_refused`` and the radio stays off; the request is repeated after the
  Time to Wait (8.7.1.3) or, without one, after ``reconnect_max_s``. No answer within
  ``ng_setup_timeout_s`` -> the request is repeated.
- Association lost (AMF restart): every UE-associated connection is released locally (RRC release),
  the femto reconnects with exponential backoff (``reconnect_min_s`` .. ``reconnect_max_s``) and
  repeats NG Setup.
- NG Reset from the AMF (8.7.4.2.1): the named (or all) UE connections are released locally and
  acknowledged. Error Indication (8.7.5) is reported as an event. Malformed PDUs are answered with
  Error Indication, cause protocol/transfer-syntax-error (10.2), and counted. PAGING (8.5.1) naming
  the cell's TAI is handed to the radio side (PCCH Paging); one for other TAs is counted and dropped.

UE-associated (stream 1): RAN-UE-NGAP-ID allocation (32 bit, 9.3.3.2) and

- INITIAL UE MESSAGE (8.6.1) with NR-CGI and TAI (User Location Information), the RRC
  establishment cause, the 5G-S-TMSI when the UE gave one and, when the UE accessed the cell as a
  CAG cell, the cell's CAG IDs (NPN Access Information, Cell CAG List 9.3.3.46); UPLINK / DOWNLINK NAS TRANSPORT (8.6.2, 8.6.3).
- INITIAL CONTEXT SETUP (8.3.1): KgNB, UE security capabilities, GUAMI, allowed NSSAI and mobility
  restriction are stored, PDU sessions in it set up, the response sent, the NAS PDU delivered.
- PDU SESSION RESOURCE SETUP (8.2.1): a DL TEID per session and the DL GTP tunnel on the femto's N3
  address. The air interface has no PDCP security, so a Security Indication (9.3.1.27) with
  integrity or confidentiality 'required' cannot be honoured: the session fails with radioNetwork
  cause up-integrity-protection-not-possible / up-confidentiality-protection-not-possible (8.2.1.2)
  and ``femto.up_security_not_honoured`` is emitted; 'preferred' is accepted and reported as not
  performed, to the SMF in the Security Result of the response transfer (9.3.4.2: integrity and
  confidentiality protection result "not-performed") and as ``femto.up_security_not_performed``.
  The NAS PDU of a failed session is not delivered.
- PDU SESSION RESOURCE RELEASE (8.2.2), UE CONTEXT RELEASE COMMAND -> COMPLETE (8.3.3),
  UE CONTEXT RELEASE REQUEST when the radio link is lost (8.3.2, radio-connection-with-ue-lost).
- AP ID handling (10.6): a downlink message naming an unknown RAN-UE-NGAP-ID is answered with Error
  Indication (unknown-local-UE-NGAP-ID); one whose AMF-UE-NGAP-ID differs from the stored one with
  Error Indication (inconsistent-remote-UE-NGAP-ID) and not acted upon (unless ``skip_checks``).

Privacy (TS 33.545): the femto sees SUCI / 5G-GUTI / 5G-S-TMSI only inside NAS it does not parse,
and NGAP ids; KgNB is kept in memory, never logged (except under ``log_everything``).
"""

from __future__ import annotations

import collections
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from testbed.errors import DecodeError
from testbed.protocols import ngap

from .config import FemtoConfig
from .fastpath import NgapFastPath
from .nasinfo import nas_summary
from .outputs import (
    CloseN2,
    ConnectN2,
    DownlinkNas,
    Event,
    InitialNas,
    PageUes,
    RadioLost,
    ReleaseRrc,
    SendNgap,
    UplinkNas,
)
from .user_plane import UserPlane

log = logging.getLogger("testbed.femto.ngap")

__all__ = ["NgUe", "NgapClient", "UE_STREAM"]

#: SCTP stream for UE-associated signalling (TS 38.412 7).
UE_STREAM = 1
DOWN, CONNECTING, SETUP, UP, REFUSED = "down", "connecting", "setup", "up", "refused"
_MAX_RAN_ID = (1 << 32) - 1
_CAPTURE_SIZE = 256
_UNKNOWN_LOCAL = ngap.Cause("radioNetwork", "unknown-local-UE-NGAP-ID")
_INCONSISTENT = ngap.Cause("radioNetwork", "inconsistent-remote-UE-NGAP-ID")
_NOT_COMPATIBLE = ngap.Cause("protocol", "message-not-compatible-with-receiver-state")


@dataclass
class NgUe:
    """One UE-associated logical NG connection. Pseudonymous ids only; KgNB never printed."""

    ran_ue_ngap_id: int
    ue_id: int | None  # the cell's radio UE; None once the radio link is gone
    created: float
    amf_ue_ngap_id: int | None = None
    s_tmsi: int | None = None
    state: str = "initial"  # initial | context | releasing
    kgnb: bytes | None = field(default=None, repr=False)
    ue_security_capabilities: ngap.UeSecurityCapabilities | None = None
    guami: ngap.Guami | None = None
    allowed_nssai: tuple[ngap.Snssai, ...] = ()
    mobility_restriction: ngap.MobilityRestriction | None = None
    sessions: dict[int, dict[str, Any]] = field(default_factory=dict)
    ul_nas: int = 0
    dl_nas: int = 0

    def describe(self) -> dict[str, Any]:
        return {"ran_ue_ngap_id": self.ran_ue_ngap_id, "amf_ue_ngap_id": self.amf_ue_ngap_id,
                "ue_id": self.ue_id, "ng_state": self.state,
                "s_tmsi": None if self.s_tmsi is None else f"{self.s_tmsi:012x}",
                "security_context": self.kgnb is not None, "pdu_sessions": sorted(self.sessions),
                "ul_nas": self.ul_nas, "dl_nas": self.dl_nas}


@dataclass(frozen=True)
class Captured:
    """An uplink NAS message as relayed (``replay_uplink`` knob)."""

    kind: str  # "initial" | "uplink"
    ran_ue_ngap_id: int
    amf_ue_ngap_id: int | None
    nas_pdu: bytes
    ngap: bytes


class NgapClient:
    """The gNB side of N2. All methods return lists of outputs (external and internal)."""

    def __init__(self, config: FemtoConfig, user_plane: UserPlane, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.up = user_plane
        self.clock = clock
        self.knobs = config.knobs
        self.state = DOWN
        self.ever_up = False
        self.amf_name: str | None = None
        self.served_guamis: tuple[ngap.Guami, ...] = ()
        self.refusal: dict[str, Any] | None = None
        self.ues: dict[int, NgUe] = {}
        self.by_ue_id: dict[int, int] = {}
        self._next_ran = 1
        self._attempt = 0
        self._deadline: float | None = None  # reconnect / NG Setup retry / NG Setup timeout
        self.counters: Counter[str] = Counter()
        self.captured: collections.deque[Captured] = collections.deque(maxlen=_CAPTURE_SIZE)
        self._last_malformed_event = -1e9
        self._uli = config.user_location
        self.codec = NgapFastPath(enabled=config.codec_cache)
        #: the backhaul (IPsec tunnel) is down: no association, no reconnect until :meth:`resume`.
        self.suspended = False

    # ------------------------------------------------------------------ helpers

    def _send(self, msg: ngap.NgapMessage, out: list, stream: int = 0) -> bytes:
        data = self.codec.encode(msg)
        out.append(SendNgap(data, stream))
        self.counters["ngap_out"] += 1
        if self.knobs.log_everything:
            out.append(Event("femto.seen.ngap", "debug", {"direction": "out", **_seen(msg)}))
        return data

    def _event(self, out: list, type_: str, severity: str = "info", **fields: Any) -> None:
        out.append(Event(type_, severity, fields))

    def _error(self, out: list, cause: ngap.Cause, amf_id: int | None = None, ran_id: int | None = None) -> None:
        """ERROR INDICATION (8.7.5) to the AMF."""
        stream = UE_STREAM if (amf_id is not None or ran_id is not None) else 0
        self._send(ngap.ErrorIndication(amf_id, ran_id, cause), out, stream)
        self.counters["error_indication_out"] += 1

    def _alloc_ran_id(self) -> int:
        for _ in range(len(self.ues) + 1):
            rid = self._next_ran
            self._next_ran = rid + 1 if rid < _MAX_RAN_ID else 0
            if rid not in self.ues:
                return rid
        raise RuntimeError("no free RAN-UE-NGAP-ID")  # pragma: no cover - 2**32 connections

    def ue_id_of(self, conn: int) -> int | None:
        ng = self.ues.get(conn)
        return None if ng is None else ng.ue_id

    def conn_of(self, ue_id: int) -> int | None:
        return self.by_ue_id.get(ue_id)

    # ------------------------------------------------------------------ association lifecycle

    def start(self) -> list:
        """Begin: ask the runner to open the association."""
        self.state = CONNECTING
        self._deadline = None
        return [ConnectN2()]

    def association_up(self) -> list:
        """The SCTP association is established: NG SETUP REQUEST."""
        out: list = []
        self.counters["associations"] += 1
        self._event(out, "femto.n2_up", attempt=self._attempt)
        self._ng_setup(out)
        return out

    def _ng_setup(self, out: list) -> None:
        c = self.config
        slices = tuple(ngap.Snssai(sst, sd) for sst, sd in c.slices)
        bp = ngap.BroadcastPlmn(c.plmn, slices, cag_ids=c.broadcast_cag_ids)
        req = ngap.NGSetupRequest(ngap.GlobalGnbId(c.plmn, c.gnb_id, c.gnb_id_bits),
                                  (ngap.SupportedTa(c.tac, (bp,)),), c.paging_drx, c.name)
        self._send(req, out)
        self.state = SETUP
        self._deadline = self.clock() + c.ng_setup_timeout_s
        self.counters["ng_setup_sent"] += 1

    def suspend(self, reason: str) -> list:
        """The backhaul tunnel is gone (TS 33.320 7.4: N2 only inside it): drop the association at once,
        release every UE locally and do not reconnect until :meth:`resume`."""
        out: list = [CloseN2()]
        was = self.state
        self.suspended = True
        self._release_all_local(out)
        self.state = DOWN
        self._deadline = None
        self._attempt = 0
        self.counters["suspended"] += 1
        self._event(out, "femto.n2_down", "warning", reason=f"backhaul down: {reason}", previous_state=was,
                    reconnect_in_s=None)
        return out

    def resume(self) -> list:
        """The backhaul is up again: connect (NG Setup follows)."""
        self.suspended = False
        self._attempt = 0
        return self.start()

    def association_down(self, reason: str = "closed") -> list:
        """The association is gone (AMF restart, network): release every UE locally, reconnect later."""
        out: list = []
        was = self.state
        self._release_all_local(out)
        self.state = DOWN
        if self.suspended:  # dropped on purpose (backhaul down): already reported by suspend()
            self._deadline = None
            return out
        self._schedule_reconnect()
        self._event(out, "femto.n2_down", "warning", reason=reason, previous_state=was,
                    reconnect_in_s=round(self._deadline - self.clock(), 3) if self._deadline else None)
        return out

    def connect_failed(self, error: str = "") -> list:
        out: list = []
        self.state = DOWN
        if self.suspended:
            self._deadline = None
            return out
        self._schedule_reconnect()
        self.counters["connect_failures"] += 1
        if self._attempt <= 1 or self._attempt % 10 == 0:
            self._event(out, "femto.n2_connect_failed", "warning", attempt=self._attempt, error=error[:200])
        return out

    def _schedule_reconnect(self) -> None:
        c = self.config
        delay = min(c.reconnect_max_s, c.reconnect_min_s * (2 ** min(self._attempt, 16)))
        self._attempt += 1
        self._deadline = self.clock() + delay

    def tick(self) -> list:
        out: list = []
        if self.suspended or self._deadline is None or self.clock() < self._deadline:
            return out
        self._deadline = None
        if self.state == DOWN:
            self.state = CONNECTING
            out.append(ConnectN2())
        elif self.state == SETUP:
            self.counters["ng_setup_timeouts"] += 1
            self._event(out, "femto.ng_setup_timeout", "warning")
            self._ng_setup(out)
        elif self.state == REFUSED:  # Time to Wait elapsed (8.7.1.3)
            self._ng_setup(out)
        return out

    # ------------------------------------------------------------------ from the AMF

    def ngap_received(self, data: bytes, stream: int = 0) -> list:
        out: list = []
        self.counters["ngap_in"] += 1
        try:
            msg = self.codec.decode(data)
        except DecodeError as e:
            self.counters["drop_malformed"] += 1
            now = self.clock()
            if now - self._last_malformed_event >= 1.0:
                self._last_malformed_event = now
                self._event(out, "femto.ngap_malformed", "warning", error=str(e)[:200], length=len(data),
                            count=self.counters["drop_malformed"])
            self._error(out, ngap.Cause("protocol", "transfer-syntax-error"))
            return out
        try:
            self._dispatch(msg, out)
        except Exception as e:  # noqa: BLE001 - bad input from the AMF must never kill the femto
            self.counters["internal_errors"] += 1
            log.exception("NGAP %s handling failed", type(msg).__name__)
            self._event(out, "femto.internal_error", "error", where="ngap", message=type(msg).__name__,
                        error=f"{type(e).__name__}: {e}"[:200])
        return out

    def _dispatch(self, msg: Any, out: list) -> None:
        if self.knobs.log_everything:
            out.append(Event("femto.seen.ngap", "debug", {"direction": "in", **_seen(msg)}))
        if isinstance(msg, ngap.NGSetupResponse | ngap.NGSetupFailure):
            self._setup_result(msg, out)
            return
        if isinstance(msg, ngap.ErrorIndication):
            self.counters["error_indication_in"] += 1
            self._event(out, "femto.ngap_error_indication", "warning", amf_ue_ngap_id=msg.amf_ue_ngap_id,
                        ran_ue_ngap_id=msg.ran_ue_ngap_id, cause=None if msg.cause is None else str(msg.cause))
            return
        if self.state != UP:
            self.counters["drop_before_setup"] += 1
            self._error(out, _NOT_COMPATIBLE, getattr(msg, "amf_ue_ngap_id", None),
                        getattr(msg, "ran_ue_ngap_id", None))
            return
        if isinstance(msg, ngap.UnsupportedMessage):
            self.counters["unsupported"] += 1
            self._event(out, "femto.ngap_unsupported", "warning", message=msg.name, kind=str(msg.kind))
            if msg.kind == ngap.Kind.INITIATING:
                self._error(out, _NOT_COMPATIBLE)
            return
        if isinstance(msg, ngap.Paging):
            self._paging(msg, out)
            return
        if isinstance(msg, ngap.NGReset):
            self._ng_reset(msg, out)
            return
        if isinstance(msg, ngap.NGResetAcknowledge):
            return
        handler = _HANDLERS.get(type(msg))
        if handler is None:
            self.counters["unexpected"] += 1
            self._event(out, "femto.ngap_unexpected", "warning", message=type(msg).__name__)
            self._error(out, _NOT_COMPATIBLE, getattr(msg, "amf_ue_ngap_id", None),
                        getattr(msg, "ran_ue_ngap_id", None))
            return
        handler(self, msg, out)

    def _setup_result(self, msg: ngap.NGSetupResponse | ngap.NGSetupFailure, out: list) -> None:
        if self.state != SETUP:
            self.counters["drop_unexpected_setup_result"] += 1
            return
        if isinstance(msg, ngap.NGSetupResponse):
            self.state = UP
            self._deadline = None
            self._attempt = 0
            self.refusal = None
            self.amf_name = msg.amf_name
            self.served_guamis = tuple(msg.served_guamis)
            self.counters["ng_setup_accepted"] += 1
            fields = {"amf": msg.amf_name, "gnb_id": self.config.gnb_id, "cag_ids": list(self.config.broadcast_cag_ids),
                      "tac": self.config.tac, "nci": f"{self.config.nci:09x}"}
            self._event(out, "femto.ng_setup_accepted", **fields)
            if not self.ever_up:
                self.ever_up = True
                self._event(out, "femto.ready", **fields)
            return
        self.state = REFUSED
        self.counters["ng_setup_refused"] += 1
        self.refusal = {"cause": str(msg.cause), "time_to_wait": msg.time_to_wait}
        # with Time to Wait: not before it (8.7.1.3); without: after the longest reconnect backoff, so that
        # a femto whose authorisation is fixed by the operator comes up without a restart
        self._deadline = self.clock() + (msg.time_to_wait or self.config.reconnect_max_s)
        self._event(out, "femto.ng_setup_refused", "error", cause=str(msg.cause), time_to_wait=msg.time_to_wait,
                    cag_ids=list(self.config.broadcast_cag_ids), gnb_id=self.config.gnb_id)

    def _paging(self, msg: ngap.Paging, out: list) -> None:
        """PAGING (8.5.1.2): page the UE on PCCH if one of the TAIs for paging is the cell's."""
        self.counters["paging_in"] += 1
        if not any(t.plmn == self.config.plmn and t.tac == self.config.tac for t in msg.tai_list):
            self.counters["paging_other_ta"] += 1
            return
        out.append(PageUes((msg.ue_paging_identity.to_int(),)))

    def _ng_reset(self, msg: ngap.NGReset, out: list) -> None:
        """NG Reset initiated by the AMF (8.7.4.2.1): release, then acknowledge."""
        self.counters["ng_reset_in"] += 1
        if msg.ue_connections is None:
            n = len(self.ues)
            self._release_all_local(out)
            self._send(ngap.NGResetAcknowledge(), out)
        else:
            n = 0
            for c in msg.ue_connections:
                ng = self.ues.get(c.ran_ue_ngap_id) if c.ran_ue_ngap_id is not None else None
                if ng is None and c.amf_ue_ngap_id is not None:
                    ng = next((u for u in self.ues.values() if u.amf_ue_ngap_id == c.amf_ue_ngap_id), None)
                if ng is not None:
                    self._release_local(ng, out)
                    n += 1
            self._send(ngap.NGResetAcknowledge(tuple(msg.ue_connections)), out)
        self._event(out, "femto.ng_reset", "warning", cause=str(msg.cause), partial=msg.ue_connections is not None,
                    released=n)

    # ------------------------------------------------------------------ UE-associated: lookups

    def _lookup(self, msg: Any, out: list, *, strict_amf: bool = True) -> NgUe | None:
        """The connection a downlink message names (AP ID checks of TS 38.413 10.6)."""
        ran: int | None = msg.ran_ue_ngap_id
        amf: int = msg.amf_ue_ngap_id
        ng = self.ues.get(ran) if ran is not None else None
        name = type(msg).__name__
        if ng is None:
            self.counters["unknown_ue"] += 1
            self._event(out, "femto.ngap_unknown_ue", "warning", message=name, amf_ue_ngap_id=amf,
                        ran_ue_ngap_id=ran)
            self._error(out, _UNKNOWN_LOCAL, amf, ran)
            return None
        if ng.amf_ue_ngap_id is None:
            ng.amf_ue_ngap_id = amf
        elif ng.amf_ue_ngap_id != amf and strict_amf:
            if self.knobs.skip_checks:
                self.counters["skipped_check_amf_id"] += 1
                ng.amf_ue_ngap_id = amf
            else:
                self.counters["inconsistent_ids"] += 1
                self._event(out, "femto.ngap_inconsistent_ids", "warning", message=name, amf_ue_ngap_id=amf,
                            stored_amf_ue_ngap_id=ng.amf_ue_ngap_id, ran_ue_ngap_id=ran)
                self._error(out, _INCONSISTENT, amf, ran)
                return None
        return ng

    def _to_ue(self, ng: NgUe, nas_pdu: bytes | None, out: list) -> None:
        if nas_pdu is None:
            return
        ng.dl_nas += 1
        self.counters["dl_nas"] += 1
        if ng.ue_id is None:
            self.counters["drop_dl_nas_no_radio"] += 1
            return
        out.append(DownlinkNas(ng.ue_id, nas_pdu))

    # ------------------------------------------------------------------ UE-associated: downlink

    def _dl_nas(self, msg: ngap.DownlinkNASTransport, out: list) -> None:
        ng = self._lookup(msg, out)
        if ng is None:
            return
        if msg.mobility_restriction is not None:
            ng.mobility_restriction = msg.mobility_restriction
        self._to_ue(ng, msg.nas_pdu, out)

    def _ics(self, msg: ngap.InitialContextSetupRequest, out: list) -> None:
        """INITIAL CONTEXT SETUP (8.3.1.2)."""
        ng = self._lookup(msg, out)
        if ng is None:
            return
        if ng.ue_id is None:  # the radio link is gone: nothing to set up (8.3.1.3)
            self._send(ngap.InitialContextSetupFailure(msg.amf_ue_ngap_id, ng.ran_ue_ngap_id,
                                                       ngap.Cause("radioNetwork", "radio-connection-with-ue-lost")),
                       out, UE_STREAM)
            self.counters["ics_failed"] += 1
            return
        ng.kgnb = msg.security_key
        ng.ue_security_capabilities = msg.ue_security_capabilities
        ng.guami = msg.guami
        ng.allowed_nssai = tuple(msg.allowed_nssai)
        if msg.mobility_restriction is not None:
            ng.mobility_restriction = msg.mobility_restriction
        ng.state = "context"
        setup, failed, nas_pdus = self._setup_sessions(ng, msg.pdu_sessions or (), out)
        self._send(ngap.InitialContextSetupResponse(msg.amf_ue_ngap_id, ng.ran_ue_ngap_id, setup or None,
                                                    failed or None), out, UE_STREAM)
        self.counters["ics"] += 1
        self._event(out, "femto.ue_context_setup", ran_ue_ngap_id=ng.ran_ue_ngap_id,
                    amf_ue_ngap_id=msg.amf_ue_ngap_id, pdu_sessions=[s.pdu_session_id for s in setup],
                    failed=[f.pdu_session_id for f in failed])
        for p in nas_pdus:
            self._to_ue(ng, p, out)
        self._to_ue(ng, msg.nas_pdu, out)

    def _setup_sessions(self, ng: NgUe, items: tuple[ngap.PduSessionSetupRequest, ...], out: list
                        ) -> tuple[list[ngap.PduSessionSetupResult], list[ngap.PduSessionFailed], list[bytes]]:
        """Set up the PDU session resources (8.2.1.2): DL tunnels, security indication check."""
        setup: list[ngap.PduSessionSetupResult] = []
        failed: list[ngap.PduSessionFailed] = []
        nas_pdus: list[bytes] = []
        seen: set[int] = set()
        for item in items:
            psi = item.pdu_session_id
            cause = None
            tr = item.transfer
            if psi in seen or psi in ng.sessions:
                cause = ngap.Cause("radioNetwork", "multiple-PDU-session-ID-instances")
            elif not isinstance(tr, ngap.PduSessionResourceSetupRequestTransfer):
                cause = ngap.Cause("protocol", "semantic-error")
            else:
                cause = self._check_security(ng, psi, tr.security_indication, out)
            seen.add(psi)
            if cause is not None:
                failed.append(ngap.PduSessionFailed(psi, cause))
                self.counters["pdu_session_failed"] += 1
                continue
            assert isinstance(tr, ngap.PduSessionResourceSetupRequestTransfer)
            qfis = tuple(q.qfi for q in tr.qos_flows) or (1,)
            t = self.up.add(ng.ran_ue_ngap_id, psi, tr.ul_tunnel.address, tr.ul_tunnel.teid, qfis[0])
            result = _security_result(tr.security_indication)
            ng.sessions[psi] = {"dl_teid": t.dl_teid, "ul_teid": tr.ul_tunnel.teid, "upf": tr.ul_tunnel.address,
                                "qfis": list(qfis), "type": tr.pdu_session_type}
            setup.append(ngap.PduSessionSetupResult(psi, ngap.PduSessionResourceSetupResponseTransfer(
                ngap.GtpTunnel(self.up.n3_address, t.dl_teid), qfis, result)))
            self.counters["pdu_session_setup"] += 1
            if item.nas_pdu is not None:
                nas_pdus.append(item.nas_pdu)
        return setup, failed, nas_pdus

    def _check_security(self, ng: NgUe, psi: int, sec: ngap.SecurityIndication | None, out: list
                        ) -> ngap.Cause | None:
        """UP security (TS 38.413 8.2.1.2, TS 33.501 6.6.1): the air has no PDCP integrity/ciphering."""
        if sec is None:
            return None
        fields = {"ran_ue_ngap_id": ng.ran_ue_ngap_id, "pdu_session_id": psi, "integrity": sec.integrity,
                  "confidentiality": sec.confidentiality}
        cause = None
        if sec.integrity == "required":
            cause = ngap.Cause("radioNetwork", "up-integrity-protection-not-possible")
        elif sec.confidentiality == "required":
            cause = ngap.Cause("radioNetwork", "up-confidentiality-protection-not-possible")
        if cause is not None:
            if self.knobs.skip_checks:
                self.counters["skipped_check_up_security"] += 1
                self._event(out, "femto.up_security_not_honoured", "warning", **fields,
                            outcome="accepted-without-protection (skip_checks)")
                return None
            self._event(out, "femto.up_security_not_honoured", "warning", **fields, outcome="rejected",
                        cause=str(cause))
            return cause
        if "preferred" in (sec.integrity, sec.confidentiality):
            self._event(out, "femto.up_security_not_performed", "info", **fields)
        return None

    def _pdu_setup(self, msg: ngap.PDUSessionResourceSetupRequest, out: list) -> None:
        ng = self._lookup(msg, out)
        if ng is None:
            return
        setup, failed, nas_pdus = self._setup_sessions(ng, msg.sessions, out)
        self._send(ngap.PDUSessionResourceSetupResponse(msg.amf_ue_ngap_id, ng.ran_ue_ngap_id, setup or None,
                                                        failed or None), out, UE_STREAM)
        self._event(out, "femto.pdu_session_setup", ran_ue_ngap_id=ng.ran_ue_ngap_id,
                    amf_ue_ngap_id=msg.amf_ue_ngap_id, setup=[s.pdu_session_id for s in setup],
                    failed=[{"pdu_session_id": f.pdu_session_id, "cause": str(f.cause)} for f in failed])
        self._to_ue(ng, msg.nas_pdu, out)
        for p in nas_pdus:
            self._to_ue(ng, p, out)

    def _pdu_release(self, msg: ngap.PDUSessionResourceReleaseCommand, out: list) -> None:
        """PDU SESSION RESOURCE RELEASE (8.2.2.2)."""
        ng = self._lookup(msg, out)
        if ng is None:
            return
        psis = tuple(s.pdu_session_id for s in msg.sessions)
        self.up.remove(ng.ran_ue_ngap_id, psis)
        for p in psis:
            ng.sessions.pop(p, None)
        self._to_ue(ng, msg.nas_pdu, out)
        self._send(ngap.PDUSessionResourceReleaseResponse(
            msg.amf_ue_ngap_id, ng.ran_ue_ngap_id,
            tuple(ngap.PduSessionReleased(p, ngap.PduSessionResourceReleaseResponseTransfer()) for p in psis),
            self._uli), out, UE_STREAM)
        self.counters["pdu_session_released"] += len(psis)
        self._event(out, "femto.pdu_session_released", ran_ue_ngap_id=ng.ran_ue_ngap_id, pdu_sessions=list(psis))

    def _release_command(self, msg: ngap.UEContextReleaseCommand, out: list) -> None:
        """UE CONTEXT RELEASE (8.3.3.2): release resources, RRC release, COMPLETE."""
        ng = None
        if msg.ran_ue_ngap_id is not None:
            ng = self.ues.get(msg.ran_ue_ngap_id)
            if ng is not None and ng.amf_ue_ngap_id not in (None, msg.amf_ue_ngap_id) and not self.knobs.skip_checks:
                self.counters["inconsistent_ids"] += 1
                self._event(out, "femto.ngap_inconsistent_ids", "warning", message="UEContextReleaseCommand",
                            amf_ue_ngap_id=msg.amf_ue_ngap_id, stored_amf_ue_ngap_id=ng.amf_ue_ngap_id,
                            ran_ue_ngap_id=msg.ran_ue_ngap_id)
                self._error(out, _INCONSISTENT, msg.amf_ue_ngap_id, msg.ran_ue_ngap_id)
                return
        else:
            ng = next((u for u in self.ues.values() if u.amf_ue_ngap_id == msg.amf_ue_ngap_id), None)
        if ng is None:
            self.counters["release_unknown_ue"] += 1
            if msg.ran_ue_ngap_id is not None:  # already gone: confirm so the AMF can finish
                self._send(ngap.UEContextReleaseComplete(msg.amf_ue_ngap_id, msg.ran_ue_ngap_id), out, UE_STREAM)
            else:
                self._error(out, _UNKNOWN_LOCAL, msg.amf_ue_ngap_id, None)
            return
        psis = tuple(sorted(ng.sessions))
        self._release_local(ng, out)
        self._send(ngap.UEContextReleaseComplete(msg.amf_ue_ngap_id, ng.ran_ue_ngap_id, self._uli,
                                                 psis or None), out, UE_STREAM)
        self.counters["ue_context_released"] += 1
        self._event(out, "femto.ue_context_released", ran_ue_ngap_id=ng.ran_ue_ngap_id,
                    amf_ue_ngap_id=msg.amf_ue_ngap_id, cause=str(msg.cause), pdu_sessions=list(psis))

    # ------------------------------------------------------------------ local release

    def _release_local(self, ng: NgUe, out: list) -> None:
        self.ues.pop(ng.ran_ue_ngap_id, None)
        self.up.remove(ng.ran_ue_ngap_id)
        if ng.ue_id is not None:
            if self.by_ue_id.get(ng.ue_id) == ng.ran_ue_ngap_id:
                del self.by_ue_id[ng.ue_id]
            out.append(ReleaseRrc(ng.ue_id))

    def _release_all_local(self, out: list) -> None:
        for ng in list(self.ues.values()):
            self._release_local(ng, out)

    # ------------------------------------------------------------------ from the radio side

    def from_radio(self, item: InitialNas | UplinkNas | RadioLost) -> list:
        out: list = []
        if isinstance(item, InitialNas):
            self._initial(item, out)
        elif isinstance(item, UplinkNas):
            self._uplink(item, out)
        elif isinstance(item, RadioLost):
            self._radio_lost(item, out)
        return out

    def _initial(self, item: InitialNas, out: list) -> None:
        """INITIAL UE MESSAGE (8.6.1)."""
        if self.state != UP:
            self.counters["drop_initial_ng_down"] += 1
            out.append(ReleaseRrc(item.ue_id))
            return
        old = self.by_ue_id.pop(item.ue_id, None)
        if old is not None and old in self.ues:
            self.ues[old].ue_id = None
        rid = self._alloc_ran_id()
        ng = NgUe(rid, item.ue_id, self.clock(), s_tmsi=item.s_tmsi)
        self.ues[rid] = ng
        self.by_ue_id[item.ue_id] = rid
        cags = self.config.broadcast_cag_ids if item.cag_access else ()
        msg = ngap.InitialUEMessage(rid, item.nas_pdu, self._uli, item.establishment_cause,
                                    ngap.FiveGSTmsi.from_int(item.s_tmsi) if item.s_tmsi is not None else None,
                                    cag_ids=cags or None)
        data = self._send(msg, out, UE_STREAM)
        ng.ul_nas += 1
        self.counters["initial_ue"] += 1
        if self.knobs.replay_uplink:
            self.captured.append(Captured("initial", rid, None, item.nas_pdu, data))
        self._event(out, "femto.initial_ue", ran_ue_ngap_id=rid, ue_id=item.ue_id,
                    establishment_cause=item.establishment_cause, s_tmsi=item.s_tmsi is not None,
                    cag_access=item.cag_access,
                    **nas_summary(item.nas_pdu))

    def _uplink(self, item: UplinkNas, out: list) -> None:
        rid = self.by_ue_id.get(item.ue_id)
        ng = self.ues.get(rid) if rid is not None else None
        if ng is None:
            self.counters["drop_ul_nas_no_connection"] += 1
            return
        if ng.amf_ue_ngap_id is None:  # nothing from the AMF yet: no UPLINK NAS TRANSPORT possible (9.2.5.3)
            self.counters["drop_ul_nas_no_amf_id"] += 1
            return
        data = self._send(ngap.UplinkNASTransport(ng.amf_ue_ngap_id, rid, item.nas_pdu, self._uli), out, UE_STREAM)
        ng.ul_nas += 1
        self.counters["ul_nas"] += 1
        if self.knobs.replay_uplink:
            self.captured.append(Captured("uplink", rid, ng.amf_ue_ngap_id, item.nas_pdu, data))

    def _radio_lost(self, item: RadioLost, out: list) -> None:
        """UE CONTEXT RELEASE REQUEST (8.3.2.2) when the radio connection is lost."""
        rid = self.by_ue_id.pop(item.ue_id, None)
        ng = self.ues.get(rid) if rid is not None else None
        if ng is None:
            return
        ng.ue_id = None
        if ng.amf_ue_ngap_id is None or self.state != UP:
            self._release_local(ng, out)
            return
        if ng.state == "releasing":
            return
        ng.state = "releasing"
        psis = tuple(sorted(ng.sessions))
        self._send(ngap.UEContextReleaseRequest(ng.amf_ue_ngap_id, rid, ngap.Cause("radioNetwork", item.cause),
                                                psis or None), out, UE_STREAM)
        self.counters["release_request"] += 1
        self._event(out, "femto.ue_context_release_request", ran_ue_ngap_id=rid, amf_ue_ngap_id=ng.amf_ue_ngap_id,
                    cause=item.cause)

    # ------------------------------------------------------------------ knobs (attack scenarios)

    def replay(self, index: int = -1, ran_ue_ngap_id: int | None = None, times: int = 1) -> tuple[dict, list]:
        """Re-send captured uplink message ``index`` (``replay_uplink`` knob): as captured, or its NAS
        PDU in an UPLINK NAS TRANSPORT of connection ``ran_ue_ngap_id``."""
        out: list = []
        if not self.knobs.replay_uplink:
            return {"ok": False, "error": "knob replay_uplink is off"}, out
        if not self.captured:
            return {"ok": False, "error": "nothing captured"}, out
        try:
            cap = self.captured[index]
        except IndexError:
            return {"ok": False, "error": f"no captured message {index} (have {len(self.captured)})"}, out
        if self.state != UP:
            return {"ok": False, "error": f"N2 is {self.state}"}, out
        times = max(1, min(int(times), 100))
        if ran_ue_ngap_id is None:
            for _ in range(times):
                out.append(SendNgap(cap.ngap, UE_STREAM))
        else:
            target = self.ues.get(ran_ue_ngap_id)
            if target is None or target.amf_ue_ngap_id is None:
                return {"ok": False, "error": f"no NG connection {ran_ue_ngap_id} with an AMF-UE-NGAP-ID"}, out
            for _ in range(times):
                self._send(ngap.UplinkNASTransport(target.amf_ue_ngap_id, ran_ue_ngap_id, cap.nas_pdu, self._uli),
                           out, UE_STREAM)
        self.counters["knob_replayed"] += times
        self._event(out, "femto.knob.replay", "warning", kind=cap.kind, from_ran_ue_ngap_id=cap.ran_ue_ngap_id,
                    to_ran_ue_ngap_id=ran_ue_ngap_id, times=times, nas_len=len(cap.nas_pdu))
        return {"ok": True, "sent": times, "kind": cap.kind}, out

    def send_foreign(self, amf_ue_ngap_id: int, ran_ue_ngap_id: int, message: str = "uplink_nas",
                     nas_pdu: bytes = b"\x7e\x00\x43") -> tuple[dict, list]:
        """Send a UE-associated NGAP message with arbitrary (another gNB's) UE ids (``foreign_ue_ids`` knob)."""
        out: list = []
        if not self.knobs.foreign_ue_ids:
            return {"ok": False, "error": "knob foreign_ue_ids is off"}, out
        if self.state != UP:
            return {"ok": False, "error": f"N2 is {self.state}"}, out
        builders: dict[str, Callable[[], ngap.NgapMessage]] = {
            "uplink_nas": lambda: ngap.UplinkNASTransport(amf_ue_ngap_id, ran_ue_ngap_id, nas_pdu, self._uli),
            "release_request": lambda: ngap.UEContextReleaseRequest(amf_ue_ngap_id, ran_ue_ngap_id,
                                                                    ngap.Cause("radioNetwork", "user-inactivity")),
            "release_complete": lambda: ngap.UEContextReleaseComplete(amf_ue_ngap_id, ran_ue_ngap_id, self._uli),
            "ics_response": lambda: ngap.InitialContextSetupResponse(amf_ue_ngap_id, ran_ue_ngap_id),
        }
        build = builders.get(message)
        if build is None:
            return {"ok": False, "error": f"message must be one of {sorted(builders)}"}, out
        try:
            self._send(build(), out, UE_STREAM)
        except ValueError as e:
            return {"ok": False, "error": str(e)}, out
        self.counters["knob_foreign"] += 1
        self._event(out, "femto.knob.foreign_ue", "warning", message=message, amf_ue_ngap_id=amf_ue_ngap_id,
                    ran_ue_ngap_id=ran_ue_ngap_id)
        return {"ok": True, "message": message}, out

    # ------------------------------------------------------------------ queries

    def describe(self) -> dict[str, Any]:
        return {"state": self.state, "amf": self.amf_name, "refusal": self.refusal, "ues": len(self.ues),
                "reconnect_attempt": self._attempt, "suspended": self.suspended}


_NOT_PERFORMED = ngap.SecurityResult("not-performed", "not-performed")


def _security_result(sec: ngap.SecurityIndication | None) -> ngap.SecurityResult | None:
    """The Security Result (TS 38.413 8.2.1.2, 9.3.4.2) of an accepted session: reported when the
    Security Indication left UP integrity protection or ciphering to the gNB ("preferred"; "required"
    only gets here under ``skip_checks``). The air has no PDCP security, so neither is performed."""
    if sec is None or (sec.integrity == "not-needed" and sec.confidentiality == "not-needed"):
        return None
    return _NOT_PERFORMED


def _seen(msg: Any) -> dict[str, Any]:
    """What a curious (``log_everything``) femto records of an NGAP message it sends or receives."""
    d: dict[str, Any] = {"message": type(msg).__name__}
    for k in ("amf_ue_ngap_id", "ran_ue_ngap_id"):
        v = getattr(msg, k, None)
        if v is not None:
            d[k] = v
    nas_pdu = getattr(msg, "nas_pdu", None)
    if isinstance(nas_pdu, bytes):
        d["nas"] = nas_summary(nas_pdu, everything=True)
    key = getattr(msg, "security_key", None)
    if isinstance(key, bytes):
        d["kgnb"] = key.hex()
    mr = getattr(msg, "mobility_restriction", None)
    if mr is not None:
        d["mobility_restriction"] = repr(mr)
    return d


_HANDLERS: dict[type, Callable[[NgapClient, Any, list], None]] = {
    ngap.DownlinkNASTransport: NgapClient._dl_nas,
    ngap.InitialContextSetupRequest: NgapClient._ics,
    ngap.PDUSessionResourceSetupRequest: NgapClient._pdu_setup,
    ngap.PDUSessionResourceReleaseCommand: NgapClient._pdu_release,
    ngap.UEContextReleaseCommand: NgapClient._release_command,
}
