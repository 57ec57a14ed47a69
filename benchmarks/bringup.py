"""Bring-up and tear-down time of topologies of 6, 50 and 200 nodes, and of the shipped ones.

Targets (issue #2): home topology up+down < 2 s; 200 nodes up < 20 s.
Prints one line per figure. Needs root. Usage: .venv/bin/python benchmarks/bringup.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testbed.runtime.engine import Testbed  # noqa: E402
from testbed.topology.model import load_topology, parse_topology  # noqa: E402


def synthetic(n: int):
    """n nodes: one router joining ceil((n-1)/50) LAN segments of hosts."""
    hosts = n - 1
    nseg = max(1, -(-hosts // 50))
    segments = {f"lan{i}": {"kind": "lan", "prefix": f"10.{100 + i}.0.0/24"} for i in range(nseg)}
    nodes = {"r": {"role": "router", "links": list(segments)}}
    for h in range(hosts):
        nodes[f"h{h}"] = {"role": "host", "links": [f"lan{h % nseg}"]}
    return parse_topology({"name": f"synthetic-{n}", "segments": segments, "nodes": nodes})


def measure(topo, runs: int, base: str) -> tuple[float, float]:
    ups, downs = [], []
    for _ in range(runs):
        tb = Testbed(topo, runs_base=base)
        t0 = time.monotonic()
        tb.up()
        t1 = time.monotonic()
        tb.down()
        t2 = time.monotonic()
        ups.append(t1 - t0)
        downs.append(t2 - t1)
    return statistics.median(ups), statistics.median(downs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one run each, skip 200 nodes")
    args = ap.parse_args()
    runs = 1 if args.quick else 3
    home = load_topology(ROOT / "topologies/home-femto.yaml")
    cases = [(f"home-femto ({len(home.nodes)} nodes)", home),
             ("enterprise (30 nodes)", load_topology(ROOT / "topologies/enterprise.yaml")),
             ("synthetic 6 nodes", synthetic(6)), ("synthetic 50 nodes", synthetic(50))]
    if not args.quick:
        cases.append(("synthetic 200 nodes", synthetic(200)))
    with tempfile.TemporaryDirectory() as base:
        for name, topo in cases:
            up, down = measure(topo, 1 if "200" in name else runs, base)
            print(f"{name}: up {up:.2f} s, down {down:.2f} s, up+down {up + down:.2f} s")


if __name__ == "__main__":
    main()
