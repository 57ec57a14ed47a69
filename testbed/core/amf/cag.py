"""CAG admission decision (TS 23.501 5.30.3.3 and 5.30.3.4, TS 24.501 5.5.1.2.5 cause #76).

A pure function so that the verdict can be tested exhaustively and reused by registration,
service request and CAG refresh. Inputs: the CAG IDs of the cell the UE is on (from the NGAP
INITIAL UE MESSAGE's NPN access information; empty = a non-CAG cell), the UE's Allowed CAG list
for the serving PLMN and its "CAG-only" indication (subscription data from the UDM), and whether
this is an emergency registration (TS 24.501 5.5.1.2.4 / TS 23.501 5.30.3.4: access for emergency
services is not subject to the CAG restrictions).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["CagDecision", "check_cag_access"]


@dataclass(frozen=True, slots=True)
class CagDecision:
    """``allowed``; ``reason`` one of "member", "non-cag-cell", "emergency-bypass",
    "not-in-allowed-list", "cag-only-in-non-cag-cell"; ``matched`` the cell CAG ID that admitted the
    UE (None otherwise)."""

    allowed: bool
    reason: str
    matched: int | None = None


def check_cag_access(
    cell_cag_ids: Iterable[int], allowed: Iterable[int], cag_only: bool, emergency: bool
) -> CagDecision:
    """Whether a UE may use a cell (TS 23.501 5.30.3.3):

    * emergency: always (bypass);
    * CAG cell (``cell_cag_ids`` non-empty): only if at least one of the cell's CAG IDs is in the
      UE's Allowed CAG list, else #76 "not-in-allowed-list";
    * non-CAG cell: unless the UE is "CAG-only", else #76 "cag-only-in-non-cag-cell".
    """
    cells = tuple(cell_cag_ids)
    if emergency:
        return CagDecision(True, "emergency-bypass", None)
    if cells:
        allowed_set = frozenset(allowed)
        for cag in cells:
            if cag in allowed_set:
                return CagDecision(True, "member", cag)
        return CagDecision(False, "not-in-allowed-list", None)
    if cag_only:
        return CagDecision(False, "cag-only-in-non-cag-cell", None)
    return CagDecision(True, "non-cag-cell", None)
