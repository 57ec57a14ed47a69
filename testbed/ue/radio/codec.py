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
* :func:`encode` serves RRCSetupRequest and RRCSetupComplete (two per connection set-up, the
  other uplink messages pycrate still encodes) from bit templates learned from pycrate
  (:func:`testbed.protocols.templates.learn_bits`) on the second sighting of a message shape
  (establishment cause and identity type; NAS-PDU length, transaction id, PLMN index, whether
  ng-5G-S-TMSI-Part2 is present): only the random value / 5G-S-TMSI part and the NAS-PDU vary.
  A value the template cannot hold, or a shape whose learning failed, goes to pycrate.
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
from testbed.protocols.templates import BitBuild, BitTemplate, learn_bits

__all__ = ["decode_downlink", "encode", "encode_ul_information_transfer", "cache_info"]

_UL_INFO_PREFIX = 0b0_0111_0_100  # c1, ulInformationTransfer(7), criticalExtensions(0), NAS present only
_DL_INFO_C1 = 5  # dlInformationTransfer in DL-DCCH-MessageType c1
_CACHEABLE = frozenset((Channel.BCCH_BCH, Channel.BCCH_DL_SCH, Channel.DL_CCCH, Channel.PCCH, Channel.DL_DCCH))
_CACHE_MAX = 512
_cache: OrderedDict[tuple[int, bytes], object] = OrderedDict()
_stats = {"hits": 0, "misses": 0, "fast": 0, "templated": 0}
_TPL_MAX = 64
_templates: OrderedDict[tuple, BitTemplate | None] = OrderedDict()  # None: learning failed
_tpl_seen: OrderedDict[tuple, None] = OrderedDict()


def encode(msg: rrc.RrcMessage) -> bytes:
    """UPER encoding of an uplink RRC message (ULInformationTransfer without pycrate; RRCSetupRequest
    and RRCSetupComplete from learned templates), byte-identical to :func:`testbed.protocols.rrc.encode`."""
    t = type(msg)
    if t is rrc.ULInformationTransfer:
        return encode_ul_information_transfer(msg.nas_pdu)  # type: ignore[attr-defined]
    if t is rrc.RRCSetupRequest:
        return _setup_request(msg)  # type: ignore[arg-type]
    if t is rrc.RRCSetupComplete:
        return _setup_complete(msg)  # type: ignore[arg-type]
    return rrc.encode(msg)


def _templated(key: tuple, values: list[int], widths: list[int], build: BitBuild, msg: rrc.RrcMessage) -> bytes:
    """``msg`` encoded from the template of ``key`` (learned on its second sighting), else by pycrate."""
    tpl = _templates.get(key)
    if tpl is None and key not in _templates and key in _tpl_seen:
        del _tpl_seen[key]
        tpl = learn_bits(build, widths)
        _templates[key] = tpl
        if len(_templates) > _TPL_MAX:
            _templates.popitem(last=False)
    if tpl is not None:
        try:
            data = tpl.fill(values)
        except ValueError:  # a value wider than its slot (or negative): pycrate reports it
            return rrc.encode(msg)
        _stats["templated"] += 1
        return data
    if key not in _templates:
        _tpl_seen[key] = None
        if len(_tpl_seen) > _TPL_MAX:
            _tpl_seen.popitem(last=False)
    return rrc.encode(msg)


def _setup_request(msg: rrc.RRCSetupRequest) -> bytes:
    cause, part1 = msg.establishment_cause, msg.identity_is_s_tmsi_part1
    if type(msg.ue_identity) is not int or type(cause) is not str or type(part1) is not bool:
        return rrc.encode(msg)
    return _templated(("req", cause, part1), [msg.ue_identity], [39],
                      lambda v: rrc.encode(rrc.RRCSetupRequest(v[0], cause, part1)), msg)


def _setup_complete(msg: rrc.RRCSetupComplete) -> bytes:
    nas, tid, plmn, part2 = msg.nas_pdu, msg.transaction_id, msg.selected_plmn_index, msg.s_tmsi_part2
    n = len(nas) if type(nas) is bytes else 0
    if (n == 0 or msg.registered_amf is not None or msg.s_tmsi is not None or type(tid) is not int
            or type(plmn) is not int or (part2 is not None and type(part2) is not int)):
        return rrc.encode(msg)
    key = ("complete", n, tid, plmn, part2 is None)
    if part2 is None:
        return _templated(key, [int.from_bytes(nas, "big")], [8 * n],
                          lambda v: rrc.encode(rrc.RRCSetupComplete(v[0].to_bytes(n, "big"), tid, plmn)), msg)
    return _templated(key, [int.from_bytes(nas, "big"), part2], [8 * n, 9],
                      lambda v: rrc.encode(rrc.RRCSetupComplete(v[0].to_bytes(n, "big"), tid, plmn,
                                                                s_tmsi_part2=v[1])), msg)


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
    """Cache statistics (hits, misses, fast-path decodes, template encodes, entries, templates)."""
    return {**_stats, "entries": len(_cache), "templates": sum(1 for t in _templates.values() if t is not None)}
