"""AMF configuration (the built-in 5G core's AMF).

Defaults follow the specs where they name a value: NAS timers T3550/T3560/T3570/T3522 are 6 s and
a message is retransmitted four times, i.e. the procedure is aborted on the fifth expiry
(TS 24.501 10.2, table 10.2.1); algorithm priorities follow TS 33.501 5.11.1.1 / 6.7.2 practice
(128-NIA2 first, NIA0 never for a normal registration; NEA0 last).
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.crypto import keys
from testbed.protocols import nas, ngap

__all__ = ["AmfConfig"]


@dataclass(frozen=True)
class AmfConfig:
    """Static configuration of one AMF instance.

    ``snssais`` are (SST, SD or None) pairs this AMF serves; ``tacs`` the tracking area codes of
    ``mcc``/``mnc`` it serves. ``nia_priority`` / ``nea_priority`` are the operator's ordered lists
    (TS 33.501 6.7.2: the AMF picks the first algorithm of its list that the UE supports).
    ``max_retransmissions`` is the number of retransmissions before a procedure is aborted on the
    next expiry (TS 24.501 10.2: "on the fifth expiry").
    """

    amf_name: str = "testbed-amf"
    mcc: str = "001"
    mnc: str = "01"
    amf_region_id: int = 1
    amf_set_id: int = 1
    amf_pointer: int = 0
    tacs: tuple[int, ...] = (1,)
    snssais: tuple[tuple[int, int | None], ...] = ((1, None),)
    nia_priority: tuple[int, ...] = (2, 1, 3)
    nea_priority: tuple[int, ...] = (2, 1, 3, 0)
    t3550: float = 6.0
    t3560: float = 6.0
    t3570: float = 6.0
    t3522: float = 6.0
    t3513: float = 5.0  # paging (TS 24.501 10.2: network dependent; retransmitted paging_retransmissions times)
    paging_retransmissions: int = 1
    ue_ambr: tuple[int, int] = (2_000_000_000, 2_000_000_000)  # (DL, UL) bit/s in an ICS with PDU sessions
    max_retransmissions: int = 4
    allow_unauthenticated_emergency: bool = True
    allow_unknown_gnbs: bool = True
    relative_capacity: int = 255
    codec_cache: int = 512  # learned splice templates (fastpath.py); 0 = always the plain codec
    t3512: int | None = 3600  # periodic registration timer in REGISTRATION ACCEPT (exactly encodable, 9.11.2.5)

    def __post_init__(self) -> None:
        ngap.Plmn(self.mcc, self.mnc)  # validates the digits
        ngap.Guami(self.plmn, self.amf_region_id, self.amf_set_id, self.amf_pointer)
        if not self.tacs or not self.snssais:
            raise ValueError("an AMF serves at least one TAC and one S-NSSAI")
        if 0 in self.nia_priority:
            raise ValueError("NIA0 must not be in the integrity priority list (TS 33.501 5.5.2)")
        for alg in (*self.nia_priority, *self.nea_priority):
            if alg not in (0, 1, 2, 3):
                raise ValueError(f"unknown NAS algorithm {alg}")
        if self.t3512 is not None:
            nas.GprsTimer3.from_seconds(self.t3512)  # ValueError if not exactly encodable
        if self.max_retransmissions < 0:
            raise ValueError("max_retransmissions must be >= 0")
        if self.paging_retransmissions < 0 or self.t3513 <= 0:
            raise ValueError("paging_retransmissions must be >= 0 and t3513 > 0")

    @property
    def plmn(self) -> ngap.Plmn:
        return ngap.Plmn(self.mcc, self.mnc)

    @property
    def guami(self) -> ngap.Guami:
        return ngap.Guami(self.plmn, self.amf_region_id, self.amf_set_id, self.amf_pointer)

    @property
    def sn_name(self) -> str:
        """Serving network name (TS 33.501 6.1.1.4)."""
        return keys.serving_network_name(self.mcc, self.mnc)

    def timer_seconds(self, name: str) -> float:
        return float(getattr(self, name.lower()))
