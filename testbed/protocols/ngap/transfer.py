"""PDU session resource transfers: the OCTET STRING-wrapped containers of TS 38.413 9.3.4.

These are produced by the SMF and carried transparently by the AMF (TS 23.502
4.3.2.2.1), so each has its own ``to_bytes()`` / ``from_bytes()`` (APER, like
NGAP itself). In NGAP messages a transfer field accepts either the typed object
or already-encoded bytes; decoding always returns the typed object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pycrate_asn1dir import NGAP

from testbed.errors import DecodeError

from . import _asn1
from ._container import Ie, IeTable, enum
from .ies import (
    Cause,
    GtpTunnel,
    UeAmbr,
    ambr_from_asn,
    ambr_to_asn,
    cause_from_asn,
    cause_to_asn,
    check_uint,
    gtp_tunnel_from_asn,
    gtp_tunnel_to_asn,
)

_IES = NGAP.NGAP_IEs

PDU_SESSION_TYPES = ("ipv4", "ipv6", "ipv4v6", "ethernet", "unstructured")
_PROTECTION = ("required", "preferred", "not-needed")


@dataclass(frozen=True, slots=True)
class QosFlowRequest:
    """QoS Flow Setup Request Item (9.3.4.1) with a non-dynamic 5QI and an ARP."""

    qfi: int
    five_qi: int = 9
    arp_priority: int = 8
    pre_emption_capability: str = "shall-not-trigger-pre-emption"
    pre_emption_vulnerability: str = "not-pre-emptable"

    def __post_init__(self) -> None:
        check_uint("QFI", self.qfi, 6)
        check_uint("5QI", self.five_qi, 8)
        if type(self.arp_priority) is not int or not 1 <= self.arp_priority <= 15:
            raise ValueError("ARP priority level must be 1..15")
        if self.pre_emption_capability not in ("shall-not-trigger-pre-emption", "may-trigger-pre-emption"):
            raise ValueError(f"bad pre-emption capability {self.pre_emption_capability!r}")
        if self.pre_emption_vulnerability not in ("not-pre-emptable", "pre-emptable"):
            raise ValueError(f"bad pre-emption vulnerability {self.pre_emption_vulnerability!r}")


def _qos_flows_to_asn(flows: Any) -> list:
    if not isinstance(flows, list | tuple) or not 1 <= len(flows) <= 64:
        raise ValueError("QoS flow setup request list needs 1..64 flows")
    out = []
    for f in flows:
        if not isinstance(f, QosFlowRequest):
            raise ValueError(f"expected QosFlowRequest, got {type(f).__name__}")
        out.append({"qosFlowIdentifier": f.qfi, "qosFlowLevelQosParameters": {
            "qosCharacteristics": ("nonDynamic5QI", {"fiveQI": f.five_qi}),
            "allocationAndRetentionPriority": {"priorityLevelARP": f.arp_priority,
                                               "pre-emptionCapability": f.pre_emption_capability,
                                               "pre-emptionVulnerability": f.pre_emption_vulnerability}}})
    return out


def _qos_flows_from_asn(v: list) -> tuple[QosFlowRequest, ...]:
    out = []
    for f in v:
        p = f["qosFlowLevelQosParameters"]
        ch = p["qosCharacteristics"]
        if ch[0] != "nonDynamic5QI":
            raise DecodeError(f"unsupported QoS characteristics {ch[0]} (only non-dynamic 5QI)")
        arp = p["allocationAndRetentionPriority"]
        out.append(QosFlowRequest(f["qosFlowIdentifier"], ch[1]["fiveQI"], arp["priorityLevelARP"],
                                  arp["pre-emptionCapability"], arp["pre-emptionVulnerability"]))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SecurityIndication:
    """Security Indication (9.3.1.27): UP integrity/confidentiality 'required' | 'preferred' | 'not-needed'."""

    integrity: str = "not-needed"
    confidentiality: str = "not-needed"
    max_integrity_rate_ul: str | None = None  # 'bitrate64kbs' | 'maximum-UE-rate'

    def __post_init__(self) -> None:
        if self.integrity not in _PROTECTION or self.confidentiality not in _PROTECTION:
            raise ValueError(f"protection indications must be one of {_PROTECTION}")
        if self.max_integrity_rate_ul not in (None, "bitrate64kbs", "maximum-UE-rate"):
            raise ValueError(f"bad maximum integrity protected data rate {self.max_integrity_rate_ul!r}")


def _sec_ind_to_asn(s: SecurityIndication) -> dict:
    if not isinstance(s, SecurityIndication):
        raise ValueError(f"expected SecurityIndication, got {type(s).__name__}")
    v: dict[str, Any] = {"integrityProtectionIndication": s.integrity,
                         "confidentialityProtectionIndication": s.confidentiality}
    if s.max_integrity_rate_ul is not None:
        v["maximumIntegrityProtectedDataRate-UL"] = s.max_integrity_rate_ul
    return v


def _sec_ind_from_asn(v: dict) -> SecurityIndication:
    for k in ("integrityProtectionIndication", "confidentialityProtectionIndication"):
        if not isinstance(v[k], str):
            raise DecodeError(f"unknown {k} value {v[k]!r}")
    rate = v.get("maximumIntegrityProtectedDataRate-UL")
    return SecurityIndication(v["integrityProtectionIndication"], v["confidentialityProtectionIndication"],
                              rate if isinstance(rate, str) else None)


_RESULTS = ("performed", "not-performed")


@dataclass(frozen=True, slots=True)
class SecurityResult:
    """Security Result (IE of 9.3.4.2): whether the NG-RAN node performed UP integrity protection and
    ciphering for the PDU session, each ``"performed"`` or ``"not-performed"`` (TS 33.501 6.6.1)."""

    integrity: str
    confidentiality: str

    def __post_init__(self) -> None:
        if self.integrity not in _RESULTS or self.confidentiality not in _RESULTS:
            raise ValueError(f"protection results must be one of {_RESULTS}, got "
                             f"{self.integrity!r} / {self.confidentiality!r}")


def _sec_res_to_asn(s: SecurityResult) -> dict:
    if not isinstance(s, SecurityResult):
        raise ValueError(f"expected SecurityResult, got {type(s).__name__}")
    return {"integrityProtectionResult": s.integrity, "confidentialityProtectionResult": s.confidentiality}


def _sec_res_from_asn(v: dict) -> SecurityResult:
    for k in ("integrityProtectionResult", "confidentialityProtectionResult"):
        if v[k] not in _RESULTS:  # pycrate names an unknown extension value "_ext_<n>"
            raise DecodeError(f"unknown {k} value {v[k]!r}")
    return SecurityResult(v["integrityProtectionResult"], v["confidentialityProtectionResult"])


def _ambr_enc(a: UeAmbr) -> dict:
    return ambr_to_asn(a, "pDUSessionAggregateMaximumBitRate")


def _ambr_dec(v: dict) -> UeAmbr:
    return ambr_from_asn(v, "pDUSessionAggregateMaximumBitRate")


_pdu_type_enc, _pdu_type_dec = enum(_IES.PDUSessionType, "PDU session type")


class Transfer:
    """Base of the transfer containers: ``to_bytes()`` / ``from_bytes()`` in APER."""

    __slots__ = ()
    asn_name: ClassVar[str]

    def to_asn(self) -> Any:
        raise NotImplementedError

    @classmethod
    def from_asn(cls, v: Any) -> Any:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        return _asn1.per_encode(getattr(_IES, self.asn_name.replace("-", "_")), self.to_asn(), True, self.asn_name)

    @classmethod
    def from_bytes(cls, data: bytes) -> Any:
        obj = getattr(_IES, cls.asn_name.replace("-", "_"))
        return cls.from_asn(_asn1.per_decode(obj, data, True, cls.asn_name))


@dataclass(slots=True)
class PduSessionResourceSetupRequestTransfer(Transfer):
    """PDU Session Resource Setup Request Transfer (9.3.4.1), SMF -> gNB via the AMF."""

    ul_tunnel: GtpTunnel
    pdu_session_type: str = "ipv4"
    qos_flows: tuple[QosFlowRequest, ...] = (QosFlowRequest(1),)
    session_ambr: UeAmbr | None = None
    security_indication: SecurityIndication | None = None

    asn_name: ClassVar[str] = "PDUSessionResourceSetupRequestTransfer"

    def to_asn(self) -> dict:
        return {"protocolIEs": _REQ_TABLE.encode(self)}

    @classmethod
    def from_asn(cls, v: Any) -> PduSessionResourceSetupRequestTransfer:
        return cls(**_REQ_TABLE.decode(v["protocolIEs"]))


_REQ_TABLE = IeTable("PDUSessionResourceSetupRequestTransfer", _IES.PDUSessionResourceSetupRequestTransferIEs, [
    Ie("session_ambr", 130, _ambr_enc, _ambr_dec),
    Ie("ul_tunnel", 139, gtp_tunnel_to_asn, gtp_tunnel_from_asn),
    Ie("pdu_session_type", 134, _pdu_type_enc, _pdu_type_dec),
    Ie("security_indication", 138, _sec_ind_to_asn, _sec_ind_from_asn),
    Ie("qos_flows", 136, _qos_flows_to_asn, _qos_flows_from_asn),
])


@dataclass(slots=True)
class PduSessionResourceSetupResponseTransfer(Transfer):
    """PDU Session Resource Setup Response Transfer (9.3.4.2): the gNB's DL tunnel, accepted QFIs and,
    optionally, the Security Result (whether UP integrity protection / ciphering is performed, reported
    when the Security Indication left the choice to the gNB, TS 38.413 8.2.1.2)."""

    dl_tunnel: GtpTunnel
    qos_flows: tuple[int, ...] = (1,)
    security_result: SecurityResult | None = None

    asn_name: ClassVar[str] = "PDUSessionResourceSetupResponseTransfer"

    def to_asn(self) -> dict:
        if not 1 <= len(self.qos_flows) <= 64:
            raise ValueError("associated QoS flow list needs 1..64 QFIs")
        v: dict[str, Any] = {"dLQosFlowPerTNLInformation": {
            "uPTransportLayerInformation": gtp_tunnel_to_asn(self.dl_tunnel),
            "associatedQosFlowList": [{"qosFlowIdentifier": check_uint("QFI", q, 6)} for q in self.qos_flows]}}
        if self.security_result is not None:
            v["securityResult"] = _sec_res_to_asn(self.security_result)
        return v

    @classmethod
    def from_asn(cls, v: Any) -> PduSessionResourceSetupResponseTransfer:
        info = v["dLQosFlowPerTNLInformation"]
        res = v.get("securityResult")
        return cls(gtp_tunnel_from_asn(info["uPTransportLayerInformation"]),
                   tuple(q["qosFlowIdentifier"] for q in info["associatedQosFlowList"]),
                   None if res is None else _sec_res_from_asn(res))


@dataclass(slots=True)
class PduSessionResourceSetupUnsuccessfulTransfer(Transfer):
    """PDU Session Resource Setup Unsuccessful Transfer (TS 38.413 9.3.4): why the gNB could not set it up."""

    cause: Cause

    asn_name: ClassVar[str] = "PDUSessionResourceSetupUnsuccessfulTransfer"

    def to_asn(self) -> dict:
        return {"cause": cause_to_asn(self.cause)}

    @classmethod
    def from_asn(cls, v: Any) -> PduSessionResourceSetupUnsuccessfulTransfer:
        return cls(cause_from_asn(v["cause"]))


def transfer_to_asn(t: Transfer | bytes, cls: type[Transfer]) -> Any:
    """Value for an OCTET STRING (CONTAINING transfer) field: typed object, or bytes passed through."""
    if isinstance(t, bytes | bytearray):
        if not t:
            raise ValueError(f"{cls.asn_name} must not be empty")
        return bytes(t)
    if not isinstance(t, cls):
        raise ValueError(f"expected {cls.__name__} or bytes, got {type(t).__name__}")
    return (cls.asn_name, t.to_asn())


def transfer_from_asn(v: Any, cls: type[Transfer]) -> Any:
    if isinstance(v, tuple) and v[0] == cls.asn_name:
        return cls.from_asn(v[1])
    raise DecodeError(f"{cls.asn_name} could not be decoded")


__all__ = [
    "PDU_SESSION_TYPES",
    "PduSessionResourceSetupRequestTransfer",
    "PduSessionResourceSetupResponseTransfer",
    "PduSessionResourceSetupUnsuccessfulTransfer",
    "QosFlowRequest",
    "SecurityIndication",
    "SecurityResult",
    "Transfer",
]
