"""testbed.runtime.tuning: receive buffers, heap settling, GC pause accounting."""

from __future__ import annotations

import asyncio
import gc
import os
import socket

import pytest

from testbed.runtime import tuning


@pytest.fixture
def restore_gc():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_receive_buffer_grows_on_a_plain_socket() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        before = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        after = tuning.enlarge_receive_buffer(s, 4 * 1024 * 1024)
        assert after == s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if os.geteuid() == 0:  # SO_RCVBUFFORCE: the full size (doubled by Linux) despite rmem_max
            assert after >= 2 * 4 * 1024 * 1024
        else:  # capped by net.core.rmem_max, but never smaller than before
            assert after >= before


def test_receive_buffer_of_an_asyncio_transport() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
        try:
            return tuning.enlarge_receive_buffer(transport, 1024 * 1024)
        finally:
            transport.close()

    assert asyncio.run(main()) > 0


def test_receive_buffer_without_socket_is_zero() -> None:
    assert tuning.enlarge_receive_buffer(object()) == 0


def test_settle_heap_freezes_and_raises_thresholds(restore_gc) -> None:
    frozen = tuning.settle_heap((12345, 11, 12))
    assert frozen > 1000  # the interpreter's modules, this test run's objects
    assert gc.get_freeze_count() == frozen
    assert gc.get_threshold() == (12345, 11, 12)


def test_gc_pauses_count_collections_per_generation() -> None:
    pauses = tuning.GcPauses().install()
    try:
        gc.collect(0)
        gc.collect(2)
        gc.collect(2)
    finally:
        pauses.uninstall()
    gc.collect(2)  # after uninstall: not counted
    snap = pauses.snapshot()
    assert snap["collections"][2] == 2
    assert snap["collections"][0] >= 1
    assert snap["longest_pause_ms"][2] >= 0.0
    assert snap["total_pause_ms"][2] >= snap["longest_pause_ms"][2] - 0.1
    assert pauses._callback not in gc.callbacks


def test_snapshot_reports_the_settled_frozen_count(restore_gc) -> None:
    frozen = tuning.settle_heap((12345, 11, 12))
    snap = tuning.GcPauses().snapshot()
    assert snap["frozen_objects"] == frozen == gc.get_freeze_count()
    assert snap["thresholds"] == [12345, 11, 12]
