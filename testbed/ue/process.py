"""The UE simulator process: many :class:`~testbed.ue.radio.ue.SimUe` in one asyncio event loop.

I/O around the sans-I/O UEs:

- **Air**: one non-blocking UDP socket per UE on an ephemeral port (the gNB tells UEs apart by
  their STI but answers to the source address, and its datagrams carry only the gNB's STI, so a
  shared socket could not demultiplex them). Sockets are plain ``socket`` objects registered with
  ``loop.add_reader`` (no transport/protocol objects per UE). ``RLIMIT_NOFILE`` is raised to what
  the UEs need (sockets + TUNs + slack; as root also the hard limit).
- **Timers**: every UE timer (heartbeats, RLS acks, T300/T302, NAS T35xx) lives in one
  :class:`~testbed.ue.radio.timers.TimerWheel`; a single task sleeps until the next deadline
  (at most ``timer_granularity_s``) and fires what is due, so thousands of UEs cost no event-loop
  timer handles.
- **User plane**: a :class:`~testbed.ue.tun.SessionTun` (``ue<N>s<PSI>``) per PDU session that is
  up; packets read from it become DATA PDUs (RLS pduType 2, payload = PSI) to the serving cell,
  DATA PDUs from the serving cell are written to it.
- **Events**: ``$NRFEMTO_EVENTS`` JSON lines (:class:`~testbed.runtime.events.EventWriter`,
  component ``ue``); every event names the UE; registration outcomes also carry the SUPI (the UE
  node is the subscriber's own side). Never K, OPc or derived keys. Readiness: ``ue.ready``.
- **Control**: a Unix socket answering one JSON request per line (or the same as plain text,
  ``status ue1``): ``list``, ``stats``, ``status <ue>``, ``register <ue> [type]``,
  ``deregister <ue> [switch_off]``, ``session <ue> [psi] [dnn]``, ``release <ue> <psi>``,
  ``position <ue> x y z``. ``<ue>`` is a name, a 1-based number (``#5``), a SUPI or ``all``.
  ``register`` and ``session`` accept ``wait`` (seconds) to answer once the outcome is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import random
import resource
import shlex
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testbed.runtime.events import EventWriter
from testbed.runtime.tuning import GcPauses, settle_heap
from testbed.ue.config import UeProcessConfig
from testbed.ue.nas.outputs import (
    Deregistered,
    Event,
    Registered,
    RegistrationFailed,
    SessionDown,
    SessionUp,
    StartTimer,
    StopTimer,
)
from testbed.ue.radio.timers import TimerWheel
from testbed.ue.radio.ue import DeliverData, SimUe, Transmit

log = logging.getLogger("testbed.ue")

NasFactory = Callable[[Any, Any, Callable[[], float]], Any]
_WARN = ("reject", "failure", "failed", "error", "malformed", "refused", "dropped", "lost", "timeout")
_RECV_BATCH = 32
_TIMER_BATCH = 500
_STARTS_PER_S = 3000
_MAX_DGRAM = 65535


def raise_nofile(needed: int) -> tuple[int, int]:
    """Raise RLIMIT_NOFILE to at least ``needed`` (soft up to hard; as root the hard limit too)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, needed)
    if want > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return resource.getrlimit(resource.RLIMIT_NOFILE)
        except (ValueError, OSError):
            want = hard
    if want != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def default_nas_factory(usim_config: Any, nas_config: Any, clock: Callable[[], float]) -> Any:
    from testbed.ue.nas import UeNas
    from testbed.ue.usim import Usim

    return UeNas(Usim(usim_config), nas_config, clock=clock)


class _Slot:
    __slots__ = ("number", "ue", "supi", "sock", "fd", "tuns", "outcomes", "auto_session")

    def __init__(self, number: int, ue: SimUe, supi: str, auto_session: bool) -> None:
        self.number = number
        self.ue = ue
        self.supi = supi
        self.sock: socket.socket | None = None
        self.fd = -1
        self.tuns: dict[int, Any] = {}
        self.outcomes: list[Any] = []  # last registration/session outcomes (for 'wait')
        self.auto_session = auto_session


class UeProcess:
    """All UEs of one process and their sockets; ``await start()`` then ``await wait_stopped()``."""

    def __init__(self, config: UeProcessConfig, events: EventWriter | None = None, *,
                 control_path: str | Path | None = None, usims: list[Any] | None = None,
                 nas_factory: NasFactory | None = None, seed: int | None = None) -> None:
        self.config = config
        self.events = events
        self.control_path = Path(control_path) if control_path else None
        self._usims = usims
        self.nas_factory = nas_factory or default_nas_factory
        self.rng = random.Random(seed)
        self.slots: list[_Slot] = []
        self.by_name: dict[str, _Slot] = {}
        self.by_supi: dict[str, _Slot] = {}
        self.wheel = TimerWheel()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stopped = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._control: asyncio.AbstractServer | None = None
        self._timer_task: asyncio.Task | None = None
        self._starter: asyncio.Task | None = None
        self._wake: asyncio.Future | None = None
        self._wake_at = float("inf")
        self.started_at = 0.0
        self.cpu_at_start = 0.0
        self.nofile: tuple[int, int] = (0, 0)
        self.gc_pauses: GcPauses | None = None  # set by run(): collections and pauses for "stats"
        self.lag_n, self.lag_sum, self.lag_max = 0, 0.0, 0.0
        self.counters = {"tx": 0, "tx_errors": 0, "rx": 0, "timers_fired": 0, "events": 0, "tun_errors": 0,
                         "tun_rx": 0, "tun_tx": 0, "control_requests": 0, "internal_errors": 0}

    # ------------------------------------------------------------------------------------------
    # construction
    def _usim_configs(self) -> list[tuple[Any, Any, bool | None, tuple[int, int, int], str]]:
        """(UsimConfig, spec, auto_session, position, name) for every UE of the configuration."""
        from testbed.ue.usim import UsimConfig, load_usims

        c = self.config
        wanted: list[tuple[str, Any, str | None, tuple[int, int, int]]] = []
        for u in c.ues:
            wanted.append((u.supi, u, u.name, u.position or c.position))
        if c.range is not None:
            r = c.range
            base = r.position or c.position
            first = r.first_index if r.first_index is not None else len(c.ues) + 1
            for j, supi in enumerate(r.supis()):
                pos = (base[0] + j * r.step[0], base[1] + j * r.step[1], base[2] + j * r.step[2])
                wanted.append((supi, r, f"{r.name_prefix}{first + j}", pos))
        if self._usims is not None:
            by_supi = {u.supi: u for u in self._usims}
        else:
            need = [s for s, spec, _, _ in wanted if spec.k is None]
            run_dir = Path(c.run_dir or os.environ.get("NRFEMTO_RUN_DIR") or ".")
            by_supi = {u.supi: u for u in load_usims(run_dir, c.scheme, need)} if need else {}
        out = []
        hn: tuple[bytes | None, int] | None = None
        for n, (supi, spec, name, pos) in enumerate(wanted, 1):
            if supi in by_supi:
                uc = by_supi[supi]
            else:
                if hn is None:
                    hn = self._hn_public_key()
                uc = UsimConfig(supi=supi, k=bytes.fromhex(spec.k), opc=bytes.fromhex(spec.opc),
                                scheme=c.scheme, hn_public_key=hn[0], hn_key_id=hn[1])
            if spec.allowed_cag_ids is not None or spec.cag_only is not None:
                import dataclasses

                uc = dataclasses.replace(
                    uc, allowed_cag_ids=frozenset(spec.allowed_cag_ids if spec.allowed_cag_ids is not None
                                                  else uc.allowed_cag_ids),
                    cag_only=spec.cag_only if spec.cag_only is not None else uc.cag_only)
            auto_s = getattr(spec, "auto_session", None)
            out.append((uc, spec, auto_s, pos, name or f"ue{n}"))
        return out

    def _hn_public_key(self) -> tuple[bytes | None, int]:
        """The home network public key for UEs with inline keys (``<run>/core/hn-public.json``)."""
        from testbed.errors import ConfigError

        c = self.config
        if c.scheme == 0:
            return None, 0
        path = Path(c.run_dir or os.environ.get("NRFEMTO_RUN_DIR") or ".") / "core" / "hn-public.json"
        try:
            entries = json.loads(path.read_text())
            e = next(e for e in entries if isinstance(e, dict) and e.get("profile") == c.scheme)
            return bytes.fromhex(e["public_key"]), int(e["key_id"])
        except (OSError, ValueError, StopIteration, KeyError, TypeError) as exc:
            raise ConfigError(str(path), "", f"no home network public key for scheme {c.scheme} ({exc}); "
                                             "use scheme 0 or a run directory") from None

    def build(self) -> None:
        """Create the UEs (no I/O)."""
        c = self.config
        nas_cfg = c.nas.nas_config()
        radio_cfg = c.radio.radio_config()
        gnbs = c.gnb_addresses
        sessions = tuple((s.psi, s.dnn, (s.sst, s.sd)) for s in c.sessions)
        clock = time.monotonic
        for n, (uc, spec, auto_s, pos, name) in enumerate(self._usim_configs(), 1):
            if name in self.by_name:
                raise ValueError(f"two UEs named {name!r}")
            nas = self.nas_factory(uc, nas_cfg, clock)
            auto_reg = getattr(spec, "auto_register", None)
            auto_reg = c.auto_register if auto_reg is None else auto_reg
            auto_session = c.auto_session if auto_s is None else auto_s
            ue = SimUe(nas, gnbs=gnbs, position=pos, name=name, rng=random.Random(self.rng.getrandbits(64)),
                       config=radio_cfg, plmn=(c.nas.mcc, c.nas.mnc),
                       auto_register=c.registration_type if auto_reg else None,
                       auto_sessions=sessions if auto_session else ())
            slot = _Slot(n, ue, uc.supi, auto_session)
            self.slots.append(slot)
            self.by_name[name] = slot
            self.by_supi[uc.supi] = slot

    # ------------------------------------------------------------------------------------------
    # lifecycle
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        if not self.slots:
            self.build()
        n = len(self.slots)
        sessions = max(1, len(self.config.sessions))
        need = n * (1 + (sessions if self.config.tun else 0)) + 256
        self.nofile = raise_nofile(need)
        if self.nofile[0] < n + 64:
            raise OSError(errno.EMFILE, f"{n} UEs need at least {n + 64} file descriptors (one UDP socket each, "
                                        f"~{need} with TUNs) but RLIMIT_NOFILE is {self.nofile[0]}/{self.nofile[1]} "
                                        "and cannot be raised further: split the UEs over several processes or "
                                        "raise the hard limit")
        for slot in self.slots:
            self._open_socket(slot)
        if self.control_path is not None:
            self.control_path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                self.control_path.unlink()
            self._control = await asyncio.start_unix_server(self._control_client, path=_sun_path(self.control_path))
            os.chmod(self.control_path, 0o600)
        self.started_at = self.loop.time()
        self.cpu_at_start = time.process_time()
        self._timer_task = asyncio.create_task(self._timer_loop())
        self._emit(None, "ue.ready", ues=n, gnbs=self.config.gnbs, nofile=list(self.nofile),
                   control=str(self.control_path) if self.control_path else None)
        if self.config.start_rate > 0:
            self._starter = asyncio.create_task(self._staggered_start())
        else:
            # first heartbeats spread over one period, or longer for big populations (the start-up of
            # a UE - cell found, MIB, SIB1, selection - costs more than a heartbeat)
            now = self.loop.time()
            spread = max(self.config.radio.heartbeat_s, n / _STARTS_PER_S)
            for slot in self.slots:
                self._execute(slot, slot.ue.start(now, self.rng.random() * spread))

    async def _staggered_start(self) -> None:
        assert self.loop is not None
        interval = 1.0 / self.config.start_rate
        t0 = self.loop.time()
        for i, slot in enumerate(self.slots):
            delay = t0 + i * interval - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._execute(slot, slot.ue.start(self.loop.time()))

    def stop(self) -> None:
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()
        await self.close()

    async def close(self) -> None:
        if self._starter is not None:
            self._starter.cancel()
        if self._timer_task is not None:
            self._timer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer_task
        if self._control is not None:
            self._control.close()
            with contextlib.suppress(FileNotFoundError):
                self.control_path.unlink()  # type: ignore[union-attr]
        self._stopped.set()
        if self._tasks:  # TUNs being opened or closed: let them finish (an opened one closes itself)
            await asyncio.wait(list(self._tasks), timeout=5)
        for task in list(self._tasks):
            task.cancel()
        closing = [self._close_tun(slot, psi) for slot in self.slots for psi in list(slot.tuns)]
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)
        for slot in self.slots:
            if slot.sock is not None:
                with contextlib.suppress(Exception):
                    self.loop.remove_reader(slot.fd)  # type: ignore[union-attr]
                slot.sock.close()
                slot.sock = None

    # ------------------------------------------------------------------------------------------
    # air
    def _open_socket(self, slot: _Slot) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setblocking(False)
            s.bind((self.config.bind_address, 0))
        except BaseException:
            s.close()
            raise
        slot.sock, slot.fd = s, s.fileno()
        self.loop.add_reader(slot.fd, self._readable, slot)  # type: ignore[union-attr]

    def _readable(self, slot: _Slot) -> None:
        sock = slot.sock
        if sock is None:
            return
        now = self.loop.time()  # type: ignore[union-attr]
        for _ in range(_RECV_BATCH):
            try:
                data, addr = sock.recvfrom(_MAX_DGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP port unreachable reported on the socket
                return
            self.counters["rx"] += 1
            try:
                outputs = slot.ue.datagram_received(data, addr, now)
            except Exception as e:  # noqa: BLE001 - one UE's bug must not stop the others
                self._internal_error(slot, "datagram_received", e)
                continue
            self._execute(slot, outputs)

    # ------------------------------------------------------------------------------------------
    # timers
    async def _timer_loop(self) -> None:
        loop = self.loop
        assert loop is not None
        gran = self.config.timer_granularity_s
        wheel = self.wheel
        while True:
            now = loop.time()
            nd = wheel.next_deadline()
            if nd is not None and nd <= now:  # how late the loop serves timers (load indicator)
                lag = now - nd
                self.lag_n += 1
                self.lag_sum += lag
                if lag > self.lag_max:
                    self.lag_max = lag
            due = wheel.pop_due(now, limit=_TIMER_BATCH)
            for key in due:
                idx, tid = key  # type: ignore[misc]
                slot = self.slots[idx]
                self.counters["timers_fired"] += 1
                try:
                    outputs = slot.ue.timer_expired(tid, loop.time())
                except Exception as e:  # noqa: BLE001 - the timer loop serves every UE: never let it die
                    self._internal_error(slot, f"timer {tid}", e)
                    if tid == "rls.heartbeat":  # keep the radio link alive
                        self._start_timer(slot, tid, self.config.radio.heartbeat_s)
                    continue
                self._execute(slot, outputs)
            if len(due) == _TIMER_BATCH:
                # more is due: let the socket readers run first, so that a loaded process does not
                # declare radio link failures for HEARTBEAT_ACKs still waiting in its sockets
                await asyncio.sleep(0)
                continue
            nd = wheel.next_deadline()
            now = loop.time()
            delay = gran if nd is None else min(max(nd - now, 0.0), gran)
            self._wake_at = now + delay
            self._wake = loop.create_future()
            handle = loop.call_at(self._wake_at, _resolve, self._wake)
            try:
                await self._wake
            finally:
                handle.cancel()
                self._wake = None

    def _start_timer(self, slot: _Slot, timer_id: str, seconds: float) -> None:
        deadline = self.loop.time() + seconds  # type: ignore[union-attr]
        self.wheel.start((slot.number - 1, timer_id), deadline)
        if deadline < self._wake_at and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)  # an earlier timer than the loop sleeps for

    # ------------------------------------------------------------------------------------------
    # outputs
    def _execute(self, slot: _Slot, outputs: list[Any]) -> None:
        for o in outputs:
            t = type(o)
            if t is Transmit:
                try:
                    slot.sock.sendto(o.data, o.address)  # type: ignore[union-attr]
                    self.counters["tx"] += 1
                except (BlockingIOError, OSError):
                    self.counters["tx_errors"] += 1
            elif t is StartTimer:
                self._start_timer(slot, o.timer_id, o.seconds)
            elif t is StopTimer:
                self.wheel.stop((slot.number - 1, o.timer_id))
            elif t is DeliverData:
                tun = slot.tuns.get(o.psi)
                if tun is not None and tun.fd >= 0:
                    if tun.write(o.packet):
                        self.counters["tun_tx"] += 1
                    else:
                        self.counters["tun_errors"] += 1
            elif t is Event:
                self._emit(slot, o.type, **o.fields)
            elif t is SessionUp:
                slot.outcomes.append(o)
                self._emit(slot, "pdu_session.up", psi=o.psi, ipv4=o.ipv4)
                if self.config.tun:
                    self._spawn(self._open_tun(slot, o.psi, o.ipv4))
            elif t is SessionDown:
                slot.outcomes.append(o)
                self._emit(slot, "pdu_session.down", psi=o.psi)
                closing = self._close_tun(slot, o.psi)
                if closing is not None:
                    self._tasks.add(closing)
                    closing.add_done_callback(self._tasks.discard)
            elif t is Registered:
                slot.outcomes.append(o)
                self._emit(slot, "registration.accepted", supi=slot.supi, guti=o.guti, emergency=o.emergency,
                           allowed_nssai=[list(s) for s in o.allowed_nssai],
                           cag_info=[list(x) for x in o.cag_info])
            elif t is RegistrationFailed:
                slot.outcomes.append(o)
                self._emit(slot, "registration.failed", supi=slot.supi, cause=o.cause, reason=o.reason)
            elif t is Deregistered:
                slot.outcomes.append(o)
                self._emit(slot, "deregistered", supi=slot.supi, reason=o.reason)
            else:
                log.warning("%s: unknown output %r", slot.ue.name, o)

    def _internal_error(self, slot: _Slot, where: str, exc: Exception) -> None:
        self.counters["internal_errors"] += 1
        log.exception("%s: %s failed", slot.ue.name, where)
        if self.counters["internal_errors"] <= 100:  # don't flood the event stream
            self._emit(slot, "ue.internal_error", where=where, error=f"{type(exc).__name__}: {exc}"[:200])

    def _emit(self, slot: _Slot | None, type_: str, **fields: Any) -> None:
        self.counters["events"] += 1
        if self.events is None:
            return
        if "type" in fields or "severity" in fields:  # the event's own keys
            fields = {(f"{k}_" if k in ("type", "severity") else k): v for k, v in fields.items()}
        if slot is not None:
            fields = {"ue": slot.ue.name, **fields}
        severity = "warning" if any(w in type_ for w in _WARN) else "info"
        self.events.emit(type_, severity, **fields)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------------------------------
    # user plane
    def _routing(self) -> str:
        r = self.config.routing
        if r == "auto":
            return "main" if len(self.slots) == 1 else "policy"
        return r

    async def _open_tun(self, slot: _Slot, psi: int, ipv4: str) -> None:
        from testbed.ue.tun import SessionTun, tun_name

        old = self._close_tun(slot, psi)
        if old is not None:
            await old
        c = self.config
        try:
            tun = SessionTun(tun_name(slot.number, psi, c.tun_prefix), ipv4, dn_routes=c.dn_routes, routing=self._routing(),
                             table=c.table_base + slot.number * 16 + psi, mtu=c.tun_mtu)
            await asyncio.to_thread(tun.open)
        except Exception as e:  # noqa: BLE001 - a TUN failure must not stop the other UEs
            self.counters["tun_errors"] += 1
            self._emit(slot, "tun.error", psi=psi, error=f"{type(e).__name__}: {e}")
            return
        if slot.ue.sessions.get(psi) != ipv4 or self._stopped.is_set():  # released meanwhile
            await asyncio.to_thread(tun.close)
            return
        slot.tuns[psi] = tun
        self.loop.add_reader(tun.fd, self._tun_readable, slot, psi, tun)  # type: ignore[union-attr]
        self._emit(slot, "tun.up", psi=psi, device=tun.name, ipv4=ipv4, routing=tun.routing, table=tun.table)

    def _tun_readable(self, slot: _Slot, psi: int, tun: Any) -> None:
        now = self.loop.time()  # type: ignore[union-attr]
        for _ in range(_RECV_BATCH):
            packet = tun.read()
            if packet is None:
                return
            self.counters["tun_rx"] += 1
            try:
                outputs = slot.ue.uplink_data(psi, packet, now)
            except Exception as e:  # noqa: BLE001
                self._internal_error(slot, "uplink_data", e)
                continue
            self._execute(slot, outputs)

    def _close_tun(self, slot: _Slot, psi: int) -> Any:
        """Stop reading the session's TUN and close it in a thread (pyroute2's synchronous API must
        not run inside the event loop's thread); returns the closing task, or None."""
        tun = slot.tuns.pop(psi, None)
        if tun is None:
            return None
        with contextlib.suppress(Exception):
            self.loop.remove_reader(tun.fd)  # type: ignore[union-attr]
        return asyncio.ensure_future(self._close_tun_async(slot, psi, tun))

    async def _close_tun_async(self, slot: _Slot, psi: int, tun: Any) -> None:
        try:
            await asyncio.to_thread(tun.close)
        except Exception as e:  # noqa: BLE001
            self.counters["tun_errors"] += 1
            self._emit(slot, "tun.error", psi=psi, error=f"close: {type(e).__name__}: {e}")

    # ------------------------------------------------------------------------------------------
    # control
    async def _control_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                reply = await self.handle_request(parse_request(line))
                writer.write(json.dumps(reply, default=str).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def find(self, selector: Any) -> list[_Slot]:
        """UEs named by ``selector``: name, SUPI, number (int or "#N"), or "all"."""
        if selector in ("all", "*"):
            return list(self.slots)
        if isinstance(selector, int) or (isinstance(selector, str) and selector.startswith("#")
                                         and selector[1:].isdigit()):
            n = int(selector) if isinstance(selector, int) else int(selector[1:])
            return [self.slots[n - 1]] if 1 <= n <= len(self.slots) else []
        if isinstance(selector, str):
            slot = self.by_name.get(selector) or self.by_supi.get(selector)
            return [slot] if slot is not None else []
        return []

    async def handle_request(self, request: Any) -> dict:
        """Answer one control request (also used in-process by tests)."""
        self.counters["control_requests"] += 1
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"ok": False, "error": 'expected a JSON object with an "op" string (or "op ue args...")'}
        op = request["op"]
        try:
            if op == "list":
                return {"ok": True, "ues": [self._summary(s) for s in self.slots]}
            if op == "stats":
                return {"ok": True, **self.stats()}
            if op not in ("status", "register", "deregister", "session", "release", "position"):
                return {"ok": False, "error": f"unknown op {op!r}"}
            slots = self.find(request.get("ue"))
            if not slots:
                return {"ok": False, "error": f"no UE {request.get('ue')!r}", "unknown_ue": True}
            if op == "status":
                if len(slots) == 1:
                    return {"ok": True, "ue": self._status(slots[0])}
                return {"ok": True, "ues": [self._summary(s) for s in slots]}
            return await self._command(op, slots, request)
        except (ValueError, TypeError, KeyError) as e:
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}
        except Exception as e:  # noqa: BLE001 - a control request never kills the UEs
            log.exception("control request %r failed", op)
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}

    async def _command(self, op: str, slots: list[_Slot], r: dict) -> dict:
        loop = self.loop
        assert loop is not None
        now = loop.time()
        marks = {s.number: len(s.outcomes) for s in slots}
        for s in slots:
            ue = s.ue
            if op == "register":
                out = ue.register(str(r.get("type", "initial")), now)
            elif op == "deregister":
                out = ue.deregister(bool(r.get("switch_off", False)), now)
            elif op == "session":
                sd = r.get("sd")
                out = ue.establish_session(int(r.get("psi", 1)), r.get("dnn"), (int(r.get("sst", 1)),
                                                                                 int(sd) if sd is not None else None),
                                           now)
            elif op == "release":
                out = ue.release_session(int(r["psi"]), now)
            else:  # position
                pos = r.get("position") or (r["x"], r["y"], r["z"])
                out = ue.set_position(tuple(int(c) for c in pos))  # type: ignore[arg-type]
            self._execute(s, out)
        wait = float(r.get("wait", 0) or 0)
        if wait > 0 and op in ("register", "deregister", "session", "release"):
            deadline = loop.time() + wait
            while loop.time() < deadline and not all(len(s.outcomes) > marks[s.number] for s in slots):
                await asyncio.sleep(0.02)
        results = []
        for s in slots:
            new = s.outcomes[marks[s.number]:]
            results.append({"ue": s.ue.name, "outcomes": [_outcome(o) for o in new],
                            "nas_state": getattr(s.ue.nas, "state", None), "rrc": s.ue.rrc.describe(),
                            "sessions": {str(k): v for k, v in s.ue.sessions.items()}})
        if len(results) == 1:
            return {"ok": True, **results[0]}
        return {"ok": True, "ues": results}

    def _summary(self, s: _Slot) -> dict:
        ue = s.ue
        return {"ue": ue.name, "number": s.number, "supi": s.supi, "nas_state": getattr(ue.nas, "state", None),
                "rrc": ue.rrc.describe(), "camp": ue.camp,
                "serving_cell": f"{ue.serving:016x}" if ue.serving is not None else None,
                "sessions": {str(k): v for k, v in ue.sessions.items()},
                "tuns": {str(k): t.name for k, t in s.tuns.items()}}

    def _status(self, s: _Slot) -> dict:
        return {**s.ue.status(), "supi": s.supi, "number": s.number,
                "tuns": {str(k): {"device": t.name, "routing": t.routing, "table": t.table} for k, t in s.tuns.items()}}

    def stats(self) -> dict:
        loop = self.loop
        elapsed = (loop.time() - self.started_at) if loop is not None else 0.0
        cpu = time.process_time() - self.cpu_at_start
        n = len(self.slots)
        states: dict[str, int] = {}
        for s in self.slots:
            st = str(getattr(s.ue.nas, "state", "?"))
            states[st] = states.get(st, 0) + 1
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {"ues": n, "elapsed_s": round(elapsed, 3), "cpu_s": round(cpu, 3),
                "cpu_fraction": round(cpu / elapsed, 4) if elapsed else 0.0,
                "cpu_per_ue_us_per_s": round(cpu / elapsed / n * 1e6, 2) if elapsed and n else 0.0,
                "max_rss_kb": ru.ru_maxrss, "nofile": list(self.nofile), "timers": len(self.wheel),
                "camped": sum(1 for s in self.slots if s.ue.serving is not None),
                "connected": sum(1 for s in self.slots if s.ue.rrc.connected),
                "sessions": sum(len(s.ue.sessions) for s in self.slots),
                "tuns": sum(len(s.tuns) for s in self.slots), "nas_states": states,
                "cells_lost": sum(s.ue.link.counters["cells_lost"] for s in self.slots),
                "timer_lag_ms": {"max": round(self.lag_max * 1e3, 1),
                                 "mean": round(self.lag_sum / self.lag_n * 1e3, 2) if self.lag_n else 0.0},
                "counters": dict(self.counters),
                **({"gc": self.gc_pauses.snapshot()} if self.gc_pauses is not None else {})}


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


def _outcome(o: Any) -> dict:
    return {"type": type(o).__name__, **{k: getattr(o, k) for k in getattr(o, "__slots__", ())}}


def _sun_path(path: Path) -> str:
    """Unix socket paths are limited to 107 bytes: reach long ones through ``/proc/self/fd/<dir fd>``
    (the descriptor stays open for the life of the process)."""
    s = str(path)
    if len(s.encode()) <= 107:
        return s
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    return f"/proc/self/fd/{dir_fd}/{path.name}"


def parse_request(line: bytes | str) -> Any:
    """A JSON object, or a text command ``op [ue] [args...]`` turned into one."""
    text = line.decode(errors="replace") if isinstance(line, bytes) else line
    text = text.strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return None
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    op, args = words[0], words[1:]
    req: dict[str, Any] = {"op": op}
    if args:
        req["ue"] = args[0]
    rest = args[1:]
    if op == "register" and rest:
        req["type"] = rest[0]
    elif op == "deregister" and rest:
        req["switch_off"] = rest[0] in ("switch-off", "switch_off", "true", "1")
    elif op == "session":
        if rest:
            req["psi"] = int(rest[0]) if rest[0].isdigit() else rest[0]
        if len(rest) > 1:
            req["dnn"] = rest[1]
    elif op == "release" and rest:
        req["psi"] = int(rest[0]) if rest[0].isdigit() else rest[0]
    elif op == "position" and len(rest) == 3:
        req["position"] = [int(v) for v in rest]
    return req


async def run(config: UeProcessConfig, events: EventWriter, control_path: Path | None) -> int:
    proc = UeProcess(config, events, control_path=control_path)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, proc.stop)
    try:
        await proc.start()
    except OSError as e:
        events.emit("ue.start_failed", "error", error=f"{type(e).__name__}: {e}",
                    hint="raise the file descriptor limit" if e.errno == errno.EMFILE else None)
        raise
    except Exception as e:
        events.emit("ue.start_failed", "error", error=f"{type(e).__name__}: {e}")
        raise
    settle_heap()  # start-up objects (UE instances, codecs) out of later full collections
    proc.gc_pauses = GcPauses().install()
    await proc.wait_stopped()
    events.emit("ue.stopped", "info", **{k: v for k, v in proc.stats().items() if k in ("ues", "cpu_s", "elapsed_s")})
    return 0
