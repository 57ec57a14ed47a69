"""ctypes structures against usrsctp.h (libusrsctp-dev 0.9.5, x86_64), addresses and byte order.

Sizes/offsets were printed by a C program compiled against /usr/include/usrsctp.h:
sctp_sndinfo 16 (ppid at 4, assoc at 12), sctp_rcvinfo 28 (ppid at 8, assoc at 24),
sctp_initmsg 8, sctp_event 8, sctp_udpencaps 136 (assoc at 128, port at 132),
sctp_rtoinfo 16, sctp_assocparams 20 (asocmaxrxt at 16), sctp_paddrparams 152
(assoc 128, hbinterval 132, flags 140, pathmaxrxt 148), sctp_assoc_change 20.
"""

from __future__ import annotations

import ctypes
import socket

import pytest

from testbed.protocols.sctp import libusrsctp as L
from testbed.protocols.sctp.capabilities import usrsctp_available


@pytest.mark.parametrize(("struct", "size"), [
    (L.sctp_sndinfo, 16), (L.sctp_rcvinfo, 28), (L.sctp_initmsg, 8), (L.sctp_event, 8), (L.sctp_udpencaps, 136),
    (L.sctp_rtoinfo, 16), (L.sctp_assocparams, 20), (L.sctp_paddrparams, 152), (L.sockaddr_in, 16),
    (L.sockaddr_in6, 28), (L.sockaddr_storage, 128), (L.linger, 8),
])
def test_struct_sizes(struct, size):
    assert ctypes.sizeof(struct) == size


@pytest.mark.parametrize(("struct", "field", "offset"), [
    (L.sctp_sndinfo, "snd_ppid", 4), (L.sctp_sndinfo, "snd_assoc_id", 12),
    (L.sctp_rcvinfo, "rcv_ppid", 8), (L.sctp_rcvinfo, "rcv_assoc_id", 24),
    (L.sctp_udpencaps, "sue_assoc_id", 128), (L.sctp_udpencaps, "sue_port", 132),
    (L.sctp_assocparams, "sasoc_asocmaxrxt", 16),
    (L.sctp_paddrparams, "spp_assoc_id", 128), (L.sctp_paddrparams, "spp_hbinterval", 132),
    (L.sctp_paddrparams, "spp_flags", 140), (L.sctp_paddrparams, "spp_pathmaxrxt", 148),
])
def test_field_offsets(struct, field, offset):
    assert getattr(struct, field).offset == offset


def test_sndinfo_ppid_is_in_network_byte_order():
    info = L.make_sndinfo(1, 60, assoc_id=3, flags=L.SCTP_EOF)
    raw = bytes(info)
    assert raw[:2] == (1).to_bytes(2, "little")  # snd_sid: host order
    assert raw[4:8] == b"\x00\x00\x00\x3c"  # snd_ppid: what goes into the DATA chunk
    assert info.snd_assoc_id == 3 and info.snd_flags == 0x0100


def test_rcvinfo_ppid_back_to_host_order():
    info = L.sctp_rcvinfo()
    ctypes.memmove(ctypes.addressof(info) + 8, b"\x12\x34\x56\x78", 4)
    assert L.rcvinfo_ppid(info) == 0x12345678


@pytest.mark.parametrize(("host", "port"), [("10.0.0.1", 38412), ("2001:db8::5", 9899), ("0.0.0.0", 0)])
def test_sockaddr_round_trip(host, port):
    sa = L.make_sockaddr(host, port)
    addr, size = L.parse_sockaddr(ctypes.addressof(sa))
    assert addr == (host, port)
    assert size == ctypes.sizeof(sa)
    raw = bytes(sa)
    assert raw[2:4] == port.to_bytes(2, "big")  # sin_port / sin6_port in network order


def test_sockaddr_rejects_names_and_unknown_families():
    with pytest.raises(ValueError):
        L.make_sockaddr("localhost", 1)
    storage = L.sockaddr_storage()
    storage.ss_family = socket.AF_UNIX
    with pytest.raises(ValueError, match="family"):
        L.parse_sockaddr(ctypes.addressof(storage))


def test_received_flags():
    r = L.Received(b"x", L.MSG_EOR | L.MSG_NOTIFICATION)
    assert r.eor and r.notification
    assert not L.Received(b"x", 0).eor


@pytest.mark.skipif(not usrsctp_available(), reason="libusrsctp2 not installed")
def test_library_declares_the_functions_used():
    lib = L.load_library()
    assert lib.usrsctp_socket.restype is ctypes.c_void_p  # a pointer, not a truncated int
    assert lib.usrsctp_sendv.restype is ctypes.c_ssize_t
    assert L.initialised_udp_port() is None  # the unit tests never start a stack in this process


def test_socket_needs_a_started_stack():
    if L.initialised_udp_port() is not None:
        pytest.skip("a usrsctp stack runs in this process")
    from testbed.protocols.sctp import SctpUnavailable

    with pytest.raises(SctpUnavailable):
        L.UsrsctpSocket(L.AF_INET, L.SOCK_STREAM)
