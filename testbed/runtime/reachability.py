"""Active reachability probes between nodes of a running topology.

ICMP echo (``ping``), TCP connect and UDP request/answer, each from inside the
source node. UDP/TCP probes need a responder in the destination node: start one
with :func:`responder` (a tiny echo server recorded in the run ledger).
All traffic stays inside the topology's namespaces.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from testbed.runtime.engine import Testbed

_ECHO = r"""
import socket, sys, select
host, proto = sys.argv[1], sys.argv[2]
ports = [int(p) for p in sys.argv[3:]]
socks = []
for port in ports:
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    if proto == "tcp":
        s.listen(16)
    socks.append(s)
print("READY", flush=True)
while True:
    r, _, _ = select.select(socks, [], [])
    for s in r:
        if proto == "udp":
            data, peer = s.recvfrom(2048)
            s.sendto(b"ECHO " + peer[0].encode() + b" " + data, peer)
        else:
            c, peer = s.accept()
            c.sendall(b"ECHO " + peer[0].encode() + b"\n")
            c.close()
"""

_UDP_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(float(sys.argv[3]))
s.sendto(b"probe", (sys.argv[1], int(sys.argv[2])))
try:
    print(s.recvfrom(2048)[0].decode())
except OSError as e:
    print("FAIL", e)
"""

_TCP_CLIENT = r"""
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    print(c.recv(256).decode().strip())
except OSError as e:
    print("FAIL", e)
"""


@dataclass(frozen=True)
class ProbeResult:
    src: str
    dst: str
    kind: str  # icmp, udp/PORT, tcp/PORT
    reachable: bool
    detail: str = ""


def responder(tb: Testbed, node: str, proto: str, ports: list[int], host: str = "0.0.0.0"):
    """Start an echo responder on ``ports`` in ``node``; it says which source address it saw."""
    proc = tb.popen(node, [sys.executable, "-c", _ECHO, host, proto, *map(str, ports)],
                    stdout=__import__("subprocess").PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if "READY" not in line:
        proc.kill()
        raise RuntimeError(f"responder in {node} did not start: {line!r}")
    return proc


def ping(tb: Testbed, src: str, dst: str, timeout: float = 1.0) -> ProbeResult:
    r = tb.run(src, ["ping", "-n", "-c", "1", "-W", str(max(1, round(timeout))), dst], timeout=timeout + 5)
    ok = r.returncode == 0
    detail = "" if ok else (r.stderr.strip() or r.stdout.strip().splitlines()[-1] if r.stdout else r.stderr.strip())
    return ProbeResult(src, dst, "icmp", ok, detail)


def udp(tb: Testbed, src: str, dst: str, port: int, timeout: float = 1.0) -> ProbeResult:
    r = tb.run(src, [sys.executable, "-c", _UDP_CLIENT, dst, str(port), str(timeout)], timeout=timeout + 10)
    out = r.stdout.strip()
    return ProbeResult(src, dst, f"udp/{port}", out.startswith("ECHO"), out)


def tcp(tb: Testbed, src: str, dst: str, port: int, timeout: float = 1.0) -> ProbeResult:
    r = tb.run(src, [sys.executable, "-c", _TCP_CLIENT, dst, str(port), str(timeout)], timeout=timeout + 10)
    out = r.stdout.strip()
    return ProbeResult(src, dst, f"tcp/{port}", out.startswith("ECHO"), out)


def ping_matrix(tb: Testbed, sources: list[str], targets: dict[str, str],
                timeout: float = 1.0) -> dict[tuple[str, str], ProbeResult]:
    """ICMP reachability from each source to each named target address, in parallel."""
    jobs = [(s, name, addr) for s in sources for name, addr in targets.items() if s != name]
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda j: (j[0], j[1], ping(tb, j[0], j[2], timeout)), jobs))
    out = {(s, name): r for s, name, r in results}
    tb.timings["ping_matrix_s"] = round(time.monotonic() - t0, 3)
    return out
