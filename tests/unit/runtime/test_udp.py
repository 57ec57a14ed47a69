"""testbed.runtime.udp.DrainingUdp: drains bursts, survives bad handlers and refused sends."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from testbed.runtime.udp import DrainingUdp, open_draining_udp


def _run(coro):
    return asyncio.run(coro)


#: as root the 8 MiB buffer is granted (SO_RCVBUFFORCE); otherwise net.core.rmem_max caps it
BURST = 3000 if os.geteuid() == 0 else 150


def test_burst_is_drained_without_loss() -> None:
    async def main() -> tuple[int, int]:
        got: list[bytes] = []
        ep = await open_draining_udp(("127.0.0.1", 0), lambda d, a: got.append(d), batch=64)
        dst = ep.get_extra_info("sockname")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for i in range(BURST):  # as root: more than the default receive buffer holds
                tx.sendto(i.to_bytes(4, "big") * 8, dst)
        for _ in range(200):
            if len(got) == BURST:
                break
            await asyncio.sleep(0.01)
        ep.close()
        return len(got), len({g[:4] for g in got})

    assert _run(main()) == (BURST, BURST)


def test_handler_error_is_counted_and_reading_goes_on() -> None:
    async def main() -> dict:
        seen: list[bytes] = []

        def handler(data: bytes, addr) -> None:
            if data == b"boom":
                raise ValueError("bad datagram")
            seen.append(data)

        ep = await open_draining_udp(("127.0.0.1", 0), handler)
        dst = ep.get_extra_info("sockname")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for d in (b"a", b"boom", b"b"):
                tx.sendto(d, dst)
        for _ in range(100):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.01)
        counters = dict(ep.counters)
        ep.close()
        assert seen == [b"a", b"b"]
        return counters

    counters = _run(main())
    assert counters["handler_errors"] == 1 and counters["rx"] == 3


def test_sendto_and_reply_and_close_is_idempotent() -> None:
    async def main() -> bytes:
        replies: list[bytes] = []
        a = await open_draining_udp(("127.0.0.1", 0), lambda d, addr: replies.append(d))
        b: DrainingUdp | None = None

        def echo(d: bytes, addr) -> None:
            assert b is not None
            b.sendto(d.upper(), addr)

        b = await open_draining_udp(("127.0.0.1", 0), echo)
        a.sendto(b"ping", b.get_extra_info("sockname"))
        for _ in range(100):
            if replies:
                break
            await asyncio.sleep(0.01)
        a.close()
        a.close()
        assert a.is_closing() and a.get_extra_info("sockname") is None
        a.sendto(b"after close", ("127.0.0.1", 9))  # ignored, no exception
        b.close()
        return replies[0]

    assert _run(main()) == b"PING"


def test_unbindable_address_raises_oserror() -> None:
    async def main() -> None:
        await open_draining_udp(("192.0.2.77", 0), lambda d, a: None)  # not a local address

    with pytest.raises(OSError):
        _run(main())
