"""UE identities and their NAS encodings.

- PLMN identity BCD coding (TS 24.008 10.5.1.13 / TS 24.501 9.11.3.4 /
  TS 38.413 9.3.3.5): MCC2|MCC1, MNC3|MCC3, MNC2|MNC1 (MNC3 = 0xF when the
  MNC has two digits).
- :class:`Supi`: IMSI-based (TS 23.003 clause 2.2) or network-specific-identifier
  (NAI) SUPI (TS 23.003 clause 28.7.2), with the string form of TS 29.571
  ("imsi-<digits>", "nai-<nai>").
- The value part (without IEI and length) of the 5GS mobile identity IE
  (TS 24.501 clause 9.11.3.4) for 5G-GUTI (figure 9.11.3.4.1), IMEI/IMEISV
  (figure 9.11.3.4.2) and 5G-S-TMSI (figure 9.11.3.4.5). SUCI (figure
  9.11.3.4.3) lives in :mod:`testbed.crypto.suci`;
  :func:`decode_5gs_mobile_identity` dispatches on the identity type.

Every decoder raises :class:`testbed.errors.DecodeError` on malformed input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from testbed.errors import DecodeError

if TYPE_CHECKING:
    from testbed.crypto.suci import Suci

__all__ = [
    "ID_5G_GUTI",
    "ID_5G_S_TMSI",
    "ID_IMEI",
    "ID_IMEISV",
    "ID_NONE",
    "ID_SUCI",
    "Guti5g",
    "Pei",
    "STmsi5g",
    "Supi",
    "bcd_decode",
    "bcd_encode",
    "decode_5gs_mobile_identity",
    "plmn_from_bytes",
    "plmn_to_bytes",
    "valid_nai_username",
    "valid_realm",
]

# Type of identity (TS 24.501 table 9.11.3.4.1).
ID_NONE = 0
ID_SUCI = 1
ID_5G_GUTI = 2
ID_IMEI = 3
ID_5G_S_TMSI = 4
ID_IMEISV = 5


_REALM_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\Z")


def valid_realm(realm: str) -> bool:
    """A realm as a domain name: letters, digits, '.' and '-' (RFC 7542 clause 2.2)."""
    return bool(_REALM_RE.match(realm))


def valid_nai_username(user: str) -> bool:
    """An NAI username (RFC 7542 clause 2.2): printable, no '@', no white space."""
    return bool(user) and user.isprintable() and "@" not in user and not any(c.isspace() for c in user)


def _check_digits(name: str, value: str, lengths: tuple[int, ...]) -> None:
    if not isinstance(value, str) or len(value) not in lengths or not (value.isascii() and value.isdigit()):
        raise ValueError(f"{name} must be {'/'.join(map(str, lengths))} decimal digits, got {value!r}")


# ---------------------------------------------------------------------------
# BCD and PLMN
# ---------------------------------------------------------------------------


def bcd_encode(digits: str) -> bytes:
    """Telephony BCD: two digits per octet, first digit in the low nibble; an odd
    count is padded with 0xF in the last high nibble (TS 24.008 10.5.1.4)."""
    if not (digits.isascii() and digits.isdigit()) and digits != "":
        raise ValueError(f"BCD input must be decimal digits, got {digits!r}")
    if len(digits) % 2:
        digits += "F"
    out = bytearray()
    for i in range(0, len(digits), 2):
        lo = int(digits[i])
        hi = 0xF if digits[i + 1] == "F" else int(digits[i + 1])
        out.append((hi << 4) | lo)
    return bytes(out)


def bcd_decode(data: bytes, allow_filler: bool = True) -> str:
    """Inverse of :func:`bcd_encode`; 0xF is accepted only as the last high nibble."""
    out = []
    n = len(data)
    for i, b in enumerate(data):
        lo, hi = b & 0x0F, b >> 4
        if lo > 9:
            raise DecodeError(f"invalid BCD digit 0x{lo:x}")
        out.append(chr(0x30 + lo))
        if hi == 0xF and allow_filler and i == n - 1:
            break
        if hi > 9:
            raise DecodeError(f"invalid BCD digit 0x{hi:x}")
        out.append(chr(0x30 + hi))
    return "".join(out)


def plmn_to_bytes(mcc: str, mnc: str) -> bytes:
    """3-octet PLMN identity (TS 24.008 10.5.1.13, as used by NAS, NGAP and S1AP)."""
    _check_digits("MCC", mcc, (3,))
    _check_digits("MNC", mnc, (2, 3))
    m3 = 0xF if len(mnc) == 2 else int(mnc[2])
    return bytes(
        (
            (int(mcc[1]) << 4) | int(mcc[0]),
            (m3 << 4) | int(mcc[2]),
            (int(mnc[1]) << 4) | int(mnc[0]),
        )
    )


def plmn_from_bytes(data: bytes) -> tuple[str, str]:
    """(MCC, MNC) from a 3-octet PLMN identity; raises DecodeError."""
    if len(data) != 3:
        raise DecodeError(f"PLMN identity must be 3 octets, got {len(data)}")
    nibbles = (data[0] & 0xF, data[0] >> 4, data[1] & 0xF, data[2] & 0xF, data[2] >> 4)
    if any(d > 9 for d in nibbles):
        raise DecodeError(f"PLMN identity {data.hex()} is not valid BCD (digit above 9)")
    mnc3 = data[1] >> 4
    mcc = f"{nibbles[0]}{nibbles[1]}{nibbles[2]}"
    if mnc3 == 0xF:
        mnc = f"{nibbles[3]}{nibbles[4]}"
    elif mnc3 <= 9:
        mnc = f"{nibbles[3]}{nibbles[4]}{mnc3}"
    else:
        raise DecodeError(f"PLMN identity {data.hex()} is not valid BCD (MNC digit 3)")
    return mcc, mnc


# ---------------------------------------------------------------------------
# SUPI
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Supi:
    """A SUPI: IMSI (``kind == "imsi"``: mcc, mnc, msin) or NAI (``kind == "nai"``: username, realm)."""

    kind: str
    mcc: str = ""
    mnc: str = ""
    msin: str = ""
    username: str = ""
    realm: str = ""

    def __post_init__(self) -> None:
        if self.kind == "imsi":
            _check_digits("MCC", self.mcc, (3,))
            _check_digits("MNC", self.mnc, (2, 3))
            max_msin = 15 - 3 - len(self.mnc)  # IMSI has at most 15 digits (TS 23.003 2.2)
            _check_digits("MSIN", self.msin, tuple(range(1, max_msin + 1)))
            if self.username or self.realm:
                raise ValueError("an IMSI SUPI has no username/realm")
        elif self.kind == "nai":
            if not valid_nai_username(self.username) or not valid_realm(self.realm):
                raise ValueError(f"invalid NAI SUPI {self.username!r}@{self.realm!r}")
            if self.mcc or self.mnc or self.msin:
                raise ValueError("an NAI SUPI has no MCC/MNC/MSIN")
        else:
            raise ValueError(f"SUPI kind must be 'imsi' or 'nai', got {self.kind!r}")

    @classmethod
    def imsi(cls, mcc: str, mnc: str, msin: str) -> Supi:
        return cls("imsi", mcc=mcc, mnc=mnc, msin=msin)

    @classmethod
    def from_imsi(cls, imsi: str, mnc_len: int = 2) -> Supi:
        """From the IMSI digit string; the MNC length is not encoded in an IMSI, so give it."""
        if mnc_len not in (2, 3):
            raise ValueError("mnc_len must be 2 or 3")
        _check_digits("IMSI", imsi, tuple(range(5 + mnc_len - 1, 16)))
        return cls.imsi(imsi[:3], imsi[3 : 3 + mnc_len], imsi[3 + mnc_len :])

    @classmethod
    def nai(cls, username: str, realm: str) -> Supi:
        return cls("nai", username=username, realm=realm)

    @classmethod
    def parse(cls, text: str, mnc_len: int = 2) -> Supi:
        """From the TS 29.571 string form: "imsi-<digits>" or "nai-<username>@<realm>"."""
        if text.startswith("imsi-"):
            return cls.from_imsi(text[5:], mnc_len)
        if text.startswith("nai-"):
            user, sep, realm = text[4:].partition("@")
            if not sep:
                raise ValueError(f"NAI SUPI without '@': {text!r}")
            return cls.nai(user, realm)
        raise ValueError(f"SUPI string must start with 'imsi-' or 'nai-': {text!r}")

    @property
    def imsi_digits(self) -> str:
        if self.kind != "imsi":
            raise ValueError("not an IMSI SUPI")
        return self.mcc + self.mnc + self.msin

    @property
    def value(self) -> str:
        """The SUPI value without type prefix: the IMSI digits or the NAI.

        This is P0 of KAMF derivation (TS 33.501 Annex A.7.0).
        """
        return self.imsi_digits if self.kind == "imsi" else f"{self.username}@{self.realm}"

    def to_string(self) -> str:
        """TS 29.571 SUPI string: "imsi-001010000000001" or "nai-user@realm"."""
        return f"{self.kind}-{self.value}"

    def __str__(self) -> str:
        return self.to_string()

    def scheme_input(self) -> bytes:
        """Protection scheme input (TS 33.501 Annex C.2/C.3, TS 24.501 9.11.3.4).

        For an IMSI the MSIN in BCD (test data: MSIN 001002086 -> 00012080f6);
        for an NAI the username octets (Annex C.4.2.2).
        """
        if self.kind == "imsi":
            return bcd_encode(self.msin)
        return self.username.encode("utf-8")


# ---------------------------------------------------------------------------
# 5G-GUTI, 5G-S-TMSI, PEI
# ---------------------------------------------------------------------------


def _check_amf_ids(amf_set_id: int, amf_pointer: int, tmsi: int) -> None:
    if not 0 <= amf_set_id < 1 << 10:
        raise ValueError("AMF Set ID must fit in 10 bits")
    if not 0 <= amf_pointer < 1 << 6:
        raise ValueError("AMF Pointer must fit in 6 bits")
    if not 0 <= tmsi < 1 << 32:
        raise ValueError("5G-TMSI must fit in 32 bits")


def _identity_type(value: bytes) -> int:
    if not value:
        raise DecodeError("empty 5GS mobile identity")
    return value[0] & 0x07


@dataclass(frozen=True)
class STmsi5g:
    """5G-S-TMSI = AMF Set ID (10 bits) || AMF Pointer (6 bits) || 5G-TMSI (32 bits) (TS 23.003 2.11)."""

    amf_set_id: int
    amf_pointer: int
    tmsi: int

    def __post_init__(self) -> None:
        _check_amf_ids(self.amf_set_id, self.amf_pointer, self.tmsi)

    def to_int(self) -> int:
        """The 48-bit value (e.g. ng-5G-S-TMSI in NR RRC, TS 38.331)."""
        return (self.amf_set_id << 38) | (self.amf_pointer << 32) | self.tmsi

    @classmethod
    def from_int(cls, value: int) -> STmsi5g:
        if not 0 <= value < 1 << 48:
            raise DecodeError("5G-S-TMSI must fit in 48 bits")
        return cls(value >> 38, (value >> 32) & 0x3F, value & 0xFFFFFFFF)

    def to_nas_bytes(self) -> bytes:
        """Value part of the 5GS mobile identity IE (TS 24.501 figure 9.11.3.4.5)."""
        set_ptr = (self.amf_set_id << 6) | self.amf_pointer
        return bytes((0xF0 | ID_5G_S_TMSI,)) + set_ptr.to_bytes(2, "big") + self.tmsi.to_bytes(4, "big")

    @classmethod
    def from_nas_bytes(cls, value: bytes) -> STmsi5g:
        if _identity_type(value) != ID_5G_S_TMSI:
            raise DecodeError("5GS mobile identity is not a 5G-S-TMSI")
        if len(value) != 7:
            raise DecodeError(f"5G-S-TMSI must be 7 octets, got {len(value)}")
        set_ptr = int.from_bytes(value[1:3], "big")
        return cls(set_ptr >> 6, set_ptr & 0x3F, int.from_bytes(value[3:7], "big"))


@dataclass(frozen=True)
class Guti5g:
    """5G-GUTI = GUAMI (MCC, MNC, AMF Region ID, AMF Set ID, AMF Pointer) || 5G-TMSI (TS 23.003 2.10)."""

    mcc: str
    mnc: str
    amf_region_id: int
    amf_set_id: int
    amf_pointer: int
    tmsi: int

    def __post_init__(self) -> None:
        _check_digits("MCC", self.mcc, (3,))
        _check_digits("MNC", self.mnc, (2, 3))
        if not 0 <= self.amf_region_id <= 0xFF:
            raise ValueError("AMF Region ID must fit in 8 bits")
        _check_amf_ids(self.amf_set_id, self.amf_pointer, self.tmsi)

    @property
    def s_tmsi(self) -> STmsi5g:
        return STmsi5g(self.amf_set_id, self.amf_pointer, self.tmsi)

    def to_nas_bytes(self) -> bytes:
        """Value part of the 5GS mobile identity IE (TS 24.501 figure 9.11.3.4.1)."""
        set_ptr = (self.amf_set_id << 6) | self.amf_pointer
        return (
            bytes((0xF0 | ID_5G_GUTI,))
            + plmn_to_bytes(self.mcc, self.mnc)
            + bytes((self.amf_region_id,))
            + set_ptr.to_bytes(2, "big")
            + self.tmsi.to_bytes(4, "big")
        )

    @classmethod
    def from_nas_bytes(cls, value: bytes) -> Guti5g:
        if _identity_type(value) != ID_5G_GUTI:
            raise DecodeError("5GS mobile identity is not a 5G-GUTI")
        if len(value) != 11:
            raise DecodeError(f"5G-GUTI must be 11 octets, got {len(value)}")
        mcc, mnc = plmn_from_bytes(value[1:4])
        set_ptr = int.from_bytes(value[5:7], "big")
        return cls(mcc, mnc, value[4], set_ptr >> 6, set_ptr & 0x3F, int.from_bytes(value[7:11], "big"))


@dataclass(frozen=True)
class Pei:
    """IMEI (15 digits) or IMEISV (16 digits) as a 5GS mobile identity (TS 24.501 figure 9.11.3.4.2)."""

    digits: str
    imeisv: bool = False

    def __post_init__(self) -> None:
        _check_digits("IMEISV" if self.imeisv else "IMEI", self.digits, (16,) if self.imeisv else (15,))

    def to_nas_bytes(self) -> bytes:
        odd = len(self.digits) % 2
        first = (int(self.digits[0]) << 4) | (odd << 3) | (ID_IMEISV if self.imeisv else ID_IMEI)
        return bytes((first,)) + bcd_encode(self.digits[1:])

    @classmethod
    def from_nas_bytes(cls, value: bytes) -> Pei:
        typ = _identity_type(value)
        if typ not in (ID_IMEI, ID_IMEISV):
            raise DecodeError("5GS mobile identity is not an IMEI/IMEISV")
        d1 = value[0] >> 4
        if d1 > 9:
            raise DecodeError("invalid first IMEI digit")
        odd = (value[0] >> 3) & 1
        rest = bcd_decode(value[1:])
        digits = f"{d1}{rest}"
        if (len(digits) % 2) != odd:
            raise DecodeError("odd/even indicator does not match the number of digits")
        try:
            return cls(digits, imeisv=typ == ID_IMEISV)
        except ValueError as exc:
            raise DecodeError(str(exc)) from None


def decode_5gs_mobile_identity(value: bytes) -> Suci | Guti5g | STmsi5g | Pei | None:
    """Decode the value part of a 5GS mobile identity IE (TS 24.501 clause 9.11.3.4).

    Returns ``None`` for "no identity" (type 0). MAC address, EUI-64 and the
    reserved types are not supported and raise :class:`DecodeError`.
    """
    typ = _identity_type(value)
    if typ == ID_NONE:
        if len(value) != 1:
            raise DecodeError("'no identity' must be one octet")
        return None
    if typ == ID_SUCI:
        from testbed.crypto.suci import Suci

        return Suci.from_nas_bytes(value)
    if typ == ID_5G_GUTI:
        return Guti5g.from_nas_bytes(value)
    if typ == ID_5G_S_TMSI:
        return STmsi5g.from_nas_bytes(value)
    if typ in (ID_IMEI, ID_IMEISV):
        return Pei.from_nas_bytes(value)
    raise DecodeError(f"unsupported 5GS mobile identity type {typ}")
