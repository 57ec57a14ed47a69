"""Registration management (TS 23.502 4.2.2.2, TS 24.501 5.5.1): the 5GMM state machine per UE.

Flow of a registration (initial, mobility/periodic updating, emergency)::

    INITIAL UE MESSAGE(REGISTRATION REQUEST)
      -> [protected and verified with the context its 5G-GUTI names: reuse that context]
      -> [SUCI: Ausf.start] [known 5G-GUTI, unverified: re-authenticate the stored SUPI]
         [unknown 5G-GUTI / no identity: IDENTITY REQUEST (SUCI only, never the SUPI), T3570]
      -> 5G-AKA (authentication.py, T3560) -> SECURITY MODE COMMAND (security_mode.py, T3560)
      -> subscription (Udm.subscription) -> CAG check (cag.py) -> allowed NSSAI
      -> REGISTRATION ACCEPT in INITIAL CONTEXT SETUP REQUEST (KgNB, mobility restriction with the
         Allowed CAG list), T3550 -> REGISTRATION COMPLETE

Choices (documented here because the specs leave them open):

* an INITIAL UE MESSAGE whose cell CAG IDs include one the gNB did not announce at NG Setup is
  flagged (``Event("cag_id_not_announced")``) and the registration is rejected with #76 once NAS
  security is up (so the reject is integrity protected); emergency registration still passes;
* a gNB that announced CAG IDs at NG Setup but sends an INITIAL UE MESSAGE without any is taken
  to serve the UE on its CAG cell (``Event("cag_ids_missing")``): omitting the NPN access
  information must not turn a CAG femto into an open cell;
* SUCI de-concealment failures (``SidfError``) are rejected with #9 "UE identity cannot be
  derived by the network" (the UE then deletes its 5G-GUTI and registers again, possibly with
  another key); an unknown subscriber with #7 "5GS services not allowed"; other UDM errors with
  #111;
* every accepted registration allocates a new 5G-GUTI (TS 33.501 6.12.3), so REGISTRATION COMPLETE
  is always expected (T3550); the old 5G-GUTI stays valid until then (TS 24.501 5.5.1.2.4);
* an empty allowed NSSAI (subscribed and configured S-NSSAIs do not meet) is rejected with #62.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from testbed.crypto import keys
from testbed.protocols import nas, ngap

from . import authentication, security_mode
from .cag import CagDecision, check_cag_access
from .context import GnbContext, RegistrationState, UeContext
from .outputs import UE_STREAM, Output, SendNgap, SmfReleaseAll

if TYPE_CHECKING:
    from .amf import Amf

__all__ = [
    "after_security",
    "cag_info_list",
    "complete",
    "identity_request",
    "initial_context_setup_failure",
    "initial_context_setup_response",
    "initial_ue_message",
    "reject",
    "start",
]

_RT = nas.RegistrationType
_C = nas.FiveGmmCause
_TYPE_NAMES = {1: "initial", 2: "mobility", 3: "periodic", 4: "emergency"}


def initial_ue_message(amf: Amf, gnb: GnbContext, msg: ngap.InitialUEMessage, out: list[Output]) -> None:
    """INITIAL UE MESSAGE (TS 38.413 8.6.1): a new UE-associated logical NG connection."""
    old_id = amf.n2.get((gnb.assoc, msg.ran_ue_ngap_id))
    if old_id is not None:  # the gNB reuses a RAN-UE-NGAP-ID: its old connection is gone
        old = amf.ues.get(old_id)
        if old is not None:
            amf.event(out, "ngap_ran_id_reused", assoc=gnb.assoc, ran_ue_ngap_id=msg.ran_ue_ngap_id,
                      old_amf_ue_ngap_id=old_id)
            amf.detach_n2(old, out)
    ctx = amf.new_ue(gnb.assoc, msg.ran_ue_ngap_id)
    ctx.tac = msg.user_location.tai.tac
    cells = tuple(msg.cag_ids or ())
    if not cells and gnb.cag_ids:
        cells = tuple(sorted(gnb.cag_ids))
        amf.event(out, "cag_ids_missing", assoc=gnb.assoc, amf_ue_ngap_id=ctx.amf_ue_ngap_id,
                  assumed=list(cells))
    if cells and not set(cells) <= gnb.cag_ids:
        ctx.cag_not_announced = True
        amf.event(out, "cag_id_not_announced", assoc=gnb.assoc, gnb_id=gnb.global_id.gnb_id,
                  amf_ue_ngap_id=ctx.amf_ue_ngap_id, cell_cag_ids=list(cells),
                  announced=sorted(gnb.cag_ids), unannounced=sorted(set(cells) - gnb.cag_ids))
    ctx.cell_cag_ids = cells
    from . import nas_handler

    nas_handler.initial_nas(amf, ctx, msg.nas_pdu, msg.five_g_s_tmsi, out)


def _identity_kind(ident: object) -> str:
    if isinstance(ident, nas.Suci):
        return "suci"
    if isinstance(ident, nas.Guti5g):
        return "guti"
    if isinstance(ident, nas.Pei):
        return "imei"
    return "none"


def start(amf: Amf, ctx: UeContext, req: nas.RegistrationRequest, verified: UeContext | None,
          out: list[Output]) -> None:
    """A REGISTRATION REQUEST (TS 24.501 5.5.1.2.2 / 5.5.1.3.2); ``verified`` is the context whose
    NAS security context verified the message's integrity, if any."""
    rt = int(req.registration_type)
    reg_type = rt if rt in (1, 2, 3, 4) else 1  # 9.11.3.7: other values are read as "initial"
    ident = req.mobile_identity
    kind = _identity_kind(ident)
    scheme = ident.scheme if isinstance(ident, nas.Suci) else None
    if ctx.reg is not None:  # a new registration replaces the running one
        amf.stop_timer(ctx, out)
        amf.forget_auth(ctx)
    ctx.reg = RegistrationState(request=req, reg_type=reg_type, identity_kind=kind, suci_scheme=scheme,
                                initial_protected=verified is not None)
    ctx.emergency = reg_type == _RT.EMERGENCY
    ctx.proc = None
    amf.event(out, "registration_request", amf_ue_ngap_id=ctx.amf_ue_ngap_id,
              registration_type=_TYPE_NAMES[reg_type], identity_type=kind, suci_scheme=scheme,
              protected=verified is not None, follow_on=req.follow_on_request, cell_cag_ids=list(ctx.cell_cag_ids))
    if verified is not None:
        # TS 24.501 5.4.3 / 5.5.1.3.2: integrity verified with the stored context: no new
        # authentication needed; the context moves to this connection.
        amf.adopt(ctx, verified, out, keep_sessions=reg_type != _RT.INITIAL)
        ctx.sec_active = True
        if req.ue_security_capability is not None:
            ctx.ue_sec_cap = req.ue_security_capability
        after_security(amf, ctx, out)
        return
    if kind == "suci":
        authentication.start(amf, ctx, ident, out)
        return
    if kind == "guti":
        known = amf.lookup_guti(ident)
        if known is not None and known.supi is not None and not known.emergency:
            authentication.start(amf, ctx, known.supi, out)
            return
        identity_request(amf, ctx, "guti-unknown" if known is None else "guti-no-supi", out)
        return
    if ctx.emergency and amf.config.allow_unauthenticated_emergency:
        if kind == "imei":
            ctx.pei = str(ident.digits)  # type: ignore[union-attr]
        unauthenticated_emergency(amf, ctx, f"identity-{kind}", out)
        return
    identity_request(amf, ctx, f"identity-{kind}", out)


def identity_request(amf: Amf, ctx: UeContext, reason: str, out: list[Output]) -> None:
    """IDENTITY REQUEST for the SUCI (TS 24.501 5.4.3.2), T3570. The SUPI is never asked for."""
    assert ctx.reg is not None
    ctx.reg.identity_requested = True
    ctx.proc = "identity"
    plain = nas.IdentityRequest(identity_type=nas.IdentityType.SUCI).encode()
    amf.send_nas(ctx, plain, out)
    amf.start_nas_timer(ctx, "T3570", plain, None, out)
    amf.event(out, "identity_request", amf_ue_ngap_id=ctx.amf_ue_ngap_id, reason=reason, requested="suci")


def identity_response(amf: Amf, ctx: UeContext, msg: nas.IdentityResponse, out: list[Output]) -> None:
    """IDENTITY RESPONSE (TS 24.501 5.4.3.4)."""
    if ctx.proc != "identity" or ctx.reg is None:
        amf.event(out, "nas_unexpected", amf_ue_ngap_id=ctx.amf_ue_ngap_id, message="IdentityResponse",
                  procedure=ctx.proc)
        return
    amf.stop_timer(ctx, out)
    ctx.proc = None
    ident = msg.mobile_identity
    if isinstance(ident, nas.Suci):
        ctx.reg.identity_kind = "suci"
        ctx.reg.suci_scheme = ident.scheme
        amf.event(out, "identity_response", amf_ue_ngap_id=ctx.amf_ue_ngap_id, identity_type="suci",
                  suci_scheme=ident.scheme)
        authentication.start(amf, ctx, ident, out)
        return
    kind = _identity_kind(ident)
    amf.event(out, "identity_response", amf_ue_ngap_id=ctx.amf_ue_ngap_id, identity_type=kind)
    if ctx.emergency and amf.config.allow_unauthenticated_emergency:
        unauthenticated_emergency(amf, ctx, f"identity-{kind}", out)
        return
    reject(amf, ctx, _C.UE_IDENTITY_CANNOT_BE_DERIVED, out, reason="identity-response-not-suci")


def unauthenticated_emergency(amf: Amf, ctx: UeContext, reason: str, out: list[Output]) -> None:
    """Emergency registration without successful authentication: NIA0/NEA0 (TS 33.501 10.2.2,
    6.7.2), allowed only with ``allow_unauthenticated_emergency``."""
    assert ctx.reg is not None
    ctx.reg.unauthenticated = True
    amf.forget_auth(ctx)
    ctx.kamf = os.urandom(32)  # no KAMF exists; the null algorithms ignore it, KgNB needs a value
    ctx.ngksi = 0
    amf.event(out, "unauthenticated_emergency", amf_ue_ngap_id=ctx.amf_ue_ngap_id, reason=reason)
    security_mode.start(amf, ctx, out, null_algorithms=True)


def cag_info_list(amf: Amf, sub: object) -> tuple[nas.CagInfo, ...] | None:
    """The UE's CAG information list for the serving PLMN (TS 24.501 9.11.3.18A), or None."""
    if sub is None:
        return None
    allowed = sorted(getattr(sub, "allowed_cag_ids", ()) or ())
    cag_only = bool(getattr(sub, "cag_only", False))
    if not allowed and not cag_only:
        return None
    return (nas.CagInfo(amf.nas_plmn, tuple(allowed[:62]), cag_only),)


def _cag_decision(amf: Amf, ctx: UeContext) -> CagDecision:
    sub = ctx.subscription
    if ctx.emergency:
        return check_cag_access(ctx.cell_cag_ids, (), False, True)
    if ctx.cag_not_announced:
        return CagDecision(False, "cag-id-not-announced", None)
    return check_cag_access(ctx.cell_cag_ids, getattr(sub, "allowed_cag_ids", ()) or (),
                            bool(getattr(sub, "cag_only", False)), False)


def _fetch_subscription(amf: Amf, ctx: UeContext, out: list[Output]) -> bool:
    if ctx.subscription is not None or ctx.supi is None:
        return True
    try:
        ctx.subscription = amf.udm.subscription(ctx.supi)
    except Exception as exc:
        cause = getattr(exc, "cause", None)
        if not isinstance(cause, str):
            raise
        amf.event(out, "subscription_error", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str, cause=cause)
        if ctx.emergency:
            return True
        reject(amf, ctx, _C.FIVEGS_SERVICES_NOT_ALLOWED, out, reason=f"subscription-{cause}")
        return False
    return True


def after_security(amf: Amf, ctx: UeContext, out: list[Output]) -> None:
    """NAS security is up: subscription, CAG admission, allowed NSSAI, REGISTRATION ACCEPT."""
    if not _fetch_subscription(amf, ctx, out):
        return
    d = _cag_decision(amf, ctx)
    supi = ctx.supi_str
    if ctx.emergency:
        amf.event(out, "cag_bypass_emergency", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=supi,
                  cell_cag_ids=list(ctx.cell_cag_ids))
    elif not d.allowed:
        amf.event(out, "cag_reject", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=supi,
                  cell_cag_ids=list(ctx.cell_cag_ids), reason=d.reason)
        reject(amf, ctx, _C.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY, out,
               cag_info=cag_info_list(amf, ctx.subscription), reason=d.reason)
        return
    else:
        amf.event(out, "cag_accept", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=supi, cell_cag_id=d.matched,
                  cell_cag_ids=list(ctx.cell_cag_ids), reason=d.reason)
    configured = amf.config.snssais
    sub = ctx.subscription
    if sub is not None:
        subscribed = tuple(tuple(s) for s in sub.snssai)
        allowed = tuple(s for s in subscribed if s in configured)
        reg = ctx.reg
        requested = reg.request.requested_nssai if reg is not None else None
        if requested:
            req_set = {(s.sst, s.sd) for s in requested}
            narrowed = tuple(s for s in allowed if s in req_set)
            allowed = narrowed or allowed
    else:  # unauthenticated emergency: no subscription
        allowed = configured
    if not allowed:
        reject(amf, ctx, _C.NO_NETWORK_SLICES_AVAILABLE, out, reason="no-allowed-nssai")
        return
    ctx.allowed_nssai = allowed[:8]
    _send_accept(amf, ctx, out)


def _ngap_sec_cap(cap: nas.UeSecurityCapability | None) -> ngap.UeSecurityCapabilities:
    """NAS UE security capability -> NGAP UE Security Capabilities (TS 38.413 9.3.1.86)."""
    def bits(algs: frozenset[int] | None) -> int:
        return sum(0x8000 >> (a - 1) for a in (algs or ()) if 1 <= a <= 3)
    if cap is None:
        return ngap.UeSecurityCapabilities(0, 0, 0, 0)
    return ngap.UeSecurityCapabilities(bits(cap.nea), bits(cap.nia), bits(cap.eea), bits(cap.eia))


def _mobility_restriction(amf: Amf, ctx: UeContext) -> ngap.MobilityRestriction:
    """Mobility Restriction List with the UE's Allowed CAG list (TS 38.413 9.3.1.85, TS 23.501
    5.30.3.3: NG-RAN enforces it in CM-CONNECTED); none for an emergency registration."""
    sub = ctx.subscription
    allowed: tuple[ngap.AllowedCagList, ...] = ()
    if not ctx.emergency and sub is not None and sub.allowed_cag_ids:
        allowed = (ngap.AllowedCagList(amf.plmn, tuple(sorted(sub.allowed_cag_ids))[:256], bool(sub.cag_only)),)
    return ngap.MobilityRestriction(amf.plmn, (), allowed)


def _send_accept(amf: Amf, ctx: UeContext, out: list[Output]) -> None:
    """REGISTRATION ACCEPT carried in INITIAL CONTEXT SETUP REQUEST (TS 23.502 4.2.2.2.2 step 21,
    TS 38.413 8.3.1), T3550."""
    gnb = amf.gnb_contexts.get(ctx.assoc) if ctx.assoc is not None else None
    if gnb is None or ctx.sec is None or ctx.kamf is None or ctx.ran_ue_ngap_id is None or ctx.assoc is None:
        return
    cfg = amf.config
    if ctx.guti is not None and ctx.old_guti is None:
        ctx.old_guti = ctx.guti
    ctx.guti = amf.new_guti()
    amf.by_tmsi[ctx.guti.tmsi] = ctx
    if ctx.supi is not None:
        amf.by_supi[ctx.supi.to_string()] = ctx
    cag = None if ctx.emergency else cag_info_list(amf, ctx.subscription)
    ctx.tais = tuple(gnb.tacs[:16])  # the registration area: where the UE is paged (TS 23.502 4.2.3.3)
    accept = nas.RegistrationAccept(
        result=nas.RegistrationResult(nas.RegistrationResultValue.THREEGPP_ACCESS,
                                      emergency_registered=ctx.emergency),
        guti=ctx.guti,
        tai_list=tuple(nas.Tai(amf.nas_plmn, tac) for tac in ctx.tais),
        allowed_nssai=tuple(nas.SNssai(sst, sd) for sst, sd in ctx.allowed_nssai),
        t3512=nas.GprsTimer3.from_seconds(cfg.t3512) if cfg.t3512 is not None else None,
        cag_information_list=cag,
    )
    plain = amf.codec.registration_accept(accept)
    if ctx.ics_done:  # registration in CM-CONNECTED: the gNB already has the UE context
        amf.send_nas(ctx, plain, out)
        _accept_sent(amf, ctx, plain, cag, out)
        return
    pdu = amf.protect(ctx, plain)
    # TS 33.501 A.9: KgNB from the uplink NAS COUNT of the message that triggered it (the last one
    # accepted: SECURITY MODE COMPLETE, or the verified initial REGISTRATION REQUEST)
    kgnb = keys.kgnb(ctx.kamf, max(ctx.sec.ul_count - 1, 0))
    ics = ngap.InitialContextSetupRequest(
        ctx.amf_ue_ngap_id, ctx.ran_ue_ngap_id, amf.guami,
        tuple(ngap.Snssai(sst, sd) for sst, sd in ctx.allowed_nssai),
        _ngap_sec_cap(ctx.ue_sec_cap), kgnb, mobility_restriction=_mobility_restriction(amf, ctx), nas_pdu=pdu)
    out.append(SendNgap(ctx.assoc, amf.codec.initial_context_setup_request(ics), UE_STREAM))
    _accept_sent(amf, ctx, plain, cag, out)


def _accept_sent(amf: Amf, ctx: UeContext, plain: bytes, cag: tuple[nas.CagInfo, ...] | None,
                 out: list[Output]) -> None:
    amf.start_nas_timer(ctx, "T3550", plain, None, out)
    ctx.proc = "accept"
    reg = ctx.reg
    amf.event(out, "registration_accept", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str,
              registration_type=_TYPE_NAMES[reg.reg_type] if reg else None, emergency=ctx.emergency,
              unauthenticated=bool(reg and reg.unauthenticated),
              allowed_nssai=[list(s) for s in ctx.allowed_nssai], cag_ids=None if cag is None else list(cag[0].cag_ids))


def complete(amf: Amf, ctx: UeContext, out: list[Output]) -> None:
    """REGISTRATION COMPLETE (TS 24.501 5.5.1.2.4): the new 5G-GUTI is now the only one."""
    if ctx.proc != "accept":
        amf.event(out, "nas_unexpected", amf_ue_ngap_id=ctx.amf_ue_ngap_id, message="RegistrationComplete",
                  procedure=ctx.proc)
        return
    amf.stop_timer(ctx, out)
    _registered(amf, ctx)
    amf.event(out, "registration_complete", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str)
    if ctx.after_registration is not None:  # the UE had been paged for this (de-registration, CAG refresh)
        from . import paging

        after, ctx.after_registration = ctx.after_registration, None
        paging.run_after(amf, ctx, after, out)


def _registered(amf: Amf, ctx: UeContext) -> None:
    ctx.proc = None
    ctx.registered = True
    if ctx.old_guti is not None:
        if amf.by_tmsi.get(ctx.old_guti.tmsi) is ctx:
            del amf.by_tmsi[ctx.old_guti.tmsi]
        ctx.old_guti = None
    ctx.reg = None
    if ctx.pdu_sessions is None:
        ctx.pdu_sessions = {}


def accept_timeout(amf: Amf, ctx: UeContext, out: list[Output]) -> None:
    """Fifth expiry of T3550 (TS 24.501 5.5.1.2.8 c): abort, consider the UE registered; the old
    and the new 5G-GUTI both stay valid."""
    old = ctx.old_guti
    ctx.old_guti = None
    _registered(amf, ctx)
    if old is not None:  # keep the old GUTI reachable too
        amf.by_tmsi[old.tmsi] = ctx
        ctx.old_guti = old


def initial_context_setup_response(amf: Amf, ctx: UeContext, msg: ngap.InitialContextSetupResponse,
                                   out: list[Output]) -> None:
    """INITIAL CONTEXT SETUP RESPONSE (TS 38.413 8.3.1.2): the PDU session resources the gNB set up
    (service request with user-plane re-activation) go to the SMF like a PDU SESSION RESOURCE SETUP
    RESPONSE (TS 23.502 4.2.3.2 step 11)."""
    from . import paging, session

    ctx.ics_done = True
    setup = tuple(msg.pdu_sessions_setup or ())
    failed = tuple(msg.pdu_sessions_failed or ())
    amf.event(out, "initial_context_setup", amf_ue_ngap_id=ctx.amf_ue_ngap_id, success=True,
              pdu_sessions=[s.pdu_session_id for s in setup], failed=[f.pdu_session_id for f in failed])
    if setup or failed:
        session.setup_response(amf, ctx, ngap.PDUSessionResourceSetupResponse(
            ctx.amf_ue_ngap_id, ctx.ran_ue_ngap_id or 0, setup or None, failed or None), out)
    if ctx.dl_pending and ctx.registered and ctx.supi is not None:  # downlink data arrived meanwhile
        pending, ctx.dl_pending = ctx.dl_pending, frozenset()
        for psi in sorted(pending):
            paging.n1n2_message_transfer(amf, ctx.supi.to_string(), psi, out)


def initial_context_setup_failure(amf: Amf, ctx: UeContext, msg: ngap.InitialContextSetupFailure,
                                  out: list[Output]) -> None:
    """INITIAL CONTEXT SETUP FAILURE (TS 38.413 8.3.1.3): the registration is aborted, the N2
    connection released."""
    amf.event(out, "initial_context_setup", amf_ue_ngap_id=ctx.amf_ue_ngap_id, success=False,
              cause=str(msg.cause), supi=ctx.supi_str)
    if ctx.proc == "accept" and not ctx.registered:
        amf.deregister_local(ctx)
    amf.release_n2(ctx, ngap.Cause("nas", "unspecified"), out)


def reject(amf: Amf, ctx: UeContext, cause: int, out: list[Output], *,
           cag_info: tuple[nas.CagInfo, ...] | None = None, reason: str = "") -> None:
    """REGISTRATION REJECT (TS 24.501 5.5.1.2.5), integrity protected when a NAS security context
    is active (4.4.4), then UE CONTEXT RELEASE COMMAND. The UE is no longer registered."""
    plain = nas.RegistrationReject(cause=cause, cag_information_list=cag_info).encode()
    amf.send_nas(ctx, plain, out)
    amf.event(out, "registration_reject", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str,
              cause=int(cause), reason=reason, protected=ctx.sec_active)
    amf.forget_auth(ctx)
    if ctx.registered and ctx.supi is not None and ctx.pdu_sessions:
        out.append(SmfReleaseAll(ctx.supi.to_string()))
    amf.deregister_local(ctx)
    amf.release_n2(ctx, ngap.Cause("nas", "normal-release"), out)
