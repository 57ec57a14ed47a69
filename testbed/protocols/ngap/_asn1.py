"""Running pycrate's PER codecs safely and fast (shared by the NGAP and NR RRC codecs).

pycrate keeps codec state in class attributes (``ASN1CodecPER.ALIGNED``, the
``ASN1CodecPER._off`` offset stack, ``ASN1Obj._SAFE_*``) and its compiled ASN.1
objects are module-level singletons holding the last value. So:

- every encode/decode runs under one process-wide re-entrant lock (NGAP and RRC
  share the PER codec state);
- value checking inside pycrate is switched off while we encode/decode (it
  roughly halves the cost); our typed layer validates every value it puts in,
  a decoded value tree gets one constraint check (instead of one per nesting
  level), and :func:`set_safe` turns all of pycrate's checks back on (tests);
- any pycrate exception while decoding becomes :class:`DecodeError`, and the
  offset stack is restored so a failed decode leaves no state behind; a
  malformed CONTAINING value (which pycrate would keep as raw octets after
  corrupting its APER offset stack) is a :class:`DecodeError` too;
- trailing octets after a complete PDU are rejected (X.691 10.1: a complete
  encoding is the outermost value plus padding to an octet boundary);
- pycrate's logger is silenced: it warns, with attacker-controlled content, when a
  CONTAINING value does not decode (a log-flooding vector); we raise instead.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from pycrate_asn1rt.asnobj import ASN1Obj
from pycrate_asn1rt.codecs import ASN1CodecPER
from pycrate_core.charpy import Charpy

from testbed.errors import DecodeError

logging.getLogger("pycrate.asn1rt").setLevel(logging.CRITICAL)

LOCK = threading.RLock()
_safe = False
_check_decoded = True


def set_safe(enabled: bool) -> None:
    """Enable pycrate's own value/constraint checks during encode/decode (slower; for tests)."""
    global _safe
    _safe = bool(enabled)


def set_constraint_check(enabled: bool) -> None:
    """Check decoded values against the ASN.1 value/size constraints (default on; off saves ~10-30 %
    of decode time but lets out-of-range PER values, e.g. 13..16 items of a SIZE(1..12) list, through)."""
    global _check_decoded
    _check_decoded = bool(enabled)


def _flags(value: bool) -> tuple[bool, bool, bool]:
    old = (ASN1Obj._SAFE_VAL, ASN1Obj._SAFE_BND, ASN1Obj._SAFE_BNDTAB)
    ASN1Obj._SAFE_VAL = ASN1Obj._SAFE_BND = ASN1Obj._SAFE_BNDTAB = value
    return old


def _restore(old: tuple[bool, bool, bool]) -> None:
    ASN1Obj._SAFE_VAL, ASN1Obj._SAFE_BND, ASN1Obj._SAFE_BNDTAB = old


def per_decode(obj: Any, buf: bytes, aligned: bool, what: str) -> Any:
    """Decode ``buf`` with pycrate object ``obj`` (APER if ``aligned`` else UPER); return its value."""
    if not isinstance(buf, bytes | bytearray | memoryview):
        raise TypeError(f"{what}: expected bytes, got {type(buf).__name__}")
    data = bytes(buf)
    if not data:
        raise DecodeError(f"{what}: empty buffer")
    with LOCK:
        off = ASN1CodecPER._off
        depth = len(off)
        old = _flags(_safe)
        try:
            char = Charpy(data)
            if aligned:
                obj.from_aper(char)
            else:
                obj.from_uper(char)
                rest = char.len_bit()
                if rest >= 8 or (rest and char.get_uint(rest) != 0):
                    raise DecodeError(f"{what}: {rest} trailing bits")
            if aligned and len(off) != depth:
                # pycrate leaves an entry on its APER offset stack when a CONTAINING value fails
                # to decode (it then keeps the raw octets); the outer alignment is unreliable
                raise DecodeError(f"{what}: a contained (OCTET STRING CONTAINING) value is malformed")
            if aligned and char.len_bit():
                raise DecodeError(f"{what}: {char.len_bit() // 8} trailing octets")
            if _check_decoded and not _safe:
                # PER lets a decoder see values outside non-power-of-two ranges and sizes (e.g. 13..16
                # items of a SIZE(1..12) list): check every value constraint once, on the whole tree.
                # Table constraints are not checked, so unknown IE ids stay acceptable (TS 38.413 10.3).
                obj._safechk_bnd(obj._val)
            return obj._val
        except DecodeError:
            raise
        except Exception as exc:  # pycrate signals malformed input with many exception types
            raise DecodeError(f"{what}: {type(exc).__name__}: {exc}") from None
        finally:
            del off[depth:]
            _restore(old)


def per_encode(obj: Any, val: Any, aligned: bool, what: str) -> bytes:
    """Encode ``val`` with pycrate object ``obj``; a value pycrate cannot encode raises ``ValueError``."""
    with LOCK:
        off = ASN1CodecPER._off
        depth = len(off)
        old = _flags(_safe)
        try:
            obj.set_val(val)
            out = obj.to_aper() if aligned else obj.to_uper()
        except Exception as exc:
            raise ValueError(f"cannot encode {what}: {type(exc).__name__}: {exc}") from None
        finally:
            del off[depth:]
            _restore(old)
    return out
