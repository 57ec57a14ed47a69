"""The software gNB femto: radio side (RLS + NR RRC), NGAP client, GTP-U relay (sans-I/O) and its process.

Usage (sans-I/O)::

    from testbed.femto import FemtoConfig, FemtoGnb
    femto = FemtoGnb(FemtoConfig(gnb_id=1, cag_ids=(0x101,), radio_enabled_at_start=True))
    outs = femto.start()                 # [ConnectN2()]
    outs = femto.n2_up()                 # [SendNgap(NG SETUP REQUEST)]
    outs = femto.ngap_received(pdu)      # NG SETUP RESPONSE -> radio on, femto.ready
    outs = femto.air_received(datagram, ("10.200.1.10", 40000))

Process: ``python -m testbed.femto --config femto.yaml`` (:mod:`testbed.femto.process`).

The names below are imported lazily (PEP 562 ``__getattr__``): importing a light submodule such as
:mod:`testbed.femto.tre` (the backhaul agent's trusted environment) does not pull in pycrate's NR-RRC
and NGAP modules (about 2 s of start-up).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cell import Cell, RadioUe, signal_dbm
    from .config import FemtoConfig, Knobs, load_femto_config, parse_femto_config
    from .gnb import FemtoGnb
    from .ngap_client import NgapClient, NgUe
    from .outputs import CloseN2, ConnectN2, Event, Output, SendAir, SendN3, SendNgap
    from .user_plane import Tunnel, UserPlane

#: public name -> submodule that defines it
_LAZY: dict[str, str] = {
    "Cell": "cell", "RadioUe": "cell", "signal_dbm": "cell",
    "FemtoConfig": "config", "Knobs": "config", "load_femto_config": "config", "parse_femto_config": "config",
    "FemtoGnb": "gnb",
    "NgapClient": "ngap_client", "NgUe": "ngap_client",
    "CloseN2": "outputs", "ConnectN2": "outputs", "Event": "outputs", "Output": "outputs", "SendAir": "outputs",
    "SendN3": "outputs", "SendNgap": "outputs",
    "Tunnel": "user_plane", "UserPlane": "user_plane",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
