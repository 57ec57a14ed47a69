"""Learned codec templates: byte-identical to the real codecs, never a judge of malformed input."""

from __future__ import annotations

import os
import random

import pytest

from testbed.errors import DecodeError
from testbed.femto.fastpath import NgapFastPath, RrcFastPath
from testbed.protocols import ngap, rrc

from .harness import femto_config

ULI = femto_config().user_location
GUAMI = ngap.Guami(ngap.Plmn("001", "01"), 1, 1, 0)


@pytest.mark.parametrize("enabled", [True, False])
def test_rrc_fast_path_equals_the_codec(enabled: bool) -> None:
    fp = RrcFastPath(enabled=enabled)
    rnd = random.Random(1)
    for _ in range(30):
        nas = rnd.randbytes(rnd.choice((3, 21, 37)))
        tid = rnd.randrange(4)
        assert fp.encode(rrc.DLInformationTransfer(nas, tid)) == rrc.encode(rrc.DLInformationTransfer(nas, tid))
        for msg in (rrc.ULInformationTransfer(nas), rrc.RRCSetupRequest(rnd.getrandbits(39), "mo-Data"),
                    rrc.RRCSetupComplete(nas, tid, s_tmsi_part2=rnd.getrandbits(9)),
                    rrc.RRCSetupComplete(nas, tid, s_tmsi=rnd.getrandbits(48))):
            data = rrc.encode(msg)
            assert fp.decode(msg.channel, data) == rrc.decode(msg.channel, data) == msg
        assert fp.encode(rrc.RRCSetup(tid)) == rrc.encode(rrc.RRCSetup(tid))
        assert fp.encode(rrc.RRCRelease(tid)) == rrc.encode(rrc.RRCRelease(tid))
    if enabled:
        assert fp.hits > 60
    else:
        assert fp.hits == 0


def test_rrc_templates_never_accept_malformed_input() -> None:
    fp = RrcFastPath()
    nas = bytes(21)
    good = rrc.encode(rrc.ULInformationTransfer(nas))
    for _ in range(3):
        fp.decode(rrc.Channel.UL_DCCH, rrc.encode(rrc.ULInformationTransfer(os.urandom(21))))
    assert fp.hits >= 1
    # same length, a constant bit flipped (here: the c1 choice / padding): the real decoder decides
    for i in (0, len(good) - 1):
        bad = bytearray(good)
        bad[i] ^= 0x01 if i else 0x80
        try:
            expect = rrc.decode(rrc.Channel.UL_DCCH, bytes(bad))
        except DecodeError:
            with pytest.raises(DecodeError):
                fp.decode(rrc.Channel.UL_DCCH, bytes(bad))
        else:
            assert fp.decode(rrc.Channel.UL_DCCH, bytes(bad)) == expect


@pytest.mark.parametrize("enabled", [True, False])
def test_ngap_fast_path_equals_the_codec(enabled: bool) -> None:
    fp = NgapFastPath(enabled=enabled)
    rnd = random.Random(2)
    for _ in range(20):
        amf, ran = rnd.choice((1, 300, 70000, 1 << 39)), rnd.choice((1, 2, 260, 1 << 31))
        nas = rnd.randbytes(rnd.choice((3, 30)))
        enc = [
            ngap.UplinkNASTransport(amf, ran, nas, ULI),
            ngap.InitialUEMessage(ran, nas, ULI, "mo-Signalling", cag_ids=(0x101,)),
            ngap.InitialContextSetupResponse(amf, ran),
            ngap.UEContextReleaseComplete(amf, ran, ULI, (1,)),
            ngap.UEContextReleaseRequest(amf, ran, ngap.Cause("radioNetwork", "radio-connection-with-ue-lost")),
            ngap.PDUSessionResourceSetupResponse(amf, ran, (ngap.PduSessionSetupResult(
                1, ngap.PduSessionResourceSetupResponseTransfer(ngap.GtpTunnel("10.10.0.5", rnd.getrandbits(32)))),)),
            ngap.PDUSessionResourceSetupResponse(amf, ran, (ngap.PduSessionSetupResult(
                1, ngap.PduSessionResourceSetupResponseTransfer(ngap.GtpTunnel("10.10.0.5", rnd.getrandbits(32)), (1,),
                                                                ngap.SecurityResult("not-performed",
                                                                                    "not-performed"))),)),
        ]
        for m in enc:
            assert fp.encode(m) == ngap.encode(m), type(m).__name__
        dec = [
            ngap.DownlinkNASTransport(amf, ran, nas),
            ngap.InitialContextSetupRequest(amf, ran, GUAMI, (ngap.Snssai(1),), ngap.UeSecurityCapabilities(),
                                            rnd.randbytes(32), nas_pdu=nas),
            ngap.UEContextReleaseCommand(amf, ngap.Cause("nas", "normal-release"), ran),
        ]
        for m in dec:
            data = ngap.encode(m)
            assert fp.decode(data) == ngap.decode(data) == m
    assert (fp.hits > 20) is enabled


def test_ngap_templates_fall_back_for_malformed_or_new_shapes() -> None:
    fp = NgapFastPath()
    for i in range(3):
        fp.decode(ngap.encode(ngap.DownlinkNASTransport(5, 6, bytes([i]) * 10)))
    hits = fp.hits
    data = ngap.encode(ngap.DownlinkNASTransport(5, 6, b"\x42" * 10))
    assert fp.decode(data).nas_pdu == b"\x42" * 10 and fp.hits == hits + 1
    bad = bytearray(data)
    bad[1] ^= 0xFF  # procedure code: another message or junk, never the template's
    try:
        expect = ngap.decode(bytes(bad))
    except DecodeError:
        with pytest.raises(DecodeError):
            fp.decode(bytes(bad))
    else:
        assert fp.decode(bytes(bad)) == expect
    with pytest.raises(DecodeError):
        fp.decode(data[:-1])
