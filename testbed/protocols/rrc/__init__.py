"""NR RRC (TS 38.331) codec on pycrate: typed messages, ``encode(msg)`` / ``decode(channel, buf)``.

Example (femto gNB side)::

    from testbed.protocols import rrc
    sib1 = rrc.encode(rrc.Sib1.for_cell(plmn, tac=1, nci=0x10, cag_ids=(0x1234,), cag_only=True))
    match rrc.decode(rrc.Channel.UL_CCCH, pdu):
        case rrc.RRCSetupRequest(ue_identity=ident): ...
"""

from testbed.protocols.ngap.ies import Plmn

from .codec import decode, encode
from .messages import (
    MESSAGE_TYPES,
    Channel,
    DLInformationTransfer,
    Mib,
    NpnIdentityInfo,
    Paging,
    PlmnIdentityInfo,
    PniNpn,
    RegisteredAmf,
    RrcMessage,
    RRCReject,
    RRCRelease,
    RRCSetup,
    RRCSetupComplete,
    RRCSetupRequest,
    Sib1,
    ULInformationTransfer,
    UnsupportedRrcMessage,
)

__all__ = [
    "MESSAGE_TYPES",
    "Channel",
    "DLInformationTransfer",
    "Mib",
    "NpnIdentityInfo",
    "Paging",
    "Plmn",
    "PlmnIdentityInfo",
    "PniNpn",
    "RRCReject",
    "RRCRelease",
    "RRCSetup",
    "RRCSetupComplete",
    "RRCSetupRequest",
    "RegisteredAmf",
    "RrcMessage",
    "Sib1",
    "ULInformationTransfer",
    "UnsupportedRrcMessage",
    "decode",
    "encode",
]
