"""SNOW 3G keystream generator and the UEA2 (f8) / UIA2 (f9) algorithms built on it.

References (ETSI/SAGE, published by 3GPP as TS 35.215/35.216/35.217):

* "Specification of the 3GPP Confidentiality and Integrity Algorithms UEA2 & UIA2,
  Document 2: SNOW 3G Specification" (v1.1): the generator (sections 2-4).
* "... Document 1: UEA2 and UIA2 Specification" (v2.1): f8 (section 3) and f9 (section 4).

128-EEA1 / 128-EIA1 (TS 33.401 Annex B.1.2 / B.2.2), reused as 128-NEA1 / 128-NIA1 by TS 33.501
Annex D, are f8 and f9 with FRESH = BEARER || 0^27; see :mod:`testbed.crypto.nas_algorithms`.

The S-boxes and the MUL_alpha / DIV_alpha tables are computed at import time from their definitions
in Document 2 (sections 3.3-3.4) rather than typed in, and folded into 32-bit lookup tables (the
usual "T-table" form) so that one clock of the generator is a handful of table look-ups.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from testbed.crypto.bits import check_uint as _check_uint
from testbed.crypto.bits import take_bits as _take_bits
from testbed.errors import CryptoError

__all__ = ["keystream", "uea2_f8", "uia2_f9"]

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF


# --------------------------------------------------------------------------- tables (Document 2, 3.x)


def _mulx(v: int, c: int) -> int:
    """MULx(V, c), Document 2 section 3.1.1."""
    return ((v << 1) ^ c) & 0xFF if v & 0x80 else (v << 1) & 0xFF


def _mulxpow(v: int, i: int, c: int) -> int:
    """MULxPOW(V, i, c), Document 2 section 3.1.2."""
    for _ in range(i):
        v = _mulx(v, c)
    return v


def _gf_mul(a: int, b: int, poly: int) -> int:
    """Multiplication in GF(2^8) modulo ``poly`` (9-bit)."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= poly
    return r


def _rijndael_sbox() -> list[int]:
    """S_R, the Rijndael S-box (Document 2 section 3.3.1; FIPS 197 section 5.1.1)."""
    inv = [0] * 256
    for a in range(1, 256):
        for b in range(1, 256):
            if _gf_mul(a, b, 0x11B) == 1:
                inv[a] = b
                break
    box = []
    for x in range(256):
        b = inv[x]
        s = b ^ 0x63
        for k in (1, 2, 3, 4):
            s ^= ((b << k) | (b >> (8 - k))) & 0xFF
        box.append(s)
    return box


def _sq_sbox() -> list[int]:
    """S_Q (Document 2 section 3.3.2): the Dickson polynomial g49(x) over GF(2^8) with the
    polynomial x^8 + x^6 + x^5 + x^3 + 1, XOR 0x25."""
    box = []
    for x in range(256):
        acc = 0
        for e in (1, 9, 13, 15, 33, 41, 45, 47, 49):
            p, base, n = 1, x, e
            while n:
                if n & 1:
                    p = _gf_mul(p, base, 0x169)
                base = _gf_mul(base, base, 0x169)
                n >>= 1
            acc ^= p
        box.append(acc ^ 0x25)
    return box


def _mix_tables(sbox: list[int], c: int) -> tuple[list[int], ...]:
    """Four 256-entry tables whose XOR is S1 (sbox S_R, c 0x1B) or S2 (sbox S_Q, c 0x69),
    Document 2 sections 3.3.1 / 3.3.2: r = M * (S(w0), S(w1), S(w2), S(w3)) with the
    MixColumn-like matrix [[2,1,1,3],[3,2,1,1],[1,3,2,1],[1,1,3,2]] where 2 is MULx(., c)."""
    t0, t1, t2, t3 = [], [], [], []
    for x in range(256):
        s = sbox[x]
        s2 = _mulx(s, c)
        s3 = s2 ^ s
        t0.append((s2 << 24) | (s3 << 16) | (s << 8) | s)
        t1.append((s << 24) | (s2 << 16) | (s3 << 8) | s)
        t2.append((s << 24) | (s << 16) | (s2 << 8) | s3)
        t3.append((s3 << 24) | (s << 16) | (s << 8) | s2)
    return t0, t1, t2, t3


_SR = _rijndael_sbox()
_SQ = _sq_sbox()
_S1T0, _S1T1, _S1T2, _S1T3 = _mix_tables(_SR, 0x1B)
_S2T0, _S2T1, _S2T2, _S2T3 = _mix_tables(_SQ, 0x69)
# MUL_alpha and DIV_alpha, Document 2 sections 3.4.2 / 3.4.3.
_MULA = [
    (_mulxpow(c, 23, 0xA9) << 24)
    | (_mulxpow(c, 245, 0xA9) << 16)
    | (_mulxpow(c, 48, 0xA9) << 8)
    | _mulxpow(c, 239, 0xA9)
    for c in range(256)
]
_DIVA = [
    (_mulxpow(c, 16, 0xA9) << 24)
    | (_mulxpow(c, 39, 0xA9) << 16)
    | (_mulxpow(c, 6, 0xA9) << 8)
    | _mulxpow(c, 64, 0xA9)
    for c in range(256)
]


# --------------------------------------------------------------------------- generator (Document 2, 4)


def keystream(key: Sequence[int], iv: Sequence[int], nwords: int) -> list[int]:
    """Return ``nwords`` 32-bit keystream words z1, z2, ... of SNOW 3G.

    ``key`` is (k0, k1, k2, k3) and ``iv`` is (IV0, IV1, IV2, IV3), 32-bit words as named in
    Document 2 section 4.1 (the implementors' test data print k0 and IV0 first).
    """
    if len(key) != 4 or len(iv) != 4:
        raise CryptoError("SNOW 3G needs four 32-bit key words and four 32-bit IV words")
    k0, k1, k2, k3 = (k & _M32 for k in key)
    iv0, iv1, iv2, iv3 = (v & _M32 for v in iv)
    one = _M32
    # Initialisation, Document 2 section 4.1.
    s0, s1, s2, s3 = k0 ^ one, k1 ^ one, k2 ^ one, k3 ^ one
    s4, s5, s6, s7 = k0, k1, k2, k3
    s8, s9, s10, s11 = k0 ^ one, k1 ^ one ^ iv3, k2 ^ one ^ iv2, k3 ^ one
    s12, s13, s14, s15 = k0 ^ iv1, k1, k2, k3 ^ iv0
    r1 = r2 = r3 = 0
    mula, diva = _MULA, _DIVA
    a0, a1, a2, a3 = _S1T0, _S1T1, _S1T2, _S1T3
    b0, b1, b2, b3 = _S2T0, _S2T1, _S2T2, _S2T3

    out: list[int] = []
    # 32 clocks in initialisation mode, then one clock whose FSM output is discarded (4.2), then
    # one clock per keystream word; clock number 33 is i == 32 below.
    for i in range(33 + nwords):
        # Clock the FSM (3.4.6): F = (s15 + R1) ^ R2; r = R2 + (R3 ^ s5); R3 = S2(R2); R2 = S1(R1).
        f = ((s15 + r1) & _M32) ^ r2
        r = (r2 + (r3 ^ s5)) & _M32
        r3 = b0[r2 >> 24] ^ b1[(r2 >> 16) & 0xFF] ^ b2[(r2 >> 8) & 0xFF] ^ b3[r2 & 0xFF]
        r2 = a0[r1 >> 24] ^ a1[(r1 >> 16) & 0xFF] ^ a2[(r1 >> 8) & 0xFF] ^ a3[r1 & 0xFF]
        r1 = r
        # Clock the LFSR (3.4.4 initialisation mode, 3.4.5 keystream mode).
        v = ((s0 << 8) & 0xFFFFFF00) ^ mula[s0 >> 24] ^ s2 ^ (s11 >> 8) ^ diva[s11 & 0xFF]
        if i < 32:
            v ^= f
        elif i > 32:
            out.append(f ^ s0)  # z_t = F ^ s0, taken before the LFSR clock (4.2)
        s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15 = (
            s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15, v,
        )  # fmt: skip
    return out


# --------------------------------------------------------------------------- f8 / f9 (Document 1)


def _key_words(key: bytes) -> tuple[int, int, int, int]:
    """(k0, k1, k2, k3) from a 128-bit CK/IK: k3 = K[0..31], ..., k0 = K[96..127] (Document 1,
    3.4 and 4.4)."""
    if not isinstance(key, bytes | bytearray) or len(key) != 16:
        raise CryptoError("SNOW 3G based algorithms need a 128-bit key")
    w0, w1, w2, w3 = struct.unpack(">4I", key)
    return w3, w2, w1, w0


def uea2_f8(
    ck: bytes, count: int, bearer: int, direction: int, data: bytes, length_bits: int | None = None
) -> bytes:
    """UEA2 confidentiality function f8 (Document 1 section 3).

    IV = (IV0, IV1, IV2, IV3) = (BEARER || DIRECTION || 0^26, COUNT-C, BEARER || DIRECTION || 0^26,
    COUNT-C); the keystream is XORed onto the first ``length_bits`` bits (default: all of
    ``data``); the unused trailing bits of the result are zero.
    """
    kw = _key_words(ck)
    count = _check_uint("COUNT-C", count, 32)
    bd = (_check_uint("BEARER", bearer, 5) << 27) | (_check_uint("DIRECTION", direction, 1) << 26)
    data, nbits = _take_bits(data, length_bits)
    if not nbits:
        return b""
    nwords = (nbits + 31) // 32
    ks = struct.pack(f">{nwords}I", *keystream(kw, (bd, count, bd, count), nwords))
    nbytes = len(data)
    out = int.from_bytes(data, "big") ^ int.from_bytes(ks[:nbytes], "big")
    out &= ~((1 << (nbytes * 8 - nbits)) - 1)
    return out.to_bytes(nbytes, "big")


def _gf64_mul(v: int, table: list[int]) -> int:
    """V * P in GF(2^64) modulo x^64 + x^4 + x^3 + x + 1 (MUL64, Document 1 section 4.3),
    Horner's rule over the nibbles of V with ``table[n] = n * P``."""
    r = 0
    red = _RED4
    for shift in range(60, -4, -4):
        r = ((r << 4) & _M64) ^ red[r >> 60] ^ table[(v >> shift) & 0xF]
    return r


def _nibble_table(p: int) -> list[int]:
    """[n * P for n in 0..15] in GF(2^64) (MUL64x / MUL64xPOW, Document 1 sections 4.3.1-4.3.2)."""
    p1 = p
    p2 = ((p1 << 1) & _M64) ^ (0x1B if p1 >> 63 else 0)
    p4 = ((p2 << 1) & _M64) ^ (0x1B if p2 >> 63 else 0)
    p8 = ((p4 << 1) & _M64) ^ (0x1B if p4 >> 63 else 0)
    return [
        (p1 if n & 1 else 0) ^ (p2 if n & 2 else 0) ^ (p4 if n & 4 else 0) ^ (p8 if n & 8 else 0)
        for n in range(16)
    ]


def _clmul_small(a: int, b: int) -> int:
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        b >>= 1
    return r


# h * x^64 mod (x^64 + x^4 + x^3 + x + 1) for a 4-bit overflow h: h * 0x1B, no further reduction.
_RED4 = [_clmul_small(h, 0x1B) for h in range(16)]


def uia2_f9(
    ik: bytes, count: int, fresh: int, direction: int, message: bytes, length_bits: int | None = None
) -> bytes:
    """UIA2 integrity function f9 (Document 1 section 4); returns the 32-bit MAC-I.

    IV = (FRESH ^ (DIRECTION << 15), COUNT-I ^ (DIRECTION << 31), FRESH, COUNT-I); five keystream
    words give P = z1||z2, Q = z3||z4 and the one-time pad z5; the message, in 64-bit blocks, is
    evaluated as a polynomial at P, the length block is added and the result multiplied by Q.
    """
    kw = _key_words(ik)
    count = _check_uint("COUNT-I", count, 32)
    fresh = _check_uint("FRESH", fresh, 32)
    d = _check_uint("DIRECTION", direction, 1)
    message, nbits = _take_bits(message, length_bits)
    z1, z2, z3, z4, z5 = keystream(kw, (fresh ^ (d << 15), count ^ (d << 31), fresh, count), 5)
    ptab = _nibble_table((z1 << 32) | z2)
    qtab = _nibble_table((z3 << 32) | z4)
    nblocks = (nbits + 63) // 64  # D - 1 message blocks, the last zero-padded (4.4)
    padded = int.from_bytes(message, "big") >> (len(message) * 8 - nbits) if nbits else 0
    padded <<= nblocks * 64 - nbits
    blocks = struct.unpack(f">{nblocks}Q", padded.to_bytes(nblocks * 8, "big"))
    ev = 0
    for m in blocks:
        ev = _gf64_mul(ev ^ m, ptab)
    ev = _gf64_mul(ev ^ nbits, qtab)  # M_{D-1} = LENGTH as a 64-bit block
    return ((ev >> 32) ^ z5).to_bytes(4, "big")
