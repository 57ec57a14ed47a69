"""Run-state bookkeeping."""

import os
import subprocess
import sys

from testbed.runtime import ledger as L
from testbed.runtime.cleanup import clean_run
from testbed.runtime.rundir import RunDir, resolve_run


def test_live_tracks_created_minus_removed(tmp_path):
    led = L.Ledger(tmp_path)
    led.created(L.BRIDGE, "nfx00")
    led.created(L.LINK, "nfx00-eth1")
    led.removed(L.LINK, "nfx00-eth1")
    assert [(e.kind, e.key) for e in led.live()] == [(L.BRIDGE, "nfx00")]


def test_torn_last_line_is_ignored(tmp_path):
    led = L.Ledger(tmp_path)
    led.created(L.BRIDGE, "nfx00")
    with open(led.path, "a") as f:
        f.write('{"op": "created", "kind": "link", "ke')
    assert [e.key for e in led.live()] == ["nfx00"]


def test_process_identity_uses_start_time(tmp_path):
    led = L.Ledger(tmp_path)
    led.process(os.getpid(), "service", "me")
    (entry,) = led.live()
    assert entry.data["starttime"] == L.proc_starttime(os.getpid())
    assert L.process_alive(os.getpid(), entry.data["starttime"])
    assert not L.process_alive(os.getpid(), entry.data["starttime"] + 1)  # a recycled PID is not ours


def test_clean_kills_only_recorded_processes(tmp_path):
    rd = RunDir(tmp_path)
    led = L.Ledger(tmp_path)
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        led.process(ours.pid, "service", "sleeper")
        assert clean_run(rd) == []
        assert ours.wait(timeout=5) is not None
        assert other.poll() is None  # same command line, not recorded: untouched
        assert led.live() == []
    finally:
        other.kill()
        other.wait()
        if ours.poll() is None:
            ours.kill()


def test_rundir_create_and_resolve(tmp_path):
    rd = RunDir.create("demo", tmp_path)
    for sub in ("logs", "events", "pcaps", "config", "keys"):
        assert (rd.path / sub).is_dir()
    assert oct(rd.path.stat().st_mode & 0o777) == "0o700"
    rd.mark_current()
    assert resolve_run(None, tmp_path).path == rd.path
    assert resolve_run(rd.name, tmp_path).path == rd.path
    assert len(rd.tag) == 4
