"""The CLI end to end: up returns and leaves the topology running; status, exec, down;
SIGKILL of the orchestrator followed by 'nrfemto clean' leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NRFEMTO = [sys.executable, "-m", "testbed.cli.main"]


def nrfemto(*args: str, runs_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "NRFEMTO_RUNS": str(runs_dir), "COLUMNS": "200"}
    return subprocess.run([*NRFEMTO, *args], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=ROOT, check=False)


def test_up_status_exec_down(clean_system, runs_dir):
    r = nrfemto("up", "topologies/home-femto.yaml", runs_dir=runs_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        st = json.loads(nrfemto("status", "--json", runs_dir=runs_dir).stdout)
        assert st["live"] and st["status"] == "running"
        assert st["nodes"]["femto1"]["interfaces"][0]["address"] == "10.200.1.1"
        r = nrfemto("exec", "femto1", "--", "ip", "-o", "-4", "addr", "show", runs_dir=runs_dir)
        assert "192.168.1.2/24" in r.stdout, r.stdout + r.stderr
        # the node has its own /etc (hosts file naming the other nodes) and its own /run
        r = nrfemto("exec", "ue1", "--", "sh", "-c", "cat /etc/hosts; touch /run/nrfemto-probe", runs_dir=runs_dir)
        assert "203.0.113.10 segw" in r.stdout
        assert not Path("/run/nrfemto-probe").exists()
        r = nrfemto("exec", "nosuch", "--", "true", runs_dir=runs_dir)
        assert r.returncode != 0 and "no node" in r.stderr
    finally:
        r = nrfemto("down", runs_dir=runs_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    st = json.loads(nrfemto("status", "--json", runs_dir=runs_dir).stdout)
    assert not st["live"] and st["status"] == "stopped"


def test_sigkill_orchestrator_then_clean(clean_system, runs_dir):
    r = nrfemto("up", "topologies/home-femto.yaml", runs_dir=runs_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    st = json.loads(nrfemto("status", "--json", runs_dir=runs_dir).stdout)
    os.kill(st["orchestrator_pid"], signal.SIGKILL)
    time.sleep(0.5)
    bridges = [sg["bridge"] for sg in st["segments"].values()]
    r = nrfemto("clean", runs_dir=runs_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "cleaned" in r.stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert not any(f" {b}:" in links for b in bridges)
    # ...and a second clean finds nothing more to do.
    assert "nothing to clean" in nrfemto("clean", runs_dir=runs_dir).stdout


def test_bad_topology_creates_nothing(clean_system, runs_dir, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsegments: {a: {prefix: 10.0.0.0/24}}\nnodes: {n1: {links: [b]}}\n")
    r = nrfemto("up", str(bad), runs_dir=runs_dir)
    assert r.returncode == 2
    assert "nodes.n1.links.0.segment" in r.stderr and str(bad) in r.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
    r = nrfemto("check", "topologies/enterprise.yaml", runs_dir=runs_dir)
    assert r.returncode == 0 and "femto3" in r.stdout
