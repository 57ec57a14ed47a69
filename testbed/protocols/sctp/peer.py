"""A remotely controlled SCTP peer for integration tests and benchmarks.

Run ``python -m testbed.protocols.sctp.peer`` (typically inside a network
namespace); it reads one JSON command per line on stdin and writes one JSON
reply per line on stdout (logs go to stderr).  One process = one usrsctp stack,
so run one peer per namespace.

Commands (``op``):

- ``serve`` {host, port, mode, streams, options, hold, echo}: start an echo server.
  Every message is recorded as an event and (unless ``echo`` is false) echoed on
  the same stream with the same PPID, except PPID :data:`PPID_SINK` (counted only) and :data:`PPID_REPORT`
  (answered with the sink count as 8 bytes, counter reset).  With ``hold`` the
  handlers read nothing until ``release`` (to test flow control).
- ``release``: let a held server's handlers read.
- ``events`` {clear}: the server's events (association, message, down).
- ``wait_events`` {event, count, timeout}: wait until ``count`` such events exist.
- ``connect`` {host, port, mode, streams, local, options}: open the client association.
- ``connect_retry`` {... , until, interval}: retry ``connect`` until it works (a gNB's reconnect loop).
- ``send`` {size, seed | hex, stream, ppid}; ``send_many`` {messages: [...]}.
- ``recv`` {timeout}: the next message (length, sha256, hex when short) or the down reason.
- ``wait_down`` {timeout}: wait until the client association is down.
- ``close``; ``bench_rtt`` {count, size}; ``bench_rate`` {count, size}; ``exit``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import logging
import random
import statistics
import sys
import time
from typing import Any

from testbed.protocols.sctp import transport
from testbed.protocols.sctp.association import SctpAssociation, SctpOptions, SctpServer

PPID_SINK = 0xFFFF0001
PPID_REPORT = 0xFFFF0002

log = logging.getLogger("testbed.sctp.peer")


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic test payload of ``size`` bytes."""
    return random.Random(seed * 1_000_003 + size).randbytes(size)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _options(raw: dict[str, Any] | None) -> SctpOptions:
    return SctpOptions(**(raw or {}))


class Peer:
    def __init__(self) -> None:
        self.server: SctpServer | None = None
        self.assoc: SctpAssociation | None = None
        self.events: list[dict[str, Any]] = []
        self._event_added = asyncio.Event()
        self._sink_count = 0
        self._n_assoc = 0
        self._released = asyncio.Event()
        self._released.set()
        self._echo = True

    def _event(self, **ev: Any) -> None:
        ev["t"] = time.monotonic()
        self.events.append(ev)
        self._event_added.set()

    # -- server
    async def _handle(self, assoc: SctpAssociation) -> None:
        self._n_assoc += 1
        n = self._n_assoc
        self._event(event="association", assoc=n, peer=list(assoc.peer), kind=assoc.kind,
                    outbound_streams=assoc.outbound_streams, inbound_streams=assoc.inbound_streams)
        try:
            await self._released.wait()
            while True:
                msg = await assoc.recv()
                if msg.ppid == PPID_SINK:
                    self._sink_count += 1
                    continue
                if msg.ppid == PPID_REPORT:
                    count, self._sink_count = self._sink_count, 0
                    await assoc.send(count.to_bytes(8, "big"), msg.stream, PPID_REPORT)
                    continue
                self._event(event="message", assoc=n, stream=msg.stream, ppid=msg.ppid, len=len(msg.data),
                            sha256=digest(msg.data))
                if self._echo:
                    await assoc.send(msg.data, msg.stream, msg.ppid)
        except ConnectionError as e:
            self._event(event="down", assoc=n, reason=str(e))

    async def op_serve(self, host: str = "0.0.0.0", port: int = 38412, mode: str = "auto", streams: int = 16,
                       options: dict[str, Any] | None = None, hold: bool = False,
                       echo: bool = True) -> dict[str, Any]:
        if hold:
            self._released.clear()
        self._echo = echo
        self.server = await transport.serve(host, port, self._handle, mode=mode, streams=streams,
                                            options=_options(options))
        return {"kind": self.server.kind, "address": list(self.server.address)}

    async def op_release(self) -> dict[str, Any]:
        """Let handlers of a ``serve(hold=True)`` server start reading."""
        self._released.set()
        return {}

    async def op_events(self, clear: bool = False) -> dict[str, Any]:
        events = list(self.events)
        if clear:
            self.events.clear()
        return {"events": events}

    async def op_wait_events(self, event: str, count: int = 1, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            matching = [e for e in self.events if e["event"] == event]
            if len(matching) >= count:
                return {"events": matching}
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(matching)}/{count} {event!r} events after {timeout} s")
            self._event_added.clear()
            try:
                await asyncio.wait_for(self._event_added.wait(), remaining)
            except TimeoutError:
                pass

    # -- client
    def _assoc_info(self) -> dict[str, Any]:
        assert self.assoc is not None
        return {"kind": self.assoc.kind, "peer": list(self.assoc.peer),
                "outbound_streams": self.assoc.outbound_streams, "inbound_streams": self.assoc.inbound_streams}

    async def op_connect(self, host: str, port: int = 38412, mode: str = "auto", streams: int = 2,
                         local: str | None = None, options: dict[str, Any] | None = None) -> dict[str, Any]:
        self.assoc = await transport.connect(host, port, mode=mode, streams=streams, local=local,
                                             options=_options(options))
        return self._assoc_info()

    async def op_connect_retry(self, until: float = 30.0, interval: float = 0.5, **kw: Any) -> dict[str, Any]:
        deadline = time.monotonic() + until
        attempts = 0
        t0 = time.monotonic()
        while True:
            attempts += 1
            try:
                info = await self.op_connect(**kw)
            except OSError as e:
                if time.monotonic() + interval > deadline:
                    raise TimeoutError(f"no association after {attempts} attempts: {e}") from e
                await asyncio.sleep(interval)
                continue
            return {**info, "attempts": attempts, "elapsed": time.monotonic() - t0}

    def _client(self) -> SctpAssociation:
        if self.assoc is None:
            raise RuntimeError("no client association (connect first)")
        return self.assoc

    async def op_send(self, size: int | None = None, seed: int = 0, hex: str | None = None, stream: int = 0,
                      ppid: int = 60) -> dict[str, Any]:
        data = bytes.fromhex(hex) if hex is not None else payload(size or 0, seed)
        await self._client().send(data, stream, ppid)
        return {"len": len(data), "sha256": digest(data)}

    async def op_send_many(self, messages: list[dict[str, Any]] | None = None,
                           pattern: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send ``messages``, or ``pattern`` {count, size, streams}: message i has seed i, stream i % streams."""
        if pattern is not None:
            n, size, streams = pattern["count"], pattern["size"], pattern.get("streams", 1)
            messages = [{"size": size, "seed": i, "stream": i % streams} for i in range(n)]
        sent = [await self.op_send(**m) for m in messages or []]
        return {"sent": sent if pattern is None else len(sent)}

    async def op_recv(self, timeout: float = 10.0) -> dict[str, Any]:
        try:
            msg = await asyncio.wait_for(self._client().recv(), timeout)
        except ConnectionError as e:
            return {"down": True, "reason": str(e)}
        reply: dict[str, Any] = {"down": False, "stream": msg.stream, "ppid": msg.ppid, "len": len(msg.data),
                                 "sha256": digest(msg.data)}
        if len(msg.data) <= 64:
            reply["hex"] = msg.data.hex()
        return reply

    async def op_wait_down(self, timeout: float = 30.0) -> dict[str, Any]:
        t0 = time.monotonic()
        reason = await asyncio.wait_for(self._client().wait_down(), timeout)
        return {"reason": reason, "elapsed": time.monotonic() - t0}

    async def op_close(self) -> dict[str, Any]:
        if self.assoc is not None:
            self.assoc.close()
        return {}

    async def op_bench_rtt(self, count: int = 1000, size: int = 200, warmup: int = 50) -> dict[str, Any]:
        assoc = self._client()
        data = payload(size, 7)
        samples = []
        for i in range(warmup + count):
            t0 = time.perf_counter()
            await assoc.send(data, 0, 60)
            msg = await assoc.recv()
            dt = time.perf_counter() - t0
            if len(msg.data) != size:
                raise RuntimeError(f"echo of {len(msg.data)} bytes, expected {size}")
            if i >= warmup:
                samples.append(dt * 1e6)
        samples.sort()
        return {"count": count, "size": size, "min_us": samples[0], "median_us": statistics.median(samples),
                "mean_us": statistics.fmean(samples), "p99_us": samples[int(0.99 * (len(samples) - 1))]}

    async def op_bench_rate(self, count: int = 20000, size: int = 200, streams: int = 1) -> dict[str, Any]:
        assoc = self._client()
        data = payload(size, 8)
        t0 = time.perf_counter()
        for i in range(count):
            await assoc.send(data, i % streams, PPID_SINK)
        await assoc.send(b"report", 0, PPID_REPORT)
        msg = await assoc.recv()
        elapsed = time.perf_counter() - t0
        received = int.from_bytes(msg.data, "big")
        if msg.ppid != PPID_REPORT or received != count:
            raise RuntimeError(f"server counted {received} of {count} messages")
        return {"count": count, "size": size, "elapsed_s": elapsed, "msgs_per_s": count / elapsed,
                "mbit_per_s": count * size * 8 / elapsed / 1e6}

    async def op_exit(self) -> dict[str, Any]:
        if self.assoc is not None:
            self.assoc.close()
        if self.server is not None:
            self.server.close()
        return {}


async def _main() -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    peer = Peer()
    while True:
        line = await reader.readline()
        if not line:
            break
        op = "?"
        try:
            cmd = json.loads(line)
            op = str(cmd.pop("op"))
            handler = getattr(peer, f"op_{op}", None)
            if handler is None:
                raise ValueError(f"unknown op {op!r}")
            result = await handler(**cmd)
            reply = {"ok": True, **result}
        except Exception as e:  # report every failure to the controller
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply, default=_json_default), flush=True)
        if op == "exit":
            break
    await asyncio.sleep(0.2)  # let SHUTDOWN chunks go out
    return 0


def _json_default(obj: object) -> object:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return str(obj)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(_main())


if __name__ == "__main__":
    sys.exit(main())
