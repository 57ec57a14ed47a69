"""The UE simulator's radio side, sans-I/O: one module per concern.

- :mod:`.link` - the UE's end of the radio link protocol (RLS, UERANSIM v3.3.x wire format):
  heartbeats, signal strength per cell, radio link failure, pduId acknowledgements.
- :mod:`.cell_selection` - TS 38.304 5.2 cell selection with CAG rules (:func:`select_cell`).
- :mod:`.rrc` - the RRC client (TS 38.331 5.3.3 setup, information transfer, release, paging).
- :mod:`.codec` - fast paths and a shared decode cache for the NR RRC messages on the hot path.
- :mod:`.timers` - one timer heap for thousands of UEs.
- :mod:`.ue` - :class:`SimUe`: NAS + RRC + link + cell selection of one UE.

The asyncio runner for many UEs is :mod:`testbed.ue.process`.
"""

from .cell_selection import Cell, classify, select_acceptable_cell, select_cell
from .link import RadioLink
from .rrc import RrcClient, RrcTimers
from .timers import TimerWheel
from .ue import DeliverData, RadioConfig, SimUe, Transmit, s_tmsi_of

__all__ = [
    "Cell",
    "DeliverData",
    "RadioConfig",
    "RadioLink",
    "RrcClient",
    "RrcTimers",
    "SimUe",
    "TimerWheel",
    "Transmit",
    "classify",
    "s_tmsi_of",
    "select_acceptable_cell",
    "select_cell",
]
