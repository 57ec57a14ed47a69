"""NAS security mode control (TS 24.501 5.4.2, TS 33.501 6.7.2).

Algorithm selection (:func:`select_algorithms`): the first algorithm of the operator's priority
list that the UE supports (UE security capability). NIA0 is never selected for a normal
registration (TS 33.501 5.5.2): a UE supporting none of the configured integrity algorithms is
rejected with #23 "UE security capabilities mismatch" and ``Event("bidding_down_refused")``. NEA0
is chosen only if it is in the ciphering priority list. Unauthenticated emergency uses NIA0/NEA0
(TS 33.501 10.2.2).

SECURITY MODE COMMAND: integrity protected with the new context (security header type 3), the
replayed UE security capabilities, an IMEISV request, and "retransmission of the initial NAS
message requested" when the initial REGISTRATION REQUEST was not integrity protected with a
verified context (TS 24.501 4.4.6: the UE then sends the complete message in the NAS message
container of SECURITY MODE COMPLETE, which replaces the cleartext one). T3560.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from testbed.crypto import keys
from testbed.errors import DecodeError
from testbed.protocols import nas, ngap

from .context import UeContext
from .outputs import Output

if TYPE_CHECKING:
    from .amf import Amf

__all__ = ["complete", "reject", "select_algorithms", "start"]

_SHT = nas.SecurityHeaderType


def select_algorithms(cap: nas.UeSecurityCapability, nia_priority: Iterable[int],
                      nea_priority: Iterable[int]) -> tuple[int, int] | None:
    """(NIA, NEA) per TS 33.501 6.7.2, or None if no acceptable pair exists (NIA0 never)."""
    nia = next((a for a in nia_priority if a != 0 and a in cap.nia), None)
    nea = next((a for a in nea_priority if a in cap.nea), None)
    if nia is None or nea is None:
        return None
    return nia, nea


def start(amf: Amf, ctx: UeContext, out: list[Output], *, null_algorithms: bool = False) -> None:
    """Derive the NAS keys and send SECURITY MODE COMMAND."""
    from . import registration

    reg = ctx.reg
    assert reg is not None and ctx.kamf is not None
    cap = reg.request.ue_security_capability or ctx.ue_sec_cap
    if null_algorithms:
        nia, nea = 0, 0
        cap = cap or nas.UeSecurityCapability(nea={0}, nia={0})
    else:
        sel = None if cap is None else select_algorithms(cap, amf.config.nia_priority, amf.config.nea_priority)
        if sel is None:
            amf.event(out, "bidding_down_refused", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str,
                      ue_nia=sorted(cap.nia) if cap else None, ue_nea=sorted(cap.nea) if cap else None)
            registration.reject(amf, ctx, nas.FiveGmmCause.UE_SECURITY_CAPABILITIES_MISMATCH, out,
                                reason="ue-security-capabilities-mismatch")
            return
        nia, nea = sel
    ctx.ue_sec_cap = cap
    k_enc, k_int = keys.nas_keys(ctx.kamf, nea, nia)
    ctx.new_sec = nas.NasSecurityContext("amf", k_nas_int=k_int, k_nas_enc=k_enc, nia=nia, nea=nea,
                                         ngksi=ctx.ngksi)
    ngksi, rinmr = ctx.ngksi, not reg.initial_protected

    def smc() -> bytes:  # built only when the codec cache has no encoding for this key
        return nas.SecurityModeCommand(
            selected_algorithms=nas.NasSecurityAlgorithms(ciphering=nea, integrity=nia),
            ngksi=nas.NgKsi(ngksi),
            replayed_ue_security_capability=cap,
            imeisv_request=True,
            additional_security_information=nas.Additional5gSecurityInformation(retransmission_requested=rinmr),
        ).encode()
    plain = amf.codec.cached(("SMC", nea, nia, ngksi, cap, rinmr), smc)
    ctx.proc = "smc"
    amf.send_nas(ctx, plain, out, _SHT.INTEGRITY_PROTECTED_NEW_CONTEXT)
    amf.start_nas_timer(ctx, "T3560", plain, _SHT.INTEGRITY_PROTECTED_NEW_CONTEXT, out)
    amf.event(out, "security_mode", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str, nia=nia, nea=nea,
              ngksi=ctx.ngksi)


def complete(amf: Amf, ctx: UeContext, msg: nas.SecurityModeComplete, out: list[Output]) -> None:
    """SECURITY MODE COMPLETE (TS 24.501 5.4.2.4): the new context is taken into use."""
    from . import registration

    reg = ctx.reg
    if ctx.proc != "smc" or ctx.new_sec is None or reg is None:
        amf.event(out, "nas_unexpected", amf_ue_ngap_id=ctx.amf_ue_ngap_id, message="SecurityModeComplete",
                  procedure=ctx.proc)
        return
    amf.stop_timer(ctx, out)
    ctx.sec = ctx.new_sec
    ctx.new_sec = None
    ctx.sec_active = True
    ctx.proc = None
    if msg.imeisv is not None:
        ctx.pei = msg.imeisv.digits
    if msg.nas_message_container is not None:
        try:
            full = nas.decode_plain(msg.nas_message_container)
        except DecodeError as exc:
            amf.event(out, "nas_malformed", amf_ue_ngap_id=ctx.amf_ue_ngap_id, container=True,
                      error=str(exc)[:200])
            full = None
        if isinstance(full, nas.RegistrationRequest):
            reg.request = full
            if full.ue_security_capability is not None and full.ue_security_capability != ctx.ue_sec_cap:
                amf.event(out, "ue_security_capability_mismatch", amf_ue_ngap_id=ctx.amf_ue_ngap_id)
        elif full is not None:
            amf.event(out, "nas_unexpected", amf_ue_ngap_id=ctx.amf_ue_ngap_id, container=True,
                      message=type(full).__name__)
    registration.after_security(amf, ctx, out)


def reject(amf: Amf, ctx: UeContext, msg: nas.SecurityModeReject, out: list[Output]) -> None:
    """SECURITY MODE REJECT (TS 24.501 5.4.2.5): abort and release."""
    if ctx.proc != "smc":
        amf.event(out, "nas_unexpected", amf_ue_ngap_id=ctx.amf_ue_ngap_id, message="SecurityModeReject",
                  procedure=ctx.proc)
        return
    amf.event(out, "security_mode_reject", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str,
              cause=int(msg.cause))
    ctx.new_sec = None
    if ctx.registered:
        amf.deregister_local(ctx)
    amf.release_n2(ctx, ngap.Cause("nas", "unspecified"), out)
