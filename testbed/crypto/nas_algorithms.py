"""5G NAS security algorithms 128-NEA0..3 and 128-NIA0..3 (sans-I/O).

TS 33.501 Annex D defines the 5G algorithms as the LTE ones with the same inputs:

* 128-NEA1 / 128-NIA1 = 128-EEA1 / 128-EIA1 (SNOW 3G; TS 33.401 Annex B.1.2 / B.2.2),
* 128-NEA2 / 128-NIA2 = 128-EEA2 / 128-EIA2 (AES-128-CTR / AES-CMAC; TS 33.401 B.1.3 / B.2.3),
* 128-NEA3 / 128-NIA3 = 128-EEA3 / 128-EIA3 (ZUC; TS 33.401 B.1.4 / B.2.4),

each taking a 128-bit key, a 32-bit COUNT, a 5-bit BEARER and a 1-bit DIRECTION (TS 33.501 D.2.1.1,
D.3.1.1; DIRECTION is 0 for uplink and 1 for downlink). NEA0 / NIA0 are the null algorithms
(TS 33.501 D.1): NEA0's keystream is all zeros, so it returns the input unchanged, and NIA0's MAC is
32 zero bits.

For NAS (TS 33.501 6.4.3.1, 6.4.4.1): KEY is KNASint / KNASenc, COUNT := 0x00 || NAS COUNT (the
24-bit NAS COUNT, see :mod:`testbed.crypto.nas_count`) and BEARER is the NAS connection identifier
(0x01 for 3GPP access, 0x02 for non-3GPP access since TS 33.501 V15.2.0).

The public API :func:`nia` / :func:`nea` works on whole bytes. The per-algorithm functions
(:func:`nea1` ... :func:`nia3`) take an optional ``length_bits`` so that the published test sets,
whose lengths are not always a multiple of 8, can be checked exactly: only the first
``length_bits`` bits of the input are used and the unused trailing bits of a ciphertext are zero.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from testbed.crypto import snow3g, zuc
from testbed.crypto.bits import take_bits as _take_bits
from testbed.errors import CryptoError

__all__ = [
    "DIRECTION_DOWNLINK",
    "DIRECTION_UPLINK",
    "NEA_NAMES",
    "NIA_NAMES",
    "cmac_aes128_bits",
    "nea",
    "nea1",
    "nea2",
    "nea3",
    "nia",
    "nia1",
    "nia2",
    "nia3",
]

DIRECTION_UPLINK = 0
DIRECTION_DOWNLINK = 1

NIA_NAMES: dict[int, str] = {0: "NIA0", 1: "NIA1", 2: "NIA2", 3: "NIA3"}
NEA_NAMES: dict[int, str] = {0: "NEA0", 1: "NEA1", 2: "NEA2", 3: "NEA3"}

_MAC_LEN = 4
_MASK128 = (1 << 128) - 1
_CMAC_RB = 0x87  # NIST SP 800-38B 5.3, R_128


def _check_common(key: bytes, count: int, bearer: int, direction: int) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != 16:
        size = f"{len(key)} bytes" if isinstance(key, bytes | bytearray) else type(key).__name__
        raise CryptoError(f"a 128-bit (16-byte) key is required, got {size}")
    if not isinstance(count, int) or not 0 <= count <= 0xFFFFFFFF:
        raise CryptoError(f"COUNT must be a 32-bit unsigned integer, got {count!r}")
    if not isinstance(bearer, int) or not 0 <= bearer <= 0x1F:
        raise CryptoError(f"BEARER must be 5 bits, got {bearer!r}")
    if direction not in (0, 1) or not isinstance(direction, int):
        raise CryptoError(f"DIRECTION must be 0 or 1, got {direction!r}")


def _check_alg(alg: object, kind: str) -> int:
    if isinstance(alg, bool) or not isinstance(alg, int) or not 0 <= alg <= 3:
        raise CryptoError(f"unknown NAS {kind} algorithm {alg!r}")
    return alg


def _zero_tail(data: bytes, length_bits: int) -> bytes:
    """Clear the bits after ``length_bits`` in the last byte."""
    extra = -length_bits % 8
    if extra == 0 or not data:
        return data
    return data[:-1] + bytes([data[-1] & (0xFF << extra) & 0xFF])


# --------------------------------------------------------------------------- 128-NEA2 / 128-NIA2


def nea2(
    key: bytes, count: int, bearer: int, direction: int, data: bytes, length_bits: int | None = None
) -> bytes:
    """128-NEA2 = 128-EEA2 (TS 33.401 Annex B.1.3): AES-128 in CTR mode.

    The first counter block is T1 = COUNT[0..31] || BEARER[0..4] || DIRECTION || 0^26 || 0^64; the
    next blocks increment it (NIST SP 800-38A). Encryption and decryption are the same operation.
    """
    _check_common(key, count, bearer, direction)
    data, nbits = _take_bits(data, length_bits)
    t1 = count.to_bytes(4, "big") + bytes([(bearer << 3) | (direction << 2)]) + bytes(11)
    enc = Cipher(algorithms.AES(bytes(key)), modes.CTR(t1)).encryptor()
    return _zero_tail(enc.update(data) + enc.finalize(), nbits)


def cmac_aes128_bits(key: bytes, message: bytes, length_bits: int) -> bytes:
    """AES-CMAC (NIST SP 800-38B, RFC 4493) of the first ``length_bits`` bits of ``message``.

    ``cryptography`` only MACs whole bytes; 128-EIA2 (TS 33.401 B.2.3) is defined on bit strings, so
    this implements the SP 800-38B 6.2 padding for a last block of any bit length, with AES-CBC from
    ``cryptography`` doing the block encryptions. Returns the full 16-byte tag.
    """
    if not isinstance(key, bytes | bytearray) or len(key) != 16:
        raise CryptoError("AES-CMAC here needs a 128-bit key")
    if not 0 <= length_bits <= len(message) * 8:
        raise CryptoError(f"length_bits {length_bits} does not fit {len(message)} bytes of input")
    ecb = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()
    lval = int.from_bytes(ecb.update(bytes(16)), "big")
    k1 = ((lval << 1) & _MASK128) ^ (_CMAC_RB if lval >> 127 else 0)
    k2 = ((k1 << 1) & _MASK128) ^ (_CMAC_RB if k1 >> 127 else 0)
    nblocks = max(1, (length_bits + 127) // 128)
    total = nblocks * 128
    bits = int.from_bytes(message, "big") >> (len(message) * 8 - length_bits) if length_bits else 0
    if length_bits and length_bits % 128 == 0:
        padded, subkey = bits, k1  # complete last block
    else:
        padded, subkey = ((bits << 1) | 1) << (total - length_bits - 1), k2  # 10* padding
    padded ^= subkey  # subkey goes into the last block (the least significant 128 bits)
    cbc = Cipher(algorithms.AES(bytes(key)), modes.CBC(bytes(16))).encryptor()
    out = cbc.update(padded.to_bytes(total // 8, "big")) + cbc.finalize()
    return out[-16:]


def nia2(
    key: bytes, count: int, bearer: int, direction: int, message: bytes, length_bits: int | None = None
) -> bytes:
    """128-NIA2 = 128-EIA2 (TS 33.401 Annex B.2.3): AES-CMAC truncated to 32 bits.

    The CMAC input is M = COUNT[0..31] || BEARER[0..4] || DIRECTION || 0^26 || MESSAGE, of
    BLENGTH = LENGTH + 64 bits; MACT is the 32 most significant bits of the CMAC tag.
    """
    _check_common(key, count, bearer, direction)
    message, nbits = _take_bits(message, length_bits)
    header = count.to_bytes(4, "big") + bytes([(bearer << 3) | (direction << 2), 0, 0, 0])
    if nbits % 8 == 0:
        mac = cmac.CMAC(algorithms.AES(bytes(key)))
        mac.update(header + message)
        return mac.finalize()[:_MAC_LEN]
    return cmac_aes128_bits(key, header + message, 64 + nbits)[:_MAC_LEN]


# --------------------------------------------------------------------------- 128-NEA1 / 128-NIA1


def nea1(
    key: bytes, count: int, bearer: int, direction: int, data: bytes, length_bits: int | None = None
) -> bytes:
    """128-NEA1 = 128-EEA1 (TS 33.401 Annex B.1.2): UEA2 (SNOW 3G f8) with CK = key, COUNT-C = COUNT."""
    _check_common(key, count, bearer, direction)
    return snow3g.uea2_f8(key, count, bearer, direction, data, length_bits)


def nia1(
    key: bytes, count: int, bearer: int, direction: int, message: bytes, length_bits: int | None = None
) -> bytes:
    """128-NIA1 = 128-EIA1 (TS 33.401 Annex B.2.2): UIA2 (SNOW 3G f9) with IK = key, COUNT-I = COUNT
    and FRESH[0..31] = BEARER[0..4] || 0^27."""
    _check_common(key, count, bearer, direction)
    return snow3g.uia2_f9(key, count, bearer << 27, direction, message, length_bits)


# --------------------------------------------------------------------------- 128-NEA3 / 128-NIA3


def nea3(
    key: bytes, count: int, bearer: int, direction: int, data: bytes, length_bits: int | None = None
) -> bytes:
    """128-NEA3 = 128-EEA3 (TS 33.401 Annex B.1.4; ETSI/SAGE EEA3&EIA3 Document 1): ZUC based."""
    _check_common(key, count, bearer, direction)
    return zuc.eea3(key, count, bearer, direction, data, length_bits)


def nia3(
    key: bytes, count: int, bearer: int, direction: int, message: bytes, length_bits: int | None = None
) -> bytes:
    """128-NIA3 = 128-EIA3 (TS 33.401 Annex B.2.4; ETSI/SAGE EEA3&EIA3 Document 1): ZUC based."""
    _check_common(key, count, bearer, direction)
    return zuc.eia3(key, count, bearer, direction, message, length_bits)


# --------------------------------------------------------------------------- NAS API

_NEA = {1: nea1, 2: nea2, 3: nea3}
_NIA = {1: nia1, 2: nia2, 3: nia3}


def nia(alg: int, key: bytes, count: int, bearer: int, direction: int, message: bytes) -> bytes:
    """NAS-MAC of ``message`` with 128-NIA``alg`` (TS 33.501 6.4.3.1, Annex D.3).

    Returns 4 bytes; NIA0 (alg 0) returns four zero bytes (TS 33.501 D.1) and ignores the key, which
    may be absent (unauthenticated emergency services). With NIA0 the receiver does not check the MAC
    and replay protection is off (TS 33.501 D.1, 6.4.3.2): that is the caller's business.
    Raises :class:`CryptoError` for an unknown algorithm, a key that is not 16 bytes, or COUNT,
    BEARER or DIRECTION out of range.
    """
    if _check_alg(alg, "integrity") == 0:
        _check_common(bytes(16), count, bearer, direction)
        return bytes(_MAC_LEN)
    return _NIA[alg](key, count, bearer, direction, message)


def nea(alg: int, key: bytes, count: int, bearer: int, direction: int, data: bytes) -> bytes:
    """Encrypt or decrypt ``data`` with 128-NEA``alg`` (TS 33.501 6.4.3.1, Annex D.2).

    NEA0 (alg 0) returns ``data`` unchanged (TS 33.501 D.1) and ignores the key.
    Raises :class:`CryptoError` for an unknown algorithm, a key that is not 16 bytes, or COUNT,
    BEARER or DIRECTION out of range.
    """
    if _check_alg(alg, "ciphering") == 0:
        _check_common(bytes(16), count, bearer, direction)
        return bytes(data)
    return _NEA[alg](key, count, bearer, direction, data)
