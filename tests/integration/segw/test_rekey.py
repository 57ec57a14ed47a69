"""Rekeying and liveness of the femto backhaul (RFC 7296 2.8, TS 33.210 5.4: CHILD SA and IKE SA lifetimes).

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

from testbed.runtime.events import read_events
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


_BLOCK_IKE = """
table inet dpdtest {
  chain in { type filter hook input priority 0; udp sport { 500, 4500 } drop; }
  chain out { type filter hook output priority 0; udp dport { 500, 4500 } drop; }
}
"""


def test_dead_femto_is_detected_by_dpd_and_its_tunnel_removed(backhaul: Backhaul, run_pki) -> None:
    """RFC 7296 2.4 liveness: a femto that goes silent (power cut, link gone) is detected by the
    SeGW's dead peer detection and its SAs and virtual IP are released (TS 33.320 7.4). The
    production DPD interval is 10 s (``profiles.DPD_DELAY``); here 2 s, with this testbed's
    retransmission settings (3 tries, ~7 s) the SeGW gives up ~9 s after the femto fell silent."""
    bh = backhaul
    femto, segw = run_pki.femto(OUI, "DPD1"), run_pki.segw()
    bh.configure(run_pki, segw, femto)
    paths = profiles.PkiPaths(cert=segw.cert_path, key=segw.key_path, root=run_pki.root.cert_path)
    conn = profiles.segw_conn(paths, "femtos", bh.lab.services)
    assert conn["dpd_delay"] == profiles.DPD_DELAY
    conn["dpd_delay"] = "2s"
    bh.segw_vici.load_conn("segw", conn)
    bh.initiate()
    assert len(bh.segw_vici.child_sas()) == 1
    # control: a live femto answers the DPD exchanges, the tunnel stays
    time.sleep(4.5)
    assert len(bh.segw_vici.child_sas()) == 1 and _ping(bh)
    # the femto falls silent: no IKE/ESP-in-UDP in or out of its namespace
    bh.lab.apply_nft(bh.lab.ns_femto, _BLOCK_IKE)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 25 and bh.segw_vici.list_sas():
        time.sleep(0.5)
    gone_after = time.monotonic() - t0
    assert not bh.segw_vici.list_sas(), "SeGW still holds the dead femto's IKE SA after 25 s"
    print(f"dead femto detected by DPD after {gone_after:.1f} s")
    assert gone_after > 2.0  # detected by DPD, not by anything immediate
    down = [e for e in read_events(bh.events_path) if e["type"] == "segw.tunnel_down"]
    assert down and down[-1]["remote_id"] == run_pki.femto_identity(OUI, "DPD1")
