"""UE-side NAS encodings and decodings without pycrate (TS 24.501 8.2, 8.3, 9; TS 24.007 11.2.4).

A UE simulator runs thousands of registrations per second; pycrate frames one NAS message in
50-400 us. This module builds the UE's uplink messages directly as octets and frames the hot
downlink messages by plain indexing:

* encoders: REGISTRATION REQUEST (complete and cleartext part, 8.2.6 / 4.4.6), AUTHENTICATION
  RESPONSE (8.2.2), SECURITY MODE COMPLETE (8.2.26), UL NAS TRANSPORT (8.2.10), REGISTRATION
  COMPLETE (8.2.8). The unit tests check each against the typed codec of
  :mod:`testbed.protocols.nas` octet for octet.
* :func:`decode_dl`: AUTHENTICATION REQUEST (8.2.1), SECURITY MODE COMMAND (8.2.25), REGISTRATION
  ACCEPT (8.2.7), DL NAS TRANSPORT (8.2.11) and PDU SESSION ESTABLISHMENT ACCEPT (8.3.2) are framed
  here; the IE values go through the *same* value codecs as the typed codec (each class's
  ``_FIELDS``), so the result is the same dataclass. Anything else - another message, an IE this
  framer does not list, a repeated IE, a truncated IE - falls back to
  :func:`testbed.protocols.nas.decode_plain`, which decides (and raises ``DecodeError`` on
  malformed input). ``STATS`` counts both paths.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from testbed.protocols import nas
from testbed.protocols.nas.ies import encode_dnn, encode_nssai, encode_pdu_session_status

__all__ = ["STATS", "UeCodec", "decode_dl"]

STATS: Counter[tuple[str, str]] = Counter()

# IE formats (TS 24.007 11.2.1.1)
_TV1, _TV, _TLV, _TLVE = 1, 3, 4, 6


class UeCodec:
    """Encoders for the UE's uplink NAS messages (plain, before NAS protection)."""

    #: REGISTRATION COMPLETE (8.2.8): header only.
    REGISTRATION_COMPLETE = b"\x7e\x00\x43"

    @staticmethod
    def authentication_response(res_star: bytes) -> bytes:
        """AUTHENTICATION RESPONSE (8.2.2): authentication response parameter (IEI 0x2D, 9.11.3.17)."""
        return b"\x7e\x00\x57\x2d" + bytes([len(res_star)]) + res_star

    @staticmethod
    def registration_request(rt: int, ngksi: nas.NgKsi, ident: nas.MobileIdentity, cap: nas.UeSecurityCapability,
                             nssai: tuple[nas.SNssai, ...] | None, pdu_sessions: frozenset[int] | None, *,
                             mm_capability: bool = True, follow_on: bool = False) -> tuple[bytes, bytes]:
        """(complete REGISTRATION REQUEST, its cleartext-IE part) (8.2.6, 4.4.6).

        Octet 4: ngKSI (bits 5-8), follow-on request and 5GS registration type (bits 1-4); the 5GS
        mobile identity (LV-E); then, in the IE order of table 8.2.6.1.1: 5GMM capability (0x10),
        UE security capability (0x2E, a cleartext IE), requested NSSAI (0x2F), PDU session status
        (0x50)."""
        idb = ident.to_nas_bytes()
        head = (b"\x7e\x00\x41" + bytes([(ngksi.to_nibble() << 4) | (int(follow_on) << 3) | (int(rt) & 7)])
                + len(idb).to_bytes(2, "big") + idb)
        capb = cap.to_bytes()
        cap_ie = b"\x2e" + bytes([len(capb)]) + capb
        full = head + (b"\x10\x01\x00" if mm_capability else b"") + cap_ie
        if nssai:
            v = encode_nssai(nssai)
            full += b"\x2f" + bytes([len(v)]) + v
        if pdu_sessions:
            full += b"\x50\x02" + encode_pdu_session_status(pdu_sessions)
        return full, head + cap_ie

    @staticmethod
    def with_container(clear: bytes, container: bytes) -> bytes:
        """Append the NAS message container IE (IEI 0x71, TLV-E, 9.11.3.33): it follows every
        cleartext IE of REGISTRATION REQUEST in the IE order of 8.2.6."""
        return clear + b"\x71" + len(container).to_bytes(2, "big") + container

    @staticmethod
    def smc_complete(imeisv: nas.Pei | None, container: bytes | None) -> bytes:
        """SECURITY MODE COMPLETE (8.2.26): IMEISV (0x77) and NAS message container (0x71), TLV-E."""
        out = b"\x7e\x00\x5e"
        if imeisv is not None:
            v = imeisv.to_nas_bytes()
            out += b"\x77" + len(v).to_bytes(2, "big") + v
        if container is not None:
            out += b"\x71" + len(container).to_bytes(2, "big") + container
        return out

    @staticmethod
    def ul_nas_transport(sm: bytes, psi: int, request_type: int | None = None,
                         snssai: tuple[int, int | None] | None = None, dnn: str | None = None) -> bytes:
        """UL NAS TRANSPORT (8.2.10) with N1 SM information: payload container type (bits 1-4 of
        octet 4), payload container (LV-E), PDU session ID (0x12), request type (0x8-),
        S-NSSAI (0x22), DNN (0x25)."""
        out = b"\x7e\x00\x67\x01" + len(sm).to_bytes(2, "big") + sm + bytes([0x12, psi])
        if request_type is not None:
            out += bytes([0x80 | (int(request_type) & 7)])
        if snssai is not None:
            v = nas.SNssai(*snssai).to_bytes()
            out += b"\x22" + bytes([len(v)]) + v
        if dnn is not None:
            v = encode_dnn(dnn)
            out += b"\x25" + bytes([len(v)]) + v
        return out


# --------------------------------------------------------------------------- downlink framing

# optional IEs: IEI (high nibble for type 1) -> (pycrate IE name, format, value length for TV)
_OPT: dict[type, dict[int, tuple[str, int, int]]] = {
    nas.AuthenticationRequest: {0x21: ("RAND", _TV, 16), 0x20: ("AUTN", _TLV, 0), 0x78: ("EAPMsg", _TLVE, 0)},
    nas.SecurityModeCommand: {0xE: ("IMEISVReq", _TV1, 0), 0x36: ("Add5GSecInfo", _TLV, 0),
                              0x78: ("EAPMsg", _TLVE, 0), 0x38: ("ABBA", _TLV, 0)},
    nas.RegistrationAccept: {0x77: ("GUTI", _TLVE, 0), 0x4A: ("EquivPLMNList", _TLV, 0),
                             0x54: ("5GSTAIList", _TLV, 0), 0x15: ("AllowedNSSAI", _TLV, 0),
                             0x31: ("ConfiguredNSSAI", _TLV, 0), 0x21: ("5GSNetFeat", _TLV, 0),
                             0x50: ("PDUSessStat", _TLV, 0), 0x5E: ("T3512", _TLV, 0), 0x16: ("T3502", _TLV, 0),
                             0x75: ("CAGInfoList", _TLVE, 0)},
    nas.DlNasTransport: {0x12: ("PDUSessID", _TV, 1), 0x24: ("AddInfo", _TLV, 0), 0x58: ("5GMMCause", _TV, 1),
                         0x37: ("BackOffTimer", _TLV, 0)},
    nas.PduSessionEstablishmentAccept: {0x59: ("5GSMCause", _TV, 1), 0x29: ("PDUAddress", _TLV, 0),
                                        0x22: ("SNSSAI", _TLV, 0), 0x79: ("QoSFlowDesc", _TLVE, 0),
                                        0x7B: ("ExtProtConfig", _TLVE, 0), 0x25: ("DNN", _TLV, 0)},
}
_TYPE1 = {cls: frozenset(iei for iei, (_, fmt, _) in opts.items() if fmt == _TV1) for cls, opts in _OPT.items()}
_MM = {0x56: nas.AuthenticationRequest, 0x5D: nas.SecurityModeCommand, 0x42: nas.RegistrationAccept,
       0x68: nas.DlNasTransport}


def _lv(buf: bytes, pos: int, two: bool) -> tuple[bytes, int] | None:
    n = len(buf)
    if two:
        if pos + 2 > n:
            return None
        ln = (buf[pos] << 8) | buf[pos + 1]
        pos += 2
    else:
        if pos + 1 > n:
            return None
        ln = buf[pos]
        pos += 1
    if pos + ln > n:
        return None
    return buf[pos:pos + ln], pos + ln


def _optional(buf: bytes, pos: int, cls: type, raw: dict[str, Any]) -> bool:
    opts, type1 = _OPT[cls], _TYPE1[cls]
    n = len(buf)
    while pos < n:
        b = buf[pos]
        spec = opts.get(b >> 4) if (b >> 4) in type1 and b >= 0x80 else opts.get(b)
        if spec is None:
            return False
        name, fmt, size = spec
        if name in raw:
            return False  # a repeated IE: let pycrate decide
        if fmt == _TV1:
            raw[name] = b & 0x0F
            pos += 1
        elif fmt == _TV:
            if pos + 1 + size > n:
                return False
            raw[name] = buf[pos + 1:pos + 1 + size]
            pos += 1 + size
        else:
            r = _lv(buf, pos + 1, fmt == _TLVE)
            if r is None:
                return False
            raw[name], pos = r
    return True


_PLANS: dict[type, tuple[tuple[str, tuple[str, ...], Any], ...]] = {}


def _build(cls: type, raw: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    """The typed message from raw IE values, through the class's own value codecs (``_FIELDS``)."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = tuple((f.ie, f.attrs, f.codec) for f in cls._FIELDS)  # type: ignore[attr-defined]
    for ie, attrs, codec in plan:
        r = raw.get(ie)
        if r is None:
            for a in attrs:
                kwargs[a] = None
            continue
        try:
            val = codec.dec(r)
        except (ValueError, nas.DecodeError) as exc:  # ValueError: a dataclass refusing a decoded value
            raise nas.DecodeError(f"{cls.__name__}.{attrs[0]}: {exc}") from None
        if len(attrs) > 1:
            kwargs.update(zip(attrs, val, strict=True))
        else:
            kwargs[attrs[0]] = val
    kwargs["other_ies"] = ()
    return cls(**kwargs)


def _frame_mm(buf: bytes, cls: type) -> Any:
    raw: dict[str, Any] = {}
    n = len(buf)
    pos = 3
    if cls is nas.AuthenticationRequest:
        if n < 5:
            return None
        raw["NAS_KSI"] = buf[3] & 0x0F
        r = _lv(buf, 4, False)
        if r is None:
            return None
        raw["ABBA"], pos = r
    elif cls is nas.SecurityModeCommand:
        if n < 6:
            return None
        raw["NASSecAlgo"] = buf[3:4]
        raw["NAS_KSI"] = buf[4] & 0x0F
        r = _lv(buf, 5, False)
        if r is None:
            return None
        raw["UESecCap"], pos = r
    elif cls is nas.RegistrationAccept:
        r = _lv(buf, 3, False)
        if r is None:
            return None
        raw["5GSRegResult"], pos = r
    elif cls is nas.DlNasTransport:
        if n < 4:
            return None
        raw["PayloadContainerType"] = buf[3] & 0x0F
        r = _lv(buf, 4, True)
        if r is None:
            return None
        raw["PayloadContainer"], pos = r
    if not _optional(buf, pos, cls, raw):
        return None
    return _build(cls, raw, {})


def _frame_sm_accept(buf: bytes) -> Any:
    cls = nas.PduSessionEstablishmentAccept
    if len(buf) < 5:
        return None
    raw: dict[str, Any] = {"SSCMode": buf[4] >> 4, "PDUSessType": buf[4] & 0x0F}
    r = _lv(buf, 5, True)
    if r is None:
        return None
    raw["QoSRules"], pos = r
    r = _lv(buf, pos, False)
    if r is None:
        return None
    raw["SessAMBR"], pos = r
    if not _optional(buf, pos, cls, raw):
        return None
    return _build(cls, raw, {"pdu_session_id": buf[1], "pti": buf[2]})


def decode_dl(buf: bytes) -> nas.NasMessage:
    """A plain downlink 5GMM/5GSM message (:func:`testbed.protocols.nas.decode_plain` semantics)."""
    if len(buf) >= 3:
        msg = None
        cls = None
        if buf[0] == 0x7E and buf[1] == 0:
            cls = _MM.get(buf[2])
            if cls is not None:
                msg = _frame_mm(buf, cls)
        elif buf[0] == 0x2E and len(buf) >= 4 and buf[3] == 0xC2:
            cls = nas.PduSessionEstablishmentAccept
            msg = _frame_sm_accept(buf)
        if msg is not None:
            STATS[cls.__name__, "fast"] += 1  # type: ignore[union-attr]
            return msg
        if cls is not None:
            STATS[cls.__name__, "fallback"] += 1
    return nas.decode_plain(buf)
