"""RRC encoding/decoding for the UE's hot path (TS 38.331 clause 6.2, UNALIGNED PER per clause 8).

pycrate needs 0.1-0.7 ms per NR RRC message; with thousands of UEs in one process that is
most of the CPU. Two shortcuts, both checked bit for bit against :mod:`testbed.protocols.rrc`
in the unit tests:

* :func:`encode_ul_information_transfer` / the DLInformationTransfer branch of
  :func:`decode_downlink` write and read the two messages that carry NAS (UL-DCCH
  ``ulInformationTransfer`` c1 index 7, DL-DCCH ``dlInformationTransfer`` c1 index 5) directly:
  a 9 (UL) or 12 (DL) bit prefix, the UPER length determinant of the OCTET STRING (X.691 11.9:
  8 bits below 128 octets, 16 bits below 16384) and the octets, padded to an octet boundary.
  Anything else on DL-DCCH (another message, extensions present, a fragmented length) goes to
  pycrate.
* Broadcast and common-channel messages (MIB, SIB1, RRCSetup, RRCReject, RRCRelease, Paging)
  repeat byte for byte across UEs of one cell, so their decodings are memoised per
  ``(channel, octets)`` in a bounded cache shared by all UEs of the process (the decoded
  objects are treated as read-only).

Malformed input raises :class:`testbed.errors.DecodeError`, nothing else.
"""

from __future__ import annotations

from collections import OrderedDict

from testbed.errors import DecodeError
from testbed.protocols import rrc
from testbed.protocols.rrc import Channel

__all__ = ["decode_downlink", "encode", "encode_ul_information_transfer", "cache_info"]

_UL_INFO_PREFIX = 0b0_0111_0_100  # c1, ulInformationTransfer(7), criticalExtensions(0), NAS present only
_DL_INFO_C1 = 5  # dlInformationTransfer in DL-DCCH-MessageType c1
_CACHEABLE = frozenset((Channel.BCCH_BCH, Channel.BCCH_DL_SCH, Channel.DL_CCCH, Channel.PCCH, Channel.DL_DCCH))
_CACHE_MAX = 512
_cache: OrderedDict[tuple[int, bytes], object] = OrderedDict()
_stats = {"hits": 0, "misses": 0, "fast": 0}


def encode(msg: rrc.RrcMessage) -> bytes:
    """UPER encoding of an uplink RRC message (ULInformationTransfer without pycrate)."""
    if type(msg) is rrc.ULInformationTransfer:
        return encode_ul_information_transfer(msg.nas_pdu)
    return rrc.encode(msg)


def encode_ul_information_transfer(nas_pdu: bytes) -> bytes:
    """UL-DCCH-Message with ULInformationTransfer carrying ``nas_pdu`` (TS 38.331 6.2.2)."""
    n = len(nas_pdu)
    if n == 0 or n >= 16384:  # empty is invalid for the codec; >= 16K needs fragmentation: let pycrate decide
        return rrc.encode(rrc.ULInformationTransfer(nas_pdu))
    if n < 128:
        head, hbits = (_UL_INFO_PREFIX << 8) | n, 17
    else:
        head, hbits = (_UL_INFO_PREFIX << 16) | 0x8000 | n, 25
    pad = (-hbits) % 8
    return (((head << (8 * n)) | int.from_bytes(nas_pdu, "big")) << pad).to_bytes((hbits + pad) // 8 + n, "big")


def _fast_dl_information_transfer(buf: bytes) -> rrc.DLInformationTransfer | None:
    """DLInformationTransfer with only dedicatedNAS-Message, or None (let pycrate look at it)."""
    total = len(buf) * 8
    if total < 24:
        return None
    v = int.from_bytes(buf, "big")
    head = v >> (total - 12)  # c1(1) | type(4) | tid(2) | critExt(1) | presence(3) | first length bit(1)
    if head >> 7 != _DL_INFO_C1 or (head >> 4) & 1 or (head >> 1) & 0b111 != 0b100:
        return None
    tid = (head >> 5) & 0b11
    if head & 1 == 0:  # 7-bit length
        n = (v >> (total - 19)) & 0x7F
        used = 19
    else:
        if (v >> (total - 13)) & 1:  # '11': fragmented
            return None
        n = (v >> (total - 27)) & 0x3FFF
        used = 27
    need = used + 8 * n
    if n == 0 or (need + 7) // 8 != len(buf):
        return None
    nas = ((v >> (total - need)) & ((1 << (8 * n)) - 1)).to_bytes(n, "big")
    return rrc.DLInformationTransfer(nas, tid)


def decode_downlink(channel: int, buf: bytes) -> object:
    """Decode a downlink RRC PDU received on ``channel`` (an RLS RRC ``payload`` value).

    Returns a typed :mod:`testbed.protocols.rrc` message or ``UnsupportedRrcMessage``; raises
    :class:`DecodeError` on malformed input, an uplink or unknown channel.
    """
    try:
        ch = Channel(channel)
    except ValueError:
        raise DecodeError(f"unknown RRC channel {channel!r}") from None
    if ch not in _CACHEABLE:
        raise DecodeError(f"{ch.name} is not a downlink channel")
    data = bytes(buf)
    if ch is Channel.DL_DCCH:
        fast = _fast_dl_information_transfer(data)
        if fast is not None:
            _stats["fast"] += 1
            return fast
    key = (int(ch), data)
    hit = _cache.get(key)
    if hit is not None:
        _stats["hits"] += 1
        _cache.move_to_end(key)
    else:
        _stats["misses"] += 1
        try:
            hit = rrc.decode(ch, data)
        except DecodeError as e:
            hit = e
        _cache[key] = hit
        if len(_cache) > _CACHE_MAX:
            _cache.popitem(last=False)
    if isinstance(hit, DecodeError):
        raise DecodeError(str(hit))
    return hit


def cache_info() -> dict[str, int]:
    """Cache statistics (hits, misses, fast-path decodes, entries)."""
    return {**_stats, "entries": len(_cache)}
