"""The built-in AMF (sans-I/O): NG Setup, registration with 5G-AKA and NAS security, CAG
enforcement, de-registration, UE context release, 5GSM relay to the SMF, service request with
user-plane re-activation, paging.

Usage::

    amf = Amf(AmfConfig(mcc="001", mnc="01", tacs=(1,)), ausf, udm, store)
    outs = amf.association_up(1, "10.0.0.2:38412")
    outs = amf.ngap_received(1, ng_setup_request_bytes)   # -> [SendNgap(...), Event(...)]
"""

from .amf import UE_STREAM, Amf
from .cag import CagDecision, check_cag_access
from .config import AmfConfig
from .context import GnbContext, PduSession, UeContext
from .outputs import (
    CancelTimer,
    CloseAssociation,
    Event,
    Output,
    SendNgap,
    SmContextCreate,
    SmfActivate,
    SmfCreate,
    SmfDeactivate,
    SmfN2Response,
    SmfPagingFailed,
    SmfRelease,
    SmfReleaseAll,
    SmReply,
    StartTimer,
)
from .security_mode import select_algorithms

__all__ = [
    "UE_STREAM",
    "Amf",
    "AmfConfig",
    "CagDecision",
    "CancelTimer",
    "CloseAssociation",
    "Event",
    "GnbContext",
    "Output",
    "PduSession",
    "SendNgap",
    "SmContextCreate",
    "SmReply",
    "SmfActivate",
    "SmfCreate",
    "SmfDeactivate",
    "SmfN2Response",
    "SmfPagingFailed",
    "SmfRelease",
    "SmfReleaseAll",
    "StartTimer",
    "UeContext",
    "check_cag_access",
    "select_algorithms",
]
