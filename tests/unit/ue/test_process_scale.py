"""How many UEs one process holds with heartbeats running, and what each costs.

The real ``python -m testbed.ue`` process (real USIM/NAS objects, no registration) against a
minimal heartbeat responder in another process, both on loopback. The default run (1000 UEs,
a few seconds) is part of the unit tests; set ``NRFEMTO_UE_SCALE=5000,10000`` (and optionally
``NRFEMTO_UE_SCALE_SECONDS``) to measure more. Each run prints one line with the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed.runtime.control import control_request
from testbed.runtime.events import read_events

K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "e8ed289deba952e4283b54e88e6183ca"

RESPONDER = r"""
import socket, sys
from testbed.protocols import rls, rrc
from testbed.protocols.ngap.ies import Plmn
STI = 0x5CA1E00000000001
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
ack = rls.HeartbeatAck(STI, -10).encode()
mib = rls.PduTransmission(STI, rls.PduType.RRC, 0, rrc.encode(rrc.Mib())).encode()
sib1 = rls.PduTransmission(STI, rls.PduType.RRC, 1, rrc.encode(rrc.Sib1.for_cell(Plmn("001", "01"), 1, 0x10))).encode()
seen = {}
while True:
    data, addr = s.recvfrom(2048)
    if len(data) == 25 and data[4] == 4:
        s.sendto(ack, addr)
        ue = data[5:13]
        n = seen.get(ue, 0)
        seen[ue] = n + 1
        if n % 5 == 0:  # MIB and SIB1 when a UE appears, then every 5 s (like the femto)
            s.sendto(mib, addr)
            s.sendto(sib1, addr)
"""


def measure(tmp: Path, n: int, seconds: float) -> dict:
    gnb = subprocess.Popen([sys.executable, "-c", RESPONDER], stdout=subprocess.PIPE, text=True)
    ue = None
    try:
        port = int(gnb.stdout.readline())  # type: ignore[union-attr]
        cfg = {"gnbs": [f"127.0.0.1:{port}"], "scheme": 0, "bind_address": "127.0.0.1", "tun": False,
               "auto_register": False, "position": [10, 0, 0],
               "range": {"first_supi": "imsi-001010000100000", "count": n, "k": K, "opc": OPC}}
        (tmp / "ue.json").write_text(json.dumps(cfg))
        events = tmp / "events"
        env = {**os.environ, "NRFEMTO_EVENTS": str(events / "ue.jsonl"), "NRFEMTO_NODE": "ues"}
        sock = tmp / "ue" / "ues" / "control.sock"
        t0 = time.monotonic()
        ue = subprocess.Popen([sys.executable, "-m", "testbed.ue", "--config", str(tmp / "ue.json"),
                               "--control", str(sock), "--log-level", "WARNING"], cwd=tmp, env=env)
        while not read_events(events, "ue.ready"):
            assert ue.poll() is None, "UE process died"
            assert time.monotonic() - t0 < 120
            time.sleep(0.1)
        ready_s = time.monotonic() - t0
        # everybody camps within a few heartbeat periods
        while control_request(sock, {"op": "stats"}, timeout=60)["camped"] < n and time.monotonic() - t0 < ready_s + 30:
            time.sleep(0.2)
        s1 = control_request(sock, {"op": "stats"}, timeout=60)
        time.sleep(seconds)
        s2 = control_request(sock, {"op": "stats"}, timeout=60)
        dt = s2["elapsed_s"] - s1["elapsed_s"]
        cpu = s2["cpu_s"] - s1["cpu_s"]
        hb = s2["counters"]["tx"] - s1["counters"]["tx"]
        rx = s2["counters"]["rx"] - s1["counters"]["rx"]
        return {"ues": n, "ready_s": round(ready_s, 2), "camped": s2["camped"], "window_s": round(dt, 2),
                "heartbeats_per_s": round(hb / dt), "acks_per_s": round(rx / dt),
                "cpu_fraction": round(cpu / dt, 3), "cpu_us_per_ue_per_s": round(cpu / dt / n * 1e6, 1),
                "rss_mb": round(s2["max_rss_kb"] / 1024, 1), "rss_kb_per_ue": round(s2["max_rss_kb"] / n, 1),
                "nofile": s2["nofile"], "tx_errors": s2["counters"]["tx_errors"],
                "cells_lost": s2["cells_lost"], "timer_lag_ms": s2["timer_lag_ms"]}
    finally:
        for p in (ue, gnb):
            if p is not None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


def _sizes() -> list[int]:
    return [int(x) for x in os.environ.get("NRFEMTO_UE_SCALE", "1000").split(",") if x.strip()]


@pytest.mark.parametrize("n", _sizes())
def test_heartbeats_of_many_ues_in_one_process(tmp_path: Path, n: int) -> None:
    seconds = float(os.environ.get("NRFEMTO_UE_SCALE_SECONDS", "4"))
    r = measure(tmp_path, n, seconds)
    print(f"\nUE process scale: {json.dumps(r)}")
    assert r["camped"] == n and r["tx_errors"] == 0
    # one heartbeat per UE per second (+-15 %), every one answered
    assert 0.85 * n <= r["heartbeats_per_s"] <= 1.15 * n
    assert r["acks_per_s"] >= 0.85 * n
