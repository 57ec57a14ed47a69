"""ProtocolIE-Container handling (TS 38.413 9.4.7 container definitions).

A container is described by a table of :class:`Ie` (dataclass attribute, IE id,
value converters). Criticality, the value's ASN.1 type name and presence come
from pycrate's compiled IE class set, so they always match the ASN.1; IEs are
emitted in the order of the ASN.1 class set (the tabular order of clause 9.2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from testbed.errors import DecodeError

from .ies import check_bytes, check_uint


@dataclass(frozen=True, slots=True)
class Ie:
    attr: str
    id: int
    enc: Callable[[Any], Any]
    dec: Callable[[Any], Any]


def _type_name(obj: Any) -> str:
    return obj._tr._name if obj._tr is not None else obj._name


class IeTable:
    """Encode/decode one ProtocolIE-Container for a dataclass."""

    __slots__ = ("what", "_enc", "_dec", "_mandatory")

    def __init__(self, what: str, class_set: Any, ies: Iterable[Ie]):
        self.what = what
        s = class_set._val
        entries = list(s.root) + list(s.ext or [])
        meta = {e["id"]: (i, e["criticality"], _type_name(e["Value"]), e["presence"]) for i, e in enumerate(entries)}
        enc = []
        for ie in ies:
            if ie.id not in meta:
                raise RuntimeError(f"{what}: IE id {ie.id} is not in the ASN.1 class set")
            order, crit, tname, presence = meta[ie.id]
            enc.append((order, ie.attr, ie.id, crit, tname, ie.enc, presence == "mandatory"))
        enc.sort()
        self._enc = tuple(x[1:] for x in enc)
        self._dec = {ie.id: (ie.attr, ie.dec) for ie in ies}
        self._mandatory = frozenset(x[1] for x in enc if x[6])

    def encode(self, obj: Any) -> list[dict]:
        out = []
        for attr, ie_id, crit, tname, enc, mandatory in self._enc:
            val = getattr(obj, attr)
            if val is None or val is False:
                if mandatory:
                    raise ValueError(f"{self.what}: mandatory IE {attr} is missing")
                continue
            out.append({"id": ie_id, "criticality": crit, "value": (tname, enc(val))})
        return out

    def decode(self, ies: list[dict]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        dec = self._dec
        for item in ies:
            spec = dec.get(item["id"])
            if spec is None:
                continue  # an IE we do not model: ignored (criticality handling is the caller's)
            attr, conv = spec
            if attr in kwargs:
                raise DecodeError(f"{self.what}: IE {attr} (id {item['id']}) occurs twice")
            val = item["value"]
            if not isinstance(val, tuple):
                raise DecodeError(f"{self.what}: IE {attr} could not be decoded")
            try:
                kwargs[attr] = conv(val[1])
            except ValueError as exc:  # semantic check of a typed IE failed
                raise DecodeError(f"{self.what}: IE {attr}: {exc}") from None
        missing = self._mandatory.difference(kwargs)
        if missing:
            raise DecodeError(f"{self.what}: mandatory IE(s) missing: {', '.join(sorted(missing))}")
        return kwargs


# --- converters for simple IE types ------------------------------------------------

def uint(bits: int, name: str) -> Callable[[Any], int]:
    def enc(v: Any) -> int:
        return check_uint(name, v, bits)
    return enc


def ident(v: Any) -> Any:
    return v


def octets(name: str, min_len: int = 1, max_len: int | None = None) -> Callable[[Any], bytes]:
    def enc(v: Any) -> bytes:
        return check_bytes(name, v, min_len, max_len)
    return enc


def enum(class_obj: Any, name: str) -> tuple[Callable[[Any], str], Callable[[Any], str]]:
    """Converters for an ENUMERATED IE whose value is the ASN.1 name (e.g. ``"mo-Signalling"``)."""
    names = frozenset(class_obj._cont.keys())

    def enc(v: Any) -> str:
        if v not in names:
            raise ValueError(f"{name} must be one of {sorted(names)}, got {v!r}")
        return v

    def dec(v: Any) -> str:
        if not isinstance(v, str) or v.startswith("_ext_"):  # pycrate's name for an unknown extension value
            raise DecodeError(f"{name}: unknown enumerated value {v!r}")
        return v

    return enc, dec


_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def printable(name: str, max_len: int = 150) -> tuple[Callable[[Any], str], Callable[[Any], str]]:
    """Converters for a PrintableString (X.680 41.4) of 1..max_len characters.

    APER carries each character in 8 bits, so decoding checks the alphabet too.
    """
    def enc(v: Any) -> str:
        if not isinstance(v, str) or not 1 <= len(v) <= max_len or not set(v) <= _PRINTABLE:
            raise ValueError(f"{name} must be a PrintableString of 1..{max_len} characters, got {v!r}")
        return v

    def dec(v: Any) -> str:
        if not isinstance(v, str) or not set(v) <= _PRINTABLE:
            raise DecodeError(f"{name}: characters outside the PrintableString alphabet")
        return v
    return enc, dec


def seq_of(enc_item: Callable[[Any], Any], name: str, lo: int, hi: int) -> Callable[[Any], list]:
    def enc(v: Any) -> list:
        if not isinstance(v, list | tuple) or not lo <= len(v) <= hi:
            raise ValueError(f"{name} needs {lo}..{hi} items")
        return [enc_item(x) for x in v]
    return enc
