"""Fast framing of the common uplink 5GMM messages, without pycrate (used by :func:`.codec.decode_plain`).

pycrate spends ~10-130 us framing a NAS message (its generic element machinery); the AMF decodes
five uplink 5GMM messages per registration. This module frames the uplink messages of the
registration, authentication, security mode, NAS transport and de-registration procedures with
plain byte indexing and hands the raw IE values to the *same* typed value codecs as the pycrate
path (:meth:`.message._Pycrate._from_raw`), so both paths build the same dataclass.

It frames exactly as pycrate's ``Layer3E`` parser does (IE formats of TS 24.007 11.2.1.1, the
non-imperative part of TS 24.501 8.2 / 7.6, as pycrate implements them), and only the cases it is
sure of:

* header (TS 24.501 9.1.1, 9.2, 9.3, 9.7): EPD, spare half octet + security header type, message type; like pycrate
  it does not look at them (:func:`.codec.decode_plain` dispatched on them already);
* mandatory part: half-octet IEs (the first one declared takes bits 5-8, as in pycrate), a
  one-octet V IE (5GMM cause), an LV-E IE (5GS mobile identity, payload container);
* optional part: the IEIs a message declares, searched in declaration order for each octet, an
  IE matching on its 4-bit IEI (type 1) or its 8-bit IEI; a matched IE is
  taken off the list. Known IEs the typed class does not model become :class:`RawIe` (the wire
  octets), ordered as pycrate lists them (declaration order).

Whenever the input leaves that path, :func:`decode` returns ``None`` and the caller uses pycrate,
which then gives the result or the :class:`~testbed.errors.DecodeError` it always gave: an IEI
the message does not declare (or a repeated IE: pycrate keeps it as an unnamed extra IE), an
octet 0x0X taken for the type 1 IE "X-" (pycrate misreads it; the adapter refuses it), a
truncated mandatory part or IE, an IE running past the end. Malformed *values* raise
``DecodeError`` from the shared value codecs, with the same message as on the pycrate path.

``STATS`` counts fast decodes and fall-backs per message type (tests use it to prove the fast
path is taken).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

from ._pycrate import RawIe
from .message import MmMessage
from .mm import (
    AuthenticationFailure,
    AuthenticationResponse,
    ConfigurationUpdateComplete,
    DeregistrationAcceptUeOriginating,
    DeregistrationAcceptUeTerminated,
    DeregistrationRequestUeOriginating,
    FiveGmmStatus,
    IdentityResponse,
    RegistrationComplete,
    RegistrationRequest,
    SecurityModeComplete,
    SecurityModeReject,
    ServiceRequest,
    UlNasTransport,
)

__all__ = ["FAST_CLASSES", "STATS", "decode"]

# IE formats (TS 24.007 11.2.1.1): type 1 TV (half-octet IEI), type 2 T, type 3 TV (fixed length),
# type 4 TLV (1-octet length), type 6 TLV-E (2-octet length)
TV1, T2, TV3, TLV4, TLVE6 = 1, 2, 3, 4, 6

# mandatory-part steps
NIBBLES = "nibbles"  # (NIBBLES, IE in bits 5-8 or None for spare, IE in bits 1-4)
V1 = "v1"  # (V1, IE): a one-octet type 3 V IE
LVE = "lve"  # (LVE, IE): a type 6 LV-E IE


class Opt(NamedTuple):
    """An optional IE: pycrate's name for it, IEI (4 bits for type 1), format, value length (type 3)."""

    name: str
    iei: int
    fmt: int
    size: int = 0


class Layout(NamedTuple):
    mandatory: tuple[tuple[Any, ...], ...]
    optional: tuple[Opt, ...]


# --------------------------------------------------------------------------- message layouts
# Optional IEs in pycrate's declaration order (which decides IEI matching and the order of
# other_ies); tests check these tables against pycrate's message classes.

_LAYOUTS: dict[type[MmMessage], Layout] = {
    # REGISTRATION REQUEST, TS 24.501 8.2.6 (table 8.2.6.1.1)
    RegistrationRequest: Layout(
        ((NIBBLES, "NAS_KSI", "5GSRegType"),  # ngKSI 9.11.3.32, 5GS registration type 9.11.3.7
         (LVE, "5GSID")),  # 5GS mobile identity 9.11.3.4 (SUCI, 5G-GUTI, IMEI, ...)
        (Opt("NonCurrentNativeNAS_KSI", 0xC, TV1),  # 9.11.3.32
         Opt("5GMMCap", 0x10, TLV4),  # 5GMM capability 9.11.3.1
         Opt("UESecCap", 0x2E, TLV4),  # UE security capability 9.11.3.54
         Opt("NSSAI", 0x2F, TLV4),  # requested NSSAI 9.11.3.37
         Opt("TAI", 0x52, TV3, 6),  # last visited registered TAI 9.11.3.8
         Opt("S1UENetCap", 0x17, TLV4),  # S1 UE network capability 9.11.3.48
         Opt("ULDataStat", 0x40, TLV4),  # uplink data status 9.11.3.57
         Opt("PDUSessStat", 0x50, TLV4),  # PDU session status 9.11.3.44
         Opt("MICOInd", 0xB, TV1),  # MICO indication 9.11.3.31
         Opt("UEStatus", 0x2B, TLV4),  # UE status 9.11.3.56
         Opt("AddGUTI", 0x77, TLVE6),  # additional GUTI, 5GS mobile identity 9.11.3.4
         Opt("AllowedPDUSessStat", 0x25, TLV4),  # allowed PDU session status 9.11.3.13
         Opt("UEUsage", 0x18, TLV4),  # UE's usage setting 9.11.3.55
         Opt("5GSDRXParam", 0x51, TLV4),  # requested DRX parameters 9.11.3.2A
         Opt("EPSNASContainer", 0x70, TLVE6),  # EPS NAS message container 9.11.3.24
         Opt("LADNInd", 0x74, TLVE6),  # LADN indication 9.11.3.29
         Opt("PayloadContainerType", 0x8, TV1),  # 9.11.3.40
         Opt("PayloadContainer", 0x7B, TLVE6),  # 9.11.3.39
         Opt("NetSlicingInd", 0x9, TV1),  # network slicing indication 9.11.3.36
         Opt("5GSUpdateType", 0x53, TLV4),  # 5GS update type 9.11.3.9A
         Opt("MSCm2", 0x41, TLV4),  # mobile station classmark 2 9.11.3.31C
         Opt("SuppCodecs", 0x42, TLV4),  # supported codecs 9.11.3.51A
         Opt("NASContainer", 0x71, TLVE6),  # NAS message container 9.11.3.33
         Opt("EPSBearerCtxtStat", 0x60, TLV4),  # EPS bearer context status 9.11.3.23A
         Opt("ExtDRXParam", 0x6E, TLV4),  # requested extended DRX parameters 9.11.3.26A
         Opt("T3324", 0x6A, TLV4),  # T3324 value, GPRS timer 3 9.11.2.5
         Opt("UERadioCapID", 0x67, TLV4),  # UE radio capability ID 9.11.3.68
         Opt("MappedNSSAI", 0x35, TLV4),  # requested mapped NSSAI
         Opt("AddInfoReq", 0x48, TLV4),  # additional information requested
         Opt("WUSAssistInfo", 0x1A, TLV4),  # requested WUS assistance information
         Opt("N5GCInd", 0x0A, T2),  # N5GC indication (pycrate: a type 2 IE with IEI 0x0A)
         Opt("NBN1ModeDRXParam", 0x30, TLV4),  # requested NB-N1 mode DRX parameters
         Opt("UEReqType", 0x29, TLV4),  # UE request type
         Opt("PagingRestriction", 0x28, TLV4),  # paging restriction
         Opt("ServiceLevelAAContainer", 0x72, TLVE6),  # service-level-AA container 9.11.2.10
         Opt("NID", 0x32, TLV4),  # NID
         Opt("MSDetPLMNDistasterCond", 0x16, TLV4),  # MS determined PLMN with disaster condition
         Opt("PEIPSAssistInfo", 0x2A, TLV4),  # requested PEIPS assistance information
         Opt("T3512", 0x3B, TLV4)),  # requested T3512 value, GPRS timer 3 9.11.2.5
    ),
    # REGISTRATION COMPLETE, 8.2.8
    RegistrationComplete: Layout((), (Opt("SORTransContainer", 0x73, TLVE6),)),  # SOR transparent container 9.11.3.51
    # AUTHENTICATION RESPONSE, 8.2.2
    AuthenticationResponse: Layout((), (
        Opt("RES", 0x2D, TLV4),  # authentication response parameter 9.11.3.17
        Opt("EAPMsg", 0x78, TLVE6))),  # EAP message 9.11.2.2
    # AUTHENTICATION FAILURE, 8.2.4
    AuthenticationFailure: Layout(
        ((V1, "5GMMCause"),),  # 5GMM cause 9.11.3.2
        (Opt("AUTS", 0x30, TLV4),)),  # authentication failure parameter 9.11.3.14
    # SECURITY MODE COMPLETE, 8.2.26
    SecurityModeComplete: Layout((), (
        Opt("IMEISV", 0x77, TLVE6),  # 5GS mobile identity 9.11.3.4
        Opt("NASContainer", 0x71, TLVE6),  # NAS message container 9.11.3.33
        Opt("PEI", 0x78, TLVE6))),  # non-IMEISV PEI, 5GS mobile identity 9.11.3.4
    # SECURITY MODE REJECT, 8.2.27
    SecurityModeReject: Layout(((V1, "5GMMCause"),), ()),
    # CONFIGURATION UPDATE COMPLETE, 8.2.20
    ConfigurationUpdateComplete: Layout((), ()),
    # DEREGISTRATION ACCEPT (UE originating de-registration, 8.2.13; UE terminated, 8.2.15)
    DeregistrationAcceptUeOriginating: Layout((), ()),
    DeregistrationAcceptUeTerminated: Layout((), ()),
    # DEREGISTRATION REQUEST, UE originating, 8.2.12
    DeregistrationRequestUeOriginating: Layout(
        ((NIBBLES, "NAS_KSI", "DeregistrationType"),  # ngKSI 9.11.3.32, de-registration type 9.11.3.20
         (LVE, "5GSID")), ()),  # 5GS mobile identity 9.11.3.4
    # IDENTITY RESPONSE, 8.2.22
    IdentityResponse: Layout(((LVE, "5GSID"),), ()),
    # SERVICE REQUEST, 8.2.16 (half octets as pycrate declares them)
    ServiceRequest: Layout(
        ((NIBBLES, "ServiceType", "NAS_KSI"),  # service type 9.11.3.50, ngKSI 9.11.3.32
         (LVE, "5GSID")),  # 5G-S-TMSI, 5GS mobile identity 9.11.3.4
        (Opt("ULDataStat", 0x40, TLV4),  # 9.11.3.57
         Opt("PDUSessStat", 0x50, TLV4),  # 9.11.3.44
         Opt("AllowedPDUSessStat", 0x25, TLV4),  # 9.11.3.13
         Opt("NASContainer", 0x71, TLVE6),  # 9.11.3.33
         Opt("UEReqType", 0x29, TLV4),
         Opt("PagingRestriction", 0x28, TLV4))),
    # 5GMM STATUS, 8.2.29
    FiveGmmStatus: Layout(((V1, "5GMMCause"),), ()),
    # UL NAS TRANSPORT, 8.2.10
    UlNasTransport: Layout(
        ((NIBBLES, None, "PayloadContainerType"),  # spare half octet, payload container type 9.11.3.40
         (LVE, "PayloadContainer")),  # payload container 9.11.3.39
        (Opt("PDUSessID", 0x12, TV3, 1),  # PDU session identity 2, 9.11.3.41
         Opt("OldPDUSessID", 0x59, TV3, 1),  # old PDU session ID, 9.11.3.41
         Opt("RequestType", 0x8, TV1),  # request type 9.11.3.47
         Opt("SNSSAI", 0x22, TLV4),  # S-NSSAI 9.11.2.8
         Opt("DNN", 0x25, TLV4),  # DNN 9.11.2.1B
         Opt("AddInfo", 0x24, TLV4),  # additional information 9.11.2.1
         Opt("MAPDUSessInfo", 0xA, TV1),  # MA PDU session information 9.11.3.31A
         Opt("ReleaseAssistInd", 0xF, TV1))),  # release assistance indication 9.11.3.46A
}


def _candidates(opts: tuple[Opt, ...]) -> tuple[tuple[int, ...], ...]:
    """For each octet value, the optional IEs pycrate would try, in order (``Layer3._from_char``:
    a type 1 IE matches on the high nibble, and - pycrate's quirk - also on a whole octet equal to
    its 4-bit IEI; any other IE on the whole octet)."""
    return tuple(
        tuple(i for i, o in enumerate(opts) if (o.fmt == TV1 and o.iei == v >> 4) or o.iei == v)
        for v in range(256))


class _Plan(NamedTuple):
    cls: type[MmMessage]
    mandatory: tuple[tuple[Any, ...], ...]
    optional: tuple[Opt, ...]
    candidates: tuple[tuple[int, ...], ...]
    modelled: frozenset[str]


_PLANS: dict[type[MmMessage], _Plan] = {
    cls: _Plan(cls, lay.mandatory, lay.optional, _candidates(lay.optional), cls._modelled())
    for cls, lay in _LAYOUTS.items()
}

#: message classes this module frames
FAST_CLASSES: frozenset[type[MmMessage]] = frozenset(_PLANS)

#: ``STATS[(class name, "fast" | "fallback")]``: how often each path was taken
STATS: Counter[tuple[str, str]] = Counter()


def decode(buf: bytes, cls: type[MmMessage]) -> MmMessage | None:
    """Decode the plain 5GMM message ``buf`` as ``cls``; ``None`` when this module does not frame
    ``cls`` or is not sure it frames ``buf`` exactly as pycrate would (the caller then uses
    ``cls.decode``). Raises :class:`~testbed.errors.DecodeError` for malformed IE values."""
    plan = _PLANS.get(cls)
    if plan is None:
        return None
    raws = _frame(bytes(buf), plan)
    if raws is None:
        STATS[cls.__name__, "fallback"] += 1
        return None
    values, extra = raws
    STATS[cls.__name__, "fast"] += 1
    return cls._from_raw({}, values.get, lambda: extra)


def _frame(buf: bytes, plan: _Plan) -> tuple[dict[str, Any], tuple[RawIe, ...]] | None:
    """Raw IE values by pycrate name and the unmodelled optional IEs, or None (use pycrate)."""
    n = len(buf)
    pos = 3  # after the header (TS 24.501 9.1.1)
    values: dict[str, Any] = {}
    for step in plan.mandatory:
        kind = step[0]
        if kind is NIBBLES:
            if pos >= n:
                return None
            b = buf[pos]
            if step[1] is not None:
                values[step[1]] = b >> 4
            values[step[2]] = b & 0x0F
            pos += 1
        elif kind is V1:
            if pos >= n:
                return None
            values[step[1]] = buf[pos:pos + 1]
            pos += 1
        else:  # LVE
            end = pos + 2
            if end > n:
                return None
            end += (buf[pos] << 8) | buf[pos + 1]
            if end > n:
                return None
            values[step[1]] = buf[pos + 2:end]
            pos = end
    if pos == n:
        return values, ()
    opts, cands, modelled = plan.optional, plan.candidates, plan.modelled
    used = 0
    extra: list[tuple[int, RawIe]] = []
    while pos < n:
        v = buf[pos]
        for i in cands[v]:
            if not (used >> i) & 1:
                break
        else:
            return None  # IEI not declared (or a repeated IE): pycrate appends an unnamed IE
        used |= 1 << i
        opt = opts[i]
        fmt = opt.fmt
        if fmt == TV1:
            if v >> 4 != opt.iei:
                return None  # octet 0x0X misread by pycrate as IE "X-"
            end, raw = pos + 1, v & 0x0F
        elif fmt == TLV4:
            if pos + 2 > n:
                return None
            end = pos + 2 + buf[pos + 1]
            raw = buf[pos + 2:end]
        elif fmt == TLVE6:
            if pos + 3 > n:
                return None
            end = pos + 3 + ((buf[pos + 1] << 8) | buf[pos + 2])
            raw = buf[pos + 3:end]
        elif fmt == TV3:
            end = pos + 1 + opt.size
            raw = buf[pos + 1:end]
        else:  # T2
            end, raw = pos + 1, True
        if end > n:
            return None
        if opt.name in modelled:
            values[opt.name] = raw
        else:
            extra.append((i, RawIe(opt.name, opt.iei, buf[pos:end])))
        pos = end
    if len(extra) > 1:
        extra.sort(key=lambda e: e[0])
    return values, tuple(r for _, r in extra)
