"""``nrfemto hpm FEMTO status|remove|insert`` against the real HPM process (software UICC) and a femto whose
radio follows the HPM the way the backhaul agent makes it (an :class:`~testbed.segw.agent.HpmWatcher`
polling the HPM, TS 33.320 7.2.3): the CLI finds the sockets from ``backhaul.json``, waits for the radio and
reports the timings from the events files."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from testbed.cli.main import app, hpm_sockets, hpm_timings
from testbed.hpm.card import HpmCard, save_card
from testbed.hpm.process import HpmProcess
from testbed.runtime.control import serve_json_lines
from testbed.runtime.events import EventWriter
from testbed.segw.agent import HpmWatcher


class FakeFemto:
    """The femto's control socket: ``status`` with the radio state; ``follow`` switches the radio with the HPM."""

    def __init__(self, events: EventWriter, follow: bool = True) -> None:
        self.radio_on = True
        self.events = events
        self.follow = follow

    def handle(self, req: Any) -> dict[str, Any]:
        state = "up" if self.radio_on else "down"
        return {"ok": True, "radio": {"on": self.radio_on}, "n2": {"state": state}, "backhaul": {"state": state}}

    def hpm_changed(self, present: bool, detail: str) -> None:
        if not self.follow or present == self.radio_on:
            return
        self.radio_on = present
        self.events.emit("femto.radio_on" if present else "femto.radio_off", "notice", reason=detail)


@pytest.fixture
def femto_run(tmp_path: Path) -> Iterator[tuple[Path, FakeFemto]]:
    run = tmp_path / "runs" / "r1"
    (run / "events").mkdir(parents=True)
    (run / "femto1" / "hpm").mkdir(parents=True)
    card = run / "femto1" / "hpm" / "card.json"
    save_card(card, HpmCard(imsi="001010000009001", k=secrets.token_hex(16), opc=secrets.token_hex(16),
                            realm="nai.5gc.mnc001.mcc001.3gppnetwork.org"))
    (run / "femto1" / "backhaul.json").write_text(json.dumps({
        "node_dir": "femto1", "identity": "X.femto.operator.nrfemto.test", "cert": "c", "root_cert": "r",
        "segw_address": "203.0.113.10", "services": {"amf": "10.10.0.2"}, "control_socket": "femto1/backhaul.sock",
        "femto_control": "femto1/control.sock", "hpm_socket": "femto1/hpm/hpm.sock", "hpm_required": True}))
    hpm_events = EventWriter(run / "events" / "hpm.jsonl", "hpm", "femto1")
    femto_events = EventWriter(run / "events" / "femto.jsonl", "femto", "femto1")
    femto = FakeFemto(femto_events)
    hpm = HpmProcess(card, run / "femto1" / "hpm" / "hpm.sock", hpm_events)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> asyncio.AbstractServer:
        await hpm.start()
        return await asyncio.start_unix_server(lambda r, w: serve_json_lines(r, w, femto.handle),
                                               path=str(run / "femto1" / "control.sock"))

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(5)
    watcher = HpmWatcher(run / "femto1" / "hpm" / "hpm.sock", femto.hpm_changed, interval=0.05).start()
    try:
        yield run, femto
    finally:
        watcher.stop()

        async def stop() -> None:
            server.close()
            await hpm.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        hpm_events.close()
        femto_events.close()


def test_sockets_from_backhaul_settings(tmp_path: Path) -> None:
    (tmp_path / "femto1").mkdir()
    assert hpm_sockets(tmp_path, "femto1") == {"hpm": tmp_path / "femto1/hpm/hpm.sock", "backhaul": None,
                                               "femto": None}  # no backhaul.json: the HPM's default socket
    (tmp_path / "femto1" / "backhaul.json").write_text(json.dumps({
        "node_dir": "femto1", "identity": "x", "cert": "c", "root_cert": "r", "segw_address": "203.0.113.10",
        "services": {"amf": "10.10.0.2"}, "control_socket": "/abs/bh.sock", "hpm_socket": "h/s.sock"}))
    socks = hpm_sockets(tmp_path, "femto1")
    assert socks == {"hpm": tmp_path / "h/s.sock", "backhaul": Path("/abs/bh.sock"), "femto": None}


def test_timings_from_events() -> None:
    evs = [{"type": "hpm.removed", "ts": 9.0}, {"type": "femto.radio_off", "ts": 9.5},  # an older removal
           {"type": "hpm.removed", "ts": 100.0}, {"type": "backhaul.hpm_removed", "ts": 100.04},
           {"type": "femto.radio_off", "ts": 100.05}, {"type": "backhaul.down", "ts": 100.06}]
    assert hpm_timings(evs, "remove", 50.0) == {"agent_noticed_after_s": 0.04, "tunnel_down_after_s": 0.06,
                                                "radio_off_after_s": 0.05}
    t = hpm_timings(evs + [{"type": "hpm.inserted", "ts": 200.0}, {"type": "femto.radio_on", "ts": 200.8}],
                    "insert", 150.0)
    assert t == {"agent_noticed_after_s": None, "tunnel_up_after_s": None, "radio_on_after_s": 0.8}
    assert hpm_timings(evs, "insert", 0.0) == {}  # no insertion seen


def test_remove_then_insert(femto_run: tuple[Path, FakeFemto]) -> None:
    run, femto = femto_run
    cli = CliRunner()
    r = cli.invoke(app, ["hpm", "femto1", "status", "--run", str(run)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["hpm"]["inserted"] is True and out["radio"]["radio_on"] is True
    assert out["backhaul"]["ok"] is False  # no agent in this test: said so, not hidden

    r = cli.invoke(app, ["hpm", "femto1", "remove", "--run", str(run), "--wait", "5"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["hpm"] == {"ok": True, "inserted": False} and out["radio"]["radio_on"] is False
    assert 0 <= out["timings"]["radio_off_after_s"] < 1.0, out["timings"]
    assert not femto.radio_on

    r = cli.invoke(app, ["hpm", "femto1", "insert", "--run", str(run), "--wait", "5"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["hpm"]["inserted"] is True and out["radio"] == {"radio_on": True, "n2": "up", "backhaul": "up"}
    assert out["timings"]["radio_on_after_s"] is not None


def test_radio_that_does_not_follow_is_reported(femto_run: tuple[Path, FakeFemto]) -> None:
    run, femto = femto_run
    femto.follow = False  # a femto that keeps radiating without its HPM
    r = CliRunner().invoke(app, ["hpm", "femto1", "remove", "--run", str(run), "--wait", "0.5"])
    assert r.exit_code == 1
    out = json.loads(r.output)
    assert "did not go off" in out["error"] and out["radio"]["radio_on"] is True
    assert out["timings"]["radio_off_after_s"] is None


def test_bad_operation_and_no_hpm(tmp_path: Path) -> None:
    run = tmp_path / "r"
    (run / "femto1").mkdir(parents=True)
    r = CliRunner().invoke(app, ["hpm", "femto1", "eject", "--run", str(run)])
    assert r.exit_code == 2 and "unknown operation" in r.output
    r = CliRunner().invoke(app, ["hpm", "femto1", "remove", "--run", str(run)])
    assert r.exit_code == 1 and "no answer" in r.output
