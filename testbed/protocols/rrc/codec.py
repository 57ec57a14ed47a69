"""NR RRC encode/decode per logical channel (TS 38.331 clause 6.2.1, UNALIGNED PER per clause 8)."""

from __future__ import annotations

from typing import Any

from pycrate_asn1dir import RRCNR

from testbed.errors import DecodeError
from testbed.protocols.ngap import _asn1

from .messages import MESSAGE_TYPES, Channel, RrcMessage, UnsupportedRrcMessage

_R = RRCNR.NR_RRC_Definitions

_CHANNEL_OBJ = {
    Channel.BCCH_BCH: _R.BCCH_BCH_Message,
    Channel.BCCH_DL_SCH: _R.BCCH_DL_SCH_Message,
    Channel.DL_CCCH: _R.DL_CCCH_Message,
    Channel.DL_DCCH: _R.DL_DCCH_Message,
    Channel.PCCH: _R.PCCH_Message,
    Channel.UL_CCCH: _R.UL_CCCH_Message,
    Channel.UL_CCCH1: _R.UL_CCCH1_Message,
    Channel.UL_DCCH: _R.UL_DCCH_Message,
}

_BY_ALT: dict[tuple[Channel, str], type[RrcMessage]] = {(m.channel, m.alt): m for m in MESSAGE_TYPES}


def encode(msg: RrcMessage) -> bytes:
    """UPER-encode a typed RRC message as the ``<channel>-Message`` of its channel (``msg.channel``)."""
    if not isinstance(msg, RrcMessage):
        raise TypeError(f"expected an RrcMessage, got {type(msg).__name__}")
    body = msg.to_asn()
    val = {"message": ("mib", body)} if msg.channel is Channel.BCCH_BCH else {"message": ("c1", (msg.alt, body))}
    return _asn1.per_encode(_CHANNEL_OBJ[msg.channel], val, False, type(msg).__name__)


def decode(channel: Channel | int, buf: bytes) -> RrcMessage | UnsupportedRrcMessage:
    """Decode one RRC message received on ``channel``.

    Returns the typed message or :class:`UnsupportedRrcMessage` for a well-formed
    message we do not model; raises :class:`DecodeError` (only) on malformed input
    or an unknown channel number.
    """
    try:
        ch = Channel(channel)
    except ValueError:
        raise DecodeError(f"unknown RRC channel {channel!r}") from None
    v = _asn1.per_decode(_CHANNEL_OBJ[ch], buf, False, f"{ch.name}-Message")
    alt, inner = v["message"]
    if alt == "mib":
        name, body = "mib", inner
    elif alt == "c1":
        name, body = inner
    else:
        return UnsupportedRrcMessage(ch, alt)
    cls = _BY_ALT.get((ch, name))
    if cls is None:
        return UnsupportedRrcMessage(ch, name)
    try:
        return cls.from_asn(body)
    except ValueError as exc:  # a typed field's semantic check failed
        raise DecodeError(f"{name}: {exc}") from None


def encode_cell_group_config(value: Any) -> bytes:
    """UPER encoding of a CellGroupConfig value (used to hand RRCSetup's masterCellGroup back as bytes)."""
    return _asn1.per_encode(_R.CellGroupConfig, value, False, "CellGroupConfig")


__all__ = ["decode", "encode", "encode_cell_group_config"]
