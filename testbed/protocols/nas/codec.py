"""Entry points of the NAS codec: :func:`decode` and :func:`encode`.

:func:`decode` dispatches on the extended protocol discriminator (TS 24.007 11.2.3.1.1A), the
security header type (TS 24.501 9.3.1) and the message type (TS 24.501 9.7):

* a 5GMM message with security header type 1-4 becomes a :class:`SecurityProtectedMessage`, the
  envelope of TS 24.501 8.2.28 / 9.1.1 (use :class:`.security.NasSecurityContext` to verify and
  decipher it);
* a plain 5GMM or 5GSM message becomes the typed dataclass of its message type.

Anything malformed, truncated, of a reserved security header type or of a message type this codec
does not implement raises :class:`testbed.errors.DecodeError` (the latter as its subclass
:class:`UnsupportedMessageType`, so that an AMF can answer with 5GMM cause #97).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from testbed.errors import DecodeError

from . import fastdecode
from .enums import ExtendedProtocolDiscriminator, SecurityHeaderType
from .message import NasMessage
from .mm import MM_MESSAGE_CLASSES
from .sm import SM_MESSAGE_CLASSES

__all__ = [
    "SecurityProtectedMessage",
    "UnsupportedMessageType",
    "decode",
    "decode_plain",
    "encode",
    "peek_header",
]

_MIN_INNER = 3  # a plain 5GMM message is at least 3 octets (TS 24.501 8.2); ciphering keeps length


class UnsupportedMessageType(DecodeError):
    """A well-formed header with a message type that is unknown or not implemented here
    (TS 24.501 7.4: answer with cause #97 "message type non-existent or not implemented")."""

    def __init__(self, epd: int, message_type: int) -> None:
        self.epd = epd
        self.message_type = message_type
        kind = "5GMM" if epd == ExtendedProtocolDiscriminator.FIVEGMM else "5GSM"
        super().__init__(f"{kind} message type 0x{message_type:02x} is not supported")


@dataclass(frozen=True)
class SecurityProtectedMessage(NasMessage):
    """SECURITY PROTECTED 5GS NAS MESSAGE (TS 24.501 8.2.28, figure 9.1.1.2): security header type
    1-4, 4-octet MAC, NAS sequence number, and the (possibly ciphered) plain NAS message."""

    MESSAGE_TYPE: ClassVar[int] = -1  # has none: the octet after the header is the MAC

    security_header_type: SecurityHeaderType
    mac: bytes
    sequence_number: int
    payload: bytes

    def __post_init__(self) -> None:
        sht = SecurityHeaderType(self.security_header_type)
        if sht == SecurityHeaderType.PLAIN:
            raise ValueError("a security protected message has security header type 1..4")
        object.__setattr__(self, "security_header_type", sht)
        if len(self.mac) != 4 or not 0 <= self.sequence_number <= 255:
            raise ValueError("MAC is 4 octets and the sequence number 1 octet")
        if len(self.payload) < _MIN_INNER:
            raise ValueError("the protected NAS message is shorter than 3 octets")

    def encode(self) -> bytes:
        return (bytes([ExtendedProtocolDiscriminator.FIVEGMM, int(self.security_header_type)])
                + bytes(self.mac) + bytes([self.sequence_number]) + bytes(self.payload))

    @classmethod
    def decode(cls, buf: bytes) -> SecurityProtectedMessage:
        buf = bytes(buf)
        if len(buf) < 7 + _MIN_INNER:
            raise DecodeError(f"security protected NAS message too short ({len(buf)} octets)")
        if buf[0] != ExtendedProtocolDiscriminator.FIVEGMM:
            raise DecodeError("security protected NAS message without the 5GMM discriminator")
        sht = buf[1] & 0x0F
        if not 1 <= sht <= 4:
            raise DecodeError(f"security header type {sht} is not a protected one")
        return cls(SecurityHeaderType(sht), buf[2:6], buf[6], buf[7:])

    @property
    def ciphered(self) -> bool:
        return self.security_header_type.ciphered


def peek_header(buf: bytes) -> tuple[int, int, int]:
    """(EPD, security header type or PDU session id, message type or -1) without full decoding.

    For a protected 5GMM message the message type is not visible (it may be ciphered): -1.
    """
    buf = bytes(buf)
    if len(buf) < 3:
        raise DecodeError(f"NAS message too short ({len(buf)} octets)")
    epd = buf[0]
    if epd == ExtendedProtocolDiscriminator.FIVEGMM:
        sht = buf[1] & 0x0F
        return epd, sht, (buf[2] if sht == 0 else -1)
    if epd == ExtendedProtocolDiscriminator.FIVEGSM:
        if len(buf) < 4:
            raise DecodeError("5GSM message too short")
        return epd, buf[1], buf[3]
    raise DecodeError(f"unknown extended protocol discriminator 0x{epd:02x}")


def decode_plain(buf: bytes) -> NasMessage:
    """Decode a plain 5GMM or 5GSM message; a security protected one raises DecodeError."""
    epd, sht, mtype = peek_header(buf)
    if epd == ExtendedProtocolDiscriminator.FIVEGMM:
        if sht != 0:
            raise DecodeError(f"expected a plain NAS message, got security header type {sht}")
        cls = MM_MESSAGE_CLASSES.get(mtype)
        if cls is not None:
            # common uplink 5GMM messages: framed without pycrate unless unusual (.fastdecode)
            msg = fastdecode.decode(buf, cls)
            if msg is not None:
                return msg
    else:
        cls = SM_MESSAGE_CLASSES.get(mtype)
    if cls is None:
        raise UnsupportedMessageType(epd, mtype)
    return cls.decode(buf)


def decode(buf: bytes) -> NasMessage:
    """Decode one 5GS NAS message (plain 5GMM, 5GSM, or the security protected envelope)."""
    epd, sht, _ = peek_header(buf)
    if epd == ExtendedProtocolDiscriminator.FIVEGMM and sht != 0:
        if sht > 4:
            raise DecodeError(f"reserved security header type {sht} (TS 24.501 9.3.1)")
        return SecurityProtectedMessage.decode(buf)
    return decode_plain(buf)


def encode(msg: NasMessage) -> bytes:
    """Encode a typed NAS message (raises ValueError for field values that cannot be encoded)."""
    if not isinstance(msg, NasMessage):
        raise TypeError(f"not a NAS message: {type(msg).__name__}")
    return msg.encode()
