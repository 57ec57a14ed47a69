"""Typed NGAP messages (TS 38.413 clause 9.2) and their IE tables.

Every message is a dataclass; its class attributes say which elementary
procedure it belongs to (``procedure_code``), whether it is the initiating
message or a successful/unsuccessful outcome (``kind``) and its ASN.1 name.
Optional IEs default to ``None`` (flags to ``False``) and are omitted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from pycrate_asn1dir import NGAP

from testbed.errors import DecodeError

from ._container import Ie, IeTable, enum, ident, octets, printable, seq_of, uint
from .ies import (
    Cause,
    FiveGSTmsi,
    GlobalGnbId,
    Guami,
    MobilityRestriction,
    PlmnSupport,
    Snssai,
    SupportedTa,
    UeAmbr,
    UeConnection,
    UeSecurityCapabilities,
    UserLocationNR,
    allowed_nssai_from_asn,
    allowed_nssai_to_asn,
    ambr_from_asn,
    ambr_to_asn,
    cause_from_asn,
    cause_to_asn,
    check_uint,
    global_ran_node_id_from_asn,
    global_ran_node_id_to_asn,
    guami_from_asn,
    guami_list_from_asn,
    guami_list_to_asn,
    guami_to_asn,
    mobility_restriction_from_asn,
    mobility_restriction_to_asn,
    plmn_support_list_from_asn,
    plmn_support_list_to_asn,
    s_tmsi_from_asn,
    s_tmsi_to_asn,
    snssai_from_asn,
    snssai_to_asn,
    supported_ta_list_from_asn,
    supported_ta_list_to_asn,
    ue_connections_from_asn,
    ue_connections_to_asn,
    ue_sec_cap_from_asn,
    ue_sec_cap_to_asn,
    uli_from_asn,
    uli_to_asn,
)
from .transfer import (
    PduSessionResourceSetupRequestTransfer,
    PduSessionResourceSetupResponseTransfer,
    PduSessionResourceSetupUnsuccessfulTransfer,
    transfer_from_asn,
    transfer_to_asn,
)

_C = NGAP.NGAP_PDU_Contents
_I = NGAP.NGAP_IEs


class Kind(StrEnum):
    """NGAP-PDU alternative (TS 38.413 9.4.3)."""

    INITIATING = "initiatingMessage"
    SUCCESSFUL = "successfulOutcome"
    UNSUCCESSFUL = "unsuccessfulOutcome"


_PROC_CRIT = {v["procedureCode"]: v["criticality"] for v in NGAP.NGAP_PDU_Descriptions.NGAP_ELEMENTARY_PROCEDURES._val.root}


class NgapMessage:
    """Base class of the typed NGAP messages."""

    __slots__ = ()
    procedure_code: ClassVar[int]
    kind: ClassVar[Kind]
    name: ClassVar[str]
    _table: ClassVar[IeTable]

    def to_asn(self) -> tuple:
        """The pycrate value of the whole NGAP-PDU."""
        return (self.kind.value, {"procedureCode": self.procedure_code, "criticality": _PROC_CRIT[self.procedure_code],
                                  "value": (self.name, {"protocolIEs": self._table.encode(self)})})

    @classmethod
    def _from_ies(cls, kwargs: dict[str, Any]) -> Any:
        return cls(**kwargs)


@dataclass(slots=True)
class UnsupportedMessage:
    """A well-formed NGAP-PDU of a procedure this codec does not model (e.g. HandoverRequired, AMFStatusIndication).

    Callers typically answer with an Error Indication or ignore it (TS 38.413 10.3.4).
    """

    kind: Kind
    procedure_code: int
    name: str


_REGISTRY: dict[tuple[str, str], type[NgapMessage]] = {}
_M = TypeVar("_M", bound=type)


def _message(code: int, kind: Kind, ies: list[Ie]) -> Callable[[_M], _M]:
    def deco(cls: _M) -> _M:
        name = cls.__name__
        cls.procedure_code = code  # type: ignore[attr-defined]
        cls.kind = kind  # type: ignore[attr-defined]
        cls.name = name  # type: ignore[attr-defined]
        set_name = f"{name}IEs" if hasattr(_C, f"{name}IEs") else f"{name}_IEs"
        cls._table = IeTable(name, getattr(_C, set_name), ies)  # type: ignore[attr-defined]
        _REGISTRY[(kind.value, name)] = cls  # type: ignore[assignment]
        return cls
    return deco


# --- converters ---------------------------------------------------------------------

_AMF_ID = Ie("amf_ue_ngap_id", 10, uint(40, "AMF UE NGAP ID"), ident)
_RAN_ID = Ie("ran_ue_ngap_id", 85, uint(32, "RAN UE NGAP ID"), ident)
_NAS_PDU = Ie("nas_pdu", 38, octets("NAS-PDU"), ident)
_ULI = Ie("user_location", 121, uli_to_asn, uli_from_asn)
_CAUSE = Ie("cause", 15, cause_to_asn, cause_from_asn)
_MOB = Ie("mobility_restriction", 36, mobility_restriction_to_asn, mobility_restriction_from_asn)
_NSSAI = Ie("allowed_nssai", 0, allowed_nssai_to_asn, allowed_nssai_from_asn)
_S_TMSI = Ie("five_g_s_tmsi", 26, s_tmsi_to_asn, s_tmsi_from_asn)

_DRX = {32: "v32", 64: "v64", 128: "v128", 256: "v256"}
_DRX_REV = {v: k for k, v in _DRX.items()}
_TTW = {1: "v1s", 2: "v2s", 5: "v5s", 10: "v10s", 20: "v20s", 60: "v60s"}
_TTW_REV = {v: k for k, v in _TTW.items()}


def _from_map(mapping: dict, name: str) -> Callable[[Any], Any]:
    def conv(v: Any) -> Any:
        try:
            return mapping[v]
        except (KeyError, TypeError):
            raise ValueError(f"{name}: unsupported value {v!r} (one of {sorted(mapping)})") from None
    return conv


_rrc_cause_enc, _rrc_cause_dec = enum(_I.RRCEstablishmentCause, "RRC establishment cause")


def _flag(value: str) -> tuple[Callable[[Any], str], Callable[[Any], bool]]:
    def enc(v: Any) -> str:
        if v is not True:
            raise ValueError("flag IE must be True or False")
        return value

    def dec(v: Any) -> bool:
        return True
    return enc, dec


def _cag_ids_enc(v: Any) -> tuple:
    # NPN Access Information, PNI-NPN alternative: Cell CAG List (SIZE(1..maxnoofCAGSperCell = 64))
    if not isinstance(v, list | tuple) or not 1 <= len(v) <= 64:
        raise ValueError("CAG ID list needs 1..64 CAG IDs")
    return ("pNI-NPN-Access-Information", [(check_uint("CAG ID", c, 32), 32) for c in v])


def _cag_ids_dec(v: tuple) -> tuple[int, ...]:
    if v[0] != "pNI-NPN-Access-Information":
        raise DecodeError(f"unsupported NPN Access Information alternative {v[0]}")
    return tuple(c[0] for c in v[1])


def _pdu_id(v: Any) -> int:
    return check_uint("PDU session ID", v, 8)


# --- PDU session resource items -------------------------------------------------------

@dataclass(slots=True)
class PduSessionSetupRequest:
    """PDU Session Resource Setup Request item (SUReq in PDU Session Resource Setup, CxtReq in ICS)."""

    pdu_session_id: int
    snssai: Snssai
    transfer: PduSessionResourceSetupRequestTransfer | bytes
    nas_pdu: bytes | None = None


@dataclass(slots=True)
class PduSessionSetupResult:
    """PDU Session Resource Setup Response item: the gNB's response transfer."""

    pdu_session_id: int
    transfer: PduSessionResourceSetupResponseTransfer | bytes


@dataclass(slots=True)
class PduSessionFailed:
    """PDU Session Resource Failed to Setup item: the session and why."""

    pdu_session_id: int
    cause: Cause


def _setup_req_list(nas_key: str) -> tuple[Callable[[Any], list], Callable[[list], tuple]]:
    def enc_item(it: Any) -> dict:
        if not isinstance(it, PduSessionSetupRequest):
            raise ValueError(f"expected PduSessionSetupRequest, got {type(it).__name__}")
        d: dict[str, Any] = {"pDUSessionID": _pdu_id(it.pdu_session_id), "s-NSSAI": snssai_to_asn(it.snssai),
                             "pDUSessionResourceSetupRequestTransfer":
                                 transfer_to_asn(it.transfer, PduSessionResourceSetupRequestTransfer)}
        if it.nas_pdu is not None:
            d[nas_key] = octets("PDU session NAS-PDU")(it.nas_pdu)
        return d

    def dec(v: list) -> tuple:
        return tuple(PduSessionSetupRequest(
            d["pDUSessionID"], snssai_from_asn(d["s-NSSAI"]),
            transfer_from_asn(d["pDUSessionResourceSetupRequestTransfer"], PduSessionResourceSetupRequestTransfer),
            d.get(nas_key)) for d in v)
    return seq_of(enc_item, "PDU session resource setup list", 1, 256), dec


def _enc_result(it: Any) -> dict:
    if not isinstance(it, PduSessionSetupResult):
        raise ValueError(f"expected PduSessionSetupResult, got {type(it).__name__}")
    return {"pDUSessionID": _pdu_id(it.pdu_session_id), "pDUSessionResourceSetupResponseTransfer":
            transfer_to_asn(it.transfer, PduSessionResourceSetupResponseTransfer)}


def _dec_results(v: list) -> tuple[PduSessionSetupResult, ...]:
    return tuple(PduSessionSetupResult(d["pDUSessionID"], transfer_from_asn(
        d["pDUSessionResourceSetupResponseTransfer"], PduSessionResourceSetupResponseTransfer)) for d in v)


def _enc_failed(it: Any) -> dict:
    if not isinstance(it, PduSessionFailed):
        raise ValueError(f"expected PduSessionFailed, got {type(it).__name__}")
    return {"pDUSessionID": _pdu_id(it.pdu_session_id), "pDUSessionResourceSetupUnsuccessfulTransfer":
            ("PDUSessionResourceSetupUnsuccessfulTransfer", {"cause": cause_to_asn(it.cause)})}


def _dec_failed(v: list) -> tuple[PduSessionFailed, ...]:
    return tuple(PduSessionFailed(d["pDUSessionID"], transfer_from_asn(
        d["pDUSessionResourceSetupUnsuccessfulTransfer"], PduSessionResourceSetupUnsuccessfulTransfer).cause)
        for d in v)


_enc_results = seq_of(_enc_result, "PDU session resource setup response list", 1, 256)
_enc_failed_list = seq_of(_enc_failed, "PDU session resource failed list", 1, 256)
_enc_pdu_ids = seq_of(lambda i: {"pDUSessionID": _pdu_id(i)}, "PDU session ID list", 1, 256)


def _dec_pdu_ids(v: list) -> tuple[int, ...]:
    return tuple(d["pDUSessionID"] for d in v)


def _ambr_enc(a: UeAmbr) -> dict:
    return ambr_to_asn(a, "uEAggregateMaximumBitRate")


def _ambr_dec(v: dict) -> UeAmbr:
    return ambr_from_asn(v, "uEAggregateMaximumBitRate")


# --- NG Setup (8.7.1) ------------------------------------------------------------------------

@_message(21, Kind.INITIATING, [
    Ie("global_ran_node_id", 27, global_ran_node_id_to_asn, global_ran_node_id_from_asn),
    Ie("ran_node_name", 82, *printable("RAN node name")),
    Ie("supported_tas", 102, supported_ta_list_to_asn, supported_ta_list_from_asn),
    Ie("default_paging_drx", 21, _from_map(_DRX, "default paging DRX"), _from_map(_DRX_REV, "PagingDRX")),
])
@dataclass(slots=True)
class NGSetupRequest(NgapMessage):
    """NG Setup Request (9.2.6.1). CAG IDs are given per broadcast PLMN (:class:`BroadcastPlmn`)."""

    global_ran_node_id: GlobalGnbId
    supported_tas: tuple[SupportedTa, ...]
    default_paging_drx: int = 128
    ran_node_name: str | None = None

    @property
    def cag_ids(self) -> tuple[int, ...]:
        """Every CAG ID the RAN node advertises (testbed-private extension, see
        :data:`~testbed.protocols.ngap.ies.TESTBED_CAG_EXTENSION_ID`): the union over all supported
        TAs and broadcast PLMNs, in order of appearance, without duplicates."""
        return tuple(dict.fromkeys(c for ta in self.supported_tas for c in ta.cag_ids))


@_message(21, Kind.SUCCESSFUL, [
    Ie("amf_name", 1, *printable("AMF name")),
    Ie("served_guamis", 96, guami_list_to_asn, guami_list_from_asn),
    Ie("relative_amf_capacity", 86, uint(8, "relative AMF capacity"), ident),
    Ie("plmn_support", 80, plmn_support_list_to_asn, plmn_support_list_from_asn),
])
@dataclass(slots=True)
class NGSetupResponse(NgapMessage):
    amf_name: str
    served_guamis: tuple[Guami, ...]
    plmn_support: tuple[PlmnSupport, ...]
    relative_amf_capacity: int = 255


@_message(21, Kind.UNSUCCESSFUL, [
    _CAUSE,
    Ie("time_to_wait", 107, _from_map(_TTW, "time to wait (s)"), _from_map(_TTW_REV, "TimeToWait")),
])
@dataclass(slots=True)
class NGSetupFailure(NgapMessage):
    cause: Cause
    time_to_wait: int | None = None  # seconds: 1, 2, 5, 10, 20 or 60


# --- NAS transport (8.6) --------------------------------------------------------------------

@_message(15, Kind.INITIATING, [
    _RAN_ID, _NAS_PDU, _ULI,
    Ie("rrc_establishment_cause", 90, _rrc_cause_enc, _rrc_cause_dec),
    _S_TMSI,
    Ie("ue_context_requested", 112, *_flag("requested")),
    Ie("cag_ids", 259, _cag_ids_enc, _cag_ids_dec),
])
@dataclass(slots=True)
class InitialUEMessage(NgapMessage):
    """Initial UE Message (9.2.5.1). ``cag_ids``: the CAG IDs of the cell (NPN Access Information)."""

    ran_ue_ngap_id: int
    nas_pdu: bytes
    user_location: UserLocationNR
    rrc_establishment_cause: str = "mo-Signalling"
    five_g_s_tmsi: FiveGSTmsi | None = None
    ue_context_requested: bool = False
    cag_ids: tuple[int, ...] | None = None


@_message(46, Kind.INITIATING, [_AMF_ID, _RAN_ID, _NAS_PDU, _ULI])
@dataclass(slots=True)
class UplinkNASTransport(NgapMessage):
    amf_ue_ngap_id: int
    ran_ue_ngap_id: int
    nas_pdu: bytes
    user_location: UserLocationNR


@_message(4, Kind.INITIATING, [_AMF_ID, _RAN_ID, _NAS_PDU, _MOB, _NSSAI])
@dataclass(slots=True)
class DownlinkNASTransport(NgapMessage):
    amf_ue_ngap_id: int
    ran_ue_ngap_id: int
    nas_pdu: bytes
    mobility_restriction: MobilityRestriction | None = None
    allowed_nssai: tuple[Snssai, ...] | None = None


# --- Initial Context Setup (8.3.1) ------------------------------------------------------------

_cxt_req_enc, _cxt_req_dec = _setup_req_list("nAS-PDU")
_su_req_enc, _su_req_dec = _setup_req_list("pDUSessionNAS-PDU")


@_message(14, Kind.INITIATING, [
    _AMF_ID, _RAN_ID,
    Ie("ue_ambr", 110, _ambr_enc, _ambr_dec),
    Ie("guami", 28, guami_to_asn, guami_from_asn),
    Ie("pdu_sessions", 71, _cxt_req_enc, _cxt_req_dec),
    _NSSAI,
    Ie("ue_security_capabilities", 119, ue_sec_cap_to_asn, ue_sec_cap_from_asn),
    Ie("security_key", 94, lambda k: (int.from_bytes(octets("KgNB", 32, 32)(k), "big"), 256),
       lambda v: v[0].to_bytes(32, "big")),
    _MOB, _NAS_PDU,
])
@dataclass(slots=True)
class InitialContextSetupRequest(NgapMessage):
    """Initial Context Setup Request (9.2.2.1). ``security_key`` is KgNB (32 octets, 9.3.1.87).

    ``ue_ambr`` is conditional: required when ``pdu_sessions`` is given (9.2.2.1); not enforced here,
    so that tests can build non-conforming messages.
    """

    amf_ue_ngap_id: int
    ran_ue_ngap_id: int
    guami: Guami
    allowed_nssai: tuple[Snssai, ...]
    ue_security_capabilities: UeSecurityCapabilities
    security_key: bytes
    ue_ambr: UeAmbr | None = None
    pdu_sessions: tuple[PduSessionSetupRequest, ...] | None = None
    mobility_restriction: MobilityRestriction | None = None
    nas_pdu: bytes | None = None


@_message(14, Kind.SUCCESSFUL, [
    _AMF_ID, _RAN_ID,
    Ie("pdu_sessions_setup", 72, _enc_results, _dec_results),
    Ie("pdu_sessions_failed", 55, _enc_failed_list, _dec_failed),
])
@dataclass(slots=True)
class InitialContextSetupResponse(NgapMessage):
    amf_ue_ngap_id: int
    ran_ue_ngap_id: int
    pdu_sessions_setup: tuple[PduSessionSetupResult, ...] | None = None
    pdu_sessions_failed: tuple[PduSessionFailed, ...] | None = None


@_message(14, Kind.UNSUCCESSFUL, [
    _AMF_ID, _RAN_ID,
    Ie("pdu_sessions_failed", 132, _enc_failed_list, _dec_failed),
    _CAUSE,
])
@dataclass(slots=True)
class InitialContextSetupFailure(NgapMessage):
    amf_ue_ngap_id: int
    ran_ue_ngap_id: int
    cause: Cause
    pdu_sessions_failed: tuple[PduSessionFailed, ...] | None = None


# --- PDU Session Resource Setup (8.2.1) -------------------------------------------------------

@_message(29, Kind.INITIATING, [
    _AMF_ID, _RAN_ID, _NAS_PDU,
    Ie("sessions", 74, _su_req_enc, _su_req_dec),
    Ie("ue_ambr", 110, _ambr_enc, _ambr_dec),
])
@dataclass(slots=True)
class PDUSessionResourceSetupRequest(NgapMessage):
    amf_ue_ngap_id: int
    ran_ue_ngap_id: int
    sessions: tuple[PduSessionSetupRequest, ...]
    nas_pdu: bytes | None = None
    ue_ambr: UeAmbr | None = None


@_message(29, Kind.SUCCESSFUL, [
    _AMF_ID, _RAN_ID,
    Ie("setup", 75, _enc_results, _dec_results),
    Ie("failed", 58, _enc_failed_list, _dec_failed),
])
@dataclass(slots=True)
class PDUSessionResourceSetupResponse(NgapMessage):
    amf_ue_ngap_id: int
    ran_ue_ngap_id: int
    setup: tuple[PduSessionSetupResult, ...] | None = None
    failed: tuple[PduSessionFailed, ...] | None = None


# --- UE Context Release (8.3.2, 8.3.3) ------------------------------------------------------

@_message(42, Kind.INITIATING, [
    _AMF_ID, _RAN_ID,
    Ie("pdu_session_ids", 133, _enc_pdu_ids, _dec_pdu_ids),
    _CAUSE,
])
@dataclass(slots=True)
class UEContextReleaseRequest(NgapMessage):
    amf_ue_ngap_id: int
    ran_ue_ngap_id: int
    cause: Cause
    pdu_session_ids: tuple[int, ...] | None = None


def _ue_ids_enc(v: tuple[int, int | None]) -> tuple:
    amf, ran = v
    if ran is None:
        return ("aMF-UE-NGAP-ID", check_uint("AMF UE NGAP ID", amf, 40))
    return ("uE-NGAP-ID-pair", {"aMF-UE-NGAP-ID": check_uint("AMF UE NGAP ID", amf, 40),
                                "rAN-UE-NGAP-ID": check_uint("RAN UE NGAP ID", ran, 32)})


def _ue_ids_dec(v: tuple) -> tuple[int, int | None]:
    if v[0] == "uE-NGAP-ID-pair":
        return (v[1]["aMF-UE-NGAP-ID"], v[1]["rAN-UE-NGAP-ID"])
    if v[0] == "aMF-UE-NGAP-ID":
        return (v[1], None)
    raise DecodeError(f"unsupported UE NGAP IDs alternative {v[0]}")


@_message(41, Kind.INITIATING, [Ie("ue_ngap_ids", 114, _ue_ids_enc, _ue_ids_dec), _CAUSE])
@dataclass(slots=True)
class UEContextReleaseCommand(NgapMessage):
    """UE Context Release Command (9.2.2.5): the UE NGAP ID pair, or the AMF UE NGAP ID alone."""

    amf_ue_ngap_id: int
    cause: Cause
    ran_ue_ngap_id: int | None = None

    @property
    def ue_ngap_ids(self) -> tuple[int, int | None]:
        return (self.amf_ue_ngap_id, self.ran_ue_ngap_id)

    @classmethod
    def _from_ies(cls, kwargs: dict[str, Any]) -> UEContextReleaseCommand:
        amf, ran = kwargs.pop("ue_ngap_ids")
        return cls(amf_ue_ngap_id=amf, ran_ue_ngap_id=ran, **kwargs)


@_message(41, Kind.SUCCESSFUL, [
    _AMF_ID, _RAN_ID, _ULI,
    Ie("pdu_session_ids", 60, _enc_pdu_ids, _dec_pdu_ids),
])
@dataclass(slots=True)
class UEContextReleaseComplete(NgapMessage):
    amf_ue_ngap_id: int
    ran_ue_ngap_id: int
    user_location: UserLocationNR | None = None
    pdu_session_ids: tuple[int, ...] | None = None


# --- Error Indication (8.7.5), NG Reset (8.7.4) ------------------------------------------

@_message(9, Kind.INITIATING, [_AMF_ID, _RAN_ID, _CAUSE, _S_TMSI])
@dataclass(slots=True)
class ErrorIndication(NgapMessage):
    amf_ue_ngap_id: int | None = None
    ran_ue_ngap_id: int | None = None
    cause: Cause | None = None
    five_g_s_tmsi: FiveGSTmsi | None = None


def _reset_type_enc(v: Any) -> tuple:
    if v == "all":
        return ("nG-Interface", "reset-all")
    return ("partOfNG-Interface", ue_connections_to_asn(v))


def _reset_type_dec(v: tuple) -> Any:
    if v[0] == "nG-Interface":
        return "all"
    if v[0] == "partOfNG-Interface":
        return ue_connections_from_asn(v[1])
    raise DecodeError(f"unsupported reset type {v[0]}")


@_message(20, Kind.INITIATING, [_CAUSE, Ie("reset_type", 88, _reset_type_enc, _reset_type_dec)])
@dataclass(slots=True)
class NGReset(NgapMessage):
    """NG Reset (9.2.6.11): ``ue_connections`` None resets the whole NG interface."""

    cause: Cause
    ue_connections: tuple[UeConnection, ...] | None = None

    @property
    def reset_type(self) -> Any:
        return "all" if self.ue_connections is None else self.ue_connections

    @classmethod
    def _from_ies(cls, kwargs: dict[str, Any]) -> NGReset:
        rt = kwargs.pop("reset_type")
        return cls(ue_connections=None if rt == "all" else rt, **kwargs)


@_message(20, Kind.SUCCESSFUL, [Ie("ue_connections", 111, ue_connections_to_asn, ue_connections_from_asn)])
@dataclass(slots=True)
class NGResetAcknowledge(NgapMessage):
    ue_connections: tuple[UeConnection, ...] | None = None


def message_class(kind: str, name: str) -> type[NgapMessage] | None:
    """The typed class for an NGAP-PDU alternative and message name, if modelled."""
    return _REGISTRY.get((kind, name))


MESSAGE_TYPES: tuple[type[NgapMessage], ...] = tuple(_REGISTRY.values())
