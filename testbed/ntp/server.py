"""Asyncio adapter for :mod:`testbed.ntp.sntp`: ``python -m testbed.ntp.server --port 123``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import time

from testbed.ntp.sntp import answer
from testbed.runtime.events import EventWriter


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, events: EventWriter):
        self.events = events
        self.transport: asyncio.DatagramTransport | None = None
        self.served = 0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        reply = answer(data, time.time())
        if reply is None:
            self.events.emit("ntp.dropped", "notice", peer=addr[0], length=len(data))
            return
        self.served += 1
        assert self.transport is not None
        self.transport.sendto(reply, addr)


async def serve(host: str, port: int) -> None:
    events = EventWriter.from_env("ntp")
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(events), local_addr=(host, port))
    events.emit("service.listening", port=port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    transport.close()
    events.close()


def main() -> None:
    ap = argparse.ArgumentParser(description="SNTP server for the operator network")
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=123)
    args = ap.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
