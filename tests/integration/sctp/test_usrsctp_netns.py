"""usrsctp transports between two network namespaces, server and client in separate processes.

Each test builds its own namespace pair (removed in teardown, also on failure)
and runs one ``testbed.protocols.sctp.peer`` process per namespace.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed.protocols.pcap import tshark_check
from testbed.protocols.sctp.peer import digest, payload

from .samples import FAST_OPTIONS, ng_setup_request, ue_context_release_request

pytestmark = pytest.mark.integration

MODES = ["usrsctp-raw", "usrsctp-udp"]
PORT = 38412


def _per_stream(items: list[dict], stream: int) -> list[tuple[int, str, int]]:
    return [(i["len"], i["sha256"], i["ppid"]) for i in items if i["stream"] == stream]


@pytest.mark.parametrize("mode", MODES)
def test_streams_ppid_and_message_boundaries(mode, lab, start_peer):
    server = start_peer(lab.ns_b)
    client = start_peer(lab.ns_a)
    assert server.call("serve", host="0.0.0.0", port=PORT, mode=mode, streams=4)["kind"] == mode

    info = client.call("connect", host=lab.addr_b, port=PORT, mode=mode, streams=2, local=lab.addr_a)
    assert info["kind"] == mode
    assert info["peer"] == [lab.addr_b, PORT]
    assert info["outbound_streams"] == 2  # min(our 2 requested, server's 4 accepted)
    assert info["inbound_streams"] == 2  # min(server's 4 requested, our 2 accepted)
    (assoc,) = server.call("wait_events", event="association")["events"]
    assert assoc["kind"] == mode
    assert assoc["peer"][0] == lab.addr_a

    messages = [{"size": size, "seed": stream, "stream": stream, "ppid": 60}
                for size in (1, 1000, 9000, 60000) for stream in (0, 1)]
    messages.append({"size": 100, "seed": 5, "stream": 1, "ppid": 0x12345678})  # PPID byte order
    messages.append({"size": 300_000, "seed": 6, "stream": 0, "ppid": 60})  # > one 256 KiB usrsctp_recvv read
    client.call("send_many", messages=messages, reply_timeout=60)
    expected = [{"stream": m["stream"], "len": m["size"], "sha256": digest(payload(m["size"], m["seed"])),
                 "ppid": m["ppid"]} for m in messages]

    received = server.call("wait_events", event="message", count=len(messages))["events"]
    assert len(received) == len(messages)
    echoes = [client.call("recv", timeout=10) for _ in messages]
    assert not any(e["down"] for e in echoes)
    for stream in (0, 1):
        want = _per_stream(expected, stream)
        assert _per_stream(received, stream) == want, f"server side, stream {stream}"
        assert _per_stream(echoes, stream) == want, f"client side (echo), stream {stream}"
    assert {e["stream"] for e in received} == {0, 1}

    refused = client.try_call("send", size=10, stream=2)  # only streams 0 and 1 were negotiated
    assert not refused["ok"] and "out of range" in refused["error"]

    client.call("close")
    down = server.call("wait_events", event="down")["events"][0]
    assert "SHUTDOWN" in down["reason"]
    assert client.stop() == 0
    assert server.stop() == 0


@pytest.mark.parametrize("restart_before_detection", [False, True], ids=["detect-then-restart",
                                                                          "restart-then-detect"])
@pytest.mark.parametrize("mode", MODES)
def test_reconnect_after_server_killed_and_restarted(mode, restart_before_detection, lab, start_peer):
    server = start_peer(lab.ns_b)
    client = start_peer(lab.ns_a)
    server.call("serve", host="0.0.0.0", port=PORT, mode=mode, options=FAST_OPTIONS)
    client.call("connect", host=lab.addr_b, port=PORT, mode=mode, options=FAST_OPTIONS)
    client.call("send", size=200, seed=1, stream=0)
    assert client.call("recv")["len"] == 200

    server.kill()  # SIGKILL: no SHUTDOWN or ABORT leaves the dead stack
    if restart_before_detection:
        # the new stack answers the client's next HEARTBEAT with ABORT (out of the blue, RFC 4960 8.4)
        server = start_peer(lab.ns_b)
        server.call("serve", host="0.0.0.0", port=PORT, mode=mode, options=FAST_OPTIONS)
        down = client.call("wait_down", timeout=20)
    else:
        # nothing answers: HEARTBEAT retransmissions exhaust Path/Association.Max.Retrans
        down = client.call("wait_down", timeout=30)
        server = start_peer(lab.ns_b)
        server.call("serve", host="0.0.0.0", port=PORT, mode=mode, options=FAST_OPTIONS)
    print(f"{mode}: association down after {down['elapsed']:.2f} s: {down['reason']}")
    after = client.call("recv", timeout=5)
    assert after["down"] is True and "down" in after["reason"]
    failed = client.try_call("send", size=10)
    assert not failed["ok"] and "ConnectionError" in failed["error"]

    again = client.call("connect_retry", host=lab.addr_b, port=PORT, mode=mode, options=FAST_OPTIONS, until=30,
                        reply_timeout=40)
    assert again["kind"] == mode
    client.call("send", size=9000, seed=3, stream=1)
    echo = client.call("recv", timeout=10)
    assert (echo["stream"], echo["len"], echo["sha256"]) == (1, 9000, digest(payload(9000, 3)))
    assert len(server.call("wait_events", event="association")["events"]) == 1
    assert client.stop() == 0
    assert server.stop() == 0


def _tshark_fields(path: Path, *fields: str, display_filter: str = "") -> list[list[str]]:
    cmd = ["tshark", "-n", "-r", str(path), "-o", "sctp.checksum:CRC 32c", "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    if display_filter:
        cmd += ["-Y", display_filter]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


@pytest.mark.parametrize("mode", MODES)
def test_capture_decodes_as_sctp_and_ngap(mode, lab, start_peer, tmp_path):
    pcap = tmp_path / f"n2-{mode}.pcap"
    capture = lab.capture(lab.ns_a, lab.veth_a, pcap, "not ip6 and not arp")
    server = start_peer(lab.ns_b)
    client = start_peer(lab.ns_a)
    server.call("serve", host="0.0.0.0", port=PORT, mode=mode)
    client.call("connect", host=lab.addr_b, port=PORT, mode=mode)
    setup, release = ng_setup_request(), ue_context_release_request()
    client.call("send", hex=setup.hex(), stream=0, ppid=60)
    client.call("send", hex=release.hex(), stream=1, ppid=60)
    assert client.call("recv")["hex"] == setup.hex()
    assert client.call("recv")["hex"] == release.hex()
    client.call("close")
    server.call("wait_events", event="down")
    client.stop()
    server.stop()
    capture.stop()

    reports = tshark_check(pcap, prefs=["sctp.checksum:CRC 32c"])
    assert len(reports) >= 10  # INIT .. COOKIE-ACK, 4 DATA, SACKs, SHUTDOWN ..
    assert [r for r in reports if not r.ok] == []
    assert all("sctp" in r.protocols for r in reports), [r.protocols for r in reports]
    assert not any("icmp" in r.protocols for r in reports)  # raw mode: no protocol-unreachable from the kernel
    if mode == "usrsctp-raw":
        assert not any("udp" in r.protocols for r in reports)  # native SCTP directly over IP
    else:
        assert all("udp" in r.protocols for r in reports)
        ports = _tshark_fields(pcap, "udp.srcport", "udp.dstport")
        assert {tuple(p) for p in ports} == {("9899", "9899")}  # RFC 6951 port on both sides
    assert all(status == ["1"] for status in _tshark_fields(pcap, "sctp.checksum.status"))  # CRC32c good

    ngap = _tshark_fields(pcap, "ip.src", "sctp.data_sid", "sctp.data_payload_proto_id", "ngap.procedureCode",
                          display_filter="ngap")
    assert sorted(ngap) == sorted([
        [lab.addr_a, "0x0000", "60", "21"], [lab.addr_b, "0x0000", "60", "21"],
        [lab.addr_a, "0x0001", "60", "42"], [lab.addr_b, "0x0001", "60", "42"],
    ])


SEND_RAW_SCTP = """
import socket, sys, time
from testbed.protocols.pcap import sctp_data_packet
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)
s.sendto(sctp_data_packet(5000, 38412, 1, b"probe"), (sys.argv[1], 0))
time.sleep(0.3)
"""


def test_kernel_without_sctp_answers_icmp_unless_usrsctp_holds_a_raw_socket(lab, start_peer, tmp_path):
    """Why usrsctp-raw needs its process in the namespace: the raw socket stops ICMP protocol-unreachable."""
    from testbed.protocols.sctp.capabilities import kernel_sctp_available

    if kernel_sctp_available():
        pytest.skip("kernel SCTP present: it answers SCTP itself")
    pcap = tmp_path / "icmp.pcap"
    capture = lab.capture(lab.ns_a, lab.veth_a, pcap, "icmp or sctp")

    def probe() -> None:
        proc = lab.popen(lab.ns_a, [sys.executable, "-c", SEND_RAW_SCTP, lab.addr_b])
        assert proc.wait(timeout=20) == 0

    probe()  # nothing in ns_b holds a raw SCTP socket
    server = start_peer(lab.ns_b)
    server.call("serve", host="0.0.0.0", port=PORT, mode="usrsctp-raw")
    time.sleep(0.2)
    probe()  # usrsctp's raw socket now takes the packet (its stack answers the stray DATA with ABORT)
    server.stop()
    capture.stop()
    rows = _tshark_fields(pcap, "frame.number", "icmp.type", "icmp.code", "sctp.chunk_type")
    icmp = [r for r in rows if r[1]]
    assert [(r[1], r[2]) for r in icmp] == [("3", "2")], rows  # exactly one protocol unreachable
    first_probe = int(rows[0][0])
    assert int(icmp[0][0]) == first_probe + 1  # and it answered the first probe
    assert any(r[3] == "6" for r in rows), rows  # ABORT (chunk type 6) for the second probe


def test_auto_mode_env_override_and_per_association_kind(lab, start_peer):
    """auto picks usrsctp-raw here; NRFEMTO_SCTP_MODE overrides it; a UDP-capable server reports each kind."""
    from testbed.protocols.sctp.capabilities import kernel_sctp_available

    if kernel_sctp_available():
        pytest.skip("kernel SCTP present: auto picks kernel")
    env = dict(os.environ, NRFEMTO_SCTP_MODE="usrsctp-udp")
    server = lab.peer(lab.ns_b, None, env=env)
    try:
        assert server.call("serve", host="0.0.0.0", port=PORT, mode="auto")["kind"] == "usrsctp-udp"
        raw_client = start_peer(lab.ns_a)
        assert raw_client.call("connect", host=lab.addr_b, port=PORT, mode="auto")["kind"] == "usrsctp-raw"
        (first,) = server.call("wait_events", event="association")["events"]
        assert first["kind"] == "usrsctp-raw"  # the server's stack also takes native SCTP
        raw_client.stop()
        udp_client = start_peer(lab.ns_a)
        assert udp_client.call("connect", host=lab.addr_b, port=PORT, mode="usrsctp-udp")["kind"] == "usrsctp-udp"
        second = server.call("wait_events", event="association", count=2)["events"][1]
        assert second["kind"] == "usrsctp-udp"
        udp_client.stop()
    finally:
        server.stop()


@pytest.mark.parametrize("second_mode", MODES)
def test_second_usrsctp_process_in_a_namespace_is_refused(second_mode, lab, start_peer):
    first = start_peer(lab.ns_b)
    first.call("serve", host="0.0.0.0", port=PORT, mode="usrsctp-udp")  # holds raw sockets and UDP 9899
    second = start_peer(lab.ns_b)
    reply = second.try_call("serve", host="0.0.0.0", port=PORT + 1, mode=second_mode)
    assert not reply["ok"]
    assert "SctpUnavailable" in reply["error"]
    assert "one usrsctp process per namespace" in reply["error"]
    if second_mode == "usrsctp-raw":
        assert str(first.proc.pid) in reply["error"]
    else:
        assert "UDP port 9899" in reply["error"]
    assert second.stop() == 0
    assert first.stop() == 0


@pytest.mark.parametrize("mode", MODES)
def test_flow_control_when_the_receiver_does_not_read(mode, lab, start_peer):
    """A server handler that reads nothing: the server stops taking data from usrsctp (high-water mark), the
    receive window closes, the client's sends block; once the handler reads, everything arrives in order."""
    count, size = 4000, 2000  # 8 MB: more than the queue high-water mark + both 1 MiB socket buffers
    server = start_peer(lab.ns_b)
    client = start_peer(lab.ns_a)
    server.call("serve", host="0.0.0.0", port=PORT, mode=mode, hold=True, echo=False)
    client.call("connect", host=lab.addr_b, port=PORT, mode=mode)
    client.start("send_many", pattern={"count": count, "size": size, "streams": 2})
    time.sleep(3)
    assert not client.reply_ready(), "sending 8 MB did not block although the receiver reads nothing"
    assert server.call("events")["events"][-1]["event"] == "association"  # the handler has read nothing
    server.call("release")
    assert client.result("send_many", 120) == {"ok": True, "sent": count}
    got = server.call("wait_events", event="message", count=count, timeout=120)["events"]
    for stream in (0, 1):
        want = [(size, digest(payload(size, i)), 60) for i in range(stream, count, 2)]
        assert _per_stream(got, stream) == want
    client.call("close")
    assert client.stop() == 0
    assert server.stop() == 0


EXIT_WITH_OPEN_ASSOCIATION = """
import asyncio, sys
from testbed.protocols.sctp import connect

async def main():
    assoc = await connect(sys.argv[1], mode=sys.argv[2])
    await assoc.send(b"hello")
    print((await assoc.recv()).data.decode(), flush=True)

asyncio.run(main())  # returns with the association still open
"""


@pytest.mark.parametrize("mode", MODES)
def test_process_exit_with_open_association_aborts_it_and_exits_promptly(mode, lab, start_peer):
    """The atexit hook aborts open usrsctp sockets and stops the stack (usrsctp_finish) without hanging."""
    server = start_peer(lab.ns_b)
    server.call("serve", host="0.0.0.0", port=PORT, mode=mode)
    t0 = time.monotonic()
    proc = lab.popen(lab.ns_a, [sys.executable, "-c", EXIT_WITH_OPEN_ASSOCIATION, lab.addr_b, mode],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode(errors="replace")
    assert out == b"hello\n"
    assert time.monotonic() - t0 < 10
    (down,) = server.call("wait_events", event="down", timeout=10)["events"]
    assert "COMM_LOST" in down["reason"]  # ABORT received
    assert server.stop() == 0


def test_unprivileged_processes_fall_back_to_udp(lab, start_peer):
    """Without CAP_NET_RAW (uid nobody), auto picks usrsctp-udp, and it works end to end."""
    server = start_peer(lab.ns_b, user="65534")
    client = start_peer(lab.ns_a, user="65534")
    assert server.call("serve", host="0.0.0.0", port=PORT, mode="auto")["kind"] == "usrsctp-udp"
    assert client.call("connect", host=lab.addr_b, port=PORT, mode="auto")["kind"] == "usrsctp-udp"
    refused = client.try_call("connect", host=lab.addr_b, port=PORT, mode="usrsctp-raw")
    assert not refused["ok"] and "CAP_NET_RAW" in refused["error"]
    client.call("send", size=5000, seed=2, stream=1)
    echo = client.call("recv")
    assert (echo["stream"], echo["len"], echo["sha256"]) == (1, 5000, digest(payload(5000, 2)))
    assert client.stop() == 0
    assert server.stop() == 0


NEW_LOCAL_ADDRESS = """
import asyncio, subprocess, sys
from testbed.protocols.sctp import connect, shutdown_usrsctp

server, dev, new = sys.argv[1:4]

async def attempt(local):
    try:
        assoc = await connect(server, mode="usrsctp-raw", local=local)
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    await assoc.send(b"x")
    await assoc.recv()
    assoc.close()
    return "ok"

async def main():
    print(await attempt(None))
    subprocess.run(["ip", "addr", "add", new + "/24", "dev", dev], check=True)
    print(await attempt(new))  # the running stack does not know the new address
    print(shutdown_usrsctp())
    print(await attempt(new))  # a fresh stack does

asyncio.run(main())
"""


def test_stack_restart_picks_up_an_address_added_later(lab, start_peer):
    server = start_peer(lab.ns_b)
    server.call("serve", host="0.0.0.0", port=PORT, mode="usrsctp-raw")
    new = lab.addr_a.rsplit(".", 1)[0] + ".4"
    proc = lab.popen(lab.ns_a, [sys.executable, "-c", NEW_LOCAL_ADDRESS, lab.addr_b, lab.veth_a, new],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode(errors="replace")
    lines = out.decode().splitlines()
    assert lines[0] == "ok"
    assert "Cannot assign requested address" in lines[1]
    assert lines[2:] == ["True", "ok"]
    peers = [e["peer"][0] for e in server.call("wait_events", event="association", count=2)["events"]]
    assert peers == [lab.addr_a, new]
    assert server.stop() == 0
