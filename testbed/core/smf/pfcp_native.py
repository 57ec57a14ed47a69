"""Native PFCP codec (TS 29.244): hand-written TLV encoding and decoding of the messages of :mod:`.pfcp`.

:func:`testbed.core.smf.pfcp.encode` / :func:`~testbed.core.smf.pfcp.decode` call :func:`encode` /
:func:`decode` here; the pycrate implementation (``encode_pycrate`` / ``decode_pycrate`` in
:mod:`.pfcp`) stays the reference: for every message the dataclasses can express, :func:`encode`
gives the same octets as pycrate and :func:`decode` the same dataclass (tests/unit/core/test_pfcp_native.py).

Wire format:

- header (7.2.2): octet 1 version (3 bits) | spare | FO | MP | S, message type, length (the octets after
  the first 4), the SEID (8 octets) when S = 1, a 24-bit sequence number and a spare (or priority) octet;
- IEs (8.1.1): Type (2) Length (2) [Enterprise ID (2) when Type has bit 0x8000] Value; a grouped IE
  (8.1.2, table 8.1.2-1) carries IEs in its value. IEs are framed in one linear pass; grouped IEs are
  re-framed only when the decoder reads them (their depth is fixed by the message structure: at most
  Create PDR / PDI, Create FAR / Forwarding Parameters, Update FAR / Update Forwarding Parameters),
  so there is no recursion on attacker input. Unknown IEs (and vendor IEs, whose value starts with
  the Enterprise ID, 8.1.1) are carried raw and ignored, wherever they are.

Decoding errors (error handling TS 29.244 7.6; causes of table 8.2.1-1), as the pycrate decoder
reports them on well-framed input:

- header too short or inconsistent with the datagram (7.6.3), unknown message type, version other
  than 1, an IE overrunning the message, trailing octets after the last IE, a vendor IE shorter
  than its Enterprise ID: :class:`DecodeError` (the message is discarded, no header attached);
- a mandatory IE missing: :class:`PfcpIeError` cause 66 (Mandatory IE missing);
- an IE of a fixed size with another length (Cause, Offending IE, S-NSSAI), empty when its first
  octet is needed (Apply Action, Gate Status, Source / Destination Interface), or an IE overrunning
  the grouped IE that holds it: cause 68 (Invalid length);
- an IE too short for the fields its flags announce (F-TEID, F-SEID, UE IP Address, Node ID, ...)
  or with a value this core does not support (no IPv4 address, unknown Node ID type): cause 69
  (Mandatory IE incorrect).

pycrate is lenient or inconsistent on some malformed input, where this codec applies the rules
above: it reads a Cause / Offending IE / UR-SEQN on their fixed size whatever the Length (and
misframes what follows), ignores what overruns a grouped IE, accepts a last IE that overruns the
message, and loses the IEs that follow an IE it cannot parse in the same container (then reporting
"trailing octets" or a missing IE instead of cause 69). On well-formed input both agree.
"""

from __future__ import annotations

import ipaddress
import struct
from socket import inet_aton, inet_ntoa
from typing import Any

from testbed.errors import DecodeError

from .pfcp import (
    IE_NAMES,
    MESSAGE_NAMES,
    SESSION_TYPES,
    VERSION,
    AssociationReleaseRequest,
    AssociationReleaseResponse,
    AssociationSetupRequest,
    AssociationSetupResponse,
    Cause,
    CreatedPdr,
    FailedRule,
    Far,
    Fseid,
    Fteid,
    Header,
    HeartbeatRequest,
    HeartbeatResponse,
    IeType,
    Interface,
    OtherMessage,
    OuterHeaderCreation,
    Pdr,
    PfcpIeError,
    PfcpMessage,
    Qer,
    SessionDeletionRequest,
    SessionDeletionResponse,
    SessionEstablishmentRequest,
    SessionEstablishmentResponse,
    SessionModificationRequest,
    SessionModificationResponse,
    SessionReportRequest,
    SessionReportResponse,
    UpdateFar,
    Urr,
    UsageReport,
    VersionNotSupportedResponse,
    _check_u,
    _dnn_bytes,
    labels_to_text,
    peek_header,
)

# IE types (TS 29.244 8.1.2, table 8.1.2-1) as plain ints for the hot paths
CREATE_PDR, PDI, CREATE_FAR, FORWARDING_PARAMETERS, CREATE_URR, CREATE_QER, CREATED_PDR = 1, 2, 3, 4, 6, 7, 8
UPDATE_FAR, UPDATE_FORWARDING_PARAMETERS, CAUSE, SOURCE_INTERFACE, F_TEID, NETWORK_INSTANCE = 10, 11, 19, 20, 21, 22
GATE_STATUS, MBR, PRECEDENCE, REPORTING_TRIGGERS, OFFENDING_IE, DESTINATION_INTERFACE = 25, 26, 29, 37, 40, 42
REPORT_TYPE, DOWNLINK_DATA_REPORT = 39, 83
UP_FUNCTION_FEATURES, APPLY_ACTION, PDR_ID, F_SEID, NODE_ID, MEASUREMENT_METHOD = 43, 44, 56, 57, 60, 62
USAGE_REPORT_TRIGGER, VOLUME_MEASUREMENT, USAGE_REPORT_DELETION, URR_ID, OUTER_HEADER_CREATION = 63, 66, 79, 81, 84
CP_FUNCTION_FEATURES, UE_IP_ADDRESS, OUTER_HEADER_REMOVAL, RECOVERY_TIME_STAMP, UR_SEQN = 89, 93, 95, 96, 104
FAR_ID, QER_ID, PDN_TYPE, FAILED_RULE_ID, QFI, APN_DNN, S_NSSAI = 108, 109, 113, 114, 124, 159, 257

_HH = struct.Struct("!HH")  # IE Type, Length (8.1.1)
_IE_U8 = struct.Struct("!HHB")
_IE_U16 = struct.Struct("!HHH")
_IE_U32 = struct.Struct("!HHI")
_IE_U8U8 = struct.Struct("!HHBB")
_IE_FSEID = struct.Struct("!HHBQ4s")  # 8.2.37: flags (V4), SEID, IPv4
_IE_FTEID = struct.Struct("!HHBI4s")  # 8.2.3: flags (V4), TEID, IPv4
_IE_OHC = struct.Struct("!HHBBI4s")  # 8.2.56: description (2 octets), TEID, IPv4
_IE_UEIP = struct.Struct("!HHB4s")  # 8.2.62: flags (SD, V4), IPv4
_HDR_NODE = struct.Struct("!BBHI")  # 7.2.2.2: flags, type, length, sequence number (24) + spare (8)
_HDR_SESS = struct.Struct("!BBHQI")  # 7.2.2.3: ... with the SEID (S = 1)
_VOLUME = struct.Struct("!BQQQQQQ")  # 8.2.44: flags, total/UL/DL volume, total/UL/DL packets
_U16 = struct.Struct("!H").unpack_from
_U32 = struct.Struct("!I").unpack_from
_U64 = struct.Struct("!Q").unpack_from
_hh = _HH.pack
_unpack_hh = _HH.unpack_from

_RULE_ID_WIDTH = {0: 2, 1: 4, 2: 4, 3: 4}  # Failed Rule ID (8.2.80): PDR ID on 2 octets, FAR/QER/URR ID on 4
_MAX_CACHE = 1024


# --------------------------------------------------------------------------- encoding helpers


def _ie(t: int, value: bytes) -> bytes:
    """One IE (8.1.1): Type, Length, value."""
    return _hh(t, len(value)) + value


def _ip4(v: Any) -> bytes:
    """The 4 octets of an IPv4 address given as the dataclasses hold it (validated dotted quad)."""
    if type(v) is str:
        try:
            b = inet_aton(v)
        except (OSError, ValueError):
            pass
        else:
            if inet_ntoa(b) == v:  # canonical dotted quad: what ipaddress accepts
                return b
    return ipaddress.IPv4Address(v).packed


_NODE_IDS: dict[str, bytes] = {}


def _node_id(v: Any) -> bytes:
    """Node ID IE (8.2.38): type 0 IPv4, 1 IPv6, 2 FQDN (length-prefixed labels as in DNS, RFC 1035 3.1)."""
    if type(v) is str:
        b = _NODE_IDS.get(v)
        if b is not None:
            return b
    try:
        ip = ipaddress.ip_address(v)
    except ValueError:
        if not isinstance(v, str) or not v or len(v) > 255:
            raise ValueError(f"Node ID must be an IP address or an FQDN, got {v!r}") from None
        out = bytearray(b"\x02")
        for label in v.split("."):
            e = label.encode()
            if len(e) > 255:
                raise ValueError(f"Node ID FQDN label longer than 255 octets: {v!r}") from None
            out.append(len(e))
            out += e
        b = _ie(NODE_ID, bytes(out))
    else:
        b = _ie(NODE_ID, (b"\x00" if ip.version == 4 else b"\x01") + ip.packed)
    if type(v) is str:
        if len(_NODE_IDS) >= _MAX_CACHE:
            _NODE_IDS.clear()
        _NODE_IDS[v] = b
    return b


_LABELS: dict[str, bytes] = {}


def _labels(v: Any) -> bytes:
    """APN/DNN (8.2.117) and Network Instance (8.2.4) as DNS labels (TS 23.003 9.1)."""
    b = _LABELS.get(v) if type(v) is str else None
    if b is None:
        b = _dnn_bytes(v)
        if type(v) is str:
            if len(_LABELS) >= _MAX_CACHE:
                _LABELS.clear()
            _LABELS[v] = b
    return b


def _cause(c: Any) -> bytes:
    """Cause (8.2.1): one octet."""
    return _IE_U8.pack(CAUSE, 1, _check_u("cause", int(c), 8))


def _fseid(f: Fseid) -> bytes:
    """F-SEID (8.2.37) with V4 (0x02): SEID and IPv4 address."""
    return _IE_FSEID.pack(F_SEID, 13, 0x02, f.seid, _ip4(f.ipv4))


def _fteid(f: Fteid) -> bytes:
    """F-TEID (8.2.3): V4 (0x01) with TEID and IPv4, or CH (0x04) + V4 [+ CHID (0x08) and CHOOSE ID]."""
    if f.choose:
        if f.choose_id is None:
            return _IE_U8.pack(F_TEID, 1, 0x05)
        return _IE_U8U8.pack(F_TEID, 2, 0x0D, f.choose_id)
    return _IE_FTEID.pack(F_TEID, 9, 0x01, f.teid, _ip4(f.ipv4))


def _ohc(o: OuterHeaderCreation) -> bytes:
    """Outer Header Creation (8.2.56): description GTP-U/UDP/IPv4 (octet 5 bit 1), TEID, IPv4."""
    return _IE_OHC.pack(OUTER_HEADER_CREATION, 10, 0x01, 0x00, o.teid, _ip4(o.ipv4))


def _interface(t: int, v: Any) -> bytes:
    """Source (8.2.2) / Destination (8.2.24) Interface: 4-bit value in octet 5."""
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 16:
        raise ValueError(f"{IE_NAMES[t]} must be a 4-bit interface value, got {v!r}")
    return _IE_U8.pack(t, 1, v)


def _apply_action(a: int) -> bytes:
    """Apply Action (8.2.26): flags octet 5 (DROP/FORW/BUFF/NOCP/DUPL), octet 6 zero."""
    return _IE_U8U8.pack(APPLY_ACTION, 2, a, 0)


def _pdr(p: Pdr) -> bytes:
    """Create PDR (7.5.2.2): PDR ID, Precedence, PDI (table 7.5.2.2-2), OHR, FAR ID, URR IDs, QER IDs."""
    pdi = _interface(SOURCE_INTERFACE, p.source_interface)
    if p.fteid is not None:
        pdi += _fteid(p.fteid)
    if p.network_instance is not None:
        pdi += _ie(NETWORK_INSTANCE, _labels(p.network_instance))
    if p.ue_ipv4 is not None:
        # UE IP Address (8.2.62): SD (0x04) set for a destination address (downlink), V4 (0x02)
        flags = 0x02 if p.source_interface == Interface.ACCESS else 0x06
        pdi += _IE_UEIP.pack(UE_IP_ADDRESS, 5, flags, _ip4(p.ue_ipv4))
    if p.qfi is not None:
        pdi += _IE_U8.pack(QFI, 1, p.qfi)  # QFI (8.2.89): 6 bits
    body = _IE_U16.pack(PDR_ID, 2, p.pdr_id) + _IE_U32.pack(PRECEDENCE, 4, p.precedence) + _ie(PDI, pdi)
    if p.outer_header_removal:
        body += _IE_U8.pack(OUTER_HEADER_REMOVAL, 1, 0)  # 8.2.64: GTP-U/UDP/IPv4
    if p.far_id is not None:
        body += _IE_U32.pack(FAR_ID, 4, p.far_id)
    for u in p.urr_ids:
        body += _IE_U32.pack(URR_ID, 4, u)
    for q in p.qer_ids:
        body += _IE_U32.pack(QER_ID, 4, q)
    return _ie(CREATE_PDR, body)


def _far(f: Far) -> bytes:
    """Create FAR (7.5.2.3) with Forwarding Parameters (table 7.5.2.3-2) when a destination is set."""
    body = _IE_U32.pack(FAR_ID, 4, f.far_id) + _apply_action(f.action)
    if f.destination_interface is not None:
        fp = _interface(DESTINATION_INTERFACE, f.destination_interface)
        if f.network_instance is not None:
            fp += _ie(NETWORK_INSTANCE, _labels(f.network_instance))
        if f.outer_header_creation is not None:
            fp += _ohc(f.outer_header_creation)
        body += _ie(FORWARDING_PARAMETERS, fp)
    return _ie(CREATE_FAR, body)


def _update_far(f: UpdateFar) -> bytes:
    """Update FAR (7.5.4.3) with Update Forwarding Parameters (table 7.5.4.3-2)."""
    body = _IE_U32.pack(FAR_ID, 4, f.far_id)
    if f.action is not None:
        body += _apply_action(f.action)
    fp = b""
    if f.destination_interface is not None:
        fp += _interface(DESTINATION_INTERFACE, f.destination_interface)
    if f.outer_header_creation is not None:
        fp += _ohc(f.outer_header_creation)
    if fp:
        body += _ie(UPDATE_FORWARDING_PARAMETERS, fp)
    return _ie(UPDATE_FAR, body)


_URR_TAIL = (_IE_U8.pack(MEASUREMENT_METHOD, 1, 0x02) + _ie(REPORTING_TRIGGERS, b"\x00\x00\x00"),
             _IE_U8.pack(MEASUREMENT_METHOD, 1, 0x00) + _ie(REPORTING_TRIGGERS, b"\x00\x00\x00"))


def _urr(u: Urr) -> bytes:
    """Create URR (7.5.2.4): Measurement Method VOLUM (8.2.40), Reporting Triggers none (8.2.19)."""
    return _ie(CREATE_URR, _IE_U32.pack(URR_ID, 4, u.urr_id) + _URR_TAIL[0 if u.volume else 1])


def _qer(q: Qer) -> bytes:
    """Create QER (7.5.2.5): QER ID, Gate Status (8.2.7), MBR (8.2.8, 5 + 5 octets kbit/s), QFI."""
    gate = (0 if q.ul_gate_open else 1) << 2 | (0 if q.dl_gate_open else 1)
    body = _IE_U32.pack(QER_ID, 4, q.qer_id) + _IE_U8.pack(GATE_STATUS, 1, gate)
    if q.mbr_ul_kbps is not None:
        body += _hh(MBR, 10) + q.mbr_ul_kbps.to_bytes(5, "big") + q.mbr_dl_kbps.to_bytes(5, "big")  # type: ignore[union-attr]
    if q.qfi is not None:
        body += _IE_U8.pack(QFI, 1, q.qfi)
    return _ie(CREATE_QER, body)


def _offending(v: Any) -> bytes:
    """Offending IE (8.2.22): the type of the IE at fault, 2 octets."""
    return _IE_U16.pack(OFFENDING_IE, 2, _check_u("offending IE", v, 16))


def _failed_rule(f: FailedRule) -> bytes:
    """Failed Rule ID (8.2.80): rule ID type (4 bits), rule ID."""
    width = _RULE_ID_WIDTH.get(f.rule_type)
    if width is None:
        raise ValueError(f"unsupported failed rule type {f.rule_type}")
    return _ie(FAILED_RULE_ID, bytes((f.rule_type,)) + f.rule_id.to_bytes(width, "big"))


def _usage_report(u: UsageReport) -> bytes:
    """Usage Report (Session Deletion Response, 7.5.7.2): URR ID, UR-SEQN (8.2.71), trigger (8.2.41),
    Volume Measurement (8.2.44) with all six fields."""
    vol = _VOLUME.pack(0x3F, u.ul_bytes + u.dl_bytes, u.ul_bytes, u.dl_bytes,
                       u.ul_packets + u.dl_packets, u.ul_packets, u.dl_packets)
    return _ie(USAGE_REPORT_DELETION, _IE_U32.pack(URR_ID, 4, u.urr_id) + _IE_U32.pack(UR_SEQN, 4, u.ur_seqn)
               + _ie(USAGE_REPORT_TRIGGER, u.trigger.to_bytes(3, "big")) + _ie(VOLUME_MEASUREMENT, vol))


def _recovery(ts: Any) -> bytes:
    """Recovery Time Stamp (8.2.65): 32-bit NTP seconds."""
    return _IE_U32.pack(RECOVERY_TIME_STAMP, 4, _check_u("recovery time stamp", ts, 32))


def _snssai(s: tuple[int, int | None]) -> bytes:
    """S-NSSAI (8.2.176): SST, SD (0xFFFFFF when absent)."""
    sst, sd = s
    return _ie(S_NSSAI, bytes((_check_u("SST", sst, 8),)) + (0xFFFFFF if sd is None else sd).to_bytes(3, "big"))


# --------------------------------------------------------------------------- message bodies


def _b_heartbeat(m: Any) -> bytes:  # 7.4.2.1 / 7.4.2.2
    return _recovery(m.recovery_ts)


def _b_assoc_setup(m: Any) -> bytes:  # 7.4.4.1 / 7.4.4.2
    b = _node_id(m.node_id)
    if isinstance(m, AssociationSetupResponse):
        b += _cause(m.cause)
    b += _recovery(m.recovery_ts)
    if m.up_features is not None:
        b += _ie(UP_FUNCTION_FEATURES, bytes(m.up_features))
    if m.cp_features is not None:
        b += _ie(CP_FUNCTION_FEATURES, bytes(m.cp_features))
    return b


def _b_assoc_release_req(m: Any) -> bytes:  # 7.4.4.5
    return _node_id(m.node_id)


def _b_assoc_release_resp(m: Any) -> bytes:  # 7.4.4.6
    return _node_id(m.node_id) + _cause(m.cause)


def _b_empty(m: Any) -> bytes:  # Version Not Supported Response (7.4.4.7), Session Deletion Request (7.5.6)
    return b""


def _b_est_req(m: Any) -> bytes:  # 7.5.2
    if not m.pdrs or not m.fars:
        raise ValueError("a Session Establishment Request needs at least one PDR and one FAR")
    parts = [_node_id(m.node_id), _fseid(m.cp_fseid)]
    parts += [_pdr(p) for p in m.pdrs]
    parts += [_far(f) for f in m.fars]
    parts += [_urr(u) for u in m.urrs]
    parts += [_qer(q) for q in m.qers]
    if m.pdn_type is not None:
        parts.append(_IE_U8.pack(PDN_TYPE, 1, _check_u("PDN type", m.pdn_type, 3)))  # 8.2.79
    if m.dnn is not None:
        parts.append(_ie(APN_DNN, _labels(m.dnn)))
    if m.snssai is not None:
        parts.append(_snssai(m.snssai))
    return b"".join(parts)


def _b_est_resp(m: Any) -> bytes:  # 7.5.3
    b = _node_id(m.node_id) + _cause(m.cause)
    if m.offending_ie is not None:
        b += _offending(m.offending_ie)
    if m.up_fseid is not None:
        b += _fseid(m.up_fseid)
    for c in m.created_pdrs:  # Created PDR (7.5.3.2)
        inner = _IE_U16.pack(PDR_ID, 2, c.pdr_id)
        if c.fteid is not None:
            inner += _fteid(c.fteid)
        b += _ie(CREATED_PDR, inner)
    if m.failed_rule is not None:
        b += _failed_rule(m.failed_rule)
    return b


def _b_mod_req(m: Any) -> bytes:  # 7.5.4
    b = b"" if m.cp_fseid is None else _fseid(m.cp_fseid)
    for f in m.update_fars:
        b += _update_far(f)
    return b


def _b_mod_resp(m: Any) -> bytes:  # 7.5.5
    b = _cause(m.cause)
    if m.offending_ie is not None:
        b += _offending(m.offending_ie)
    if m.failed_rule is not None:
        b += _failed_rule(m.failed_rule)
    return b


def _b_del_resp(m: Any) -> bytes:  # 7.5.7
    b = _cause(m.cause)
    if m.offending_ie is not None:
        b += _offending(m.offending_ie)
    for u in m.usage_reports:
        b += _usage_report(u)
    return b


def _b_report_req(m: Any) -> bytes:  # 7.5.8
    """Report Type (8.2.21), Downlink Data Report (7.5.8.2) with the PDR IDs."""
    b = _IE_U8.pack(REPORT_TYPE, 1, _check_u("report type", m.report_type, 8))
    if m.dl_data_pdr_ids:
        b += _ie(DOWNLINK_DATA_REPORT, b"".join(_IE_U16.pack(PDR_ID, 2, _check_u("PDR ID", p, 16))
                                                for p in m.dl_data_pdr_ids))
    return b


def _b_report_resp(m: Any) -> bytes:  # 7.5.9
    b = _cause(m.cause)
    if m.offending_ie is not None:
        b += _offending(m.offending_ie)
    return b


_BODIES: dict[type, Any] = {
    HeartbeatRequest: _b_heartbeat,
    HeartbeatResponse: _b_heartbeat,
    AssociationSetupRequest: _b_assoc_setup,
    AssociationSetupResponse: _b_assoc_setup,
    AssociationReleaseRequest: _b_assoc_release_req,
    AssociationReleaseResponse: _b_assoc_release_resp,
    VersionNotSupportedResponse: _b_empty,
    SessionEstablishmentRequest: _b_est_req,
    SessionEstablishmentResponse: _b_est_resp,
    SessionModificationRequest: _b_mod_req,
    SessionModificationResponse: _b_mod_resp,
    SessionDeletionRequest: _b_empty,
    SessionDeletionResponse: _b_del_resp,
    SessionReportRequest: _b_report_req,
    SessionReportResponse: _b_report_resp,
}


def _body_encoder(cls: type) -> Any:
    for base in cls.__mro__:  # a subclass of a message class encodes as that message
        fn = _BODIES.get(base)
        if fn is not None:
            return fn
    raise TypeError(f"cannot encode {cls.__name__}")


def encode(msg: PfcpMessage) -> bytes:
    """Encode a typed PFCP message: header (7.2.2) and IEs (8.1.1) in the order pycrate writes them.

    Invalid field values raise ``ValueError``; a non-message (or :class:`OtherMessage`) ``TypeError``.
    """
    cls = type(msg)
    fn = _BODIES.get(cls)
    if fn is None:
        if not isinstance(msg, PfcpMessage) or isinstance(msg, OtherMessage):
            raise TypeError(f"expected a PfcpMessage, got {cls.__name__}")
        fn = _body_encoder(cls)
    try:
        body = fn(msg)
        seq = _check_u("sequence number", msg.seq, 24)
        if msg.SESSION:
            seid = _check_u("SEID", msg.seid, 64)  # type: ignore[attr-defined]
            return _HDR_SESS.pack(0x21, msg.MSG_TYPE, 12 + len(body), seid, seq << 8) + body
        return _HDR_NODE.pack(0x20, msg.MSG_TYPE, 4 + len(body), seq << 8) + body
    except (struct.error, OverflowError) as e:
        raise ValueError(f"{cls.__name__}: a field value is out of range: {e}") from None


# --------------------------------------------------------------------------- decoding

_Ies = list[tuple[int, bytes]]


def _frame(buf: bytes, off: int, end: int) -> _Ies | None:
    """Split ``buf[off:end]`` into (type, value) IEs (8.1.1); None if an IE overruns ``end``.

    The value of a vendor IE (type bit 0x8000) keeps its Enterprise ID: such IEs are never read.
    """
    out: _Ies = []
    append = out.append
    while off < end:
        if end - off < 4:
            return None
        t, n = _unpack_hh(buf, off)
        off += 4
        nxt = off + n
        if nxt > end or (t & 0x8000 and n < 2):  # a vendor IE starts with its Enterprise ID
            return None
        append((t, buf[off:nxt]))
        off = nxt
    return out


def _ie_name(t: int) -> str:
    return f"{IE_NAMES.get(t, 'unknown')} ({t})"


def _ie_type(t: int) -> int:
    try:
        return IeType(t)
    except ValueError:
        return t


class _Ctx:
    """The IEs of a message or of a grouped IE, with accessors raising PfcpIeError (7.6)."""

    __slots__ = ("ies", "parent", "name", "hdr")

    def __init__(self, ies: _Ies, parent: _Ctx | None, name: str, hdr: Header):
        self.ies = ies
        self.parent = parent
        self.name = name
        self.hdr = hdr

    def where(self) -> str:
        return self.name if self.parent is None else f"{self.parent.where()}/{self.name}"

    def err(self, msg: str, cause: Cause, t: int | None) -> PfcpIeError:
        return PfcpIeError(f"{self.where()}: {msg}", cause, None if t is None else _ie_type(t), self.hdr)

    def all(self, t: int) -> list[bytes]:
        return [v for (k, v) in self.ies if k == t]

    def opt(self, t: int) -> bytes | None:
        for k, v in self.ies:
            if k == t:
                return v
        return None

    def need(self, t: int) -> bytes:
        for k, v in self.ies:
            if k == t:
                return v
        raise self.err(f"mandatory IE {_ie_name(t)} missing", Cause.MANDATORY_IE_MISSING, t)

    def group(self, v: bytes, t: int, name: str) -> _Ctx:
        ies = _frame(v, 0, len(v))
        if ies is None:
            raise self.err(f"an IE overruns the grouped IE {_ie_name(t)}", Cause.INVALID_LENGTH, t)
        return _Ctx(ies, self, name, self.hdr)

    def bad(self, t: int, what: str = "is malformed") -> PfcpIeError:
        return self.err(f"{_ie_name(t)} {what}", Cause.MANDATORY_IE_INCORRECT, t)


def _u32(c: _Ctx, t: int, v: bytes) -> int:
    """A 4-octet value IE (Recovery Time Stamp 8.2.65, Precedence 8.2.11, FAR/QER/URR ID 8.2.74/75/54)."""
    if len(v) < 4:
        raise c.bad(t)
    return _U32(v)[0]


def _pdr_id(c: _Ctx, v: bytes) -> int:
    """PDR ID (8.2.36): 2 octets."""
    if len(v) < 2:
        raise c.bad(PDR_ID)
    return _U16(v)[0]


def _qfi(c: _Ctx, v: bytes) -> int:
    """QFI (8.2.89): 6 bits of octet 5."""
    if not v:
        raise c.bad(QFI)
    return v[0] & 0x3F


def _dec_node_id(c: _Ctx) -> str:
    """Node ID (8.2.38): type 0 IPv4, 1 IPv6, 2 FQDN (labels; a label overrunning the IE ends it)."""
    v = c.need(NODE_ID)
    if not v:
        raise c.bad(NODE_ID)
    kind = v[0] & 0x0F
    if kind == 0:
        if len(v) < 5:
            raise c.bad(NODE_ID)
        return inet_ntoa(v[1:5])
    if kind == 1:
        if len(v) < 17:
            raise c.bad(NODE_ID)
        return str(ipaddress.IPv6Address(v[1:17]))
    if kind == 2:
        labels, i, n = [], 1, len(v)
        while i < n:
            ln = v[i]
            if i + 1 + ln > n:
                break
            labels.append(v[i + 1:i + 1 + ln])
            i += 1 + ln
        try:
            return ".".join(x.decode() for x in labels)
        except UnicodeDecodeError:
            raise c.err("Node ID FQDN is malformed", Cause.MANDATORY_IE_INCORRECT, NODE_ID) from None
    raise c.err(f"Node ID of unknown type {kind}", Cause.MANDATORY_IE_INCORRECT, NODE_ID)


def _dec_cause(c: _Ctx) -> int:
    """Cause (8.2.1): exactly one octet."""
    v = c.need(CAUSE)
    if len(v) != 1:
        raise c.err("Cause of invalid length", Cause.INVALID_LENGTH, CAUSE)
    return v[0]


def _dec_fseid(c: _Ctx, v: bytes) -> Fseid:
    """F-SEID (8.2.37): flags V4 0x02 / V6 0x01, SEID, IPv4, IPv6."""
    if len(v) < 9:
        raise c.bad(F_SEID)
    f = v[0]
    if len(v) < 9 + (4 if f & 0x02 else 0) + (16 if f & 0x01 else 0):
        raise c.bad(F_SEID)
    if not f & 0x02:
        raise c.err("F-SEID without IPv4 address (IPv6 is not supported)", Cause.MANDATORY_IE_INCORRECT, F_SEID)
    return Fseid(_U64(v, 1)[0], inet_ntoa(v[9:13]))


def _dec_fteid(c: _Ctx, v: bytes) -> Fteid:
    """F-TEID (8.2.3): flags CHID 0x08 / CH 0x04 / V6 0x02 / V4 0x01, [TEID, IPv4, IPv6], [CHOOSE ID]."""
    if not v:
        raise c.bad(F_TEID)
    f = v[0]
    if f & 0x04:
        if f & 0x08:
            if len(v) < 2:
                raise c.bad(F_TEID)
            return Fteid(choose=True, choose_id=v[1])
        return Fteid(choose=True)
    if len(v) < 5 + (4 if f & 0x01 else 0) + (16 if f & 0x02 else 0) + (1 if f & 0x08 else 0):
        raise c.bad(F_TEID)
    if not f & 0x01:
        raise c.err("F-TEID without IPv4 address (IPv6 is not supported)", Cause.MANDATORY_IE_INCORRECT, F_TEID)
    return Fteid(_U32(v, 1)[0], inet_ntoa(v[5:9]))


def _dec_ohc(c: _Ctx, v: bytes) -> OuterHeaderCreation:
    """Outer Header Creation (8.2.56): 2-octet description, then the fields it announces."""
    if len(v) < 2:
        raise c.bad(OUTER_HEADER_CREATION)
    f = v[0]
    need = (2 + (4 if f & 0x03 else 0) + (4 if f & 0x15 else 0) + (16 if f & 0x2A else 0)
            + (2 if f & 0x0C else 0) + (3 if f & 0x40 else 0) + (3 if f & 0x80 else 0))
    if len(v) < need:
        raise c.bad(OUTER_HEADER_CREATION)
    if not f & 0x01:
        raise c.err("only GTP-U/UDP/IPv4 outer header creation is supported", Cause.MANDATORY_IE_INCORRECT,
                    OUTER_HEADER_CREATION)
    return OuterHeaderCreation(_U32(v, 2)[0], inet_ntoa(v[6:10]))


def _dec_labels(c: _Ctx, raw: bytes, t: int) -> str:
    """APN/DNN (8.2.117) or Network Instance (8.2.4): DNS labels, else an opaque ASCII string."""
    text = labels_to_text(raw)
    if text is None:
        raise c.err(f"{_ie_name(t)} is not a DNN", Cause.MANDATORY_IE_INCORRECT, t)
    return text


def _dec_apply_action(c: _Ctx, v: bytes) -> int:
    """Apply Action (8.2.26): flags of octet 5."""
    if not v:
        raise c.err("Apply Action is empty", Cause.INVALID_LENGTH, APPLY_ACTION)
    return v[0]


def _dec_interface(c: _Ctx, v: bytes, t: int) -> int:
    """Source (8.2.2) / Destination (8.2.24) Interface: low 4 bits of octet 5."""
    if not v:
        raise c.err(f"{_ie_name(t)} is empty", Cause.INVALID_LENGTH, t)
    return v[0] & 0x0F


def _dec_pdr(c: _Ctx, v: bytes) -> Pdr:
    """Create PDR (7.5.2.2) with its PDI (table 7.5.2.2-2)."""
    g = c.group(v, CREATE_PDR, "Create PDR")
    pdi = g.group(g.need(PDI), PDI, "PDI")
    src = _dec_interface(pdi, pdi.need(SOURCE_INTERFACE), SOURCE_INTERFACE)
    fteid = pdi.opt(F_TEID)
    ueip = pdi.opt(UE_IP_ADDRESS)
    ue_ipv4 = None
    if ueip is not None:
        # UE IP Address (8.2.62): flags IP6PL 0x40, IPv6D 0x08, SD 0x04, V4 0x02, V6 0x01
        f = ueip[0] if ueip else 0
        if not ueip or len(ueip) < (1 + (4 if f & 0x02 else 0) + (16 if f & 0x01 else 0)
                                    + (1 if f & 0x08 else 0) + (1 if f & 0x40 else 0)):
            raise pdi.bad(UE_IP_ADDRESS)
        if not f & 0x02:
            raise pdi.err("UE IP address without IPv4", Cause.MANDATORY_IE_INCORRECT, UE_IP_ADDRESS)
        ue_ipv4 = inet_ntoa(ueip[1:5])
    qfi = pdi.opt(QFI)
    ni = pdi.opt(NETWORK_INSTANCE)
    ohr = g.opt(OUTER_HEADER_REMOVAL)
    far = g.opt(FAR_ID)
    try:
        return Pdr(
            pdr_id=_pdr_id(g, g.need(PDR_ID)),
            precedence=_u32(g, PRECEDENCE, g.need(PRECEDENCE)),
            source_interface=src,
            fteid=None if fteid is None else _dec_fteid(pdi, fteid),
            ue_ipv4=ue_ipv4,
            qfi=None if qfi is None else _qfi(pdi, qfi),
            network_instance=None if ni is None else _dec_labels(pdi, ni, NETWORK_INSTANCE),
            outer_header_removal=ohr is not None and ohr[:1] == b"\x00",  # 8.2.64: 0 = GTP-U/UDP/IPv4
            far_id=None if far is None else _u32(g, FAR_ID, far),
            urr_ids=tuple(_u32(g, URR_ID, x) for x in g.all(URR_ID)),
            qer_ids=tuple(_u32(g, QER_ID, x) for x in g.all(QER_ID)),
        )
    except ValueError as e:
        raise g.err(str(e), Cause.MANDATORY_IE_INCORRECT, CREATE_PDR) from None


def _dec_far(c: _Ctx, v: bytes) -> Far:
    """Create FAR (7.5.2.3) with Forwarding Parameters (table 7.5.2.3-2)."""
    g = c.group(v, CREATE_FAR, "Create FAR")
    far_id = _u32(g, FAR_ID, g.need(FAR_ID))
    action = _dec_apply_action(g, g.need(APPLY_ACTION))
    dest = ohc = ni = None
    fpv = g.opt(FORWARDING_PARAMETERS)
    if fpv is not None:
        fp = g.group(fpv, FORWARDING_PARAMETERS, "Forwarding Parameters")
        dest = _dec_interface(fp, fp.need(DESTINATION_INTERFACE), DESTINATION_INTERFACE)
        o = fp.opt(OUTER_HEADER_CREATION)
        ohc = None if o is None else _dec_ohc(fp, o)
        n = fp.opt(NETWORK_INSTANCE)
        ni = None if n is None else _dec_labels(fp, n, NETWORK_INSTANCE)
    return Far(far_id, action, dest, ohc, ni)


def _dec_update_far(c: _Ctx, v: bytes) -> UpdateFar:
    """Update FAR (7.5.4.3) with Update Forwarding Parameters (table 7.5.4.3-2)."""
    g = c.group(v, UPDATE_FAR, "Update FAR")
    far_id = _u32(g, FAR_ID, g.need(FAR_ID))
    a = g.opt(APPLY_ACTION)
    dest = ohc = None
    fpv = g.opt(UPDATE_FORWARDING_PARAMETERS)
    if fpv is not None:
        fp = g.group(fpv, UPDATE_FORWARDING_PARAMETERS, "Update Forwarding Parameters")
        d = fp.opt(DESTINATION_INTERFACE)
        dest = None if d is None else _dec_interface(fp, d, DESTINATION_INTERFACE)
        o = fp.opt(OUTER_HEADER_CREATION)
        ohc = None if o is None else _dec_ohc(fp, o)
    return UpdateFar(far_id, None if a is None else _dec_apply_action(g, a), dest, ohc)


def _dec_urr(c: _Ctx, v: bytes) -> Urr:
    """Create URR (7.5.2.4): Measurement Method (8.2.40) VOLUM = 0x02."""
    g = c.group(v, CREATE_URR, "Create URR")
    mm = g.need(MEASUREMENT_METHOD)
    g.need(REPORTING_TRIGGERS)
    return Urr(_u32(g, URR_ID, g.need(URR_ID)), bool(mm[:1] and mm[0] & 0x02))


def _dec_qer(c: _Ctx, v: bytes) -> Qer:
    """Create QER (7.5.2.5): Gate Status (8.2.7) UL bits 4-3, DL bits 2-1 (0 = open), MBR (8.2.8)."""
    g = c.group(v, CREATE_QER, "Create QER")
    gate = g.need(GATE_STATUS)
    if not gate:
        raise g.err("Gate Status is empty", Cause.INVALID_LENGTH, GATE_STATUS)
    qfi = g.opt(QFI)
    mbr = g.opt(MBR)
    ul = dl = None
    if mbr is not None:
        if len(mbr) < 10:
            raise g.bad(MBR)
        ul, dl = int.from_bytes(mbr[0:5], "big"), int.from_bytes(mbr[5:10], "big")
    return Qer(_u32(g, QER_ID, g.need(QER_ID)), None if qfi is None else _qfi(g, qfi),
               not gate[0] & 0x0C, not gate[0] & 0x03, ul, dl)


def _dec_failed_rule(c: _Ctx) -> FailedRule | None:
    """Failed Rule ID (8.2.80)."""
    raw = c.opt(FAILED_RULE_ID)
    if raw is None:
        return None
    width = _RULE_ID_WIDTH.get(raw[0] & 0x0F) if raw else None
    if width is None or len(raw) < 1 + width:
        raise c.err("Failed Rule ID is malformed", Cause.MANDATORY_IE_INCORRECT, FAILED_RULE_ID)
    return FailedRule(raw[0] & 0x0F, int.from_bytes(raw[1:1 + width], "big"))


def _dec_offending(c: _Ctx) -> int | None:
    """Offending IE (8.2.22): exactly 2 octets."""
    raw = c.opt(OFFENDING_IE)
    if raw is None:
        return None
    if len(raw) != 2:
        raise c.err("Offending IE of invalid length", Cause.INVALID_LENGTH, OFFENDING_IE)
    return _U16(raw)[0]


# Volume Measurement (8.2.44) flags in the order of their fields: TOVOL, ULVOL, DLVOL, TONOP, ULNOP, DLNOP
_VOLUME_FLAGS = (0x01, 0x02, 0x04, 0x08, 0x10, 0x20)


def _dec_usage_report(c: _Ctx, v: bytes) -> UsageReport:
    """Usage Report (Session Deletion Response, 7.5.7.2)."""
    g = c.group(v, USAGE_REPORT_DELETION, "Usage Report")
    seqn = g.need(UR_SEQN)
    trig = g.need(USAGE_REPORT_TRIGGER)
    vol = g.opt(VOLUME_MEASUREMENT)
    fields = [0, 0, 0, 0, 0, 0]
    if vol is not None:
        if not vol:
            raise g.bad(VOLUME_MEASUREMENT)
        f, off = vol[0], 1
        for i, bit in enumerate(_VOLUME_FLAGS):
            if f & bit:
                if len(vol) < off + 8:
                    raise g.bad(VOLUME_MEASUREMENT)
                fields[i] = _U64(vol, off)[0]
                off += 8
    return UsageReport(_u32(g, URR_ID, g.need(URR_ID)), int.from_bytes(seqn[:4], "big"),
                       int.from_bytes(trig[:3].ljust(3, b"\0"), "big"), fields[1], fields[2], fields[4], fields[5])


def _dec_snssai(c: _Ctx) -> tuple[int, int | None] | None:
    """S-NSSAI (8.2.176): exactly 4 octets."""
    raw = c.opt(S_NSSAI)
    if raw is None:
        return None
    if len(raw) != 4:
        raise c.err("S-NSSAI of invalid length", Cause.INVALID_LENGTH, S_NSSAI)
    sd = int.from_bytes(raw[1:4], "big")
    return (raw[0], None if sd == 0xFFFFFF else sd)


def _d_heartbeat(hdr: Header, c: _Ctx) -> PfcpMessage:  # 7.4.2
    ts = _u32(c, RECOVERY_TIME_STAMP, c.need(RECOVERY_TIME_STAMP))
    if hdr.msg_type == 1:
        return HeartbeatRequest(seq=hdr.seq, recovery_ts=ts)
    return HeartbeatResponse(seq=hdr.seq, recovery_ts=ts)


def _d_assoc_setup(hdr: Header, c: _Ctx) -> PfcpMessage:  # 7.4.4.1, 7.4.4.2
    node = _dec_node_id(c)
    ts = _u32(c, RECOVERY_TIME_STAMP, c.need(RECOVERY_TIME_STAMP))
    up = c.opt(UP_FUNCTION_FEATURES)
    cp = c.opt(CP_FUNCTION_FEATURES)
    if hdr.msg_type == 5:
        return AssociationSetupRequest(seq=hdr.seq, node_id=node, recovery_ts=ts, up_features=up, cp_features=cp)
    return AssociationSetupResponse(seq=hdr.seq, node_id=node, cause=_dec_cause(c), recovery_ts=ts,
                                    up_features=up, cp_features=cp)


def _d_assoc_release_req(hdr: Header, c: _Ctx) -> PfcpMessage:  # 7.4.4.5
    return AssociationReleaseRequest(seq=hdr.seq, node_id=_dec_node_id(c))


def _d_assoc_release_resp(hdr: Header, c: _Ctx) -> PfcpMessage:  # 7.4.4.6
    return AssociationReleaseResponse(seq=hdr.seq, node_id=_dec_node_id(c), cause=_dec_cause(c))


def _d_version_not_supported(hdr: Header, c: _Ctx) -> PfcpMessage:  # 7.4.4.7
    return VersionNotSupportedResponse(seq=hdr.seq)


def _d_est_req(hdr: Header, c: _Ctx) -> PfcpMessage:  # 7.5.2
    node = _dec_node_id(c)
    fseid = _dec_fseid(c, c.need(F_SEID))
    c.need(CREATE_PDR)
    c.need(CREATE_FAR)
    pdn = c.opt(PDN_TYPE)
    dnn = c.opt(APN_DNN)
    return SessionEstablishmentRequest(
        seq=hdr.seq, seid=hdr.seid or 0, node_id=node, cp_fseid=fseid,
        pdrs=tuple(_dec_pdr(c, v) for v in c.all(CREATE_PDR)),
        fars=tuple(_dec_far(c, v) for v in c.all(CREATE_FAR)),
        urrs=tuple(_dec_urr(c, v) for v in c.all(CREATE_URR)),
        qers=tuple(_dec_qer(c, v) for v in c.all(CREATE_QER)),
        pdn_type=None if pdn is None else (pdn[:1] or b"\0")[0] & 0x07,  # PDN Type (8.2.79)
        dnn=None if dnn is None else _dec_labels(c, dnn, APN_DNN),
        snssai=_dec_snssai(c))


def _d_est_resp(hdr: Header, c: _Ctx) -> PfcpMessage:  # 7.5.3
    node = _dec_node_id(c)
    cause = _dec_cause(c)
    f = c.opt(F_SEID)
    created = []
    for v in c.all(CREATED_PDR):  # Created PDR (7.5.3.2)
        g = c.group(v, CREATED_PDR, "Created PDR")
        ft = g.opt(F_TEID)
        created.append(CreatedPdr(_pdr_id(g, g.need(PDR_ID)), None if ft is None else _dec_fteid(g, ft)))
    return SessionEstablishmentResponse(seq=hdr.seq, seid=hdr.seid or 0, node_id=node, cause=cause,
                                        up_fseid=None if f is None else _dec_fseid(c, f),
                                        created_pdrs=tuple(created), offending_ie=_dec_offending(c),
                                        failed_rule=_dec_failed_rule(c))


def _d_mod_req(hdr: Header, c: _Ctx) -> PfcpMessage:  # 7.5.4
    f = c.opt(F_SEID)
    return SessionModificationRequest(seq=hdr.seq, seid=hdr.seid or 0,
                                      update_fars=tuple(_dec_update_far(c, v) for v in c.all(UPDATE_FAR)),
                                      cp_fseid=None if f is None else _dec_fseid(c, f))


def _d_mod_resp(hdr: Header, c: _Ctx) -> PfcpMessage:  # 7.5.5
    return SessionModificationResponse(seq=hdr.seq, seid=hdr.seid or 0, cause=_dec_cause(c),
                                       offending_ie=_dec_offending(c), failed_rule=_dec_failed_rule(c))


def _d_del_req(hdr: Header, c: _Ctx) -> PfcpMessage:  # 7.5.6
    return SessionDeletionRequest(seq=hdr.seq, seid=hdr.seid or 0)


def _d_del_resp(hdr: Header, c: _Ctx) -> PfcpMessage:  # 7.5.7
    return SessionDeletionResponse(seq=hdr.seq, seid=hdr.seid or 0, cause=_dec_cause(c),
                                   offending_ie=_dec_offending(c),
                                   usage_reports=tuple(_dec_usage_report(c, v) for v in c.all(USAGE_REPORT_DELETION)))


def _d_report_req(hdr: Header, c: _Ctx) -> PfcpMessage:  # 7.5.8
    rt = c.need(REPORT_TYPE)
    if not rt:
        raise c.err("Report Type is empty", Cause.INVALID_LENGTH, REPORT_TYPE)
    pdr_ids: list[int] = []
    for v in c.all(DOWNLINK_DATA_REPORT):  # Downlink Data Report (7.5.8.2)
        g = c.group(v, DOWNLINK_DATA_REPORT, "Downlink Data Report")
        g.need(PDR_ID)
        pdr_ids += [_pdr_id(g, x) for x in g.all(PDR_ID)]
    if rt[0] & 0x01 and not pdr_ids:  # DLDR set: the Downlink Data Report is required (conditional IE)
        raise c.err(f"mandatory IE {_ie_name(DOWNLINK_DATA_REPORT)} missing", Cause.CONDITIONAL_IE_MISSING,
                    DOWNLINK_DATA_REPORT)
    return SessionReportRequest(seq=hdr.seq, seid=hdr.seid or 0, report_type=rt[0], dl_data_pdr_ids=tuple(pdr_ids))


def _d_report_resp(hdr: Header, c: _Ctx) -> PfcpMessage:  # 7.5.9
    return SessionReportResponse(seq=hdr.seq, seid=hdr.seid or 0, cause=_dec_cause(c), offending_ie=_dec_offending(c))


_NODE_DECODERS: dict[int, Any] = {1: _d_heartbeat, 2: _d_heartbeat, 5: _d_assoc_setup, 6: _d_assoc_setup,
                                  9: _d_assoc_release_req, 10: _d_assoc_release_resp, 11: _d_version_not_supported}
_SESSION_DECODERS: dict[int, Any] = {50: _d_est_req, 51: _d_est_resp, 52: _d_mod_req, 53: _d_mod_resp,
                                     54: _d_del_req, 55: _d_del_resp, 56: _d_report_req, 57: _d_report_resp}


def decode(buf: bytes) -> PfcpMessage:
    """Decode one PFCP message (the UDP payload); raises only :class:`DecodeError` (see the module doc)."""
    data = bytes(buf)
    hdr = peek_header(data)
    if hdr.version != VERSION:
        raise DecodeError(f"PFCP version {hdr.version} not supported")
    t = hdr.msg_type
    name = MESSAGE_NAMES.get(t)
    if name is None:
        raise DecodeError(f"unknown PFCP message type {t}")
    ies = _frame(data, 16 if hdr.seid is not None else 8, 4 + hdr.length)
    if ies is None:
        raise DecodeError(f"malformed PFCP IEs in message type {t}: an IE overruns the message")
    c = _Ctx(ies, None, name, hdr)
    try:
        fn = _NODE_DECODERS.get(t)
        if fn is not None:
            return fn(hdr, c)
        if hdr.seid is None and t in SESSION_TYPES:
            raise DecodeError(f"PFCP session message type {t} without SEID (S = 0)")
        fn = _SESSION_DECODERS.get(t)
        if fn is not None:
            return fn(hdr, c)
        return OtherMessage(seq=hdr.seq, msg_type=t, seid=hdr.seid, ies=tuple(k for k, _ in ies))
    except DecodeError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, struct.error) as e:
        raise PfcpIeError(f"PFCP message type {t}: invalid IE value: {e}", Cause.MANDATORY_IE_INCORRECT,
                          None, hdr) from None


__all__ = ["decode", "encode"]
