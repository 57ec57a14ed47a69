"""NAS security on the UE side (TS 24.501 4.4, 5.4.2; TS 33.501 6.4, 6.7.2).

* Uplink (4.4.5): once the secure exchange of NAS messages is established on the connection, every
  5GMM message is integrity protected and ciphered with the current 5G NAS security context
  (security header type 2); before that, only plain messages go up, except initial NAS messages
  sent with a valid context (integrity protected, 4.4.6; built in :mod:`.registration`).
* Downlink (4.4.4.2): a protected message must verify with the current context (MAC and NAS COUNT
  replay check, TS 33.501 6.4.3.1); a failure is dropped, counted and reported. A plain message
  is processed only before the secure exchange is established and only if it is one of those the
  UE may accept unprotected (IDENTITY REQUEST for the SUCI, AUTHENTICATION REQUEST/REJECT,
  REGISTRATION REJECT other than #76, DEREGISTRATION ACCEPT, SERVICE REJECT other than #76,
  5GMM STATUS); afterwards every plain 5GMM message is dropped.
* SECURITY MODE COMMAND (5.4.2.3): header type 3; the UE derives K_NASint/K_NASenc from the KAMF
  of the authentication just run (or the current one for the same ngKSI), verifies the MAC with
  the new context, checks that the replayed UE security capabilities equal what it sent and that
  it supports the selected algorithms (else SECURITY MODE REJECT #23, a MAC failure gives #24,
  TS 33.501 6.7.2), accepts 5G-IA0 only during an emergency registration, and answers SECURITY MODE
  COMPLETE with the new context (header type 4), with the IMEISV when requested and the complete
  REGISTRATION REQUEST in the NAS message container when the network asks for it (RINMR, 4.4.6).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.crypto import keys
from testbed.errors import CryptoError, DecodeError
from testbed.protocols import nas

from .codec import decode_dl
from .outputs import Event, SendNas, UeOutput

if TYPE_CHECKING:
    from .machine import UeNas

__all__ = ["PLAIN_OK", "handle_smc", "send", "unprotect"]

_SHT = nas.SecurityHeaderType
_C = nas.FiveGmmCause

#: 5GMM messages the UE processes without integrity protection before the secure exchange is
#: established (TS 24.501 4.4.4.2); the #76 / SUCI conditions are checked by the caller.
PLAIN_OK = (nas.IdentityRequest, nas.AuthenticationRequest, nas.AuthenticationReject, nas.RegistrationReject,
            nas.DeregistrationAcceptUeOriginating, nas.ServiceReject, nas.FiveGmmStatus)


def send(ue: UeNas, out: list[UeOutput], plain: bytes) -> None:
    """Send a plain 5GMM message on the current connection, protected per 4.4.5.

    With the ``replay_nas`` knob the first protected message after an earlier one is replaced,
    once, by that earlier message as it was sent (same NAS COUNT): the network must drop it.
    """
    sec = ue.sec
    if ue.sec_active and sec is not None:
        if ue.knobs.replay_nas and not ue.replay_done and ue.last_protected_ul is not None:
            ue.replay_done = True
            ue.counters["replays_sent"] += 1
            out.append(Event("ue.nas_replay_sent", {"length": len(ue.last_protected_ul)}))
            out.append(SendNas(ue.last_protected_ul, False))
            return
        pdu = sec.protect(plain, _SHT.INTEGRITY_PROTECTED_AND_CIPHERED)
        ue.last_protected_ul = pdu
    else:
        pdu = plain
    ue.counters["nas_tx"] += 1
    out.append(SendNas(pdu, False))


def unprotect(ue: UeNas, pdu: bytes, out: list[UeOutput]) -> bytes | None:
    """Verify and decipher a protected downlink 5GMM message (header type 1 or 2) with the current
    context; ``None`` (dropped, counted, reported) on MAC failure, replay or a malformed envelope."""
    sec = ue.sec
    if sec is None:
        return None
    try:
        plain, info = sec.unprotect(pdu)
    except nas.NasReplay:
        ue.counters["nas_replay"] += 1
        out.append(Event("ue.nas_replay", {"dl_count": sec.dl_count}))
        return None
    except nas.NasMacFailure:
        ue.counters["nas_mac_failure"] += 1
        out.append(Event("ue.nas_mac_failure", {"dl_count": sec.dl_count}))
        return None
    except (DecodeError, CryptoError) as exc:
        ue.counters["nas_malformed"] += 1
        out.append(Event("ue.nas_malformed", {"error": str(exc)[:120]}))
        return None
    if sec.nea != 0 and not info.ciphered and ue.sec_active:
        # 4.4.5: with ciphering in use the network ciphers every message but initial ones; a
        # relay can rewrite header type 2 into 1 (the header is not MAC protected): drop it.
        ue.counters["nas_not_ciphered"] += 1
        out.append(Event("ue.nas_dropped", {"reason": "not-ciphered"}))
        return None
    ue.sec_active = True  # 4.4.2.5: the network uses our context on this connection
    return plain


def handle_smc(ue: UeNas, pdu: bytes, out: list[UeOutput]) -> None:
    """SECURITY MODE COMMAND (TS 24.501 5.4.2.3-5.4.2.5, TS 33.501 6.7.2)."""
    try:
        env = nas.SecurityProtectedMessage.decode(pdu)
        smc = decode_dl(env.payload)
    except DecodeError as exc:
        ue.counters["nas_malformed"] += 1
        out.append(Event("ue.nas_malformed", {"error": str(exc)[:120], "message": "SecurityModeCommand"}))
        return
    if not isinstance(smc, nas.SecurityModeCommand):
        ue.counters["nas_unexpected"] += 1
        out.append(Event("ue.nas_dropped", {"reason": "new-context-header-not-smc", "message": smc.name}))
        return
    alg = smc.selected_algorithms
    ksi = smc.ngksi.ksi
    emergency = ue.reg_type == "emergency"
    if alg.integrity == 0 and not emergency:
        # 5.4.2.3: 5G-IA0 only for an emergency registration / emergency PDU session
        _reject(ue, out, _C.SECURITY_MODE_REJECTED_UNSPECIFIED, "null-integrity-refused")
        return
    # the KAMF the ngKSI names (5.4.2.3): the one of the authentication just run, or the current
    # one; an unauthenticated emergency registration has none (TS 33.501 10.2.2)
    candidates: list[bytes] = []
    if ue.pending_kamf is not None and ksi == ue.pending_ngksi:
        candidates.append(ue.pending_kamf)
    if ue.kamf is not None and ue.sec is not None and ksi == ue.sec.ngksi.ksi:
        candidates.append(ue.kamf)
    if alg.integrity == 0:
        candidates.append(ue.pending_kamf or bytes(32))
    # Interoperability tolerance: an AMF naming another ngKSI in the SMC than in the
    # AUTHENTICATION REQUEST just answered. Only the KAMF of that run can make the MAC verify,
    # so trying it weakens nothing; it is counted and reported ("ue.smc_ngksi_mismatch").
    tolerated = ue.pending_kamf is not None and ue.pending_kamf not in candidates
    if tolerated:
        candidates.append(ue.pending_kamf)  # type: ignore[arg-type]
    if not candidates:
        _reject(ue, out, _C.SECURITY_MODE_REJECTED_UNSPECIFIED, "no-kamf-for-ngksi", ngksi=ksi)
        return
    ctx: nas.NasSecurityContext | None = None
    kamf = b""
    for kamf in candidates:
        k_enc, k_int = keys.nas_keys(kamf, alg.ciphering, alg.integrity)
        ctx = nas.NasSecurityContext("ue", k_nas_int=k_int, k_nas_enc=k_enc, nia=alg.integrity,
                                     nea=alg.ciphering, ngksi=nas.NgKsi(ksi))
        try:
            ctx.unprotect(pdu)
            break
        except (CryptoError, DecodeError):
            ctx = None
    if ctx is None:
        ue.counters["nas_mac_failure"] += 1
        out.append(Event("ue.nas_mac_failure", {"message": "SecurityModeCommand"}))
        _reject(ue, out, _C.SECURITY_MODE_REJECTED_UNSPECIFIED, "smc-mac-failure")
        return
    if tolerated and kamf is ue.pending_kamf and ksi != ue.pending_ngksi:
        ue.counters["smc_ngksi_mismatch"] += 1
        out.append(Event("ue.smc_ngksi_mismatch", {"smc_ngksi": ksi, "auth_ngksi": ue.pending_ngksi}))
    sent = ue.sent_capability
    if sent is None or smc.replayed_ue_security_capability != sent:
        # TS 33.501 6.7.2: bidding-down protection - the replayed capabilities must be ours
        _reject(ue, out, _C.UE_SECURITY_CAPABILITIES_MISMATCH, "replayed-capabilities-mismatch")
        return
    if (alg.integrity not in sent.nia and alg.integrity != 0) or (alg.ciphering not in sent.nea and alg.ciphering != 0):
        # 5G-EA0 is always supported; 5G-IA0 passed the emergency check above
        _reject(ue, out, _C.UE_SECURITY_CAPABILITIES_MISMATCH, "unsupported-algorithm",
                nia=alg.integrity, nea=alg.ciphering)
        return
    ue.sec, ue.kamf, ue.sec_active = ctx, kamf, True
    ue.pending_kamf = None
    ue.last_auth = None  # 5.4.1.3.4: RAND/RES* are deleted once security mode completes
    add = smc.additional_security_information
    container = None
    if add is not None and add.retransmission_requested and ue.full_request is not None:
        container = ue.full_request
    imeisv = nas.Pei(ue.usim.imeisv, imeisv=True) if smc.imeisv_request else None
    wire = ctx.protect(ue.codec.smc_complete(imeisv, container), _SHT.INTEGRITY_PROTECTED_AND_CIPHERED_NEW_CONTEXT)
    ue.last_protected_ul = wire
    ue.counters["nas_tx"] += 1
    out.append(SendNas(wire, False))
    out.append(Event("ue.security_mode_complete", {"nia": alg.integrity, "nea": alg.ciphering, "ngksi": ksi}))


def _reject(ue: UeNas, out: list[UeOutput], cause: int, reason: str, **fields: object) -> None:
    ue.counters["security_mode_reject"] += 1
    out.append(Event("ue.security_mode_reject", {"cause": int(cause), "reason": reason, **fields}))
    ue.counters["nas_tx"] += 1
    out.append(SendNas(nas.SecurityModeReject(cause=cause).encode(), False))
