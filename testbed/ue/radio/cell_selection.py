"""Cell selection (TS 38.304 clause 5.2) over the cells a UE hears on the air segment.

A :class:`Cell` is what the UE knows about one gNB cell: the signal strength of its last
HEARTBEAT_ACK, its MIB and SIB1 (decoded with :mod:`testbed.protocols.rrc`). The rules:

* **Candidate** (TS 38.304 5.2.3.2 and 5.3.1): MIB and SIB1 acquired, cell selection criterion S
  fulfilled (here: signal strength >= :data:`MIN_DBM`, -120 dBm, below which a UERANSIM UE sees no
  coverage), ``cellBarred`` not set, the selected PLMN's ``cellReservedForOperatorUse`` not set
  (the UE has no access identity 11 or 15), and ``cellReservedForOtherUse`` only together with an
  NPN identity list (an *NPN-only*, here CAG-only, cell; a CAG-capable UE considers it, every other
  UE treats it as barred).
* **Suitable** (TS 38.304 clause 4.5, "suitable cell" for a UE not in SNPN access mode), for the
  selected PLMN either

  - the cell broadcasts the PLMN in ``plmn-IdentityInfoList`` (without CAG IDs), the cell is not
    NPN-only, and the UE may use non-CAG cells: it is not "CAG-only" for that PLMN
    (TS 23.501 5.30.3.3) - asked as ``nas.cell_allowed(plmn, ())``; or
  - the cell broadcasts, for the PLMN, a CAG ID in the UE's Allowed CAG list (a *CAG member
    cell*) - asked as ``nas.cell_allowed(plmn, cag_ids)``, which also reflects what the NAS layer
    learnt from cause #76 (TS 24.501 5.5.1.2.5: the CAG IDs are removed from the Allowed CAG
    list, so the cell stops being suitable and the UE reselects).

  The strongest suitable cell wins (:func:`select_cell`); on equal strength the current serving
  cell stays, then the lowest STI (deterministic).
* **Acceptable** (TS 38.304 4.5, 5.2.6 "camped on any cell"): a candidate of any PLMN, CAG rules
  aside; the UE camps there in limited service, where only an emergency registration is allowed
  (TS 23.501 5.30.3.3: a UE may access a CAG cell for emergency services regardless of its
  Allowed CAG list). :func:`select_acceptable_cell` picks the strongest, preferring the selected
  PLMN.

The access path matters on the air: ``selectedPLMN-Identity`` in RRCSetupComplete indexes first
the PLMNs of ``plmn-IdentityInfoList`` and then continues with the NPN identities of
``npn-IdentityInfoList`` (TS 38.331 6.2.2 RRCSetupComplete-IEs and SIB1 field descriptions), so a
CAG member selects the NPN entry and the gNB can put the cell's CAG ID into the Initial UE Message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from testbed.protocols import rrc

__all__ = ["Cell", "MIN_DBM", "SystemInfo", "Verdict", "classify", "select_acceptable_cell", "select_cell"]

MIN_DBM = -120
"""Below this signal strength a cell is out of coverage (reference: radio-link-protocol.md)."""

Plmn = tuple[str, str]


class CagPolicy(Protocol):
    """The part of :class:`testbed.ue.nas.UeNas` cell selection asks."""

    def cell_allowed(self, plmn: tuple[str, str], cag_ids: tuple[int, ...]) -> bool: ...


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """What cell selection needs from one SIB1 (TS 38.331 6.2.2 SIB1, CellAccessRelatedInfo)."""

    plmns: tuple[tuple[Plmn, int | None, int, bool], ...]
    """(PLMN, TAC, NCI, reserved for operator use) for every PLMN of plmn-IdentityInfoList, in order."""
    npns: tuple[tuple[Plmn, tuple[int, ...], int, int, bool], ...]
    """(PLMN, CAG IDs, TAC, NCI, reserved for operator use) for every PNI-NPN of npn-IdentityInfoList."""
    reserved_for_other_use: bool

    @classmethod
    def from_sib1(cls, sib1: rrc.Sib1) -> SystemInfo:
        plmns = tuple(((p.mcc, p.mnc), info.tac, info.nci, info.reserved_for_operator_use)
                      for info in sib1.plmn_infos for p in info.plmns)
        npns = tuple(((n.plmn.mcc, n.plmn.mnc), tuple(n.cag_ids), info.tac, info.nci,
                      info.reserved_for_operator_use) for info in sib1.npn_infos for n in info.npns)
        return cls(plmns, npns, sib1.cell_reserved_for_other_use)

    @property
    def npn_only(self) -> bool:
        """TS 38.304 5.3.1: cellReservedForOtherUse with an NPN identity list."""
        return self.reserved_for_other_use and bool(self.npns)

    @property
    def first_plmn(self) -> Plmn | None:
        return self.plmns[0][0] if self.plmns else None

    def plmn_entry(self, plmn: Plmn) -> tuple[int, tuple[Plmn, int | None, int, bool]] | None:
        for i, e in enumerate(self.plmns):
            if e[0] == plmn:
                return i + 1, e
        return None

    def npn_entry(self, plmn: Plmn) -> tuple[int, tuple[Plmn, tuple[int, ...], int, int, bool]] | None:
        for i, e in enumerate(self.npns):
            if e[0] == plmn:
                return len(self.plmns) + i + 1, e
        return None

    def cag_ids(self, plmn: Plmn | None = None) -> tuple[int, ...]:
        """CAG IDs broadcast for ``plmn`` (all of them when None)."""
        return tuple(c for p, cags, *_ in self.npns if plmn is None or p == plmn for c in cags)

    def tac_nci(self, plmn: Plmn | None) -> tuple[int | None, int]:
        if plmn is not None:
            pe = self.plmn_entry(plmn)
            if pe is not None:
                return pe[1][1], pe[1][2]
            ne = self.npn_entry(plmn)
            if ne is not None:
                return ne[1][2], ne[1][3]
        if self.plmns:
            return self.plmns[0][1], self.plmns[0][2]
        return None, 0


class Cell:
    """One cell as the UE sees it: the gNB's STI, the last signal strength, MIB and SIB1."""

    __slots__ = ("sti", "dbm", "mib", "si", "sib1")

    def __init__(self, sti: int, dbm: int, mib: rrc.Mib | None = None, sib1: rrc.Sib1 | None = None) -> None:
        self.sti = sti
        self.dbm = dbm
        self.mib = mib
        self.sib1: rrc.Sib1 | None = None
        self.si: SystemInfo | None = None
        if sib1 is not None:
            self.set_sib1(sib1)

    def set_sib1(self, sib1: rrc.Sib1) -> None:
        if sib1 is not self.sib1:
            self.sib1 = sib1
            self.si = SystemInfo.from_sib1(sib1)

    @property
    def barred(self) -> bool:
        return self.mib is not None and self.mib.cell_barred

    def __repr__(self) -> str:
        return f"Cell(sti={self.sti:#x}, dbm={self.dbm}, mib={self.mib is not None}, si={self.si})"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Cell selection verdict for one cell: ``suitable`` (via ``"plmn"`` or ``"cag"``), else
    ``acceptable`` (limited service), and ``reason`` when not suitable."""

    suitable: bool
    acceptable: bool
    via: str = ""
    reason: str = ""
    plmn_index: int = 1
    cag_ids: tuple[int, ...] = ()


def _candidate_reason(cell: Cell, min_dbm: int) -> str:
    if cell.mib is None or cell.si is None:
        return "no-system-information"
    if cell.dbm < min_dbm:
        return "out-of-coverage"
    if cell.mib.cell_barred:
        return "barred"
    if cell.si.reserved_for_other_use and not cell.si.npns:
        return "reserved-for-other-use"
    return ""


def classify(cell: Cell, nas: CagPolicy, plmn: Plmn, min_dbm: int = MIN_DBM) -> Verdict:
    """TS 38.304 4.5 / 5.2.3 / 5.3.1 verdict for ``cell`` and the selected ``plmn`` (see module doc)."""
    why = _candidate_reason(cell, min_dbm)
    if why:
        return Verdict(False, False, reason=why)
    si = cell.si
    assert si is not None
    reasons = []
    npn = si.npn_entry(plmn)
    if npn is not None:
        idx, (_, cags, _tac, _nci, reserved) = npn
        if reserved:
            reasons.append("reserved-for-operator-use")
        elif nas.cell_allowed(plmn, cags):
            return Verdict(True, True, "cag", plmn_index=idx, cag_ids=cags)
        else:
            reasons.append("cag-not-allowed")
    pe = si.plmn_entry(plmn)
    if pe is not None:
        idx, (_, _tac, _nci, reserved) = pe
        if reserved:
            reasons.append("reserved-for-operator-use")
        elif si.npn_only:
            reasons.append("npn-only")
        elif nas.cell_allowed(plmn, ()):
            return Verdict(True, True, "plmn", plmn_index=idx)
        else:
            reasons.append("cag-only-ue")
    elif npn is None:
        reasons.append("other-plmn")
    return Verdict(False, not _all_reserved(si), reason=",".join(dict.fromkeys(reasons)))


def _all_reserved(si: SystemInfo) -> bool:
    entries = [e[3] for e in si.plmns] + [e[4] for e in si.npns]
    return bool(entries) and all(entries)


def _rank(cells: Iterable[Cell], serving: int | None) -> list[Cell]:
    return sorted(cells, key=lambda c: (-c.dbm, c.sti != serving, c.sti))


def select_cell(cells: Iterable[Cell], nas: CagPolicy, plmn: Plmn | None = None, *, serving: int | None = None,
                min_dbm: int = MIN_DBM) -> Cell | None:
    """The strongest suitable cell for ``plmn`` (default: the NAS layer's PLMN), or None.

    TS 38.304 5.2.3 (initial cell selection) and 5.2.4 (reselection, ranked by signal strength).
    ``nas`` is anything with ``cell_allowed(plmn, cag_ids)`` (the NAS layer's CAG rules).
    """
    plmn = plmn if plmn is not None else _nas_plmn(nas)
    for cell in _rank(cells, serving):
        if classify(cell, nas, plmn, min_dbm).suitable:
            return cell
    return None


def select_acceptable_cell(cells: Iterable[Cell], nas: CagPolicy, plmn: Plmn | None = None, *,
                           serving: int | None = None, min_dbm: int = MIN_DBM) -> Cell | None:
    """The strongest acceptable cell (limited service, TS 38.304 5.2.6), cells of ``plmn`` first."""
    plmn = plmn if plmn is not None else _nas_plmn(nas)
    ranked = [c for c in _rank(cells, serving) if classify(c, nas, plmn, min_dbm).acceptable]
    ranked.sort(key=lambda c: c.si is None or (c.si.plmn_entry(plmn) is None and c.si.npn_entry(plmn) is None))
    return ranked[0] if ranked else None


def _nas_plmn(nas: object) -> Plmn:
    cfg = getattr(nas, "config", None)
    mcc, mnc = getattr(cfg, "mcc", None), getattr(cfg, "mnc", None)
    if not (isinstance(mcc, str) and isinstance(mnc, str)):
        raise ValueError("give the selected PLMN: the NAS layer has no config.mcc/config.mnc")
    return (mcc, mnc)
