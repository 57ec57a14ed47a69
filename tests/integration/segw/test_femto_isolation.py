"""Enterprise case of issue 6: femtos behind one SeGW cannot reach each other (TS 33.320 7.4).

Two femtos, each in its own namespace with its own charon and device certificate, build
tunnels to the same SeGW (:class:`testbed.segw.netns_lab.SegwStarLab`; the SeGW namespace
forwards, as a SeGW in front of an operator network does). Both femtos are *greedy*: they
ask for everything (``0.0.0.0/0``) as remote traffic selector (RFC 7296 2.9), as a
compromised femto would. Femto A then routes femto B's virtual IP into
its tunnel and pings it.

* production SeGW profile (:func:`testbed.segw.profiles.segw_conn`: local TS = the service
  /32s, plus the pool-to-pool forward drop of :func:`~testbed.segw.profiles.segw_nft_ruleset`):
  the SeGW narrows every CHILD SA to the services, femto A's ping to B fails (no SA carries
  it: nothing enters A's tunnel, nothing reaches B), while A reaches an operator service
  through the tunnel (control);
* control with the opposite verdict: a SeGW offering ``0.0.0.0/0`` (the usual VPN default)
  and without the forward rule lets A reach B (so the failure above is the SeGW's doing, and
  this test would see a leak);
* the forward rule alone (leaky selectors + nftables drop) stops it at the SeGW: A's packets
  arrive through A's tunnel and are counted by the drop rule, B receives nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.segw import profiles
from testbed.segw.charon import CHARON_BIN
from testbed.segw.netns_lab import SegwStarLab

A, B = 0, 1
ANY = "0.0.0.0/0"


def _netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.fixture
def star(tmp_path: Path) -> Iterator[SegwStarLab]:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces, mount namespaces, TUN devices")
    if not CHARON_BIN.exists() or not shutil.which("unshare"):
        pytest.skip("strongSwan charon or unshare missing (run scripts/setup.sh)")
    lab = SegwStarLab(2).create()
    pids: list[int] = []
    try:
        lab.start_charons(tmp_path / "n")
        pids = [c.pid for c in (lab.segw, *(f.charon for f in lab.femtos)) if c is not None and c.pid is not None]
        assert len(pids) == 3
        yield lab
    finally:
        lab.destroy()
    left = _netns_names() & set(lab.namespaces())
    assert not left, f"namespaces left behind: {left}"
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")], "charon processes left behind"


def _bring_up(lab: SegwStarLab, pki: Any, *, segw_ts: list[str], nft: bool) -> tuple[str, str]:
    """SeGW with local TS ``segw_ts``, two greedy femtos (remote TS everything), both tunnels up; the VIPs."""
    if nft:
        lab.apply_nft(lab.ns_segw, profiles.segw_nft_ruleset(lab.pool))
    lab.configure_segw(pki, local_ts=segw_ts)
    for i in (A, B):
        lab.configure_femto(i, pki, remote_ts=[ANY])
        lab.initiate(i)
    return _vip(lab, A), _vip(lab, B)


def _vip(lab: SegwStarLab, i: int) -> str:
    vici = lab.femtos[i].vici
    assert vici is not None
    children = vici.child_sas()
    assert len(children) == 1 and children[0][2]["state"] == "INSTALLED", children
    vips = children[0][1]["local-vips"]
    assert len(vips) == 1, vips
    return str(vips[0])


def _femto_child(lab: SegwStarLab, i: int) -> dict[str, Any]:
    vici = lab.femtos[i].vici
    assert vici is not None
    return vici.child_sas()[0][2]


def _segw_child(lab: SegwStarLab, vip: str) -> dict[str, Any]:
    """The SeGW's CHILD SA whose remote traffic selector is the femto's virtual IP."""
    assert lab.segw_vici is not None
    found = [c for _, _, c in lab.segw_vici.child_sas() if c["remote-ts"] == [f"{vip}/32"]]
    assert len(found) == 1, lab.segw_vici.child_sas()
    return found[0]


def _packets_in(lab: SegwStarLab, vip: str) -> int:
    return int(_segw_child(lab, vip).get("packets-in", 0))


def _rx_packets(lab: SegwStarLab, ns: str, dev: str) -> int:
    out = subprocess.run(["ip", "-n", ns, "-j", "-s", "link", "show", "dev", dev], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return int(json.loads(out)[0]["stats64"]["rx"]["packets"])


def _nft_drops(lab: SegwStarLab) -> int:
    out = lab.exec(lab.ns_segw, "nft", "list", "table", "inet", "nrft_segw")
    assert out.returncode == 0, out.stderr
    m = re.search(r"counter packets (\d+)", out.stdout)
    assert m, out.stdout
    return int(m.group(1))


def _ping(lab: SegwStarLab, i: int, dst: str) -> subprocess.CompletedProcess[str]:
    return lab.exec(lab.femtos[i].ns, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", dst, timeout=30)


def _attack(lab: SegwStarLab, vip_a: str, vip_b: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Femto A routes B's virtual IP into its tunnel (like the services) and pings it; (ping, packets B got)."""
    dev = lab.tunnel_dev(A)
    res = lab.exec(lab.femtos[A].ns, "ip", "route", "replace", f"{vip_b}/32", "dev", dev, "src", vip_a)
    assert res.returncode == 0, res.stderr
    dev_b = lab.tunnel_dev(B)
    rx0 = _rx_packets(lab, lab.femtos[B].ns, dev_b)
    ping = _ping(lab, A, vip_b)
    return ping, _rx_packets(lab, lab.femtos[B].ns, dev_b) - rx0


def _services_ts(lab: SegwStarLab) -> list[str]:
    return sorted(f"{a}/32" for a in lab.services)


def test_femto_cannot_reach_other_femto_through_segw(star: SegwStarLab, run_pki: Any) -> None:
    lab = star
    vip_a, vip_b = _bring_up(lab, run_pki, segw_ts=lab.services, nft=True)
    assert vip_a != vip_b

    # the SeGW narrowed both greedy femtos to the operator services (RFC 7296 2.9)
    for i, vip in ((A, vip_a), (B, vip_b)):
        segw_child = _segw_child(lab, vip)
        assert sorted(segw_child["local-ts"]) == _services_ts(lab), segw_child
        femto_child = _femto_child(lab, i)
        assert sorted(femto_child["remote-ts"]) == _services_ts(lab), femto_child
        assert femto_child["local-ts"] == [f"{vip}/32"]

    # control: A reaches an operator service, through its tunnel
    before = _packets_in(lab, vip_a)
    ok = _ping(lab, A, lab.services[0])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert _packets_in(lab, vip_a) - before >= 3

    # A -> B: refused; nothing entered A's tunnel, nothing reached B, nothing hit the forward rule
    before = _packets_in(lab, vip_a)
    ping, b_got = _attack(lab, vip_a, vip_b)
    assert ping.returncode != 0, ping.stdout
    assert " 0 received" in ping.stdout, ping.stdout
    assert b_got == 0
    assert _packets_in(lab, vip_a) == before
    assert _nft_drops(lab) == 0


def test_control_leaky_segw_selectors_let_femtos_reach_each_other(star: SegwStarLab, run_pki: Any) -> None:
    lab = star
    vip_a, vip_b = _bring_up(lab, run_pki, segw_ts=[ANY], nft=False)
    # the SeGW (not the femto) decides: now every CHILD SA covers everything
    assert _femto_child(lab, A)["remote-ts"] == [ANY]
    assert _segw_child(lab, vip_b)["local-ts"] == [ANY]

    ping, b_got = _attack(lab, vip_a, vip_b)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert b_got >= 3


def test_segw_forward_rule_stops_femto_to_femto_with_leaky_selectors(star: SegwStarLab, run_pki: Any) -> None:
    lab = star
    vip_a, vip_b = _bring_up(lab, run_pki, segw_ts=[ANY], nft=True)
    assert _femto_child(lab, A)["remote-ts"] == [ANY]

    before = _packets_in(lab, vip_a)
    ping, b_got = _attack(lab, vip_a, vip_b)
    assert ping.returncode != 0, ping.stdout
    assert b_got == 0
    # the echo requests did reach the SeGW through A's tunnel, and its forward rule dropped them
    assert _packets_in(lab, vip_a) - before >= 3
    assert _nft_drops(lab) >= 3
