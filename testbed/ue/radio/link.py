"""The UE's end of the radio link simulation protocol (RLS), sans-I/O.

Follows ``/work/shared/reference/radio-link-protocol.md`` (wire compatible with UERANSIM v3.3.x,
``src/ue/rls/udp_task.cpp`` and ``ctl_task.cpp``):

* every :data:`~testbed.protocols.rls.HEARTBEAT_INTERVAL_S` the UE sends a HEARTBEAT with its
  simulated position to every configured gNB address (port 4997);
* a HEARTBEAT_ACK creates or refreshes the cell named by the gNB's STI (its source address is
  remembered) and carries the signal strength in dBm;
* a cell without HEARTBEAT_ACK for more than :data:`~testbed.protocols.rls.LINK_TIMEOUT_S` is
  dropped at the next heartbeat cycle (radio link failure when it is the serving cell);
* any other message from a cell that has not acknowledged a heartbeat is ignored;
* PDU_TRANSMISSION with a non-zero pduId is acknowledged (PDU_TRANSMISSION_ACK batches, sent by
  :meth:`RadioLink.flush_acks`); an uplink PDU sent with a pduId is expected to be acknowledged
  within :data:`PDU_TTL_S` (checked by :meth:`RadioLink.expire_unacked`, as UERANSIM's
  ``onAckControlTimerExpired``).

Nothing here does I/O or reads a clock: callers pass ``now`` (seconds, monotonic) and send the
returned ``(address, datagram)`` pairs. Malformed datagrams are dropped and counted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from testbed.errors import DecodeError
from testbed.protocols import rls

__all__ = ["CellLink", "DataIndication", "PDU_TTL_S", "RadioLink", "RrcIndication", "SignalIndication"]

PDU_TTL_S = 3.0
"""An uplink PDU with a pduId not acknowledged within this time is a transmission failure."""
MAX_UNACKED = 256
"""UERANSIM's MAX_PDU_COUNT: more outstanding PDUs is a radio link failure."""

Address = tuple[str, int]

_HBA_PREFIX_LEN = rls.HEADER_LEN + 4
_I32 = struct.Struct("!i")


@dataclass(slots=True)
class CellLink:
    """A cell heard on the air: the gNB's STI, where it answers from, and its signal strength."""

    sti: int
    address: Address
    dbm: int
    last_seen: float


@dataclass(frozen=True, slots=True)
class SignalIndication:
    """A cell appeared or its signal strength changed (``new`` for the first HEARTBEAT_ACK)."""

    sti: int
    dbm: int
    new: bool


@dataclass(frozen=True, slots=True)
class RrcIndication:
    """An RRC PDU from an acknowledged cell on RRC channel ``channel``."""

    sti: int
    channel: int
    pdu: bytes


@dataclass(frozen=True, slots=True)
class DataIndication:
    """A user-plane IP packet of PDU session ``psi`` from an acknowledged cell."""

    sti: int
    psi: int
    pdu: bytes


Indication = SignalIndication | RrcIndication | DataIndication


@dataclass
class _Unacked:
    sent: float
    sti: int
    channel: int


@dataclass
class RadioLink:
    """RLS state of one UE: its STI, the gNB addresses it searches, the cells it hears."""

    sti: int
    gnb_addresses: list[Address]
    position: tuple[int, int, int] = (0, 0, 0)
    version: tuple[int, int, int] = rls.VERSION
    cells: dict[int, CellLink] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=lambda: {
        "hb_sent": 0, "hb_ack": 0, "rx": 0, "rx_malformed": 0, "rx_unknown_cell": 0, "rx_bad_direction": 0,
        "tx_pdu": 0, "acks_sent": 0, "acks_received": 0, "tx_failures": 0, "cells_lost": 0})
    _heartbeat: bytes = b""
    _pending_acks: dict[int, list[int]] = field(default_factory=dict)
    _unacked: dict[int, _Unacked] = field(default_factory=dict)
    _next_pdu_id: int = 1

    def __post_init__(self) -> None:
        rls.Heartbeat(self.sti, *self.position).encode(self.version)  # validates STI and position
        self._prefix = bytes((rls.MARKER, *self.version))
        self.set_position(self.position)

    # -- heartbeats ---------------------------------------------------------------------------
    def set_position(self, position: tuple[int, int, int]) -> None:
        """Change the simulated position (sent with the next heartbeat)."""
        x, y, z = (int(c) for c in position)
        self._heartbeat = rls.Heartbeat(self.sti, x, y, z).encode(self.version)
        self.position = (x, y, z)

    def heartbeat(self, now: float) -> tuple[list[tuple[Address, bytes]], list[int]]:
        """One heartbeat cycle: drop cells silent for more than 2 s, then HEARTBEAT every gNB.

        Returns the datagrams to send and the STIs of the cells lost in this cycle.
        """
        lost = [sti for sti, c in self.cells.items() if now - c.last_seen > rls.LINK_TIMEOUT_S]
        for sti in lost:
            del self.cells[sti]
            self._pending_acks.pop(sti, None)
        self.counters["cells_lost"] += len(lost)
        self.counters["hb_sent"] += len(self.gnb_addresses)
        hb = self._heartbeat
        return [(a, hb) for a in self.gnb_addresses], lost

    # -- receive ------------------------------------------------------------------------------
    def receive(self, data: bytes, address: Address, now: float) -> Indication | None:
        """Handle one datagram; returns what it means for the upper layers, or None."""
        self.counters["rx"] += 1
        # fast path: a well-formed HEARTBEAT_ACK (the bulk of the traffic)
        if len(data) == _HBA_PREFIX_LEN and data[4] == rls.MessageType.HEARTBEAT_ACK and \
                data[:4] == self._prefix:
            sti = int.from_bytes(data[5:13], "big")
            return self._heartbeat_ack(sti, _I32.unpack_from(data, rls.HEADER_LEN)[0], address, now)
        try:
            msg = rls.decode(data, self.version)
        except DecodeError:
            self.counters["rx_malformed"] += 1
            return None
        if isinstance(msg, rls.HeartbeatAck):
            return self._heartbeat_ack(msg.sti, msg.dbm, address, now)
        cell = self.cells.get(msg.sti)
        if cell is None:  # only a cell that acknowledged our heartbeat is listened to
            self.counters["rx_unknown_cell"] += 1
            return None
        if isinstance(msg, rls.PduTransmission):
            if msg.pdu_id:
                acks = self._pending_acks.setdefault(msg.sti, [])
                if len(acks) < rls.MAX_ACK_COUNT:
                    acks.append(msg.pdu_id)
            if msg.pdu_type == rls.PduType.RRC:
                return RrcIndication(msg.sti, msg.payload, msg.pdu)
            return DataIndication(msg.sti, msg.payload, msg.pdu)
        if isinstance(msg, rls.PduTransmissionAck):
            self.counters["acks_received"] += 1
            for pdu_id in msg.pdu_ids:
                u = self._unacked.get(pdu_id)
                if u is not None and u.sti == msg.sti:
                    del self._unacked[pdu_id]
            return None
        self.counters["rx_bad_direction"] += 1  # a HEARTBEAT sent to a UE
        return None

    def _heartbeat_ack(self, sti: int, dbm: int, address: Address, now: float) -> SignalIndication | None:
        self.counters["hb_ack"] += 1
        cell = self.cells.get(sti)
        if cell is None:
            self.cells[sti] = CellLink(sti, address, dbm, now)
            return SignalIndication(sti, dbm, True)
        cell.last_seen = now
        cell.address = address
        if cell.dbm != dbm:
            cell.dbm = dbm
            return SignalIndication(sti, dbm, False)
        return None

    # -- transmit -----------------------------------------------------------------------------
    def pdu(self, sti: int, pdu_type: rls.PduType, payload: int, pdu: bytes, now: float,
            want_ack: bool = False) -> tuple[Address, bytes] | None:
        """A PDU_TRANSMISSION to cell ``sti`` (None if the cell is not heard).

        ``want_ack``: give it a non-zero pduId and expect a PDU_TRANSMISSION_ACK within 3 s.
        """
        cell = self.cells.get(sti)
        if cell is None:
            return None
        pdu_id = 0
        if want_ack:
            pdu_id = self._next_pdu_id
            self._next_pdu_id = pdu_id % 0xFFFFFFFF + 1
            self._unacked[pdu_id] = _Unacked(now, sti, payload)
        self.counters["tx_pdu"] += 1
        return cell.address, rls.PduTransmission(self.sti, pdu_type, int(payload), pdu, pdu_id).encode(self.version)

    def flush_acks(self) -> list[tuple[Address, bytes]]:
        """PDU_TRANSMISSION_ACKs for every pduId received since the last flush."""
        out = []
        for sti, ids in self._pending_acks.items():
            cell = self.cells.get(sti)
            if cell is not None and ids:
                out.append((cell.address, rls.PduTransmissionAck(self.sti, tuple(ids)).encode(self.version)))
                self.counters["acks_sent"] += 1
        self._pending_acks.clear()
        return out

    @property
    def acks_pending(self) -> bool:
        return bool(self._pending_acks)

    @property
    def unacked(self) -> int:
        return len(self._unacked)

    def expire_unacked(self, now: float) -> list[int]:
        """pduIds sent more than 3 s ago without acknowledgement (transmission failures); forgotten."""
        failed = [i for i, u in self._unacked.items() if now - u.sent > PDU_TTL_S]
        for i in failed:
            del self._unacked[i]
        self.counters["tx_failures"] += len(failed)
        return failed

    def overloaded(self) -> bool:
        """More than 256 unacknowledged PDUs (UERANSIM: radio link failure, PDU_ID_FULL)."""
        return len(self._unacked) > MAX_UNACKED

    def forget_cell(self, sti: int) -> None:
        self.cells.pop(sti, None)
        self._pending_acks.pop(sti, None)
