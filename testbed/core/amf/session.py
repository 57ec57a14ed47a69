"""5GSM relay between the UE and the SMF (TS 23.502 4.3.2.2.1, TS 24.501 5.4.5, 8.2.10/8.2.11).

The AMF does not interpret 5GSM beyond the message type: UL NAS TRANSPORT with a PDU SESSION
ESTABLISHMENT REQUEST becomes :class:`SmfCreate` (with the UE's subscribed DNNs and S-NSSAIs),
RELEASE REQUEST/COMPLETE become :class:`SmfRelease`. The SMF's :class:`SmReply` comes back
through ``Amf.smf_reply``: "setup" -> PDU SESSION RESOURCE SETUP REQUEST with the N2 transfer and
a protected DL NAS TRANSPORT carrying the N1 SM message; "reject" / "error" -> DL NAS TRANSPORT;
"release" -> PDU SESSION RESOURCE RELEASE COMMAND when the NGAP codec has it, else DL NAS
TRANSPORT; "released" -> the session is forgotten; "activate" (and "error" for a session being
re-activated) belongs to :mod:`.service`. The gNB's PDU SESSION RESOURCE SETUP RESPONSE (and the
setup list of an INITIAL CONTEXT SETUP RESPONSE) becomes :class:`SmfN2Response` per session (failed
ones with ``success=False``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testbed.errors import DecodeError
from testbed.protocols import nas, ngap

from .context import PduSession, UeContext
from .outputs import Output, SmContextCreate, SmfCreate, SmfN2Response, SmfRelease, SmReply

if TYPE_CHECKING:
    from .amf import Amf

__all__ = ["release_response", "setup_response", "smf_reply", "ul_nas_transport"]

_SM = nas.SmMessageType


def _supi(ctx: UeContext) -> str:
    if ctx.supi is not None:
        return ctx.supi.to_string()
    return f"imei-{ctx.pei}" if ctx.pei else f"unauthenticated-{ctx.amf_ue_ngap_id}"


def ul_nas_transport(amf: Amf, ctx: UeContext, msg: nas.UlNasTransport, out: list[Output]) -> None:
    aid = ctx.amf_ue_ngap_id
    if not (ctx.registered or ctx.proc == "accept"):
        amf.event(out, "nas_unexpected", amf_ue_ngap_id=aid, message="UlNasTransport", procedure=ctx.proc)
        return
    if int(msg.payload_container_type) != nas.PayloadContainerType.N1_SM_INFORMATION:
        amf.event(out, "nas_unsupported_payload", amf_ue_ngap_id=aid, container=int(msg.payload_container_type))
        return
    payload = msg.payload_container
    try:
        epd, psi, mtype = nas.peek_header(payload)
        if epd != nas.ExtendedProtocolDiscriminator.FIVEGSM:
            raise DecodeError("N1 SM information is not a 5GSM message")
    except DecodeError as exc:
        amf.event(out, "nas_malformed", amf_ue_ngap_id=aid, sm=True, error=str(exc)[:200])
        return
    psi = msg.pdu_session_id if msg.pdu_session_id is not None else psi
    if not 1 <= psi <= 15:
        amf.event(out, "nas_malformed", amf_ue_ngap_id=aid, sm=True, error=f"PDU session id {psi}")
        return
    supi = _supi(ctx)
    if ctx.pdu_sessions is None:
        ctx.pdu_sessions = {}
    if mtype == _SM.PDU_SESSION_ESTABLISHMENT_REQUEST:
        snssai = None if msg.s_nssai is None else (msg.s_nssai.sst, msg.s_nssai.sd)
        sub = ctx.subscription
        dnns = tuple(sub.dnn) if sub is not None else ()
        snssais = tuple(tuple(s) for s in sub.snssai) if sub is not None else ()
        ctx.pdu_sessions[psi] = PduSession(snssai, msg.dnn)
        out.append(SmfCreate(aid, SmContextCreate(supi=supi, pdu_session_id=psi, dnn=msg.dnn, snssai=snssai,
                                                  n1_sm=payload, subscribed_dnns=dnns,
                                                  subscribed_snssai=snssais)))  # type: ignore[arg-type]
        amf.event(out, "pdu_session_request", amf_ue_ngap_id=aid, supi=supi, pdu_session_id=psi, dnn=msg.dnn)
    elif mtype in (_SM.PDU_SESSION_RELEASE_REQUEST, _SM.PDU_SESSION_RELEASE_COMPLETE):
        out.append(SmfRelease(aid, supi, psi, payload))
    else:
        amf.event(out, "nas_unsupported_5gsm", amf_ue_ngap_id=aid, message_type=mtype)


def _release_messages() -> Any:
    """:mod:`testbed.protocols.ngap.release_messages` (PDU Session Resource Release), if present."""
    try:
        from testbed.protocols.ngap import release_messages, release_transfer
    except ImportError:  # pragma: no cover - before the codec has the procedure
        return None

    class _Rel:
        PDUSessionResourceReleaseCommand = release_messages.PDUSessionResourceReleaseCommand
        PduSessionToRelease = release_messages.PduSessionToRelease
        PduSessionResourceReleaseCommandTransfer = release_transfer.PduSessionResourceReleaseCommandTransfer
    return _Rel


def release_response(amf: Amf, ctx: UeContext, msg: Any, out: list[Output]) -> None:
    """PDU SESSION RESOURCE RELEASE RESPONSE (TS 38.413 8.2.2.2): the user plane is gone."""
    for item in getattr(msg, "sessions", ()) or ():
        s = (ctx.pdu_sessions or {}).get(item.pdu_session_id)
        if s is not None:
            s.active = False
    amf.event(out, "pdu_session_resource_released", amf_ue_ngap_id=ctx.amf_ue_ngap_id,
              pdu_session_ids=[i.pdu_session_id for i in getattr(msg, "sessions", ()) or ()])


def _dl_nas(amf: Amf, ctx: UeContext, psi: int, n1_sm: bytes) -> bytes:
    plain = nas.DlNasTransport(payload_container=n1_sm, pdu_session_id=psi).encode()
    return amf.protect(ctx, plain)


def smf_reply(amf: Amf, amf_ue_ngap_id: int, reply: SmReply, out: list[Output]) -> None:
    ctx = amf.ues.get(amf_ue_ngap_id)
    psi = reply.pdu_session_id
    if ctx is None or not ctx.connected or ctx.ran_ue_ngap_id is None:
        amf.event(out, "smf_reply_dropped", amf_ue_ngap_id=amf_ue_ngap_id, pdu_session_id=psi, kind=reply.kind,
                  reason="no-context" if ctx is None else "ue-idle")
        if ctx is not None and reply.kind == "activate" and ctx.supi is not None:
            from .outputs import SmfDeactivate  # the UE went idle meanwhile: the UP stays down

            out.append(SmfDeactivate(ctx.supi.to_string(), (psi,)))
        return
    from . import service

    if service.smf_answer(amf, ctx, reply, out):  # user-plane re-activation (TS 23.502 4.2.3.2)
        return
    sessions = ctx.pdu_sessions if ctx.pdu_sessions is not None else {}
    supi = _supi(ctx)
    aid, rid = ctx.amf_ue_ngap_id, ctx.ran_ue_ngap_id
    if reply.kind == "setup" and reply.n1_sm is not None and reply.n2_transfer is not None:
        s = sessions.get(psi)
        sst, sd = (s.snssai if s is not None and s.snssai is not None else
                   (ctx.allowed_nssai[0] if ctx.allowed_nssai else amf.config.snssais[0]))
        item = ngap.PduSessionSetupRequest(psi, ngap.Snssai(sst, sd), reply.n2_transfer,
                                           _dl_nas(amf, ctx, psi, reply.n1_sm))
        amf.send_ue_ngap(ctx, ngap.PDUSessionResourceSetupRequest(aid, rid, (item,)), out)
        amf.event(out, "pdu_session_setup", amf_ue_ngap_id=aid, supi=supi, pdu_session_id=psi,
                  ue_ipv4=reply.ue_ipv4)
        return
    if reply.kind == "release":
        nas_pdu = _dl_nas(amf, ctx, psi, reply.n1_sm) if reply.n1_sm is not None else None
        sent = False
        rel = _release_messages()
        if rel is not None:
            transfer = reply.n2_transfer or rel.PduSessionResourceReleaseCommandTransfer().to_bytes()
            cmd = rel.PDUSessionResourceReleaseCommand(aid, rid, (rel.PduSessionToRelease(psi, transfer),),
                                                       nas_pdu=nas_pdu)
            amf.send_ue_ngap(ctx, cmd, out)
            sent = True
        if not sent and nas_pdu is not None:
            amf.send_ue_ngap(ctx, ngap.DownlinkNASTransport(aid, rid, nas_pdu), out)
        if psi in sessions:
            sessions[psi].active = False
        amf.event(out, "pdu_session_release", amf_ue_ngap_id=aid, supi=supi, pdu_session_id=psi,
                  ngap_release=sent, cause=reply.cause)
        return
    if reply.n1_sm is not None:
        amf.send_ue_ngap(ctx, ngap.DownlinkNASTransport(aid, rid, _dl_nas(amf, ctx, psi, reply.n1_sm)), out)
    if reply.kind in ("reject", "released"):
        sessions.pop(psi, None)
    kind = {"reject": "pdu_session_reject", "released": "pdu_session_release"}.get(reply.kind, "pdu_session_error")
    amf.event(out, kind, amf_ue_ngap_id=aid, supi=supi, pdu_session_id=psi, cause=reply.cause, kind=reply.kind)


def setup_response(amf: Amf, ctx: UeContext, msg: ngap.PDUSessionResourceSetupResponse,
                   out: list[Output]) -> None:
    """PDU SESSION RESOURCE SETUP RESPONSE (TS 38.413 8.2.1.2): the gNB's transfers to the SMF."""
    supi = _supi(ctx)
    sessions = ctx.pdu_sessions if ctx.pdu_sessions is not None else {}
    for item in msg.setup or ():
        t = item.transfer
        data = t if isinstance(t, bytes | bytearray) else t.to_bytes()
        if item.pdu_session_id in sessions:
            sessions[item.pdu_session_id].active = True
        out.append(SmfN2Response(ctx.amf_ue_ngap_id, supi, item.pdu_session_id, bytes(data), True))
    for f in msg.failed or ():
        data = ngap.PduSessionResourceSetupUnsuccessfulTransfer(f.cause).to_bytes()
        out.append(SmfN2Response(ctx.amf_ue_ngap_id, supi, f.pdu_session_id, data, False))
        amf.event(out, "pdu_session_setup_failed", amf_ue_ngap_id=ctx.amf_ue_ngap_id, supi=supi,
                  pdu_session_id=f.pdu_session_id, cause=str(f.cause))
