"""Typed 5GS NAS information elements (TS 24.501 9.11) and their value-part codecs.

Each dataclass holds the decoded value of one IE. ``to_bytes()`` produces the IE *value part*
(what follows the IEI and the length octets); ``from_bytes()`` parses it and raises
:class:`testbed.errors.DecodeError` on anything malformed. Type 1 (half-octet) IEs use
``to_nibble()`` / ``from_nibble()`` instead. Constructing a dataclass with out-of-range values
raises ``ValueError`` (a programming error, not a decode error).

The IE framing (IEIs, length octets, optional-IE scanning) is done by pycrate (:mod:`.message`);
the value parts here are fixed-layout bit fields written against the clauses cited. The 5GS
tracking area identity list is built with pycrate's ``FGSTAIList`` but parsed here, because
pycrate's parser silently accepts truncated partial lists; the CAG information list is coded here
because pycrate's ``CAGInfo`` lacks the CAG-only octet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Self

from testbed.crypto.identity import plmn_from_bytes, plmn_to_bytes
from testbed.errors import DecodeError

from .enums import (
    DeregistrationAccessType,
    PduSessionType,
    RegistrationResultValue,
    enum_or_int,
)

__all__ = [
    "Additional5gSecurityInformation",
    "CagInfo",
    "ConfigurationUpdateIndication",
    "DeregistrationType",
    "GprsTimer",
    "GprsTimer3",
    "IntegrityProtectionMaxDataRate",
    "NasSecurityAlgorithms",
    "NgKsi",
    "PacketFilter",
    "PduAddress",
    "PlmnId",
    "QosRule",
    "RegistrationResult",
    "SNssai",
    "SessionAmbr",
    "Tai",
    "UeSecurityCapability",
    "UeStatus",
    "decode_cag_info_list",
    "decode_dnn",
    "decode_nssai",
    "decode_pdu_session_status",
    "decode_qos_rules",
    "decode_tai_list",
    "encode_cag_info_list",
    "encode_dnn",
    "encode_nssai",
    "encode_pdu_session_status",
    "encode_qos_rules",
    "encode_tai_list",
]


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise DecodeError(what)


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise ValueError(what)


# --------------------------------------------------------------------------- ngKSI


@dataclass(frozen=True)
class NgKsi:
    """NAS key set identifier (TS 24.501 9.11.3.32): 3-bit KSI and the type of security context
    flag (TSC, 0 = native, 1 = mapped). KSI 7 means "no key is available"."""

    ksi: int = 7
    tsc: int = 0

    NO_KEY: ClassVar[int] = 7

    def __post_init__(self) -> None:
        _check(0 <= self.ksi <= 7 and self.tsc in (0, 1), f"invalid ngKSI {self.ksi}/{self.tsc}")

    def to_nibble(self) -> int:
        return (self.tsc << 3) | self.ksi

    @classmethod
    def from_nibble(cls, value: int) -> NgKsi:
        return cls(ksi=value & 7, tsc=(value >> 3) & 1)

    @property
    def no_key(self) -> bool:
        return self.ksi == self.NO_KEY


# --------------------------------------------------------------------------- PLMN, TAI


@dataclass(frozen=True)
class PlmnId:
    """MCC and MNC as digit strings (MNC of 2 or 3 digits). Encoded as in TS 24.008 10.5.1.13
    (3 octets of BCD, MNC digit 3 = 0xF for a 2-digit MNC), used by TS 24.501 9.11.3.8 and others."""

    mcc: str
    mnc: str

    def __post_init__(self) -> None:
        _check(len(self.mcc) == 3 and self.mcc.isdigit() and self.mcc.isascii(), f"invalid MCC {self.mcc!r}")
        _check(len(self.mnc) in (2, 3) and self.mnc.isdigit() and self.mnc.isascii(),
               f"invalid MNC {self.mnc!r}")

    def to_bytes(self) -> bytes:
        return plmn_to_bytes(self.mcc, self.mnc)

    @classmethod
    def from_bytes(cls, data: bytes) -> PlmnId:
        return cls(*plmn_from_bytes(bytes(data)))

    def __str__(self) -> str:
        return f"{self.mcc}-{self.mnc}"


@dataclass(frozen=True)
class Tai:
    """5GS tracking area identity (TS 24.501 9.11.3.8): PLMN and 24-bit TAC."""

    plmn: PlmnId
    tac: int

    def __post_init__(self) -> None:
        _check(0 <= self.tac <= 0xFFFFFF, f"TAC out of range: {self.tac}")

    def to_bytes(self) -> bytes:
        return self.plmn.to_bytes() + self.tac.to_bytes(3, "big")

    @classmethod
    def from_bytes(cls, data: bytes) -> Tai:
        _need(len(data) == 6, f"5GS TAI must be 6 octets, got {len(data)}")
        return cls(PlmnId.from_bytes(data[:3]), int.from_bytes(data[3:], "big"))


def encode_tai_list(tais: Iterable[Tai]) -> bytes:
    """5GS tracking area identity list value (TS 24.501 9.11.3.9), built with pycrate's FGSTAIList.

    Consecutive TAIs of the same PLMN go into one "type 00" partial list (non-consecutive TACs of
    one PLMN, up to 16 per partial list); at most 16 TAIs in total (TS 24.501 9.11.3.9 NOTE).
    """
    from pycrate_mobile.TS24501_IE import FGSTAIList

    tais = list(tais)
    _check(1 <= len(tais) <= 16, f"a TAI list holds 1 to 16 TAIs, got {len(tais)}")
    groups: list[tuple[PlmnId, list[int]]] = []
    for tai in tais:
        if groups and groups[-1][0] == tai.plmn and len(groups[-1][1]) < 16:
            groups[-1][1].append(tai.tac)
        else:
            groups.append((tai.plmn, [tai.tac]))
    out = b""
    for plmn, tacs in groups:
        ie = FGSTAIList()
        ie.set_val([{"Type": 0, "PTAI": {"PLMN": plmn.to_bytes(), "TACs": tacs}}])
        out += ie.to_bytes()
    return out


def decode_tai_list(data: bytes) -> tuple[Tai, ...]:
    """Inverse of :func:`encode_tai_list`; accepts the three partial list types of 9.11.3.9."""
    _need(len(data) >= 4, "5GS TAI list too short")
    pos, out = 0, []
    while pos < len(data):
        hdr = data[pos]
        kind, num = (hdr >> 5) & 3, (hdr & 0x1F) + 1
        if kind == 0:  # one PLMN, non-consecutive TACs
            end = pos + 1 + 3 + 3 * num
            _need(end <= len(data), "5GS TAI list: truncated partial list (type 00)")
            plmn = PlmnId.from_bytes(data[pos + 1:pos + 4])
            out += [Tai(plmn, int.from_bytes(data[pos + 4 + 3 * i:pos + 7 + 3 * i], "big")) for i in range(num)]
        elif kind == 1:  # one PLMN, consecutive TACs
            end = pos + 7
            _need(end <= len(data), "5GS TAI list: truncated partial list (type 01)")
            plmn = PlmnId.from_bytes(data[pos + 1:pos + 4])
            tac = int.from_bytes(data[pos + 4:pos + 7], "big")
            _need(tac + num - 1 <= 0xFFFFFF, "5GS TAI list: TAC range overflows")
            out += [Tai(plmn, tac + i) for i in range(num)]
        elif kind == 2:  # TAIs of different PLMNs
            end = pos + 1 + 6 * num
            _need(end <= len(data), "5GS TAI list: truncated partial list (type 10)")
            out += [Tai.from_bytes(data[pos + 1 + 6 * i:pos + 7 + 6 * i]) for i in range(num)]
        else:
            raise DecodeError("5GS TAI list: reserved type of list 11")
        pos = end
    _need(len(out) <= 16, f"5GS TAI list holds {len(out)} TAIs, at most 16 allowed")
    return tuple(out)


# --------------------------------------------------------------------------- S-NSSAI, NSSAI


@dataclass(frozen=True)
class SNssai:
    """S-NSSAI value (TS 24.501 9.11.2.8): SST, optional SD, optional mapped HPLMN SST/SD."""

    sst: int
    sd: int | None = None
    mapped_sst: int | None = None
    mapped_sd: int | None = None

    def __post_init__(self) -> None:
        _check(0 <= self.sst <= 255, f"SST out of range: {self.sst}")
        for v in (self.sd, self.mapped_sd):
            _check(v is None or 0 <= v <= 0xFFFFFF, f"SD out of range: {v}")
        _check(self.mapped_sst is None or 0 <= self.mapped_sst <= 255, "mapped SST out of range")
        _check(self.mapped_sd is None or (self.sd is not None and self.mapped_sst is not None),
               "a mapped HPLMN SD needs an SD and a mapped HPLMN SST (TS 24.501 9.11.2.8)")

    def to_bytes(self) -> bytes:
        out = bytes([self.sst])
        if self.sd is not None:
            out += self.sd.to_bytes(3, "big")
        if self.mapped_sst is not None:
            out += bytes([self.mapped_sst])
        if self.mapped_sd is not None:
            out += self.mapped_sd.to_bytes(3, "big")
        return out

    @classmethod
    def from_bytes(cls, data: bytes) -> SNssai:
        n = len(data)
        if n == 1:
            return cls(data[0])
        if n == 2:
            return cls(data[0], mapped_sst=data[1])
        if n == 4:
            return cls(data[0], int.from_bytes(data[1:4], "big"))
        if n == 5:
            return cls(data[0], int.from_bytes(data[1:4], "big"), data[4])
        if n == 8:
            return cls(data[0], int.from_bytes(data[1:4], "big"), data[4], int.from_bytes(data[5:8], "big"))
        raise DecodeError(f"S-NSSAI value of invalid length {n} (1, 2, 4, 5 or 8)")


def encode_nssai(items: Iterable[SNssai]) -> bytes:
    """NSSAI value (TS 24.501 9.11.3.37): S-NSSAI values, each preceded by its length."""
    items = list(items)
    _check(1 <= len(items) <= 16, f"an NSSAI holds 1 to 16 S-NSSAIs, got {len(items)}")
    return b"".join(bytes([len(v)]) + v for v in (s.to_bytes() for s in items))


def decode_nssai(data: bytes) -> tuple[SNssai, ...]:
    _need(len(data) >= 2, "NSSAI too short")
    pos, out = 0, []
    while pos < len(data):
        n = data[pos]
        _need(pos + 1 + n <= len(data), "NSSAI: truncated S-NSSAI")
        out.append(SNssai.from_bytes(data[pos + 1:pos + 1 + n]))
        pos += 1 + n
    return tuple(out)


# --------------------------------------------------------------------------- security IEs


def _bits_to_set(octet: int) -> frozenset[int]:
    """Algorithm bitmap octet (bit 8 = algorithm 0 ... bit 1 = algorithm 7) -> set of ids."""
    return frozenset(i for i in range(8) if octet & (0x80 >> i))


def _set_to_bits(algs: frozenset[int]) -> int:
    return sum(0x80 >> i for i in algs)


@dataclass(frozen=True)
class UeSecurityCapability:
    """UE security capability (TS 24.501 9.11.3.54): supported 5G-EA/5G-IA algorithms (0-7) and,
    optionally, the EPS EEA/EIA ones (octets 5 and 6). Iterables are accepted and stored as
    frozensets."""

    nea: frozenset[int] = field(default_factory=frozenset)
    nia: frozenset[int] = field(default_factory=frozenset)
    eea: frozenset[int] | None = None
    eia: frozenset[int] | None = None

    def __post_init__(self) -> None:
        for name in ("nea", "nia", "eea", "eia"):
            val = getattr(self, name)
            if val is None:
                continue
            val = frozenset(val)
            _check(all(isinstance(a, int) and 0 <= a <= 7 for a in val), f"{name}: algorithm ids are 0..7")
            object.__setattr__(self, name, val)
        _check((self.eea is None) == (self.eia is None), "EEA and EIA octets go together")

    def to_bytes(self) -> bytes:
        out = bytes([_set_to_bits(self.nea), _set_to_bits(self.nia)])
        if self.eea is not None and self.eia is not None:
            out += bytes([_set_to_bits(self.eea), _set_to_bits(self.eia)])
        return out

    @classmethod
    def from_bytes(cls, data: bytes) -> UeSecurityCapability:
        _need(2 <= len(data) <= 8, f"UE security capability of invalid length {len(data)} (2..8)")
        eea = _bits_to_set(data[2]) if len(data) >= 3 else None
        eia = _bits_to_set(data[3]) if len(data) >= 4 else (frozenset() if eea is not None else None)
        return cls(_bits_to_set(data[0]), _bits_to_set(data[1]), eea, eia)  # octets 7-10 are spare


@dataclass(frozen=True)
class NasSecurityAlgorithms:
    """NAS security algorithms (TS 24.501 9.11.3.34): selected 5G-EA (bits 5-8) and 5G-IA (1-4)."""

    ciphering: int = 0
    integrity: int = 0

    def __post_init__(self) -> None:
        _check(0 <= self.ciphering <= 7 and 0 <= self.integrity <= 7, "algorithm ids are 0..7")

    def to_bytes(self) -> bytes:
        return bytes([(self.ciphering << 4) | self.integrity])

    @classmethod
    def from_bytes(cls, data: bytes) -> NasSecurityAlgorithms:
        _need(len(data) == 1, "NAS security algorithms must be 1 octet")
        c, i = data[0] >> 4, data[0] & 0xF
        _need(c <= 7 and i <= 7, f"reserved NAS security algorithm value 0x{data[0]:02x}")
        return cls(c, i)


@dataclass(frozen=True)
class Additional5gSecurityInformation:
    """Additional 5G security information (TS 24.501 9.11.3.12): RINMR (retransmission of the
    initial NAS message requested, bit 2) and HDP (horizontal derivation parameter, bit 1)."""

    retransmission_requested: bool = False
    horizontal_derivation: bool = False

    def to_bytes(self) -> bytes:
        return bytes([(self.retransmission_requested << 1) | self.horizontal_derivation])

    @classmethod
    def from_bytes(cls, data: bytes) -> Additional5gSecurityInformation:
        _need(len(data) >= 1, "additional 5G security information is empty")
        return cls(bool(data[0] & 2), bool(data[0] & 1))


# --------------------------------------------------------------------------- registration IEs


@dataclass(frozen=True)
class UeStatus:
    """UE status (TS 24.501 9.11.3.56): N1 mode (bit 2) and S1 mode (bit 1) registration state."""

    n1_mode_registered: bool = False
    s1_mode_registered: bool = False

    def to_bytes(self) -> bytes:
        return bytes([(self.n1_mode_registered << 1) | self.s1_mode_registered])

    @classmethod
    def from_bytes(cls, data: bytes) -> UeStatus:
        _need(len(data) >= 1, "UE status is empty")
        return cls(bool(data[0] & 2), bool(data[0] & 1))


@dataclass(frozen=True)
class RegistrationResult:
    """5GS registration result (TS 24.501 9.11.3.6)."""

    value: RegistrationResultValue | int = RegistrationResultValue.THREEGPP_ACCESS
    sms_allowed: bool = False
    nssaa_performed: bool = False
    emergency_registered: bool = False

    def __post_init__(self) -> None:
        _check(0 <= int(self.value) <= 7, "registration result value is 3 bits")

    def to_bytes(self) -> bytes:
        return bytes([(self.emergency_registered << 5) | (self.nssaa_performed << 4)
                      | (self.sms_allowed << 3) | int(self.value)])

    @classmethod
    def from_bytes(cls, data: bytes) -> RegistrationResult:
        _need(len(data) >= 1, "5GS registration result is empty")
        b = data[0]
        return cls(enum_or_int(RegistrationResultValue, b & 7), bool(b & 8), bool(b & 0x10), bool(b & 0x20))


@dataclass(frozen=True)
class DeregistrationType:
    """De-registration type (TS 24.501 9.11.3.20), a half octet."""

    access_type: DeregistrationAccessType | int = DeregistrationAccessType.THREEGPP
    switch_off: bool = False
    re_registration_required: bool = False  # network to UE only

    def __post_init__(self) -> None:
        _check(0 <= int(self.access_type) <= 3, "access type is 2 bits")

    def to_nibble(self) -> int:
        return (self.switch_off << 3) | (self.re_registration_required << 2) | int(self.access_type)

    @classmethod
    def from_nibble(cls, value: int) -> DeregistrationType:
        return cls(enum_or_int(DeregistrationAccessType, value & 3), bool(value & 8), bool(value & 4))


@dataclass(frozen=True)
class ConfigurationUpdateIndication:
    """Configuration update indication (TS 24.501 9.11.3.18), a half octet."""

    acknowledgement_requested: bool = False
    registration_requested: bool = False

    def to_nibble(self) -> int:
        return (self.registration_requested << 1) | self.acknowledgement_requested

    @classmethod
    def from_nibble(cls, value: int) -> ConfigurationUpdateIndication:
        return cls(bool(value & 1), bool(value & 2))


class _Timer:
    _UNITS: ClassVar[dict[int, int]] = {}
    unit: int
    value: int

    def __post_init__(self) -> None:
        _check(0 <= self.unit <= 7 and 0 <= self.value <= 31, f"invalid timer {self.unit}/{self.value}")

    @property
    def deactivated(self) -> bool:
        return self.unit == 7

    @property
    def seconds(self) -> int | None:
        """Timer value in seconds, None when deactivated (or a reserved unit)."""
        mult = self._UNITS.get(self.unit)
        return None if mult is None else mult * self.value

    def to_bytes(self) -> bytes:
        return bytes([(self.unit << 5) | self.value])

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        _need(len(data) == 1, "GPRS timer value must be 1 octet")
        return cls(data[0] >> 5, data[0] & 0x1F)

    @classmethod
    def from_seconds(cls, seconds: int | None) -> Self:
        """The exact encoding of ``seconds`` with the finest unit (None -> deactivated)."""
        if seconds is None:
            return cls(7, 0)
        for unit, mult in sorted(cls._UNITS.items(), key=lambda kv: kv[1]):
            if seconds % mult == 0 and seconds // mult <= 31:
                return cls(unit, seconds // mult)
        raise ValueError(f"{seconds} s cannot be encoded exactly in a {cls.__name__}")


@dataclass(frozen=True)
class GprsTimer(_Timer):
    """GPRS timer (TS 24.008 10.5.7.3), used for T3502, T3346, T3448: units 2 s, 1 min, 6 min."""

    unit: int
    value: int
    _UNITS: ClassVar[dict[int, int]] = {0: 2, 1: 60, 2: 360}


@dataclass(frozen=True)
class GprsTimer3(_Timer):
    """GPRS timer 3 (TS 24.008 10.5.7.4a), used for T3512 and the back-off timer."""

    unit: int
    value: int
    _UNITS: ClassVar[dict[int, int]] = {3: 2, 4: 30, 5: 60, 0: 600, 1: 3600, 2: 36000, 6: 1152000}


# --------------------------------------------------------------------------- CAG information list


@dataclass(frozen=True)
class CagInfo:
    """One entry of the CAG information list (TS 24.501 9.11.3.18A): a PLMN, its Allowed CAG list
    (32-bit CAG-IDs, TS 23.003) and the "CAG-only" indication (the UE may access 5GS only via CAG
    cells of that PLMN)."""

    plmn: PlmnId
    cag_ids: tuple[int, ...] = ()
    cag_only: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "cag_ids", tuple(self.cag_ids))
        _check(all(0 <= c <= 0xFFFFFFFF for c in self.cag_ids), "CAG-IDs are 32-bit")
        _check(len(self.cag_ids) <= 62, "too many CAG-IDs for one entry (length octet)")


def encode_cag_info_list(entries: Iterable[CagInfo]) -> bytes:
    """CAG information list value (TS 24.501 9.11.3.18A, figure 9.11.3.18A.2).

    Each entry is: length of entry contents (4 + 4 * number of CAG-IDs), MCC/MNC, one octet whose
    bit 1 is the CAG-only indication, then the CAG-IDs. (pycrate 0.8.1's ``CAGInfo`` lacks the
    CAG-only octet, hence this hand-written codec.)
    """
    entries = list(entries)
    plmns = [e.plmn for e in entries]
    _check(len(set(plmns)) == len(plmns), "at most one entry per PLMN (TS 24.501 9.11.3.18A NOTE 4)")
    out = b""
    for e in entries:
        body = e.plmn.to_bytes() + bytes([int(e.cag_only)]) + b"".join(c.to_bytes(4, "big") for c in e.cag_ids)
        out += bytes([len(body)]) + body
    return out


def decode_cag_info_list(data: bytes) -> tuple[CagInfo, ...]:
    pos, out = 0, []
    while pos < len(data):
        n = data[pos]
        _need(n >= 4 and (n - 4) % 4 == 0, f"CAG information entry of invalid length {n}")
        _need(pos + 1 + n <= len(data), "CAG information list: truncated entry")
        body = data[pos + 1:pos + 1 + n]
        ids = tuple(int.from_bytes(body[i:i + 4], "big") for i in range(4, n, 4))
        out.append(CagInfo(PlmnId.from_bytes(body[:3]), ids, bool(body[3] & 1)))
        pos += 1 + n
    plmns = [e.plmn for e in out]
    _need(len(set(plmns)) == len(plmns), "CAG information list: two entries for one PLMN")
    return tuple(out)


# --------------------------------------------------------------------------- PDU session status


def encode_pdu_session_status(psis: Iterable[int]) -> bytes:
    """PDU session status / uplink data status / allowed PDU session status value
    (TS 24.501 9.11.3.44, 9.11.3.57, 9.11.3.13): a bitmap of PSI 1..15 (PSI 0 is spare)."""
    bits = 0
    for psi in psis:
        _check(1 <= psi <= 15, f"PSI out of range: {psi}")
        bits |= 1 << psi
    return bytes([bits & 0xFF, bits >> 8])


def decode_pdu_session_status(data: bytes) -> frozenset[int]:
    _need(len(data) >= 2, "PDU session status shorter than 2 octets")
    bits = data[0] | (data[1] << 8)  # octets 5-34 are spare
    return frozenset(i for i in range(1, 16) if bits & (1 << i))


# --------------------------------------------------------------------------- 5GSM IEs


def encode_dnn(dnn: str) -> bytes:
    """DNN value (TS 24.501 9.11.2.1B): the APN encoding of TS 23.003 9.1 (length-prefixed labels)."""
    labels = dnn.split(".")
    _check(all(0 < len(lab) < 64 and lab.isascii() and lab.isprintable() for lab in labels),
           f"invalid DNN {dnn!r}")
    out = b"".join(bytes([len(lab)]) + lab.encode() for lab in labels)
    _check(len(out) <= 100, "DNN longer than 100 octets")
    return out


def decode_dnn(data: bytes) -> str:
    _need(1 <= len(data) <= 100, f"DNN of invalid length {len(data)}")
    pos, labels = 0, []
    while pos < len(data):
        n = data[pos]
        _need(0 < n and pos + 1 + n <= len(data), "DNN: bad label length")
        label = data[pos + 1:pos + 1 + n]
        _need(all(0x21 <= c <= 0x7E and c != 0x2E for c in label), "DNN: label is not printable ASCII")
        labels.append(label.decode())
        pos += 1 + n
    return ".".join(labels)


@dataclass(frozen=True)
class IntegrityProtectionMaxDataRate:
    """Integrity protection maximum data rate (TS 24.501 9.11.4.7): per direction 0x00 = 64 kbps,
    0x01 = NULL, 0xFF = full data rate."""

    uplink: int = 0xFF
    downlink: int = 0xFF

    def __post_init__(self) -> None:
        _check(0 <= self.uplink <= 255 and 0 <= self.downlink <= 255, "octet values")

    def to_bytes(self) -> bytes:
        return bytes([self.uplink, self.downlink])

    @classmethod
    def from_bytes(cls, data: bytes) -> IntegrityProtectionMaxDataRate:
        _need(len(data) == 2, "integrity protection maximum data rate must be 2 octets")
        return cls(data[0], data[1])


@dataclass(frozen=True)
class SessionAmbr:
    """Session-AMBR (TS 24.501 9.11.4.14): per direction a unit code and a 16-bit multiplier.
    See :meth:`unit_bps` for the units (table 9.11.4.14.1)."""

    downlink_unit: int
    downlink: int
    uplink_unit: int
    uplink: int

    def __post_init__(self) -> None:
        _check(all(0 <= u <= 255 for u in (self.downlink_unit, self.uplink_unit)), "unit is 1 octet")
        _check(all(0 <= v <= 0xFFFF for v in (self.downlink, self.uplink)), "value is 16 bits")

    @staticmethod
    def unit_bps(unit: int) -> int | None:
        """Bits per second of one step of ``unit``: 1 -> 1 kbps, 2 -> 4 kbps, ... 5 -> 256 kbps,
        6 -> 1 Mbps, ... 11 -> 1 Gbps, 16 -> 1 Tbps, 21 -> 1 Pbps, 25 -> 256 Pbps (table 9.11.4.14.1)."""
        if not 1 <= unit <= 25:
            return None
        return 1000 ** (1 + (unit - 1) // 5) * 4 ** ((unit - 1) % 5)

    @property
    def downlink_bps(self) -> int | None:
        bps = self.unit_bps(self.downlink_unit)
        return None if bps is None else bps * self.downlink

    @property
    def uplink_bps(self) -> int | None:
        bps = self.unit_bps(self.uplink_unit)
        return None if bps is None else bps * self.uplink

    def to_bytes(self) -> bytes:
        return (bytes([self.downlink_unit]) + self.downlink.to_bytes(2, "big")
                + bytes([self.uplink_unit]) + self.uplink.to_bytes(2, "big"))

    @classmethod
    def from_bytes(cls, data: bytes) -> SessionAmbr:
        _need(len(data) == 6, "session-AMBR must be 6 octets")
        return cls(data[0], int.from_bytes(data[1:3], "big"), data[3], int.from_bytes(data[4:6], "big"))


@dataclass(frozen=True)
class PduAddress:
    """PDU address (TS 24.501 9.11.4.10): IPv4 address and/or IPv6 interface identifier, and
    optionally the SMF's IPv6 link local address."""

    pdu_session_type: PduSessionType | int = PduSessionType.IPV4
    ipv4: str | None = None
    ipv6_interface_id: bytes | None = None
    smf_ipv6_link_local: str | None = None

    def __post_init__(self) -> None:
        t = int(self.pdu_session_type)
        _check(t in (1, 2, 3), "PDU address type must be IPv4, IPv6 or IPv4v6")
        _check((self.ipv4 is not None) == (t in (1, 3)), "IPv4 address present iff type IPv4/IPv4v6")
        _check((self.ipv6_interface_id is not None) == (t in (2, 3)), "IPv6 IID present iff type IPv6/IPv4v6")
        if self.ipv4 is not None:
            ipaddress.IPv4Address(self.ipv4)
        _check(self.ipv6_interface_id is None or len(self.ipv6_interface_id) == 8, "IPv6 IID is 8 octets")
        if self.smf_ipv6_link_local is not None:
            ipaddress.IPv6Address(self.smf_ipv6_link_local)

    def to_bytes(self) -> bytes:
        t = int(self.pdu_session_type)
        out = bytes([((self.smf_ipv6_link_local is not None) << 3) | t])
        if self.ipv6_interface_id is not None:
            out += self.ipv6_interface_id
        if self.ipv4 is not None:
            out += ipaddress.IPv4Address(self.ipv4).packed
        if self.smf_ipv6_link_local is not None:
            out += ipaddress.IPv6Address(self.smf_ipv6_link_local).packed
        return out

    @classmethod
    def from_bytes(cls, data: bytes) -> PduAddress:
        _need(len(data) >= 1, "PDU address is empty")
        t, si6lla = data[0] & 7, bool(data[0] & 8)
        size = {1: 4, 2: 8, 3: 12}.get(t)
        _need(size is not None, f"PDU address of unsupported type {t}")
        assert size is not None
        _need(len(data) == 1 + size + (16 if si6lla else 0), "PDU address of invalid length")
        addr = data[1:1 + size]
        ipv4 = str(ipaddress.IPv4Address(addr[-4:])) if t in (1, 3) else None
        iid = bytes(addr[:8]) if t in (2, 3) else None
        lla = str(ipaddress.IPv6Address(data[1 + size:])) if si6lla else None
        return cls(PduSessionType(t), ipv4, iid, lla)


@dataclass(frozen=True)
class PacketFilter:
    """One packet filter of a QoS rule (TS 24.501 9.11.4.13, figure 9.11.4.13.3): direction
    (1 downlink, 2 uplink, 3 bidirectional), 4-bit identifier and the raw packet filter contents
    (components, table 9.11.4.13.1; ``MATCH_ALL`` is the single "match-all" component)."""

    identifier: int
    direction: int = 3
    contents: bytes = b"\x01"

    MATCH_ALL: ClassVar[bytes] = b"\x01"

    def __post_init__(self) -> None:
        _check(0 <= self.identifier <= 15 and 0 <= self.direction <= 3, "packet filter id/direction")
        _check(len(self.contents) <= 255, "packet filter contents longer than 255 octets")


@dataclass(frozen=True)
class QosRule:
    """QoS rule (TS 24.501 9.11.4.13).

    ``operation``: 1 create new, 2 delete, 3 modify and add filters, 4 modify and replace filters,
    5 modify and delete filters (the filters then only carry identifiers), 6 modify without
    modifying filters. ``precedence`` and ``qfi`` are absent for "delete".
    """

    identifier: int
    operation: int = 1
    default_rule: bool = False
    packet_filters: tuple[PacketFilter, ...] = ()
    precedence: int | None = None
    qfi: int | None = None
    segregation: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "packet_filters", tuple(self.packet_filters))
        _check(0 <= self.identifier <= 255 and 0 <= self.operation <= 7, "QoS rule id/operation")
        _check(len(self.packet_filters) <= 15, "at most 15 packet filters")
        _check(self.precedence is None or 0 <= self.precedence <= 255, "precedence is 1 octet")
        _check(self.qfi is None or 0 <= self.qfi <= 63, "QFI is 6 bits")
        _check(self.qfi is None or self.precedence is not None, "the QFI octet follows the precedence")
        _check(self.qfi is not None or not self.segregation, "segregation is in the QFI octet")
        if self.operation in (2, 6):
            _check(not self.packet_filters, f"operation {self.operation} carries no packet filters")


def encode_qos_rules(rules: Iterable[QosRule]) -> bytes:
    """QoS rules value (TS 24.501 9.11.4.13, figure 9.11.4.13.2)."""
    out = b""
    for r in rules:
        body = bytes([(r.operation << 5) | (r.default_rule << 4) | len(r.packet_filters)])
        for f in r.packet_filters:
            if r.operation == 5:
                body += bytes([f.identifier])
            else:
                body += bytes([(f.direction << 4) | f.identifier, len(f.contents)]) + f.contents
        if r.precedence is not None:
            body += bytes([r.precedence])
        if r.qfi is not None:
            body += bytes([(r.segregation << 6) | r.qfi])
        out += bytes([r.identifier]) + len(body).to_bytes(2, "big") + body
    _check(4 <= len(out) <= 65535, "QoS rules value must be 4..65535 octets")
    return out


def decode_qos_rules(data: bytes) -> tuple[QosRule, ...]:
    _need(len(data) >= 4, "QoS rules too short")
    pos, out = 0, []
    while pos < len(data):
        _need(pos + 4 <= len(data), "QoS rule: truncated header")
        rid, n = data[pos], int.from_bytes(data[pos + 1:pos + 3], "big")
        end = pos + 3 + n
        _need(n >= 1 and end <= len(data), "QoS rule: bad length")
        hdr = data[pos + 3]
        op, dqr, nfilt = hdr >> 5, bool(hdr & 0x10), hdr & 0xF
        _need(op not in (0, 7), f"QoS rule: reserved operation code {op}")
        _need(not (op in (2, 6) and nfilt), f"QoS rule: operation {op} with packet filters")
        p, filters = pos + 4, []
        for _ in range(nfilt):
            _need(p < end, "QoS rule: truncated packet filter")
            if op == 5:
                filters.append(PacketFilter(data[p] & 0xF, 0, b""))
                p += 1
                continue
            _need(p + 2 <= end, "QoS rule: truncated packet filter")
            flen = data[p + 1]
            _need(flen >= 1 and p + 2 + flen <= end, "QoS rule: bad packet filter length")
            filters.append(PacketFilter(data[p] & 0xF, (data[p] >> 4) & 3, bytes(data[p + 2:p + 2 + flen])))
            p += 2 + flen
        prec = qfi = None
        seg = False
        if p < end:
            prec = data[p]
            p += 1
        if p < end:
            qfi, seg = data[p] & 0x3F, bool(data[p] & 0x40)
            p += 1
        _need(p == end, "QoS rule: trailing octets")
        out.append(QosRule(rid, op, dqr, tuple(filters), prec, qfi, seg))
        pos = end
    return tuple(out)
