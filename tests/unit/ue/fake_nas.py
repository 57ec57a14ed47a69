"""Test doubles for the UE radio side: a fake NAS layer with the :class:`testbed.ue.nas.UeNas` API and
a scripted gNB cell speaking the radio link protocol + NR RRC (sans-I/O).

:class:`FakeNas` speaks a toy NAS ("REG:initial", "ACCEPT:<tmsi>", ...) so that the radio side can be
tested without the real 5GMM/5GSM machine. It emits the real output classes of
:mod:`testbed.ue.nas.outputs` and applies the CAG rules of TS 23.501 5.30.3.3 in ``cell_allowed``.

:class:`ScriptedCell` is a gNB cell: HEARTBEAT -> HEARTBEAT_ACK (minus the distance, like the UERANSIM
gNB) plus MIB and SIB1 the first time it hears a UE and again every ``si_every`` heartbeats (system
information is broadcast periodically, TS 38.331 5.2.1, as the femto's cell does every
``sib_period_s``: a UE that missed it, or lost the cell and with it what it knew, acquires it again);
RRCSetupRequest -> RRCSetup (or RRCReject); NAS in RRCSetupComplete / ULInformationTransfer goes to
``nas_responder`` whose answers go back in DLInformationTransfer. Everything it receives is kept for assertions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from testbed.protocols import rls, rrc
from testbed.protocols.ngap.ies import Plmn
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
)

CAUSE_CAG = 76


@dataclass
class FakeNasConfig:
    mcc: str = "001"
    mnc: str = "01"


@dataclass
class FakeSession:
    psi: int
    ipv4: str | None
    state: str


class FakeNas:
    """Toy NAS with the UeNas method set. Downlink PDUs understood (ASCII):

    ``ACCEPT:<tmsi hex>`` -> Registered, ``REJECT:<cause>`` -> RegistrationFailed (76 removes the
    current cell's CAG IDs from the allowed list), ``PDUACCEPT:<psi>:<ip>`` -> SessionUp,
    ``PDURELEASE:<psi>`` -> SessionDown, ``DEREGACCEPT`` -> Deregistered.
    """

    def __init__(self, allowed_cag_ids: set[int] | frozenset[int] = frozenset(), cag_only: bool = False, *,
                 ignore_cag_only: bool = False, mcc: str = "001", mnc: str = "01", paging_handler: bool = True):
        self.config = FakeNasConfig(mcc, mnc)
        self.allowed = set(allowed_cag_ids)
        self.cag_only = cag_only
        self.ignore_cag_only = ignore_cag_only
        self.state = "5GMM-DEREGISTERED"
        self.cm_state = "5GMM-IDLE"
        self.guti: str | None = None
        self.sessions: dict[int, FakeSession] = {}
        self.calls: list[tuple] = []
        self.cell: tuple | None = None
        self.received: list[bytes] = []
        if not paging_handler:
            self.paging_received = None  # type: ignore[assignment]

    # -- UeNas API ---------------------------------------------------------------------------
    def register(self, reg_type: str = "initial") -> list:
        self.calls.append(("register", reg_type))
        self.state = "5GMM-REGISTERED-INITIATED"
        initial = self.cm_state == "5GMM-IDLE"
        self.cm_state = "5GMM-CONNECTED"
        cause = "emergency" if reg_type == "emergency" else "mo-Signalling"
        return [SendNas(f"REG:{reg_type}".encode(), initial, cause), StartTimer("T3510", 15.0)]

    def deregister(self, switch_off: bool = False) -> list:
        self.calls.append(("deregister", switch_off))
        initial = self.cm_state == "5GMM-IDLE"
        self.cm_state = "5GMM-CONNECTED"
        out: list = [SendNas(b"DEREG", initial, "mo-Signalling")]
        if switch_off:
            self.state = "5GMM-DEREGISTERED"
            out += [Deregistered("switch-off"), ReleaseConnection("switch-off")]
        return out

    def establish_session(self, psi: int = 1, dnn: str | None = None, snssai=(1, None)) -> list:
        self.calls.append(("establish_session", psi, dnn, snssai))
        initial = self.cm_state == "5GMM-IDLE"
        self.cm_state = "5GMM-CONNECTED"
        self.sessions[psi] = FakeSession(psi, None, "PDU-SESSION-ACTIVE-PENDING")
        return [SendNas(f"PDUREQ:{psi}:{dnn}".encode(), initial, "mo-Data"), StartTimer(f"T3580:{psi}", 16.0)]

    def release_session(self, psi: int) -> list:
        self.calls.append(("release_session", psi))
        if psi not in self.sessions:
            raise ValueError(f"no PDU session {psi}")
        return [SendNas(f"PDUREL:{psi}".encode(), False)]

    def nas_received(self, pdu: bytes) -> list:
        self.received.append(pdu)
        text = pdu.decode(errors="replace")
        kind, _, arg = text.partition(":")
        if kind == "ACCEPT":
            self.state = "5GMM-REGISTERED"
            self.guti = f"5g-guti-00101010040{0:02x}{int(arg, 16):08x}"
            return [StopTimer("T3510"), SendNas(b"REGCOMPLETE", False), Registered(self.guti, ((1, None),))]
        if kind == "REJECT":
            cause = int(arg)
            self.state = "5GMM-DEREGISTERED"
            if cause == CAUSE_CAG and self.cell is not None:
                self.allowed -= set(self.cell[2])
            return [StopTimer("T3510"), RegistrationFailed(cause, "rejected")]
        if kind == "PDUACCEPT":
            psi_s, _, ip = arg.partition(":")
            psi = int(psi_s)
            self.sessions[psi] = FakeSession(psi, ip, "PDU-SESSION-ACTIVE")
            return [StopTimer(f"T3580:{psi}"), SessionUp(psi, ip)]
        if kind == "PDURELEASE":
            psi = int(arg)
            self.sessions.pop(psi, None)
            return [SessionDown(psi)]
        if kind == "DEREGACCEPT":
            self.state = "5GMM-DEREGISTERED"
            return [Deregistered("ue-originating")]
        return [Event("fake.unknown", {"pdu": text})]

    def timer_expired(self, timer_id: str) -> list:
        self.calls.append(("timer_expired", timer_id))
        return []

    def connection_released(self, reason: str = "rrc-release") -> list:
        self.calls.append(("connection_released", reason))
        self.cm_state = "5GMM-IDLE"
        return []

    def cell_changed(self, plmn, tac, cag_ids) -> list:
        self.calls.append(("cell_changed", plmn, tac, tuple(cag_ids)))
        self.cell = (plmn, tac, tuple(cag_ids))
        return []

    def cell_allowed(self, plmn, cag_ids) -> bool:
        """TS 23.501 5.30.3.3: a CAG cell needs an allowed CAG ID; a non-CAG cell a UE that is not CAG-only."""
        if self.ignore_cag_only:
            return True
        if (plmn[0], plmn[1]) != (self.config.mcc, self.config.mnc):
            return False
        if cag_ids:
            return bool(self.allowed & set(cag_ids))
        return not self.cag_only

    def paging_received(self) -> list:
        self.calls.append(("paging_received",))
        self.cm_state = "5GMM-CONNECTED"
        return [SendNas(b"SERVICEREQ", True, "mt-Access")]


# ------------------------------------------------------------------------------------------------


@dataclass
class UeContext:
    ue_sti: int
    address: tuple[str, int]
    position: tuple[int, int, int] = (0, 0, 0)
    connected: bool = False
    nas_up: list[bytes] = field(default_factory=list)
    setup_requests: list[rrc.RRCSetupRequest] = field(default_factory=list)
    setup_completes: list[rrc.RRCSetupComplete] = field(default_factory=list)
    data_up: list[tuple[int, bytes]] = field(default_factory=list)
    acks: list[int] = field(default_factory=list)
    heartbeats: int = 0


class ScriptedCell:
    """A gNB cell on the air (sans-I/O): ``handle(datagram, ue_address) -> [datagrams to the UE]``."""

    def __init__(self, sti: int = 0xC0FFEE0000000001, *, plmn: tuple[str, str] = ("001", "01"), tac: int = 1,
                 nci: int = 0x10, cag_ids: tuple[int, ...] = (), cag_only: bool = False, barred: bool = False,
                 position: tuple[int, int, int] = (0, 0, 0), reject: int = 0, reject_wait: int | None = 1,
                 answer_setup: bool = True, dbm: int | None = None,
                 nas_responder: Callable[[UeContext, bytes], list[bytes]] | None = None,
                 pdu_ids: bool = False, sib1: rrc.Sib1 | None = None, si_every: int | None = 5):
        self.sti = sti
        self.si_every = si_every
        self.position = position
        self.dbm = dbm
        self.reject = reject
        self.reject_wait = reject_wait
        self.answer_setup = answer_setup
        self.radio_on = True
        self.pdu_ids = pdu_ids
        self._next_pdu_id = 1
        p = Plmn(*plmn)
        self.sib1_msg = sib1 or rrc.Sib1.for_cell(p, tac, nci, cag_ids=cag_ids, cag_only=cag_only)
        self.mib = rrc.encode(rrc.Mib(cell_barred=barred))
        self.sib1 = rrc.encode(self.sib1_msg)
        self.ues: dict[int, UeContext] = {}
        self.nas_responder = nas_responder or (lambda ue, nas: [])
        self.malformed = 0
        self.heartbeats = 0

    # -- wire helpers ------------------------------------------------------------------------
    def pdu(self, channel: int, data: bytes, pdu_type: rls.PduType = rls.PduType.RRC) -> bytes:
        pdu_id = 0
        if self.pdu_ids:
            pdu_id = self._next_pdu_id
            self._next_pdu_id += 1
        return rls.PduTransmission(self.sti, pdu_type, int(channel), data, pdu_id).encode()

    def rrc(self, msg: rrc.RrcMessage) -> bytes:
        return self.pdu(msg.channel, rrc.encode(msg))

    def dl_nas(self, nas: bytes) -> bytes:
        return self.rrc(rrc.DLInformationTransfer(nas))

    def release(self, ue_sti: int) -> bytes:
        self.ues[ue_sti].connected = False
        return self.rrc(rrc.RRCRelease())

    def page(self, *s_tmsis: int) -> bytes:
        return self.rrc(rrc.Paging(tuple(s_tmsis)))

    def data(self, psi: int, packet: bytes) -> bytes:
        return self.pdu(psi, packet, rls.PduType.DATA)

    def strength(self, ue: UeContext) -> int:
        if self.dbm is not None:
            return self.dbm
        return -int(math.dist(self.position, ue.position))

    # -- receive -----------------------------------------------------------------------------
    def handle(self, data: bytes, address: tuple[str, int]) -> list[bytes]:
        try:
            msg = rls.decode(data)
        except Exception:  # noqa: BLE001 - a test double counts everything malformed
            self.malformed += 1
            return []
        if not self.radio_on:
            return []
        ue = self.ues.get(msg.sti)
        if isinstance(msg, rls.Heartbeat):
            self.heartbeats += 1
            out = []
            if ue is None:
                ue = self.ues[msg.sti] = UeContext(msg.sti, address)
            ue.address = address
            ue.position = (msg.x, msg.y, msg.z)
            ue.heartbeats += 1
            out.append(rls.HeartbeatAck(self.sti, self.strength(ue)).encode())
            if ue.heartbeats == 1 or (self.si_every and (ue.heartbeats - 1) % self.si_every == 0):
                out += [self.pdu(Channel.BCCH_BCH, self.mib), self.pdu(Channel.BCCH_DL_SCH, self.sib1)]
            return out
        if ue is None:
            return []
        if isinstance(msg, rls.PduTransmissionAck):
            ue.acks += list(msg.pdu_ids)
            return []
        assert isinstance(msg, rls.PduTransmission)
        out = []
        if msg.pdu_id:
            out.append(rls.PduTransmissionAck(self.sti, (msg.pdu_id,)).encode())
        if msg.pdu_type == rls.PduType.DATA:
            ue.data_up.append((msg.payload, msg.pdu))
            return out
        m = rrc.decode(msg.payload, msg.pdu)
        if isinstance(m, rrc.RRCSetupRequest):
            ue.setup_requests.append(m)
            if self.reject > 0:
                self.reject -= 1
                return out + [self.rrc(rrc.RRCReject(self.reject_wait))]
            if self.answer_setup:
                out.append(self.rrc(rrc.RRCSetup(len(ue.setup_requests) % 4)))
            return out
        if isinstance(m, rrc.RRCSetupComplete):
            ue.setup_completes.append(m)
            ue.connected = True
            return out + self._nas(ue, m.nas_pdu)
        if isinstance(m, rrc.ULInformationTransfer):
            return out + self._nas(ue, m.nas_pdu)
        return out

    def _nas(self, ue: UeContext, nas: bytes) -> list[bytes]:
        ue.nas_up.append(nas)
        return [self.dl_nas(p) for p in self.nas_responder(ue, nas)]


def toy_core(ue: UeContext, nas: bytes) -> list[bytes]:
    """A NAS responder for FakeNas: accept registrations and sessions."""
    text = nas.decode()
    if text.startswith("REG:"):
        return [f"ACCEPT:{ue.ue_sti & 0xFFFFFFFF:08x}".encode()]
    if text.startswith("PDUREQ:"):
        psi = int(text.split(":")[1])
        n = ue.ue_sti % 60000 + 2
        return [f"PDUACCEPT:{psi}:10.45.{n >> 8}.{n & 0xFF}".encode()]
    if text.startswith("PDUREL:"):
        return [f"PDURELEASE:{text.split(':')[1]}".encode()]
    if text == "DEREG":
        return [b"DEREGACCEPT"]
    return []


class UeDriver:
    """Runs one SimUe against scripted cells with a fake clock: datagrams are delivered at once,
    timers fire when :meth:`advance` passes them. ``outputs`` keeps every non-Transmit output."""

    def __init__(self, ue: Any, cells: dict[tuple[str, int], ScriptedCell], now: float = 0.0,
                 ue_address: tuple[str, int] = ("10.0.0.100", 40000)):
        self.ue = ue
        self.cells = cells
        self.now = now
        self.ue_address = ue_address
        self.timers: dict[str, float] = {}
        self.outputs: list = []
        self.sent: list = []
        self.drop_uplink = False

    def feed(self, outputs: list) -> list:
        """Process outputs until quiet; returns the non-Transmit outputs of this round."""
        from testbed.ue.radio.ue import Transmit

        new: list = []
        pending = list(outputs)
        while pending:
            o = pending.pop(0)
            if isinstance(o, Transmit):
                self.sent.append(o)
                cell = self.cells.get(o.address)
                if cell is None or self.drop_uplink:
                    continue
                for dgram in cell.handle(o.data, self.ue_address):
                    pending += self.ue.datagram_received(dgram, o.address, self.now)
                continue
            if isinstance(o, StartTimer):
                self.timers[o.timer_id] = self.now + o.seconds
            elif isinstance(o, StopTimer):
                self.timers.pop(o.timer_id, None)
            new.append(o)
        self.outputs += new
        return new

    def start(self, first_heartbeat_in: float = 0.0) -> list:
        return self.feed(self.ue.start(self.now, first_heartbeat_in))

    def inject(self, cell_address: tuple[str, int], datagram: bytes) -> list:
        return self.feed(self.ue.datagram_received(datagram, cell_address, self.now))

    def advance(self, seconds: float) -> list:
        end = self.now + seconds
        new: list = []
        while True:
            due = sorted((t, tid) for tid, t in self.timers.items() if t <= end)
            if not due:
                break
            t, tid = due[0]
            del self.timers[tid]
            self.now = max(self.now, t)
            new += self.feed(self.ue.timer_expired(tid, self.now))
        self.now = end
        return new

    def events(self, type_: str | None = None) -> list:
        return [o for o in self.outputs if isinstance(o, Event) and (type_ is None or o.type == type_)]
