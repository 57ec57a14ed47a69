"""Input checks shared by the bit-oriented 3GPP algorithms (SNOW 3G, ZUC, NIA/NEA)."""

from __future__ import annotations

from testbed.errors import CryptoError


def check_uint(name: str, value: int, bits: int) -> int:
    """``value`` if it is a ``bits``-bit unsigned integer, else CryptoError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise CryptoError(f"{name} must be a {bits}-bit unsigned integer, got {value!r}")
    return value


def take_bits(data: bytes, length_bits: int | None) -> tuple[bytes, int]:
    """Return the first ceil(length_bits/8) bytes of ``data`` and the bit length."""
    if length_bits is None:
        return bytes(data), len(data) * 8
    if not 0 <= length_bits <= len(data) * 8 or length_bits > 0xFFFFFFFF:
        raise CryptoError(f"length_bits {length_bits} does not fit {len(data)} bytes of input")
    return bytes(data[: (length_bits + 7) // 8]), length_bits
