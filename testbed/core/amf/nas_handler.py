"""N1 dispatch: NAS security checks on every uplink 5GMM message, then the procedure.

TS 24.501 4.4.4.3 (integrity checking of NAS signalling messages in the AMF): once the secure
exchange of NAS messages is established on a connection, the AMF processes no 5GMM message that
has not passed the integrity check. Enforced here:

* a protected message is verified with :meth:`NasSecurityContext.unprotect`; a MAC failure or a
  replayed NAS COUNT is dropped with ``Event("nas_mac_failure")`` / ``Event("nas_replay")``;
* with ciphering active (NEA != 0) an uplink message that was not ciphered is dropped
  (``"nas_not_ciphered"``: e.g. a relay rewriting security header type 2 into 1);
* a plain message after security activation is dropped (``"nas_unprotected_dropped"``) unless it
  belongs to the procedure the AMF is running and is one the UE may send without a context
  (4.4.4.3 list: IDENTITY RESPONSE to a SUCI request, AUTHENTICATION RESPONSE/FAILURE,
  SECURITY MODE REJECT);
* before security activation only the messages of that list plus REGISTRATION REQUEST and
  DEREGISTRATION REQUEST are processed.

Initial NAS messages (TS 24.501 4.4.6) come through :func:`initial_nas`: a protected one is
verified against the context its 5G-GUTI / 5G-S-TMSI names; the NAS message container of a
REGISTRATION REQUEST is deciphered with that message's NAS COUNT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from testbed.crypto.nas_algorithms import DIRECTION_UPLINK, nea
from testbed.errors import CryptoError, DecodeError
from testbed.protocols import nas, ngap

from . import authentication, deregistration, registration, security_mode, service, session
from .context import UeContext
from .outputs import Output

if TYPE_CHECKING:
    from .amf import Amf

__all__ = ["initial_nas", "uplink_nas"]

_SHT = nas.SecurityHeaderType

# 5GMM messages the UE may send without integrity protection while procedure ``proc`` runs
_PLAIN_OK: dict[str | None, tuple[type, ...]] = {
    "identity": (nas.IdentityResponse,),
    "auth": (nas.AuthenticationResponse, nas.AuthenticationFailure),
    "smc": (nas.SecurityModeReject,),
}
_PLAIN_BEFORE_SECURITY = (nas.RegistrationRequest, nas.DeregistrationRequestUeOriginating)
_Initial = TypeVar("_Initial", nas.RegistrationRequest, nas.ServiceRequest)


def _identity_of(msg: nas.NasMessage) -> object:
    if isinstance(msg, nas.RegistrationRequest | nas.DeregistrationRequestUeOriginating):
        return msg.mobile_identity
    if isinstance(msg, nas.ServiceRequest):
        return msg.s_tmsi
    return None


def initial_nas(amf: Amf, ctx: UeContext, pdu: bytes, s_tmsi: ngap.FiveGSTmsi | None,
                out: list[Output]) -> None:
    """The NAS-PDU of an INITIAL UE MESSAGE (TS 24.501 4.4.6, 5.5.1.2.2, 5.6.1.2, 5.5.2.2.1)."""
    try:
        epd, sht, _ = nas.peek_header(pdu)
        if epd != nas.ExtendedProtocolDiscriminator.FIVEGMM:
            raise DecodeError("initial NAS message is not a 5GMM message")
        if sht > 4:
            raise DecodeError(f"reserved security header type {sht}")
        inner = nas.decode_plain(pdu if sht == 0 else nas.SecurityProtectedMessage.decode(pdu).payload) \
            if sht in (0, 1, 3) else None
    except DecodeError as exc:
        amf.event(out, "nas_malformed", amf_ue_ngap_id=ctx.amf_ue_ngap_id, initial=True, error=str(exc)[:200])
        amf.release_n2(ctx, ngap.Cause("protocol", "semantic-error"), out)
        return
    verified: UeContext | None = None
    info: nas.UnprotectInfo | None = None
    msg = inner
    if sht != 0:
        ident = _identity_of(inner) if inner is not None else s_tmsi
        cand = amf.lookup_guti(ident) if ident is not None else None
        # a 5G-IA0 context (unauthenticated emergency) proves nothing: never "verified" by it
        if cand is not None and cand.sec is not None and cand.sec.nia != 0:
            try:
                plain, info = cand.sec.unprotect(pdu)
                msg = nas.decode_plain(plain)
                verified = cand
            except nas.NasReplay as exc:
                amf.event(out, "nas_replay", amf_ue_ngap_id=ctx.amf_ue_ngap_id, initial=True, error=str(exc))
            except nas.NasMacFailure as exc:
                amf.event(out, "nas_mac_failure", amf_ue_ngap_id=ctx.amf_ue_ngap_id, initial=True, error=str(exc))
            except (DecodeError, CryptoError) as exc:
                amf.event(out, "nas_malformed", amf_ue_ngap_id=ctx.amf_ue_ngap_id, initial=True,
                          error=str(exc)[:200])
        if verified is None and msg is None:
            amf.event(out, "nas_initial_unverifiable", amf_ue_ngap_id=ctx.amf_ue_ngap_id)
            amf.release_n2(ctx, ngap.Cause("nas", "unspecified"), out)
            return
    if isinstance(msg, nas.RegistrationRequest):
        if verified is not None and info is not None and msg.nas_message_container is not None:
            msg = _full_request(amf, ctx, verified, msg, info, out)
        registration.start(amf, ctx, msg, verified, out)
    elif isinstance(msg, nas.ServiceRequest):
        if verified is not None and info is not None and msg.nas_message_container is not None:
            msg = _full_request(amf, ctx, verified, msg, info, out)
        service.service_request(amf, ctx, msg, verified, out)
    elif isinstance(msg, nas.DeregistrationRequestUeOriginating):
        deregistration.ue_originating_initial(amf, ctx, msg, verified, out)
    else:
        amf.event(out, "nas_unexpected", amf_ue_ngap_id=ctx.amf_ue_ngap_id, initial=True,
                  message=type(msg).__name__)
        amf.send_nas(ctx, nas.FiveGmmStatus(
            cause=nas.FiveGmmCause.MESSAGE_TYPE_NOT_COMPATIBLE_WITH_PROTOCOL_STATE).encode(), out, 0)
        amf.release_n2(ctx, ngap.Cause("nas", "unspecified"), out)


def _full_request(amf: Amf, ctx: UeContext, verified: UeContext, msg: _Initial, info: nas.UnprotectInfo,
                  out: list[Output]) -> _Initial:
    """The complete REGISTRATION REQUEST / SERVICE REQUEST from the (ciphered) NAS message container
    (4.4.6): it must be the same message type as the cleartext one, else the cleartext one stands."""
    sec = verified.sec
    assert sec is not None and msg.nas_message_container is not None
    data = msg.nas_message_container
    if not info.ciphered and sec.nea != 0:
        data = nea(sec.nea, sec.k_nas_enc, info.count, sec.bearer, DIRECTION_UPLINK, data)
    try:
        full = nas.decode_plain(data)
    except DecodeError as exc:
        amf.event(out, "nas_malformed", amf_ue_ngap_id=ctx.amf_ue_ngap_id, container=True, error=str(exc)[:200])
        return msg
    if type(full) is not type(msg):
        amf.event(out, "nas_unexpected", amf_ue_ngap_id=ctx.amf_ue_ngap_id, container=True,
                  message=type(full).__name__)
        return msg
    return full  # type: ignore[return-value]


def uplink_nas(amf: Amf, ctx: UeContext, pdu: bytes, out: list[Output]) -> None:
    """The NAS-PDU of an UPLINK NAS TRANSPORT."""
    aid = ctx.amf_ue_ngap_id
    try:
        epd, sht, _ = nas.peek_header(pdu)
        if epd != nas.ExtendedProtocolDiscriminator.FIVEGMM:
            raise DecodeError("5GSM message outside an UL NAS TRANSPORT")
    except DecodeError as exc:
        amf.event(out, "nas_malformed", amf_ue_ngap_id=aid, error=str(exc)[:200])
        return
    protected = sht != 0
    if not protected:
        try:
            msg = nas.decode_plain(pdu)
        except DecodeError as exc:
            amf.event(out, "nas_malformed", amf_ue_ngap_id=aid, error=str(exc)[:200])
            return
        if ctx.sec_active or ctx.proc == "smc":
            if not isinstance(msg, _PLAIN_OK.get(ctx.proc, ())):
                amf.event(out, "nas_unprotected_dropped", amf_ue_ngap_id=aid, message=type(msg).__name__,
                          procedure=ctx.proc)
                return
        elif not isinstance(msg, _PLAIN_OK.get(ctx.proc, ()) + _PLAIN_BEFORE_SECURITY):
            amf.event(out, "nas_unprotected_dropped", amf_ue_ngap_id=aid, message=type(msg).__name__,
                      procedure=ctx.proc)
            return
    else:
        contexts = []
        if ctx.proc == "smc" and ctx.new_sec is not None:
            contexts.append(ctx.new_sec)
        if ctx.sec_active and ctx.sec is not None:
            contexts.append(ctx.sec)
        if not contexts:
            amf.event(out, "nas_no_security_context", amf_ue_ngap_id=aid)
            return
        err: Exception | None = None
        for sec in contexts:
            try:
                plain, info = sec.unprotect(pdu)
                break
            except (CryptoError, DecodeError) as exc:
                err = exc
        else:
            kind = ("nas_replay" if isinstance(err, nas.NasReplay) else
                    "nas_mac_failure" if isinstance(err, nas.NasMacFailure) else "nas_malformed")
            amf.event(out, kind, amf_ue_ngap_id=aid, supi=ctx.supi_str, error=str(err)[:200])
            return
        if sec.nea != 0 and not info.ciphered:
            amf.event(out, "nas_not_ciphered", amf_ue_ngap_id=aid, count=info.count)
            return
        try:
            msg = nas.decode_plain(plain)
        except DecodeError as exc:
            amf.event(out, "nas_malformed", amf_ue_ngap_id=aid, error=str(exc)[:200])
            return
    _dispatch(amf, ctx, msg, protected, out)


def _dispatch(amf: Amf, ctx: UeContext, msg: nas.NasMessage, protected: bool, out: list[Output]) -> None:
    if isinstance(msg, nas.UlNasTransport):
        session.ul_nas_transport(amf, ctx, msg, out)
    elif isinstance(msg, nas.AuthenticationResponse):
        authentication.response(amf, ctx, msg, out)
    elif isinstance(msg, nas.AuthenticationFailure):
        authentication.failure(amf, ctx, msg, out)
    elif isinstance(msg, nas.SecurityModeComplete):
        security_mode.complete(amf, ctx, msg, out)
    elif isinstance(msg, nas.SecurityModeReject):
        security_mode.reject(amf, ctx, msg, out)
    elif isinstance(msg, nas.IdentityResponse):
        registration.identity_response(amf, ctx, msg, out)
    elif isinstance(msg, nas.RegistrationComplete):
        registration.complete(amf, ctx, out)
    elif isinstance(msg, nas.RegistrationRequest):
        registration.start(amf, ctx, msg, ctx if protected and ctx.sec_active else None, out)
    elif isinstance(msg, nas.DeregistrationRequestUeOriginating):
        deregistration.ue_originating(amf, ctx, msg, out)
    elif isinstance(msg, nas.DeregistrationAcceptUeTerminated):
        deregistration.accept_ue_terminated(amf, ctx, out)
    elif isinstance(msg, nas.ConfigurationUpdateComplete):
        amf.event(out, "configuration_update_complete", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=ctx.supi_str)
    elif isinstance(msg, nas.FiveGmmStatus):
        amf.event(out, "nas_5gmm_status", amf_ue_ngap_id=ctx.amf_ue_ngap_id, cause=int(msg.cause))
    else:
        amf.event(out, "nas_unexpected", amf_ue_ngap_id=ctx.amf_ue_ngap_id, message=type(msg).__name__,
                  procedure=ctx.proc)
