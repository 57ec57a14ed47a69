"""The real built-in core in process (UDR on SQLite, UDM/SIDF, AUSF, AMF, SMF + UPF over LocalN4)
and a tiny gNB bridge that carries the NAS of real :class:`UeNas` instances over NGAP.

Test-only. The bridge answers the AMF like a gNB (INITIAL CONTEXT SETUP RESPONSE with the PDU
sessions it was asked to set up, PDU SESSION RESOURCE SETUP/RELEASE RESPONSE, UE CONTEXT RELEASE
COMPLETE) and pages the UEs camped on it whose 5G-S-TMSI a PAGING names; UE timers and AMF timers
are kept in dicts and fired by hand; everything runs synchronously through one FIFO so that outputs
are handled in the order they were produced. With ``sessions=True`` the SMF's PFCP peer is an
in-process UPF whose own requests (Session Report) are pumped after every SMF call and every
downlink packet (:meth:`Core.n6_downlink`); G-PDUs the UPF sends on its own (flushed buffers) are
kept in ``Core.n3``. Hooks let a test drop or rewrite uplink/downlink NAS (a black hole or a man
in the middle on the air interface).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed.core.amf import (
    Amf,
    AmfConfig,
    CancelTimer,
    SendNgap,
    SmfActivate,
    SmfCreate,
    SmfDeactivate,
    SmfN2Response,
    SmfPagingFailed,
    SmfRelease,
)
from testbed.core.amf import Event as AmfEvent
from testbed.core.amf import StartTimer as AmfStartTimer
from testbed.core.amf.outputs import SmfReleaseAll
from testbed.core.ausf import Ausf
from testbed.core.udm import HomeNetworkKeys, Udm
from testbed.core.udr import SubscriberStore, parse_subscriber_data
from testbed.protocols import ngap
from testbed.ue.nas import (
    Event,
    ReleaseConnection,
    SendNas,
    SessionDown,
    SessionUp,
    StartTimer,
    StopTimer,
    UeNas,
    UeNasConfig,
)
from testbed.ue.usim import Usim, UsimConfig

MCC, MNC = "001", "01"
PLMN = ngap.Plmn(MCC, MNC)
CAG_FEMTO = 0x00C0FFEE
CAG_OTHER = 0x00000BAD
K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
OPC = bytes.fromhex("e8ed289deba952e4283b54e88e6183ca")
_KEYS: HomeNetworkKeys | None = None


def hn_keys() -> HomeNetworkKeys:
    """One set of home network keys per test session (key generation is the slow part)."""
    global _KEYS
    if _KEYS is None:
        _KEYS = HomeNetworkKeys.generate()
    return _KEYS


@dataclass
class UeHandle:
    """A UE on the bridge: its NAS entity, its N2 ids, what it produced."""

    nas: UeNas
    gnb: Gnb | None = None
    ran_id: int | None = None
    amf_id: int | None = None
    timers: dict[str, float] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    sent: list[SendNas] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)
    sessions_up: dict[int, str] = field(default_factory=dict)
    paged: int = 0

    def ev(self, type_: str) -> list[dict]:
        return [e.fields for e in self.events if e.type == type_]

    def of(self, cls: type) -> list[Any]:
        return [o for o in self.outputs if isinstance(o, cls)]

    @property
    def registered(self) -> bool:
        return self.nas.state == "registered"


class Gnb:
    """One gNB (one cell: TAC, CAG IDs) on N2 association ``assoc``."""

    def __init__(self, core: Core, assoc: int, gnb_id: int, cag_ids: tuple[int, ...], tac: int = 1) -> None:
        self.core, self.assoc, self.gnb_id, self.cag_ids, self.tac = core, assoc, gnb_id, tuple(cag_ids), tac
        self.ues: dict[int, UeHandle] = {}
        self.next_ran = 1
        self.inbox: list[Any] = []
        self.drop_ul = False  # black hole towards the AMF
        self.drop_dl = False  # black hole towards the UE
        self.mitm_ul: Callable[[bytes], bytes] | None = None
        self.mitm_dl: Callable[[bytes], bytes] | None = None

    def uli(self) -> ngap.UserLocationNR:
        return ngap.UserLocationNR(ngap.NrCgi(PLMN, self.gnb_id << 14), ngap.Tai(PLMN, self.tac))

    def ng_setup(self) -> Any:
        bp = ngap.BroadcastPlmn(PLMN, (ngap.Snssai(1),), cag_ids=self.cag_ids)
        msg = ngap.NGSetupRequest(ngap.GlobalGnbId(PLMN, self.gnb_id, 22), (ngap.SupportedTa(self.tac, (bp,)),),
                                  128, f"gnb-{self.gnb_id}")
        self.core.to_amf(self.assoc, ngap.encode(msg))
        return self.inbox[-1]

    def send(self, msg: ngap.NgapMessage) -> None:
        self.core.to_amf(self.assoc, ngap.encode(msg))

    # -- UE -> AMF --------------------------------------------------------------------------

    def uplink(self, ue: UeHandle, o: SendNas) -> None:
        pdu = self.mitm_ul(o.pdu) if self.mitm_ul is not None else o.pdu
        if o.initial:
            ran = self.next_ran
            self.next_ran += 1
            if ue.ran_id is not None:
                self.ues.pop(ue.ran_id, None)
            ue.ran_id, ue.amf_id = ran, None
            self.ues[ran] = ue
            if self.drop_ul:
                return
            self.send(ngap.InitialUEMessage(ran, pdu, self.uli(), rrc_establishment_cause=o.cause,
                                            cag_ids=self.cag_ids or None))
            return
        if self.drop_ul:
            return
        assert ue.ran_id is not None and ue.amf_id is not None, "UL NAS without an N2 connection"
        self.send(ngap.UplinkNASTransport(ue.amf_id, ue.ran_id, pdu, self.uli()))

    def radio_release(self, ue: UeHandle, reason: str) -> None:
        """The UE released its RRC connection locally: the gNB asks the AMF to release N2."""
        if ue.ran_id is not None and ue.amf_id is not None and not self.drop_ul:
            self.send(ngap.UEContextReleaseRequest(ue.amf_id, ue.ran_id, ngap.Cause("radioNetwork", "unspecified")))
        if ue.ran_id is not None:
            self.ues.pop(ue.ran_id, None)
        ue.ran_id = ue.amf_id = None

    # -- AMF -> UE --------------------------------------------------------------------------

    def to_ue(self, ue: UeHandle, pdu: bytes) -> None:
        if self.drop_dl:
            return
        if self.mitm_dl is not None:
            pdu = self.mitm_dl(pdu)
        ue.received.append(pdu)
        self.core.ue_outputs(ue, ue.nas.nas_received(pdu))

    def on_pdu(self, msg: Any) -> None:
        self.inbox.append(msg)
        if isinstance(msg, ngap.Paging):
            if any(t.tac == self.tac for t in msg.tai_list):
                from testbed.ue.radio.ue import s_tmsi_of

                wanted = msg.ue_paging_identity.to_int()
                for ue in self.core.handles:
                    if ue.gnb is self and ue.ran_id is None and s_tmsi_of(ue.nas.guti) == wanted:
                        ue.paged += 1
                        self.core.ue_outputs(ue, ue.nas.paging_received())
            return
        ran = getattr(msg, "ran_ue_ngap_id", None)
        ue = self.ues.get(ran) if ran is not None else None
        if ue is None:
            if isinstance(msg, ngap.UEContextReleaseCommand) and ran is not None:
                self.send(ngap.UEContextReleaseComplete(msg.amf_ue_ngap_id, ran))
            return
        if isinstance(msg, ngap.DownlinkNASTransport):
            ue.amf_id = msg.amf_ue_ngap_id
            self.to_ue(ue, msg.nas_pdu)
        elif isinstance(msg, ngap.InitialContextSetupRequest):
            ue.amf_id = msg.amf_ue_ngap_id
            setup = tuple(ngap.PduSessionSetupResult(s.pdu_session_id, ngap.PduSessionResourceSetupResponseTransfer(
                ngap.GtpTunnel("10.0.0.2", 0x100 + s.pdu_session_id))) for s in msg.pdu_sessions or ())
            self.send(ngap.InitialContextSetupResponse(msg.amf_ue_ngap_id, msg.ran_ue_ngap_id, setup or None))
            if msg.nas_pdu is not None:
                self.to_ue(ue, msg.nas_pdu)
        elif isinstance(msg, ngap.PDUSessionResourceSetupRequest):
            for s in msg.sessions:
                if s.nas_pdu is not None:
                    self.to_ue(ue, s.nas_pdu)
            self.send(ngap.PDUSessionResourceSetupResponse(
                msg.amf_ue_ngap_id, msg.ran_ue_ngap_id, setup=tuple(
                    ngap.PduSessionSetupResult(s.pdu_session_id, ngap.PduSessionResourceSetupResponseTransfer(
                        ngap.GtpTunnel("10.0.0.2", 0x100 + s.pdu_session_id))) for s in msg.sessions)))
        elif type(msg).__name__ == "PDUSessionResourceReleaseCommand":
            from testbed.protocols.ngap import release_messages as rm

            self.send(rm.PDUSessionResourceReleaseResponse(
                msg.amf_ue_ngap_id, msg.ran_ue_ngap_id,
                tuple(rm.PduSessionReleased(s.pdu_session_id) for s in msg.sessions)))
            if msg.nas_pdu is not None:
                self.to_ue(ue, msg.nas_pdu)
        elif isinstance(msg, ngap.UEContextReleaseCommand):
            self.send(ngap.UEContextReleaseComplete(msg.amf_ue_ngap_id, ran))
            self.ues.pop(ran, None)
            ue.ran_id = ue.amf_id = None
            self.core.ue_outputs(ue, ue.nas.connection_released("rrc-release"))


class Core:
    """UDR + UDM + AUSF + AMF (+ SMF/UPF with ``sessions=True``) with gNB bridges."""

    def __init__(self, tmp: Path, *, subscribers: list[dict] | None = None, ranges: list[dict] | None = None,
                 femtos: list[dict] | None = None, sessions: bool = False, **amf_cfg: Any) -> None:
        self.store = SubscriberStore(tmp / "udr.sqlite")
        femtos = femtos if femtos is not None else [
            {"name": "femto1", "mcc": MCC, "mnc": MNC, "gnb_id": 1, "gnb_id_bits": 22,
             "authorised_cag_ids": [CAG_FEMTO]}]
        self.store.load(parse_subscriber_data({"subscribers": subscribers or [], "ranges": ranges or [],
                                               "femtos": femtos}))
        self.keys = hn_keys()
        self.udm = Udm(self.store, self.keys)
        self.ausf = Ausf(self.udm)
        self.now = 0.0
        self.amf = Amf(AmfConfig(mcc=MCC, mnc=MNC, **amf_cfg), self.ausf, self.udm, self.store,
                       clock=lambda: self.now)
        self.gnbs: dict[int, Gnb] = {}
        self.amf_timers: dict[str, float] = {}
        self.amf_events: list[AmfEvent] = []
        self.q: collections.deque[Callable[[], None]] = collections.deque()
        self._running = False
        self.smf = None
        self.upf: Any = None
        self.n4: Any = None
        self.n3: list[tuple[bytes, tuple[str, int]]] = []  # G-PDUs the UPF sent on its own (flushed buffers)
        self.handles: list[UeHandle] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        if sessions:
            from testbed.core.smf import LocalN4, Smf, SmfConfig
            from testbed.core.upf.sessions import Upf

            self.loop = asyncio.new_event_loop()
            self.upf = Upf("127.0.0.3", "10.45.0.0/16", clock=lambda: self.now)
            self.n4 = LocalN4(self.upf, src=("127.0.0.2", 8805))
            self.smf = Smf(SmfConfig(smf_n4_address=("127.0.0.2", 8805), upf_n4_address=("127.0.0.3", 8805)),
                           self.n4)
            self.loop.run_until_complete(self.smf.start())
            # Namf_Communication_N1N2MessageTransfer
            self.smf.on_downlink_data = lambda supi, psi: self.q.append(
                lambda: self.feed(self.amf.n1n2_message_transfer(supi, psi)))

    def close(self) -> None:
        if self.loop is not None:
            self.loop.close()
        self.store.close()

    # -- building ----------------------------------------------------------------------------

    def gnb(self, assoc: int = 1, gnb_id: int = 1, cag_ids: tuple[int, ...] = (CAG_FEMTO,), tac: int = 1) -> Gnb:
        g = Gnb(self, assoc, gnb_id, cag_ids, tac)
        self.gnbs[assoc] = g
        self.feed(self.amf.association_up(assoc, f"10.0.0.{assoc}:38412"))
        result = g.ng_setup()
        assert isinstance(result, ngap.NGSetupResponse), f"NG Setup of gNB {gnb_id} failed: {result}"
        return g

    def usim_config(self, supi: str, scheme: int = 1, **kw: Any) -> UsimConfig:
        kid = 0 if scheme == 0 else next(k for k in self.keys.key_ids() if self.keys.scheme_of(k) == scheme)
        pub = None if scheme == 0 else self.keys.public_key(kid)
        kw.setdefault("k", K)
        kw.setdefault("opc", OPC)
        return UsimConfig(supi=supi, scheme=scheme, hn_public_key=pub, hn_key_id=kid, **kw)

    def ue(self, supi: str, gnb: Gnb | None = None, *, scheme: int = 1, config: UeNasConfig | None = None,
           usim: dict | None = None) -> UeHandle:
        u = Usim(self.usim_config(supi, scheme, **(usim or {})))
        h = UeHandle(UeNas(u, config or UeNasConfig(mcc=MCC, mnc=MNC), clock=lambda: self.now))
        self.handles.append(h)
        if gnb is not None:
            self.camp(h, gnb)
        return h

    def camp(self, ue: UeHandle, gnb: Gnb) -> None:
        ue.gnb = gnb
        self.ue_outputs(ue, ue.nas.cell_changed((MCC, MNC), gnb.tac, gnb.cag_ids))

    # -- plumbing ----------------------------------------------------------------------------

    def run(self) -> None:
        if self._running:
            return
        self._running = True
        try:
            while self.q:
                self.q.popleft()()
        finally:
            self._running = False

    def to_amf(self, assoc: int, data: bytes) -> None:
        self.q.append(lambda: self.feed(self.amf.ngap_received(assoc, data, 1)))
        self.run()

    def feed(self, outs: list[Any]) -> None:
        for o in outs:
            if isinstance(o, SendNgap):
                g = self.gnbs.get(o.assoc)
                if g is not None:
                    msg = ngap.decode(o.data)
                    self.q.append(lambda g=g, msg=msg: g.on_pdu(msg))
            elif isinstance(o, AmfStartTimer):
                self.amf_timers[o.timer_id] = o.seconds
            elif isinstance(o, CancelTimer):
                self.amf_timers.pop(o.timer_id, None)
            elif isinstance(o, AmfEvent):
                self.amf_events.append(o)
            elif isinstance(o, SmfCreate | SmfN2Response | SmfRelease | SmfReleaseAll | SmfActivate | SmfDeactivate
                            | SmfPagingFailed):
                self.q.append(lambda o=o: self._smf(o))
        self.run()

    def _smf(self, o: Any) -> None:
        if self.smf is None or self.loop is None:
            return
        run = self.loop.run_until_complete
        if isinstance(o, SmfCreate):
            self.feed(self.amf.smf_reply(o.amf_ue_ngap_id, run(self.smf.create(o.request))))
        elif isinstance(o, SmfN2Response):
            if o.success:
                reply = run(self.smf.n2_setup_response(o.supi, o.pdu_session_id, o.transfer))
            else:
                reply = run(self.smf.n2_setup_failed(o.supi, o.pdu_session_id, o.transfer))
            if reply.kind != "setup":
                self.feed(self.amf.smf_reply(o.amf_ue_ngap_id, reply))
        elif isinstance(o, SmfRelease):
            self.feed(self.amf.smf_reply(o.amf_ue_ngap_id, run(self.smf.release(o.supi, o.pdu_session_id, o.n1_sm))))
        elif isinstance(o, SmfReleaseAll):
            run(self.smf.release_all(o.supi))
        elif isinstance(o, SmfActivate):
            self.feed(self.amf.smf_reply(o.amf_ue_ngap_id, run(self.smf.activate(o.supi, o.pdu_session_id))))
        elif isinstance(o, SmfDeactivate):
            run(self.smf.deactivate(o.supi, o.pdu_session_ids))
        elif isinstance(o, SmfPagingFailed):
            run(self.smf.paging_failed(o.supi, o.pdu_session_ids))
        self.pump()

    def pump(self) -> None:
        """The UPF's own PFCP requests to the SMF (and answers back); its flushed G-PDUs to ``n3``."""
        if self.n4 is None:
            return
        self.n4.pump()
        self.n3 += self.upf.take_n3()
        self.run()

    def n6_downlink(self, packet: bytes) -> tuple[bytes, tuple[str, int]] | None:
        """A packet from the data network: forwarded (G-PDU, gNB) or buffered (then reported, pumped)."""
        r = self.upf.downlink(packet)
        self.pump()
        return r

    def ue_outputs(self, ue: UeHandle, outs: list[Any]) -> None:
        for o in outs:
            ue.outputs.append(o)
            if isinstance(o, SendNas):
                ue.sent.append(o)
                if ue.gnb is not None:
                    self.q.append(lambda ue=ue, o=o: ue.gnb.uplink(ue, o))  # type: ignore[union-attr]
            elif isinstance(o, StartTimer):
                ue.timers[o.timer_id] = o.seconds
            elif isinstance(o, StopTimer):
                ue.timers.pop(o.timer_id, None)
            elif isinstance(o, Event):
                ue.events.append(o)
            elif isinstance(o, SessionUp):
                ue.sessions_up[o.psi] = o.ipv4
            elif isinstance(o, SessionDown):
                ue.sessions_up.pop(o.psi, None)
            elif isinstance(o, ReleaseConnection):
                g = ue.gnb
                self.q.append(lambda ue=ue, g=g, o=o: self._release(ue, g, o.reason))
        self.run()

    def _release(self, ue: UeHandle, g: Gnb | None, reason: str) -> None:
        if g is not None:
            g.radio_release(ue, reason)
        self.ue_outputs(ue, ue.nas.connection_released(reason))

    # -- driving -------------------------------------------------------------------------------

    def do(self, ue: UeHandle, outs: list[Any]) -> UeHandle:
        self.ue_outputs(ue, outs)
        return ue

    def register(self, ue: UeHandle, reg_type: str = "initial") -> UeHandle:
        return self.do(ue, ue.nas.register(reg_type))

    def fire_ue(self, ue: UeHandle, timer_id: str) -> None:
        assert timer_id in ue.timers, f"{timer_id} not running: {sorted(ue.timers)}"
        del ue.timers[timer_id]
        self.ue_outputs(ue, ue.nas.timer_expired(timer_id))

    def fire_amf(self, prefix: str) -> None:
        tid = next(t for t in self.amf_timers if t.startswith(prefix))
        del self.amf_timers[tid]
        self.feed(self.amf.timer_expired(tid))

    def amf_ev(self, type_: str) -> list[dict]:
        return [e.fields for e in self.amf_events if e.type == type_]

    def release(self, ue: UeHandle) -> None:
        """The gNB releases the UE (user inactivity): UE CONTEXT RELEASE REQUEST -> COMMAND."""
        assert ue.gnb is not None and ue.amf_id is not None and ue.ran_id is not None
        ue.gnb.send(ngap.UEContextReleaseRequest(ue.amf_id, ue.ran_id, ngap.Cause("radioNetwork", "user-inactivity")))


def outcome(ue: UeHandle) -> tuple[str, int | None]:
    """(5GMM state, last reject cause) for compact assertions."""
    return ue.nas.state, ue.nas.reject_cause



# -------------------------------------------------------------------------------- standard set-up

MEMBER = "imsi-001010000000001"       # Allowed CAG list: the femto's CAG
NON_MEMBER = "imsi-001010000000002"   # no CAG subscription
CAG_ONLY = "imsi-001010000000003"     # CAG-only, allowed the femto's CAG
CAG_ONLY_OTHER = "imsi-001010000000004"  # CAG-only, allowed another CAG
RANGE_FIRST = 100_000                  # imsi-0010100001xxxxx: members, for bulk runs


def standard_core(tmp: Path, **kw: Any) -> Core:
    def sub(supi: str, cags: list[int], only: bool = False) -> dict:
        return {"supi": supi, "k": K.hex(), "opc": OPC.hex(), "allowed_cag_ids": cags, "cag_only": only}

    return Core(tmp, subscribers=[sub(MEMBER, [CAG_FEMTO]), sub(NON_MEMBER, []), sub(CAG_ONLY, [CAG_FEMTO], True),
                                  sub(CAG_ONLY_OTHER, [CAG_OTHER], True)],
                ranges=[{"first_supi": f"imsi-00101{RANGE_FIRST:010d}", "count": 5000, "k": K.hex(),
                         "opc": OPC.hex(), "allowed_cag_ids": [CAG_FEMTO]}],
                femtos=[{"name": f"femto{i}", "mcc": MCC, "mnc": MNC, "gnb_id": i, "gnb_id_bits": 22,
                         "authorised_cag_ids": cags} for i, cags in ((1, [CAG_FEMTO]), (2, [CAG_FEMTO]),
                                                                      (3, [CAG_OTHER]), (4, []))], **kw)


def subscribed_usim(supi: str) -> dict:
    """USIM CAG data matching the subscription of the standard subscribers."""
    return {MEMBER: {"allowed_cag_ids": {CAG_FEMTO}}, NON_MEMBER: {},
            CAG_ONLY: {"allowed_cag_ids": {CAG_FEMTO}, "cag_only": True},
            CAG_ONLY_OTHER: {"allowed_cag_ids": {CAG_OTHER}, "cag_only": True}}.get(
                supi, {"allowed_cag_ids": {CAG_FEMTO}})
