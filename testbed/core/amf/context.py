"""AMF state: one :class:`GnbContext` per N2 association, one :class:`UeContext` per UE.

A :class:`UeContext` is the 5GMM context of one UE (TS 23.502 4.2.2, TS 24.501 5.1.3) together
with its UE-associated logical NG connection (AMF-UE-NGAP-ID, RAN-UE-NGAP-ID, association) while
the UE is in CM-CONNECTED. When the N2 connection is released the context stays (CM-IDLE,
``assoc`` None) as long as the UE is registered; a new connection of the same UE gets a new
AMF-UE-NGAP-ID and the registered data move into its context once the UE is identified
(:meth:`UeContext.take_over`).

Contexts use ``__slots__`` (memory per registered UE matters: thousands of UEs per AMF process).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from testbed.crypto.identity import Guti5g, Supi
from testbed.protocols import nas, ngap

__all__ = ["GnbContext", "PagingState", "PduSession", "ServiceState", "UeContext"]


@dataclass(slots=True)
class GnbContext:
    """An NG-RAN node after a successful NG Setup (TS 38.413 8.7.1)."""

    assoc: int
    peer: str
    global_id: ngap.GlobalGnbId
    name: str | None
    supported_tas: tuple[ngap.SupportedTa, ...]
    tacs: tuple[int, ...]  # TACs of our PLMN that we serve, in the gNB's order
    cag_ids: frozenset[int]  # CAG IDs the gNB announced (and we accepted)
    ue_ids: set[int] = field(default_factory=set)  # AMF-UE-NGAP-IDs bound to this association
    setup_at: float = 0.0  # the AMF clock at NG Setup

    def describe(self) -> dict[str, Any]:
        return {"assoc": self.assoc, "peer": self.peer, "plmn": str(self.global_id.plmn),
                "gnb_id": self.global_id.gnb_id, "gnb_id_bits": self.global_id.gnb_id_bits,
                "name": self.name, "tacs": list(self.tacs), "cag_ids": sorted(self.cag_ids),
                "ue_count": len(self.ue_ids), "setup_at": self.setup_at}


@dataclass(slots=True)
class PduSession:
    """What the AMF keeps of a PDU session (the SMF owns the rest)."""

    snssai: tuple[int, int | None] | None
    dnn: str | None
    active: bool = False


@dataclass(slots=True, eq=False)
class UeContext:
    """5GMM context and N2 binding of one UE (see the module docstring).

    ``proc`` is the running 5GMM common/specific procedure the AMF waits on: "identity" (T3570),
    "auth" / "smc" (T3560), "accept" (T3550), "dereg" (T3522), "service" (SERVICE REQUEST waiting
    for the SMF's N2 SM information) or None. ``paging`` is set while the AMF pages the UE in
    CM-IDLE (T3513), ``svc`` while user planes are being re-activated.
    """

    amf_ue_ngap_id: int
    ran_ue_ngap_id: int | None = None
    assoc: int | None = None
    # cell the UE is on (from the last INITIAL UE MESSAGE / UPLINK NAS TRANSPORT)
    cell_cag_ids: tuple[int, ...] = ()
    cag_not_announced: bool = False
    tac: int | None = None
    # identity
    supi: Supi | None = None
    guti: Guti5g | None = None
    old_guti: Guti5g | None = None
    pei: str | None = None
    # 5GMM state
    registered: bool = False
    emergency: bool = False
    authenticated: bool = False
    proc: str | None = None
    releasing: bool = False
    ics_done: bool = False  # the gNB holds the UE context (INITIAL CONTEXT SETUP succeeded)
    # NAS security: the current context, whether it is in use on this N2 connection, the pending
    # one during a SECURITY MODE COMMAND
    sec: nas.NasSecurityContext | None = None
    sec_active: bool = False
    new_sec: nas.NasSecurityContext | None = None
    kamf: bytes | None = None
    ngksi: int = 7
    ue_sec_cap: nas.UeSecurityCapability | None = None
    # subscription (TS 23.502 4.2.2.2.2 step 14: Nudm_SDM_Get)
    subscription: Any = None
    allowed_nssai: tuple[tuple[int, int | None], ...] = ()
    tais: tuple[int, ...] = ()  # TACs of the registration area (TAI list of the REGISTRATION ACCEPT)
    pdu_sessions: dict[int, PduSession] | None = None
    paging: PagingState | None = None
    svc: ServiceState | None = None
    dl_pending: frozenset[int] = frozenset()  # downlink data waiting while a procedure runs (N1N2 transfer)
    after_registration: tuple | None = None  # what a paged UE that came back with a registration still owes
    # registration procedure in progress (cleared when it ends)
    reg: RegistrationState | None = None
    # NAS retransmission (TS 24.501 10.2): the timer, the plain message and its security header
    timer: str | None = None
    retx_plain: bytes | None = None
    retx_sht: int = 0
    retx_count: int = 0

    def take_over(self, old: UeContext) -> None:
        """Move the registered data of ``old`` (an earlier N2 connection of the same UE) here."""
        self.supi = old.supi
        self.guti = old.guti
        self.old_guti = None
        self.pei = old.pei
        self.registered = old.registered
        self.emergency = old.emergency
        self.authenticated = old.authenticated
        self.sec = old.sec
        self.kamf = old.kamf
        self.ngksi = old.ngksi
        self.ue_sec_cap = old.ue_sec_cap
        self.subscription = old.subscription
        self.allowed_nssai = old.allowed_nssai
        self.tais = old.tais
        self.pdu_sessions = old.pdu_sessions
        self.dl_pending = old.dl_pending

    @property
    def connected(self) -> bool:
        return self.assoc is not None

    @property
    def supi_str(self) -> str | None:
        return None if self.supi is None else self.supi.to_string()

    def describe(self) -> dict[str, Any]:
        """For the control socket (operator domain: may contain the SUPI)."""
        return {
            "amf_ue_ngap_id": self.amf_ue_ngap_id, "ran_ue_ngap_id": self.ran_ue_ngap_id,
            "assoc": self.assoc, "supi": self.supi_str,
            "guti_tmsi": None if self.guti is None else self.guti.tmsi,
            "registered": self.registered, "emergency": self.emergency,
            "cm": "connected" if self.connected else "idle", "procedure": self.proc,
            "cell_cag_ids": list(self.cell_cag_ids), "tac": self.tac,
            "nia": None if self.sec is None else self.sec.nia, "nea": None if self.sec is None else self.sec.nea,
            "pdu_sessions": sorted(self.pdu_sessions or ()),
            "active_pdu_sessions": sorted(p for p, x in (self.pdu_sessions or {}).items() if x.active),
            "paging": None if self.paging is None else {"pdu_sessions": sorted(self.paging.psis),
                                                       "attempts": self.paging.attempts,
                                                       "after": self.paging.after[0] if self.paging.after else None},
        }


@dataclass(slots=True)
class PagingState:
    """Network-triggered service request in progress (TS 23.502 4.2.3.3, TS 24.501 5.6.2): the
    PDU sessions with downlink data, the paging attempts so far (T3513), what to do once the UE
    answers (``after``: ("dereg", cause, CAG info) or ("cag",)) ."""

    timer: str
    psis: set[int] = field(default_factory=set)
    attempts: int = 1
    after: tuple | None = None


@dataclass(slots=True)
class ServiceState:
    """User-plane re-activation in progress: the SMF answers still awaited (``pending``), the N2 SM
    information received (``transfers``), the sessions that could not be re-activated (``failed``);
    ``nas``: the SERVICE ACCEPT is owed to the UE (a service request), else the network re-activates
    for downlink data of a UE in CM-CONNECTED. ``requested``: what the UE asked for (Uplink data
    status) plus the sessions with downlink data; ``after``: what waited for a paged UE."""

    nas: bool
    service_type: int = 0
    requested: frozenset[int] = frozenset()
    pending: set[int] = field(default_factory=set)
    transfers: dict[int, bytes] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)
    ue_status: frozenset[int] | None = None  # the UE's PDU session status IE, if it sent one
    cell_cag_id: int | None = None
    after: tuple | None = None
    ul_count: int = 0  # uplink NAS COUNT of the SERVICE REQUEST (KgNB input, TS 33.501 A.9)


@dataclass(slots=True)
class RegistrationState:
    """Per-registration-procedure data (TS 24.501 5.5.1), dropped once the procedure ends."""

    request: nas.RegistrationRequest
    reg_type: int
    identity_kind: str  # "suci" | "guti" | "imei" | "none"
    suci_scheme: int | None = None
    initial_protected: bool = False  # the initial message passed its integrity check
    identity_requested: bool = False
    sync_failures: int = 0
    auth_ctx_id: str | None = None
    rand: bytes | None = None
    autn: bytes | None = None
    hxres_star: bytes | None = None
    abba: bytes = b"\x00\x00"
    unauthenticated: bool = False  # unauthenticated emergency (TS 33.501 10.2.2)
