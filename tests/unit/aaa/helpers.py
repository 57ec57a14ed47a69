"""Shared pieces of the AAA tests: a store with one femto HPM, EAP conversations, a RADIUS server
on 127.0.0.1 in a thread and a pyrad client speaking EAP through it."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyrad import packet as rp
from pyrad.client import Client, Timeout

from testbed.aaa.eap_aka import AkaPeer, AkaServer, ServerStep
from testbed.aaa.radius_server import RadiusEapServer, radius_dictionary, serve, split_eap
from testbed.core.udr import SubscriberStore, parse_subscriber_data

IMSI = "001010000009001"
REALM = "nai.5gc.mnc001.mcc001.3gppnetwork.org"
IDENTITY = f"0{IMSI}@{REALM}"
K = bytes.fromhex("8b3b5ac2a45f7a1e4c0fd91d2f6a3e11")
OPC = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
SECRET = b"s3cret-of-this-test"


def hpm_store(path: str | Path = ":memory:", *, k: bytes = K, opc: bytes = OPC, imsi: str = IMSI) -> SubscriberStore:
    store = SubscriberStore(path)
    store.load(parse_subscriber_data({"femtos": [{
        "name": "femto1", "mcc": "001", "mnc": "01", "gnb_id": 1, "authorised_cag_ids": [1],
        "hpm": {"imsi": imsi, "k": k.hex(), "opc": opc.hex(), "required": True}}]}))
    return store


def converse(server: AkaServer, peer: AkaPeer, max_rounds: int = 10) -> list[ServerStep]:
    """Run server <-> peer from EAP-Request/Identity to the end; every server step in order."""
    steps = [server.start()]
    for _ in range(max_rounds):
        step = steps[-1]
        response = peer.receive(step.eap) if step.eap is not None else None
        if step.status != "continue":
            return steps
        assert response is not None, f"peer gave no answer in state {peer.state}"
        steps.append(server.receive(response))
    raise AssertionError("conversation did not end")


@contextmanager
def radius_server(server: RadiusEapServer) -> Iterator[int]:
    """``server`` on UDP 127.0.0.1:<free port> in a thread; yields the port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    transport = asyncio.run_coroutine_threadsafe(serve(server, "127.0.0.1", 0), loop).result(5)
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        loop.call_soon_threadsafe(transport.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def radius_client(port: int, secret: bytes = SECRET, timeout: float = 1.0) -> Client:
    c = Client(server="127.0.0.1", authport=port, secret=secret, dict=radius_dictionary())
    c.timeout, c.retries = timeout, 1
    return c


def access_request(client: Client, eap: bytes, state: bytes | None = None, user: str = "femto-hp") -> rp.AuthPacket:
    req = client.CreateAuthPacket(code=rp.AccessRequest)
    req.AddAttribute("User-Name", user)
    for chunk in split_eap(eap):
        req.AddAttribute("EAP-Message", chunk)
    if state is not None:
        req.AddAttribute("State", state)
    req.add_message_authenticator()
    return req


def reply_eap(reply: rp.Packet) -> bytes:
    return b"".join(reply.get(79) or [])


def radius_eap(client: Client, peer: AkaPeer, max_rounds: int = 10) -> tuple[rp.Packet, rp.AuthPacket, list[int]]:
    """EAP-Start, then the peer's answers until Access-Accept/Reject: (final reply, its request, codes)."""
    eap, state, codes = b"", None, []
    for _ in range(max_rounds):
        req = access_request(client, eap, state)
        reply = client.SendPacket(req)
        codes.append(reply.code)
        answer = peer.receive(reply_eap(reply))
        if reply.code != rp.AccessChallenge:
            return reply, req, codes
        assert answer is not None
        eap, state = answer, reply.get(24)[0]
    raise AssertionError("RADIUS exchange did not end")


def mppe_decrypt(value: bytes, secret: bytes, request_authenticator: bytes) -> bytes:
    """RFC 2548 2.4.2/2.4.3 decryption, written independently of pyrad and of the server."""
    salt, cipher = value[:2], value[2:]
    assert salt[0] & 0x80, "the salt's most significant bit must be set"
    assert len(cipher) % 16 == 0 and cipher
    plain, prev = b"", request_authenticator + salt
    for i in range(0, len(cipher), 16):
        b = hashlib.md5(secret + prev).digest()
        block = cipher[i:i + 16]
        plain += bytes(x ^ y for x, y in zip(block, b, strict=True))
        prev = block
    return plain[1:1 + plain[0]]


def mppe_keys(reply: rp.Packet, secret: bytes, request: rp.AuthPacket) -> tuple[bytes, bytes]:
    """(Recv-Key, Send-Key) of an Access-Accept."""
    recv = OrderedDict.__getitem__(reply, (311, 17))[0]
    send = OrderedDict.__getitem__(reply, (311, 16))[0]
    return mppe_decrypt(recv, secret, request.authenticator), mppe_decrypt(send, secret, request.authenticator)


__all__ = ["IDENTITY", "IMSI", "K", "OPC", "REALM", "SECRET", "Timeout", "access_request", "converse",
           "hpm_store", "mppe_keys", "radius_client", "radius_eap", "radius_server", "reply_eap"]
