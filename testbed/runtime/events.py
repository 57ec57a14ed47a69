"""Event stream convention: JSON lines of security-relevant facts.

Each component appends to ``<run>/events/<component>.jsonl`` (path given to it
in ``$NRFEMTO_EVENTS``). One event per line::

    {"ts": 1732358400.123, "component": "amf", "node": "core",
     "type": "cag.reject", "severity": "warning", ...fields}

``type`` is a dotted name (``auth.failure``, ``cag.reject``, ``nas.replay_dropped``,
``location.mismatch``, ``service.ready``...). Scenarios and SCAS tests read
events with :func:`read_events`; they never scrape free-text logs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SEVERITIES = ("debug", "info", "notice", "warning", "error", "critical")

#: ``json.dumps(event, sort_keys=True, default=str)`` without building a new encoder per event.
_encode = json.JSONEncoder(sort_keys=True, default=str).encode


class EventWriter:
    """Append events to a JSON-lines file (line-buffered, thread-safe)."""

    def __init__(self, path: str | Path, component: str, node: str | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.component = component
        self.node = node
        self._lock = threading.Lock()
        self._f = open(self.path, "a", buffering=1)  # noqa: SIM115 - closed in close()

    @classmethod
    def from_env(cls, component: str, default_dir: str | Path | None = None) -> EventWriter:
        path = os.environ.get("NRFEMTO_EVENTS")
        if not path:
            path = str(Path(default_dir or ".") / f"{component}.jsonl")
        return cls(path, component, os.environ.get("NRFEMTO_NODE"))

    def emit(self, type: str, severity: str = "info", **fields: Any) -> dict:
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}")
        event = {"ts": time.time(), "component": self.component, "type": type, "severity": severity}
        if self.node:
            event["node"] = self.node
        event.update(fields)
        line = _encode(event)
        with self._lock:
            self._f.write(line + "\n")
        return event

    def close(self) -> None:
        self._f.close()


def read_events(source: str | Path, type: str | None = None, **match: Any) -> list[dict]:
    """Events from a file or a directory of ``*.jsonl`` files, sorted by time.

    ``type`` matches exactly or as a prefix ending in ``.`` (``"cag."``); other
    keyword arguments must be equal in the event. Torn or non-JSON lines are skipped.
    """
    return sorted(iter_events(source, type, **match), key=lambda e: e.get("ts", 0))


def iter_events(source: str | Path, type: str | None = None, **match: Any) -> Iterator[dict]:
    src = Path(source)
    files = sorted(src.glob("*.jsonl")) if src.is_dir() else [src]
    for path in files:
        try:
            f = open(path)  # noqa: SIM115
        except OSError:
            continue
        with f:
            for line in f:
                try:
                    ev = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if not isinstance(ev, dict):
                    continue
                if type is not None:
                    t = ev.get("type", "")
                    if not (t == type or (type.endswith(".") and t.startswith(type))):
                        continue
                if all(ev.get(k) == v for k, v in match.items()):
                    yield ev
