"""SMF data model and the pure builders of its N1 (5GSM) and N2 (NGAP transfer) contents.

- :class:`SmfConfig`: validated configuration (errors name the field, :class:`ConfigError`);
- :class:`SmContextCreate` / :class:`SmReply`: the Nsmf_PDUSession service contract towards the AMF
  (TS 23.502 4.3.2.2.1, 5.2.8.2);
- :class:`SmSession` (internal state) and :class:`SessionInfo` (read-only view);
- builders of PDU SESSION ESTABLISHMENT ACCEPT contents (TS 24.501 8.3.2): default QoS rule, QoS flow
  description, session-AMBR, extended PCO (DNS / IPv4 link MTU on request, TS 24.008 10.5.6.3), and of
  the UP security policy (TS 33.501 6.6.1) with the UE's integrity protection maximum data rate.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from testbed.errors import ConfigError
from testbed.protocols import nas
from testbed.protocols.ngap import GtpTunnel, SecurityIndication, SecurityResult

from .pfcp import PORT as PFCP_PORT
from .pool import DEFAULT_UE_POOL

# --------------------------------------------------------------------------- service contract


@dataclass(frozen=True)
class SmContextCreate:
    """Nsmf_PDUSession_CreateSMContext request (TS 23.502 4.3.2.2.1 step 3, 5.2.8.2.5)."""

    supi: str
    pdu_session_id: int
    dnn: str | None
    snssai: tuple[int, int | None] | None
    n1_sm: bytes  # plain 5GSM PDU SESSION ESTABLISHMENT REQUEST
    subscribed_dnns: tuple[str, ...]
    subscribed_snssai: tuple[tuple[int, int | None], ...]


@dataclass(frozen=True)
class SmReply:
    """What the SMF gives back to the AMF.

    ``kind``: ``"setup"`` (accept + N2 setup request transfer, or N2 setup completed), ``"reject"``
    (5GSM reject / status for the UE), ``"release"`` (release command + N2 release command transfer),
    ``"released"`` (the session is gone), ``"activate"`` (N2 setup request transfer only: the user plane
    of an existing session is re-activated, TS 23.502 4.2.3.2), ``"error"`` (nothing to send; ``cause``
    says why).
    """

    pdu_session_id: int
    n1_sm: bytes | None
    n2_transfer: bytes | None
    kind: str
    ue_ipv4: str | None = None
    cause: str | None = None


KINDS = ("setup", "activate", "reject", "release", "released", "error")

# --------------------------------------------------------------------------- configuration

_PROTECTION = ("required", "preferred", "not-needed")


def _snssai_tuple(v: Any, path: str) -> tuple[int, int | None]:
    if isinstance(v, Mapping):
        sst, sd = v.get("sst"), v.get("sd")
    elif isinstance(v, list | tuple) and len(v) in (1, 2):
        sst, sd = v[0], (v[1] if len(v) == 2 else None)
    else:
        raise ConfigError(None, path, f"expected an S-NSSAI (sst, sd) or {{sst:, sd:}}, got {v!r}")
    if isinstance(sd, str):
        try:
            sd = int(sd, 16)
        except ValueError:
            raise ConfigError(None, path + ".sd", f"SD must be 6 hex digits, got {sd!r}") from None
    if not isinstance(sst, int) or isinstance(sst, bool) or not 0 <= sst <= 255:
        raise ConfigError(None, path + ".sst", f"SST must be 0..255, got {sst!r}")
    if sd is not None and (not isinstance(sd, int) or isinstance(sd, bool) or not 0 <= sd <= 0xFFFFFE):
        raise ConfigError(None, path + ".sd", f"SD must be 0..0xFFFFFE (0xFFFFFF means none), got {sd!r}")
    return (sst, sd)


def _addr(v: Any, path: str, default_port: int = PFCP_PORT) -> tuple[str, int]:
    if isinstance(v, str):
        host, port = v, default_port
        if v.count(":") == 1:
            host, p = v.split(":")
            try:
                port = int(p)
            except ValueError:
                raise ConfigError(None, path, f"bad port in {v!r}") from None
    elif isinstance(v, list | tuple) and len(v) == 2:
        host, port = v
    else:
        raise ConfigError(None, path, f"expected (host, port) or 'host[:port]', got {v!r}")
    try:
        host = str(ipaddress.IPv4Address(host))
    except (ValueError, TypeError):
        raise ConfigError(None, path, f"{host!r} is not an IPv4 address") from None
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(None, path, f"port must be 0..65535, got {port!r}")
    return (host, port)


def _sec(v: Any, path: str) -> SecurityIndication:
    if isinstance(v, SecurityIndication):
        return v
    if not isinstance(v, Mapping):
        raise ConfigError(None, path, f"expected {{integrity:, confidentiality:}}, got {v!r}")
    unknown = set(v) - {"integrity", "confidentiality"}
    if unknown:
        raise ConfigError(None, f"{path}.{sorted(unknown)[0]}", "unknown field (integrity, confidentiality)")
    out = {}
    for k in ("integrity", "confidentiality"):
        val = v.get(k, "preferred")
        if val not in _PROTECTION:
            raise ConfigError(None, f"{path}.{k}", f"must be one of {_PROTECTION}, got {val!r}")
        out[k] = val
    return SecurityIndication(out["integrity"], out["confidentiality"])


@dataclass(frozen=True)
class SmfConfig:
    """SMF configuration.

    ``session_ambr`` is (uplink, downlink) in bit/s. ``security_indication`` is the UP security policy
    (TS 33.501 6.6.1), per DNN in ``security_by_dnn``. ``upf_n3_address`` overrides the UPF's N3 address
    put in the N2 transfer (default: the address of the F-TEID the UPF allocated). ``association_timeout``
    bounds :meth:`Smf.start`.
    """

    ue_pool: str = DEFAULT_UE_POOL
    dnns: tuple[str, ...] = ("internet",)
    snssais: tuple[tuple[int, int | None], ...] = ((1, None),)
    upf_n4_address: tuple[str, int] = ("10.10.0.3", PFCP_PORT)
    smf_n4_address: tuple[str, int] = ("10.10.0.1", PFCP_PORT)
    upf_n3_address: str | None = None
    dns_server: str | None = None
    session_ambr: tuple[int, int] = (1_000_000_000, 1_000_000_000)
    security_indication: SecurityIndication = SecurityIndication("preferred", "preferred")
    security_by_dnn: Mapping[str, SecurityIndication] = field(default_factory=dict)
    ue_pool_exclude: tuple[str, ...] = ()
    qfi: int = 1
    five_qi: int = 9
    arp_priority: int = 8
    ipv4_mtu: int | None = 1400
    association_timeout: float = 30.0

    def __post_init__(self) -> None:
        try:
            net = ipaddress.IPv4Network(self.ue_pool, strict=True)
        except (ValueError, TypeError) as e:
            raise ConfigError(None, "ue_pool", f"expected an IPv4 network like 10.45.0.0/16: {e}") from None
        if net.num_addresses < 4:
            raise ConfigError(None, "ue_pool", "needs at least a /30")
        if isinstance(self.dnns, str) or not self.dnns:
            raise ConfigError(None, "dnns", "expected a non-empty list of DNNs")
        object.__setattr__(self, "dnns", tuple(self.dnns))
        for i, d in enumerate(self.dnns):
            if not isinstance(d, str) or not d or len(d) > 100 or any(not 1 <= len(x) <= 63 for x in d.split(".")):
                raise ConfigError(None, f"dnns[{i}]", f"not a valid DNN (dot-separated labels): {d!r}")
        if not self.snssais:
            raise ConfigError(None, "snssais", "expected a non-empty list of S-NSSAIs")
        object.__setattr__(self, "snssais", tuple(_snssai_tuple(s, f"snssais[{i}]")
                                                   for i, s in enumerate(self.snssais)))
        object.__setattr__(self, "upf_n4_address", _addr(self.upf_n4_address, "upf_n4_address"))
        object.__setattr__(self, "smf_n4_address", _addr(self.smf_n4_address, "smf_n4_address"))
        for name in ("upf_n3_address", "dns_server"):
            v = getattr(self, name)
            if v is not None:
                try:
                    object.__setattr__(self, name, str(ipaddress.IPv4Address(v)))
                except (ValueError, TypeError):
                    raise ConfigError(None, name, f"expected an IPv4 address, got {v!r}") from None
        amb = self.session_ambr
        if (not isinstance(amb, list | tuple) or len(amb) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) and 1000 <= x <= 4_000_000_000_000
                           for x in amb)):
            raise ConfigError(None, "session_ambr", f"expected (uplink, downlink) bit/s >= 1000, got {amb!r}")
        object.__setattr__(self, "session_ambr", tuple(amb))
        object.__setattr__(self, "security_indication", _sec(self.security_indication, "security_indication"))
        object.__setattr__(self, "security_by_dnn", {str(k).lower(): _sec(v, f"security_by_dnn.{k}")
                                                     for k, v in dict(self.security_by_dnn).items()})
        for i, a in enumerate(self.ue_pool_exclude):
            try:
                ipaddress.IPv4Address(a)
            except ValueError:
                raise ConfigError(None, f"ue_pool_exclude[{i}]", f"expected an IPv4 address, got {a!r}") from None
        if not isinstance(self.qfi, int) or not 1 <= self.qfi <= 63:
            raise ConfigError(None, "qfi", f"QFI must be 1..63, got {self.qfi!r}")
        if not isinstance(self.five_qi, int) or not 0 <= self.five_qi <= 255:
            raise ConfigError(None, "five_qi", f"5QI must be 0..255, got {self.five_qi!r}")
        if not isinstance(self.arp_priority, int) or not 1 <= self.arp_priority <= 15:
            raise ConfigError(None, "arp_priority", f"ARP priority must be 1..15, got {self.arp_priority!r}")
        if self.ipv4_mtu is not None and (not isinstance(self.ipv4_mtu, int) or not 576 <= self.ipv4_mtu <= 65535):
            raise ConfigError(None, "ipv4_mtu", f"expected 576..65535, got {self.ipv4_mtu!r}")
        if not isinstance(self.association_timeout, int | float) or self.association_timeout <= 0:
            raise ConfigError(None, "association_timeout", "must be > 0 seconds")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], file: str | None = None, path: str = "smf") -> SmfConfig:
        """Build from a YAML/JSON mapping; every error is a ConfigError naming ``file`` and the field path."""
        if not isinstance(data, Mapping):
            raise ConfigError(file, path, "expected a mapping")
        known = set(cls.__dataclass_fields__)
        for k in data:
            if k not in known:
                raise ConfigError(file, f"{path}.{k}", f"unknown field (expected one of {sorted(known)})")
        kw = dict(data)
        for k in ("dnns", "snssais", "ue_pool_exclude", "session_ambr", "upf_n4_address", "smf_n4_address"):
            if isinstance(kw.get(k), list):
                kw[k] = tuple(kw[k])
        try:
            return cls(**kw)
        except ConfigError as e:
            raise ConfigError(file, f"{path}.{e.path}" if e.path else path, e.message) from None
        except (TypeError, ValueError) as e:
            raise ConfigError(file, path, str(e)) from None

    def security_for(self, dnn: str) -> SecurityIndication:
        return self.security_by_dnn.get(dnn.lower(), self.security_indication)

    def dnn_known(self, dnn: str) -> str | None:
        """The configured spelling of ``dnn`` (DNNs compare case-insensitively, TS 23.003 9.1)."""
        low = dnn.lower()
        return next((d for d in self.dnns if d.lower() == low), None)


# --------------------------------------------------------------------------- session state

# "inactive": the UP connection is deactivated (AN released, UE in CM-IDLE; TS 23.502 4.2.6); the UPF
# buffers downlink data and reports it (TS 29.244 5.2.3.1) until the UP is re-activated (4.2.3.2)
STATES = ("establishing", "pending-n2", "active", "inactive", "releasing")


@dataclass
class SmSession:
    supi: str
    pdu_session_id: int
    pti: int
    dnn: str
    snssai: tuple[int, int | None]
    ue_ipv4: str
    cp_seid: int
    up_seid: int = 0
    ul_tunnel: GtpTunnel | None = None
    dl_tunnel: GtpTunnel | None = None
    state: str = "establishing"
    created_at: float = field(default_factory=time.time)
    release_command: bytes | None = None
    release_transfer: bytes | None = None
    security_indication: SecurityIndication | None = None  # what the N2 setup request transfer asked for
    security_result: SecurityResult | None = None  # what the gNB reported (N2 setup response transfer)
    dl_data_notified: bool = False  # a downlink data notification went to the AMF (paging in progress)
    reactivating: bool = False  # an N2 setup request transfer for UP re-activation went out

    def info(self) -> SessionInfo:
        res = self.security_result
        return SessionInfo(self.supi, self.pdu_session_id, self.dnn, self.snssai, self.ue_ipv4, self.state,
                           self.ul_tunnel.teid if self.ul_tunnel else None,
                           self.ul_tunnel.address if self.ul_tunnel else None,
                           self.dl_tunnel.teid if self.dl_tunnel else None,
                           self.dl_tunnel.address if self.dl_tunnel else None,
                           self.cp_seid, self.up_seid, self.created_at,
                           res.integrity if res else None, res.confidentiality if res else None)


@dataclass(frozen=True)
class SessionInfo:
    """Read-only view of a PDU session (control socket, events)."""

    supi: str
    pdu_session_id: int
    dnn: str
    snssai: tuple[int, int | None]
    ue_ipv4: str
    state: str
    ul_teid: int | None
    upf_n3_address: str | None
    dl_teid: int | None
    gnb_address: str | None
    cp_seid: int
    up_seid: int
    created_at: float
    # Security Result reported by the gNB (TS 38.413 9.3.4.2): "performed" / "not-performed", None if
    # not (yet) reported
    up_integrity_result: str | None = None
    up_confidentiality_result: str | None = None

    @property
    def security_result(self) -> SecurityResult | None:
        """The gNB's Security Result for the user plane of this session, if it reported one."""
        if self.up_integrity_result is None or self.up_confidentiality_result is None:
            return None
        return SecurityResult(self.up_integrity_result, self.up_confidentiality_result)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# --------------------------------------------------------------------------- N1 contents


def session_ambr_ie(uplink_bps: int, downlink_bps: int) -> nas.SessionAmbr:
    """Session-AMBR (TS 24.501 9.11.4.14) with the finest unit whose 16-bit multiplier holds the rate
    (rounded up, so the UE never gets less than configured)."""

    def enc(bps: int) -> tuple[int, int]:
        for unit in range(1, 26):
            step = nas.SessionAmbr.unit_bps(unit)
            assert step is not None
            mult = -(-bps // step)
            if mult <= 0xFFFF:
                return unit, mult
        raise ValueError(f"bit rate {bps} too large for a session-AMBR")

    du, dv = enc(downlink_bps)
    uu, uv = enc(uplink_bps)
    return nas.SessionAmbr(du, dv, uu, uv)


def default_qos_rule(qfi: int) -> nas.QosRule:
    """The default QoS rule (TS 24.501 6.2.5.1.1.2 / 9.11.4.13): match-all filter, lowest precedence."""
    return nas.QosRule(identifier=1, operation=1, default_rule=True,
                       packet_filters=(nas.PacketFilter(1, 3, nas.PacketFilter.MATCH_ALL),),
                       precedence=255, qfi=qfi)


def qos_flow_description(qfi: int, five_qi: int) -> bytes:
    """One QoS flow description (TS 24.501 9.11.4.12): create, E=1, parameter 5QI."""
    return bytes((qfi & 0x3F, 0x20, 0x41, 0x01, 0x01, five_qi & 0xFF))


# Extended PCO (TS 24.008 10.5.6.3): container identifiers, MS -> network requests
_PCO_DNS_IPV4 = 0x000D
_PCO_IPV4_MTU = 0x0010


def parse_epco_requests(epco: bytes | None) -> frozenset[int]:
    """The container identifiers the UE requested in its extended PCO (malformed -> what parsed)."""
    if not epco or not epco[0] & 0x80:
        return frozenset()
    out, i = set(), 1
    while i + 3 <= len(epco):
        cid, ln = int.from_bytes(epco[i:i + 2], "big"), epco[i + 2]
        if i + 3 + ln > len(epco):
            break
        out.add(cid)
        i += 3 + ln
    return frozenset(out)


def build_epco(requested: Iterable[int], dns: str | None, mtu: int | None) -> bytes | None:
    """Extended PCO for the accept: only what the UE asked for and we have."""
    parts = b""
    req = set(requested)
    if _PCO_DNS_IPV4 in req and dns:
        parts += _PCO_DNS_IPV4.to_bytes(2, "big") + b"\x04" + ipaddress.IPv4Address(dns).packed
    if _PCO_IPV4_MTU in req and mtu:
        parts += _PCO_IPV4_MTU.to_bytes(2, "big") + b"\x02" + mtu.to_bytes(2, "big")
    return b"\x80" + parts if parts else None


def up_security(policy: SecurityIndication, ue_rate: nas.IntegrityProtectionMaxDataRate,
                ) -> tuple[SecurityIndication | None, str | None]:
    """The Security Indication for the N2 transfer (TS 33.501 6.6.1, TS 38.413 9.3.1.27), or
    (None, reason) if the policy cannot be met: integrity "required" but the UE's maximum data rate
    for UP integrity protection is NULL (TS 24.501 6.4.1.4.1: cause #82).

    With integrity "required" or "preferred", the maximum integrity protected data rate uplink comes
    from the UE's value (0x00 -> 64 kbps, 0xFF -> full rate); "preferred" with a NULL rate becomes
    "not-needed".
    """
    rate = {0x00: "bitrate64kbs", 0xFF: "maximum-UE-rate"}.get(ue_rate.uplink)
    if policy.integrity == "not-needed":
        return SecurityIndication("not-needed", policy.confidentiality), None
    if rate is None:
        if policy.integrity == "required":
            return None, "UE maximum data rate for UP integrity protection is too low for the required policy"
        return SecurityIndication("not-needed", policy.confidentiality), None
    return SecurityIndication(policy.integrity, policy.confidentiality, rate), None
