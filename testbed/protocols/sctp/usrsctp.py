"""SCTP associations over usrsctp (native SCTP on raw IP, or SCTP over UDP per RFC 6951).

Design:

- one usrsctp stack per process (:func:`libusrsctp.ensure_stack`);
- the client is a one-to-one (``SOCK_STREAM``) socket, the server one
  one-to-many (``SOCK_SEQPACKET``) socket whose associations are told apart by
  ``sctp_rcvinfo.rcv_assoc_id`` (RFC 6458 sections 3 and 4), as Open5GS' AMF does;
- sockets are non-blocking; usrsctp's upcall (called on a usrsctp thread)
  only schedules :meth:`_Endpoint._on_events` on the event loop with
  ``call_soon_threadsafe``; every usrsctp call happens on the loop thread;
- messages are sent with ``usrsctp_sendv`` + ``SCTP_SENDV_SNDINFO`` (stream,
  PPID) and read with ``usrsctp_recvv`` + ``SCTP_RECVRCVINFO``;
- association state comes from notifications (``SCTP_ASSOC_CHANGE``,
  ``SCTP_SHUTDOWN_EVENT``; RFC 6458 section 6.1).

For SCTP over UDP the client sets ``SCTP_REMOTE_UDP_ENCAPS_PORT`` (RFC 6951
section 6.1) to the peer's encapsulation port; a server started with a UDP port
answers encapsulated INITs on the port they came from.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Callable

from testbed.errors import DecodeError
from testbed.protocols.sctp import libusrsctp as L
from testbed.protocols.sctp.association import (
    AssociationHandler,
    SctpAssociation,
    SctpMessage,
    SctpOptions,
    SctpServer,
    check_streams,
)
from testbed.protocols.sctp.framing import USRSCTP_NOTIFICATIONS as N
from testbed.protocols.sctp.framing import Notification, Reassembler, parse_notification
from testbed.protocols.sctp.resolve import resolve_host

log = logging.getLogger("testbed.sctp")

_GONE = (errno.EPIPE, errno.ENOTCONN, errno.ECONNRESET, errno.ECONNABORTED, errno.ESHUTDOWN, errno.ENOENT,
         errno.EBADF)
_WRITE_POLL_S = 0.2  # safety net for a missed "writable" upcall


def configure_socket(sock: L.UsrsctpSocket, options: SctpOptions, streams: int) -> None:
    """Apply streams, timers and event subscriptions (RFC 6458 sections 8.1.1-8.1.3, 8.1.8, 8.1.10)."""
    sock.setsockopt(L.SCTP_INITMSG, L.sctp_initmsg(streams, streams, options.max_init_attempts,
                                                   options.max_init_timeo_ms))
    if options.nodelay:
        sock.set_int(L.SCTP_NODELAY, 1)
    sock.set_int(L.SCTP_RECVRCVINFO, 1)
    sock.subscribe(L.SCTP_ASSOC_CHANGE, L.SCTP_SHUTDOWN_EVENT, L.SCTP_PEER_ADDR_CHANGE, L.SCTP_REMOTE_ERROR,
                   L.SCTP_SEND_FAILED_EVENT)
    if any(v is not None for v in (options.rto_initial_ms, options.rto_min_ms, options.rto_max_ms)):
        rto = L.sctp_rtoinfo()
        sock.getsockopt(L.SCTP_RTOINFO, rto)
        rto.srto_assoc_id = L.SCTP_FUTURE_ASSOC
        rto.srto_initial = options.rto_initial_ms or rto.srto_initial
        rto.srto_min = options.rto_min_ms or rto.srto_min
        rto.srto_max = options.rto_max_ms or rto.srto_max
        sock.setsockopt(L.SCTP_RTOINFO, rto)
    if options.assoc_max_retrans is not None:
        ap = L.sctp_assocparams()
        sock.getsockopt(L.SCTP_ASSOCINFO, ap)
        ap.sasoc_assoc_id = L.SCTP_FUTURE_ASSOC
        ap.sasoc_asocmaxrxt = options.assoc_max_retrans
        sock.setsockopt(L.SCTP_ASSOCINFO, ap)
    if options.hb_interval_ms is not None or options.path_max_retrans is not None:
        pp = L.sctp_paddrparams()
        sock.getsockopt(L.SCTP_PEER_ADDR_PARAMS, pp)
        pp.spp_assoc_id = L.SCTP_FUTURE_ASSOC
        pp.spp_flags = 0
        if options.hb_interval_ms is not None:
            pp.spp_hbinterval = options.hb_interval_ms
            pp.spp_flags = L.SPP_HB_ENABLE
        if options.path_max_retrans is not None:
            pp.spp_pathmaxrxt = options.path_max_retrans
        sock.setsockopt(L.SCTP_PEER_ADDR_PARAMS, pp)


class _Endpoint:
    """Bridges one usrsctp socket to the event loop."""

    def __init__(self, sock: L.UsrsctpSocket, loop: asyncio.AbstractEventLoop,
                 on_received: Callable[[L.Received], None], on_error: Callable[[OSError], None]) -> None:
        self.sock = sock
        self.loop = loop
        self._on_received = on_received
        self._on_error = on_error
        self._scheduled = False
        self._write_waiters: list[asyncio.Future[None]] = []
        self.paused_by: set[object] = set()
        sock.set_upcall(self._upcall)

    def _upcall(self) -> None:  # usrsctp thread
        if self._scheduled:
            return
        self._scheduled = True
        with contextlib.suppress(RuntimeError):  # loop already closed
            self.loop.call_soon_threadsafe(self._on_events)

    def _on_events(self) -> None:
        self._scheduled = False
        if self.sock.closed:
            return
        if not self.paused_by:
            self._drain()
        waiters, self._write_waiters = self._write_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _drain(self) -> None:
        while not self.sock.closed and not self.paused_by:
            try:
                received = self.sock.recvv()
            except OSError as e:
                self._on_error(e)
                return
            if received is None:
                return
            self._on_received(received)
            if received.eof:
                return

    def pause(self, owner: object) -> None:
        self.paused_by.add(owner)

    def resume(self, owner: object) -> None:
        self.paused_by.discard(owner)
        if not self.paused_by:
            self.loop.call_soon(self._on_events)

    async def wait_writable(self) -> None:
        fut = self.loop.create_future()
        self._write_waiters.append(fut)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(fut, _WRITE_POLL_S)

    async def send(self, data: bytes, stream: int, ppid: int, assoc_id: int, on_gone: Callable[[str], None]) -> None:
        while True:
            try:
                self.sock.sendv(data, stream=stream, ppid=ppid, assoc_id=assoc_id)
                return
            except BlockingIOError:
                await self.wait_writable()
            except OSError as e:
                if e.errno in _GONE:
                    reason = f"send failed: {e.strerror}"
                    on_gone(reason)
                    raise ConnectionError(f"SCTP association down: {reason}") from e
                raise


def _parse(data: bytes) -> Notification | None:
    try:
        return parse_notification(data, N)
    except DecodeError as e:
        log.warning("usrsctp: ignoring malformed notification: %s", e)
        return None


def _describe(n: Notification) -> str:
    return f"{n.state_name} (error {n.error})" if n.error else n.state_name


class UsrsctpClientAssociation(SctpAssociation):
    """The client side: one one-to-one usrsctp socket."""

    def __init__(self, kind: str, sock: L.UsrsctpSocket, loop: asyncio.AbstractEventLoop, peer: tuple[str, int],
                 local: tuple[str, int] | None) -> None:
        super().__init__(kind, peer, outbound_streams=0, inbound_streams=0, local=local)
        self._reasm = Reassembler()
        self._connected: asyncio.Future[None] = loop.create_future()
        self._ep = _Endpoint(sock, loop, self._on_received, self._on_error)

    # -- events
    def _on_received(self, r: L.Received) -> None:
        if r.eof:
            self._gone("peer shut down the association")
            return
        if r.notification:
            notification = _parse(r.data)
            if notification is not None:
                self._on_notification(notification)
            return
        try:
            whole = self._reasm.feed(r.data, stream=r.stream, eor=r.eor)
        except DecodeError as e:
            log.warning("dropping association: %s", e)
            self.abort()
            return
        if whole is not None:
            self._deliver(SctpMessage(whole, r.stream, r.ppid))

    def _on_notification(self, n: Notification) -> None:
        log.debug("usrsctp client notification %s", n)
        if n.type == "assoc_change":
            if n.state == N.comm_up:
                self.outbound_streams = n.outbound_streams or 0
                self.inbound_streams = n.inbound_streams or 0
                if not self._connected.done():
                    self._connected.set_result(None)
            elif n.state == N.restart:
                self._gone("peer restarted the association (RESTART)")
            elif n.state in (N.comm_lost, N.shutdown_comp, N.cant_str_assoc):
                self._gone(_describe(n))
        elif n.type == "shutdown_event":
            self._gone("peer sent SHUTDOWN")

    def _on_error(self, e: OSError) -> None:
        self._gone(f"receive failed: {e.strerror}")

    def _gone(self, reason: str) -> None:
        if not self._connected.done():
            self._connected.set_exception(ConnectionRefusedError(f"SCTP association to {self.peer[0]}:"
                                                                 f"{self.peer[1]} not established: {reason}"))
        self._set_down(reason)
        self._ep.sock.close(abort=True)

    # -- SctpAssociation
    async def _send(self, data: bytes, stream: int, ppid: int) -> None:
        await self._ep.send(data, stream, ppid, 0, self._gone)

    def _pause_reading(self) -> None:
        self._ep.pause(self)

    def _resume_reading(self) -> None:
        self._ep.resume(self)

    def close(self) -> None:
        self._set_down("closed locally")
        self._ep.sock.close()  # graceful SHUTDOWN unless unread data remains

    def abort(self) -> None:
        self._set_down("aborted locally")
        self._ep.sock.close(abort=True)


async def connect(host: str, port: int, *, kind: str, streams: int, local: str | None,
                  options: SctpOptions) -> UsrsctpClientAssociation:
    """Establish an association with usrsctp (``kind`` "usrsctp-raw" or "usrsctp-udp")."""
    check_streams(streams)
    L.ensure_stack(options.udp_local_port if kind == "usrsctp-udp" else 0)
    loop = asyncio.get_running_loop()
    addr = await resolve_host(host)
    family = L.AF_INET6 if ":" in addr else L.AF_INET
    sock = L.UsrsctpSocket(family, L.SOCK_STREAM)
    try:
        configure_socket(sock, options, streams)
        if kind == "usrsctp-udp":
            sock.set_remote_udp_encaps_port(options.udp_remote_port)
        if local is not None:
            sock.bind(await resolve_host(local), 0)
        sock.set_nonblocking()
        assoc = UsrsctpClientAssociation(kind, sock, loop, (addr, port), (local, 0) if local else None)
        sock.connect(addr, port)
        try:
            await asyncio.wait_for(asyncio.shield(assoc._connected), options.connect_timeout_s)
        except TimeoutError:
            raise TimeoutError(f"SCTP association to {addr}:{port} ({kind}) not established within "
                               f"{options.connect_timeout_s} s") from None
    except BaseException:
        sock.close(abort=True)
        raise
    return assoc


class UsrsctpServerAssociation(SctpAssociation):
    """One association of a :class:`UsrsctpServer` (one-to-many socket)."""

    def __init__(self, server: UsrsctpServer, assoc_id: int, kind: str, peer: tuple[str, int],
                 outbound_streams: int, inbound_streams: int) -> None:
        super().__init__(kind, peer, outbound_streams=outbound_streams, inbound_streams=inbound_streams,
                         local=server.address)
        self.assoc_id = assoc_id
        self._server = server

    async def _send(self, data: bytes, stream: int, ppid: int) -> None:
        await self._server._ep.send(data, stream, ppid, self.assoc_id, self._gone)

    def _gone(self, reason: str) -> None:
        self._set_down(reason)
        self._server._forget(self)

    def _pause_reading(self) -> None:
        self._server._ep.pause(self)

    def _resume_reading(self) -> None:
        self._server._ep.resume(self)

    def _end(self, flags: int, reason: str) -> None:
        if not self.is_up:
            return
        self._gone(reason)
        sock = self._server._ep.sock
        if not sock.closed:
            with contextlib.suppress(OSError):
                sock.sendv(b"", stream=0, ppid=0, assoc_id=self.assoc_id, flags=flags)

    def close(self) -> None:
        self._end(L.SCTP_EOF, "closed locally")

    def abort(self) -> None:
        self._end(L.SCTP_ABORT, "aborted locally")


class UsrsctpServer(SctpServer):
    """A usrsctp one-to-many listening socket."""

    def __init__(self, kind: str, sock: L.UsrsctpSocket, address: tuple[str, int],
                 on_association: AssociationHandler, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(kind, address, on_association)
        self._assocs: dict[int, UsrsctpServerAssociation] = {}
        self._reasm = Reassembler()
        self._ep = _Endpoint(sock, loop, self._on_received, self._on_error)

    def _kind_of(self, assoc_id: int, peer: tuple[str, int]) -> str:
        try:
            return "usrsctp-udp" if self._ep.sock.remote_udp_encaps_port(assoc_id, peer) else "usrsctp-raw"
        except (OSError, ValueError):
            return self.kind

    def _forget(self, assoc: UsrsctpServerAssociation) -> None:
        if self._assocs.get(assoc.assoc_id) is assoc:
            del self._assocs[assoc.assoc_id]
        self._reasm.discard(assoc.assoc_id)
        self._ep.paused_by.discard(assoc)

    def _on_received(self, r: L.Received) -> None:
        if r.notification:
            notification = _parse(r.data)
            if notification is not None:
                self._on_notification(notification)
            return
        assoc = self._assocs.get(r.assoc_id)
        if assoc is None:
            log.debug("usrsctp server: data for unknown association %d dropped", r.assoc_id)
            return
        try:
            whole = self._reasm.feed(r.data, stream=r.stream, eor=r.eor, assoc_id=r.assoc_id)
        except DecodeError as e:
            log.warning("aborting association %s: %s", assoc, e)
            assoc.abort()
            return
        if whole is not None:
            assoc._deliver(SctpMessage(whole, r.stream, r.ppid))

    def _on_notification(self, n: Notification) -> None:
        log.debug("usrsctp server notification %s", n)
        assoc_id = n.assoc_id or 0
        if n.type == "assoc_change":
            if n.state in (N.comm_up, N.restart):
                old = self._assocs.get(assoc_id)
                if old is not None:
                    old._gone("peer restarted the association (RESTART)")
                if self._closed:
                    return
                try:
                    peers = self._ep.sock.peer_addresses(assoc_id)
                except OSError:
                    peers = []
                peer = peers[0] if peers else ("?", 0)
                assoc = UsrsctpServerAssociation(self, assoc_id, self._kind_of(assoc_id, peer), peer,
                                                 n.outbound_streams or 0, n.inbound_streams or 0)
                self._assocs[assoc_id] = assoc
                self._start_handler(assoc)
            elif n.state in (N.comm_lost, N.shutdown_comp, N.cant_str_assoc):
                assoc = self._assocs.get(assoc_id)
                if assoc is not None:
                    assoc._gone(_describe(n))
        elif n.type == "shutdown_event":
            assoc = self._assocs.get(assoc_id)
            if assoc is not None:
                assoc._gone("peer sent SHUTDOWN")

    def _on_error(self, e: OSError) -> None:
        log.error("usrsctp server socket error: %s", e)

    def _close_listener(self) -> None:
        for assoc in list(self._assocs.values()):
            assoc._gone("server closed")
        self._ep.sock.close()


async def serve(host: str, port: int, on_association: AssociationHandler, *, kind: str, streams: int,
                options: SctpOptions, backlog: int = 16) -> UsrsctpServer:
    """Listen with usrsctp (``kind`` "usrsctp-raw" or "usrsctp-udp")."""
    check_streams(streams)
    L.ensure_stack(options.udp_local_port if kind == "usrsctp-udp" else 0)
    loop = asyncio.get_running_loop()
    addr = await resolve_host(host)
    family = L.AF_INET6 if ":" in addr else L.AF_INET
    sock = L.UsrsctpSocket(family, L.SOCK_SEQPACKET)
    try:
        configure_socket(sock, options, streams)
        sock.bind(addr, port)
        sock.set_nonblocking()
        sock.listen(backlog)
        server = UsrsctpServer(kind, sock, (addr, port), on_association, loop)
    except BaseException:
        sock.close(abort=True)
        raise
    server._ep._on_events()  # pick up anything that arrived before the upcall was set
    return server
