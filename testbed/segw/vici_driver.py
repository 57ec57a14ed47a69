"""Thin synchronous wrapper over :class:`vici.Session` for one charon's socket.

Everything the SeGW and femto charons are configured with goes through vici
(credentials, pools, connections; RFC 7296 IKE SAs are then initiated and listed
through it too). Messages from the ``vici`` package are nested dicts of
``bytes``; this wrapper returns them decoded to ``str`` (lists and dicts kept).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import vici
from vici.exception import CommandException

CertType = Literal["x509", "x509ca", "x509crl", "x509ocsp", "x509aa", "x509ac"]


def decode(value: Any) -> Any:
    """Recursively decode a vici message (bytes -> str)."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


class ViciError(RuntimeError):
    """A vici command failed (``success = no``) or the daemon is unreachable."""


class ViciDriver:
    """Synchronous vici client on ``socket_path`` (one connection, serialized by a lock)."""

    def __init__(self, socket_path: str | Path, connect_timeout: float = 5.0) -> None:
        self.socket_path = str(socket_path).removeprefix("unix://")
        self._lock = threading.Lock()
        self._session = self._connect(connect_timeout)

    def _connect(self, timeout: float) -> vici.Session:
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX)
            try:
                sock.connect(self.socket_path)
                return vici.Session(sock)
            except OSError as exc:
                sock.close()
                if time.monotonic() > deadline:
                    raise ViciError(f"cannot connect to vici at {self.socket_path}: {exc}") from exc
                time.sleep(0.05)

    def close(self) -> None:
        try:
            self._session.transport.close()
        except OSError:
            pass

    def __enter__(self) -> ViciDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            try:
                return decode(fn(*args))
            except CommandException as exc:
                raise ViciError(str(exc)) from exc

    # -- credentials and configuration
    def load_cert(self, data: bytes | str, type: CertType = "x509", flag: str = "NONE") -> None:
        """Load a certificate, CA certificate or CRL (PEM or DER). ``x509ca`` makes it a trust anchor."""
        blob = data.encode() if isinstance(data, str) else data
        self._call(self._session.load_cert, {"type": type, "flag": flag, "data": blob})

    def load_key(self, pem: bytes | str, type: str = "any") -> None:
        """Load a private key (``any``: RSA or ECDSA, PEM/PKCS#8 or DER)."""
        blob = pem.encode() if isinstance(pem, str) else pem
        self._call(self._session.load_key, {"type": type, "data": blob})

    def flush_certs(self, type: CertType | None = None) -> None:
        """Flush charon's volatile certificate cache (e.g. ``x509crl``: a CRL verified earlier is kept
        there and found before a newer one loaded through vici)."""
        self._call(self._session.flush_certs, {"type": type} if type else {})

    def load_pool(self, name: str, addrs: str, **attrs: Any) -> None:
        """Load a virtual IP pool (``addrs``: CIDR or range) for configuration payloads (RFC 7296 3.15)."""
        self._call(self._session.load_pool, {name: {"addrs": addrs, **attrs}})

    def load_conn(self, name: str, conn: dict[str, Any]) -> None:
        self._call(self._session.load_conn, {name: conn})

    def unload_conn(self, name: str) -> None:
        self._call(self._session.unload_conn, {"name": name})

    # -- control
    def initiate(self, child: str, ike: str | None = None, timeout: float = 10.0,
                 loglevel: int = 1) -> list[str]:
        """Initiate ``child`` (of ``ike``) and block until it is up or failed; returns charon's log lines.

        Raises :class:`ViciError` (with the log lines) when the CHILD SA does not come up.
        """
        msg: dict[str, Any] = {"child": child, "timeout": int(timeout * 1000), "loglevel": loglevel}
        if ike:
            msg["ike"] = ike
        log: list[str] = []
        with self._lock:
            try:
                for event in self._session.initiate(msg):
                    text = decode(event).get("msg")
                    if text:
                        log.append(text)
            except CommandException as exc:
                raise ViciError(f"{exc}; log: {' | '.join(log[-8:])}") from exc
        return log

    def terminate(self, ike: str | None = None, *, ike_id: int | None = None, timeout: float = 5.0) -> None:
        msg: dict[str, Any] = {"timeout": int(timeout * 1000), "loglevel": -1}
        if ike:
            msg["ike"] = ike
        if ike_id is not None:
            msg["ike-id"] = str(ike_id)
        with self._lock:
            try:
                for _ in self._session.terminate(msg):
                    pass
            except CommandException as exc:
                raise ViciError(str(exc)) from exc

    # -- status
    def list_sas(self, ike: str | None = None) -> list[dict[str, Any]]:
        """IKE SAs as a list of ``{name: details}`` dicts (``child-sas`` nested)."""
        with self._lock:
            return [decode(sa) for sa in self._session.list_sas({"ike": ike} if ike else None)]

    def list_conns(self) -> list[dict[str, Any]]:
        with self._lock:
            return [decode(c) for c in self._session.list_conns()]

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call(self._session.stats)
        return result

    def version(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call(self._session.version)
        return result

    def algorithms(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call(self._session.get_algorithms)
        return result

    def child_sas(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(ike name, IKE SA, CHILD SA) for every installed CHILD SA."""
        out = []
        for entry in self.list_sas():
            for name, ike in entry.items():
                for child in (ike.get("child-sas") or {}).values():
                    out.append((name, ike, child))
        return out


@contextmanager
def listen(socket_path: str | Path, events: list[str], poll: float = 0.2
           ) -> Iterator[Iterator[tuple[str | None, dict[str, Any] | None]]]:
    """Own vici connection registered for ``events`` (e.g. ``ike-updown``, ``child-updown``).

    Yields an iterator of ``(event_type, message)``; ``(None, None)`` every ``poll``
    seconds without an event so the caller can stop.
    """
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(socket_path).removeprefix("unix://"))
    session = vici.Session(sock)

    def gen() -> Iterator[tuple[str | None, dict[str, Any] | None]]:
        for etype, msg in session.listen(events, timeout=poll):
            if etype is None:
                yield None, None
            else:
                yield decode(etype), decode(msg)

    it = gen()
    try:
        yield it
    finally:
        try:
            it.close()  # unregisters while the socket is still open
        except OSError:
            pass
        sock.close()
