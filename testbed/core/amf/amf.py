"""The sans-I/O AMF facade (TS 23.501 6.2.1, TS 23.502 4.2.2, TS 24.501, TS 38.413).

:class:`Amf` owns the state (gNB and UE contexts and their indexes) and the small helpers the
procedure modules share (sending NGAP/NAS, NAS protection, timers, releasing and dropping
contexts). Every public method returns a list of :mod:`.outputs` and never raises on bad input:
an unexpected exception inside a handler becomes ``Event("internal_error")`` and the input is
dropped.

The procedures live in their own modules: :mod:`.ngap_handler` (N2 dispatch and the cross-gNB
checks), :mod:`.ng_setup`, :mod:`.nas_handler` (N1 dispatch and NAS security checks),
:mod:`.registration`, :mod:`.authentication`, :mod:`.security_mode`, :mod:`.cag`,
:mod:`.deregistration` (de-registration and UE context release), :mod:`.session` (5GSM relay to
the SMF), :mod:`.configuration_update` and :mod:`.timers`. :mod:`.fastpath` serves the hot-path
NGAP/NAS encodings and decodings from templates learned from the real codecs
(``AmfConfig.codec_cache``; 0 disables it).
"""

from __future__ import annotations

import secrets
import time
import traceback
from collections.abc import Callable
from typing import Any

from testbed.crypto.identity import Guti5g
from testbed.protocols import nas, ngap

from . import configuration_update, deregistration, ngap_handler, paging, session
from .config import AmfConfig
from .context import GnbContext, UeContext
from .fastpath import AmfCodecCache
from .outputs import (
    UE_STREAM,
    CancelTimer,
    Event,
    Output,
    SendNgap,
    SmfDeactivate,
    SmfPagingFailed,
    SmReply,
    StartTimer,
)

__all__ = ["UE_STREAM", "Amf"]

_MAX_AMF_UE_NGAP_ID = (1 << 40) - 1


class Amf:
    """The AMF: feed it N2 associations, NGAP PDUs, timer expiries and SMF replies.

    ``ausf``, ``udm`` and ``store`` follow the contracts of :mod:`testbed.core.ausf`,
    :mod:`testbed.core.udm` and :mod:`testbed.core.udr` (``Ausf.start/confirm/resync/forget``,
    ``Udm.subscription``, ``SubscriberStore.femto_authorised_cags``).
    """

    def __init__(self, config: AmfConfig, ausf: Any, udm: Any, store: Any, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.ausf = ausf
        self.udm = udm
        self.store = store
        self.clock = clock
        self.plmn = config.plmn
        self.nas_plmn = nas.PlmnId(config.mcc, config.mnc)
        self.guami = config.guami
        self.sn_name = config.sn_name
        self.assocs: dict[int, str] = {}
        self.gnb_contexts: dict[int, GnbContext] = {}
        self.ues: dict[int, UeContext] = {}
        self.by_supi: dict[str, UeContext] = {}
        self.by_tmsi: dict[int, UeContext] = {}
        self.n2: dict[tuple[int, int], int] = {}
        self._next_id = 1
        self.codec = AmfCodecCache(config.codec_cache)

    # ------------------------------------------------------------------ facade

    def association_up(self, assoc: int, peer: str) -> list[Output]:
        """A new N2 association (SCTP) with id ``assoc`` chosen by the runner."""
        return self._guard("association_up", lambda out: self._association_up(assoc, peer, out))

    def association_down(self, assoc: int) -> list[Output]:
        """The association is gone: drop its gNB and the N2 binding of its UEs (registered UEs go
        to CM-IDLE and keep their registration)."""
        return self._guard("association_down", lambda out: self._association_down(assoc, out))

    def ngap_received(self, assoc: int, data: bytes, stream: int = 0) -> list[Output]:
        """One NGAP PDU from association ``assoc``."""
        return self._guard("ngap_received", lambda out: ngap_handler.handle(self, assoc, data, stream, out),
                           assoc=assoc)

    def timer_expired(self, timer_id: str) -> list[Output]:
        """Timer ``timer_id`` (from a :class:`StartTimer`) expired."""
        return self._guard("timer_expired", lambda out: self._timer_expired(timer_id, out))

    def smf_reply(self, amf_ue_ngap_id: int, reply: SmReply) -> list[Output]:
        """The SMF's answer for the UE with this AMF-UE-NGAP-ID."""
        return self._guard("smf_reply", lambda out: session.smf_reply(self, amf_ue_ngap_id, reply, out))

    def n1n2_message_transfer(self, supi: str, pdu_session_id: int) -> list[Output]:
        """Namf_Communication_N1N2MessageTransfer from the SMF (TS 23.502 4.2.3.3 step 3a): downlink
        data waits in the UPF for PDU session ``pdu_session_id``: page the UE if it is in CM-IDLE,
        re-activate the user plane if it is in CM-CONNECTED."""
        return self._guard("n1n2_message_transfer",
                           lambda out: paging.n1n2_message_transfer(self, supi, pdu_session_id, out))

    def deregister(self, supi: str, cause: int | None = None) -> list[Output]:
        """Network-initiated de-registration (TS 24.501 5.5.2.3) of the UE ``supi`` (paged first when
        it is in CM-IDLE)."""
        return self._guard("deregister", lambda out: deregistration.network_initiated(self, supi, cause, out))

    def refresh_cag(self, supi: str) -> list[Output]:
        """The UE's Allowed CAG list changed: CONFIGURATION UPDATE COMMAND with the new CAG
        information list, or de-registration with #76 if the current cell is no longer allowed."""
        return self._guard("refresh_cag", lambda out: configuration_update.refresh_cag(self, supi, out))

    def ue_contexts(self) -> list[dict]:
        """Every UE context (operator view: includes SUPIs)."""
        return [ctx.describe() for ctx in self.ues.values()]

    def gnbs(self) -> list[dict]:
        """Every gNB after NG Setup (operator view)."""
        return [g.describe() for g in self.gnb_contexts.values()]

    # ------------------------------------------------------------------ internals

    def _guard(self, where: str, fn: Callable[[list[Output]], None], **ctx: Any) -> list[Output]:
        out: list[Output] = []
        try:
            fn(out)
        except Exception as exc:  # noqa: BLE001 - never let bad input crash the AMF
            tb = traceback.extract_tb(exc.__traceback__)
            loc = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else "?"
            return [Event("internal_error", {"where": where, "error": f"{type(exc).__name__}: {exc}",
                                             "at": loc, **ctx})]
        return out

    def _association_up(self, assoc: int, peer: str, out: list[Output]) -> None:
        if assoc in self.assocs:
            self._association_down(assoc, out)
        self.assocs[assoc] = peer

    def _association_down(self, assoc: int, out: list[Output]) -> None:
        gnb = self.gnb_contexts.pop(assoc, None)
        self.assocs.pop(assoc, None)
        if gnb is not None:
            self.drop_gnb_ues(gnb, out)
            self.event(out, "gnb_down", assoc=assoc, gnb_id=gnb.global_id.gnb_id)

    def drop_gnb_ues(self, gnb: GnbContext, out: list[Output]) -> None:
        for amf_id in list(gnb.ue_ids):
            ctx = self.ues.get(amf_id)
            if ctx is not None:
                self.detach_n2(ctx, out)
        gnb.ue_ids.clear()

    def _timer_expired(self, timer_id: str, out: list[Output]) -> None:
        from . import timers

        timers.expired(self, timer_id, out)

    # ------------------------------------------------------------------ ids

    def alloc_amf_ue_ngap_id(self) -> int:
        while True:
            i = self._next_id
            self._next_id = 1 if i >= _MAX_AMF_UE_NGAP_ID else i + 1
            if i not in self.ues:
                return i

    def new_guti(self) -> Guti5g:
        """A fresh 5G-GUTI with an unpredictable, unused 5G-TMSI (TS 33.501 6.12.3)."""
        while True:
            tmsi = secrets.randbits(32)
            if tmsi not in self.by_tmsi:
                c = self.config
                return Guti5g(c.mcc, c.mnc, c.amf_region_id, c.amf_set_id, c.amf_pointer, tmsi)

    def lookup_guti(self, ident: object) -> UeContext | None:
        """The context of a 5G-GUTI / 5G-S-TMSI that this AMF allocated."""
        c = self.config
        if isinstance(ident, Guti5g):
            if (ident.mcc, ident.mnc, ident.amf_region_id) != (c.mcc, c.mnc, c.amf_region_id):
                return None
        elif not isinstance(ident, nas.STmsi5g | ngap.FiveGSTmsi):
            return None
        if (ident.amf_set_id, ident.amf_pointer) != (c.amf_set_id, c.amf_pointer):
            return None
        ctx = self.by_tmsi.get(ident.tmsi)
        if ctx is None:
            return None
        if (ctx.guti is None or ctx.guti.tmsi != ident.tmsi) and (ctx.old_guti is None or
                                                                  ctx.old_guti.tmsi != ident.tmsi):
            return None
        return ctx

    # ------------------------------------------------------------------ output helpers

    @staticmethod
    def event(out: list[Output], type_: str, **fields: Any) -> None:
        out.append(Event(type_, fields))

    def send_ngap(self, assoc: int, msg: ngap.NgapMessage, out: list[Output], stream: int = 0) -> None:
        out.append(SendNgap(assoc, ngap.encode(msg), stream))

    def send_ue_ngap(self, ctx: UeContext, msg: ngap.NgapMessage, out: list[Output]) -> None:
        if ctx.assoc is None:
            return
        out.append(SendNgap(ctx.assoc, ngap.encode(msg), UE_STREAM))

    def protect(self, ctx: UeContext, plain: bytes, sht: int | None = None) -> bytes:
        """Protect a plain 5GMM message for the UE (TS 24.501 4.4.5).

        ``sht`` None: integrity protected and ciphered with the current context if NAS security is
        active on this connection, else plain. 3: SECURITY MODE COMMAND with the new context.
        0: plain.
        """
        if sht == 0:
            return plain
        if sht == nas.SecurityHeaderType.INTEGRITY_PROTECTED_NEW_CONTEXT:
            assert ctx.new_sec is not None
            return ctx.new_sec.protect(plain, sht)
        if ctx.sec_active and ctx.sec is not None:
            return ctx.sec.protect(plain, sht or nas.SecurityHeaderType.INTEGRITY_PROTECTED_AND_CIPHERED)
        return plain

    def send_nas(self, ctx: UeContext, plain: bytes, out: list[Output], sht: int | None = None) -> None:
        """DOWNLINK NAS TRANSPORT with ``plain`` protected per :meth:`protect`."""
        if ctx.assoc is None or ctx.ran_ue_ngap_id is None:
            return
        pdu = self.protect(ctx, plain, sht)
        data = self.codec.downlink_nas_transport(ctx.amf_ue_ngap_id, ctx.ran_ue_ngap_id, pdu)
        out.append(SendNgap(ctx.assoc, data, UE_STREAM))

    def start_nas_timer(self, ctx: UeContext, name: str, plain: bytes, sht: int | None,
                        out: list[Output]) -> None:
        """Remember ``plain`` for retransmission and start ``name`` (TS 24.501 10.2)."""
        self.stop_timer(ctx, out)
        ctx.timer = f"{name}:{ctx.amf_ue_ngap_id}"
        ctx.retx_plain = plain
        ctx.retx_sht = -1 if sht is None else sht
        ctx.retx_count = 0
        out.append(StartTimer(ctx.timer, self.config.timer_seconds(name)))

    def stop_timer(self, ctx: UeContext, out: list[Output]) -> None:
        if ctx.timer is not None:
            out.append(CancelTimer(ctx.timer))
            ctx.timer = None
            ctx.retx_plain = None
            ctx.retx_count = 0

    # ------------------------------------------------------------------ context lifecycle

    def new_ue(self, assoc: int, ran_ue_ngap_id: int) -> UeContext:
        ctx = UeContext(self.alloc_amf_ue_ngap_id(), ran_ue_ngap_id, assoc)
        self.ues[ctx.amf_ue_ngap_id] = ctx
        self.n2[(assoc, ran_ue_ngap_id)] = ctx.amf_ue_ngap_id
        gnb = self.gnb_contexts.get(assoc)
        if gnb is not None:
            gnb.ue_ids.add(ctx.amf_ue_ngap_id)
        return ctx

    def release_n2(self, ctx: UeContext, cause: ngap.Cause, out: list[Output]) -> None:
        """UE CONTEXT RELEASE COMMAND (TS 38.413 8.3.3); the context goes on release complete."""
        self.stop_timer(ctx, out)
        ctx.proc = None
        if ctx.assoc is None:
            self.finish_release(ctx, out)
            return
        ctx.releasing = True
        self.send_ue_ngap(ctx, ngap.UEContextReleaseCommand(ctx.amf_ue_ngap_id, cause, ctx.ran_ue_ngap_id), out)

    def detach_n2(self, ctx: UeContext, out: list[Output]) -> None:
        """Forget the N2 binding without signalling (association lost, NG Reset, NG Setup again)."""
        self.finish_release(ctx, out)

    def finish_release(self, ctx: UeContext, out: list[Output]) -> None:
        """The N2 connection is gone: a registered UE goes to CM-IDLE, any other context is dropped."""
        self.stop_timer(ctx, out)
        if ctx.assoc is not None:
            gnb = self.gnb_contexts.get(ctx.assoc)
            if gnb is not None:
                gnb.ue_ids.discard(ctx.amf_ue_ngap_id)
            if ctx.ran_ue_ngap_id is not None and self.n2.get((ctx.assoc, ctx.ran_ue_ngap_id)) == ctx.amf_ue_ngap_id:
                del self.n2[(ctx.assoc, ctx.ran_ue_ngap_id)]
        ctx.assoc = None
        ctx.ran_ue_ngap_id = None
        ctx.releasing = False
        ctx.ics_done = False
        ctx.proc = None
        ctx.new_sec = None
        ctx.sec_active = False
        ctx.svc = None
        if ctx.reg is not None:
            self.forget_auth(ctx)
            ctx.reg = None
        if ctx.pdu_sessions:
            for s in ctx.pdu_sessions.values():
                s.active = False
            if ctx.registered and ctx.supi is not None:
                # AN release (TS 23.502 4.2.6 step 5): the SMF deactivates the UP connections
                out.append(SmfDeactivate(ctx.supi.to_string(), tuple(sorted(ctx.pdu_sessions))))
        if not ctx.registered:
            self.remove_ue(ctx)

    def remove_ue(self, ctx: UeContext) -> None:
        """Drop every trace of ``ctx`` (it must have no N2 binding left)."""
        ctx.paging = None  # a T3513 expiry for it finds no context
        if self.ues.get(ctx.amf_ue_ngap_id) is ctx:
            del self.ues[ctx.amf_ue_ngap_id]
        self.unindex(ctx)

    def unindex(self, ctx: UeContext) -> None:
        s = ctx.supi_str
        if s is not None and self.by_supi.get(s) is ctx:
            del self.by_supi[s]
        for g in (ctx.guti, ctx.old_guti):
            if g is not None and self.by_tmsi.get(g.tmsi) is ctx:
                del self.by_tmsi[g.tmsi]

    def forget_auth(self, ctx: UeContext) -> None:
        if ctx.reg is not None and ctx.reg.auth_ctx_id is not None:
            try:
                self.ausf.forget(ctx.reg.auth_ctx_id)
            except Exception:  # noqa: BLE001 - best effort
                pass
            ctx.reg.auth_ctx_id = None

    def deregister_local(self, ctx: UeContext) -> None:
        """5GMM-DEREGISTERED: the UE's GUTIs and SUPI mapping go; the N2 binding (if any) stays until
        released."""
        self.unindex(ctx)
        ctx.registered = False
        ctx.guti = None
        ctx.old_guti = None
        ctx.pdu_sessions = None

    def adopt(self, ctx: UeContext, old: UeContext, out: list[Output], *, keep_sessions: bool = True) -> None:
        """``ctx`` (a new N2 connection) is the UE of ``old``: move the registration here and end
        ``old``'s N2 connection (TS 23.502 4.2.2.2.2: the old signalling connection is released)."""
        if old is ctx:
            return
        self.stop_timer(old, out)
        if old.paging is not None:  # the UE came back without a service request: stop paging
            p = paging.stop(self, old, out)
            if p is not None and p.psis and old.supi is not None:  # the SMF re-arms its downlink data report
                out.append(SmfPagingFailed(old.supi.to_string(), tuple(sorted(p.psis))))
            if p is not None and p.after is not None:  # runs once the registration is complete
                ctx.after_registration = p.after
        self.unindex(old)
        if not keep_sessions and old.pdu_sessions and old.supi is not None:
            from .outputs import SmfReleaseAll

            out.append(SmfReleaseAll(old.supi.to_string()))
            old.pdu_sessions = None
        ctx.take_over(old)
        if not keep_sessions:
            ctx.pdu_sessions = None
            ctx.guti = None
        old.registered = False
        old.supi = None
        old.guti = old.old_guti = None
        old.sec = None
        old.pdu_sessions = None
        self.index(ctx)
        if old.assoc is not None:
            self.event(out, "ue_context_replaced", old_amf_ue_ngap_id=old.amf_ue_ngap_id,
                       new_amf_ue_ngap_id=ctx.amf_ue_ngap_id)
            self.release_n2(old, ngap.Cause("nas", "normal-release"), out)
        else:
            self.remove_ue(old)

    def index(self, ctx: UeContext) -> None:
        if ctx.supi is not None:
            self.by_supi[ctx.supi.to_string()] = ctx
        for g in (ctx.guti, ctx.old_guti):
            if g is not None:
                self.by_tmsi[g.tmsi] = ctx
