"""Remove exactly what a run recorded in its ledger, and nothing else.

Used by ``Testbed.down()`` as a final sweep and by ``nrfemto clean`` after a
crash (e.g. the orchestrator was SIGKILLed). Never matches processes by name:
only recorded PIDs whose kernel start time still matches are signalled; only
recorded interface names (unique per run) are deleted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from testbed.runtime import ledger as L
from testbed.runtime.rundir import RunDir

# Stop order: things that use the network first, node shells last.
_ROLE_ORDER = {"service": 0, "process": 0, "capture": 1, "orchestrator": 2, "node-shell": 3, "bridge-shell": 4}


def _root_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.add(parts[1].strip().split("@")[0])
    return names


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # we start everything in its own session: take its children too
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _reap_if_child(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def kill_processes(entries: list[L.Entry], grace: float = 2.0) -> list[L.Entry]:
    """Stop recorded processes (SIGINT for captures, SIGTERM else, then SIGKILL). Returns those gone."""
    alive = [e for e in entries if L.process_alive(e.pid, e.data.get("starttime"))]
    gone = [e for e in entries if e not in alive]
    for e in alive:
        _signal(e.pid, signal.SIGINT if e.data.get("role") == "capture" else signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        for e in list(alive):
            _reap_if_child(e.pid)
            if not L.process_alive(e.pid, e.data.get("starttime")):
                alive.remove(e)
                gone.append(e)
        if alive:
            time.sleep(0.02)
    for e in alive:
        _signal(e.pid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while alive and time.monotonic() < deadline:
        for e in list(alive):
            _reap_if_child(e.pid)
            if not L.process_alive(e.pid, e.data.get("starttime")):
                alive.remove(e)
                gone.append(e)
        if alive:
            time.sleep(0.02)
    return gone


def clean_run(run: RunDir, quiet: bool = False) -> list[str]:
    """Remove what ``run``'s ledger records as live. Returns problems (empty = all gone)."""
    ledger = L.Ledger(run.path)
    live = ledger.live()
    problems: list[str] = []
    # Never signal ourselves (the orchestrator sweeps its own run at the end of down()).
    procs = sorted((e for e in live if e.kind == L.PROCESS and e.pid != os.getpid()),
                   key=lambda e: _ROLE_ORDER.get(e.data.get("role", ""), 0))
    # Stop in role order, one group at a time.
    for order in sorted({_ROLE_ORDER.get(e.data.get("role", ""), 0) for e in procs}):
        group = [e for e in procs if _ROLE_ORDER.get(e.data.get("role", ""), 0) == order]
        for e in kill_processes(group):
            ledger.removed(L.PROCESS, e.key)
    for e in procs:
        if L.process_alive(e.pid, e.data.get("starttime")):
            problems.append(f"process {e.pid} ({e.data.get('name')}) survived SIGKILL")
    # Interfaces: deleting a veth end deletes its peer inside the node namespace.
    existing = _root_links()
    links = [e for e in live if e.kind == L.LINK]
    bridges = [e for e in live if e.kind == L.BRIDGE]
    to_delete = [e.key for e in links + bridges if e.key in existing]
    if to_delete:
        batch = "".join(f"link del {name}\n" for name in to_delete)
        subprocess.run(["ip", "-force", "-batch", "-"], input=batch, text=True, capture_output=True, check=False)
        existing = _root_links()
    for e in links + bridges:
        if e.key in existing:
            problems.append(f"{e.kind} {e.key} could not be deleted")
        else:
            ledger.removed(e.kind, e.key)
    # Mounts and nft tables live in node namespaces: gone once no process of the run remains.
    if not any(L.process_alive(e.pid, e.data.get("starttime")) for e in procs):
        for e in live:
            if e.kind in (L.MOUNT, L.NFT_TABLE):
                ledger.removed(e.kind, e.key)
    sock = run.control_socket
    if sock.exists() and not problems:
        try:
            sock.unlink()
        except OSError:
            pass
    return problems
