"""From a validated :class:`Topology` to a concrete network plan (pure, no root).

The plan fixes every interface name and address, the static routes of every
node, which nodes forward, NAT, and the per-node firewall that makes the
reachability policy real:

- a home router masquerades its home LAN towards the ISP and admits no new
  inbound connection (the femto reaches the Internet only through NAT);
- the SeGW never forwards between the public side and the operator network
  (operator prefixes are not routed from outside; later only the IPsec tunnel
  crosses it) and on its public side accepts only IKE/NAT-T (UDP 500/4500) and
  ESP (TS 33.320 clause 7: the SeGW is the only entry point to the operator
  network);
- a femto is not a router: UEs on its air segment reach only the air segment;
- UE hosts have routes for nothing but their air segment.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass, field

from testbed.topology.model import OPERATOR_KINDS, Link, LinkOptions, Role, SegmentKind, Topology

#: Roles that forward IP packets between their segments.
FORWARDING_ROLES = frozenset({Role.HOME_ROUTER, Role.ISP, Role.ROUTER, Role.SEGW})


@dataclass(frozen=True)
class InterfacePlan:
    node: str
    name: str  # inside the node: "<node>-eth<N>"
    segment: str
    address: str
    prefixlen: int
    options: LinkOptions

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefixlen}"


@dataclass(frozen=True)
class RoutePlan:
    prefix: str
    via: str
    dev: str


@dataclass
class NodePlan:
    name: str
    role: Role
    interfaces: list[InterfacePlan] = field(default_factory=list)
    routes: list[RoutePlan] = field(default_factory=list)
    forward: bool = False
    nat_outside: list[str] = field(default_factory=list)  # interface names masqueraded
    nat_inside: list[str] = field(default_factory=list)
    position: tuple[float, float, float] | None = None

    def interface_on(self, segment: str) -> InterfacePlan | None:
        return next((i for i in self.interfaces if i.segment == segment), None)

    @property
    def primary_address(self) -> str:
        return self.interfaces[0].address


@dataclass
class NetworkPlan:
    topology: Topology
    nodes: dict[str, NodePlan]
    segments: dict[str, list[InterfacePlan]]  # segment -> attachments in declaration order

    def address(self, node: str, segment: str | None = None) -> str:
        n = self.nodes[node]
        if segment is None:
            return n.primary_address
        intf = n.interface_on(segment)
        if intf is None:
            raise KeyError(f"node {node} is not on segment {segment}")
        return intf.address


def _effective_options(seg: LinkOptions, link: Link) -> LinkOptions:
    return LinkOptions(
        bw=link.bw if link.bw is not None else seg.bw,
        loss=link.loss if link.loss is not None else seg.loss,
        delay=link.delay if link.delay is not None else seg.delay,
    )


def allocate_addresses(topo: Topology) -> dict[tuple[str, str], str]:
    """Address of every (node, segment) attachment.

    Explicit addresses are kept; the others take the lowest free host addresses
    of the segment prefix, in node declaration order (deterministic).
    """
    taken: dict[str, set[ipaddress.IPv4Address]] = {s: set() for s in topo.segments}
    result: dict[tuple[str, str], str] = {}
    for node_name, node in topo.nodes.items():
        for link in node.attachments:
            if link.address:
                taken[link.segment].add(ipaddress.IPv4Address(link.address))
                result[(node_name, link.segment)] = link.address
    cursors = {s: ipaddress.IPv4Network(seg.prefix).hosts() for s, seg in topo.segments.items()}
    for node_name, node in topo.nodes.items():
        for link in node.attachments:
            if (node_name, link.segment) in result:
                continue
            for candidate in cursors[link.segment]:
                if candidate not in taken[link.segment]:
                    taken[link.segment].add(candidate)
                    result[(node_name, link.segment)] = str(candidate)
                    break
            else:
                from testbed.errors import ConfigError

                raise ConfigError(None, f"segments.{link.segment}.prefix",
                                  f"prefix {topo.segments[link.segment].prefix} has too few addresses for "
                                  f"{sum(1 for n in topo.nodes.values() for lk in n.attachments if lk.segment == link.segment)} attachments")
    return result


def _may_traverse(topo: Topology, router: str, seg_in: str, seg_out: str) -> bool:
    """May a packet arriving at ``router`` from ``seg_in`` be routed out on ``seg_out``?"""
    node = topo.nodes[router]
    if node.role not in FORWARDING_ROLES:
        return False
    kin = topo.segments[seg_in].kind
    kout = topo.segments[seg_out].kind
    if node.role == Role.HOME_ROUTER:
        # NAT: inside (home LAN) -> outside only; the home LAN is hidden from outside.
        return not (kout == SegmentKind.HOME_LAN and kin != SegmentKind.HOME_LAN)
    if node.role == Role.SEGW:
        # Never route between public side and operator domain in the clear.
        return (kin in OPERATOR_KINDS) == (kout in OPERATOR_KINDS)
    return True


def compute_routes(topo: Topology, addresses: dict[tuple[str, str], str],
                   ifnames: dict[tuple[str, str], str]) -> dict[str, list[RoutePlan]]:
    """Static routes: for each node, every segment reachable through permitted routers.

    Breadth-first search over (router, arrival segment) states from each of the
    node's segments; the next hop is the first router's address on the node's
    own segment. UE hosts and femtos get no routes beyond their segments by
    construction (nothing forwards out of an air segment).
    """
    seg_members: dict[str, list[str]] = {s: [] for s in topo.segments}
    for n, node in topo.nodes.items():
        for lk in node.attachments:
            seg_members[lk.segment].append(n)
    routes: dict[str, list[RoutePlan]] = {}
    for src, node in topo.nodes.items():
        own = {lk.segment for lk in node.attachments}
        found: dict[str, RoutePlan] = {}
        queue: deque[tuple[str, str, str]] = deque()  # (router, arrived-from segment, first-hop segment/router key)
        first_hop: dict[tuple[str, str], tuple[str, str]] = {}
        for seg in own:
            for r in seg_members[seg]:
                if r != src and topo.nodes[r].role in FORWARDING_ROLES:
                    state = (r, seg)
                    if state not in first_hop:
                        first_hop[state] = (addresses[(r, seg)], ifnames[(src, seg)])
                        queue.append((r, seg, ""))
        while queue:
            r, seg_in, _ = queue.popleft()
            via, dev = first_hop[(r, seg_in)]
            for lk in topo.nodes[r].attachments:
                seg_out = lk.segment
                if seg_out == seg_in or not _may_traverse(topo, r, seg_in, seg_out):
                    continue
                if seg_out not in own and seg_out not in found:
                    found[seg_out] = RoutePlan(topo.segments[seg_out].prefix, via, dev)
                for r2 in seg_members[seg_out]:
                    if r2 != r and r2 != src and topo.nodes[r2].role in FORWARDING_ROLES:
                        state = (r2, seg_out)
                        if state not in first_hop:
                            first_hop[state] = (via, dev)
                            queue.append((r2, seg_out, ""))
        routes[src] = [found[s] for s in sorted(found)]
    return routes


def build_plan(topo: Topology) -> NetworkPlan:
    addresses = allocate_addresses(topo)
    ifnames: dict[tuple[str, str], str] = {}
    for n, node in topo.nodes.items():
        for i, lk in enumerate(node.attachments):
            ifnames[(n, lk.segment)] = f"{n}-eth{i}"
    routes = compute_routes(topo, addresses, ifnames)
    nodes: dict[str, NodePlan] = {}
    segments: dict[str, list[InterfacePlan]] = {s: [] for s in topo.segments}
    for n, node in topo.nodes.items():
        # A UPF forwards only between its TUN (user plane, N3 decapsulated) and N6, never
        # between its IP interfaces: it is not a router for route computation.
        plan = NodePlan(name=n, role=node.role, forward=node.role in FORWARDING_ROLES or node.role == Role.UPF,
                        routes=routes[n], position=node.position)
        for lk in node.attachments:
            seg = topo.segments[lk.segment]
            intf = InterfacePlan(node=n, name=ifnames[(n, lk.segment)], segment=lk.segment,
                                 address=addresses[(n, lk.segment)],
                                 prefixlen=ipaddress.IPv4Network(seg.prefix).prefixlen,
                                 options=_effective_options(seg, lk))
            plan.interfaces.append(intf)
            segments[lk.segment].append(intf)
        for extra in node.routes:
            dev = next(i.name for i in plan.interfaces
                       if ipaddress.IPv4Address(extra.via) in ipaddress.IPv4Network(topo.segments[i.segment].prefix))
            plan.routes.append(RoutePlan(prefix=extra.prefix, via=extra.via, dev=dev))
        if node.role == Role.HOME_ROUTER:
            for intf in plan.interfaces:
                if topo.segments[intf.segment].kind == SegmentKind.HOME_LAN:
                    plan.nat_inside.append(intf.name)
                else:
                    plan.nat_outside.append(intf.name)
        nodes[n] = plan
    return NetworkPlan(topology=topo, nodes=nodes, segments=segments)
