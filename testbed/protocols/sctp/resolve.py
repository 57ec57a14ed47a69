"""Host name to IP literal, for the SCTP transports."""

from __future__ import annotations

import asyncio
import ipaddress
import socket


async def resolve_host(host: str) -> str:
    """``host`` if it is an IP literal, else its first IPv4/IPv6 address."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"cannot resolve {host!r}")
    return str(infos[0][4][0])
