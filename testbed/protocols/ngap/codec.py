"""NGAP-PDU encode/decode (TS 38.413 9.4, ALIGNED PER per clause 9.5 / X.691)."""

from __future__ import annotations

from pycrate_asn1dir import NGAP

from testbed.errors import DecodeError

from . import _asn1
from .messages import Kind, NgapMessage, UnsupportedMessage, message_class

_PDU = NGAP.NGAP_PDU_Descriptions.NGAP_PDU
_KINDS = frozenset(k.value for k in Kind)


def encode(msg: NgapMessage) -> bytes:
    """Encode a typed NGAP message; invalid field values raise ``ValueError``."""
    if not isinstance(msg, NgapMessage):
        raise TypeError(f"expected an NgapMessage, got {type(msg).__name__}")
    return _asn1.per_encode(_PDU, msg.to_asn(), True, msg.name)


def decode(buf: bytes) -> NgapMessage | UnsupportedMessage:
    """Decode one NGAP-PDU.

    Returns the typed message, or :class:`UnsupportedMessage` for a well-formed PDU
    of a procedure we do not model. Raises :class:`DecodeError` (only) on malformed
    input: bad APER, trailing octets, missing mandatory or duplicated IEs, or IE
    contents that are invalid (e.g. non-BCD PLMN digits).
    """
    kind, body = _asn1.per_decode(_PDU, buf, True, "NGAP-PDU")
    if kind not in _KINDS or not isinstance(body, dict):
        raise DecodeError(f"unknown NGAP-PDU alternative {kind!r}")
    value = body["value"]
    if not isinstance(value, tuple):
        return UnsupportedMessage(Kind(kind), body["procedureCode"], "")
    name, content = value
    cls = message_class(kind, name)
    if cls is None:
        return UnsupportedMessage(Kind(kind), body["procedureCode"], name)
    ies = content.get("protocolIEs") if isinstance(content, dict) else None
    if ies is None:
        raise DecodeError(f"{name}: no protocol IE container")
    return cls._from_ies(cls._table.decode(ies))
