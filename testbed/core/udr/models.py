"""Subscriber file schema (YAML, validated by pydantic): subscribers, ranges and femtos.

The UDR (TS 23.501 clause 6.2.11) holds, per subscriber, the long-term key K,
OPc (TS 35.206), the AMF field and SQN of AKA (TS 33.102), the Allowed CAG list
and "CAG-only" indication (TS 23.501 clause 5.30.3), S-NSSAIs, DNNs and MSISDN;
and, per NR femto (CAG cell), the CAG IDs it is authorised to advertise.

Example::

    subscribers:
      - supi: imsi-001010000000001
        k: 465b5ce8b199b49faa5f0a2ee238a6bc
        opc: cd63cb71954a9f4e48a5994e37a02baf
        allowed_cag_ids: [1, 0x2a]
        msisdn: "491700000001"
    ranges:
      - first_supi: imsi-001010000100000
        count: 10000
        k: 000102030405060708090a0b0c0d0e0f
        op: 00112233445566778899aabbccddeeff
    femtos:
      - {name: femto1, mcc: "001", mnc: "01", gnb_id: 1, authorised_cag_ids: [1],
         hpm: {imsi: "001010000009001", k: ..., opc: ..., required: true}}

Errors raise :class:`testbed.errors.ConfigError` naming the file, the field path
(``subscribers.3.k``) and what was expected, like the topology loader.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from testbed.crypto.identity import Supi
from testbed.errors import ConfigError

__all__ = [
    "CAG_ID_MAX",
    "SQN_MAX",
    "FemtoConfig",
    "HpmConfig",
    "SnssaiConfig",
    "SubscriberConfig",
    "SubscriberFile",
    "SubscriberRange",
    "femto_key",
    "load_subscriber_file",
    "parse_subscriber_data",
]

SQN_MAX = (1 << 48) - 1  # TS 33.102 clause 6.3.2: SQN is 48 bits
CAG_ID_MAX = (1 << 32) - 1  # TS 23.003: a CAG-ID is 32 bits (TS 23.501 5.30.3)

_HEX32_RE = re.compile(r"^[0-9a-fA-F]{32}\Z")
_HEX4_RE = re.compile(r"^[0-9a-fA-F]{4}\Z")
_IMSI_SUPI_RE = re.compile(r"^imsi-([0-9]{6,15})\Z")
_IMSI_RE = re.compile(r"^[0-9]{6,15}\Z")
_DIGITS_RE = re.compile(r"^[0-9]{1,15}\Z")
_DNN_RE = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z"
)

_SECRET_FIELDS = frozenset({"k", "op", "opc"})

CagId = Annotated[int, Field(ge=0, le=CAG_ID_MAX)]


class _FieldError(ValueError):
    """Cross-field error carrying a field path relative to the model being validated."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


def _hex_field(value: Any, digits: int, what: str) -> str:
    """Normalise a hex string field to lower case; a clear message for YAML numbers."""
    rx = _HEX32_RE if digits == 32 else _HEX4_RE
    if isinstance(value, bool) or not isinstance(value, str):
        hint = " (quote it: YAML reads unquoted digits as a number)" if isinstance(value, int) else ""
        raise ValueError(f"expected {digits} hex digits as a string{hint}")
    if not rx.match(value):
        raise ValueError(f"expected {digits} hex digits ({what})")
    return value.lower()


def _digits_field(value: Any, rx: re.Pattern[str], what: str, where: str) -> str:
    """A string of decimal digits matching ``rx``; a clear message for YAML numbers."""
    if isinstance(value, bool) or not isinstance(value, str):
        hint = " (quote it: YAML reads unquoted digits as a number)" if isinstance(value, int) else ""
        raise ValueError(f"expected {what} as a string{hint}")
    if not rx.match(value):
        raise ValueError(f"expected {what} ({where})")
    return value


def _msisdn_field(value: Any) -> str | None:
    if value is None:
        return None
    return _digits_field(value, _DIGITS_RE, "1..15 decimal digits", "E.164, TS 23.003 3.3")


def _check_supi(value: Any, mnc_len: int) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a SUPI string 'imsi-<digits>' or 'nai-<user>@<realm>'")
    try:
        supi = Supi.parse(value, mnc_len)
    except ValueError as exc:
        raise ValueError(f"expected 'imsi-<6..15 digits>' or 'nai-<user>@<realm>' ({exc})") from None
    return supi.to_string()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SnssaiConfig(_Strict):
    """S-NSSAI (TS 23.003 clause 28.4.2): SST 8 bits, optional SD 24 bits."""

    sst: int = Field(ge=0, le=255)
    sd: int | None = Field(default=None, ge=0, le=0xFFFFFF)

    def as_tuple(self) -> tuple[int, int | None]:
        return (self.sst, self.sd)


def _default_snssai() -> list[SnssaiConfig]:
    return [SnssaiConfig(sst=1)]


class _AkaCredentials(_Strict):
    """AKA credentials of a USIM/UICC (TS 33.102 6.3, MILENAGE TS 35.206): K, OP or OPc, AMF."""

    k: str
    opc: str | None = None
    op: str | None = None
    amf: str = "8000"

    @field_validator("k", mode="before")
    @classmethod
    def _k(cls, v: Any) -> str:
        return _hex_field(v, 32, "128-bit subscriber key K")

    @field_validator("opc", "op", mode="before")
    @classmethod
    def _op(cls, v: Any) -> str | None:
        if v is None:
            return None
        return _hex_field(v, 32, "128-bit operator variant")

    @field_validator("amf", mode="before")
    @classmethod
    def _amf(cls, v: Any) -> str:
        v = _hex_field(v, 4, "16-bit AMF field")
        if not int(v, 16) & 0x8000:
            # TS 33.501 clause 6.1.3.2 step 1: the "separation bit" (bit 0) must be 1 for 5G.
            raise ValueError(
                "AMF separation bit (the most significant bit, TS 33.501 6.1.3.2) must be set, e.g. '8000'"
            )
        return v

    def _check_op(self) -> None:
        if (self.op is None) == (self.opc is None):
            raise _FieldError("opc", "give exactly one of 'op' and 'opc'")


class _AuthSubscription(_AkaCredentials):
    """Fields shared by a single subscriber and a range of subscribers."""

    allowed_cag_ids: list[CagId] = Field(default_factory=list)
    cag_only: bool = False
    snssai: list[SnssaiConfig] = Field(default_factory=_default_snssai)
    dnn: list[str] = Field(default_factory=lambda: ["internet"])
    mnc_len: int = 2

    @field_validator("mnc_len")
    @classmethod
    def _mnc_len(cls, v: int) -> int:
        if v not in (2, 3):
            raise ValueError("expected 2 or 3")
        return v

    @field_validator("dnn")
    @classmethod
    def _dnn(cls, v: list[str]) -> list[str]:
        for i, d in enumerate(v):
            if len(d) > 100 or not _DNN_RE.match(d):
                raise _FieldError(str(i), f"expected a DNN (APN-like labels, TS 23.003 9.1); got {d!r}")
        return v

    @field_validator("allowed_cag_ids")
    @classmethod
    def _cags(cls, v: list[int]) -> list[int]:
        return sorted(set(v))


class SubscriberConfig(_AuthSubscription):
    """One subscriber; ``sqn`` is the last SQN the home network used (TS 33.102 C.3)."""

    supi: str
    sqn: int = Field(default=0, ge=0, le=SQN_MAX)
    msisdn: str | None = None

    @field_validator("msisdn", mode="before")
    @classmethod
    def _msisdn(cls, v: Any) -> str | None:
        return _msisdn_field(v)

    @model_validator(mode="after")
    def _cross(self) -> SubscriberConfig:
        self._check_op()
        try:
            self.supi = _check_supi(self.supi, self.mnc_len)
        except ValueError as exc:
            raise _FieldError("supi", str(exc)) from None
        return self


class SubscriberRange(_AuthSubscription):
    """``count`` IMSI subscribers from ``first_supi`` upwards (SUPI + 1 per subscriber).

    All share K and OP/OPc (fine for load tests, never for real subscribers).
    ``first_msisdn``, when given, is incremented alongside.
    """

    first_supi: str
    count: int = Field(ge=1, le=1_000_000)
    sqn: int = Field(default=0, ge=0, le=SQN_MAX)
    first_msisdn: str | None = None

    @field_validator("first_msisdn", mode="before")
    @classmethod
    def _msisdn(cls, v: Any) -> str | None:
        return _msisdn_field(v)

    @model_validator(mode="after")
    def _cross(self) -> SubscriberRange:
        self._check_op()
        m = _IMSI_SUPI_RE.match(self.first_supi) if isinstance(self.first_supi, str) else None
        if not m:
            raise _FieldError("first_supi", "expected 'imsi-<6..15 digits>' (ranges are IMSI-based)")
        _check_supi(self.first_supi, self.mnc_len)
        digits = m.group(1)
        last = int(digits) + self.count - 1
        if len(str(last)) > len(digits):
            raise _FieldError("count", f"range overflows the {len(digits)}-digit IMSI (last would be {last})")
        first = digits[: 3 + self.mnc_len]
        if str(last).zfill(len(digits))[: 3 + self.mnc_len] != first:
            raise _FieldError("count", "range would change the MCC/MNC of the IMSI")
        if self.first_msisdn is not None:
            last_msisdn = int(self.first_msisdn) + self.count - 1
            if len(str(last_msisdn)) > len(self.first_msisdn):
                raise _FieldError("first_msisdn", "MSISDN range overflows its number of digits")
        return self

    @property
    def imsi_digits(self) -> tuple[int, int]:
        """(first IMSI as an integer, number of digits)."""
        digits = self.first_supi[5:]
        return int(digits), len(digits)

    def supis(self) -> Iterator[str]:
        """The SUPI strings of this range, in order."""
        first, width = self.imsi_digits
        for i in range(self.count):
            yield f"imsi-{first + i:0{width}d}"

    def msisdns(self) -> Iterator[str | None]:
        """The MSISDN of each subscriber of the range (None when no ``first_msisdn``)."""
        if self.first_msisdn is None:
            for _ in range(self.count):
                yield None
            return
        first, width = int(self.first_msisdn), len(self.first_msisdn)
        for i in range(self.count):
            yield f"{first + i:0{width}d}"


def femto_key(mcc: str, mnc: str, gnb_id: int, gnb_id_bits: int) -> str:
    """Store key of a femto: "<mcc><mnc>:<gnb_id>/<bits>" (Global gNB ID, TS 38.413 9.3.1.6)."""
    return f"{mcc}{mnc}:{gnb_id}/{gnb_id_bits}"


class HpmConfig(_AkaCredentials):
    """The hosting-party module (HPM, a UICC) of a femto (TS 33.320 5.1.1, 7.2.3).

    ``imsi`` identifies the hosting party in EAP-AKA (permanent identity "0<IMSI>@realm",
    RFC 4187 4.1.1.6); K/OPc/AMF are its AKA credentials, ``sqn`` the last SQN the AAA used
    (TS 33.102 Annex C); ``required``: the operator requires hosting-party authentication of
    this femto (TS 33.320 7.2.3: optional, by operator policy).
    """

    imsi: str
    sqn: int = Field(default=0, ge=0, le=SQN_MAX)
    required: bool = True

    @field_validator("imsi", mode="before")
    @classmethod
    def _imsi(cls, v: Any) -> str:
        return _digits_field(v, _IMSI_RE, "an IMSI of 6..15 decimal digits", "TS 23.003 2.2")

    @model_validator(mode="after")
    def _cross(self) -> HpmConfig:
        self._check_op()
        return self


class FemtoConfig(_Strict):
    """An NR femto (CAG cell) and the CAG IDs it may advertise (TS 23.501 5.30.3, TS 33.545);
    ``hpm``: its hosting-party module and the hosting-party authentication policy (TS 33.320 7.2.3)."""

    name: str = Field(min_length=1, max_length=64)
    mcc: str = Field(pattern=r"^[0-9]{3}$")
    mnc: str = Field(pattern=r"^[0-9]{2,3}$")
    gnb_id: int = Field(ge=0, le=(1 << 32) - 1)
    gnb_id_bits: int = Field(default=32, ge=22, le=32)
    authorised_cag_ids: list[CagId]
    hpm: HpmConfig | None = None

    @field_validator("authorised_cag_ids")
    @classmethod
    def _cags(cls, v: list[int]) -> list[int]:
        return sorted(set(v))

    @model_validator(mode="after")
    def _cross(self) -> FemtoConfig:
        if self.gnb_id >= 1 << self.gnb_id_bits:
            raise _FieldError(
                "gnb_id", f"gNB ID {self.gnb_id} does not fit in gnb_id_bits={self.gnb_id_bits}"
            )
        return self

    @property
    def key(self) -> str:
        return femto_key(self.mcc, self.mnc, self.gnb_id, self.gnb_id_bits)


class SubscriberFile(_Strict):
    """Top level of a subscriber file."""

    subscribers: list[SubscriberConfig] = Field(default_factory=list)
    ranges: list[SubscriberRange] = Field(default_factory=list)
    femtos: list[FemtoConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> SubscriberFile:
        seen: dict[str, int] = {}
        for i, s in enumerate(self.subscribers):
            if s.supi in seen:
                raise _FieldError(
                    f"subscribers.{i}.supi", f"duplicate SUPI {s.supi} (also subscribers.{seen[s.supi]})"
                )
            seen[s.supi] = i
        # Ranges: compare as integer intervals per IMSI width (no expansion of big ranges).
        spans = [
            (r.imsi_digits[1], r.imsi_digits[0], r.imsi_digits[0] + r.count - 1, i)
            for i, r in enumerate(self.ranges)
        ]
        for w, lo, hi, i in spans:
            for w2, lo2, hi2, j in spans:
                if j < i and w == w2 and lo <= hi2 and lo2 <= hi:
                    raise _FieldError(f"ranges.{i}", f"overlaps ranges.{j}")
            for supi, si in seen.items():
                m = _IMSI_SUPI_RE.match(supi)
                if m and len(m.group(1)) == w and lo <= int(m.group(1)) <= hi:
                    raise _FieldError(f"ranges.{i}", f"contains {supi}, also subscribers.{si}")
        keys: dict[str, int] = {}
        hpms: dict[str, int] = {}
        for i, f in enumerate(self.femtos):
            if f.key in keys:
                raise _FieldError(f"femtos.{i}", f"duplicate femto {f.key} (also femtos.{keys[f.key]})")
            keys[f.key] = i
            if f.hpm is not None:
                if f.hpm.imsi in hpms:
                    raise _FieldError(
                        f"femtos.{i}.hpm.imsi", f"duplicate HPM IMSI {f.hpm.imsi} (also femtos.{hpms[f.hpm.imsi]})"
                    )
                hpms[f.hpm.imsi] = i
        return self

    def subscriber_count(self) -> int:
        return len(self.subscribers) + sum(r.count for r in self.ranges)


def _loc(loc: tuple[Any, ...]) -> str:
    """Field path of a pydantic error location, without validator/union markers."""
    parts = [str(p) for p in loc]
    return ".".join(p for p in parts if not p.startswith(("function-", "union[")) and p not in ("str", "int"))


def parse_subscriber_data(data: Any, file: str | None = None) -> SubscriberFile:
    """Validate already-loaded YAML data; raise ConfigError naming file, field path and expectation."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            file, "", "expected a mapping with 'subscribers', 'ranges' and/or 'femtos' at the top level"
        )
    try:
        return SubscriberFile.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        err = max(errors, key=lambda x: len(x["loc"]))
        extra = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
        ctx_err = err.get("ctx", {}).get("error")
        if isinstance(ctx_err, _FieldError):
            base = _loc(err["loc"])
            path = f"{base}.{ctx_err.path}" if base else ctx_err.path
            raise ConfigError(file, path, ctx_err.message + extra) from None
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        shown = err.get("input")
        if err["loc"] and err["loc"][-1] in _SECRET_FIELDS:
            shown_txt = "<hidden>"  # never echo key material into logs
        elif isinstance(shown, dict):
            shown_txt = "a mapping"
        else:
            shown_txt = repr(shown)
            if len(shown_txt) > 60:
                shown_txt = shown_txt[:57] + "..."
        raise ConfigError(file, _loc(err["loc"]), f"{msg}; got {shown_txt}{extra}") from None


def load_subscriber_file(path: str | Path) -> SubscriberFile:
    """Load and validate a subscriber YAML file."""
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
    return parse_subscriber_data(data, str(p))
