"""A TUN device per PDU session inside the UE's node, so ``nrfemto exec ue1 -- ping <DN address>`` works.

The device (``ue<N>s<PSI>``: UE number N in its process, PDU session id) carries the PDU
address as a /32 (TS 23.501 5.8.2.2: the UE's IPv4 address from the SMF) and is not persistent:
closing it (or the process dying) deletes the device and its routes. Routing of the configured
DN prefixes through it:

* ``main`` - routes in the main table (one UE per node: plain ``ping <dn>`` works);
* ``policy`` - several UEs per node: the routes go into a table of their own (``table``) selected
  by two rules, ``from <PDU address>`` and ``oif <device>``, so ``ping -I ue5s1 <dn>`` and
  ``ping -I <PDU address> <dn>`` use that UE's session; the rules are deleted on close (rules,
  unlike routes, do not disappear with the device);
* ``none`` - the device only.

The device is created with :class:`testbed.core.upf.tun.Tun` (``/dev/net/tun``, IFF_TUN |
IFF_NO_PI, pyroute2). Needs CAP_NET_ADMIN in the node's network namespace; the calls block, so an
event loop runs them in a thread.
"""

from __future__ import annotations

import contextlib
import ipaddress

from testbed.core.upf.tun import DEFAULT_MTU, Tun, check_name

__all__ = ["SessionTun", "tun_name"]

RULE_PRIORITY = 1000


def tun_name(ue_number: int, psi: int, prefix: str = "ue") -> str:
    """``<prefix><N>s<PSI>``, e.g. ``ue1s1`` (at most 15 characters: a Linux interface name)."""
    return check_name(f"{prefix}{ue_number}s{psi}")


class SessionTun:
    """The user plane of one PDU session: TUN device + routes (see the module docstring)."""

    def __init__(self, name: str, ipv4: str, *, dn_routes: list[str] | tuple[str, ...] = ("0.0.0.0/1", "128.0.0.0/1"),
                 routing: str = "main", table: int | None = None, mtu: int = DEFAULT_MTU) -> None:
        if routing not in ("main", "policy", "none"):
            raise ValueError(f"routing must be main, policy or none, got {routing!r}")
        if routing == "policy" and table is None:
            raise ValueError("policy routing needs a table number")
        self.ipv4 = str(ipaddress.IPv4Address(ipv4))
        self.routes = [str(ipaddress.IPv4Network(p)) for p in dn_routes]
        self.routing = routing
        self.table = table
        self.tun = Tun(name, f"{self.ipv4}/32", mtu)
        self._rules: list[dict] = []

    @property
    def name(self) -> str:
        return self.tun.name

    @property
    def fd(self) -> int:
        return self.tun.fd

    def open(self) -> SessionTun:
        """Create the device and its routes (blocking)."""
        self.tun.open()
        try:
            self._route()
        except BaseException:
            self.close()
            raise
        return self

    def _route(self) -> None:
        if self.routing == "none" or not self.routes:
            return
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=self.name)[0]
            extra = {"table": self.table} if self.routing == "policy" else {}
            for prefix in self.routes:
                net = ipaddress.IPv4Network(prefix)
                ipr.route("replace", dst=str(net.network_address), dst_len=net.prefixlen, oif=idx,
                          prefsrc=self.ipv4, **extra)
            if self.routing == "policy":
                for rule in ({"src": self.ipv4, "src_len": 32}, {"oifname": self.name}):
                    spec = {**rule, "table": self.table, "priority": RULE_PRIORITY}
                    ipr.rule("add", **spec)
                    self._rules.append(spec)

    def read(self) -> bytes | None:
        return self.tun.read()

    def write(self, packet: bytes) -> bool:
        return self.tun.write(packet)

    def close(self) -> None:
        """Delete the policy rules and the device (its routes go with it)."""
        if self._rules:
            from pyroute2 import IPRoute

            with IPRoute() as ipr:
                for spec in self._rules:
                    with contextlib.suppress(Exception):
                        ipr.rule("del", **spec)
            self._rules.clear()
        self.tun.close()
