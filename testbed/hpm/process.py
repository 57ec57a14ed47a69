"""The HPM process: a :class:`~testbed.hpm.softuicc.SoftUicc` behind a Unix control socket.

``python -m testbed.hpm --card <femto>/hpm/card.json --socket <femto>/hpm/hpm.sock
--events <femto>/hpm/events.jsonl``. JSON lines, one request -> one response
(:func:`testbed.runtime.control.serve_json_lines`):

- ``{"op":"status"}`` -> ``{"ok":true,"inserted":true,"identity":"0<IMSI>@<realm>"}``
  (no ``identity`` while removed);
- ``{"op":"identity"}`` -> ``{"ok":true,"identity":...}`` | ``{"ok":false,"error":"no_card"}``;
- ``{"op":"authenticate","rand":"<32 hex>","autn":"<32 hex>"}`` ->
  ``{"ok":true,"res":..,"ck":..,"ik":..}`` | ``{"ok":false,"error":"sync_failure","auts":"<28 hex>"}``
  | ``{"ok":false,"error":"mac_failure"}`` | ``{"ok":false,"error":"no_card"}``
  (USIM AUTHENTICATE, TS 31.102 7.1.2 / TS 33.102 6.3.3; the new SQN_MS is written to the card
  file before the answer);
- ``{"op":"remove"}`` / ``{"op":"insert"}`` -> ``{"ok":true}`` (persisted; events
  ``hpm.removed`` / ``hpm.inserted``).

A malformed request gets ``{"ok":false,"error":"bad_request","detail":...}``. Events:
``hpm.ready``, ``hpm.inserted``, ``hpm.removed``, ``hpm.authenticate`` (``result`` only) and
``hpm.card_write_failed``; never K, OPc, RES, CK or IK.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
from pathlib import Path
from typing import Any

from testbed.crypto.aka import MacFailure, SyncFailure
from testbed.runtime.control import SUN_PATH_MAX, serve_json_lines
from testbed.runtime.events import EventWriter

from .card import HpmCard, load_card, save_card
from .softuicc import AuthOk, NoCard, SoftUicc

__all__ = ["HpmProcess", "bind_unix_socket", "run"]

log = logging.getLogger("testbed.hpm")

_HEX32 = re.compile(r"^[0-9a-fA-F]{32}\Z")


class HpmProcess:
    """The HPM's request handler (:meth:`handle`, synchronous) and its socket lifecycle."""

    def __init__(self, card_path: str | Path, socket_path: str | Path, events: EventWriter):
        self.card_path = Path(card_path)
        self.socket_path = Path(socket_path)
        self.events = events
        self.card: HpmCard = load_card(self.card_path)
        self.uicc = SoftUicc.from_card(self.card)
        self._server: asyncio.AbstractServer | None = None

    # -- requests ------------------------------------------------------------------------

    def _persist(self) -> bool:
        new = self.uicc.to_card(self.card)
        try:
            save_card(self.card_path, new)
        except OSError as e:
            log.error("cannot write the card file %s: %s", self.card_path, e.strerror)
            self.events.emit("hpm.card_write_failed", "error", error=e.strerror or str(e))
            return False
        self.card = new
        return True

    def handle(self, request: Any) -> dict[str, Any]:
        """One request -> one reply (see the module docstring); never raises for bad input."""
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"ok": False, "error": "bad_request", "detail": "expected a JSON object with 'op'"}
        op = request["op"]
        if op == "status":
            reply: dict[str, Any] = {"ok": True, "inserted": self.uicc.inserted}
            if self.uicc.identity is not None:
                reply["identity"] = self.uicc.identity
            return reply
        if op == "identity":
            ident = self.uicc.identity
            return {"ok": True, "identity": ident} if ident is not None else {"ok": False, "error": "no_card"}
        if op == "authenticate":
            return self._authenticate(request)
        if op in ("insert", "remove"):
            (self.uicc.insert if op == "insert" else self.uicc.remove)()
            self._persist()
            self.events.emit("hpm.inserted" if op == "insert" else "hpm.removed", "notice")
            return {"ok": True}
        return {"ok": False, "error": "bad_request",
                "detail": f"unknown op {op[:40]!r}; expected status, identity, authenticate, insert, remove"}

    def _authenticate(self, request: dict[str, Any]) -> dict[str, Any]:
        rand, autn = request.get("rand"), request.get("autn")
        if not (isinstance(rand, str) and _HEX32.match(rand) and isinstance(autn, str) and _HEX32.match(autn)):
            return {"ok": False, "error": "bad_request", "detail": "rand and autn must be 32 hex digits each"}
        sqn_before = self.uicc.sqn_ms
        r = self.uicc.authenticate(bytes.fromhex(rand), bytes.fromhex(autn))
        if isinstance(r, NoCard):
            self.events.emit("hpm.authenticate", "warning", result="no_card")
            return {"ok": False, "error": "no_card"}
        if isinstance(r, MacFailure):
            self.events.emit("hpm.authenticate", "warning", result="mac_failure")
            return {"ok": False, "error": "mac_failure"}
        if isinstance(r, SyncFailure):
            self.events.emit("hpm.authenticate", "warning", result="sync_failure")
            return {"ok": False, "error": "sync_failure", "auts": r.auts.hex()}
        assert isinstance(r, AuthOk)
        if self.uicc.sqn_ms != sqn_before and not self._persist():
            # The accepted SQN could not be made durable: answer nothing usable rather than
            # risk accepting the same AUTN again after a restart (TS 33.102 Annex C.1.1).
            return {"ok": False, "error": "card_io"}
        self.events.emit("hpm.authenticate", "info", result="ok")
        return {"ok": True, "res": r.res.hex(), "ck": r.ck.hex(), "ik": r.ik.hex()}

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        sock = bind_unix_socket(self.socket_path)
        self._server = await asyncio.start_unix_server(
            lambda r, w: serve_json_lines(r, w, self.handle), sock=sock)
        self.events.emit("hpm.ready", "info", inserted=self.uicc.inserted, identity=self.uicc.identity,
                         socket=str(self.socket_path))
        log.info("HPM ready on %s", self.socket_path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(OSError):
            self.socket_path.unlink()


def bind_unix_socket(path: Path) -> socket.socket:
    """A listening Unix stream socket at ``path`` (mode 0600; a stale socket file is replaced).

    Paths longer than ``sun_path`` are bound through ``/proc/self/fd/<dir fd>/<name>``, as
    :func:`testbed.runtime.control.control_request` connects to them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        if len(str(path).encode()) > SUN_PATH_MAX:
            dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                s.bind(f"/proc/self/fd/{dfd}/{path.name}")
            finally:
                os.close(dfd)
        else:
            s.bind(str(path))
    except OSError:
        s.close()
        raise
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    s.listen(16)
    s.setblocking(False)
    return s


async def run(card: str | Path, socket_path: str | Path, events: EventWriter) -> int:
    """Serve the HPM until SIGTERM/SIGINT; ``hpm.start_failed`` / ``hpm.stopped`` events."""
    proc = HpmProcess(card, socket_path, events)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        await proc.start()
        await stop.wait()
    except Exception as e:
        events.emit("hpm.start_failed", "error", error=f"{type(e).__name__}: {e}")
        raise
    finally:
        await proc.close()
    events.emit("hpm.stopped", "info")
    return 0
