"""Sans-I/O N4 codec: the PFCP messages (TS 29.244) that the SMF and the UPF exchange.

This module maps the PFCP messages and IEs to typed, frozen dataclasses:

- node messages: Heartbeat (7.4.2), Association Setup / Release (7.4.4), Version Not Supported (7.4.4.7);
- session messages: Session Establishment (7.5.2, 7.5.3), Modification (7.5.4, 7.5.5),
  Deletion (7.5.6, 7.5.7) with the rules a PDU session needs (PDR, FAR, URR, QER) and
  usage reports in the deletion response; Session Report (7.5.8, 7.5.9) with a Downlink Data
  Report (the UP function buffers downlink data of an idle UE and asks the CP function to page it).

:func:`encode` builds the bytes (sequence number and SEID in the header from the message);
:func:`decode` raises only :class:`testbed.errors.DecodeError`. Both use the hand-written TLV codec
of :mod:`testbed.core.smf.pfcp_native` (header TS 29.244 7.2, IE format 8.1.1, IEs 8.2).
:func:`encode_pycrate` / :func:`decode_pycrate` are the reference implementation on top of pycrate
(``pycrate_mobile.TS29244_PFCP``, imported on first use), ~100x slower: the tests check that both
produce the same octets and the same dataclasses. Missing or malformed mandatory
IEs raise :class:`PfcpIeError` (a ``DecodeError``) carrying the PFCP cause (66 / 69 / 68), the
offending IE type and the parsed header, so that a receiver can answer a request with the right
cause (TS 29.244 7.6). Well-formed messages of other types decode to :class:`OtherMessage`.

:func:`pdu_session_rules` produces the rules of a PDU session (TS 23.501 5.8.2, TS 29.244 5.2):
uplink PDR (source interface Access, F-TEID or CHOOSE, UE IP as source address, QFI, outer header
removal) -> FAR forward to Core; downlink PDR (source interface Core, UE IP as destination) -> FAR
buffering until the gNB's F-TEID is known, then forwarding with outer header creation (GTP-U/UDP/IPv4).
"""

from __future__ import annotations

import ipaddress
import struct
import threading
from dataclasses import dataclass, field
from enum import IntEnum
from socket import inet_aton, inet_ntoa
from typing import Any, ClassVar

from testbed.errors import DecodeError

PORT = 8805
VERSION = 1

# pycrate keeps some state at class level (e.g. PFCPIEs.VERIF_MAND, toggled by its parse_PFCP, which
# we do not use); every encode_pycrate/decode_pycrate holds this lock so that threads never interleave
# inside pycrate.
_LOCK = threading.Lock()
_P: Any = None  # pycrate_mobile.TS29244_PFCP, imported by _pycrate() (the reference codec only)


def _pycrate() -> Any:
    global _P
    if _P is None:
        from pycrate_mobile import TS29244_PFCP

        _P = TS29244_PFCP
    return _P


class MsgType(IntEnum):
    """PFCP message types (TS 29.244 7.3, table 7.3-1)."""

    HEARTBEAT_REQUEST = 1
    HEARTBEAT_RESPONSE = 2
    ASSOCIATION_SETUP_REQUEST = 5
    ASSOCIATION_SETUP_RESPONSE = 6
    ASSOCIATION_RELEASE_REQUEST = 9
    ASSOCIATION_RELEASE_RESPONSE = 10
    VERSION_NOT_SUPPORTED_RESPONSE = 11
    SESSION_ESTABLISHMENT_REQUEST = 50
    SESSION_ESTABLISHMENT_RESPONSE = 51
    SESSION_MODIFICATION_REQUEST = 52
    SESSION_MODIFICATION_RESPONSE = 53
    SESSION_DELETION_REQUEST = 54
    SESSION_DELETION_RESPONSE = 55
    SESSION_REPORT_REQUEST = 56
    SESSION_REPORT_RESPONSE = 57


# Message names (TS 29.244 7.3, table 7.3-1): the message types a PFCP entity may receive
MESSAGE_NAMES: dict[int, str] = {
    1: "PFCP Heartbeat Request", 2: "PFCP Heartbeat Response",
    3: "PFCP PFD Management Request", 4: "PFCP PFD Management Response",
    5: "PFCP Association Setup Request", 6: "PFCP Association Setup Response",
    7: "PFCP Association Update Request", 8: "PFCP Association Update Response",
    9: "PFCP Association Release Request", 10: "PFCP Association Release Response",
    11: "PFCP Version Not Supported Response",
    12: "PFCP Node Report Request", 13: "PFCP Node Report Response",
    14: "PFCP Session Set Deletion Request", 15: "PFCP Session Set Deletion Response",
    50: "PFCP Session Establishment Request", 51: "PFCP Session Establishment Response",
    52: "PFCP Session Modification Request", 53: "PFCP Session Modification Response",
    54: "PFCP Session Deletion Request", 55: "PFCP Session Deletion Response",
    56: "PFCP Session Report Request", 57: "PFCP Session Report Response",
}

# request type -> response type (TS 29.244 7.3, table 7.3-1; the same table as pycrate's PFCPReqResp)
RESPONSE_TO: dict[int, int] = {1: 2, 3: 4, 5: 6, 7: 8, 9: 10, 12: 13, 14: 15, 50: 51, 52: 53, 54: 55, 56: 57}
REQUEST_TYPES = frozenset(RESPONSE_TO)
RESPONSE_TYPES = frozenset(RESPONSE_TO.values()) | {int(MsgType.VERSION_NOT_SUPPORTED_RESPONSE)}
SESSION_TYPES = frozenset(range(50, 100))  # S = 1 (TS 29.244 7.2.2.1)


class Cause(IntEnum):
    """PFCP Cause values (TS 29.244 8.2.1, table 8.2.1-1)."""

    REQUEST_ACCEPTED = 1
    MORE_USAGE_REPORT_TO_SEND = 2
    REQUEST_PARTIALLY_ACCEPTED = 3
    REQUEST_REJECTED = 64
    SESSION_CONTEXT_NOT_FOUND = 65
    MANDATORY_IE_MISSING = 66
    CONDITIONAL_IE_MISSING = 67
    INVALID_LENGTH = 68
    MANDATORY_IE_INCORRECT = 69
    INVALID_FORWARDING_POLICY = 70
    INVALID_F_TEID_ALLOCATION_OPTION = 71
    NO_ESTABLISHED_PFCP_ASSOCIATION = 72
    RULE_CREATION_MODIFICATION_FAILURE = 73
    PFCP_ENTITY_IN_CONGESTION = 74
    NO_RESOURCES_AVAILABLE = 75
    SERVICE_NOT_SUPPORTED = 76
    SYSTEM_FAILURE = 77
    REDIRECTION_REQUESTED = 78
    ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED = 79


class Interface(IntEnum):
    """Source / Destination Interface values (TS 29.244 8.2.2, 8.2.24)."""

    ACCESS = 0
    CORE = 1
    SGI_LAN_N6_LAN = 2
    CP_FUNCTION = 3


class IeType(IntEnum):
    """The IE types this codec reads or writes (TS 29.244 8.1.2, table 8.1.2-1)."""

    CREATE_PDR = 1
    PDI = 2
    CREATE_FAR = 3
    FORWARDING_PARAMETERS = 4
    CREATE_URR = 6
    CREATE_QER = 7
    CREATED_PDR = 8
    UPDATE_FAR = 10
    UPDATE_FORWARDING_PARAMETERS = 11
    CAUSE = 19
    SOURCE_INTERFACE = 20
    F_TEID = 21
    NETWORK_INSTANCE = 22
    GATE_STATUS = 25
    MBR = 26
    PRECEDENCE = 29
    REPORTING_TRIGGERS = 37
    REPORT_TYPE = 39
    OFFENDING_IE = 40
    DESTINATION_INTERFACE = 42
    UP_FUNCTION_FEATURES = 43
    APPLY_ACTION = 44
    PDR_ID = 56
    F_SEID = 57
    NODE_ID = 60
    MEASUREMENT_METHOD = 62
    USAGE_REPORT_TRIGGER = 63
    VOLUME_MEASUREMENT = 66
    USAGE_REPORT_DELETION = 79
    URR_ID = 81
    DOWNLINK_DATA_REPORT = 83
    OUTER_HEADER_CREATION = 84
    CP_FUNCTION_FEATURES = 89
    UE_IP_ADDRESS = 93
    OUTER_HEADER_REMOVAL = 95
    RECOVERY_TIME_STAMP = 96
    UR_SEQN = 104
    FAR_ID = 108
    QER_ID = 109
    PDN_TYPE = 113
    FAILED_RULE_ID = 114
    QFI = 124
    APN_DNN = 159
    S_NSSAI = 257


# IE names (TS 29.244 8.1.2, table 8.1.2-1; spelled as pycrate does) for error messages
IE_NAMES: dict[int, str] = {
    1: "Create PDR", 2: "PDI", 3: "Create FAR", 4: "Forwarding Parameters", 6: "Create URR", 7: "Create QER",
    8: "Created PDR", 10: "Update FAR", 11: "Update Forwarding Parameters", 19: "Cause", 20: "Source Interface",
    21: "F-TEID", 22: "Network Instance", 25: "Gate Status", 26: "MBR", 29: "Precedence", 37: "Reporting Triggers",
    39: "Report Type", 40: "Offending IE", 42: "Destination Interface", 43: "UP Function Features", 44: "Apply Action", 56: "PDR ID",
    57: "F-SEID", 60: "Node ID", 62: "Measurement Method", 63: "Usage Report Trigger", 66: "Volume Measurement",
    79: "Usage Report (Session Deletion Resp)", 81: "URR ID", 83: "Downlink Data Report",
    84: "Outer Header Creation",
    89: "CP Function Features", 93: "UE IP Address", 95: "Outer Header Removal", 96: "Recovery Time Stamp",
    104: "UR-SEQN", 108: "FAR ID", 109: "QER ID", 113: "PDN Type", 114: "Failed Rule ID", 124: "QFI",
    159: "APN/DNN", 257: "S-NSSAI",
}


class ApplyAction:
    """Apply Action flags, octet 5 (TS 29.244 8.2.26)."""

    DROP = 0x01
    FORW = 0x02
    BUFF = 0x04
    NOCP = 0x08
    DUPL = 0x10


class ReportType:
    """Report Type flags, octet 5 (TS 29.244 8.2.21)."""

    DLDR = 0x01  # Downlink Data Report
    USAR = 0x02  # Usage Report
    ERIR = 0x04  # Error Indication Report
    UPIR = 0x08  # User Plane Inactivity Report


UP_FEATURE_FTUP = 0x10  # UP Function Features octet 5 bit 5: F-TEID allocation in the UP function (8.2.25)
USAGE_TRIGGER_TERMR = 0x40  # Usage Report Trigger octet 6 bit 7: termination report (8.2.41)
PDN_TYPE_IPV4 = 1  # PDN Type (8.2.79)


class PfcpIeError(DecodeError):
    """A mandatory IE is missing or malformed; ``cause`` is what a receiver answers (TS 29.244 7.6)."""

    def __init__(self, message: str, cause: Cause, ie_type: int | None = None, header: Header | None = None):
        super().__init__(message)
        self.cause = cause
        self.ie_type = ie_type
        self.header = header


# --------------------------------------------------------------------------- header

_HDR_NODE = struct.Struct("!BBHI")  # flags, type, length, seq(24) + spare(8)
_HDR_SESS = struct.Struct("!BBHQI")  # flags, type, length, SEID, seq(24) + spare(8)


@dataclass(frozen=True, slots=True)
class Header:
    """PFCP message header (TS 29.244 7.2.2): ``seid`` is None when S = 0."""

    version: int
    msg_type: int
    length: int
    seq: int
    seid: int | None

    @property
    def is_request(self) -> bool:
        return self.msg_type in REQUEST_TYPES


def peek_header(buf: bytes) -> Header:
    """Parse the header only (cheap); raises DecodeError if it is truncated or inconsistent."""
    n = len(buf)
    if n < 8:
        raise DecodeError(f"PFCP message of {n} octets is shorter than the 8-octet header")
    flags, mtype, length, tail = _HDR_NODE.unpack_from(buf)
    version = flags >> 5
    s = flags & 0x01
    if s:
        if n < 16:
            raise DecodeError("PFCP session message shorter than its 16-octet header")
        _, _, _, seid, tail = _HDR_SESS.unpack_from(buf)
    else:
        seid = None
    hdr = Header(version, mtype, length, tail >> 8, seid)
    if version != VERSION:
        return hdr  # the caller answers Version Not Supported (TS 29.244 7.4.4.7)
    if length < (12 if s else 4):
        raise DecodeError(f"PFCP length field {length} shorter than the header")
    if n < 4 + length or (n > 4 + length and not flags & 0x04):
        raise DecodeError(f"PFCP length field {length} but {n - 4} octets follow the first 4")
    return hdr


def set_seq(buf: bytes, seq: int) -> bytes:
    """``buf`` with its header sequence number replaced by ``seq`` (24 bits)."""
    if not 0 <= seq < 1 << 24:
        raise ValueError(f"PFCP sequence number must be 0..2^24-1, got {seq}")
    off = 12 if buf[0] & 0x01 else 4
    return buf[:off] + (seq << 8 | buf[off + 3]).to_bytes(4, "big") + buf[off + 4:]


# --------------------------------------------------------------------------- typed IE values


def _check_u(name: str, v: Any, bits: int) -> int:
    if type(v) is int and 0 <= v < 1 << bits:  # fast path: a plain int (not a bool)
        return v
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << bits:
        raise ValueError(f"{name} must be an unsigned {bits}-bit integer, got {v!r}")
    return int(v)


def _check_ipv4(name: str, v: Any) -> str:
    if type(v) is str:
        # fast path: a canonical dotted quad (what ipaddress.IPv4Address accepts from a str) round-trips
        try:
            if inet_ntoa(inet_aton(v)) == v:
                return v
        except (OSError, ValueError):
            pass
    try:
        return str(ipaddress.IPv4Address(v))
    except (ValueError, TypeError):
        raise ValueError(f"{name} must be an IPv4 address, got {v!r}") from None


@dataclass(frozen=True, slots=True)
class Fteid:
    """F-TEID (8.2.3): a TEID and IPv4 address, or CHOOSE (the UP function allocates both)."""

    teid: int | None = None
    ipv4: str | None = None
    choose: bool = False
    choose_id: int | None = None

    def __post_init__(self) -> None:
        if self.choose:
            if self.teid is not None or self.ipv4 is not None:
                raise ValueError("an F-TEID with CHOOSE carries no TEID or address")
            if self.choose_id is not None:
                _check_u("CHOOSE ID", self.choose_id, 8)
        else:
            if self.teid is None or self.ipv4 is None:
                raise ValueError("an F-TEID without CHOOSE needs a TEID and an IPv4 address")
            _check_u("TEID", self.teid, 32)
            _check_ipv4("F-TEID address", self.ipv4)


@dataclass(frozen=True, slots=True)
class Fseid:
    """F-SEID (8.2.37): a 64-bit SEID and the IPv4 address of the node."""

    seid: int
    ipv4: str

    def __post_init__(self) -> None:
        _check_u("SEID", self.seid, 64)
        _check_ipv4("F-SEID address", self.ipv4)


@dataclass(frozen=True, slots=True)
class OuterHeaderCreation:
    """Outer Header Creation GTP-U/UDP/IPv4 (8.2.56): the peer's TEID and address."""

    teid: int
    ipv4: str

    def __post_init__(self) -> None:
        _check_u("TEID", self.teid, 32)
        _check_ipv4("outer header address", self.ipv4)


@dataclass(frozen=True, slots=True)
class Pdr:
    """Create PDR (7.5.2.2) with its PDI (source interface, F-TEID, UE IP address, QFI).

    The UE IP address is a source address in a PDR from Access (uplink) and a destination
    address otherwise (SD flag, 8.2.62).
    """

    pdr_id: int
    precedence: int
    source_interface: int
    fteid: Fteid | None = None
    ue_ipv4: str | None = None
    qfi: int | None = None
    network_instance: str | None = None
    outer_header_removal: bool = False  # GTP-U/UDP/IPv4
    far_id: int | None = None
    urr_ids: tuple[int, ...] = ()
    qer_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check_u("PDR ID", self.pdr_id, 16)
        _check_u("precedence", self.precedence, 32)
        _check_u("source interface", self.source_interface, 4)
        if self.ue_ipv4 is not None:
            _check_ipv4("UE IP address", self.ue_ipv4)
        if self.qfi is not None:
            _check_u("QFI", self.qfi, 6)
        if self.far_id is not None:
            _check_u("FAR ID", self.far_id, 32)


@dataclass(frozen=True, slots=True)
class Far:
    """Create FAR (7.5.2.3): apply action flags, destination interface, outer header creation."""

    far_id: int
    action: int = ApplyAction.FORW
    destination_interface: int | None = None
    outer_header_creation: OuterHeaderCreation | None = None
    network_instance: str | None = None

    def __post_init__(self) -> None:
        _check_u("FAR ID", self.far_id, 32)
        _check_u("apply action", self.action, 8)
        if self.destination_interface is not None:
            _check_u("destination interface", self.destination_interface, 4)


@dataclass(frozen=True, slots=True)
class UpdateFar:
    """Update FAR (7.5.4.3) with Update Forwarding Parameters."""

    far_id: int
    action: int | None = None
    destination_interface: int | None = None
    outer_header_creation: OuterHeaderCreation | None = None

    def __post_init__(self) -> None:
        _check_u("FAR ID", self.far_id, 32)
        if self.action is not None:
            _check_u("apply action", self.action, 8)


@dataclass(frozen=True, slots=True)
class Urr:
    """Create URR (7.5.2.4): volume measurement, reported at session termination."""

    urr_id: int
    volume: bool = True

    def __post_init__(self) -> None:
        _check_u("URR ID", self.urr_id, 32)


@dataclass(frozen=True, slots=True)
class Qer:
    """Create QER (7.5.2.5): gates, optional MBR (kbit/s), QFI for downlink marking."""

    qer_id: int
    qfi: int | None = None
    ul_gate_open: bool = True
    dl_gate_open: bool = True
    mbr_ul_kbps: int | None = None
    mbr_dl_kbps: int | None = None

    def __post_init__(self) -> None:
        _check_u("QER ID", self.qer_id, 32)
        if self.qfi is not None:
            _check_u("QFI", self.qfi, 6)
        if (self.mbr_ul_kbps is None) != (self.mbr_dl_kbps is None):
            raise ValueError("MBR needs both uplink and downlink")
        for v in (self.mbr_ul_kbps, self.mbr_dl_kbps):
            if v is not None:
                _check_u("MBR", v, 40)


@dataclass(frozen=True, slots=True)
class CreatedPdr:
    """Created PDR (7.5.3.2): the F-TEID the UP function allocated for a CHOOSE request."""

    pdr_id: int
    fteid: Fteid | None = None


@dataclass(frozen=True, slots=True)
class FailedRule:
    """Failed Rule ID (8.2.80): rule type 0 PDR, 1 FAR, 2 QER, 3 URR."""

    rule_type: int
    rule_id: int


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Usage Report in a Session Deletion Response (7.5.7.2) with its Volume Measurement (8.2.44)."""

    urr_id: int
    ur_seqn: int = 0
    trigger: int = USAGE_TRIGGER_TERMR
    ul_bytes: int = 0
    dl_bytes: int = 0
    ul_packets: int = 0
    dl_packets: int = 0


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, kw_only=True)
class PfcpMessage:
    """Base class: ``seq`` is the header sequence number (patched by the N4 client)."""

    MSG_TYPE: ClassVar[int]
    SESSION: ClassVar[bool] = False
    seq: int = 0


@dataclass(frozen=True, kw_only=True)
class HeartbeatRequest(PfcpMessage):
    MSG_TYPE: ClassVar[int] = MsgType.HEARTBEAT_REQUEST
    recovery_ts: int


@dataclass(frozen=True, kw_only=True)
class HeartbeatResponse(PfcpMessage):
    MSG_TYPE: ClassVar[int] = MsgType.HEARTBEAT_RESPONSE
    recovery_ts: int


@dataclass(frozen=True, kw_only=True)
class AssociationSetupRequest(PfcpMessage):
    MSG_TYPE: ClassVar[int] = MsgType.ASSOCIATION_SETUP_REQUEST
    node_id: str
    recovery_ts: int
    up_features: bytes | None = None
    cp_features: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class AssociationSetupResponse(PfcpMessage):
    MSG_TYPE: ClassVar[int] = MsgType.ASSOCIATION_SETUP_RESPONSE
    node_id: str
    cause: int
    recovery_ts: int
    up_features: bytes | None = None
    cp_features: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class AssociationReleaseRequest(PfcpMessage):
    MSG_TYPE: ClassVar[int] = MsgType.ASSOCIATION_RELEASE_REQUEST
    node_id: str


@dataclass(frozen=True, kw_only=True)
class AssociationReleaseResponse(PfcpMessage):
    MSG_TYPE: ClassVar[int] = MsgType.ASSOCIATION_RELEASE_RESPONSE
    node_id: str
    cause: int


@dataclass(frozen=True, kw_only=True)
class VersionNotSupportedResponse(PfcpMessage):
    MSG_TYPE: ClassVar[int] = MsgType.VERSION_NOT_SUPPORTED_RESPONSE


@dataclass(frozen=True, kw_only=True)
class SessionEstablishmentRequest(PfcpMessage):
    """7.5.2; the header SEID is 0 (no UP SEID yet, 7.2.2.4.2)."""

    MSG_TYPE: ClassVar[int] = MsgType.SESSION_ESTABLISHMENT_REQUEST
    SESSION: ClassVar[bool] = True
    node_id: str
    cp_fseid: Fseid
    pdrs: tuple[Pdr, ...]
    fars: tuple[Far, ...]
    urrs: tuple[Urr, ...] = ()
    qers: tuple[Qer, ...] = ()
    pdn_type: int | None = PDN_TYPE_IPV4
    dnn: str | None = None
    snssai: tuple[int, int | None] | None = None
    seid: int = 0


@dataclass(frozen=True, kw_only=True)
class SessionEstablishmentResponse(PfcpMessage):
    """7.5.3; the header SEID is the CP F-SEID's SEID."""

    MSG_TYPE: ClassVar[int] = MsgType.SESSION_ESTABLISHMENT_RESPONSE
    SESSION: ClassVar[bool] = True
    seid: int
    node_id: str
    cause: int
    up_fseid: Fseid | None = None
    created_pdrs: tuple[CreatedPdr, ...] = ()
    offending_ie: int | None = None
    failed_rule: FailedRule | None = None


@dataclass(frozen=True, kw_only=True)
class SessionModificationRequest(PfcpMessage):
    """7.5.4; the header SEID is the UP SEID."""

    MSG_TYPE: ClassVar[int] = MsgType.SESSION_MODIFICATION_REQUEST
    SESSION: ClassVar[bool] = True
    seid: int
    update_fars: tuple[UpdateFar, ...] = ()
    cp_fseid: Fseid | None = None


@dataclass(frozen=True, kw_only=True)
class SessionModificationResponse(PfcpMessage):
    MSG_TYPE: ClassVar[int] = MsgType.SESSION_MODIFICATION_RESPONSE
    SESSION: ClassVar[bool] = True
    seid: int
    cause: int
    offending_ie: int | None = None
    failed_rule: FailedRule | None = None


@dataclass(frozen=True, kw_only=True)
class SessionDeletionRequest(PfcpMessage):
    MSG_TYPE: ClassVar[int] = MsgType.SESSION_DELETION_REQUEST
    SESSION: ClassVar[bool] = True
    seid: int


@dataclass(frozen=True, kw_only=True)
class SessionDeletionResponse(PfcpMessage):
    MSG_TYPE: ClassVar[int] = MsgType.SESSION_DELETION_RESPONSE
    SESSION: ClassVar[bool] = True
    seid: int
    cause: int
    usage_reports: tuple[UsageReport, ...] = ()
    offending_ie: int | None = None


@dataclass(frozen=True, kw_only=True)
class SessionReportRequest(PfcpMessage):
    """7.5.8, UP -> CP; the header SEID is the CP F-SEID's SEID. ``report_type``: :class:`ReportType`
    flags; ``dl_data_pdr_ids``: the PDR IDs of the Downlink Data Report (7.5.8.2), present when DLDR is set."""

    MSG_TYPE: ClassVar[int] = MsgType.SESSION_REPORT_REQUEST
    SESSION: ClassVar[bool] = True
    seid: int
    report_type: int = ReportType.DLDR
    dl_data_pdr_ids: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SessionReportResponse(PfcpMessage):
    """7.5.9, CP -> UP; the header SEID is the UP F-SEID's SEID."""

    MSG_TYPE: ClassVar[int] = MsgType.SESSION_REPORT_RESPONSE
    SESSION: ClassVar[bool] = True
    seid: int
    cause: int
    offending_ie: int | None = None


@dataclass(frozen=True, kw_only=True)
class OtherMessage(PfcpMessage):
    """A well-formed PFCP message of a type this codec does not model (decode only)."""

    MSG_TYPE: ClassVar[int] = 0
    msg_type: int
    seid: int | None = None
    ies: tuple[int, ...] = field(default=())


PFCP_MESSAGE_CLASSES: dict[int, type[PfcpMessage]] = {
    int(c.MSG_TYPE): c for c in (
        HeartbeatRequest, HeartbeatResponse, AssociationSetupRequest, AssociationSetupResponse,
        AssociationReleaseRequest, AssociationReleaseResponse, VersionNotSupportedResponse,
        SessionEstablishmentRequest, SessionEstablishmentResponse, SessionModificationRequest,
        SessionModificationResponse, SessionDeletionRequest, SessionDeletionResponse, SessionReportRequest,
        SessionReportResponse)
}


# --------------------------------------------------------------------------- encoding

def _ie(t: int, data: Any) -> dict:
    return {"Type": int(t), "Data": data}


def _node_id(v: str) -> dict:
    try:
        ip = ipaddress.ip_address(v)
    except ValueError:
        if not isinstance(v, str) or not v or len(v) > 255:
            raise ValueError(f"Node ID must be an IP address or an FQDN, got {v!r}") from None
        return _ie(IeType.NODE_ID, {"Type": 2, "Val": v})
    return _ie(IeType.NODE_ID, {"Type": 0 if ip.version == 4 else 1, "Val": str(ip)})


def _fseid(f: Fseid) -> dict:
    return _ie(IeType.F_SEID, {"V4": 1, "V6": 0, "SEID": f.seid, "IPv4Addr": f.ipv4})


def _fteid(f: Fteid) -> dict:
    if f.choose:
        d: dict[str, Any] = {"CH": 1, "V4": 1}
        if f.choose_id is not None:
            d.update(CHID=1, CHOOSE_ID=f.choose_id)
        return _ie(IeType.F_TEID, d)
    return _ie(IeType.F_TEID, {"V4": 1, "TEID": f.teid, "IPv4Addr": f.ipv4})


def _ohc(o: OuterHeaderCreation) -> dict:
    return _ie(IeType.OUTER_HEADER_CREATION, {"GTPU_UDP_IPv4": 1, "TEID": o.teid, "IPv4Addr": o.ipv4})


def _cause(c: int) -> dict:
    return _ie(IeType.CAUSE, _check_u("cause", int(c), 8))


def _u32(t: int, v: int) -> dict:
    return _ie(t, {"Val": v})


def _net_inst(v: str) -> dict:
    return _ie(IeType.NETWORK_INSTANCE, _dnn_bytes(v))


def _dnn_bytes(v: str) -> bytes:
    # APN/DNN and network instance as DNS labels (TS 23.003 9.1, TS 29.244 8.2.4 / 8.2.117)
    labels = v.split(".")
    if not v or any(not 1 <= len(x.encode()) <= 63 for x in labels):
        raise ValueError(f"DNN / network instance must be DNS labels of 1..63 octets, got {v!r}")
    return b"".join(bytes([len(x.encode())]) + x.encode() for x in labels)


def _pdr(p: Pdr) -> dict:
    pdi = [_ie(IeType.SOURCE_INTERFACE, {"If": p.source_interface})]
    if p.fteid is not None:
        pdi.append(_fteid(p.fteid))
    if p.network_instance is not None:
        pdi.append(_net_inst(p.network_instance))
    if p.ue_ipv4 is not None:
        sd = 0 if p.source_interface == Interface.ACCESS else 1
        pdi.append(_ie(IeType.UE_IP_ADDRESS, {"SD": sd, "V4": 1, "IPv4Addr": p.ue_ipv4}))
    if p.qfi is not None:
        pdi.append(_ie(IeType.QFI, {"QFI": p.qfi}))
    ies = [_ie(IeType.PDR_ID, {"Val": p.pdr_id}), _u32(IeType.PRECEDENCE, p.precedence), _ie(IeType.PDI, pdi)]
    if p.outer_header_removal:
        ies.append(_ie(IeType.OUTER_HEADER_REMOVAL, {"Desc": 0}))
    if p.far_id is not None:
        ies.append(_u32(IeType.FAR_ID, p.far_id))
    ies += [_u32(IeType.URR_ID, u) for u in p.urr_ids]
    ies += [_u32(IeType.QER_ID, q) for q in p.qer_ids]
    return _ie(IeType.CREATE_PDR, ies)


def _far(f: Far) -> dict:
    ies = [_u32(IeType.FAR_ID, f.far_id), _ie(IeType.APPLY_ACTION, bytes((f.action, 0)))]
    if f.destination_interface is not None:
        fp = [_ie(IeType.DESTINATION_INTERFACE, {"Val": f.destination_interface})]
        if f.network_instance is not None:
            fp.append(_net_inst(f.network_instance))
        if f.outer_header_creation is not None:
            fp.append(_ohc(f.outer_header_creation))
        ies.append(_ie(IeType.FORWARDING_PARAMETERS, fp))
    return _ie(IeType.CREATE_FAR, ies)


def _update_far(f: UpdateFar) -> dict:
    ies = [_u32(IeType.FAR_ID, f.far_id)]
    if f.action is not None:
        ies.append(_ie(IeType.APPLY_ACTION, bytes((f.action, 0))))
    fp = []
    if f.destination_interface is not None:
        fp.append(_ie(IeType.DESTINATION_INTERFACE, {"Val": f.destination_interface}))
    if f.outer_header_creation is not None:
        fp.append(_ohc(f.outer_header_creation))
    if fp:
        ies.append(_ie(IeType.UPDATE_FORWARDING_PARAMETERS, fp))
    return _ie(IeType.UPDATE_FAR, ies)


def _urr(u: Urr) -> dict:
    # Measurement Method VOLUM (8.2.40); Reporting Triggers all zero: report only on deletion (8.2.19)
    return _ie(IeType.CREATE_URR, [_u32(IeType.URR_ID, u.urr_id),
                                   _ie(IeType.MEASUREMENT_METHOD, bytes((0x02 if u.volume else 0,))),
                                   _ie(IeType.REPORTING_TRIGGERS, b"\x00\x00\x00")])


def _qer(q: Qer) -> dict:
    gate = (0 if q.ul_gate_open else 1) << 2 | (0 if q.dl_gate_open else 1)
    ies = [_u32(IeType.QER_ID, q.qer_id), _ie(IeType.GATE_STATUS, bytes((gate,)))]
    if q.mbr_ul_kbps is not None:
        ies.append(_ie(IeType.MBR, {"UL": q.mbr_ul_kbps, "DL": q.mbr_dl_kbps}))
    if q.qfi is not None:
        ies.append(_ie(IeType.QFI, {"QFI": q.qfi}))
    return _ie(IeType.CREATE_QER, ies)


def _failed_rule(f: FailedRule) -> dict:
    width = {0: 2, 1: 4, 2: 4, 3: 4}.get(f.rule_type)
    if width is None:
        raise ValueError(f"unsupported failed rule type {f.rule_type}")
    return _ie(IeType.FAILED_RULE_ID, bytes((f.rule_type,)) + f.rule_id.to_bytes(width, "big"))


def _usage_report(u: UsageReport) -> dict:
    vol = struct.pack("!BQQQQQQ", 0x3F, u.ul_bytes + u.dl_bytes, u.ul_bytes, u.dl_bytes,
                      u.ul_packets + u.dl_packets, u.ul_packets, u.dl_packets)
    trig = u.trigger.to_bytes(3, "big")
    return _ie(IeType.USAGE_REPORT_DELETION, [_u32(IeType.URR_ID, u.urr_id), _ie(IeType.UR_SEQN, u.ur_seqn),
                                              _ie(IeType.USAGE_REPORT_TRIGGER, trig),
                                              _ie(IeType.VOLUME_MEASUREMENT, vol)])


def _snssai(s: tuple[int, int | None]) -> dict:
    sst, sd = s
    return _ie(IeType.S_NSSAI, bytes((_check_u("SST", sst, 8),)) + (0xFFFFFF if sd is None else sd).to_bytes(3, "big"))


def _ies_of(msg: PfcpMessage) -> list[dict]:  # noqa: C901 - one branch per message type
    m: Any = msg
    if isinstance(msg, HeartbeatRequest | HeartbeatResponse):
        return [_u32(IeType.RECOVERY_TIME_STAMP, _check_u("recovery time stamp", m.recovery_ts, 32))]
    if isinstance(msg, AssociationSetupRequest | AssociationSetupResponse):
        ies = [_node_id(m.node_id)]
        if isinstance(msg, AssociationSetupResponse):
            ies.append(_cause(m.cause))
        ies.append(_u32(IeType.RECOVERY_TIME_STAMP, _check_u("recovery time stamp", m.recovery_ts, 32)))
        if m.up_features is not None:
            ies.append(_ie(IeType.UP_FUNCTION_FEATURES, bytes(m.up_features)))
        if m.cp_features is not None:
            ies.append(_ie(IeType.CP_FUNCTION_FEATURES, bytes(m.cp_features)))
        return ies
    if isinstance(msg, AssociationReleaseRequest):
        return [_node_id(m.node_id)]
    if isinstance(msg, AssociationReleaseResponse):
        return [_node_id(m.node_id), _cause(m.cause)]
    if isinstance(msg, VersionNotSupportedResponse):
        return []
    if isinstance(msg, SessionEstablishmentRequest):
        if not m.pdrs or not m.fars:
            raise ValueError("a Session Establishment Request needs at least one PDR and one FAR")
        ies = [_node_id(m.node_id), _fseid(m.cp_fseid)]
        ies += [_pdr(p) for p in m.pdrs]
        ies += [_far(f) for f in m.fars]
        ies += [_urr(u) for u in m.urrs]
        ies += [_qer(q) for q in m.qers]
        if m.pdn_type is not None:
            ies.append(_ie(IeType.PDN_TYPE, bytes((_check_u("PDN type", m.pdn_type, 3),))))
        if m.dnn is not None:
            ies.append(_ie(IeType.APN_DNN, _dnn_bytes(m.dnn)))
        if m.snssai is not None:
            ies.append(_snssai(m.snssai))
        return ies
    if isinstance(msg, SessionEstablishmentResponse):
        ies = [_node_id(m.node_id), _cause(m.cause)]
        if m.offending_ie is not None:
            ies.append(_ie(IeType.OFFENDING_IE, _check_u("offending IE", m.offending_ie, 16)))
        if m.up_fseid is not None:
            ies.append(_fseid(m.up_fseid))
        for c in m.created_pdrs:
            cp = [_ie(IeType.PDR_ID, {"Val": c.pdr_id})]
            if c.fteid is not None:
                cp.append(_fteid(c.fteid))
            ies.append(_ie(IeType.CREATED_PDR, cp))
        if m.failed_rule is not None:
            ies.append(_failed_rule(m.failed_rule))
        return ies
    if isinstance(msg, SessionModificationRequest):
        ies = []
        if m.cp_fseid is not None:
            ies.append(_fseid(m.cp_fseid))
        ies += [_update_far(f) for f in m.update_fars]
        return ies
    if isinstance(msg, SessionModificationResponse):
        ies = [_cause(m.cause)]
        if m.offending_ie is not None:
            ies.append(_ie(IeType.OFFENDING_IE, _check_u("offending IE", m.offending_ie, 16)))
        if m.failed_rule is not None:
            ies.append(_failed_rule(m.failed_rule))
        return ies
    if isinstance(msg, SessionDeletionRequest):
        return []
    if isinstance(msg, SessionDeletionResponse):
        ies = [_cause(m.cause)]
        if m.offending_ie is not None:
            ies.append(_ie(IeType.OFFENDING_IE, _check_u("offending IE", m.offending_ie, 16)))
        ies += [_usage_report(u) for u in m.usage_reports]
        return ies
    if isinstance(msg, SessionReportRequest):
        ies = [_ie(IeType.REPORT_TYPE, bytes((_check_u("report type", m.report_type, 8),)))]
        if m.dl_data_pdr_ids:
            ies.append(_ie(IeType.DOWNLINK_DATA_REPORT, [_ie(IeType.PDR_ID, {"Val": _check_u("PDR ID", p, 16)})
                                                         for p in m.dl_data_pdr_ids]))
        return ies
    if isinstance(msg, SessionReportResponse):
        ies = [_cause(m.cause)]
        if m.offending_ie is not None:
            ies.append(_ie(IeType.OFFENDING_IE, _check_u("offending IE", m.offending_ie, 16)))
        return ies
    raise TypeError(f"cannot encode {type(msg).__name__}")


def encode_pycrate(msg: PfcpMessage) -> bytes:
    """Reference encoder (pycrate): the same octets as :func:`encode`, ~100x slower.

    Invalid field values raise ``ValueError`` (or pycrate's errors for values the dataclasses do
    not check, e.g. a PDR ID above 65535 in a Created PDR).
    """
    if not isinstance(msg, PfcpMessage) or isinstance(msg, OtherMessage):
        raise TypeError(f"expected a PfcpMessage, got {type(msg).__name__}")
    ies = _ies_of(msg)
    seq = _check_u("sequence number", msg.seq, 24)
    pc = _pycrate()
    with _LOCK:
        m = pc.PFCPDispatcher[msg.MSG_TYPE]()
        hdr = m["Hdr"]
        hdr["SeqNum"].set_val(seq)
        if msg.SESSION:
            hdr["SEID"].set_val(_check_u("SEID", msg.seid, 64))  # type: ignore[attr-defined]
        # set_val on the IE list: pycrate would add defaults for missing mandatory IEs, but we give all
        m[1].set_val(ies)
        return m.to_bytes()


# --------------------------------------------------------------------------- decoding

_GROUPED: frozenset[int] = frozenset()  # pycrate's grouped IE types, set by _grouped()


def _grouped() -> frozenset[int]:
    global _GROUPED
    if not _GROUPED:
        pc = _pycrate()
        _GROUPED = frozenset(k for k, v in pc.PFCPIELUT.items() if isinstance(v, type) and issubclass(v, pc.PFCPIEs))
    return _GROUPED

# A decoded IE: (type, value) with value a list of IEs (grouped), a pycrate element (typed) or bytes (raw)
_Node = tuple[int, Any]


def _tree(seq: Any) -> list[_Node]:
    pc = _pycrate()
    grouped = _grouped()
    out: list[_Node] = []
    for ie in seq:
        t = ie[0].get_val()
        data = ie[3]
        if t in grouped:
            if isinstance(data, pc.PFCPIEs):
                out.append((t, _tree(data)))
            else:  # pycrate fell back to raw octets (e.g. an inner mandatory IE missing): re-frame generically
                g = pc.PFCPIEs("Data")
                g.from_bytes(data.get_val())
                out.append((t, _tree(g)))
        elif isinstance(data, pc.Buf) and type(data) is pc.Buf:
            out.append((t, data.get_val()))
        else:
            out.append((t, data))
    return out


class _Ctx:
    """Accessors over a list of decoded IEs, raising PfcpIeError with the right cause."""

    __slots__ = ("ies", "where", "hdr")

    def __init__(self, ies: list[_Node], where: str, hdr: Header):
        self.ies = ies
        self.where = where
        self.hdr = hdr

    def err(self, msg: str, cause: Cause, t: int | None) -> PfcpIeError:
        return PfcpIeError(f"{self.where}: {msg}", cause, t, self.hdr)

    def all(self, t: int) -> list[Any]:
        return [v for (k, v) in self.ies if k == t]

    def opt(self, t: int) -> Any:
        for k, v in self.ies:
            if k == t:
                return v
        return None

    def need(self, t: int) -> Any:
        v = self.opt(t)
        if v is None:
            raise self.err(f"mandatory IE {_ie_name(t)} missing", Cause.MANDATORY_IE_MISSING, t)
        return v

    def group(self, v: Any, t: int, where: str) -> _Ctx:
        if not isinstance(v, list):
            raise self.err(f"{_ie_name(t)} is not a grouped IE", Cause.MANDATORY_IE_INCORRECT, t)
        return _Ctx(v, f"{self.where}/{where}", self.hdr)

    def typed(self, v: Any, t: int) -> Any:
        """The pycrate element of a non-grouped IE (raw bytes mean pycrate could not decode it)."""
        if isinstance(v, bytes | list):
            raise self.err(f"{_ie_name(t)} is malformed", Cause.MANDATORY_IE_INCORRECT, t)
        return v


def _ie_name(t: int) -> str:
    return f"{IE_NAMES.get(t, 'unknown')} ({t})"


def _raw(v: Any) -> bytes:
    return v if isinstance(v, bytes) else v.to_bytes()


def _u(c: _Ctx, t: int, v: Any, name: str = "Val") -> int:
    return c.typed(v, t)[name].get_val()


def _dec_node_id(c: _Ctx) -> str:
    t = IeType.NODE_ID
    v = c.typed(c.need(t), t)
    kind = v["Type"].get_val()
    if kind == 2:
        try:
            return v["Val"].get_alt().decode()
        except (UnicodeDecodeError, AttributeError, IndexError):
            raise c.err("Node ID FQDN is malformed", Cause.MANDATORY_IE_INCORRECT, t) from None
    if kind not in (0, 1):
        raise c.err(f"Node ID of unknown type {kind}", Cause.MANDATORY_IE_INCORRECT, t)
    return str(ipaddress.ip_address(v["Val"].get_alt().get_val()))


def _dec_cause(c: _Ctx) -> int:
    v = c.need(IeType.CAUSE)
    raw = _raw(v)
    if len(raw) != 1:
        raise c.err("Cause of invalid length", Cause.INVALID_LENGTH, IeType.CAUSE)
    return raw[0]


def _dec_fseid(c: _Ctx, v: Any) -> Fseid:
    e = c.typed(v, IeType.F_SEID)
    if not e["V4"].get_val():
        raise c.err("F-SEID without IPv4 address (IPv6 is not supported)", Cause.MANDATORY_IE_INCORRECT,
                    IeType.F_SEID)
    return Fseid(e["SEID"].get_val(), str(ipaddress.IPv4Address(e["IPv4Addr"].get_val())))


def _dec_fteid(c: _Ctx, v: Any) -> Fteid:
    e = c.typed(v, IeType.F_TEID)
    if e["CH"].get_val():
        return Fteid(choose=True, choose_id=e["CHOOSE_ID"].get_val() if e["CHID"].get_val() else None)
    if not e["V4"].get_val():
        raise c.err("F-TEID without IPv4 address (IPv6 is not supported)", Cause.MANDATORY_IE_INCORRECT,
                    IeType.F_TEID)
    return Fteid(e["TEID"].get_val(), str(ipaddress.IPv4Address(e["IPv4Addr"].get_val())))


def _dec_ohc(c: _Ctx, v: Any) -> OuterHeaderCreation:
    e = c.typed(v, IeType.OUTER_HEADER_CREATION)
    if not e["GTPU_UDP_IPv4"].get_val():
        raise c.err("only GTP-U/UDP/IPv4 outer header creation is supported", Cause.MANDATORY_IE_INCORRECT,
                    IeType.OUTER_HEADER_CREATION)
    return OuterHeaderCreation(e["TEID"].get_val(), str(ipaddress.IPv4Address(e["IPv4Addr"].get_val())))


def labels_to_text(raw: bytes) -> str | None:
    """APN/DNN (TS 29.244 8.2.117) or Network Instance (8.2.4) as text: DNS labels joined by
    dots, else (8.2.4: a network instance may also be an opaque string) the ASCII string;
    ``None`` when it is neither."""
    out, i, n = [], 0, len(raw)
    try:
        while i < n:
            ln = raw[i]
            if ln == 0 or i + 1 + ln > n:
                raise ValueError
            out.append(raw[i + 1:i + 1 + ln].decode("ascii"))
            i += 1 + ln
    except (ValueError, UnicodeDecodeError):
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            return None
    return ".".join(out)


def _dec_labels(c: _Ctx, v: Any, t: int) -> str:
    text = labels_to_text(_raw(v))
    if text is None:
        raise c.err(f"{_ie_name(t)} is not a DNN", Cause.MANDATORY_IE_INCORRECT, t)
    return text


def _dec_apply_action(c: _Ctx, v: Any) -> int:
    raw = _raw(v)
    if not raw:
        raise c.err("Apply Action is empty", Cause.INVALID_LENGTH, IeType.APPLY_ACTION)
    return raw[0]


def _dec_interface(c: _Ctx, v: Any, t: int) -> int:
    raw = _raw(v)
    if not raw:
        raise c.err(f"{_ie_name(t)} is empty", Cause.INVALID_LENGTH, t)
    return raw[0] & 0x0F


def _dec_pdr(c: _Ctx, v: Any) -> Pdr:
    g = c.group(v, IeType.CREATE_PDR, "Create PDR")
    pdi = g.group(g.need(IeType.PDI), IeType.PDI, "PDI")
    src = _dec_interface(pdi, pdi.need(IeType.SOURCE_INTERFACE), IeType.SOURCE_INTERFACE)
    fteid = pdi.opt(IeType.F_TEID)
    ueip = pdi.opt(IeType.UE_IP_ADDRESS)
    ue_ipv4 = None
    if ueip is not None:
        e = pdi.typed(ueip, IeType.UE_IP_ADDRESS)
        if not e["V4"].get_val():
            raise pdi.err("UE IP address without IPv4", Cause.MANDATORY_IE_INCORRECT, IeType.UE_IP_ADDRESS)
        ue_ipv4 = str(ipaddress.IPv4Address(e["IPv4Addr"].get_val()))
    qfi = pdi.opt(IeType.QFI)
    ni = pdi.opt(IeType.NETWORK_INSTANCE)
    ohr = g.opt(IeType.OUTER_HEADER_REMOVAL)
    far = g.opt(IeType.FAR_ID)
    try:
        return Pdr(
            pdr_id=_u(g, IeType.PDR_ID, g.need(IeType.PDR_ID)),
            precedence=_u(g, IeType.PRECEDENCE, g.need(IeType.PRECEDENCE)),
            source_interface=src,
            fteid=None if fteid is None else _dec_fteid(pdi, fteid),
            ue_ipv4=ue_ipv4,
            qfi=None if qfi is None else _u(pdi, IeType.QFI, qfi, "QFI"),
            network_instance=None if ni is None else _dec_labels(pdi, ni, IeType.NETWORK_INSTANCE),
            outer_header_removal=ohr is not None and _raw(ohr)[:1] == b"\x00",
            far_id=None if far is None else _u(g, IeType.FAR_ID, far),
            urr_ids=tuple(_u(g, IeType.URR_ID, x) for x in g.all(IeType.URR_ID)),
            qer_ids=tuple(_u(g, IeType.QER_ID, x) for x in g.all(IeType.QER_ID)),
        )
    except ValueError as e:
        raise g.err(str(e), Cause.MANDATORY_IE_INCORRECT, IeType.CREATE_PDR) from None


def _dec_far(c: _Ctx, v: Any) -> Far:
    g = c.group(v, IeType.CREATE_FAR, "Create FAR")
    far_id = _u(g, IeType.FAR_ID, g.need(IeType.FAR_ID))
    action = _dec_apply_action(g, g.need(IeType.APPLY_ACTION))
    dest = ohc = ni = None
    fpv = g.opt(IeType.FORWARDING_PARAMETERS)
    if fpv is not None:
        fp = g.group(fpv, IeType.FORWARDING_PARAMETERS, "Forwarding Parameters")
        dest = _dec_interface(fp, fp.need(IeType.DESTINATION_INTERFACE), IeType.DESTINATION_INTERFACE)
        o = fp.opt(IeType.OUTER_HEADER_CREATION)
        ohc = None if o is None else _dec_ohc(fp, o)
        n = fp.opt(IeType.NETWORK_INSTANCE)
        ni = None if n is None else _dec_labels(fp, n, IeType.NETWORK_INSTANCE)
    return Far(far_id, action, dest, ohc, ni)


def _dec_update_far(c: _Ctx, v: Any) -> UpdateFar:
    g = c.group(v, IeType.UPDATE_FAR, "Update FAR")
    far_id = _u(g, IeType.FAR_ID, g.need(IeType.FAR_ID))
    a = g.opt(IeType.APPLY_ACTION)
    dest = ohc = None
    fpv = g.opt(IeType.UPDATE_FORWARDING_PARAMETERS)
    if fpv is not None:
        fp = g.group(fpv, IeType.UPDATE_FORWARDING_PARAMETERS, "Update Forwarding Parameters")
        d = fp.opt(IeType.DESTINATION_INTERFACE)
        dest = None if d is None else _dec_interface(fp, d, IeType.DESTINATION_INTERFACE)
        o = fp.opt(IeType.OUTER_HEADER_CREATION)
        ohc = None if o is None else _dec_ohc(fp, o)
    return UpdateFar(far_id, None if a is None else _dec_apply_action(g, a), dest, ohc)


def _dec_urr(c: _Ctx, v: Any) -> Urr:
    g = c.group(v, IeType.CREATE_URR, "Create URR")
    mm = _raw(g.need(IeType.MEASUREMENT_METHOD))
    g.need(IeType.REPORTING_TRIGGERS)
    return Urr(_u(g, IeType.URR_ID, g.need(IeType.URR_ID)), bool(mm[:1] and mm[0] & 0x02))


def _dec_qer(c: _Ctx, v: Any) -> Qer:
    g = c.group(v, IeType.CREATE_QER, "Create QER")
    gate = _raw(g.need(IeType.GATE_STATUS))
    if not gate:
        raise g.err("Gate Status is empty", Cause.INVALID_LENGTH, IeType.GATE_STATUS)
    qfi = g.opt(IeType.QFI)
    mbr = g.opt(IeType.MBR)
    ul = dl = None
    if mbr is not None:
        e = g.typed(mbr, IeType.MBR)
        ul, dl = e["UL"].get_val(), e["DL"].get_val()
    return Qer(_u(g, IeType.QER_ID, g.need(IeType.QER_ID)), None if qfi is None else _u(g, IeType.QFI, qfi, "QFI"),
               not gate[0] & 0x0C, not gate[0] & 0x03, ul, dl)


def _dec_failed_rule(c: _Ctx) -> FailedRule | None:
    v = c.opt(IeType.FAILED_RULE_ID)
    if v is None:
        return None
    raw = _raw(v)
    width = {0: 2, 1: 4, 2: 4, 3: 4}.get(raw[0] & 0x0F) if raw else None
    if width is None or len(raw) < 1 + width:
        raise c.err("Failed Rule ID is malformed", Cause.MANDATORY_IE_INCORRECT, IeType.FAILED_RULE_ID)
    return FailedRule(raw[0] & 0x0F, int.from_bytes(raw[1:1 + width], "big"))


def _dec_offending(c: _Ctx) -> int | None:
    v = c.opt(IeType.OFFENDING_IE)
    if v is None:
        return None
    raw = _raw(v)
    if len(raw) != 2:
        raise c.err("Offending IE of invalid length", Cause.INVALID_LENGTH, IeType.OFFENDING_IE)
    return int.from_bytes(raw, "big")


def _dec_usage_report(c: _Ctx, v: Any) -> UsageReport:
    g = c.group(v, IeType.USAGE_REPORT_DELETION, "Usage Report")
    seqn = _raw(g.need(IeType.UR_SEQN))
    trig = _raw(g.need(IeType.USAGE_REPORT_TRIGGER))
    vol = g.opt(IeType.VOLUME_MEASUREMENT)
    ulb = dlb = ulp = dlp = 0
    if vol is not None:
        e = g.typed(vol, IeType.VOLUME_MEASUREMENT)
        if e["ULVOL"].get_val():
            ulb = e["UplinkVolume"].get_val()
        if e["DLVOL"].get_val():
            dlb = e["DownlinkVolume"].get_val()
        if e["ULNOP"].get_val():
            ulp = e["UplinkNumPackets"].get_val()
        if e["DLNOP"].get_val():
            dlp = e["DownlinkNumPackets"].get_val()
    return UsageReport(_u(g, IeType.URR_ID, g.need(IeType.URR_ID)), int.from_bytes(seqn[:4], "big"),
                       int.from_bytes(trig[:3].ljust(3, b"\0"), "big"), ulb, dlb, ulp, dlp)


def _dec_snssai(c: _Ctx) -> tuple[int, int | None] | None:
    v = c.opt(IeType.S_NSSAI)
    if v is None:
        return None
    raw = _raw(v)
    if len(raw) != 4:
        raise c.err("S-NSSAI of invalid length", Cause.INVALID_LENGTH, IeType.S_NSSAI)
    sd = int.from_bytes(raw[1:4], "big")
    return (raw[0], None if sd == 0xFFFFFF else sd)


def _dec_message(hdr: Header, c: _Ctx) -> PfcpMessage:  # noqa: C901 - one branch per message type
    t, seq, seid = hdr.msg_type, hdr.seq, hdr.seid
    if t in (MsgType.HEARTBEAT_REQUEST, MsgType.HEARTBEAT_RESPONSE):
        ts = _u(c, IeType.RECOVERY_TIME_STAMP, c.need(IeType.RECOVERY_TIME_STAMP))
        cls = HeartbeatRequest if t == MsgType.HEARTBEAT_REQUEST else HeartbeatResponse
        return cls(seq=seq, recovery_ts=ts)
    if t in (MsgType.ASSOCIATION_SETUP_REQUEST, MsgType.ASSOCIATION_SETUP_RESPONSE):
        node = _dec_node_id(c)
        ts = _u(c, IeType.RECOVERY_TIME_STAMP, c.need(IeType.RECOVERY_TIME_STAMP))
        up = c.opt(IeType.UP_FUNCTION_FEATURES)
        cp = c.opt(IeType.CP_FUNCTION_FEATURES)
        up_b = None if up is None else _raw(up)
        cp_b = None if cp is None else _raw(cp)
        if t == MsgType.ASSOCIATION_SETUP_REQUEST:
            return AssociationSetupRequest(seq=seq, node_id=node, recovery_ts=ts, up_features=up_b, cp_features=cp_b)
        return AssociationSetupResponse(seq=seq, node_id=node, cause=_dec_cause(c), recovery_ts=ts,
                                        up_features=up_b, cp_features=cp_b)
    if t == MsgType.ASSOCIATION_RELEASE_REQUEST:
        return AssociationReleaseRequest(seq=seq, node_id=_dec_node_id(c))
    if t == MsgType.ASSOCIATION_RELEASE_RESPONSE:
        return AssociationReleaseResponse(seq=seq, node_id=_dec_node_id(c), cause=_dec_cause(c))
    if t == MsgType.VERSION_NOT_SUPPORTED_RESPONSE:
        return VersionNotSupportedResponse(seq=seq)
    if seid is None and t in SESSION_TYPES:
        raise DecodeError(f"PFCP session message type {t} without SEID (S = 0)")
    assert seid is not None or t not in SESSION_TYPES
    if t == MsgType.SESSION_ESTABLISHMENT_REQUEST:
        node = _dec_node_id(c)
        fseid = _dec_fseid(c, c.need(IeType.F_SEID))
        c.need(IeType.CREATE_PDR)
        c.need(IeType.CREATE_FAR)
        pdn = c.opt(IeType.PDN_TYPE)
        dnn = c.opt(IeType.APN_DNN)
        return SessionEstablishmentRequest(
            seq=seq, seid=seid or 0, node_id=node, cp_fseid=fseid,
            pdrs=tuple(_dec_pdr(c, v) for v in c.all(IeType.CREATE_PDR)),
            fars=tuple(_dec_far(c, v) for v in c.all(IeType.CREATE_FAR)),
            urrs=tuple(_dec_urr(c, v) for v in c.all(IeType.CREATE_URR)),
            qers=tuple(_dec_qer(c, v) for v in c.all(IeType.CREATE_QER)),
            pdn_type=None if pdn is None else (_raw(pdn)[:1] or b"\0")[0] & 0x07,
            dnn=None if dnn is None else _dec_labels(c, dnn, IeType.APN_DNN),
            snssai=_dec_snssai(c))
    if t == MsgType.SESSION_ESTABLISHMENT_RESPONSE:
        node = _dec_node_id(c)
        cause = _dec_cause(c)
        f = c.opt(IeType.F_SEID)
        created = []
        for v in c.all(IeType.CREATED_PDR):
            g = c.group(v, IeType.CREATED_PDR, "Created PDR")
            ft = g.opt(IeType.F_TEID)
            created.append(CreatedPdr(_u(g, IeType.PDR_ID, g.need(IeType.PDR_ID)),
                                      None if ft is None else _dec_fteid(g, ft)))
        return SessionEstablishmentResponse(seq=seq, seid=seid or 0, node_id=node, cause=cause,
                                            up_fseid=None if f is None else _dec_fseid(c, f),
                                            created_pdrs=tuple(created), offending_ie=_dec_offending(c),
                                            failed_rule=_dec_failed_rule(c))
    if t == MsgType.SESSION_MODIFICATION_REQUEST:
        f = c.opt(IeType.F_SEID)
        return SessionModificationRequest(seq=seq, seid=seid or 0,
                                          update_fars=tuple(_dec_update_far(c, v) for v in c.all(IeType.UPDATE_FAR)),
                                          cp_fseid=None if f is None else _dec_fseid(c, f))
    if t == MsgType.SESSION_MODIFICATION_RESPONSE:
        return SessionModificationResponse(seq=seq, seid=seid or 0, cause=_dec_cause(c),
                                           offending_ie=_dec_offending(c), failed_rule=_dec_failed_rule(c))
    if t == MsgType.SESSION_DELETION_REQUEST:
        return SessionDeletionRequest(seq=seq, seid=seid or 0)
    if t == MsgType.SESSION_DELETION_RESPONSE:
        return SessionDeletionResponse(seq=seq, seid=seid or 0, cause=_dec_cause(c), offending_ie=_dec_offending(c),
                                       usage_reports=tuple(_dec_usage_report(c, v)
                                                           for v in c.all(IeType.USAGE_REPORT_DELETION)))
    if t == MsgType.SESSION_REPORT_REQUEST:
        rt = _raw(c.need(IeType.REPORT_TYPE))
        if not rt:
            raise c.err("Report Type is empty", Cause.INVALID_LENGTH, IeType.REPORT_TYPE)
        pdr_ids: list[int] = []
        for v in c.all(IeType.DOWNLINK_DATA_REPORT):
            g = c.group(v, IeType.DOWNLINK_DATA_REPORT, "Downlink Data Report")
            g.need(IeType.PDR_ID)
            pdr_ids += [_u(g, IeType.PDR_ID, x) for x in g.all(IeType.PDR_ID)]
        if rt[0] & ReportType.DLDR and not pdr_ids:
            raise c.err(f"mandatory IE {_ie_name(IeType.DOWNLINK_DATA_REPORT)} missing", Cause.CONDITIONAL_IE_MISSING,
                        IeType.DOWNLINK_DATA_REPORT)
        return SessionReportRequest(seq=seq, seid=seid or 0, report_type=rt[0], dl_data_pdr_ids=tuple(pdr_ids))
    if t == MsgType.SESSION_REPORT_RESPONSE:
        return SessionReportResponse(seq=seq, seid=seid or 0, cause=_dec_cause(c), offending_ie=_dec_offending(c))
    return OtherMessage(seq=seq, msg_type=t, seid=seid, ies=tuple(k for k, _ in c.ies))


def decode_pycrate(buf: bytes) -> PfcpMessage:
    """Reference decoder (pycrate) of :func:`decode`, ~100x slower; raises only :class:`DecodeError`.

    On malformed input it may differ from :func:`decode` in the error (pycrate falls back to raw
    octets and re-frames leniently, see :mod:`testbed.core.smf.pfcp_native`), never on valid input.
    """
    data = bytes(buf)
    hdr = peek_header(data)
    if hdr.version != VERSION:
        raise DecodeError(f"PFCP version {hdr.version} not supported")
    pc = _pycrate()
    if hdr.msg_type not in pc.PFCPDispatcher:
        raise DecodeError(f"unknown PFCP message type {hdr.msg_type}")
    body = data[(16 if hdr.seid is not None else 8):4 + hdr.length]
    try:
        with _LOCK:
            g = pc.PFCPIEs("IEs")  # generic container: mandatory IEs are checked by _dec_message
            g.from_bytes(body)
            if g.get_len() != len(body):
                raise DecodeError("trailing octets after the last PFCP IE")
            ies = _tree(g)
    except DecodeError:
        raise
    except Exception as e:  # noqa: BLE001 - pycrate raises many kinds of errors on junk
        raise DecodeError(f"malformed PFCP IEs in message type {hdr.msg_type}: {e}") from None
    try:
        return _dec_message(hdr, _Ctx(ies, MESSAGE_NAMES.get(hdr.msg_type, str(hdr.msg_type)), hdr))
    except DecodeError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, struct.error) as e:
        raise PfcpIeError(f"PFCP message type {hdr.msg_type}: invalid IE value: {e}",
                          Cause.MANDATORY_IE_INCORRECT, None, hdr) from None


# --------------------------------------------------------------------------- PDU session rules

PDR_UL, PDR_DL = 1, 2
FAR_UL, FAR_DL = 1, 2
URR_ID = 1
QER_ID = 1


def pdu_session_rules(ue_ipv4: str, ul_fteid: Fteid, qfi: int = 1, dl_tunnel: OuterHeaderCreation | None = None,
                      mbr_kbps: tuple[int, int] | None = None, network_instance: str | None = None,
                      ) -> tuple[tuple[Pdr, ...], tuple[Far, ...], tuple[Urr, ...], tuple[Qer, ...]]:
    """PDRs, FARs, URR and QER of an IPv4 PDU session with one QoS flow (TS 23.501 5.8.2.11, TS 29.244 5.2).

    Without ``dl_tunnel`` the downlink FAR buffers (BUFF, TS 29.244 5.2.3.1) until the SMF updates it
    with the gNB's F-TEID from the N2 PDU Session Resource Setup Response (TS 23.502 4.3.2.2.1 step 16a).
    ``mbr_kbps`` is (uplink, downlink), e.g. the session AMBR.
    """
    urrs = (Urr(URR_ID),)
    qers = (Qer(QER_ID, qfi, mbr_ul_kbps=mbr_kbps[0] if mbr_kbps else None,
                mbr_dl_kbps=mbr_kbps[1] if mbr_kbps else None),)
    pdrs = (
        Pdr(PDR_UL, 200, Interface.ACCESS, fteid=ul_fteid, ue_ipv4=ue_ipv4, qfi=qfi, outer_header_removal=True,
            far_id=FAR_UL, urr_ids=(URR_ID,), qer_ids=(QER_ID,), network_instance=network_instance),
        Pdr(PDR_DL, 200, Interface.CORE, ue_ipv4=ue_ipv4, far_id=FAR_DL, urr_ids=(URR_ID,), qer_ids=(QER_ID,),
            network_instance=network_instance),
    )
    if dl_tunnel is None:
        dl = Far(FAR_DL, ApplyAction.BUFF)
    else:
        dl = Far(FAR_DL, ApplyAction.FORW, Interface.ACCESS, dl_tunnel)
    fars = (Far(FAR_UL, ApplyAction.FORW, Interface.CORE), dl)
    return pdrs, fars, urrs, qers


def dl_tunnel_update(gnb: OuterHeaderCreation) -> tuple[UpdateFar, ...]:
    """Update FAR of the downlink: forward to Access with outer header creation towards the gNB."""
    return (UpdateFar(FAR_DL, ApplyAction.FORW, Interface.ACCESS, gnb),)


def dl_buffer_update() -> tuple[UpdateFar, ...]:
    """Update FAR of the downlink when the AN tunnel is released (TS 23.502 4.2.6 step 6, TS 29.244
    5.2.3.1): buffer in the UP function and notify the CP function of the first buffered packet
    (Apply Action BUFF | NOCP, 8.2.26)."""
    return (UpdateFar(FAR_DL, ApplyAction.BUFF | ApplyAction.NOCP),)


def response_type(request_type: int) -> int | None:
    return RESPONSE_TO.get(request_type)


__all__ = [
    "PORT",
    "ApplyAction",
    "AssociationReleaseRequest",
    "AssociationReleaseResponse",
    "AssociationSetupRequest",
    "AssociationSetupResponse",
    "Cause",
    "CreatedPdr",
    "FailedRule",
    "Far",
    "Fseid",
    "Fteid",
    "Header",
    "HeartbeatRequest",
    "HeartbeatResponse",
    "IeType",
    "Interface",
    "MsgType",
    "OtherMessage",
    "OuterHeaderCreation",
    "Pdr",
    "PfcpIeError",
    "PfcpMessage",
    "Qer",
    "ReportType",
    "SessionDeletionRequest",
    "SessionDeletionResponse",
    "SessionEstablishmentRequest",
    "SessionEstablishmentResponse",
    "SessionModificationRequest",
    "SessionModificationResponse",
    "SessionReportRequest",
    "SessionReportResponse",
    "UpdateFar",
    "Urr",
    "UsageReport",
    "VersionNotSupportedResponse",
    "decode",
    "decode_pycrate",
    "dl_buffer_update",
    "dl_tunnel_update",
    "encode",
    "encode_pycrate",
    "pdu_session_rules",
    "peek_header",
    "set_seq",
]


# --------------------------------------------------------------------------- native codec (the default)
# Imported last: pfcp_native needs the dataclasses above (and works whichever module is imported first).
from testbed.core.smf import pfcp_native as _native  # noqa: E402


def encode(msg: PfcpMessage) -> bytes:
    """Encode a typed PFCP message (TS 29.244 7.2, 8.1.1, 8.2); invalid field values raise ``ValueError``."""
    return _native.encode(msg)


def decode(buf: bytes) -> PfcpMessage:
    """Decode one PFCP message (the UDP payload). Raises only :class:`DecodeError`.

    A message whose version is not 1 raises DecodeError with the header attached
    (``PfcpIeError`` is not used then); use :func:`peek_header` first to answer it.
    Missing or malformed mandatory IEs raise :class:`PfcpIeError` with the cause to answer
    (TS 29.244 7.6): 66 missing, 68 invalid length, 69 incorrect.
    """
    return _native.decode(buf)
