"""Native PFCP codec (testbed.core.smf.pfcp_native) against the pycrate reference (encode_pycrate / decode_pycrate).

- every message the dataclasses can express (fixed samples and hypothesis-generated ones): the same
  octets as pycrate, and both decoders give back the message;
- malformed input (every prefix, byte flips, insertions, deletions) raises only DecodeError; value
  flips that keep the TLV framing give the same result or error cause as pycrate;
- error causes of TS 29.244 7.6 (66 / 68 / 69) on hand-built IEs;
- Wireshark dissects the native encoding cleanly.
"""

from __future__ import annotations

import ipaddress
import random
import string
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.core.smf import pfcp as P
from testbed.core.smf import pfcp_native as N
from testbed.errors import DecodeError
from testbed.protocols.pcap import ipv4_udp, tshark_available, tshark_check, write_pcap

from .test_pfcp import FAR, FSEID, MESSAGES, NODE, _est, _ie, _pdr

OHC = P.OuterHeaderCreation(0x01020304, "192.0.2.7")

# Fixed samples covering every IE variant the dataclasses carry (beyond test_pfcp.MESSAGES)
EXTRA: list[P.PfcpMessage] = [
    P.AssociationSetupRequest(seq=0xFFFFFF, node_id="2001:db8::5", recovery_ts=0xFFFFFFFF,
                              cp_features=b"\x01\x02"),
    P.AssociationSetupRequest(seq=1, node_id="smf.core.example", recovery_ts=0, up_features=b"\x10\x00\x00\x00\x00\x00\x00",
                              cp_features=b""),
    P.AssociationSetupResponse(seq=2, node_id="10.10.0.3", cause=P.Cause.REQUEST_REJECTED, recovery_ts=1),
    P.AssociationReleaseResponse(seq=3, node_id="upf", cause=P.Cause.NO_ESTABLISHED_PFCP_ASSOCIATION),
    P.SessionEstablishmentRequest(
        seq=10, seid=0, node_id="smf.example", cp_fseid=P.Fseid(2**64 - 1, "255.255.255.255"),
        pdrs=(P.Pdr(0xFFFF, 0xFFFFFFFF, P.Interface.ACCESS, fteid=P.Fteid(choose=True, choose_id=7), ue_ipv4="0.0.0.0",
                    qfi=63, network_instance="access.net", outer_header_removal=True, far_id=0xFFFFFFFF,
                    urr_ids=(1, 2, 3), qer_ids=(4, 5)),
              P.Pdr(2, 0, P.Interface.CORE, ue_ipv4="10.45.255.254", qfi=0),
              P.Pdr(3, 1, P.Interface.SGI_LAN_N6_LAN, fteid=P.Fteid(0, "10.0.0.1")),
              P.Pdr(4, 1, P.Interface.CP_FUNCTION)),
        fars=(P.Far(1, P.ApplyAction.FORW | P.ApplyAction.DUPL, P.Interface.CORE, network_instance="internet"),
              P.Far(2, P.ApplyAction.FORW, P.Interface.ACCESS, OHC, network_instance="n3"),
              P.Far(3, P.ApplyAction.DROP),
              P.Far(4, P.ApplyAction.NOCP | P.ApplyAction.BUFF, P.Interface.CP_FUNCTION)),
        urrs=(P.Urr(1), P.Urr(0xFFFFFFFF, volume=False)),
        qers=(P.Qer(1), P.Qer(2, 5, ul_gate_open=False, dl_gate_open=True, mbr_ul_kbps=2**40 - 1, mbr_dl_kbps=0),
              P.Qer(3, None, ul_gate_open=True, dl_gate_open=False), P.Qer(4, ul_gate_open=False, dl_gate_open=False)),
        pdn_type=7, dnn="ims.mnc001.mcc001.gprs", snssai=(255, None)),
    P.SessionEstablishmentResponse(seq=11, seid=2**64 - 1, node_id="2001:db8::3", cause=P.Cause.REQUEST_ACCEPTED,
                                   up_fseid=P.Fseid(7, "10.10.0.3"),
                                   created_pdrs=(P.CreatedPdr(1, P.Fteid(1, "10.10.0.3")), P.CreatedPdr(2),
                                                 P.CreatedPdr(0xFFFF, P.Fteid(2**32 - 1, "10.10.0.4")))),
    P.SessionEstablishmentResponse(seq=12, seid=5, node_id="10.10.0.3", cause=P.Cause.RULE_CREATION_MODIFICATION_FAILURE,
                                   failed_rule=P.FailedRule(3, 2**32 - 1)),
    P.SessionModificationRequest(seq=13, seid=9, cp_fseid=P.Fseid(3, "10.10.0.1"),
                                 update_fars=(P.UpdateFar(2, P.ApplyAction.FORW, P.Interface.ACCESS, OHC),
                                              P.UpdateFar(3), P.UpdateFar(4, P.ApplyAction.BUFF),
                                              P.UpdateFar(5, destination_interface=P.Interface.CORE),
                                              P.UpdateFar(6, outer_header_creation=OHC))),
    P.SessionModificationRequest(seq=14, seid=9),
    P.SessionModificationResponse(seq=15, seid=9, cause=P.Cause.MANDATORY_IE_INCORRECT, offending_ie=0xFFFF,
                                  failed_rule=P.FailedRule(1, 3)),
    P.SessionModificationResponse(seq=15, seid=9, cause=P.Cause.RULE_CREATION_MODIFICATION_FAILURE,
                                  failed_rule=P.FailedRule(2, 4)),
    P.SessionDeletionResponse(seq=16, seid=9, cause=P.Cause.SESSION_CONTEXT_NOT_FOUND, offending_ie=57),
    P.SessionDeletionResponse(seq=17, seid=9, cause=P.Cause.REQUEST_ACCEPTED,
                              usage_reports=(P.UsageReport(1), P.UsageReport(2, 2**32 - 1, 2**24 - 1, 2**63 - 1,
                                                                             2**63, 2**62, 2**62 + 1))),
]
ALL = MESSAGES + EXTRA


def _outcome(fn, wire: bytes):
    """What a decoder makes of ``wire``: the message, or the error class / cause / offending IE type."""
    try:
        return fn(wire)
    except P.PfcpIeError as e:
        return ("PfcpIeError", int(e.cause), None if e.ie_type is None else int(e.ie_type))
    except DecodeError:
        return ("DecodeError",)


def _decode_only_decode_error(wire: bytes) -> P.PfcpMessage | None:
    try:
        return P.decode(wire)
    except DecodeError:
        return None


# --- same octets, same messages ------------------------------------------------------


@pytest.mark.parametrize("msg", ALL, ids=lambda m: type(m).__name__)
def test_native_encode_is_pycrate_encode_and_decodes_back(msg):
    wire = P.encode(msg)
    assert wire == P.encode_pycrate(msg)
    assert P.decode(wire) == msg
    assert P.decode_pycrate(wire) == msg
    assert N.decode(wire) == msg and N.encode(msg) == wire


def test_tables_match_pycrate():
    pc = P._pycrate()
    assert {k: v[0] for k, v in pc.PFCPReqResp.items()} == P.RESPONSE_TO
    assert set(pc.PFCPDispatcher) == set(P.MESSAGE_NAMES)
    assert all(pc.PFCPMsgType_dict[k] == v for k, v in P.MESSAGE_NAMES.items())
    assert {int(t): pc.PFCPIEType_dict[int(t)] for t in P.IeType} == P.IE_NAMES
    grouped = {k for k, v in pc.PFCPIELUT.items() if isinstance(v, type) and issubclass(v, pc.PFCPIEs)}
    ours = {N.CREATE_PDR, N.PDI, N.CREATE_FAR, N.FORWARDING_PARAMETERS, N.CREATE_URR, N.CREATE_QER, N.CREATED_PDR,
            N.UPDATE_FAR, N.UPDATE_FORWARDING_PARAMETERS, N.USAGE_REPORT_DELETION}
    assert ours <= grouped
    assert all(int(t) == getattr(N, t.name) for t in P.IeType)


def test_message_subclass_encodes_like_its_base():
    class Hb(P.HeartbeatRequest):
        pass

    msg = Hb(seq=3, recovery_ts=4)
    assert P.encode(msg) == P.encode_pycrate(msg) == P.encode(P.HeartbeatRequest(seq=3, recovery_ts=4))


# --- hypothesis: generated field values -----------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u24 = st.integers(0, 0xFFFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
ipv4s = st.integers(0, 2**32 - 1).map(lambda i: str(ipaddress.IPv4Address(i)))
ipv6s = st.integers(0, 2**128 - 1).map(lambda i: str(ipaddress.IPv6Address(i)))
_label = st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=16)
dnns = st.lists(_label, min_size=1, max_size=4).map(".".join)


def _not_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return True
    return False


# FQDN node IDs: ASCII or any Unicode (UTF-8 labels), possibly empty labels ("a..b"), as pycrate writes them
_uni_label = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="."), max_size=12)
fqdns = (st.lists(_label, min_size=1, max_size=4) | st.lists(_uni_label, min_size=1, max_size=4)).map(".".join).filter(
    lambda s: 0 < len(s) <= 255 and _not_ip(s))
node_ids = ipv4s | ipv6s | fqdns
fteids = st.builds(P.Fteid, teid=u32, ipv4=ipv4s) | st.builds(P.Fteid, choose=st.just(True), choose_id=st.none() | u8)
ohcs = st.builds(P.OuterHeaderCreation, u32, ipv4s)
interfaces = st.integers(0, 15)
pdrs = st.builds(P.Pdr, pdr_id=u16, precedence=u32, source_interface=interfaces, fteid=st.none() | fteids,
                 ue_ipv4=st.none() | ipv4s, qfi=st.none() | st.integers(0, 63), network_instance=st.none() | dnns,
                 outer_header_removal=st.booleans(), far_id=st.none() | u32,
                 urr_ids=st.lists(u32, max_size=3).map(tuple), qer_ids=st.lists(u32, max_size=3).map(tuple))
# Forwarding Parameters (and so OHC / network instance) only with a destination interface
fars = st.builds(P.Far, far_id=u32, action=u8) | st.builds(
    P.Far, far_id=u32, action=u8, destination_interface=interfaces, outer_header_creation=st.none() | ohcs,
    network_instance=st.none() | dnns)
update_fars = st.builds(P.UpdateFar, far_id=u32, action=st.none() | u8, destination_interface=st.none() | interfaces,
                        outer_header_creation=st.none() | ohcs)
urrs = st.builds(P.Urr, urr_id=u32, volume=st.booleans())
_mbr = st.none() | st.tuples(st.integers(0, 2**40 - 1), st.integers(0, 2**40 - 1))
qers = st.builds(lambda i, q, ul, dl, m: P.Qer(i, q, ul, dl, *(m or (None, None))),
                 u32, st.none() | st.integers(0, 63), st.booleans(), st.booleans(), _mbr)
failed_rules = st.builds(P.FailedRule, st.just(0), u16) | st.builds(P.FailedRule, st.sampled_from([1, 2, 3]), u32)
_u63 = st.integers(0, 2**63 - 1)
usage_reports = st.builds(P.UsageReport, urr_id=u32, ur_seqn=u32, trigger=u24, ul_bytes=_u63, dl_bytes=_u63,
                          ul_packets=_u63, dl_packets=_u63)
features = st.none() | st.binary(max_size=8)
seqs = u24
offending = st.none() | u16


def _tuple(s, **kw):
    return st.lists(s, **kw).map(tuple)


messages = st.one_of(
    st.builds(P.HeartbeatRequest, seq=seqs, recovery_ts=u32),
    st.builds(P.HeartbeatResponse, seq=seqs, recovery_ts=u32),
    st.builds(P.AssociationSetupRequest, seq=seqs, node_id=node_ids, recovery_ts=u32, up_features=features,
              cp_features=features),
    st.builds(P.AssociationSetupResponse, seq=seqs, node_id=node_ids, cause=u8, recovery_ts=u32,
              up_features=features, cp_features=features),
    st.builds(P.AssociationReleaseRequest, seq=seqs, node_id=node_ids),
    st.builds(P.AssociationReleaseResponse, seq=seqs, node_id=node_ids, cause=u8),
    st.builds(P.VersionNotSupportedResponse, seq=seqs),
    st.builds(P.SessionEstablishmentRequest, seq=seqs, seid=u64, node_id=node_ids,
              cp_fseid=st.builds(P.Fseid, u64, ipv4s), pdrs=_tuple(pdrs, min_size=1, max_size=3),
              fars=_tuple(fars, min_size=1, max_size=3), urrs=_tuple(urrs, max_size=2), qers=_tuple(qers, max_size=2),
              pdn_type=st.none() | st.integers(0, 7), dnn=st.none() | dnns,
              snssai=st.none() | st.tuples(u8, st.none() | st.integers(0, 0xFFFFFE))),
    st.builds(P.SessionEstablishmentResponse, seq=seqs, seid=u64, node_id=node_ids, cause=u8,
              up_fseid=st.none() | st.builds(P.Fseid, u64, ipv4s),
              created_pdrs=_tuple(st.builds(P.CreatedPdr, u16, st.none() | fteids), max_size=3),
              offending_ie=offending, failed_rule=st.none() | failed_rules),
    st.builds(P.SessionModificationRequest, seq=seqs, seid=u64, update_fars=_tuple(update_fars, max_size=3),
              cp_fseid=st.none() | st.builds(P.Fseid, u64, ipv4s)),
    st.builds(P.SessionModificationResponse, seq=seqs, seid=u64, cause=u8, offending_ie=offending,
              failed_rule=st.none() | failed_rules),
    st.builds(P.SessionDeletionRequest, seq=seqs, seid=u64),
    st.builds(P.SessionDeletionResponse, seq=seqs, seid=u64, cause=u8, offending_ie=offending,
              usage_reports=_tuple(usage_reports, max_size=3)),
    st.builds(P.SessionReportRequest, seq=seqs, seid=u64, report_type=st.integers(0, 255).map(lambda v: v & 0xFE),
              dl_data_pdr_ids=st.just(())),
    st.builds(P.SessionReportRequest, seq=seqs, seid=u64, report_type=st.integers(0, 255).map(lambda v: v | 1),
              dl_data_pdr_ids=_tuple(u16, min_size=1, max_size=3)),
    st.builds(P.SessionReportResponse, seq=seqs, seid=u64, cause=u8, offending_ie=offending),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(msg=messages)
def test_generated_messages_native_equals_pycrate(msg):
    wire = P.encode(msg)
    ref = P.encode_pycrate(msg)
    assert wire == ref
    assert P.decode(ref) == P.decode_pycrate(ref) == msg


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(msg=messages, edits=st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 255), st.integers(0, 2)),
                                    min_size=1, max_size=4))
def test_generated_mutations_raise_only_decode_error(msg, edits):
    buf = bytearray(P.encode(msg))
    for pos, val, op in edits:
        pos %= len(buf) + 1
        if op == 0 and pos < len(buf):
            buf[pos] = val
        elif op == 1 and pos < len(buf):
            del buf[pos]
        else:
            buf.insert(pos, val)
    out = _decode_only_decode_error(bytes(buf))
    assert out is None or isinstance(out, P.PfcpMessage)


# --- malformed input --------------------------------------------------------------------


def _with_length(prefix: bytes) -> bytes:
    """``prefix`` with the header length field set to what follows the first 4 octets."""
    return prefix[:2] + (len(prefix) - 4).to_bytes(2, "big") + prefix[4:]


@pytest.mark.parametrize("msg", ALL, ids=lambda m: type(m).__name__)
def test_every_prefix_raises_only_decode_error(msg):
    wire = P.encode(msg)
    hdr_len = 16 if msg.SESSION else 8
    for n in range(len(wire)):
        with pytest.raises(DecodeError):
            P.decode(wire[:n])  # the header length no longer matches
        if n >= hdr_len:
            # a consistent header over a truncated body: an IE overruns the message, or whole IEs are missing
            out = _decode_only_decode_error(_with_length(wire[:n]))
            assert out is None or type(out) is type(msg)


def test_random_mutations_raise_only_decode_error():
    rng = random.Random(29244)
    seeds = [P.encode(m) for m in ALL]
    outcomes = {"ok": 0, "error": 0}
    for _ in range(5000):
        buf = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            op, pos = rng.random(), rng.randrange(len(buf))
            if op < 0.6:
                buf[pos] = rng.randrange(256)
            elif op < 0.7:
                buf[pos] ^= 1 << rng.randrange(8)
            elif op < 0.85:
                del buf[pos]
            else:
                buf.insert(pos, rng.randrange(256))
        if _decode_only_decode_error(bytes(buf)) is None:
            outcomes["error"] += 1
        else:
            outcomes["ok"] += 1
    assert outcomes["error"] > 500 and outcomes["ok"] > 500, outcomes


def test_random_bytes_after_a_valid_header_raise_only_decode_error():
    rng = random.Random(7)
    for _ in range(3000):
        t = rng.choice(sorted(P.MESSAGE_NAMES))
        s = rng.random() < 0.5
        body = rng.randbytes(rng.randrange(0, 64))
        if rng.random() < 0.5:  # plausible IE headers with random types and lengths
            body = b"".join(_ie(rng.choice([1, 2, 3, 19, 21, 57, 60, 96, 0x8001, rng.randrange(65536)]),
                                rng.randbytes(rng.randrange(0, 12))) for _ in range(rng.randrange(1, 5)))
        hdr = bytes([0x21 if s else 0x20, t]) + ((12 if s else 4) + len(body)).to_bytes(2, "big")
        wire = hdr + (rng.randbytes(8) if s else b"") + b"\x00\x00\x01\x00" + body
        _decode_only_decode_error(wire)


GROUPED = {1, 2, 3, 4, 6, 7, 8, 10, 11, 79, 83}


def _value_offsets(wire: bytes, off: int, end: int, out: list[int]) -> None:
    """Offsets of the octets inside non-grouped IE values (flipping them keeps the TLV framing)."""
    while off < end:
        t, n = int.from_bytes(wire[off:off + 2], "big"), int.from_bytes(wire[off + 2:off + 4], "big")
        if t in GROUPED:
            _value_offsets(wire, off + 4, off + 4 + n, out)
        elif t != P.IeType.APN_DNN:  # pycrate reads APN/DNN as labels and misframes on a bad label length
            out.extend(range(off + 4, off + 4 + n))
        off += 4 + n


def test_value_flips_decode_as_pycrate_does():
    """Flipping octets of IE values (not of Type / Length): same message or same cause as pycrate.

    The one known difference is pycrate's: an IE too short for the fields its flags announce (e.g. a
    Node ID of type IPv6 with 4 octets) makes pycrate lose the IEs that follow it in the same
    container ("trailing octets", a plain DecodeError); the native decoder answers cause 69 for it.
    """
    rng = random.Random(8805)
    seeds = []
    for m in ALL:
        wire = P.encode(m)
        offs = list(range(4, 15 if m.SESSION else 7))  # header: SEID and sequence number
        _value_offsets(wire, 16 if m.SESSION else 8, len(wire), offs)
        seeds.append((wire, offs))
    same = differ = 0
    for _ in range(800):
        wire, offs = rng.choice(seeds)
        buf = bytearray(wire)
        for _ in range(rng.randint(1, 3)):
            pos = rng.choice(offs)
            buf[pos] = rng.randrange(256) if rng.random() < 0.5 else buf[pos] ^ (1 << rng.randrange(8))
        native, ref = _outcome(P.decode, bytes(buf)), _outcome(P.decode_pycrate, bytes(buf))
        if native == ref:
            same += 1
        else:
            differ += 1
            assert native[:2] == ("PfcpIeError", 69) and ref == ("DecodeError",), (bytes(buf).hex(), native, ref)
    assert differ < same / 20, (same, differ)


# --- error causes (TS 29.244 7.6) -------------------------------------------------------

FTEID_CH = _ie(21, b"\x05")
PDR_OK = _pdr(_ie(20, b"\x00") + FTEID_CH)


def _far(*ies: bytes) -> bytes:
    return _ie(3, b"".join(ies))


FAR_ID1 = _ie(108, (1).to_bytes(4, "big"))


def _resp(t: int, *ies: bytes, seid: int = 1) -> bytes:
    body = b"".join(ies)
    return bytes([0x21, t]) + (12 + len(body)).to_bytes(2, "big") + seid.to_bytes(8, "big") + b"\x00\x00\x04\x00" + body


# (wire, expected native outcome, pycrate gives the same)
CAUSE_CASES = [
    ("ok", _est(NODE, FSEID, PDR_OK, FAR), None, True),
    ("ue-ip-without-v4", _est(NODE, FSEID, _pdr(_ie(20, b"\x00") + _ie(93, b"\x04" + bytes(4))), FAR), (69, 93), True),
    ("ue-ip-short", _est(NODE, FSEID, _pdr(_ie(20, b"\x00") + _ie(93, b"\x02\x0a")), FAR), (69, 93), True),
    ("fteid-v6-short", _est(NODE, FSEID, _pdr(_ie(20, b"\x00") + _ie(21, b"\x03" + bytes(8))), FAR), (69, 21), True),
    ("fteid-chid-short", _est(NODE, FSEID, _pdr(_ie(20, b"\x00") + _ie(21, b"\x0d")), FAR), (69, 21), True),
    ("source-interface-empty", _est(NODE, FSEID, _pdr(_ie(20, b"") + FTEID_CH), FAR), (68, 20), True),
    ("pdi-without-source-interface", _est(NODE, FSEID, _pdr(FTEID_CH), FAR), (66, 20), True),
    ("pdr-without-pdr-id", _est(NODE, FSEID, _ie(1, _ie(29, bytes(4)) + _ie(2, _ie(20, b"\x00"))), FAR), (66, 56), True),
    ("pdr-precedence-short", _est(NODE, FSEID, _ie(1, _ie(56, b"\x00\x01") + _ie(2, _ie(20, b"\x00")) + _ie(29, b"\x01")),
                                  FAR), (69, 29), True),
    ("pdr-without-pdi", _est(NODE, FSEID, _ie(1, _ie(56, b"\x00\x01") + _ie(29, bytes(4))), FAR), (66, 2), True),
    ("far-apply-action-empty", _est(NODE, FSEID, PDR_OK, _far(FAR_ID1, _ie(44, b""))), (68, 44), True),
    ("far-without-apply-action", _est(NODE, FSEID, PDR_OK, _far(FAR_ID1)), (66, 44), True),
    ("far-id-short", _est(NODE, FSEID, PDR_OK, _far(_ie(44, b"\x02\x00"), _ie(108, b"\x01"))), (69, 108), True),
    ("forwarding-without-destination", _est(NODE, FSEID, PDR_OK, _far(FAR_ID1, _ie(44, b"\x02\x00"), _ie(4, b""))),
     (66, 42), True),
    ("ohc-not-gtpu-ipv4", _est(NODE, FSEID, PDR_OK, _far(FAR_ID1, _ie(44, b"\x02\x00"), _ie(
        4, _ie(42, b"\x00") + _ie(84, b"\x10\x00" + bytes(4))))), (69, 84), True),
    ("ohc-short", _est(NODE, FSEID, PDR_OK, _far(FAR_ID1, _ie(44, b"\x02\x00"), _ie(
        4, _ie(42, b"\x00") + _ie(84, b"\x01\x00" + bytes(6))))), (69, 84), True),
    ("urr-without-measurement-method", _est(NODE, FSEID, PDR_OK, FAR, _ie(6, _ie(81, bytes(4)) + _ie(37, bytes(3)))),
     (66, 62), True),
    ("qer-gate-empty", _est(NODE, FSEID, PDR_OK, FAR, _ie(7, _ie(109, bytes(4)) + _ie(25, b""))), (68, 25), True),
    ("qer-mbr-short", _est(NODE, FSEID, PDR_OK, FAR, _ie(7, _ie(109, bytes(4)) + _ie(25, b"\x00") + _ie(26, bytes(9)))),
     (69, 26), True),
    ("fseid-without-v4", _est(NODE, _ie(57, b"\x00" + bytes(8)), PDR_OK, FAR), (69, 57), True),
    ("node-id-unknown-type", _est(FSEID, PDR_OK, FAR, _ie(60, b"\x05abc")), (69, 60), True),
    ("node-id-fqdn-not-utf8", _est(FSEID, PDR_OK, FAR, _ie(60, b"\x02\x02\xff\xfe")), (69, 60), True),
    ("snssai-short", _est(NODE, FSEID, PDR_OK, FAR, _ie(257, b"\x01\x00\x00")), (68, 257), True),
    ("est-without-far", _est(NODE, FSEID, PDR_OK), (66, 3), True),
    ("failed-rule-type-5", _resp(53, _ie(19, b"\x49"), _ie(114, b"\x05\x01")), (69, 114), True),
    ("usage-report-volume-short", _resp(55, _ie(19, b"\x01"), _ie(79, _ie(81, bytes(4)) + _ie(104, bytes(4))
                                                                 + _ie(63, bytes(3)) + _ie(66, b"\x01" + bytes(7)))),
     (69, 66), True),
    ("usage-report-without-trigger", _resp(55, _ie(19, b"\x01"), _ie(79, _ie(81, bytes(4)) + _ie(104, bytes(4)))),
     (66, 63), True),
    ("created-pdr-without-id", _resp(51, NODE, _ie(19, b"\x01"), _ie(8, _ie(21, b"\x05"))), (66, 56), True),
    ("mod-resp-without-cause", _resp(53), (66, 19), True),
    # where pycrate reads a fixed-size IE whatever its Length (and misframes what follows), or drops
    # what overruns a grouped IE, the native decoder checks the lengths (7.6):
    ("cause-2-octets", _resp(53, _ie(19, b"\x01\x00")), (68, 19), False),
    ("cause-empty", _resp(53, _ie(19, b"")), (68, 19), False),
    ("offending-ie-3-octets", _resp(53, _ie(19, b"\x01"), _ie(40, b"\x00\x01\x02")), (68, 40), False),
    ("ie-overruns-create-pdr", _est(NODE, FSEID, _ie(1, _ie(56, b"\x00\x01") + b"\x00\x1d\x00\x09\x00"), FAR),
     (68, 1), False),
    ("trailing-octets-in-pdi", _est(NODE, FSEID, _pdr(_ie(20, b"\x00") + b"\x00\x15"), FAR), (68, 2), False),
    ("node-id-ipv6-short-first", _est(_ie(60, b"\x01" + bytes(4)), FSEID, PDR_OK, FAR), (69, 60), False),
]


@pytest.mark.parametrize("name,wire,expected,pycrate_agrees", CAUSE_CASES, ids=[c[0] for c in CAUSE_CASES])
def test_error_causes(name, wire, expected, pycrate_agrees):
    native = _outcome(P.decode, wire)
    if expected is None:
        assert isinstance(native, P.SessionEstablishmentRequest)
    else:
        assert native == ("PfcpIeError", *expected), native
        with pytest.raises(P.PfcpIeError) as ei:
            P.decode(wire)
        assert ei.value.header is not None and ei.value.header.seq == P.peek_header(wire).seq
        assert isinstance(ei.value.ie_type, P.IeType)
    if pycrate_agrees:
        assert _outcome(P.decode_pycrate, wire) == native


@pytest.mark.parametrize("name,wire", [
    ("ie-overruns-message", _resp(53, b"\x00\x13\x00\x05\x01")),
    ("trailing-octets", _resp(53, _ie(19, b"\x01"), b"\x00\x13\x00")),
    ("vendor-ie-without-enterprise-id", _resp(53, _ie(19, b"\x01"), _ie(0x8001, b"\x01"))),
    ("session-message-without-seid", bytes([0x20, 53, 0, 9, 0, 0, 1, 0]) + _ie(19, b"\x01")),
    ("unknown-message-type", bytes([0x20, 99, 0, 4, 0, 0, 1, 0])),
    ("version-2", bytes([0x40, 1, 0, 12, 0, 0, 1, 0]) + _ie(96, bytes(4))),
])
def test_framing_errors_are_plain_decode_errors(name, wire):
    with pytest.raises(DecodeError) as ei:
        P.decode(wire)
    assert not isinstance(ei.value, P.PfcpIeError)


def _insert_after_first(wire: bytes, at: int, extra: bytes, parents: tuple[int, ...] = ()) -> bytes:
    """Insert ``extra`` at body offset ``at``, fixing the message length and the ``parents`` IE lengths."""
    out = bytearray(wire[:at] + extra + wire[at:])
    out[2:4] = (int.from_bytes(out[2:4], "big") + len(extra)).to_bytes(2, "big")
    for p in parents:
        out[p + 2:p + 4] = (int.from_bytes(out[p + 2:p + 4], "big") + len(extra)).to_bytes(2, "big")
    return bytes(out)


def test_unknown_and_vendor_ies_are_skipped():
    msg = MESSAGES[6]  # Session Establishment Request
    wire = P.encode(msg)
    unknown = _ie(32000, b"\x01\x02\x03") + _ie(0x8123, b"\x28\xaf" + b"vendor") + _ie(0x8124, b"\x00\x01")
    top = _insert_after_first(wire, 16, unknown)
    # inside the first Create PDR (offset of its value) and inside its PDI
    first_ie = 16 + 4 + int.from_bytes(wire[18:20], "big")
    first_ie += 4 + int.from_bytes(wire[first_ie + 2:first_ie + 4], "big")  # skip Node ID and F-SEID
    assert int.from_bytes(wire[first_ie:first_ie + 2], "big") == P.IeType.CREATE_PDR
    in_pdr = _insert_after_first(wire, first_ie + 4, unknown, (first_ie,))
    pdi = first_ie + 4 + 6 + 8  # PDR ID (6), Precedence (8)
    assert int.from_bytes(wire[pdi:pdi + 2], "big") == P.IeType.PDI
    in_pdi = _insert_after_first(wire, pdi + 4, unknown, (first_ie, pdi))
    for w in (top, in_pdr, in_pdi):
        assert P.decode(w) == msg
        assert P.decode_pycrate(w) == msg
    other = P.decode(_resp(14, _ie(39, b"\x01"), unknown))  # Session Set Deletion Request: not modelled
    assert isinstance(other, P.OtherMessage) and other.ies == (39, 32000, 0x8123, 0x8124)


# --- encoding errors ---------------------------------------------------------------------

EST = MESSAGES[6]


@pytest.mark.parametrize("msg", [
    P.SessionEstablishmentResponse(seq=1, seid=1, node_id="10.0.0.1", cause=1, created_pdrs=(P.CreatedPdr(70000),)),
    P.SessionEstablishmentResponse(seq=1, seid=1, node_id="10.0.0.1", cause=1, created_pdrs=(P.CreatedPdr(-1),)),
    P.SessionEstablishmentResponse(seq=1, seid=1, node_id="10.0.0.1", cause=1, failed_rule=P.FailedRule(0, 70000)),
    P.SessionEstablishmentResponse(seq=1, seid=1, node_id="10.0.0.1", cause=1, failed_rule=P.FailedRule(5, 1)),
    P.SessionEstablishmentResponse(seq=1, seid=1, node_id="10.0.0.1", cause=256),
    P.SessionEstablishmentResponse(seq=1, seid=1, node_id="10.0.0.1", cause=1, offending_ie=1 << 16),
    P.SessionDeletionResponse(seq=1, seid=1, cause=1, usage_reports=(P.UsageReport(2**32),)),
    P.SessionDeletionResponse(seq=1, seid=1, cause=1, usage_reports=(P.UsageReport(1, ur_seqn=-1),)),
    P.SessionDeletionResponse(seq=1, seid=1, cause=1, usage_reports=(P.UsageReport(1, ul_bytes=2**64),)),
    P.SessionDeletionResponse(seq=1, seid=1, cause=1, usage_reports=(P.UsageReport(1, ul_bytes=2**63, dl_bytes=2**63),)),
    P.SessionDeletionResponse(seq=1, seid=1, cause=1, usage_reports=(P.UsageReport(1, trigger=2**24),)),
    P.SessionModificationRequest(seq=1, seid=1, update_fars=(P.UpdateFar(1, destination_interface=16),)),
    P.SessionModificationRequest(seq=1, seid=2**64),
    P.SessionEstablishmentRequest(node_id="10.0.0.1", cp_fseid=EST.cp_fseid, pdrs=(P.Pdr(1, 1, 0, urr_ids=(2**32,)),),
                                  fars=EST.fars),
    P.SessionEstablishmentRequest(node_id="10.0.0.1", cp_fseid=EST.cp_fseid, pdrs=EST.pdrs, fars=EST.fars, pdn_type=8),
    P.SessionEstablishmentRequest(node_id="10.0.0.1", cp_fseid=EST.cp_fseid, pdrs=EST.pdrs, fars=EST.fars,
                                  snssai=(1, 1 << 24)),
    P.SessionEstablishmentRequest(node_id="10.0.0.1", cp_fseid=EST.cp_fseid, pdrs=EST.pdrs, fars=EST.fars,
                                  snssai=(256, None)),
    P.SessionEstablishmentRequest(node_id="10.0.0.1", cp_fseid=EST.cp_fseid, pdrs=EST.pdrs, fars=EST.fars, dnn="a..b"),
    P.SessionEstablishmentRequest(node_id="10.0.0.1", cp_fseid=EST.cp_fseid, pdrs=EST.pdrs * 1000, fars=EST.fars),
    P.AssociationReleaseRequest(node_id=""),
    P.AssociationReleaseRequest(node_id="x" * 256),
    P.AssociationReleaseRequest(node_id="é" * 200),  # a 400-octet label
    P.HeartbeatRequest(seq=1, recovery_ts=2**32),
    P.HeartbeatRequest(seq=-1, recovery_ts=1),
], ids=lambda m: type(m).__name__)
def test_out_of_range_values_raise_value_error(msg):
    with pytest.raises(ValueError):
        P.encode(msg)


def test_non_messages_raise_type_error():
    for bad in (P.OtherMessage(msg_type=56), object(), b"\x20\x01"):
        with pytest.raises(TypeError):
            P.encode(bad)  # type: ignore[arg-type]


def test_import_order_and_lazy_pycrate():
    code = ("import sys\n"
            "import testbed.core.smf.pfcp_native as N\n"
            "from testbed.core.smf import pfcp as P\n"
            "m = P.HeartbeatRequest(seq=1, recovery_ts=2)\n"
            "assert N.decode(P.encode(m)) == m\n"
            "assert 'pycrate_mobile.TS29244_PFCP' not in sys.modules\n"
            "assert P.decode_pycrate(P.encode_pycrate(m)) == m\n"
            "assert 'pycrate_mobile.TS29244_PFCP' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- Wireshark ------------------------------------------------------------------------------

needs_tshark = pytest.mark.skipif(not tshark_available(), reason="tshark not installed")


@needs_tshark
def test_wireshark_dissects_native_encoding_cleanly(tmp_path):
    frames = [ipv4_udp("10.10.0.1", "10.10.0.3", P.PORT, P.PORT, N.encode(m)) for m in ALL]
    reports = tshark_check(write_pcap(tmp_path / "pfcp-native.pcap", frames))
    assert len(reports) == len(ALL)
    for msg, rep in zip(ALL, reports, strict=True):
        assert "pfcp" in rep.protocols, (type(msg).__name__, rep.protocols)
        assert rep.ok and not rep.expert, (msg, rep.expert)


@pytest.mark.parametrize("text", ["1.2.3.4", "0.0.0.0", "255.255.255.255", "01.2.3.4", "1.2.3", "1", "0x1.2.3.4",
                                  "1.2.3.4 ", " 1.2.3.4", "1.2.3.4 abc", "256.1.1.1", "1.2.3.4\x00", "١.2.3.4",
                                  "1.2.3.04", "", "1..2.3", "+1.2.3.4", "::1"])
def test_ipv4_check_fast_path_accepts_what_ipaddress_accepts(text):
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        with pytest.raises(ValueError):
            P._check_ipv4("address", text)
    else:
        assert P._check_ipv4("address", text) == text
