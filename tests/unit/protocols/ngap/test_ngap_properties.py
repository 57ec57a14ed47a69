"""Property tests: typed round trips over random field values, and DecodeError-only on hostile input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.errors import DecodeError
from testbed.protocols import ngap

from ._samples import ALL

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# typed round trips build big random messages: fewer examples keep the suite at a few seconds
ROUND_TRIP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

plmns = st.builds(ngap.Plmn, st.text("0123456789", min_size=3, max_size=3),
                  st.text("0123456789", min_size=2, max_size=3))
snssais = st.builds(ngap.Snssai, st.integers(0, 255), st.none() | st.integers(0, (1 << 24) - 1))
ulis = st.builds(ngap.UserLocationNR, st.builds(ngap.NrCgi, plmns, st.integers(0, (1 << 36) - 1)),
                 st.builds(ngap.Tai, plmns, st.integers(0, (1 << 24) - 1)))
nas = st.binary(min_size=1, max_size=300)
u32 = st.integers(0, (1 << 32) - 1)
amf_ids = st.integers(0, (1 << 40) - 1)
causes = st.sampled_from([ngap.Cause("radioNetwork", "user-inactivity"), ngap.Cause("nas", "normal-release"),
                          ngap.Cause("misc", "unknown-PLMN-or-SNPN"), ngap.Cause("radioNetwork", "cag-only-access-denied"),
                          ngap.Cause("protocol", "semantic-error"), ngap.Cause("transport", "unspecified")])
cag_lists = st.lists(u32, min_size=1, max_size=64).map(tuple)
s_tmsis = st.builds(ngap.FiveGSTmsi, st.integers(0, 1023), st.integers(0, 63), u32)
tunnels = st.builds(ngap.GtpTunnel, st.ip_addresses().map(str), u32)


@ROUND_TRIP
@given(ran=u32, pdu=nas, uli=ulis, cause=st.sampled_from(["emergency", "mo-Signalling", "mo-Data", "mt-Access"]),
       tmsi=st.none() | s_tmsis, ctx=st.booleans(), cags=st.none() | cag_lists)
def test_initial_ue_message_round_trip(ran, pdu, uli, cause, tmsi, ctx, cags):
    msg = ngap.InitialUEMessage(ran, pdu, uli, cause, tmsi, ctx, cags)
    assert ngap.decode(ngap.encode(msg)) == msg


@ROUND_TRIP
@given(gnb_bits=st.integers(22, 32), data=st.data(), name=st.none() | st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?", min_size=1, max_size=150),
    tas=st.lists(st.builds(ngap.SupportedTa, st.integers(0, (1 << 24) - 1), st.lists(
        st.builds(ngap.BroadcastPlmn, plmns, st.lists(snssais, min_size=1, max_size=4).map(tuple),
                  st.none() | st.integers(0, (1 << 44) - 1)), min_size=1, max_size=3).map(tuple)),
        min_size=1, max_size=3).map(tuple),
    drx=st.sampled_from([32, 64, 128, 256]), plmn=plmns)
def test_ng_setup_request_round_trip(gnb_bits, data, name, tas, drx, plmn):
    gnb = ngap.GlobalGnbId(plmn, data.draw(st.integers(0, (1 << gnb_bits) - 1)), gnb_bits)
    msg = ngap.NGSetupRequest(gnb, tas, drx, name)
    assert ngap.decode(ngap.encode(msg)) == msg


@ROUND_TRIP
@given(amf=amf_ids, ran=u32, pdu=nas, plmn=plmns, cags=st.lists(st.builds(
    ngap.AllowedCagList, plmns, st.lists(u32, min_size=1, max_size=8).map(tuple), st.booleans()), max_size=3).map(tuple),
    eq=st.lists(plmns, max_size=3).map(tuple), nssai=st.none() | st.lists(snssais, min_size=1, max_size=8).map(tuple))
def test_downlink_nas_transport_round_trip(amf, ran, pdu, plmn, cags, eq, nssai):
    msg = ngap.DownlinkNASTransport(amf, ran, pdu, ngap.MobilityRestriction(plmn, eq, cags), nssai)
    assert ngap.decode(ngap.encode(msg)) == msg


@ROUND_TRIP
@given(amf=amf_ids, ran=u32, ids=st.lists(st.integers(0, 255), min_size=1, max_size=4, unique=True),
       ul=tunnels, dl=tunnels, qfis=st.lists(st.integers(0, 63), min_size=1, max_size=4, unique=True),
       ptype=st.sampled_from(ngap.PDU_SESSION_TYPES), snssai=snssais, cause=causes)
def test_pdu_session_setup_round_trip(amf, ran, ids, ul, dl, qfis, ptype, snssai, cause):
    req_t = ngap.PduSessionResourceSetupRequestTransfer(ul, ptype, tuple(ngap.QosFlowRequest(q) for q in qfis))
    req = ngap.PDUSessionResourceSetupRequest(amf, ran, tuple(ngap.PduSessionSetupRequest(i, snssai, req_t) for i in ids))
    assert ngap.decode(ngap.encode(req)) == req
    res = ngap.PDUSessionResourceSetupResponse(
        amf, ran, (ngap.PduSessionSetupResult(ids[0], ngap.PduSessionResourceSetupResponseTransfer(dl, tuple(qfis))),),
        tuple(ngap.PduSessionFailed(i, cause) for i in ids[1:]) or None)
    assert ngap.decode(ngap.encode(res)) == res


def _decode_only_decode_error(buf: bytes) -> None:
    try:
        msg = ngap.decode(buf)
    except DecodeError:
        return
    if not isinstance(msg, ngap.UnsupportedMessage):
        assert ngap.decode(ngap.encode(msg)) == msg


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decode_error(buf):
    _decode_only_decode_error(buf)


@SETTINGS
@given(idx=st.integers(0, len(ALL) - 1), flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 7)),
                                                           min_size=1, max_size=4))
def test_bit_flips_raise_only_decode_error(idx, flips):
    buf = bytearray(ngap.encode(ALL[idx]))
    for pos, bit in flips:
        buf[pos % len(buf)] ^= 1 << bit
    _decode_only_decode_error(bytes(buf))


@pytest.mark.parametrize("msg", ALL, ids=[type(m).__name__ for m in ALL])
def test_every_truncation_is_a_decode_error(msg):
    buf = ngap.encode(msg)
    for cut in range(len(buf)):
        with pytest.raises(DecodeError):
            ngap.decode(buf[:cut])
