"""One simulated UE: NAS layer + RRC + radio link + cell selection, sans-I/O.

:class:`SimUe` turns input events into outputs and never touches a socket, a TUN device or a
clock (``now`` is passed in, seconds on the runner's monotonic clock), so thousands of them run in
one asyncio process (:mod:`testbed.ue.process`).

Inputs: :meth:`~SimUe.start`, :meth:`~SimUe.datagram_received`, :meth:`~SimUe.timer_expired`,
:meth:`~SimUe.uplink_data` (an IP packet from the session's TUN) and the commands
:meth:`~SimUe.register`, :meth:`~SimUe.deregister`, :meth:`~SimUe.establish_session`,
:meth:`~SimUe.release_session`, :meth:`~SimUe.set_position`.

Outputs: :class:`Transmit` (a datagram to a gNB), :class:`DeliverData` (a downlink IP packet for
the session's TUN) and, from :mod:`testbed.ue.nas.outputs`, ``StartTimer``/``StopTimer`` (timer ids
``rls.*`` and ``rrc.*`` are the radio side's, the others the NAS layer's - hand every expiry back to
:meth:`~SimUe.timer_expired`), ``SessionUp``/``SessionDown``, ``Registered``,
``RegistrationFailed``, ``Deregistered`` and ``Event``.

Procedures composed here:

* cell search and selection (TS 38.304 5.2, :mod:`.cell_selection`) over the cells that answer
  heartbeats (:mod:`.link`), re-run while in RRC_IDLE whenever a cell appears, changes strength or
  system information, is lost, and after every NAS outcome (so a cell becomes unsuitable after
  cause #76, TS 24.501 5.5.1.2.5, and the UE reselects); the NAS layer learns the camped cell through
  ``cell_changed`` (TS 24.501 4.2 / 5.3.5 cell change in 5GMM-IDLE);
* a registration asked for while no suitable cell is known waits until the UE camps on one
  (an emergency registration also on an acceptable cell, TS 23.122 / TS 38.304 5.2.6 limited
  service);
* radio link failure: the serving cell lost (no HEARTBEAT_ACK for 2 s) releases the RRC
  connection locally and tells the NAS layer ``connection_released("radio-link-failure")``
  (TS 38.331 5.3.10 with no re-establishment; TS 24.501 5.3.1.2 lower layer failure);
* paging with our 5G-S-TMSI: the NAS layer's ``paging_received()`` when it has one (it answers
  with a SERVICE REQUEST, TS 24.501 5.6.2.2.1); otherwise (the NAS layer has none yet) a mobility
  registration update, which also brings the UE back to 5GMM-CONNECTED; either way the RRC
  connection is set up with establishment cause ``mt-Access`` (TS 24.501 Annex D);
* user plane: DATA PDUs (RLS pduType 2, payload = PDU session id) only to and from the serving
  cell, only for sessions that are up. Uplink data while the UE is idle (or while its service
  request runs) is held, at most ``RadioConfig.ul_hold_packets`` packets, and the NAS layer's
  ``uplink_data(psi)`` starts a SERVICE REQUEST "data" (TS 24.501 5.6.1.2); the NAS layer's
  :class:`~testbed.ue.nas.outputs.UserPlaneResult` then sends the held packets in order (user
  plane re-established) or drops them (counted). Without that entry point, or without a serving
  cell, the packet is dropped as before.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from testbed.errors import DecodeError
from testbed.protocols import rls, rrc
from testbed.protocols.rrc import Channel
from testbed.ue.nas.outputs import (
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
    UserPlaneResult,
)

from . import codec
from .cell_selection import MIN_DBM, Cell, classify, select_acceptable_cell, select_cell
from .link import Address, RadioLink, RrcIndication, SignalIndication
from .rrc import Connected, NasDelivery, Paged, Released, RrcClient, RrcSend, RrcTimers

__all__ = ["DeliverData", "RadioConfig", "SimUe", "Transmit", "s_tmsi_of"]

HEARTBEAT = "rls.heartbeat"
ACK_SEND = "rls.ack_send"
ACK_CHECK = "rls.ack_check"
ACK_CHECK_PERIOD_S = 1.5  # UERANSIM TIMER_PERIOD_ACK_CONTROL
REG_TYPES = ("initial", "emergency", "mobility", "periodic")


@dataclass(frozen=True, slots=True)
class Transmit:
    """Send ``data`` from this UE's socket to ``address``."""

    address: Address
    data: bytes


@dataclass(frozen=True, slots=True)
class DeliverData:
    """A downlink IP packet of PDU session ``psi`` (write it to the session's TUN)."""

    psi: int
    packet: bytes


@dataclass(frozen=True)
class RadioConfig:
    """Radio-side settings of a UE (the NAS layer has its own :class:`~testbed.ue.nas.UeNasConfig`)."""

    heartbeat_s: float = rls.HEARTBEAT_INTERVAL_S
    ack_delay_s: float = 0.2
    request_acks: bool = False
    min_dbm: int = MIN_DBM
    rrc: RrcTimers = field(default_factory=RrcTimers)
    rls_version: tuple[int, int, int] = rls.VERSION
    ul_hold_packets: int = 32  # uplink packets held per UE while a service request brings the user plane back


def s_tmsi_of(guti: Any) -> int | None:
    """The 48-bit 5G-S-TMSI (AMF Set ID 10 | AMF Pointer 6 | 5G-TMSI 32, TS 23.003 2.11) of a 5G-GUTI.

    Accepts a :class:`testbed.crypto.identity.Guti5g` (or anything with ``amf_set_id``,
    ``amf_pointer``, ``tmsi``) or the NAS layer's string form
    ``5g-guti-<MCC><MNC><region:02x><set:03x><ptr:02x><tmsi:08x>``.
    """
    if guti is None:
        return None
    if isinstance(guti, str):
        body = guti.removeprefix("5g-guti-")
        try:
            tmsi, ptr, amf_set = int(body[-8:], 16), int(body[-10:-8], 16), int(body[-13:-10], 16)
        except ValueError:
            return None
        if len(body) < 18:
            return None
        return ((amf_set & 0x3FF) << 38) | ((ptr & 0x3F) << 32) | tmsi
    try:
        return ((guti.amf_set_id & 0x3FF) << 38) | ((guti.amf_pointer & 0x3F) << 32) | (guti.tmsi & 0xFFFFFFFF)
    except AttributeError:
        return None


class SimUe:
    """One UE (see the module docstring). ``nas`` is a :class:`testbed.ue.nas.UeNas` (or a fake
    with its API); ``plmn`` defaults to the NAS layer's configured PLMN."""

    def __init__(self, nas: Any, *, gnbs: list[Address], position: tuple[int, int, int] = (0, 0, 0),
                 name: str = "ue", sti: int | None = None, rng: random.Random | None = None,
                 config: RadioConfig | None = None, plmn: tuple[str, str] | None = None,
                 auto_register: str | None = None,
                 auto_sessions: tuple[tuple[int, str | None, tuple[int, int | None]], ...] = ()) -> None:
        self.nas = nas
        self.name = name
        self.config = config or RadioConfig()
        self.rng = rng or random.Random()
        if sti is None:
            sti = self.rng.getrandbits(64)
        self.link = RadioLink(sti, list(gnbs), tuple(position), self.config.rls_version)  # type: ignore[arg-type]
        self.rrc = RrcClient(self.config.rrc, self.rng)
        if plmn is None:
            cfg = getattr(nas, "config", None)
            plmn = (getattr(cfg, "mcc", "001"), getattr(cfg, "mnc", "01"))
        self.plmn: tuple[str, str] = plmn
        self.cells: dict[int, Cell] = {}
        self.serving: int | None = None
        self.camp = "none"  # "normal" (suitable cell), "limited" (acceptable cell), "none"
        self.via = ""
        self.plmn_index = 1
        self.sessions: dict[int, str] = {}
        self.registered = False
        self.auto_register = auto_register
        self.auto_sessions = auto_sessions
        self.started = False
        self._pending_register: str | None = None
        self._mt_access = False
        self._cell_seen_by_nas: tuple[Any, ...] = ()
        self._timers: set[str] = set()
        self._ul_held: dict[int, deque[bytes]] = {}  # PDU session -> uplink packets waiting for the user plane
        self.counters: dict[str, int] = {
            "rrc_malformed": 0, "rrc_other_cell": 0, "rrc_wrong_direction": 0, "dl_data": 0, "ul_data": 0,
            "dl_data_dropped": 0, "ul_data_dropped": 0, "reselections": 0, "radio_link_failures": 0,
            "nas_errors": 0, "ul_data_held": 0, "ul_data_released": 0}

    @property
    def sti(self) -> int:
        return self.link.sti

    # ------------------------------------------------------------------------------------------
    # inputs
    def start(self, now: float, first_heartbeat_in: float = 0.0) -> list[Any]:
        """Power on: the first heartbeat after ``first_heartbeat_in`` seconds (the runner spreads
        thousands of UEs over the heartbeat period), then every second; auto-registration waits
        for a suitable cell."""
        if self.started:
            return []
        self.started = True
        out: list[Any] = []
        if first_heartbeat_in <= 0:
            out += self._heartbeat(now)
        else:
            out.append(self._start_timer(HEARTBEAT, first_heartbeat_in))
        if self.auto_register:
            out += self.register(self.auto_register, now)
        return out

    def datagram_received(self, data: bytes, address: Address, now: float) -> list[Any]:
        ind = self.link.receive(data, address, now)
        if ind is None:
            return []
        out: list[Any] = []
        if self.link.acks_pending and ACK_SEND not in self._timers:
            out.append(self._start_timer(ACK_SEND, self.config.ack_delay_s))
        if isinstance(ind, SignalIndication):
            cell = self.cells.get(ind.sti)
            if cell is None:
                self.cells[ind.sti] = Cell(ind.sti, ind.dbm)
            else:
                cell.dbm = ind.dbm
            return out + self._reselect(now)
        if isinstance(ind, RrcIndication):
            return out + self._rrc_pdu(ind, now)
        if ind.sti != self.serving or ind.psi not in self.sessions:  # DATA only from the serving cell
            self.counters["dl_data_dropped"] += 1
            return out
        self.counters["dl_data"] += 1
        out.append(DeliverData(ind.psi, ind.pdu))
        return out

    def timer_expired(self, timer_id: str, now: float) -> list[Any]:
        self._timers.discard(timer_id)
        if timer_id == HEARTBEAT:
            return self._heartbeat(now)
        if timer_id == ACK_SEND:
            return [Transmit(a, d) for a, d in self.link.flush_acks()]
        if timer_id == ACK_CHECK:
            failed = self.link.expire_unacked(now)
            out: list[Any] = []
            if failed:
                out.append(Event("rls.transmission_failure", {"pdu_ids": failed[:16], "count": len(failed)}))
            if self.link.unacked:
                out.append(self._start_timer(ACK_CHECK, ACK_CHECK_PERIOD_S))
            return out
        if timer_id.startswith("rrc."):
            return self._rrc_outputs(self.rrc.timer_expired(timer_id), now)
        return self._nas_call(self.nas.timer_expired, timer_id, now=now)

    def uplink_data(self, psi: int, packet: bytes, now: float) -> list[Any]:
        """An IP packet the UE's TUN of session ``psi`` produced."""
        if psi not in self.sessions or self.serving is None or not 0 < len(packet) <= rls.MAX_PDU_LEN:
            self.counters["ul_data_dropped"] += 1
            return []
        if not self.rrc.connected or psi in self._ul_held:
            return self._hold(psi, packet, now)
        sent = self.link.pdu(self.serving, rls.PduType.DATA, psi, packet, now)
        if sent is None:
            self.counters["ul_data_dropped"] += 1
            return []
        self.counters["ul_data"] += 1
        return [Transmit(*sent)]

    def _hold(self, psi: int, packet: bytes, now: float) -> list[Any]:
        """Idle (or a service request runs): hold the packet, let the NAS layer bring the user plane back."""
        out: list[Any] = []
        queue = self._ul_held.get(psi)
        if queue is None:
            fn = getattr(self.nas, "uplink_data", None)
            if fn is None:
                self.counters["ul_data_dropped"] += 1
                return out
            queue = self._ul_held[psi] = deque()
            out += self._nas_call(fn, psi, now=now)
            if psi not in getattr(self.nas, "ul_data_pending", ()):  # the NAS layer cannot: drop
                self._ul_held.pop(psi, None)
                self.counters["ul_data_dropped"] += 1
                return out
        if sum(len(q) for q in self._ul_held.values()) >= self.config.ul_hold_packets:
            self.counters["ul_data_dropped"] += 1
            return out
        queue.append(packet)
        self.counters["ul_data_held"] += 1
        return out

    def _release_held(self, result: UserPlaneResult, now: float) -> list[Any]:
        """The NAS layer's verdict on the held uplink data: send (in order) or drop."""
        out: list[Any] = []
        sent_n = dropped = 0
        for psi in result.active:
            for pkt in self._ul_held.pop(psi, ()):
                sent = None
                if self.serving is not None and psi in self.sessions:
                    sent = self.link.pdu(self.serving, rls.PduType.DATA, psi, pkt, now)
                if sent is None:
                    dropped += 1
                    continue
                sent_n += 1
                out.append(Transmit(*sent))
        for psi in result.failed:
            dropped += len(self._ul_held.pop(psi, ()))
        self.counters["ul_data"] += sent_n
        self.counters["ul_data_released"] += sent_n
        self.counters["ul_data_dropped"] += dropped
        out.append(Event("ue.uplink_released", {"psis": list(result.active), "failed": list(result.failed),
                                                "sent": sent_n, "dropped": dropped}))
        return out

    # -- commands ---------------------------------------------------------------------------------
    def register(self, reg_type: str = "initial", now: float = 0.0) -> list[Any]:
        """Register (``initial``, ``emergency``, ``mobility``, ``periodic``); waits for a cell."""
        if reg_type not in REG_TYPES:
            raise ValueError(f"registration type must be one of {', '.join(REG_TYPES)}")
        if self.camp == "normal" or (self.camp == "limited" and reg_type == "emergency"):
            self._pending_register = None
            return self._nas_call(self.nas.register, reg_type, now=now)
        self._pending_register = reg_type
        return [Event("ue.registration_deferred", {
            "registration_type": reg_type, "reason": "no suitable cell" if self.camp == "none" else "limited service"})]

    def deregister(self, switch_off: bool = False, now: float = 0.0) -> list[Any]:
        self._pending_register = None
        return self._nas_call(self.nas.deregister, switch_off, now=now)

    def establish_session(self, psi: int = 1, dnn: str | None = None,
                          snssai: tuple[int, int | None] = (1, None), now: float = 0.0) -> list[Any]:
        return self._nas_call(self.nas.establish_session, psi, dnn, snssai, now=now)

    def release_session(self, psi: int, now: float = 0.0) -> list[Any]:
        return self._nas_call(self.nas.release_session, psi, now=now)

    def set_position(self, position: tuple[int, int, int]) -> list[Any]:
        self.link.set_position(position)
        return [Event("ue.position", {"position": list(self.link.position)})]

    # ------------------------------------------------------------------------------------------
    # radio link
    def _heartbeat(self, now: float) -> list[Any]:
        sends, lost = self.link.heartbeat(now)
        out: list[Any] = [Transmit(a, d) for a, d in sends]
        out.append(self._start_timer(HEARTBEAT, self.config.heartbeat_s))
        if lost:
            for sti in lost:
                self.cells.pop(sti, None)
            out.append(Event("cell.lost", {"cells": [f"{s:016x}" for s in lost]}))
            if self.serving in lost:
                self.counters["radio_link_failures"] += 1
                old, self.serving = self.serving, None
                out.append(Event("radio.link_failure", {"cell": f"{old:016x}", "rrc": self.rrc.describe()}))
                out += self._rrc_outputs(self.rrc.release_local("radio-link-failure"), now)
            out += self._reselect(now)
        return out

    def _start_timer(self, timer_id: str, seconds: float) -> StartTimer:
        self._timers.add(timer_id)
        return StartTimer(timer_id, seconds)

    def _rrc_pdu(self, ind: RrcIndication, now: float) -> list[Any]:
        ch = ind.channel
        if ch in (Channel.BCCH_BCH, Channel.BCCH_DL_SCH):
            cell = self.cells.get(ind.sti)
            if cell is None:
                return []
            try:
                msg = codec.decode_downlink(ch, ind.pdu)
            except DecodeError:
                self.counters["rrc_malformed"] += 1
                return []
            if type(msg) is rrc.Mib:
                if msg is cell.mib:
                    return []
                cell.mib = msg  # type: ignore[assignment]
            elif type(msg) is rrc.Sib1:
                if msg is cell.sib1:
                    return []
                cell.set_sib1(msg)  # type: ignore[arg-type]
            else:
                return []
            return self._reselect(now)
        if ch >= Channel.UL_CCCH:
            self.counters["rrc_wrong_direction"] += 1
            return []
        if ind.sti != self.serving:
            self.counters["rrc_other_cell"] += 1
            return []
        return self._rrc_outputs(self.rrc.received(ch, ind.pdu, self._s_tmsi()), now)

    def _s_tmsi(self) -> int | None:
        return s_tmsi_of(getattr(self.nas, "guti", None))

    # ------------------------------------------------------------------------------------------
    # cell selection
    def _reselect(self, now: float) -> list[Any]:
        """TS 38.304 5.2.3/5.2.4 while in RRC_IDLE (no reselection in RRC_CONNECTED)."""
        if not self.rrc.idle:
            return []
        cells = self.cells.values()
        best = select_cell(cells, self.nas, self.plmn, serving=self.serving, min_dbm=self.config.min_dbm)
        camp = "normal"
        if best is None:
            best = select_acceptable_cell(cells, self.nas, self.plmn, serving=self.serving,
                                          min_dbm=self.config.min_dbm)
            camp = "limited" if best is not None else "none"
        new_sti = best.sti if best is not None else None
        verdict = classify(best, self.nas, self.plmn, self.config.min_dbm) if best is not None else None
        via = verdict.via if verdict is not None else ""
        if new_sti == self.serving and camp == self.camp and via == self.via:
            return []
        out: list[Any] = []
        changed_cell = new_sti != self.serving
        self.serving, self.camp, self.via = new_sti, camp, via
        if best is None or verdict is None:
            out.append(Event("cell.none", {"heard": len(self.cells)}))
            return out
        self.counters["reselections"] += 1
        self.plmn_index = verdict.plmn_index
        self.rrc.set_plmn_index(verdict.plmn_index)
        si = best.si
        assert si is not None
        plmn = self.plmn if (si.plmn_entry(self.plmn) or si.npn_entry(self.plmn)) else (si.first_plmn or self.plmn)
        tac, nci = si.tac_nci(plmn)
        tac = tac if tac is not None else 0
        # the NAS layer sees the cell as it is accessed: through the PLMN (no CAG IDs) or the CAG
        cag_ids = () if verdict.via == "plmn" else si.cag_ids(plmn)
        out.append(Event("cell.selected", {
            "cell": f"{best.sti:016x}", "nci": nci, "tac": tac, "dbm": best.dbm, "category": camp,
            "via": verdict.via, "reason": verdict.reason, "cag_ids": list(si.cag_ids(plmn)),
            "cag_only": si.npn_only}))
        seen = (new_sti, plmn, tac, cag_ids)
        if changed_cell or seen != self._cell_seen_by_nas:
            self._cell_seen_by_nas = seen
            out += self._nas_call(self.nas.cell_changed, plmn, tac, cag_ids, now=now)
        if self._pending_register is not None and (camp == "normal" or self._pending_register == "emergency"):
            out += self.register(self._pending_register, now)
        return out

    # ------------------------------------------------------------------------------------------
    # RRC and NAS plumbing
    def _rrc_outputs(self, outputs: list[Any], now: float) -> list[Any]:
        out: list[Any] = []
        for o in outputs:
            t = type(o)
            if t is RrcSend:
                if self.serving is None:
                    continue
                sent = self.link.pdu(self.serving, rls.PduType.RRC, o.channel, o.pdu, now, self.config.request_acks)
                if sent is not None:
                    out.append(Transmit(*sent))
                    if self.config.request_acks and ACK_CHECK not in self._timers:
                        out.append(self._start_timer(ACK_CHECK, ACK_CHECK_PERIOD_S))
            elif t is NasDelivery:
                out += self._nas_call(self.nas.nas_received, o.pdu, now=now)
            elif t is Released:
                out.append(Event("rrc.released", {"reason": o.reason}))
                out += self._nas_call(self.nas.connection_released, o.reason, now=now)
                out += self._reselect(now)
            elif t is Connected:
                out.append(Event("rrc.connected", {"cell": f"{self.serving or 0:016x}"}))
            elif t is Paged:
                out.append(Event("paging.received", {}))
                handler = getattr(self.nas, "paging_received", None)
                self._mt_access = True  # the connection answers paging (TS 24.501 Annex D: mt-Access)
                if handler is not None:
                    out += self._nas_call(handler, now=now)
                else:
                    out += self.register("mobility", now)
                self._mt_access = False
            elif t is StartTimer:
                self._timers.add(o.timer_id)
                out.append(o)
            elif t is StopTimer:
                self._timers.discard(o.timer_id)
                out.append(o)
            else:
                out.append(o)
        return out

    def _nas_call(self, fn: Any, *args: Any, now: float) -> list[Any]:
        try:
            outputs = fn(*args)
        except (ValueError, KeyError, DecodeError) as e:  # a bad command or a NAS bug: report, don't die
            self.counters["nas_errors"] += 1
            return [Event("ue.nas_error", {"call": getattr(fn, "__name__", "?"), "error": f"{type(e).__name__}: {e}"})]
        return self._nas_outputs(outputs, now)

    def _nas_outputs(self, outputs: list[Any], now: float) -> list[Any]:
        out: list[Any] = []
        queue = deque(outputs)
        outcome = False
        while queue:
            o = queue.popleft()
            t = type(o)
            if t is SendNas:
                if o.initial:
                    cause = "mt-Access" if self._mt_access and o.cause != "emergency" else o.cause
                    rrc_out = self.rrc.connect(o.pdu, cause, self._s_tmsi(), self.plmn_index)
                else:
                    rrc_out = self.rrc.send_nas(o.pdu)
                out += self._rrc_outputs(rrc_out, now)
            elif t is ReleaseConnection:
                out += self._rrc_outputs(self.rrc.release_local(o.reason), now)
            elif t is SessionUp:
                self.sessions[o.psi] = o.ipv4
                out.append(o)
            elif t is SessionDown:
                self.sessions.pop(o.psi, None)
                self.counters["ul_data_dropped"] += len(self._ul_held.pop(o.psi, ()))
                out.append(o)
            elif t is UserPlaneResult:
                out += self._release_held(o, now)
            elif t is Registered:
                self.registered = True
                outcome = True
                out.append(o)
                if not o.emergency:
                    for psi, dnn, snssai in self.auto_sessions:
                        if psi not in self.sessions and psi not in getattr(self.nas, "sessions", {}):
                            queue.extend(self._raw_nas(self.nas.establish_session, psi, dnn, snssai))
            elif t is RegistrationFailed or t is Deregistered:
                self.registered = False
                outcome = True
                out.append(o)
            else:
                out.append(o)
        if outcome:
            out += self._reselect(now)
        return out

    def _raw_nas(self, fn: Any, *args: Any) -> list[Any]:
        try:
            return list(fn(*args))
        except (ValueError, KeyError, DecodeError) as e:
            self.counters["nas_errors"] += 1
            return [Event("ue.nas_error", {"call": getattr(fn, "__name__", "?"), "error": f"{type(e).__name__}: {e}"})]

    # ------------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """A JSON-able view for the control socket."""
        cells = []
        for c in sorted(self.cells.values(), key=lambda c: -c.dbm):
            d: dict[str, Any] = {"cell": f"{c.sti:016x}", "dbm": c.dbm, "mib": c.mib is not None,
                                 "sib1": c.si is not None}
            if c.si is not None:
                tac, nci = c.si.tac_nci(self.plmn)
                v = classify(c, self.nas, self.plmn, self.config.min_dbm)
                d.update(nci=nci, tac=tac, cag_ids=list(c.si.cag_ids()), cag_only=c.si.npn_only,
                         suitable=v.suitable, acceptable=v.acceptable, reason=v.reason or v.via)
            cells.append(d)
        nas_sessions = getattr(self.nas, "sessions", {}) or {}
        nas_status = getattr(self.nas, "status", None)
        return {
            "nas": nas_status() if callable(nas_status) else None,
            "name": self.name, "sti": f"{self.sti:016x}", "position": list(self.link.position),
            "nas_state": str(getattr(self.nas, "state", "?")), "cm_state": str(getattr(self.nas, "cm_state", "?")),
            "guti": str(getattr(self.nas, "guti", None)) if getattr(self.nas, "guti", None) is not None else None,
            "rrc_state": self.rrc.describe(), "camp": self.camp, "via": self.via,
            "serving_cell": f"{self.serving:016x}" if self.serving is not None else None,
            "cells": cells, "sessions": {str(k): v for k, v in self.sessions.items()},
            "nas_sessions": {str(k): str(getattr(v, "state", v)) for k, v in nas_sessions.items()},
            "pending_registration": self._pending_register,
            "counters": {**self.counters, **{f"rls_{k}": v for k, v in self.link.counters.items()},
                         **{f"rrc_{k}": v for k, v in self.rrc.counters.items()}},
        }
