"""The UE's pycrate-free NAS encoders/decoders against the typed codec of testbed.protocols.nas."""

from __future__ import annotations

import os
import random

import pytest

from testbed.crypto.suci import conceal
from testbed.protocols import nas
from testbed.ue.nas import codec
from testbed.ue.nas.codec import UeCodec, decode_dl

from .core_bridge import MEMBER, hn_keys, standard_core, subscribed_usim

P = nas.PlmnId("001", "01")
CAP = nas.UeSecurityCapability(nea={0, 1, 2, 3}, nia={1, 2, 3})


def _idents() -> list[nas.MobileIdentity]:
    from testbed.crypto.identity import Supi

    s = Supi.imsi("001", "01", "0000000001")
    return [conceal(s, 0), conceal(s, 1, hn_keys().public_key(1), 1, "12"), conceal(s, 2, hn_keys().public_key(2), 2),
            nas.Guti5g("001", "01", 1, 1, 0, 0xDEADBEEF), nas.Pei("353490069873319")]


@pytest.mark.parametrize("rt", [1, 2, 3, 4])
@pytest.mark.parametrize("ident_i", range(5))
@pytest.mark.parametrize(("nssai", "pss", "mm"), [((nas.SNssai(1),), None, True), (None, None, False),
                                                  ((nas.SNssai(1, 5), nas.SNssai(2)), frozenset({1, 5}), True)])
def test_registration_request_matches_the_typed_codec(rt, ident_i, nssai, pss, mm) -> None:
    ident = _idents()[ident_i]
    ngksi = nas.NgKsi(3) if ident_i == 3 else nas.NgKsi()
    full, clear = UeCodec.registration_request(rt, ngksi, ident, CAP, nssai, pss, mm_capability=mm)
    typed = nas.RegistrationRequest(registration_type=rt, follow_on_request=False, ngksi=ngksi, mobile_identity=ident,
                                    mm_capability=b"\x00" if mm else None, ue_security_capability=CAP,
                                    requested_nssai=nssai, pdu_session_status=pss)
    assert full == typed.encode()
    assert clear == nas.cleartext_part(typed).encode()
    cont = os.urandom(40)
    assert UeCodec.with_container(clear, cont) == \
        nas.cleartext_part(typed).__class__(**{**nas.cleartext_part(typed).__dict__, "nas_message_container": cont}).encode()
    assert nas.decode_plain(full) == typed


def test_small_uplink_messages_match_the_typed_codec() -> None:
    res = os.urandom(16)
    assert UeCodec.authentication_response(res) == nas.AuthenticationResponse(res_star=res).encode()
    assert UeCodec.REGISTRATION_COMPLETE == nas.RegistrationComplete().encode()
    pei = nas.Pei("3534900698733191", imeisv=True)
    for imeisv, cont in ((pei, b"\x7e\x00\x41" + os.urandom(30)), (pei, None), (None, None), (None, b"abc")):
        assert UeCodec.smc_complete(imeisv, cont) == \
            nas.SecurityModeComplete(imeisv=imeisv, nas_message_container=cont).encode()
    sm = nas.PduSessionEstablishmentRequest(pdu_session_id=5, pti=7, pdu_session_type=1, ssc_mode=1).encode()
    for rt, sn, dnn in ((1, (1, None), "internet"), (None, None, None), (3, (1, 0x123), "ims.example")):
        assert UeCodec.ul_nas_transport(sm, 5, rt, sn, dnn) == nas.UlNasTransport(
            payload_container=sm, pdu_session_id=5, request_type=rt,
            s_nssai=None if sn is None else nas.SNssai(*sn), dnn=dnn).encode()


def _downlink_samples() -> list[bytes]:
    out = [
        nas.AuthenticationRequest(ngksi=nas.NgKsi(2), abba=b"\x00\x00", rand=os.urandom(16), autn=os.urandom(16)).encode(),
        nas.AuthenticationRequest(ngksi=nas.NgKsi(0, 1), abba=b"\x00\x01\x02", rand=os.urandom(16)).encode(),
        nas.SecurityModeCommand(selected_algorithms=nas.NasSecurityAlgorithms(2, 1), ngksi=nas.NgKsi(4),
                                replayed_ue_security_capability=nas.UeSecurityCapability({0, 2}, {2}, {0}, {1}),
                                imeisv_request=True, abba=b"\x00\x00",
                                additional_security_information=nas.Additional5gSecurityInformation(True, True)).encode(),
        nas.SecurityModeCommand(selected_algorithms=nas.NasSecurityAlgorithms(0, 2), ngksi=nas.NgKsi(1),
                                replayed_ue_security_capability=CAP).encode(),
        nas.RegistrationAccept(guti=nas.Guti5g("001", "01", 1, 1, 0, 7), tai_list=(nas.Tai(P, 1), nas.Tai(P, 9)),
                               allowed_nssai=(nas.SNssai(1), nas.SNssai(2, 3)), t3512=nas.GprsTimer3.from_seconds(3600),
                               t3502=nas.GprsTimer.from_seconds(720), pdu_session_status=frozenset({1, 2}),
                               equivalent_plmns=(P,), configured_nssai=(nas.SNssai(1),),
                               network_feature_support=b"\x01\x00",
                               cag_information_list=(nas.CagInfo(P, (5, 6), True),),
                               result=nas.RegistrationResult(emergency_registered=True)).encode(),
        nas.RegistrationAccept().encode(),
        nas.DlNasTransport(payload_container=b"\x2e\x01\x02\xc2" + os.urandom(10), pdu_session_id=1).encode(),
        nas.DlNasTransport(payload_container=b"xyz", pdu_session_id=3, cause=90,
                           back_off_timer=nas.GprsTimer3(1, 2)).encode(),
        nas.PduSessionEstablishmentAccept(
            pdu_session_id=1, pti=9, qos_rules=(nas.QosRule(1, 1, True, (nas.PacketFilter(1),), 255, 1),),
            session_ambr=nas.SessionAmbr(6, 100, 6, 100), pdu_address=nas.PduAddress(1, "10.45.0.2"),
            s_nssai=nas.SNssai(1), dnn="internet", cause=50, qos_flow_descriptions=b"\x01\x20\x41\x01\x01\x09",
            extended_pco=b"\x80\x00\x0d\x04\x08\x08\x08\x08").encode(),
    ]
    return out


def test_fast_downlink_decoding_equals_the_typed_codec() -> None:
    codec.STATS.clear()
    for pdu in _downlink_samples():
        assert decode_dl(pdu) == nas.decode_plain(pdu)
    assert not [k for k in codec.STATS if k[1] == "fallback"]
    assert sum(codec.STATS.values()) == len(_downlink_samples())


def test_fast_decoding_falls_back_or_fails_like_the_typed_codec() -> None:
    rnd = random.Random(1)
    samples = _downlink_samples()
    checked = 0
    for pdu in samples:
        for _ in range(300):
            b = bytearray(pdu)
            op = rnd.random()
            if op < 0.4:
                b[rnd.randrange(3, len(b))] = rnd.randrange(256)
            elif op < 0.7:
                del b[rnd.randrange(3, len(b)):]
            else:
                b += bytes([rnd.choice([0x21, 0x77, 0x54, 0x12, 0xE1, 0x36, 0x29, 0x99, 0x5E]), 1, 0])
            b = bytes(b)
            try:
                want: object = nas.decode_plain(b)
            except nas.DecodeError:
                want = nas.DecodeError
            try:
                got: object = decode_dl(b)
            except nas.DecodeError:
                got = nas.DecodeError
            assert got == want, b.hex()
            checked += 1
    assert checked == 300 * len(samples)


def test_the_real_amf_messages_take_the_fast_path(tmp_path) -> None:
    core = standard_core(tmp_path, sessions=True)
    g = core.gnb()
    ue = core.ue(MEMBER, g, usim=subscribed_usim(MEMBER))
    codec.STATS.clear()
    core.register(ue)
    core.do(ue, ue.nas.establish_session(1))
    assert ue.nas.registered and 1 in ue.sessions_up
    assert {k for k, v in codec.STATS.items()} == {
        ("AuthenticationRequest", "fast"), ("SecurityModeCommand", "fast"), ("RegistrationAccept", "fast"),
        ("DlNasTransport", "fast"), ("PduSessionEstablishmentAccept", "fast")}
    core.close()
