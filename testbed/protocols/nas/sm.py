"""5GS session management (5GSM) messages, TS 24.501 clause 8.3.

Each message carries the PDU session identity and the procedure transaction identity (PTI) of
its header (TS 24.501 9.4, 9.6). Extended protocol configuration options (9.11.4.6) and QoS flow
descriptions (9.11.4.12) are raw value octets.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._pycrate import FGSM, RawIe
from .enums import FiveGsmCause, PduSessionType, SmMessageType, SscMode
from .ies import (
    GprsTimer3,
    IntegrityProtectionMaxDataRate,
    PduAddress,
    QosRule,
    SessionAmbr,
    SNssai,
    decode_dnn,
    decode_qos_rules,
    encode_dnn,
    encode_qos_rules,
)
from .message import EnumNibble, EnumOctet, F, Funcs, Obj, Octets, SmMessage

__all__ = [
    "FiveGsmStatus",
    "PduSessionEstablishmentAccept",
    "PduSessionEstablishmentReject",
    "PduSessionEstablishmentRequest",
    "PduSessionReleaseCommand",
    "PduSessionReleaseComplete",
    "PduSessionReleaseReject",
    "PduSessionReleaseRequest",
    "SM_MESSAGE_CLASSES",
]

_CAUSE = EnumOctet(FiveGsmCause)
_EPCO = Octets(1)
_TYPE = EnumNibble(PduSessionType, bits=3)
_SSC = EnumNibble(SscMode, bits=3)


@dataclass(frozen=True, kw_only=True)
class PduSessionEstablishmentRequest(SmMessage):
    """PDU SESSION ESTABLISHMENT REQUEST (TS 24.501 8.3.1), UE to network. ``sm_capability`` is
    the raw 5GSM capability (9.11.4.1)."""

    MESSAGE_TYPE = SmMessageType.PDU_SESSION_ESTABLISHMENT_REQUEST
    _PYCRATE = FGSM.FGSMPDUSessionEstabRequest

    pdu_session_id: int
    pti: int
    integrity_protection_max_data_rate: IntegrityProtectionMaxDataRate = IntegrityProtectionMaxDataRate()
    pdu_session_type: PduSessionType | int | None = None
    ssc_mode: SscMode | int | None = None
    sm_capability: bytes | None = None
    extended_pco: bytes | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("integrity_protection_max_data_rate", "IntegrityProtMaxDataRate", Obj(IntegrityProtectionMaxDataRate)),
        F("pdu_session_type", "PDUSessType", _TYPE),
        F("ssc_mode", "SSCMode", _SSC),
        F("sm_capability", "5GSMCap", Octets(1, 13)),
        F("extended_pco", "ExtProtConfig", _EPCO),
    )


@dataclass(frozen=True, kw_only=True)
class PduSessionEstablishmentAccept(SmMessage):
    """PDU SESSION ESTABLISHMENT ACCEPT (TS 24.501 8.3.2), network to UE."""

    MESSAGE_TYPE = SmMessageType.PDU_SESSION_ESTABLISHMENT_ACCEPT
    _PYCRATE = FGSM.FGSMPDUSessionEstabAccept

    pdu_session_id: int
    pti: int
    pdu_session_type: PduSessionType | int = PduSessionType.IPV4
    ssc_mode: SscMode | int = SscMode.SSC_MODE_1
    qos_rules: tuple[QosRule, ...]
    session_ambr: SessionAmbr
    cause: FiveGsmCause | int | None = None
    pdu_address: PduAddress | None = None
    s_nssai: SNssai | None = None
    qos_flow_descriptions: bytes | None = None
    extended_pco: bytes | None = None
    dnn: str | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("ssc_mode", "SSCMode", _SSC),
        F("pdu_session_type", "PDUSessType", _TYPE),
        F("qos_rules", "QoSRules", Funcs(encode_qos_rules, decode_qos_rules)),
        F("session_ambr", "SessAMBR", Obj(SessionAmbr)),
        F("cause", "5GSMCause", _CAUSE),
        F("pdu_address", "PDUAddress", Obj(PduAddress)),
        F("s_nssai", "SNSSAI", Obj(SNssai)),
        F("qos_flow_descriptions", "QoSFlowDesc", Octets(3)),
        F("extended_pco", "ExtProtConfig", _EPCO),
        F("dnn", "DNN", Funcs(encode_dnn, decode_dnn)),
    )


@dataclass(frozen=True, kw_only=True)
class PduSessionEstablishmentReject(SmMessage):
    """PDU SESSION ESTABLISHMENT REJECT (TS 24.501 8.3.3)."""

    MESSAGE_TYPE = SmMessageType.PDU_SESSION_ESTABLISHMENT_REJECT
    _PYCRATE = FGSM.FGSMPDUSessionEstabReject

    pdu_session_id: int
    pti: int
    cause: FiveGsmCause | int
    back_off_timer: GprsTimer3 | None = None
    extended_pco: bytes | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("cause", "5GSMCause", _CAUSE),
        F("back_off_timer", "BackOffTimer", Obj(GprsTimer3)),
        F("extended_pco", "ExtProtConfig", _EPCO),
    )


@dataclass(frozen=True, kw_only=True)
class PduSessionReleaseRequest(SmMessage):
    """PDU SESSION RELEASE REQUEST (TS 24.501 8.3.12), UE to network."""

    MESSAGE_TYPE = SmMessageType.PDU_SESSION_RELEASE_REQUEST
    _PYCRATE = FGSM.FGSMPDUSessionReleaseRequest

    pdu_session_id: int
    pti: int
    cause: FiveGsmCause | int | None = None
    extended_pco: bytes | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (F("cause", "5GSMCause", _CAUSE), F("extended_pco", "ExtProtConfig", _EPCO))


@dataclass(frozen=True, kw_only=True)
class PduSessionReleaseReject(SmMessage):
    """PDU SESSION RELEASE REJECT (TS 24.501 8.3.13)."""

    MESSAGE_TYPE = SmMessageType.PDU_SESSION_RELEASE_REJECT
    _PYCRATE = FGSM.FGSMPDUSessionReleaseReject

    pdu_session_id: int
    pti: int
    cause: FiveGsmCause | int
    extended_pco: bytes | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (F("cause", "5GSMCause", _CAUSE), F("extended_pco", "ExtProtConfig", _EPCO))


@dataclass(frozen=True, kw_only=True)
class PduSessionReleaseCommand(SmMessage):
    """PDU SESSION RELEASE COMMAND (TS 24.501 8.3.14), network to UE."""

    MESSAGE_TYPE = SmMessageType.PDU_SESSION_RELEASE_COMMAND
    _PYCRATE = FGSM.FGSMPDUSessionReleaseCommand

    pdu_session_id: int
    pti: int
    cause: FiveGsmCause | int = FiveGsmCause.REGULAR_DEACTIVATION
    back_off_timer: GprsTimer3 | None = None
    extended_pco: bytes | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("cause", "5GSMCause", _CAUSE),
        F("back_off_timer", "BackOffTimer", Obj(GprsTimer3)),
        F("extended_pco", "ExtProtConfig", _EPCO),
    )


@dataclass(frozen=True, kw_only=True)
class PduSessionReleaseComplete(SmMessage):
    """PDU SESSION RELEASE COMPLETE (TS 24.501 8.3.15), UE to network."""

    MESSAGE_TYPE = SmMessageType.PDU_SESSION_RELEASE_COMPLETE
    _PYCRATE = FGSM.FGSMPDUSessionReleaseComplete

    pdu_session_id: int
    pti: int
    cause: FiveGsmCause | int | None = None
    extended_pco: bytes | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (F("cause", "5GSMCause", _CAUSE), F("extended_pco", "ExtProtConfig", _EPCO))


@dataclass(frozen=True, kw_only=True)
class FiveGsmStatus(SmMessage):
    """5GSM STATUS (TS 24.501 8.3.16)."""

    MESSAGE_TYPE = SmMessageType.FIVEGSM_STATUS
    _PYCRATE = FGSM.FGSMStatus

    pdu_session_id: int
    pti: int
    cause: FiveGsmCause | int
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (F("cause", "5GSMCause", _CAUSE),)


SM_MESSAGE_CLASSES: dict[int, type[SmMessage]] = {
    int(cls.MESSAGE_TYPE): cls
    for cls in (
        PduSessionEstablishmentRequest, PduSessionEstablishmentAccept, PduSessionEstablishmentReject,
        PduSessionReleaseRequest, PduSessionReleaseReject, PduSessionReleaseCommand,
        PduSessionReleaseComplete, FiveGsmStatus,
    )
}
