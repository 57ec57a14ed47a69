"""ZUC keystream generator and the 128-EEA3 / 128-EIA3 algorithms built on it.

References (ETSI/SAGE, published by 3GPP as TS 35.221/35.222/35.223):

* "Specification of the 3GPP Confidentiality and Integrity Algorithms 128-EEA3 & 128-EIA3,
  Document 2: ZUC Specification" (v1.6, 28 June 2011): the generator (section 3). This is the
  revised algorithm of 2011, whose initialisation mode feeds u = W >> 1 into the LFSR (3.6.1).
* "... Document 1: 128-EEA3 and 128-EIA3 Specification" (v1.7): 128-EEA3 (section 3) and
  128-EIA3 (section 4), in the revised form of 2011 whose MAC is T ^ z_{32(L-1)}.

TS 33.501 Annex D reuses them unchanged as 128-NEA3 / 128-NIA3 (see
:mod:`testbed.crypto.nas_algorithms`).
"""

from __future__ import annotations

import struct

from testbed.crypto.bits import check_uint as _check_uint
from testbed.crypto.bits import take_bits as _take_bits
from testbed.errors import CryptoError

__all__ = ["eea3", "eia3", "keystream"]

_M32 = 0xFFFFFFFF
_P31 = 0x7FFFFFFF  # 2^31 - 1

# S-boxes S0 and S1, Document 2 section 3.4.2 (specification constants).
_S0 = bytes.fromhex(
    "3e725b47cae0003304d1549809b96dcb"
    "7b1bf932af9d6aa5b82dfc1d08530390"
    "4d4e8499e4ced991ddb685488b296eac"
    "cdc1f81e734369c6b5bdfd396320d438"
    "767db2a7cfed57c5f32cbb142106559b"
    "e3ef5e314f7f5aa40d8251495fba581c"
    "4a16d517a892241f8cffd8ae2e01d3ad"
    "3b4bda46ebc9de9a8f87d73a806f2fc8"
    "b1b437f70a2213287ccc3c89c7c39656"
    "07bf7ef00b2b975235417961a64c10fe"
    "bc2695888ab0a3fbc01894f2e1e5e95d"
    "d0dc1166645cec59427512f5749caa23"
    "0e86abbe2a02e767e644a26cc2939ff1"
    "f6fa36d250689e6271153dd640c4e20f"
    "8e83776b25053f0c30ea70b7a1e8a965"
    "8d271adb81b3a0f4457a19dfee783460"
)
_S1 = bytes.fromhex(
    "55c263713bc847869f3cda5b29aafd77"
    "8cc5940ca61a1300e3a8167240f9f842"
    "4426689681d9453e1076c6a78b3943e1"
    "3ab5562ac06db3052266bfdc0bfa6248"
    "dd20110636c9c1cff62752bb69f5d487"
    "7f844cd29c57a4bc4f9adffed68d7aeb"
    "2b53d85ca11417fb23d57d3067730809"
    "eeb7703f61b2198e4ee54b938f5ddba9"
    "adf1ae2ecb0dfcf42d466e1d97e8d1e9"
    "4d37a5755e839eab829db91ce0cd4989"
    "01b6bd5824a25f387899159050b895e4"
    "d091c7ceed0fb46fa0ccf0024a79c3de"
    "a3efea51e66b18ec1b2c80f774e7ff21"
    "5a6a541e41319235c433070aba7e0e34"
    "88b1987cf33d606c7bcad31f32650428"
    "64be859b2f598ad7b025acaf1203e2f2"
)

# Constants d_i of the key loading, Document 2 section 3.5.
_D = (
    0x44D7, 0x26BC, 0x626B, 0x135E, 0x5789, 0x35E2, 0x7135, 0x09AF,
    0x4D78, 0x2F13, 0x6BC4, 0x1AF1, 0x5E26, 0x3C4D, 0x789A, 0x47AC,
)  # fmt: skip


def _rotl32(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def _l1(x: int) -> int:
    """Linear transform L1, Document 2 section 3.4.2."""
    return x ^ _rotl32(x, 2) ^ _rotl32(x, 10) ^ _rotl32(x, 18) ^ _rotl32(x, 24)


def _l2(x: int) -> int:
    """Linear transform L2, Document 2 section 3.4.2."""
    return x ^ _rotl32(x, 8) ^ _rotl32(x, 14) ^ _rotl32(x, 22) ^ _rotl32(x, 30)


# L1 and L2 are linear, so L(x) is the XOR of L applied to each byte of x in place: four 256-entry
# tables per transform. The S-box layer S = (S0, S1, S0, S1) is stored pre-shifted.
_L1T = tuple([_l1(b << (24 - 8 * j)) for b in range(256)] for j in range(4))
_L2T = tuple([_l2(b << (24 - 8 * j)) for b in range(256)] for j in range(4))
_ST = (
    [b << 24 for b in _S0],
    [b << 16 for b in _S1],
    [b << 8 for b in _S0],
    list(_S1),
)


def keystream(key: bytes, iv: bytes, nwords: int) -> list[int]:
    """Return ``nwords`` 32-bit keystream words Z of ZUC for a 128-bit key and IV (Document 2,
    section 3.6): key loading (3.5), 32 rounds of initialisation mode, one working-mode round whose
    output is discarded, then one word per round."""
    if len(key) != 16 or len(iv) != 16:
        raise CryptoError("ZUC needs a 128-bit key and a 128-bit IV")
    # Key loading (3.5): s_i = k_i || d_i || iv_i.
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15 = (
        (key[i] << 23) | (_D[i] << 8) | iv[i] for i in range(16)
    )
    r1 = r2 = 0
    l1a, l1b, l1c, l1d = _L1T
    l2a, l2b, l2c, l2d = _L2T
    sa, sb, sc, sd = _ST
    p = _P31
    out: list[int] = []
    for i in range(33 + nwords):
        # BitReorganization (3.3).
        x0 = ((s15 & 0x7FFF8000) << 1) | (s14 & 0xFFFF)
        x1 = ((s11 & 0xFFFF) << 16) | (s9 >> 15)
        x2 = ((s7 & 0xFFFF) << 16) | (s5 >> 15)
        # F (3.4): W = (X0 ^ R1) + R2; W1 = R1 + X1; W2 = R2 ^ X2;
        # R1 = S(L1(W1L || W2H)); R2 = S(L2(W2L || W1H)).
        w = ((x0 ^ r1) + r2) & _M32
        w1 = (r1 + x1) & _M32
        w2 = r2 ^ x2
        u = ((w1 << 16) | (w2 >> 16)) & _M32
        u = l1a[u >> 24] ^ l1b[(u >> 16) & 0xFF] ^ l1c[(u >> 8) & 0xFF] ^ l1d[u & 0xFF]
        r1 = sa[u >> 24] | sb[(u >> 16) & 0xFF] | sc[(u >> 8) & 0xFF] | sd[u & 0xFF]
        v = ((w2 << 16) | (w1 >> 16)) & _M32
        v = l2a[v >> 24] ^ l2b[(v >> 16) & 0xFF] ^ l2c[(v >> 8) & 0xFF] ^ l2d[v & 0xFF]
        r2 = sa[v >> 24] | sb[(v >> 16) & 0xFF] | sc[(v >> 8) & 0xFF] | sd[v & 0xFF]
        # LFSR (3.2): s16 = 2^15 s15 + 2^17 s13 + 2^21 s10 + 2^20 s4 + (1 + 2^8) s0 mod (2^31 - 1),
        # plus u = W >> 1 in initialisation mode; 0 is represented as 2^31 - 1.
        f = (s15 << 15) + (s13 << 17) + (s10 << 21) + (s4 << 20) + s0 + (s0 << 8)
        if i < 32:
            f += w >> 1
        elif i > 32:
            out.append(w ^ (((s2 & 0xFFFF) << 16) | (s0 >> 15)))  # Z = W ^ X3
        f %= p
        s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15 = (
            s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15, f or p,
        )  # fmt: skip
    return out


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != 16:
        raise CryptoError("ZUC based algorithms need a 128-bit key")
    return bytes(key)


def eea3(
    key: bytes, count: int, bearer: int, direction: int, data: bytes, length_bits: int | None = None
) -> bytes:
    """128-EEA3 (Document 1 section 3). IV = COUNT || BEARER || DIRECTION || 0^26, twice (3.3);
    the keystream is XORed onto the first ``length_bits`` bits; unused trailing bits are zero."""
    key = _check_key(key)
    count = _check_uint("COUNT", count, 32)
    bd = (_check_uint("BEARER", bearer, 5) << 3) | (_check_uint("DIRECTION", direction, 1) << 2)
    data, nbits = _take_bits(data, length_bits)
    if not nbits:
        return b""
    half = struct.pack(">IB3x", count, bd)
    nwords = (nbits + 31) // 32
    ks = struct.pack(f">{nwords}I", *keystream(key, half + half, nwords))
    nbytes = len(data)
    out = int.from_bytes(data, "big") ^ int.from_bytes(ks[:nbytes], "big")
    out &= ~((1 << (nbytes * 8 - nbits)) - 1)
    return out.to_bytes(nbytes, "big")


def eia3(
    key: bytes, count: int, bearer: int, direction: int, message: bytes, length_bits: int | None = None
) -> bytes:
    """128-EIA3 (Document 1 section 4); returns the 32-bit MAC.

    IV (4.3): IV0..IV3 = COUNT, IV4 = BEARER || 000, IV5..IV7 = 0, IV8 = IV0 ^ (DIRECTION << 7),
    IV9..IV13 = IV1..IV5, IV14 = IV6 ^ (DIRECTION << 7), IV15 = IV7. With N = LENGTH + 64 and
    L = ceil(N/32) keystream words z (as a bit string) and z_i the 32 bits starting at bit i:
    T = XOR of z_i over the message bits M[i] = 1, then T ^= z_LENGTH and
    MAC = T ^ z_{32(L-1)} (4.4).
    """
    key = _check_key(key)
    c = _check_uint("COUNT", count, 32).to_bytes(4, "big")
    b4 = _check_uint("BEARER", bearer, 5) << 3
    dbit = _check_uint("DIRECTION", direction, 1) << 7
    message, nbits = _take_bits(message, length_bits)
    iv = c + bytes([b4, 0, 0, 0, c[0] ^ dbit, c[1], c[2], c[3], b4, 0, dbit, 0])
    nks = (nbits + 64 + 31) // 32
    z = keystream(key, iv, nks)
    kbits = int.from_bytes(struct.pack(f">{nks}I", *z), "big")  # z as one bit string, z[0] first
    total = 32 * nks
    bits = int.from_bytes(message, "big") >> (len(message) * 8 - nbits) if nbits else 0
    # Bit j of T (j = 0 the most significant) is the XOR over the set message bits i of keystream
    # bit i + j, i.e. the parity of M AND (keystream bits j .. j + LENGTH - 1): 32 big-integer
    # AND/popcounts instead of one 32-bit XOR per set message bit.
    t = 0
    for j in range(32):
        t = (t << 1) | (((kbits >> (total - j - nbits)) & bits).bit_count() & 1)
    t ^= (kbits >> (total - nbits - 32)) & _M32  # z_LENGTH
    t ^= z[nks - 1]  # z_{32(L-1)}
    return t.to_bytes(4, "big")
