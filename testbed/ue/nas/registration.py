"""Registration, UE side (TS 24.501 5.5.1): initial (5.5.1.2), mobility and periodic registration
updating (5.5.1.3) and emergency registration.

REGISTRATION REQUEST (5.5.1.2.2, 5.5.1.3.2):

* identity: the 5G-GUTI when the UE has one and a valid 5G NAS security context, else a SUCI
  (a fresh ECIES ephemeral key every time, TS 33.501 6.12.2); for an emergency registration with
  an invalid USIM the IMEI;
* without a valid context the message holds only the cleartext IEs and is sent plain; the
  complete message goes later in SECURITY MODE COMPLETE (4.4.6);
* with a valid context it is integrity protected (header type 1) and carries the complete message,
  ciphered with the NAS COUNT of the message, in the NAS message container (4.4.6);
* in 5GMM-CONNECTED with security active it is an ordinary protected message.

T3510 runs from sending until REGISTRATION ACCEPT/REJECT. REGISTRATION ACCEPT (5.5.1.2.4,
5.5.1.3.4): the UE stores 5G-GUTI, TAI list, allowed NSSAI, T3512 and the CAG information list
(which replaces the stored one and the USIM's CAG data), releases locally the PDU sessions the
network no longer has, and answers REGISTRATION COMPLETE when a new 5G-GUTI was assigned (again
for a retransmitted ACCEPT). REGISTRATION REJECT (5.5.1.2.5, 5.5.1.3.5) is handled per cause:

* #3, #6, #7: the USIM is invalid for 5GS until switched off; 5G-GUTI, TAI list, ngKSI deleted;
* #9, #10: 5G-GUTI and ngKSI deleted; an initial registration follows (with the SUCI) when the
  refused identity was not already a SUCI;
* #11 / #12, #13, #15: the PLMN / the TA becomes forbidden, no automatic retry;
* #22: back-off T3346 (the network's value, or the default), retry after it;
* #62, #27: no automatic retry;
* #76: the CAG information list in the message replaces the stored one; in a CAG cell its CAG IDs
  leave the usable Allowed CAG list, in a non-CAG cell the UE becomes CAG-only; the cell is no
  longer allowed (:meth:`UeNas.cell_allowed`), no retry there. A #76 received without integrity
  protection is discarded (4.4.4.2);
* any other cause, T3510 expiry and a connection lost during the procedure are abnormal cases
  (5.5.1.2.7, 5.5.1.3.7): the registration attempt counter is incremented; below 5 T3511 (10 s)
  restarts the registration, at 5 the 5G-GUTI/ngKSI are deleted (initial registration) and T3502
  (12 min) does. An emergency registration is never retried automatically.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.crypto.nas_algorithms import DIRECTION_UPLINK, nea
from testbed.protocols import nas

from . import security
from .outputs import Event, Registered, RegistrationFailed, ReleaseConnection, SendNas, SessionDown, UeOutput
from .timers import MAX_ATTEMPTS

if TYPE_CHECKING:
    from .machine import UeNas

__all__ = ["REG_TYPES", "accept", "attempt_failed", "reject", "retry", "start", "t3510_expired"]

REG_TYPES = {"initial": nas.RegistrationType.INITIAL, "mobility": nas.RegistrationType.MOBILITY_UPDATING,
             "periodic": nas.RegistrationType.PERIODIC_UPDATING, "emergency": nas.RegistrationType.EMERGENCY}
_C = nas.FiveGmmCause
_SHT = nas.SecurityHeaderType
_USIM_INVALID = (3, 6, 7)


def start(ue: UeNas, reg_type: str, out: list[UeOutput]) -> None:
    """Send REGISTRATION REQUEST of ``reg_type`` and start T3510 (5.5.1.2.2 / 5.5.1.3.2)."""
    rt = REG_TYPES[reg_type]
    has_ctx = ue.guti is not None and ue.sec is not None and ue.kamf is not None and not ue.usim_invalid
    if rt in (2, 3) and not has_ctx:
        reg_type, rt = "initial", nas.RegistrationType.INITIAL  # nothing to update: register afresh
    if rt == 1:  # an initial registration releases the PDU sessions locally (the network does too)
        for psi in list(ue.sessions):
            del ue.sessions[psi]
            out.append(SessionDown(psi))
        ue.timers.stop_all(out, "T358")
        ue.sm_pending.clear()
    emergency = rt == 4
    if emergency and ue.usim_invalid:
        ident: nas.MobileIdentity = nas.Pei(ue.usim.imei)
        kind, scheme = "imei", None
    elif has_ctx:
        ident = ue.guti  # type: ignore[assignment]
        kind, scheme = "guti", None
    else:
        forced = 0 if ue.knobs.null_scheme else None
        ident = ue.usim.suci(forced)
        kind, scheme = "suci", ident.scheme
    cap = ue.capability
    ue.sent_capability = cap
    sessions = frozenset(p for p, s in ue.sessions.items() if s.state == "active") if rt in (2, 3) else None
    ngksi = ue.sec.ngksi if (kind == "guti" and ue.sec is not None) else nas.NgKsi()
    nssai = ue.requested_nssai if not emergency else None
    full, clear = ue.codec.registration_request(rt, ngksi, ident, cap, nssai, sessions or None,
                                                mm_capability=rt != 3)
    ue.full_request = full
    ue.reg_type = reg_type
    ue.reg_identity = kind
    ue.state = "registered-initiated"
    ue.substate = ""
    if ue.attempt_counter == 0:
        ue.reg_started = ue.clock()
    ue.reject_cause = None
    ue.counters["registration_attempts"] += 1
    ue.timers.stop(out, "T3511")
    ue.timers.stop(out, "T3502")
    ue.timers.stop(out, "T3512")
    cause = "emergency" if emergency else "mo-Signalling"
    if ue.cm_state == "connected":
        if ue.sec_active and ue.sec is not None:
            security.send(ue, out, full)
        else:
            ue.counters["nas_tx"] += 1
            out.append(SendNas(clear, False))
    else:
        ue.sec_active = False
        ue.cm_state = "connected"
        if kind == "guti" and ue.sec is not None:
            sec = ue.sec
            container = nea(sec.nea, sec.k_nas_enc, sec.send_count, sec.bearer, DIRECTION_UPLINK, full) \
                if sec.nea else full
            wire = sec.protect(ue.codec.with_container(clear, container), _SHT.INTEGRITY_PROTECTED)
            ue.last_protected_ul = wire
        else:
            wire = clear
        ue.counters["nas_tx"] += 1
        out.append(SendNas(wire, True, cause))
    ue.timers.start(out, "T3510")
    out.append(Event("ue.registration_request", {"registration_type": reg_type, "identity": kind,
                                                 "suci_scheme": scheme, "attempt": ue.attempt_counter + 1}))


def accept(ue: UeNas, msg: nas.RegistrationAccept, out: list[UeOutput]) -> None:
    """REGISTRATION ACCEPT (5.5.1.2.4, 5.5.1.3.4)."""
    if ue.state != "registered-initiated":
        if ue.state == "registered" and msg.guti is not None and msg.guti == ue.guti:
            # the network retransmitted the ACCEPT (T3550): our COMPLETE was lost
            ue.counters["registration_complete_repeated"] += 1
            security.send(ue, out, ue.codec.REGISTRATION_COMPLETE)
            return
        ue.counters["nas_unexpected"] += 1
        out.append(Event("ue.nas_dropped", {"reason": "unexpected", "message": "RegistrationAccept",
                                            "state": ue.state}))
        return
    ue.timers.stop(out, "T3510")
    ue.attempt_counter = 0
    if msg.guti is not None:
        ue.guti = msg.guti
    if msg.tai_list:
        ue.tai_list = frozenset((t.plmn.mcc, t.plmn.mnc, t.tac) for t in msg.tai_list)
    if msg.allowed_nssai:
        ue.allowed_nssai = tuple((s.sst, s.sd) for s in msg.allowed_nssai)
    if msg.t3512 is not None:
        ue.t3512 = msg.t3512.seconds
    if msg.cag_information_list is not None:
        ue.apply_cag_list(msg.cag_information_list)
    emergency = bool(msg.result.emergency_registered)
    ue.emergency_registered = emergency
    if msg.pdu_session_status is not None and ue.reg_type in ("mobility", "periodic"):
        for psi in [p for p in ue.sessions if p not in msg.pdu_session_status]:
            del ue.sessions[psi]
            out.append(SessionDown(psi))
            out.append(Event("ue.session_down", {"psi": psi, "reason": "not-in-network-status"}))
    ue.state = "registered"
    ue.substate = "normal-service"
    ue.update_status = "U1"
    ue.full_request = None
    ue.counters["registrations"] += 1
    if msg.guti is not None:
        security.send(ue, out, ue.codec.REGISTRATION_COMPLETE)
    guti = ue.guti_str or ""
    out.append(Registered(guti, ue.allowed_nssai, ue.cag.as_tuple(), emergency))
    out.append(Event("ue.registered", {"registration_type": ue.reg_type, "emergency": emergency,
                                       "cag_ids": sorted(ue.cag.usable(ue.serving_plmn)),
                                       "duration_ms": round((ue.clock() - ue.reg_started) * 1000, 3)}))


def reject(ue: UeNas, msg: nas.RegistrationReject, protected: bool, out: list[UeOutput]) -> None:
    """REGISTRATION REJECT (5.5.1.2.5, 5.5.1.3.5)."""
    cause = int(msg.cause)
    if cause == _C.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY and not protected:
        ue.counters["nas_unprotected_dropped"] += 1
        out.append(Event("ue.nas_dropped", {"reason": "unprotected-cag-reject", "cause": cause}))
        return
    if ue.state != "registered-initiated":
        ue.counters["nas_unexpected"] += 1
        out.append(Event("ue.nas_dropped", {"reason": "unexpected", "message": "RegistrationReject",
                                            "state": ue.state}))
        return
    ue.timers.stop(out, "T3510")
    reg_type = ue.reg_type
    ue.reject_cause = cause
    ue.full_request = None
    ue.counters["registration_rejects"] += 1
    out.append(Event("ue.registration_reject", {"cause": cause, "registration_type": reg_type,
                                                "protected": protected}))
    plmn = ue.cell_plmn
    if reg_type == "emergency":
        _deregistered(ue, "limited-service")
        out.append(RegistrationFailed(cause, "emergency-registration-rejected"))
        return
    if cause in _USIM_INVALID:
        ue.usim_invalid = True
        ue.update_status = "U3"
        ue.forget_registration_data()
        _release_sessions(ue, out)
        _deregistered(ue, "no-usim")
        out.append(RegistrationFailed(cause, "usim-invalid"))
    elif cause in (_C.UE_IDENTITY_CANNOT_BE_DERIVED, _C.IMPLICITLY_DEREGISTERED):
        ue.update_status = "U2"
        ue.forget_registration_data()
        _release_sessions(ue, out)
        _deregistered(ue, "normal-service")
        if ue.reg_identity != "suci":
            ue.pending_registration = "initial"  # once the network releases the connection
        out.append(RegistrationFailed(cause, "identity"))
    elif cause == _C.PLMN_NOT_ALLOWED:
        ue.forbidden_plmns.add(plmn)
        ue.update_status = "U3"
        ue.attempt_counter = 0
        ue.forget_registration_data()
        _release_sessions(ue, out)
        _deregistered(ue, "plmn-search")
        out.append(RegistrationFailed(cause, "plmn-not-allowed"))
    elif cause in (_C.TRACKING_AREA_NOT_ALLOWED, _C.ROAMING_NOT_ALLOWED_IN_THIS_TRACKING_AREA,
                   _C.NO_SUITABLE_CELLS_IN_TRACKING_AREA):
        ue.forbidden_tais.add(ue.cell_tai)
        ue.attempt_counter = 0
        if cause != _C.NO_SUITABLE_CELLS_IN_TRACKING_AREA:
            ue.update_status = "U3"
            ue.forget_registration_data()
            _release_sessions(ue, out)
        _deregistered(ue, "limited-service")
        out.append(RegistrationFailed(cause, "tracking-area-not-allowed"))
    elif cause == _C.CONGESTION:
        secs = msg.t3346.seconds if msg.t3346 is not None and not msg.t3346.deactivated else None
        ue.timers.start(out, "T3346", secs)
        _deregistered(ue, "attempting-registration") if reg_type == "initial" else _registered_attempting(ue)
        out.append(RegistrationFailed(cause, "congestion"))
    elif cause == _C.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY:
        cell_cags = ue.cell[2] if ue.cell is not None else ()
        if msg.cag_information_list is not None:
            ue.apply_cag_list(msg.cag_information_list)
        ue.cag.reject_cell(plmn, cell_cags)
        ue.sync_usim_cag()
        ue.update_status = "U3"
        ue.attempt_counter = 0
        _release_sessions(ue, out)
        _deregistered(ue, "limited-service")
        ue.counters["cag_rejects"] += 1
        out.append(Event("ue.cag_rejected", {"cag_ids": list(cell_cags), "cag_cell": bool(cell_cags),
                                             "cag_only": ue.cag.cag_only(plmn)}))
        out.append(RegistrationFailed(cause, "cag-not-allowed"))
    elif cause in (_C.N1_MODE_NOT_ALLOWED, _C.NO_NETWORK_SLICES_AVAILABLE):
        ue.attempt_counter = 0
        _deregistered(ue, "limited-service")
        out.append(RegistrationFailed(cause, "not-allowed"))
    else:
        attempt_failed(ue, out, f"reject-{cause}", cause)


def _release_sessions(ue: UeNas, out: list[UeOutput]) -> None:
    for psi in list(ue.sessions):
        del ue.sessions[psi]
        out.append(SessionDown(psi))
    ue.timers.stop_all(out, "T358")
    ue.sm_pending.clear()


def _deregistered(ue: UeNas, substate: str) -> None:
    ue.state = "deregistered"
    ue.substate = substate


def _registered_attempting(ue: UeNas) -> None:
    ue.state = "registered"
    ue.substate = "attempting-registration-update"


def attempt_failed(ue: UeNas, out: list[UeOutput], reason: str, cause: int = 0) -> None:
    """Abnormal cases (5.5.1.2.7, 5.5.1.3.7): registration attempt counter, T3511 or T3502."""
    reg_type = ue.reg_type
    ue.full_request = None
    if reg_type == "emergency":
        _deregistered(ue, "limited-service")
        out.append(RegistrationFailed(cause, reason))
        return
    ue.attempt_counter += 1
    if ue.attempt_counter < MAX_ATTEMPTS:
        timer = "T3511"
    else:
        timer = "T3502"
        ue.update_status = "U2"
        if reg_type == "initial":
            ue.forget_registration_data()
    if reg_type in ("mobility", "periodic") and ue.update_status == "U1":
        _registered_attempting(ue)
    else:
        _deregistered(ue, "attempting-registration")
    ue.timers.start(out, timer)
    ue.counters["registration_failures"] += 1
    out.append(Event("ue.registration_failed", {"reason": reason, "cause": cause, "attempt": ue.attempt_counter,
                                                "retry_timer": timer}))
    out.append(RegistrationFailed(cause, reason))


def t3510_expired(ue: UeNas, out: list[UeOutput]) -> None:
    """T3510 expiry (5.5.1.2.7 c, 5.5.1.3.7 c): abort, release the connection locally, retry later."""
    if ue.state != "registered-initiated":
        return
    out.append(ReleaseConnection("T3510"))
    ue.local_release(out)
    attempt_failed(ue, out, "T3510")


def retry(ue: UeNas, timer: str, out: list[UeOutput]) -> None:
    """T3511 / T3502 / T3346 expiry: start the registration again (5.5.1.2.7, 5.5.1.3.7)."""
    if ue.state == "registered" and ue.substate == "normal-service":
        return
    if ue.state not in ("deregistered", "registered") or ue.usim_invalid:
        return
    reg_type = ue.reg_type if ue.reg_type in ("initial", "mobility", "periodic") else "initial"
    out.append(Event("ue.registration_retry", {"timer": timer, "attempt": ue.attempt_counter + 1}))
    ue.start_registration(reg_type, out)
