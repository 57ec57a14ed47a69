"""HTTP OCSP responder and CRL server for the operator network (RFC 6960 appendix A.1, RFC 5280 4.2.1.13).

``python -m testbed.pki.ocsp_server --pki-dir <dir> --host 0.0.0.0 --port 8080``

* ``POST <any path>`` with an ``application/ocsp-request`` body, and
  ``GET /<base64 of the DER request, URL-encoded>`` (optionally under ``/ocsp/``)
  answer an ``application/ocsp-response`` from :meth:`RunPki.ocsp_response`
  (signed by the issuing CA). Anything that is not a parseable request gets a
  ``malformedRequest`` OCSPResponse (never a crash, never an HTTP 500).
* ``GET /crl.der`` / ``GET /crl.pem``: a freshly signed CRL of the issuing CA
  (``/root-crl.der``/``.pem``: the root's ARL covering the issuing CA);
  ``GET /chain.pem``, ``/root.pem``, ``/issuing.pem``: the CA certificates.

Revocations made by other processes are picked up on the next request:
``index.json`` is re-read whenever its mtime/size changes. Readiness: the line
``ocsp_server ready: listening on http://HOST:PORT`` on stdout (the real port
when ``--port 0``) and, with ``$NRFEMTO_EVENTS`` set, a ``service.listening`` event; every OCSP
answer is an ``ocsp.response`` event {peer, status, serial?, cert_status?} (good/revoked/unknown).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import signal
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from testbed.pki.ca import RunPki, _unsuccessful

MAX_REQUEST = 64 * 1024
OCSP_REQUEST_TYPE = "application/ocsp-request"
OCSP_RESPONSE_TYPE = "application/ocsp-response"


class PkiCache:
    """A :class:`RunPki` re-read from disk when ``index.json`` changes (thread-safe)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._pki: RunPki | None = None

    def get(self) -> RunPki:
        st = os.stat(self.directory / "index.json")
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if self._pki is None or stamp != self._stamp:
                self._pki = RunPki.load(self.directory)
                self._stamp = stamp
            return self._pki


def _malformed() -> bytes:
    return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)


def decode_get_path(path: str) -> bytes | None:
    """The DER request of an RFC 6960 A.1 GET path (``/<url-encoded base64>``), or None."""
    raw = urllib.parse.urlsplit(path).path
    if raw.startswith("/ocsp/"):
        raw = raw[len("/ocsp/"):]
    raw = urllib.parse.unquote(raw.lstrip("/")).strip()
    if not raw:
        return None
    raw = raw.replace("-", "+").replace("_", "/")  # tolerate base64url too
    raw += "=" * (-len(raw) % 4)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None


class OcspHandler(BaseHTTPRequestHandler):
    """Request handler; ``server.cache`` is a :class:`PkiCache`."""

    server_version = "nrfemto-ocsp/1"
    protocol_version = "HTTP/1.0"
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler API
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    def _send(self, code: int, ctype: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _answer(self, der: bytes | None) -> None:
        if der is None:
            body = _malformed()
        else:
            try:
                body = self.server.cache.get().ocsp_response(der)  # type: ignore[attr-defined]
            except Exception:
                body = _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)
        emit = getattr(self.server, "emit", None)
        if emit is not None:
            extra: dict[str, Any] = {}
            try:
                resp = ocsp.load_der_ocsp_response(body)
                status = resp.response_status.name.lower()
                if resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL:
                    # what the relying party was told about which certificate (RFC 6960 4.2.1)
                    extra = {"serial": format(resp.serial_number, "x"),
                             "cert_status": resp.certificate_status.name.lower()}
            except Exception:
                status = "unparsable"
            emit("ocsp.response", "debug" if status == "successful" else "notice",
                 peer=self.client_address[0], status=status, **extra)
        self._send(200, OCSP_RESPONSE_TYPE, body)

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST:
            self.close_connection = True
            self._answer(None)
            return
        body = self.rfile.read(length)
        self._answer(body if len(body) == length else None)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path in ("/crl.der", "/crl", "/crl.pem", "/root-crl.der", "/root-crl.pem"):
                pki = self.server.cache.get()  # type: ignore[attr-defined]
                crl = pki.root_crl() if path.startswith("/root-crl") else pki.crl()
                if path.endswith(".pem"):
                    self._send(200, "application/x-pem-file", crl.public_bytes(serialization.Encoding.PEM))
                else:
                    self._send(200, "application/pkix-crl", crl.public_bytes(serialization.Encoding.DER))
                return
            if path in ("/chain.pem", "/root.pem", "/issuing.pem"):
                pki = self.server.cache.get()  # type: ignore[attr-defined]
                body = {"/chain.pem": pki.chain_pem, "/root.pem": pki.root.cert_pem,
                        "/issuing.pem": pki.issuing.cert_pem}[path]()
                self._send(200, "application/x-pem-file", body)
                return
            if path in ("/healthz", "/ready"):
                self._send(200, "text/plain", b"ok\n")
                return
        except Exception:
            self._send(503, "text/plain", b"pki unavailable\n")
            return
        self._answer(decode_get_path(self.path))

    def do_HEAD(self) -> None:  # noqa: N802 - http.server API
        self.do_GET()


class OcspServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, pki_dir: Path, host: str, port: int, verbose: bool = False, emit: Any = None):
        self.cache = PkiCache(pki_dir)
        self.cache.get()  # fail early if the directory holds no PKI
        self.verbose = verbose
        self.emit = emit
        super().__init__((host, port), OcspHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def make_server(pki_dir: Path, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False,
                emit: Any = None) -> OcspServer:
    """A bound (not yet serving) server; call ``serve_forever()`` (e.g. in a thread) and ``shutdown()``."""
    return OcspServer(Path(pki_dir), host, port, verbose=verbose, emit=emit)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="OCSP responder and CRL server of the run PKI (RFC 6960 A.1)")
    ap.add_argument("--pki-dir", required=True, type=Path)
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--verbose", action="store_true", help="log every HTTP request to stderr")
    args = ap.parse_args(argv)
    events = None
    if os.environ.get("NRFEMTO_EVENTS"):
        from testbed.runtime.events import EventWriter
        events = EventWriter.from_env("ocsp")
    server = make_server(args.pki_dir, args.host, args.port, verbose=args.verbose,
                         emit=events.emit if events else None)

    def _stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    host = server.server_address[0]
    print(f"ocsp_server ready: listening on http://{host}:{server.port} (pki {args.pki_dir})", flush=True)
    if events:
        events.emit("service.listening", port=server.port, host=str(host))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if events:
            events.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
