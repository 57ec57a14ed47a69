"""The backhaul reachability policy, checked on a running topology.

What TS 33.320 clause 7 / TS 33.545 (via TR 33.745 KI#5, KI#9) ask of the
transport network, derived from the node roles so that it applies to any
topology:

1. a femto reaches the SeGW's public IKE ports, through the home NAT;
2. a femto does not reach the operator network (only the tunnel will);
3. an attacker on the Internet reaches the SeGW's IKE ports and nothing else of it,
   and nothing of the operator network;
4. UEs reach nothing but their air segment;
5. nobody outside reaches a UE's air address through the femto (not a router).

Every expectation comes with a control probe that must give the opposite
result (a listener that *is* reachable from the operator side, an air address
that *is* reachable from the air), so a broken probe cannot pass the policy.
"""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from testbed.runtime import reachability as R
from testbed.runtime.engine import Testbed
from testbed.topology.model import OPERATOR_KINDS, Role, SegmentKind

PROBE_TCP_PORT = 2222  # a listener on the SeGW that must not be reachable from the Internet


@dataclass(frozen=True)
class PolicyCheck:
    name: str
    expect: bool
    result: R.ProbeResult
    control: bool = False  # a control probe (proves the probe can succeed / fail)

    @property
    def ok(self) -> bool:
        return self.result.reachable == self.expect


def _public_address(tb: Testbed, node: str) -> str | None:
    for intf in tb.plan.nodes[node].interfaces:
        if tb.topology.segments[intf.segment].kind not in OPERATOR_KINDS:
            return intf.address
    return None


def _operator_address(tb: Testbed, node: str) -> str | None:
    for intf in tb.plan.nodes[node].interfaces:
        if tb.topology.segments[intf.segment].kind == SegmentKind.OPERATOR:
            return intf.address
    return None


def _nat_address(tb: Testbed, femto: str) -> str | None:
    """Public address the femto's traffic should appear from (its home router's outside address)."""
    home = {i.segment for i in tb.plan.nodes[femto].interfaces
            if tb.topology.segments[i.segment].kind == SegmentKind.HOME_LAN}
    for n in tb.plan.nodes.values():
        if n.role == Role.HOME_ROUTER and any(i.segment in home for i in n.interfaces):
            for i in n.interfaces:
                if i.name in n.nat_outside:
                    return i.address
    return None


def check_policy(tb: Testbed, max_femtos: int = 2, max_ues: int = 2) -> list[PolicyCheck]:
    plan, topo = tb.plan, tb.topology
    by_role = {r: [n for n, p in plan.nodes.items() if p.role == r] for r in Role}
    segws = by_role[Role.SEGW]
    femtos = by_role[Role.FEMTO][:max_femtos]
    ues = by_role[Role.UE_HOST][:max_ues]
    op_nodes = [n for n, p in plan.nodes.items() if p.role != Role.SEGW and _operator_address(tb, n)]
    inet_attackers = [n for n in by_role[Role.ATTACKER]
                      if any(topo.segments[i.segment].kind == SegmentKind.INTERNET for i in plan.nodes[n].interfaces)]
    lan_attackers = [n for n in by_role[Role.ATTACKER]
                     if any(topo.segments[i.segment].kind == SegmentKind.HOME_LAN for i in plan.nodes[n].interfaces)]
    jobs: list[tuple[str, bool, bool, object]] = []  # (name, expect, control, thunk)

    responders = []
    try:
        for segw in segws:
            responders.append(R.responder(tb, segw, "udp", [500, 4500]))
            responders.append(R.responder(tb, segw, "tcp", [PROBE_TCP_PORT]))
        for segw in segws:
            pub = _public_address(tb, segw)
            opr = _operator_address(tb, segw)
            for f in femtos:
                nat = _nat_address(tb, f)
                jobs.append((f"{f} -> {segw} IKE udp/500 (via NAT {nat})", True, False,
                             lambda f=f, pub=pub: R.udp(tb, f, pub, 500)))
                jobs.append((f"{f} -> {segw} NAT-T udp/4500", True, False, lambda f=f, pub=pub: R.udp(tb, f, pub, 4500)))
            for a in inet_attackers + lan_attackers:
                jobs.append((f"{a} -> {segw} IKE udp/500", True, False, lambda a=a, pub=pub: R.udp(tb, a, pub, 500)))
                jobs.append((f"{a} -> {segw} tcp/{PROBE_TCP_PORT} (not IKE)", False, False,
                             lambda a=a, pub=pub: R.tcp(tb, a, pub, PROBE_TCP_PORT)))
                jobs.append((f"{a} -> {segw} icmp (not IKE)", False, False, lambda a=a, pub=pub: R.ping(tb, a, pub)))
            if opr:
                segw_segs = {i.segment for i in plan.nodes[segw].interfaces}
                neighbours = [o for o in op_nodes if any(i.segment in segw_segs and
                              topo.segments[i.segment].kind == SegmentKind.OPERATOR
                              for i in plan.nodes[o].interfaces)]
                for o in neighbours[:1]:
                    jobs.append((f"control: {o} -> {segw} tcp/{PROBE_TCP_PORT} from operator side", True, True,
                                 lambda o=o, opr=opr: R.tcp(tb, o, opr, PROBE_TCP_PORT)))
                    jobs.append((f"control: {segw} -> {o} icmp inside operator network", True, True,
                                 lambda o=o, s=segw: R.ping(tb, s, _operator_address(tb, o))))
        for o in op_nodes:
            addr = _operator_address(tb, o)
            for src in femtos + inet_attackers + lan_attackers:
                jobs.append((f"{src} -> {o} ({addr}) operator network", False, False,
                             lambda src=src, addr=addr: R.ping(tb, src, addr)))
        for u in ues:
            air = plan.nodes[u].interfaces[0]
            cell = [n for n in plan.nodes.values() if n.role == Role.FEMTO and n.interface_on(air.segment)]
            if cell:
                femto_air = cell[0].interface_on(air.segment).address
                jobs.append((f"control: {u} -> {cell[0].name} air address", True, True,
                             lambda u=u, a=femto_air: R.ping(tb, u, a)))
                for other in cell[0].interfaces:
                    if other.segment != air.segment:
                        jobs.append((f"{u} -> {cell[0].name} {other.segment} address (beyond the air)", False, False,
                                     lambda u=u, a=other.address: R.ping(tb, u, a)))
            for segw in segws:
                segw_pub = _public_address(tb, segw)
                jobs.append((f"{u} -> {segw} public address", False, False,
                             lambda u=u, a=segw_pub: R.ping(tb, u, a)))
            for src in lan_attackers:
                jobs.append((f"{src} -> {u} air address through the femto", False, False,
                             lambda src=src, a=air.address: R.ping(tb, src, a)))
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(lambda j: PolicyCheck(j[0], j[1], j[3](), j[2]), jobs))
    finally:
        for p in responders:
            p.kill()
            p.wait()
    # NAT: the SeGW must see the femto's traffic from the home router's public address.
    checked = []
    for c in results:
        if "(via NAT " in c.name and c.result.reachable:
            nat = c.name.split("(via NAT ")[1].rstrip(")")
            seen = c.result.detail.split()[1] if len(c.result.detail.split()) > 1 else ""
            natted = nat != "None" and seen == nat and not ipaddress.IPv4Address(seen).is_private
            checked.append(PolicyCheck(c.name + f"; SeGW saw {seen}", True,
                                       R.ProbeResult(c.result.src, c.result.dst, c.result.kind, natted,
                                                     c.result.detail)))
        else:
            checked.append(c)
    return checked
