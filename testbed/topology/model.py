"""Topology file schema (YAML, validated by pydantic).

A topology names *segments* (L2 broadcast domains with an IPv4 prefix) and
*nodes* (each a network namespace with a role) attached to segments. Addresses
are allocated automatically from the segment prefixes unless given; routes, NAT
and the reachability policy follow from the roles (see :mod:`testbed.topology.plan`).

Example::

    name: home-femto
    segments:
      air1: {kind: air, prefix: 10.200.1.0/24}
      home: {kind: home-lan, prefix: 192.168.1.0/24}
    nodes:
      ue1:    {role: ue-host, position: [10, 0, 0], links: [air1]}
      femto1: {role: femto, links: [air1, home]}
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from testbed.config_files import StrictModel, check_ipv4_address, check_ipv4_prefix
from testbed.errors import ConfigError

# Interface names are "<node>-eth<N>" and must fit IFNAMSIZ (15 chars) with N < 100.
NODE_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,9}$")
SEGMENT_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,15}$")


class Role(StrEnum):
    UE_HOST = "ue-host"
    FEMTO = "femto"
    HOME_ROUTER = "home-router"
    ISP = "isp"
    ROUTER = "router"
    SEGW = "segw"
    CORE = "core"
    UPF = "upf"
    DN = "dn"
    MS = "ms"
    NTP = "ntp"
    MACRO_CELL = "macro-cell"
    ATTACKER = "attacker"
    HOST = "host"


class SegmentKind(StrEnum):
    AIR = "air"
    HOME_LAN = "home-lan"
    ISP_ACCESS = "isp-access"
    INTERNET = "internet"
    OPERATOR = "operator"
    N6 = "n6"
    LAN = "lan"


#: Segment kinds that belong to the operator's trusted domain (behind the SeGW).
OPERATOR_KINDS = frozenset({SegmentKind.OPERATOR, SegmentKind.N6})
#: Segment kinds on the public side of the SeGW.
PUBLIC_KINDS = frozenset({SegmentKind.ISP_ACCESS, SegmentKind.INTERNET})


_Strict = StrictModel


class LinkOptions(_Strict):
    """Traffic shaping of one attachment (or a whole segment as default).

    ``bw`` in Mbit/s (HTB/TBF), ``loss`` in percent (nftables ``numgen random``
    here, netem where the kernel has it), ``delay`` in ms (netem only).
    """

    bw: Annotated[float, Field(gt=0, le=100_000)] | None = None
    loss: Annotated[float, Field(ge=0, le=100)] | None = None
    delay: Annotated[float, Field(ge=0, le=60_000)] | None = None


class Segment(LinkOptions):
    kind: SegmentKind = SegmentKind.LAN
    prefix: str
    capture: bool = True
    description: str = ""

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return check_ipv4_prefix(v, example="10.0.0.0/24", max_prefixlen=30,
                                 too_small="prefix must be /30 or larger to hold hosts")


class Link(LinkOptions):
    segment: str
    address: str | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        return v if v is None else check_ipv4_address(v)


class ServiceProbe(_Strict):
    """Readiness probe: exactly one of the fields."""

    tcp: Annotated[int, Field(ge=1, le=65535)] | None = None
    udp: Annotated[int, Field(ge=1, le=65535)] | None = None
    unix: str | None = None
    file: str | None = None
    log: str | None = None
    event: str | None = None
    timeout: Annotated[float, Field(gt=0, le=600)] = 10.0

    @model_validator(mode="after")
    def _one(self) -> ServiceProbe:
        kinds = [k for k in ("tcp", "udp", "unix", "file", "log", "event") if getattr(self, k) is not None]
        if len(kinds) > 1:
            raise ValueError(f"give one probe kind, not {kinds}")
        return self


class StaticRoute(_Strict):
    """An extra static route of a node (e.g. the DN's route to the UE pool via the UPF's N6 address)."""

    prefix: str
    via: str

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        try:
            return str(ipaddress.IPv4Network(v, strict=True))
        except ValueError as e:
            raise ValueError(f"expected an IPv4 prefix like 10.45.0.0/16 ({e})") from None

    @field_validator("via")
    @classmethod
    def _via(cls, v: str) -> str:
        try:
            return str(ipaddress.IPv4Address(v))
        except ValueError:
            raise ValueError("expected an IPv4 address like 10.20.0.1") from None


class Service(_Strict):
    """A process the engine starts inside a node."""

    command: list[str] = Field(min_length=1)
    depends_on: list[str] = Field(default_factory=list)
    ready: ServiceProbe | None = None
    restart: Literal["no", "on-failure", "always"] = "no"
    max_restarts: Annotated[int, Field(ge=0, le=100)] = 3
    env: dict[str, str] = Field(default_factory=dict)


class FemtoDevice(_Strict):
    """A femto's device identity (TS 33.320 4.4.2: FQDN from the vendor OUI and the serial number).

    Its device certificate (generated per run) carries ``<OUI>-<serial>.femto.operator.nrfemto.test``;
    left out, :func:`testbed.segw.topology.device_of` derives a deterministic default from the node.
    """

    oui: str = Field(pattern=r"^[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){2}$")
    serial: str = Field(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,54}[A-Za-z0-9])?$")


class Node(_Strict):
    role: Role = Role.HOST
    links: list[str | Link] = Field(min_length=1)
    position: tuple[float, float, float] | None = None
    services: dict[str, Service] = Field(default_factory=dict)
    routes: list[StaticRoute] = Field(default_factory=list)
    device: FemtoDevice | None = None  # femto nodes only
    description: str = ""

    @field_validator("links")
    @classmethod
    def _links(cls, v: list[str | Link]) -> list[str | Link]:
        return [Link(segment=item) if isinstance(item, str) else item for item in v]

    @property
    def attachments(self) -> list[Link]:
        return [lk for lk in self.links if isinstance(lk, Link)]


class Topology(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    description: str = ""
    segments: dict[str, Segment] = Field(min_length=1)
    nodes: dict[str, Node] = Field(min_length=1)
    core: dict[str, Any] | None = None  # built-in 5G core settings: testbed.core.config.CoreSettings
    _source_file: str | None = PrivateAttr(default=None)

    @property
    def source_file(self) -> str | None:
        """The file this topology was loaded from (relative paths in it are relative to it)."""
        return self._source_file

    @model_validator(mode="after")
    def _cross_checks(self) -> Topology:
        for seg in self.segments:
            if not SEGMENT_NAME_RE.match(seg):
                raise _FieldError(f"segments.{seg}", "segment name must match [a-z][a-z0-9-]{0,15}")
        nets = {name: ipaddress.IPv4Network(s.prefix) for name, s in self.segments.items()}
        names = sorted(nets)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if nets[a].overlaps(nets[b]):
                    raise _FieldError(f"segments.{b}.prefix", f"{nets[b]} overlaps segment {a} ({nets[a]})")
        seen_addr: dict[str, str] = {}
        for node_name, node in self.nodes.items():
            if not NODE_NAME_RE.match(node_name):
                raise _FieldError(f"nodes.{node_name}",
                                  "node name must match [a-z][a-z0-9-]{0,9} (it becomes an interface name)")
            segs_here: set[str] = set()
            for i, link in enumerate(node.attachments):
                where = f"nodes.{node_name}.links.{i}"
                if link.segment not in self.segments:
                    raise _FieldError(f"{where}.segment",
                                      f"unknown segment {link.segment!r}; declared: {', '.join(names)}")
                if link.segment in segs_here:
                    raise _FieldError(f"{where}.segment", f"node already attached to {link.segment!r}")
                segs_here.add(link.segment)
                if link.address is not None:
                    net = nets[link.segment]
                    addr = ipaddress.IPv4Address(link.address)
                    if addr not in net or addr in (net.network_address, net.broadcast_address):
                        raise _FieldError(f"{where}.address", f"{addr} is not a host address of {net}")
                    if link.address in seen_addr:
                        raise _FieldError(f"{where}.address", f"{addr} already used by {seen_addr[link.address]}")
                    seen_addr[link.address] = node_name
            for i, route in enumerate(node.routes):
                if not any(ipaddress.IPv4Address(route.via) in nets[lk.segment] for lk in node.attachments):
                    raise _FieldError(f"nodes.{node_name}.routes.{i}.via",
                                      f"{route.via} is not on a segment the node is attached to")
            if node.device is not None and node.role != Role.FEMTO:
                raise _FieldError(f"nodes.{node_name}.device", "only a node with role femto has a device identity")
            if len(node.attachments) > 99:
                raise _FieldError(f"nodes.{node_name}.links", "at most 99 links per node")
            for svc_name, svc in node.services.items():
                for dep in svc.depends_on:
                    if not any(dep in n.services for n in self.nodes.values()):
                        raise _FieldError(f"nodes.{node_name}.services.{svc_name}.depends_on",
                                          f"unknown service {dep!r}")
        self._check_service_names()
        return self

    def _check_service_names(self) -> None:
        owner: dict[str, str] = {}
        for node_name, node in self.nodes.items():
            for svc in node.services:
                if svc in owner:
                    raise _FieldError(f"nodes.{node_name}.services.{svc}",
                                      f"service name already used on node {owner[svc]}")
                owner[svc] = node_name


class _FieldError(ValueError):
    """Cross-field error carrying the field path (turned into ConfigError by the loader)."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


def _loc(loc: tuple[Any, ...]) -> str:
    """Field path of a pydantic error location, without the union-branch markers."""
    parts = [str(p) for p in loc]
    return ".".join(p for p in parts if p not in ("str", "Link") and not p.startswith(("function-", "union[")))


def parse_topology(data: Any, file: str | None = None) -> Topology:
    """Validate already-loaded YAML data; raise ConfigError naming file, field path and expectation."""
    if not isinstance(data, dict):
        raise ConfigError(file, "", "expected a mapping with 'name', 'segments' and 'nodes' at the top level")
    try:
        topo = Topology.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        # In a union (link: str | Link) the deepest location is the branch the user meant.
        err = max(errors, key=lambda x: (len(x["loc"]), "str" not in x["loc"]))
        ctx_err = err.get("ctx", {}).get("error")
        if isinstance(ctx_err, _FieldError):
            raise ConfigError(file, ctx_err.path, ctx_err.message) from None
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        extra = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
        raise ConfigError(file, _loc(err["loc"]), f"{msg}; got {err.get('input')!r}{extra}") from None
    topo._source_file = file
    if topo.core is not None:
        from testbed.core.config import parse_core_settings

        parse_core_settings(topo.core, file)
    return topo


def load_topology(path: str | Path) -> Topology:
    """Load and validate a topology YAML file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(str(p), "", f"cannot read file: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(str(p), "", f"{where}invalid YAML ({getattr(e, 'problem', e)})") from None
    return parse_topology(data, str(p))
