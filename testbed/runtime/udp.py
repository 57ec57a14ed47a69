"""A UDP endpoint for busy sockets: drains the socket per readiness and has a large receive buffer.

asyncio's datagram transport reads one datagram per event-loop pass. A femto's air socket
carries every UE's heartbeats (thousands per second) plus RRC, and its N3 socket the user
plane; when the loop is busy (NGAP encoding, a garbage collection), one read per pass lets
the kernel's queue fill up and overflow (``RcvbufErrors``), which the UEs see as radio link
failures (benchmarks/ran_registration.py). :class:`DrainingUdp` reads up to ``batch``
datagrams per readiness callback from a socket with an enlarged receive buffer
(:func:`testbed.runtime.tuning.enlarge_receive_buffer`), and sends without queueing: a send
the kernel refuses (buffer full, ICMP error pending) is counted and dropped, as UDP may.

It offers the parts of :class:`asyncio.DatagramTransport` the components use: ``sendto``,
``close``, ``get_extra_info("sockname" | "socket")``, ``is_closing``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from testbed.runtime.tuning import RECEIVE_BUFFER, enlarge_receive_buffer

log = logging.getLogger(__name__)

Address = tuple[str, int]
#: Largest datagram read (an IPv4 UDP payload cannot be larger).
MAX_DATAGRAM = 65535
#: Datagrams read per readiness callback before other work gets a turn.
BATCH = 256


class DrainingUdp:
    """Non-blocking UDP socket served by ``loop.add_reader``; see the module docstring."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 on_datagram: Callable[[bytes, Address], None], *, batch: int = BATCH,
                 receive_buffer: int = RECEIVE_BUFFER) -> None:
        self._loop = loop
        self._sock: socket.socket | None = sock
        self._on_datagram = on_datagram
        self.batch = batch
        self.counters = {"rx": 0, "tx": 0, "tx_dropped": 0, "rx_errors": 0, "handler_errors": 0}
        self.receive_buffer = enlarge_receive_buffer(sock, receive_buffer)
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        recv = sock.recvfrom
        handler = self._on_datagram
        for _ in range(self.batch):
            try:
                data, addr = recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # an ICMP error reported on the socket: nothing to do for UDP
                self.counters["rx_errors"] += 1
                log.debug("UDP receive error: %s", e)
                return
            self.counters["rx"] += 1
            try:
                handler(data, (addr[0], addr[1]))
            except Exception:  # noqa: BLE001 - one bad datagram must not stop the socket
                self.counters["handler_errors"] += 1
                log.exception("datagram handler failed")

    def sendto(self, data: bytes, addr: Address) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sock.sendto(data, addr)
            self.counters["tx"] += 1
        except OSError:  # EAGAIN (buffer full), ECONNREFUSED from an earlier ICMP, unreachable
            self.counters["tx_dropped"] += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if self._sock is None:
            return default
        if name == "sockname":
            return self._sock.getsockname()
        if name == "socket":
            return self._sock
        return default

    def is_closing(self) -> bool:
        return self._sock is None

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            self._loop.remove_reader(sock.fileno())
        except (ValueError, OSError):
            pass
        sock.close()


async def open_draining_udp(local_addr: Address, on_datagram: Callable[[bytes, Address], None], *,
                            batch: int = BATCH, receive_buffer: int = RECEIVE_BUFFER) -> DrainingUdp:
    """Bind a UDP socket to ``local_addr`` (IPv4) and serve it with :class:`DrainingUdp`.

    Raises :class:`OSError` like :meth:`asyncio.loop.create_datagram_endpoint` when the address
    cannot be bound (e.g. not configured yet)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind(local_addr)
        return DrainingUdp(loop, sock, on_datagram, batch=batch, receive_buffer=receive_buffer)
    except BaseException:
        sock.close()
        raise
