"""Services: processes started inside nodes, in dependency order, with readiness probes.

A :class:`ServiceSpec` names a command, the node it runs in, the services it
depends on, a readiness probe with a timeout and a restart policy. The
:class:`ServiceManager` starts independent services in parallel, level by level
of the dependency graph, waits for each to be ready, supervises restarts, and
stops them in reverse order. Each service gets a log file
``<run>/logs/<service>.log`` and an event stream ``<run>/events/<service>.jsonl``
(passed as ``$NRFEMTO_EVENTS``).

The manager is node-agnostic: the engine gives it ``spawn`` (start a process in
a node) and ``node_sh`` (run a short shell command in a node, for probes).
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from testbed.errors import TestbedError
from testbed.runtime.events import EventWriter, iter_events

SpawnFn = Callable[[str, list[str], dict[str, str], Path], subprocess.Popen]
NodeShFn = Callable[[str, str], str]


@dataclass(frozen=True)
class Probe:
    """Readiness probe. ``kind``: tcp, udp, unix, file, log, event, callable, none."""

    kind: Literal["tcp", "udp", "unix", "file", "log", "event", "callable", "none"] = "none"
    target: object = None  # port, path, regex, event type or callable(ServiceState) -> bool
    timeout: float = 10.0
    interval: float = 0.05

    @classmethod
    def from_model(cls, m) -> Probe:  # m: testbed.topology.model.ServiceProbe | None
        if m is None:
            return cls()
        for kind in ("tcp", "udp", "unix", "file", "log", "event"):
            value = getattr(m, kind)
            if value is not None:
                return cls(kind=kind, target=value, timeout=m.timeout)
        return cls(timeout=m.timeout)


@dataclass
class ServiceSpec:
    name: str
    node: str
    command: list[str]
    depends_on: list[str] = field(default_factory=list)
    probe: Probe = field(default_factory=Probe)
    restart: Literal["no", "on-failure", "always"] = "no"
    max_restarts: int = 3
    env: dict[str, str] = field(default_factory=dict)
    stop_timeout: float = 3.0


@dataclass
class ServiceState:
    spec: ServiceSpec
    log_path: Path
    events_path: Path
    proc: subprocess.Popen | None = None
    status: str = "pending"  # pending, starting, ready, failed, exited, stopped
    restarts: int = 0
    started_at: float = 0.0
    ready_after: float | None = None
    error: str = ""
    log_offset: int = 0  # readiness looks only at what this incarnation wrote
    started_wall: float = 0.0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def as_dict(self) -> dict:
        return {"name": self.spec.name, "node": self.spec.node, "status": self.status, "pid": self.pid,
                "restarts": self.restarts, "ready_after_s": self.ready_after, "error": self.error,
                "log": str(self.log_path), "events": str(self.events_path)}


class ServiceError(TestbedError):
    pass


def dependency_levels(specs: list[ServiceSpec]) -> list[list[ServiceSpec]]:
    """Group services into levels; every service's dependencies are in earlier levels."""
    by_name = {s.name: s for s in specs}
    for s in specs:
        for d in s.depends_on:
            if d not in by_name:
                raise ServiceError(f"service {s.name}: unknown dependency {d!r}")
    levels: list[list[ServiceSpec]] = []
    placed: set[str] = set()
    remaining = list(specs)
    while remaining:
        level = [s for s in remaining if all(d in placed for d in s.depends_on)]
        if not level:
            cycle = ", ".join(s.name for s in remaining)
            raise ServiceError(f"dependency cycle among services: {cycle}")
        levels.append(level)
        placed.update(s.name for s in level)
        remaining = [s for s in remaining if s.name not in placed]
    return levels


class ServiceManager:
    def __init__(self, specs: list[ServiceSpec], spawn: SpawnFn, node_sh: NodeShFn, logs_dir: Path,
                 events_dir: Path, on_change: Callable[[ServiceState], None] | None = None,
                 on_spawn: Callable[[ServiceState], None] | None = None):
        self.levels = dependency_levels(specs)
        self.spawn_fn = spawn
        self.node_sh = node_sh
        self.on_change = on_change or (lambda st: None)
        self.on_spawn = on_spawn or (lambda st: None)
        self.states: dict[str, ServiceState] = {
            s.name: ServiceState(s, logs_dir / f"{s.name}.log", events_dir / f"{s.name}.jsonl")
            for level in self.levels for s in level}
        self._events = EventWriter(events_dir / "services.jsonl", "orchestrator")
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- start ------------------------------------------------------------
    def start_all(self) -> None:
        """Start every service level by level; raise ServiceError if one does not become ready."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            for level in self.levels:
                results = list(pool.map(self._start_and_wait, level))
                failed = [r for r in results if r is not None]
                if failed:
                    raise ServiceError("; ".join(failed))
        self._supervisor = threading.Thread(target=self._supervise, name="service-supervisor", daemon=True)
        self._supervisor.start()

    def _spawn(self, st: ServiceState) -> None:
        env = {"NRFEMTO_EVENTS": str(st.events_path), "NRFEMTO_NODE": st.spec.node,
               "NRFEMTO_SERVICE": st.spec.name, **st.spec.env}
        st.status = "starting"
        st.started_at = time.monotonic()
        st.started_wall = time.time()
        try:
            st.log_offset = st.log_path.stat().st_size
        except OSError:
            st.log_offset = 0
        st.proc = self.spawn_fn(st.spec.node, st.spec.command, env, st.log_path)
        self.on_spawn(st)
        self.on_change(st)

    def _start_and_wait(self, spec: ServiceSpec) -> str | None:
        st = self.states[spec.name]
        try:
            self._spawn(st)
        except Exception as e:  # noqa: BLE001 - reported as a service failure
            st.status, st.error = "failed", f"cannot start: {e}"
            self.on_change(st)
            return f"{spec.name}: {st.error}"
        err = self.wait_ready(st)
        if err:
            st.status, st.error = "failed", err
            self._events.emit("service.failed", "error", service=spec.name, node=spec.node, reason=err)
            self.on_change(st)
            return f"{spec.name}: {err}"
        st.status = "ready"
        st.ready_after = round(time.monotonic() - st.started_at, 4)
        self._events.emit("service.ready", service=spec.name, node=spec.node, after_s=st.ready_after)
        self.on_change(st)
        return None

    def wait_ready(self, st: ServiceState) -> str | None:
        probe = st.spec.probe
        deadline = time.monotonic() + probe.timeout
        while True:
            if st.proc is not None and st.proc.poll() is not None:
                if probe.kind == "none" and st.proc.returncode == 0:
                    return None  # a one-shot service that succeeded
                return f"exited with code {st.proc.returncode} before ready (see {st.log_path})"
            try:
                if self.check(st):
                    return None
            except Exception as e:  # noqa: BLE001 - a probe that raises is "not ready yet"
                st.error = f"probe error: {e}"
            if time.monotonic() >= deadline:
                return f"not ready after {probe.timeout:g} s ({probe.kind} {probe.target})"
            time.sleep(probe.interval)

    def check(self, st: ServiceState) -> bool:
        p = st.spec.probe
        node = st.spec.node
        if p.kind == "none":
            return True
        if p.kind in ("tcp", "udp"):
            flag = "t" if p.kind == "tcp" else "u"
            out = self.node_sh(node, f"ss -Hln{flag} 'sport = :{int(p.target)}'")
            return bool(out.strip())
        if p.kind == "unix":
            return "OK" in self.node_sh(node, f"test -S '{p.target}' && echo OK")
        if p.kind == "file":
            return "OK" in self.node_sh(node, f"test -e '{p.target}' && echo OK")
        if p.kind == "log":
            try:
                with open(st.log_path, "rb") as f:
                    f.seek(st.log_offset)
                    text = f.read().decode(errors="replace")
            except OSError:
                return False
            return re.search(str(p.target), text) is not None
        if p.kind == "event":
            return any(ev.get("ts", 0) >= st.started_wall - 1.0
                       for ev in iter_events(st.events_path, str(p.target)))
        if p.kind == "callable":
            return bool(p.target(st))  # type: ignore[operator]
        raise ServiceError(f"unknown probe kind {p.kind}")

    # -- supervise --------------------------------------------------------
    def _supervise(self) -> None:
        while not self._stopping.wait(0.2):
            for st in list(self.states.values()):
                with self._lock:
                    if self._stopping.is_set() or st.proc is None or st.status not in ("ready", "starting"):
                        continue
                    code = st.proc.poll()
                    if code is None:
                        continue
                    st.status = "exited"
                    st.error = f"exited with code {code}"
                    self._events.emit("service.exited", "warning", service=st.spec.name, code=code)
                    self.on_change(st)
                    again = st.spec.restart == "always" or (st.spec.restart == "on-failure" and code != 0)
                    if again and st.restarts < st.spec.max_restarts:
                        st.restarts += 1
                        time.sleep(min(0.1 * 2 ** st.restarts, 2.0))
                        try:
                            self._spawn(st)
                        except Exception as e:  # noqa: BLE001
                            st.status, st.error = "failed", f"restart failed: {e}"
                            self.on_change(st)
                            continue
                        self._events.emit("service.restarted", "warning", service=st.spec.name,
                                          attempt=st.restarts)
                        err = self.wait_ready(st)
                        st.status = "failed" if err else "ready"
                        st.error = err or ""
                        self.on_change(st)

    # -- stop -------------------------------------------------------------
    def stop_all(self) -> None:
        self._stopping.set()
        if self._supervisor:
            self._supervisor.join(timeout=5)
        with self._lock:
            for level in reversed(self.levels):
                with ThreadPoolExecutor(max_workers=8) as pool:
                    list(pool.map(lambda s: self._stop(self.states[s.name]), level))
        self._events.close()

    def _stop(self, st: ServiceState) -> None:
        proc = st.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=st.spec.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        if st.status != "failed":
            st.status = "stopped"
        self.on_change(st)
