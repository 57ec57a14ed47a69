"""NAS security: protect/unprotect, MAC failures, replays, directions (TS 24.501 4.4, TS 33.501 6.4)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.errors import CryptoError, DecodeError
from testbed.protocols import nas

K_INT = bytes.fromhex("2bd6459f82c5b300952c49104881ff48")
K_ENC = bytes.fromhex("d3c5d592327fb11c4035c6680af8c6d1")
SHT = nas.SecurityHeaderType
PLAIN = nas.encode(nas.RegistrationComplete())
SMC = nas.encode(nas.SecurityModeCommand(
    selected_algorithms=nas.NasSecurityAlgorithms(2, 2), ngksi=nas.NgKsi(1),
    replayed_ue_security_capability=nas.UeSecurityCapability({0, 2}, {2})))


def pair(nia: int = 2, nea: int = 2, **kw) -> tuple[nas.NasSecurityContext, nas.NasSecurityContext]:  # noqa: ANN003
    ue = nas.NasSecurityContext("ue", k_nas_int=K_INT, k_nas_enc=K_ENC, nia=nia, nea=nea, ngksi=1, **kw)
    amf = nas.NasSecurityContext("amf", k_nas_int=K_INT, k_nas_enc=K_ENC, nia=nia, nea=nea, ngksi=1, **kw)
    return ue, amf


@pytest.mark.parametrize("nia,nea", [(1, 1), (2, 2), (3, 3), (2, 0), (1, 3), (0, 0)])
@pytest.mark.parametrize("sht", [1, 2, 3, 4])
def test_protect_unprotect_both_directions(nia: int, nea: int, sht: int) -> None:
    ue, amf = pair(nia, nea)
    for i in range(3):
        up = ue.protect(PLAIN, sht)
        assert up[0] == 0x7E and up[1] == sht and up[6] == i
        plain, info = amf.unprotect(up)
        assert plain == PLAIN and info.count == i and info.security_header_type == sht
        down = amf.protect(SMC, sht)
        assert ue.unprotect(down)[0] == SMC
        if SHT(sht).ciphered and nea:
            assert down[7:] != SMC  # really ciphered
        else:
            assert down[7:] == SMC
    assert ue.ul_count == amf.ul_count == 3 and ue.dl_count == amf.dl_count == 3


def test_wire_format_against_an_independent_nia2_nea2() -> None:
    """MAC = AES-CMAC(K_NASint, COUNT || BEARER<<3 | DIRECTION<<2 || 0^24 || SQN || ciphertext)[:4],
    ciphertext = AES-CTR(K_NASenc, IV = COUNT || BEARER<<3 | DIRECTION<<2 || 0^88), COUNT = 5,
    BEARER = 1 (3GPP access), DIRECTION = 1 (downlink)."""
    _, amf = pair(dl_count=5)
    out = amf.protect(PLAIN, SHT.INTEGRITY_PROTECTED_AND_CIPHERED)
    head = (5).to_bytes(4, "big") + bytes([(1 << 3) | (1 << 2)])
    enc = Cipher(algorithms.AES(K_ENC), modes.CTR(head + bytes(11))).encryptor()
    ct = enc.update(PLAIN) + enc.finalize()
    mac = cmac.CMAC(algorithms.AES(K_INT))
    mac.update(head + bytes(3) + b"\x05" + ct)
    assert out == b"\x7e\x02" + mac.finalize()[:4] + b"\x05" + ct


def test_tampering_is_a_mac_failure_and_leaves_the_context_unchanged() -> None:
    ue, amf = pair()
    good = ue.protect(PLAIN)
    for pos in range(2, len(good)):  # MAC, SQN, ciphered message
        bad = bytearray(good)
        bad[pos] ^= 0x01
        with pytest.raises(nas.NasMacFailure):
            amf.unprotect(bytes(bad))
    assert amf.unprotect(good)[0] == PLAIN  # the genuine message is still accepted


def test_security_header_type_is_not_covered_by_the_mac() -> None:
    """TS 24.501 9.8: the MAC covers SQN || NAS message, not the security header type. Rewriting
    "integrity protected and ciphered" (2) as "integrity protected" (1) passes the MAC check and the
    receiver gets the ciphertext as the "plain" message, which then fails to decode."""
    ue, amf = pair()
    good = ue.protect(PLAIN, SHT.INTEGRITY_PROTECTED_AND_CIPHERED)
    plain, info = amf.unprotect(good[:1] + b"\x01" + good[2:])
    assert info.security_header_type == SHT.INTEGRITY_PROTECTED and plain == good[7:] != PLAIN


def test_replay_is_rejected() -> None:
    ue, amf = pair()
    first = ue.protect(PLAIN)
    amf.unprotect(first)
    with pytest.raises(nas.NasReplay):
        amf.unprotect(first)
    second = ue.protect(PLAIN)
    amf.unprotect(second)
    with pytest.raises(nas.NasReplay):
        amf.unprotect(first)  # an older one too
    assert isinstance(nas.NasReplay("x"), CryptoError)


def test_replay_window_accepts_reordered_messages_once() -> None:
    ue, amf = pair(replay_window=8)
    m0, m1, m2 = (ue.protect(PLAIN) for _ in range(3))
    amf.unprotect(m0)
    amf.unprotect(m2)
    assert amf.unprotect(m1)[1].count == 1  # late, but never accepted before
    with pytest.raises(nas.NasReplay):
        amf.unprotect(m1)


def test_wrong_direction_is_rejected() -> None:
    ue, amf = pair()
    up = ue.protect(PLAIN)
    ue_again = pair()[0]
    with pytest.raises(nas.NasMacFailure):
        ue_again.unprotect(up)  # an uplink message reflected back to a UE
    down = amf.protect(PLAIN)
    with pytest.raises(nas.NasMacFailure):
        pair()[1].unprotect(down)  # a downlink message reflected to an AMF


def test_bearer_and_keys_are_in_the_mac() -> None:
    ue, _ = pair()
    up = ue.protect(PLAIN)
    other_bearer = nas.NasSecurityContext("amf", k_nas_int=K_INT, k_nas_enc=K_ENC, nia=2, nea=2, bearer=0)
    with pytest.raises(nas.NasMacFailure):
        other_bearer.unprotect(up)
    other_key = nas.NasSecurityContext("amf", k_nas_int=bytes(16), k_nas_enc=K_ENC, nia=2, nea=2)
    with pytest.raises(nas.NasMacFailure):
        other_key.unprotect(up)


def test_count_overflow_and_lost_messages() -> None:
    ue, amf = pair(ul_count=250, dl_count=250)
    for i in range(10):  # crosses the SQN wrap: 250..259
        msg = ue.protect(PLAIN)
        assert msg[6] == (250 + i) & 0xFF
        if i % 3 == 1:
            continue  # lost on the air
        assert amf.unprotect(msg)[1].count == 250 + i
    assert ue.ul_count == 260 and amf.ul_count == 260  # 251, 254 and 257 were lost
    late = pair(ul_count=251)[0].protect(PLAIN)  # a lost message showing up late: too old now
    with pytest.raises(nas.NasReplay):
        amf.unprotect(late)


def test_plain_and_malformed_input() -> None:
    _, amf = pair()
    with pytest.raises(nas.NasNotProtected):
        amf.unprotect(PLAIN)
    with pytest.raises(DecodeError):
        amf.unprotect(b"\x7e\x07" + bytes(8))
    with pytest.raises(DecodeError):
        amf.unprotect(b"\x7e\x01\x00\x00")
    with pytest.raises(DecodeError):
        amf.unprotect(b"")
    with pytest.raises(ValueError):
        amf.protect(PLAIN, SHT.PLAIN)
    with pytest.raises(ValueError):
        amf.protect(nas.encode(nas.PduSessionReleaseComplete(pdu_session_id=1, pti=1)))


def test_protect_message_and_unprotect_message() -> None:
    ue, amf = pair(1, 1)
    wire = ue.protect_message(nas.RegistrationComplete(), SHT.INTEGRITY_PROTECTED_AND_CIPHERED)
    env = nas.decode(wire)
    assert isinstance(env, nas.SecurityProtectedMessage) and env.ciphered
    msg, info = amf.unprotect_message(wire)
    assert msg == nas.RegistrationComplete() and info.ciphered and not info.new_context


def test_nia0_accepts_any_mac() -> None:
    """5G-IA0 (emergency without authentication, TS 33.501 D.3.1): MAC is 0 and not checked."""
    ue, amf = pair(0, 0)
    wire = ue.protect(PLAIN, SHT.INTEGRITY_PROTECTED)
    assert wire[2:6] == bytes(4)
    assert amf.unprotect(wire[:2] + b"\xde\xad\xbe\xef" + wire[6:])[0] == PLAIN


def test_constructor_checks_and_repr() -> None:
    with pytest.raises(CryptoError):
        nas.NasSecurityContext("ue", k_nas_int=b"short", k_nas_enc=K_ENC, nia=2, nea=2)
    with pytest.raises(CryptoError):
        nas.NasSecurityContext("ue", k_nas_int=K_INT, k_nas_enc=K_ENC, nia=4, nea=2)
    with pytest.raises(ValueError):
        nas.NasSecurityContext("gnb", k_nas_int=K_INT, k_nas_enc=K_ENC, nia=2, nea=2)  # type: ignore[arg-type]
    ue, _ = pair()
    assert K_INT.hex() not in repr(ue) and "NIA2" in repr(ue)
    assert ue.bearer == nas.NAS_CONNECTION_ID_3GPP == 1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_unprotect_random_input_raises_only_decode_or_security_errors(buf: bytes) -> None:
    _, amf = pair()
    try:
        amf.unprotect(buf)
    except (DecodeError, nas.NasSecurityError):
        return
    raise AssertionError("random input accepted as a genuine protected message")
