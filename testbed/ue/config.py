"""Configuration of a UE simulator process (``python -m testbed.ue --config ue.yaml``).

One process runs many UEs: a list (``ues``), a range (``range``: first SUPI + count), or both.
Example (YAML or JSON)::

    gnbs: [10.200.1.1]            # cells to search: "address" or "address:port" (default port 4997)
    scheme: 1                     # SUCI protection scheme: 0 null, 1 Profile A, 2 Profile B
    position: [10, 0, 0]          # default simulated position
    ues:
      - {supi: imsi-001010000000001, name: ue1}
    range: {first_supi: imsi-001010000100000, count: 200, step: [1, 0, 0]}
    auto_register: true           # register as soon as a suitable cell is found
    auto_session: true            # then establish ``sessions`` (default: PSI 1 on the default DNN)
    dn_routes: [10.20.0.0/24]     # routed through each PDU session's TUN
    nas: {mcc: "001", mnc: "01", knobs: {ignore_cag_only: false}}

USIM data (K, OPc, CAG data, home network public key) comes from the run directory
(``<run>/core/subscribers.yaml`` and ``hn-public.json``, :func:`testbed.ue.usim.load_usims`)
unless a UE entry gives ``k``/``opc`` itself (test vectors only). Errors name the file and the
field path (:func:`parse_ue_config`).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from testbed.config_files import StrictModel, config_error, read_data_file
from testbed.errors import ConfigError

__all__ = ["NasSettings", "RadioSettings", "SessionSpec", "UeProcessConfig", "UeRange", "UeSpec",
           "load_ue_config", "parse_ue_config", "parse_gnb_address"]

_SUPI = re.compile(r"^imsi-[0-9]{6,15}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
Position = tuple[int, int, int]
RLS_PORT = 4997


_Strict = StrictModel


def parse_gnb_address(v: str) -> tuple[str, int]:
    """``"10.200.1.1"`` or ``"10.200.1.1:4997"`` -> (address, port)."""
    host, sep, port = v.rpartition(":")
    if not sep:
        host, port = v, str(RLS_PORT)
    try:
        ipaddress.IPv4Address(host)
        p = int(port)
    except ValueError:
        raise ValueError(f"expected an IPv4 address with an optional :port, got {v!r}") from None
    if not 1 <= p <= 65535:
        raise ValueError(f"port must be 1..65535, got {p}")
    return host, p


class SessionSpec(_Strict):
    """A PDU session to establish after registration (TS 24.501 6.4.1)."""

    psi: Annotated[int, Field(ge=1, le=15)] = 1
    dnn: str | None = None
    sst: Annotated[int, Field(ge=0, le=255)] = 1
    sd: Annotated[int, Field(ge=0, le=0xFFFFFF)] | None = None


class UeSpec(_Strict):
    """One UE. ``k``/``opc`` (hex) bypass the run directory (published test vectors only)."""

    supi: str
    name: str | None = None
    position: Position | None = None
    k: str | None = Field(default=None, repr=False)
    opc: str | None = Field(default=None, repr=False)
    allowed_cag_ids: list[Annotated[int, Field(ge=0, le=0xFFFFFFFF)]] | None = None
    cag_only: bool | None = None
    auto_register: bool | None = None
    auto_session: bool | None = None

    @field_validator("supi")
    @classmethod
    def _supi(cls, v: str) -> str:
        if not _SUPI.match(v):
            raise ValueError("expected imsi-<6..15 digits>")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError("expected [A-Za-z0-9][A-Za-z0-9._-]{0,31}")
        return v

    @field_validator("k", "opc")
    @classmethod
    def _hex16(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            if len(bytes.fromhex(v)) != 16:
                raise ValueError
        except ValueError:
            raise ValueError("expected 32 hex digits") from None
        return v

    @model_validator(mode="after")
    def _keys(self) -> UeSpec:
        if (self.k is None) != (self.opc is None):
            raise ValueError("give both k and opc, or neither (then they come from the run directory)")
        return self


class UeRange(_Strict):
    """``count`` UEs with consecutive SUPIs from ``first_supi``, named ``<name_prefix><first_index + i>``,
    at ``position + i * step``."""

    first_supi: str
    count: Annotated[int, Field(ge=1, le=100_000)]
    name_prefix: str = "ue"
    first_index: Annotated[int, Field(ge=0)] | None = None
    position: Position | None = None
    step: Position = (0, 0, 0)
    k: str | None = Field(default=None, repr=False)
    opc: str | None = Field(default=None, repr=False)
    allowed_cag_ids: list[Annotated[int, Field(ge=0, le=0xFFFFFFFF)]] | None = None
    cag_only: bool | None = None

    _supi = field_validator("first_supi")(UeSpec._supi.__func__)  # type: ignore[attr-defined]
    _hex = field_validator("k", "opc")(UeSpec._hex16.__func__)  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _check(self) -> UeRange:
        if (self.k is None) != (self.opc is None):
            raise ValueError("give both k and opc, or neither")
        digits = self.first_supi[5:]
        if len(str(int(digits) + self.count - 1)) > len(digits):
            raise ValueError("the range overflows the SUPI's digits")
        return self

    def supis(self) -> list[str]:
        digits = self.first_supi[5:]
        first, width = int(digits), len(digits)
        return [f"imsi-{first + i:0{width}d}" for i in range(self.count)]


class NasSettings(_Strict):
    """The NAS layer's configuration (:class:`testbed.ue.nas.UeNasConfig`)."""

    mcc: str = "001"
    mnc: str = "01"
    nia: list[Annotated[int, Field(ge=0, le=3)]] = [1, 2, 3]
    nea: list[Annotated[int, Field(ge=0, le=3)]] = [0, 1, 2, 3]
    requested_nssai: list[tuple[Annotated[int, Field(ge=0, le=255)], int | None]] = [(1, None)]
    default_dnn: str = "internet"
    knobs: dict[str, bool] = Field(default_factory=dict)
    timers: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)

    @field_validator("mcc")
    @classmethod
    def _mcc(cls, v: str) -> str:
        if not v.isdigit() or len(v) != 3:
            raise ValueError("expected 3 digits (quote it in YAML: \"001\")")
        return v

    @field_validator("mnc")
    @classmethod
    def _mnc(cls, v: str) -> str:
        if not v.isdigit() or len(v) not in (2, 3):
            raise ValueError("expected 2 or 3 digits (quote it in YAML: \"01\")")
        return v

    @field_validator("knobs")
    @classmethod
    def _knobs(cls, v: dict[str, bool]) -> dict[str, bool]:
        from testbed.ue.nas import Knobs

        known = set(Knobs.__dataclass_fields__)
        bad = sorted(set(v) - known)
        if bad:
            raise ValueError(f"unknown knob(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
        return v

    def nas_config(self) -> Any:
        from testbed.ue.nas import Knobs, UeNasConfig

        return UeNasConfig(mcc=self.mcc, mnc=self.mnc, nia=frozenset(self.nia), nea=frozenset(self.nea),
                           requested_nssai=tuple((s, d) for s, d in self.requested_nssai),
                           default_dnn=self.default_dnn, knobs=Knobs(**self.knobs), timers=dict(self.timers))


class RadioSettings(_Strict):
    """Radio side (:class:`testbed.ue.radio.ue.RadioConfig`)."""

    heartbeat_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    ack_delay_s: Annotated[float, Field(gt=0, le=2.5)] = 0.2
    request_acks: bool = False
    min_dbm: int = -120
    t300_s: Annotated[float, Field(ge=0.1, le=2.0)] = 1.0
    t300_retries: Annotated[int, Field(ge=0, le=10)] = 2
    reject_wait_s: Annotated[float, Field(gt=0, le=16)] = 1.0
    max_rejects: Annotated[int, Field(ge=0, le=100)] = 3
    rls_version: tuple[int, int, int] = (3, 3, 0)

    def radio_config(self) -> Any:
        from testbed.ue.radio.rrc import RrcTimers
        from testbed.ue.radio.ue import RadioConfig

        return RadioConfig(heartbeat_s=self.heartbeat_s, ack_delay_s=self.ack_delay_s,
                           request_acks=self.request_acks, min_dbm=self.min_dbm,
                           rrc=RrcTimers(self.t300_s, self.t300_retries, self.reject_wait_s, self.max_rejects),
                           rls_version=self.rls_version)


class UeProcessConfig(_Strict):
    """Everything one UE simulator process needs; see the module docstring."""

    gnbs: list[str] = Field(min_length=1)
    scheme: Literal[0, 1, 2] = 1
    position: Position = (0, 0, 0)
    ues: list[UeSpec] = Field(default_factory=list)
    range: UeRange | None = None
    auto_register: bool = True
    registration_type: Literal["initial", "emergency"] = "initial"
    auto_session: bool = True
    sessions: list[SessionSpec] = Field(default_factory=lambda: [SessionSpec()])
    nas: NasSettings = Field(default_factory=NasSettings)
    radio: RadioSettings = Field(default_factory=RadioSettings)
    run_dir: str | None = None
    bind_address: str = "0.0.0.0"
    #: Create a TUN device per PDU session (needs CAP_NET_ADMIN); false: count user plane only.
    tun: bool = True
    tun_mtu: Annotated[int, Field(ge=576, le=9000)] = 1400
    #: Prefixes routed through a session's TUN. "auto" routing: in the main table when the process
    #: has one UE, else a policy table per session (rules: from <PDU address>, oif <TUN>).
    dn_routes: list[str] = Field(default_factory=lambda: ["0.0.0.0/1", "128.0.0.0/1"])
    routing: Literal["auto", "main", "policy", "none"] = "auto"
    table_base: Annotated[int, Field(ge=1, le=0x7FFFFFFF)] = 10000
    #: TUN devices are named <tun_prefix><UE number>s<PSI>: give UE processes that share a node
    #: different prefixes (and table bases) so their devices and policy tables never collide.
    tun_prefix: str = Field(default="ue", pattern=r"^[a-z][a-z0-9]{0,3}$")
    #: Start this many UEs per second (0: all at once, heartbeats spread over one period).
    start_rate: Annotated[float, Field(ge=0)] = 0.0
    #: Upper bound of the timer wheel's wake-up granularity.
    timer_granularity_s: Annotated[float, Field(gt=0, le=0.1)] = 0.01

    @field_validator("gnbs")
    @classmethod
    def _gnbs(cls, v: list[str]) -> list[str]:
        for item in v:
            parse_gnb_address(item)
        return v

    @field_validator("bind_address")
    @classmethod
    def _bind(cls, v: str) -> str:
        try:
            ipaddress.IPv4Address(v)
        except ValueError:
            raise ValueError("expected an IPv4 address") from None
        return v

    @field_validator("dn_routes")
    @classmethod
    def _routes(cls, v: list[str]) -> list[str]:
        try:
            return [str(ipaddress.IPv4Network(p, strict=True)) for p in v]
        except ValueError as e:
            raise ValueError(f"expected IPv4 prefixes like 10.20.0.0/24 ({e})") from None

    @model_validator(mode="after")
    def _check(self) -> UeProcessConfig:
        if not self.ues and self.range is None:
            raise ValueError("give at least one UE (ues) or a range")
        psis = [s.psi for s in self.sessions]
        if len(set(psis)) != len(psis):
            raise ValueError("sessions: duplicate PSI")
        names = [u.name for u in self.ues if u.name]
        if len(set(names)) != len(names):
            raise ValueError("ues: duplicate name")
        return self

    @property
    def gnb_addresses(self) -> list[tuple[str, int]]:
        return [parse_gnb_address(g) for g in self.gnbs]


def parse_ue_config(data: Any, file: str | None = None, prefix: str = "") -> UeProcessConfig:
    """Validate a UE process configuration; errors name the file and the field path."""
    if not isinstance(data, dict):
        raise ConfigError(file, prefix, "expected a mapping")
    try:
        return UeProcessConfig.model_validate(data)
    except ValidationError as e:
        raise config_error(e, file, prefix) from None


def load_ue_config(path: str | Path) -> UeProcessConfig:
    """Read a YAML or JSON UE process configuration file."""
    return parse_ue_config(read_data_file(path), str(path))
