"""CAG information on the UE (TS 23.501 5.30.3; TS 24.501 5.5.1.2.4, 5.5.1.2.5, 5.4.4.3; TS 38.304 5.2.4).

The UE keeps, per PLMN, its Allowed CAG list and the "CAG-only" indication (initially the USIM's
for the HPLMN; replaced by the network's CAG information list in REGISTRATION ACCEPT,
CONFIGURATION UPDATE COMMAND, REGISTRATION REJECT / DEREGISTRATION REQUEST with #76), plus the
CAG IDs rejected with #76 (removed from the usable set until the network sends a new list).

Cell selection rule (:func:`cell_allowed`, TS 23.501 5.30.3.2, TS 38.304 5.2.4): a CAG cell
(one that broadcasts CAG IDs for the PLMN) may be selected only if one of its CAG IDs is in the
usable Allowed CAG list; a non-CAG cell only if the UE is not "CAG-only" for that PLMN. Emergency
access ignores both (limited service in any acceptable cell, TS 23.501 5.30.3.3).
"""

from __future__ import annotations

from collections.abc import Iterable

from testbed.protocols import nas

__all__ = ["CagStore"]

Plmn = tuple[str, str]


class CagStore:
    """Per-PLMN Allowed CAG lists, CAG-only flags and #76-rejected CAG IDs of one UE."""

    __slots__ = ("lists", "rejected")

    def __init__(self, home: Plmn, allowed: Iterable[int], cag_only: bool) -> None:
        self.lists: dict[Plmn, tuple[frozenset[int], bool]] = {}
        if allowed or cag_only:
            self.lists[home] = (frozenset(allowed), bool(cag_only))
        self.rejected: dict[Plmn, set[int]] = {}

    def usable(self, plmn: Plmn) -> frozenset[int]:
        allowed, _ = self.lists.get(plmn, (frozenset(), False))
        rej = self.rejected.get(plmn)
        return allowed - rej if rej else allowed

    def cag_only(self, plmn: Plmn) -> bool:
        return self.lists.get(plmn, (frozenset(), False))[1]

    def cell_allowed(self, plmn: Plmn, cag_ids: Iterable[int]) -> bool:
        ids = tuple(cag_ids)
        if ids:
            usable = self.usable(plmn)
            return any(c in usable for c in ids)
        return not self.cag_only(plmn)

    def apply(self, entries: Iterable[nas.CagInfo]) -> None:
        """Replace the stored CAG information with the network's list (TS 24.501 5.5.1.2.4: the
        list replaces any stored one; PLMNs without an entry have no CAG information)."""
        self.lists = {(e.plmn.mcc, e.plmn.mnc): (frozenset(e.cag_ids), bool(e.cag_only)) for e in entries}
        for plmn in self.lists:
            self.rejected.pop(plmn, None)

    def reject_cell(self, plmn: Plmn, cag_ids: Iterable[int]) -> None:
        """#76 in a CAG cell: its CAG IDs leave the usable Allowed CAG list (5.5.1.2.5); in a
        non-CAG cell: the UE is CAG-only for the PLMN from now on."""
        ids = tuple(cag_ids)
        allowed, only = self.lists.get(plmn, (frozenset(), False))
        if ids:
            self.rejected.setdefault(plmn, set()).update(ids)
            self.lists[plmn] = (allowed - frozenset(ids), only)
        else:
            self.lists[plmn] = (allowed, True)

    def as_tuple(self) -> tuple[tuple[str, str, tuple[int, ...], bool], ...]:
        return tuple((m, n, tuple(sorted(ids)), only) for (m, n), (ids, only) in sorted(self.lists.items()))
