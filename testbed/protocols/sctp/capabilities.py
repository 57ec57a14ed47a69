"""What SCTP transports this process can use.

- kernel SCTP: ``socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP)`` succeeds (the
  call also auto-loads the ``sctp`` module where it is built as a module);
- usrsctp on raw IP: a raw ``IPPROTO_SCTP`` socket can be opened, i.e. the
  process has CAP_NET_RAW in its network namespace (usrsctp_init(0, ...) opens
  such sockets and sends hand-built IP packets);
- usrsctp over UDP (RFC 6951): only needs ``libusrsctp.so.2``.

Probes are cheap and uncached: raw sockets belong to the network namespace, so
a process that moves (setns) sees its new namespace's answer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import socket
from dataclasses import asdict, dataclass

IPPROTO_SCTP = 132
CAP_NET_RAW = 13
USRSCTP_SONAMES = ("libusrsctp.so.2", "libusrsctp.so.1", "libusrsctp.so")


def kernel_sctp_available() -> bool:
    """True when the kernel can create SCTP sockets."""
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_SCTP)
    except OSError as e:
        if e.errno in (errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT, errno.EAFNOSUPPORT, errno.EPERM,
                       errno.EACCES, errno.EINVAL):
            return False
        raise
    sock.close()
    return True


def raw_sctp_socket_available() -> bool:
    """True when a raw IPPROTO_SCTP socket can be opened here (CAP_NET_RAW in this netns)."""
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_SCTP)
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES, errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT):
            return False
        raise
    sock.close()
    return True


def raw_sctp_socket_inodes(proc_net: str = "/proc/net") -> list[int]:
    """Inodes of the raw IPPROTO_SCTP sockets open in this network namespace (``/proc/net/raw``, ``raw6``).

    usrsctp in raw mode holds such sockets; a second SCTP stack in the same
    namespace would see, and answer, the first one's packets.
    """
    inodes = []
    for name in ("raw", "raw6"):
        try:
            with open(f"{proc_net}/{name}") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[1].rsplit(":", 1)[-1].upper() == f"{IPPROTO_SCTP:04X}":
                inodes.append(int(fields[9]))
    return inodes


def pids_of_socket_inodes(inodes: list[int]) -> list[int]:
    """Processes holding any of the socket ``inodes`` (best effort: needs permission to read their fds)."""
    wanted = {f"socket:[{i}]" for i in inodes}
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in wanted for fd in fds):
                pids.append(int(pid))
        except OSError:
            continue
    return sorted(pids)


def udp_port_free(port: int) -> bool:
    """True when UDP ``port`` can be bound on 0.0.0.0 in this network namespace."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("0.0.0.0", port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            return False
        raise
    finally:
        sock.close()
    return True


def has_cap_net_raw() -> bool:
    """CAP_NET_RAW in the effective capability set (from /proc/self/status)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_RAW & 1)
    except OSError:
        pass
    return False


def find_usrsctp_library() -> str | None:
    """The loadable soname/path of libusrsctp, or None."""
    candidates = list(USRSCTP_SONAMES)
    found = ctypes.util.find_library("usrsctp")
    if found and found not in candidates:
        candidates.append(found)
    for name in candidates:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return name
    return None


def usrsctp_available() -> bool:
    return find_usrsctp_library() is not None


@dataclass(frozen=True)
class Capabilities:
    kernel_sctp: bool
    raw_sctp_socket: bool
    usrsctp: bool
    usrsctp_udp_port: int | None = None  # this process's usrsctp stack: None = not initialised, 0 = no UDP

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def probe() -> Capabilities:
    """Probe everything (and report this process's usrsctp stack state, if any)."""
    from testbed.protocols.sctp import libusrsctp  # local: avoid loading ctypes bits needlessly

    return Capabilities(
        kernel_sctp=kernel_sctp_available(),
        raw_sctp_socket=raw_sctp_socket_available(),
        usrsctp=usrsctp_available(),
        usrsctp_udp_port=libusrsctp.initialised_udp_port(),
    )
