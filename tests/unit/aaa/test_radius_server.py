"""The RADIUS server (testbed.aaa.radius_server) over real UDP on 127.0.0.1, with pyrad's client.

Access-Challenge/Accept/Reject with EAP-AKA, MS-MPPE keys (decrypted here independently,
RFC 2548) equal to the MSK the peer derived, dropped packets (wrong shared secret, no or bad
Message-Authenticator, malformed), retransmissions, unknown State, the command line."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyrad import packet as rp

from testbed.aaa.eap import EAP_FAILURE, EAP_REQUEST, EAP_RESPONSE, TYPE_IDENTITY, EapPacket, decode_eap
from testbed.aaa.eap_aka import AkaPeer
from testbed.aaa.radius_server import RadiusEapServer, read_secret, split_eap, write_secret
from testbed.aaa.vectors import HpmVectors
from testbed.errors import ConfigError
from testbed.hpm.softuicc import SoftUicc
from testbed.runtime.events import read_events

from .helpers import (
    IDENTITY,
    IMSI,
    OPC,
    REALM,
    SECRET,
    K,
    Timeout,
    access_request,
    hpm_store,
    mppe_keys,
    radius_client,
    radius_eap,
    reply_eap,
)

ROOT = Path(__file__).resolve().parents[3]


def peer(k: bytes = K, imsi: str = IMSI, **kw) -> AkaPeer:
    uicc = SoftUicc(imsi, k, OPC, realm=REALM, **kw)
    return AkaPeer(lambda: uicc.identity, uicc.authenticate)


def test_success_gives_mppe_keys_that_are_the_peers_msk(aaa):
    port, _, events = aaa
    p = peer()
    reply, req, codes = radius_eap(radius_client(port), p)
    assert codes == [rp.AccessChallenge, rp.AccessChallenge, rp.AccessAccept]
    assert p.state == "success" and p.msk is not None
    recv, send = mppe_keys(reply, SECRET, req)
    assert recv == p.msk[:32] and send == p.msk[32:]  # strongSwan eap-radius: MSK = Recv | Send
    assert reply.get("User-Name") == [IDENTITY]
    salts = {rp.Packet.__getitem__(reply, k)[0][:2] for k in ((311, 16), (311, 17))}
    assert len(salts) == 2  # RFC 2548: each salt unique
    accepted = read_events(events, "aaa.accept")
    assert accepted and accepted[0]["identity"] == IDENTITY and accepted[0]["femto"] == "femto1"
    assert [e["stage"] for e in read_events(events, "aaa.challenge")] == ["identity", "challenge"]
    text = events.read_text()
    assert p.msk.hex() not in text and p.msk[:32].hex() not in text and K.hex() not in text


def test_wrong_k_is_rejected(aaa):
    port, _, events = aaa
    p = peer(k=os.urandom(16))
    reply, _, codes = radius_eap(radius_client(port), p)
    assert codes[-1] == rp.AccessReject
    assert decode_eap(reply_eap(reply)).code == EAP_FAILURE and p.state == "failure"
    assert (311, 16) not in reply and (311, 17) not in reply
    assert "AUTN" in read_events(events, "aaa.reject")[0]["reason"]


def test_unknown_identity_is_rejected(aaa):
    port, _, events = aaa
    reply, _, codes = radius_eap(radius_client(port), peer(imsi="001010000009999"))
    assert codes[-1] == rp.AccessReject
    assert read_events(events, "aaa.reject")[0]["reason"] == "unknown identity"


def test_resync_over_radius(aaa):
    port, server, events = aaa
    p = peer(sqn_ms=4000 << 5)
    reply, req, codes = radius_eap(radius_client(port), p)
    assert codes == [rp.AccessChallenge] * 3 + [rp.AccessAccept]
    assert mppe_keys(reply, SECRET, req)[0] == p.msk[:32]
    sync = read_events(events, "aaa.sync_failure")
    assert len(sync) == 1 and sync[0]["resynced"] is True
    assert server.vectors.store.get_hpm(IMSI).sqn >> 5 == 4001


def test_wrong_shared_secret_gets_no_answer(aaa):
    port, server, events = aaa
    with pytest.raises(Timeout):
        radius_eap(radius_client(port, secret=b"not-the-secret", timeout=0.5), peer())
    dropped = read_events(events, "aaa.dropped")
    assert dropped and all("Message-Authenticator" in e["reason"] for e in dropped)
    assert server.sessions == 0 and not read_events(events, "aaa.challenge")
    # control: the right secret is answered
    assert radius_eap(radius_client(port), peer())[2][-1] == rp.AccessAccept


def _send_raw(port: int, data: bytes, timeout: float = 0.5, sock: socket.socket | None = None) -> bytes | None:
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(data, ("127.0.0.1", port))
        try:
            return s.recv(4096)
        except TimeoutError:
            return None
    finally:
        if sock is None:
            s.close()


def test_request_without_message_authenticator_is_dropped(aaa):
    port, _, events = aaa
    eap = EapPacket(EAP_RESPONSE, 1, TYPE_IDENTITY, IDENTITY.encode()).encode()
    attrs = bytes([79, 2 + len(eap)]) + eap
    raw = struct.pack("!BBH", rp.AccessRequest, 7, 20 + len(attrs)) + os.urandom(16) + attrs
    assert _send_raw(port, raw) is None
    assert "no Message-Authenticator" in read_events(events, "aaa.dropped")[-1]["reason"]
    # control: the same request with a Message-Authenticator is answered
    c = radius_client(port)
    assert c.SendPacket(access_request(c, eap)).code == rp.AccessChallenge


@pytest.mark.parametrize("mangle", ["truncated", "attr_overrun", "short_ma", "accounting", "garbage"])
def test_malformed_packets_are_dropped(aaa, mangle):
    port, server, events = aaa
    c = radius_client(port)
    raw = access_request(c, EapPacket(EAP_RESPONSE, 1, TYPE_IDENTITY, IDENTITY.encode()).encode()).RequestPacket()
    if mangle == "truncated":
        raw = raw[:15]
    elif mangle == "attr_overrun":
        raw = raw[:20] + bytes([1, 250]) + raw[22:]
    elif mangle == "short_ma":
        raw = raw[:2] + struct.pack("!H", 20 + 6) + raw[4:20] + bytes([80, 6, 0, 0, 0, 0])
    elif mangle == "accounting":
        raw = bytes([rp.AccountingRequest]) + raw[1:]
    else:
        raw = os.urandom(60)
    assert _send_raw(port, raw) is None
    assert read_events(events, "aaa.dropped") and server.sessions == 0


def test_retransmission_gets_the_same_reply(aaa):
    port, server, _ = aaa
    c = radius_client(port)
    raw = access_request(c, b"").RequestPacket()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        first = _send_raw(port, raw, sock=sock)
        again = _send_raw(port, raw, sock=sock)
    assert first is not None and first == again and server.sessions == 1
    other = _send_raw(port, access_request(c, b"").RequestPacket())  # control: a new request, a new session
    assert other is not None and server.sessions == 2
    reply = c.CreateAuthPacket(code=rp.AccessRequest).CreateReply(packet=first)
    assert decode_eap(reply_eap(reply)) == EapPacket(EAP_REQUEST, decode_eap(reply_eap(reply)).identifier, TYPE_IDENTITY)


def test_unknown_state_and_missing_eap_are_rejected(aaa):
    port, _, events = aaa
    c = radius_client(port)
    reply = c.SendPacket(access_request(c, EapPacket(EAP_RESPONSE, 3, TYPE_IDENTITY, b"x").encode(), state=os.urandom(16)))
    assert reply.code == rp.AccessReject and decode_eap(reply_eap(reply)) == EapPacket(EAP_FAILURE, 3)
    req = c.CreateAuthPacket(code=rp.AccessRequest)
    req.AddAttribute("User-Name", "pap-user")
    req.add_message_authenticator()
    assert c.SendPacket(req).code == rp.AccessReject
    reasons = [e["reason"] for e in read_events(events, "aaa.reject")]
    assert reasons[0] == "unknown or expired State" and "no EAP-Message" in reasons[1]


def test_long_eap_messages_are_joined_and_split(aaa):
    port, _, _ = aaa
    c = radius_client(port)
    long_identity = ("x" * 300 + "@" + REALM).encode()  # an EAP-Response/Identity over 253 octets
    eap = EapPacket(EAP_RESPONSE, 1, TYPE_IDENTITY, long_identity).encode()
    req = access_request(c, eap)
    assert len(req.get(79)) == 2
    reply = c.SendPacket(req)
    # not a permanent identity: the server asks for it (AT_PERMANENT_ID_REQ), so it read all 300+ octets
    assert reply.code == rp.AccessChallenge and decode_eap(reply_eap(reply)).type == 23
    assert [len(x) for x in split_eap(bytes(600))] == [253, 253, 94] and split_eap(b"") == [b""]


def test_sessions_expire(tmp_path):
    store = hpm_store(tmp_path / "udr.sqlite")
    now = [0.0]
    server = RadiusEapServer(SECRET, HpmVectors(store), session_timeout=5, clock=lambda: now[0])
    c = radius_client(1)
    first = server.handle(access_request(c, b"").RequestPacket(), ("127.0.0.1", 9))
    assert first is not None and server.sessions == 1
    now[0] = 10.0
    server.handle(access_request(c, b"").RequestPacket(), ("127.0.0.1", 9))
    assert server.sessions == 1  # the first one expired
    store.close()


def test_secret_files(tmp_path):
    secret = write_secret(tmp_path / "aaa" / "radius.secret")
    assert len(secret) == 32 and read_secret(tmp_path / "aaa" / "radius.secret") == secret
    assert oct(os.stat(tmp_path / "aaa" / "radius.secret").st_mode & 0o777) == "0o600"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError):
        read_secret(tmp_path / "empty")
    with pytest.raises(ConfigError):
        read_secret(tmp_path / "missing")


def test_command_line_server(tmp_path):
    (tmp_path / "core").mkdir()
    store = hpm_store(tmp_path / "core" / "udr.sqlite")
    secret = write_secret(tmp_path / "aaa" / "radius.secret")
    events = tmp_path / "aaa" / "events.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "testbed.aaa", "--udr", str(tmp_path / "core" / "udr.sqlite"),
                             "--listen", "127.0.0.1", "--port", "0", "--secret-file", str(tmp_path / "aaa" / "radius.secret"),
                             "--events", str(events)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not read_events(events, "aaa.ready"):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        ready = read_events(events, "aaa.ready")[0]
        assert ready["hpms"] == 1
        p = peer()
        reply, req, codes = radius_eap(radius_client(ready["port"], secret=secret), p)
        assert codes[-1] == rp.AccessAccept and mppe_keys(reply, secret, req) == (p.msk[:32], p.msk[32:])
        # the AAA process used and persisted the HPM's SQN in the core's store (a second process)
        assert store.get_hpm(IMSI).sqn > 0
    finally:
        proc.terminate()
        proc.wait(10)
        store.close()
    stopped = read_events(events, "aaa.stopped")
    assert stopped and stopped[0]["accept"] == 1
    assert json.dumps(stopped).find(K.hex()) < 0


def test_command_line_never_creates_the_store(tmp_path):
    write_secret(tmp_path / "s")
    r = subprocess.run([sys.executable, "-m", "testbed.aaa", "--udr", str(tmp_path / "udr.sqlite"), "--port", "0",
                        "--listen", "127.0.0.1", "--secret-file", str(tmp_path / "s"), "--wait-udr", "0.2",
                        "--events", str(tmp_path / "ev.jsonl")], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and not (tmp_path / "udr.sqlite").exists()
    assert read_events(tmp_path / "ev.jsonl", "aaa.start_failed")
