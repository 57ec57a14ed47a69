"""The femto's radio side (sans-I/O): the radio link protocol (RLS) and NR RRC of one cell.

Wire format: ``/work/shared/reference/radio-link-protocol.md`` (UERANSIM v3.3.x "RLS"), RRC in
UPER (TS 38.331 clause 6.2), so that a UERANSIM ``nr-ue`` camps on and registers through it.

Per UE, keyed by (STI, source address):

- HEARTBEAT -> HEARTBEAT_ACK with the simulated signal strength: minus the distance between the
  UE's and the cell's positions in dBm (-1 at distance 0), as UERANSIM's gNB does. A UE heard for
  the first time gets MIB (BCCH-BCH) and SIB1 (BCCH-DL-SCH) at once; every UE gets them again
  every ``sib_period_s`` (TS 38.331 5.2.1: system information is broadcast periodically).
- A UE silent for 2000 ms is dropped (the radio link simulation's link timeout); if it had an NG
  connection the NGAP side asks the AMF to release it (TS 38.413 8.3.2, cause
  radio-connection-with-ue-lost).
- UL-CCCH RRCSetupRequest -> DL-CCCH RRCSetup (TS 38.331 5.3.3.3); UL-DCCH RRCSetupComplete ->
  the NAS PDU goes up as an initial NAS message with the establishment cause and the 5G-S-TMSI
  (ng-5G-S-TMSI-Part1 of the request with Part2 of the complete, or the full value; TS 38.331
  5.3.3.4) and whether the UE accessed it as a CAG cell (``selectedPLMN-Identity`` pointing into
  the NPN identity list, or any access to a CAG-only cell); ULInformationTransfer -> uplink NAS; downlink NAS -> DLInformationTransfer on DL-DCCH;
  release -> RRCRelease (TS 38.331 5.3.8); paging -> PCCH Paging to every UE (TS 38.331 5.3.2).
- DATA PDUs (``payload`` = PDU session id) go to the user plane; only from an RRC-connected UE.
- A PDU_TRANSMISSION with a non-zero ``pduId`` is acknowledged with PDU_TRANSMISSION_ACK. Dedicated
  downlink RRC carries non-zero pduIds (broadcast ones 0, like UERANSIM); unacknowledged ones are
  counted after 3 s.
- Malformed RLS datagrams or RRC messages, and messages out of state, are dropped and counted;
  nothing raises.
- Radio off (``radiating`` False): heartbeats and PDUs are ignored (no ACK, no SIB1, no UE
  contexts): a cell that is not allowed to radiate is silent.

The cell never looks into NAS beyond its length and security header type (TS 33.545: the femto
never learns a SUPI; NAS is end to end between UE and AMF) unless the ``log_everything`` knob is on.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from testbed.errors import DecodeError
from testbed.protocols import rls, rrc

from .config import FemtoConfig
from .fastpath import RrcFastPath
from .nasinfo import nas_summary
from .outputs import (
    DownlinkData,
    DownlinkNas,
    Event,
    InitialNas,
    PageUes,
    RadioLost,
    ReleaseRrc,
    SendAir,
    UplinkData,
    UplinkNas,
)

log = logging.getLogger("testbed.femto.cell")

__all__ = ["Cell", "RadioUe", "signal_dbm"]

Address = tuple[str, int]
#: the gNB drops a UE after this long without a heartbeat (radio link protocol, UERANSIM HEARTBEAT_THRESHOLD).
UE_TIMEOUT_S = rls.LINK_TIMEOUT_S
#: a sender of a non-zero pduId expects an ACK within about 3 s (UERANSIM MAX_PDU_TTL).
ACK_TTL_S = 3.0
#: RRC states of a UE as the cell sees it (TS 38.331 4.2.1; "setup" = RRCSetup sent, not completed).
RRC_IDLE, RRC_SETUP, RRC_CONNECTED = "idle", "setup", "connected"
_MALFORMED_EVENT_INTERVAL_S = 1.0


def signal_dbm(cell: tuple[int, int, int], ue: tuple[int, int, int]) -> int:
    """Simulated signal strength: minus the (truncated) distance; -1 at distance 0 (UERANSIM)."""
    d = int(math.sqrt(sum((a - b) ** 2 for a, b in zip(cell, ue, strict=True))))
    return -1 if d == 0 else -d


@dataclass
class RadioUe:
    """A UE the cell hears. Only pseudonymous identifiers: STI, address, 5G-S-TMSI."""

    ue_id: int
    sti: int
    addr: Address
    position: tuple[int, int, int]
    first_seen: float
    last_heartbeat: float
    rrc_state: str = RRC_IDLE
    establishment_cause: str | None = None
    s_tmsi_part1: int | None = None
    s_tmsi: int | None = None
    ng_connected: bool = False
    transaction_id: int = 0
    ul_pdus: int = 0
    dl_pdus: int = 0
    pending_acks: dict[int, float] = field(default_factory=dict)

    def next_tid(self) -> int:
        tid = self.transaction_id
        self.transaction_id = (tid + 1) & 3
        return tid

    def describe(self) -> dict[str, Any]:
        return {"ue_id": self.ue_id, "sti": f"{self.sti:016x}", "address": f"{self.addr[0]}:{self.addr[1]}",
                "position": list(self.position), "rrc_state": self.rrc_state,
                "s_tmsi": None if self.s_tmsi is None else f"{self.s_tmsi:012x}",
                "establishment_cause": self.establishment_cause}


class Cell:
    """One NR cell of the femto on its air segment.

    ``air_received``/``tick``/``deliver``/``set_radiating`` return lists of outputs: external ones
    (:class:`SendAir`, :class:`Event`) and internal ones for the NGAP side (:class:`InitialNas`,
    :class:`UplinkNas`, :class:`RadioLost`) and the user plane (:class:`UplinkData`).
    """

    def __init__(self, config: FemtoConfig, *, clock: Callable[[], float] = time.monotonic,
                 sti: int | None = None) -> None:
        self.config = config
        self.clock = clock
        self.sti = secrets.randbits(64) if sti is None else sti
        self.version = tuple(config.rls_version)
        self.position = tuple(config.position)
        self.log_everything = config.knobs.log_everything
        self.radiating = False
        self.ues: dict[int, RadioUe] = {}
        self._by_key: dict[tuple[int, Address], int] = {}
        self._next_ue_id = 1
        self._next_pdu_id = 1
        self._next_sib = 0.0
        self.counters: Counter[str] = Counter()
        self._last_malformed_event = -1e9
        self.codec = RrcFastPath(enabled=config.codec_cache)
        self._mib = rrc.encode(rrc.Mib())
        sib1 = self.sib1()
        self._sib1 = rrc.encode(sib1)
        self._n_plmns = sum(len(pi.plmns) for pi in sib1.plmn_infos)
        self._n_npns = sum(len(ni.npns) for ni in sib1.npn_infos)

    # ------------------------------------------------------------------ system information

    def sib1(self) -> rrc.Sib1:
        """SIB1 (TS 38.331 6.2.2): PLMN, TAC, NR cell identity and, for a CAG cell, the CAG IDs in the
        NPN identity list; with ``cag_only_marking`` cellReservedForOtherUse (CAG-only, TS 38.304 5.3.1)."""
        c = self.config
        return rrc.Sib1.for_cell(c.plmn, c.tac, c.nci, cag_ids=c.broadcast_cag_ids, cag_only=c.cag_only_marking)

    # ------------------------------------------------------------------ helpers

    def _send(self, ue: RadioUe, channel: rrc.Channel, pdu: bytes, out: list, *, ack: bool = True) -> None:
        pdu_id = 0
        if ack:
            pdu_id = self._next_pdu_id
            self._next_pdu_id = pdu_id + 1 if pdu_id < 0xFFFFFFFF else 1
            ue.pending_acks[pdu_id] = self.clock()
        msg = rls.PduTransmission(self.sti, rls.PduType.RRC, int(channel), pdu, pdu_id)
        out.append(SendAir(ue.addr, msg.encode(self.version)))
        ue.dl_pdus += 1
        self.counters["rrc_out"] += 1

    def _send_rrc(self, ue: RadioUe, msg: rrc.RrcMessage, out: list) -> None:
        self._send(ue, msg.channel, self.codec.encode(msg), out)

    def _system_information(self, ue: RadioUe, out: list) -> None:
        self._send(ue, rrc.Channel.BCCH_BCH, self._mib, out, ack=False)
        self._send(ue, rrc.Channel.BCCH_DL_SCH, self._sib1, out, ack=False)
        self.counters["sib1_out"] += 1

    def _drop(self, reason: str, out: list, **fields: Any) -> None:
        """Count a dropped input; at most one event per second for malformed input."""
        self.counters[f"drop_{reason}"] += 1
        if reason.startswith("malformed"):
            now = self.clock()
            if now - self._last_malformed_event >= _MALFORMED_EVENT_INTERVAL_S:
                self._last_malformed_event = now
                out.append(Event("femto.air_malformed", "warning",
                                 {"reason": reason, "count": self.counters[f"drop_{reason}"], **fields}))
        log.debug("air: dropped (%s) %s", reason, fields)

    # ------------------------------------------------------------------ radio on/off

    def set_radiating(self, on: bool) -> list:
        """Start or stop radiating. Stopping forgets every UE (those with an NG connection are
        reported lost, so the AMF releases them)."""
        out: list = []
        if on == self.radiating:
            return out
        self.radiating = on
        if on:
            self._next_sib = self.clock() + self.config.sib_period_s
        else:
            for ue in list(self.ues.values()):
                self._forget(ue, out, "radio-off")
        return out

    def _forget(self, ue: RadioUe, out: list, why: str) -> None:
        self.ues.pop(ue.ue_id, None)
        self._by_key.pop((ue.sti, ue.addr), None)
        if ue.ng_connected:
            out.append(RadioLost(ue.ue_id))
        out.append(Event("femto.ue_lost", "info", {"ue_id": ue.ue_id, "sti": f"{ue.sti:016x}", "reason": why,
                                                   "rrc_state": ue.rrc_state}))

    # ------------------------------------------------------------------ uplink

    def air_received(self, data: bytes, addr: Address) -> list:
        """One UDP datagram on the air port from ``addr``."""
        out: list = []
        self.counters["rls_in"] += 1
        if not self.radiating:
            self.counters["ignored_radio_off"] += 1
            return out
        try:
            msg = rls.decode(data, self.version)
        except DecodeError as e:
            self._drop("malformed_rls", out, error=str(e)[:120], length=len(data))
            return out
        if isinstance(msg, rls.Heartbeat):
            self._heartbeat(msg, addr, out)
            return out
        ue_id = self._by_key.get((msg.sti, addr))
        ue = self.ues.get(ue_id) if ue_id is not None else None
        if ue is None:
            self._drop("unknown_ue", out)
            return out
        if isinstance(msg, rls.PduTransmission):
            ue.ul_pdus += 1
            if msg.pdu_id != 0:
                out.append(SendAir(addr, rls.PduTransmissionAck(self.sti, (msg.pdu_id,)).encode(self.version)))
            if msg.pdu_type == rls.PduType.RRC:
                self._rrc(ue, rrc.Channel(msg.payload), msg.pdu, out)
            else:
                self._data(ue, msg.payload, msg.pdu, out)
        elif isinstance(msg, rls.PduTransmissionAck):
            for pid in msg.pdu_ids:
                ue.pending_acks.pop(pid, None)
        else:  # HEARTBEAT_ACK is gNB -> UE only
            self._drop("unexpected_rls", out, message=type(msg).__name__)
        return out

    def _heartbeat(self, hb: rls.Heartbeat, addr: Address, out: list) -> None:
        now = self.clock()
        key = (hb.sti, addr)
        ue_id = self._by_key.get(key)
        pos = (hb.x, hb.y, hb.z)
        if ue_id is None:
            ue_id = self._next_ue_id
            self._next_ue_id += 1
            ue = RadioUe(ue_id, hb.sti, addr, pos, now, now)
            self.ues[ue_id] = ue
            self._by_key[key] = ue_id
            dbm = signal_dbm(self.position, pos)
            out.append(SendAir(addr, rls.HeartbeatAck(self.sti, dbm).encode(self.version)))
            out.append(Event("femto.ue_detected", "info", {"ue_id": ue_id, "sti": f"{hb.sti:016x}", "dbm": dbm}))
            self.counters["ues_detected"] += 1
            self._system_information(ue, out)
        else:
            ue = self.ues[ue_id]
            ue.last_heartbeat = now
            ue.position = pos
            out.append(SendAir(addr, rls.HeartbeatAck(self.sti, signal_dbm(self.position, pos)).encode(self.version)))
        self.counters["heartbeats"] += 1

    def _rrc(self, ue: RadioUe, channel: rrc.Channel, pdu: bytes, out: list) -> None:
        if channel not in (rrc.Channel.UL_CCCH, rrc.Channel.UL_CCCH1, rrc.Channel.UL_DCCH):
            self._drop("rrc_wrong_direction", out, channel=channel.name)
            return
        try:
            msg = self.codec.decode(channel, pdu)
        except DecodeError as e:
            self._drop("malformed_rrc", out, channel=channel.name, error=str(e)[:120], length=len(pdu))
            return
        self.counters["rrc_in"] += 1
        if isinstance(msg, rrc.RRCSetupRequest):
            self._setup_request(ue, msg, out)
        elif isinstance(msg, rrc.RRCSetupComplete):
            self._setup_complete(ue, msg, out)
        elif isinstance(msg, rrc.ULInformationTransfer):
            if ue.rrc_state != RRC_CONNECTED or not ue.ng_connected:
                self._drop("rrc_out_of_state", out, message="ULInformationTransfer", rrc_state=ue.rrc_state)
                return
            self._log_nas("UL", ue, msg.nas_pdu, out)
            out.append(UplinkNas(ue.ue_id, msg.nas_pdu))
        else:
            self._drop("rrc_unsupported", out, message=getattr(msg, "name", type(msg).__name__))

    def _setup_request(self, ue: RadioUe, msg: rrc.RRCSetupRequest, out: list) -> None:
        """TS 38.331 5.3.3.3 (network side): answer with RRCSetup on DL-CCCH."""
        if ue.ng_connected:  # the UE starts over (e.g. after its own RLF): the old connection is gone
            out.append(RadioLost(ue.ue_id))
            ue.ng_connected = False
        ue.rrc_state = RRC_SETUP
        ue.establishment_cause = msg.establishment_cause
        ue.s_tmsi_part1 = msg.ue_identity if msg.identity_is_s_tmsi_part1 else None
        ue.s_tmsi = None
        self._send_rrc(ue, rrc.RRCSetup(ue.next_tid()), out)
        self.counters["rrc_setup"] += 1

    def _setup_complete(self, ue: RadioUe, msg: rrc.RRCSetupComplete, out: list) -> None:
        if ue.rrc_state != RRC_SETUP:
            self._drop("rrc_out_of_state", out, message="RRCSetupComplete", rrc_state=ue.rrc_state)
            return
        if msg.s_tmsi is not None:
            ue.s_tmsi = msg.s_tmsi
        elif msg.s_tmsi_part2 is not None and ue.s_tmsi_part1 is not None:
            ue.s_tmsi = (msg.s_tmsi_part2 << 39) | ue.s_tmsi_part1
        ue.rrc_state = RRC_CONNECTED
        ue.ng_connected = True
        self.counters["rrc_setup_complete"] += 1
        self._log_nas("UL", ue, msg.nas_pdu, out, initial=True)
        out.append(InitialNas(ue.ue_id, msg.nas_pdu, _ngap_cause(ue.establishment_cause), ue.s_tmsi,
                              self._cag_access(msg.selected_plmn_index)))

    def _cag_access(self, index: int) -> bool:
        """Did the UE access this cell as a CAG cell (so the NGAP side reports the cell's CAG IDs)?

        ``selectedPLMN-Identity`` indexes the PLMNs of plmn-IdentityInfoList, then the NPN identities
        of npn-IdentityInfoList (TS 38.331 6.2.2): an index into the NPN part is CAG access. On a
        CAG-only cell every access is CAG access (TS 38.304 5.3.1: non-CAG UEs treat it as barred),
        whatever index the UE sends - unless ``skip_checks``; an index beyond both lists is counted
        and, on a CAG cell, treated as CAG access.
        """
        if not self.config.broadcast_cag_ids:
            return False
        if index > self._n_plmns + self._n_npns:
            self.counters["rrc_bad_selected_plmn"] += 1
            return True
        if index > self._n_plmns:
            return True
        return self.config.cag_only_marking and not self.config.knobs.skip_checks

    def _data(self, ue: RadioUe, psi: int, packet: bytes, out: list) -> None:
        if ue.rrc_state != RRC_CONNECTED or not ue.ng_connected:
            self._drop("data_not_connected", out)
            return
        if not 1 <= psi <= 15:  # TS 24.007 11.2.3.1b: PDU session identity 1..15
            self._drop("data_bad_psi", out, pdu_session_id=psi)
            return
        out.append(UplinkData(ue.ue_id, psi, packet))

    def _log_nas(self, direction: str, ue: RadioUe, pdu: bytes, out: list, initial: bool = False) -> None:
        if self.log_everything:
            out.append(Event("femto.seen.nas", "debug", {"direction": direction, "ue_id": ue.ue_id,
                                                         "sti": f"{ue.sti:016x}", "initial": initial,
                                                         **nas_summary(pdu, everything=True)}))
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("%s NAS ue=%d %s", direction, ue.ue_id, nas_summary(pdu))

    # ------------------------------------------------------------------ downlink (from NGAP / user plane)

    def deliver(self, item: Any) -> list:
        """Carry out one internal request of the NGAP side or the user plane."""
        out: list = []
        if isinstance(item, DownlinkNas):
            ue = self.ues.get(item.ue_id)
            if ue is None or ue.rrc_state != RRC_CONNECTED:
                self.counters["drop_dl_nas_no_ue"] += 1
                return out
            self._log_nas("DL", ue, item.nas_pdu, out)
            self._send_rrc(ue, rrc.DLInformationTransfer(item.nas_pdu, ue.next_tid()), out)
        elif isinstance(item, ReleaseRrc):
            ue = self.ues.get(item.ue_id)
            if ue is None:
                return out
            ue.ng_connected = False
            if ue.rrc_state != RRC_IDLE:
                self._send_rrc(ue, rrc.RRCRelease(ue.next_tid()), out)
                ue.rrc_state = RRC_IDLE
                self.counters["rrc_release"] += 1
        elif isinstance(item, PageUes):
            self._page(item.s_tmsis, out)
        elif isinstance(item, DownlinkData):
            ue = self.ues.get(item.ue_id)
            if ue is None or ue.rrc_state != RRC_CONNECTED:
                self.counters["drop_dl_data_no_ue"] += 1
                return out
            msg = rls.PduTransmission(self.sti, rls.PduType.DATA, item.pdu_session_id, item.packet, 0)
            out.append(SendAir(ue.addr, msg.encode(self.version)))
            self.counters["data_out"] += 1
        return out

    def _page(self, s_tmsis: tuple[int, ...], out: list) -> None:
        """PCCH Paging (TS 38.331 5.3.2) to every UE the cell hears, at most 32 records per message."""
        if not self.radiating or not s_tmsis:
            return
        for i in range(0, len(s_tmsis), 32):
            pdu = rrc.encode(rrc.Paging(tuple(s_tmsis[i:i + 32])))
            for ue in self.ues.values():
                self._send(ue, rrc.Channel.PCCH, pdu, out, ack=False)
        self.counters["paging"] += 1

    # ------------------------------------------------------------------ time

    def tick(self) -> list:
        """Periodic work: UE link timeouts, SIB broadcast, expired RLS acknowledgements."""
        out: list = []
        if not self.radiating:
            return out
        now = self.clock()
        for ue in list(self.ues.values()):
            if now - ue.last_heartbeat > UE_TIMEOUT_S:
                self.counters["ue_timeouts"] += 1
                self._forget(ue, out, "heartbeat-timeout")
                continue
            if ue.pending_acks:
                expired = [p for p, t in ue.pending_acks.items() if now - t > ACK_TTL_S]
                for p in expired:
                    del ue.pending_acks[p]
                self.counters["rrc_ack_missing"] += len(expired)
        if now >= self._next_sib:
            self._next_sib = now + self.config.sib_period_s
            for ue in self.ues.values():
                self._system_information(ue, out)
        return out

    # ------------------------------------------------------------------ queries

    def ue(self, ue_id: int) -> RadioUe | None:
        return self.ues.get(ue_id)

    def describe_ues(self) -> list[dict[str, Any]]:
        return [ue.describe() for ue in self.ues.values()]


def _ngap_cause(rrc_cause: str | None) -> str:
    """RRC EstablishmentCause -> NGAP RRC Establishment Cause (TS 38.413 9.3.1.111: same names;
    spare values -> notAvailable)."""
    if rrc_cause is None or rrc_cause.startswith("spare"):
        return "notAvailable"
    return rrc_cause
