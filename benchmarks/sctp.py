"""SCTP transport benchmark: round-trip latency and message rate, 200-byte messages, between two namespaces.

For each mode a fresh namespace pair (veth link) is built, an echo server
process runs in one namespace and a client process in the other
(``testbed.protocols.sctp.peer``), so the figures include the asyncio
transport, usrsctp's threads and the Python/ctypes boundary of both sides.

- latency: ``--rtt-count`` ping-pongs (send, wait for the echo), after 50 warm-up rounds;
- rate: ``--rate-count`` messages sent back to back client -> server, counted by the
  server, then one report message; messages/s = count / time until the report arrives.

Run as root: ``.venv/bin/python benchmarks/sctp.py [--modes usrsctp-raw,usrsctp-udp,kernel]``.
Prints one line per figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testbed.protocols.sctp.capabilities import kernel_sctp_available, usrsctp_available  # noqa: E402
from testbed.protocols.sctp.netns_lab import NetnsPair  # noqa: E402

PORT = 38412


def run_mode(mode: str, size: int, rtt_count: int, rate_count: int, logdir: Path) -> list[str]:
    with NetnsPair(prefix="nfsctpb") as lab:
        server = lab.peer(lab.ns_b, logdir / f"{mode}-server.log")
        client = lab.peer(lab.ns_a, logdir / f"{mode}-client.log")
        server.call("serve", host="0.0.0.0", port=PORT, mode=mode)
        info = client.call("connect", host=lab.addr_b, port=PORT, mode=mode)
        assert info["kind"] == mode, info
        rtt = client.call("bench_rtt", count=rtt_count, size=size, reply_timeout=300)
        rate = client.call("bench_rate", count=rate_count, size=size, reply_timeout=300)
        client.stop()
        server.stop()
    return [
        f"sctp {mode}: round-trip latency, {size}-byte messages: median {rtt['median_us']:.0f} us "
        f"(min {rtt['min_us']:.0f} us, mean {rtt['mean_us']:.0f} us, p99 {rtt['p99_us']:.0f} us, "
        f"n={rtt['count']})",
        f"sctp {mode}: message rate, {size}-byte messages one way: {rate['msgs_per_s']:.0f} msg/s "
        f"({rate['mbit_per_s']:.1f} Mbit/s payload, n={rate['count']})",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="kernel,usrsctp-raw,usrsctp-udp")
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--rtt-count", type=int, default=2000)
    parser.add_argument("--rate-count", type=int, default=20000)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("sctp benchmark: needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    status = 0
    with tempfile.TemporaryDirectory(prefix="sctp-bench-") as tmp:
        for mode in args.modes.split(","):
            if mode == "kernel" and not kernel_sctp_available():
                print("sctp kernel: skipped: the kernel has no SCTP (socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) "
                      "fails)")
                continue
            if mode.startswith("usrsctp") and not usrsctp_available():
                print(f"sctp {mode}: skipped: libusrsctp2 not installed")
                continue
            try:
                for line in run_mode(mode, args.size, args.rtt_count, args.rate_count, Path(tmp)):
                    print(line, flush=True)
            except Exception as e:
                print(f"sctp {mode}: failed: {e}", flush=True)
                for log in sorted(Path(tmp).glob(f"{mode}-*.log")):
                    print(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}", file=sys.stderr)
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
