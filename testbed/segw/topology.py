"""The secure backhaul derived from a topology plan (pure, no root): who tunnels to which SeGW, and to what.

- A femto *tunnels* when the topology has a ``segw`` node and the femto's backhaul link is not on
  the operator network (TS 33.320 7.4: a femto on an untrusted access reaches the operator network
  only through the SeGW). ``femto-lab.yaml`` (femto on the operator segment, no SeGW) keeps its
  backhaul in the clear.
- Traffic selectors: the operator services a femto may reach, each a /32 (RFC 7296 2.9): the AMF
  (the ``core`` node, N2), the UPF's N3 address, the Femto MS and NTP — their addresses on the
  operator segment.
- Virtual IPs come from the SeGW's pool (default ``10.11.0.0/24``); every other node on the SeGW's
  operator segment gets a route to the pool via the SeGW's operator address (:func:`pool_routes`).
- Device identity (TS 33.320 4.4.2): the FQDN ``<OUI>-<serial>.femto.operator.nrfemto.test`` from the
  femto node's optional ``device: {oui, serial}``; without it a deterministic default
  (:data:`DEFAULT_OUI`, the node name in upper case).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from testbed.errors import ConfigError
from testbed.topology.model import OPERATOR_KINDS, Role, SegmentKind
from testbed.topology.plan import NetworkPlan, RoutePlan

__all__ = ["DEFAULT_OUI", "DEFAULT_POOL", "BackhaulPlan", "backhaul_plan", "device_of", "free_pool", "femto_control_path",
           "hpm_socket_of", "pool_routes", "tunnelled_femtos"]

#: A locally administered OUI (no real vendor) for femtos without ``device:``.
DEFAULT_OUI = "0200F5"
DEFAULT_POOL = "10.11.0.0/24"
#: roles whose operator address is a traffic selector, in order; the UPF's N3 side is its operator address.
SERVICE_ROLES = (Role.CORE, Role.UPF, Role.MS, Role.NTP)
_SERVICE_KEY = {Role.CORE: "amf", Role.UPF: "upf", Role.MS: "ms", Role.NTP: "ntp"}


@dataclass(frozen=True)
class BackhaulPlan:
    segw: str
    public_address: str
    operator_address: str
    operator_segment: str
    pool: str
    services: dict[str, str]  # "amf:core" -> 10.10.0.2, ...


def _operator_intf(plan: NetworkPlan, node: str):  # noqa: ANN202 - InterfacePlan | None
    topo = plan.topology
    return next((i for i in plan.nodes[node].interfaces if topo.segments[i.segment].kind == SegmentKind.OPERATOR),
                None)


def _used_prefixes(plan: NetworkPlan) -> list[ipaddress.IPv4Network]:
    """Segment prefixes and the core's UE pool: what a virtual IP pool must not overlap."""
    topo = plan.topology
    used = [ipaddress.IPv4Network(seg.prefix) for seg in topo.segments.values()]
    ue_pool = ((topo.core or {}).get("smf") or {}).get("ue_pool", "10.45.0.0/16" if topo.core else None)
    if isinstance(ue_pool, str):
        used.append(ipaddress.IPv4Network(ue_pool, strict=False))
    return used


def free_pool(plan: NetworkPlan) -> str:
    """:data:`DEFAULT_POOL`, or the first of 10.11.0.0/24 .. 10.250.0.0/24 that overlaps nothing in the plan."""
    used = _used_prefixes(plan)
    for second in range(11, 251):
        cand = ipaddress.IPv4Network(f"10.{second}.0.0/24")
        if not any(cand.overlaps(u) for u in used):
            return str(cand)
    raise ConfigError(plan.topology.source_file, "segments", "no free 10.x.0.0/24 left for the SeGW's virtual IP pool")


def backhaul_plan(plan: NetworkPlan, pool: str | None = None) -> BackhaulPlan | None:
    """The SeGW side of the backhaul, or None when the topology has no SeGW.

    ``pool``: the virtual IP pool; by default :data:`DEFAULT_POOL` unless the topology uses it,
    then the first free 10.x.0.0/24 (:func:`free_pool`). An explicit pool that overlaps a segment
    is an error naming the segment."""
    topo = plan.topology
    segws = [n for n, p in plan.nodes.items() if p.role == Role.SEGW]
    if not segws:
        return None
    segw = segws[0]
    pub = next((i for i in plan.nodes[segw].interfaces if topo.segments[i.segment].kind not in OPERATOR_KINDS), None)
    opr = _operator_intf(plan, segw)
    if pub is None or opr is None:
        raise ConfigError(topo.source_file, f"nodes.{segw}.links",
                          "a SeGW needs a public (internet/isp-access) link and an operator link")
    if pool is None:
        pool = free_pool(plan)
    pool_net = ipaddress.IPv4Network(pool)
    for name, seg in topo.segments.items():
        if ipaddress.IPv4Network(seg.prefix).overlaps(pool_net):
            raise ConfigError(topo.source_file, f"segments.{name}.prefix",
                              f"{seg.prefix} overlaps the SeGW's virtual IP pool {pool}")
    services: dict[str, str] = {}
    for role in SERVICE_ROLES:
        for n, p in plan.nodes.items():
            if p.role != role:
                continue
            intf = _operator_intf(plan, n)
            if intf is not None and intf.segment == opr.segment:
                services[f"{_SERVICE_KEY[role]}:{n}"] = intf.address
    if not any(k.startswith("amf:") for k in services):
        raise ConfigError(topo.source_file, "nodes", f"no core node (the AMF) on the SeGW's operator segment {opr.segment}")
    return BackhaulPlan(segw, pub.address, opr.address, opr.segment, pool, services)


def tunnelled_femtos(plan: NetworkPlan) -> list[str]:
    """Femto nodes that reach the operator network only through the SeGW (none without a SeGW)."""
    topo = plan.topology
    if not any(p.role == Role.SEGW for p in plan.nodes.values()):
        return []
    out = []
    for n, p in plan.nodes.items():
        if p.role != Role.FEMTO:
            continue
        kinds = {topo.segments[i.segment].kind for i in p.interfaces}
        if not kinds & OPERATOR_KINDS and kinds - {SegmentKind.AIR}:
            out.append(n)
    return out


def device_of(plan: NetworkPlan, node: str) -> tuple[str, str]:
    """(OUI, serial) of femto ``node``: its ``device:`` or the deterministic default."""
    dev = plan.topology.nodes[node].device
    if dev is not None:
        return re.sub(r"[:\-]", "", dev.oui).upper(), dev.serial
    return DEFAULT_OUI, node.upper()


def pool_routes(plan: NetworkPlan, bp: BackhaulPlan) -> dict[str, RoutePlan]:
    """node -> route to the virtual IP pool via the SeGW, for every other node on its operator segment.

    Nodes that already have a route covering the pool (given in the topology) get none.
    """
    pool = ipaddress.IPv4Network(bp.pool)
    out: dict[str, RoutePlan] = {}
    for n, p in plan.nodes.items():
        if n == bp.segw:
            continue
        intf = p.interface_on(bp.operator_segment)
        if intf is None:
            continue
        if any(pool.subnet_of(ipaddress.IPv4Network(r.prefix)) for r in p.routes):
            continue
        out[n] = RoutePlan(prefix=str(pool), via=bp.operator_address, dev=intf.name)
    return out


def femto_control_path(plan: NetworkPlan, node: str) -> str:
    """The femto service's control socket (its ``--control`` argument), default ``<node>/control.sock``."""
    for svc in plan.topology.nodes[node].services.values():
        cmd = list(svc.command)
        if "testbed.femto" in cmd and "--control" in cmd:
            i = cmd.index("--control")
            if i + 1 < len(cmd):
                return cmd[i + 1]
    return f"{node}/control.sock"


def hpm_socket_of(plan: NetworkPlan, node: str) -> str | None:
    """The HPM control socket of femto ``node`` (``--socket`` of a ``testbed.hpm`` service on it), or None.

    A femto with an HPM requires it: its backhaul agent watches the socket and drops the tunnel
    (and the femto's radio) when the card is removed.
    """
    for svc in plan.topology.nodes[node].services.values():
        cmd = list(svc.command)
        if "testbed.hpm" in cmd and "--socket" in cmd:
            i = cmd.index("--socket")
            if i + 1 < len(cmd):
                return cmd[i + 1]
    return None
