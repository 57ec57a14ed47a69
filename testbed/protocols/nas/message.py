"""Base classes of the typed NAS messages and the mapping between their fields and pycrate IEs.

A message class declares, in ``_FIELDS``, which dataclass attribute(s) come from which pycrate IE
(by pycrate's IE name) and with which value codec. Encoding fills a reusable pycrate message
(:mod:`._pycrate`) and serialises it; decoding parses with pycrate and runs the value codecs,
which raise :class:`testbed.errors.DecodeError` on malformed values. Optional IEs that a class does
not model are kept in ``other_ies`` (as :class:`RawIe`) and written back on encoding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, ClassVar, Self

from testbed.errors import DecodeError

from ._pycrate import RawIe, Template, template
from .enums import IdentityType, enum_or_int
from .identity import decode_mobile_identity, encode_mobile_identity

__all__ = ["F", "MmMessage", "NasMessage", "RawIe", "SmMessage"]


# --------------------------------------------------------------------------- value codecs


class Codec:
    """Converts a field value to pycrate's raw IE value (bytes, or int for a type 1 IE) and back."""

    def enc(self, value: Any) -> Any:
        raise NotImplementedError

    def dec(self, raw: Any) -> Any:
        raise NotImplementedError


class Octets(Codec):
    """Raw octets, optionally with a length range (checked both ways)."""

    def __init__(self, min_len: int = 0, max_len: int = 65535) -> None:
        self.min_len, self.max_len = min_len, max_len

    def _check(self, value: bytes, exc: type[Exception]) -> bytes:
        if not self.min_len <= len(value) <= self.max_len:
            raise exc(f"{len(value)} octets, expected {self.min_len}..{self.max_len}")
        return bytes(value)

    def enc(self, value: bytes) -> bytes:
        if not isinstance(value, bytes | bytearray):
            raise ValueError(f"expected bytes, got {type(value).__name__}")
        return self._check(value, ValueError)

    def dec(self, raw: bytes) -> bytes:
        return self._check(raw, DecodeError)


class Obj(Codec):
    """A dataclass with ``to_bytes()`` / ``from_bytes()``."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def enc(self, value: Any) -> bytes:
        if not isinstance(value, self.cls):
            raise ValueError(f"expected {self.cls.__name__}, got {type(value).__name__}")
        return value.to_bytes()

    def dec(self, raw: bytes) -> Any:
        return self.cls.from_bytes(raw)


class Nibble(Codec):
    """A half-octet dataclass with ``to_nibble()`` / ``from_nibble()``."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def enc(self, value: Any) -> int:
        if not isinstance(value, self.cls):
            raise ValueError(f"expected {self.cls.__name__}, got {type(value).__name__}")
        return value.to_nibble()

    def dec(self, raw: int) -> Any:
        return self.cls.from_nibble(raw)


class EnumNibble(Codec):
    """An IntEnum in a half octet (``bits`` wide; the other bits of the nibble are spare)."""

    def __init__(self, enum: type[IntEnum], bits: int = 4) -> None:
        self.enum, self.mask = enum, (1 << bits) - 1

    def enc(self, value: int) -> int:
        if not 0 <= int(value) <= self.mask:
            raise ValueError(f"{self.enum.__name__} value {value} does not fit")
        return int(value)

    def dec(self, raw: int) -> Any:
        return enum_or_int(self.enum, raw & self.mask)


class EnumOctet(Codec):
    """An IntEnum in one octet (a cause value)."""

    def __init__(self, enum: type[IntEnum]) -> None:
        self.enum = enum

    def enc(self, value: int) -> bytes:
        if not 0 <= int(value) <= 255:
            raise ValueError(f"{self.enum.__name__} value {value} does not fit an octet")
        return bytes([int(value)])

    def dec(self, raw: bytes) -> Any:
        if len(raw) != 1:
            raise DecodeError(f"{self.enum.__name__} must be one octet")
        return enum_or_int(self.enum, raw[0])


class Uint8(Codec):
    def enc(self, value: int) -> bytes:
        if not 0 <= value <= 255:
            raise ValueError(f"{value} does not fit an octet")
        return bytes([value])

    def dec(self, raw: bytes) -> int:
        if len(raw) != 1:
            raise DecodeError("expected one octet")
        return raw[0]


class Flag(Codec):
    """A half-octet that is 1 for True (e.g. IMEISV request, TS 24.008 10.5.5.10)."""

    def enc(self, value: bool) -> int:
        return int(bool(value))

    def dec(self, raw: int) -> bool:
        return bool(raw & 1)


class Funcs(Codec):
    """A pair of functions (e.g. :func:`.ies.encode_nssai` / :func:`.ies.decode_nssai`)."""

    def __init__(self, enc: Callable[[Any], Any], dec: Callable[[Any], Any]) -> None:
        self._enc, self._dec = enc, dec

    def enc(self, value: Any) -> Any:
        return self._enc(value)

    def dec(self, raw: Any) -> Any:
        return self._dec(raw)


class Identity(Codec):
    """A 5GS mobile identity, optionally restricted to some identity types."""

    def __init__(self, *allowed: IdentityType) -> None:
        self.allowed = frozenset(allowed) or None

    def enc(self, value: Any) -> bytes:
        return encode_mobile_identity(value)

    def dec(self, raw: bytes) -> Any:
        return decode_mobile_identity(raw, self.allowed)


class Pair(Codec):
    """Two attributes packed in one IE (e.g. registration type + follow-on request)."""

    def __init__(self, enc: Callable[[Any, Any], Any], dec: Callable[[Any], tuple[Any, Any]]) -> None:
        self._enc, self._dec = enc, dec

    def enc(self, value: tuple[Any, Any]) -> Any:
        return self._enc(*value)

    def dec(self, raw: Any) -> tuple[Any, Any]:
        return self._dec(raw)


@dataclass(frozen=True)
class F:
    """Field spec: dataclass attribute(s) <- pycrate IE ``ie`` through ``codec``."""

    attr: str | tuple[str, str]
    ie: str
    codec: Codec

    @property
    def attrs(self) -> tuple[str, ...]:
        return self.attr if isinstance(self.attr, tuple) else (self.attr,)


# --------------------------------------------------------------------------- messages


class NasMessage:
    """Base class of every typed NAS message (5GMM, 5GSM, and the security protected envelope)."""

    MESSAGE_TYPE: ClassVar[int]

    def encode(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def decode(cls, buf: bytes) -> Self:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__


class _Pycrate(NasMessage):
    """Messages framed by a pycrate message class."""

    _PYCRATE: ClassVar[type]
    _FIELDS: ClassVar[tuple[F, ...]] = ()
    _modelled_cache: ClassVar[frozenset[str] | None] = None
    _names_cache: ClassVar[tuple[str, ...] | None] = None
    _dec_cache: ClassVar[tuple[tuple[str, tuple[str, ...], Codec], ...] | None] = None
    other_ies: tuple[RawIe, ...]

    def __post_init__(self) -> None:
        # lists/sets given by callers become tuples/frozensets: hashable and equal to decoded values
        cls = type(self)
        names = cls.__dict__.get("_names_cache")
        if names is None:  # dataclasses.fields() is slow; the field names of a class never change
            names = cls._names_cache = tuple(fld.name for fld in fields(self))  # type: ignore[arg-type]
        for name in names:
            val = getattr(self, name)
            if isinstance(val, list):
                object.__setattr__(self, name, tuple(val))
            elif isinstance(val, set):
                object.__setattr__(self, name, frozenset(val))

    @classmethod
    def _modelled(cls) -> frozenset[str]:
        if cls.__dict__.get("_modelled_cache") is None:
            cls._modelled_cache = frozenset(f.ie for f in cls._FIELDS)
        return cls._modelled_cache  # type: ignore[return-value]

    def _set_header(self, tpl: Template) -> None:
        raise NotImplementedError

    def encode(self) -> bytes:
        tpl = template(self._PYCRATE)
        tpl.reset()
        self._set_header(tpl)
        tpl.set_spare()  # the spare half octet of messages with one type 1 IE (e.g. 8.2.1)
        for f in self._FIELDS:
            values = tuple(getattr(self, a) for a in f.attrs)
            optional = f.ie in tpl.optional
            if values[0] is None:
                if optional:
                    continue
                raise ValueError(f"{self.name}: mandatory field {f.attrs[0]} is missing")
            try:
                raw = f.codec.enc(values if len(values) > 1 else values[0])
            except ValueError as exc:
                raise ValueError(f"{self.name}.{f.attrs[0]}: {exc}") from None
            tpl.set(f.ie, raw)
        extra = b""
        modelled = self._modelled()
        for raw_ie in self.other_ies:
            if raw_ie.name in modelled:
                raise ValueError(f"{self.name}: IE {raw_ie.name} is a typed field, not an other IE")
            if not tpl.put_raw(raw_ie):
                extra += raw_ie.encoded
        return tpl.to_bytes() + extra

    @classmethod
    def _header_fields(cls, tpl: Template) -> dict[str, Any]:
        return {}

    @classmethod
    def decode(cls, buf: bytes) -> Self:
        tpl = template(cls._PYCRATE)
        tpl.parse(bytes(buf))
        return cls._from_raw(cls._header_fields(tpl), tpl.raw, lambda: tpl.extra_ies(cls._modelled()))

    @classmethod
    def _from_raw(cls, kwargs: dict[str, Any], raw_of: Callable[[str], Any],
                  other_ies: Callable[[], tuple[RawIe, ...]]) -> Self:
        """The typed message from the raw IE values ``raw_of(pycrate IE name)`` (None when absent)
        of a framed message; shared by the pycrate framing and :mod:`.fastdecode`."""
        plan = cls.__dict__.get("_dec_cache")
        if plan is None:
            plan = cls._dec_cache = tuple((f.ie, f.attrs, f.codec) for f in cls._FIELDS)
        for ie, attrs, codec in plan:
            raw = raw_of(ie)
            if raw is None:
                for attr in attrs:
                    kwargs[attr] = None
                continue
            try:
                val = codec.dec(raw)
            except ValueError as exc:  # a dataclass refusing a decoded value
                raise DecodeError(f"{cls.__name__}.{attrs[0]}: {exc}") from None
            except DecodeError as exc:
                raise DecodeError(f"{cls.__name__}.{attrs[0]}: {exc}") from None
            if len(attrs) > 1:
                kwargs.update(zip(attrs, val, strict=True))
            else:
                kwargs[attrs[0]] = val
        kwargs["other_ies"] = other_ies()
        return cls(**kwargs)


class MmMessage(_Pycrate):
    """A plain 5GMM message (TS 24.501 8.2): EPD 0x7E, security header type 0."""

    def _set_header(self, tpl: Template) -> None:
        tpl.set_header(EPD=0x7E, spare=0, SecHdr=0, Type=self.MESSAGE_TYPE)


class SmMessage(_Pycrate):
    """A 5GSM message (TS 24.501 8.3): EPD 0x2E, PDU session identity, PTI, message type."""

    pdu_session_id: int
    pti: int

    def _set_header(self, tpl: Template) -> None:
        if not 0 <= self.pdu_session_id <= 255 or not 0 <= self.pti <= 255:
            raise ValueError(f"{self.name}: PDU session id and PTI are octets")
        tpl.set_header(EPD=0x2E, PDUSessID=self.pdu_session_id, PTI=self.pti, Type=self.MESSAGE_TYPE)

    @classmethod
    def _header_fields(cls, tpl: Template) -> dict[str, Any]:
        return {"pdu_session_id": tpl.header["PDUSessID"].get_val(), "pti": tpl.header["PTI"].get_val()}


