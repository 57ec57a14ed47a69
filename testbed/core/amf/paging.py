"""Paging: network-triggered service request (TS 23.502 4.2.3.3, TS 24.501 5.6.2, TS 38.413 8.5.1).

* :func:`n1n2_message_transfer` - Namf_Communication_N1N2MessageTransfer from the SMF for downlink
  data of a PDU session without user plane: a UE in CM-IDLE is paged; for a UE in CM-CONNECTED the
  user plane is re-activated at once (:func:`.service.activate_for_downlink`).
* :func:`page` - NGAP PAGING (non-UE-associated, stream 0) with the UE's 5G-S-TMSI (never the SUPI)
  and the TAIs of its registration area, to every gNB serving one of those TAs; timer T3513. A
  second request while paging runs only adds its PDU session (no new PAGING).
* T3513 expiry (:func:`expired`): PAGING again, ``paging_retransmissions`` times (default once);
  then the AMF gives up: ``Event("paging_failed")``, :class:`SmfPagingFailed` for the sessions with
  downlink data (TS 23.502 4.2.3.3 step 4), and what waited for the UE runs without it (a
  network-initiated de-registration becomes implicit/local, TS 24.501 5.5.2.3.1).
* :func:`stop` - the UE answered (SERVICE REQUEST, or any identified initial message): T3513 stops.

Paging a UE that is not registered, has no 5G-GUTI or whose TAs no connected gNB serves fails at
once (``paging_failed`` with a reason).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.protocols import nas, ngap

from .context import PagingState, UeContext
from .outputs import CancelTimer, Output, SmfPagingFailed, SmfReleaseAll, StartTimer

if TYPE_CHECKING:
    from .amf import Amf

__all__ = ["expired", "n1n2_message_transfer", "page", "run_after", "stop"]


def n1n2_message_transfer(amf: Amf, supi: str, psi: int, out: list[Output]) -> None:
    """Namf_Communication_N1N2MessageTransfer (N2 SM information to follow) for PDU session ``psi``."""
    from . import service

    ctx = amf.by_supi.get(supi)
    if ctx is None or not ctx.registered or psi not in (ctx.pdu_sessions or {}):
        amf.event(out, "n1n2_transfer_failed", supi=supi, pdu_session_id=psi,
                  reason="unknown-ue" if ctx is None or not ctx.registered else "unknown-pdu-session")
        out.append(SmfPagingFailed(supi, (psi,)))
        return
    if ctx.connected:
        if ctx.ics_done or ctx.svc is not None:
            service.activate_for_downlink(amf, ctx, psi, out)
        else:  # a procedure (registration, service request) is setting the connection up: after it
            ctx.dl_pending = ctx.dl_pending | {psi}
            amf.event(out, "n1n2_transfer_deferred", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=supi,
                      pdu_session_id=psi, procedure=ctx.proc)
        return
    page(amf, ctx, out, psis=(psi,))


def _tais(amf: Amf, ctx: UeContext) -> tuple[int, ...]:
    if ctx.tais:
        return ctx.tais[:ngap.MAX_TAIS_FOR_PAGING]
    return ((ctx.tac,) if ctx.tac is not None else amf.config.tacs)[:ngap.MAX_TAIS_FOR_PAGING]


def _send_paging(amf: Amf, ctx: UeContext, out: list[Output]) -> int:
    """PAGING to every gNB serving a TA of the UE's registration area; returns how many got it."""
    assert ctx.guti is not None
    c = amf.config
    tacs = _tais(amf, ctx)
    msg = ngap.Paging(ngap.FiveGSTmsi(c.amf_set_id, c.amf_pointer, ctx.guti.tmsi),
                      tuple(ngap.Tai(amf.plmn, t) for t in tacs))
    n = 0
    for gnb in amf.gnb_contexts.values():
        if set(gnb.tacs) & set(tacs):
            amf.send_ngap(gnb.assoc, msg, out)
            n += 1
    return n


def page(amf: Amf, ctx: UeContext, out: list[Output], *, psis: tuple[int, ...] = (),
         after: tuple | None = None) -> bool:
    """Page the UE in CM-IDLE (TS 23.502 4.2.3.3 step 4b); False if it cannot be paged (then the
    failure has been handled: :func:`_give_up`)."""
    if ctx.paging is not None:  # already paging: the new data waits for the same answer
        ctx.paging.psis.update(psis)
        if after is not None:
            ctx.paging.after = after
        amf.event(out, "paging_pending", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str,
                  pdu_session_ids=sorted(ctx.paging.psis))
        return True
    state = PagingState(f"T3513:{ctx.amf_ue_ngap_id}", set(psis), 1, after)
    ctx.paging = state
    if not ctx.registered or ctx.guti is None:
        _give_up(amf, ctx, out, "not-registered")
        return False
    n = _send_paging(amf, ctx, out)
    if n == 0:
        _give_up(amf, ctx, out, "no-gnb-serves-the-registration-area")
        return False
    out.append(StartTimer(state.timer, amf.config.t3513))
    amf.event(out, "paging_sent", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str, gnbs=n, attempt=1,
              pdu_session_ids=sorted(state.psis), reason=after[0] if after else "downlink-data",
              tacs=list(_tais(amf, ctx)))
    return True


def expired(amf: Amf, ctx: UeContext, timer_id: str, out: list[Output]) -> None:
    """T3513 expiry: page again, or give up after ``paging_retransmissions`` retransmissions."""
    state = ctx.paging
    if state is None or state.timer != timer_id:
        return
    if ctx.connected:  # the UE came back some other way meanwhile
        ctx.paging = None
        return
    if state.attempts <= amf.config.paging_retransmissions:
        state.attempts += 1
        n = _send_paging(amf, ctx, out)
        if n:
            out.append(StartTimer(state.timer, amf.config.t3513))
            amf.event(out, "paging_sent", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str, gnbs=n,
                      attempt=state.attempts, pdu_session_ids=sorted(state.psis), retransmission=True)
            return
    _give_up(amf, ctx, out, "no-answer")


def _give_up(amf: Amf, ctx: UeContext, out: list[Output], reason: str) -> None:
    state = ctx.paging
    ctx.paging = None
    if state is None:
        return
    supi = ctx.supi_str
    amf.event(out, "paging_failed", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=supi, reason=reason,
              attempts=state.attempts, pdu_session_ids=sorted(state.psis))
    if state.psis and supi is not None:
        out.append(SmfPagingFailed(supi, tuple(sorted(state.psis))))
    if state.after is not None and state.after[0] == "dereg":
        _implicit_deregistration(amf, ctx, state.after[1], out)


def _implicit_deregistration(amf: Amf, ctx: UeContext, cause: int | None, out: list[Output]) -> None:
    """The UE could not be reached for a network-initiated de-registration: local (implicit) one."""
    supi = ctx.supi_str
    amf.event(out, "deregistration", initiator="network", supi=supi, cause=cause, implicit=True,
              amf_ue_ngap_id=ctx.amf_ue_ngap_id)
    if supi is not None:
        out.append(SmfReleaseAll(supi))
    amf.deregister_local(ctx)
    if not ctx.connected:
        amf.remove_ue(ctx)


def stop(amf: Amf, ctx: UeContext | None, out: list[Output]) -> PagingState | None:
    """The UE answered: stop T3513; returns what the paging was for (None if it was not paged)."""
    if ctx is None or ctx.paging is None:
        return None
    state = ctx.paging
    ctx.paging = None
    out.append(CancelTimer(state.timer))
    amf.event(out, "paging_answered", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str, attempts=state.attempts,
              pdu_session_ids=sorted(state.psis))
    return state


def run_after(amf: Amf, ctx: UeContext, after: tuple, out: list[Output]) -> None:
    """What waited for the paged UE, now that it is connected and its SERVICE ACCEPT went out."""
    from . import configuration_update, deregistration

    supi = ctx.supi_str
    if supi is None:
        return
    if after[0] == "dereg":
        cag_info: tuple[nas.CagInfo, ...] | None = after[2] if len(after) > 2 else None
        deregistration.network_initiated(amf, supi, after[1], out, cag_info=cag_info)
    elif after[0] == "cag":
        configuration_update.refresh_cag(amf, supi, out)
