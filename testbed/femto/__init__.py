"""The software gNB femto: radio side (RLS + NR RRC), NGAP client, GTP-U relay (sans-I/O) and its process.

Usage (sans-I/O)::

    from testbed.femto import FemtoConfig, FemtoGnb
    femto = FemtoGnb(FemtoConfig(gnb_id=1, cag_ids=(0x101,), radio_enabled_at_start=True))
    outs = femto.start()                 # [ConnectN2()]
    outs = femto.n2_up()                 # [SendNgap(NG SETUP REQUEST)]
    outs = femto.ngap_received(pdu)      # NG SETUP RESPONSE -> radio on, femto.ready
    outs = femto.air_received(datagram, ("10.200.1.10", 40000))

Process: ``python -m testbed.femto --config femto.yaml`` (:mod:`testbed.femto.process`).
"""

from .cell import Cell, RadioUe, signal_dbm
from .config import FemtoConfig, Knobs, load_femto_config, parse_femto_config
from .gnb import FemtoGnb
from .ngap_client import NgapClient, NgUe
from .outputs import CloseN2, ConnectN2, Event, Output, SendAir, SendN3, SendNgap
from .user_plane import Tunnel, UserPlane

__all__ = [
    "Cell",
    "CloseN2",
    "ConnectN2",
    "Event",
    "FemtoConfig",
    "FemtoGnb",
    "Knobs",
    "NgUe",
    "NgapClient",
    "Output",
    "RadioUe",
    "SendAir",
    "SendN3",
    "SendNgap",
    "Tunnel",
    "UserPlane",
    "load_femto_config",
    "parse_femto_config",
    "signal_dbm",
]
