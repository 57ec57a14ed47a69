"""A scripted gNB + UE driving the sans-I/O AMF purely through its methods (no sockets, no root).

:class:`Harness` owns the AMF's outputs: ``SendNgap`` PDUs are decoded and handed to the
:class:`ScriptedGnb` of that association, which answers like a gNB (INITIAL CONTEXT SETUP
RESPONSE, UE CONTEXT RELEASE COMPLETE, PDU SESSION RESOURCE SETUP RESPONSE) and relays NAS to its
:class:`ScriptedUe`; timers go to a dict the test fires by hand; SMF requests and events are
recorded. The UE is a real one as far as security goes: USIM 5G-AKA (``UsimAka``), SUCI
concealment (``conceal``), and a ``NasSecurityContext("ue")`` built from the KAMF it derives
itself (TS 33.501 A.7, A.8), so any key or COUNT mistake in the AMF shows up as a failed check.
"""

from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from testbed.core.amf import Amf, CancelTimer, Event, SendNgap, StartTimer
from testbed.crypto import aka, keys
from testbed.crypto.identity import Guti5g, Supi
from testbed.crypto.milenage import Milenage
from testbed.crypto.nas_algorithms import DIRECTION_UPLINK, nea
from testbed.crypto.suci import NULL_SCHEME, conceal
from testbed.protocols import nas, ngap

SHT = nas.SecurityHeaderType
MCC, MNC = "001", "01"
PLMN = ngap.Plmn(MCC, MNC)
NAS_PLMN = nas.PlmnId(MCC, MNC)
DEFAULT_SNSSAI = nas.SNssai(1)


class ScriptedUe:
    """UE (USIM + ME NAS) with knobs for negative tests."""

    def __init__(self, supi: Supi, k: bytes, opc: bytes, *, scheme: int = NULL_SCHEME,
                 hn_pub: bytes | None = None, key_id: int = 0, nia: set[int] | None = None,
                 nea_algs: set[int] | None = None, imeisv: str = "3534900698733191") -> None:
        self.supi = supi
        self.usim = aka.UsimAka(Milenage(k, opc=opc))
        self.scheme, self.hn_pub, self.key_id = scheme, hn_pub, key_id
        self.cap = nas.UeSecurityCapability(nea=nea_algs if nea_algs is not None else {0, 1, 2, 3},
                                            nia=nia if nia is not None else {1, 2, 3})
        self.imeisv = imeisv
        self.sn_name = keys.serving_network_name(MCC, MNC)
        # state
        self.guti: Guti5g | None = None
        self.sec: nas.NasSecurityContext | None = None
        self.sec_active = False  # security in use on the current connection
        self.kamf: bytes | None = None
        self.pending_kamf: bytes | None = None
        self.full_request: nas.RegistrationRequest | None = None
        self.last_auth: tuple[bytes, bytes] | None = None  # (RAND, reply) for retransmissions
        self.ran_ue_ngap_id: int | None = None
        self.amf_ue_ngap_id: int | None = None
        self.gnb: ScriptedGnb | None = None
        # observations
        self.received: list[nas.NasMessage] = []
        self.received_plain_after_security: list[str] = []
        self.mac_failures = 0
        self.accept: nas.RegistrationAccept | None = None
        self.reject: nas.RegistrationReject | None = None
        self.auth_rejected = False
        self.registered = False
        self.sent_ul: list[bytes] = []
        self.kgnb: bytes | None = None
        self.initial_count: int | None = None  # UL NAS COUNT of the last protected initial message
        # knobs
        self.drop: set[str] = set()  # NAS message class names to ignore (no answer)
        self.wrong_res = False
        self.mac_failure_times = 0
        self.sync_failure_forced = 0
        self.reject_smc = False
        self.omit_container = False

    def desync(self, seq: int = 1 << 25) -> None:
        """Put the USIM's SQN array ahead of the home network for every IND (a genuine synch
        failure on the next authentication, TS 33.102 Annex C)."""
        arr = self.usim.sqn_array
        for ind in range(1 << arr.ind_bits):
            arr.accept((seq << arr.ind_bits) | ind)

    # -- building uplink NAS --------------------------------------------------------------

    def suci(self) -> nas.Suci:
        return conceal(self.supi, self.scheme, self.hn_pub, self.key_id)

    def registration_request(self, reg_type: int = nas.RegistrationType.INITIAL, identity: str = "auto",
                             *, requested_nssai: tuple[nas.SNssai, ...] | None = (nas.SNssai(1),)) -> bytes:
        """The initial REGISTRATION REQUEST (TS 24.501 4.4.6): cleartext only without a context,
        integrity protected with the ciphered complete message in the container with one."""
        if identity == "auto":
            identity = "guti" if self.guti is not None else "suci"
        ident: Any = {"suci": self.suci, "guti": lambda: self.guti, "imei": lambda: nas.Pei(self.imeisv[:14] + "0"),
                      "none": lambda: nas.NoIdentity()}[identity]()
        ngksi = self.sec.ngksi if (self.sec is not None and identity == "guti") else nas.NgKsi()
        full = nas.RegistrationRequest(registration_type=reg_type, follow_on_request=False, ngksi=ngksi,
                                       mobile_identity=ident, mm_capability=b"\x00",
                                       ue_security_capability=self.cap, requested_nssai=requested_nssai)
        self.full_request = full
        clear = nas.cleartext_part(full)
        self.sec_active = False
        if identity == "guti" and self.sec is not None:
            count = self.initial_count = self.sec.send_count
            container = nea(self.sec.nea, self.sec.k_nas_enc, count, self.sec.bearer, DIRECTION_UPLINK, full.encode())
            msg = dataclasses.replace(clear, nas_message_container=container)
            return self.sec.protect(msg.encode(), SHT.INTEGRITY_PROTECTED)
        return clear.encode()

    def service_request(self, service_type: int = nas.ServiceType.SIGNALLING, *,
                        uplink_data_status: frozenset[int] | None = None,
                        pdu_session_status: frozenset[int] | None = None) -> bytes:
        """SERVICE REQUEST as an initial NAS message (TS 24.501 4.4.6): the cleartext IEs, and, when
        there are non-cleartext IEs (Uplink data status, PDU session status), the complete message
        ciphered in the NAS message container; integrity protected with the current context."""
        assert self.guti is not None and self.sec is not None
        full = nas.ServiceRequest(service_type=service_type, ngksi=self.sec.ngksi, s_tmsi=self.guti.s_tmsi,
                                  uplink_data_status=uplink_data_status, pdu_session_status=pdu_session_status)
        self.sec_active = False
        if uplink_data_status is None and pdu_session_status is None:
            return self.sec.protect(full.encode(), SHT.INTEGRITY_PROTECTED)
        count = self.initial_count = self.sec.send_count
        container = nea(self.sec.nea, self.sec.k_nas_enc, count, self.sec.bearer, DIRECTION_UPLINK, full.encode())
        msg = dataclasses.replace(nas.cleartext_part(full), nas_message_container=container)
        return self.sec.protect(msg.encode(), SHT.INTEGRITY_PROTECTED)

    def deregistration_request(self, switch_off: bool = False, initial: bool = False) -> bytes:
        assert self.guti is not None and self.sec is not None
        msg = nas.DeregistrationRequestUeOriginating(
            deregistration_type=nas.DeregistrationType(nas.DeregistrationAccessType.THREEGPP, switch_off),
            ngksi=self.sec.ngksi, mobile_identity=self.guti)
        if initial:
            return self.sec.protect(msg.encode(), SHT.INTEGRITY_PROTECTED)
        return self.protect(msg.encode())

    def protect(self, plain: bytes) -> bytes:
        if self.sec_active and self.sec is not None:
            out = self.sec.protect(plain, SHT.INTEGRITY_PROTECTED_AND_CIPHERED)
        else:
            out = plain
        return out

    def ul_nas_transport(self, sm: nas.SmMessage, dnn: str | None = "internet",
                         snssai: nas.SNssai | None = DEFAULT_SNSSAI) -> bytes:
        msg = nas.UlNasTransport(payload_container=sm.encode(), pdu_session_id=sm.pdu_session_id,
                                 request_type=nas.RequestType.INITIAL_REQUEST, s_nssai=snssai, dnn=dnn)
        return self.protect(msg.encode())

    # -- downlink handling -------------------------------------------------------------------

    def handle_dl(self, pdu: bytes) -> list[bytes]:
        sht = pdu[1] & 0x0F if pdu and pdu[0] == 0x7E else 0
        if sht == SHT.INTEGRITY_PROTECTED_NEW_CONTEXT:
            return self._smc(pdu)
        if sht != 0:
            if self.sec is None:
                self.mac_failures += 1
                return []
            try:
                plain, _ = self.sec.unprotect(pdu)
            except nas.NasSecurityError:
                self.mac_failures += 1
                return []
            msg = nas.decode_plain(plain)
            self.sec_active = True  # the network uses our context on this connection (4.4.2.5)
        else:
            msg = nas.decode_plain(pdu)
            if self.sec_active:
                self.received_plain_after_security.append(type(msg).__name__)
        self.received.append(msg)
        if type(msg).__name__ in self.drop:
            return []
        return self._on(msg)

    def _smc(self, pdu: bytes) -> list[bytes]:
        inner = nas.decode_plain(nas.SecurityProtectedMessage.decode(pdu).payload)
        assert isinstance(inner, nas.SecurityModeCommand)
        self.received.append(inner)
        if "SecurityModeCommand" in self.drop:
            return []
        if self.reject_smc or inner.replayed_ue_security_capability != self.cap:
            return [nas.SecurityModeReject(cause=nas.FiveGmmCause.SECURITY_MODE_REJECTED_UNSPECIFIED).encode()]
        alg = inner.selected_algorithms
        kamf = self.pending_kamf if self.pending_kamf is not None else bytes(32)
        k_enc, k_int = keys.nas_keys(kamf, alg.ciphering, alg.integrity)
        ctx = nas.NasSecurityContext("ue", k_nas_int=k_int, k_nas_enc=k_enc, nia=alg.integrity,
                                     nea=alg.ciphering, ngksi=inner.ngksi)
        try:
            ctx.unprotect(pdu)
        except nas.NasSecurityError:
            self.mac_failures += 1
            return []
        self.sec, self.kamf, self.sec_active = ctx, kamf, True
        rinmr = inner.additional_security_information is not None and \
            inner.additional_security_information.retransmission_requested
        container = self.full_request.encode() if (rinmr and self.full_request and not self.omit_container) else None
        done = nas.SecurityModeComplete(imeisv=nas.Pei(self.imeisv, imeisv=True), nas_message_container=container)
        return [ctx.protect(done.encode(), SHT.INTEGRITY_PROTECTED_AND_CIPHERED_NEW_CONTEXT)]

    def _on(self, msg: nas.NasMessage) -> list[bytes]:
        if isinstance(msg, nas.AuthenticationRequest):
            return [self._auth(msg)]
        if isinstance(msg, nas.RegistrationAccept):
            self.accept, self.guti, self.registered = msg, msg.guti, True
            return [self.protect(nas.RegistrationComplete().encode())]
        if isinstance(msg, nas.RegistrationReject):
            self.reject, self.registered = msg, False
            return []
        if isinstance(msg, nas.AuthenticationReject):
            self.auth_rejected, self.registered = True, False
            return []
        if isinstance(msg, nas.IdentityRequest):
            return [self.protect(nas.IdentityResponse(mobile_identity=self.suci()).encode())]
        if isinstance(msg, nas.DeregistrationRequestUeTerminated):
            self.registered = False
            return [self.protect(nas.DeregistrationAcceptUeTerminated().encode())]
        if isinstance(msg, nas.DeregistrationAcceptUeOriginating):
            self.registered = False
            return []
        if isinstance(msg, nas.ConfigurationUpdateCommand):
            if msg.indication is not None and msg.indication.acknowledgement_requested:
                return [self.protect(nas.ConfigurationUpdateComplete().encode())]
            return []
        return []

    def _auth(self, msg: nas.AuthenticationRequest) -> bytes:
        assert msg.rand is not None and msg.autn is not None
        if self.last_auth is not None and self.last_auth[0] == msg.rand:
            return self.last_auth[1]  # retransmitted request: same answer (TS 24.501 5.4.1.3.7)
        if self.mac_failure_times > 0:
            self.mac_failure_times -= 1
            reply = nas.AuthenticationFailure(cause=nas.FiveGmmCause.MAC_FAILURE).encode()
        elif self.sync_failure_forced > 0:
            self.sync_failure_forced -= 1
            reply = nas.AuthenticationFailure(cause=nas.FiveGmmCause.SYNCH_FAILURE,
                                              auts=self.usim._auts(msg.rand)).encode()
        else:
            r = self.usim.authenticate_5g(msg.rand, msg.autn, self.sn_name)
            if isinstance(r, aka.AkaSuccess):
                self.pending_kamf = r.kamf(self.supi.value, msg.abba)
                res = bytes(16) if self.wrong_res else r.res_star
                reply = nas.AuthenticationResponse(res_star=res).encode()
            elif isinstance(r, aka.SyncFailure):
                reply = nas.AuthenticationFailure(cause=nas.FiveGmmCause.SYNCH_FAILURE, auts=r.auts).encode()
            else:
                reply = nas.AuthenticationFailure(cause=r.cause).encode()
        reply = self.protect(reply)
        self.last_auth = (msg.rand, reply)
        return reply


@dataclass
class ScriptedGnb:
    """A gNB on association ``assoc``; answers the AMF like a real one unless told otherwise."""

    harness: Harness
    assoc: int
    gnb_id: int
    tacs: tuple[int, ...] = (1,)
    cag_ids: tuple[int, ...] = ()
    plmn: ngap.Plmn = PLMN
    gnb_id_bits: int = 22
    fail_ics: bool = False
    fail_ics_sessions: bool = False  # answer an ICS's PDU Session Resource Setup List with failures
    auto_release_complete: bool = True
    ues: dict[int, ScriptedUe] = field(default_factory=dict)
    inbox: list[Any] = field(default_factory=list)
    next_ran_id: int = 1
    setup_result: Any = None

    def ng_setup_request(self) -> bytes:
        bp = ngap.BroadcastPlmn(self.plmn, (ngap.Snssai(1),), cag_ids=tuple(self.cag_ids))
        tas = tuple(ngap.SupportedTa(t, (bp,)) for t in self.tacs)
        return ngap.encode(ngap.NGSetupRequest(ngap.GlobalGnbId(self.plmn, self.gnb_id, self.gnb_id_bits), tas,
                                               128, f"gnb-{self.gnb_id}"))

    def uli(self) -> ngap.UserLocationNR:
        return ngap.UserLocationNR(ngap.NrCgi(self.plmn, self.gnb_id << 14), ngap.Tai(self.plmn, self.tacs[0]))

    def send(self, msg: ngap.NgapMessage | bytes) -> None:
        data = msg if isinstance(msg, bytes) else ngap.encode(msg)
        self.harness.to_amf(self.assoc, data)

    def on_pdu(self, msg: Any) -> None:
        self.inbox.append(msg)
        h = self.harness
        if isinstance(msg, ngap.NGSetupResponse | ngap.NGSetupFailure):
            self.setup_result = msg
            return
        ran = getattr(msg, "ran_ue_ngap_id", None)
        ue = self.ues.get(ran) if ran is not None else None
        if isinstance(msg, ngap.DownlinkNASTransport) and ue is not None:
            ue.amf_ue_ngap_id = msg.amf_ue_ngap_id
            self._to_ue(ue, msg.nas_pdu)
        elif isinstance(msg, ngap.InitialContextSetupRequest) and ue is not None:
            ue.amf_ue_ngap_id = msg.amf_ue_ngap_id
            if self.fail_ics:
                self.send(ngap.InitialContextSetupFailure(msg.amf_ue_ngap_id, msg.ran_ue_ngap_id,
                                                          ngap.Cause("radioNetwork", "unspecified")))
                return
            ue.kgnb = msg.security_key
            items = msg.pdu_sessions or ()
            ok = None if self.fail_ics_sessions or not items else tuple(
                ngap.PduSessionSetupResult(s.pdu_session_id, ngap.PduSessionResourceSetupResponseTransfer(
                    ngap.GtpTunnel("10.0.0.2", 0x200 + s.pdu_session_id))) for s in items)
            bad = tuple(ngap.PduSessionFailed(s.pdu_session_id, ngap.Cause("radioNetwork", "unspecified"))
                        for s in items) if self.fail_ics_sessions and items else None
            self.send(ngap.InitialContextSetupResponse(msg.amf_ue_ngap_id, msg.ran_ue_ngap_id, ok, bad))
            if msg.nas_pdu is not None:
                self._to_ue(ue, msg.nas_pdu)
        elif isinstance(msg, ngap.PDUSessionResourceSetupRequest) and ue is not None:
            for s in msg.sessions:
                if s.nas_pdu is not None:
                    self._to_ue(ue, s.nas_pdu)
            if h.pdu_setup_fails:
                self.send(ngap.PDUSessionResourceSetupResponse(
                    msg.amf_ue_ngap_id, msg.ran_ue_ngap_id, failed=tuple(
                        ngap.PduSessionFailed(s.pdu_session_id, ngap.Cause("radioNetwork", "unspecified"))
                        for s in msg.sessions)))
            else:
                self.send(ngap.PDUSessionResourceSetupResponse(
                    msg.amf_ue_ngap_id, msg.ran_ue_ngap_id, setup=tuple(
                        ngap.PduSessionSetupResult(s.pdu_session_id, ngap.PduSessionResourceSetupResponseTransfer(
                            ngap.GtpTunnel("10.0.0.2", 0x100 + s.pdu_session_id))) for s in msg.sessions)))
        elif isinstance(msg, ngap.UEContextReleaseCommand):
            if ue is None and msg.ran_ue_ngap_id is None:
                ue = next((u for u in self.ues.values() if u.amf_ue_ngap_id == msg.amf_ue_ngap_id), None)
            if self.auto_release_complete and msg.ran_ue_ngap_id is not None:
                self.send(ngap.UEContextReleaseComplete(msg.amf_ue_ngap_id, msg.ran_ue_ngap_id))
            if ue is not None and msg.ran_ue_ngap_id is not None:
                self.ues.pop(msg.ran_ue_ngap_id, None)
                if ue.gnb is self and ue.ran_ue_ngap_id == msg.ran_ue_ngap_id:
                    ue.ran_ue_ngap_id = ue.amf_ue_ngap_id = None
                    ue.sec_active = False
        elif ue is not None and type(msg).__name__ == "PDUSessionResourceReleaseCommand":
            if msg.nas_pdu is not None:
                self._to_ue(ue, msg.nas_pdu)

    def _to_ue(self, ue: ScriptedUe, pdu: bytes) -> None:
        for reply in ue.handle_dl(pdu):
            self.uplink(ue, reply)

    def uplink(self, ue: ScriptedUe, pdu: bytes) -> None:
        assert ue.amf_ue_ngap_id is not None and ue.ran_ue_ngap_id is not None
        ue.sent_ul.append(pdu)
        self.send(ngap.UplinkNASTransport(ue.amf_ue_ngap_id, ue.ran_ue_ngap_id, pdu, self.uli()))

    def connect(self, ue: ScriptedUe, initial_nas: bytes, cag_ids: tuple[int, ...] | None = "auto",  # type: ignore[assignment]
                s_tmsi: ngap.FiveGSTmsi | None = None) -> None:
        """RRC setup + INITIAL UE MESSAGE with ``initial_nas``; the cell's CAG IDs default to the gNB's."""
        ran = self.next_ran_id
        self.next_ran_id += 1
        ue.ran_ue_ngap_id, ue.amf_ue_ngap_id, ue.gnb = ran, None, self
        self.ues[ran] = ue
        ue.sent_ul.append(initial_nas)
        cells = tuple(self.cag_ids) if cag_ids == "auto" else cag_ids
        self.send(ngap.InitialUEMessage(ran, initial_nas, self.uli(), five_g_s_tmsi=s_tmsi,
                                        cag_ids=tuple(cells) if cells else None))


class Harness:
    """Runs the AMF with scripted gNBs: outputs are routed, timers kept, events recorded."""

    def __init__(self, amf: Amf) -> None:
        self.amf = amf
        self.gnbs: dict[int, ScriptedGnb] = {}
        self.timers: dict[str, float] = {}
        self.events: list[Event] = []
        self.sent: list[SendNgap] = []
        self.smf: list[Any] = []
        self.other: list[Any] = []
        self.queue: collections.deque[tuple[int, bytes]] = collections.deque()
        self.pdu_setup_fails = False
        self._running = False

    # -- plumbing ---------------------------------------------------------------------------

    def gnb(self, assoc: int, gnb_id: int, **kw: Any) -> ScriptedGnb:
        g = ScriptedGnb(self, assoc, gnb_id, **kw)
        self.gnbs[assoc] = g
        self.feed(self.amf.association_up(assoc, f"10.0.0.{assoc}:38412"))
        return g

    def setup(self, assoc: int = 1, gnb_id: int = 1, **kw: Any) -> ScriptedGnb:
        g = self.gnb(assoc, gnb_id, **kw)
        self.to_amf(assoc, g.ng_setup_request())
        return g

    def to_amf(self, assoc: int, data: bytes) -> None:
        self.queue.append((assoc, data))
        self.run()

    def run(self) -> None:
        if self._running:
            return
        self._running = True
        try:
            while self.queue:
                assoc, data = self.queue.popleft()
                self.feed(self.amf.ngap_received(assoc, data, 1))
        finally:
            self._running = False

    def feed(self, outs: list[Any]) -> None:
        """Apply one batch of outputs like an asynchronous runner: timers and records first, then
        the PDUs are delivered (a gNB's answer can never overtake the rest of the batch)."""
        deliver = []
        for o in outs:
            if isinstance(o, SendNgap):
                self.sent.append(o)
                deliver.append(o)
            elif isinstance(o, StartTimer):
                self.timers[o.timer_id] = o.seconds
            elif isinstance(o, CancelTimer):
                self.timers.pop(o.timer_id, None)
            elif isinstance(o, Event):
                self.events.append(o)
            elif type(o).__name__.startswith("Smf"):
                self.smf.append(o)
            else:
                self.other.append(o)
        for o in deliver:
            g = self.gnbs.get(o.assoc)
            if g is not None:
                g.on_pdu(ngap.decode(o.data))
        self.run()

    def fire(self, prefix: str) -> None:
        """Expire the running timer whose id starts with ``prefix``."""
        tid = next(t for t in self.timers if t.startswith(prefix))
        del self.timers[tid]
        self.feed(self.amf.timer_expired(tid))

    # -- queries ----------------------------------------------------------------------------

    def ev(self, type_: str) -> list[dict]:
        return [e.fields for e in self.events if e.type == type_]

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def clear(self) -> None:
        self.events.clear()
        self.sent.clear()
        self.smf.clear()

    # -- flows -------------------------------------------------------------------------------

    def register(self, ue: ScriptedUe, gnb: ScriptedGnb, reg_type: int = nas.RegistrationType.INITIAL,
                 identity: str = "auto", **kw: Any) -> ScriptedUe:
        gnb.connect(ue, ue.registration_request(reg_type, identity), **kw)
        return ue


# ---------------------------------------------------------------------------------------------- env

from testbed.core.amf import AmfConfig  # noqa: E402
from testbed.crypto.suci import PROFILE_A, PROFILE_B, generate_hn_keypair  # noqa: E402

from .amf_fakes import FakeAusf, FakeStore, FakeSubscriber, FakeUdm  # noqa: E402

HN_A = generate_hn_keypair(PROFILE_A)
HN_B = generate_hn_keypair(PROFILE_B)
HN_KEYS = {1: (PROFILE_A, HN_A[0]), 2: (PROFILE_B, HN_B[0])}
K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
OPC = bytes.fromhex("e8ed289deba952e4283b54e88e6183ca")
CAG_FEMTO = 0x00C0FFEE
CAG_OTHER = 0x00000BAD


class Env:
    """An AMF with fake UDM/AUSF/store and a harness; ``ue()`` provisions and builds a UE."""

    def __init__(self, **cfg: Any) -> None:
        self.udm = FakeUdm(dict(HN_KEYS))
        self.ausf = FakeAusf(self.udm)
        self.store = FakeStore()
        self.clock_now = 0.0
        self.amf = Amf(AmfConfig(mcc=MCC, mnc=MNC, **cfg), self.ausf, self.udm, self.store,
                       clock=lambda: self.clock_now)
        self.h = Harness(self.amf)
        self._msin = 1

    def ue(self, *, scheme: int = PROFILE_A, allowed_cag_ids: tuple[int, ...] = (), cag_only: bool = False,
           msisdn: str | None = None, provision: bool = True, **kw: Any) -> ScriptedUe:
        supi = Supi.imsi(MCC, MNC, f"{self._msin:010d}")
        self._msin += 1
        if provision:
            self.udm.add(FakeSubscriber(supi, K, OPC, frozenset(allowed_cag_ids), cag_only, msisdn=msisdn))
        pub, kid = {PROFILE_A: (HN_A[1], 1), PROFILE_B: (HN_B[1], 2)}.get(scheme, (None, 0))
        return ScriptedUe(supi, K, OPC, scheme=scheme, hn_pub=pub, key_id=kid, **kw)

    def femto(self, assoc: int = 1, gnb_id: int = 1, cag_ids: tuple[int, ...] = (CAG_FEMTO,),
              authorise: tuple[int, ...] | None = None, **kw: Any) -> ScriptedGnb:
        """A provisioned femto (authorised for ``authorise``, default its own CAG IDs) after NG Setup."""
        self.store.add_femto(MCC, MNC, gnb_id, 22, set(cag_ids if authorise is None else authorise))
        return self.h.setup(assoc, gnb_id, cag_ids=cag_ids, **kw)
