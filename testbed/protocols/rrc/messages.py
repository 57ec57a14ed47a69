"""Typed NR RRC messages (TS 38.331 clause 6.2) used between our femto gNB and UEs.

The set and the contents follow what the UERANSIM UE/gNB (v3.3.x) exchange over
the radio link simulation (UERANSIM ``src/gnb/rrc/broadcast.cpp``,
``connection.cpp``, ``handler.cpp``; ``src/ue/rrc/sysinfo.cpp``, ``handler.cpp``),
with the Rel-16 NPN (CAG) broadcast added to SIB1 for the femto's CAG cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

from testbed.errors import DecodeError
from testbed.protocols.ngap.ies import Plmn, check_bytes, check_uint


class Channel(IntEnum):
    """RRC logical channel; the numbers are the RLS PDU_TRANSMISSION ``payload`` values."""

    BCCH_BCH = 0
    BCCH_DL_SCH = 1
    DL_CCCH = 2
    DL_DCCH = 3
    PCCH = 4
    UL_CCCH = 5
    UL_CCCH1 = 6
    UL_DCCH = 7


# --- helpers -------------------------------------------------------------------------

def plmn_to_asn(p: Plmn) -> dict:
    """PLMN-Identity (TS 38.331 6.3.2): MCC and MNC as lists of digits."""
    if not isinstance(p, Plmn):
        raise ValueError(f"expected Plmn, got {type(p).__name__}")
    return {"mcc": [int(c) for c in p.mcc], "mnc": [int(c) for c in p.mnc]}


def plmns_from_asn(items: list[dict], prev_mcc: list[int] | None = None) -> tuple[Plmn, ...]:
    """A PLMN-Identity list; an absent MCC repeats the previous one (TS 38.331 PLMN-Identity, Cond MCC)."""
    out = []
    mcc = prev_mcc
    for it in items:
        mcc = it.get("mcc", mcc)
        if mcc is None:
            raise DecodeError("PLMN-Identity without MCC and no previous MCC")
        out.append(Plmn("".join(map(str, mcc)), "".join(map(str, it["mnc"]))))
    return tuple(out)


def _tid(v: object) -> int:
    if type(v) is not int or not 0 <= v <= 3:
        raise ValueError(f"RRC transaction identifier must be 0..3, got {v!r}")
    return v


def _nas(v: object) -> bytes:
    return check_bytes("dedicatedNAS-Message", v, 1)


def _nas_in(v: bytes) -> bytes:
    """A received DedicatedNAS-Message: ASN.1 allows an empty OCTET STRING, a NAS message cannot be
    empty (TS 24.501 9.1), so an empty one is malformed input."""
    if not v:
        raise DecodeError("empty dedicatedNAS-Message")
    return v


class RrcMessage:
    """Base of the typed RRC messages: ``channel`` and the ASN.1 ``c1`` alternative name."""

    __slots__ = ()
    channel: ClassVar[Channel]
    alt: ClassVar[str]

    def to_asn(self) -> Any:
        raise NotImplementedError

    @classmethod
    def from_asn(cls, v: Any) -> Any:
        raise NotImplementedError


@dataclass(slots=True)
class UnsupportedRrcMessage:
    """A well-formed RRC message of a type this codec does not model (e.g. RRCReconfiguration)."""

    channel: Channel
    name: str


# --- BCCH-BCH: MIB (6.2.2) ---------------------------------------------------------------

@dataclass(slots=True)
class Mib(RrcMessage):
    """MIB. Defaults are those of the UERANSIM gNB (broadcast.cpp ConstructMibMessage)."""

    cell_barred: bool = False
    intra_freq_reselection: bool = True
    system_frame_number: int = 0  # the 6 MSBs of the SFN
    scs_common: str = "scs15or60"
    ssb_subcarrier_offset: int = 0
    dmrs_type_a_position: str = "pos2"
    coreset_zero: int = 0
    search_space_zero: int = 0

    channel: ClassVar[Channel] = Channel.BCCH_BCH
    alt: ClassVar[str] = "mib"

    def to_asn(self) -> dict:
        if self.scs_common not in ("scs15or60", "scs30or120"):
            raise ValueError(f"bad subCarrierSpacingCommon {self.scs_common!r}")
        if self.dmrs_type_a_position not in ("pos2", "pos3"):
            raise ValueError(f"bad dmrs-TypeA-Position {self.dmrs_type_a_position!r}")
        return {"systemFrameNumber": (check_uint("SFN MSBs", self.system_frame_number, 6), 6),
                "subCarrierSpacingCommon": self.scs_common,
                "ssb-SubcarrierOffset": check_uint("ssb-SubcarrierOffset", self.ssb_subcarrier_offset, 4),
                "dmrs-TypeA-Position": self.dmrs_type_a_position,
                "pdcch-ConfigSIB1": {"controlResourceSetZero": check_uint("controlResourceSetZero", self.coreset_zero, 4),
                                     "searchSpaceZero": check_uint("searchSpaceZero", self.search_space_zero, 4)},
                "cellBarred": "barred" if self.cell_barred else "notBarred",
                "intraFreqReselection": "allowed" if self.intra_freq_reselection else "notAllowed",
                "spare": (0, 1)}

    @classmethod
    def from_asn(cls, v: dict) -> Mib:
        p = v["pdcch-ConfigSIB1"]
        return cls(v["cellBarred"] == "barred", v["intraFreqReselection"] == "allowed", v["systemFrameNumber"][0],
                   v["subCarrierSpacingCommon"], v["ssb-SubcarrierOffset"], v["dmrs-TypeA-Position"],
                   p["controlResourceSetZero"], p["searchSpaceZero"])


# --- BCCH-DL-SCH: SIB1 (6.2.2) -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PlmnIdentityInfo:
    """PLMN-IdentityInfo: PLMNs sharing one TAC and NR cell identity (36 bits)."""

    plmns: tuple[Plmn, ...]
    tac: int | None
    nci: int
    reserved_for_operator_use: bool = False

    def __post_init__(self) -> None:
        if not 1 <= len(self.plmns) <= 12:
            raise ValueError("plmn-IdentityList needs 1..12 PLMNs")
        if self.tac is not None:
            check_uint("TAC", self.tac, 24)
        check_uint("NR cell identity", self.nci, 36)


@dataclass(frozen=True, slots=True)
class PniNpn:
    """A PNI-NPN (CAG) identity: PLMN and its CAG IDs (32 bits each, TS 23.003 clause 28.2)."""

    plmn: Plmn
    cag_ids: tuple[int, ...]
    manual_selection_allowed: bool = False  # manualCAGselectionAllowed-r16 on every CAG ID

    def __post_init__(self) -> None:
        if not 1 <= len(self.cag_ids) <= 12:
            raise ValueError("cag-IdentityList-r16 needs 1..12 CAG IDs")
        for c in self.cag_ids:
            check_uint("CAG ID", c, 32)


@dataclass(frozen=True, slots=True)
class NpnIdentityInfo:
    """NPN-IdentityInfo-r16 with PNI-NPN (CAG) identities; SNPN identities are not modelled."""

    npns: tuple[PniNpn, ...]
    tac: int
    nci: int
    reserved_for_operator_use: bool = False

    def __post_init__(self) -> None:
        if not 1 <= len(self.npns) <= 12:
            raise ValueError("npn-IdentityList-r16 needs 1..12 NPN identities")
        check_uint("TAC", self.tac, 24)
        check_uint("NR cell identity", self.nci, 36)


@dataclass(slots=True)
class Sib1(RrcMessage):
    """SIB1 with cell access information (CellAccessRelatedInfo) and UAC barring information.

    - ``cell_reserved_for_other_use`` together with a non-empty ``npn_infos`` marks an
      NPN-only (here: CAG-only) cell: NPN-capable UEs treat it as a candidate, other UEs
      as barred (TS 38.304 5.3.1; "NPN-only Cell" definition in TS 38.331 clause 3.1).
    - ``uac_barring_for_access_identity`` (7 bits, AI 1, 2, 11..15) produces
      ``uac-BarringInfo`` with one barring info set and no per-category barring, so no
      access category is barred (TS 38.331 5.3.14.5). UERANSIM's gNB always sends
      uac-BarringInfo and UEs of that family read it unconditionally
      (``src/ue/rrc/sysinfo.cpp`` receiveSib1); ``None`` omits it.
    """

    plmn_infos: tuple[PlmnIdentityInfo, ...]
    cell_reserved_for_other_use: bool = False
    npn_infos: tuple[NpnIdentityInfo, ...] = ()
    uac_barring_for_access_identity: int | None = 0

    channel: ClassVar[Channel] = Channel.BCCH_DL_SCH
    alt: ClassVar[str] = "systemInformationBlockType1"

    @classmethod
    def for_cell(cls, plmn: Plmn, tac: int, nci: int, *, cag_ids: tuple[int, ...] = (), cag_only: bool = False,
                 reserved_for_operator_use: bool = False) -> Sib1:
        """SIB1 of a one-PLMN cell; with ``cag_ids`` a CAG cell, with ``cag_only`` a CAG-only cell."""
        if cag_only and not cag_ids:
            raise ValueError("a CAG-only cell must broadcast at least one CAG ID")
        npn = (NpnIdentityInfo((PniNpn(plmn, tuple(cag_ids)),), tac, nci, reserved_for_operator_use),) if cag_ids else ()
        return cls((PlmnIdentityInfo((plmn,), tac, nci, reserved_for_operator_use),), cag_only, npn)

    @property
    def plmn(self) -> Plmn:
        """The first PLMN of the first PLMN-IdentityInfo (what UERANSIM's UE uses)."""
        return self.plmn_infos[0].plmns[0]

    @property
    def tac(self) -> int | None:
        return self.plmn_infos[0].tac

    @property
    def nci(self) -> int:
        return self.plmn_infos[0].nci

    @property
    def cag_ids(self) -> tuple[int, ...]:
        """All CAG IDs broadcast in the NPN identity list."""
        return tuple(c for info in self.npn_infos for npn in info.npns for c in npn.cag_ids)

    @property
    def is_cag_only(self) -> bool:
        """TS 38.304 5.3.1: CAG IDs broadcast and cellReservedForOtherUse = true."""
        return self.cell_reserved_for_other_use and bool(self.cag_ids)

    def to_asn(self) -> dict:
        if not 1 <= len(self.plmn_infos) <= 12:
            raise ValueError("plmn-IdentityInfoList needs 1..12 items")
        infos = []
        for pi in self.plmn_infos:
            d: dict[str, Any] = {"plmn-IdentityList": [plmn_to_asn(p) for p in pi.plmns]}
            if pi.tac is not None:
                d["trackingAreaCode"] = (pi.tac, 24)
            d["cellIdentity"] = (pi.nci, 36)
            d["cellReservedForOperatorUse"] = "reserved" if pi.reserved_for_operator_use else "notReserved"
            infos.append(d)
        cari: dict[str, Any] = {"plmn-IdentityInfoList": infos}
        if self.cell_reserved_for_other_use:
            cari["cellReservedForOtherUse"] = "true"
        if self.npn_infos:
            if len(self.npn_infos) > 12:
                raise ValueError("npn-IdentityInfoList-r16 has at most 12 items")
            cari["npn-IdentityInfoList-r16"] = [{
                "npn-IdentityList-r16": [("pni-npn-r16", {
                    "plmn-Identity-r16": plmn_to_asn(n.plmn),
                    "cag-IdentityList-r16": [{"cag-Identity-r16": (c, 32), **(
                        {"manualCAGselectionAllowed-r16": "true"} if n.manual_selection_allowed else {})}
                        for c in n.cag_ids]}) for n in ni.npns],
                "trackingAreaCode-r16": (ni.tac, 24), "cellIdentity-r16": (ni.nci, 36),
                "cellReservedForOperatorUse-r16": "reserved" if ni.reserved_for_operator_use else "notReserved"}
                for ni in self.npn_infos]
        v: dict[str, Any] = {"cellAccessRelatedInfo": cari}
        if self.uac_barring_for_access_identity is not None:
            v["uac-BarringInfo"] = {"uac-BarringInfoSetList": [{
                "uac-BarringFactor": "p50", "uac-BarringTime": "s4",
                "uac-BarringForAccessIdentity": (check_uint("uac-BarringForAccessIdentity",
                                                            self.uac_barring_for_access_identity, 7), 7)}]}
        return v

    @classmethod
    def from_asn(cls, v: dict) -> Sib1:
        cari = v["cellAccessRelatedInfo"]
        infos = []
        mcc = None
        for pi in cari["plmn-IdentityInfoList"]:
            plmns = plmns_from_asn(pi["plmn-IdentityList"], mcc)
            mcc = [int(c) for c in plmns[-1].mcc]
            tac = pi.get("trackingAreaCode")
            infos.append(PlmnIdentityInfo(plmns, tac[0] if tac else None, pi["cellIdentity"][0],
                                          pi["cellReservedForOperatorUse"] == "reserved"))
        npn_infos = []
        for ni in cari.get("npn-IdentityInfoList-r16", ()):
            npns = []
            for alt, npn in ni["npn-IdentityList-r16"]:
                if alt != "pni-npn-r16":
                    continue  # SNPN identities are not modelled
                plmn = plmns_from_asn([npn["plmn-Identity-r16"]], mcc)[0]
                cags = npn["cag-IdentityList-r16"]
                npns.append(PniNpn(plmn, tuple(c["cag-Identity-r16"][0] for c in cags),
                                   all("manualCAGselectionAllowed-r16" in c for c in cags)))
            if npns:
                npn_infos.append(NpnIdentityInfo(tuple(npns), ni["trackingAreaCode-r16"][0], ni["cellIdentity-r16"][0],
                                                 ni["cellReservedForOperatorUse-r16"] == "reserved"))
        uac = v.get("uac-BarringInfo")
        ai = None
        if uac is not None and uac["uac-BarringInfoSetList"]:
            ai = uac["uac-BarringInfoSetList"][0]["uac-BarringForAccessIdentity"][0]
        return cls(tuple(infos), "cellReservedForOtherUse" in cari, tuple(npn_infos), ai)


# --- CCCH: RRCSetupRequest, RRCSetup, RRCReject (6.2.2) --------------------------------------

@dataclass(slots=True)
class RRCSetupRequest(RrcMessage):
    """RRCSetupRequest: a 39-bit random value, or ng-5G-S-TMSI-Part1 (the 39 LSBs of the 5G-S-TMSI)."""

    ue_identity: int
    establishment_cause: str = "mo-Signalling"
    identity_is_s_tmsi_part1: bool = False

    channel: ClassVar[Channel] = Channel.UL_CCCH
    alt: ClassVar[str] = "rrcSetupRequest"
    # EstablishmentCause values incl. spare1..6: the network decides what to do with a spare (TS 38.331 6.2.2)
    _CAUSES: ClassVar[frozenset[str]] = frozenset((
        "emergency", "highPriorityAccess", "mt-Access", "mo-Signalling", "mo-Data", "mo-VoiceCall", "mo-VideoCall",
        "mo-SMS", "mps-PriorityAccess", "mcs-PriorityAccess", "spare6", "spare5", "spare4", "spare3", "spare2",
        "spare1"))

    def to_asn(self) -> dict:
        if self.establishment_cause not in self._CAUSES:
            raise ValueError(f"bad establishment cause {self.establishment_cause!r}")
        ident = ("ng-5G-S-TMSI-Part1" if self.identity_is_s_tmsi_part1 else "randomValue",
                 (check_uint("ue-Identity", self.ue_identity, 39), 39))
        return {"rrcSetupRequest": {"ue-Identity": ident, "establishmentCause": self.establishment_cause,
                                    "spare": (0, 1)}}

    @classmethod
    def from_asn(cls, v: dict) -> RRCSetupRequest:
        ies = v["rrcSetupRequest"]
        alt, (value, _) = ies["ue-Identity"]
        return cls(value, ies["establishmentCause"], alt == "ng-5G-S-TMSI-Part1")


# CellGroupConfig with only cellGroupId 0, UPER: extension bit, 7 absent optionals, cellGroupId in 2 bits.
MINIMAL_MASTER_CELL_GROUP = b"\x00\x00"


@dataclass(slots=True)
class RRCSetup(RrcMessage):
    """RRCSetup with SRB1 in radioBearerConfig and a masterCellGroup (default: cellGroupId 0 only).

    UERANSIM's gNB sends an empty RadioBearerConfig and a CellGroupConfig with only
    cellGroupId 0 (``src/gnb/rrc/connection.cpp`` receiveRrcSetupRequest); its UE only
    takes the transaction identifier (``src/ue/rrc/connection.cpp`` receiveRrcSetup).
    We add the SRB1 entry every real RRCSetup carries (TS 38.331 5.3.3.4 / 5.3.5.6.3).
    ``master_cell_group`` is the UPER-encoded CellGroupConfig.
    """

    transaction_id: int = 0
    master_cell_group: bytes = MINIMAL_MASTER_CELL_GROUP

    channel: ClassVar[Channel] = Channel.DL_CCCH
    alt: ClassVar[str] = "rrcSetup"

    def to_asn(self) -> dict:
        return {"rrc-TransactionIdentifier": _tid(self.transaction_id),
                "criticalExtensions": ("rrcSetup", {
                    "radioBearerConfig": {"srb-ToAddModList": [{"srb-Identity": 1}]},
                    "masterCellGroup": check_bytes("masterCellGroup", self.master_cell_group, 1)})}

    @classmethod
    def from_asn(cls, v: dict) -> RRCSetup:
        ce = v["criticalExtensions"]
        if ce[0] != "rrcSetup":
            raise DecodeError("RRCSetup with criticalExtensionsFuture")
        mcg = ce[1]["masterCellGroup"]
        if isinstance(mcg, tuple):  # pycrate decoded the CONTAINING CellGroupConfig: hand back its encoding
            from .codec import encode_cell_group_config
            mcg = encode_cell_group_config(mcg[1])
        return cls(v["rrc-TransactionIdentifier"], mcg)


@dataclass(slots=True)
class RRCReject(RrcMessage):
    """RRCReject with an optional wait time (1..16 s)."""

    wait_time: int | None = None

    channel: ClassVar[Channel] = Channel.DL_CCCH
    alt: ClassVar[str] = "rrcReject"

    def to_asn(self) -> dict:
        ies: dict[str, Any] = {}
        if self.wait_time is not None:
            if type(self.wait_time) is not int or not 1 <= self.wait_time <= 16:
                raise ValueError("RRCReject wait time must be 1..16 s")
            ies["waitTime"] = self.wait_time
        return {"criticalExtensions": ("rrcReject", ies)}

    @classmethod
    def from_asn(cls, v: dict) -> RRCReject:
        ce = v["criticalExtensions"]
        if ce[0] != "rrcReject":
            raise DecodeError("RRCReject with criticalExtensionsFuture")
        return cls(ce[1].get("waitTime"))


# --- DCCH: RRCSetupComplete, UL/DL information transfer, RRCRelease (6.2.2) --------------------

@dataclass(frozen=True, slots=True)
class RegisteredAmf:
    """RegisteredAMF: optional PLMN and the 24-bit AMF Identifier (region 8 | set 10 | pointer 6)."""

    amf_identifier: int
    plmn: Plmn | None = None

    def __post_init__(self) -> None:
        check_uint("AMF-Identifier", self.amf_identifier, 24)


@dataclass(slots=True)
class RRCSetupComplete(RrcMessage):
    """RRCSetupComplete carrying the initial NAS message.

    ``selected_plmn_index`` is 1-based into SIB1's PLMN list (UERANSIM's UE always sends 1).
    ``s_tmsi`` is the full 48-bit ng-5G-S-TMSI, ``s_tmsi_part2`` its 9 MSBs (when the
    request carried ng-5G-S-TMSI-Part1).
    """

    nas_pdu: bytes
    transaction_id: int = 0
    selected_plmn_index: int = 1
    registered_amf: RegisteredAmf | None = None
    s_tmsi: int | None = None
    s_tmsi_part2: int | None = None

    channel: ClassVar[Channel] = Channel.UL_DCCH
    alt: ClassVar[str] = "rrcSetupComplete"

    def to_asn(self) -> dict:
        if type(self.selected_plmn_index) is not int or not 1 <= self.selected_plmn_index <= 12:
            raise ValueError("selectedPLMN-Identity must be 1..12")
        ies: dict[str, Any] = {"selectedPLMN-Identity": self.selected_plmn_index}
        if self.registered_amf is not None:
            ra: dict[str, Any] = {}
            if self.registered_amf.plmn is not None:
                ra["plmn-Identity"] = plmn_to_asn(self.registered_amf.plmn)
            ra["amf-Identifier"] = (self.registered_amf.amf_identifier, 24)
            ies["registeredAMF"] = ra
        ies["dedicatedNAS-Message"] = _nas(self.nas_pdu)
        if self.s_tmsi is not None and self.s_tmsi_part2 is not None:
            raise ValueError("give either s_tmsi or s_tmsi_part2, not both")
        if self.s_tmsi is not None:
            ies["ng-5G-S-TMSI-Value"] = ("ng-5G-S-TMSI", (check_uint("5G-S-TMSI", self.s_tmsi, 48), 48))
        elif self.s_tmsi_part2 is not None:
            ies["ng-5G-S-TMSI-Value"] = ("ng-5G-S-TMSI-Part2", (check_uint("5G-S-TMSI part 2", self.s_tmsi_part2, 9), 9))
        return {"rrc-TransactionIdentifier": _tid(self.transaction_id), "criticalExtensions": ("rrcSetupComplete", ies)}

    @classmethod
    def from_asn(cls, v: dict) -> RRCSetupComplete:
        ce = v["criticalExtensions"]
        if ce[0] != "rrcSetupComplete":
            raise DecodeError("RRCSetupComplete with criticalExtensionsFuture")
        ies = ce[1]
        ra = ies.get("registeredAMF")
        reg = None
        if ra is not None:
            reg = RegisteredAmf(ra["amf-Identifier"][0],
                                plmns_from_asn([ra["plmn-Identity"]])[0] if "plmn-Identity" in ra else None)
        st = ies.get("ng-5G-S-TMSI-Value")
        s_tmsi = st[1][0] if st and st[0] == "ng-5G-S-TMSI" else None
        part2 = st[1][0] if st and st[0] == "ng-5G-S-TMSI-Part2" else None
        return cls(_nas_in(ies["dedicatedNAS-Message"]), v["rrc-TransactionIdentifier"], ies["selectedPLMN-Identity"], reg,
                   s_tmsi, part2)


@dataclass(slots=True)
class ULInformationTransfer(RrcMessage):
    nas_pdu: bytes

    channel: ClassVar[Channel] = Channel.UL_DCCH
    alt: ClassVar[str] = "ulInformationTransfer"

    def to_asn(self) -> dict:
        return {"criticalExtensions": ("ulInformationTransfer", {"dedicatedNAS-Message": _nas(self.nas_pdu)})}

    @classmethod
    def from_asn(cls, v: dict) -> ULInformationTransfer:
        ce = v["criticalExtensions"]
        if ce[0] != "ulInformationTransfer" or "dedicatedNAS-Message" not in ce[1]:
            raise DecodeError("ULInformationTransfer without dedicatedNAS-Message")
        return cls(_nas_in(ce[1]["dedicatedNAS-Message"]))


@dataclass(slots=True)
class DLInformationTransfer(RrcMessage):
    """DLInformationTransfer; UERANSIM's UE requires dedicatedNAS-Message to be present."""

    nas_pdu: bytes
    transaction_id: int = 0

    channel: ClassVar[Channel] = Channel.DL_DCCH
    alt: ClassVar[str] = "dlInformationTransfer"

    def to_asn(self) -> dict:
        return {"rrc-TransactionIdentifier": _tid(self.transaction_id),
                "criticalExtensions": ("dlInformationTransfer", {"dedicatedNAS-Message": _nas(self.nas_pdu)})}

    @classmethod
    def from_asn(cls, v: dict) -> DLInformationTransfer:
        ce = v["criticalExtensions"]
        if ce[0] != "dlInformationTransfer" or "dedicatedNAS-Message" not in ce[1]:
            raise DecodeError("DLInformationTransfer without dedicatedNAS-Message")
        return cls(_nas_in(ce[1]["dedicatedNAS-Message"]), v["rrc-TransactionIdentifier"])


@dataclass(slots=True)
class RRCRelease(RrcMessage):
    """RRCRelease to RRC_IDLE (no suspendConfig), as UERANSIM's gNB sends it."""

    transaction_id: int = 0

    channel: ClassVar[Channel] = Channel.DL_DCCH
    alt: ClassVar[str] = "rrcRelease"

    def to_asn(self) -> dict:
        return {"rrc-TransactionIdentifier": _tid(self.transaction_id), "criticalExtensions": ("rrcRelease", {})}

    @classmethod
    def from_asn(cls, v: dict) -> RRCRelease:
        if v["criticalExtensions"][0] != "rrcRelease":
            raise DecodeError("RRCRelease with criticalExtensionsFuture")
        return cls(v["rrc-TransactionIdentifier"])


# --- PCCH: Paging (6.2.2) -------------------------------------------------------------------

@dataclass(slots=True)
class Paging(RrcMessage):
    """Paging with 48-bit ng-5G-S-TMSI paging records (UERANSIM reads only those)."""

    s_tmsis: tuple[int, ...] = ()

    channel: ClassVar[Channel] = Channel.PCCH
    alt: ClassVar[str] = "paging"

    def to_asn(self) -> dict:
        if len(self.s_tmsis) > 32:
            raise ValueError("at most 32 paging records")
        if not self.s_tmsis:
            return {}
        return {"pagingRecordList": [{"ue-Identity": ("ng-5G-S-TMSI", (check_uint("5G-S-TMSI", t, 48), 48))}
                                     for t in self.s_tmsis]}

    @classmethod
    def from_asn(cls, v: dict) -> Paging:
        return cls(tuple(r["ue-Identity"][1][0] for r in v.get("pagingRecordList", ())
                         if r["ue-Identity"][0] == "ng-5G-S-TMSI"))


MESSAGE_TYPES: tuple[type[RrcMessage], ...] = (
    Mib, Sib1, RRCSetupRequest, RRCSetup, RRCReject, RRCSetupComplete, ULInformationTransfer, DLInformationTransfer,
    RRCRelease, Paging)
