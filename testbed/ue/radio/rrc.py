"""The UE's RRC connection control (TS 38.331 clause 5.3.3, 5.3.8, 5.3.15, 5.3.2), sans-I/O.

States (TS 38.331 4.2.1; RRC_INACTIVE is not modelled, the UERANSIM gNB has none):

* ``RRC_IDLE`` - :meth:`RrcClient.connect` (the NAS layer's initial message and establishment
  cause) sends **RRCSetupRequest** on UL-CCCH (5.3.3.3): ``ue-Identity`` is
  ``ng-5G-S-TMSI-Part1`` (the 39 rightmost bits of the 5G-S-TMSI) when the NAS layer has a
  5G-S-TMSI, else a fresh 39-bit random value; T300 starts.
* ``RRC_IDLE`` with a setup in progress (``connecting``): **RRCSetup** on DL-CCCH stops T300 and
  answers **RRCSetupComplete** on UL-DCCH (5.3.3.4) with the RRCSetup's transaction identifier,
  ``selectedPLMN-Identity`` (the index of the PLMN or NPN the UE selected in SIB1),
  ``ng-5G-S-TMSI-Part2`` (the 9 leftmost bits) when part 1 was used, and the initial NAS message
  as ``dedicatedNAS-Message``; the UE is in ``RRC_CONNECTED``.
  **RRCReject** (5.3.15) stops T300 and starts T302 with ``waitTime`` (or
  :attr:`RrcTimers.default_wait_s`); when it expires the UE tries again with the same NAS message,
  at most :attr:`RrcTimers.max_rejects` times, then reports the failure to the NAS layer.
  **T300 expiry** (5.3.3.7) retries the request :attr:`RrcTimers.t300_retries` times (a UE
  implementation choice for a lossy emulated air; ``0`` is the letter of 5.3.3.7), then tells the
  NAS layer the connection could not be established.
* ``RRC_CONNECTED`` - NAS travels in **ULInformationTransfer** (5.7.2) and
  **DLInformationTransfer** (5.7.1); **RRCRelease** (5.3.8.3) returns to ``RRC_IDLE`` and the NAS
  layer is told (``connection_released``). A local release (radio link failure, or the NAS layer's
  ``ReleaseConnection``) does the same without signalling (5.3.11).
* **Paging** (5.3.2.3) on PCCH in ``RRC_IDLE`` whose records hold the UE's 5G-S-TMSI is reported
  to the NAS layer (which answers with a SERVICE REQUEST, TS 24.501 5.6.2.2.1).

There is no AS security: the UERANSIM gNB and UE have no PDCP integrity or ciphering, no
SecurityModeCommand and no RRCReconfiguration; such messages are counted and ignored.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from testbed.errors import DecodeError
from testbed.protocols import rrc
from testbed.protocols.rrc import Channel
from testbed.ue.nas.outputs import Event, StartTimer, StopTimer

from . import codec

__all__ = ["Connected", "NasDelivery", "Paged", "Released", "RrcClient", "RrcSend", "RrcTimers"]

T300 = "rrc.T300"
T302 = "rrc.T302"
S_TMSI_PART1_MASK = (1 << 39) - 1


@dataclass(frozen=True, slots=True)
class RrcSend:
    """Send ``pdu`` (UPER) on uplink RRC channel ``channel`` to the serving cell."""

    channel: int
    pdu: bytes


@dataclass(frozen=True, slots=True)
class NasDelivery:
    """A downlink NAS PDU for the NAS layer."""

    pdu: bytes


@dataclass(frozen=True, slots=True)
class Connected:
    """RRC_CONNECTED reached (RRCSetupComplete sent)."""


@dataclass(frozen=True, slots=True)
class Released:
    """Back in RRC_IDLE: tell the NAS layer ``connection_released(reason)``."""

    reason: str


@dataclass(frozen=True, slots=True)
class Paged:
    """Paged with our 5G-S-TMSI while in RRC_IDLE."""


RrcOutput = RrcSend | NasDelivery | Connected | Released | Paged | StartTimer | StopTimer | Event


@dataclass(frozen=True)
class RrcTimers:
    """RRC timer values (TS 38.331 7.1.1; T300 from ue-TimersAndConstants, 100..2000 ms)."""

    t300_s: float = 1.0
    t300_retries: int = 2
    default_wait_s: float = 1.0
    max_rejects: int = 3


@dataclass
class RrcClient:
    """RRC state of one UE (see the module docstring)."""

    timers: RrcTimers = field(default_factory=RrcTimers)
    rng: random.Random = field(default_factory=random.Random)
    state: str = "RRC_IDLE"
    connecting: bool = False
    counters: dict[str, int] = field(default_factory=lambda: {
        "setup_requests": 0, "setups": 0, "rejects": 0, "releases": 0, "t300_expiries": 0, "ul_nas": 0,
        "dl_nas": 0, "malformed": 0, "unexpected": 0, "unsupported": 0, "pagings": 0, "dropped_ul_nas": 0})
    _initial_nas: bytes = b""
    _cause: str = "mo-Signalling"
    _s_tmsi: int | None = None
    _plmn_index: int = 1
    _pending_ul: list[bytes] = field(default_factory=list)
    _attempts: int = 0
    _rejects: int = 0
    _waiting: bool = False

    @property
    def connected(self) -> bool:
        return self.state == "RRC_CONNECTED"

    @property
    def idle(self) -> bool:
        """RRC_IDLE with no setup in progress or pending."""
        return self.state == "RRC_IDLE" and not self.connecting

    def describe(self) -> str:
        if self.state == "RRC_CONNECTED":
            return "RRC_CONNECTED"
        if self._waiting:
            return "RRC_IDLE (waiting after RRCReject)"
        return "RRC_IDLE (connecting)" if self.connecting else "RRC_IDLE"

    # -- from the NAS layer ------------------------------------------------------------------
    def connect(self, nas_pdu: bytes, cause: str, s_tmsi: int | None, plmn_index: int = 1) -> list[RrcOutput]:
        """The NAS layer's initial message: set up a connection for it (or send it if connected)."""
        if self.state == "RRC_CONNECTED":
            return self.send_nas(nas_pdu)
        self._initial_nas, self._cause, self._s_tmsi, self._plmn_index = nas_pdu, cause, s_tmsi, plmn_index
        self._pending_ul.clear()
        if self.connecting:  # a newer initial message replaces the one waiting for RRCSetup
            return []
        self.connecting = True
        self._attempts = 0
        self._rejects = 0
        return self._setup_request()

    def send_nas(self, nas_pdu: bytes) -> list[RrcOutput]:
        """An uplink NAS message on the established connection (ULInformationTransfer)."""
        if self.state == "RRC_CONNECTED":
            self.counters["ul_nas"] += 1
            return [RrcSend(Channel.UL_DCCH, codec.encode_ul_information_transfer(nas_pdu))]
        if self.connecting:
            self._pending_ul.append(nas_pdu)
            return []
        self.counters["dropped_ul_nas"] += 1
        return [Event("rrc.ul_nas_dropped", {"reason": "no RRC connection"})]

    def set_plmn_index(self, index: int) -> None:
        self._plmn_index = index

    def release_local(self, reason: str) -> list[RrcOutput]:
        """Leave RRC_CONNECTED (or abandon a setup) without signalling (TS 38.331 5.3.11)."""
        if self.state == "RRC_IDLE" and not self.connecting:
            return []
        out: list[RrcOutput] = self._to_idle()
        out.append(Released(reason))
        return out

    # -- timers ------------------------------------------------------------------------------
    def timer_expired(self, timer_id: str) -> list[RrcOutput]:
        if timer_id == T300 and self.connecting and not self._waiting:
            self.counters["t300_expiries"] += 1
            if self._attempts <= self.timers.t300_retries:
                return self._setup_request()
            out = self._to_idle()
            out += [Event("rrc.setup_failure", {"reason": "t300-expiry", "attempts": self._attempts}),
                    Released("rrc-setup-failure")]
            return out
        if timer_id == T302 and self.connecting and self._waiting:
            self._waiting = False
            return self._setup_request()
        return []

    # -- from the cell -----------------------------------------------------------------------
    def received(self, channel: int, pdu: bytes, s_tmsi: int | None = None) -> list[RrcOutput]:
        """A downlink RRC PDU from the serving cell. ``s_tmsi``: ours, for Paging."""
        try:
            msg = codec.decode_downlink(channel, pdu)
        except DecodeError:
            self.counters["malformed"] += 1
            return []
        return self.handle(msg, s_tmsi)

    def handle(self, msg: object, s_tmsi: int | None = None) -> list[RrcOutput]:
        """A decoded downlink RRC message (see :meth:`received`)."""
        t = type(msg)
        if t is rrc.DLInformationTransfer:
            if self.state != "RRC_CONNECTED":
                self.counters["unexpected"] += 1
                return []
            self.counters["dl_nas"] += 1
            return [NasDelivery(msg.nas_pdu)]  # type: ignore[attr-defined]
        if t is rrc.RRCSetup:
            return self._on_setup(msg)  # type: ignore[arg-type]
        if t is rrc.RRCReject:
            return self._on_reject(msg)  # type: ignore[arg-type]
        if t is rrc.RRCRelease:
            if self.state != "RRC_CONNECTED" and not self.connecting:
                self.counters["unexpected"] += 1
                return []
            self.counters["releases"] += 1
            out = self._to_idle()
            out.append(Released("rrc-release"))
            return out
        if t is rrc.Paging:
            if s_tmsi is not None and s_tmsi in msg.s_tmsis and self.idle:  # type: ignore[attr-defined]
                self.counters["pagings"] += 1
                return [Paged()]
            return []
        if t is rrc.UnsupportedRrcMessage:
            self.counters["unsupported"] += 1
            return [Event("rrc.unsupported_message", {"message": msg.name})]  # type: ignore[attr-defined]
        self.counters["unexpected"] += 1  # MIB/SIB1 are cell selection's business, not ours
        return []

    # -- internals ---------------------------------------------------------------------------
    def _setup_request(self) -> list[RrcOutput]:
        self._attempts += 1
        self.counters["setup_requests"] += 1
        if self._s_tmsi is not None:
            req = rrc.RRCSetupRequest(self._s_tmsi & S_TMSI_PART1_MASK, self._cause, identity_is_s_tmsi_part1=True)
        else:
            req = rrc.RRCSetupRequest(self.rng.getrandbits(39), self._cause)
        return [RrcSend(Channel.UL_CCCH, codec.encode(req)), StartTimer(T300, self.timers.t300_s)]

    def _on_setup(self, msg: rrc.RRCSetup) -> list[RrcOutput]:
        if not self.connecting or self._waiting:
            self.counters["unexpected"] += 1
            return []
        self.counters["setups"] += 1
        part2 = self._s_tmsi >> 39 if self._s_tmsi is not None else None
        complete = rrc.RRCSetupComplete(self._initial_nas, msg.transaction_id, self._plmn_index, s_tmsi_part2=part2)
        out: list[RrcOutput] = [StopTimer(T300), RrcSend(Channel.UL_DCCH, codec.encode(complete))]
        self.state, self.connecting = "RRC_CONNECTED", False
        self._initial_nas = b""
        self.counters["ul_nas"] += 1
        out.append(Connected())
        pending, self._pending_ul = self._pending_ul, []
        for pdu in pending:
            out += self.send_nas(pdu)
        return out

    def _on_reject(self, msg: rrc.RRCReject) -> list[RrcOutput]:
        if not self.connecting or self._waiting:
            self.counters["unexpected"] += 1
            return []
        self.counters["rejects"] += 1
        self._rejects += 1
        wait = float(msg.wait_time) if msg.wait_time is not None else self.timers.default_wait_s
        ev = Event("rrc.reject", {"wait_time": msg.wait_time, "rejects": self._rejects})
        if self._rejects > self.timers.max_rejects:
            out = self._to_idle()
            return out + [ev, Released("rrc-reject")]
        self._waiting = True
        self._attempts = 0
        return [StopTimer(T300), ev, StartTimer(T302, wait)]

    def _to_idle(self) -> list[RrcOutput]:
        out: list[RrcOutput] = []
        if self.connecting:
            out.append(StopTimer(T302 if self._waiting else T300))
        self.state, self.connecting, self._waiting = "RRC_IDLE", False, False
        self._initial_nas = b""
        self._pending_ul.clear()
        return out
