"""EAP packets (RFC 3748 4), sans I/O.

::

    Code (1) | Identifier (1) | Length (2) | Type (1, Request/Response only) | Type-Data

Codes 1 Request, 2 Response, 3 Success, 4 Failure (RFC 3748 4.1, 4.2). :func:`decode_eap`
raises :class:`~testbed.errors.DecodeError` (and nothing else) on malformed input: a Length
below the header size or above the received octets (RFC 3748 4: "silently discarded"), a
Request/Response without a Type, an unknown Code. Octets beyond Length are link padding and
ignored (RFC 3748 4).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from testbed.errors import DecodeError

__all__ = [
    "EAP_FAILURE",
    "EAP_REQUEST",
    "EAP_RESPONSE",
    "EAP_SUCCESS",
    "TYPE_AKA",
    "TYPE_IDENTITY",
    "TYPE_NAK",
    "TYPE_NOTIFICATION",
    "EapPacket",
    "decode_eap",
]

EAP_REQUEST, EAP_RESPONSE, EAP_SUCCESS, EAP_FAILURE = 1, 2, 3, 4
TYPE_IDENTITY, TYPE_NOTIFICATION, TYPE_NAK = 1, 2, 3  # RFC 3748 5.1-5.3
TYPE_AKA = 23  # RFC 4187 (EAP-AKA)

_CODE_NAMES = {EAP_REQUEST: "Request", EAP_RESPONSE: "Response", EAP_SUCCESS: "Success", EAP_FAILURE: "Failure"}


@dataclass(frozen=True)
class EapPacket:
    """One EAP packet; ``type`` is None for Success/Failure."""

    code: int
    identifier: int
    type: int | None = None
    data: bytes = b""

    def __post_init__(self) -> None:
        if self.code not in _CODE_NAMES:
            raise ValueError(f"unknown EAP code {self.code}")
        if not 0 <= self.identifier <= 255:
            raise ValueError("EAP identifier is one octet")
        if (self.type is None) != (self.code in (EAP_SUCCESS, EAP_FAILURE)):
            raise ValueError("Request/Response need a Type, Success/Failure have none")
        if self.type is not None and not 0 <= self.type <= 255:
            raise ValueError("EAP type is one octet")

    def encode(self) -> bytes:
        if self.type is None:
            return struct.pack("!BBH", self.code, self.identifier, 4)
        if 5 + len(self.data) > 0xFFFF:
            raise ValueError("EAP packet too long")
        return struct.pack("!BBHB", self.code, self.identifier, 5 + len(self.data), self.type) + self.data

    @property
    def code_name(self) -> str:
        return _CODE_NAMES[self.code]


def decode_eap(data: bytes) -> EapPacket:
    """Decode one EAP packet (DecodeError if malformed)."""
    if not isinstance(data, (bytes, bytearray)):
        raise DecodeError("EAP packet must be bytes")
    if len(data) < 4:
        raise DecodeError(f"EAP packet of {len(data)} octets is shorter than its header")
    code, ident, length = struct.unpack_from("!BBH", data)
    if code not in _CODE_NAMES:
        raise DecodeError(f"unknown EAP code {code}")
    if length < 4 or length > len(data):
        raise DecodeError(f"EAP Length {length} does not fit the {len(data)} octets received")
    if code in (EAP_SUCCESS, EAP_FAILURE):
        if length != 4:
            raise DecodeError(f"EAP-{_CODE_NAMES[code]} with Length {length} (must be 4)")
        return EapPacket(code, ident)
    if length < 5:
        raise DecodeError(f"EAP-{_CODE_NAMES[code]} without a Type")
    return EapPacket(code, ident, data[4], bytes(data[5:length]))
