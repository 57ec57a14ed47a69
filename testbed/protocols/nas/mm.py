"""5GS mobility management (5GMM) messages, TS 24.501 clause 8.2.

Every class is a frozen, keyword-only dataclass. Optional IEs are ``None`` when absent. Fields
whose IE is modelled only as raw octets say so; any other optional IE that is present is kept in
``other_ies``. Message classes map to pycrate's ``TS24501_FGMM`` classes for the framing.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.errors import DecodeError

from ._pycrate import FGMM, RawIe
from .enums import (
    FiveGmmCause,
    IdentityType,
    MmMessageType,
    PayloadContainerType,
    RegistrationType,
    RequestType,
    ServiceType,
    enum_or_int,
)
from .identity import Guti5g, MobileIdentity, Pei, STmsi5g
from .ies import (
    Additional5gSecurityInformation,
    CagInfo,
    ConfigurationUpdateIndication,
    DeregistrationType,
    GprsTimer,
    GprsTimer3,
    NasSecurityAlgorithms,
    NgKsi,
    PlmnId,
    RegistrationResult,
    SNssai,
    Tai,
    UeSecurityCapability,
    UeStatus,
    decode_cag_info_list,
    decode_dnn,
    decode_nssai,
    decode_pdu_session_status,
    decode_tai_list,
    encode_cag_info_list,
    encode_dnn,
    encode_nssai,
    encode_pdu_session_status,
    encode_tai_list,
)
from .message import (
    EnumNibble,
    EnumOctet,
    F,
    Flag,
    Funcs,
    Identity,
    MmMessage,
    Nibble,
    Obj,
    Octets,
    Pair,
    Uint8,
)

__all__ = [
    "AuthenticationFailure",
    "AuthenticationReject",
    "AuthenticationRequest",
    "AuthenticationResponse",
    "ConfigurationUpdateCommand",
    "ConfigurationUpdateComplete",
    "DeregistrationAcceptUeOriginating",
    "DeregistrationAcceptUeTerminated",
    "DeregistrationRequestUeOriginating",
    "DeregistrationRequestUeTerminated",
    "DlNasTransport",
    "FiveGmmStatus",
    "IdentityRequest",
    "IdentityResponse",
    "MM_MESSAGE_CLASSES",
    "RegistrationAccept",
    "RegistrationComplete",
    "RegistrationReject",
    "RegistrationRequest",
    "SecurityModeCommand",
    "SecurityModeComplete",
    "SecurityModeReject",
    "ServiceAccept",
    "ServiceReject",
    "ServiceRequest",
    "UlNasTransport",
]

# --- shared codecs -------------------------------------------------------------------------

_KSI = Nibble(NgKsi)
_CAUSE = EnumOctet(FiveGmmCause)
_NSSAI = Funcs(encode_nssai, decode_nssai)
_TAI_LIST = Funcs(encode_tai_list, decode_tai_list)
_CAG = Funcs(encode_cag_info_list, decode_cag_info_list)
_PSS = Funcs(encode_pdu_session_status, decode_pdu_session_status)
_TIMER = Obj(GprsTimer)
_TIMER3 = Obj(GprsTimer3)
_EAP = Octets(4, 1500)  # EAP message (TS 24.501 9.11.2.2): 4..1500 octets
_ANY = Octets(0)
_ANY1 = Octets(1)
_GUTI = Identity(IdentityType.GUTI)


def _encode_plmn_list(plmns: tuple[PlmnId, ...]) -> bytes:
    plmns = tuple(plmns)
    if not 1 <= len(plmns) <= 15:
        raise ValueError("a PLMN list holds 1 to 15 PLMNs (TS 24.008 10.5.1.13)")
    return b"".join(p.to_bytes() for p in plmns)


def _decode_plmn_list(data: bytes) -> tuple[PlmnId, ...]:
    if not data or len(data) % 3 or len(data) > 45:
        raise DecodeError("PLMN list length is not a multiple of 3 (1..15 PLMNs)")
    return tuple(PlmnId.from_bytes(data[i:i + 3]) for i in range(0, len(data), 3))


def _enc_reg_type(reg_type: RegistrationType | int, follow_on: bool) -> int:
    if not 0 <= int(reg_type) <= 7:
        raise ValueError(f"registration type {reg_type} is 3 bits")
    return (bool(follow_on) << 3) | int(reg_type)


def _dec_reg_type(raw: int) -> tuple[RegistrationType | int, bool]:
    # TS 24.501 9.11.3.7: unused values are to be read as "initial registration" by the network;
    # the value is kept as received (an int) so that the AMF can decide and re-encoding is exact.
    return enum_or_int(RegistrationType, raw & 7), bool(raw & 8)


# --- registration ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RegistrationRequest(MmMessage):
    """REGISTRATION REQUEST (TS 24.501 8.2.6), UE to network.

    ``mm_capability`` (5GMM capability, 9.11.3.1), ``s1_ue_network_capability`` (9.11.3.48),
    ``update_type`` (5GS update type, 9.11.3.9A) and the two NAS containers are raw value octets.
    """

    MESSAGE_TYPE = MmMessageType.REGISTRATION_REQUEST
    _PYCRATE = FGMM.FGMMRegistrationRequest

    registration_type: RegistrationType | int = RegistrationType.INITIAL
    follow_on_request: bool = False
    ngksi: NgKsi = NgKsi()
    mobile_identity: MobileIdentity
    non_current_native_ngksi: NgKsi | None = None
    mm_capability: bytes | None = None
    ue_security_capability: UeSecurityCapability | None = None
    requested_nssai: tuple[SNssai, ...] | None = None
    last_visited_tai: Tai | None = None
    s1_ue_network_capability: bytes | None = None
    uplink_data_status: frozenset[int] | None = None
    pdu_session_status: frozenset[int] | None = None
    ue_status: UeStatus | None = None
    additional_guti: Guti5g | None = None
    allowed_pdu_session_status: frozenset[int] | None = None
    eps_nas_message_container: bytes | None = None
    update_type: bytes | None = None
    nas_message_container: bytes | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("ngksi", "NAS_KSI", _KSI),
        F(("registration_type", "follow_on_request"), "5GSRegType", Pair(_enc_reg_type, _dec_reg_type)),
        F("mobile_identity", "5GSID", Identity()),
        F("non_current_native_ngksi", "NonCurrentNativeNAS_KSI", _KSI),
        F("mm_capability", "5GMMCap", Octets(1, 13)),
        F("ue_security_capability", "UESecCap", Obj(UeSecurityCapability)),
        F("requested_nssai", "NSSAI", _NSSAI),
        F("last_visited_tai", "TAI", Obj(Tai)),
        F("s1_ue_network_capability", "S1UENetCap", Octets(2, 13)),
        F("uplink_data_status", "ULDataStat", _PSS),
        F("pdu_session_status", "PDUSessStat", _PSS),
        F("ue_status", "UEStatus", Obj(UeStatus)),
        F("additional_guti", "AddGUTI", _GUTI),
        F("allowed_pdu_session_status", "AllowedPDUSessStat", _PSS),
        F("eps_nas_message_container", "EPSNASContainer", _ANY1),
        F("update_type", "5GSUpdateType", _ANY1),
        F("nas_message_container", "NASContainer", _ANY1),
    )


@dataclass(frozen=True, kw_only=True)
class RegistrationAccept(MmMessage):
    """REGISTRATION ACCEPT (TS 24.501 8.2.7), network to UE.

    ``network_feature_support`` (5GS network feature support, 9.11.3.5) is raw value octets.
    """

    MESSAGE_TYPE = MmMessageType.REGISTRATION_ACCEPT
    _PYCRATE = FGMM.FGMMRegistrationAccept

    result: RegistrationResult = RegistrationResult()
    guti: Guti5g | None = None
    equivalent_plmns: tuple[PlmnId, ...] | None = None
    tai_list: tuple[Tai, ...] | None = None
    allowed_nssai: tuple[SNssai, ...] | None = None
    configured_nssai: tuple[SNssai, ...] | None = None
    network_feature_support: bytes | None = None
    pdu_session_status: frozenset[int] | None = None
    t3512: GprsTimer3 | None = None
    t3502: GprsTimer | None = None
    cag_information_list: tuple[CagInfo, ...] | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("result", "5GSRegResult", Obj(RegistrationResult)),
        F("guti", "GUTI", _GUTI),
        F("equivalent_plmns", "EquivPLMNList", Funcs(_encode_plmn_list, _decode_plmn_list)),
        F("tai_list", "5GSTAIList", _TAI_LIST),
        F("allowed_nssai", "AllowedNSSAI", _NSSAI),
        F("configured_nssai", "ConfiguredNSSAI", _NSSAI),
        F("network_feature_support", "5GSNetFeat", Octets(1, 3)),
        F("pdu_session_status", "PDUSessStat", _PSS),
        F("t3512", "T3512", _TIMER3),
        F("t3502", "T3502", _TIMER),
        F("cag_information_list", "CAGInfoList", _CAG),
    )


@dataclass(frozen=True, kw_only=True)
class RegistrationComplete(MmMessage):
    """REGISTRATION COMPLETE (TS 24.501 8.2.8), UE to network."""

    MESSAGE_TYPE = MmMessageType.REGISTRATION_COMPLETE
    _PYCRATE = FGMM.FGMMRegistrationComplete
    other_ies: tuple[RawIe, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RegistrationReject(MmMessage):
    """REGISTRATION REJECT (TS 24.501 8.2.9), network to UE. For CAG admission failures the cause is
    #76 (:attr:`FiveGmmCause.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY`) and the
    network may include an updated CAG information list (TS 24.501 5.5.1.2.5)."""

    MESSAGE_TYPE = MmMessageType.REGISTRATION_REJECT
    _PYCRATE = FGMM.FGMMRegistrationReject

    cause: FiveGmmCause | int
    t3346: GprsTimer | None = None
    t3502: GprsTimer | None = None
    eap_message: bytes | None = None
    cag_information_list: tuple[CagInfo, ...] | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("cause", "5GMMCause", _CAUSE),
        F("t3346", "T3346", _TIMER),
        F("t3502", "T3502", _TIMER),
        F("eap_message", "EAPMsg", _EAP),
        F("cag_information_list", "CAGInfoList", _CAG),
    )


# --- authentication -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AuthenticationRequest(MmMessage):
    """AUTHENTICATION REQUEST (TS 24.501 8.2.1): ngKSI, ABBA (9.11.3.10), RAND (9.11.3.16) and
    AUTN (9.11.3.15) for 5G AKA, or an EAP message for EAP-AKA'."""

    MESSAGE_TYPE = MmMessageType.AUTHENTICATION_REQUEST
    _PYCRATE = FGMM.FGMMAuthenticationRequest

    ngksi: NgKsi
    abba: bytes = b"\x00\x00"
    rand: bytes | None = None
    autn: bytes | None = None
    eap_message: bytes | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("ngksi", "NAS_KSI", _KSI),
        F("abba", "ABBA", Octets(2, 255)),
        F("rand", "RAND", Octets(16, 16)),
        F("autn", "AUTN", Octets(16, 16)),
        F("eap_message", "EAPMsg", _EAP),
    )


@dataclass(frozen=True, kw_only=True)
class AuthenticationResponse(MmMessage):
    """AUTHENTICATION RESPONSE (TS 24.501 8.2.2): RES* (authentication response parameter,
    9.11.3.17) or an EAP message."""

    MESSAGE_TYPE = MmMessageType.AUTHENTICATION_RESPONSE
    _PYCRATE = FGMM.FGMMAuthenticationResponse

    res_star: bytes | None = None
    eap_message: bytes | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("res_star", "RES", Octets(4, 16)),
        F("eap_message", "EAPMsg", _EAP),
    )


@dataclass(frozen=True, kw_only=True)
class AuthenticationFailure(MmMessage):
    """AUTHENTICATION FAILURE (TS 24.501 8.2.4): cause #20 MAC failure, #21 synch failure (with
    AUTS, the authentication failure parameter of 9.11.3.14) or #26 non-5G authentication
    unacceptable."""

    MESSAGE_TYPE = MmMessageType.AUTHENTICATION_FAILURE
    _PYCRATE = FGMM.FGMMAuthenticationFailure

    cause: FiveGmmCause | int
    auts: bytes | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("cause", "5GMMCause", _CAUSE),
        F("auts", "AUTS", Octets(14, 14)),
    )


@dataclass(frozen=True, kw_only=True)
class AuthenticationReject(MmMessage):
    """AUTHENTICATION REJECT (TS 24.501 8.2.5)."""

    MESSAGE_TYPE = MmMessageType.AUTHENTICATION_REJECT
    _PYCRATE = FGMM.FGMMAuthenticationReject

    eap_message: bytes | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (F("eap_message", "EAPMsg", _EAP),)


# --- identification ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class IdentityRequest(MmMessage):
    """IDENTITY REQUEST (TS 24.501 8.2.21): the requested 5GS identity type (9.11.3.3)."""

    MESSAGE_TYPE = MmMessageType.IDENTITY_REQUEST
    _PYCRATE = FGMM.FGMMIdentityRequest

    identity_type: IdentityType | int = IdentityType.SUCI
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (F("identity_type", "5GSIDType", EnumNibble(IdentityType, bits=3)),)


@dataclass(frozen=True, kw_only=True)
class IdentityResponse(MmMessage):
    """IDENTITY RESPONSE (TS 24.501 8.2.22)."""

    MESSAGE_TYPE = MmMessageType.IDENTITY_RESPONSE
    _PYCRATE = FGMM.FGMMIdentityResponse

    mobile_identity: MobileIdentity
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (F("mobile_identity", "5GSID", Identity()),)


# --- security mode control ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SecurityModeCommand(MmMessage):
    """SECURITY MODE COMMAND (TS 24.501 8.2.25): selected NAS security algorithms, ngKSI, replayed
    UE security capabilities, IMEISV request, additional 5G security information, EAP, ABBA."""

    MESSAGE_TYPE = MmMessageType.SECURITY_MODE_COMMAND
    _PYCRATE = FGMM.FGMMSecurityModeCommand

    selected_algorithms: NasSecurityAlgorithms
    ngksi: NgKsi
    replayed_ue_security_capability: UeSecurityCapability
    imeisv_request: bool | None = None
    additional_security_information: Additional5gSecurityInformation | None = None
    eap_message: bytes | None = None
    abba: bytes | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("selected_algorithms", "NASSecAlgo", Obj(NasSecurityAlgorithms)),
        F("ngksi", "NAS_KSI", _KSI),
        F("replayed_ue_security_capability", "UESecCap", Obj(UeSecurityCapability)),
        F("imeisv_request", "IMEISVReq", Flag()),
        F("additional_security_information", "Add5GSecInfo", Obj(Additional5gSecurityInformation)),
        F("eap_message", "EAPMsg", _EAP),
        F("abba", "ABBA", Octets(2, 255)),
    )


@dataclass(frozen=True, kw_only=True)
class SecurityModeComplete(MmMessage):
    """SECURITY MODE COMPLETE (TS 24.501 8.2.26): IMEISV, the complete initial NAS message in the
    NAS message container (TS 24.501 4.4.6), and a non-IMEISV PEI."""

    MESSAGE_TYPE = MmMessageType.SECURITY_MODE_COMPLETE
    _PYCRATE = FGMM.FGMMSecurityModeComplete

    imeisv: Pei | None = None
    nas_message_container: bytes | None = None
    non_imeisv_pei: Pei | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("imeisv", "IMEISV", Identity(IdentityType.IMEISV)),
        F("nas_message_container", "NASContainer", _ANY1),
        F("non_imeisv_pei", "PEI", Identity(IdentityType.IMEI)),
    )


@dataclass(frozen=True, kw_only=True)
class SecurityModeReject(MmMessage):
    """SECURITY MODE REJECT (TS 24.501 8.2.27)."""

    MESSAGE_TYPE = MmMessageType.SECURITY_MODE_REJECT
    _PYCRATE = FGMM.FGMMSecurityModeReject

    cause: FiveGmmCause | int
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (F("cause", "5GMMCause", _CAUSE),)


# --- de-registration -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DeregistrationRequestUeOriginating(MmMessage):
    """DEREGISTRATION REQUEST, UE originating (TS 24.501 8.2.12)."""

    MESSAGE_TYPE = MmMessageType.DEREGISTRATION_REQUEST_UE_ORIGINATING
    _PYCRATE = FGMM.FGMMMODeregistrationRequest

    deregistration_type: DeregistrationType = DeregistrationType()
    ngksi: NgKsi = NgKsi()
    mobile_identity: MobileIdentity
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("ngksi", "NAS_KSI", _KSI),
        F("deregistration_type", "DeregistrationType", Nibble(DeregistrationType)),
        F("mobile_identity", "5GSID", Identity()),
    )


@dataclass(frozen=True, kw_only=True)
class DeregistrationAcceptUeOriginating(MmMessage):
    """DEREGISTRATION ACCEPT, UE originating de-registration (TS 24.501 8.2.13), network to UE."""

    MESSAGE_TYPE = MmMessageType.DEREGISTRATION_ACCEPT_UE_ORIGINATING
    _PYCRATE = FGMM.FGMMMODeregistrationAccept
    other_ies: tuple[RawIe, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DeregistrationRequestUeTerminated(MmMessage):
    """DEREGISTRATION REQUEST, UE terminated (TS 24.501 8.2.14), network to UE."""

    MESSAGE_TYPE = MmMessageType.DEREGISTRATION_REQUEST_UE_TERMINATED
    _PYCRATE = FGMM.FGMMMTDeregistrationRequest

    deregistration_type: DeregistrationType = DeregistrationType()
    cause: FiveGmmCause | int | None = None
    t3346: GprsTimer | None = None
    cag_information_list: tuple[CagInfo, ...] | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("deregistration_type", "DeregistrationType", Nibble(DeregistrationType)),
        F("cause", "5GMMCause", _CAUSE),
        F("t3346", "T3346", _TIMER),
        F("cag_information_list", "CAGInfoList", _CAG),
    )


@dataclass(frozen=True, kw_only=True)
class DeregistrationAcceptUeTerminated(MmMessage):
    """DEREGISTRATION ACCEPT, UE terminated de-registration (TS 24.501 8.2.15), UE to network."""

    MESSAGE_TYPE = MmMessageType.DEREGISTRATION_ACCEPT_UE_TERMINATED
    _PYCRATE = FGMM.FGMMMTDeregistrationAccept
    other_ies: tuple[RawIe, ...] = ()


# --- service request --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ServiceRequest(MmMessage):
    """SERVICE REQUEST (TS 24.501 8.2.16): service type, ngKSI, 5G-S-TMSI."""

    MESSAGE_TYPE = MmMessageType.SERVICE_REQUEST
    _PYCRATE = FGMM.FGMMServiceRequest

    service_type: ServiceType | int = ServiceType.SIGNALLING
    ngksi: NgKsi = NgKsi()
    s_tmsi: STmsi5g
    uplink_data_status: frozenset[int] | None = None
    pdu_session_status: frozenset[int] | None = None
    allowed_pdu_session_status: frozenset[int] | None = None
    nas_message_container: bytes | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("service_type", "ServiceType", EnumNibble(ServiceType)),
        F("ngksi", "NAS_KSI", _KSI),
        F("s_tmsi", "5GSID", Identity(IdentityType.S_TMSI)),
        F("uplink_data_status", "ULDataStat", _PSS),
        F("pdu_session_status", "PDUSessStat", _PSS),
        F("allowed_pdu_session_status", "AllowedPDUSessStat", _PSS),
        F("nas_message_container", "NASContainer", _ANY1),
    )


@dataclass(frozen=True, kw_only=True)
class ServiceAccept(MmMessage):
    """SERVICE ACCEPT (TS 24.501 8.2.17)."""

    MESSAGE_TYPE = MmMessageType.SERVICE_ACCEPT
    _PYCRATE = FGMM.FGMMServiceAccept

    pdu_session_status: frozenset[int] | None = None
    pdu_session_reactivation_result: frozenset[int] | None = None
    eap_message: bytes | None = None
    t3448: GprsTimer | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("pdu_session_status", "PDUSessStat", _PSS),
        F("pdu_session_reactivation_result", "PDUSessReactResult", _PSS),
        F("eap_message", "EAPMsg", _EAP),
        F("t3448", "T3448", _TIMER),
    )


@dataclass(frozen=True, kw_only=True)
class ServiceReject(MmMessage):
    """SERVICE REJECT (TS 24.501 8.2.18); cause #76 and a CAG information list as for
    REGISTRATION REJECT (TS 24.501 5.6.1.5)."""

    MESSAGE_TYPE = MmMessageType.SERVICE_REJECT
    _PYCRATE = FGMM.FGMMServiceReject

    cause: FiveGmmCause | int
    pdu_session_status: frozenset[int] | None = None
    t3346: GprsTimer | None = None
    eap_message: bytes | None = None
    t3448: GprsTimer | None = None
    cag_information_list: tuple[CagInfo, ...] | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("cause", "5GMMCause", _CAUSE),
        F("pdu_session_status", "PDUSessStat", _PSS),
        F("t3346", "T3346", _TIMER),
        F("eap_message", "EAPMsg", _EAP),
        F("t3448", "T3448", _TIMER),
        F("cag_information_list", "CAGInfoList", _CAG),
    )


# --- configuration update ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ConfigurationUpdateCommand(MmMessage):
    """CONFIGURATION UPDATE COMMAND (TS 24.501 8.2.19). The network names (9.11.3.35) are raw value
    octets. A CAG information list may only be sent once NAS security is active
    (TS 33.501 Annex I.4)."""

    MESSAGE_TYPE = MmMessageType.CONFIGURATION_UPDATE_COMMAND
    _PYCRATE = FGMM.FGMMConfigurationUpdateCommand

    indication: ConfigurationUpdateIndication | None = None
    guti: Guti5g | None = None
    tai_list: tuple[Tai, ...] | None = None
    allowed_nssai: tuple[SNssai, ...] | None = None
    network_full_name: bytes | None = None
    network_short_name: bytes | None = None
    configured_nssai: tuple[SNssai, ...] | None = None
    cag_information_list: tuple[CagInfo, ...] | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("indication", "ConfigUpdateInd", Nibble(ConfigurationUpdateIndication)),
        F("guti", "GUTI", _GUTI),
        F("tai_list", "5GSTAIList", _TAI_LIST),
        F("allowed_nssai", "AllowedNSSAI", _NSSAI),
        F("network_full_name", "NetFullName", _ANY1),
        F("network_short_name", "NetShortName", _ANY1),
        F("configured_nssai", "ConfiguredNSSAI", _NSSAI),
        F("cag_information_list", "CAGInfoList", _CAG),
    )


@dataclass(frozen=True, kw_only=True)
class ConfigurationUpdateComplete(MmMessage):
    """CONFIGURATION UPDATE COMPLETE (TS 24.501 8.2.20)."""

    MESSAGE_TYPE = MmMessageType.CONFIGURATION_UPDATE_COMPLETE
    _PYCRATE = FGMM.FGMMConfigurationUpdateComplete
    other_ies: tuple[RawIe, ...] = ()


# --- NAS transport ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UlNasTransport(MmMessage):
    """UL NAS TRANSPORT (TS 24.501 8.2.10). With payload container type "N1 SM information" the
    payload is a 5GSM message (decode it with :func:`testbed.protocols.nas.decode`)."""

    MESSAGE_TYPE = MmMessageType.UL_NAS_TRANSPORT
    _PYCRATE = FGMM.FGMMULNASTransport

    payload_container_type: PayloadContainerType | int = PayloadContainerType.N1_SM_INFORMATION
    payload_container: bytes
    pdu_session_id: int | None = None
    old_pdu_session_id: int | None = None
    request_type: RequestType | int | None = None
    s_nssai: SNssai | None = None
    dnn: str | None = None
    additional_information: bytes | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("payload_container_type", "PayloadContainerType", EnumNibble(PayloadContainerType)),
        F("payload_container", "PayloadContainer", _ANY1),
        F("pdu_session_id", "PDUSessID", Uint8()),
        F("old_pdu_session_id", "OldPDUSessID", Uint8()),
        F("request_type", "RequestType", EnumNibble(RequestType, bits=3)),
        F("s_nssai", "SNSSAI", Obj(SNssai)),
        F("dnn", "DNN", Funcs(encode_dnn, decode_dnn)),
        F("additional_information", "AddInfo", _ANY1),
    )


@dataclass(frozen=True, kw_only=True)
class DlNasTransport(MmMessage):
    """DL NAS TRANSPORT (TS 24.501 8.2.11)."""

    MESSAGE_TYPE = MmMessageType.DL_NAS_TRANSPORT
    _PYCRATE = FGMM.FGMMDLNASTransport

    payload_container_type: PayloadContainerType | int = PayloadContainerType.N1_SM_INFORMATION
    payload_container: bytes
    pdu_session_id: int | None = None
    additional_information: bytes | None = None
    cause: FiveGmmCause | int | None = None
    back_off_timer: GprsTimer3 | None = None
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (
        F("payload_container_type", "PayloadContainerType", EnumNibble(PayloadContainerType)),
        F("payload_container", "PayloadContainer", _ANY1),
        F("pdu_session_id", "PDUSessID", Uint8()),
        F("additional_information", "AddInfo", _ANY1),
        F("cause", "5GMMCause", _CAUSE),
        F("back_off_timer", "BackOffTimer", _TIMER3),
    )


@dataclass(frozen=True, kw_only=True)
class FiveGmmStatus(MmMessage):
    """5GMM STATUS (TS 24.501 8.2.29)."""

    MESSAGE_TYPE = MmMessageType.FIVEGMM_STATUS
    _PYCRATE = FGMM.FGMMStatus

    cause: FiveGmmCause | int
    other_ies: tuple[RawIe, ...] = ()

    _FIELDS = (F("cause", "5GMMCause", _CAUSE),)


MM_MESSAGE_CLASSES: dict[int, type[MmMessage]] = {
    int(cls.MESSAGE_TYPE): cls
    for cls in (
        RegistrationRequest, RegistrationAccept, RegistrationComplete, RegistrationReject,
        AuthenticationRequest, AuthenticationResponse, AuthenticationFailure, AuthenticationReject,
        IdentityRequest, IdentityResponse, SecurityModeCommand, SecurityModeComplete, SecurityModeReject,
        DeregistrationRequestUeOriginating, DeregistrationAcceptUeOriginating,
        DeregistrationRequestUeTerminated, DeregistrationAcceptUeTerminated,
        ServiceRequest, ServiceAccept, ServiceReject,
        ConfigurationUpdateCommand, ConfigurationUpdateComplete,
        UlNasTransport, DlNasTransport, FiveGmmStatus,
    )
}
