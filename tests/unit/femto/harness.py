"""Scripted peers for the femto: radio UEs speaking RLS + RRC, and an in-process core.

- :class:`RlsUe`: a UE on the air segment (heartbeats, MIB/SIB1, RRC setup, information
  transfer, DATA PDUs, acknowledgements) whose NAS is a :class:`tests.unit.core.scripted_ran.ScriptedUe`
  (real SUCI concealment, USIM 5G-AKA, NAS security).
- :class:`Net`: routes the femto's outputs to UEs, the real sans-I/O AMF (with real UDR/UDM/AUSF),
  and optionally the SMF + in-process UPF; the AMF's answers go back to the femto. Everything
  runs synchronously in the test (the SMF's coroutines on a private event loop).
- :func:`build_core`: UDR (SQLite in ``tmp_path``), UDM with fresh home network keys, AUSF, AMF.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import struct
from pathlib import Path
from typing import Any

from testbed.core.amf import (
    Amf,
    AmfConfig,
    CancelTimer,
    SendNgap,
    SmfCreate,
    SmfN2Response,
    SmfRelease,
    SmfReleaseAll,
    StartTimer,
)
from testbed.core.amf import Event as AmfEvent
from testbed.crypto.identity import Supi
from testbed.crypto.suci import PROFILE_A, PROFILE_B
from testbed.femto import FemtoConfig, FemtoGnb
from testbed.femto import outputs as fo
from testbed.protocols import rls, rrc
from tests.unit.core.scripted_ran import MCC, MNC, OPC, K, ScriptedUe

FEMTO_ADDR = "10.200.1.1"
N3_ADDR = "192.168.1.2"
UPF_N3 = "127.0.0.3"
CAG = 0x00000101
CAG_BAD = 0x00000BAD
MSISDN = "491700000001"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def femto_config(**kw: Any) -> FemtoConfig:
    base: dict[str, Any] = {"name": "femto1", "mcc": MCC, "mnc": MNC, "tac": 1, "gnb_id": 1, "gnb_id_bits": 32,
                            "cag_ids": (CAG,), "air_address": FEMTO_ADDR, "n3_address": N3_ADDR,
                            "position": (0, 0, 0), "radio_enabled_at_start": True}
    base.update(kw)
    return FemtoConfig.model_validate(base)


def build_core(tmp_path: Path, *, n_subscribers: int = 4, femto_cags: tuple[int, ...] = (CAG,),
               allowed: tuple[int, ...] = (CAG,), msins: tuple[str, ...] | None = None,
               msisdns: tuple[str, ...] | None = None) -> tuple[Amf, Any, Any]:
    """AMF with the real UDR/UDM/AUSF; subscribers imsi-00101<msin> (default MSINs 000000000{1..n}),
    MSISDN 4917000000{i} unless given."""
    msins = msins or tuple(f"{i:010d}" for i in range(1, n_subscribers + 1))
    msisdns = msisdns or tuple(f"4917000000{i:02d}" for i in range(1, len(msins) + 1))
    from testbed.core.ausf import Ausf
    from testbed.core.udm import HomeNetworkKeys, Udm
    from testbed.core.udr import SubscriberStore, parse_subscriber_data

    store = SubscriberStore(tmp_path / "udr.sqlite")
    store.load(parse_subscriber_data({
        "subscribers": [{"supi": f"imsi-{MCC}{MNC}{m}", "k": K.hex(), "opc": OPC.hex(),
                         "allowed_cag_ids": list(allowed), "msisdn": d} for m, d in zip(msins, msisdns, strict=True)],
        "femtos": [{"name": "femto1", "mcc": MCC, "mnc": MNC, "gnb_id": 1, "gnb_id_bits": 32,
                    "authorised_cag_ids": list(femto_cags)}],
    }))
    keys = HomeNetworkKeys.generate()
    udm = Udm(store, keys)
    amf = Amf(AmfConfig(mcc=MCC, mnc=MNC), Ausf(udm), udm, store)
    return amf, keys, store


def nas_ue(keys: Any, index: int | str, scheme: int = PROFILE_A) -> ScriptedUe:
    """A NAS UE for subscriber ``index`` (MSIN ``index`` zero-padded, or the MSIN string itself)."""
    kid = next(k for k in keys.key_ids() if keys.scheme_of(k) == scheme) if scheme in (PROFILE_A, PROFILE_B) else 0
    pub = keys.public_key(kid) if scheme in (PROFILE_A, PROFILE_B) else None
    msin = index if isinstance(index, str) else f"{index:010d}"
    return ScriptedUe(Supi.imsi(MCC, MNC, msin), K, OPC, scheme=scheme, hn_pub=pub, key_id=kid)


class RlsUe:
    """A UE on the air segment. ``nas`` answers the NAS; without it the UE only does radio."""

    _stis = itertools.count(0x1000)

    def __init__(self, net: Net, addr: tuple[str, int], *, nas: ScriptedUe | None = None,
                 position: tuple[int, int, int] = (3, 4, 0), sti: int | None = None, ack: bool = True,
                 selected_plmn_index: int | None = None) -> None:
        self.net = net
        self.addr = addr
        self.nas = nas
        self.position = position
        self.sti = next(self._stis) if sti is None else sti
        self.ack = ack
        self.selected_plmn_index = selected_plmn_index  # None: the CAG (NPN) entry when SIB1 has one
        self.cell_sti: int | None = None
        self.dbm: int | None = None
        self.mib: rrc.Mib | None = None
        self.sib1: rrc.Sib1 | None = None
        self.rrc_state = "idle"
        self.rrc_in: list[tuple[rrc.Channel, Any]] = []
        self.rls_in: list[Any] = []
        self.data_in: list[tuple[int, bytes]] = []
        self.paged: list[int] = []
        self.acked: list[int] = []
        self.pending_nas: bytes | None = None
        self.s_tmsi: int | None = None
        self._pdu_ids = itertools.count(1)
        net.ues[addr] = self

    # -- uplink --------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.net.air(data, self.addr)

    def heartbeat(self) -> None:
        self.send(rls.Heartbeat(self.sti, *self.position).encode())

    def send_rrc(self, msg: rrc.RrcMessage, pdu_id: int | None = None) -> None:
        pid = next(self._pdu_ids) if pdu_id is None else pdu_id
        self.send(rls.PduTransmission(self.sti, rls.PduType.RRC, int(msg.channel), rrc.encode(msg), pid).encode())

    def send_data(self, psi: int, packet: bytes) -> None:
        self.send(rls.PduTransmission(self.sti, rls.PduType.DATA, psi, packet, 0).encode())

    def connect(self, nas_pdu: bytes, cause: str = "mo-Signalling", s_tmsi: int | None = None) -> None:
        """RRC setup carrying ``nas_pdu`` (with ng-5G-S-TMSI-Part1/Part2 when ``s_tmsi`` is given)."""
        self.pending_nas = nas_pdu
        self.s_tmsi = s_tmsi
        ident = s_tmsi & ((1 << 39) - 1) if s_tmsi is not None else 0x1234567
        self.rrc_state = "setup-requested"
        self.send_rrc(rrc.RRCSetupRequest(ident, cause, s_tmsi is not None))

    def register(self) -> None:
        assert self.nas is not None
        self.connect(self.nas.registration_request())

    # -- downlink ------------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        msg = rls.decode(data)
        self.rls_in.append(msg)
        if isinstance(msg, rls.HeartbeatAck):
            self.cell_sti, self.dbm = msg.sti, msg.dbm
            return
        if isinstance(msg, rls.PduTransmissionAck):
            self.acked.extend(msg.pdu_ids)
            return
        assert isinstance(msg, rls.PduTransmission)
        if msg.pdu_id and self.ack:
            self.send(rls.PduTransmissionAck(self.sti, (msg.pdu_id,)).encode())
        if msg.pdu_type == rls.PduType.DATA:
            self.data_in.append((msg.payload, msg.pdu))
            return
        ch = rrc.Channel(msg.payload)
        m = rrc.decode(ch, msg.pdu)
        self.rrc_in.append((ch, m))
        if isinstance(m, rrc.Mib):
            self.mib = m
        elif isinstance(m, rrc.Sib1):
            self.sib1 = m
        elif isinstance(m, rrc.RRCSetup):
            assert self.pending_nas is not None
            self.rrc_state = "connected"
            part2 = self.s_tmsi >> 39 if self.s_tmsi is not None else None
            index = self.selected_plmn_index
            if index is None:  # a CAG-capable UE selects the cell's NPN (CAG) identity when there is one
                index = 2 if self.sib1 is not None and self.sib1.cag_ids else 1
            self.send_rrc(rrc.RRCSetupComplete(self.pending_nas, m.transaction_id, index, s_tmsi_part2=part2))
        elif isinstance(m, rrc.DLInformationTransfer):
            if self.nas is not None:
                for reply in self.nas.handle_dl(m.nas_pdu):
                    self.send_rrc(rrc.ULInformationTransfer(reply))
        elif isinstance(m, rrc.RRCRelease):
            self.rrc_state = "idle"
            if self.nas is not None:
                self.nas.sec_active = False
        elif isinstance(m, rrc.Paging):
            self.paged.extend(m.s_tmsis)

    def rrc_of(self, cls: type) -> list[Any]:
        return [m for _, m in self.rrc_in if isinstance(m, cls)]


class Net:
    """Routes the femto's outputs to UEs / AMF / UPF and back; records everything."""

    def __init__(self, femto: FemtoGnb, amf: Amf | None = None, *, upf: Any = None, smf: Any = None) -> None:
        self.femto = femto
        self.amf = amf
        self.upf = upf
        self.smf = smf
        self.ues: dict[tuple[str, int], RlsUe] = {}
        self.queue: collections.deque = collections.deque()
        self.events: list[fo.Event] = []
        self.amf_events: list[AmfEvent] = []
        self.amf_timers: dict[str, float] = {}
        self.to_amf: list[bytes] = []
        self.from_amf: list[bytes] = []
        self.n3_out: list[fo.SendN3] = []
        self.n6: list[bytes] = []
        self.air_out: list[fo.SendAir] = []
        self.connects = 0
        self.amf_up = True
        self.assoc = 1
        self._loop = asyncio.new_event_loop() if smf is not None else None
        self._running = False

    # -- femto side -------------------------------------------------------------------------
    def feed(self, outs: list) -> None:
        for o in outs:
            if isinstance(o, fo.SendAir):
                self.air_out.append(o)
                ue = self.ues.get(o.addr)
                if ue is not None:
                    self.queue.append((ue.receive, (o.data,)))
            elif isinstance(o, fo.SendNgap):
                self.to_amf.append(o.data)
                if self.amf is not None and self.amf_up:
                    self.queue.append((self._amf_in, (o.data, o.stream)))
            elif isinstance(o, fo.SendN3):
                self.n3_out.append(o)
                if self.upf is not None and o.addr[0] == UPF_N3:
                    self.queue.append((self._upf_in, (o.data,)))
            elif isinstance(o, fo.ConnectN2):
                self.connects += 1
            elif isinstance(o, fo.Event):
                self.events.append(o)
        self.run()

    def run(self) -> None:
        if self._running:
            return
        self._running = True
        try:
            while self.queue:
                fn, args = self.queue.popleft()
                fn(*args)
        finally:
            self._running = False

    def air(self, data: bytes, addr: tuple[str, int]) -> None:
        self.feed(self.femto.air_received(data, addr))

    def tick(self, advance: float = 0.0) -> None:
        clock = self.femto.clock
        if advance:
            clock.now += advance  # type: ignore[attr-defined]
        self.feed(self.femto.tick())

    def start(self) -> None:
        """femto.start() + association up + NG Setup exchange."""
        self.feed(self.femto.start())
        self.association_up()

    def association_up(self) -> None:
        if self.amf is not None:
            self._amf_out(self.amf.association_up(self.assoc, f"{N3_ADDR}:38412"))
        self.feed(self.femto.n2_up())

    def amf_restart(self, new_amf: Amf | None = None) -> None:
        """The association drops (AMF restarted): the femto is told; a new AMF may come up."""
        if self.amf is not None:
            self._amf_out(self.amf.association_down(self.assoc))
        self.assoc += 1
        if new_amf is not None:
            self.amf = new_amf
        self.feed(self.femto.n2_down("peer restarted"))

    # -- AMF side ----------------------------------------------------------------------------
    def _amf_in(self, data: bytes, stream: int) -> None:
        assert self.amf is not None
        self._amf_out(self.amf.ngap_received(self.assoc, data, stream))

    def _amf_out(self, outs: list) -> None:
        deliver = []
        for o in outs:
            if isinstance(o, SendNgap):
                deliver.append(o)
            elif isinstance(o, StartTimer):
                self.amf_timers[o.timer_id] = o.seconds
            elif isinstance(o, CancelTimer):
                self.amf_timers.pop(o.timer_id, None)
            elif isinstance(o, AmfEvent):
                self.amf_events.append(o)
            elif isinstance(o, SmfCreate | SmfN2Response | SmfRelease | SmfReleaseAll):
                self.queue.append((self._smf_call, (o,)))
        for o in deliver:
            if o.assoc == self.assoc:
                self.from_amf.append(o.data)
                self.queue.append((lambda d, s: self.feed(self.femto.ngap_received(d, s)), (o.data, o.stream)))
        self.run()

    def _smf_call(self, o: Any) -> None:
        assert self.smf is not None and self._loop is not None and self.amf is not None
        run = self._loop.run_until_complete
        if isinstance(o, SmfCreate):
            self._amf_out(self.amf.smf_reply(o.amf_ue_ngap_id, run(self.smf.create(o.request))))
        elif isinstance(o, SmfN2Response):
            if o.success:
                reply = run(self.smf.n2_setup_response(o.supi, o.pdu_session_id, o.transfer))
            else:
                reply = run(self.smf.n2_setup_failed(o.supi, o.pdu_session_id, o.transfer))
            if reply.kind != "setup":
                self._amf_out(self.amf.smf_reply(o.amf_ue_ngap_id, reply))
        elif isinstance(o, SmfRelease):
            self._amf_out(self.amf.smf_reply(o.amf_ue_ngap_id, run(self.smf.release(o.supi, o.pdu_session_id,
                                                                                      o.n1_sm))))
        elif isinstance(o, SmfReleaseAll):
            run(self.smf.release_all(o.supi))

    def start_smf(self) -> None:
        assert self.smf is not None and self._loop is not None
        self._loop.run_until_complete(self.smf.start())

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()

    # -- UPF side ------------------------------------------------------------------------------
    def _upf_in(self, data: bytes) -> None:
        pkt, reply = self.upf.handle_n3(data, (N3_ADDR, 2152))
        if pkt is not None:
            self.n6.append(pkt)
        if reply is not None:
            self.queue.append((lambda d: self.feed(self.femto.n3_received(d, (UPF_N3, 2152))), (reply,)))

    def n6_downlink(self, packet: bytes) -> None:
        r = self.upf.downlink(packet)
        assert r is not None, "UPF has no downlink tunnel for this UE"
        gpdu, peer = r
        assert peer[0] == N3_ADDR
        self.feed(self.femto.n3_received(gpdu, (UPF_N3, 2152)))

    # -- queries ---------------------------------------------------------------------------------
    def ev(self, type_: str) -> list[dict]:
        return [e.fields for e in self.events if e.type == type_]

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def amf_ev(self, type_: str) -> list[dict]:
        return [e.fields for e in self.amf_events if e.type == type_]


def ipv4_udp(src: str, dst: str, payload: bytes = b"hello", sport: int = 40000, dport: int = 9) -> bytes:
    """A minimal IPv4/UDP packet (checksum 0: not validated on the path)."""
    import ipaddress

    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    total = 20 + len(udp)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, 17, 0, ipaddress.IPv4Address(src).packed,
                      ipaddress.IPv4Address(dst).packed)
    return hdr + udp
