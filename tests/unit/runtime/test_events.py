"""The event writer's lines are exactly ``json.dumps(event, sort_keys=True, default=str)``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testbed.runtime.events import EventWriter, read_events


def test_lines_are_sorted_json_with_str_fallback(tmp_path: Path) -> None:
    w = EventWriter(tmp_path / "e.jsonl", "ue", "ue1")
    fields = {"zeta": 1, "alpha": {"b": 2, "a": [1, "x", None]}, "path": tmp_path, "blob": b"\x01",
              "text": "gr\u00fc\u00df", "ratio": 0.25, "nan": float("nan"), "flag": True}
    ev = w.emit("registration.accepted", "info", **fields)
    w.emit("cag.reject", "warning", ue="reg-1")
    w.close()
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    assert lines[0] == json.dumps(ev, sort_keys=True, default=str)
    assert '"path": "' + str(tmp_path) + '"' in lines[0] and lines[0].index('"alpha"') < lines[0].index('"zeta"')
    got = read_events(tmp_path / "e.jsonl")
    assert [e["type"] for e in got] == ["registration.accepted", "cag.reject"]
    assert got[1]["severity"] == "warning" and got[1]["node"] == "ue1" and got[1]["ue"] == "reg-1"


def test_bad_severity_is_refused(tmp_path: Path) -> None:
    w = EventWriter(tmp_path / "e.jsonl", "ue")
    with pytest.raises(ValueError, match="severity"):
        w.emit("x", "loud")
    w.close()
    assert (tmp_path / "e.jsonl").read_text() == ""
