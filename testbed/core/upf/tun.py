"""The UPF's N6 TUN device: ``/dev/net/tun`` with IFF_TUN | IFF_NO_PI, configured with pyroute2.

The device is not persistent: closing the file descriptor (or the process exiting) deletes it,
so a killed UPF leaves nothing behind. Needs CAP_NET_ADMIN (root in the node's namespace).
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import struct

from testbed.errors import NeedsRoot

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
DEFAULT_MTU = 1400
MAX_PACKET = 65535


def check_name(name: str) -> str:
    """A Linux interface name: 1..15 characters, no '/', ':' or whitespace (ValueError otherwise)."""
    if (not isinstance(name, str) or not 1 <= len(name.encode()) <= 15 or name in (".", "..")
            or any(c in name for c in "/: \t\n")):
        raise ValueError(f"TUN name must be a Linux interface name of 1..15 characters, got {name!r}")
    return name


class Tun:
    """An open TUN device. ``fd`` is non-blocking; use :meth:`read` / :meth:`write` from an event loop."""

    def __init__(self, name: str, address: str | None = "10.45.0.1/16", mtu: int = DEFAULT_MTU):
        self.name = check_name(name)
        self.address = address
        self.mtu = mtu
        if address is not None:
            ipaddress.IPv4Interface(address)  # ValueError naming the bad address
        self.fd = -1

    def open(self) -> Tun:
        """Create and configure the device (blocking; call it from a thread inside an event loop)."""
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except PermissionError as e:
            raise NeedsRoot(f"cannot open /dev/net/tun: {e}") from None
        try:
            ifr = fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", self.name.encode(), IFF_TUN | IFF_NO_PI))
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EPERM, errno.EACCES):
                raise NeedsRoot(f"TUNSETIFF {self.name}: {e} (needs CAP_NET_ADMIN)") from None
            raise
        self.name = ifr[:16].rstrip(b"\0").decode()
        self.fd = fd
        try:
            self._configure()
        except BaseException:
            self.close()
            raise
        return self

    def _configure(self) -> None:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=self.name)[0]
            ipr.link("set", index=idx, mtu=self.mtu)
            if self.address is not None:
                iface = ipaddress.IPv4Interface(self.address)
                ipr.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
            ipr.link("set", index=idx, state="up")

    def read(self) -> bytes | None:
        """One packet, or None when nothing is pending."""
        try:
            return os.read(self.fd, MAX_PACKET)
        except BlockingIOError:
            return None

    def write(self, packet: bytes) -> bool:
        """Write one IP packet; False if the kernel refused it (full queue, invalid packet)."""
        try:
            os.write(self.fd, packet)
            return True
        except (BlockingIOError, OSError):
            return False

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # a non-persistent TUN disappears with its last descriptor
            self.fd = -1

    def __enter__(self) -> Tun:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def enable_ip_forwarding(path: str = "/proc/sys/net/ipv4/ip_forward") -> bool:
    """Turn on IPv4 forwarding (per network namespace); False if not permitted."""
    try:
        with open(path, "w") as f:
            f.write("1\n")
        return True
    except OSError:
        return False
