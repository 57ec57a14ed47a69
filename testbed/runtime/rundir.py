"""Run directories: ``runs/<timestamp>-<name>/`` with keys, configs, logs, events, pcaps, ledger.

The runs base directory is ``./runs`` or ``$NRFEMTO_RUNS``. ``runs/current``
points at the most recent run brought up by ``nrfemto up``.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

from testbed.errors import TestbedError

STATE_FILE = "state.json"
CONTROL_SOCKET = "control.sock"
CURRENT = "current"


def runs_base(base: str | Path | None = None) -> Path:
    return Path(base or os.environ.get("NRFEMTO_RUNS") or "runs").absolute()


class RunDir:
    """One run's directory and its well-known paths."""

    def __init__(self, path: str | Path):
        self.path = Path(path).absolute()

    @classmethod
    def create(cls, name: str, base: str | Path | None = None) -> RunDir:
        root = runs_base(base)
        root.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = root / f"{stamp}-{name}-{secrets.token_hex(2)}"
        path.mkdir(mode=0o700)
        rd = cls(path)
        for sub in ("logs", "events", "pcaps", "config", "keys"):
            (path / sub).mkdir()
        os.chmod(path / "keys", 0o700)
        return rd

    @property
    def tag(self) -> str:
        """Short unique tag of this run, used in global (root namespace) object names."""
        return self.path.name.rsplit("-", 1)[-1]

    @property
    def name(self) -> str:
        return self.path.name

    def sub(self, *parts: str) -> Path:
        return self.path.joinpath(*parts)

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def events(self) -> Path:
        return self.path / "events"

    @property
    def pcaps(self) -> Path:
        return self.path / "pcaps"

    @property
    def control_socket(self) -> Path:
        return self.path / CONTROL_SOCKET

    def write_state(self, state: dict) -> None:
        tmp = self.path / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        tmp.replace(self.path / STATE_FILE)

    def read_state(self) -> dict:
        try:
            return json.loads((self.path / STATE_FILE).read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def mark_current(self) -> None:
        link = self.path.parent / CURRENT
        tmp = self.path.parent / f".{CURRENT}.{os.getpid()}"
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(self.path.name)
        tmp.replace(link)


def resolve_run(run: str | None, base: str | Path | None = None) -> RunDir:
    """Find a run by path, by directory name, or the current one."""
    root = runs_base(base)
    if run:
        for candidate in (Path(run), root / run):
            if candidate.is_dir():
                return RunDir(candidate)
        matches = sorted(p for p in root.glob(f"*{run}*") if p.is_dir() and not p.is_symlink())
        if len(matches) == 1:
            return RunDir(matches[0])
        raise TestbedError(f"no unique run matches {run!r} in {root}")
    cur = root / CURRENT
    if cur.is_symlink() and cur.resolve().is_dir():
        return RunDir(cur.resolve())
    raise TestbedError(f"no current run in {root} (start one with 'nrfemto up TOPOLOGY')")


def all_runs(base: str | Path | None = None) -> list[RunDir]:
    root = runs_base(base)
    if not root.is_dir():
        return []
    return [RunDir(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.is_symlink()]
