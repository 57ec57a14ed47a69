"""Rekeying of the femto backhaul (RFC 7296 2.8, TS 33.210 5.4: CHILD SA and IKE SA lifetimes).

The production profile rekeys the CHILD SA after 1 h and the IKE SA after 4 h
(``testbed.segw.profiles``); here the femto asks for seconds so the test can watch a rekey
happen: new SPIs, the tunnel stays usable while and after it rekeys, and still only the
strong proposals are negotiated. Control: without short lifetimes the SPIs stay the same over
the same time.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from testbed.segw import profiles
from tests.integration.segw.conftest import Backhaul

OUI = "001122"


def _child(bh: Backhaul) -> tuple[dict[str, Any], dict[str, Any]]:
    children = [c for c in bh.femto_vici.child_sas() if c[2].get("state") == "INSTALLED"]
    assert len(children) == 1, children
    _, ike, child = children[0]
    return ike, child


def _installed(bh: Backhaul) -> tuple[set[str], set[str]]:
    """IKE SA SPIs and inbound CHILD SA SPIs of the femto's installed SAs (two of each while a rekey
    overlaps old and new)."""
    ikes, childs = set(), set()
    for _, ike, child in bh.femto_vici.child_sas():
        if child.get("state") == "INSTALLED":
            ikes.add(ike["initiator-spi"])
            childs.add(child["spi-in"])
    return ikes, childs


def _short_lifetimes(bh: Backhaul, *, child_s: int, ike_s: int | None = None) -> dict[str, Any]:
    base = profiles.femto_conn(bh.lab.addr_segw, "x", cert=b"", root=b"", remote_ts=bh.lab.services)
    children = copy.deepcopy(base["children"])
    children["femto"]["rekey_time"] = f"{child_s}s"
    children["femto"]["life_time"] = f"{child_s + 5}s"
    children["femto"]["rand_time"] = "0s"
    extra: dict[str, Any] = {"children": children}
    if ike_s is not None:  # hard expiry well after the rekey (over_time), else the SA ends instead
        extra.update({"rekey_time": f"{ike_s}s", "over_time": "10s", "rand_time": "0s"})
    return extra


def _ping(bh: Backhaul) -> bool:
    r = bh.lab.exec(bh.lab.ns_femto, "ping", "-c", "2", "-i", "0.2", "-W", "2", bh.lab.services[0])
    return r.returncode == 0


def test_child_and_ike_sa_rekey_keeps_the_tunnel(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    bh.configure(run_pki, run_pki.segw(), run_pki.femto(OUI, "RK1"),
                 femto_conn_extra=_short_lifetimes(bh, child_s=3, ike_s=6))
    bh.initiate()
    (ike_spi,), (spi_in,) = _installed(bh)
    assert _ping(bh)
    deadline = time.monotonic() + 15
    child_rekeyed = ike_rekeyed = False
    while time.monotonic() < deadline and not (child_rekeyed and ike_rekeyed):
        time.sleep(0.25)
        ikes, childs = _installed(bh)
        child_rekeyed = child_rekeyed or bool(childs - {spi_in})
        ike_rekeyed = ike_rekeyed or bool(ikes - {ike_spi})
    assert child_rekeyed, "CHILD SA not rekeyed within 15 s"
    assert ike_rekeyed, "IKE SA not rekeyed within 15 s"
    time.sleep(1.0)  # the old SAs are deleted after the overlap
    # the tunnel carries traffic after the rekeys, with the same strong algorithms and selectors
    assert _ping(bh)
    ike, child = _child(bh)
    assert ike["initiator-spi"] != ike_spi and child["spi-in"] != spi_in
    assert ike["encr-alg"] in ("AES_GCM_16", "AES_CBC") and child["encr-alg"] in ("AES_GCM_16", "AES_CBC")
    assert sorted(child["remote-ts"]) == sorted(f"{a}/32" for a in bh.lab.services)
    # the SeGW holds one installed CHILD SA for the femto, not leftovers of the old ones
    segw = [c for c in bh.segw_vici.child_sas() if c[2].get("state") == "INSTALLED"]
    assert len(segw) == 1


def test_control_production_lifetimes_do_not_rekey_in_the_same_time(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    bh.configure(run_pki, run_pki.segw(), run_pki.femto(OUI, "RK2"))
    bh.initiate()
    before = _installed(bh)
    time.sleep(6)
    assert _installed(bh) == before
    _, child = _child(bh)
    assert int(child["rekey-time"]) > 3000  # about an hour left (profiles.CHILD_REKEY = 1h)
