"""EAP-AKA (RFC 4187): attribute codec, malformed input, and the server <-> peer exchange.

The server gets its vectors from the core's store (HpmVectors); the peer answers with the HPM's
software UICC. Every verdict has its control case."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.aaa.eap import (
    EAP_REQUEST,
    EAP_RESPONSE,
    EAP_SUCCESS,
    TYPE_AKA,
    TYPE_IDENTITY,
    TYPE_NAK,
    EapPacket,
)
from testbed.aaa.eap_aka import (
    AT_ANY_ID_REQ,
    AT_AUTN,
    AT_FULLAUTH_ID_REQ,
    AT_MAC,
    AT_PERMANENT_ID_REQ,
    AT_RAND,
    SUBTYPE_CHALLENGE,
    SUBTYPE_CLIENT_ERROR,
    SUBTYPE_IDENTITY,
    SUBTYPE_SYNCHRONIZATION_FAILURE,
    AkaMessage,
    AkaPeer,
    AkaServer,
    add_mac,
    at_autn,
    at_auts,
    at_checkcode,
    at_client_error,
    at_flag,
    at_identity,
    at_mac_zero,
    at_rand,
    at_res,
    decode_aka,
    encode_aka,
    parse_permanent_identity,
    permanent_identity,
    verify_mac,
)
from testbed.aaa.vectors import HpmVectors
from testbed.errors import DecodeError
from testbed.hpm.softuicc import SoftUicc

from .helpers import IDENTITY, IMSI, OPC, REALM, K, converse, hpm_store


@pytest.fixture
def store():
    s = hpm_store()
    yield s
    s.close()


@pytest.fixture
def vectors(store):
    return HpmVectors(store)


def card(**kw) -> SoftUicc:
    return SoftUicc(IMSI, kw.pop("k", K), kw.pop("opc", OPC), realm=REALM, **kw)


def peer_of(uicc: SoftUicc, **kw) -> AkaPeer:
    return AkaPeer(lambda: uicc.identity, uicc.authenticate, **kw)


# -- identities -------------------------------------------------------------------------------


def test_permanent_identity_format():
    assert permanent_identity(IMSI, REALM) == IDENTITY
    assert parse_permanent_identity(IDENTITY) == IMSI
    assert parse_permanent_identity(f"0{IMSI}") == IMSI
    for other in (f"1{IMSI}@{REALM}", f"6{IMSI}@{REALM}", "anonymous@realm", "0123@realm", b"\xff\xfe", ""):
        assert parse_permanent_identity(other) is None


# -- codec ------------------------------------------------------------------------------------

ALL_ATTRS = (at_rand(os.urandom(16)), at_autn(os.urandom(16)), at_res(os.urandom(8)), at_auts(os.urandom(14)),
             at_identity(IDENTITY.encode()), at_flag(AT_PERMANENT_ID_REQ), at_checkcode(os.urandom(20)),
             at_client_error(0), at_mac_zero())


def test_codec_roundtrip_of_every_attribute():
    msg = AkaMessage(SUBTYPE_CHALLENGE, ALL_ATTRS)
    data = encode_aka(msg)
    back = decode_aka(data)
    assert back == msg
    assert back.identity == IDENTITY.encode() and back.client_error_code == 0
    assert back.rand == ALL_ATTRS[0][1][2:] and back.autn == ALL_ATTRS[1][1][2:]
    assert back.res == ALL_ATTRS[2][1][2:10] and back.auts == ALL_ATTRS[3][1]


@pytest.mark.parametrize("res_len", [4, 5, 8, 12, 16])
def test_at_res_length_in_bits_and_padding(res_len):
    t, v = at_res(bytes(range(res_len)))
    assert struct.unpack("!H", v[:2])[0] == 8 * res_len and (len(v) + 2) % 4 == 0
    assert decode_aka(encode_aka(AkaMessage(SUBTYPE_CHALLENGE, ((t, v),)))).res == bytes(range(res_len))


def test_wire_format_of_a_challenge_request():
    rand, autn = bytes(16), bytes(range(16))
    pkt = EapPacket(EAP_REQUEST, 1, TYPE_AKA, encode_aka(AkaMessage(SUBTYPE_CHALLENGE, (at_rand(rand), at_autn(autn))))).encode()
    # Code, Id, Length=48 | Type 23 | Subtype 1 | Reserved | AT_RAND len 5 | AT_AUTN len 5 (RFC 4187 9.3)
    assert pkt[:8] == bytes.fromhex("01010030170100 00".replace(" ", ""))
    assert pkt[8:12] == bytes([AT_RAND, 5, 0, 0]) and pkt[28:32] == bytes([AT_AUTN, 5, 0, 0])


def _raw(*attrs: bytes) -> bytes:
    return bytes([SUBTYPE_CHALLENGE, 0, 0]) + b"".join(attrs)


@pytest.mark.parametrize("data,why", [
    (b"\x01\x00", "short header"),
    (_raw(b"\x01"), "truncated attribute header"),
    (_raw(bytes([AT_RAND, 0])), "zero length"),
    (_raw(bytes([AT_RAND, 5, 0, 0]) + bytes(10)), "overrun"),
    (_raw(bytes([AT_RAND, 4, 0, 0]) + bytes(12)), "RAND of 12 octets"),
    (_raw(bytes([AT_MAC, 2, 0, 0, 0, 0, 0, 0])), "short MAC"),
    (_raw(bytes([3, 2, 0, 200, 1, 2, 3, 4])), "RES longer than the attribute"),
    (_raw(bytes([3, 2, 0, 16, 1, 2, 3, 4])), "RES of 16 bits"),
    (_raw(bytes([3, 3, 0, 33]) + bytes(8)), "RES not whole octets"),
    (_raw(bytes([14, 2, 0, 9, 0x41, 0x42, 0, 0])), "identity length overrun"),
    (_raw(bytes([134, 2, 0, 0, 1, 2, 3, 4])), "checkcode of 4 octets"),
    (_raw(bytes([99, 1, 0, 0])), "unknown non-skippable"),
    (_raw(bytes([AT_PERMANENT_ID_REQ, 1, 0, 0]) * 2), "repeated attribute"),
    (_raw(bytes([6, 2, 0, 0, 0, 1, 0, 0])), "non-zero padding"),
])
def test_malformed_messages_raise_decode_error(data, why):
    with pytest.raises(DecodeError):
        decode_aka(data)


def test_unknown_skippable_attribute_is_kept():
    msg = decode_aka(_raw(bytes([200, 1, 0, 0]), bytes([AT_ANY_ID_REQ, 1, 0, 0])))
    assert msg.has(200) and msg.has(AT_ANY_ID_REQ)


def test_mac_over_the_whole_packet():
    k_aut = os.urandom(16)
    pkt = EapPacket(EAP_REQUEST, 3, TYPE_AKA, encode_aka(AkaMessage(SUBTYPE_CHALLENGE, ALL_ATTRS))).encode()
    signed = add_mac(pkt, k_aut)
    assert verify_mac(signed, k_aut) and not verify_mac(signed, os.urandom(16))
    for i in (1, 9, len(signed) - 1):  # identifier, an attribute, the MAC itself
        flipped = bytearray(signed)
        flipped[i] ^= 1
        assert not verify_mac(bytes(flipped), k_aut)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_attribute_bytes_never_crash_the_decoder(body):
    try:
        msg = decode_aka(b"\x01\x00\x00" + body)
    except DecodeError:
        return
    assert decode_aka(encode_aka(msg)) == msg


# -- server <-> peer ----------------------------------------------------------------------------


def test_full_authentication_gives_the_same_msk_on_both_sides(vectors):
    server, peer = AkaServer(vectors), peer_of(card())
    steps = converse(server, peer)
    assert [s.stage for s in steps[:-1]] == ["identity", "challenge"]
    assert steps[-1].status == "success" and peer.state == "success"
    assert server.msk is not None and len(server.msk) == 64 and server.msk == peer.msk
    assert server.emsk == peer.emsk and server.msk != server.emsk
    assert server.imsi == IMSI and server.identity == IDENTITY


def test_each_authentication_has_fresh_keys(vectors):
    uicc = card()
    a, b = AkaServer(vectors), AkaServer(vectors)
    converse(a, peer_of(uicc))
    converse(b, peer_of(uicc))
    assert a.msk and b.msk and a.msk != b.msk


def test_wrong_k_fails_with_authentication_reject(vectors):
    server, peer = AkaServer(vectors), peer_of(card(k=os.urandom(16)))
    steps = converse(server, peer)
    assert steps[-1].status == "failure" and "AUTN" in steps[-1].reason
    assert peer.state == "failure" and peer.last_result == "mac_failure" and server.msk is None


def test_resync_path(vectors, store):
    uicc = card(sqn_ms=900 << 5 | 3)
    server, peer = AkaServer(vectors), peer_of(uicc)
    steps = converse(server, peer)
    assert [s.stage for s in steps[:-1]] == ["identity", "challenge", "challenge"]
    assert steps[2].sync_failure and steps[2].resynced
    assert steps[-1].status == "success" and server.msk == peer.msk
    assert store.get_hpm(IMSI).sqn >> 5 == 901


def test_second_sync_failure_in_one_authentication_fails(vectors):
    class AlwaysSync:
        def __init__(self, uicc):
            self.uicc = uicc

        def __call__(self, rand, autn):
            from testbed.crypto.aka import SyncFailure

            return SyncFailure(self.uicc._aka._auts(rand))

    uicc = card(sqn_ms=100 << 5)
    steps = converse(AkaServer(vectors), AkaPeer(IDENTITY, AlwaysSync(uicc)))
    assert steps[-1].status == "failure" and "repeated" in steps[-1].reason


def test_forged_auts_fails(vectors, store):
    def forged(rand, autn):
        from testbed.crypto.aka import SyncFailure

        return SyncFailure(os.urandom(14))

    before = store.get_hpm(IMSI).sqn
    steps = converse(AkaServer(vectors), AkaPeer(IDENTITY, forged))
    assert steps[-1].status == "failure" and "MAC-S" in steps[-1].reason and steps[-1].sync_failure
    assert store.get_hpm(IMSI).sqn == before + 33  # only the one vector's SQN was used


def test_unknown_identity_fails(vectors):
    other = SoftUicc("001010000009999", K, OPC, realm=REALM)
    steps = converse(AkaServer(vectors), peer_of(other))
    assert steps[-1].status == "failure" and steps[-1].reason == "unknown identity"


def test_anonymous_identity_triggers_permanent_id_request_and_checkcode(vectors):
    server = AkaServer(vectors)
    peer = peer_of(card(), anonymous_identity=f"anonymous@{REALM}")
    steps = converse(server, peer)
    assert [s.stage for s in steps[:-1]] == ["identity", "aka-identity", "challenge"]
    req = decode_aka(steps[1].eap[5:])
    assert req.subtype == SUBTYPE_IDENTITY and req.has(AT_PERMANENT_ID_REQ)
    assert steps[-1].status == "success" and server.identity == IDENTITY and server.msk == peer.msk


@pytest.mark.parametrize("first", [AT_ANY_ID_REQ, AT_FULLAUTH_ID_REQ, AT_PERMANENT_ID_REQ])
def test_server_can_always_ask_for_the_identity(vectors, first):
    server, peer = AkaServer(vectors, first_id_request=first), peer_of(card())
    steps = converse(server, peer)
    assert decode_aka(steps[1].eap[5:]).has(first)
    assert steps[-1].status == "success" and server.msk == peer.msk


def test_tampered_identity_request_is_caught_by_checkcode(vectors):
    """An attacker turns AT_ANY_ID_REQ into AT_PERMANENT_ID_REQ (RFC 4187 10.13): the peer's and
    the server's AT_CHECKCODE differ and the peer refuses the challenge."""
    server, peer = AkaServer(vectors, first_id_request=AT_ANY_ID_REQ), peer_of(card())
    s = server.start()
    r = peer.receive(s.eap)
    s = server.receive(r)
    tampered = s.eap[:8] + bytes([AT_PERMANENT_ID_REQ]) + s.eap[9:]
    s = server.receive(peer.receive(tampered))
    assert s.stage == "challenge"
    answer = peer.receive(s.eap)
    assert decode_aka(answer[5:]).subtype == SUBTYPE_CLIENT_ERROR and peer.last_result == "checkcode_mismatch"
    assert server.receive(answer).status == "failure"


def test_challenge_with_a_bad_mac_is_refused_by_the_peer(vectors):
    server, peer = AkaServer(vectors), peer_of(card())
    ch = server.receive(peer.receive(server.start().eap))
    bad = bytearray(ch.eap)
    bad[-1] ^= 0xFF
    answer = peer.receive(bytes(bad))
    assert decode_aka(answer[5:]).subtype == SUBTYPE_CLIENT_ERROR and peer.last_result == "bad_mac"
    assert server.receive(answer).status == "failure"


def test_response_with_a_flipped_octet_fails_the_mac(vectors):
    server, peer = AkaServer(vectors), peer_of(card())
    ch = server.receive(peer.receive(server.start().eap))
    answer = bytearray(peer.receive(ch.eap))
    answer[12] ^= 1  # an octet of RES
    step = server.receive(bytes(answer))
    assert step.status == "failure" and "AT_MAC" in step.reason


def test_wrong_res_under_a_valid_mac_fails(vectors):
    """A peer that knows CK/IK (so its AT_MAC verifies) but not the RES of this RAND."""
    uicc = card()

    def wrong_res(rand, autn):
        r = uicc.authenticate(rand, autn)
        return type(r)(bytes(len(r.res)), r.ck, r.ik)

    steps = converse(AkaServer(vectors), AkaPeer(IDENTITY, wrong_res))
    assert steps[-1].status == "failure" and steps[-1].reason == "RES does not match XRES"
    # control: the true RES succeeds
    assert converse(AkaServer(vectors), peer_of(uicc))[-1].status == "success"


def test_response_replayed_to_a_new_authentication_fails(vectors):
    uicc = card()
    s1, p1 = AkaServer(vectors, identifier=10), peer_of(uicc)
    ch = s1.receive(p1.receive(s1.start().eap))
    old_answer = p1.receive(ch.eap)
    s2 = AkaServer(vectors, identifier=10)
    s2.start()
    assert s2.receive(EapPacket(EAP_RESPONSE, 11, TYPE_IDENTITY, IDENTITY.encode()).encode()).stage == "challenge"
    assert s2.receive(old_answer).status == "failure"  # same identifier, new RAND and K_aut: the MAC fails
    assert s1.receive(old_answer).status == "success"  # control: to its own server it is valid


def test_server_discards_wrong_identifier_and_requests(vectors):
    server, peer = AkaServer(vectors, identifier=100), peer_of(card())
    req = server.start()
    resp = bytearray(peer.receive(req.eap))
    resp[1] = 7
    assert server.receive(bytes(resp)).status == "discard"
    assert server.receive(req.eap).status == "discard"  # a Request sent to the server
    assert server.receive(b"\x02\x00").status == "discard"
    resp[1] = 101
    assert server.receive(bytes(resp)).status == "continue"  # control


def test_nak_and_client_error_end_in_failure(vectors):
    server = AkaServer(vectors)
    ch = server.receive(EapPacket(EAP_RESPONSE, 1, TYPE_IDENTITY, IDENTITY.encode()).encode())
    rid = ch.eap[1]
    assert server.receive(EapPacket(EAP_RESPONSE, rid, TYPE_NAK, b"\x04").encode()).status == "failure"
    server = AkaServer(vectors)
    ch = server.receive(EapPacket(EAP_RESPONSE, 1, TYPE_IDENTITY, IDENTITY.encode()).encode())
    err = EapPacket(EAP_RESPONSE, ch.eap[1], TYPE_AKA, encode_aka(AkaMessage(SUBTYPE_CLIENT_ERROR, (at_client_error(0),))))
    step = server.receive(err.encode())
    assert step.status == "failure" and "client error 0" in step.reason
    assert server.receive(err.encode()).status == "discard"  # finished


def test_sync_failure_without_auts_fails(vectors):
    server = AkaServer(vectors)
    ch = server.receive(EapPacket(EAP_RESPONSE, 1, TYPE_IDENTITY, IDENTITY.encode()).encode())
    bad = EapPacket(EAP_RESPONSE, ch.eap[1], TYPE_AKA, encode_aka(AkaMessage(SUBTYPE_SYNCHRONIZATION_FAILURE)))
    assert server.receive(bad.encode()).status == "failure"


def test_peer_refuses_early_success_and_repeated_identity_requests(vectors):
    peer = peer_of(card())
    peer.receive(EapPacket(EAP_REQUEST, 1, TYPE_IDENTITY).encode())
    peer.receive(EapPacket(EAP_SUCCESS, 1).encode())
    assert peer.state == "failure" and peer.msk is None
    peer = peer_of(card())
    req = EapPacket(EAP_REQUEST, 2, TYPE_AKA, encode_aka(AkaMessage(SUBTYPE_IDENTITY, (at_flag(AT_PERMANENT_ID_REQ),))))
    first = decode_aka(peer.receive(req.encode())[5:])
    assert first.identity == IDENTITY.encode()
    again = EapPacket(EAP_REQUEST, 3, TYPE_AKA, encode_aka(AkaMessage(SUBTYPE_IDENTITY, (at_flag(AT_ANY_ID_REQ),))))
    assert decode_aka(peer.receive(again.encode())[5:]).subtype == SUBTYPE_CLIENT_ERROR  # RFC 4187 4.1.6


def test_peer_resends_its_answer_to_a_retransmitted_request(vectors):
    server, peer = AkaServer(vectors), peer_of(card())
    ch = server.receive(peer.receive(server.start().eap))
    first = peer.receive(ch.eap)
    assert peer.receive(ch.eap) == first  # the card is not asked again (it would say sync failure)
    assert server.receive(first).status == "success"


def test_peer_without_card_answers_client_error(vectors):
    uicc = card()
    server, peer = AkaServer(vectors), peer_of(uicc)
    ch = server.receive(peer.receive(server.start().eap))
    uicc.remove()
    answer = peer.receive(ch.eap)
    assert decode_aka(answer[5:]).subtype == SUBTYPE_CLIENT_ERROR and peer.last_result == "no_card"
    assert server.receive(answer).status == "failure"


def test_peer_naks_other_methods():
    peer = AkaPeer(IDENTITY, lambda r, a: None)
    answer = peer.receive(EapPacket(EAP_REQUEST, 4, 4, b"\x10" + bytes(16)).encode())  # EAP-MD5
    assert answer == EapPacket(EAP_RESPONSE, 4, TYPE_NAK, bytes([TYPE_AKA])).encode()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), st.integers(0, 255))
def test_garbage_never_crashes_server_or_peer(body, ident):
    s = hpm_store()
    try:
        server = AkaServer(HpmVectors(s))
        server.receive(EapPacket(EAP_RESPONSE, 1, TYPE_IDENTITY, IDENTITY.encode()).encode())
        for raw in (body, bytes([2, ident]) + struct.pack("!H", 4 + len(body)) + body,
                    EapPacket(EAP_RESPONSE, ident, TYPE_AKA, body).encode() if len(body) < 1000 else b""):
            assert server.receive(raw).status in ("discard", "failure", "continue", "success")
            peer = AkaPeer(IDENTITY, card().authenticate)
            out = peer.receive(EapPacket(EAP_REQUEST, ident, TYPE_AKA, body).encode())
            assert out is None or isinstance(out, bytes)
    finally:
        s.close()


def test_truncations_of_a_real_challenge_never_crash_the_peer(vectors):
    server = AkaServer(vectors)
    ch = server.receive(EapPacket(EAP_RESPONSE, 1, TYPE_IDENTITY, IDENTITY.encode()).encode()).eap
    for n in range(len(ch)):
        cut = ch[:n]
        if n >= 4:
            cut = cut[:2] + struct.pack("!H", n) + cut[4:]
        peer = peer_of(card())
        peer.receive(EapPacket(EAP_REQUEST, 0, TYPE_IDENTITY).encode())
        out = peer.receive(cut)
        assert out is None or decode_aka(out[5:]).subtype == SUBTYPE_CLIENT_ERROR


def test_peer_without_an_identity_round_binds_the_keys_to_its_permanent_identity(vectors):
    """IKEv2 gives the server the EAP identity: the first EAP message the peer sees is the challenge."""
    server, peer = AkaServer(vectors), peer_of(card())
    ch = server.receive(EapPacket(EAP_RESPONSE, 1, TYPE_IDENTITY, IDENTITY.encode()).encode())
    done = server.receive(peer.receive(ch.eap))
    assert done.status == "success"
    peer.receive(done.eap)
    assert peer.state == "success" and server.msk == peer.msk
