"""Primary authentication, UE side (TS 24.501 5.4.1.3; TS 33.501 6.1.3.2).

AUTHENTICATION REQUEST: the USIM checks AUTN (:meth:`testbed.ue.usim.Usim.authenticate`):

* MAC failure -> AUTHENTICATION FAILURE #20 "MAC failure" (5.4.1.3.6 a), T3520;
* SQN not fresh -> #21 "synch failure" with AUTS (5.4.1.3.6 b), T3520;
* AMF separation bit 0 -> #26 "non-5G authentication unacceptable" (5.4.1.3.6 c), T3520;
* success -> AUTHENTICATION RESPONSE with RES* (5.4.1.3.4); the KAMF (TS 33.501 A.7, with ABBA)
  waits for the SECURITY MODE COMMAND that takes it into use. RAND and RES* are kept: a request
  with the same RAND is answered with the stored RES* without running the USIM again (5.4.1.3.4).

An ngKSI already in use by the current context is refused with #71 "ngKSI already in use".
AUTHENTICATION REJECT (5.4.1.3.5): the USIM is invalid for 5GS until switched off; 5G-GUTI,
TAI list and ngKSI are deleted; 5GMM-DEREGISTERED. T3520 expiry (5.4.1.3.7 c): the UE deems the
network to have failed the authentication check and releases the connection locally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.crypto.aka import AkaSuccess, SyncFailure
from testbed.protocols import nas

from . import security
from .outputs import Event, RegistrationFailed, ReleaseConnection, SessionDown, UeOutput

if TYPE_CHECKING:
    from .machine import UeNas

__all__ = ["reject", "request", "t3520_expired"]

_C = nas.FiveGmmCause


def request(ue: UeNas, msg: nas.AuthenticationRequest, out: list[UeOutput]) -> None:
    """AUTHENTICATION REQUEST (TS 24.501 5.4.1.3.2-5.4.1.3.4, 5.4.1.3.6)."""
    ue.timers.stop(out, "T3520")
    if msg.rand is None or msg.autn is None:  # EAP-AKA' is not supported by this UE
        ue.counters["nas_unexpected"] += 1
        out.append(Event("ue.nas_dropped", {"reason": "eap-authentication-unsupported"}))
        return
    ksi = msg.ngksi.ksi
    if ue.sec is not None and ue.sec.ngksi.ksi == ksi and ue.sec_active and not msg.ngksi.no_key:
        _failure(ue, out, _C.NGKSI_ALREADY_IN_USE, None)
        return
    if ue.last_auth is not None and ue.last_auth[0] == msg.rand:
        res_star = ue.last_auth[1]
        out.append(Event("ue.auth_response", {"repeated": True}))
        security.send(ue, out, ue.codec.authentication_response(res_star))
        return
    r = ue.usim.authenticate(msg.rand, msg.autn, ue.sn_name)
    if isinstance(r, AkaSuccess):
        ue.auth_failures = 0
        ue.pending_kamf = r.kamf(ue.usim.supi.value, msg.abba)
        ue.pending_ngksi = ksi
        res_star = r.res_star
        if ue.knobs.wrong_res:
            res_star = bytes(b ^ 0xFF for b in res_star)
        ue.last_auth = (msg.rand, res_star)
        security.send(ue, out, ue.codec.authentication_response(res_star))
        return
    _failure(ue, out, r.cause, r.auts if isinstance(r, SyncFailure) else None)


def _failure(ue: UeNas, out: list[UeOutput], cause: int, auts: bytes | None) -> None:
    ue.auth_failures += 1
    ue.counters["auth_failure"] += 1
    out.append(Event("ue.auth_failure", {"cause": int(cause), "consecutive": ue.auth_failures}))
    security.send(ue, out, nas.AuthenticationFailure(cause=cause, auts=auts).encode())
    ue.timers.start(out, "T3520")


def t3520_expired(ue: UeNas, out: list[UeOutput]) -> None:
    """5.4.1.3.7 c: the network failed the authentication check: release locally."""
    out.append(Event("ue.network_auth_failed", {"consecutive": ue.auth_failures}))
    ue.auth_failures = 0
    out.append(ReleaseConnection("T3520"))
    ue.local_release(out)


def reject(ue: UeNas, out: list[UeOutput]) -> None:
    """AUTHENTICATION REJECT (TS 24.501 5.4.1.3.5)."""
    ue.timers.stop_all(out)
    ue.counters["auth_reject"] += 1
    ue.usim_invalid = True
    ue.update_status = "U3"
    ue.forget_registration_data()
    for psi in list(ue.sessions):
        del ue.sessions[psi]
        out.append(SessionDown(psi))
    ue.sm_pending.clear()
    ue.state = "deregistered"
    ue.substate = "no-usim"
    ue.reject_cause = None
    out.append(Event("ue.auth_reject", {}))
    out.append(RegistrationFailed(0, "authentication-reject"))
