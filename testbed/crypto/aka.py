"""5G-AKA (TS 33.501 clause 6.1.3.2) and UMTS AKA sequence-number management
(TS 33.102 clause 6.3 and Annex C), sans I/O.

Home network side (UDM/ARPF, AUSF, SEAF)::

    he = generate_5g_he_av(mil, sqn, amf, sn_name)          # UDM/ARPF, step 1
    se, kseaf_ = ausf_se_av(he, sn_name)                     # AUSF, steps 3-4 (HXRES*, KSEAF)
    seaf_verify(res_star, se)                                # SEAF, step 10 (HRES* == HXRES*)
    ausf_verify(res_star, he.xres_star)                      # AUSF, step 11 (RES* == XRES*)
    sqn_ms = resync(mil, auts, rand)                         # UDM/ARPF on synchronisation failure

UE side (USIM + ME)::

    usim = UsimAka(mil)                                      # keeps the SQN array of Annex C.2
    result = usim.authenticate_5g(rand, autn, sn_name)       # AkaSuccess | MacFailure | SyncFailure
                                                             # | SeparationBitFailure

:meth:`UsimAka.check` is the plain USIM procedure (TS 33.102 clause 6.3.3) that
EAP-AKA/EAP-AKA' also use; :func:`generate_av` is the plain UMTS AV.

SQN layout (TS 33.102 Annex C.1.1, C.3.2): SQN (48 bits) = SEQ || IND, IND being
the ``ind_bits`` least significant bits (5 by default, so 32 array entries).
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from testbed.crypto import keys
from testbed.crypto.milenage import Milenage
from testbed.errors import CryptoError

__all__ = [
    "DEFAULT_ABBA",
    "DEFAULT_DELTA",
    "DEFAULT_IND_BITS",
    "RESYNC_AMF",
    "AkaSuccess",
    "Av",
    "HeAv",
    "HeSqnGenerator",
    "MacFailure",
    "SeAv",
    "SeparationBitFailure",
    "SyncFailure",
    "UsimAka",
    "UsimResult",
    "UsimSqnArray",
    "amf_separation_bit",
    "ausf_se_av",
    "ausf_verify",
    "build_autn",
    "generate_5g_he_av",
    "generate_av",
    "parse_autn",
    "resync",
    "seaf_verify",
]

SQN_MAX = (1 << 48) - 1
DEFAULT_IND_BITS = 5  # TS 33.102 Annex C.3.2: IND length 5 bits
DEFAULT_DELTA = 1 << 28  # TS 33.102 Annex C.3.2: delta = 2^28
DEFAULT_ABBA = b"\x00\x00"  # TS 33.501 clause 6.1.3.2 / TS 24.501 9.11.3.10
RESYNC_AMF = b"\x00\x00"  # TS 33.102 clause 6.3.3: dummy AMF for MAC-S


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _sqn_bytes(sqn: int) -> bytes:
    if not 0 <= sqn <= SQN_MAX:
        raise CryptoError(f"SQN must fit in 48 bits, got {sqn}")
    return sqn.to_bytes(6, "big")


def _rand(rand: bytes | None) -> bytes:
    if rand is None:
        return os.urandom(16)
    if len(rand) != 16:
        raise CryptoError("RAND must be 16 bytes")
    return bytes(rand)


def amf_separation_bit(amf: bytes) -> bool:
    """The "AMF separation bit" (bit 0, the most significant bit of the AMF field).

    TS 33.102 Annex H; TS 33.501 clause 6.1.3.2 step 1 sets it to 1 for 5G.
    """
    if len(amf) != 2:
        raise CryptoError("AMF must be 2 bytes")
    return bool(amf[0] & 0x80)


def build_autn(sqn_xor_ak: bytes, amf: bytes, mac_a: bytes) -> bytes:
    """AUTN = SQN xor AK || AMF || MAC (TS 33.102 clause 6.3.2)."""
    if len(sqn_xor_ak) != 6 or len(amf) != 2 or len(mac_a) != 8:
        raise CryptoError("AUTN parts must be 6, 2 and 8 bytes")
    return bytes(sqn_xor_ak) + bytes(amf) + bytes(mac_a)


def parse_autn(autn: bytes) -> tuple[bytes, bytes, bytes]:
    """(SQN xor AK, AMF, MAC) from a 16-byte AUTN."""
    if len(autn) != 16:
        raise CryptoError("AUTN must be 16 bytes")
    return bytes(autn[:6]), bytes(autn[6:8]), bytes(autn[8:])


# ---------------------------------------------------------------------------
# Home network side
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Av:
    """UMTS authentication vector (TS 33.102 clause 6.3.2): used by EAP-AKA(')."""

    rand: bytes
    xres: bytes
    ck: bytes
    ik: bytes
    autn: bytes
    sqn: int

    @property
    def sqn_xor_ak(self) -> bytes:
        return self.autn[:6]


@dataclass(frozen=True)
class HeAv:
    """5G home environment AV (TS 33.501 clause 6.1.3.2 step 1)."""

    rand: bytes
    autn: bytes
    xres_star: bytes
    kausf: bytes


@dataclass(frozen=True)
class SeAv:
    """5G serving environment AV sent by the AUSF to the SEAF (clause 6.1.3.2 step 4)."""

    rand: bytes
    autn: bytes
    hxres_star: bytes


def generate_av(milenage: Milenage, sqn: int, amf: bytes, rand: bytes | None = None) -> Av:
    """UMTS AV (RAND, XRES, CK, IK, AUTN) for ``sqn`` (TS 33.102 clause 6.3.2)."""
    rand_b = _rand(rand)
    sqn_b = _sqn_bytes(sqn)
    mac_a = milenage.f1(rand_b, sqn_b, amf)
    xres, ck, ik, ak = milenage.f2345(rand_b)
    return Av(rand_b, xres, ck, ik, build_autn(_xor(sqn_b, ak), amf, mac_a), sqn)


def generate_5g_he_av(
    milenage: Milenage,
    sqn: int,
    amf: bytes,
    sn_name: str | bytes,
    rand: bytes | None = None,
    *,
    require_separation_bit: bool = True,
) -> HeAv:
    """5G HE AV = (RAND, AUTN, XRES*, KAUSF) (TS 33.501 clause 6.1.3.2 step 1).

    XRES* per Annex A.4, KAUSF per Annex A.2. The AMF separation bit must be set
    (clause 6.1.3.2 step 1); pass ``require_separation_bit=False`` only to build
    deliberately non-conformant vectors for negative tests.
    """
    if require_separation_bit and not amf_separation_bit(amf):
        raise CryptoError("5G HE AV needs the AMF separation bit set (TS 33.501 6.1.3.2)")
    av = generate_av(milenage, sqn, amf, rand)
    xres_star = keys.xres_star(av.ck, av.ik, sn_name, av.rand, av.xres)
    kausf = keys.kausf(av.ck, av.ik, sn_name, av.sqn_xor_ak)
    return HeAv(av.rand, av.autn, xres_star, kausf)


def ausf_se_av(he_av: HeAv, sn_name: str | bytes) -> tuple[SeAv, bytes]:
    """AUSF: (5G SE AV with HXRES*, KSEAF) from a 5G HE AV (clause 6.1.3.2 steps 3-4).

    HXRES* per Annex A.5, KSEAF per Annex A.6. The AUSF keeps XRES* and KSEAF
    and gives KSEAF to the SEAF only after :func:`ausf_verify` succeeds.
    """
    hx = keys.hxres_star(he_av.rand, he_av.xres_star)
    return SeAv(he_av.rand, he_av.autn, hx), keys.kseaf(he_av.kausf, sn_name)


def seaf_verify(res_star: bytes, se_av: SeAv) -> bool:
    """SEAF: HRES* == HXRES* (clause 6.1.3.2 step 10), in constant time."""
    if len(res_star) != 16:
        return False
    return hmac.compare_digest(keys.hres_star(se_av.rand, res_star), se_av.hxres_star)


def ausf_verify(res_star: bytes, xres_star: bytes) -> bool:
    """AUSF: RES* == XRES* (clause 6.1.3.2 step 11), in constant time."""
    return len(res_star) == 16 and hmac.compare_digest(bytes(res_star), bytes(xres_star))


def resync(milenage: Milenage, auts: bytes, rand: bytes) -> int:
    """HE/AuC side of re-synchronisation (TS 33.102 clause 6.3.5): SQN_MS from AUTS.

    AUTS = (SQN_MS xor f5*(RAND)) || f1*(SQN_MS || RAND || AMF=0x0000). Raises
    :class:`CryptoError` if MAC-S does not verify.
    """
    if len(auts) != 14:
        raise CryptoError("AUTS must be 14 bytes")
    sqn_ms_b = _xor(bytes(auts[:6]), milenage.f5star(rand))
    xmac_s = milenage.f1star(rand, sqn_ms_b, RESYNC_AMF)
    if not hmac.compare_digest(xmac_s, bytes(auts[6:])):
        raise CryptoError("AUTS MAC-S verification failed")
    return int.from_bytes(sqn_ms_b, "big")


class HeSqnGenerator:
    """SQN generation in the HE/AuC (TS 33.102 Annex C.1.1 and C.3.2, not time-based).

    SEQ_HE is incremented by one per AV; IND is chosen by the caller (e.g. one
    value per serving node, Annex C.1.2).
    """

    def __init__(self, seq: int = 0, ind_bits: int = DEFAULT_IND_BITS, delta: int = DEFAULT_DELTA):
        if not 0 <= ind_bits < 48:
            raise CryptoError("ind_bits must be 0..47")
        self.ind_bits = ind_bits
        self.delta = delta
        self.seq = seq

    def next(self, ind: int = 0) -> int:
        """A fresh SQN = (SEQ_HE + 1) || IND."""
        if not 0 <= ind < (1 << self.ind_bits):
            raise CryptoError(f"IND must fit in {self.ind_bits} bits")
        self.seq += 1
        sqn = (self.seq << self.ind_bits) | ind
        if sqn > SQN_MAX:
            raise CryptoError("SQN space exhausted")
        return sqn

    def apply_resync(self, sqn_ms: int) -> None:
        """TS 33.102 clause 6.3.5: reset SEQ_HE to SEQ_MS unless the next SQN would be accepted."""
        seq_ms = sqn_ms >> self.ind_bits
        nxt = self.seq + 1
        if not (seq_ms < nxt <= seq_ms + self.delta):
            self.seq = seq_ms


# ---------------------------------------------------------------------------
# UE side
# ---------------------------------------------------------------------------


class UsimSqnArray:
    """The USIM's array of accepted SEQ values, one per IND (TS 33.102 Annex C.2).

    Freshness (Annex C.2.2) of SQN = SEQ || IND:

    1. SEQ - SEQ_MS <= delta, SEQ_MS being the highest SEQ accepted so far
       (protection against a wrapped/exhausted counter);
    2. SEQ > SEQ_MS(IND) (the entry for this IND);
    3. if an age limit L is configured, SEQ_MS - SEQ < L.
    """

    def __init__(
        self,
        ind_bits: int = DEFAULT_IND_BITS,
        delta: int = DEFAULT_DELTA,
        age_limit: int | None = None,
    ):
        if not 0 <= ind_bits <= 10:
            raise CryptoError("ind_bits must be 0..10 (array size 2^ind_bits)")
        if delta <= 0 or (age_limit is not None and age_limit <= 0):
            raise CryptoError("delta and age limit must be positive")
        self.ind_bits = ind_bits
        self.delta = delta
        self.age_limit = age_limit
        self.seq_ms = [0] * (1 << ind_bits)
        self._highest = 0  # highest accepted SQN (SEQ || IND)

    def split(self, sqn: int) -> tuple[int, int]:
        """(SEQ, IND) of an SQN."""
        return sqn >> self.ind_bits, sqn & ((1 << self.ind_bits) - 1)

    @property
    def sqn_ms(self) -> int:
        """SQN_MS: the highest sequence number accepted so far (sent in AUTS)."""
        return self._highest

    def is_fresh(self, sqn: int) -> bool:
        seq, ind = self.split(sqn)
        highest_seq = self._highest >> self.ind_bits
        if seq - highest_seq > self.delta:
            return False
        if seq <= self.seq_ms[ind]:
            return False
        return not (self.age_limit is not None and highest_seq - seq >= self.age_limit)

    def accept(self, sqn: int) -> None:
        seq, ind = self.split(sqn)
        self.seq_ms[ind] = seq
        if sqn > self._highest:
            self._highest = sqn


@dataclass(frozen=True)
class UsimResult:
    """Outcome of a successful USIM authentication (TS 33.102 clause 6.3.3)."""

    res: bytes
    ck: bytes
    ik: bytes
    ak: bytes
    sqn: int
    amf: bytes

    @property
    def sqn_xor_ak(self) -> bytes:
        return _xor(self.sqn.to_bytes(6, "big"), self.ak)


@dataclass(frozen=True)
class AkaSuccess:
    """UE side of a successful 5G-AKA (TS 33.501 clause 6.1.3.2 step 7)."""

    res: bytes
    res_star: bytes
    ck: bytes
    ik: bytes
    kausf: bytes
    kseaf: bytes
    sqn: int

    def kamf(self, supi: str, abba: bytes = DEFAULT_ABBA) -> bytes:
        """KAMF for this authentication (TS 33.501 Annex A.7)."""
        return keys.kamf(self.kseaf, supi, abba)


@dataclass(frozen=True)
class MacFailure:
    """MAC in AUTN did not verify: 5GMM cause #20 "MAC failure" (TS 24.501 5.4.1.3.6)."""

    cause: int = 20


@dataclass(frozen=True)
class SyncFailure:
    """SQN out of range: 5GMM cause #21 "synch failure" with AUTS (TS 33.102 6.3.3)."""

    auts: bytes
    cause: int = 21


@dataclass(frozen=True)
class SeparationBitFailure:
    """AMF separation bit is 0: 5GMM cause #26 "non-5G authentication unacceptable"
    (TS 33.501 clause 6.1.3.2, TS 24.501 clause 5.4.1.3.6)."""

    cause: int = 26


class UsimAka:
    """USIM + ME side of AKA for one subscription (a software USIM).

    Keeps the SQN array (Annex C.2) across calls, so replays of an accepted
    AUTN give :class:`SyncFailure`.
    """

    def __init__(
        self,
        milenage: Milenage,
        sqn_array: UsimSqnArray | None = None,
    ):
        self.milenage = milenage
        self.sqn_array = sqn_array if sqn_array is not None else UsimSqnArray()

    def _auts(self, rand: bytes) -> bytes:
        """AUTS = (SQN_MS xor AK*) || MAC-S, MAC-S = f1*(SQN_MS, RAND, AMF=0x0000)."""
        sqn_ms_b = self.sqn_array.sqn_ms.to_bytes(6, "big")
        ak_star = self.milenage.f5star(rand)
        mac_s = self.milenage.f1star(rand, sqn_ms_b, RESYNC_AMF)
        return _xor(sqn_ms_b, ak_star) + mac_s

    def check(self, rand: bytes, autn: bytes) -> UsimResult | MacFailure | SyncFailure:
        """USIM authentication (TS 33.102 clause 6.3.3): verify MAC then SQN freshness.

        On success the SQN array is updated and RES, CK, IK are returned.
        """
        rand_b = _rand(rand)
        sqn_xor_ak, amf, mac = parse_autn(autn)
        res, ck, ik, ak = self.milenage.f2345(rand_b)
        sqn_b = _xor(sqn_xor_ak, ak)
        xmac = self.milenage.f1(rand_b, sqn_b, amf)
        if not hmac.compare_digest(xmac, mac):
            return MacFailure()
        sqn = int.from_bytes(sqn_b, "big")
        if not self.sqn_array.is_fresh(sqn):
            return SyncFailure(self._auts(rand_b))
        self.sqn_array.accept(sqn)
        return UsimResult(res, ck, ik, ak, sqn, amf)

    def authenticate_5g(
        self, rand: bytes, autn: bytes, sn_name: str | bytes
    ) -> AkaSuccess | MacFailure | SyncFailure | SeparationBitFailure:
        """UE side of 5G-AKA (TS 33.501 clause 6.1.3.2 step 7).

        The USIM check comes first (MAC, then SQN); the ME then checks the AMF
        separation bit and derives RES* (Annex A.4), KAUSF (A.2) and KSEAF (A.6).
        """
        r = self.check(rand, autn)
        if not isinstance(r, UsimResult):
            return r
        if not amf_separation_bit(r.amf):
            return SeparationBitFailure()
        rand_b = bytes(rand)
        res_star = keys.res_star(r.ck, r.ik, sn_name, rand_b, r.res)
        kausf = keys.kausf(r.ck, r.ik, sn_name, bytes(autn[:6]))
        return AkaSuccess(r.res, res_star, r.ck, r.ik, kausf, keys.kseaf(kausf, sn_name), r.sqn)
