"""SimUe end to end against the real built-in core (UDR/UDM/AUSF/AMF/SMF+UPF, in process) through a
minimal in-test gNB bridge: RLS + NR RRC towards the UE, NGAP towards the AMF. Real USIM and NAS
(testbed.ue.usim, testbed.ue.nas): registration with SUCI Profile A, 5G-AKA, NAS SMC, PDU session;
CAG rules; emergency registration in limited service. No sockets, fake clock."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from testbed.protocols import ngap, rls, rrc
from testbed.protocols.rrc import Channel
from testbed.ue.nas import (
    Registered,
    RegistrationFailed,
    SessionUp,
    StartTimer,
    StopTimer,
    UeNas,
    UeNasConfig,
)
from testbed.ue.radio.ue import SimUe, Transmit
from testbed.ue.usim import Usim

from .core_bridge import CAG_FEMTO, MCC, MEMBER, NON_MEMBER, PLMN, RANGE_FIRST, Core, standard_core

CELL_ADDR = ("10.200.1.1", 4997)


class RlsGnbBridge:
    """One cell: heartbeats/MIB/SIB1/RRC on the UE side, NGAP on the AMF side (no user plane)."""

    def __init__(self, core: Core, assoc: int, gnb_id: int, cag_ids: tuple[int, ...], cag_only: bool,
                 tac: int = 1) -> None:
        self.core, self.assoc, self.gnb_id, self.cag_ids, self.tac = core, assoc, gnb_id, cag_ids, tac
        self.sti = 0x6E0B000000000000 | gnb_id
        self.nci = gnb_id << 14
        self.sib1 = rrc.encode(rrc.Sib1.for_cell(PLMN, tac, self.nci, cag_ids=cag_ids, cag_only=cag_only))
        self.mib = rrc.encode(rrc.Mib())
        self.n_plmns = 1
        self.ues: dict[int, dict[str, Any]] = {}   # UE STI -> context
        self.by_ran: dict[int, int] = {}           # RAN UE NGAP ID -> UE STI
        self.next_ran = 1
        self.outbox: list[tuple[int, bytes]] = []  # (UE STI, datagram)
        self.initial_ue_messages: list[ngap.InitialUEMessage] = []
        core.gnbs[assoc] = self  # type: ignore[assignment]
        core.feed(core.amf.association_up(assoc, f"10.0.0.{assoc}:38412"))
        bp = ngap.BroadcastPlmn(PLMN, (ngap.Snssai(1),), cag_ids=cag_ids)
        self.inbox: list[Any] = []
        self.send(ngap.NGSetupRequest(ngap.GlobalGnbId(PLMN, gnb_id, 22), (ngap.SupportedTa(tac, (bp,)),), 128,
                                      f"gnb-{gnb_id}"))
        assert isinstance(self.inbox[-1], ngap.NGSetupResponse)

    def uli(self) -> ngap.UserLocationNR:
        return ngap.UserLocationNR(ngap.NrCgi(PLMN, self.nci), ngap.Tai(PLMN, self.tac))

    def send(self, msg: Any) -> None:
        self.core.to_amf(self.assoc, ngap.encode(msg))

    def _dl(self, ue_sti: int, channel: int, pdu: bytes, pdu_type: rls.PduType = rls.PduType.RRC) -> None:
        self.outbox.append((ue_sti, rls.PduTransmission(self.sti, pdu_type, int(channel), pdu).encode()))

    # -- from the UE -------------------------------------------------------------------------
    def air(self, ue_sti: int, data: bytes) -> None:
        msg = rls.decode(data)
        if isinstance(msg, rls.Heartbeat):
            new = ue_sti not in self.ues
            self.ues.setdefault(ue_sti, {"ran": None, "amf": None})
            self.outbox.append((ue_sti, rls.HeartbeatAck(self.sti, -int(abs(msg.x) + abs(msg.y))).encode()))
            if new:
                self._dl(ue_sti, Channel.BCCH_BCH, self.mib)
                self._dl(ue_sti, Channel.BCCH_DL_SCH, self.sib1)
            return
        if not isinstance(msg, rls.PduTransmission) or msg.pdu_type != rls.PduType.RRC:
            return
        ctx = self.ues[ue_sti]
        m = rrc.decode(msg.payload, msg.pdu)
        if isinstance(m, rrc.RRCSetupRequest):
            ctx["cause"] = m.establishment_cause
            self._dl(ue_sti, Channel.DL_CCCH, rrc.encode(rrc.RRCSetup(0)))
        elif isinstance(m, rrc.RRCSetupComplete):
            ran = self.next_ran
            self.next_ran += 1
            ctx["ran"], ctx["amf"] = ran, None
            self.by_ran[ran] = ue_sti
            # the CAG ID goes to the AMF when the UE selected the cell's NPN (CAG) identity
            cags = self.cag_ids if m.selected_plmn_index > self.n_plmns else None
            ium = ngap.InitialUEMessage(ran, m.nas_pdu, self.uli(), rrc_establishment_cause=ctx["cause"],
                                        cag_ids=cags)
            self.initial_ue_messages.append(ium)
            self.send(ium)
        elif isinstance(m, rrc.ULInformationTransfer):
            self.send(ngap.UplinkNASTransport(ctx["amf"], ctx["ran"], m.nas_pdu, self.uli()))

    # -- from the AMF (Core calls on_pdu) ----------------------------------------------------
    def on_pdu(self, msg: Any) -> None:
        self.inbox.append(msg)
        ran = getattr(msg, "ran_ue_ngap_id", None)
        sti = self.by_ran.get(ran) if ran is not None else None
        if sti is None:
            return
        ctx = self.ues[sti]
        if isinstance(msg, ngap.DownlinkNASTransport):
            ctx["amf"] = msg.amf_ue_ngap_id
            self._dl(sti, Channel.DL_DCCH, rrc.encode(rrc.DLInformationTransfer(msg.nas_pdu)))
        elif isinstance(msg, ngap.InitialContextSetupRequest):
            ctx["amf"] = msg.amf_ue_ngap_id
            self.send(ngap.InitialContextSetupResponse(msg.amf_ue_ngap_id, ran))
            if msg.nas_pdu is not None:
                self._dl(sti, Channel.DL_DCCH, rrc.encode(rrc.DLInformationTransfer(msg.nas_pdu)))
        elif isinstance(msg, ngap.PDUSessionResourceSetupRequest):
            for s in msg.sessions:
                if s.nas_pdu is not None:
                    self._dl(sti, Channel.DL_DCCH, rrc.encode(rrc.DLInformationTransfer(s.nas_pdu)))
            self.send(ngap.PDUSessionResourceSetupResponse(msg.amf_ue_ngap_id, ran, setup=tuple(
                ngap.PduSessionSetupResult(s.pdu_session_id, ngap.PduSessionResourceSetupResponseTransfer(
                    ngap.GtpTunnel("10.0.0.2", 0x100 + s.pdu_session_id))) for s in msg.sessions)))
        elif isinstance(msg, ngap.UEContextReleaseCommand):
            self.send(ngap.UEContextReleaseComplete(msg.amf_ue_ngap_id, ran))
            self.by_ran.pop(ran, None)
            ctx["ran"] = ctx["amf"] = None
            self._dl(sti, Channel.DL_DCCH, rrc.encode(rrc.RRCRelease()))


class Air:
    """Delivers SimUe datagrams to bridges and back; fires UE timers on a fake clock."""

    def __init__(self, cells: dict[tuple[str, int], RlsGnbBridge]) -> None:
        self.cells = cells
        self.now = 0.0
        self.ues: list[SimUe] = []
        self.timers: dict[tuple[int, str], float] = {}
        self.outputs: dict[int, list[Any]] = {}
        self.lose: Any = None  # (UE index, datagram) -> True: the air loses that uplink datagram
        self.lost: list[tuple[int, bytes]] = []

    def add(self, ue: SimUe) -> SimUe:
        self.ues.append(ue)
        self.outputs[len(self.ues) - 1] = []
        return ue

    def feed(self, idx: int, outs: list[Any]) -> None:
        work = [(idx, o) for o in outs]
        while work:
            i, o = work.pop(0)
            ue = self.ues[i]
            if isinstance(o, Transmit):
                if self.lose is not None and self.lose(i, o.data):
                    self.lost.append((i, o.data))
                    continue
                cell = self.cells[o.address]
                cell.air(ue.sti, o.data)
                box, cell.outbox = cell.outbox, []
                for sti, dgram in box:
                    j = next(k for k, u in enumerate(self.ues) if u.sti == sti)
                    work += [(j, x) for x in self.ues[j].datagram_received(dgram, o.address, self.now)]
                continue
            if isinstance(o, StartTimer):
                self.timers[(i, o.timer_id)] = self.now + o.seconds
            elif isinstance(o, StopTimer):
                self.timers.pop((i, o.timer_id), None)
            self.outputs[i].append(o)

    def pump(self) -> None:
        """Deliver what the cells queued outside of :meth:`feed` (e.g. after a core-side action)."""
        for address, cell in self.cells.items():
            box, cell.outbox = cell.outbox, []
            for sti, dgram in box:
                j = next(k for k, u in enumerate(self.ues) if u.sti == sti)
                self.feed(j, self.ues[j].datagram_received(dgram, address, self.now))

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = sorted((t, k) for k, t in self.timers.items() if t <= end)
            if not due:
                break
            t, key = due[0]
            del self.timers[key]
            self.now = max(self.now, t)
            self.feed(key[0], self.ues[key[0]].timer_expired(key[1], self.now))
        self.now = end

    def of(self, idx: int, cls: type) -> list[Any]:
        return [o for o in self.outputs[idx] if isinstance(o, cls)]


@pytest.fixture
def core(tmp_path: Path):
    c = standard_core(tmp_path, sessions=True)
    yield c
    c.close()


def sim_ue(core: Core, air: Air, supi: str, *, allowed: set[int] | frozenset[int] = frozenset(), cag_only: bool = False,
           auto_register: str | None = "initial", sessions=((1, "internet", (1, None)),), x: int = 10) -> SimUe:
    usim = Usim(core.usim_config(supi, 1, allowed_cag_ids=frozenset(allowed), cag_only=cag_only))
    nas = UeNas(usim, UeNasConfig(mcc=MCC, mnc="01"), clock=lambda: air.now)
    ue = SimUe(nas, gnbs=list(air.cells), position=(x, 0, 0), rng=random.Random(len(air.ues) + 1),
               auto_register=auto_register, auto_sessions=sessions, name=f"ue{len(air.ues) + 1}")
    air.add(ue)
    air.feed(len(air.ues) - 1, ue.start(air.now))
    return ue


def test_member_registers_through_rls_rrc_ngap_and_gets_a_pdu_session(core: Core) -> None:
    cell = RlsGnbBridge(core, 1, 1, (CAG_FEMTO,), cag_only=True)
    air = Air({CELL_ADDR: cell})
    ue = sim_ue(core, air, MEMBER, allowed={CAG_FEMTO})
    assert ue.camp == "normal" and ue.via == "cag"
    (reg,) = air.of(0, Registered)
    assert reg.guti.startswith("5g-guti-00101") and ue.nas.state == "registered"
    (up,) = air.of(0, SessionUp)
    assert up.psi == 1 and up.ipv4.startswith("10.45.") and ue.sessions == {1: up.ipv4}
    ium = cell.initial_ue_messages[0]
    assert ium.cag_ids == (CAG_FEMTO,) and ium.rrc_establishment_cause == "mo-Signalling"
    assert b"imsi" not in ium.nas_pdu and MEMBER[5:].encode() not in ium.nas_pdu  # SUCI, Profile A
    assert ue.rrc.connected
    # the AMF releases the UE: RRCRelease -> idle; NAS keeps the registration (5GMM-IDLE)
    core.release(_handle(cell, ue))
    air.pump()
    assert ue.rrc.idle and ue.nas.cm_state == "idle" and ue.nas.state == "registered"
    air.advance(5.0)  # heartbeats go on; nothing breaks
    assert ue.serving == cell.sti


def _handle(cell: RlsGnbBridge, ue: SimUe):
    class H:  # the shape Core.release() expects
        gnb = cell
        amf_id = cell.ues[ue.sti]["amf"]
        ran_id = cell.ues[ue.sti]["ran"]
    return H


def test_non_member_limited_service_then_emergency_registration(core: Core) -> None:
    cell = RlsGnbBridge(core, 1, 1, (CAG_FEMTO,), cag_only=True)
    air = Air({CELL_ADDR: cell})
    ue = sim_ue(core, air, NON_MEMBER, sessions=())
    assert ue.camp == "limited" and not cell.initial_ue_messages  # no normal registration on a CAG-only cell
    air.feed(0, ue.register("emergency", air.now))
    (reg,) = air.of(0, Registered)
    assert reg.emergency and ue.nas.state == "registered"
    assert cell.initial_ue_messages[0].rrc_establishment_cause == "emergency"


def test_non_member_on_hybrid_cell_gets_76_twice_then_limited_service(core: Core) -> None:
    # The USIM still lists the femto's CAG but the subscription does not: #76 through the CAG removes
    # the CAG ID (TS 24.501 5.5.1.2.5) and the UE reselects the hybrid cell through its PLMN; the
    # built-in AMF treats every access through a gNB that announced CAG IDs as CAG access and
    # rejects again with #76, now "in a non-CAG cell" as the UE sees it, so the UE becomes CAG-only,
    # camps in limited service and stops trying; an emergency registration still works.
    cell = RlsGnbBridge(core, 1, 1, (CAG_FEMTO,), cag_only=False)
    air = Air({CELL_ADDR: cell})
    ue = sim_ue(core, air, NON_MEMBER, allowed={CAG_FEMTO}, sessions=())
    fails = air.of(0, RegistrationFailed)
    assert [f.cause for f in fails] == [76]
    assert cell.initial_ue_messages[0].cag_ids == (CAG_FEMTO,)
    assert ue.camp == "normal" and ue.via == "plmn"  # reselected: same cell, through the PLMN
    assert ue.nas.cell_allowed(("001", "01"), (CAG_FEMTO,)) is False
    air.feed(0, ue.register("initial", air.now))
    assert cell.initial_ue_messages[-1].cag_ids is None  # PLMN access: no CAG ID towards the AMF
    assert [f.cause for f in air.of(0, RegistrationFailed)] == [76, 76]
    assert ue.camp == "limited" and ue.nas.cell_allowed(("001", "01"), ()) is False
    before = len(cell.initial_ue_messages)
    air.feed(0, ue.register("initial", air.now))  # deferred: no suitable cell
    assert len(cell.initial_ue_messages) == before
    air.feed(0, ue.register("emergency", air.now))
    assert ue.nas.state == "registered" and air.of(0, Registered)[-1].emergency


def test_twenty_ues_register_and_get_sessions(core: Core) -> None:
    cell = RlsGnbBridge(core, 1, 1, (CAG_FEMTO,), cag_only=True)
    air = Air({CELL_ADDR: cell})
    ues = [sim_ue(core, air, f"imsi-00101{RANGE_FIRST + i:010d}", allowed={CAG_FEMTO}, x=5 + i)
           for i in range(20)]
    assert all(u.nas.state == "registered" for u in ues)
    ips = {u.sessions[1] for u in ues}
    assert len(ips) == 20
    assert len(core.amf.ue_contexts()) == 20


def _uplink_rrc(data: bytes) -> Any:
    msg = rls.decode(data)
    if isinstance(msg, rls.PduTransmission) and msg.pdu_type == rls.PduType.RRC:
        return rrc.decode(msg.payload, msg.pdu)
    return None


def test_lost_rrc_setup_complete_is_recovered_by_t3510_and_t3511(core: Core) -> None:
    """The air loses the RRCSetupComplete carrying the REGISTRATION REQUEST: the gNB never hears of the
    UE while the UE believes it is connected. T3510 expiry aborts the registration and releases the
    connection locally (TS 24.501 5.5.1.2.7 c), T3511 starts a new attempt and the UE registers."""
    cell = RlsGnbBridge(core, 1, 1, (CAG_FEMTO,), cag_only=True)
    air = Air({CELL_ADDR: cell})
    air.lose = lambda i, d: isinstance(_uplink_rrc(d), rrc.RRCSetupComplete) and not air.lost
    ue = sim_ue(core, air, MEMBER, allowed={CAG_FEMTO})
    assert len(air.lost) == 1 and not cell.initial_ue_messages
    assert ue.rrc.connected and ue.nas.state == "registered-initiated" and not air.of(0, Registered)
    air.advance(14.9)
    assert not air.of(0, Registered) and not cell.initial_ue_messages  # nothing retransmits before T3510
    air.advance(0.2)  # T3510 (15 s)
    assert ue.rrc.idle and air.of(0, RegistrationFailed)[-1].reason == "T3510"
    air.advance(10.0)  # T3511 (10 s): a new attempt
    assert len(cell.initial_ue_messages) == 1 and ue.nas.state == "registered"
    assert air.of(0, SessionUp) and ue.sessions and ue.serving == cell.sti


def test_lost_pdu_session_request_is_retransmitted_on_t3580(core: Core) -> None:
    """The air loses the UL NAS TRANSPORT with the PDU SESSION ESTABLISHMENT REQUEST: T3580 expiry
    retransmits it (TS 24.501 6.4.1.6 a) and the session comes up."""
    cell = RlsGnbBridge(core, 1, 1, (CAG_FEMTO,), cag_only=True)
    air = Air({CELL_ADDR: cell})
    ul_info: list[int] = []

    def lose(i: int, d: bytes) -> bool:
        # uplink NAS after the RRCSetupComplete: AUTHENTICATION RESPONSE, SECURITY MODE COMPLETE,
        # REGISTRATION COMPLETE, then the UL NAS TRANSPORT of the session request (the 4th)
        if isinstance(_uplink_rrc(d), rrc.ULInformationTransfer):
            ul_info.append(i)
            return len(ul_info) == 4
        return False

    air.lose = lose
    ue = sim_ue(core, air, MEMBER, allowed={CAG_FEMTO})
    assert len(air.lost) == 1 and ue.nas.state == "registered" and air.of(0, Registered)
    assert not air.of(0, SessionUp) and ("T3580:1" in {k[1] for k in air.timers})
    assert not core.amf_ev("pdu_session_setup")
    air.advance(16.1)  # T3580 (16 s)
    (up,) = air.of(0, SessionUp)
    assert ue.sessions == {1: up.ipv4} and ue.nas.counters["retransmissions"] == 1
