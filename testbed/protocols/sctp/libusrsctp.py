"""ctypes binding of Debian's ``libusrsctp2`` (usrsctp 0.9.5), the parts the transports use.

usrsctp is a whole SCTP stack in user space with **one instance per process**:

- ``usrsctp_init(0, ...)`` sends and receives native SCTP on raw IPv4/IPv6
  sockets (needs CAP_NET_RAW; every process with such a socket in a network
  namespace sees every SCTP packet of that namespace, so run one usrsctp
  process per namespace);
- ``usrsctp_init(port, ...)`` additionally opens UDP sockets on ``port`` for SCTP
  over UDP (RFC 6951; 9899 is the IANA port).

The stack runs its own threads (timers, receive).  This module registers one
process-wide upcall (``usrsctp_set_upcall``) whose argument is a key into a
handler table, so no ctypes callback object is ever freed while usrsctp may
call it, and a closed socket's late upcall finds no handler and does nothing.

Structure layouts are those of ``/usr/include/usrsctp.h`` (package
``libusrsctp-dev``) on Linux (no ``sa_len``); the unit tests pin their sizes.
Byte order: ``snd_ppid``/``rcv_ppid`` are copied to and from the DATA chunk
unchanged, so they hold network byte order (as Open5GS' ``ogs-usrsctp.c`` does
with ``htobe32``); ``sue_port`` is in network byte order as well.
"""

from __future__ import annotations

import atexit
import ctypes
import errno as errno_mod
import ipaddress
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    byref,
    c_char_p,
    c_int,
    c_size_t,
    c_ssize_t,
    c_uint,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
    sizeof,
)
from dataclasses import dataclass

from testbed.protocols.sctp import capabilities
from testbed.protocols.sctp.association import SctpUnavailable

log = logging.getLogger("testbed.sctp")

# --- constants (usrsctp.h and Linux <sys/socket.h>) --------------------------------
AF_INET = socket.AF_INET
AF_INET6 = socket.AF_INET6
SOCK_STREAM = socket.SOCK_STREAM
SOCK_SEQPACKET = socket.SOCK_SEQPACKET
IPPROTO_SCTP = 132
SOL_SOCKET = socket.SOL_SOCKET
SO_LINGER = socket.SO_LINGER

SCTP_FUTURE_ASSOC = 0
SCTP_RTOINFO = 0x01
SCTP_ASSOCINFO = 0x02
SCTP_INITMSG = 0x03
SCTP_NODELAY = 0x04
SCTP_PEER_ADDR_PARAMS = 0x0A
SCTP_EVENT = 0x1E
SCTP_RECVRCVINFO = 0x1F
SCTP_REMOTE_UDP_ENCAPS_PORT = 0x24
SCTP_STATUS = 0x100

SCTP_ASSOC_CHANGE = 0x0001
SCTP_PEER_ADDR_CHANGE = 0x0002
SCTP_REMOTE_ERROR = 0x0003
SCTP_SHUTDOWN_EVENT = 0x0005
SCTP_SEND_FAILED_EVENT = 0x000E

SCTP_SENDV_SNDINFO = 1
SCTP_RECVV_RCVINFO = 1
SCTP_EOF = 0x0100
SCTP_ABORT = 0x0200
MSG_NOTIFICATION = 0x2000
MSG_EOR = 0x80  # Linux <sys/socket.h>, used by usrsctp on Linux
SCTP_EVENT_READ = 0x0001
SCTP_EVENT_WRITE = 0x0002
SCTP_EVENT_ERROR = 0x0004
SPP_HB_ENABLE = 0x00000001

RECV_BUFFER = 256 * 1024


# --- structures --------------------------------------------------------------------
class sockaddr_in(Structure):
    _fields_ = [("sin_family", c_uint16), ("sin_port", c_uint16), ("sin_addr", c_uint8 * 4),
                ("sin_zero", c_uint8 * 8)]


class sockaddr_in6(Structure):
    _fields_ = [("sin6_family", c_uint16), ("sin6_port", c_uint16), ("sin6_flowinfo", c_uint32),
                ("sin6_addr", c_uint8 * 16), ("sin6_scope_id", c_uint32)]


class sockaddr_storage(Structure):
    _fields_ = [("ss_family", c_uint16), ("_data", c_uint8 * 118), ("_align", c_uint64)]


class sctp_sndinfo(Structure):
    _fields_ = [("snd_sid", c_uint16), ("snd_flags", c_uint16), ("snd_ppid", c_uint32),
                ("snd_context", c_uint32), ("snd_assoc_id", c_uint32)]


class sctp_rcvinfo(Structure):
    _fields_ = [("rcv_sid", c_uint16), ("rcv_ssn", c_uint16), ("rcv_flags", c_uint16),
                ("rcv_ppid", c_uint32), ("rcv_tsn", c_uint32), ("rcv_cumtsn", c_uint32),
                ("rcv_context", c_uint32), ("rcv_assoc_id", c_uint32)]


class sctp_initmsg(Structure):
    _fields_ = [("sinit_num_ostreams", c_uint16), ("sinit_max_instreams", c_uint16),
                ("sinit_max_attempts", c_uint16), ("sinit_max_init_timeo", c_uint16)]


class sctp_event(Structure):
    _fields_ = [("se_assoc_id", c_uint32), ("se_type", c_uint16), ("se_on", c_uint8)]


class sctp_udpencaps(Structure):
    _fields_ = [("sue_address", sockaddr_storage), ("sue_assoc_id", c_uint32), ("sue_port", c_uint16)]


class sctp_rtoinfo(Structure):
    _fields_ = [("srto_assoc_id", c_uint32), ("srto_initial", c_uint32), ("srto_max", c_uint32),
                ("srto_min", c_uint32)]


class sctp_assocparams(Structure):
    _fields_ = [("sasoc_assoc_id", c_uint32), ("sasoc_peer_rwnd", c_uint32), ("sasoc_local_rwnd", c_uint32),
                ("sasoc_cookie_life", c_uint32), ("sasoc_asocmaxrxt", c_uint16),
                ("sasoc_number_peer_destinations", c_uint16)]


class sctp_paddrparams(Structure):
    _fields_ = [("spp_address", sockaddr_storage), ("spp_assoc_id", c_uint32), ("spp_hbinterval", c_uint32),
                ("spp_pathmtu", c_uint32), ("spp_flags", c_uint32), ("spp_ipv6_flowlabel", c_uint32),
                ("spp_pathmaxrxt", c_uint16), ("spp_dscp", c_uint8)]


class linger(Structure):
    _fields_ = [("l_onoff", c_int), ("l_linger", c_int)]


UPCALL = CFUNCTYPE(None, c_void_p, c_void_p, c_int)


# --- library -------------------------------------------------------------------------
def _declare(lib: ctypes.CDLL) -> None:
    sig: dict[str, tuple[object, list[object]]] = {
        "usrsctp_init": (None, [c_uint16, c_void_p, c_void_p]),
        "usrsctp_finish": (c_int, []),
        "usrsctp_socket": (c_void_p, [c_int, c_int, c_int, c_void_p, c_void_p, c_uint32, c_void_p]),
        "usrsctp_setsockopt": (c_int, [c_void_p, c_int, c_int, c_void_p, c_uint32]),
        "usrsctp_getsockopt": (c_int, [c_void_p, c_int, c_int, c_void_p, POINTER(c_uint32)]),
        "usrsctp_bind": (c_int, [c_void_p, c_void_p, c_uint32]),
        "usrsctp_listen": (c_int, [c_void_p, c_int]),
        "usrsctp_connect": (c_int, [c_void_p, c_void_p, c_uint32]),
        "usrsctp_close": (None, [c_void_p]),
        "usrsctp_shutdown": (c_int, [c_void_p, c_int]),
        "usrsctp_set_non_blocking": (c_int, [c_void_p, c_int]),
        "usrsctp_set_upcall": (c_int, [c_void_p, UPCALL, c_void_p]),
        "usrsctp_get_events": (c_int, [c_void_p]),
        "usrsctp_sendv": (c_ssize_t, [c_void_p, c_char_p, c_size_t, c_void_p, c_int, c_void_p, c_uint32,
                                      c_uint, c_int]),
        "usrsctp_recvv": (c_ssize_t, [c_void_p, c_void_p, c_size_t, c_void_p, POINTER(c_uint32), c_void_p,
                                      POINTER(c_uint32), POINTER(c_uint), POINTER(c_int)]),
        "usrsctp_getpaddrs": (c_int, [c_void_p, c_uint32, POINTER(c_void_p)]),
        "usrsctp_freepaddrs": (None, [c_void_p]),
        "usrsctp_sysctl_set_sctp_no_csum_on_loopback": (c_int, [c_uint32]),
        "usrsctp_sysctl_set_sctp_sendspace": (c_int, [c_uint32]),
        "usrsctp_sysctl_set_sctp_recvspace": (c_int, [c_uint32]),
        "usrsctp_sysctl_set_sctp_enable_sack_immediately": (c_int, [c_uint32]),
        "usrsctp_sysctl_set_sctp_blackhole": (c_int, [c_uint32]),
    }
    for name, (restype, argtypes) in sig.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


def load_library() -> ctypes.CDLL:
    """Load and declare libusrsctp (once); raise :class:`SctpUnavailable` when missing."""
    global _lib
    with _lib_lock:
        if _lib is None:
            name = capabilities.find_usrsctp_library()
            if name is None:
                raise SctpUnavailable("libusrsctp not found: install Debian package libusrsctp2")
            lib = ctypes.CDLL(name, use_errno=True)
            _declare(lib)
            _lib = lib
        return _lib


def _oserror(what: str) -> OSError:
    code = ctypes.get_errno() or errno_mod.EIO
    return OSError(code, f"{what}: {os.strerror(code)}")


# --- upcall dispatch ---------------------------------------------------------------
_handlers: dict[int, Callable[[], None]] = {}
_keys = itertools.count(1)


_pinned_threads: set[int] = set()
_gil_ensure = ctypes.pythonapi.PyGILState_Ensure
_gil_ensure.restype = ctypes.c_int
_gil_ensure.argtypes = []


def _pin_thread_state() -> None:
    """Keep the calling usrsctp thread's Python thread state between upcalls.

    ctypes runs a callback on a thread Python did not create inside PyGILState_Ensure/Release; when
    the count drops to zero, Release deletes the thread state, so every upcall created and destroyed
    one (with the frame stack it maps and unmaps: a TLB shoot-down on every core, per received
    packet). One extra, never released PyGILState_Ensure per thread keeps the count above zero:
    later upcalls only take and drop the GIL. usrsctp_finish ends these threads with the stack.
    """
    ident = threading.get_ident()
    if ident not in _pinned_threads:
        _pinned_threads.add(ident)
        _gil_ensure()


def _dispatch(_sock: int | None, arg: int | None, _flags: int) -> None:
    _pin_thread_state()
    handler = _handlers.get(arg or 0)
    if handler is not None:
        try:
            handler()
        except Exception:  # never let an exception cross into C
            log.exception("usrsctp upcall handler failed")


_upcall = UPCALL(_dispatch)  # module lifetime: usrsctp may call it until the process ends


# --- the per-process stack ---------------------------------------------------------
@dataclass
class _StackState:
    udp_port: int
    sockets: set[UsrsctpSocket]


_stack: _StackState | None = None
_stack_lock = threading.Lock()
_atexit_registered = False


def initialised_udp_port() -> int | None:
    """UDP encapsulation port of this process's stack (0: none), or None before init."""
    return None if _stack is None else _stack.udp_port


def ensure_stack(udp_port: int) -> int:
    """Start this process's usrsctp stack (once) and return its UDP port (0: raw IP only).

    ``udp_port`` 0 asks for native SCTP on raw sockets only.  A stack started
    with a UDP port also handles raw SCTP (when privileged), so a later raw
    request is satisfied; a UDP request after a raw-only start is not, since
    usrsctp cannot be re-initialised while sockets exist.
    """
    global _stack, _atexit_registered
    lib = load_library()
    with _stack_lock:
        if _stack is not None:
            if udp_port and _stack.udp_port != udp_port:
                have = f"UDP port {_stack.udp_port}" if _stack.udp_port else "no UDP encapsulation"
                raise SctpUnavailable(f"usrsctp already running in this process with {have}; "
                                      f"cannot use UDP port {udp_port} too (one usrsctp stack per process)")
            return _stack.udp_port
        _check_namespace_free(udp_port)
        lib.usrsctp_init(udp_port, None, None)
        lib.usrsctp_sysctl_set_sctp_no_csum_on_loopback(0)  # valid CRC32c in captures on lo too
        lib.usrsctp_sysctl_set_sctp_sendspace(1 << 20)
        lib.usrsctp_sysctl_set_sctp_recvspace(1 << 20)
        lib.usrsctp_sysctl_set_sctp_enable_sack_immediately(1)
        # blackhole stays 0: out-of-the-blue packets get an ABORT (RFC 4960 section 8.4), which lets a
        # peer that lost its association (process restarted) learn it at once.
        _stack = _StackState(udp_port, set())
        if not _atexit_registered:
            atexit.register(shutdown_stack)
            _atexit_registered = True
        log.info("usrsctp stack started (%s)", f"UDP encapsulation port {udp_port}" if udp_port
                 else "native SCTP on raw sockets")
        return udp_port


def _check_namespace_free(udp_port: int) -> None:
    """Refuse to start a second SCTP stack in this network namespace (see the module docstring)."""
    if udp_port and not capabilities.udp_port_free(udp_port):
        raise SctpUnavailable(f"UDP port {udp_port} is already in use in this network namespace (another "
                              "usrsctp process?); run one usrsctp process per namespace or choose another "
                              "SctpOptions.udp_local_port")
    if capabilities.raw_sctp_socket_available():  # this stack will open raw SCTP sockets too
        inodes = capabilities.raw_sctp_socket_inodes()
        if inodes:
            pids = capabilities.pids_of_socket_inodes(inodes)
            raise SctpUnavailable(f"another SCTP stack holds raw SCTP sockets in this network namespace "
                                  f"(pid {', '.join(map(str, pids)) or 'unknown'}): both would see, and ABORT, "
                                  "each other's associations; run one usrsctp process per namespace")


def shutdown_stack(timeout: float = 3.0) -> bool:
    """Abort every open usrsctp socket and stop the stack (usrsctp_finish). True on success."""
    global _stack
    with _stack_lock:
        if _stack is None:
            return True
        lib = load_library()
        for sock in list(_stack.sockets):
            sock.close(abort=True)
        deadline = time.monotonic() + timeout
        while lib.usrsctp_finish() != 0:
            if time.monotonic() > deadline:
                log.warning("usrsctp_finish did not complete within %.1f s", timeout)
                return False
            time.sleep(0.05)
        _stack = None
        _pinned_threads.clear()  # the stack's threads are gone; thread ids may be reused
        return True


# --- addresses ---------------------------------------------------------------------
def make_sockaddr(host: str, port: int) -> sockaddr_in | sockaddr_in6:
    """A sockaddr for an IP literal (port in host order)."""
    ip = ipaddress.ip_address(host)
    if ip.version == 4:
        sa4 = sockaddr_in()
        sa4.sin_family = AF_INET
        sa4.sin_port = socket.htons(port)
        sa4.sin_addr[:] = list(ip.packed)
        return sa4
    sa6 = sockaddr_in6()
    sa6.sin6_family = AF_INET6
    sa6.sin6_port = socket.htons(port)
    sa6.sin6_addr[:] = list(ip.packed)
    return sa6


def parse_sockaddr(address: int) -> tuple[tuple[str, int], int]:
    """(host, port) and byte size of the sockaddr at ``address``."""
    family = c_uint16.from_address(address).value
    if family == AF_INET:
        sa4 = sockaddr_in.from_address(address)
        return (str(ipaddress.IPv4Address(bytes(sa4.sin_addr))), socket.ntohs(sa4.sin_port)), sizeof(sockaddr_in)
    if family == AF_INET6:
        sa6 = sockaddr_in6.from_address(address)
        host = str(ipaddress.IPv6Address(bytes(sa6.sin6_addr)))
        return (host, socket.ntohs(sa6.sin6_port)), sizeof(sockaddr_in6)
    raise ValueError(f"unexpected address family {family}")


def make_sndinfo(stream: int, ppid: int, *, assoc_id: int = 0, flags: int = 0) -> sctp_sndinfo:
    """``struct sctp_sndinfo`` for ``SCTP_SENDV_SNDINFO`` (RFC 6458 section 5.3.4); PPID in network order."""
    return sctp_sndinfo(stream, flags, socket.htonl(ppid), 0, assoc_id)


def rcvinfo_ppid(info: sctp_rcvinfo) -> int:
    """Host-order PPID from ``struct sctp_rcvinfo`` (RFC 6458 section 5.3.5)."""
    return socket.ntohl(info.rcv_ppid)


@dataclass(frozen=True)
class Received:
    """One ``usrsctp_recvv`` result."""

    data: bytes
    flags: int
    stream: int = 0
    ppid: int = 0
    assoc_id: int = 0
    eof: bool = False

    @property
    def notification(self) -> bool:
        return bool(self.flags & MSG_NOTIFICATION)

    @property
    def eor(self) -> bool:
        return bool(self.flags & MSG_EOR)


# --- sockets -------------------------------------------------------------------------
class UsrsctpSocket:
    """A usrsctp socket handle.  Call from one thread (the event loop's)."""

    def __init__(self, family: int, type_: int) -> None:
        if _stack is None:
            raise SctpUnavailable("usrsctp stack not started (call ensure_stack first)")
        self._lib = load_library()
        ptr = self._lib.usrsctp_socket(family, type_, IPPROTO_SCTP, None, None, 0, None)
        if not ptr:
            raise _oserror("usrsctp_socket")
        self._ptr: int | None = ptr
        self.family = family
        self.type = type_
        self._key = 0
        self._buf = ctypes.create_string_buffer(RECV_BUFFER)
        self._from = sockaddr_storage()
        self._fromlen = c_uint32()
        self._info = sctp_rcvinfo()
        self._infolen = c_uint32()
        self._infotype = c_uint()
        self._flags = c_int()
        _stack.sockets.add(self)

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def _p(self) -> int:
        if self._ptr is None:
            raise OSError(errno_mod.EBADF, "usrsctp socket is closed")
        return self._ptr

    def setsockopt(self, option: int, value: ctypes._CData, level: int = IPPROTO_SCTP) -> None:
        if self._lib.usrsctp_setsockopt(self._p(), level, option, byref(value), sizeof(value)) != 0:
            raise _oserror(f"usrsctp_setsockopt({option:#x})")

    def getsockopt(self, option: int, value: ctypes._CData, level: int = IPPROTO_SCTP) -> None:
        length = c_uint32(sizeof(value))
        if self._lib.usrsctp_getsockopt(self._p(), level, option, byref(value), byref(length)) != 0:
            raise _oserror(f"usrsctp_getsockopt({option:#x})")

    def set_int(self, option: int, value: int) -> None:
        self.setsockopt(option, c_int(value))

    def subscribe(self, *event_types: int) -> None:
        for et in event_types:
            self.setsockopt(SCTP_EVENT, sctp_event(SCTP_FUTURE_ASSOC, et, 1))

    def bind(self, host: str, port: int) -> None:
        sa = make_sockaddr(host, port)
        if self._lib.usrsctp_bind(self._p(), byref(sa), sizeof(sa)) != 0:
            raise _oserror(f"usrsctp_bind({host}:{port})")

    def listen(self, backlog: int = 16) -> None:
        if self._lib.usrsctp_listen(self._p(), backlog) != 0:
            raise _oserror("usrsctp_listen")

    def connect(self, host: str, port: int) -> None:
        """Start connecting; on a non-blocking socket EINPROGRESS is not an error."""
        sa = make_sockaddr(host, port)
        if self._lib.usrsctp_connect(self._p(), byref(sa), sizeof(sa)) != 0:
            code = ctypes.get_errno()
            if code not in (errno_mod.EINPROGRESS, errno_mod.EALREADY):
                raise OSError(code, f"usrsctp_connect({host}:{port}): {os.strerror(code)}")

    def set_nonblocking(self, on: bool = True) -> None:
        if self._lib.usrsctp_set_non_blocking(self._p(), 1 if on else 0) != 0:
            raise _oserror("usrsctp_set_non_blocking")

    def set_upcall(self, handler: Callable[[], None]) -> None:
        """Call ``handler()`` (from a usrsctp thread) whenever the socket may be readable/writable."""
        if not self._key:
            self._key = next(_keys)
        _handlers[self._key] = handler
        if self._lib.usrsctp_set_upcall(self._p(), _upcall, c_void_p(self._key)) != 0:
            raise _oserror("usrsctp_set_upcall")

    def events(self) -> int:
        if self._ptr is None:
            return 0
        return max(self._lib.usrsctp_get_events(self._ptr), 0)

    def set_remote_udp_encaps_port(self, port: int) -> None:
        enc = sctp_udpencaps()
        enc.sue_address.ss_family = self.family
        enc.sue_assoc_id = SCTP_FUTURE_ASSOC
        enc.sue_port = socket.htons(port)
        self.setsockopt(SCTP_REMOTE_UDP_ENCAPS_PORT, enc)

    def remote_udp_encaps_port(self, assoc_id: int, peer: tuple[str, int] | None = None) -> int:
        """UDP encapsulation port in use towards ``peer`` (0: native SCTP)."""
        enc = sctp_udpencaps()
        enc.sue_assoc_id = assoc_id
        if peer is not None:
            sa = make_sockaddr(*peer)
            ctypes.memmove(byref(enc.sue_address), byref(sa), sizeof(sa))
        self.getsockopt(SCTP_REMOTE_UDP_ENCAPS_PORT, enc)
        return socket.ntohs(enc.sue_port)

    def peer_addresses(self, assoc_id: int = 0) -> list[tuple[str, int]]:
        addrs = c_void_p()
        n = self._lib.usrsctp_getpaddrs(self._p(), assoc_id, byref(addrs))
        if n < 0:
            raise _oserror("usrsctp_getpaddrs")
        result = []
        try:
            pos = addrs.value or 0
            for _ in range(n):
                addr, size = parse_sockaddr(pos)
                result.append(addr)
                pos += size
        finally:
            if n > 0:
                self._lib.usrsctp_freepaddrs(addrs)
        return result

    def sendv(self, data: bytes, *, stream: int, ppid: int, assoc_id: int = 0, flags: int = 0) -> int:
        """Send one message; raises BlockingIOError when the send buffer lacks room."""
        info = make_sndinfo(stream, ppid, assoc_id=assoc_id, flags=flags)
        n = self._lib.usrsctp_sendv(self._p(), data, len(data), None, 0, byref(info), sizeof(info),
                                    SCTP_SENDV_SNDINFO, 0)
        if n < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"usrsctp_sendv: {os.strerror(code)}")
        return n

    def recvv(self) -> Received | None:
        """Read once; None when nothing is ready (non-blocking), ``eof`` at end of stream."""
        self._fromlen.value = sizeof(self._from)
        self._infolen.value = sizeof(self._info)
        self._infotype.value = 0
        self._flags.value = 0
        n = self._lib.usrsctp_recvv(self._p(), self._buf, RECV_BUFFER, byref(self._from), byref(self._fromlen),
                                    byref(self._info), byref(self._infolen), byref(self._infotype),
                                    byref(self._flags))
        if n < 0:
            code = ctypes.get_errno()
            if code in (errno_mod.EAGAIN, errno_mod.EWOULDBLOCK):
                return None
            raise OSError(code, f"usrsctp_recvv: {os.strerror(code)}")
        if n == 0:
            return Received(b"", self._flags.value, eof=True)
        data = ctypes.string_at(self._buf, n)
        flags = self._flags.value
        if self._infotype.value == SCTP_RECVV_RCVINFO and not flags & MSG_NOTIFICATION:
            info = self._info
            return Received(data, flags, info.rcv_sid, rcvinfo_ppid(info), info.rcv_assoc_id)
        return Received(data, flags)

    def set_abortive_close(self) -> None:
        """SO_LINGER 0: :meth:`close` sends ABORT instead of SHUTDOWN."""
        self.setsockopt(SO_LINGER, linger(1, 0), level=SOL_SOCKET)

    def shutdown_write(self) -> None:
        """Graceful SHUTDOWN of a one-to-one socket (RFC 4960 section 9.2), socket stays open."""
        if self._lib.usrsctp_shutdown(self._p(), socket.SHUT_WR) != 0:
            raise _oserror("usrsctp_shutdown")

    def close(self, *, abort: bool = False) -> None:
        if self._ptr is None:
            return
        if self._key:
            _handlers.pop(self._key, None)
        if abort:
            try:
                self.set_abortive_close()
            except OSError:
                pass
        ptr, self._ptr = self._ptr, None
        self._lib.usrsctp_close(ptr)
        if _stack is not None:
            _stack.sockets.discard(self)
