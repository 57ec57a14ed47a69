"""Run-state bookkeeping: every kernel object, mount and process a run creates.

The ledger is an append-only JSON-lines file in the run directory. An entry is
written (and flushed to disk) *as* the object is created, before anything else
happens, so that ``nrfemto clean`` can remove exactly what a run left even after
the orchestrator was SIGKILLed. Removal appends a ``removed`` entry.

Processes are identified by PID *and* kernel start time (``/proc/PID/stat``
field 22), so a recycled PID is never killed by mistake.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LEDGER_FILE = "ledger.jsonl"

# kinds of recorded objects
PROCESS = "process"
BRIDGE = "bridge"
LINK = "link"  # a network interface in the root namespace
MOUNT = "mount"  # inside a node's private mount namespace
NFT_TABLE = "nft-table"  # inside a node's namespace


def proc_starttime(pid: int) -> int | None:
    """Kernel start time of ``pid`` in clock ticks, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(b")") + 2:].split()
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def process_alive(pid: int, starttime: int | None) -> bool:
    st = proc_starttime(pid)
    if st is None:
        return False
    if starttime is not None and st != starttime:
        return False  # PID recycled: not ours
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != b"Z"


@dataclass(frozen=True)
class Entry:
    kind: str
    key: str  # identity within kind: pid, interface name, mount target@node...
    data: dict

    @property
    def pid(self) -> int:
        return int(self.data["pid"])


class Ledger:
    """Append-only record of created objects; thread-safe."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LEDGER_FILE
        self._lock = threading.Lock()

    def _append(self, record: dict) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)

    def created(self, kind: str, key: str, **data: object) -> None:
        self._append({"op": "created", "kind": kind, "key": str(key), "ts": time.time(), **data})

    def removed(self, kind: str, key: str) -> None:
        self._append({"op": "removed", "kind": kind, "key": str(key), "ts": time.time()})

    def process(self, pid: int, role: str, name: str, node: str | None = None) -> None:
        """Record a process we started (call right after fork/exec)."""
        self.created(PROCESS, str(pid), pid=pid, starttime=proc_starttime(pid), role=role, name=name, node=node)

    def records(self) -> Iterator[dict]:
        if not self.path.exists():
            return
        with open(self.path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line after a crash: ignore it

    def live(self) -> list[Entry]:
        """Objects created and not yet recorded as removed, in creation order."""
        current: dict[tuple[str, str], dict] = {}
        for rec in self.records():
            k = (rec.get("kind", ""), rec.get("key", ""))
            if rec.get("op") == "created":
                current.pop(k, None)
                current[k] = rec
            elif rec.get("op") == "removed":
                current.pop(k, None)
        return [Entry(kind=k[0], key=k[1], data=v) for k, v in current.items()]
