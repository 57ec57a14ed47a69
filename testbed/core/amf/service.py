"""Service request with user-plane re-activation (TS 24.501 5.6.1, TS 23.502 4.2.3.2) and the
network side of UP activation for a UE in CM-CONNECTED (TS 23.502 4.2.3.3 step 3a).

SERVICE REQUEST (an initial NAS message, :func:`service_request`):

* only with a verified NAS security context of a registered UE; otherwise SERVICE REJECT #9 and the
  N2 connection is released (no user plane is touched);
* the complete message (Uplink data status, PDU session status) comes ciphered in the NAS message
  container (TS 24.501 4.4.6; the nas_handler deciphers it);
* CAG admission as for registration (TS 23.501 5.30.3.3): #76 with the CAG information list;
* PDU sessions to re-activate (5.6.1.4.1): those in the Uplink data status IE, plus, for
  "mobile terminated services" (an answer to paging), those with downlink data waiting; only
  sessions the AMF knows. For each the SMF gets :class:`SmfActivate` (Nsmf_PDUSession_UpdateSMContext)
  and answers with the PDU Session Resource Setup Request Transfer (kind "activate") or "error";
* once every answer is in: SERVICE ACCEPT (protected) with the PDU session status (when the UE sent
  one) and the PDU session reactivation result (bit set = not re-established, 9.11.3.42) carried in
  the INITIAL CONTEXT SETUP REQUEST with the PDU Session Resource Setup Request List (TS 38.413
  8.3.1; KgNB from the request's uplink NAS COUNT) - or, on a connection where the gNB already
  holds the UE context, in a PDU SESSION RESOURCE SETUP REQUEST (8.2.1) / DOWNLINK NAS TRANSPORT;
* the gNB's PDU Session Resource Setup Response Transfers (in the INITIAL CONTEXT SETUP RESPONSE)
  go to the SMF (:class:`SmfN2Response`), which points the UPF's downlink FAR at the new gNB
  tunnel (the UPF sends what it buffered);
* what waited for the UE to come back (network-initiated de-registration, a CAG refresh) runs
  right after the SERVICE ACCEPT.

Events: ``service_request`` (type, requested sessions), ``service_request_accepted`` (reactivated and
failed PDU session IDs), ``service_reject``, ``pdu_session_reactivated`` (network-triggered, UE
connected).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.crypto import keys
from testbed.protocols import nas, ngap

from . import paging
from .context import ServiceState, UeContext
from .outputs import UE_STREAM, Output, SendNgap, SmfActivate, SmReply

if TYPE_CHECKING:
    from .amf import Amf

__all__ = ["activate_for_downlink", "service_request", "smf_answer"]

_C = nas.FiveGmmCause
_ST = nas.ServiceType
_TYPE_NAMES = {0: "signalling", 1: "data", 2: "mobile-terminated", 3: "emergency", 4: "emergency-fallback",
               5: "high-priority", 6: "elevated-signalling"}


def service_request(amf: Amf, ctx: UeContext, msg: nas.ServiceRequest, verified: UeContext | None,
                    out: list[Output]) -> None:
    """SERVICE REQUEST in an INITIAL UE MESSAGE (see the module docstring)."""
    from .registration import _cag_decision, cag_info_list

    aid = ctx.amf_ue_ngap_id
    st = int(msg.service_type)
    if verified is None or not verified.registered:
        amf.event(out, "service_reject", amf_ue_ngap_id=aid, cause=int(_C.UE_IDENTITY_CANNOT_BE_DERIVED),
                  reason="unverified", service_type=_TYPE_NAMES.get(st, st))
        amf.send_nas(ctx, nas.ServiceReject(cause=_C.UE_IDENTITY_CANNOT_BE_DERIVED).encode(), out, 0)
        amf.release_n2(ctx, ngap.Cause("nas", "normal-release"), out)
        return
    paged = paging.stop(amf, verified, out)  # the UE answered (whatever the service type)
    amf.adopt(ctx, verified, out)
    ctx.sec_active = True
    ctx.emergency = ctx.emergency or st in (3, 4)
    sessions = ctx.pdu_sessions or {}
    requested = set(msg.uplink_data_status or ())
    waiting = set(ctx.dl_pending) | (paged.psis if paged is not None else set())
    if st == _ST.MOBILE_TERMINATED_SERVICES or waiting:
        requested |= waiting  # downlink data waits for these (TS 24.501 5.6.1.4.1, TS 23.502 4.2.3.3)
    ctx.dl_pending = frozenset()
    amf.event(out, "service_request", amf_ue_ngap_id=aid, supi=ctx.supi_str, service_type=_TYPE_NAMES.get(st, st),
              uplink_data_status=sorted(msg.uplink_data_status or ()), paged=paged is not None,
              pdu_session_status=None if msg.pdu_session_status is None else sorted(msg.pdu_session_status))
    d = _cag_decision(amf, ctx)
    if not d.allowed:
        amf.event(out, "cag_reject", amf_ue_ngap_id=aid, supi=ctx.supi_str, cell_cag_ids=list(ctx.cell_cag_ids),
                  reason=d.reason, procedure="service")
        plain = nas.ServiceReject(cause=_C.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY,
                                  cag_information_list=cag_info_list(amf, ctx.subscription)).encode()
        amf.send_nas(ctx, plain, out)
        amf.event(out, "service_reject", amf_ue_ngap_id=aid, supi=ctx.supi_str, cause=76, reason=d.reason)
        amf.release_n2(ctx, ngap.Cause("nas", "normal-release"), out)
        if paged is not None and paged.psis and ctx.supi is not None:
            from .outputs import SmfPagingFailed

            out.append(SmfPagingFailed(ctx.supi.to_string(), tuple(sorted(paged.psis))))
        return
    known = sorted(p for p in requested if p in sessions)
    svc = ServiceState(nas=True, service_type=st, requested=frozenset(requested), pending=set(known),
                       ue_status=msg.pdu_session_status, cell_cag_id=d.matched,
                       after=paged.after if paged is not None else None)
    svc.failed = requested - set(known)  # sessions the network does not have: not re-established
    svc.ul_count = max(ctx.sec.ul_count - 1, 0) if ctx.sec is not None else 0
    ctx.svc = svc
    if not known:
        _finish(amf, ctx, out)
        return
    ctx.proc = "service"
    assert ctx.supi is not None
    supi = ctx.supi.to_string()
    for psi in known:
        out.append(SmfActivate(aid, supi, psi))


def activate_for_downlink(amf: Amf, ctx: UeContext, psi: int, out: list[Output]) -> None:
    """Downlink data for a UE in CM-CONNECTED whose PDU session has no user plane (TS 23.502 4.2.3.3
    step 3a): re-activate it with a PDU SESSION RESOURCE SETUP REQUEST (no NAS)."""
    sessions = ctx.pdu_sessions or {}
    if psi not in sessions or ctx.supi is None:
        return
    if ctx.svc is not None:  # a re-activation is running: add this session to it
        if psi in ctx.svc.pending or psi in ctx.svc.transfers:
            return
        ctx.svc.pending.add(psi)
    else:
        ctx.svc = ServiceState(nas=False, requested=frozenset({psi}), pending={psi})
    out.append(SmfActivate(ctx.amf_ue_ngap_id, ctx.supi.to_string(), psi))


def smf_answer(amf: Amf, ctx: UeContext, reply: SmReply, out: list[Output]) -> bool:
    """The SMF's answer to :class:`SmfActivate`; False if no re-activation waits for it."""
    svc = ctx.svc
    psi = reply.pdu_session_id
    if svc is None or psi not in svc.pending or reply.kind not in ("activate", "error"):
        return False
    svc.pending.discard(psi)
    if reply.kind == "activate" and reply.n2_transfer is not None:
        svc.transfers[psi] = reply.n2_transfer
    else:
        svc.failed.add(psi)
        amf.event(out, "pdu_session_reactivation_failed", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str,
                  pdu_session_id=psi, cause=reply.cause)
    if not svc.pending:
        _finish(amf, ctx, out)
    return True


def _items(amf: Amf, ctx: UeContext, transfers: dict[int, bytes]) -> tuple[ngap.PduSessionSetupRequest, ...]:
    sessions = ctx.pdu_sessions or {}
    items = []
    for psi in sorted(transfers):
        s = sessions.get(psi)
        sst, sd = (s.snssai if s is not None and s.snssai is not None else
                   (ctx.allowed_nssai[0] if ctx.allowed_nssai else amf.config.snssais[0]))
        items.append(ngap.PduSessionSetupRequest(psi, ngap.Snssai(sst, sd), transfers[psi]))
    return tuple(items)


def _finish(amf: Amf, ctx: UeContext, out: list[Output]) -> None:
    """Every SMF answer is in: SERVICE ACCEPT + N2 PDU session resources (or the network-side setup)."""
    from .registration import _mobility_restriction, _ngap_sec_cap

    svc = ctx.svc
    assert svc is not None
    ctx.svc = None
    aid, rid = ctx.amf_ue_ngap_id, ctx.ran_ue_ngap_id
    if ctx.assoc is None or rid is None:
        return
    items = _items(amf, ctx, svc.transfers)
    if not svc.nas:
        if items:
            amf.send_ue_ngap(ctx, ngap.PDUSessionResourceSetupRequest(aid, rid, items), out)
        amf.event(out, "pdu_session_reactivated", amf_ue_ngap_id=aid, supi=ctx.supi_str,
                  pdu_session_ids=sorted(svc.transfers), failed=sorted(svc.failed), trigger="downlink-data")
        return
    ctx.proc = None
    sessions = ctx.pdu_sessions or {}
    accept = nas.ServiceAccept(
        pdu_session_status=frozenset(sessions) if svc.ue_status is not None else None,
        pdu_session_reactivation_result=frozenset(svc.failed) if svc.requested else None)
    pdu = amf.protect(ctx, accept.encode())
    if ctx.ics_done:  # the gNB already holds the UE context (a service request in CM-CONNECTED)
        if items:
            amf.send_ue_ngap(ctx, ngap.PDUSessionResourceSetupRequest(aid, rid, items, nas_pdu=pdu), out)
        else:
            amf.send_ue_ngap(ctx, ngap.DownlinkNASTransport(aid, rid, pdu), out)
    else:
        assert ctx.sec is not None and ctx.kamf is not None
        # TS 33.501 A.9: KgNB from the uplink NAS COUNT of the SERVICE REQUEST
        kgnb = keys.kgnb(ctx.kamf, svc.ul_count)
        dl, ul = amf.config.ue_ambr
        ics = ngap.InitialContextSetupRequest(
            aid, rid, amf.guami, tuple(ngap.Snssai(sst, sd) for sst, sd in ctx.allowed_nssai),
            _ngap_sec_cap(ctx.ue_sec_cap), kgnb, ue_ambr=ngap.UeAmbr(dl=dl, ul=ul) if items else None,
            pdu_sessions=items or None, mobility_restriction=_mobility_restriction(amf, ctx), nas_pdu=pdu)
        out.append(SendNgap(ctx.assoc, ngap.encode(ics), UE_STREAM))
    st = svc.service_type
    amf.event(out, "service_request_accepted", amf_ue_ngap_id=aid, supi=ctx.supi_str,
              service_type=_TYPE_NAMES.get(st, st), reactivated=sorted(svc.transfers), failed=sorted(svc.failed),
              cell_cag_id=svc.cell_cag_id)
    if svc.after is not None:
        paging.run_after(amf, ctx, svc.after, out)
