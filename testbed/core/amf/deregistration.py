"""De-registration (TS 24.501 5.5.2, TS 23.502 4.2.2.3) and UE context release (TS 38.413
8.3.2, 8.3.3).

* UE-originating: DEREGISTRATION ACCEPT unless it is a switch-off (5.5.2.2.2), ``SmfReleaseAll``,
  UE CONTEXT RELEASE COMMAND (cause nas/deregister). As an initial NAS message it is acted on only
  if it passed the integrity check with the context its 5G-GUTI names; otherwise only the new N2
  connection is released (``Event("deregistration_unverified")``): an unauthenticated
  de-registration would let anyone de-register any UE.
* Network-initiated (:func:`network_initiated`): DEREGISTRATION REQUEST (UE terminated), T3522;
  DEREGISTRATION ACCEPT or the fifth expiry of T3522 (5.5.2.3.4) ends it. A UE in CM-IDLE is paged
  first (TS 24.501 5.5.2.3.1, :mod:`.paging`): the request follows its SERVICE ACCEPT; if paging
  fails it is de-registered implicitly (locally).
* UE CONTEXT RELEASE REQUEST from the gNB -> COMMAND; COMPLETE drops the N2 binding: a registered
  UE stays registered in CM-IDLE (its 5G-GUTI keeps working), any other context is removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.protocols import nas, ngap

from .context import UeContext
from .outputs import Output, SmfReleaseAll

if TYPE_CHECKING:
    from .amf import Amf

__all__ = [
    "accept_ue_terminated",
    "network_initiated",
    "release_complete",
    "release_request",
    "ue_originating",
    "ue_originating_initial",
]


def ue_originating_initial(amf: Amf, ctx: UeContext, msg: nas.DeregistrationRequestUeOriginating,
                           verified: UeContext | None, out: list[Output]) -> None:
    if verified is None:
        amf.event(out, "deregistration_unverified", amf_ue_ngap_id=ctx.amf_ue_ngap_id,
                  switch_off=msg.deregistration_type.switch_off)
        amf.release_n2(ctx, ngap.Cause("nas", "normal-release"), out)
        return
    amf.adopt(ctx, verified, out)
    ctx.sec_active = True
    ue_originating(amf, ctx, msg, out)


def ue_originating(amf: Amf, ctx: UeContext, msg: nas.DeregistrationRequestUeOriginating,
                   out: list[Output]) -> None:
    """UE-originating de-registration (TS 24.501 5.5.2.2)."""
    switch_off = msg.deregistration_type.switch_off
    amf.stop_timer(ctx, out)
    amf.forget_auth(ctx)
    amf.event(out, "deregistration", initiator="ue", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str,
              switch_off=switch_off)
    if not switch_off:
        amf.send_nas(ctx, nas.DeregistrationAcceptUeOriginating().encode(), out)
    if ctx.supi is not None:
        out.append(SmfReleaseAll(ctx.supi.to_string()))
    amf.deregister_local(ctx)
    amf.release_n2(ctx, ngap.Cause("nas", "deregister"), out)


def network_initiated(amf: Amf, supi: str, cause: int | None, out: list[Output],
                      cag_info: tuple[nas.CagInfo, ...] | None = None) -> None:
    """Network-initiated de-registration (TS 24.501 5.5.2.3)."""
    ctx = amf.by_supi.get(supi)
    if ctx is None:
        amf.event(out, "deregistration_unknown_ue", supi=supi)
        return
    if not ctx.connected:
        from . import paging

        amf.event(out, "deregistration_paging", supi=supi, cause=cause, amf_ue_ngap_id=ctx.amf_ue_ngap_id)
        paging.page(amf, ctx, out, after=("dereg", cause, cag_info))  # implicit if the UE cannot be reached
        return
    plain = nas.DeregistrationRequestUeTerminated(
        deregistration_type=nas.DeregistrationType(nas.DeregistrationAccessType.THREEGPP),
        cause=cause, cag_information_list=cag_info).encode()
    amf.forget_auth(ctx)
    ctx.reg = None
    amf.send_nas(ctx, plain, out)
    amf.start_nas_timer(ctx, "T3522", plain, None, out)
    ctx.proc = "dereg"
    amf.event(out, "deregistration", initiator="network", supi=supi, cause=cause, implicit=False,
              amf_ue_ngap_id=ctx.amf_ue_ngap_id)


def accept_ue_terminated(amf: Amf, ctx: UeContext, out: list[Output]) -> None:
    """DEREGISTRATION ACCEPT (UE terminated) (TS 24.501 5.5.2.3.2)."""
    if ctx.proc != "dereg":
        amf.event(out, "nas_unexpected", amf_ue_ngap_id=ctx.amf_ue_ngap_id, message="DeregistrationAccept",
                  procedure=ctx.proc)
        return
    finish_network_initiated(amf, ctx, out)


def finish_network_initiated(amf: Amf, ctx: UeContext, out: list[Output], *, timeout: bool = False) -> None:
    amf.stop_timer(ctx, out)
    amf.event(out, "deregistration_complete", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str,
              timeout=timeout)
    if ctx.supi is not None:
        out.append(SmfReleaseAll(ctx.supi.to_string()))
    amf.deregister_local(ctx)
    amf.release_n2(ctx, ngap.Cause("nas", "deregister"), out)


def release_request(amf: Amf, ctx: UeContext, msg: ngap.UEContextReleaseRequest, out: list[Output]) -> None:
    """UE CONTEXT RELEASE REQUEST (TS 38.413 8.3.2): answer with the COMMAND."""
    amf.event(out, "ue_context_release_request", amf_ue_ngap_id=ctx.amf_ue_ngap_id, cause=str(msg.cause))
    amf.release_n2(ctx, msg.cause, out)


def release_complete(amf: Amf, ctx: UeContext, msg: ngap.UEContextReleaseComplete, out: list[Output]) -> None:
    """UE CONTEXT RELEASE COMPLETE (TS 38.413 8.3.3)."""
    registered = ctx.registered
    amf.finish_release(ctx, out)
    amf.event(out, "ue_context_release", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str,
              cm="idle" if registered else "removed")
