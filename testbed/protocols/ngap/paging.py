"""NGAP Paging (TS 38.413 8.5.1, message 9.2.4.1), AMF -> NG-RAN node, non-UE-associated.

Importing this module registers :class:`Paging` with the NGAP codec (the registration mechanism of
:mod:`.messages`), so that :func:`testbed.protocols.ngap.decode` returns it. Modelled IEs:

- UE Paging Identity, mandatory: the 5G-S-TMSI alternative (the only one in the ASN.1);
- Paging DRX, optional: 32, 64, 128 or 256 radio frames;
- TAI List for Paging, mandatory: 1..maxnoofTAIforPaging (16) TAIs;
- Paging Priority, optional: priority level 1..8;
- Paging Origin, optional: ``"non-3gpp"``.

The other optional IEs (UE Radio Capability for Paging, Assistance Data for Paging, eDRX, ...) are
not modelled: decoding ignores them (their criticality is ignore), encoding never emits them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pycrate_asn1dir import NGAP

from testbed.errors import DecodeError

from ._container import Ie, enum
from .ies import FiveGSTmsi, Tai, s_tmsi_from_asn, s_tmsi_to_asn, tai_from_asn, tai_to_asn
from .messages import _DRX, _DRX_REV, Kind, NgapMessage, _from_map, _message

__all__ = ["MAX_TAIS_FOR_PAGING", "PAGING_PRIORITIES", "Paging"]

MAX_TAIS_FOR_PAGING = 16
"""maxnoofTAIforPaging (TS 38.413 9.4.7)."""

PAGING_PRIORITIES = tuple(range(1, 9))
"""Paging Priority levels: 1 (highest) .. 8, coded priolevel1 .. priolevel8."""

_I = NGAP.NGAP_IEs


def _identity_to_asn(t: Any) -> tuple:
    return ("fiveG-S-TMSI", s_tmsi_to_asn(t))


def _identity_from_asn(v: tuple) -> FiveGSTmsi:
    if v[0] != "fiveG-S-TMSI":
        raise DecodeError(f"unsupported UE Paging Identity alternative {v[0]}")
    return s_tmsi_from_asn(v[1])


def _tais_to_asn(v: Any) -> list:
    if not isinstance(v, list | tuple) or not 1 <= len(v) <= MAX_TAIS_FOR_PAGING:
        raise ValueError(f"TAI list for paging needs 1..{MAX_TAIS_FOR_PAGING} TAIs")
    out = []
    for t in v:
        if not isinstance(t, Tai):
            raise ValueError(f"expected Tai, got {type(t).__name__}")
        out.append({"tAI": tai_to_asn(t)})
    return out


def _tais_from_asn(v: list) -> tuple[Tai, ...]:
    return tuple(tai_from_asn(item["tAI"]) for item in v)


def _priority_to_asn(v: Any) -> str:
    if type(v) is not int or v not in PAGING_PRIORITIES:
        raise ValueError(f"paging priority must be 1..8, got {v!r}")
    return f"priolevel{v}"


def _priority_from_asn(v: Any) -> int:
    if not isinstance(v, str) or not v.startswith("priolevel"):
        raise DecodeError(f"unknown paging priority value {v!r}")
    return int(v[len("priolevel"):])


_origin_enc, _origin_dec = enum(_I.PagingOrigin, "paging origin")


@_message(24, Kind.INITIATING, [
    Ie("ue_paging_identity", 115, _identity_to_asn, _identity_from_asn),
    Ie("paging_drx", 50, _from_map(_DRX, "paging DRX"), _from_map(_DRX_REV, "PagingDRX")),
    Ie("tai_list", 103, _tais_to_asn, _tais_from_asn),
    Ie("paging_priority", 52, _priority_to_asn, _priority_from_asn),
    Ie("paging_origin", 51, _origin_enc, _origin_dec),
])
@dataclass(slots=True)
class Paging(NgapMessage):
    """Paging (9.2.4.1): page the UE with 5G-S-TMSI ``ue_paging_identity`` in the cells of ``tai_list``.

    ``paging_drx``: the UE-specific DRX cycle in radio frames (32, 64, 128, 256); ``paging_priority``:
    1..8; ``paging_origin``: ``"non-3gpp"`` when the paging is for non-3GPP access (TS 23.502 4.2.3.3).
    """

    ue_paging_identity: FiveGSTmsi
    tai_list: tuple[Tai, ...]
    paging_drx: int | None = None
    paging_priority: int | None = None
    paging_origin: str | None = None
