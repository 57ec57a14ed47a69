"""One timer structure for thousands of UEs (sans-I/O): a heap with lazy cancellation.

Every UE timer (heartbeats, RLS acknowledgements, T300/T302, the NAS timers T35xx) is an entry
``key -> deadline`` here instead of an event loop handle of its own; the runner wakes up at
:meth:`TimerWheel.next_deadline` rounded up to its granularity and calls :meth:`TimerWheel.pop_due`.
Restarting a key replaces its deadline (the old heap entry becomes stale and is skipped); the heap
is compacted when stale entries dominate.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable

__all__ = ["TimerWheel"]


class TimerWheel:
    """``start(key, deadline)``, ``stop(key)``, ``pop_due(now)``; keys are any hashable."""

    __slots__ = ("_heap", "_live", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Hashable]] = []
        self._live: dict[Hashable, int] = {}  # key -> sequence number of its current entry
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._live

    def start(self, key: Hashable, deadline: float) -> None:
        """(Re)start ``key`` to fire at ``deadline``."""
        seq = next(self._seq)
        self._live[key] = seq
        heapq.heappush(self._heap, (deadline, seq, key))
        if len(self._heap) > 64 and len(self._heap) > 3 * len(self._live):
            self._compact()

    def stop(self, key: Hashable) -> bool:
        """Cancel ``key``; False if it was not running."""
        return self._live.pop(key, None) is not None

    def next_deadline(self) -> float | None:
        heap, live = self._heap, self._live
        while heap:
            deadline, seq, key = heap[0]
            if live.get(key) == seq:
                return deadline
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float, limit: int | None = None) -> list[Hashable]:
        """Keys whose deadline is <= ``now`` (in deadline order), removed from the wheel."""
        out = []
        heap, live = self._heap, self._live
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            if live.get(key) == seq:
                del live[key]
                out.append(key)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def _compact(self) -> None:
        self._heap = [e for e in self._heap if self._live.get(e[2]) == e[1]]
        heapq.heapify(self._heap)
