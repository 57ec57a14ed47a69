"""Process tuning shared by the long-running components (core, UPF, femto, UE simulator).

Found by ``benchmarks/ran_registration.py`` (docs/benchmarks.md, issue 5):

* **UDP receive buffers.** The default ``net.core.rmem_default`` (~208 KiB) holds about
  two thousand radio-link heartbeats; a femto serving thousands of UEs, or a process that
  pauses for a few hundred milliseconds, overflows it and the kernel drops datagrams
  (``/proc/net/snmp`` ``RcvbufErrors``), which the UEs see as radio link failures.
  :func:`enlarge_receive_buffer` asks for a larger buffer: ``SO_RCVBUFFORCE`` when the
  process may (root / CAP_NET_ADMIN, the case in the topology's nodes), else ``SO_RCVBUF``
  (capped by ``net.core.rmem_max``).
* **Garbage-collector pauses.** A full (generation 2) collection walks every tracked object;
  with pycrate templates, the NGAP/NAS codecs and thousands of UE contexts that took
  150-750 ms, long enough to delay heartbeats and NAS timers. :func:`settle_heap` runs one
  collection after start-up and moves the survivors (modules, codec templates, loaded
  configuration) to the permanent generation (:func:`gc.freeze`), so later collections only
  walk what was created since, and raises the generation-0 threshold so young collections
  run less often. Nothing is disabled: reference cycles are still collected.
  :class:`GcPauses` measures what is left (count and longest pause per generation) for a
  process's ``status`` and for the benchmark.
"""

from __future__ import annotations

import gc
import socket
import time
from dataclasses import dataclass, field
from typing import Any

#: Receive buffer asked for the air and N3/N4 sockets (bytes). The kernel doubles the value
#: for its bookkeeping and reports the doubled size.
RECEIVE_BUFFER = 8 * 1024 * 1024

#: Generation thresholds after :func:`settle_heap` (Python's defaults are 700, 10, 10).
GC_THRESHOLDS = (20_000, 20, 20)

_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux value when Python lacks the name

_frozen: int | None = None  # objects frozen by settle_heap


def _socket_of(obj: Any) -> socket.socket | None:
    if isinstance(obj, socket.socket):
        return obj
    get = getattr(obj, "get_extra_info", None)  # an asyncio transport
    if get is not None:
        sock = get("socket")
        if sock is not None:
            return sock
    return None


def enlarge_receive_buffer(obj: Any, size: int = RECEIVE_BUFFER) -> int:
    """Set the receive buffer of a socket or asyncio transport to ``size``; return the result.

    The result is what the kernel reports (``SO_RCVBUF``, i.e. twice the granted size on
    Linux). 0 if ``obj`` has no socket. Never raises for a refused size: the socket keeps
    its previous buffer and the caller can report the returned figure.
    """
    sock = _socket_of(obj)
    if sock is None:
        return 0
    for option in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, size)
            break
        except OSError:
            continue
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def settle_heap(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> int:
    """Collect once, freeze the survivors into the permanent generation, raise the thresholds.

    Call after start-up (configuration loaded, codecs imported and warmed, sockets open).
    Returns the number of objects frozen (:func:`gc.get_freeze_count`).
    """
    global _frozen
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    _frozen = gc.get_freeze_count()
    return _frozen


@dataclass
class GcPauses:
    """Counts collections and their pause per generation (installed in :data:`gc.callbacks`)."""

    count: list[int] = field(default_factory=lambda: [0, 0, 0])
    longest_ms: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    total_ms: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    _started: float = 0.0
    _installed: bool = False

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        gen = int(info.get("generation", 2))
        gen = min(max(gen, 0), 2)
        ms = (time.perf_counter() - self._started) * 1000.0
        self.count[gen] += 1
        self.total_ms[gen] += ms
        if ms > self.longest_ms[gen]:
            self.longest_ms[gen] = ms

    def install(self) -> GcPauses:
        if not self._installed:
            gc.callbacks.append(self._callback)
            self._installed = True
        return self

    def uninstall(self) -> None:
        if self._installed:
            gc.callbacks.remove(self._callback)
            self._installed = False

    def snapshot(self) -> dict[str, Any]:
        """JSON-friendly figures for a ``status`` answer."""
        return {
            "collections": list(self.count),
            "longest_pause_ms": [round(v, 2) for v in self.longest_ms],
            "total_pause_ms": [round(v, 1) for v in self.total_ms],
            # gc.get_freeze_count() walks the whole permanent generation (~30 ms once settled), too
            # slow for a status polled every second: the count settle_heap froze (nothing else freezes)
            "frozen_objects": _frozen if _frozen is not None else gc.get_freeze_count(),
            "thresholds": list(gc.get_threshold()),
        }
