"""5GS mobile identity IE (TS 24.501 9.11.3.4) as typed objects.

The identities themselves live in :mod:`testbed.crypto.identity` (5G-GUTI, 5G-S-TMSI, IMEI/IMEISV)
and :mod:`testbed.crypto.suci` (SUCI, with its protection schemes); this module only adds the
"no identity" value and a checked decoder that can restrict which identity types an IE may carry
(e.g. the 5G-GUTI IE of REGISTRATION ACCEPT must hold a 5G-GUTI).
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.crypto.identity import Guti5g, Pei, STmsi5g, decode_5gs_mobile_identity
from testbed.crypto.suci import Suci
from testbed.errors import DecodeError

from .enums import IdentityType

__all__ = [
    "Guti5g",
    "MobileIdentity",
    "NoIdentity",
    "Pei",
    "STmsi5g",
    "Suci",
    "decode_mobile_identity",
    "encode_mobile_identity",
    "identity_type",
]


@dataclass(frozen=True)
class NoIdentity:
    """Type of identity "no identity" (TS 24.501 9.11.3.4, figure 9.11.3.4.6): one octet."""

    def to_nas_bytes(self) -> bytes:
        return b"\x00"


MobileIdentity = Suci | Guti5g | STmsi5g | Pei | NoIdentity


def identity_type(ident: MobileIdentity) -> IdentityType:
    """The type of identity of ``ident`` (TS 24.501 table 9.11.3.4.1)."""
    if isinstance(ident, Pei):
        return IdentityType.IMEISV if ident.imeisv else IdentityType.IMEI
    return {Suci: IdentityType.SUCI, Guti5g: IdentityType.GUTI, STmsi5g: IdentityType.S_TMSI,
            NoIdentity: IdentityType.NO_IDENTITY}[type(ident)]


def encode_mobile_identity(ident: MobileIdentity) -> bytes:
    if not isinstance(ident, Suci | Guti5g | STmsi5g | Pei | NoIdentity):
        raise ValueError(f"not a 5GS mobile identity: {type(ident).__name__}")
    return ident.to_nas_bytes()


def decode_mobile_identity(value: bytes, allowed: frozenset[IdentityType] | None = None) -> MobileIdentity:
    """Decode a 5GS mobile identity value part; raises DecodeError if malformed or not one of
    ``allowed`` (any supported type when None; MAC address and EUI-64 are not supported)."""
    ident = decode_5gs_mobile_identity(bytes(value))
    result: MobileIdentity = NoIdentity() if ident is None else ident
    if allowed is not None and identity_type(result) not in allowed:
        raise DecodeError(f"5GS mobile identity of type {identity_type(result).name} not allowed here")
    return result
