"""SNTPv4 server logic (RFC 4330 / RFC 5905 packet format), sans-I/O.

:func:`answer` turns a client request datagram into the server reply, or
returns None for anything that is not a well-formed client request (dropped).
"""

from __future__ import annotations

import struct
import time

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
MODE_CLIENT = 3
MODE_SERVER = 4
_PACKET = struct.Struct("!BBbbII4sQQQQ")  # 48 bytes


def to_ntp(ts: float) -> int:
    """Unix time -> 64-bit NTP timestamp."""
    secs = int(ts) + NTP_EPOCH_OFFSET
    frac = int((ts - int(ts)) * (1 << 32)) & 0xFFFFFFFF
    return (secs << 32) | frac


def from_ntp(value: int) -> float:
    return (value >> 32) - NTP_EPOCH_OFFSET + (value & 0xFFFFFFFF) / (1 << 32)


def request(transmit: float | None = None) -> bytes:
    """A client request (mode 3, version 4)."""
    return _PACKET.pack((0 << 6) | (4 << 3) | MODE_CLIENT, 0, 0, 0, 0, 0, b"\0" * 4, 0, 0, 0,
                        to_ntp(time.time() if transmit is None else transmit))


def answer(datagram: bytes, received: float, now: float | None = None, stratum: int = 2,
           ref_id: bytes = b"NRFT") -> bytes | None:
    if len(datagram) < _PACKET.size:
        return None
    li_vn_mode, *_rest = _PACKET.unpack_from(datagram)
    version = (li_vn_mode >> 3) & 0x7
    mode = li_vn_mode & 0x7
    if mode != MODE_CLIENT or not 1 <= version <= 4:
        return None
    client_transmit = _PACKET.unpack_from(datagram)[10]
    now = time.time() if now is None else now
    return _PACKET.pack((0 << 6) | (version << 3) | MODE_SERVER, stratum, 4, -20, 0, 0, ref_id,
                        to_ntp(now), client_transmit, to_ntp(received), to_ntp(now))


def parse_reply(datagram: bytes) -> dict:
    """Fields of a server reply (for clients and tests); raises DecodeError if malformed."""
    from testbed.errors import DecodeError

    if len(datagram) < _PACKET.size:
        raise DecodeError(f"NTP packet too short ({len(datagram)} bytes)")
    f = _PACKET.unpack_from(datagram)
    if f[0] & 0x7 != MODE_SERVER:
        raise DecodeError("not an NTP server reply")
    return {"stratum": f[1], "ref_id": f[6], "originate": f[8], "receive": from_ntp(f[9]),
            "transmit": from_ntp(f[10])}
