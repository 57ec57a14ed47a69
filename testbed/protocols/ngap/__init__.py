"""NGAP (TS 38.413) codec on pycrate: typed dataclass messages, ``encode(msg)`` / ``decode(buf)``.

Example::

    from testbed.protocols import ngap
    msg = ngap.InitialUEMessage(ran_ue_ngap_id=1, nas_pdu=nas, user_location=ngap.UserLocationNR(cgi, tai),
                                cag_ids=(0x1234,))
    buf = ngap.encode(msg)
    match ngap.decode(buf):
        case ngap.InitialUEMessage(nas_pdu=pdu): ...

Safe to call from several threads: all pycrate work (NGAP and NR RRC) runs under
one process-wide lock (see ``_asn1``). Encoding invalid field values raises
``ValueError``; decoding raises only :class:`testbed.errors.DecodeError`.
"""

from .codec import decode, encode
from .ies import (
    CAUSE_GROUPS,
    MAX_CAGS_PER_CELL,
    TESTBED_CAG_EXTENSION_ID,
    AllowedCagList,
    BroadcastPlmn,
    Cause,
    FiveGSTmsi,
    GlobalGnbId,
    GtpTunnel,
    Guami,
    MobilityRestriction,
    NrCgi,
    Plmn,
    PlmnSupport,
    Snssai,
    SupportedTa,
    Tai,
    UeAmbr,
    UeConnection,
    UeSecurityCapabilities,
    UserLocationNR,
)
from .messages import (
    MESSAGE_TYPES,
    DownlinkNASTransport,
    ErrorIndication,
    InitialContextSetupFailure,
    InitialContextSetupRequest,
    InitialContextSetupResponse,
    InitialUEMessage,
    Kind,
    NgapMessage,
    NGReset,
    NGResetAcknowledge,
    NGSetupFailure,
    NGSetupRequest,
    NGSetupResponse,
    PduSessionFailed,
    PDUSessionResourceSetupRequest,
    PDUSessionResourceSetupResponse,
    PduSessionSetupRequest,
    PduSessionSetupResult,
    UEContextReleaseCommand,
    UEContextReleaseComplete,
    UEContextReleaseRequest,
    UnsupportedMessage,
    UplinkNASTransport,
)
from .paging import MAX_TAIS_FOR_PAGING, PAGING_PRIORITIES, Paging
from .release_messages import (
    PduSessionReleased,
    PDUSessionResourceReleaseCommand,
    PDUSessionResourceReleaseResponse,
    PduSessionToRelease,
)
from .release_transfer import (
    PduSessionResourceReleaseCommandTransfer,
    PduSessionResourceReleaseResponseTransfer,
)
from .transfer import (
    PDU_SESSION_TYPES,
    PduSessionResourceSetupRequestTransfer,
    PduSessionResourceSetupResponseTransfer,
    PduSessionResourceSetupUnsuccessfulTransfer,
    QosFlowRequest,
    SecurityIndication,
    SecurityResult,
)

__all__ = [
    "CAUSE_GROUPS",
    "MAX_CAGS_PER_CELL",
    "MAX_TAIS_FOR_PAGING",
    "PAGING_PRIORITIES",
    "TESTBED_CAG_EXTENSION_ID",
    "MESSAGE_TYPES",
    "PDU_SESSION_TYPES",
    "AllowedCagList",
    "BroadcastPlmn",
    "Cause",
    "DownlinkNASTransport",
    "ErrorIndication",
    "FiveGSTmsi",
    "GlobalGnbId",
    "GtpTunnel",
    "Guami",
    "InitialContextSetupFailure",
    "InitialContextSetupRequest",
    "InitialContextSetupResponse",
    "InitialUEMessage",
    "Kind",
    "MobilityRestriction",
    "NGReset",
    "NGResetAcknowledge",
    "NGSetupFailure",
    "NGSetupRequest",
    "NGSetupResponse",
    "NgapMessage",
    "NrCgi",
    "Paging",
    "PDUSessionResourceReleaseCommand",
    "PDUSessionResourceReleaseResponse",
    "PDUSessionResourceSetupRequest",
    "PDUSessionResourceSetupResponse",
    "PduSessionFailed",
    "PduSessionReleased",
    "PduSessionResourceReleaseCommandTransfer",
    "PduSessionResourceReleaseResponseTransfer",
    "PduSessionResourceSetupRequestTransfer",
    "PduSessionResourceSetupResponseTransfer",
    "PduSessionResourceSetupUnsuccessfulTransfer",
    "PduSessionSetupRequest",
    "PduSessionSetupResult",
    "PduSessionToRelease",
    "Plmn",
    "PlmnSupport",
    "QosFlowRequest",
    "SecurityIndication",
    "SecurityResult",
    "Snssai",
    "SupportedTa",
    "Tai",
    "UEContextReleaseCommand",
    "UEContextReleaseComplete",
    "UEContextReleaseRequest",
    "UeAmbr",
    "UeConnection",
    "UeSecurityCapabilities",
    "UnsupportedMessage",
    "UplinkNASTransport",
    "UserLocationNR",
    "decode",
    "encode",
]
