"""N2 dispatch (TS 38.413): decode, check, route each NGAP PDU to its procedure.

Checks done here, before any procedure runs:

* malformed PDU -> ERROR INDICATION, protocol cause transfer-syntax-error, and
  ``Event("ngap_malformed")`` (TS 38.413 10.2/10.3);
* a well-formed PDU of a procedure the AMF does not handle, or an AMF-originated message type
  sent by a gNB -> ERROR INDICATION, protocol/message-not-compatible-with-receiver-state
  (``Event("ngap_unexpected")``);
* anything but NG SETUP REQUEST before a successful NG Setup -> ERROR INDICATION with the same
  cause (``Event("ngap_before_setup")``);
* UE-associated messages: the AMF-UE-NGAP-ID must name a UE context bound to *this* association
  and the RAN-UE-NGAP-ID must match (Open5GS issue #4498: a second gNB must not act on another
  gNB's UE). Otherwise ERROR INDICATION to the sender with radioNetwork cause
  unknown-local-UE-NGAP-ID / inconsistent-remote-UE-NGAP-ID and ``Event("ngap_foreign_ue")``
  (or ``"ngap_unknown_ue"`` for an id that names no context); the victim context is untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.errors import DecodeError
from testbed.protocols import ngap

from . import deregistration, nas_handler, ng_setup, registration, session
from .context import GnbContext, UeContext
from .outputs import Output

if TYPE_CHECKING:
    from .amf import Amf

__all__ = ["handle"]

_NOT_COMPATIBLE = ngap.Cause("protocol", "message-not-compatible-with-receiver-state")


def _error(amf: Amf, assoc: int, cause: ngap.Cause, out: list[Output], amf_id: int | None = None,
           ran_id: int | None = None) -> None:
    stream = 0 if amf_id is None and ran_id is None else 1
    amf.send_ngap(assoc, ngap.ErrorIndication(amf_id, ran_id, cause), out, stream)


def handle(amf: Amf, assoc: int, data: bytes, stream: int, out: list[Output]) -> None:
    try:
        msg = amf.codec.decode(data)
    except DecodeError as exc:
        amf.event(out, "ngap_malformed", assoc=assoc, error=str(exc)[:200], length=len(data))
        _error(amf, assoc, ngap.Cause("protocol", "transfer-syntax-error"), out)
        return
    if isinstance(msg, ngap.NGSetupRequest):
        if assoc not in amf.assocs:
            amf.assocs[assoc] = ""
        ng_setup.handle(amf, assoc, msg, out)
        return
    gnb = amf.gnb_contexts.get(assoc)
    amf_id = getattr(msg, "amf_ue_ngap_id", None)
    ran_id = getattr(msg, "ran_ue_ngap_id", None)
    if isinstance(msg, ngap.ErrorIndication):
        amf.event(out, "ngap_error_indication", assoc=assoc, amf_ue_ngap_id=amf_id, ran_ue_ngap_id=ran_id,
                  cause=None if msg.cause is None else str(msg.cause))
        return
    if gnb is None:
        amf.event(out, "ngap_before_setup", assoc=assoc, message=type(msg).__name__)
        _error(amf, assoc, _NOT_COMPATIBLE, out, amf_id, ran_id)
        return
    if isinstance(msg, ngap.InitialUEMessage):
        registration.initial_ue_message(amf, gnb, msg, out)
        return
    if isinstance(msg, ngap.NGReset):
        _ng_reset(amf, gnb, msg, out)
        return
    handler = _UE_HANDLERS.get(type(msg))
    if handler is None:
        name = msg.name if isinstance(msg, ngap.UnsupportedMessage) else type(msg).__name__
        amf.event(out, "ngap_unexpected", assoc=assoc, message=name)
        _error(amf, assoc, _NOT_COMPATIBLE, out, amf_id, ran_id)
        return
    ctx = _lookup(amf, gnb, msg, out)
    if ctx is not None:
        handler(amf, ctx, msg, out)


def _lookup(amf: Amf, gnb: GnbContext, msg: ngap.NgapMessage, out: list[Output]) -> UeContext | None:
    """The UE context the message names, if it is bound to the sending association (#4498)."""
    amf_id: int = msg.amf_ue_ngap_id  # type: ignore[attr-defined]
    ran_id: int = msg.ran_ue_ngap_id  # type: ignore[attr-defined]
    ctx = amf.ues.get(amf_id)
    name = type(msg).__name__
    if ctx is None or ctx.assoc is None:
        amf.event(out, "ngap_unknown_ue", assoc=gnb.assoc, amf_ue_ngap_id=amf_id, ran_ue_ngap_id=ran_id,
                  message=name)
        _error(amf, gnb.assoc, ngap.Cause("radioNetwork", "unknown-local-UE-NGAP-ID"), out, amf_id, ran_id)
        return None
    if ctx.assoc != gnb.assoc:
        amf.event(out, "ngap_foreign_ue", assoc=gnb.assoc, amf_ue_ngap_id=amf_id, ran_ue_ngap_id=ran_id,
                  owner_assoc=ctx.assoc, message=name, reason="other-association")
        _error(amf, gnb.assoc, ngap.Cause("radioNetwork", "unknown-local-UE-NGAP-ID"), out, amf_id, ran_id)
        return None
    if ctx.ran_ue_ngap_id != ran_id:
        amf.event(out, "ngap_foreign_ue", assoc=gnb.assoc, amf_ue_ngap_id=amf_id, ran_ue_ngap_id=ran_id,
                  owner_assoc=ctx.assoc, message=name, reason="ran-ue-ngap-id-mismatch")
        _error(amf, gnb.assoc, ngap.Cause("radioNetwork", "inconsistent-remote-UE-NGAP-ID"), out, amf_id, ran_id)
        return None
    return ctx


def _uplink_nas(amf: Amf, ctx: UeContext, msg: ngap.UplinkNASTransport, out: list[Output]) -> None:
    nas_handler.uplink_nas(amf, ctx, msg.nas_pdu, out)


def _ng_reset(amf: Amf, gnb: GnbContext, msg: ngap.NGReset, out: list[Output]) -> None:
    """NG Reset from the gNB (TS 38.413 8.7.4.2.2): release the named (or all) UE N2 bindings."""
    if msg.ue_connections is None:
        amf.drop_gnb_ues(gnb, out)
        ack = ngap.NGResetAcknowledge()
    else:
        done = []
        for c in msg.ue_connections:
            ctx = amf.ues.get(c.amf_ue_ngap_id) if c.amf_ue_ngap_id is not None else None
            if ctx is None and c.ran_ue_ngap_id is not None:
                aid = amf.n2.get((gnb.assoc, c.ran_ue_ngap_id))
                ctx = amf.ues.get(aid) if aid is not None else None
            if ctx is not None and ctx.assoc == gnb.assoc:
                amf.detach_n2(ctx, out)
            done.append(c)
        ack = ngap.NGResetAcknowledge(tuple(done))
    amf.send_ngap(gnb.assoc, ack, out)
    amf.event(out, "ng_reset", assoc=gnb.assoc, partial=msg.ue_connections is not None)


_UE_HANDLERS = {
    ngap.UplinkNASTransport: _uplink_nas,
    ngap.InitialContextSetupResponse: registration.initial_context_setup_response,
    ngap.InitialContextSetupFailure: registration.initial_context_setup_failure,
    ngap.PDUSessionResourceSetupResponse: session.setup_response,
    ngap.UEContextReleaseRequest: deregistration.release_request,
    ngap.UEContextReleaseComplete: deregistration.release_complete,
}
try:  # PDU Session Resource Release (another module of the NGAP codec)
    from testbed.protocols.ngap.release_messages import PDUSessionResourceReleaseResponse

    _UE_HANDLERS[PDUSessionResourceReleaseResponse] = session.release_response
except ImportError:  # pragma: no cover
    pass
