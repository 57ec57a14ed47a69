"""Thin, strict adapter around pycrate's NAS 5GS message classes (internal).

pycrate (``pycrate_mobile.TS24501_FGMM`` / ``TS24501_FGSM``) knows the layout of every 5GS NAS
message: the mandatory part, the optional IEs with their IEIs and formats (TS 24.007 11.2 types 1-6)
and how to skip unknown optional IEs. This module uses it for the *message framing* only: the value
part of each IE is handed over as raw bytes (or a 4-bit integer for type 1 IEs) and interpreted by
our own typed IE codecs, which check what pycrate is lenient about.

Three pycrate behaviours are handled here:

* pycrate is slow to instantiate a message (~0.8 ms: it clones every IE of the message class), so one
  instance per message class and thread is kept and reset before each use (optional IEs made
  transparent again, appended unknown IEs removed, length fields put back to automatic). With the
  inner-IE decoding switched off this makes a decode or an encode take ~50 us.
* pycrate silently keeps a raw buffer when an inner IE does not decode, and logs about it; we turn
  inner decoding off and silence the pycrate loggers (a NAS decoder that logs attacker-controlled
  input at WARNING level is a log-flooding vector).
* parsing writes the IEI it read into the IE's ``T`` element. pycrate also matches a type 1 IE
  (4-bit IEI ``X-``) on a whole octet ``0x0X`` and then stores IEI 0 in that IE: with a reused
  instance, every later *encoding* of the message type wrote that IE with IEI 0 (seen as a
  ConfigurationUpdateCommand encoded with octet ``01`` instead of ``D1``, which no decoder reads
  back: "bitlen overflow: 952, max 400"), so one malformed message poisoned the encoder of its
  message type for the rest of the process. :meth:`Template.reset` therefore puts every optional
  IE's IEI back, and :meth:`Template.put_raw` only takes an IE whose IEI is the IE's own.

Every exception raised by pycrate while parsing becomes :class:`testbed.errors.DecodeError`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from testbed.errors import DecodeError

for _name in ("pycrate_mobile.TS24501_FGMM", "pycrate_mobile.TS24501_FGSM", "pycrate_mobile.TS24007",
              "pycrate_mobile.TS24501_IE", "pycrate_mobile.NAS5G"):
    # "CryptoMobile not found" at import, "unable to decode IE" on bad input: not ours to print.
    logging.getLogger(_name).setLevel(logging.CRITICAL)

from pycrate_mobile import TS24501_FGMM as FGMM  # noqa: E402
from pycrate_mobile import TS24501_FGSM as FGSM  # noqa: E402
from pycrate_mobile.TS24007 import (  # noqa: E402
    IE,
    Type1TV,
    Type2,
    Type3TV,
    Type4TLV,
    Type6TLVE,
)

__all__ = ["FGMM", "FGSM", "RawIe", "Template", "template"]

_OPTIONAL_TYPES = (Type1TV, Type2, Type3TV, Type4TLV, Type6TLVE)


@dataclass(frozen=True)
class RawIe:
    """An optional IE that the typed message class does not model, kept so nothing is lost.

    ``name`` is pycrate's name of the IE (e.g. ``"5GMMCap"``) or ``"IEI_0xNN"`` for an IEI unknown to
    pycrate; ``encoded`` is the whole IE as on the wire (IEI, length and value), so it can be put
    back unchanged (TS 24.501 7.6.1: unknown non-imperative IEs are ignored by the receiver).
    """

    name: str
    iei: int
    encoded: bytes

    def __repr__(self) -> str:
        return f"RawIe({self.name}, iei=0x{self.iei:02x}, {self.encoded.hex()})"


class Template:
    """One reusable pycrate instance of a message class (use via :func:`template`)."""

    def __init__(self, cls: type) -> None:
        msg = cls()
        self.msg = msg
        self.base_len = len(msg._content)
        self.ies: dict[str, Any] = {}
        self.optional: dict[str, Any] = {}
        self._lengths = []
        self._type1_tags: dict[str, int] = {}
        self._iei: dict[str, int] = {}  # optional IE -> its IEI (4 bits for type 1)
        self._opt_state: list[tuple[Any, Any, int]] = []  # (IE, its T element, IEI) for reset()
        for elt in msg._content:
            if isinstance(elt, IE):
                elt.DECODE_INNER = False  # instance attribute: we decode the values ourselves
                self.ies[elt._name] = elt
                if isinstance(elt, _OPTIONAL_TYPES):
                    self.optional[elt._name] = elt
                    tag = elt["T"].get_val()
                    self._iei[elt._name] = tag
                    self._opt_state.append((elt, elt["T"], tag))
                if isinstance(elt, Type1TV):
                    self._type1_tags[elt._name] = elt["T"].get_val()
                if "L" in elt._by_name:
                    self._lengths.append(elt["L"])
        self.header = msg._content[0]

    def reset(self) -> None:
        msg = self.msg
        while len(msg._content) > self.base_len:
            msg.pop()
        # = msg.reset_opts() and L.set_val(None) for every length, touching only what changed, and
        # every optional IE's IEI as declared (parsing may have stored another one, see above)
        for ie, tag_elt, tag in self._opt_state:
            if not ie._trans:
                ie._trans = True
            if tag_elt._val != tag:
                tag_elt._val = tag
        for length in self._lengths:
            if length._val is not None:
                length._val = None  # back to "computed from V"

    # --- decoding -----------------------------------------------------------------

    def parse(self, buf: bytes) -> None:
        """Parse ``buf`` into the template (raises DecodeError)."""
        self.reset()
        try:
            self.msg.from_bytes(buf)
        except Exception as exc:  # pycrate raises CharpyErr, EltErr, PycrateErr, ValueError, ...
            self.reset()  # no half-parsed state (e.g. a misread IEI) stays in the shared instance
            raise DecodeError(f"{self.msg._name}: malformed message ({exc})") from None
        # pycrate also matches a type 1 IE (4-bit IEI "X-") on a whole octet equal to 0x0X, i.e. an
        # IE with IEI 0x0X: it then reads the IEI nibble as 0. Such an octet is not that IE.
        for name, tag in self._type1_tags.items():
            ie = self.ies[name]
            if not ie.get_trans() and ie["T"].get_val() != tag:
                msg = (f"{self.msg._name}: IEI 0x{ie['T'].get_val():x}{ie['V'].get_val():x} "
                       f"misread as {name} (IEI {tag:X}-)")
                self.reset()
                raise DecodeError(msg)

    def raw(self, name: str) -> int | bytes | bool | None:
        """Value part of IE ``name`` after :meth:`parse`: int for type 1, bytes otherwise, True for
        a present type 2 IE, None when an optional IE is absent."""
        ie = self.ies[name]
        if ie.get_trans():
            return None
        if isinstance(ie, Type2):
            return True
        val = ie["V"].get_val()
        return val

    def extra_ies(self, modelled: frozenset[str]) -> tuple[RawIe, ...]:
        """Optional IEs present in the parsed message that are not in ``modelled``."""
        out = []
        for elt in self.msg._content:
            name = elt._name
            if name.startswith("_T_"):  # IEI unknown to pycrate, appended (transparent!) while parsing
                elt.set_trans(False)
                iei = elt["T"].get_val()
                name = f"IEI_0x{iei:X}-" if isinstance(elt, Type1TV) else f"IEI_0x{iei:02X}"
            elif name in modelled or elt.get_trans():
                continue
            elif name in self.optional:
                iei = elt["T"].get_val()
            else:
                continue  # mandatory part / header
            out.append(RawIe(name, iei, elt.to_bytes()))
        return tuple(out)

    # --- encoding -----------------------------------------------------------------

    def set_header(self, **fields: int) -> None:
        for key, val in fields.items():
            self.header[key].set_val(val)

    def set(self, name: str, value: int | bytes | bool) -> None:
        """Set IE ``name`` (mandatory or optional) from its raw value part."""
        ie = self.ies[name]
        if isinstance(ie, _OPTIONAL_TYPES):
            ie.set_trans(False)
        if isinstance(ie, Type2):
            return
        ie["V"].set_val(value)

    def set_spare(self, name: str = "spare") -> None:
        if name in self.msg._by_name:
            self.msg[name].set_val(0)

    def put_raw(self, raw: RawIe) -> bool:
        """Put back an IE from :meth:`extra_ies`; returns False if pycrate does not know it (the
        caller appends ``raw.encoded`` after the message)."""
        ie = self.optional.get(raw.name)
        if ie is None:
            return False
        tag, enc = self._iei[raw.name], bytes(raw.encoded)
        if not enc or (enc[0] >> 4 if isinstance(ie, Type1TV) else enc[0]) != tag:
            # parsing it would store the foreign IEI in the shared instance (and encode it)
            raise ValueError(f"cannot re-encode IE {raw.name}: it does not start with its IEI 0x{tag:X}")
        ie.set_trans(False)
        try:
            ie.from_bytes(enc)
        except Exception as exc:
            raise ValueError(f"cannot re-encode IE {raw.name}: {exc}") from None
        return True

    def to_bytes(self) -> bytes:
        return self.msg.to_bytes()


_local = threading.local()


def template(cls: type) -> Template:
    """The per-thread reusable :class:`Template` of pycrate message class ``cls``."""
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    tpl = cache.get(cls)
    if tpl is None:
        tpl = cache[cls] = Template(cls)
    return tpl
