"""RADIUS authentication server carrying EAP-AKA (RFC 2865, RFC 3579, RFC 2548) on pyrad.

:class:`RadiusEapServer` is sans I/O (``handle(datagram, source) -> reply datagram | None``);
:func:`serve` puts it on a UDP socket with asyncio. Packets are decoded and encoded by
``pyrad`` with the dictionary :data:`DICTIONARY`.

Per Access-Request:

- malformed packets (RADIUS framing, attribute lengths, RFC 2865 3/5), codes other than
  Access-Request, requests without Message-Authenticator (required with EAP-Message,
  RFC 3579 3.3) and requests whose Message-Authenticator does not verify with the shared
  secret (RFC 3579 3.2: a wrong secret) are dropped with an ``aaa.dropped`` event;
- a retransmission (same source, Identifier and Request Authenticator, RFC 5080 2.2.2) gets
  the same reply again;
- EAP-Message attributes are joined (RFC 3579 3.1); the State attribute names the EAP session
  (RFC 2865 5.24); an empty EAP-Message (EAP-Start) gets EAP-Request/Identity;
- the EAP-AKA server (:class:`~testbed.aaa.eap_aka.AkaServer`) answers: Access-Challenge with
  the next EAP request split into EAP-Message attributes of at most 253 octets, State and
  Message-Authenticator (``aaa.challenge``); Access-Accept with EAP-Success, MS-MPPE-Recv-Key =
  MSK[0:32] and MS-MPPE-Send-Key = MSK[32:64] (RFC 2548 2.4.2/2.4.3, salt-encrypted with the
  shared secret and the Request Authenticator; strongSwan's eap-radius takes the MSK from
  them) and Message-Authenticator (``aaa.accept``: the identity, never keys); Access-Reject with
  EAP-Failure (``aaa.reject`` with the reason): an identity without an HPM record in the store,
  a wrong RES/MAC, a rejected AUTN, an unknown State...; ``aaa.sync_failure`` when the peer
  reported a synchronisation failure (and whether AUTS verified and the store was resynced).
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import secrets
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyrad import packet as rp
from pyrad.dictionary import Dictionary

from testbed.errors import ConfigError
from testbed.runtime.events import EventWriter

from .eap_aka import AkaServer, ServerStep, VectorSource

__all__ = [
    "DICTIONARY",
    "RadiusEapServer",
    "radius_dictionary",
    "read_secret",
    "serve",
    "split_eap",
    "write_secret",
]

log = logging.getLogger("testbed.aaa")

#: The RADIUS attributes this server and its tests use (RFC 2865, 2869, 3579, 2548).
DICTIONARY = """\
ATTRIBUTE User-Name 1 string
ATTRIBUTE NAS-IP-Address 4 ipaddr
ATTRIBUTE NAS-Port 5 integer
ATTRIBUTE Service-Type 6 integer
ATTRIBUTE Framed-MTU 12 integer
ATTRIBUTE Reply-Message 18 string
ATTRIBUTE State 24 octets
ATTRIBUTE Class 25 octets
ATTRIBUTE Session-Timeout 27 integer
ATTRIBUTE Called-Station-Id 30 string
ATTRIBUTE Calling-Station-Id 31 string
ATTRIBUTE NAS-Identifier 32 string
ATTRIBUTE Proxy-State 33 octets
ATTRIBUTE NAS-Port-Type 61 integer
ATTRIBUTE Connect-Info 77 string
ATTRIBUTE EAP-Message 79 octets
ATTRIBUTE Message-Authenticator 80 octets
VENDOR Microsoft 311
BEGIN-VENDOR Microsoft
ATTRIBUTE MS-MPPE-Send-Key 16 octets encrypt=2
ATTRIBUTE MS-MPPE-Recv-Key 17 octets encrypt=2
END-VENDOR Microsoft
"""

_ATTR_STATE, _ATTR_EAP, _ATTR_MA = 24, 79, 80
_MS_SEND, _MS_RECV = (311, 16), (311, 17)
EAP_CHUNK = 253  # RFC 3579 3.1: EAP-Message attributes carry at most 253 octets each

_dictionary: Dictionary | None = None


def radius_dictionary() -> Dictionary:
    """The pyrad :class:`Dictionary` of :data:`DICTIONARY` (built once)."""
    global _dictionary
    if _dictionary is None:
        _dictionary = Dictionary(io.StringIO(DICTIONARY))
    return _dictionary


def split_eap(eap: bytes) -> list[bytes]:
    """An EAP packet as EAP-Message attribute values of at most 253 octets (RFC 3579 3.1)."""
    return [eap[i:i + EAP_CHUNK] for i in range(0, len(eap), EAP_CHUNK)] or [b""]


def read_secret(path: str | Path) -> bytes:
    """The shared secret in ``path`` (surrounding white space removed); ConfigError if unusable."""
    p = Path(path)
    try:
        secret = p.read_bytes().strip()
    except OSError as e:
        raise ConfigError(str(p), "", f"cannot read the RADIUS shared secret: {e.strerror}") from None
    if not secret:
        raise ConfigError(str(p), "", "the RADIUS shared secret is empty")
    return secret


def write_secret(path: str | Path) -> bytes:
    """Write a fresh random shared secret (32 hex characters) to ``path`` with mode 0600."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(16).encode()
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret + b"\n")
    os.chmod(p, 0o600)
    return secret


def _framing_error(data: bytes) -> str | None:
    """Why ``data`` is not a well-framed RADIUS packet (RFC 2865 3, 5), or None."""
    if len(data) < 20:
        return "shorter than the RADIUS header"
    length = struct.unpack_from("!H", data, 2)[0]
    if length < 20 or length > 4096 or length > len(data):
        return f"RADIUS Length {length} does not fit the {len(data)} octets received"
    pos = 20
    while pos < length:
        if length - pos < 2:
            return "truncated attribute header"
        t, n = data[pos], data[pos + 1]
        if n < 2 or pos + n > length:
            return f"attribute {t} with Length {n} overruns the packet"
        if t == _ATTR_MA and n != 18:
            return "Message-Authenticator is not 16 octets"
        pos += n
    return None


@dataclass
class _Session:
    server: AkaServer
    client: str
    created: float
    last: float


class RadiusEapServer:
    """RADIUS authentication server with EAP-AKA for the HPMs in ``vectors`` (see the module docstring).

    ``secret``: the shared secret with every client; ``events``: where ``aaa.*`` events go;
    ``first_id_request``: passed to :class:`AkaServer`; sessions idle longer than
    ``session_timeout`` seconds are forgotten (their State is then unknown)."""

    def __init__(self, secret: bytes, vectors: VectorSource, events: EventWriter | None = None, *,
                 first_id_request: int | None = None, session_timeout: float = 60.0,
                 max_sessions: int = 4096, clock: Callable[[], float] = time.monotonic):
        if not secret:
            raise ValueError("the shared secret must not be empty")
        self.secret = bytes(secret)
        self.vectors = vectors
        self.events = events
        self.first_id_request = first_id_request
        self.session_timeout = session_timeout
        self.max_sessions = max_sessions
        self.clock = clock
        self.dictionary = radius_dictionary()
        self._sessions: OrderedDict[bytes, _Session] = OrderedDict()
        self._replies: OrderedDict[tuple[Any, ...], tuple[float, bytes]] = OrderedDict()
        self.counters = {"requests": 0, "dropped": 0, "challenge": 0, "accept": 0, "reject": 0}

    # -- events ----------------------------------------------------------------------------

    def _emit(self, type_: str, severity: str, **fields: Any) -> None:
        if self.events is not None:
            self.events.emit(type_, severity, **fields)

    def _drop(self, reason: str, client: str) -> None:
        self.counters["dropped"] += 1
        log.warning("dropped a RADIUS packet from %s: %s", client, reason)
        self._emit("aaa.dropped", "warning", reason=reason, client=client)

    # -- sessions and retransmissions ------------------------------------------------------

    def _expire(self, now: float) -> None:
        while self._sessions:
            key, s = next(iter(self._sessions.items()))
            if now - s.last <= self.session_timeout and len(self._sessions) <= self.max_sessions:
                break
            del self._sessions[key]
        while self._replies:
            key, (t, _) = next(iter(self._replies.items()))
            if now - t <= 30.0 and len(self._replies) <= 4 * self.max_sessions:
                break
            del self._replies[key]

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    # -- requests --------------------------------------------------------------------------

    def handle(self, data: bytes, source: tuple[str, int]) -> bytes | None:
        """One datagram from ``source`` -> the reply datagram, or None (dropped). Never raises."""
        client = f"{source[0]}:{source[1]}"
        try:
            return self._handle(bytes(data), source, client)
        except Exception as e:  # noqa: BLE001 - bad input never crashes the server
            log.exception("internal error on a RADIUS packet from %s", client)
            self._drop(f"internal error: {type(e).__name__}", client)
            return None

    def _handle(self, data: bytes, source: tuple[str, int], client: str) -> bytes | None:
        self.counters["requests"] += 1
        now = self.clock()
        self._expire(now)
        why = _framing_error(data)
        if why is not None:
            self._drop(f"malformed: {why}", client)
            return None
        if data[0] != rp.AccessRequest:
            self._drop(f"unexpected RADIUS code {data[0]} on the authentication port", client)
            return None
        try:
            req = rp.AuthPacket(packet=data, secret=self.secret, dict=self.dictionary)
        except Exception as e:  # noqa: BLE001 - pyrad raises PacketError and others
            self._drop(f"malformed: {e}", client)
            return None
        dup_key = (source, req.id, req.authenticator)
        cached = self._replies.get(dup_key)
        if cached is not None:
            return cached[1]
        if not req.message_authenticator:
            self._drop("no Message-Authenticator (RFC 3579 3.3)", client)
            return None
        if not req.verify_message_authenticator():
            self._drop("Message-Authenticator does not verify (wrong shared secret?)", client)
            return None
        reply = self._process(req, now, client)
        if reply is not None:
            self._replies[dup_key] = (now, reply)
        return reply

    def _process(self, req: rp.AuthPacket, now: float, client: str) -> bytes | None:
        parts = req.get(_ATTR_EAP)
        if not parts:
            return self._reject(req, None, "no EAP-Message (only EAP authentication is offered)", client)
        eap = b"".join(parts)
        state = req.get(_ATTR_STATE)
        if state:
            key = state[0]
            session = self._sessions.get(key)
            if session is None:
                return self._reject(req, None, "unknown or expired State", client)
            self._sessions.move_to_end(key)
        else:
            key = secrets.token_bytes(16)
            session = _Session(AkaServer(self.vectors, first_id_request=self.first_id_request), client, now, now)
            self._sessions[key] = session
        session.last = now
        step = session.server.start() if not eap and not state else session.server.receive(eap)
        identity = session.server.identity
        if step.sync_failure:
            self._emit("aaa.sync_failure", "warning", identity=identity, resynced=step.resynced, client=client)
        if step.status == "discard":
            if not state:
                self._sessions.pop(key, None)
            self._drop(f"EAP discarded: {step.reason}", client)
            return None
        if step.status == "continue":
            return self._challenge(req, key, step, identity, client)
        self._sessions.pop(key, None)
        if step.status == "success":
            return self._accept(req, session.server, step, client)
        return self._reject(req, step, step.reason, client, identity=identity)

    def _reply(self, req: rp.AuthPacket, code: int, eap: bytes | None) -> rp.AuthPacket:
        reply = req.CreateReply()
        reply.code = code
        reply.message_authenticator = True
        if eap is not None:
            for chunk in split_eap(eap):
                reply.AddAttribute("EAP-Message", chunk)
        return reply

    def _challenge(self, req: rp.AuthPacket, key: bytes, step: ServerStep, identity: str | None,
                   client: str) -> bytes:
        reply = self._reply(req, rp.AccessChallenge, step.eap)
        reply.AddAttribute("State", key)
        reply.AddAttribute("Session-Timeout", int(self.session_timeout))
        self.counters["challenge"] += 1
        self._emit("aaa.challenge", "info", stage=step.stage, identity=identity, client=client)
        return reply.ReplyPacket()

    def _accept(self, req: rp.AuthPacket, server: AkaServer, step: ServerStep, client: str) -> bytes:
        msk = server.msk
        assert msk is not None and len(msk) == 64
        reply = self._reply(req, rp.AccessAccept, step.eap)
        if server.identity:
            reply.AddAttribute("User-Name", server.identity)
        # RFC 2548 2.4.2/2.4.3; RFC 3748/5216 key naming: Recv-Key = MSK[0:32], Send-Key = MSK[32:64].
        # Each attribute gets its own salt (RFC 2548: "MUST be unique").
        while True:
            reply.AddAttribute("MS-MPPE-Recv-Key", msk[:32])
            reply.AddAttribute("MS-MPPE-Send-Key", msk[32:])
            salts = {OrderedDict.__getitem__(reply, k)[0][:2] for k in (_MS_RECV, _MS_SEND)}
            if len(salts) == 2:
                break
            for k in (_MS_RECV, _MS_SEND):
                OrderedDict.__delitem__(reply, k)
        self.counters["accept"] += 1
        femto = getattr(self.vectors, "femto_of", lambda _imsi: None)(server.imsi) if server.imsi else None
        self._emit("aaa.accept", "notice", identity=server.identity, femto=femto, client=client)
        return reply.ReplyPacket()

    def _reject(self, req: rp.AuthPacket, step: ServerStep | None, reason: str, client: str, *,
                identity: str | None = None) -> bytes:
        # EAP-Failure with the identifier of the response when the EAP server produced one; for
        # rejections outside EAP (no EAP-Message, unknown State) an EAP-Failure is still sent
        # (RFC 3579 2.6.3) with the identifier of the peer's packet when there is one.
        eap = step.eap if step is not None else None
        if eap is None:
            parts = req.get(_ATTR_EAP) or []
            joined = b"".join(parts)
            eap = bytes([4, joined[1] if len(joined) > 1 else 0, 0, 4])
        reply = self._reply(req, rp.AccessReject, eap)
        self.counters["reject"] += 1
        log.info("Access-Reject to %s: %s", client, reason)
        self._emit("aaa.reject", "warning", reason=reason, identity=identity, client=client)
        return reply.ReplyPacket()


class _RadiusProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: RadiusEapServer):
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.server.handle(data, addr)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


async def serve(server: RadiusEapServer, host: str, port: int) -> asyncio.DatagramTransport:
    """Listen on UDP ``host``:``port`` (port 0: any free port; see ``get_extra_info("sockname")``)."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _RadiusProtocol(server), local_addr=(host, port))
    return transport  # type: ignore[return-value]
