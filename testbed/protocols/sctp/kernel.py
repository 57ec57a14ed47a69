"""SCTP associations over the Linux kernel's SCTP (``socket(..., IPPROTO_SCTP)``).

One-to-one style (``SOCK_STREAM``) sockets on both sides (RFC 6458 section 4):
the server accepts one socket per association.  Stream and PPID travel in an
``SCTP_SNDRCV`` control message carrying ``struct sctp_sndrcvinfo`` (RFC 6458
section 5.3.2; layout from ``include/uapi/linux/sctp.h``), which is delivered on
receive once ``sctp_data_io_event`` is subscribed (``SCTP_EVENTS``).  The kernel
copies ``sinfo_ppid`` to the DATA chunk unchanged, so it is packed in network
byte order (lksctp convention, as Open5GS' ``ogs-lksctp.c`` does with ``htobe32``).

This module is pure ``socket``/asyncio: no lksctp-tools needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import struct
from typing import Any

from testbed.errors import DecodeError
from testbed.protocols.sctp.association import (
    AssociationHandler,
    SctpAssociation,
    SctpMessage,
    SctpOptions,
    SctpServer,
    check_streams,
)
from testbed.protocols.sctp.framing import LINUX_NOTIFICATIONS as N
from testbed.protocols.sctp.framing import Notification, Reassembler, parse_notification
from testbed.protocols.sctp.resolve import resolve_host

log = logging.getLogger("testbed.sctp")

IPPROTO_SCTP = 132
SOL_SCTP = 132
# include/uapi/linux/sctp.h
SCTP_RTOINFO = 0
SCTP_ASSOCINFO = 1
SCTP_INITMSG = 2
SCTP_NODELAY = 3
SCTP_PEER_ADDR_PARAMS = 9
SCTP_EVENTS = 11
SCTP_STATUS = 14
SCTP_SNDRCV = 1  # enum sctp_cmsg_type
MSG_NOTIFICATION = 0x8000
MSG_EOR = getattr(socket, "MSG_EOR", 0x80)
SPP_HB_ENABLE = 1

# struct sctp_sndrcvinfo: stream u16, ssn u16, flags u16, (pad), ppid u32, context u32, timetolive u32,
# tsn u32, cumtsn u32, assoc_id s32 -- 32 bytes
SNDRCVINFO = struct.Struct("=HHHxxIIIIIi")
# struct sctp_initmsg: num_ostreams, max_instreams, max_attempts, max_init_timeo (u16 each)
INITMSG = struct.Struct("=HHHH")
# struct sctp_rtoinfo: assoc_id s32, initial, max, min (u32); 0 leaves a value unchanged
RTOINFO = struct.Struct("=iIII")
# struct sctp_assocparams: assoc_id s32, asocmaxrxt u16, number_peer_destinations u16, peer_rwnd,
# local_rwnd, cookie_life (u32); 0 leaves a value unchanged
ASSOCPARAMS = struct.Struct("=iHHIII")
# struct sctp_paddrparams (packed, aligned 4) up to spp_flags, padded to 4: the length every kernel
# accepts (newer ones also take the full 156 bytes with spp_ipv6_flowlabel and spp_dscp)
PADDRPARAMS = struct.Struct("=i128sIHIII2x")
# struct sctp_status: assoc_id s32, state s32, rwnd u32, unackdata u16, penddata u16, instrms u16,
# outstrms u16, fragmentation_point u32, then struct sctp_paddrinfo (152 bytes)
STATUS_SIZE = 176
RECV_BUFFER = 256 * 1024
CMSG_SPACE = socket.CMSG_SPACE(SNDRCVINFO.size)

_GONE = (errno.EPIPE, errno.ENOTCONN, errno.ECONNRESET, errno.ECONNABORTED, errno.ESHUTDOWN, errno.ETIMEDOUT)


def pack_sndrcvinfo(stream: int, ppid: int, *, flags: int = 0, context: int = 0, timetolive: int = 0,
                    assoc_id: int = 0) -> bytes:
    """``struct sctp_sndrcvinfo`` for an ``SCTP_SNDRCV`` control message (PPID in network byte order)."""
    return SNDRCVINFO.pack(stream, 0, flags, socket.htonl(ppid), context, timetolive, 0, 0, assoc_id)


def sndrcv_cmsg(stream: int, ppid: int) -> tuple[int, int, bytes]:
    """The ``(level, type, data)`` ancillary item ``socket.sendmsg`` takes."""
    return (SOL_SCTP, SCTP_SNDRCV, pack_sndrcvinfo(stream, ppid))


def unpack_sndrcvinfo(data: bytes) -> dict[str, int]:
    if len(data) < SNDRCVINFO.size:
        raise DecodeError(f"sctp_sndrcvinfo needs {SNDRCVINFO.size} bytes, got {len(data)}")
    stream, ssn, flags, ppid, context, ttl, tsn, cumtsn, assoc_id = SNDRCVINFO.unpack_from(data)
    return {"stream": stream, "ssn": ssn, "flags": flags, "ppid": socket.ntohl(ppid), "context": context,
            "timetolive": ttl, "tsn": tsn, "cumtsn": cumtsn, "assoc_id": assoc_id}


def parse_ancillary(ancdata: list[tuple[int, int, bytes]]) -> tuple[int, int] | None:
    """(stream, ppid) from ``recvmsg`` ancillary data, or None when there is no SCTP_SNDRCV item."""
    for level, ctype, data in ancdata:
        if level == SOL_SCTP and ctype == SCTP_SNDRCV:
            info = unpack_sndrcvinfo(data)
            return info["stream"], info["ppid"]
    return None


def pack_initmsg(streams: int, options: SctpOptions) -> bytes:
    return INITMSG.pack(streams, streams, options.max_init_attempts, options.max_init_timeo_ms)


def pack_rtoinfo(options: SctpOptions) -> bytes:
    return RTOINFO.pack(0, options.rto_initial_ms or 0, options.rto_max_ms or 0, options.rto_min_ms or 0)


def pack_assocparams(options: SctpOptions) -> bytes:
    return ASSOCPARAMS.pack(0, options.assoc_max_retrans or 0, 0, 0, 0, 0)


def pack_paddrparams(options: SctpOptions) -> bytes:
    flags = SPP_HB_ENABLE if options.hb_interval_ms is not None else 0
    return PADDRPARAMS.pack(0, b"", options.hb_interval_ms or 0, options.path_max_retrans or 0, 0, 0, flags)


def pack_event_subscribe() -> bytes:
    """``struct sctp_event_subscribe``: data_io, association and shutdown events on."""
    return bytes([1, 1, 0, 0, 0, 1])


def configure_socket(sock: Any, options: SctpOptions, streams: int) -> None:
    """Apply streams, timers and event subscriptions (RFC 6458 section 8.1)."""
    sock.setsockopt(SOL_SCTP, SCTP_INITMSG, pack_initmsg(streams, options))
    sock.setsockopt(SOL_SCTP, SCTP_EVENTS, pack_event_subscribe())
    if options.nodelay:
        sock.setsockopt(SOL_SCTP, SCTP_NODELAY, 1)
    if any(v is not None for v in (options.rto_initial_ms, options.rto_min_ms, options.rto_max_ms)):
        sock.setsockopt(SOL_SCTP, SCTP_RTOINFO, pack_rtoinfo(options))
    if options.assoc_max_retrans is not None:
        sock.setsockopt(SOL_SCTP, SCTP_ASSOCINFO, pack_assocparams(options))
    if options.hb_interval_ms is not None or options.path_max_retrans is not None:
        sock.setsockopt(SOL_SCTP, SCTP_PEER_ADDR_PARAMS, pack_paddrparams(options))


def read_streams(sock: Any, default: int) -> tuple[int, int]:
    """(outbound, inbound) negotiated stream counts from SCTP_STATUS."""
    try:
        status = sock.getsockopt(SOL_SCTP, SCTP_STATUS, STATUS_SIZE)
        instrms, outstrms = struct.unpack_from("=HH", status, 16)
        return outstrms, instrms
    except (OSError, struct.error):
        return default, default


class KernelAssociation(SctpAssociation):
    """One kernel one-to-one SCTP socket as an association.

    ``sock`` is a non-blocking socket (or an object with the same ``fileno``,
    ``recvmsg``, ``sendmsg``, ``setsockopt``, ``close`` behaviour).
    """

    def __init__(self, sock: Any, peer: tuple[str, int], *, outbound_streams: int, inbound_streams: int,
                 loop: asyncio.AbstractEventLoop, local: tuple[str, int] | None = None) -> None:
        super().__init__("kernel", peer, outbound_streams=outbound_streams, inbound_streams=inbound_streams,
                         local=local)
        self._sock = sock
        self._loop = loop
        self._fd = sock.fileno()
        self._reasm = Reassembler()
        self._reading = False
        self._write_fut: asyncio.Future[None] | None = None
        self._resume_reading()

    def _resume_reading(self) -> None:
        if not self._reading and self._sock is not None:
            self._loop.add_reader(self._fd, self._on_readable)
            self._reading = True

    def _pause_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _on_readable(self) -> None:
        for _ in range(64):  # bounded batch, then let other callbacks run
            if self._sock is None or not self._reading:
                return
            try:
                data, anc, flags, _addr = self._sock.recvmsg(RECV_BUFFER, CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self._gone(f"receive failed: {e.strerror}")
                return
            if flags & MSG_NOTIFICATION:
                try:
                    self._on_notification(parse_notification(data, N))
                except DecodeError as e:
                    log.warning("kernel SCTP: ignoring malformed notification: %s", e)
                continue
            if not data:
                self._gone("peer shut down the association")
                return
            info = parse_ancillary(anc)
            stream, ppid = info if info is not None else (0, 0)
            try:
                whole = self._reasm.feed(data, stream=stream, eor=bool(flags & MSG_EOR))
            except DecodeError as e:
                log.warning("aborting %s: %s", self, e)
                self.abort()
                return
            if whole is not None:
                self._deliver(SctpMessage(whole, stream, ppid))

    def _on_notification(self, n: Notification) -> None:
        log.debug("kernel SCTP notification %s", n)
        if n.type == "assoc_change":
            if n.state == N.comm_up:
                self.outbound_streams = n.outbound_streams or self.outbound_streams
                self.inbound_streams = n.inbound_streams or self.inbound_streams
            elif n.state == N.restart:
                self._gone("peer restarted the association (RESTART)")
            elif n.state in (N.comm_lost, N.shutdown_comp, N.cant_str_assoc):
                self._gone(n.state_name)
        elif n.type == "shutdown_event":
            self._gone("peer sent SHUTDOWN")

    def _gone(self, reason: str) -> None:
        self._set_down(reason)
        self._release(abort=False)

    def _release(self, *, abort: bool) -> None:
        self._pause_reading()
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._write_fut is not None:
            self._loop.remove_writer(self._fd)
            if not self._write_fut.done():
                self._write_fut.set_result(None)
        if abort:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    async def _wait_writable(self) -> None:
        fut: asyncio.Future[None] = self._loop.create_future()
        self._write_fut = fut
        self._loop.add_writer(self._fd, lambda: fut.done() or fut.set_result(None))
        try:
            await fut
        finally:
            self._write_fut = None
            if self._sock is not None:
                self._loop.remove_writer(self._fd)

    async def _send(self, data: bytes, stream: int, ppid: int) -> None:
        cmsg = [sndrcv_cmsg(stream, ppid)]
        while True:
            if self._sock is None:
                raise ConnectionError(f"SCTP association down: {self.down_reason}")
            try:
                self._sock.sendmsg([data], cmsg)
                return
            except (BlockingIOError, InterruptedError):
                await self._wait_writable()
            except OSError as e:
                if e.errno in _GONE:
                    self._gone(f"send failed: {e.strerror}")
                    raise ConnectionError(f"SCTP association down: {self.down_reason}") from e
                raise

    def close(self) -> None:
        self._set_down("closed locally")
        self._release(abort=False)  # the kernel runs SHUTDOWN (ABORT if unread data remains)

    def abort(self) -> None:
        self._set_down("aborted locally")
        self._release(abort=True)


def _new_socket(family: int, options: SctpOptions, streams: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM, IPPROTO_SCTP)
    try:
        sock.setblocking(False)
        configure_socket(sock, options, streams)
    except BaseException:
        sock.close()
        raise
    return sock


async def connect(host: str, port: int, *, streams: int, local: str | None,
                  options: SctpOptions) -> KernelAssociation:
    check_streams(streams)
    loop = asyncio.get_running_loop()
    addr = await resolve_host(host)
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = _new_socket(family, options, streams)
    try:
        if local is not None:
            sock.bind((await resolve_host(local), 0))
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (addr, port)), options.connect_timeout_s)
        except TimeoutError:
            raise TimeoutError(f"SCTP association to {addr}:{port} (kernel) not established within "
                               f"{options.connect_timeout_s} s") from None
        out_s, in_s = read_streams(sock, streams)
        local_addr = sock.getsockname()[:2]
        return KernelAssociation(sock, (addr, port), outbound_streams=out_s, inbound_streams=in_s, loop=loop,
                                 local=local_addr)
    except BaseException:
        sock.close()
        raise


class KernelServer(SctpServer):
    def __init__(self, sock: socket.socket, address: tuple[str, int], on_association: AssociationHandler,
                 streams: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__("kernel", address, on_association)
        self._sock = sock
        self._streams = streams
        self._loop = loop
        self._accept_task = loop.create_task(self._accept_loop())

    async def _accept_loop(self) -> None:
        while True:
            try:
                conn, addr = await self._loop.sock_accept(self._sock)
            except asyncio.CancelledError:
                raise
            except OSError as e:
                if self._closed:
                    return
                log.warning("kernel SCTP accept failed: %s", e)
                await asyncio.sleep(0.1)
                continue
            conn.setblocking(False)
            out_s, in_s = read_streams(conn, self._streams)
            assoc = KernelAssociation(conn, (addr[0], addr[1]), outbound_streams=out_s, inbound_streams=in_s,
                                      loop=self._loop, local=self.address)
            self._start_handler(assoc)

    def _close_listener(self) -> None:
        self._accept_task.cancel()
        self._sock.close()


async def serve(host: str, port: int, on_association: AssociationHandler, *, streams: int, options: SctpOptions,
                backlog: int = 16) -> KernelServer:
    check_streams(streams)
    addr = await resolve_host(host)
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = _new_socket(family, options, streams)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((addr, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    bound = sock.getsockname()
    return KernelServer(sock, (bound[0], bound[1]), on_association, streams, asyncio.get_running_loop())
