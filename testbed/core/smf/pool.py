"""UE IPv4 address pool of the SMF (TS 23.501 5.8.2.2: the SMF allocates the UE IP address).

The first host of the network is reserved for the UPF's N6 TUN gateway (10.45.0.1 in the
default 10.45.0.0/16); ``exclude`` removes more addresses. Allocation hands out the lowest
free address after the most recently allocated one (round robin), so that an address just
released is not immediately given to another UE.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from testbed.errors import TestbedError

DEFAULT_UE_POOL = "10.45.0.0/16"


class PoolExhausted(TestbedError):
    """No free address left in the pool."""


class Ipv4Pool:
    """IPv4 addresses of ``network`` minus its network/broadcast addresses, its first host
    (the gateway) and ``exclude``.

    ``allocate()`` -> ``str``; ``release(addr)`` returns an allocated address (ValueError if it
    is not one). Raises ``ValueError`` on a bad network or excluded address (naming it).
    """

    def __init__(self, network: str = DEFAULT_UE_POOL, exclude: Iterable[str] = ()):
        try:
            net = ipaddress.IPv4Network(network, strict=True)
        except (ValueError, TypeError) as e:
            raise ValueError(f"UE pool {network!r} is not an IPv4 network: {e}") from None
        if net.num_addresses < 4:
            raise ValueError(f"UE pool {network} is too small (needs at least a /30)")
        self.network = net
        self.gateway = str(net.network_address + 1)
        self._first = int(net.network_address) + 2
        self._last = int(net.broadcast_address) - 1
        self._excluded: set[int] = set()
        for a in exclude:
            try:
                ip = ipaddress.IPv4Address(a)
            except ValueError:
                raise ValueError(f"excluded address {a!r} is not an IPv4 address") from None
            self._excluded.add(int(ip))
        self._used: set[int] = set()
        self._next = self._first
        self.size = self._last - self._first + 1 - sum(1 for i in self._excluded if self._first <= i <= self._last)

    @property
    def in_use(self) -> int:
        return len(self._used)

    @property
    def free(self) -> int:
        return self.size - len(self._used)

    def __contains__(self, addr: object) -> bool:
        try:
            return int(ipaddress.IPv4Address(addr)) in self._used  # type: ignore[arg-type]
        except ValueError:
            return False

    def allocate(self) -> str:
        """The next free address; raises :class:`PoolExhausted` when none is left."""
        if len(self._used) >= self.size:
            raise PoolExhausted(f"UE address pool {self.network} exhausted ({self.size} addresses in use)")
        i = self._next
        span = self._last - self._first + 1
        for _ in range(span):
            if i > self._last:
                i = self._first
            if i not in self._used and i not in self._excluded:
                self._used.add(i)
                self._next = i + 1
                return str(ipaddress.IPv4Address(i))
            i += 1
        raise PoolExhausted(f"UE address pool {self.network} exhausted")

    def reserve(self, addr: str) -> None:
        """Mark ``addr`` as used (e.g. a static address); ValueError if outside the pool or taken."""
        i = self._index(addr)
        if i in self._used:
            raise ValueError(f"{addr} is already allocated")
        self._used.add(i)

    def release(self, addr: str) -> None:
        """Return ``addr`` to the pool; ValueError if it was not allocated."""
        i = self._index(addr)
        if i not in self._used:
            raise ValueError(f"{addr} is not allocated from {self.network}")
        self._used.discard(i)

    def _index(self, addr: str) -> int:
        try:
            i = int(ipaddress.IPv4Address(addr))
        except ValueError:
            raise ValueError(f"{addr!r} is not an IPv4 address") from None
        if not self._first <= i <= self._last or i in self._excluded:
            raise ValueError(f"{addr} is not an allocatable address of {self.network}")
        return i
