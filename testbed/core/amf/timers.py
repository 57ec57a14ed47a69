"""NAS timer expiry (TS 24.501 10.2): retransmit, abort on the fifth expiry.

Timer ids are ``"<name>:<AMF-UE-NGAP-ID>"``. On expiry the stored plain NAS message is protected
again (a retransmission uses a new NAS COUNT, TS 24.501 4.4.3.1) and resent in a DOWNLINK NAS
TRANSPORT; after ``max_retransmissions`` retransmissions the next expiry aborts the procedure:

* T3560 (authentication / security mode) and T3570 (identification): the registration is aborted
  and the N2 connection released (5.4.1.3.7 b, 5.4.2.7 b, 5.4.3.7 b);
* T3550 (REGISTRATION ACCEPT): the UE is considered registered, old and new 5G-GUTI valid
  (5.5.1.2.8 c);
* T3522 (network-initiated de-registration): de-registered locally (5.5.2.3.5 b);
* T3513 (paging, :mod:`.paging`): PAGING again or give up; it has its own state (the UE is in
  CM-IDLE, no NAS message to retransmit).

An expiry whose id does not match the UE's running timer (cancelled meanwhile) is ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.protocols import ngap

from . import deregistration, registration
from .outputs import Output, StartTimer

if TYPE_CHECKING:
    from .amf import Amf

__all__ = ["expired"]


def expired(amf: Amf, timer_id: str, out: list[Output]) -> None:
    name, _, sid = timer_id.partition(":")
    try:
        ctx = amf.ues.get(int(sid))
    except ValueError:
        ctx = None
    if name == "T3513":
        if ctx is not None:
            from . import paging

            paging.expired(amf, ctx, timer_id, out)
        return
    if ctx is None or ctx.timer != timer_id or ctx.retx_plain is None:
        return
    ctx.retx_count += 1
    aid = ctx.amf_ue_ngap_id
    if ctx.retx_count <= amf.config.max_retransmissions:
        sht = None if ctx.retx_sht < 0 else ctx.retx_sht
        amf.send_nas(ctx, ctx.retx_plain, out, sht)
        out.append(StartTimer(timer_id, amf.config.timer_seconds(name)))
        amf.event(out, "nas_retransmission", amf_ue_ngap_id=aid, timer=name, count=ctx.retx_count)
        return
    proc = ctx.proc
    ctx.timer = None
    ctx.retx_plain = None
    amf.event(out, "procedure_aborted", amf_ue_ngap_id=aid, timer=name, procedure=proc, supi=ctx.supi_str,
              expiries=ctx.retx_count)
    ctx.retx_count = 0
    if name == "T3550":
        registration.accept_timeout(amf, ctx, out)
    elif name == "T3522":
        deregistration.finish_network_initiated(amf, ctx, out, timeout=True)
    else:
        amf.forget_auth(ctx)
        ctx.new_sec = None
        amf.release_n2(ctx, ngap.Cause("nas", "unspecified"), out)
