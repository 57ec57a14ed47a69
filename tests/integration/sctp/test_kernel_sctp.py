"""Kernel SCTP mode, end to end over loopback (only where the kernel has SCTP)."""

from __future__ import annotations

import asyncio

import pytest

from testbed.protocols.sctp import SctpAssociation, connect, serve
from testbed.protocols.sctp.capabilities import kernel_sctp_available
from testbed.protocols.sctp.peer import payload

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not kernel_sctp_available(),
                       reason="kernel has no SCTP: socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) fails "
                              "(CONFIG_IP_SCTP missing or the sctp module cannot be loaded)"),
]


async def _echo(assoc: SctpAssociation) -> None:
    while True:
        msg = await assoc.recv()
        await assoc.send(msg.data, msg.stream, msg.ppid)


def test_kernel_association_streams_ppid_boundaries_and_down_signal():
    async def main() -> None:
        server = await serve("127.0.0.1", 0, _echo, mode="kernel", streams=4)
        assert server.kind == "kernel"
        assoc = await connect("127.0.0.1", server.address[1], mode="kernel", streams=2)
        assert assoc.kind == "kernel"
        assert assoc.outbound_streams == 2
        sent = [(payload(size, stream), stream, 60) for size in (1, 1000, 9000, 60000) for stream in (0, 1)]
        sent.append((payload(10, 9), 1, 0x12345678))
        for data, stream, ppid in sent:
            await assoc.send(data, stream, ppid)
        got = [await asyncio.wait_for(assoc.recv(), 10) for _ in sent]
        for stream in (0, 1):
            assert [(m.data, m.ppid) for m in got if m.stream == stream] == \
                [(d, p) for d, s, p in sent if s == stream]
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(assoc.recv(), 10)

    asyncio.run(main())
