"""What the sans-I/O femto layers ask their runner (or each other) to do.

External outputs (for :mod:`testbed.femto.process` or a test harness):
:class:`SendAir`, :class:`SendNgap`, :class:`SendN3`, :class:`ConnectN2`, :class:`CloseN2`,
:class:`Event`.

Internal messages between the layers (routed by :class:`testbed.femto.gnb.FemtoGnb`, never seen
by the runner): radio -> NGAP (:class:`InitialNas`, :class:`UplinkNas`, :class:`RadioLost`),
radio -> user plane (:class:`UplinkData`), NGAP -> radio (:class:`DownlinkNas`,
:class:`ReleaseRrc`, :class:`PageUes`, :class:`DownlinkData`), user plane -> NGAP side
(:class:`N3Downlink`, mapped from the NG connection to its radio UE). Radio UEs are named by the
cell's ``ue_id`` (an int); NG connections by the RAN-UE-NGAP-ID the NGAP client allocates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CloseN2",
    "ConnectN2",
    "DownlinkData",
    "DownlinkNas",
    "Event",
    "InitialNas",
    "N3Downlink",
    "Internal",
    "Output",
    "PageUes",
    "RadioLost",
    "ReleaseRrc",
    "SendAir",
    "SendN3",
    "SendNgap",
    "UplinkData",
    "UplinkNas",
]

Address = tuple[str, int]


# -- external ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SendAir:
    """One RLS datagram to a UE (UDP, from the air port 4997)."""

    addr: Address
    data: bytes


@dataclass(frozen=True, slots=True)
class SendNgap:
    """One NGAP PDU on the N2 association; stream 0 non-UE-associated, 1 UE-associated (TS 38.412 7)."""

    data: bytes
    stream: int = 0


@dataclass(frozen=True, slots=True)
class SendN3:
    """One GTP-U datagram (UDP 2152, TS 29.281)."""

    addr: Address
    data: bytes


@dataclass(frozen=True, slots=True)
class ConnectN2:
    """Open the SCTP association to the AMF (reconnect after backoff)."""


@dataclass(frozen=True, slots=True)
class CloseN2:
    """Close the SCTP association (e.g. NG Setup refused for good)."""


@dataclass(frozen=True, slots=True)
class Event:
    """A security/operational event for the event stream: dotted ``type``, severity, JSON-able fields.

    Fields never hold NAS payloads (only lengths and header types) nor SUPI/MSISDN digits
    (the femto never learns them, TS 33.545), except NAS hex under the ``log_everything`` knob."""

    type: str
    severity: str = "info"
    fields: dict[str, Any] = field(default_factory=dict)


# -- internal: radio -> NGAP / user plane -----------------------------------------------------

@dataclass(frozen=True, slots=True)
class InitialNas:
    """RRCSetupComplete received: start a UE-associated NG connection (INITIAL UE MESSAGE)."""

    ue_id: int
    nas_pdu: bytes
    establishment_cause: str
    s_tmsi: int | None = None
    cag_access: bool = False  # the UE accessed the cell as a CAG cell: report the cell's CAG IDs


@dataclass(frozen=True, slots=True)
class UplinkNas:
    ue_id: int
    nas_pdu: bytes


@dataclass(frozen=True, slots=True)
class RadioLost:
    """The UE's radio context is gone (heartbeat timeout, radio switched off)."""

    ue_id: int
    cause: str = "radio-connection-with-ue-lost"


@dataclass(frozen=True, slots=True)
class UplinkData:
    ue_id: int
    pdu_session_id: int
    packet: bytes


# -- internal: NGAP / user plane -> radio -------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DownlinkNas:
    ue_id: int
    nas_pdu: bytes


@dataclass(frozen=True, slots=True)
class ReleaseRrc:
    """Send RRCRelease (the UE goes to RRC_IDLE) and forget the UE's NG connection."""

    ue_id: int


@dataclass(frozen=True, slots=True)
class PageUes:
    """PCCH Paging with these 48-bit 5G-S-TMSIs to every UE the cell hears."""

    s_tmsis: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DownlinkData:
    ue_id: int
    pdu_session_id: int
    packet: bytes


# -- internal: user plane -> radio (via the NGAP side's connection table) -------------------------

@dataclass(frozen=True, slots=True)
class N3Downlink:
    """A downlink packet of the NG connection ``conn`` (its RAN-UE-NGAP-ID), PDU session ``pdu_session_id``."""

    conn: int
    pdu_session_id: int
    packet: bytes


Output = SendAir | SendNgap | SendN3 | ConnectN2 | CloseN2 | Event
Internal = InitialNas | UplinkNas | RadioLost | UplinkData | DownlinkNas | ReleaseRrc | PageUes | DownlinkData \
    | N3Downlink
