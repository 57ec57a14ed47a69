"""The femto process: thin asyncio adapters around the sans-I/O :class:`~testbed.femto.gnb.FemtoGnb`.

- Air: UDP ``<air_address>:4997`` (radio link protocol); answers go to each UE's source address.
- N2: one SCTP association to ``<amf_address>:38412`` (:func:`testbed.protocols.sctp.connect`,
  NGAP PPID 60, stream 0 non-UE-associated, stream 1 UE-associated, TS 38.412 7); when it drops
  the femto reconnects with backoff and repeats NG Setup (the AMF restarted).
- N3: UDP ``<n3_address>:2152`` (GTP-U).
- Backhaul gate (``backhaul_control`` set, TS 33.320 7.4): the backhaul agent's ``status`` is polled
  every ``backhaul_poll_s`` (and the agent pushes ``{"op": "backhaul", "state": ..., "vip": ...}`` to
  the control socket on every change). Up: N3 is bound to the tunnel's inner address (the virtual
  IP), the SCTP association to the AMF is bound to it too, N2 connects (a usrsctp stack is restarted
  first so it learns the new address). Down: N2 is dropped at once, N3 closed, the radio switched
  off (:meth:`FemtoGnb.backhaul_down`); nothing is attempted outside the tunnel.
- Timers: :meth:`FemtoGnb.tick` every ``tick_s`` (UE link timeouts, SIB1 period, NG Setup and
  reconnect deadlines).
- Events: JSON lines through :class:`testbed.runtime.events.EventWriter` (``$NRFEMTO_EVENTS``),
  e.g. ``femto.ready`` once NG Setup succeeded, ``femto.ng_setup_refused`` otherwise.
- Control: a Unix socket, one JSON request per line: ``status``, ``ues`` (pseudonymous ids
  only), ``counters``, ``radio_on``, ``radio_off``, ``page``, ``echo``, ``n2_close`` and, with their
  knobs, ``replay`` and ``foreign_ue``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from testbed.runtime.events import EventWriter
from testbed.runtime.tuning import GcPauses, settle_heap
from testbed.runtime.udp import DrainingUdp, open_draining_udp

from .config import FemtoConfig
from .gnb import FemtoGnb
from .outputs import CloseN2, ConnectN2, Event, SendAir, SendN3, SendNgap

log = logging.getLogger("testbed.femto.process")

__all__ = ["FemtoProcess", "run"]

Connect = Callable[..., Awaitable[Any]]
_RESERVED = frozenset(("type", "severity", "ts", "component", "node"))


class FemtoProcess:
    """Sockets, timers, events and control for one femto; ``await start()``, then ``await wait_stopped()``.

    ``connect`` replaces :func:`testbed.protocols.sctp.connect` (tests); it must return an object
    with ``send(data, stream=, ppid=)``, ``recv()`` (raising ``ConnectionError`` when down),
    ``close()`` and ``outbound_streams``.
    """

    def __init__(self, config: FemtoConfig, events: EventWriter, *, control_path: str | Path | None = None,
                 connect: Connect | None = None, tick_s: float = 0.2, femto: FemtoGnb | None = None) -> None:
        self.config = config
        self.events = events
        self.femto = femto or FemtoGnb(config)
        self.control_path = Path(control_path) if control_path else (
            Path(config.control_socket) if config.control_socket else None)
        self._connect = connect
        self.tick_s = tick_s
        self._air: DrainingUdp | None = None
        self._n3: DrainingUdp | None = None
        self.gc_pauses: GcPauses | None = None  # set by run(): collections and pauses for 'status'
        self._control: asyncio.AbstractServer | None = None
        self._assoc: Any = None
        self._send_queue: asyncio.Queue | None = None
        self._tasks: set[asyncio.Task] = set()
        self._stopped = asyncio.Event()
        self._connecting = False
        self._n2_task: asyncio.Future | None = None
        self._n2_local: str | None = None  # local address of the SCTP association (the tunnel's inner address)
        self.air_address: tuple[str, int] | None = None
        self.n3_address: tuple[str, int] | None = None
        self.backhaul_state = "down"  # as applied: "down" or "up"
        self.backhaul_vip: str | None = None
        self.backhaul_changes: list[tuple[float, str, str]] = []  # (monotonic, state, vip or reason)
        self._bh_lock: asyncio.Lock | None = None
        self._bh_bind_error: str | None = None
        self._ups = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        c = self.config
        # air and N3 drain their sockets from large buffers (testbed/runtime/udp.py): heartbeats of
        # thousands of UEs must not overflow the kernel queue while the loop encodes NGAP
        self._air = await open_draining_udp((c.air_address, c.air_port), self._on_air)
        self.air_address = self._air.get_extra_info("sockname")[:2]
        self._bh_lock = asyncio.Lock()
        if c.backhaul_control is None:  # backhaul in the clear: N3 on the configured address
            self._n3 = await open_draining_udp((c.n3_address, c.n3_port), self._on_n3)
            self.n3_address = self._n3.get_extra_info("sockname")[:2]
        if self.control_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.control_path.unlink()
            self.control_path.parent.mkdir(parents=True, exist_ok=True)
            self._control = await asyncio.start_unix_server(self._control_client, path=str(self.control_path))
            os.chmod(self.control_path, 0o600)
        n3 = f"{self.n3_address[0]}:{self.n3_address[1]}" if self.n3_address else "tunnel inner address (pending)"
        self.events.emit("femto.started", "info", name=c.name, air=f"{self.air_address[0]}:{self.air_address[1]}",
                         n3=n3, amf=f"{c.amf_address}:{c.amf_port}",
                         radio_enabled_at_start=c.radio_enabled_at_start, knobs=c.knobs.active(),
                         backhaul_control=c.backhaul_control)
        self._spawn(self._ticker())
        self.execute(self.femto.start())
        if c.backhaul_control is not None:
            self._spawn(self._backhaul_watch())

    def stop(self) -> None:
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()
        await self.close()

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._assoc is not None:
            with contextlib.suppress(Exception):
                self._assoc.close()
            self._assoc = None
        for tr in (self._air, self._n3):
            if tr is not None:
                tr.close()
        if self._control is not None:
            self._control.close()
            with contextlib.suppress(Exception):
                await self._control.wait_closed()
            with contextlib.suppress(FileNotFoundError):
                self.control_path.unlink()  # type: ignore[union-attr]

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ outputs

    def execute(self, outputs: list) -> None:
        for o in outputs:
            if isinstance(o, SendAir):
                if self._air is not None:
                    self._air.sendto(o.data, o.addr)
            elif isinstance(o, SendN3):
                if self._n3 is not None:
                    self._n3.sendto(o.data, o.addr)
            elif isinstance(o, SendNgap):
                if self._send_queue is not None:
                    self._send_queue.put_nowait((o.data, o.stream))
            elif isinstance(o, Event):
                # keys the event line itself uses must not be overwritten by a field
                fields = {(f"field_{k}" if k in _RESERVED else k): v for k, v in o.fields.items()}
                self.events.emit(o.type, o.severity, **fields)
                if o.severity in ("warning", "error", "critical"):
                    log.info("%s %s", o.type, {k: v for k, v in o.fields.items() if k not in ("hex", "decoded")})
            elif isinstance(o, ConnectN2):
                if not self._connecting and (self._n2_task is None or self._n2_task.done()):
                    self._connecting = True
                    self._n2_task = asyncio.ensure_future(self._n2())
                    self._tasks.add(self._n2_task)
                    self._n2_task.add_done_callback(self._tasks.discard)
            elif isinstance(o, CloseN2):
                if self._assoc is not None:
                    self._assoc.close()

    # ------------------------------------------------------------------ inputs

    def _on_air(self, data: bytes, addr: tuple[str, int]) -> None:
        self.execute(self.femto.air_received(data, addr))

    def _on_n3(self, data: bytes, addr: tuple[str, int]) -> None:
        self.execute(self.femto.n3_received(data, addr))

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            self.execute(self.femto.tick())

    async def _n2(self) -> None:
        """Connect, run the association until it drops, tell the femto (which schedules the reconnect)."""
        from testbed.protocols import sctp

        c = self.config
        connect = self._connect or sctp.connect
        kwargs: dict[str, Any] = {"local": self._n2_local} if self._n2_local else {}
        try:
            try:
                assoc = await connect(c.amf_address, c.amf_port, mode=c.sctp_mode, streams=2, **kwargs)
            except (OSError, sctp.SctpError) as e:
                log.info("N2: cannot connect to %s:%d: %s", c.amf_address, c.amf_port, e)
                self._connecting = False
                self.execute(self.femto.n2_connect_failed(f"{type(e).__name__}: {e}"))
                return
            self._assoc = assoc
            self._send_queue = asyncio.Queue()
            sender = asyncio.ensure_future(self._sender(assoc, self._send_queue))
            self._connecting = False
            log.info("N2: association to %s:%d up (%s)", c.amf_address, c.amf_port, getattr(assoc, "kind", "?"))
            self.execute(self.femto.n2_up())
            reason = "closed"
            try:
                while True:
                    msg = await assoc.recv()
                    self.execute(self.femto.ngap_received(msg.data, msg.stream))
            except ConnectionError as e:
                reason = getattr(assoc, "down_reason", None) or str(e) or "closed"
            finally:
                self._send_queue = None
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sender
                with contextlib.suppress(Exception):
                    assoc.close()
                self._assoc = None
            log.info("N2: association down: %s", reason)
            self.execute(self.femto.n2_down(reason))
        finally:
            self._connecting = False

    async def _sender(self, assoc: Any, queue: asyncio.Queue) -> None:
        from testbed.protocols.sctp import NGAP_PPID

        while True:
            data, stream = await queue.get()
            streams = max(int(getattr(assoc, "outbound_streams", 2) or 1), 1)
            try:
                await assoc.send(data, stream=stream if stream < streams else stream % streams, ppid=NGAP_PPID)
            except (ConnectionError, OSError) as e:
                log.info("N2: send failed: %s", e)
                return

    # ------------------------------------------------------------------ backhaul gate

    async def _backhaul_watch(self) -> None:
        """Poll the backhaul agent (the source of truth); an agent that does not answer means no tunnel."""
        from testbed.runtime.control import control_request

        path = self.config.backhaul_control
        assert path is not None
        while True:
            try:
                st = await asyncio.to_thread(control_request, path, {"op": "status"}, 1.0)
            except (OSError, ValueError) as e:
                st = {"state": "unreachable", "reason": f"backhaul agent unreachable ({type(e).__name__})"}
            if st.get("state") == "up" and isinstance(st.get("vip"), str):
                await self.backhaul_up(st["vip"])
            else:
                self.backhaul_down(str(st.get("reason") or st.get("state") or "down"))
            await asyncio.sleep(self.config.backhaul_poll_s)

    async def backhaul_up(self, vip: str) -> None:
        """The tunnel is up: bind N3 to its inner address, bind N2 to it and connect."""
        assert self._bh_lock is not None
        async with self._bh_lock:
            if self.backhaul_state == "up" and self.backhaul_vip == vip:
                return
            if self.backhaul_state == "up":
                self.backhaul_down("virtual IP changed")
            try:
                n3 = await open_draining_udp((vip, self.config.n3_port), self._on_n3)
            except OSError as e:  # the address is not installed yet: try again at the next poll
                if self._bh_bind_error != str(e):
                    self._bh_bind_error = str(e)
                    log.info("backhaul up but N3 cannot bind %s: %s", vip, e)
                return
            self._bh_bind_error = None
            if self._ups and not self._connect:
                # a usrsctp stack learns local addresses only when it starts (testbed.protocols.sctp)
                from testbed.protocols.sctp import shutdown_usrsctp

                await asyncio.to_thread(shutdown_usrsctp)
            self._ups += 1
            self._n3 = n3
            self.n3_address = n3.get_extra_info("sockname")[:2]
            self._n2_local = vip
            self.backhaul_state, self.backhaul_vip = "up", vip
            self.backhaul_changes.append((time.monotonic(), "up", vip))
            log.info("backhaul up: N2/N3 on %s", vip)
            self.execute(self.femto.backhaul_up(vip))

    def backhaul_down(self, reason: str) -> None:
        """The tunnel is down (or about to go): N2 dropped, N3 closed, radio off — synchronously."""
        if self.backhaul_state == "down":
            return
        self.backhaul_state, self.backhaul_vip = "down", None
        self.backhaul_changes.append((time.monotonic(), "down", reason))
        log.info("backhaul down (%s): radio off, N2 dropped", reason)
        self.execute(self.femto.backhaul_down(reason))
        task, self._n2_task = self._n2_task, None
        if task is not None and not task.done():
            task.cancel()  # its cleanup closes the association; no n2_down: the femto suspended N2 already
        if self._assoc is not None:
            with contextlib.suppress(Exception):
                self._assoc.close()
        self._connecting = False
        if self._n3 is not None:
            self._n3.close()
            self._n3 = None
        self.n3_address = None
        self._n2_local = None

    def _backhaul_push(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"op": "backhaul", "state": "up"|"down", "vip"?, "reason"?}`` from the backhaul agent."""
        state = request.get("state")
        if state == "down":
            self.backhaul_down(str(request.get("reason") or "down")[:200])
        elif state == "up" and isinstance(request.get("vip"), str):
            self._spawn(self.backhaul_up(request["vip"]))
        else:
            return {"ok": False, "error": '"state" must be "down" or "up" (with "vip")'}
        return {"ok": True, "radio": {"allowed": self.femto.radio_allowed, "on": self.femto.cell.radiating},
                "backhaul": self.backhaul_state}

    # ------------------------------------------------------------------ control

    async def _control_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from testbed.runtime.control import serve_json_lines

        await serve_json_lines(reader, writer, self.control)

    def control(self, request: Any) -> dict[str, Any]:
        """Answer one control request (also used in-process by tests)."""
        if isinstance(request, dict) and request.get("op") == "backhaul":
            if self.config.backhaul_control is None:
                return {"ok": False, "error": "this femto has no backhaul gate (backhaul in the clear)"}
            return self._backhaul_push(request)
        reply, outs = self.femto.control(request)
        self.execute(outs)
        if isinstance(request, dict) and request.get("op") == "status":
            reply["air"] = list(self.air_address) if self.air_address else None
            reply["n3"] = list(self.n3_address) if self.n3_address else None
            reply["sockets"] = {name: {**tr.counters, "receive_buffer": tr.receive_buffer}
                                for name, tr in (("air", self._air), ("n3", self._n3))
                                if isinstance(tr, DrainingUdp)}
            if self.gc_pauses is not None:
                reply["gc"] = self.gc_pauses.snapshot()
        return reply


async def run(config: FemtoConfig, events: EventWriter, *, control_path: str | Path | None = None) -> int:
    proc = FemtoProcess(config, events, control_path=control_path)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, proc.stop)
    try:
        await proc.start()
    except Exception as e:
        events.emit("femto.start_failed", "error", error=f"{type(e).__name__}: {e}")
        await proc.close()
        raise
    settle_heap()  # start-up objects out of later full collections (testbed/runtime/tuning.py)
    proc.gc_pauses = GcPauses().install()
    await proc.wait_stopped()
    events.emit("femto.stopped", "info")
    return 0
