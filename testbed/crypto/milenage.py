"""MILENAGE authentication and key generation functions (3GPP TS 35.206).

f1 (MAC-A), f1* (MAC-S), f2 (RES), f3 (CK), f4 (IK), f5 (AK) and f5* (AK for
re-synchronisation), built on AES-128 as the kernel function E_K (TS 35.206
clause 4.1 and Annex 3 recommend Rijndael/AES). Verified against all six test
sets of TS 35.208 clause 4.3 (see ``tests/unit/crypto/test_milenage.py``).

Construction (TS 35.206 clause 4.1)::

    OPc   = OP xor E_K(OP)
    TEMP  = E_K(RAND xor OPc)
    IN1   = SQN || AMF || SQN || AMF
    OUT1  = E_K(TEMP xor rot(IN1 xor OPc, r1) xor c1) xor OPc
    OUTn  = E_K(rot(TEMP xor OPc, rn) xor cn) xor OPc          n = 2..5
    f1 = OUT1[0..63]   f1* = OUT1[64..127]
    f2 = OUT2[64..127] f5  = OUT2[0..47]
    f3 = OUT3          f4  = OUT4          f5* = OUT5[0..47]

with r1..r5 = 64, 0, 32, 64, 96 and c1..c5 = 0, 1, 2, 4, 8 (the default
constants of clause 4.1).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from testbed.errors import CryptoError

__all__ = ["Milenage", "opc"]

_MASK128 = (1 << 128) - 1

# TS 35.206 clause 4.1: rotation amounts (bits) and constants c1..c5.
_R1 = 64
_C1 = 0
# (r, c) for OUT2..OUT5
_OUT_PARAMS = ((0, 1), (32, 2), (64, 4), (96, 8))


def _rot(x: int, r: int) -> int:
    """Cyclic left rotation of a 128-bit value by ``r`` bits (TS 35.206 clause 4.1)."""
    if r == 0:
        return x
    return ((x << r) | (x >> (128 - r))) & _MASK128


def _check_len(name: str, value: bytes, length: int) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != length:
        raise CryptoError(f"{name} must be {length} bytes")


def opc(k: bytes, op: bytes) -> bytes:
    """OPc = OP xor E_K(OP) (TS 35.206 clause 4.1)."""
    _check_len("K", k, 16)
    _check_len("OP", op, 16)
    enc = Cipher(algorithms.AES(bytes(k)), modes.ECB()).encryptor()
    e = enc.update(bytes(op))
    return (int.from_bytes(e, "big") ^ int.from_bytes(op, "big")).to_bytes(16, "big")


class Milenage:
    """MILENAGE for one subscriber key K and operator variant OP/OPc.

    Give either ``op`` (OPc is then derived) or ``opc``; giving both is allowed
    only when they agree. The AES key schedule is done once, in the constructor,
    and the one AES-ECB context is reused by every call: use one instance per
    thread.
    """

    __slots__ = ("k", "opc", "_enc", "_opc_int")

    def __init__(self, k: bytes, op: bytes | None = None, opc: bytes | None = None):
        _check_len("K", k, 16)
        self.k = bytes(k)
        # ECB is stateless per block, so one encryptor serves every call.
        self._enc = Cipher(algorithms.AES(self.k), modes.ECB()).encryptor()
        if op is None and opc is None:
            raise CryptoError("Milenage needs OP or OPc")
        if op is not None:
            _check_len("OP", op, 16)
            op_int = int.from_bytes(op, "big")
            derived = (int.from_bytes(self._enc.update(bytes(op)), "big") ^ op_int).to_bytes(16, "big")
            if opc is not None and bytes(opc) != derived:
                raise CryptoError("OP and OPc given but OPc != OP xor E_K(OP)")
            self.opc = derived
        else:
            assert opc is not None
            _check_len("OPc", opc, 16)
            self.opc = bytes(opc)
        self._opc_int = int.from_bytes(self.opc, "big")

    def __repr__(self) -> str:  # never print key material
        return "Milenage(<key hidden>)"

    # -- internals ---------------------------------------------------------

    def _temp(self, rand: bytes) -> int:
        """TEMP = E_K(RAND xor OPc)."""
        _check_len("RAND", rand, 16)
        x = int.from_bytes(rand, "big") ^ self._opc_int
        return int.from_bytes(self._enc.update(x.to_bytes(16, "big")), "big")

    def _out1(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        _check_len("SQN", sqn, 6)
        _check_len("AMF", amf, 2)
        temp = self._temp(rand)
        in1 = int.from_bytes(bytes(sqn) + bytes(amf) + bytes(sqn) + bytes(amf), "big")
        x = temp ^ _rot(in1 ^ self._opc_int, _R1) ^ _C1
        out = int.from_bytes(self._enc.update(x.to_bytes(16, "big")), "big") ^ self._opc_int
        return out.to_bytes(16, "big")

    # -- public functions --------------------------------------------------

    def f1(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """Network authentication function f1: MAC-A (8 bytes)."""
        return self._out1(rand, sqn, amf)[:8]

    def f1star(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """Re-synchronisation message authentication function f1*: MAC-S (8 bytes)."""
        return self._out1(rand, sqn, amf)[8:]

    def f1_both(self, rand: bytes, sqn: bytes, amf: bytes) -> tuple[bytes, bytes]:
        """(MAC-A, MAC-S) from one evaluation of OUT1."""
        out1 = self._out1(rand, sqn, amf)
        return out1[:8], out1[8:]

    def f2345(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        """(RES, CK, IK, AK) = (f2, f3, f4, f5) of RAND.

        RES is the 64-bit f2 output (TS 35.206 clause 4.1).
        """
        out2, out3, out4, _ = self._outs(rand)
        return out2[8:], out3, out4, out2[:6]

    def f5star(self, rand: bytes) -> bytes:
        """Anonymity key for re-synchronisation, AK* = f5*(RAND) (6 bytes)."""
        temp = self._temp(rand)
        x = _rot(temp ^ self._opc_int, 96) ^ 8
        out5 = int.from_bytes(self._enc.update(x.to_bytes(16, "big")), "big") ^ self._opc_int
        return out5.to_bytes(16, "big")[:6]

    def f2345_f5star(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes, bytes]:
        """(RES, CK, IK, AK, AK*) from one TEMP computation."""
        out2, out3, out4, out5 = self._outs(rand)
        return out2[8:], out3, out4, out2[:6], out5[:6]

    def _outs(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        temp = self._temp(rand)
        t = temp ^ self._opc_int
        block = b"".join((_rot(t, r) ^ c).to_bytes(16, "big") for r, c in _OUT_PARAMS)
        enc = self._enc.update(block)  # four ECB blocks in one call
        opc_int = self._opc_int
        return tuple(  # type: ignore[return-value]
            (int.from_bytes(enc[i : i + 16], "big") ^ opc_int).to_bytes(16, "big") for i in range(0, 64, 16)
        )
