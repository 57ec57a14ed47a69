"""The UE's NAS layer (TS 24.501): 5GMM and 5GSM state machines, sans-I/O.

Usage::

    from testbed.ue.usim import Usim, load_usims
    from testbed.ue.nas import UeNas, UeNasConfig, SendNas

    ue = UeNas(Usim(load_usims(run_dir)[0]), UeNasConfig(mcc="001", mnc="01"))
    ue.cell_changed(("001", "01"), tac=1, cag_ids=(0xC0FFEE,))
    for o in ue.register():            # SendNas(initial=True): RRC setup + RRCSetupComplete
        ...
    for o in ue.nas_received(dl_pdu):  # DLInformationTransfer
        ...
"""

from .config import Knobs, UeNasConfig
from .machine import UeNas, guti_string
from .outputs import (
    Deregistered,
    Event,
    Registered,
    RegistrationFailed,
    ReleaseConnection,
    SendNas,
    SessionDown,
    SessionUp,
    StartTimer,
    StopTimer,
    UeOutput,
    UserPlaneResult,
)
from .sm import SessionState

__all__ = [
    "Deregistered",
    "Event",
    "Knobs",
    "RegistrationFailed",
    "Registered",
    "ReleaseConnection",
    "SendNas",
    "SessionDown",
    "SessionState",
    "SessionUp",
    "StartTimer",
    "StopTimer",
    "UeNas",
    "UeNasConfig",
    "UeOutput",
    "UserPlaneResult",
    "guti_string",
]
