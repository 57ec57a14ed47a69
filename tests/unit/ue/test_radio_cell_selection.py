"""Cell selection matrix: TS 38.304 4.5 / 5.2 / 5.3.1 with the CAG rules of TS 23.501 5.30.3."""

from __future__ import annotations

import pytest

from testbed.protocols import rrc
from testbed.protocols.ngap.ies import Plmn
from testbed.ue.radio.cell_selection import Cell, classify, select_acceptable_cell, select_cell

from .fake_nas import FakeNas

P = ("001", "01")
CAG, OTHER = 0x101, 0x202


def cell(sti: int, dbm: int = -50, *, cag_ids=(), cag_only=False, barred=False, plmn=P, reserved=False,
         mib=True, sib1=True) -> Cell:
    s = rrc.Sib1.for_cell(Plmn(*plmn), 1, sti, cag_ids=cag_ids, cag_only=cag_only,
                          reserved_for_operator_use=reserved) if sib1 else None
    return Cell(sti, dbm, rrc.Mib(cell_barred=barred) if mib else None, s)


PLAIN = cell(1)                                   # non-CAG cell
HYBRID = cell(2, cag_ids=(CAG,))                  # CAG cell that also serves the PLMN
CAG_ONLY = cell(3, cag_ids=(CAG,), cag_only=True)  # NPN-only (CAG-only) cell, CAG 0x101
CAG_ONLY_OTHER = cell(4, cag_ids=(OTHER,), cag_only=True)

UES = {
    "member": dict(allowed_cag_ids={CAG}),
    "member-cag-only": dict(allowed_cag_ids={CAG}, cag_only=True),
    "non-member": dict(allowed_cag_ids=set()),
    "non-member-cag-only": dict(allowed_cag_ids={0x303}, cag_only=True),
}

# expected (suitable via, or "" when not suitable) per UE and cell
MATRIX = {
    "member":              {PLAIN: "plmn", HYBRID: "cag", CAG_ONLY: "cag", CAG_ONLY_OTHER: ""},
    "member-cag-only":     {PLAIN: "",     HYBRID: "cag", CAG_ONLY: "cag", CAG_ONLY_OTHER: ""},
    "non-member":          {PLAIN: "plmn", HYBRID: "plmn", CAG_ONLY: "", CAG_ONLY_OTHER: ""},
    "non-member-cag-only": {PLAIN: "",     HYBRID: "",    CAG_ONLY: "",  CAG_ONLY_OTHER: ""},
}


@pytest.mark.parametrize("ue", list(UES))
@pytest.mark.parametrize("c", [PLAIN, HYBRID, CAG_ONLY, CAG_ONLY_OTHER], ids=["plain", "hybrid", "cag-only",
                                                                               "cag-only-other"])
def test_matrix(ue: str, c: Cell) -> None:
    nas = FakeNas(**UES[ue])
    v = classify(c, nas, P)
    assert v.via == MATRIX[ue][c], v
    assert v.suitable == bool(MATRIX[ue][c])
    assert v.acceptable  # every candidate is acceptable for limited service (emergency)
    assert (select_cell([c], nas) is c) == v.suitable


def test_selected_plmn_index_points_at_the_npn_entry_for_cag_access() -> None:
    assert classify(CAG_ONLY, FakeNas({CAG}), P).plmn_index == 2  # 1 PLMN, then the NPN identity
    assert classify(HYBRID, FakeNas({CAG}), P).plmn_index == 2
    assert classify(HYBRID, FakeNas(), P).plmn_index == 1
    assert classify(HYBRID, FakeNas({CAG}), P).cag_ids == (CAG,)


def test_cag_only_ue_only_selects_a_cag_cell_in_its_list() -> None:
    nas = FakeNas({CAG}, cag_only=True)
    cells = [cell(10, -30), cell(11, -40, cag_ids=(OTHER,), cag_only=True), cell(12, -90, cag_ids=(CAG,),
                                                                                 cag_only=True)]
    assert select_cell(cells, nas).sti == 12  # the weakest, but the only one allowed


def test_member_prefers_stronger_cell_and_member_selects_cag_cell() -> None:
    nas = FakeNas({CAG})
    assert select_cell([cell(1, -80), cell(2, -40, cag_ids=(CAG,), cag_only=True)], nas).sti == 2
    assert select_cell([cell(1, -30), cell(2, -40, cag_ids=(CAG,), cag_only=True)], nas).sti == 1


def test_after_cause_76_the_cag_cell_is_excluded() -> None:
    nas = FakeNas({CAG})
    cag_cell, plain = cell(2, -40, cag_ids=(CAG,), cag_only=True), cell(1, -80)
    assert select_cell([cag_cell, plain], nas) is cag_cell
    nas.cell = (P, 1, (CAG,))
    nas.nas_received(b"REJECT:76")  # the NAS layer removes the cell's CAG IDs from the allowed list
    assert select_cell([cag_cell, plain], nas) is plain
    assert classify(cag_cell, nas, P).reason == "cag-not-allowed,npn-only"
    assert select_acceptable_cell([cag_cell], nas) is cag_cell  # still usable for an emergency registration


def test_non_member_cannot_select_cag_only_cell_but_may_camp_for_emergency() -> None:
    nas = FakeNas()
    c = cell(3, -40, cag_ids=(CAG,), cag_only=True)
    assert select_cell([c], nas) is None
    assert select_acceptable_cell([c], nas) is c


def test_strongest_suitable_wins_and_minus_120_dbm_cutoff() -> None:
    nas = FakeNas()
    a, b, c = cell(1, -100), cell(2, -70), cell(3, -121)
    assert select_cell([a, b, c], nas) is b
    assert select_cell([cell(1, -120)], nas) is not None  # -120 dBm still has coverage
    assert select_cell([c], nas) is None and select_acceptable_cell([c], nas) is None
    assert classify(c, nas, P).reason == "out-of-coverage"


def test_ties_keep_the_serving_cell() -> None:
    nas = FakeNas()
    a, b = cell(5, -60), cell(6, -60)
    assert select_cell([a, b], nas).sti == 5
    assert select_cell([a, b], nas, serving=6).sti == 6


@pytest.mark.parametrize("c, reason", [
    (cell(1, barred=True), "barred"),
    (cell(1, mib=False), "no-system-information"),
    (cell(1, sib1=False), "no-system-information"),
    (cell(1, plmn=("999", "99")), "other-plmn"),
    (cell(1, reserved=True), "reserved-for-operator-use"),
])
def test_not_suitable(c: Cell, reason: str) -> None:
    nas = FakeNas()
    v = classify(c, nas, P)
    assert not v.suitable and v.reason == reason
    assert select_cell([c], nas) is None
    # another PLMN's cell is acceptable (limited service); barred, reserved or unknown cells are not
    assert v.acceptable == (reason == "other-plmn")


def test_reserved_for_other_use_without_npn_is_barred() -> None:
    s = rrc.Sib1.for_cell(Plmn(*P), 1, 1)
    s.cell_reserved_for_other_use = True
    c = Cell(1, -40, rrc.Mib(), s)
    v = classify(c, FakeNas(), P)
    assert not v.suitable and not v.acceptable and v.reason == "reserved-for-other-use"


def test_acceptable_prefers_the_selected_plmn() -> None:
    nas = FakeNas(cag_only=True)
    other, own = cell(1, -30, plmn=("999", "99")), cell(2, -60)
    assert select_acceptable_cell([other, own], nas) is own


def test_ignore_cag_only_knob_selects_anything() -> None:
    nas = FakeNas({0x303}, cag_only=True, ignore_cag_only=True)
    assert select_cell([CAG_ONLY_OTHER], nas) is CAG_ONLY_OTHER


def test_plmn_taken_from_the_nas_config() -> None:
    nas = FakeNas(mcc="999", mnc="99")
    assert select_cell([cell(1)], nas) is None
    assert select_cell([cell(1, plmn=("999", "99"))], nas) is not None
