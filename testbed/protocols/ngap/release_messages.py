"""NGAP PDU Session Resource Release (TS 38.413 8.2.2): Command (9.2.1.5) and Response (9.2.1.6).

Importing this module registers both messages with the NGAP codec, so that
:func:`testbed.protocols.ngap.decode` returns them (the registration mechanism of
:mod:`.messages`). Each session item carries its transfer either typed or as the
already-encoded octets produced by the SMF; decoding returns the typed transfer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._container import Ie, seq_of
from .ies import UserLocationNR, check_uint
from .messages import _AMF_ID, _NAS_PDU, _RAN_ID, _ULI, Kind, NgapMessage, _message
from .release_transfer import (
    PduSessionResourceReleaseCommandTransfer,
    PduSessionResourceReleaseResponseTransfer,
)
from .transfer import transfer_from_asn, transfer_to_asn


@dataclass(slots=True)
class PduSessionToRelease:
    """PDU Session Resource to Release item (RelCmd): the session and the SMF's release command transfer."""

    pdu_session_id: int
    transfer: PduSessionResourceReleaseCommandTransfer | bytes


@dataclass(slots=True)
class PduSessionReleased:
    """PDU Session Resource Released item (RelRes): the session and the gNB's release response transfer."""

    pdu_session_id: int
    transfer: PduSessionResourceReleaseResponseTransfer | bytes = b"\x00"


def _enc_to_release(it: Any) -> dict:
    if not isinstance(it, PduSessionToRelease):
        raise ValueError(f"expected PduSessionToRelease, got {type(it).__name__}")
    return {"pDUSessionID": check_uint("PDU session ID", it.pdu_session_id, 8),
            "pDUSessionResourceReleaseCommandTransfer":
                transfer_to_asn(it.transfer, PduSessionResourceReleaseCommandTransfer)}


def _dec_to_release(v: list) -> tuple[PduSessionToRelease, ...]:
    return tuple(PduSessionToRelease(d["pDUSessionID"], transfer_from_asn(
        d["pDUSessionResourceReleaseCommandTransfer"], PduSessionResourceReleaseCommandTransfer)) for d in v)


def _enc_released(it: Any) -> dict:
    if not isinstance(it, PduSessionReleased):
        raise ValueError(f"expected PduSessionReleased, got {type(it).__name__}")
    return {"pDUSessionID": check_uint("PDU session ID", it.pdu_session_id, 8),
            "pDUSessionResourceReleaseResponseTransfer":
                transfer_to_asn(it.transfer, PduSessionResourceReleaseResponseTransfer)}


def _dec_released(v: list) -> tuple[PduSessionReleased, ...]:
    return tuple(PduSessionReleased(d["pDUSessionID"], transfer_from_asn(
        d["pDUSessionResourceReleaseResponseTransfer"], PduSessionResourceReleaseResponseTransfer)) for d in v)


def _paging_priority(v: Any) -> int:
    if type(v) is not int or not 1 <= v <= 256:
        raise ValueError(f"RAN paging priority must be 1..256, got {v!r}")
    return v


def _ident(v: Any) -> Any:
    return v


@_message(28, Kind.INITIATING, [
    _AMF_ID, _RAN_ID,
    Ie("ran_paging_priority", 83, _paging_priority, _ident),
    _NAS_PDU,
    Ie("sessions", 79, seq_of(_enc_to_release, "PDU session resource to release list", 1, 256), _dec_to_release),
])
@dataclass(slots=True)
class PDUSessionResourceReleaseCommand(NgapMessage):
    """PDU Session Resource Release Command (9.2.1.5), AMF -> gNB. ``nas_pdu`` is the PDU SESSION
    RELEASE COMMAND for the UE (TS 23.502 4.3.4.2 step 3)."""

    amf_ue_ngap_id: int
    ran_ue_ngap_id: int
    sessions: tuple[PduSessionToRelease, ...]
    nas_pdu: bytes | None = None
    ran_paging_priority: int | None = None


@_message(28, Kind.SUCCESSFUL, [
    _AMF_ID, _RAN_ID,
    Ie("sessions", 70, seq_of(_enc_released, "PDU session resource released list", 1, 256), _dec_released),
    _ULI,
])
@dataclass(slots=True)
class PDUSessionResourceReleaseResponse(NgapMessage):
    """PDU Session Resource Release Response (9.2.1.6), gNB -> AMF."""

    amf_ue_ngap_id: int
    ran_ue_ngap_id: int
    sessions: tuple[PduSessionReleased, ...]
    user_location: UserLocationNR | None = None


RELEASE_MESSAGE_TYPES = (PDUSessionResourceReleaseCommand, PDUSessionResourceReleaseResponse)

__all__ = [
    "RELEASE_MESSAGE_TYPES",
    "PDUSessionResourceReleaseCommand",
    "PDUSessionResourceReleaseResponse",
    "PduSessionReleased",
    "PduSessionToRelease",
]
