"""The 5G key hierarchy (TS 33.501 Annex A), on the KDF of TS 33.220 Annex B.2.

Every function takes and returns ``bytes``; no state. The serving network name
may be given as ``str`` or ``bytes`` (it is UTF-8 encoded).

Key lengths: CK, IK 16 bytes; KAUSF, KSEAF, KAMF, KgNB, NH 32 bytes; RES*,
XRES*, HRES*, HXRES* and the NAS/RRC/UP algorithm keys 16 bytes.
"""

from __future__ import annotations

import hashlib

from testbed.crypto.kdf import kdf
from testbed.errors import CryptoError

__all__ = [
    "ACCESS_3GPP",
    "ACCESS_NON_3GPP",
    "N_NAS_ENC_ALG",
    "N_NAS_INT_ALG",
    "N_RRC_ENC_ALG",
    "N_RRC_INT_ALG",
    "N_UP_ENC_ALG",
    "N_UP_INT_ALG",
    "algorithm_key",
    "ck_ik_prime",
    "hres_star",
    "hxres_star",
    "kamf",
    "kausf",
    "kgnb",
    "kseaf",
    "nas_keys",
    "nh",
    "res_star",
    "rrc_keys",
    "serving_network_name",
    "supi_kdf_value",
    "up_keys",
    "xres_star",
]

# FC values (TS 33.501 Annex A.1, TS 33.402 Annex A.2).
FC_CK_IK_PRIME = 0x20
FC_ALGORITHM_KEY = 0x69
FC_KAUSF = 0x6A
FC_RES_STAR = 0x6B
FC_KSEAF = 0x6C
FC_KAMF = 0x6D
FC_KGNB = 0x6E
FC_NH = 0x6F

# Algorithm type distinguishers (TS 33.501 Annex A.8, table A.8-1).
N_NAS_ENC_ALG = 0x01
N_NAS_INT_ALG = 0x02
N_RRC_ENC_ALG = 0x03
N_RRC_INT_ALG = 0x04
N_UP_ENC_ALG = 0x05
N_UP_INT_ALG = 0x06

# Access type distinguishers (TS 33.501 Annex A.9, table A.9-1).
ACCESS_3GPP = 0x01
ACCESS_NON_3GPP = 0x02


def _b(name: str, value: bytes, *lengths: int) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) not in lengths:
        want = " or ".join(str(n) for n in lengths)
        raise CryptoError(f"{name} must be {want} bytes")
    return bytes(value)


def _snn(sn_name: str | bytes) -> bytes:
    data = sn_name.encode("utf-8") if isinstance(sn_name, str) else bytes(sn_name)
    if not data:
        raise CryptoError("serving network name must not be empty")
    return data


def serving_network_name(mcc: str, mnc: str) -> str:
    """The serving network name for 3GPP access, "5G:mnc<MNC>.mcc<MCC>.3gppnetwork.org".

    TS 33.501 clause 6.1.1.4 (SN Id = the PLMN), encoded as in TS 24.501 clause
    9.12.1: a two-digit MNC is padded with a leading zero to three digits.
    """
    if len(mcc) != 3 or not mcc.isdigit():
        raise CryptoError(f"MCC must be 3 digits, got {mcc!r}")
    if len(mnc) not in (2, 3) or not mnc.isdigit():
        raise CryptoError(f"MNC must be 2 or 3 digits, got {mnc!r}")
    return f"5G:mnc{mnc.zfill(3)}.mcc{mcc}.3gppnetwork.org"


def kausf(ck: bytes, ik: bytes, sn_name: str | bytes, sqn_xor_ak: bytes) -> bytes:
    """KAUSF (TS 33.501 Annex A.2): KDF(CK||IK, FC=0x6A, SN name, SQN xor AK)."""
    key = _b("CK", ck, 16) + _b("IK", ik, 16)
    return kdf(key, FC_KAUSF, _snn(sn_name), _b("SQN xor AK", sqn_xor_ak, 6))


def ck_ik_prime(ck: bytes, ik: bytes, network_name: str | bytes, sqn_xor_ak: bytes) -> tuple[bytes, bytes]:
    """(CK', IK') for EAP-AKA' (TS 33.402 Annex A.2; TS 33.501 Annex A.3; RFC 5448 clause 3.3).

    KDF(CK||IK, FC=0x20, access network name, SQN xor AK); CK' is the first and
    IK' the second half of the output. For 5G the network name is the serving
    network name (TS 33.501 Annex A.3).
    """
    key = _b("CK", ck, 16) + _b("IK", ik, 16)
    out = kdf(key, FC_CK_IK_PRIME, _snn(network_name), _b("SQN xor AK", sqn_xor_ak, 6))
    return out[:16], out[16:]


def res_star(ck: bytes, ik: bytes, sn_name: str | bytes, rand: bytes, res: bytes) -> bytes:
    """RES* / XRES* (TS 33.501 Annex A.4): 128 LSB of KDF(CK||IK, 0x6B, SN name, RAND, RES)."""
    key = _b("CK", ck, 16) + _b("IK", ik, 16)
    _b("RES", res, *range(4, 17))
    return kdf(key, FC_RES_STAR, _snn(sn_name), _b("RAND", rand, 16), bytes(res))[16:]


xres_star = res_star


def hres_star(rand: bytes, res_star_value: bytes) -> bytes:
    """HRES* / HXRES* (TS 33.501 Annex A.5): 128 LSB of SHA-256(RAND || RES*)."""
    data = _b("RAND", rand, 16) + _b("RES*", res_star_value, 16)
    return hashlib.sha256(data).digest()[16:]


hxres_star = hres_star


def kseaf(kausf_value: bytes, sn_name: str | bytes) -> bytes:
    """KSEAF (TS 33.501 Annex A.6): KDF(KAUSF, FC=0x6C, SN name)."""
    return kdf(_b("KAUSF", kausf_value, 32), FC_KSEAF, _snn(sn_name))


def supi_kdf_value(supi: str) -> bytes:
    """P0 of Annex A.7 for a SUPI string.

    TS 33.501 Annex A.7.0: for an IMSI-based SUPI, P0 is the IMSI digit string
    (TS 23.003 clause 2.2); for an NAI-based SUPI, the NAI. The SUPI-type prefix
    of the TS 29.571 string form ("imsi-", "nai-") is not part of the value and
    is removed here, so ``"imsi-001010000000001"`` and ``"001010000000001"`` give
    the same P0.
    """
    for prefix in ("imsi-", "nai-"):
        if supi.startswith(prefix):
            supi = supi[len(prefix) :]
            break
    if not supi:
        raise CryptoError("empty SUPI")
    return supi.encode("utf-8")


def kamf(kseaf_value: bytes, supi: str | bytes, abba: bytes = b"\x00\x00") -> bytes:
    """KAMF (TS 33.501 Annex A.7): KDF(KSEAF, FC=0x6D, SUPI, ABBA).

    ``supi`` is a SUPI string (see :func:`supi_kdf_value`) or the P0 bytes.
    ABBA defaults to 0x0000 (TS 33.501 clause 6.1.3.2 / TS 24.501 9.11.3.10).
    """
    p0 = supi_kdf_value(supi) if isinstance(supi, str) else bytes(supi)
    if not abba:
        raise CryptoError("ABBA must not be empty")
    return kdf(_b("KSEAF", kseaf_value, 32), FC_KAMF, p0, bytes(abba))


def algorithm_key(key: bytes, distinguisher: int, alg_id: int) -> bytes:
    """NAS/RRC/UP algorithm key (TS 33.501 Annex A.8).

    KDF(key, FC=0x69, algorithm type distinguisher, algorithm identity), of
    which the 128 least significant bits are the key. The algorithm identity
    (0..15) is in the four least significant bits of its octet.
    """
    if not 1 <= distinguisher <= 6:
        raise CryptoError(f"algorithm type distinguisher must be 1..6, got {distinguisher}")
    if not 0 <= alg_id <= 15:
        raise CryptoError(f"algorithm identity must be 0..15, got {alg_id}")
    return kdf(_b("key", key, 32), FC_ALGORITHM_KEY, bytes((distinguisher,)), bytes((alg_id,)))[16:]


def nas_keys(kamf_value: bytes, enc_alg: int, int_alg: int) -> tuple[bytes, bytes]:
    """(KNASenc, KNASint) from KAMF for NEA ``enc_alg`` and NIA ``int_alg`` (Annex A.8)."""
    return (
        algorithm_key(kamf_value, N_NAS_ENC_ALG, enc_alg),
        algorithm_key(kamf_value, N_NAS_INT_ALG, int_alg),
    )


def rrc_keys(kgnb_value: bytes, enc_alg: int, int_alg: int) -> tuple[bytes, bytes]:
    """(KRRCenc, KRRCint) from KgNB (Annex A.8)."""
    return (
        algorithm_key(kgnb_value, N_RRC_ENC_ALG, enc_alg),
        algorithm_key(kgnb_value, N_RRC_INT_ALG, int_alg),
    )


def up_keys(kgnb_value: bytes, enc_alg: int, int_alg: int) -> tuple[bytes, bytes]:
    """(KUPenc, KUPint) from KgNB (Annex A.8)."""
    return (
        algorithm_key(kgnb_value, N_UP_ENC_ALG, enc_alg),
        algorithm_key(kgnb_value, N_UP_INT_ALG, int_alg),
    )


def kgnb(kamf_value: bytes, ul_nas_count: int, access_type: int = ACCESS_3GPP) -> bytes:
    """KgNB (access type 0x01) or KN3IWF (0x02) (TS 33.501 Annex A.9).

    KDF(KAMF, FC=0x6E, uplink NAS COUNT (4 octets), access type distinguisher).
    """
    if not 0 <= ul_nas_count <= 0xFFFFFFFF:
        raise CryptoError("uplink NAS COUNT must fit in 32 bits")
    if access_type not in (ACCESS_3GPP, ACCESS_NON_3GPP):
        raise CryptoError(f"access type distinguisher must be 1 or 2, got {access_type}")
    return kdf(_b("KAMF", kamf_value, 32), FC_KGNB, ul_nas_count.to_bytes(4, "big"), bytes((access_type,)))


def nh(kamf_value: bytes, sync_input: bytes) -> bytes:
    """NH (TS 33.501 Annex A.10): KDF(KAMF, FC=0x6F, SYNC-input).

    SYNC-input is the fresh KgNB for the first NH, then the previous NH.
    """
    return kdf(_b("KAMF", kamf_value, 32), FC_NH, _b("SYNC-input", sync_input, 32))
