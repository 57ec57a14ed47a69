"""EAP-AKA key derivation and message authentication (RFC 4187 7, 10.15, 10.13), sans I/O.

- MK = SHA1(Identity | IK | CK) (RFC 4187 7), Identity being the identity the peer gave last
  (AT_IDENTITY, else the EAP-Response/Identity), without a terminating NUL;
- K_encr (16) | K_aut (16) | MSK (64) | EMSK (64) = PRF(MK), the FIPS 186-2 pseudo-random
  function with change notice 1 (RFC 4187 Appendix A, RFC 4186 Appendix B): XKEY = MK,
  XSEED_j = 0, G = the SHA-1 compression function over XVAL padded with zeros to 512 bits;
- AT_MAC = HMAC-SHA1-128(K_aut, the whole EAP packet with the AT_MAC value zeroed) (10.15);
- AT_CHECKCODE = SHA1 over the EAP-Request/AKA-Identity and EAP-Response/AKA-Identity packets of
  the exchange, in order (10.13).

Python's hashlib has no entry to the bare SHA-1 compression function that G needs, so it is
written here (FIPS 180-2 6.1.2) and checked against the FIPS 186-2 known answer and the key
derivation example of RFC 4186 A.5 (``tests/unit/aaa/test_eap_aka_keys.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field

__all__ = ["AkaKeys", "checkcode", "derive_keys", "fips186_2_prf", "hmac_sha1_128", "master_key"]

_M32 = 0xFFFFFFFF
_SHA1_H0 = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)  # t of FIPS 186-2 3.3
_MOD160 = 1 << 160


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _M32


def _sha1_compress(state: tuple[int, ...], block: bytes) -> tuple[int, ...]:
    """One SHA-1 compression of a 64-byte block (FIPS 180-2 6.1.2 step 1-4), no padding."""
    w = list(struct.unpack(">16I", block))
    for i in range(16, 80):
        w.append(_rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1))
    a, b, c, d, e = state
    for i in range(80):
        if i < 20:
            f, k = (b & c) | (~b & d), 0x5A827999
        elif i < 40:
            f, k = b ^ c ^ d, 0x6ED9EBA1
        elif i < 60:
            f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
        else:
            f, k = b ^ c ^ d, 0xCA62C1D6
        a, b, c, d, e = (_rotl(a, 5) + f + e + k + w[i]) & _M32, a, _rotl(b, 30), c, d
    return tuple((x + y) & _M32 for x, y in zip(state, (a, b, c, d, e), strict=True))


def _g(xval: int) -> int:
    """G(t, XVAL) of FIPS 186-2 3.3 / Appendix 3.3 (change notice 1), as a 160-bit integer."""
    out = _sha1_compress(_SHA1_H0, xval.to_bytes(20, "big") + bytes(44))
    return int.from_bytes(struct.pack(">5I", *out), "big")


def fips186_2_prf(xkey: bytes, length: int) -> bytes:
    """``length`` octets of the FIPS 186-2 (change notice 1) PRF with seed-key ``xkey`` and XSEED = 0.

    RFC 4187 Appendix A / RFC 4186 Appendix B: for each j, x_j = w_0 | w_1 with
    w_i = G(t, XKEY) and XKEY = (1 + XKEY + w_i) mod 2^160."""
    if len(xkey) != 20:
        raise ValueError("XKEY (MK) is 160 bits")
    if not 0 <= length <= 1 << 16:
        raise ValueError("unreasonable PRF output length")
    x = int.from_bytes(xkey, "big")
    out = bytearray()
    while len(out) < length:
        w = _g(x)
        out += w.to_bytes(20, "big")
        x = (1 + x + w) % _MOD160
    return bytes(out[:length])


def master_key(identity: bytes, ik: bytes, ck: bytes) -> bytes:
    """MK = SHA1(Identity | IK | CK) (RFC 4187 7)."""
    return hashlib.sha1(bytes(identity) + bytes(ik) + bytes(ck)).digest()


@dataclass(frozen=True)
class AkaKeys:
    """Keys of one full EAP-AKA authentication (RFC 4187 7); ``repr`` shows none of them."""

    mk: bytes = field(repr=False)
    k_encr: bytes = field(repr=False)
    k_aut: bytes = field(repr=False)
    msk: bytes = field(repr=False)
    emsk: bytes = field(repr=False)


def derive_keys(identity: bytes, ik: bytes, ck: bytes) -> AkaKeys:
    """MK and K_encr, K_aut, MSK, EMSK for a full authentication (RFC 4187 7)."""
    mk = master_key(identity, ik, ck)
    x = fips186_2_prf(mk, 160)
    return AkaKeys(mk, x[0:16], x[16:32], x[32:96], x[96:160])


def hmac_sha1_128(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA1-128: the first 16 octets of HMAC-SHA1 (RFC 4187 10.15)."""
    return hmac.new(key, data, hashlib.sha1).digest()[:16]


def checkcode(identity_packets: list[bytes]) -> bytes:
    """The AT_CHECKCODE value: SHA1 over the AKA-Identity packets, or b"" when there were none (10.13)."""
    if not identity_packets:
        return b""
    return hashlib.sha1(b"".join(identity_packets)).digest()
