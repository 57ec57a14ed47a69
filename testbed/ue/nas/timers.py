"""UE-side NAS timers (TS 24.501 10.2, table 10.2.2 and 10.3.1) and their bookkeeping.

Timer ids are the timer names, with ":<PSI>" for per-session 5GSM timers (``"T3580:1"``). The
runner keeps one timer per id per UE; the NAS layer only emits :class:`StartTimer` /
:class:`StopTimer` and reacts to ``timer_expired``.
"""

from __future__ import annotations

from .outputs import StartTimer, StopTimer, UeOutput

__all__ = ["DEFAULTS", "MAX_ATTEMPTS", "MAX_RETRANSMISSIONS", "Timers"]

#: Default durations in seconds (TS 24.501 table 10.2.2 for 5GMM, table 10.3.1 for 5GSM).
DEFAULTS: dict[str, float] = {
    "T3502": 720.0,   # registration retry after 5 failed attempts (12 min)
    "T3510": 15.0,    # REGISTRATION REQUEST sent
    "T3511": 10.0,    # retry after a failed attempt
    "T3512": 3240.0,  # periodic registration (54 min; the network's value in REGISTRATION ACCEPT wins)
    "T3517": 15.0,    # SERVICE REQUEST sent
    "T3520": 15.0,    # AUTHENTICATION FAILURE sent (network considered failing on expiry)
    "T3521": 15.0,    # DEREGISTRATION REQUEST sent
    "T3346": 900.0,   # congestion back-off when the network gives none
    "T3580": 16.0,    # PDU SESSION ESTABLISHMENT REQUEST sent
    "T3582": 16.0,    # PDU SESSION RELEASE REQUEST sent
}
#: Retransmissions before the fifth expiry aborts a procedure (T3521, T3580, T3582).
MAX_RETRANSMISSIONS = 4
#: The registration attempt counter's limit (TS 24.501 5.5.1.2.7: T3502 instead of T3511 at 5).
MAX_ATTEMPTS = 5


class Timers:
    """Which timers run (for ``state`` views and to ignore stale expiries)."""

    __slots__ = ("durations", "running")

    def __init__(self, overrides: dict[str, float] | None = None) -> None:
        self.durations = dict(DEFAULTS)
        if overrides:
            self.durations.update(overrides)
        self.running: set[str] = set()

    def seconds(self, timer_id: str) -> float:
        return self.durations[timer_id.partition(":")[0]]

    def start(self, out: list[UeOutput], timer_id: str, seconds: float | None = None) -> None:
        self.running.add(timer_id)
        out.append(StartTimer(timer_id, self.seconds(timer_id) if seconds is None else seconds))

    def stop(self, out: list[UeOutput], timer_id: str) -> None:
        if timer_id in self.running:
            self.running.discard(timer_id)
            out.append(StopTimer(timer_id))

    def stop_all(self, out: list[UeOutput], prefix: str = "") -> None:
        for t in sorted(self.running):
            if t.startswith(prefix):
                self.running.discard(t)
                out.append(StopTimer(t))

    def expired(self, timer_id: str) -> bool:
        """True if ``timer_id`` was running (and now is not): a stale expiry returns False."""
        if timer_id in self.running:
            self.running.discard(timer_id)
            return True
        return False
