"""The process shell shared by the SeGW service and the femto backhaul agent.

Both are synchronous objects (vici is a blocking protocol; their work runs in threads) with
``start()``, ``control(request) -> reply`` and ``stop()``. :func:`run_service` runs one of them:
start (in a thread), serve its control socket (JSON lines, :func:`testbed.runtime.control.serve_json_lines`,
mode 0600), stop on SIGTERM/SIGINT.

:class:`EventSink` adapts :class:`testbed.segw.events.TunnelMonitor` (which writes ``segw.*``
events to an :class:`~testbed.runtime.events.EventWriter`) to a callback, so each service turns
tunnel facts into its own ``backhaul.*`` events and state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from testbed.runtime.events import EventWriter

log = logging.getLogger("testbed.segw.runner")

__all__ = ["EventSink", "Service", "run_service"]


class Service(Protocol):
    def start(self) -> None: ...

    def control(self, request: Any) -> dict[str, Any]: ...

    def stop(self) -> None: ...


class EventSink:
    """Looks like an EventWriter to the TunnelMonitor; hands each event to ``callback(type, severity, fields)``."""

    def __init__(self, callback: Callable[[str, str, dict[str, Any]], None]) -> None:
        self.callback = callback

    def emit(self, type: str, severity: str = "info", **fields: Any) -> dict[str, Any]:
        try:
            self.callback(type, severity, fields)
        except Exception:  # noqa: BLE001 - a bad event must not kill the monitor thread
            log.exception("event callback failed for %s", type)
        return {"type": type, "severity": severity, **fields}

    def close(self) -> None:
        pass


async def _serve(service: Service, path: Path) -> asyncio.AbstractServer:
    from testbed.runtime.control import serve_json_lines

    async def handler(request: Any) -> dict[str, Any]:
        return await asyncio.to_thread(service.control, request)

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_json_lines(reader, writer, handler)

    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    server = await asyncio.start_unix_server(client, path=str(path))
    os.chmod(path, 0o600)
    return server


async def run_service(service: Service, control_path: str | Path, events: EventWriter, component: str) -> int:
    """Start ``service``, serve its control socket until SIGTERM/SIGINT, stop it. Returns the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    path = Path(control_path)
    server: asyncio.AbstractServer | None = None
    code = 0
    try:
        try:
            await asyncio.to_thread(service.start)
        except Exception as e:  # noqa: BLE001 - reported as an event, then the process exits
            log.exception("%s: start failed", component)
            events.emit(f"{component}.start_failed", "error", error=f"{type(e).__name__}: {e}"[:500])
            code = 1
            return code
        server = await _serve(service, path)
        await stop.wait()
    finally:
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        await asyncio.to_thread(service.stop)
        events.emit(f"{component}.stopped", "info", code=code)
    return code
