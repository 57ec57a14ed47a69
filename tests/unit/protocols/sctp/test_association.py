"""The transport-independent association/server contract, with an in-memory association."""

from __future__ import annotations

import asyncio
import logging

import pytest

from testbed.protocols.sctp import NGAP_PORT, NGAP_PPID, SctpMessage, SctpOptions
from testbed.protocols.sctp import association as A


class MemoryAssociation(A.SctpAssociation):
    def __init__(self, streams: int = 2) -> None:
        super().__init__("usrsctp-raw", ("192.0.2.1", NGAP_PORT), outbound_streams=streams, inbound_streams=streams)
        self.sent: list[tuple[bytes, int, int]] = []
        self.pauses = 0
        self.resumes = 0
        self.closes = 0

    async def _send(self, data: bytes, stream: int, ppid: int) -> None:
        self.sent.append((data, stream, ppid))

    def _pause_reading(self) -> None:
        self.pauses += 1

    def _resume_reading(self) -> None:
        self.resumes += 1

    def close(self) -> None:
        self.closes += 1
        self._set_down("closed locally")

    def abort(self) -> None:
        self._set_down("aborted locally")


def run(coro):
    return asyncio.run(coro)


def test_ngap_constants():
    assert (NGAP_PORT, NGAP_PPID, A.SCTP_UDP_PORT) == (38412, 60, 9899)


def test_messages_in_order_then_down_after_queued_ones():
    async def main() -> None:
        a = MemoryAssociation()
        for i in range(3):
            a._deliver(SctpMessage(bytes([i]), i % 2, NGAP_PPID))
        a._set_down("COMM_LOST")
        assert not a.is_up and a.down_reason == "COMM_LOST"
        assert [(await a.recv()).data for _ in range(3)] == [b"\0", b"\1", b"\2"]
        for _ in range(2):  # keeps raising
            with pytest.raises(ConnectionError, match="COMM_LOST"):
                await a.recv()
        a._deliver(SctpMessage(b"late", 0, 60))  # ignored once down
        with pytest.raises(ConnectionError):
            await a.recv()

    run(main())


def test_waiting_receivers_are_woken_by_data_and_by_down():
    async def main() -> None:
        a = MemoryAssociation()
        r1 = asyncio.create_task(a.recv())
        r2 = asyncio.create_task(a.recv())
        await asyncio.sleep(0)
        a._deliver(SctpMessage(b"one", 0, 60))
        assert (await r1).data == b"one"
        assert not r2.done()
        a._set_down("peer sent SHUTDOWN")
        with pytest.raises(ConnectionError, match="SHUTDOWN"):
            await r2
        assert await a.wait_down() == "peer sent SHUTDOWN"

    run(main())


def test_cancelled_receiver_does_not_lose_messages():
    async def main() -> None:
        a = MemoryAssociation()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(a.recv(), 0.01)
        a._deliver(SctpMessage(b"kept", 0, 60))
        assert (await a.recv()).data == b"kept"

    run(main())


def test_send_validation():
    async def main() -> None:
        a = MemoryAssociation(streams=2)
        await a.send(b"x", stream=1, ppid=60)
        await a.send(bytearray(b"y"))
        assert a.sent == [(b"x", 1, 60), (b"y", 0, NGAP_PPID)]
        with pytest.raises(ValueError, match="out of range"):
            await a.send(b"x", stream=2)
        with pytest.raises(ValueError, match="empty"):
            await a.send(b"")
        with pytest.raises(ValueError, match="ppid"):
            await a.send(b"x", ppid=2**32)
        a.close()
        with pytest.raises(ConnectionError, match="closed locally"):
            await a.send(b"x")

    run(main())


def test_reading_pauses_above_high_water_and_resumes_below_low_water():
    async def main() -> None:
        a = MemoryAssociation()
        for i in range(A.RECV_HIGH_WATER):
            a._deliver(SctpMessage(i.to_bytes(2, "big"), 0, 60))
        assert (a.pauses, a.resumes) == (1, 0)
        for _ in range(A.RECV_HIGH_WATER - A.RECV_LOW_WATER - 1):
            await a.recv()
        assert a.resumes == 0
        await a.recv()
        assert (a.pauses, a.resumes) == (1, 1)

    run(main())


def test_options_validation():
    SctpOptions()
    SctpOptions(rto_initial_ms=None, hb_interval_ms=None)
    for bad in ({"rto_min_ms": 0}, {"hb_interval_ms": -1}, {"max_init_attempts": 0}, {"udp_remote_port": 70000},
                {"connect_timeout_s": 0}):
        with pytest.raises(ValueError):
            SctpOptions(**bad)
    for bad_streams in (0, 65536, "2"):
        with pytest.raises(ValueError):
            A.check_streams(bad_streams)


class MemoryServer(A.SctpServer):
    def __init__(self, handler) -> None:
        super().__init__("usrsctp-raw", ("0.0.0.0", NGAP_PORT), handler)
        self.listener_closed = False

    def _close_listener(self) -> None:
        self.listener_closed = True


def test_server_runs_handlers_and_closes_associations_when_they_return(caplog):
    async def main() -> None:
        seen = []

        async def handler(assoc: A.SctpAssociation) -> None:
            seen.append(await assoc.recv())
            if len(seen) == 2:
                raise RuntimeError("handler bug")

        server = MemoryServer(handler)
        a, b = MemoryAssociation(), MemoryAssociation()
        server._start_handler(a)
        server._start_handler(b)
        assert server.associations == {a, b}
        a._deliver(SctpMessage(b"a", 0, 60))
        b._deliver(SctpMessage(b"b", 0, 60))
        await asyncio.sleep(0.01)
        assert [m.data for m in seen] == [b"a", b"b"]
        assert a.closes == 1 and b.closes == 1  # handler returned / raised: association shut down
        assert server.associations == frozenset()
        assert "handler bug" in caplog.text
        server.close()
        await server.wait_closed()
        assert server.listener_closed

    with caplog.at_level(logging.ERROR):
        run(main())


def test_server_close_shuts_down_live_associations():
    async def main() -> None:
        done = []

        async def handler(assoc: A.SctpAssociation) -> None:
            try:
                await assoc.recv()
            except ConnectionError as e:
                done.append(str(e))
                raise

        async with MemoryServer(handler) as server:
            a = MemoryAssociation()
            server._start_handler(a)
            await asyncio.sleep(0)
        assert a.closes == 1
        assert done == ["SCTP association down: closed locally"]
        assert server.listener_closed

    run(main())


def test_receivers_leave_no_waiters_behind():
    """A woken receiver was taken off the waiter list by the wake-up; a cancelled one removes itself."""
    async def main() -> None:
        a = MemoryAssociation()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(a.recv(), 0.01)
        assert len(a._getters) == 0
        r = asyncio.create_task(a.recv())
        await asyncio.sleep(0)
        assert len(a._getters) == 1
        a._deliver(SctpMessage(b"one", 0, 60))
        assert (await r).data == b"one"
        assert len(a._getters) == 0
        r1, r2 = asyncio.create_task(a.recv()), asyncio.create_task(a.recv())
        await asyncio.sleep(0)
        r1.cancel()
        await asyncio.sleep(0)
        assert len(a._getters) == 1
        a._deliver(SctpMessage(b"two", 0, 60))
        assert (await r2).data == b"two" and len(a._getters) == 0

    run(main())
