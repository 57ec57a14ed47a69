"""5GS session management, UE side (TS 24.501 6.4.1, 6.4.3, 6.3.3), carried in UL/DL NAS TRANSPORT
(5.4.5) with payload container type "N1 SM information".

* UE-requested PDU session establishment (6.4.1.2): PDU SESSION ESTABLISHMENT REQUEST with a new
  PTI, PDU session type IPv4, SSC mode 1 and full integrity protection maximum data rate, in an
  UL NAS TRANSPORT with request type "initial request" ("initial emergency request" when
  emergency registered), S-NSSAI and DNN. T3580 (16 s): retransmitted on the first four expiries,
  the procedure is aborted on the fifth (6.4.1.6 a). ACCEPT (6.4.1.3): the session is active with
  its PDU address -> :class:`SessionUp`. REJECT (6.4.1.4): :class:`SessionDown`.
* UE-requested release (6.4.3.2): PDU SESSION RELEASE REQUEST, T3582 (16 s, same retransmission
  rule; on abort the session is released locally, 6.4.3.5 a). RELEASE REJECT: the session stays.
* Network-requested release (6.3.3): PDU SESSION RELEASE COMMAND -> RELEASE COMPLETE (same PTI),
  the session is released locally -> :class:`SessionDown`.

In 5GMM-IDLE the UE first sends SERVICE REQUEST (5.6.1, :mod:`.service`) and the 5GSM message
goes up once the network accepted it. A 5GSM message whose PTI or PDU session does not match a
procedure in progress is dropped and counted (7.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from testbed.errors import DecodeError
from testbed.protocols import nas

from . import security
from .codec import decode_dl
from .outputs import Event, SessionDown, SessionUp, UeOutput
from .timers import MAX_RETRANSMISSIONS

if TYPE_CHECKING:
    from .machine import UeNas

__all__ = ["SessionState", "SmPending", "dl_nas_transport", "establish", "release", "timer_expired"]

_SM = nas.SmMessageType


@dataclass
class SessionState:
    """A PDU session of the UE: ``state`` "pending" | "active" | "releasing"."""

    psi: int
    ipv4: str | None = None
    state: str = "pending"
    dnn: str | None = None
    snssai: tuple[int, int | None] | None = None


@dataclass
class SmPending:
    """A UE-requested 5GSM procedure in progress: its PTI, kind and the UL NAS TRANSPORT to resend."""

    pti: int
    kind: str  # "establish" | "release"
    plain: bytes
    retx: int = 0


def _next_pti(ue: UeNas) -> int:
    pti = ue.next_pti
    ue.next_pti = 1 if pti >= 254 else pti + 1
    return pti


def _ul(ue: UeNas, out: list[UeOutput], plain: bytes) -> None:
    if ue.cm_state == "connected":
        security.send(ue, out, plain)
    else:
        from . import service

        service.send_via_service_request(ue, out, plain)


def establish(ue: UeNas, psi: int, dnn: str | None, snssai: tuple[int, int | None] | None,
              out: list[UeOutput]) -> None:
    """UE-requested PDU session establishment (6.4.1.2)."""
    if ue.state != "registered":
        out.append(Event("ue.session_refused", {"psi": psi, "reason": f"5gmm-{ue.state}"}))
        return
    if not 1 <= psi <= 15:
        raise ValueError(f"PDU session identity must be 1..15, got {psi}")
    if psi in ue.sm_pending or (psi in ue.sessions and ue.sessions[psi].state == "active"):
        out.append(Event("ue.session_refused", {"psi": psi, "reason": "exists"}))
        return
    pti = _next_pti(ue)
    dnn = dnn if dnn is not None else ue.config.default_dnn
    req = nas.PduSessionEstablishmentRequest(pdu_session_id=psi, pti=pti, pdu_session_type=nas.PduSessionType.IPV4,
                                             ssc_mode=nas.SscMode.SSC_MODE_1)
    rt = nas.RequestType.INITIAL_EMERGENCY_REQUEST if ue.emergency_registered else nas.RequestType.INITIAL_REQUEST
    plain = ue.codec.ul_nas_transport(req.encode(), psi, rt, snssai, dnn)
    ue.sessions[psi] = SessionState(psi, None, "pending", dnn, snssai)
    ue.sm_pending[psi] = SmPending(pti, "establish", plain)
    _ul(ue, out, plain)
    ue.timers.start(out, f"T3580:{psi}")
    out.append(Event("ue.session_request", {"psi": psi, "pti": pti, "dnn": dnn}))


def release(ue: UeNas, psi: int, out: list[UeOutput]) -> None:
    """UE-requested PDU session release (6.4.3.2)."""
    s = ue.sessions.get(psi)
    if s is None or s.state != "active" or ue.state != "registered":
        out.append(Event("ue.session_release_refused", {"psi": psi, "reason": "no-active-session"}))
        return
    pti = _next_pti(ue)
    req = nas.PduSessionReleaseRequest(pdu_session_id=psi, pti=pti,
                                       cause=nas.FiveGsmCause.REGULAR_DEACTIVATION)
    plain = ue.codec.ul_nas_transport(req.encode(), psi)
    s.state = "releasing"
    ue.sm_pending[psi] = SmPending(pti, "release", plain)
    _ul(ue, out, plain)
    ue.timers.start(out, f"T3582:{psi}")
    out.append(Event("ue.session_release_request", {"psi": psi, "pti": pti}))


def timer_expired(ue: UeNas, timer_id: str, out: list[UeOutput]) -> None:
    """T3580 / T3582 expiry (6.4.1.6 a, 6.4.3.5 a)."""
    name, _, sid = timer_id.partition(":")
    try:
        psi = int(sid)
    except ValueError:
        return
    p = ue.sm_pending.get(psi)
    if p is None:
        return
    p.retx += 1
    if p.retx <= MAX_RETRANSMISSIONS and ue.state == "registered":
        ue.counters["retransmissions"] += 1
        _ul(ue, out, p.plain)
        ue.timers.start(out, timer_id)
        out.append(Event("ue.sm_retransmission", {"psi": psi, "timer": name, "count": p.retx}))
        return
    del ue.sm_pending[psi]
    ue.counters["sm_aborted"] += 1
    out.append(Event("ue.sm_aborted", {"psi": psi, "timer": name, "procedure": p.kind}))
    _session_gone(ue, psi, out, f"{name}-expiry")


def _session_gone(ue: UeNas, psi: int, out: list[UeOutput], reason: str) -> None:
    ue.sessions.pop(psi, None)
    out.append(SessionDown(psi))
    out.append(Event("ue.session_down", {"psi": psi, "reason": reason}))


def _stop(ue: UeNas, psi: int, out: list[UeOutput]) -> None:
    ue.timers.stop(out, f"T3580:{psi}")
    ue.timers.stop(out, f"T3582:{psi}")


def dl_nas_transport(ue: UeNas, msg: nas.DlNasTransport, out: list[UeOutput]) -> None:
    """DL NAS TRANSPORT (5.4.5.3): hand the N1 SM information to 5GSM."""
    if int(msg.payload_container_type) != nas.PayloadContainerType.N1_SM_INFORMATION:
        ue.counters["nas_unexpected"] += 1
        out.append(Event("ue.nas_dropped", {"reason": "unsupported-payload",
                                            "container": int(msg.payload_container_type)}))
        return
    if msg.cause is not None:  # 5.4.5.3.3: the AMF could not forward our 5GSM message
        psi = msg.pdu_session_id
        p = ue.sm_pending.pop(psi, None) if psi is not None else None
        out.append(Event("ue.sm_not_forwarded", {"psi": psi, "cause": int(msg.cause)}))
        if p is not None and psi is not None:
            _stop(ue, psi, out)
            if p.kind == "establish":
                _session_gone(ue, psi, out, f"5gmm-cause-{int(msg.cause)}")
        return
    try:
        sm = decode_dl(msg.payload_container)
    except DecodeError as exc:
        ue.counters["nas_malformed"] += 1
        out.append(Event("ue.nas_malformed", {"error": str(exc)[:120], "sm": True}))
        return
    if not isinstance(sm, nas.SmMessage):
        ue.counters["nas_malformed"] += 1
        out.append(Event("ue.nas_malformed", {"error": "N1 SM information is not a 5GSM message"}))
        return
    psi = sm.pdu_session_id
    p = ue.sm_pending.get(psi)
    if isinstance(sm, nas.PduSessionEstablishmentAccept | nas.PduSessionEstablishmentReject):
        if p is None or p.kind != "establish" or p.pti != sm.pti:
            ue.counters["sm_unexpected"] += 1
            out.append(Event("ue.sm_dropped", {"psi": psi, "pti": sm.pti, "message": sm.name}))
            return
        del ue.sm_pending[psi]
        _stop(ue, psi, out)
        if isinstance(sm, nas.PduSessionEstablishmentAccept):
            ipv4 = sm.pdu_address.ipv4 if sm.pdu_address is not None else None
            s = ue.sessions.get(psi) or SessionState(psi)
            s.ipv4, s.state = ipv4, "active"
            if sm.dnn is not None:
                s.dnn = sm.dnn
            ue.sessions[psi] = s
            ue.counters["sessions_up"] += 1
            out.append(SessionUp(psi, ipv4 or ""))
            out.append(Event("ue.session_up", {"psi": psi, "ipv4": ipv4, "dnn": s.dnn}))
        else:
            ue.counters["session_rejects"] += 1
            out.append(Event("ue.session_reject", {"psi": psi, "cause": int(sm.cause)}))
            _session_gone(ue, psi, out, f"reject-{int(sm.cause)}")
        return
    if isinstance(sm, nas.PduSessionReleaseCommand):
        if p is not None:
            del ue.sm_pending[psi]
            _stop(ue, psi, out)
        done = nas.PduSessionReleaseComplete(pdu_session_id=psi, pti=sm.pti)
        security.send(ue, out, ue.codec.ul_nas_transport(done.encode(), psi))
        if psi in ue.sessions:
            initiator = "ue" if p is not None and p.kind == "release" else "network"
            ue.sessions.pop(psi)
            out.append(SessionDown(psi))
            out.append(Event("ue.session_down", {"psi": psi, "reason": f"released-by-{initiator}",
                                                 "cause": int(sm.cause)}))
        return
    if isinstance(sm, nas.PduSessionReleaseReject):
        if p is None or p.kind != "release" or p.pti != sm.pti:
            ue.counters["sm_unexpected"] += 1
            out.append(Event("ue.sm_dropped", {"psi": psi, "pti": sm.pti, "message": sm.name}))
            return
        del ue.sm_pending[psi]
        _stop(ue, psi, out)
        s = ue.sessions.get(psi)
        if s is not None:
            s.state = "active"
        out.append(Event("ue.session_release_reject", {"psi": psi, "cause": int(sm.cause)}))
        return
    if isinstance(sm, nas.FiveGsmStatus):
        out.append(Event("ue.5gsm_status", {"psi": psi, "pti": sm.pti, "cause": int(sm.cause)}))
        if p is not None and p.pti == sm.pti:
            del ue.sm_pending[psi]
            _stop(ue, psi, out)
            if p.kind == "establish":
                _session_gone(ue, psi, out, f"5gsm-status-{int(sm.cause)}")
        return
    ue.counters["sm_unexpected"] += 1
    out.append(Event("ue.sm_dropped", {"psi": psi, "message": sm.name}))
