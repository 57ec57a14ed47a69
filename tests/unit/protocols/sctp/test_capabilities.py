"""Capability probes and their report."""

from __future__ import annotations

import os
import socket

from testbed.protocols.sctp import capabilities as C
from testbed.protocols.sctp import describe

RAW = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 167: 00000000:0084 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 171402 2 000000005cc93ef1 0
   1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 171999 2 000000005cc93ef2 0
"""
RAW6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  167: 00000000000000000000000000000000:0084 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 171403 2 000000007b64c8f6 0
"""  # noqa: E501


def test_raw_sctp_sockets_are_found_in_proc_net(tmp_path):
    (tmp_path / "raw").write_text(RAW)
    (tmp_path / "raw6").write_text(RAW6)
    assert C.raw_sctp_socket_inodes(str(tmp_path)) == [171402, 171403]  # protocol 0x84 only, not ICMP (1)
    assert C.raw_sctp_socket_inodes(str(tmp_path / "missing")) == []


def test_pids_of_socket_inodes_finds_this_process():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        inode = os.fstat(s.fileno()).st_ino
        assert os.getpid() in C.pids_of_socket_inodes([inode])


def test_udp_port_free():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
        assert C.udp_port_free(port) is False
    assert C.udp_port_free(port) is True


def test_probe_and_describe_report_consistently():
    caps = C.probe()
    assert set(caps.as_dict()) == {"kernel_sctp", "raw_sctp_socket", "usrsctp", "usrsctp_udp_port"}
    assert caps.kernel_sctp is C.kernel_sctp_available()
    info = describe()
    assert info["capabilities"] == caps.as_dict()
    assert info["kind"] in (None, "kernel", "usrsctp-raw", "usrsctp-udp")
    assert isinstance(info["reason"], str) and info["reason"]


def test_cap_net_raw_matches_raw_socket_probe_for_this_process():
    # in the root user namespace, CAP_NET_RAW is exactly what raw sockets need
    if C.has_cap_net_raw():
        assert C.raw_sctp_socket_available()
    else:
        assert not C.raw_sctp_socket_available()
