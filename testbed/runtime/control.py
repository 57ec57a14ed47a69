"""The components' control sockets: one JSON request per line, one JSON reply per line.

:func:`control_request` is the client side, :func:`serve_json_lines` the server side.

Run directories can be deep (pytest's tmp dirs), and a Unix socket path is limited to 107 bytes
(``sun_path``); long paths are reached through ``/proc/self/fd/<dir fd>/<name>`` instead.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

SUN_PATH_MAX = 107


def control_request(path: str | Path, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send ``request`` to the control socket at ``path`` and return the decoded reply.

    Raises :class:`OSError` if nothing listens there and :class:`ValueError` if the reply is not JSON.
    """
    path = Path(path)
    dir_fd = None
    target = str(path)
    if len(target.encode()) > SUN_PATH_MAX:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        target = f"/proc/self/fd/{dir_fd}/{path.name}"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(target)
            s.sendall(json.dumps(request).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
    finally:
        if dir_fd is not None:
            os.close(dir_fd)
    return json.loads(buf or b"{}")


async def serve_json_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           handler: Callable[[Any], dict[str, Any] | Awaitable[dict[str, Any]]], *,
                           idle_timeout: float = 60.0) -> None:
    """Server side of a control socket (``asyncio.start_unix_server`` client callback body).

    Each line is decoded as JSON (``None`` when it is not JSON, so the handler answers with an
    error) and passed to ``handler``, sync or async; its reply is written back as one JSON line.
    An idle client, a line longer than the stream limit or a dropped connection ends the session.
    """
    try:
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), idle_timeout)
            except (TimeoutError, ValueError):  # ValueError: line longer than the stream limit
                break
            if not line:
                break
            try:
                request = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                request = None
            reply = handler(request)
            if inspect.isawaitable(reply):
                reply = await reply
            writer.write(json.dumps(reply, default=str).encode() + b"\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
