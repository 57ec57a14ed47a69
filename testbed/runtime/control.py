"""Client side of the components' control sockets: one JSON request per line, one JSON reply per line.

Run directories can be deep (pytest's tmp dirs), and a Unix socket path is limited to 107 bytes
(``sun_path``); long paths are reached through ``/proc/self/fd/<dir fd>/<name>`` instead.
"""

from __future__ import annotations

import json
import os
import socket
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
