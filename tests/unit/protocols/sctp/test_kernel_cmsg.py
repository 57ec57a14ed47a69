"""Kernel SCTP mode without a kernel SCTP: struct/cmsg packing, and the asyncio plumbing over a stand-in socket.

Expected sizes and offsets were taken from ``include/uapi/linux/sctp.h`` (compiled
with gcc on x86_64: sizeof(struct sctp_sndrcvinfo) = 32, sinfo_ppid at 8,
sinfo_assoc_id at 28; sctp_paddrparams 156 bytes, spp_hbinterval at 132,
spp_pathmaxrxt at 136, spp_flags at 146; sctp_status instrms/outstrms at 16/18).
"""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from testbed.errors import DecodeError
from testbed.protocols.sctp import SctpOptions
from testbed.protocols.sctp import kernel as K
from testbed.protocols.sctp.framing import LINUX_NOTIFICATIONS


def test_sndrcvinfo_layout_and_network_order_ppid():
    raw = K.pack_sndrcvinfo(stream=3, ppid=60, assoc_id=7)
    assert len(raw) == 32
    assert struct.unpack_from("=H", raw, 0)[0] == 3  # sinfo_stream, host order
    assert raw[8:12] == b"\x00\x00\x00\x3c"  # sinfo_ppid goes to the wire unchanged: network order
    assert struct.unpack_from("=i", raw, 28)[0] == 7  # sinfo_assoc_id


def test_sndrcvinfo_round_trip():
    info = K.unpack_sndrcvinfo(K.pack_sndrcvinfo(65535, 0xDEADBEEF, flags=4, context=9, timetolive=100))
    assert (info["stream"], info["ppid"], info["flags"], info["context"], info["timetolive"]) == \
        (65535, 0xDEADBEEF, 4, 9, 100)


def test_sndrcv_cmsg_level_type_and_space():
    level, ctype, data = K.sndrcv_cmsg(1, 60)
    assert (level, ctype, len(data)) == (132, 1, 32)  # SOL_SCTP, SCTP_SNDRCV
    assert K.CMSG_SPACE == socket.CMSG_SPACE(32)


def test_parse_ancillary_picks_the_sctp_item():
    anc = [(socket.SOL_SOCKET, 1, b"\0" * 4), K.sndrcv_cmsg(5, 60)]
    assert K.parse_ancillary(anc) == (5, 60)
    assert K.parse_ancillary([(socket.SOL_SOCKET, 1, b"")]) is None
    with pytest.raises(DecodeError):
        K.parse_ancillary([(132, 1, b"\0" * 8)])


def test_socket_option_structs():
    opts = SctpOptions(rto_initial_ms=300, rto_min_ms=100, rto_max_ms=500, hb_interval_ms=700, path_max_retrans=2,
                       assoc_max_retrans=3, max_init_attempts=4, max_init_timeo_ms=800)
    assert K.pack_initmsg(16, opts) == struct.pack("=HHHH", 16, 16, 4, 800)
    assert K.pack_rtoinfo(opts) == struct.pack("=iIII", 0, 300, 500, 100)  # assoc, initial, max, min
    ap = K.pack_assocparams(opts)
    assert len(ap) == 20 and struct.unpack_from("=H", ap, 4)[0] == 3
    pp = K.pack_paddrparams(opts)
    assert len(pp) == 152  # ALIGN(offsetof(struct sctp_paddrparams, spp_ipv6_flowlabel), 4)
    assert struct.unpack_from("=I", pp, 132)[0] == 700  # spp_hbinterval
    assert struct.unpack_from("=H", pp, 136)[0] == 2  # spp_pathmaxrxt
    assert struct.unpack_from("=I", pp, 146)[0] == K.SPP_HB_ENABLE  # spp_flags
    assert K.pack_event_subscribe() == bytes([1, 1, 0, 0, 0, 1])  # data_io, association, ..., shutdown


def test_unset_options_pack_as_no_change():
    opts = SctpOptions(rto_initial_ms=None, rto_min_ms=None, rto_max_ms=None, hb_interval_ms=None,
                       path_max_retrans=None, assoc_max_retrans=None)
    assert K.pack_rtoinfo(opts) == bytes(16)
    assert struct.unpack_from("=I", K.pack_paddrparams(opts), 146)[0] == 0


class RecordingSocket:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int, object]] = []

    def setsockopt(self, level: int, opt: int, value: object) -> None:
        self.calls.append((level, opt, value))


def test_configure_socket_sets_the_expected_options():
    sock = RecordingSocket()
    K.configure_socket(sock, SctpOptions(), 4)
    opts = [opt for level, opt, _ in sock.calls if level == K.SOL_SCTP]
    assert opts == [K.SCTP_INITMSG, K.SCTP_EVENTS, K.SCTP_NODELAY, K.SCTP_RTOINFO, K.SCTP_ASSOCINFO,
                    K.SCTP_PEER_ADDR_PARAMS]


# --- asyncio plumbing over a stand-in for a Linux one-to-one SCTP socket -----------------------

DATA, NOTIFY = 0, 1


class StandInSctpSocket:
    """The recvmsg/sendmsg contract of a kernel SCTP socket, over an AF_UNIX SOCK_SEQPACKET socket.

    Frames on the Unix socket: kind u8, stream u16, ppid u32, payload.  ``recvmsg``
    hands data out in ``piece`` byte pieces with MSG_EOR only on the last one,
    as the kernel does under partial delivery.
    """

    def __init__(self, sock: socket.socket, piece: int = 1 << 20) -> None:
        self.sock = sock
        self.piece = piece
        self._rest: list[tuple[bytes, int, int]] = []
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def setsockopt(self, *args: object) -> None:
        pass

    def close(self) -> None:
        self.closed = True
        self.sock.close()

    def sendmsg(self, buffers: list[bytes], ancdata: list[tuple[int, int, bytes]]) -> int:
        stream, ppid = K.parse_ancillary(ancdata) or (None, None)
        assert stream is not None, "send without SCTP_SNDRCV"
        data = b"".join(buffers)
        self.sock.send(struct.pack("!BHI", DATA, stream, ppid) + data)
        return len(data)

    def recvmsg(self, bufsize: int, ancbufsize: int) -> tuple[bytes, list, int, None]:
        assert ancbufsize >= socket.CMSG_SPACE(32)
        if not self._rest:
            frame = self.sock.recv(1 << 20)
            if not frame:
                return b"", [], 0, None
            kind, stream, ppid = struct.unpack_from("!BHI", frame)
            if kind == NOTIFY:
                return frame[7:], [], K.MSG_NOTIFICATION | K.MSG_EOR, None
            body = frame[7:]
            self._rest = [(body[i:i + self.piece], stream, ppid) for i in range(0, len(body), self.piece)]
        chunk, stream, ppid = self._rest.pop(0)
        flags = 0 if self._rest else K.MSG_EOR
        return chunk, [K.sndrcv_cmsg(stream, ppid)], flags, None


def _pair(piece: int = 1 << 20) -> tuple[StandInSctpSocket, socket.socket]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a.setblocking(False)
    return StandInSctpSocket(a, piece), b


def _assoc(sock: StandInSctpSocket) -> K.KernelAssociation:
    return K.KernelAssociation(sock, ("192.0.2.1", 38412), outbound_streams=2, inbound_streams=2,
                               loop=asyncio.get_running_loop())


def test_kernel_association_send_recv_and_partial_delivery():
    async def main() -> None:
        sock, far = _pair(piece=1000)
        assoc = _assoc(sock)
        assert assoc.kind == "kernel"
        await assoc.send(b"x" * 10, stream=1, ppid=60)
        kind, stream, ppid = struct.unpack_from("!BHI", far.recv(100))
        assert (kind, stream, ppid) == (DATA, 1, 60)
        big = bytes(range(256)) * 40  # 10240 bytes, read in 11 pieces
        far.send(struct.pack("!BHI", DATA, 1, 60) + big)
        far.send(struct.pack("!BHI", DATA, 0, 61) + b"small")
        first = await asyncio.wait_for(assoc.recv(), 5)
        second = await asyncio.wait_for(assoc.recv(), 5)
        assert (first.data, first.stream, first.ppid) == (big, 1, 60)
        assert (second.data, second.stream, second.ppid) == (b"small", 0, 61)
        assoc.close()
        assert sock.closed
        with pytest.raises(ConnectionError, match="closed locally"):
            await assoc.recv()
        far.close()

    asyncio.run(main())


def test_kernel_association_down_on_eof_after_queued_data():
    async def main() -> None:
        sock, far = _pair()
        assoc = _assoc(sock)
        far.send(struct.pack("!BHI", DATA, 0, 60) + b"last words")
        far.close()
        assert (await asyncio.wait_for(assoc.recv(), 5)).data == b"last words"
        with pytest.raises(ConnectionError, match="peer shut down"):
            await asyncio.wait_for(assoc.recv(), 5)
        assert await assoc.wait_down() == "peer shut down the association"
        with pytest.raises(ConnectionError):
            await assoc.send(b"x")

    asyncio.run(main())


def test_kernel_association_down_on_comm_lost_notification():
    async def main() -> None:
        sock, far = _pair()
        assoc = _assoc(sock)
        lost = struct.pack("=HHIHHHHI", LINUX_NOTIFICATIONS.assoc_change, 0, 20, LINUX_NOTIFICATIONS.comm_lost,
                           0, 0, 0, 1)
        far.send(struct.pack("!BHI", NOTIFY, 0, 0) + lost)
        with pytest.raises(ConnectionError, match="COMM_LOST"):
            await asyncio.wait_for(assoc.recv(), 5)
        assert sock.closed
        far.close()

    asyncio.run(main())


def test_kernel_association_comm_up_updates_streams():
    async def main() -> None:
        sock, far = _pair()
        assoc = _assoc(sock)
        up = struct.pack("=HHIHHHHI", LINUX_NOTIFICATIONS.assoc_change, 0, 20, LINUX_NOTIFICATIONS.comm_up,
                         0, 5, 3, 1)
        far.send(struct.pack("!BHI", NOTIFY, 0, 0) + up)
        far.send(struct.pack("!BHI", DATA, 4, 60) + b"on stream 4")
        msg = await asyncio.wait_for(assoc.recv(), 5)
        assert (assoc.outbound_streams, assoc.inbound_streams, msg.stream) == (5, 3, 4)
        await assoc.send(b"ok", stream=4)
        assoc.abort()
        far.close()

    asyncio.run(main())


def test_kernel_mode_unavailable_here_is_reported():
    from testbed.protocols.sctp.capabilities import kernel_sctp_available

    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, K.IPPROTO_SCTP).close()
        expected = True
    except OSError:
        expected = False
    assert kernel_sctp_available() is expected
