"""Service ordering, readiness probes and restart policy, with local processes (no root)."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed.runtime.events import EventWriter, read_events
from testbed.runtime.services import Probe, ServiceError, ServiceManager, ServiceSpec, dependency_levels

PY = sys.executable


def spawn(node, argv, env, log_path: Path):
    with open(log_path, "ab") as f:
        return subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env={**env, "PATH": "/usr/bin:/bin"},
                                start_new_session=True)


def node_sh(node, cmd):
    return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=False).stdout


def manager(tmp_path, specs, **kw):
    (tmp_path / "logs").mkdir(exist_ok=True)
    (tmp_path / "events").mkdir(exist_ok=True)
    return ServiceManager(specs, spawn, node_sh, tmp_path / "logs", tmp_path / "events", **kw)


def test_levels_respect_dependencies():
    s = [ServiceSpec("c", "n", ["x"], ["b"]), ServiceSpec("a", "n", ["x"]), ServiceSpec("b", "n", ["x"], ["a"]),
         ServiceSpec("d", "n", ["x"])]
    levels = [[x.name for x in lv] for lv in dependency_levels(s)]
    assert levels == [["a", "d"], ["b"], ["c"]]


def test_cycle_and_unknown_dependency_rejected():
    with pytest.raises(ServiceError, match="cycle"):
        dependency_levels([ServiceSpec("a", "n", ["x"], ["b"]), ServiceSpec("b", "n", ["x"], ["a"])])
    with pytest.raises(ServiceError, match="unknown dependency"):
        dependency_levels([ServiceSpec("a", "n", ["x"], ["zz"])])


def test_start_order_readiness_and_reverse_stop(tmp_path):
    marker = tmp_path / "order"
    svc = lambda name, deps, delay: ServiceSpec(  # noqa: E731
        name, "n", [PY, "-c", f"import time,sys; time.sleep({delay}); open({str(marker)!r},'a').write('{name}\\n');"
                    f" print('READY {name}', flush=True); time.sleep(60)"],
        deps, Probe("log", f"READY {name}", timeout=10))
    m = manager(tmp_path, [svc("db", [], 0.3), svc("api", ["db"], 0.0), svc("web", ["api"], 0.0)])
    m.start_all()
    try:
        assert marker.read_text().split() == ["db", "api", "web"]
        assert all(st.status == "ready" for st in m.states.values())
        assert m.states["db"].ready_after >= 0.3
    finally:
        m.stop_all()
    assert all(st.status == "stopped" and st.proc.poll() is not None for st in m.states.values())
    types = [e["type"] for e in read_events(tmp_path / "events" / "services.jsonl")]
    assert types.count("service.ready") == 3


def test_probe_timeout_fails_start(tmp_path):
    m = manager(tmp_path, [ServiceSpec("slow", "n", [PY, "-c", "import time; time.sleep(30)"],
                                       probe=Probe("file", str(tmp_path / "never"), timeout=0.3))])
    with pytest.raises(ServiceError, match="not ready after 0.3"):
        m.start_all()
    m.stop_all()


def test_early_exit_fails_start(tmp_path):
    m = manager(tmp_path, [ServiceSpec("crash", "n", [PY, "-c", "raise SystemExit(3)"],
                                       probe=Probe("file", str(tmp_path / "x"), timeout=5))])
    with pytest.raises(ServiceError, match="exited with code 3"):
        m.start_all()
    m.stop_all()


def test_tcp_probe(tmp_path):
    code = ("import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1);"
            "s.bind(('127.0.0.1', 0)); s.listen(); open(%r,'w').write(str(s.getsockname()[1])); time.sleep(60)")
    portfile = tmp_path / "port"
    m = manager(tmp_path, [ServiceSpec("srv", "n", [PY, "-c", code % str(portfile)], probe=Probe("file", str(portfile)))])
    m.start_all()
    try:
        port = int(portfile.read_text())
        st = m.states["srv"]
        assert m.check(ServiceState_with_probe(st, Probe("tcp", port)))
        assert not m.check(ServiceState_with_probe(st, Probe("tcp", 1)))
    finally:
        m.stop_all()


def ServiceState_with_probe(st, probe):  # noqa: N802
    from dataclasses import replace

    st2 = replace(st)
    st2.spec = replace(st.spec, probe=probe)
    return st2


def test_event_probe_and_env(tmp_path):
    code = ("import os,json,time; open(os.environ['NRFEMTO_EVENTS'],'a').write(json.dumps("
            "{'ts':time.time(),'type':'amf.listening','node':os.environ['NRFEMTO_NODE']})+'\\n'); time.sleep(60)")
    m = manager(tmp_path, [ServiceSpec("amf", "core", [PY, "-c", code], probe=Probe("event", "amf.listening"))])
    m.start_all()
    try:
        (ev,) = read_events(tmp_path / "events" / "amf.jsonl", "amf.")
        assert ev["node"] == "core"
    finally:
        m.stop_all()


def test_restart_on_failure_until_limit(tmp_path):
    counter = tmp_path / "count"
    code = (f"import time,pathlib; p=pathlib.Path({str(counter)!r}); n=int(p.read_text()) if p.exists() else 0;"
            f" p.write_text(str(n+1)); print('UP', flush=True); time.sleep(0.3); raise SystemExit(1)")
    m = manager(tmp_path, [ServiceSpec("flaky", "n", [PY, "-c", code], probe=Probe("log", "UP"),
                                       restart="on-failure", max_restarts=2)])
    m.start_all()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (m.states["flaky"].restarts == 2 and
                                               m.states["flaky"].status == "exited"):
        time.sleep(0.1)
    m.stop_all()
    assert int(counter.read_text()) == 3  # first start + 2 restarts, then no more
    restarted = read_events(tmp_path / "events" / "services.jsonl", "service.restarted")
    assert len(restarted) == 2


def test_no_restart_policy(tmp_path):
    m = manager(tmp_path, [ServiceSpec("once", "n", [PY, "-c", "print('UP',flush=True); import time; time.sleep(0.2)"],
                                       probe=Probe("log", "UP"), restart="no")])
    m.start_all()
    time.sleep(1.0)
    assert m.states["once"].status == "exited" and m.states["once"].restarts == 0
    m.stop_all()


def test_event_writer_and_reader(tmp_path):
    w = EventWriter(tmp_path / "amf.jsonl", "amf", "core")
    w.emit("cag.reject", "warning", cag_id=7)
    w.emit("cag.accept", cag_id=8)
    w.emit("auth.failure", "error", cause="mac")
    w.close()
    with open(tmp_path / "amf.jsonl", "a") as f:
        f.write("not json\n")
    assert [e["cag_id"] for e in read_events(tmp_path, "cag.")] == [7, 8]
    assert read_events(tmp_path, severity="error")[0]["cause"] == "mac"
    with pytest.raises(ValueError):
        EventWriter(tmp_path / "x.jsonl", "x").emit("t", severity="loud")
