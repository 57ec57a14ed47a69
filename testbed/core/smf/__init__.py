"""SMF of the built-in 5G core: PDU sessions (TS 23.502 4.3.2, 4.3.4; TS 24.501 6.4) over PFCP N4.

The AMF (core runner) uses :class:`Smf` with :class:`SmContextCreate` / :class:`SmReply`; N4 is a
:class:`N4Peer`: :class:`UdpN4Client` (PFCP over UDP to the UPF process) or :class:`LocalN4`
(an in-process :class:`testbed.core.upf.Upf`).

Exports are resolved lazily, so that the UPF process can import :mod:`.pfcp` without loading the
NAS/NGAP codecs the SMF needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "LocalN4": ".n4", "N4Error": ".n4", "N4Peer": ".n4", "N4Timeout": ".n4", "UdpN4Client": ".n4",
    "DEFAULT_UE_POOL": ".pool", "Ipv4Pool": ".pool", "PoolExhausted": ".pool",
    "Smf": ".service",
    "SessionInfo": ".session", "SmContextCreate": ".session", "SmfConfig": ".session", "SmReply": ".session",
}

__all__ = [
    "DEFAULT_UE_POOL",
    "Ipv4Pool",
    "LocalN4",
    "N4Error",
    "N4Peer",
    "N4Timeout",
    "PoolExhausted",
    "SessionInfo",
    "SmContextCreate",
    "SmReply",
    "Smf",
    "SmfConfig",
    "UdpN4Client",
]

if TYPE_CHECKING:
    from .n4 import LocalN4, N4Error, N4Peer, N4Timeout, UdpN4Client
    from .pool import DEFAULT_UE_POOL, Ipv4Pool, PoolExhausted
    from .service import Smf
    from .session import SessionInfo, SmContextCreate, SmfConfig, SmReply


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
