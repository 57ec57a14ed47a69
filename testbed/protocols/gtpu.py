"""GTP-U (TS 29.281) with the NR PDU Session Container extension header (TS 38.415).

Messages: G-PDU (with optional sequence number and PDU Session Container),
Echo Request/Response, Error Indication, Supported Extension Headers
Notification and End Marker. ``decode`` raises :class:`DecodeError` on anything
malformed: short buffer, version != 1, PT != 1 (GTP'), length field mismatch,
bad extension header chain, missing mandatory IEs, unknown message type.

The G-PDU path is kept minimal for the user plane: :func:`encode_gpdu` and
:func:`decode` with a single ``struct`` call for the common headers.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from testbed.errors import DecodeError

PORT = 2152

# Message types (TS 29.281 6.1)
ECHO_REQUEST = 1
ECHO_RESPONSE = 2
ERROR_INDICATION = 26
SUPPORTED_EXT_HEADERS_NOTIFICATION = 31
END_MARKER = 254
G_PDU = 255

# Extension header types (TS 29.281 5.2.1.3)
EXT_NONE = 0x00
EXT_UDP_PORT = 0x40
EXT_PDU_SESSION_CONTAINER = 0x85

# Information elements (TS 29.281 8)
IE_RECOVERY = 14
IE_TEID_DATA_I = 16
IE_PEER_ADDRESS = 133
IE_EXT_HEADER_TYPE_LIST = 141
IE_PRIVATE_EXTENSION = 255

# PDU Session Container PDU types (TS 38.415 5.5.2)
PDU_TYPE_DL = 0
PDU_TYPE_UL = 1

_FLAGS_BASE = 0x30  # version 1, PT 1
_FLAG_E, _FLAG_S, _FLAG_PN = 0x04, 0x02, 0x01

_H = struct.Struct("!BBHI")
_H_OPT = struct.Struct("!BBHIHBB")
_TV_LEN = {IE_RECOVERY: 1, IE_TEID_DATA_I: 4}


@dataclass(frozen=True, slots=True)
class PduSessionContainer:
    """PDU Session Container (TS 38.415 5.5.2.1 DL / 5.5.2.2 UL PDU SESSION INFORMATION).

    ``pdu_type`` 0 = DL (carries RQI), 1 = UL; ``qfi`` 0..63. Optional fields of the
    Rel-16 formats (PPI, timestamps, sequence numbers) are not produced; on decode
    their presence does not disturb QFI/RQI.
    """

    pdu_type: int
    qfi: int
    rqi: bool = False

    def __post_init__(self) -> None:
        if self.pdu_type not in (PDU_TYPE_DL, PDU_TYPE_UL):
            raise ValueError(f"PDU Session Container type must be 0 (DL) or 1 (UL), got {self.pdu_type!r}")
        if type(self.qfi) is not int or not 0 <= self.qfi <= 63:
            raise ValueError(f"QFI must be 0..63, got {self.qfi!r}")

    def content(self) -> bytes:
        if self.pdu_type == PDU_TYPE_DL:
            return bytes((PDU_TYPE_DL << 4, (0x40 if self.rqi else 0) | self.qfi))
        return bytes((PDU_TYPE_UL << 4, self.qfi))


def _psc_from(content: bytes) -> PduSessionContainer:
    if len(content) < 2:
        raise DecodeError("PDU Session Container shorter than 2 octets")
    ptype = content[0] >> 4
    if ptype not in (PDU_TYPE_DL, PDU_TYPE_UL):
        raise DecodeError(f"unknown PDU Session Container PDU type {ptype}")
    return PduSessionContainer(ptype, content[1] & 0x3F, bool(ptype == PDU_TYPE_DL and content[1] & 0x40))


@dataclass(frozen=True, slots=True)
class GPdu:
    """G-PDU: a T-PDU (user IP packet) on tunnel ``teid``."""

    teid: int
    payload: bytes
    pdu_session: PduSessionContainer | None = None
    seq: int | None = None
    ext_headers: tuple[tuple[int, bytes], ...] = ()  # other extension headers as (type, content), decoded only

    @property
    def qfi(self) -> int | None:
        return self.pdu_session.qfi if self.pdu_session else None

    def encode(self) -> bytes:
        psc = self.pdu_session
        return encode_gpdu(self.teid, self.payload, qfi=psc.qfi if psc else None,
                           pdu_type=psc.pdu_type if psc else PDU_TYPE_DL, rqi=psc.rqi if psc else False, seq=self.seq)


@dataclass(frozen=True, slots=True)
class EchoRequest:
    seq: int = 0

    def encode(self) -> bytes:
        return _signalling(ECHO_REQUEST, 0, self.seq, b"")


@dataclass(frozen=True, slots=True)
class EchoResponse:
    """Echo Response; the Recovery IE restart counter is 0 and ignored by receivers (TS 29.281 8.2)."""

    seq: int = 0
    recovery: int = 0

    def encode(self) -> bytes:
        return _signalling(ECHO_RESPONSE, 0, self.seq, bytes((IE_RECOVERY, self.recovery & 0xFF)))


@dataclass(frozen=True, slots=True)
class ErrorIndication:
    """Error Indication (TS 29.281 7.3.1): the TEID and the address of the GTP-U entity that sent the G-PDU."""

    teid: int
    peer_address: str
    seq: int = 0

    def encode(self) -> bytes:
        _check_u32("TEID", self.teid)
        addr = ipaddress.ip_address(self.peer_address).packed
        ies = struct.pack("!BI", IE_TEID_DATA_I, self.teid) + struct.pack("!BH", IE_PEER_ADDRESS, len(addr)) + addr
        return _signalling(ERROR_INDICATION, 0, self.seq, ies)


@dataclass(frozen=True, slots=True)
class SupportedExtHeadersNotification:
    """Supported Extension Headers Notification (TS 29.281 7.2.3)."""

    ext_types: tuple[int, ...]
    seq: int = 0

    def encode(self) -> bytes:
        if not self.ext_types or len(self.ext_types) > 255:
            raise ValueError("extension header type list needs 1..255 types")
        ie = bytes((IE_EXT_HEADER_TYPE_LIST, len(self.ext_types), *self.ext_types))
        return _signalling(SUPPORTED_EXT_HEADERS_NOTIFICATION, 0, self.seq, ie)


@dataclass(frozen=True, slots=True)
class EndMarker:
    """End Marker (TS 29.281 7.3.2) on tunnel ``teid``."""

    teid: int

    def encode(self) -> bytes:
        _check_u32("TEID", self.teid)
        return _H.pack(_FLAGS_BASE, END_MARKER, 0, self.teid)


GtpuMessage = GPdu | EchoRequest | EchoResponse | ErrorIndication | SupportedExtHeadersNotification | EndMarker


def _check_u32(name: str, v: int) -> None:
    if type(v) is not int or not 0 <= v < 1 << 32:
        raise ValueError(f"{name} must be an unsigned 32-bit integer, got {v!r}")


def _signalling(mtype: int, teid: int, seq: int, ies: bytes) -> bytes:
    # Echo / Error Indication / Supported Extension Headers Notification carry S=1 (TS 29.281 5.1)
    if type(seq) is not int or not 0 <= seq <= 0xFFFF:
        raise ValueError(f"sequence number must be 0..65535, got {seq!r}")
    return _H_OPT.pack(_FLAGS_BASE | _FLAG_S, mtype, 4 + len(ies), teid, seq, 0, 0) + ies


def encode_gpdu(teid: int, payload: bytes, *, qfi: int | None = None, pdu_type: int = PDU_TYPE_DL, rqi: bool = False,
                seq: int | None = None) -> bytes:
    """Encode a G-PDU; with ``qfi`` add a PDU Session Container (DL or UL), with ``seq`` set S."""
    if type(teid) is not int or not 0 <= teid < 1 << 32:
        raise ValueError(f"TEID must be an unsigned 32-bit integer, got {teid!r}")
    if qfi is None and seq is None:
        return _H.pack(0x30, G_PDU, len(payload), teid) + payload
    flags = _FLAGS_BASE
    if seq is not None:
        if type(seq) is not int or not 0 <= seq <= 0xFFFF:
            raise ValueError(f"sequence number must be 0..65535, got {seq!r}")
        flags |= _FLAG_S
    ext = b""
    next_type = EXT_NONE
    if qfi is not None:
        flags |= _FLAG_E
        next_type = EXT_PDU_SESSION_CONTAINER
        ext = b"\x01" + PduSessionContainer(pdu_type, qfi, rqi).content() + b"\x00"
    return _H_OPT.pack(flags, G_PDU, 4 + len(ext) + len(payload), teid, seq or 0, 0, next_type) + ext + payload


def decode(buf: bytes) -> GtpuMessage:
    """Decode one GTP-U message (the UDP payload)."""
    data = bytes(buf)
    n = len(data)
    if n < 8:
        raise DecodeError(f"GTP-U message of {n} octets is shorter than the 8-octet header")
    flags, mtype, length, teid = _H.unpack_from(data)
    if flags >> 5 != 1:
        raise DecodeError(f"GTP version {flags >> 5}, expected 1")
    if not flags & 0x10:
        raise DecodeError("GTP' (PT = 0) is not GTP-U")
    if length != n - 8:
        raise DecodeError(f"GTP-U length field {length} but {n - 8} octets follow the header")
    if mtype == G_PDU and not flags & 0x07:
        return GPdu(teid, data[8:])
    seq = None
    exts: list[tuple[int, bytes]] = []
    psc = None
    off = 8
    if flags & 0x07:
        if length < 4:
            raise DecodeError("GTP-U E/S/PN flag set but no optional header fields")
        s, _npdu, next_type = struct.unpack_from("!HBB", data, 8)
        off = 12
        if flags & _FLAG_S:
            seq = s
        if not flags & _FLAG_E:
            next_type = EXT_NONE  # the field is only meaningful with E set (TS 29.281 5.1)
        while next_type != EXT_NONE:
            if off >= n:
                raise DecodeError(f"GTP-U extension header 0x{next_type:02x} missing")
            elen = data[off] * 4
            if elen == 0:
                raise DecodeError(f"GTP-U extension header 0x{next_type:02x} with length 0")
            if off + elen > n:
                raise DecodeError(f"GTP-U extension header 0x{next_type:02x} overruns the message")
            content = data[off + 1:off + elen - 1]
            if next_type == EXT_PDU_SESSION_CONTAINER:
                if psc is not None:
                    raise DecodeError("two PDU Session Container extension headers")
                psc = _psc_from(content)
            else:
                exts.append((next_type, content))
            next_type = data[off + elen - 1]
            off += elen
    if mtype == G_PDU:
        return GPdu(teid, data[off:], psc, seq, tuple(exts))
    if mtype == END_MARKER:
        if off != n:
            raise DecodeError("End Marker with a payload")
        return EndMarker(teid)
    ies = _parse_ies(data, off)
    seq = seq or 0
    if mtype == ECHO_REQUEST:
        return EchoRequest(seq)
    if mtype == ECHO_RESPONSE:
        if IE_RECOVERY not in ies:
            raise DecodeError("Echo Response without Recovery IE")
        return EchoResponse(seq, ies[IE_RECOVERY][0])
    if mtype == ERROR_INDICATION:
        if IE_TEID_DATA_I not in ies or IE_PEER_ADDRESS not in ies:
            raise DecodeError("Error Indication without TEID Data I or GTP-U Peer Address")
        addr = ies[IE_PEER_ADDRESS]
        if len(addr) not in (4, 16):
            raise DecodeError(f"GTP-U Peer Address of {len(addr)} octets")
        return ErrorIndication(int.from_bytes(ies[IE_TEID_DATA_I], "big"), str(ipaddress.ip_address(addr)), seq)
    if mtype == SUPPORTED_EXT_HEADERS_NOTIFICATION:
        if IE_EXT_HEADER_TYPE_LIST not in ies or not ies[IE_EXT_HEADER_TYPE_LIST]:
            raise DecodeError("Supported Extension Headers Notification without a type list")
        return SupportedExtHeadersNotification(tuple(ies[IE_EXT_HEADER_TYPE_LIST]), seq)
    raise DecodeError(f"unsupported GTP-U message type {mtype}")


def _parse_ies(data: bytes, off: int) -> dict[int, bytes]:
    """TV IEs (type < 128, fixed length) and TLV IEs (2-octet length; 1 octet for type 141)."""
    ies: dict[int, bytes] = {}
    n = len(data)
    while off < n:
        t = data[off]
        if t < 128:
            ln = _TV_LEN.get(t)
            if ln is None:
                raise DecodeError(f"unknown GTP-U TV IE type {t}")
            off += 1
        elif t == IE_EXT_HEADER_TYPE_LIST:
            if off + 2 > n:
                raise DecodeError("truncated GTP-U IE header")
            ln = data[off + 1]
            off += 2
        else:
            if off + 3 > n:
                raise DecodeError("truncated GTP-U IE header")
            ln = int.from_bytes(data[off + 1:off + 3], "big")
            off += 3
        if off + ln > n:
            raise DecodeError(f"GTP-U IE {t} overruns the message")
        if t != IE_PRIVATE_EXTENSION:
            ies.setdefault(t, data[off:off + ln])
        off += ln
    return ies


def encode(msg: GtpuMessage) -> bytes:
    """Encode any GTP-U message (same as ``msg.encode()``)."""
    return msg.encode()
