"""The generic 3GPP key derivation function (TS 33.220 Annex B.2).

    derived key = HMAC-SHA-256(Key, S)
    S = FC || P0 || L0 || P1 || L1 || ... || Pn || Ln

FC is one octet; each Li is the length of Pi in octets as a 2-octet big-endian
number (TS 33.220 Annex B.2.1). Used by TS 33.501 Annex A (5G key hierarchy),
TS 33.401 Annex A (EPS) and TS 33.402 Annex A.2 (CK'/IK' for EAP-AKA').

HMAC-SHA-256 comes from the Python standard library (``hmac.digest``, backed
by OpenSSL), which is the fastest well-kept implementation for these short
inputs.
"""

from __future__ import annotations

import hmac

from testbed.errors import CryptoError

__all__ = ["kdf", "kdf_input"]


def kdf_input(fc: int, *params: bytes) -> bytes:
    """The KDF input string S = FC || P0 || L0 || ... (TS 33.220 Annex B.2.1)."""
    if not 0 <= fc <= 0xFF:
        raise CryptoError(f"FC must be one octet, got {fc!r}")
    parts = [bytes((fc,))]
    for p in params:
        n = len(p)
        if n > 0xFFFF:
            raise CryptoError("KDF parameter longer than 65535 octets")
        parts.append(bytes(p))
        parts.append(n.to_bytes(2, "big"))
    return b"".join(parts)


def kdf(key: bytes, fc: int, *params: bytes) -> bytes:
    """HMAC-SHA-256(key, FC || P0 || L0 || ...): 32 bytes (TS 33.220 Annex B.2)."""
    return hmac.digest(bytes(key), kdf_input(fc, *params), "sha256")
