"""Configuration of the UE NAS layer and its misbehaviour knobs (attack scenarios)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Knobs", "UeNasConfig"]


@dataclass(frozen=True)
class Knobs:
    """Misbehaviour for attack scenarios; all off by default (a conformant UE).

    * ``null_scheme``: conceal the SUPI with the null scheme (the MSIN goes in clear, TS 33.501
      6.12.2 allows it only when the home network has no key configured);
    * ``plain_supi_identity``: answer an IDENTITY REQUEST with a null-scheme SUCI (the IMSI in clear);
    * ``wrong_res``: send a corrupted RES* (the network must answer AUTHENTICATION REJECT);
    * ``replay_nas``: once, resend the previous protected uplink message instead of a new one
      (the AMF must drop it: replayed NAS COUNT, TS 33.501 6.4.3.1);
    * ``only_null_algorithms``: advertise only 5G-EA0/5G-IA0 (bidding down; the AMF must reject
      with #23, TS 33.501 5.5.2 / 6.7.2);
    * ``ignore_cag_only``: ignore the CAG cell selection rules (TS 23.501 5.30.3.2): the UE tries
      any cell; the AMF must enforce the Allowed CAG list.
    """

    null_scheme: bool = False
    plain_supi_identity: bool = False
    wrong_res: bool = False
    replay_nas: bool = False
    only_null_algorithms: bool = False
    ignore_cag_only: bool = False


@dataclass(frozen=True)
class UeNasConfig:
    """Serving PLMN, supported NAS algorithms (TS 33.501 5.11.1), requested NSSAI and default DNN.

    ``timers`` overrides NAS timer durations in seconds by name (e.g. ``{"T3510": 1.0}``).
    """

    mcc: str = "001"
    mnc: str = "01"
    nia: frozenset[int] = frozenset({1, 2, 3})
    nea: frozenset[int] = frozenset({0, 1, 2, 3})
    requested_nssai: tuple[tuple[int, int | None], ...] = ((1, None),)
    default_dnn: str = "internet"
    knobs: Knobs = Knobs()
    timers: dict[str, float] = field(default_factory=dict, hash=False, compare=False)
