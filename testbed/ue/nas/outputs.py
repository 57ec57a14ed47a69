"""What the sans-I/O :class:`~testbed.ue.nas.machine.UeNas` asks its runner (the UE radio/RRC side)
to do. Every entry point of the NAS layer returns a list of these.

* :class:`SendNas` - an uplink NAS PDU. ``initial=True``: the UE is in 5GMM-IDLE, the radio side
  first sets up an RRC connection (RRCSetupRequest with establishment cause ``cause``:
  "mo-Signalling", "mo-Data" or "emergency", TS 38.331 5.3.3 / TS 24.501 Annex D) and carries the PDU
  in RRCSetupComplete (dedicatedNAS-Message); else ULInformationTransfer.
* :class:`StartTimer` / :class:`StopTimer` - NAS timers (TS 24.501 10.2) by id; a StartTimer for a
  running id restarts it. On expiry call ``UeNas.timer_expired(timer_id)``.
* :class:`ReleaseConnection` - release the RRC connection locally (e.g. T3510 expiry,
  TS 24.501 5.5.1.2.7 c); then call ``UeNas.connection_released``.
* :class:`SessionUp` / :class:`SessionDown` - create / remove the user plane (TUN) of a PDU session.
* :class:`UserPlaneResult` - the outcome of a service request for the PDU sessions whose uplink data
  the runner holds (``UeNas.uplink_data``): send it (user plane re-established) or drop it.
* :class:`Registered`, :class:`RegistrationFailed`, :class:`Deregistered` - 5GMM outcomes.
* :class:`Event` - JSON-able security/operational event for the event stream. Never carries K, OPc,
  KAMF or other key material (nor the SUPI: the UE's own logs may be seen by the hosting party).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Deregistered",
    "Event",
    "RegistrationFailed",
    "Registered",
    "ReleaseConnection",
    "SendNas",
    "SessionDown",
    "SessionUp",
    "StartTimer",
    "StopTimer",
    "UeOutput",
    "UserPlaneResult",
]


@dataclass(frozen=True, slots=True)
class SendNas:
    """Send ``pdu`` uplink; ``initial``: as the initial NAS message of a new RRC connection set up
    with establishment cause ``cause``."""

    pdu: bytes
    initial: bool
    cause: str = "mo-Signalling"


@dataclass(frozen=True, slots=True)
class StartTimer:
    timer_id: str
    seconds: float


@dataclass(frozen=True, slots=True)
class StopTimer:
    timer_id: str


@dataclass(frozen=True, slots=True)
class ReleaseConnection:
    """Release the RRC connection locally (no signalling), then report ``connection_released``."""

    reason: str


@dataclass(frozen=True, slots=True)
class SessionUp:
    psi: int
    ipv4: str


@dataclass(frozen=True, slots=True)
class SessionDown:
    psi: int


@dataclass(frozen=True, slots=True)
class UserPlaneResult:
    """Service request outcome (TS 24.501 5.6.1.4): the user plane of the PDU sessions ``active`` is
    back, send the uplink data held for them; the data held for ``failed`` is to be dropped."""

    active: tuple[int, ...]
    failed: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Registered:
    """Registration accepted: ``guti`` as "5g-guti-<MCC><MNC><region:02x><set:03x><ptr:02x><tmsi:08x>",
    ``allowed_nssai`` as ((SST, SD|None), ...), ``cag_info`` as ((mcc, mnc, (CAG IDs), cag_only), ...)."""

    guti: str
    allowed_nssai: tuple[tuple[int, int | None], ...] = ()
    cag_info: tuple[tuple[str, str, tuple[int, ...], bool], ...] = ()
    emergency: bool = False


@dataclass(frozen=True, slots=True)
class RegistrationFailed:
    """The registration procedure failed: 5GMM ``cause`` (0 for local failures) and a reason."""

    cause: int
    reason: str


@dataclass(frozen=True, slots=True)
class Deregistered:
    reason: str


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    fields: dict[str, Any] = field(default_factory=dict)


UeOutput = (SendNas | StartTimer | StopTimer | ReleaseConnection | SessionUp | SessionDown | Registered
            | RegistrationFailed | Deregistered | UserPlaneResult | Event)
