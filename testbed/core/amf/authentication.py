"""5G-AKA, SEAF side (TS 33.501 6.1.3.2; TS 24.501 5.4.1.3).

* ``Ausf.start`` gives (RAND, AUTN, HXRES*); AUTHENTICATION REQUEST carries ngKSI, ABBA, RAND,
  AUTN; T3560.
* AUTHENTICATION RESPONSE: the SEAF checks HRES* == HXRES* (:func:`testbed.crypto.aka.seaf_verify`)
  before asking the AUSF (``Ausf.confirm``); success gives KSEAF and the SUPI, and
  KAMF = KDF(KSEAF, SUPI, ABBA) (Annex A.7). Any mismatch: AUTHENTICATION REJECT,
  ``Event("auth_failure", cause="res-mismatch")``.
* AUTHENTICATION FAILURE (5.4.1.3.7): #20 MAC failure -> IDENTITY REQUEST once if the UE had
  identified itself with a 5G-GUTI (the GUTI may have named the wrong subscriber), else
  AUTHENTICATION REJECT; #21 synch failure -> ``Ausf.resync`` with the AUTS and a new
  AUTHENTICATION REQUEST, once per registration (a second one -> reject); #26 and others -> reject.
* Emergency registration whose authentication fails continues unauthenticated (NIA0/NEA0) when
  ``allow_unauthenticated_emergency`` (TS 33.501 10.2.2).

UDM/AUSF errors are recognised by their ``cause`` attribute (the ``UdmError`` contract), so this
module does not import the UDM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.crypto import keys
from testbed.crypto.aka import SeAv, seaf_verify
from testbed.crypto.identity import Supi
from testbed.protocols import nas, ngap

from . import security_mode
from .context import UeContext
from .outputs import Output

if TYPE_CHECKING:
    from .amf import Amf

__all__ = ["SIDF_CAUSES", "failure", "response", "start"]

#: ``SidfError.cause`` values: SUCI de-concealment failed.
SIDF_CAUSES = frozenset({"unknown-key-id", "scheme-mismatch", "mac-failure", "invalid-supi",
                         "unsupported-scheme", "null-scheme-not-allowed"})
_C = nas.FiveGmmCause


def _udm_cause(exc: Exception) -> str | None:
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, str) else None


def _is_sidf(exc: Exception, cause: str) -> bool:
    return cause in SIDF_CAUSES or any(c.__name__ == "SidfError" for c in type(exc).__mro__)


def start(amf: Amf, ctx: UeContext, identity: object, out: list[Output]) -> None:
    """Nausf_UEAuthentication_Authenticate and AUTHENTICATION REQUEST (TS 33.501 6.1.3.2 steps 1-6)."""
    from . import registration

    reg = ctx.reg
    assert reg is not None
    amf.forget_auth(ctx)
    try:
        ch = amf.ausf.start(identity, amf.sn_name)
    except Exception as exc:
        cause = _udm_cause(exc)
        if cause is None:
            raise
        sidf = _is_sidf(exc, cause)
        amf.event(out, "suci_deconceal_failure" if sidf else "udm_error", amf_ue_ngap_id=ctx.amf_ue_ngap_id,
                  cause=cause, suci_scheme=reg.suci_scheme,
                  supi=identity.to_string() if isinstance(identity, Supi) else None)
        if ctx.emergency and amf.config.allow_unauthenticated_emergency:
            registration.unauthenticated_emergency(amf, ctx, f"udm-{cause}", out)
            return
        if sidf:
            registration.reject(amf, ctx, _C.UE_IDENTITY_CANNOT_BE_DERIVED, out, reason=f"sidf-{cause}")
        elif cause == "unknown-subscriber":
            registration.reject(amf, ctx, _C.FIVEGS_SERVICES_NOT_ALLOWED, out, reason=cause)
        else:
            registration.reject(amf, ctx, _C.PROTOCOL_ERROR_UNSPECIFIED, out, reason=cause)
        return
    _challenge(amf, ctx, ch, out)


def _challenge(amf: Amf, ctx: UeContext, ch: object, out: list[Output]) -> None:
    reg = ctx.reg
    assert reg is not None
    reg.auth_ctx_id = ch.ctx_id  # type: ignore[attr-defined]
    reg.rand, reg.autn, reg.hxres_star = ch.rand, ch.autn, ch.hxres_star  # type: ignore[attr-defined]
    if reg.suci_scheme is None and getattr(ch, "scheme", None) is not None and reg.identity_kind == "suci":
        reg.suci_scheme = ch.scheme  # type: ignore[attr-defined]
    ue_ksi = reg.request.ngksi.ksi
    ksi = 0 if ctx.ngksi == 7 else (ctx.ngksi + 1) % 7
    if ksi == ue_ksi:  # a fresh ngKSI, not the one the UE still holds (TS 24.501 5.4.1.3.2)
        ksi = (ksi + 1) % 7
    ctx.ngksi = ksi
    plain = amf.codec.authentication_request(ksi, reg.abba, reg.rand, reg.autn)  # type: ignore[arg-type]
    ctx.proc = "auth"
    amf.send_nas(ctx, plain, out)
    amf.start_nas_timer(ctx, "T3560", plain, None, out)
    amf.event(out, "authentication_request", amf_ue_ngap_id=ctx.amf_ue_ngap_id, ngksi=ksi,
              resync=reg.sync_failures > 0)


def response(amf: Amf, ctx: UeContext, msg: nas.AuthenticationResponse, out: list[Output]) -> None:
    """AUTHENTICATION RESPONSE (TS 33.501 6.1.3.2 steps 8-12)."""
    reg = ctx.reg
    if ctx.proc != "auth" or reg is None or reg.rand is None:
        amf.event(out, "nas_unexpected", amf_ue_ngap_id=ctx.amf_ue_ngap_id, message="AuthenticationResponse",
                  procedure=ctx.proc)
        return
    amf.stop_timer(ctx, out)
    ctx.proc = None
    res = msg.res_star
    assert reg.autn is not None and reg.hxres_star is not None
    if res is None or not seaf_verify(res, SeAv(reg.rand, reg.autn, reg.hxres_star)):
        _reject(amf, ctx, "res-mismatch", out, stage="seaf")
        return
    assert reg.auth_ctx_id is not None
    result = amf.ausf.confirm(reg.auth_ctx_id, res)
    reg.auth_ctx_id = None  # the AUSF is done with it
    if not result.success or result.kseaf is None or result.supi is None:
        _reject(amf, ctx, "res-mismatch", out, stage="ausf")
        return
    supi: Supi = result.supi
    amf.event(out, "auth_success", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=supi.to_string(),
              ngksi=ctx.ngksi)
    _bind_supi(amf, ctx, supi, out)
    ctx.kamf = keys.kamf(result.kseaf, supi.value, reg.abba)
    ctx.authenticated = True
    security_mode.start(amf, ctx, out)


def _bind_supi(amf: Amf, ctx: UeContext, supi: Supi, out: list[Output]) -> None:
    """The UE is now authenticated as ``supi``: take over an older context of the same UE."""
    key = supi.to_string()
    old = amf.by_supi.get(key)
    reg = ctx.reg
    if old is not None and old is not ctx:
        keep = reg is not None and reg.reg_type in (2, 3)  # mobility/periodic keep PDU sessions
        ngksi = ctx.ngksi  # the ngKSI of the authentication just run names the new KAMF (TS 33.501 6.1.3.2)
        amf.adopt(ctx, old, out, keep_sessions=keep)
        ctx.ngksi = ngksi
        # the new KAMF and the SMC replace the old security context; the old one is not active here
        ctx.sec_active = False
    ctx.supi = supi
    ctx.subscription = None  # fetched fresh after the security mode procedure
    amf.by_supi[key] = ctx


def failure(amf: Amf, ctx: UeContext, msg: nas.AuthenticationFailure, out: list[Output]) -> None:
    """AUTHENTICATION FAILURE (TS 24.501 5.4.1.3.7)."""
    from . import registration

    reg = ctx.reg
    if ctx.proc != "auth" or reg is None:
        amf.event(out, "nas_unexpected", amf_ue_ngap_id=ctx.amf_ue_ngap_id, message="AuthenticationFailure",
                  procedure=ctx.proc)
        return
    amf.stop_timer(ctx, out)
    ctx.proc = None
    cause = int(msg.cause)
    if cause == _C.MAC_FAILURE:
        amf.event(out, "auth_failure", amf_ue_ngap_id=ctx.amf_ue_ngap_id, cause="mac-failure",
                  identity_type=reg.identity_kind)
        if reg.identity_kind == "guti" and not reg.identity_requested:
            amf.forget_auth(ctx)
            registration.identity_request(amf, ctx, "auth-mac-failure", out)
            return
        _reject(amf, ctx, "mac-failure", out, event=False)
        return
    if cause == _C.SYNCH_FAILURE:
        amf.event(out, "sync_failure", amf_ue_ngap_id=ctx.amf_ue_ngap_id, count=reg.sync_failures + 1,
                  auts=msg.auts is not None)
        if reg.sync_failures >= 1 or msg.auts is None or reg.auth_ctx_id is None:
            _reject(amf, ctx, "sync-failure-repeated" if reg.sync_failures else "sync-failure-no-auts", out)
            return
        reg.sync_failures += 1
        try:
            ch = amf.ausf.resync(reg.auth_ctx_id, msg.auts, amf.sn_name)
        except Exception as exc:
            c = _udm_cause(exc)
            if c is None:
                raise
            _reject(amf, ctx, c, out)
            return
        _challenge(amf, ctx, ch, out)
        return
    name = "non-5g-authentication-unacceptable" if cause == _C.NON_5G_AUTHENTICATION_UNACCEPTABLE \
        else f"ue-cause-{cause}"
    _reject(amf, ctx, name, out)


def _reject(amf: Amf, ctx: UeContext, cause: str, out: list[Output], *, event: bool = True,
            stage: str | None = None) -> None:
    """AUTHENTICATION REJECT (TS 24.501 5.4.1.3.5) and release, or, for an emergency
    registration, continue unauthenticated."""
    from . import registration

    if event:
        amf.event(out, "auth_failure", amf_ue_ngap_id=ctx.amf_ue_ngap_id, cause=cause, stage=stage,
                  supi=ctx.supi_str)
    amf.forget_auth(ctx)
    if ctx.emergency and amf.config.allow_unauthenticated_emergency:
        registration.unauthenticated_emergency(amf, ctx, f"auth-{cause}", out)
        return
    amf.send_nas(ctx, nas.AuthenticationReject().encode(), out)
    if ctx.registered:
        amf.deregister_local(ctx)
    amf.release_n2(ctx, ngap.Cause("nas", "authentication-failure"), out)
