"""De-registration, UE side (TS 24.501 5.5.2).

UE-originating (5.5.2.2): DEREGISTRATION REQUEST (access 3GPP, switch-off flag, ngKSI, 5G-GUTI);
as an initial NAS message it is integrity protected with the current context (not ciphered,
4.4.6/4.4.5), on a connection with security active it is protected normally. Switch-off: the
UE is de-registered as soon as the message is sent (no answer expected). Otherwise T3521 (15 s)
runs until DEREGISTRATION ACCEPT; the message is retransmitted on the first four expiries and
the UE de-registers locally on the fifth (5.5.2.2.6 b). A lost connection also ends it locally.

Network-initiated (5.5.2.3): the UE answers DEREGISTRATION ACCEPT, releases its PDU sessions
locally, handles the 5GMM cause (#3/#6/#7 USIM invalid, #11 PLMN forbidden, #76 CAG information
as for REGISTRATION REJECT) and, when "re-registration required" is indicated, starts an initial
registration once the connection is released (5.5.2.3.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.protocols import nas

from . import security
from .outputs import Deregistered, Event, SendNas, SessionDown, UeOutput
from .timers import MAX_RETRANSMISSIONS

if TYPE_CHECKING:
    from .machine import UeNas

__all__ = ["accept", "network_initiated", "start", "t3521_expired"]

_SHT = nas.SecurityHeaderType
_C = nas.FiveGmmCause


def _request(ue: UeNas, switch_off: bool) -> bytes:
    assert ue.sec is not None and ue.guti is not None
    return nas.DeregistrationRequestUeOriginating(
        deregistration_type=nas.DeregistrationType(nas.DeregistrationAccessType.THREEGPP, switch_off),
        ngksi=ue.sec.ngksi, mobile_identity=ue.guti).encode()


def _send(ue: UeNas, out: list[UeOutput], plain: bytes) -> None:
    if ue.cm_state == "connected":
        security.send(ue, out, plain)
        return
    assert ue.sec is not None
    ue.cm_state = "connected"
    ue.sec_active = False
    wire = ue.sec.protect(plain, _SHT.INTEGRITY_PROTECTED)
    ue.last_protected_ul = wire
    ue.counters["nas_tx"] += 1
    out.append(SendNas(wire, True, "mo-Signalling"))


def start(ue: UeNas, switch_off: bool, out: list[UeOutput]) -> None:
    """UE-originating de-registration (5.5.2.2.1)."""
    if ue.state in ("deregistered", "deregistered-initiated"):
        return
    ue.timers.stop_all(out, "T35")  # T3510/T3511/T3502/T3512/T3517/T3520 and 5GSM timers
    if ue.guti is None or ue.sec is None or ue.state == "registered-initiated" and ue.cm_state == "idle":
        _local(ue, out, "local")  # nothing the network could verify: de-register locally
        return
    plain = _request(ue, switch_off)
    _send(ue, out, plain)
    out.append(Event("ue.deregistration_request", {"switch_off": switch_off}))
    if switch_off:
        _local(ue, out, "switch-off")
        return
    ue.state = "deregistered-initiated"
    ue.dereg_plain = plain
    ue.dereg_retx = 0
    ue.timers.start(out, "T3521")


def accept(ue: UeNas, out: list[UeOutput]) -> None:
    """DEREGISTRATION ACCEPT (UE originating) (5.5.2.2.2)."""
    if ue.state != "deregistered-initiated":
        ue.counters["nas_unexpected"] += 1
        out.append(Event("ue.nas_dropped", {"reason": "unexpected", "message": "DeregistrationAccept",
                                            "state": ue.state}))
        return
    ue.timers.stop(out, "T3521")
    _local(ue, out, "ue-initiated")


def t3521_expired(ue: UeNas, out: list[UeOutput]) -> None:
    """5.5.2.2.6 b: retransmit on the first four expiries, de-register locally on the fifth."""
    if ue.state != "deregistered-initiated" or ue.dereg_plain is None:
        return
    ue.dereg_retx += 1
    if ue.dereg_retx > MAX_RETRANSMISSIONS:
        out.append(Event("ue.deregistration_timeout", {"expiries": ue.dereg_retx}))
        _local(ue, out, "T3521")
        return
    ue.counters["retransmissions"] += 1
    _send(ue, out, ue.dereg_plain)
    ue.timers.start(out, "T3521")


def _local(ue: UeNas, out: list[UeOutput], reason: str) -> None:
    for psi in list(ue.sessions):
        del ue.sessions[psi]
        out.append(SessionDown(psi))
    ue.sm_pending.clear()
    ue.timers.stop_all(out)
    ue.state = "deregistered"
    ue.substate = "normal-service" if not ue.usim_invalid else "no-usim"
    ue.dereg_plain = None
    ue.emergency_registered = False
    ue.counters["deregistrations"] += 1
    out.append(Deregistered(reason))
    out.append(Event("ue.deregistered", {"initiator": "ue", "reason": reason}))


def network_initiated(ue: UeNas, msg: nas.DeregistrationRequestUeTerminated, out: list[UeOutput]) -> None:
    """Network-initiated de-registration (5.5.2.3.2)."""
    cause = None if msg.cause is None else int(msg.cause)
    rereg = msg.deregistration_type.re_registration_required
    security.send(ue, out, nas.DeregistrationAcceptUeTerminated().encode())
    for psi in list(ue.sessions):
        del ue.sessions[psi]
        out.append(SessionDown(psi))
    ue.sm_pending.clear()
    ue.timers.stop_all(out)
    ue.state = "deregistered"
    ue.substate = "normal-service"
    ue.dereg_plain = None
    ue.emergency_registered = False
    ue.reject_cause = cause
    if cause in (3, 6, 7):
        ue.usim_invalid = True
        ue.update_status = "U3"
        ue.forget_registration_data()
        ue.substate = "no-usim"
        rereg = False
    elif cause == _C.PLMN_NOT_ALLOWED:
        ue.forbidden_plmns.add(ue.cell_plmn)
        ue.forget_registration_data()
        rereg = False
    elif cause == _C.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY:
        cell_cags = ue.cell[2] if ue.cell is not None else ()
        if msg.cag_information_list is not None:
            ue.apply_cag_list(msg.cag_information_list)
        ue.cag.reject_cell(ue.cell_plmn, cell_cags)
        ue.sync_usim_cag()
        ue.substate = "limited-service"
        rereg = False
        out.append(Event("ue.cag_rejected", {"cag_ids": list(cell_cags), "cag_cell": bool(cell_cags),
                                             "procedure": "deregistration"}))
    if rereg:
        ue.pending_registration = "initial"
    ue.counters["deregistrations"] += 1
    out.append(Deregistered("network"))
    out.append(Event("ue.deregistered", {"initiator": "network", "cause": cause, "re_registration": rereg}))
