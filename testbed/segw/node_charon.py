"""A charon started as a child of a service that already runs inside its topology node.

The topology engine's nodes have their own network namespace and a private ``/run`` (charon's pid
file), so a service there starts :class:`~testbed.segw.charon.Charon`'s argv directly. charon stays
in the service's process group (``nrfemto clean`` signals recorded process groups) and gets SIGTERM
when the service dies, even by SIGKILL (``PR_SET_PDEATHSIG``), so no charon outlives its service.

Run directories can be deep (pytest's tmp dirs) and an AF_UNIX path is limited: when the absolute
vici socket path is too long, the path relative to the working directory (the run directory) is
used instead (charon does not change its working directory).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.segw.charon import Charon, RadiusServer

__all__ = ["ChildCharon", "short_path"]

_VICI_MAX = 100


def short_path(path: Path) -> Path:
    """``path`` or, if shorter, the same path relative to the working directory."""
    absolute = Path(path).absolute()
    try:
        relative = Path(os.path.relpath(absolute))
    except ValueError:
        return absolute
    return relative if len(str(relative)) < len(str(absolute)) else absolute


@dataclass
class _NodeCharon(Charon):
    """:class:`Charon` whose vici socket path fits AF_UNIX (see the module docstring)."""

    @property
    def vici_socket(self) -> Path:
        full = self.node_dir / "charon.vici"
        return full if len(str(full)) <= _VICI_MAX else short_path(full)


def _libc_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


#: resolved before any fork (nothing is imported or allocated between fork and exec)
_PRCTL = _libc_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """(in the child before exec) SIGTERM when the service dies, even by SIGKILL (prctl PR_SET_PDEATHSIG)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


class ChildCharon:
    """Write the node's strongswan.conf, start charon as a child, wait for vici; stop it again."""

    def __init__(self, node_dir: Path, role: str, backend: str = "auto", log_level: int = 1,
                 eap: bool = False, *, hpm_socket: Path | str | None = None,
                 radius_servers: Sequence[RadiusServer] = ()) -> None:
        """``hpm_socket`` (femto): EAP-AKA answered by the HPM (eap-aka-hpm plugin); ``radius_servers``
        (SeGW): the AAA of eap-radius (see :class:`~testbed.segw.charon.Charon`)."""
        self.charon = _NodeCharon(Path(node_dir), role=role, ipsec_backend=backend,  # type: ignore[arg-type]
                                  log_level=log_level, eap=eap,
                                  hpm_socket=Path(hpm_socket) if hpm_socket is not None else None,
                                  radius_servers=tuple(radius_servers))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def vici_socket(self) -> Path:
        return self.charon.vici_socket

    @property
    def log_path(self) -> Path:
        return self.charon.log_path

    @property
    def backend(self) -> str:
        return self.charon.backend

    def start(self, timeout: float = 10.0) -> float:
        """Start charon; returns the seconds until its vici socket answered."""
        self.charon.write_config()
        with contextlib.suppress(FileNotFoundError):
            self.charon.vici_socket.unlink()  # a stale socket of a previous instance
        argv, env = self.charon.command()
        out = open(self.charon.node_dir / "charon.stdout", "ab")  # noqa: SIM115 - closed right after Popen
        try:
            self.proc = subprocess.Popen(argv, env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        finally:
            out.close()
        self.charon.pid = self.proc.pid
        try:
            return self.charon.wait_ready(timeout, self.proc)
        except BaseException:
            self.stop()
            raise

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
