"""Codec short-cuts learned from the real codecs: byte and bit "splice templates".

Most messages of a per-UE hot path (a registration, a PDU session setup) differ from UE to UE only
in a few fixed-size fields (NGAP UE ids, the NAS-PDU, KgNB, RAND/AUTN, the 5G-TMSI, a TEID).
Encoding or decoding them with pycrate costs 0.1-0.6 ms each. A template is *learned from the real
codec*, never hand-written: the message is built with the variable fields ("slots") set to
different values, one slot at a time; the positions that change are that slot, everything else is
constant for the message shape (message type, field lengths, the other field values). A template is
kept only if it reproduces the codec's output for a further, random set of slot values.

* :class:`SpliceTemplate` / :func:`learn`: octet-aligned slots (APER: NGAP, NAS);
* :class:`BitTemplate` / :func:`learn_bits`: slots at any bit position (UPER: NR RRC, where e.g. the
  NAS-PDU of a DLInformationTransfer starts at bit 24).

Encoding: ``fill(values)`` = the constant bits with the values spliced in, byte-identical to the
codec's output for the same message. Decoding: ``match(data)`` succeeds only if every constant
octet/bit equals the template's, so the input is exactly the learned message with other slot
values; anything else (a new structure, malformed input) must go to the real decoder, which stays
the only judge of malformed input.

Used by the AMF (:mod:`testbed.core.amf.fastpath`) and the femto (:mod:`testbed.femto.fastpath`),
which keep their own caches (which messages, which slots, when to learn).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["BitBuild", "BitTemplate", "Build", "SpliceTemplate", "learn", "learn_bits", "nbytes"]

Build = Callable[[Sequence[bytes]], bytes]
"""Slot values (octets) -> the real codec's encoding."""

BitBuild = Callable[[Sequence[int]], bytes]
"""Slot values (integers) -> the real codec's encoding."""


def nbytes(value: int) -> int:
    """Octets of a non-negative integer's minimal big-endian form (at least one)."""
    return max(1, (value.bit_length() + 7) // 8)


# ---------------------------------------------------------------------------------- octet templates

@dataclass(frozen=True, slots=True)
class SpliceTemplate:
    """An encoding with octet slots at fixed offsets."""

    data: bytes
    slots: tuple[tuple[int, int], ...]  # (offset, length), in the order of the build values
    _gaps: tuple[tuple[int, int], ...]  # constant byte ranges, ascending

    def fill(self, values: Sequence[bytes]) -> bytes:
        buf = bytearray(self.data)
        for (off, ln), v in zip(self.slots, values, strict=True):
            if len(v) != ln:
                raise ValueError("slot value of the wrong length")
            buf[off:off + ln] = v
        return bytes(buf)

    def match(self, data: bytes) -> tuple[bytes, ...] | None:
        if len(data) != len(self.data):
            return None
        t = self.data
        for a, b in self._gaps:
            if data[a:b] != t[a:b]:
                return None
        return tuple(data[off:off + ln] for off, ln in self.slots)


def _variant_a(n: int, integer: bool) -> bytes:
    return (b"\x01" + bytes(n - 1)) if integer else bytes(n)


def learn(build: Build, lengths: Sequence[int], integer: Sequence[bool]) -> SpliceTemplate | None:
    """Learn the template of ``build`` (values -> encoding) for slots of ``lengths``; ``integer``
    marks slots that hold a minimal big-endian integer (so their first octet must not be 0).

    None if the encoding is not a template: its length depends on a value, a slot's changes are not
    one contiguous run of its length, slots overlap, or the check with random values fails."""
    try:
        base_vals = [_variant_a(n, i) for n, i in zip(lengths, integer, strict=True)]
        base = build(base_vals)
        slots = []
        for k, n in enumerate(lengths):
            vals = list(base_vals)
            vals[k] = b"\xff" * n
            other = build(vals)
            if len(other) != len(base):
                return None
            diff = [i for i in range(len(base)) if base[i] != other[i]]
            if len(diff) != n or diff[-1] - diff[0] != n - 1:
                return None
            slots.append((diff[0], n))
        order = sorted(slots)
        for (o1, n1), (o2, _) in zip(order, order[1:], strict=False):
            if o1 + n1 > o2:
                return None
        gaps, pos = [], 0
        for off, ln in order:
            if off > pos:
                gaps.append((pos, off))
            pos = off + ln
        if pos < len(base):
            gaps.append((pos, len(base)))
        tpl = SpliceTemplate(base, tuple(slots), tuple(gaps))
        check = [(bytes([1 + os.urandom(1)[0] % 255]) + os.urandom(n - 1)) if i else os.urandom(n)
                 for n, i in zip(lengths, integer, strict=True)]
        if build(check) != tpl.fill(check):
            return None
        return tpl
    except (ValueError, TypeError):
        return None


# ---------------------------------------------------------------------------------- bit templates

@dataclass(frozen=True, slots=True)
class BitTemplate:
    """An encoding (e.g. UPER) with integer slots at fixed bit positions."""

    size: int  # octets
    const: int
    mask: int  # 1 = constant bit
    slots: tuple[tuple[int, int], ...]  # (shift from the LSB end, width in bits), in value order

    def fill(self, values: Sequence[int]) -> bytes:
        v = self.const
        for (shift, width), x in zip(self.slots, values, strict=True):
            if x >> width:
                raise ValueError("slot value too wide")
            v |= x << shift
        return v.to_bytes(self.size, "big")

    def match(self, data: bytes) -> tuple[int, ...] | None:
        if len(data) != self.size:
            return None
        x = int.from_bytes(data, "big")
        if x & self.mask != self.const:
            return None
        return tuple((x >> shift) & ((1 << width) - 1) for shift, width in self.slots)


def learn_bits(build: BitBuild, widths: Sequence[int]) -> BitTemplate | None:
    """Learn the bit template of ``build`` (slot integers -> octets) for slots of ``widths`` bits.

    None if the encoding is not a template: its length depends on a value, a slot's changes are not
    one contiguous run of its width, slots overlap, or the check with random values fails."""
    try:
        zeros = [0] * len(widths)
        base = build(zeros)
        size = len(base)
        b = int.from_bytes(base, "big")
        slots = []
        used = 0
        for k, w in enumerate(widths):
            vals = list(zeros)
            vals[k] = (1 << w) - 1
            other = build(vals)
            if len(other) != size:
                return None
            diff = b ^ int.from_bytes(other, "big")
            if diff == 0:
                return None
            shift = (diff & -diff).bit_length() - 1
            if diff >> shift != (1 << w) - 1 or used & diff:
                return None
            used |= diff
            slots.append((shift, w))
        if b & used:
            return None
        tpl = BitTemplate(size, b, ((1 << (8 * size)) - 1) ^ used, tuple(slots))
        check = [int.from_bytes(os.urandom((w + 7) // 8), "big") & ((1 << w) - 1) for w in widths]
        if build(check) != tpl.fill(check):
            return None
        return tpl
    except (ValueError, TypeError):
        return None
