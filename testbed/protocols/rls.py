"""UE <-> gNB radio link simulation protocol (RLS), as in ``/work/shared/reference/radio-link-protocol.md``.

Wire compatible with UERANSIM v3.3.x (``src/lib/rls/rls_pdu.cpp``): a 13-octet
header ``0x03 | 3 | 3 | 0 | message type | STI (8 octets)`` then a per-type body,
all integers big-endian. Decoding is stricter than UERANSIM's: a wrong marker or
version, an unknown message or PDU type, a truncated or over-long body, a PDU
above 16384 octets, more than 4096 acknowledged PDU ids, or an RRC channel
number outside 0..7 all raise :class:`DecodeError`.

UERANSIM puts its own build version (``cons::Major/Minor/Patch`` in
``src/utils/constants.hpp``) in the header and drops datagrams of any other
version, so the version is a parameter (default 3.3.0, the UERANSIM we target);
e.g. ``version=(3, 2, 6)`` talks to a UERANSIM v3.2.6.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from testbed.errors import DecodeError

PORT = 4997
MARKER = 0x03
VERSION = (3, 3, 0)
HEADER_LEN = 13
MAX_PDU_LEN = 16384
MAX_ACK_COUNT = 4096
HEARTBEAT_INTERVAL_S = 1.0
LINK_TIMEOUT_S = 2.0
NO_COVERAGE_DBM = -120


class MessageType(IntEnum):
    HEARTBEAT = 4
    HEARTBEAT_ACK = 5
    PDU_TRANSMISSION = 6
    PDU_TRANSMISSION_ACK = 7


class PduType(IntEnum):
    RRC = 1
    DATA = 2


_HDR = struct.Struct("!BBBBBQ")
_HB = struct.Struct("!iii")
_HBA = struct.Struct("!i")
_PDU = struct.Struct("!BIII")
_U32 = struct.Struct("!I")
_PREFIX = bytes((MARKER, *VERSION))


def _check_sti(sti: int) -> None:
    if type(sti) is not int or not 0 <= sti < 1 << 64:
        raise ValueError(f"STI must be an unsigned 64-bit integer, got {sti!r}")


def _check_i32(name: str, v: int) -> None:
    if type(v) is not int or not -(1 << 31) <= v < 1 << 31:
        raise ValueError(f"{name} must be a signed 32-bit integer, got {v!r}")


def _check_u32(name: str, v: int) -> None:
    if type(v) is not int or not 0 <= v < 1 << 32:
        raise ValueError(f"{name} must be an unsigned 32-bit integer, got {v!r}")


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """UE -> gNB every second: the UE's simulated position."""

    sti: int
    x: int = 0
    y: int = 0
    z: int = 0

    def encode(self, version: tuple[int, int, int] = VERSION) -> bytes:
        _check_sti(self.sti)
        for n in ("x", "y", "z"):
            _check_i32(n, getattr(self, n))
        return _HDR.pack(MARKER, *version, MessageType.HEARTBEAT, self.sti) + _HB.pack(self.x, self.y, self.z)


@dataclass(frozen=True, slots=True)
class HeartbeatAck:
    """gNB -> UE: signal strength in dBm (UERANSIM: minus the distance; below -120 means no coverage)."""

    sti: int
    dbm: int

    def encode(self, version: tuple[int, int, int] = VERSION) -> bytes:
        _check_sti(self.sti)
        _check_i32("dbm", self.dbm)
        return _HDR.pack(MARKER, *version, MessageType.HEARTBEAT_ACK, self.sti) + _HBA.pack(self.dbm)


@dataclass(frozen=True, slots=True)
class PduTransmission:
    """An RRC message (``payload`` = RRC channel 0..7) or a user-plane IP packet (``payload`` = PDU session id).

    ``pdu_id`` 0 means no acknowledgement is wanted.
    """

    sti: int
    pdu_type: PduType
    payload: int
    pdu: bytes
    pdu_id: int = 0

    def encode(self, version: tuple[int, int, int] = VERSION) -> bytes:
        _check_sti(self.sti)
        _check_u32("pdu_id", self.pdu_id)
        _check_u32("payload", self.payload)
        if self.pdu_type not in (PduType.RRC, PduType.DATA):
            raise ValueError(f"unknown PDU type {self.pdu_type!r}")
        if self.pdu_type == PduType.RRC and self.payload > 7:
            raise ValueError(f"RRC channel must be 0..7, got {self.payload}")
        if len(self.pdu) > MAX_PDU_LEN:
            raise ValueError(f"PDU of {len(self.pdu)} octets exceeds {MAX_PDU_LEN}")
        return (_HDR.pack(MARKER, *version, MessageType.PDU_TRANSMISSION, self.sti)
                + _PDU.pack(self.pdu_type, self.pdu_id, self.payload, len(self.pdu)) + self.pdu)


@dataclass(frozen=True, slots=True)
class PduTransmissionAck:
    """Acknowledges received PDU ids (at most 4096)."""

    sti: int
    pdu_ids: tuple[int, ...]

    def encode(self, version: tuple[int, int, int] = VERSION) -> bytes:
        _check_sti(self.sti)
        if len(self.pdu_ids) > MAX_ACK_COUNT:
            raise ValueError(f"at most {MAX_ACK_COUNT} PDU ids per ACK")
        for i in self.pdu_ids:
            _check_u32("pdu id", i)
        n = len(self.pdu_ids)
        return (_HDR.pack(MARKER, *version, MessageType.PDU_TRANSMISSION_ACK, self.sti)
                + struct.pack(f"!I{n}I", n, *self.pdu_ids))


RlsMessage = Heartbeat | HeartbeatAck | PduTransmission | PduTransmissionAck


def encode(msg: RlsMessage, version: tuple[int, int, int] = VERSION) -> bytes:
    """Encode any RLS message (same as ``msg.encode(version)``)."""
    return msg.encode(version)


def decode(buf: bytes, version: tuple[int, int, int] = VERSION) -> RlsMessage:
    """Decode one RLS datagram of protocol ``version``; raises :class:`DecodeError` on anything malformed."""
    if not isinstance(buf, bytes | bytearray | memoryview):
        raise TypeError(f"expected bytes, got {type(buf).__name__}")
    data = bytes(buf)
    n = len(data)
    if n < HEADER_LEN:
        raise DecodeError(f"RLS datagram of {n} octets is shorter than the {HEADER_LEN}-octet header")
    if data[:4] != (_PREFIX if version is VERSION else bytes((MARKER, *version))):
        if data[0] != MARKER:
            raise DecodeError(f"RLS marker 0x{data[0]:02x}, expected 0x03")
        raise DecodeError(f"RLS version {data[1]}.{data[2]}.{data[3]}, expected {'.'.join(map(str, version))}")
    mtype = data[4]
    sti = int.from_bytes(data[5:13], "big")
    body = n - HEADER_LEN
    if mtype == MessageType.PDU_TRANSMISSION:
        if body < _PDU.size:
            raise DecodeError("truncated RLS PDU_TRANSMISSION")
        ptype, pdu_id, payload, length = _PDU.unpack_from(data, HEADER_LEN)
        if length > MAX_PDU_LEN:
            raise DecodeError(f"RLS PDU length {length} exceeds {MAX_PDU_LEN}")
        if body - _PDU.size != length:
            raise DecodeError(f"RLS PDU length {length} but {body - _PDU.size} octets follow")
        if ptype == PduType.RRC:
            if payload > 7:
                raise DecodeError(f"RLS RRC PDU on unknown channel {payload}")
            pt = PduType.RRC
        elif ptype == PduType.DATA:
            pt = PduType.DATA
        else:
            raise DecodeError(f"unknown RLS PDU type {ptype}")
        return PduTransmission(sti, pt, payload, data[HEADER_LEN + _PDU.size:], pdu_id)
    if mtype == MessageType.HEARTBEAT:
        if body != _HB.size:
            raise DecodeError(f"RLS HEARTBEAT body of {body} octets, expected {_HB.size}")
        return Heartbeat(sti, *_HB.unpack_from(data, HEADER_LEN))
    if mtype == MessageType.HEARTBEAT_ACK:
        if body != _HBA.size:
            raise DecodeError(f"RLS HEARTBEAT_ACK body of {body} octets, expected {_HBA.size}")
        return HeartbeatAck(sti, _HBA.unpack_from(data, HEADER_LEN)[0])
    if mtype == MessageType.PDU_TRANSMISSION_ACK:
        if body < 4:
            raise DecodeError("truncated RLS PDU_TRANSMISSION_ACK")
        count = _U32.unpack_from(data, HEADER_LEN)[0]
        if count > MAX_ACK_COUNT:
            raise DecodeError(f"RLS ACK count {count} exceeds {MAX_ACK_COUNT}")
        if body != 4 + 4 * count:
            raise DecodeError(f"RLS ACK count {count} but body of {body} octets")
        return PduTransmissionAck(sti, struct.unpack_from(f"!{count}I", data, HEADER_LEN + 4))
    raise DecodeError(f"unknown RLS message type {mtype}")
