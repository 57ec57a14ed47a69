"""Typed NGAP information elements (TS 38.413 clause 9.3) and their pycrate value forms.

Callers use the frozen dataclasses; the ``*_to_asn`` / ``*_from_asn`` functions
convert to and from pycrate's value representation (dict for SEQUENCE,
``(name, value)`` for CHOICE, ``(uint, bitlen)`` for BIT STRING) and are used
only inside this package. ``*_to_asn`` validates and raises ``ValueError``;
``*_from_asn`` raises :class:`DecodeError` on semantically invalid content.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from testbed.crypto.identity import plmn_from_bytes, plmn_to_bytes
from testbed.errors import DecodeError

_DIGITS = frozenset("0123456789")


def check_uint(name: str, value: object, bits: int) -> int:
    """Return ``value`` if it is an int in [0, 2**bits); raise ``ValueError`` otherwise."""
    if type(value) is not int or value < 0 or value >> bits:
        raise ValueError(f"{name} must be an unsigned {bits}-bit integer, got {value!r}")
    return value


def check_bytes(name: str, value: object, min_len: int = 0, max_len: int | None = None) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise ValueError(f"{name} must be bytes, got {type(value).__name__}")
    if len(value) < min_len or (max_len is not None and len(value) > max_len):
        raise ValueError(f"{name} length {len(value)} outside [{min_len}, {max_len}]")
    return bytes(value)


# --- PLMN identity (TS 38.413 9.3.3.5, coded as in TS 24.008 10.5.1.13) ------------

@dataclass(frozen=True, slots=True)
class Plmn:
    """PLMN identity: 3-digit MCC and 2- or 3-digit MNC, as decimal strings."""

    mcc: str
    mnc: str

    def __post_init__(self) -> None:
        if not (isinstance(self.mcc, str) and len(self.mcc) == 3 and set(self.mcc) <= _DIGITS):
            raise ValueError(f"MCC must be 3 decimal digits, got {self.mcc!r}")
        if not (isinstance(self.mnc, str) and len(self.mnc) in (2, 3) and set(self.mnc) <= _DIGITS):
            raise ValueError(f"MNC must be 2 or 3 decimal digits, got {self.mnc!r}")

    @classmethod
    def parse(cls, text: str) -> Plmn:
        """``"001-01"``, ``"001/001"``, ``"00101"`` (5 digits: 2-digit MNC) or ``"001001"``."""
        digits = text.replace("-", "").replace("/", "").strip()
        if len(digits) not in (5, 6):
            raise ValueError(f"cannot parse PLMN {text!r}")
        return cls(digits[:3], digits[3:])

    def to_bytes(self) -> bytes:
        return _plmn_bytes(self.mcc, self.mnc)

    @classmethod
    def from_bytes(cls, data: bytes) -> Plmn:
        """Decode the 3-octet BCD form; raises :class:`DecodeError` on bad digits."""
        return _plmn_from_bytes(bytes(data))

    def __str__(self) -> str:
        return f"{self.mcc}-{self.mnc}"


@lru_cache(maxsize=256)
def _plmn_bytes(mcc: str, mnc: str) -> bytes:
    return plmn_to_bytes(mcc, mnc)


@lru_cache(maxsize=256)
def _plmn_from_bytes(data: bytes) -> Plmn:
    return Plmn(*plmn_from_bytes(data))


def plmn_from_asn(v: bytes) -> Plmn:
    return _plmn_from_bytes(v)


# --- small IEs --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Snssai:
    """S-NSSAI (9.3.1.24): SST (8 bits) and optional SD (24 bits)."""

    sst: int
    sd: int | None = None

    def __post_init__(self) -> None:
        check_uint("SST", self.sst, 8)
        if self.sd is not None:
            check_uint("SD", self.sd, 24)


def snssai_to_asn(s: Snssai) -> dict:
    if not isinstance(s, Snssai):
        raise ValueError(f"expected Snssai, got {type(s).__name__}")
    v: dict[str, Any] = {"sST": bytes((s.sst,))}
    if s.sd is not None:
        v["sD"] = s.sd.to_bytes(3, "big")
    return v


def snssai_from_asn(v: dict) -> Snssai:
    sd = v.get("sD")
    return Snssai(v["sST"][0], int.from_bytes(sd, "big") if sd is not None else None)


@dataclass(frozen=True, slots=True)
class Tai:
    """Tracking area identity (9.3.3.11): PLMN + 24-bit TAC."""

    plmn: Plmn
    tac: int

    def __post_init__(self) -> None:
        check_uint("TAC", self.tac, 24)


def tai_to_asn(t: Tai) -> dict:
    return {"pLMNIdentity": t.plmn.to_bytes(), "tAC": t.tac.to_bytes(3, "big")}


def tai_from_asn(v: dict) -> Tai:
    return Tai(plmn_from_asn(v["pLMNIdentity"]), int.from_bytes(v["tAC"], "big"))


@dataclass(frozen=True, slots=True)
class NrCgi:
    """NR cell global identity (9.3.1.7): PLMN + 36-bit NR cell identity."""

    plmn: Plmn
    nci: int

    def __post_init__(self) -> None:
        check_uint("NR cell identity", self.nci, 36)


def nr_cgi_to_asn(c: NrCgi) -> dict:
    return {"pLMNIdentity": c.plmn.to_bytes(), "nRCellIdentity": (c.nci, 36)}


def nr_cgi_from_asn(v: dict) -> NrCgi:
    return NrCgi(plmn_from_asn(v["pLMNIdentity"]), v["nRCellIdentity"][0])


@dataclass(frozen=True, slots=True)
class UserLocationNR:
    """User Location Information for NR (9.3.1.16): NR-CGI and TAI."""

    nr_cgi: NrCgi
    tai: Tai


def uli_to_asn(u: UserLocationNR) -> tuple:
    if not isinstance(u, UserLocationNR):
        raise ValueError(f"expected UserLocationNR, got {type(u).__name__}")
    return ("userLocationInformationNR", {"nR-CGI": nr_cgi_to_asn(u.nr_cgi), "tAI": tai_to_asn(u.tai)})


def uli_from_asn(v: tuple) -> UserLocationNR:
    if v[0] != "userLocationInformationNR":
        raise DecodeError(f"unsupported User Location Information alternative {v[0]}")
    return UserLocationNR(nr_cgi_from_asn(v[1]["nR-CGI"]), tai_from_asn(v[1]["tAI"]))


@dataclass(frozen=True, slots=True)
class Guami:
    """GUAMI (9.3.3.3): PLMN, AMF Region ID (8 bits), AMF Set ID (10 bits), AMF Pointer (6 bits)."""

    plmn: Plmn
    amf_region_id: int
    amf_set_id: int
    amf_pointer: int

    def __post_init__(self) -> None:
        check_uint("AMF Region ID", self.amf_region_id, 8)
        check_uint("AMF Set ID", self.amf_set_id, 10)
        check_uint("AMF Pointer", self.amf_pointer, 6)


def guami_to_asn(g: Guami) -> dict:
    return {"pLMNIdentity": g.plmn.to_bytes(), "aMFRegionID": (g.amf_region_id, 8),
            "aMFSetID": (g.amf_set_id, 10), "aMFPointer": (g.amf_pointer, 6)}


def guami_from_asn(v: dict) -> Guami:
    return Guami(plmn_from_asn(v["pLMNIdentity"]), v["aMFRegionID"][0], v["aMFSetID"][0], v["aMFPointer"][0])


@dataclass(frozen=True, slots=True)
class FiveGSTmsi:
    """5G-S-TMSI (9.3.3.20): AMF Set ID (10 bits), AMF Pointer (6 bits), 5G-TMSI (32 bits)."""

    amf_set_id: int
    amf_pointer: int
    tmsi: int

    def __post_init__(self) -> None:
        check_uint("AMF Set ID", self.amf_set_id, 10)
        check_uint("AMF Pointer", self.amf_pointer, 6)
        check_uint("5G-TMSI", self.tmsi, 32)

    def to_int(self) -> int:
        """The 48-bit value (TS 23.003 2.11: AMF Set ID | AMF Pointer | 5G-TMSI)."""
        return (self.amf_set_id << 38) | (self.amf_pointer << 32) | self.tmsi

    @classmethod
    def from_int(cls, value: int) -> FiveGSTmsi:
        check_uint("5G-S-TMSI", value, 48)
        return cls(value >> 38, (value >> 32) & 0x3F, value & 0xFFFFFFFF)


def s_tmsi_to_asn(t: FiveGSTmsi) -> dict:
    if not isinstance(t, FiveGSTmsi):
        raise ValueError(f"expected FiveGSTmsi, got {type(t).__name__}")
    return {"aMFSetID": (t.amf_set_id, 10), "aMFPointer": (t.amf_pointer, 6), "fiveG-TMSI": t.tmsi.to_bytes(4, "big")}


def s_tmsi_from_asn(v: dict) -> FiveGSTmsi:
    return FiveGSTmsi(v["aMFSetID"][0], v["aMFPointer"][0], int.from_bytes(v["fiveG-TMSI"], "big"))


# --- Cause (9.3.1.2) -----------------------------------------------------------------

CAUSE_GROUPS = ("radioNetwork", "transport", "nas", "protocol", "misc")


@dataclass(frozen=True, slots=True)
class Cause:
    """NGAP Cause: ``group`` is one of :data:`CAUSE_GROUPS`, ``value`` the ASN.1 enumeration name.

    e.g. ``Cause("radioNetwork", "user-inactivity")``, ``Cause("nas", "normal-release")``,
    ``Cause("misc", "unknown-PLMN-or-SNPN")``. Values are checked against the ASN.1 on encode.
    """

    group: str
    value: str

    def __post_init__(self) -> None:
        if self.group not in CAUSE_GROUPS:
            raise ValueError(f"cause group must be one of {CAUSE_GROUPS}, got {self.group!r}")

    def __str__(self) -> str:
        return f"{self.group}/{self.value}"


_cause_values: dict[str, frozenset[str]] = {}


def _cause_names(group: str) -> frozenset[str]:
    names = _cause_values.get(group)
    if names is None:
        from pycrate_asn1dir import NGAP

        obj = NGAP.NGAP_IEs.Cause._cont[group]
        names = frozenset(obj._cont.keys())
        _cause_values[group] = names
    return names


def cause_to_asn(c: Cause) -> tuple:
    if not isinstance(c, Cause):
        raise ValueError(f"expected Cause, got {type(c).__name__}")
    if c.value not in _cause_names(c.group):
        raise ValueError(f"{c.value!r} is not a {c.group} cause value")
    return (c.group, c.value)


def cause_from_asn(v: tuple) -> Cause:
    if v[0] not in CAUSE_GROUPS:
        raise DecodeError(f"unsupported Cause alternative {v[0]}")
    if not isinstance(v[1], str) or v[1].startswith("_ext_"):
        # pycrate names an unknown extension value "_ext_<n>": newer than our Rel-18 ASN.1
        raise DecodeError(f"unknown {v[0]} cause value {v[1]!r}")
    return Cause(v[0], v[1])


# --- GTP tunnel (TS 38.413 9.3.2: UP Transport Layer Information, Transport Layer Address, GTP-TEID) ---

@dataclass(frozen=True, slots=True)
class GtpTunnel:
    """GTP-U tunnel endpoint: IPv4 or IPv6 address (both: ``address`` v4 and ``ipv6``) and 32-bit TEID."""

    address: str
    teid: int
    ipv6: str | None = None

    def __post_init__(self) -> None:
        check_uint("GTP-TEID", self.teid, 32)
        ip = ipaddress.ip_address(self.address)  # ValueError on junk
        if self.ipv6 is not None and (ip.version != 4 or ipaddress.ip_address(self.ipv6).version != 6):
            raise ValueError("GtpTunnel with two addresses needs address=IPv4 and ipv6=IPv6")


def transport_address_to_asn(address: str, ipv6: str | None = None) -> tuple[int, int]:
    ip = ipaddress.ip_address(address)
    if ipv6 is not None:
        return ((int(ip) << 128) | int(ipaddress.IPv6Address(ipv6)), 160)
    return (int(ip), 32 if ip.version == 4 else 128)


def transport_address_from_asn(v: tuple[int, int]) -> tuple[str, str | None]:
    """Transport Layer Address (TS 38.414 5.1): 32 bits IPv4, 128 bits IPv6, 160 bits both."""
    value, bits = v
    if bits == 32:
        return str(ipaddress.IPv4Address(value)), None
    if bits == 128:
        return str(ipaddress.IPv6Address(value)), None
    if bits == 160:
        return str(ipaddress.IPv4Address(value >> 128)), str(ipaddress.IPv6Address(value & ((1 << 128) - 1)))
    raise DecodeError(f"transport layer address of {bits} bits is neither IPv4, IPv6 nor both")


def gtp_tunnel_to_asn(t: GtpTunnel) -> tuple:
    if not isinstance(t, GtpTunnel):
        raise ValueError(f"expected GtpTunnel, got {type(t).__name__}")
    return ("gTPTunnel", {"transportLayerAddress": transport_address_to_asn(t.address, t.ipv6),
                          "gTP-TEID": t.teid.to_bytes(4, "big")})


def gtp_tunnel_from_asn(v: tuple) -> GtpTunnel:
    if v[0] != "gTPTunnel":
        raise DecodeError(f"unsupported UP transport layer information {v[0]}")
    addr, v6 = transport_address_from_asn(v[1]["transportLayerAddress"])
    return GtpTunnel(addr, int.from_bytes(v[1]["gTP-TEID"], "big"), v6)


# --- UE security capabilities (9.3.1.86) ----------------------------------------------

@dataclass(frozen=True, slots=True)
class UeSecurityCapabilities:
    """Each field is the 16-bit BIT STRING as an int, first bit = MSB (bit 15).

    NR encryption: 0x8000 = 128-NEA1, 0x4000 = 128-NEA2, 0x2000 = 128-NEA3 (NEA0 is
    always supported and has no bit); same layout for NIA and for E-UTRA EEA/EIA.
    """

    nr_encryption: int = 0xE000
    nr_integrity: int = 0xE000
    eutra_encryption: int = 0
    eutra_integrity: int = 0

    def __post_init__(self) -> None:
        for name in ("nr_encryption", "nr_integrity", "eutra_encryption", "eutra_integrity"):
            check_uint(name, getattr(self, name), 16)


def ue_sec_cap_to_asn(c: UeSecurityCapabilities) -> dict:
    return {"nRencryptionAlgorithms": (c.nr_encryption, 16), "nRintegrityProtectionAlgorithms": (c.nr_integrity, 16),
            "eUTRAencryptionAlgorithms": (c.eutra_encryption, 16),
            "eUTRAintegrityProtectionAlgorithms": (c.eutra_integrity, 16)}


def _bits16(v: tuple[int, int]) -> int:
    # extensible SIZE(16, ...): keep the first 16 bits of a longer string
    value, n = v
    return value >> (n - 16) if n >= 16 else value << (16 - n)


def ue_sec_cap_from_asn(v: dict) -> UeSecurityCapabilities:
    return UeSecurityCapabilities(_bits16(v["nRencryptionAlgorithms"]), _bits16(v["nRintegrityProtectionAlgorithms"]),
                                  _bits16(v["eUTRAencryptionAlgorithms"]),
                                  _bits16(v["eUTRAintegrityProtectionAlgorithms"]))


# --- Mobility Restriction List (9.3.1.85) with the NPN Mobility Information extension (allowed CAGs) ---

@dataclass(frozen=True, slots=True)
class AllowedCagList:
    """Allowed PNI-NPN item: the UE's Allowed CAG list for one PLMN.

    ``cag_only`` is the "PNI-NPN restricted" flag: the UE may access only CAG cells
    of that PLMN (TS 38.413 Allowed PNI-NPN List; TS 23.501 5.30.3.3).
    """

    plmn: Plmn
    cag_ids: tuple[int, ...]
    cag_only: bool = False

    def __post_init__(self) -> None:
        if not 1 <= len(self.cag_ids) <= 256:
            raise ValueError("allowed CAG list needs 1..256 CAG IDs")
        for c in self.cag_ids:
            check_uint("CAG ID", c, 32)


@dataclass(frozen=True, slots=True)
class MobilityRestriction:
    """Mobility Restriction List: serving PLMN, equivalent PLMNs and (extension) allowed CAG lists."""

    serving_plmn: Plmn
    equivalent_plmns: tuple[Plmn, ...] = ()
    allowed_cag: tuple[AllowedCagList, ...] = ()


def mobility_restriction_to_asn(m: MobilityRestriction) -> dict:
    if not isinstance(m, MobilityRestriction):
        raise ValueError(f"expected MobilityRestriction, got {type(m).__name__}")
    v: dict[str, Any] = {"servingPLMN": m.serving_plmn.to_bytes()}
    if m.equivalent_plmns:
        if len(m.equivalent_plmns) > 15:
            raise ValueError("at most 15 equivalent PLMNs")
        v["equivalentPLMNs"] = [p.to_bytes() for p in m.equivalent_plmns]
    if m.allowed_cag:
        if len(m.allowed_cag) > 16:
            raise ValueError("at most 16 allowed PNI-NPN items")
        items = [{"pLMNIdentity": a.plmn.to_bytes(),
                  "pNI-NPN-restricted": "restricted" if a.cag_only else "not-restricted",
                  "allowed-CAG-List-per-PLMN": [(c, 32) for c in a.cag_ids]} for a in m.allowed_cag]
        v["iE-Extensions"] = [{"id": 261, "criticality": "reject",
                               "extensionValue": ("NPN-MobilityInformation",
                                                  ("pNI-NPN-MobilityInformation", {"allowed-PNI-NPI-List": items}))}]
    return v


def mobility_restriction_from_asn(v: dict) -> MobilityRestriction:
    allowed: list[AllowedCagList] = []
    for ext in v.get("iE-Extensions", ()):
        if ext["id"] == 261:
            val = ext["extensionValue"][1]
            if val[0] == "pNI-NPN-MobilityInformation":
                for it in val[1]["allowed-PNI-NPI-List"]:
                    allowed.append(AllowedCagList(plmn_from_asn(it["pLMNIdentity"]),
                                                  tuple(c[0] for c in it["allowed-CAG-List-per-PLMN"]),
                                                  it["pNI-NPN-restricted"] == "restricted"))
    return MobilityRestriction(plmn_from_asn(v["servingPLMN"]),
                               tuple(plmn_from_asn(p) for p in v.get("equivalentPLMNs", ())), tuple(allowed))


# --- NG Setup IEs ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class GlobalGnbId:
    """Global gNB ID (Global RAN Node ID, gNB alternative): PLMN and a gNB ID of 22..32 bits."""

    plmn: Plmn
    gnb_id: int
    gnb_id_bits: int = 22

    def __post_init__(self) -> None:
        if not 22 <= self.gnb_id_bits <= 32:
            raise ValueError("gNB ID length must be 22..32 bits")
        check_uint("gNB ID", self.gnb_id, self.gnb_id_bits)


def global_ran_node_id_to_asn(g: GlobalGnbId) -> tuple:
    if not isinstance(g, GlobalGnbId):
        raise ValueError(f"expected GlobalGnbId, got {type(g).__name__}")
    return ("globalGNB-ID", {"pLMNIdentity": g.plmn.to_bytes(), "gNB-ID": ("gNB-ID", (g.gnb_id, g.gnb_id_bits))})


def global_ran_node_id_from_asn(v: tuple) -> GlobalGnbId:
    if v[0] != "globalGNB-ID" or v[1]["gNB-ID"][0] != "gNB-ID":
        raise DecodeError(f"unsupported Global RAN Node ID alternative {v[0]} (only gNBs are supported)")
    gid, bits = v[1]["gNB-ID"][1]
    return GlobalGnbId(plmn_from_asn(v[1]["pLMNIdentity"]), gid, bits)


# Testbed-private CAG ID extension of the Broadcast PLMN Item (NG SETUP REQUEST).
#
# TS 38.413 (up to Rel-18) gives NG SETUP REQUEST no IE for the CAG IDs of a CAG (PNI-NPN) cell:
# BroadcastPLMNItem-ExtIEs holds only NPN Support (258, an SNPN-only CHOICE), Extended Slice
# Support List (271) and TAI NSAG Support List (353); CAG IDs appear only per UE (NPN Access
# Information of INITIAL UE MESSAGE, 9.3.3.x Cell CAG List) and in the Mobility Restriction List.
# The femto architecture (TS 33.545, our design.md) wants the AMF to vet the CAG IDs a femto
# advertises before it serves UEs, so the testbed carries them in a ProtocolExtensionField
# (9.4.7 ProtocolExtensionContainer) of each Broadcast PLMN Item:
#   - id 65530: ProtocolExtensionID is INTEGER (0..65535) and 3GPP allocates ids from 0 upwards
#     (the Rel-18 maximum is in the 400s), so the top of the range will not collide;
#   - criticality ignore: a standard receiver that does not comprehend the id ignores the
#     extension and processes the rest of the message (TS 38.413 10.3.5, 10.2);
#   - value: the standard Cell CAG List type, CellCAGList ::= SEQUENCE (SIZE(1..maxnoofCAGSperCell))
#     OF CAG-ID, CAG-ID ::= BIT STRING (SIZE(32)), APER-encoded inside the open type (X.691 11.2).
TESTBED_CAG_EXTENSION_ID = 65530
"""ProtocolExtensionID of the testbed-private CAG ID list in BroadcastPLMNItem (criticality ignore)."""

MAX_CAGS_PER_CELL = 64
"""maxnoofCAGSperCell (TS 38.413 9.4.7): at most this many CAG IDs per Broadcast PLMN Item."""

_ID_NPN_SUPPORT = 258


@lru_cache(maxsize=1)
def _cell_cag_list() -> Any:
    from pycrate_asn1dir import NGAP

    return NGAP.NGAP_IEs.CellCAGList


def check_cag_ids(name: str, value: object, max_items: int = MAX_CAGS_PER_CELL) -> tuple[int, ...]:
    """Return ``value`` as a tuple of CAG IDs (each 0..2**32-1, TS 23.003 4.7.2), at most ``max_items``."""
    if not isinstance(value, tuple | list):
        raise ValueError(f"{name} must be a tuple of CAG IDs, got {type(value).__name__}")
    if len(value) > max_items:
        raise ValueError(f"{name}: {len(value)} CAG IDs, at most {max_items} allowed")
    return tuple(check_uint("CAG ID", c, 32) for c in value)


def _cag_ext_to_asn(cag_ids: tuple[int, ...]) -> dict:
    # the OPEN value is given as (pycrate object, value): pycrate encodes it with that type even
    # though the id is not in the BroadcastPLMNItem-ExtIEs class set (no table row is needed)
    return {"id": TESTBED_CAG_EXTENSION_ID, "criticality": "ignore",
            "extensionValue": (_cell_cag_list(), [(c, 32) for c in cag_ids])}


def _cag_ext_from_asn(value: Any) -> tuple[int, ...]:
    # an id outside the class set decodes as ("_unk_<n>", open type octets): decode those as CellCAGList
    if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], bytes)):
        raise DecodeError("testbed CAG ID extension: unexpected open type content")
    from . import _asn1

    items = _asn1.per_decode(_cell_cag_list(), value[1], True, "testbed CAG ID extension (CellCAGList)")
    return tuple(c[0] for c in items)


@dataclass(frozen=True, slots=True)
class BroadcastPlmn:
    """Broadcast PLMN Item of NG SETUP REQUEST (9.2.6.1): PLMN, TAI Slice Support List, SNPN NID, CAG IDs.

    ``nid`` is the 44-bit NID carried in the NPN Support extension (``id-NPN-Support``),
    which in TS 38.413 is a CHOICE with an SNPN alternative only. ``cag_ids`` are the
    CAG IDs the cell broadcasts for this PLMN (TS 38.331 SIB1 NPN-IdentityInfoList): the
    ASN.1 has no place for them in NG Setup, so they travel in the testbed-private
    extension :data:`TESTBED_CAG_EXTENSION_ID` (criticality ignore); at most
    :data:`MAX_CAGS_PER_CELL`, each 0..2**32-1; empty = no extension (a plain PLMN).
    """

    plmn: Plmn
    slices: tuple[Snssai, ...]
    nid: int | None = None
    cag_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= len(self.slices) <= 1024:
            raise ValueError("TAI slice support list needs 1..1024 S-NSSAIs")
        if self.nid is not None:
            check_uint("NID", self.nid, 44)
        object.__setattr__(self, "cag_ids", check_cag_ids("broadcast PLMN CAG IDs", self.cag_ids))


def _unique(ids: Any) -> tuple[int, ...]:
    return tuple(dict.fromkeys(ids))


@dataclass(frozen=True, slots=True)
class SupportedTa:
    """Supported TA Item of NG SETUP REQUEST (9.2.6.1): TAC and its Broadcast PLMN List."""

    tac: int
    broadcast_plmns: tuple[BroadcastPlmn, ...]

    def __post_init__(self) -> None:
        check_uint("TAC", self.tac, 24)
        if not 1 <= len(self.broadcast_plmns) <= 12:
            raise ValueError("broadcast PLMN list needs 1..12 items")

    @property
    def cag_ids(self) -> tuple[int, ...]:
        """The CAG IDs of all broadcast PLMNs of this TA, in order, without duplicates."""
        return _unique(c for bp in self.broadcast_plmns for c in bp.cag_ids)


def supported_ta_list_to_asn(tas: tuple[SupportedTa, ...] | list[SupportedTa]) -> list:
    if not 1 <= len(tas) <= 256:
        raise ValueError("supported TA list needs 1..256 items")
    out = []
    for ta in tas:
        plmns = []
        for bp in ta.broadcast_plmns:
            item: dict[str, Any] = {"pLMNIdentity": bp.plmn.to_bytes(),
                                    "tAISliceSupportList": [{"s-NSSAI": snssai_to_asn(s)} for s in bp.slices]}
            exts = []
            if bp.nid is not None:
                exts.append({"id": _ID_NPN_SUPPORT, "criticality": "reject",
                             "extensionValue": ("NPN-Support", ("sNPN", (bp.nid, 44)))})
            if bp.cag_ids:
                exts.append(_cag_ext_to_asn(check_cag_ids("broadcast PLMN CAG IDs", bp.cag_ids)))
            if exts:
                item["iE-Extensions"] = exts
            plmns.append(item)
        out.append({"tAC": ta.tac.to_bytes(3, "big"), "broadcastPLMNList": plmns})
    return out


def supported_ta_list_from_asn(v: list) -> tuple[SupportedTa, ...]:
    """Decode the Supported TA List; extensions other than NPN Support and the testbed CAG IDs are ignored."""
    out = []
    for ta in v:
        plmns = []
        for bp in ta["broadcastPLMNList"]:
            nid = None
            cag_ids: tuple[int, ...] | None = None
            for ext in bp.get("iE-Extensions", ()):
                if ext["id"] == _ID_NPN_SUPPORT and ext["extensionValue"][1][0] == "sNPN":
                    nid = ext["extensionValue"][1][1][0]
                elif ext["id"] == TESTBED_CAG_EXTENSION_ID:
                    if cag_ids is not None:
                        raise DecodeError("broadcast PLMN item: testbed CAG ID extension occurs twice")
                    cag_ids = _cag_ext_from_asn(ext["extensionValue"])
            plmns.append(BroadcastPlmn(plmn_from_asn(bp["pLMNIdentity"]),
                                       tuple(snssai_from_asn(s["s-NSSAI"]) for s in bp["tAISliceSupportList"]), nid,
                                       cag_ids or ()))
        out.append(SupportedTa(int.from_bytes(ta["tAC"], "big"), tuple(plmns)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class PlmnSupport:
    """PLMN Support Item of NG SETUP RESPONSE (9.2.6.2): PLMN and its slice support list."""

    plmn: Plmn
    slices: tuple[Snssai, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.slices) <= 1024:
            raise ValueError("slice support list needs 1..1024 S-NSSAIs")


def plmn_support_list_to_asn(items: tuple[PlmnSupport, ...] | list[PlmnSupport]) -> list:
    if not 1 <= len(items) <= 12:
        raise ValueError("PLMN support list needs 1..12 items")
    return [{"pLMNIdentity": p.plmn.to_bytes(), "sliceSupportList": [{"s-NSSAI": snssai_to_asn(s)} for s in p.slices]}
            for p in items]


def plmn_support_list_from_asn(v: list) -> tuple[PlmnSupport, ...]:
    return tuple(PlmnSupport(plmn_from_asn(p["pLMNIdentity"]),
                             tuple(snssai_from_asn(s["s-NSSAI"]) for s in p["sliceSupportList"])) for p in v)


def guami_list_to_asn(items: tuple[Guami, ...] | list[Guami]) -> list:
    if not 1 <= len(items) <= 256:
        raise ValueError("served GUAMI list needs 1..256 items")
    return [{"gUAMI": guami_to_asn(g)} for g in items]


def guami_list_from_asn(v: list) -> tuple[Guami, ...]:
    return tuple(guami_from_asn(g["gUAMI"]) for g in v)


def allowed_nssai_to_asn(items: tuple[Snssai, ...] | list[Snssai]) -> list:
    if not 1 <= len(items) <= 8:
        raise ValueError("allowed NSSAI needs 1..8 S-NSSAIs")
    return [{"s-NSSAI": snssai_to_asn(s)} for s in items]


def allowed_nssai_from_asn(v: list) -> tuple[Snssai, ...]:
    return tuple(snssai_from_asn(s["s-NSSAI"]) for s in v)


@dataclass(frozen=True, slots=True)
class UeAmbr:
    """UE/PDU session aggregate maximum bit rate, bit/s (9.3.1.58)."""

    dl: int
    ul: int

    def __post_init__(self) -> None:
        check_uint("DL bit rate", self.dl, 42)
        check_uint("UL bit rate", self.ul, 42)
        if self.dl > 4000000000000 or self.ul > 4000000000000:
            raise ValueError("bit rate above 4e12 bit/s")


def ambr_to_asn(a: UeAmbr, prefix: str) -> dict:
    if not isinstance(a, UeAmbr):
        raise ValueError(f"expected UeAmbr, got {type(a).__name__}")
    return {f"{prefix}DL": a.dl, f"{prefix}UL": a.ul}


def ambr_from_asn(v: dict, prefix: str) -> UeAmbr:
    return UeAmbr(v[f"{prefix}DL"], v[f"{prefix}UL"])


@dataclass(frozen=True, slots=True)
class UeConnection:
    """UE-associated logical NG-connection item (NG Reset): either or both NGAP IDs."""

    amf_ue_ngap_id: int | None = None
    ran_ue_ngap_id: int | None = None

    def __post_init__(self) -> None:
        if self.amf_ue_ngap_id is None and self.ran_ue_ngap_id is None:
            raise ValueError("a UE connection item needs at least one NGAP ID")
        if self.amf_ue_ngap_id is not None:
            check_uint("AMF UE NGAP ID", self.amf_ue_ngap_id, 40)
        if self.ran_ue_ngap_id is not None:
            check_uint("RAN UE NGAP ID", self.ran_ue_ngap_id, 32)


def ue_connections_to_asn(items: tuple[UeConnection, ...] | list[UeConnection]) -> list:
    if not 1 <= len(items) <= 65536:
        raise ValueError("UE-associated logical NG-connection list needs 1..65536 items")
    out = []
    for c in items:
        d: dict[str, int] = {}
        if c.amf_ue_ngap_id is not None:
            d["aMF-UE-NGAP-ID"] = c.amf_ue_ngap_id
        if c.ran_ue_ngap_id is not None:
            d["rAN-UE-NGAP-ID"] = c.ran_ue_ngap_id
        out.append(d)
    return out


def ue_connections_from_asn(v: list) -> tuple[UeConnection, ...]:
    out = []
    for d in v:
        if "aMF-UE-NGAP-ID" not in d and "rAN-UE-NGAP-ID" not in d:
            raise DecodeError("UE-associated logical NG-connection item without any NGAP ID")
        out.append(UeConnection(d.get("aMF-UE-NGAP-ID"), d.get("rAN-UE-NGAP-ID")))
    return tuple(out)

