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
- Hosting-party authentication (TS 33.320 7.2.3, RFC 4739 second IKE_AUTH round): the AAA server is
  the topology's ``testbed.aaa`` service (:func:`aaa_of`: its node's operator address, never one of
  the traffic selectors, so femtos cannot reach it); the operator's policy per femto is the core's
  ``core.femtos[].hpm.required`` (:func:`hpm_policies_of`); the femto's HPM is its ``testbed.hpm``
  service (:func:`hpm_socket_of`).
- Revocation (TS 33.320 7.2.4, TS 33.310 6.1a): the OCSP responder / CRL server is the topology's
  ``testbed.pki.ocsp_server`` service (:func:`responder_of`) on the SeGW's operator segment; its URLs
  go into the device certificates (AIA OCSP URI, CRL distribution point) and the SeGW, the relying
  party, fetches from it. Like the AAA it must not be a traffic selector: femtos cannot reach it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from testbed.errors import ConfigError
from testbed.topology.model import OPERATOR_KINDS, Role, SegmentKind
from testbed.topology.plan import NetworkPlan, RoutePlan

__all__ = ["DEFAULT_OUI", "DEFAULT_POOL", "AaaPlan", "BackhaulPlan", "aaa_of", "backhaul_plan", "device_of",
           "free_pool", "femto_control_path", "hpm_card_of", "hpm_policies_of", "hpm_socket_of", "pool_routes",
           "RevocationPlan", "responder_of", "tunnelled_femtos"]

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
    """node -> route to the virtual IP pool via the SeGW, for every operator service node (AMF, UPF, MS,
    NTP) on its operator segment: the only nodes the femtos talk to (the SeGW's forward filter drops
    everything else between the pool and the operator network, so e.g. the AAA gets no route either).

    Nodes that already have a route covering the pool (given in the topology) get none.
    """
    pool = ipaddress.IPv4Network(bp.pool)
    out: dict[str, RoutePlan] = {}
    service_nodes = {key.split(":", 1)[1] for key in bp.services}
    for n, p in plan.nodes.items():
        if n == bp.segw or n not in service_nodes:
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


def _port_arg(file: str | None, where: str, value: str, proto: str) -> int:
    """A ``--port`` argument of a service command: a number in 1..65535."""
    try:
        port = int(value)
    except ValueError:
        raise ConfigError(file, where, f"--port {value!r} is not a number") from None
    if not 0 < port < 65536:
        raise ConfigError(file, where, f"--port {port} is not a {proto} port (1..65535)")
    return port


def _operator_only_address(plan: NetworkPlan, bp: BackhaulPlan, node: str, where: str, what: str, flag: str,
                           value: str | None) -> str:
    """The address an operator-side helper service (the AAA, the OCSP responder) listens on: its
    node's address on the SeGW's operator segment (``value`` may repeat it or be 0.0.0.0), and
    never a traffic-selector address (the femtos must not reach it; with kernel-libipsec the SeGW
    holds those addresses on its loopback, so traffic to them would never leave the SeGW)."""
    file = plan.topology.source_file
    intf = plan.nodes[node].interface_on(bp.operator_segment)
    if intf is None:
        raise ConfigError(file, f"nodes.{node}.links",
                          f"{what}'s node must be on the SeGW's operator segment {bp.operator_segment}")
    address = intf.address if value in (None, "0.0.0.0") else value
    if address != intf.address:
        raise ConfigError(file, where, f"{flag} {value} is not {node}'s address on {bp.operator_segment} "
                                       f"({intf.address})")
    if address in bp.services.values():
        svc_name = next(k for k, a in bp.services.items() if a == address)
        raise ConfigError(file, where, f"{what} at {address} shares the address of {svc_name}, a traffic selector "
                                       "the femtos reach: run it on its own node on the operator segment")
    return address


def _service_arg(cmd: list[str], module: str, flag: str) -> str | None:
    """The value of ``flag`` in a ``python -m <module> ...`` command, or None."""
    if module not in cmd or flag not in cmd:
        return None
    i = cmd.index(flag)
    return cmd[i + 1] if i + 1 < len(cmd) else None


def hpm_card_of(plan: NetworkPlan, node: str) -> str | None:
    """The card file (``--card``) of the ``testbed.hpm`` service on femto ``node``, or None."""
    for svc in plan.topology.nodes[node].services.values():
        card = _service_arg(list(svc.command), "testbed.hpm", "--card")
        if card is not None:
            return card
    return None


@dataclass(frozen=True)
class AaaPlan:
    """The AAA server (RADIUS, RFC 2865/3579) the SeGW relays the femtos' EAP-AKA round to."""

    node: str
    service: str
    address: str
    port: int
    #: the shared secret's file (``--secret-file``), relative to the run directory unless absolute.
    secret_file: str


def aaa_of(plan: NetworkPlan, bp: BackhaulPlan) -> AaaPlan | None:
    """The topology's ``testbed.aaa`` service as the SeGW reaches it, or None without one.

    Its address is ``--listen`` unless that is a wildcard, else its node's address on the SeGW's
    operator segment. It must be on that segment (the SeGW talks to it directly) and must not be
    one of the operator services the femtos reach through the tunnel (AMF, UPF, MS, NTP: the
    traffic selectors): the AAA stays out of the femtos' reach, and with kernel-libipsec the SeGW
    holds the service addresses on its loopback, so RADIUS to one of them would never leave it.
    """
    topo = plan.topology
    found: list[AaaPlan] = []
    for n, node in topo.nodes.items():
        for name, svc in node.services.items():
            cmd = list(svc.command)
            if "testbed.aaa" not in cmd:
                continue
            where = f"nodes.{n}.services.{name}.command"
            secret = _service_arg(cmd, "testbed.aaa", "--secret-file")
            if not secret:
                raise ConfigError(topo.source_file, where, "the AAA service needs --secret-file (written per run)")
            port = _port_arg(topo.source_file, where, _service_arg(cmd, "testbed.aaa", "--port") or "1812", "UDP")
            address = _operator_only_address(plan, bp, n, where, "the AAA", "--listen",
                                             _service_arg(cmd, "testbed.aaa", "--listen"))
            found.append(AaaPlan(n, name, address, port, secret))
    if len(found) > 1:
        raise ConfigError(topo.source_file, "nodes", "more than one testbed.aaa service: the SeGW uses one AAA")
    return found[0] if found else None


def hpm_policies_of(plan: NetworkPlan) -> dict[str, bool]:
    """Femto name -> whether the operator requires hosting-party authentication of it
    (``core.femtos[].hpm.required``, TS 33.320 7.2.3); femtos without an ``hpm`` are absent."""
    core = plan.topology.core
    if not core:
        return {}
    from testbed.core.config import parse_core_settings

    settings = parse_core_settings(core, plan.topology.source_file)
    return {name: h.required for name, h in settings.hpm_policies().items()}


RESPONDER_MODULE = "testbed.pki.ocsp_server"
#: the run PKI's directory, relative to the run directory (see :mod:`testbed.segw.provision`)
RUN_PKI_DIR = "pki"


@dataclass(frozen=True)
class RevocationPlan:
    """The OCSP responder / CRL server (RFC 6960 A.1 over HTTP) the SeGW checks device certificates with."""

    node: str
    service: str
    address: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def ocsp_url(self) -> str:
        """AIA OCSP URI of the device certificates (POST to ``/ocsp``)."""
        return f"{self.base_url}/ocsp"

    @property
    def crl_url(self) -> str:
        """CRL distribution point of the device certificates (the issuing CA's CRL, DER)."""
        return f"{self.base_url}/crl.der"


def responder_of(plan: NetworkPlan, bp: BackhaulPlan) -> RevocationPlan | None:
    """The topology's ``testbed.pki.ocsp_server`` service as the SeGW reaches it, or None without one.

    ``--pki-dir`` must be the run's PKI (``pki``), the node must be on the SeGW's operator segment
    (``--host`` a wildcard or that address), and its address must not be a traffic selector (the
    femtos do not need it: the SeGW is the relying party for their certificates).
    """
    topo = plan.topology
    found: list[RevocationPlan] = []
    for n, node in topo.nodes.items():
        for name, svc in node.services.items():
            cmd = list(svc.command)
            if RESPONDER_MODULE not in cmd:
                continue
            where = f"nodes.{n}.services.{name}.command"
            pki_dir = _service_arg(cmd, RESPONDER_MODULE, "--pki-dir")
            if pki_dir is None or pki_dir.rstrip("/") != RUN_PKI_DIR:
                raise ConfigError(topo.source_file, where,
                                  f"--pki-dir must be the run's PKI {RUN_PKI_DIR!r}, not {pki_dir!r}")
            port = _port_arg(topo.source_file, where, _service_arg(cmd, RESPONDER_MODULE, "--port") or "8080", "TCP")
            address = _operator_only_address(plan, bp, n, where, "the OCSP responder", "--host",
                                             _service_arg(cmd, RESPONDER_MODULE, "--host"))
            found.append(RevocationPlan(n, name, address, port))
    if len(found) > 1:
        raise ConfigError(topo.source_file, "nodes", f"more than one {RESPONDER_MODULE} service")
    return found[0] if found else None
