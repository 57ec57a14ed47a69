"""The UE's NAS layer (TS 24.501): 5GMM and 5GSM state machines, sans-I/O.

:class:`UeNas` is one UE's NAS entity. The runner (the UE radio/RRC side, many UEs per process)
calls its entry points and carries out the :mod:`.outputs` they return: uplink NAS PDUs (in
RRCSetupComplete for an initial message, else ULInformationTransfer), NAS timers, user-plane
set-up and tear-down, events. Downlink NAS PDUs (DLInformationTransfer) come back through
:meth:`UeNas.nas_received`, timer expiries through :meth:`UeNas.timer_expired`, the end of the RRC
connection through :meth:`UeNas.connection_released`, the serving cell through
:meth:`UeNas.cell_changed`, paging with the UE's 5G-S-TMSI through :meth:`UeNas.paging_received`
and uplink user data that cannot go (5GMM-IDLE) through :meth:`UeNas.uplink_data`. Nothing the network sends can raise: malformed, unexpected or
unverifiable messages are dropped, counted in :attr:`UeNas.counters` and reported as events.

State (TS 24.501 5.1.3): ``state`` is the 5GMM main state ("deregistered",
"registered-initiated", "registered", "deregistered-initiated"), ``substate`` the substate
("normal-service", "attempting-registration", "limited-service", "no-usim", ...), ``cm_state``
the 5GMM-IDLE/5GMM-CONNECTED mode ("idle" | "connected"), ``update_status`` the 5GS update
status (U1 updated, U2 not updated, U3 roaming not allowed).

The procedures live in their own modules: :mod:`.registration`, :mod:`.deregistration`,
:mod:`.authentication`, :mod:`.security` (NAS protection and security mode control),
:mod:`.service`, :mod:`.sm` (5GSM), :mod:`.cag` (CAG information and cell rules),
:mod:`.timers`, :mod:`.codec`.
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable

from testbed.crypto import keys
from testbed.crypto.identity import Guti5g
from testbed.errors import DecodeError
from testbed.protocols import nas

from ..usim import Usim
from . import authentication, deregistration, registration, security, service, sm
from .cag import CagStore
from .codec import UeCodec, decode_dl
from .config import Knobs, UeNasConfig
from .outputs import Event, RegistrationFailed, UeOutput
from .sm import SessionState, SmPending
from .timers import Timers

__all__ = ["UeNas"]

_SHT = nas.SecurityHeaderType
_C = nas.FiveGmmCause
_MM = nas.MmMessageType


def guti_string(g: Guti5g) -> str:
    """TS 29.571 5G-GUTI string: "5g-guti-" MCC MNC, AMF ID (6 hex digits), 5G-TMSI (8 hex digits)."""
    amf_id = (g.amf_region_id << 16) | (g.amf_set_id << 6) | g.amf_pointer
    return f"5g-guti-{g.mcc}{g.mnc}{amf_id:06x}{g.tmsi:08x}"


class UeNas:
    """One UE's NAS entity (5GMM + 5GSM) over a :class:`~testbed.ue.usim.Usim`."""

    codec = UeCodec()

    def __init__(self, usim: Usim, config: UeNasConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.usim = usim
        self.config = config if config is not None else UeNasConfig()
        self.knobs: Knobs = self.config.knobs
        self.clock = clock
        c = self.config
        self.serving_plmn: tuple[str, str] = (c.mcc, c.mnc)
        self.sn_name = keys.serving_network_name(c.mcc, c.mnc)
        if self.knobs.only_null_algorithms:
            self.capability = nas.UeSecurityCapability(nea={0}, nia={0})
        else:
            self.capability = nas.UeSecurityCapability(nea=c.nea, nia=c.nia)
        self.requested_nssai = tuple(nas.SNssai(sst, sd) for sst, sd in c.requested_nssai) or None
        self.timers = Timers(c.timers)
        self.counters: Counter[str] = Counter()
        # 5GMM state
        self.state = "deregistered"
        self.substate = "normal-service"
        self.cm_state = "idle"
        self.update_status = "U2"
        self.usim_invalid = False
        self.reject_cause: int | None = None
        self.attempt_counter = 0
        self.reg_type = "initial"
        self.reg_identity = "suci"
        self.reg_started = 0.0  # clock() when the registration (first attempt) started
        self.emergency_registered = False
        self.pending_registration: str | None = None  # registration to start once the connection is gone
        # registration data (TS 24.501 5.1.3.2.2 / 5.3.x)
        self.guti: Guti5g | None = None
        self.tai_list: frozenset[tuple[str, str, int]] = frozenset()
        self.allowed_nssai: tuple[tuple[int, int | None], ...] = ()
        self.t3512: int | None = None
        home = (usim.supi.mcc, usim.supi.mnc) if usim.supi.kind == "imsi" else self.serving_plmn
        self.cag = CagStore(home, usim.allowed_cag_ids, usim.cag_only)
        self.forbidden_plmns: set[tuple[str, str]] = set()
        self.forbidden_tais: set[tuple[str, str, int]] = set()
        self.cell: tuple[tuple[str, str], int, tuple[int, ...]] | None = None
        # NAS security (TS 24.501 4.4)
        self.sec: nas.NasSecurityContext | None = None
        self.kamf: bytes | None = None
        self.sec_active = False
        self.pending_kamf: bytes | None = None
        self.pending_ngksi: int | None = None
        self.last_auth: tuple[bytes, bytes] | None = None
        self.auth_failures = 0
        self.sent_capability: nas.UeSecurityCapability | None = None
        self.full_request: bytes | None = None
        self.last_protected_ul: bytes | None = None
        self.replay_done = False
        # de-registration
        self.dereg_plain: bytes | None = None
        self.dereg_retx = 0
        # 5GSM
        self.sessions: dict[int, SessionState] = {}
        self.sm_pending: dict[int, SmPending] = {}
        self.next_pti = 1
        self.ul_queue: list[bytes] = []
        # service request (5.6.1): PDU sessions with uplink user data held for the user plane, the type
        self.ul_data_pending: set[int] = set()
        self.service_type = 0

    def __repr__(self) -> str:
        return f"UeNas(state={self.state}, cm={self.cm_state}, sessions={sorted(self.sessions)})"

    # ------------------------------------------------------------------ properties

    @property
    def guti_str(self) -> str | None:
        return None if self.guti is None else guti_string(self.guti)

    @property
    def cell_plmn(self) -> tuple[str, str]:
        return self.cell[0] if self.cell is not None else self.serving_plmn

    @property
    def cell_tai(self) -> tuple[str, str, int]:
        if self.cell is None:
            return (*self.serving_plmn, -1)
        return (*self.cell[0], self.cell[1])

    @property
    def registered(self) -> bool:
        return self.state == "registered"

    # ------------------------------------------------------------------ entry points (upper layers)

    def register(self, reg_type: str = "initial") -> list[UeOutput]:
        """Start a registration: "initial" | "emergency" | "mobility" | "periodic" (5.5.1)."""
        if reg_type not in registration.REG_TYPES:
            raise ValueError(f"registration type must be one of {sorted(registration.REG_TYPES)}")
        out: list[UeOutput] = []
        if self.state in ("registered-initiated", "deregistered-initiated"):
            out.append(Event("ue.registration_refused", {"reason": f"5gmm-{self.state}"}))
            return out
        if self.usim_invalid and reg_type != "emergency":
            out.append(Event("ue.registration_refused", {"reason": "usim-invalid"}))
            out.append(RegistrationFailed(0, "usim-invalid"))
            return out
        if reg_type != "emergency" and self.cell is not None and not self.cell_allowed(self.cell[0], self.cell[2]):
            out.append(Event("ue.registration_refused", {"reason": "cell-not-allowed",
                                                         "cag_ids": list(self.cell[2])}))
            out.append(RegistrationFailed(0, "cell-not-allowed"))
            return out
        self.attempt_counter = 0
        self.timers.stop(out, "T3346")
        self.start_registration(reg_type, out)
        return out

    def start_registration(self, reg_type: str, out: list[UeOutput]) -> None:
        registration.start(self, reg_type, out)

    def deregister(self, switch_off: bool = False) -> list[UeOutput]:
        """UE-originating de-registration (5.5.2.2)."""
        out: list[UeOutput] = []
        deregistration.start(self, switch_off, out)
        return out

    def establish_session(self, psi: int = 1, dnn: str | None = None,
                          snssai: tuple[int, int | None] | None = (1, None)) -> list[UeOutput]:
        """UE-requested PDU session establishment (6.4.1)."""
        out: list[UeOutput] = []
        sm.establish(self, psi, dnn, snssai, out)
        return out

    def release_session(self, psi: int) -> list[UeOutput]:
        """UE-requested PDU session release (6.4.3)."""
        out: list[UeOutput] = []
        sm.release(self, psi, out)
        return out

    def paging_received(self) -> list[UeOutput]:
        """Paged with our 5G-S-TMSI (TS 24.501 5.6.2.2.1): SERVICE REQUEST "mobile terminated services"
        when registered and in 5GMM-IDLE; ignored otherwise."""
        out: list[UeOutput] = []
        try:
            service.paging(self, out)
        except Exception as exc:  # noqa: BLE001 - never crash the runner
            self._internal_error(out, "paging_received", exc)
        return out

    def uplink_data(self, psi: int) -> list[UeOutput]:
        """Uplink user data for PDU session ``psi`` that the radio side cannot send (5GMM-IDLE, or a
        service request is running): SERVICE REQUEST "data" with the Uplink data status (5.6.1.2).
        The data may be held (``psi in self.ul_data_pending``) until :class:`UserPlaneResult` says
        whether to send or drop it; otherwise it is dropped."""
        out: list[UeOutput] = []
        try:
            service.uplink_data(self, psi, out)
        except Exception as exc:  # noqa: BLE001
            self._internal_error(out, "uplink_data", exc)
        return out

    def cell_changed(self, plmn: tuple[str, str], tac: int, cag_ids: tuple[int, ...] = ()) -> list[UeOutput]:
        """The serving cell changed (cell selection/reselection). A registered UE entering a
        tracking area outside its TAI list starts a mobility registration update (5.5.1.3.2 a)."""
        out: list[UeOutput] = []
        plmn = (str(plmn[0]), str(plmn[1]))
        self.cell = (plmn, int(tac), tuple(cag_ids))
        if (self.state == "registered" and self.tai_list and (*plmn, int(tac)) not in self.tai_list
                and self.cell_allowed(plmn, self.cell[2])):
            out.append(Event("ue.tracking_area_changed", {"tac": int(tac)}))
            self.attempt_counter = 0
            self.start_registration("mobility", out)
        return out

    def cell_allowed(self, plmn: tuple[str, str], cag_ids: tuple[int, ...] = (), *,
                     emergency: bool = False) -> bool:
        """May this UE select / camp on a cell of ``plmn`` broadcasting ``cag_ids`` (TS 23.501
        5.30.3.2, TS 38.304 5.2.4)? A CAG cell only if one of its CAG IDs is in the usable Allowed
        CAG list (minus IDs rejected with #76); a non-CAG cell unless the UE is CAG-only for the
        PLMN; not in a forbidden PLMN. ``emergency``: any cell (limited service). The
        ``ignore_cag_only`` knob makes every cell allowed."""
        if emergency or self.knobs.ignore_cag_only:
            return True
        p = (str(plmn[0]), str(plmn[1]))
        if p in self.forbidden_plmns:
            return False
        return self.cag.cell_allowed(p, cag_ids)

    # ------------------------------------------------------------------ entry points (lower layers)

    def connection_released(self, reason: str = "rrc-release") -> list[UeOutput]:
        """The RRC connection is gone (RRC release, radio link failure): 5GMM-IDLE.

        A registration or de-registration in progress ends as an abnormal case (5.5.1.2.7 a/b,
        5.5.2.2.6); a registered UE starts T3512 (5.3.7); a registration the network asked for
        (re-registration required, #9/#10, configuration update) starts now."""
        out: list[UeOutput] = []
        try:
            was = self.cm_state
            self.local_release(out)
            if was == "connected":
                self.counters["connection_releases"] += 1
            if self.state == "registered-initiated":
                self.timers.stop(out, "T3510")
                registration.attempt_failed(self, out, f"connection-{reason}")
            elif self.state == "deregistered-initiated":
                deregistration._local(self, out, "connection-released")
            if self.pending_registration is not None and not self.usim_invalid:
                rt, self.pending_registration = self.pending_registration, None
                self.attempt_counter = 0
                self.start_registration(rt, out)
        except Exception as exc:  # noqa: BLE001 - never crash the runner
            self._internal_error(out, "connection_released", exc)
        return out

    def local_release(self, out: list[UeOutput]) -> None:
        """5GMM-IDLE bookkeeping (no signalling): security no longer active on a connection, T3512
        runs while registered, pending service request data is dropped."""
        self.cm_state = "idle"
        self.sec_active = False
        self.ul_queue.clear()
        service.drop_pending(self, out, "connection-released")
        self.timers.stop(out, "T3517")
        if self.state == "registered" and self.t3512 and not self.emergency_registered:
            self.timers.start(out, "T3512", float(self.t3512))

    def timer_expired(self, timer_id: str) -> list[UeOutput]:
        """A timer started by :class:`StartTimer` expired."""
        out: list[UeOutput] = []
        if not self.timers.expired(timer_id):
            return out  # stopped meanwhile
        try:
            name = timer_id.partition(":")[0]
            if name == "T3510":
                registration.t3510_expired(self, out)
            elif name in ("T3511", "T3502", "T3346"):
                registration.retry(self, name, out)
            elif name == "T3512":
                if self.state == "registered" and self.cm_state == "idle":
                    self.attempt_counter = 0
                    self.start_registration("periodic", out)
            elif name == "T3521":
                deregistration.t3521_expired(self, out)
            elif name == "T3520":
                authentication.t3520_expired(self, out)
            elif name == "T3517":
                service.t3517_expired(self, out)
            elif name in ("T3580", "T3582"):
                sm.timer_expired(self, timer_id, out)
        except Exception as exc:  # noqa: BLE001
            self._internal_error(out, "timer_expired", exc)
        return out

    def nas_received(self, pdu: bytes) -> list[UeOutput]:
        """A downlink NAS PDU from the network (TS 24.501 4.4.4.2 integrity rules, then dispatch)."""
        out: list[UeOutput] = []
        self.counters["nas_rx"] += 1
        try:
            self._nas_received(bytes(pdu), out)
        except Exception as exc:  # noqa: BLE001 - bad input must never crash the UE
            self._internal_error(out, "nas_received", exc)
        return out

    # ------------------------------------------------------------------ internals

    def _internal_error(self, out: list[UeOutput], where: str, exc: Exception) -> None:
        self.counters["internal_error"] += 1
        tb = traceback.extract_tb(exc.__traceback__)
        loc = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else "?"
        out.append(Event("ue.internal_error", {"where": where, "error": f"{type(exc).__name__}: {exc}"[:200],
                                               "at": loc}))

    def _drop(self, out: list[UeOutput], counter: str, reason: str, **fields: object) -> None:
        self.counters[counter] += 1
        out.append(Event("ue.nas_dropped", {"reason": reason, **fields}))

    def _nas_received(self, pdu: bytes, out: list[UeOutput]) -> None:
        if len(pdu) < 3 or pdu[0] != 0x7E:
            self._drop(out, "nas_malformed", "not-a-5gmm-message")
            return
        sht = pdu[1] & 0x0F
        if sht == _SHT.INTEGRITY_PROTECTED_NEW_CONTEXT:
            security.handle_smc(self, pdu, out)
            return
        protected = sht != 0
        if sht == 0:
            try:
                msg = decode_dl(pdu)
            except DecodeError as exc:
                self._drop(out, "nas_malformed", "malformed", error=str(exc)[:120])
                return
            if not self._plain_acceptable(msg):
                self._drop(out, "nas_unprotected_dropped", "unprotected", message=msg.name)
                return
        elif sht in (_SHT.INTEGRITY_PROTECTED, _SHT.INTEGRITY_PROTECTED_AND_CIPHERED):
            plain = security.unprotect(self, pdu, out) if self.sec is not None else None
            if plain is None:
                if self.sec is None:
                    self._drop(out, "nas_no_context", "no-security-context")
                if self.sec_active or sht != _SHT.INTEGRITY_PROTECTED:
                    return
                # 4.4.4.2: before the secure exchange, a message of the "unprotected ok" list is
                # processed even when its integrity check failed
                try:
                    msg = decode_dl(nas.SecurityProtectedMessage.decode(pdu).payload)
                except DecodeError:
                    return
                if not self._plain_acceptable(msg):
                    return
                protected = False
            else:
                try:
                    msg = decode_dl(plain)
                except DecodeError as exc:
                    self._drop(out, "nas_malformed", "malformed", error=str(exc)[:120])
                    return
        else:
            self._drop(out, "nas_malformed", f"security-header-type-{sht}")
            return
        self._dispatch(msg, protected, out)

    def _plain_acceptable(self, msg: nas.NasMessage) -> bool:
        """4.4.4.2: which plain 5GMM messages the UE processes (none once security is active)."""
        if self.sec_active:
            return False
        if not isinstance(msg, security.PLAIN_OK):
            return False
        if isinstance(msg, nas.IdentityRequest):
            return int(msg.identity_type) == nas.IdentityType.SUCI
        return True

    def _dispatch(self, msg: nas.NasMessage, protected: bool, out: list[UeOutput]) -> None:
        if isinstance(msg, nas.DlNasTransport):
            sm.dl_nas_transport(self, msg, out)
        elif isinstance(msg, nas.AuthenticationRequest):
            authentication.request(self, msg, out)
        elif isinstance(msg, nas.RegistrationAccept):
            registration.accept(self, msg, out)
        elif isinstance(msg, nas.RegistrationReject):
            registration.reject(self, msg, protected, out)
        elif isinstance(msg, nas.AuthenticationReject):
            authentication.reject(self, out)
        elif isinstance(msg, nas.IdentityRequest):
            self._identity_request(msg, out)
        elif isinstance(msg, nas.DeregistrationAcceptUeOriginating):
            deregistration.accept(self, out)
        elif isinstance(msg, nas.DeregistrationRequestUeTerminated):
            deregistration.network_initiated(self, msg, out)
        elif isinstance(msg, nas.ConfigurationUpdateCommand):
            self._configuration_update(msg, out)
        elif isinstance(msg, nas.ServiceAccept):
            service.accept(self, msg, out)
        elif isinstance(msg, nas.ServiceReject):
            service.reject(self, msg, protected, out)
        elif isinstance(msg, nas.FiveGmmStatus):
            self.counters["5gmm_status"] += 1
            out.append(Event("ue.5gmm_status", {"cause": int(msg.cause)}))
        else:
            self._drop(out, "nas_unexpected", "unexpected", message=msg.name, state=self.state)

    def _identity_request(self, msg: nas.IdentityRequest, out: list[UeOutput]) -> None:
        """IDENTITY REQUEST (5.4.3.2): SUCI (fresh), IMEI, IMEISV or 5G-GUTI."""
        t = int(msg.identity_type)
        ident: nas.MobileIdentity
        if t == nas.IdentityType.SUCI:
            null = self.knobs.plain_supi_identity or self.knobs.null_scheme
            ident = self.usim.suci(0 if null else None)
        elif t == nas.IdentityType.IMEI:
            ident = nas.Pei(self.usim.imei)
        elif t == nas.IdentityType.IMEISV:
            ident = nas.Pei(self.usim.imeisv, imeisv=True)
        elif t == nas.IdentityType.GUTI and self.guti is not None:
            ident = self.guti
        else:
            ident = nas.NoIdentity()
        out.append(Event("ue.identity_response", {"requested": nas.IdentityType(t).name.lower()
                                                  if t in nas.IdentityType._value2member_map_ else t,
                                                  "suci_scheme": getattr(ident, "scheme", None)}))
        security.send(self, out, nas.IdentityResponse(mobile_identity=ident).encode())

    def _configuration_update(self, msg: nas.ConfigurationUpdateCommand, out: list[UeOutput]) -> None:
        """CONFIGURATION UPDATE COMMAND (5.4.4.3)."""
        if self.state not in ("registered", "registered-initiated"):
            self._drop(out, "nas_unexpected", "unexpected", message=msg.name, state=self.state)
            return
        if msg.guti is not None:
            self.guti = msg.guti
        if msg.tai_list:
            self.tai_list = frozenset((t.plmn.mcc, t.plmn.mnc, t.tac) for t in msg.tai_list)
        if msg.allowed_nssai:
            self.allowed_nssai = tuple((s.sst, s.sd) for s in msg.allowed_nssai)
        if msg.cag_information_list is not None:
            self.apply_cag_list(msg.cag_information_list)
        ind = msg.indication
        out.append(Event("ue.configuration_update", {
            "guti_changed": msg.guti is not None, "cag_ids": None if msg.cag_information_list is None
            else list(self.cag.usable(self.serving_plmn)),
            "registration_requested": bool(ind and ind.registration_requested)}))
        if ind is not None and ind.acknowledgement_requested:
            security.send(self, out, nas.ConfigurationUpdateComplete().encode())
        if ind is not None and ind.registration_requested:
            self.pending_registration = "mobility"

    # ------------------------------------------------------------------ helpers for the procedures

    def apply_cag_list(self, entries: Iterable[nas.CagInfo]) -> None:
        self.cag.apply(entries)
        self.sync_usim_cag()

    def sync_usim_cag(self) -> None:
        """Mirror the HPLMN's CAG information into the USIM (TS 31.102 EF CAG / TS 24.501 5.5.1.2.4)."""
        s = self.usim.supi
        home = (s.mcc, s.mnc) if s.kind == "imsi" else self.serving_plmn
        ids, only = self.cag.lists.get(home, (frozenset(), False))
        self.usim.update_cag(ids, only)

    def forget_registration_data(self) -> None:
        """Delete 5G-GUTI, TAI list, ngKSI and the 5G NAS security context (e.g. 5.5.1.2.5 #3)."""
        self.guti = None
        self.tai_list = frozenset()
        self.sec = None
        self.kamf = None
        self.sec_active = False
        self.pending_kamf = None
        self.last_auth = None

    def status(self) -> dict:
        """A JSON-able view (no keys, no SUPI) for control interfaces."""
        return {
            "state": self.state, "substate": self.substate, "cm_state": self.cm_state,
            "update_status": self.update_status, "guti": self.guti_str, "reject_cause": self.reject_cause,
            "usim_invalid": self.usim_invalid, "emergency": self.emergency_registered,
            "sessions": {p: {"ipv4": s.ipv4, "state": s.state, "dnn": s.dnn} for p, s in self.sessions.items()},
            "allowed_nssai": [list(s) for s in self.allowed_nssai], "cag": [list(x) for x in self.cag.as_tuple()],
            "timers": sorted(self.timers.running), "counters": dict(self.counters),
        }
