"""Transport-independent SCTP types: messages, associations, servers, options, errors.

Every transport (kernel SCTP, usrsctp on raw IP, usrsctp over UDP) delivers
:class:`SctpAssociation` objects with the same behaviour:

- ``send(data, stream, ppid)`` queues one user message; message boundaries are
  preserved (SCTP is message oriented, RFC 4960 section 1.3).
- ``recv()`` returns the next whole message as :class:`SctpMessage`; once the
  association is down (ABORT, SHUTDOWN, retransmission limit, local close) and
  every message received before that was read, ``recv()`` raises
  :class:`ConnectionError` -- the signal a gNB uses to reconnect.

NGAP constants come from TS 38.412 section 7: SCTP destination port 38412,
payload protocol identifier 60; stream 0 is reserved for non-UE-associated
signalling and at least one further stream for UE-associated signalling.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from testbed.errors import TestbedError

log = logging.getLogger("testbed.sctp")

NGAP_PORT = 38412  # TS 38.412 section 7
NGAP_PPID = 60  # TS 38.412 section 7
SCTP_UDP_PORT = 9899  # RFC 6951 section 5.1 (IANA "sctp-tunneling")

KINDS = ("kernel", "usrsctp-raw", "usrsctp-udp")

# Pause reading from the stack when this many messages wait unread (flow control
# then pushes back on the peer through the receive window).
RECV_HIGH_WATER = 1024
RECV_LOW_WATER = 256


class SctpError(TestbedError):
    """An SCTP transport error that is not a plain connection failure."""


class SctpUnavailable(SctpError):
    """The requested SCTP transport cannot run here (missing kernel module, privilege, library)."""


@dataclass(frozen=True)
class SctpMessage:
    """One SCTP user message with its stream identifier and payload protocol identifier."""

    data: bytes
    stream: int
    ppid: int


@dataclass(frozen=True)
class SctpOptions:
    """Association parameters; ``None`` keeps the stack default.

    Defaults follow Open5GS (RTO 3000/1000/5000 ms, heartbeat 5000 ms, 4 INIT
    attempts, INIT timeout 8000 ms) and RFC 4960 section 15 (Association.Max.Retrans 10,
    Path.Max.Retrans 5).  Tests use smaller values to detect a dead peer quickly.
    """

    rto_initial_ms: int | None = 3000
    rto_min_ms: int | None = 1000
    rto_max_ms: int | None = 5000
    hb_interval_ms: int | None = 5000
    path_max_retrans: int | None = 5
    assoc_max_retrans: int | None = 10
    max_init_attempts: int = 4
    max_init_timeo_ms: int = 8000
    nodelay: bool = True
    connect_timeout_s: float = 10.0
    udp_remote_port: int = SCTP_UDP_PORT  # usrsctp-udp: peer's UDP encapsulation port (RFC 6951)
    udp_local_port: int = SCTP_UDP_PORT  # usrsctp-udp: this process's encapsulation port

    def __post_init__(self) -> None:
        for name in ("rto_initial_ms", "rto_min_ms", "rto_max_ms", "hb_interval_ms", "path_max_retrans",
                     "assoc_max_retrans"):
            value = getattr(self, name)
            if value is not None and not 0 < value < 2**32:
                raise ValueError(f"SctpOptions.{name}: expected a positive integer, got {value!r}")
        if not 0 < self.max_init_attempts < 2**16 or not 0 < self.max_init_timeo_ms < 2**16:
            raise ValueError("SctpOptions.max_init_attempts/max_init_timeo_ms: expected 1..65535")
        for name in ("udp_remote_port", "udp_local_port"):
            if not 0 < getattr(self, name) < 2**16:
                raise ValueError(f"SctpOptions.{name}: expected a UDP port 1..65535")
        if self.connect_timeout_s <= 0:
            raise ValueError("SctpOptions.connect_timeout_s: expected > 0")


def check_streams(streams: int) -> int:
    """Validate a stream count (TS 38.412 section 7 needs at least one pair besides stream 0)."""
    if not isinstance(streams, int) or not 1 <= streams <= 65535:
        raise ValueError(f"streams: expected 1..65535, got {streams!r}")
    return streams


_DOWN = object()  # queue sentinel


class SctpAssociation(ABC):
    """One SCTP association; see the module docstring for the contract."""

    kind: str
    peer: tuple[str, int]

    def __init__(self, kind: str, peer: tuple[str, int], *, outbound_streams: int, inbound_streams: int,
                 local: tuple[str, int] | None = None) -> None:
        self.kind = kind
        self.peer = peer
        self.local = local
        self.outbound_streams = outbound_streams
        self.inbound_streams = inbound_streams
        self._queue: collections.deque[SctpMessage | object] = collections.deque()
        self._getters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._down_reason: str | None = None
        self._down_event = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._reading_paused = False

    def __repr__(self) -> str:
        state = "up" if self.is_up else f"down ({self._down_reason})"
        return f"<{type(self).__name__} {self.kind} peer={self.peer[0]}:{self.peer[1]} {state}>"

    # -- public API ---------------------------------------------------------

    @property
    def is_up(self) -> bool:
        return self._down_reason is None

    @property
    def down_reason(self) -> str | None:
        """Why the association went down, or ``None`` while it is up."""
        return self._down_reason

    async def send(self, data: bytes, stream: int = 0, ppid: int = NGAP_PPID) -> None:
        """Queue one message on ``stream`` with payload protocol identifier ``ppid``.

        Returns when the stack accepted the whole message (not when the peer
        acknowledged it).  Raises :class:`ConnectionError` when the association is down.
        """
        data = bytes(data)
        if not data:
            raise ValueError("SCTP cannot carry an empty user message (RFC 4960 section 3.3.1)")
        if not 0 <= stream < self.outbound_streams:
            raise ValueError(f"stream {stream} out of range: association has {self.outbound_streams} "
                             "outbound streams")
        if not 0 <= ppid < 2**32:
            raise ValueError(f"ppid {ppid} out of range")
        if self._down_reason is not None:
            raise ConnectionError(f"SCTP association down: {self._down_reason}")
        async with self._send_lock:
            await self._send(data, stream, ppid)

    async def recv(self) -> SctpMessage:
        """Next whole message; raises :class:`ConnectionError` once the association is down."""
        while not self._queue:
            fut = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            finally:
                # a future woken by _wake_getter was popped already; only a cancelled (or otherwise
                # abandoned) one is still queued. Checking first also spares deque.remove's
                # ValueError, whose message formats repr(fut): ~10 us per received message.
                if not fut.done() or fut.cancelled():
                    with contextlib.suppress(ValueError):
                        self._getters.remove(fut)
        item = self._queue[0]
        if item is _DOWN:
            raise ConnectionError(f"SCTP association down: {self._down_reason}")
        self._queue.popleft()
        if self._reading_paused and len(self._queue) <= RECV_LOW_WATER:
            self._reading_paused = False
            self._resume_reading()
        assert isinstance(item, SctpMessage)
        return item

    async def wait_down(self) -> str:
        """Wait until the association is down and return the reason."""
        await self._down_event.wait()
        assert self._down_reason is not None
        return self._down_reason

    @abstractmethod
    def close(self) -> None:
        """Start a graceful SHUTDOWN (RFC 4960 section 9.2); ``recv`` then raises ConnectionError."""

    @abstractmethod
    def abort(self) -> None:
        """Send ABORT (RFC 4960 section 9.1) and drop the association at once."""

    # -- for implementations ------------------------------------------------

    @abstractmethod
    async def _send(self, data: bytes, stream: int, ppid: int) -> None: ...

    def _pause_reading(self) -> None:  # noqa: B027 - optional hook
        """Stop taking messages from the stack (override where possible)."""

    def _resume_reading(self) -> None:  # noqa: B027 - optional hook
        """Undo :meth:`_pause_reading`."""

    def _deliver(self, msg: SctpMessage) -> None:
        if self._down_reason is not None:
            return
        self._queue.append(msg)
        self._wake_getter()
        if not self._reading_paused and len(self._queue) >= RECV_HIGH_WATER:
            self._reading_paused = True
            self._pause_reading()

    def _set_down(self, reason: str) -> None:
        if self._down_reason is not None:
            return
        self._down_reason = reason
        self._queue.append(_DOWN)
        self._down_event.set()
        while self._getters:
            self._wake_getter()
        log.info("SCTP association %s %s:%d down: %s", self.kind, self.peer[0], self.peer[1], reason)

    def _wake_getter(self) -> None:
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)
                return


AssociationHandler = Callable[[SctpAssociation], Awaitable[None]]


class SctpServer(ABC):
    """A listening SCTP endpoint; ``on_association`` runs as a task per association.

    The association belongs to its handler: when the handler returns (or
    raises), the association is shut down.  :meth:`close` stops listening and
    shuts down every association.
    """

    kind: str

    def __init__(self, kind: str, address: tuple[str, int], on_association: AssociationHandler) -> None:
        self.kind = kind
        self.address = address
        self._on_association = on_association
        self._tasks: set[asyncio.Task[None]] = set()
        self._associations: set[SctpAssociation] = set()
        self._closed = False

    @property
    def associations(self) -> frozenset[SctpAssociation]:
        return frozenset(self._associations)

    def _start_handler(self, assoc: SctpAssociation) -> None:
        self._associations.add(assoc)
        log.info("SCTP association %s from %s:%d (streams out=%d in=%d)", assoc.kind, assoc.peer[0],
                 assoc.peer[1], assoc.outbound_streams, assoc.inbound_streams)
        task = asyncio.get_running_loop().create_task(self._run_handler(assoc))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_handler(self, assoc: SctpAssociation) -> None:
        try:
            await self._on_association(assoc)
        except ConnectionError:
            pass
        except Exception:
            log.exception("SCTP association handler failed for %s", assoc)
        finally:
            self._associations.discard(assoc)
            if assoc.is_up:
                assoc.close()

    def close(self) -> None:
        """Stop listening and shut down every association."""
        if self._closed:
            return
        self._closed = True
        for assoc in list(self._associations):
            assoc.close()
        self._close_listener()

    async def wait_closed(self) -> None:
        """Wait for every handler task to finish (after :meth:`close`, handlers blocked in ``recv`` get
        :class:`ConnectionError`; a handler waiting on something else must end by itself)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> SctpServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()

    @abstractmethod
    def _close_listener(self) -> None: ...
