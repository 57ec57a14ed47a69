"""The core process: UDR, UDM, AUSF, AMF and SMF in one asyncio process in the ``core`` node.

The network functions are sans-I/O objects; this module is their I/O:

- N2: an SCTP server (kernel SCTP or usrsctp, :mod:`testbed.protocols.sctp`) on
  port 38412; every association gets an id, a receive loop feeding
  :meth:`Amf.ngap_received` and an ordered send queue.
- N4: PFCP over UDP to the UPF (:class:`testbed.core.smf.UdpN4Client`).
- Timers: ``StartTimer``/``CancelTimer`` outputs become ``loop.call_later`` handles.
- Events: AMF events go to the JSON-lines event stream (``$NRFEMTO_EVENTS``)
  with dotted type names (``cag.reject``, ``auth.failure``, ...).
- Control: a Unix socket ``<state-dir>/control.sock`` answering one JSON request
  per line (``status``, ``ues``, ``gnbs``, ``sessions``, ``deregister``, and the
  UDR provisioning operations of :func:`testbed.core.udr.handle_provisioning`).

State directory (``--state-dir``, normally ``<run>/core``): ``core.json`` (the
topology's ``core:`` settings), ``subscribers.yaml`` (this run's subscribers
with generated keys, see :mod:`testbed.core.provision`), ``udr.sqlite`` (the
store: SQNs survive a restart), ``hn-keys.json``/``hn-public.json`` (SUCI home
network keys, generated on first start).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
from pathlib import Path
from typing import Any

from testbed.core.config import CoreSettings
from testbed.runtime.events import EventWriter
from testbed.runtime.tuning import GcPauses, settle_heap

log = logging.getLogger("testbed.core")

#: AMF event names -> event stream type (design.md: dotted names).
EVENT_TYPES = {
    "ng_setup_accepted": "ngsetup.accepted",
    "ng_setup_refused": "ngsetup.refused",
    "security_mode": "nas.security_mode",
    "security_mode_reject": "nas.security_mode_reject",
    "nas_mac_failure": "nas.mac_failure",
    "nas_replay": "nas.replay_dropped",
    "ngap_foreign_ue": "ngap.foreign_ue",
    "ngap_malformed": "ngap.malformed",
    "cag_bypass_emergency": "cag.bypass_emergency",
    "cag_id_not_announced": "cag.id_not_announced",
    "ue_context_release": "ue_context.release",
    "service_request_accepted": "service_request.accepted",
    "internal_error": "core.internal_error",
}
_WARNING_WORDS = ("reject", "refused", "failure", "replay", "foreign", "malformed", "not_announced", "abort")


def event_type(name: str) -> str:
    """Dotted event type for an AMF event name (``cag_reject`` -> ``cag.reject``)."""
    if name in EVENT_TYPES:
        return EVENT_TYPES[name]
    if name.startswith("pdu_session_"):
        return "pdu_session." + name[len("pdu_session_"):]
    head, sep, tail = name.partition("_")
    return f"{head}.{tail}" if sep else name


def event_severity(name: str) -> str:
    if name == "internal_error":
        return "error"
    return "warning" if any(w in name for w in _WARNING_WORDS) else "info"


class CoreProcess:
    """All NFs of the core plus their sockets; ``await start()`` then ``await wait_stopped()``."""

    def __init__(self, settings: CoreSettings, state_dir: str | Path, events: EventWriter, *,
                 ngap_host: str = "0.0.0.0", n4_local: str = "0.0.0.0", connect_upf: bool = True):
        self.settings = settings
        self.state_dir = Path(state_dir)
        self.events = events
        self.ngap_host = ngap_host
        self.n4_local = n4_local
        self.connect_upf = connect_upf
        self._assoc_ids = itertools.count(1)
        self._assocs: dict[int, Any] = {}
        self._send_queues: dict[int, asyncio.Queue] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task] = set()
        self._stopped = asyncio.Event()
        self.gc_pauses: GcPauses | None = None  # set by run(): collections and pauses for 'status'
        self._server = None
        self._control = None
        self.counters = {"ngap_in": 0, "ngap_out": 0, "events": 0, "smf_calls": 0}

    # -- construction ---------------------------------------------------------
    def _build(self) -> None:
        from testbed.core import provision
        from testbed.core.amf import Amf
        from testbed.core.ausf import Ausf
        from testbed.core.udm import HomeNetworkKeys, Udm
        from testbed.core.udr import SubscriberStore, load_subscriber_file

        self.state_dir.mkdir(parents=True, exist_ok=True)
        sub_path = self.state_dir / provision.SUBSCRIBERS_FILE
        if not sub_path.exists():
            provision.materialise(self.settings, self.state_dir)
        db_path = self.state_dir / "udr.sqlite"
        fresh = not db_path.exists()
        self.store = SubscriberStore(db_path)
        if fresh:
            self.store.load(load_subscriber_file(sub_path))
        keys_path = self.state_dir / "hn-keys.json"
        if keys_path.exists():
            self.hn_keys = HomeNetworkKeys.load(keys_path)
        else:
            self.hn_keys = HomeNetworkKeys.generate()
            self.hn_keys.save(self.state_dir)
        amf_cfg = self.settings.amf
        self.udm = Udm(self.store, self.hn_keys, allow_null_scheme=amf_cfg.allow_null_scheme,
                       mnc_len=len(self.settings.plmn.mnc))
        self.ausf = Ausf(self.udm)
        self.amf = Amf(amf_config(self.settings), self.ausf, self.udm, self.store)
        self.smf = build_smf(self.settings, self.n4_local) if self.connect_upf else None
        if self.smf is not None:  # Namf_Communication_N1N2MessageTransfer: the AMF pages the idle UE
            self.smf.on_downlink_data = lambda supi, psi: self._execute(self.amf.n1n2_message_transfer(supi, psi))
            if self.smf.on_event is None:  # smf.* events (session (de)activation, downlink data) to the stream
                self.smf.on_event = lambda type_, severity, **f: self.events.emit(type_, severity, **f)

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        from testbed.protocols import sctp

        self._build()
        if self.smf is not None:
            await self.smf.start()
        self._server = await sctp.serve(self.ngap_host, self.settings.amf.ngap_port, self._association,
                                        mode=self.settings.amf.sctp_mode)
        sock = self.state_dir / "control.sock"
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        self._control = await asyncio.start_unix_server(self._control_client, path=str(sock))
        os.chmod(sock, 0o600)
        self.events.emit("core.ready", "info", ngap_port=self.settings.amf.ngap_port,
                         sctp=sctp.describe(self.settings.amf.sctp_mode).get("kind"),
                         subscribers=self.store.count(), plmn=self.settings.plmn.mcc + self.settings.plmn.mnc)
        log.info("core ready: NGAP on %s:%d", self.ngap_host, self.settings.amf.ngap_port)

    def stop(self) -> None:
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()
        await self.close()

    async def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 3)
        if self._control is not None:
            self._control.close()
        for task in list(self._tasks):
            task.cancel()
        if self.smf is not None:
            with contextlib.suppress(Exception):
                await self.smf.close()
        self.store.close()

    # -- N2 ----------------------------------------------------------------------
    async def _association(self, assoc) -> None:
        aid = next(self._assoc_ids)
        self._assocs[aid] = assoc
        queue: asyncio.Queue = asyncio.Queue()
        self._send_queues[aid] = queue
        sender = asyncio.create_task(self._sender(aid, assoc, queue))
        peer = f"{assoc.peer[0]}:{assoc.peer[1]}"
        self.events.emit("n2.association_up", "info", assoc=aid, peer=peer, transport=assoc.kind)
        self._execute(self.amf.association_up(aid, peer))
        try:
            while True:
                try:
                    msg = await assoc.recv()
                except ConnectionError:
                    break
                self.counters["ngap_in"] += 1
                self._execute(self.amf.ngap_received(aid, msg.data, msg.stream))
        finally:
            self.events.emit("n2.association_down", "info", assoc=aid, peer=peer,
                             reason=assoc.down_reason or "closed")
            self._execute(self.amf.association_down(aid))
            await queue.put(None)
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            self._assocs.pop(aid, None)
            self._send_queues.pop(aid, None)

    async def _sender(self, aid: int, assoc, queue: asyncio.Queue) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            data, stream = item
            stream = stream if stream < assoc.outbound_streams else stream % max(assoc.outbound_streams, 1)
            try:
                await assoc.send(data, stream=stream)
                self.counters["ngap_out"] += 1
            except (ConnectionError, OSError) as e:
                log.info("N2 association %d: send failed: %s", aid, e)
                return

    # -- outputs ----------------------------------------------------------------
    def _execute(self, outputs) -> None:
        from testbed.core.amf import outputs as out

        for o in outputs:
            if isinstance(o, out.SendNgap):
                queue = self._send_queues.get(o.assoc)
                if queue is not None:
                    queue.put_nowait((o.data, o.stream))
            elif isinstance(o, out.StartTimer):
                old = self._timers.pop(o.timer_id, None)
                if old:
                    old.cancel()
                self._timers[o.timer_id] = asyncio.get_running_loop().call_later(
                    o.seconds, self._timer_fired, o.timer_id)
            elif isinstance(o, out.CancelTimer):
                handle = self._timers.pop(o.timer_id, None)
                if handle:
                    handle.cancel()
            elif isinstance(o, out.Event):
                self.counters["events"] += 1
                self.events.emit(event_type(o.type), event_severity(o.type), **o.fields)
            elif isinstance(o, out.CloseAssociation):
                assoc = self._assocs.get(o.assoc)
                if assoc is not None:
                    assoc.close()
            elif isinstance(o, (out.SmfCreate, out.SmfN2Response, out.SmfRelease, out.SmfReleaseAll,
                                out.SmfActivate, out.SmfDeactivate, out.SmfPagingFailed)):
                self._spawn(self._smf_call(o))
            else:
                log.warning("unknown AMF output %r", o)

    def _timer_fired(self, timer_id: str) -> None:
        self._timers.pop(timer_id, None)
        self._execute(self.amf.timer_expired(timer_id))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _smf_call(self, o) -> None:
        from testbed.core.amf import outputs as out
        from testbed.core.smf import SmReply

        self.counters["smf_calls"] += 1
        try:
            if self.smf is None:
                raise RuntimeError("no SMF in this core process")
            if isinstance(o, out.SmfCreate):
                reply = await self.smf.create(o.request)
                self._execute(self.amf.smf_reply(o.amf_ue_ngap_id, reply))
            elif isinstance(o, out.SmfN2Response):
                if o.success:
                    reply = await self.smf.n2_setup_response(o.supi, o.pdu_session_id, o.transfer)
                else:
                    reply = await self.smf.n2_setup_failed(o.supi, o.pdu_session_id, o.transfer)
                if reply.kind != "setup":
                    self._execute(self.amf.smf_reply(o.amf_ue_ngap_id, reply))
            elif isinstance(o, out.SmfRelease):
                reply = await self.smf.release(o.supi, o.pdu_session_id, o.n1_sm)
                self._execute(self.amf.smf_reply(o.amf_ue_ngap_id, reply))
            elif isinstance(o, out.SmfReleaseAll):
                await self.smf.release_all(o.supi)
            elif isinstance(o, out.SmfActivate):
                reply = await self.smf.activate(o.supi, o.pdu_session_id)
                self._execute(self.amf.smf_reply(o.amf_ue_ngap_id, reply))
            elif isinstance(o, out.SmfDeactivate):
                await self.smf.deactivate(o.supi, o.pdu_session_ids)
            elif isinstance(o, out.SmfPagingFailed):
                await self.smf.paging_failed(o.supi, o.pdu_session_ids)
        except Exception as e:  # noqa: BLE001 - an SMF/UPF failure must not kill the AMF
            log.exception("SMF call failed")
            self.events.emit("core.internal_error", "error", where="smf", error=str(e))
            psi = getattr(o, "pdu_session_id", None) or getattr(getattr(o, "request", None), "pdu_session_id", 0)
            ue_id = getattr(o, "amf_ue_ngap_id", None)
            if ue_id is not None and not isinstance(o, out.SmfN2Response):
                self._execute(self.amf.smf_reply(ue_id, SmReply(pdu_session_id=psi, n1_sm=None, n2_transfer=None,
                                                                kind="error", cause="smf-failure")))

    # -- control socket -----------------------------------------------------------
    async def _control_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from testbed.runtime.control import serve_json_lines

        await serve_json_lines(reader, writer, self.control)

    def control(self, request: Any) -> dict:
        """Answer one control request (also used in-process by tests and the benchmark)."""
        from testbed.core.udr import handle_provisioning

        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"ok": False, "error": 'expected a JSON object with an "op" string'}
        op = request["op"]
        try:
            if op == "status":
                return {"ok": True, "subscribers": self.store.count(), "gnbs": len(self.amf.gnbs()),
                        "ues": len(self.amf.ue_contexts()), "counters": dict(self.counters),
                        "associations": len(self._assocs),
                        **({"gc": self.gc_pauses.snapshot()} if self.gc_pauses is not None else {})}
            if op == "ues":
                return {"ok": True, "ues": self.amf.ue_contexts()}
            if op == "gnbs":
                return {"ok": True, "gnbs": self.amf.gnbs()}
            if op == "sessions":
                sessions = self.smf.sessions() if self.smf is not None else []
                return {"ok": True, "sessions": [_as_dict(s) for s in sessions]}
            if op == "hn_public_keys":
                return {"ok": True, "keys": self.hn_keys.public_keys()}
            if op == "deregister":
                supi = request.get("supi")
                if not isinstance(supi, str):
                    return {"ok": False, "error": '"supi" must be a string'}
                outputs = self.amf.deregister(supi)
                self._execute(outputs)
                return {"ok": True, "outputs": len(outputs)}
            reply = handle_provisioning(self.store, request)
            if reply.get("ok") and op == "set_allowed_cag":
                self._execute(self.amf.refresh_cag(request["supi"]))
            return reply
        except Exception as e:  # noqa: BLE001 - a control request never kills the core
            log.exception("control request %r failed", op)
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def _as_dict(obj: Any) -> Any:
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return obj


def amf_config(settings: CoreSettings):
    """The AMF's configuration from the topology's core settings."""
    from testbed.core.amf import AmfConfig

    a = settings.amf
    return AmfConfig(
        amf_name=a.name, mcc=settings.plmn.mcc, mnc=settings.plmn.mnc, amf_region_id=a.region_id,
        amf_set_id=a.set_id, amf_pointer=a.pointer, tacs=tuple(settings.tacs),
        snssais=tuple((s.sst, s.sd) for s in settings.snssai),
        nia_priority=tuple(a.nia_priority), nea_priority=tuple(a.nea_priority),
        allow_unauthenticated_emergency=a.allow_unauthenticated_emergency,
        allow_unknown_gnbs=a.allow_unknown_gnbs,
    )


def _source_address(remote: str) -> str:
    """The local address the kernel would use to reach ``remote`` (our PFCP node ID)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((remote, 9))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def build_smf(settings: CoreSettings, n4_local: str | None = None):
    """The SMF with a PFCP client (UDP 8805, TS 29.244) towards the configured UPF."""
    from testbed.core.smf import Smf, SmfConfig, UdpN4Client

    s = settings.smf
    local = n4_local if n4_local not in (None, "0.0.0.0") else _source_address(s.upf_n4)
    config = SmfConfig(ue_pool=s.ue_pool, dnns=tuple(s.dnn), snssais=tuple((x.sst, x.sd) for x in settings.snssai),
                       upf_n4_address=(s.upf_n4, s.upf_n4_port), smf_n4_address=(local, 8805), dns_server=s.dns)
    return Smf(config, UdpN4Client(remote=(s.upf_n4, s.upf_n4_port), local=(local, 8805)))


async def run(settings: CoreSettings, state_dir: Path, events: EventWriter, connect_upf: bool = True) -> int:
    core = CoreProcess(settings, state_dir, events, connect_upf=connect_upf)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, core.stop)
    try:
        await core.start()
    except Exception as e:
        events.emit("core.start_failed", "error", error=f"{type(e).__name__}: {e}")
        raise
    settle_heap()  # start-up objects out of later full collections (testbed/runtime/tuning.py)
    core.gc_pauses = GcPauses().install()
    await core.wait_stopped()
    events.emit("core.stopped", "info")
    return 0
