"""What the sans-I/O :class:`~testbed.core.amf.amf.Amf` asks its runner to do.

Every method of the facade returns a list of these. The runner sends NGAP on the association and
SCTP stream given, (re)starts and cancels timers by id (expiry comes back through
``Amf.timer_expired``), talks to the SMF (its reply comes back through ``Amf.smf_reply``), closes
associations and writes :class:`Event` to the JSON-lines event stream. The SMF's downlink data
notification comes in through ``Amf.n1n2_message_transfer`` (TS 23.502 4.2.3.3).

:class:`SmContextCreate` and :class:`SmReply` are the SMF's own types when
:mod:`testbed.core.smf` is importable, otherwise identical local definitions (the contract).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CancelTimer",
    "CloseAssociation",
    "Event",
    "Output",
    "SendNgap",
    "SmContextCreate",
    "SmReply",
    "SmfActivate",
    "SmfCreate",
    "SmfDeactivate",
    "SmfN2Response",
    "SmfPagingFailed",
    "SmfRelease",
    "SmfReleaseAll",
    "StartTimer",
    "UE_STREAM",
]

try:  # the SMF's contract types, when the SMF exists
    from testbed.core.smf import SmContextCreate, SmReply  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - exercised only before the SMF lands

    @dataclass(frozen=True)
    class SmContextCreate:  # type: ignore[no-redef]
        """Nsmf_PDUSession_CreateSMContext request (TS 23.502 4.3.2.2.1 step 3)."""

        supi: str
        pdu_session_id: int
        dnn: str | None
        snssai: tuple[int, int | None] | None
        n1_sm: bytes
        subscribed_dnns: tuple[str, ...]
        subscribed_snssai: tuple[tuple[int, int | None], ...]

    @dataclass(frozen=True)
    class SmReply:  # type: ignore[no-redef]
        """The SMF's answer: N1 SM container for the UE and/or N2 SM transfer for the gNB."""

        pdu_session_id: int
        n1_sm: bytes | None
        n2_transfer: bytes | None
        kind: str  # "setup" | "activate" | "reject" | "release" | "released" | "error"
        ue_ipv4: str | None = None
        cause: str | None = None


#: SCTP stream for UE-associated signalling (TS 38.412 7: non-UE-associated signalling uses stream 0).
UE_STREAM = 1


@dataclass(frozen=True, slots=True)
class SendNgap:
    """Send one NGAP PDU on association ``assoc``: UE-associated on a non-zero stream, else 0."""

    assoc: int
    data: bytes
    stream: int = 0


@dataclass(frozen=True, slots=True)
class StartTimer:
    """(Re)start timer ``timer_id`` (e.g. ``"T3560:17"``); a running one with that id is replaced."""

    timer_id: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    timer_id: str


@dataclass(frozen=True, slots=True)
class SmfCreate:
    """Nsmf_PDUSession_CreateSMContext for the UE of ``amf_ue_ngap_id``."""

    amf_ue_ngap_id: int
    request: SmContextCreate


@dataclass(frozen=True, slots=True)
class SmfN2Response:
    """Nsmf_PDUSession_UpdateSMContext with the gNB's N2 SM information (TS 23.502 4.3.2.2.1
    step 15): the PDU Session Resource Setup Response Transfer (``success``) or the Unsuccessful
    Transfer, as APER octets."""

    amf_ue_ngap_id: int
    supi: str
    pdu_session_id: int
    transfer: bytes
    success: bool


@dataclass(frozen=True, slots=True)
class SmfRelease:
    """Forward a UE's PDU SESSION RELEASE REQUEST/COMPLETE (``n1_sm``) or ask for a release."""

    amf_ue_ngap_id: int
    supi: str
    pdu_session_id: int
    n1_sm: bytes | None


@dataclass(frozen=True, slots=True)
class SmfReleaseAll:
    """Release every SM context of ``supi`` (deregistration, TS 23.502 4.2.2.3)."""

    supi: str


@dataclass(frozen=True, slots=True)
class SmfActivate:
    """Nsmf_PDUSession_UpdateSMContext with UP activation (TS 23.502 4.2.3.2 step 4): the SMF answers
    (``Amf.smf_reply``) with kind "activate" and the PDU Session Resource Setup Request Transfer for
    the gNB, or "error"."""

    amf_ue_ngap_id: int
    supi: str
    pdu_session_id: int


@dataclass(frozen=True, slots=True)
class SmfDeactivate:
    """Nsmf_PDUSession_UpdateSMContext with UP deactivation after an AN release (TS 23.502 4.2.6
    step 5): the SMF has the UPF buffer downlink data and notify it (no answer to the AMF)."""

    supi: str
    pdu_session_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SmfPagingFailed:
    """Namf_Communication_N1N2TransferFailureNotification (TS 23.502 4.2.3.3 step 4): the UE did not
    answer paging for downlink data of these PDU sessions."""

    supi: str
    pdu_session_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CloseAssociation:
    assoc: int


@dataclass(frozen=True, slots=True)
class Event:
    """A security/operational event for the event stream (``type`` plus JSON-able ``fields``)."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)


Output = SendNgap | StartTimer | CancelTimer | SmfCreate | SmfN2Response | SmfRelease | SmfReleaseAll \
    | SmfActivate | SmfDeactivate | SmfPagingFailed | CloseAssociation | Event
