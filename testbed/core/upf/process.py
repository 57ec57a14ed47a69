"""The UPF process: asyncio adapters around the sans-I/O :class:`~.sessions.Upf`.

``python -m testbed.core.upf --n3 10.10.0.3 --n4 10.10.0.3 --ue-pool 10.45.0.0/16 --tun upf-n6
--events <path> --control <unix socket>``

- UDP 8805 on the N4 address: PFCP (TS 29.244);
- UDP 2152 on the N3 address: GTP-U (TS 29.281); uplink T-PDUs are written to the TUN;
- the TUN (``--tun``, address = first host of the UE pool, MTU 1400): downlink IP packets to UE
  addresses are read (``loop.add_reader``) and sent as G-PDUs to the gNB (or buffered while the UE is
  idle, with a PFCP Session Report Request to the SMF); IPv4 forwarding is enabled in the node's
  namespace so that the kernel routes between the TUN and N6;
- ``--control``: one JSON request per line, one JSON answer per line: ``{"op": "sessions"}``,
  ``{"op": "counters"}``, ``{"op": "ping"}``;
- ``--events``: JSON-lines events (:class:`testbed.runtime.events.EventWriter`).

It logs ``upf ready`` once every socket is bound, and on SIGTERM/SIGINT closes everything,
which deletes the (non-persistent) TUN device.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from testbed.core.smf.pfcp import PORT as PFCP_PORT
from testbed.errors import NeedsRoot
from testbed.protocols.gtpu import PORT as GTPU_PORT
from testbed.runtime.events import EventWriter
from testbed.runtime.tuning import enlarge_receive_buffer

from .sessions import Upf
from .tun import DEFAULT_MTU, Tun, check_name, enable_ip_forwarding

log = logging.getLogger("testbed.core.upf")

TUN_BATCH = 256  # packets read per TUN wake-up, so N3 is not starved


class _Pfcp(asyncio.DatagramProtocol):
    def __init__(self, owner: UpfProcess):
        self.owner = owner
        self.upf = owner.upf
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:  # type: ignore[override]
        try:
            resp = self.upf.handle_pfcp(data, addr)
        except Exception:  # noqa: BLE001 - a bug must not kill the UPF; the datagram is dropped
            log.exception("PFCP datagram from %s crashed the handler", addr)
            return
        if resp is not None and self.transport is not None:
            self.transport.sendto(resp, addr)
        self.owner.flush()  # a FAR that turned to FORW releases the buffered downlink


class _Gtpu(asyncio.DatagramProtocol):
    def __init__(self, owner: UpfProcess):
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:  # type: ignore[override]
        try:
            pkt, reply = self.owner.upf.handle_n3(data, addr)
        except Exception:  # noqa: BLE001
            log.exception("GTP-U datagram from %s crashed the handler", addr)
            return
        if pkt is not None:
            self.owner.to_n6(pkt)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("GTP-U socket error: %s", exc)


class UpfProcess:
    """Sockets, TUN, control socket and events around one :class:`Upf`."""

    def __init__(self, upf: Upf, n3: str, n4: str, *, tun: Tun | None = None, control: str | None = None,
                 events: EventWriter | None = None, n3_port: int = GTPU_PORT, n4_port: int = PFCP_PORT):
        self.upf = upf
        self.n3, self.n4 = n3, n4
        self.n3_port, self.n4_port = n3_port, n4_port
        self.tun = tun
        self.control = control
        self.events = events
        self._pfcp: asyncio.DatagramTransport | None = None
        self._gtpu: _Gtpu | None = None
        self._poll: asyncio.Task | None = None
        self._server: asyncio.AbstractServer | None = None
        self.n6_dropped = 0

    @property
    def pfcp_address(self) -> tuple[str, int] | None:
        return None if self._pfcp is None else self._pfcp.get_extra_info("sockname")[:2]

    @property
    def gtpu_address(self) -> tuple[str, int] | None:
        if self._gtpu is None or self._gtpu.transport is None:
            return None
        return self._gtpu.transport.get_extra_info("sockname")[:2]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.tun is not None:
            # pyroute2's synchronous IPRoute runs its own event loop: configure the TUN in a worker thread
            await loop.run_in_executor(None, self.tun.open)
            loop.add_reader(self.tun.fd, self._on_tun)
        self._pfcp, _ = await loop.create_datagram_endpoint(lambda: _Pfcp(self), local_addr=(self.n4, self.n4_port))
        gt, self._gtpu = await loop.create_datagram_endpoint(lambda: _Gtpu(self), local_addr=(self.n3, self.n3_port))
        sock = gt.get_extra_info("socket")
        with contextlib.suppress(OSError):  # bursts of user plane traffic
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        enlarge_receive_buffer(gt)
        enlarge_receive_buffer(self._pfcp)
        if self.control:
            path = Path(self.control)
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self._server = await asyncio.start_unix_server(self._handle_control, path=str(path))
            os.chmod(path, 0o600)
        self._poll = asyncio.create_task(self._poll_loop(), name="upf-report-retransmission")

    async def _poll_loop(self) -> None:
        """Session Report Request retransmission (T1, N1: TS 29.244 7.6)."""
        while True:
            await asyncio.sleep(self.upf.report_t1 / 2)
            try:
                self.upf.poll()
            except Exception:  # noqa: BLE001
                log.exception("PFCP report retransmission failed")
            self.flush()

    def flush(self) -> None:
        """Send what the UPF originated: Session Report Requests (N4) and flushed buffered G-PDUs (N3)."""
        for data, dest in self.upf.take_pfcp():
            if self._pfcp is not None and dest is not None:
                self._pfcp.sendto(data, dest)
        gt = self._gtpu.transport if self._gtpu is not None else None
        for data, peer in self.upf.take_n3():
            if gt is not None:
                gt.sendto(data, peer)

    def to_n6(self, pkt: bytes) -> None:
        if self.tun is None or not self.tun.write(pkt):
            self.n6_dropped += 1

    def _on_tun(self) -> None:
        tun, gtpu = self.tun, self._gtpu
        if tun is None:
            return
        for _ in range(TUN_BATCH):
            try:
                pkt = tun.read()
            except OSError as e:  # the device went away: stop reading instead of spinning
                log.error("TUN %s read failed, N6 downlink stopped: %s", tun.name, e)
                asyncio.get_running_loop().remove_reader(tun.fd)
                if self.events:
                    self.events.emit("upf.tun.failed", "error", tun=tun.name, error=str(e))
                return
            if pkt is None:
                return
            try:
                out = self.upf.downlink(pkt)
            except Exception:  # noqa: BLE001
                log.exception("downlink packet crashed the handler")
                continue
            if out is not None and gtpu is not None and gtpu.transport is not None:
                gtpu.transport.sendto(out[0], out[1])
            elif out is None:
                self.flush()  # a buffered packet may have triggered a Session Report Request

    async def _handle_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), timeout=60)
                except (TimeoutError, ValueError):  # ValueError: line longer than the stream limit
                    break
                if not line:
                    break
                writer.write(json.dumps(self.control_request(line), default=str).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def control_request(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {"ok": False, "error": "request is not JSON"}
        op = req.get("op") if isinstance(req, dict) else None
        if op == "sessions":
            return {"ok": True, "sessions": self.upf.sessions()}
        if op == "counters":
            c = self.upf.counters()
            c["global"]["n6_write_dropped"] = self.n6_dropped
            return {"ok": True, "counters": c}
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        return {"ok": False, "error": f"unknown op {op!r} (sessions, counters, ping)"}

    async def stop(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poll
            self._poll = None
        if self.tun is not None and self.tun.fd >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.tun.fd)
            self.tun.close()
        if self._pfcp is not None:
            self._pfcp.close()
        if self._gtpu is not None and self._gtpu.transport is not None:
            self._gtpu.transport.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            if self.control:
                with contextlib.suppress(FileNotFoundError):
                    Path(self.control).unlink()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m testbed.core.upf", description="UPF of the built-in 5G core")
    ap.add_argument("--n3", required=True, help="N3 (GTP-U) IPv4 address")
    ap.add_argument("--n4", help="N4 (PFCP) IPv4 address (default: the N3 address)")
    ap.add_argument("--ue-pool", default="10.45.0.0/16", help="UE IPv4 network routed to the TUN")
    ap.add_argument("--tun", default="upf-n6", help="TUN device name; 'none' runs without TUN (tests)")
    ap.add_argument("--tun-address", help="TUN address/prefix (default: first host of the UE pool)")
    ap.add_argument("--mtu", type=int, default=DEFAULT_MTU)
    ap.add_argument("--events", help="JSON-lines event file (default: $NRFEMTO_EVENTS, else none)")
    ap.add_argument("--control", help="Unix control socket path")
    ap.add_argument("--n3-port", type=int, default=GTPU_PORT)
    ap.add_argument("--n4-port", type=int, default=PFCP_PORT)
    ap.add_argument("--strict-peer", action="store_true",
                    help="drop uplink G-PDUs that do not come from the session's gNB address")
    ap.add_argument("--allow-cp", action="append", metavar="IP",
                    help="only this SMF address may set up a PFCP association (repeatable; default: any)")
    ap.add_argument("--log-level", default="INFO")
    return ap.parse_args(argv)


def _validate(a: argparse.Namespace) -> str | None:
    for name in ("n3", "n4"):
        v = getattr(a, name)
        try:
            ipaddress.IPv4Address(v)
        except ValueError:
            return f"--{name}: {v!r} is not an IPv4 address"
    try:
        net = ipaddress.IPv4Network(a.ue_pool, strict=True)
    except ValueError as e:
        return f"--ue-pool: {a.ue_pool!r} is not an IPv4 network ({e})"
    if a.tun != "none":
        try:
            check_name(a.tun)
        except ValueError as e:
            return f"--tun: {e}"
        if a.tun_address is None:
            a.tun_address = f"{net.network_address + 1}/{net.prefixlen}"
        try:
            ipaddress.IPv4Interface(a.tun_address)
        except ValueError:
            return f"--tun-address: {a.tun_address!r} is not an IPv4 address/prefix"
    if not 576 <= a.mtu <= 65535:
        return f"--mtu: {a.mtu} is not 576..65535"
    for ip in a.allow_cp or ():
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return f"--allow-cp: {ip!r} is not an IP address"
    for name in ("n3_port", "n4_port"):
        if not 0 <= getattr(a, name) <= 65535:
            return f"--{name.replace('_', '-')}: not a port number"
    return None


async def _run(a: argparse.Namespace) -> int:
    path = a.events or os.environ.get("NRFEMTO_EVENTS")
    events = EventWriter(path, "upf", os.environ.get("NRFEMTO_NODE")) if path else None
    upf = Upf(a.n3, a.ue_pool, node_id=a.n4, on_event=events.emit if events else None, strict_peer=a.strict_peer,
              n3_port=GTPU_PORT, allowed_cp=a.allow_cp)
    tun = None if a.tun == "none" else Tun(a.tun, a.tun_address, a.mtu)
    proc = UpfProcess(upf, a.n3, a.n4, tun=tun, control=a.control, events=events, n3_port=a.n3_port,
                      n4_port=a.n4_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if tun is not None and not enable_ip_forwarding():
            log.warning("could not enable IPv4 forwarding (not root?)")
        await proc.start()
        log.info("upf ready n3=%s:%s n4=%s:%s tun=%s pool=%s", a.n3, proc.gtpu_address[1] if proc.gtpu_address else "",
                 a.n4, proc.pfcp_address[1] if proc.pfcp_address else "", a.tun, a.ue_pool)
        if events:
            events.emit("service.ready", n3=a.n3, n4=a.n4, tun=a.tun, ue_pool=a.ue_pool)
        await stop.wait()
    except (OSError, NeedsRoot) as e:
        log.error("upf failed to start: %s", e)
        return 1
    finally:
        await proc.stop()
        log.info("upf stopped")
        if events:
            events.emit("service.stopped", counters=upf.counters()["global"])
            events.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    a = _parse(argv)
    if a.n4 is None:
        a.n4 = a.n3
    logging.basicConfig(level=getattr(logging, str(a.log_level).upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    err = _validate(a)
    if err:
        print(f"upf: {err}", file=sys.stderr)
        return 2
    return asyncio.run(_run(a))
