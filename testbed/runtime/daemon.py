"""The orchestrator process that keeps a topology up between CLI invocations.

``nrfemto up`` starts ``python -m testbed.runtime.daemon --run-dir D --topology F``
in its own session. The daemon brings the topology up, reports progress as
JSON lines in ``D/progress.jsonl``, then serves a control socket
``D/control.sock`` (one JSON request per line: ``{"cmd": "status"}``,
``{"cmd": "down"}``, ``{"cmd": "ping"}``) until told to go down or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from testbed.runtime.rundir import RunDir

PROGRESS_FILE = "progress.jsonl"


class ProgressLog:
    def __init__(self, path: Path):
        self._f = open(path, "a", buffering=1)  # noqa: SIM115

    def __call__(self, kind: str, name: str, status: str, detail: str = "") -> None:
        self._f.write(json.dumps({"ts": time.time(), "kind": kind, "name": name, "status": status,
                                  "detail": detail}) + "\n")


async def _serve(tb, run: RunDir, stop: asyncio.Event) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=10)
            try:
                req = json.loads(line or b"{}")
            except json.JSONDecodeError:
                req = {}
            cmd = req.get("cmd") if isinstance(req, dict) else None
            if cmd == "status":
                reply = {"ok": True, "state": tb.state()}
            elif cmd == "ping":
                reply = {"ok": True, "pid": os.getpid()}
            elif cmd == "down":
                reply = {"ok": True}
                stop.set()
            else:
                reply = {"ok": False, "error": f"unknown command {cmd!r}"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    sock = run.control_socket
    if sock.exists():
        sock.unlink()
    server = await asyncio.start_unix_server(handle, path=str(sock))
    os.chmod(sock, 0o600)
    async with server:
        await stop.wait()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="nr-femto-testbed orchestrator (started by 'nrfemto up')")
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--topology", required=True)
    ap.add_argument("--no-capture", action="store_true")
    args = ap.parse_args(argv)

    from testbed.runtime import ledger as L
    from testbed.runtime.engine import Testbed
    from testbed.topology.model import load_topology

    run = RunDir(args.run_dir)
    progress = ProgressLog(run.path / "progress.jsonl")
    L.Ledger(run.path).process(os.getpid(), "orchestrator", "daemon")
    # Until the control loop runs, SIGTERM must still tear down what exists.
    signal.signal(signal.SIGTERM, _interrupt)
    tb = None
    try:
        topo = load_topology(args.topology)
        tb = Testbed(topo, run, capture=not args.no_capture, progress=progress)
        tb.up()
    except BaseException as e:  # noqa: BLE001 - reported to the waiting CLI
        progress("run", Path(args.topology).stem, "failed", f"{type(e).__name__}: {e}")
        traceback.print_exc()
        return 1

    stop = asyncio.Event()

    async def run_until_stopped() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        await _serve(tb, run, stop)

    try:
        asyncio.run(run_until_stopped())
    finally:
        progress("run", tb.topology.name, "stopping", "")
        try:
            tb.down()
            progress("run", tb.topology.name, "down", f"{tb.timings.get('down_s', 0):.2f} s")
        except Exception as e:  # noqa: BLE001
            progress("run", tb.topology.name, "down-with-errors", str(e))
        if run.control_socket.exists():
            run.control_socket.unlink()
        L.Ledger(run.path).removed(L.PROCESS, str(os.getpid()))
    return 0


def request(run: RunDir, cmd: str, timeout: float = 10.0) -> dict:
    """Send one control request to a run's orchestrator (raises OSError if none listens)."""
    from testbed.runtime.control import control_request

    return control_request(run.control_socket, {"cmd": cmd}, timeout)


def orchestrator_pid(run: RunDir) -> int | None:
    """PID of the run's live orchestrator, from the ledger (None if not running)."""
    from testbed.runtime import ledger as L

    for e in L.Ledger(run.path).live():
        if e.kind == L.PROCESS and e.data.get("role") == "orchestrator" and \
                L.process_alive(e.pid, e.data.get("starttime")):
            return e.pid
    return None


if __name__ == "__main__":
    sys.exit(main())
