"""Service request, UE side (TS 24.501 5.6.1), used when 5GSM signalling is pending in 5GMM-IDLE.

SERVICE REQUEST (service type "signalling", ngKSI, 5G-S-TMSI) is an initial NAS message: only
cleartext IEs, integrity protected with the current context (4.4.6). T3517 (15 s) runs until
SERVICE ACCEPT (the queued uplink 5GSM messages then go up) or SERVICE REJECT (5.6.1.5: #76 is
handled as for registration; #9/#10 lead to an initial registration; the queue is dropped). On
T3517 expiry the procedure is aborted and the connection released locally (5.6.1.7 c).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.protocols import nas

from . import security
from .outputs import Event, ReleaseConnection, SendNas, UeOutput

if TYPE_CHECKING:
    from .machine import UeNas

__all__ = ["accept", "reject", "send_via_service_request", "t3517_expired"]

_SHT = nas.SecurityHeaderType
_C = nas.FiveGmmCause


def send_via_service_request(ue: UeNas, out: list[UeOutput], plain: bytes) -> None:
    """Queue ``plain`` and, unless one is running, start a service request (5.6.1.2)."""
    ue.ul_queue.append(plain)
    if "T3517" in ue.timers.running:
        return
    if ue.guti is None or ue.sec is None:
        ue.ul_queue.clear()
        out.append(Event("ue.service_request_impossible", {"reason": "no-5g-guti-or-context"}))
        return
    msg = nas.ServiceRequest(service_type=nas.ServiceType.SIGNALLING, ngksi=ue.sec.ngksi, s_tmsi=ue.guti.s_tmsi)
    ue.cm_state = "connected"
    ue.sec_active = False
    ue.timers.stop(out, "T3512")
    wire = ue.sec.protect(msg.encode(), _SHT.INTEGRITY_PROTECTED)
    ue.last_protected_ul = wire
    ue.counters["nas_tx"] += 1
    ue.counters["service_requests"] += 1
    out.append(SendNas(wire, True, "mo-Signalling"))
    ue.timers.start(out, "T3517")
    out.append(Event("ue.service_request", {"queued": len(ue.ul_queue)}))


def accept(ue: UeNas, out: list[UeOutput]) -> None:
    """SERVICE ACCEPT (5.6.1.4): the queued 5GSM messages go up."""
    if "T3517" not in ue.timers.running:
        ue.counters["nas_unexpected"] += 1
        out.append(Event("ue.nas_dropped", {"reason": "unexpected", "message": "ServiceAccept"}))
        return
    ue.timers.stop(out, "T3517")
    queued, ue.ul_queue = ue.ul_queue, []
    for plain in queued:
        security.send(ue, out, plain)
    out.append(Event("ue.service_accept", {"sent": len(queued)}))


def reject(ue: UeNas, msg: nas.ServiceReject, protected: bool, out: list[UeOutput]) -> None:
    """SERVICE REJECT (5.6.1.5)."""
    cause = int(msg.cause)
    if cause == _C.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY and not protected:
        ue.counters["nas_unprotected_dropped"] += 1
        out.append(Event("ue.nas_dropped", {"reason": "unprotected-cag-reject", "cause": cause}))
        return
    ue.timers.stop(out, "T3517")
    ue.ul_queue.clear()
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
    out.append(Event("ue.service_request_timeout", {}))
    out.append(ReleaseConnection("T3517"))
    ue.local_release(out)
