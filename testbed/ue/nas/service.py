"""Service request, UE side (TS 24.501 5.6.1, 5.6.2.2.1).

A registered UE in 5GMM-IDLE sends SERVICE REQUEST when

* 5GSM signalling is pending (service type "signalling", :func:`send_via_service_request`): the
  queued uplink 5GSM messages go up after SERVICE ACCEPT;
* uplink user data is pending on a PDU session (service type "data", :func:`uplink_data`, 5.6.1.1
  case b): the Uplink data status IE names the PDU sessions, the RRC connection is set up with
  establishment cause "mo-Data" (Annex D); further data for the same or another session while the
  request runs only joins it (no second request);
* it is paged with its 5G-S-TMSI (service type "mobile terminated services", :func:`paging`,
  5.6.2.2.1; cause "mt-Access"). A UE that is not registered, is connected, or whose service
  request already runs ignores the paging.

The message is an initial NAS message (4.4.6): service type, ngKSI and 5G-S-TMSI in clear, the
complete message (with Uplink data status and PDU session status, non-cleartext IEs) ciphered in
the NAS message container, the whole integrity protected with the current context. T3517 (15 s) runs
until SERVICE ACCEPT or SERVICE REJECT.

SERVICE ACCEPT (5.6.1.4): PDU sessions the network reports inactive in its PDU session status are
released locally (5.6.1.4.1); the PDU session reactivation result (bit set = user plane not
re-established, 9.11.3.42) decides which sessions with pending uplink data may send it:
:class:`UserPlaneResult` tells the runner which held packets to send and which to drop. SERVICE
REJECT (5.6.1.5): #76 is handled as for registration; #9/#10 lead to an initial registration; the
queues are dropped. On T3517 expiry the procedure is aborted and the connection released locally
(5.6.1.7 c). Held uplink data is always dropped when the connection ends without an accept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.crypto.nas_algorithms import DIRECTION_UPLINK, nea
from testbed.protocols import nas

from . import security
from .outputs import Event, ReleaseConnection, SendNas, SessionDown, UeOutput, UserPlaneResult

if TYPE_CHECKING:
    from .machine import UeNas

__all__ = ["accept", "drop_pending", "paging", "reject", "send_via_service_request", "t3517_expired", "uplink_data"]

_SHT = nas.SecurityHeaderType
_C = nas.FiveGmmCause
_ST = nas.ServiceType
_CAUSES = {_ST.SIGNALLING: "mo-Signalling", _ST.DATA: "mo-Data", _ST.MOBILE_TERMINATED_SERVICES: "mt-Access"}
_NAMES = {_ST.SIGNALLING: "signalling", _ST.DATA: "data", _ST.MOBILE_TERMINATED_SERVICES: "mobile-terminated"}


def send_via_service_request(ue: UeNas, out: list[UeOutput], plain: bytes) -> None:
    """Queue ``plain`` (5GSM) and, unless one is running, start a service request (5.6.1.2)."""
    ue.ul_queue.append(plain)
    if "T3517" in ue.timers.running:
        return
    _start(ue, out, _ST.SIGNALLING)


def uplink_data(ue: UeNas, psi: int, out: list[UeOutput]) -> bool:
    """Uplink user data for PDU session ``psi`` that cannot go now (5GMM-IDLE, or a service request
    runs): service request "data" with the Uplink data status (5.6.1.2). True if the data may wait
    for the user plane (``psi`` is then in ``ue.ul_data_pending``), False if it must be dropped (no
    such active session, not registered, a connection without a service request, ...)."""
    s = ue.sessions.get(psi)
    if s is None or s.state != "active" or ue.state != "registered":
        out.append(Event("ue.uplink_data_dropped", {"psi": psi, "reason": "no-active-session" if s is None or
                                                    s.state != "active" else f"5gmm-{ue.state}"}))
        return False
    if ue.cm_state == "connected":
        if "T3517" in ue.timers.running:  # a service request runs: the data waits for its accept
            ue.ul_data_pending.add(psi)
            return True
        out.append(Event("ue.uplink_data_dropped", {"psi": psi, "reason": "connected-without-service-request"}))
        return False
    ue.ul_data_pending.add(psi)
    return _start(ue, out, _ST.DATA)


def paging(ue: UeNas, out: list[UeOutput]) -> None:
    """Paged with our 5G-S-TMSI (5.6.2.2.1): service request "mobile terminated services"."""
    out.append(Event("ue.paged", {"state": ue.state, "cm_state": ue.cm_state}))
    ue.counters["pagings"] += 1
    if ue.state != "registered" or ue.cm_state != "idle" or "T3517" in ue.timers.running:
        ue.counters["pagings_ignored"] += 1
        out.append(Event("ue.paging_ignored", {"reason": f"5gmm-{ue.state}" if ue.state != "registered"
                                               else "service-request-running" if "T3517" in ue.timers.running
                                               else "connected"}))
        return
    _start(ue, out, _ST.MOBILE_TERMINATED_SERVICES)


def _start(ue: UeNas, out: list[UeOutput], service_type: int) -> bool:
    """SERVICE REQUEST (5.6.1.2) as an initial NAS message (4.4.6), T3517."""
    if ue.guti is None or ue.sec is None:
        ue.ul_queue.clear()
        drop_pending(ue, out, "no-5g-guti-or-context")
        out.append(Event("ue.service_request_impossible", {"reason": "no-5g-guti-or-context"}))
        return False
    sec = ue.sec
    active = frozenset(p for p, s in ue.sessions.items() if s.state == "active")
    full = nas.ServiceRequest(service_type=service_type, ngksi=sec.ngksi, s_tmsi=ue.guti.s_tmsi,
                              uplink_data_status=frozenset(ue.ul_data_pending) or None,
                              pdu_session_status=active)
    clear = nas.ServiceRequest(service_type=service_type, ngksi=sec.ngksi, s_tmsi=ue.guti.s_tmsi)
    plain = full.encode()
    container = nea(sec.nea, sec.k_nas_enc, sec.send_count, sec.bearer, DIRECTION_UPLINK, plain) if sec.nea else plain
    ue.cm_state = "connected"
    ue.sec_active = False
    ue.timers.stop(out, "T3512")
    wire = sec.protect(ue.codec.with_container(clear.encode(), container), _SHT.INTEGRITY_PROTECTED)
    ue.last_protected_ul = wire
    ue.service_type = int(service_type)
    ue.counters["nas_tx"] += 1
    ue.counters["service_requests"] += 1
    out.append(SendNas(wire, True, _CAUSES.get(service_type, "mo-Signalling")))
    ue.timers.start(out, "T3517")
    out.append(Event("ue.service_request", {"service_type": _NAMES.get(service_type, int(service_type)),
                                            "queued": len(ue.ul_queue),
                                            "uplink_data_status": sorted(ue.ul_data_pending),
                                            "pdu_session_status": sorted(active)}))
    return True


def drop_pending(ue: UeNas, out: list[UeOutput], reason: str) -> None:
    """The held uplink data cannot go: tell the runner to drop it."""
    if not ue.ul_data_pending:
        return
    failed = tuple(sorted(ue.ul_data_pending))
    ue.ul_data_pending.clear()
    out.append(UserPlaneResult((), failed))
    out.append(Event("ue.uplink_data_dropped", {"psis": list(failed), "reason": reason}))


def accept(ue: UeNas, msg: nas.ServiceAccept, out: list[UeOutput]) -> None:
    """SERVICE ACCEPT (5.6.1.4)."""
    if "T3517" not in ue.timers.running:
        ue.counters["nas_unexpected"] += 1
        out.append(Event("ue.nas_dropped", {"reason": "unexpected", "message": "ServiceAccept"}))
        return
    ue.timers.stop(out, "T3517")
    released: list[int] = []
    if msg.pdu_session_status is not None:  # 5.6.1.4.1: sessions the network no longer has go locally
        for psi in [p for p, s in ue.sessions.items() if s.state == "active" and p not in msg.pdu_session_status]:
            del ue.sessions[psi]
            released.append(psi)
            out.append(SessionDown(psi))
    failed = set(msg.pdu_session_reactivation_result or ()) | set(released)
    pending = ue.ul_data_pending
    ue.ul_data_pending = set()
    ok = tuple(sorted(p for p in pending if p not in failed and p in ue.sessions))
    bad = tuple(sorted(p for p in pending if p not in ok))
    if pending:
        out.append(UserPlaneResult(ok, bad))
    queued, ue.ul_queue = ue.ul_queue, []
    for plain in queued:
        security.send(ue, out, plain)
    out.append(Event("ue.service_accept", {"sent": len(queued), "service_type": _NAMES.get(ue.service_type,
                                                                                          ue.service_type),
                                           "reactivated": list(ok), "not_reactivated": sorted(
                                               msg.pdu_session_reactivation_result or ()),
                                           "released_locally": released}))


def reject(ue: UeNas, msg: nas.ServiceReject, protected: bool, out: list[UeOutput]) -> None:
    """SERVICE REJECT (5.6.1.5)."""
    cause = int(msg.cause)
    if cause == _C.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY and not protected:
        ue.counters["nas_unprotected_dropped"] += 1
        out.append(Event("ue.nas_dropped", {"reason": "unprotected-cag-reject", "cause": cause}))
        return
    ue.timers.stop(out, "T3517")
    ue.ul_queue.clear()
    drop_pending(ue, out, f"service-reject-{cause}")
    ue.counters["service_rejects"] += 1
    out.append(Event("ue.service_reject", {"cause": cause}))
    if cause == _C.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY:
        cell_cags = ue.cell[2] if ue.cell is not None else ()
        if msg.cag_information_list is not None:
            ue.apply_cag_list(msg.cag_information_list)
        ue.cag.reject_cell(ue.cell_plmn, cell_cags)
        ue.sync_usim_cag()
        out.append(Event("ue.cag_rejected", {"cag_ids": list(cell_cags), "cag_cell": bool(cell_cags),
                                             "procedure": "service"}))
    elif cause in (_C.UE_IDENTITY_CANNOT_BE_DERIVED, _C.IMPLICITLY_DEREGISTERED):
        ue.forget_registration_data()
        ue.state, ue.substate = "deregistered", "normal-service"
        ue.pending_registration = "initial"
    elif cause in (3, 6, 7):
        ue.usim_invalid = True
        ue.forget_registration_data()
        ue.state, ue.substate = "deregistered", "no-usim"


def t3517_expired(ue: UeNas, out: list[UeOutput]) -> None:
    """5.6.1.7 c: abort the service request and release the connection locally."""
    ue.ul_queue.clear()
    drop_pending(ue, out, "T3517")
    out.append(Event("ue.service_request_timeout", {}))
    out.append(ReleaseConnection("T3517"))
    ue.local_release(out)
