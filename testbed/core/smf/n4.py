"""N4 transports for the SMF: a PFCP request in, the matching response out.

- :class:`UdpN4Client`: PFCP over UDP (TS 29.244 7.6): sequence numbers, retransmission on T1
  (default 1 s) up to N1 (default 3) transmissions; periodic Heartbeat (6.2.2, 7.4.2) that detects a
  lost or restarted UPF (changed Recovery Time Stamp); answers the UPF's own Heartbeat Requests and,
  through ``on_request`` (the SMF's ``handle_n4_request``), its Session Report Requests (7.5.8);
  accepts datagrams only from the configured UPF address.
- :class:`LocalN4`: calls an in-process :class:`testbed.core.upf.sessions.Upf` directly (unit
  tests, benchmarks without sockets); :meth:`LocalN4.pump` carries the UPF's own requests (Session
  Report) to ``on_request`` and the answers back.

Both patch the header sequence number of the request; the caller builds it with ``seq=0``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from testbed.errors import DecodeError, TestbedError
from testbed.runtime.tuning import enlarge_receive_buffer

from . import pfcp as P

if TYPE_CHECKING:
    from testbed.core.upf.sessions import Upf

log = logging.getLogger("testbed.core.smf.n4")

NTP_EPOCH_OFFSET = 2208988800


class N4Error(TestbedError):
    """The N4 request failed (no answer, unexpected answer)."""


class N4Timeout(N4Error):
    """No response after N1 transmissions."""


@runtime_checkable
class N4Peer(Protocol):
    """What the SMF needs from N4: send one PFCP request, get its response (or raise N4Error)."""

    async def request(self, msg: bytes) -> bytes: ...


class _SeqMixin:
    _seq: int

    def _next_seq(self) -> int:
        self._seq = (self._seq % 0xFFFFFF) + 1  # 1 .. 2^24-1
        return self._seq


class LocalN4(_SeqMixin):
    """N4 to an in-process UPF: ``upf.handle_pfcp(request, src)``; a dropped request raises N4Timeout."""

    def __init__(self, upf: Upf, src: tuple[str, int] = ("127.0.0.1", P.PORT)):
        self.upf = upf
        self.src = src
        self._seq = 0
        self.requests = 0
        self.on_request: Callable[[bytes], bytes | None] | None = None  # the SMF's handle_n4_request
        self.upf_requests = 0

    def pump(self) -> int:
        """Deliver the UPF's pending PFCP requests (Session Report) to ``on_request`` and its answers
        back to the UPF; returns how many requests were carried."""
        n = 0
        for data, _dest in self.upf.take_pfcp():
            n += 1
            self.upf_requests += 1
            resp = self.on_request(data) if self.on_request is not None else None
            if resp is not None:
                self.upf.handle_pfcp(resp, self.src)
        return n

    async def request(self, msg: bytes) -> bytes:
        self.requests += 1
        data = P.set_seq(msg, self._next_seq())
        resp = self.upf.handle_pfcp(data, self.src)
        if resp is None:
            raise N4Timeout("the UPF dropped the PFCP request")
        return resp


class UdpN4Client(asyncio.DatagramProtocol, _SeqMixin):
    """PFCP client of the SMF over UDP.

    ``remote``: the UPF's N4 address (host, port); ``local``: where to bind (the SMF's N4 address,
    port 8805 so that the UPF's own requests reach it; port 0 in tests).
    ``on_peer_lost()`` is called when a Heartbeat gets no answer, ``on_peer_restart()`` when the
    UPF's Recovery Time Stamp changed (it lost its sessions).
    """

    def __init__(self, remote: tuple[str, int], local: tuple[str, int] = ("0.0.0.0", P.PORT), *,
                 t1: float = 1.0, n1: int = 3, heartbeat_interval: float | None = 10.0,
                 recovery_ts: int | None = None):
        if t1 <= 0 or n1 < 1:
            raise ValueError("T1 must be > 0 and N1 >= 1")
        self.remote = (str(remote[0]), int(remote[1]))
        self.local = local
        self.t1 = t1
        self.n1 = n1
        self.heartbeat_interval = heartbeat_interval
        self.recovery_ts = recovery_ts if recovery_ts is not None else (int(time.time()) + NTP_EPOCH_OFFSET) & 0xFFFFFFFF
        self.on_peer_lost: Callable[[], Any] | None = None
        self.on_peer_restart: Callable[[], Any] | None = None
        self.on_request: Callable[[bytes], bytes | None] | None = None  # UPF-initiated session requests
        self.peer_recovery_ts: int | None = None
        self.peer_alive: bool | None = None
        self.transport: asyncio.DatagramTransport | None = None
        # A random start (TS 29.244 7.2.2.2: the sequence number identifies a request towards a peer):
        # after an SMF restart the UPF never mistakes new requests for retransmissions of old ones.
        self._seq = secrets.randbelow(0xFFFFFF)
        self._pending: dict[int, tuple[asyncio.Future, int]] = {}
        self._hb_task: asyncio.Task | None = None
        self._open_lock: asyncio.Lock | None = None
        self.stats = {"requests": 0, "retransmissions": 0, "timeouts": 0, "dropped": 0, "foreign": 0,
                      "heartbeats_answered": 0, "session_requests_answered": 0}

    # -- lifecycle

    async def open(self) -> None:
        """Bind the socket (idempotent) and start the heartbeat task."""
        if self.transport is not None:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self.transport is not None:
                return
            loop = asyncio.get_running_loop()
            await loop.create_datagram_endpoint(lambda: self, local_addr=self.local)
            enlarge_receive_buffer(self.transport)  # responses must not be dropped while the loop is busy
            if self.heartbeat_interval:
                self._hb_task = asyncio.create_task(self._heartbeats(), name="pfcp-heartbeat")

    @property
    def local_address(self) -> tuple[str, int] | None:
        return None if self.transport is None else self.transport.get_extra_info("sockname")[:2]

    async def close(self) -> None:
        if self._hb_task is not None:
            self._hb_task.cancel()
            try:
                await self._hb_task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._hb_task = None
        for fut, _ in self._pending.values():
            if not fut.done():
                fut.set_exception(N4Error("N4 client closed"))
        self._pending.clear()
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    # -- asyncio protocol

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def error_received(self, exc: Exception) -> None:
        log.debug("PFCP socket error: %s", exc)  # ICMP port unreachable etc.: T1 handles it

    def datagram_received(self, data: bytes, addr: Any) -> None:  # type: ignore[override]
        if not _same_host(addr[0], self.remote[0]):
            self.stats["foreign"] += 1  # only the UPF may talk to us on N4
            return
        try:
            hdr = P.peek_header(data)
        except DecodeError:
            self.stats["dropped"] += 1
            return
        if hdr.is_request:
            self._answer(hdr, data, addr)
            return
        entry = self._pending.get(hdr.seq)
        if entry is None:
            self.stats["dropped"] += 1  # late duplicate or unsolicited response
            return
        fut, expected = entry
        if hdr.msg_type not in (expected, P.MsgType.VERSION_NOT_SUPPORTED_RESPONSE):
            self.stats["dropped"] += 1
            return
        if not fut.done():
            fut.set_result(data)

    def _answer(self, hdr: P.Header, data: bytes, addr: Any) -> None:
        if hdr.msg_type == P.MsgType.HEARTBEAT_REQUEST and self.transport is not None:
            self.stats["heartbeats_answered"] += 1
            self.transport.sendto(P.encode(P.HeartbeatResponse(seq=hdr.seq, recovery_ts=self.recovery_ts)), addr)
            return
        if hdr.seid is not None and self.on_request is not None and self.transport is not None:
            try:
                resp = self.on_request(data)
            except Exception:  # noqa: BLE001 - a bad request must not kill N4
                log.exception("PFCP request type %s from the UPF crashed the handler", hdr.msg_type)
                resp = None
            if resp is not None:
                self.stats["session_requests_answered"] += 1
                self.transport.sendto(resp, addr)
                return
        self.stats["dropped"] += 1
        log.info("PFCP request type %s from the UPF not handled", hdr.msg_type)

    # -- requests

    async def request(self, msg: bytes) -> bytes:
        """Send ``msg`` (a PFCP request) and return the response; N4Timeout after N1 transmissions."""
        await self.open()
        hdr = P.peek_header(msg)
        expected = P.RESPONSE_TO.get(hdr.msg_type)
        if expected is None:
            raise ValueError(f"PFCP message type {hdr.msg_type} is not a request")
        seq = self._next_seq()
        while seq in self._pending:
            seq = self._next_seq()
        data = P.set_seq(msg, seq)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[seq] = (fut, expected)
        self.stats["requests"] += 1
        try:
            for attempt in range(self.n1):
                if self.transport is None:
                    raise N4Error("N4 socket closed")
                if attempt:
                    self.stats["retransmissions"] += 1
                self.transport.sendto(data, self.remote)
                try:
                    return await asyncio.wait_for(asyncio.shield(fut), self.t1)
                except TimeoutError:
                    continue
            self.stats["timeouts"] += 1
            raise N4Timeout(f"no PFCP response from {self.remote[0]}:{self.remote[1]} "
                            f"after {self.n1} x {self.t1:g} s (message type {hdr.msg_type})")
        finally:
            self._pending.pop(seq, None)
            if not fut.done():
                fut.cancel()

    async def heartbeat(self) -> int:
        """One Heartbeat exchange; returns the UPF's Recovery Time Stamp (raises N4Error)."""
        raw = await self.request(P.encode(P.HeartbeatRequest(recovery_ts=self.recovery_ts)))
        try:
            resp = P.decode(raw)
        except DecodeError as e:
            raise N4Error(f"bad Heartbeat Response: {e}") from None
        if not isinstance(resp, P.HeartbeatResponse):
            raise N4Error(f"expected a Heartbeat Response, got {type(resp).__name__}")
        return resp.recovery_ts

    async def _heartbeats(self) -> None:
        assert self.heartbeat_interval
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                ts = await self.heartbeat()
            except N4Error as e:
                if self.peer_alive is not False:
                    log.warning("UPF %s does not answer heartbeats: %s", self.remote[0], e)
                    self.peer_alive = False
                    _call(self.on_peer_lost)
                continue
            self.peer_alive = True
            if self.peer_recovery_ts is not None and ts != self.peer_recovery_ts:
                log.warning("UPF %s restarted (recovery time stamp %d -> %d)", self.remote[0],
                            self.peer_recovery_ts, ts)
                self.peer_recovery_ts = ts
                _call(self.on_peer_restart)
            self.peer_recovery_ts = ts


def _call(cb: Callable[[], Any] | None) -> None:
    if cb is None:
        return
    try:
        r = cb()
        if asyncio.iscoroutine(r):
            asyncio.ensure_future(r)
    except Exception:  # noqa: BLE001
        log.exception("N4 callback failed")


def _same_host(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b
