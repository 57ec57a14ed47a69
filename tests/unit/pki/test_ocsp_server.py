"""The HTTP OCSP responder / CRL server (RFC 6960 A.1) on 127.0.0.1, random port."""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from testbed.pki import RunPki
from testbed.pki.ocsp_server import OcspServer, decode_get_path, make_server

from .test_revocation import request


@pytest.fixture
def server(pki: RunPki) -> Iterator[OcspServer]:
    srv = make_server(pki.directory, "127.0.0.1", 0)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    t.join(2)


def post(port: int, body: bytes, path: str = "/") -> tuple[int, str, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                 headers={"Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status, r.headers["Content-Type"], r.read()


def get(port: int, path: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.status, r.headers["Content-Type"], r.read()


def status_of(body: bytes) -> ocsp.OCSPCertStatus:
    resp = ocsp.load_der_ocsp_response(body)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return resp.certificate_status


def test_post_and_get(pki: RunPki, server: OcspServer) -> None:
    good = pki.femto("001122", "A").cert
    revoked = pki.segw(revoked=True).cert
    for cert, expected in ((good, ocsp.OCSPCertStatus.GOOD), (revoked, ocsp.OCSPCertStatus.REVOKED)):
        der = request(cert, pki.issuing.cert, hashes.SHA256())
        code, ctype, body = post(server.port, der)
        assert code == 200 and ctype == "application/ocsp-response" and status_of(body) == expected
        b64 = urllib.parse.quote(base64.b64encode(der).decode(), safe="")
        for path in (f"/{b64}", f"/ocsp/{b64}"):
            code, ctype, body = get(server.port, path)
            assert code == 200 and ctype == "application/ocsp-response" and status_of(body) == expected
    assert decode_get_path("/" + base64.urlsafe_b64encode(der).decode().rstrip("=")) == der


def test_revocation_picked_up_without_restart(pki: RunPki, server: OcspServer) -> None:
    cert = pki.femto("001122", "A").cert
    der = request(cert, pki.issuing.cert)
    assert status_of(post(server.port, der)[2]) == ocsp.OCSPCertStatus.GOOD
    RunPki.load(pki.directory).revoke(cert)  # e.g. a scenario step in another process
    assert status_of(post(server.port, der)[2]) == ocsp.OCSPCertStatus.REVOKED
    code, ctype, body = get(server.port, "/crl.der")
    assert code == 200 and ctype == "application/pkix-crl"
    crl = x509.load_der_x509_crl(body)
    assert crl.is_signature_valid(pki.issuing.cert.public_key())
    assert [r.serial_number for r in crl] == [cert.serial_number]
    assert x509.load_pem_x509_crl(get(server.port, "/crl.pem")[2]) is not None
    assert get(server.port, "/chain.pem")[2] == pki.chain_pem()
    arl = x509.load_der_x509_crl(get(server.port, "/root-crl.der")[2])
    assert len(arl) == 0 and arl.is_signature_valid(pki.root.cert.public_key())
    assert arl.issuer == pki.root.cert.subject


def test_malformed_input_never_crashes(pki: RunPki, server: OcspServer) -> None:
    for body in (b"", b"not der", b"\x30\x82\xff\xff"):
        assert ocsp.load_der_ocsp_response(post(server.port, body)[2]).response_status == \
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    for path in ("/", "/%%%", "/!!!!", "/AAAA", "/ocsp/"):
        assert ocsp.load_der_ocsp_response(get(server.port, path)[2]).response_status == \
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    # truncated body, bad and oversized Content-Length: answered, not crashed
    for head in (b"POST / HTTP/1.0\r\nContent-Length: 100\r\n\r\nabc",
                 b"POST / HTTP/1.0\r\nContent-Length: x\r\n\r\n",
                 b"POST / HTTP/1.0\r\nContent-Length: 99999999\r\n\r\n",
                 b"\x00\x01garbage\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(head)
            s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        assert data.startswith(b"HTTP/1.") or b"400" in data  # garbage request line: HTTP/0.9-style 400
    good = pki.femto("001122", "A").cert
    assert status_of(post(server.port, request(good, pki.issuing.cert))[2]) == ocsp.OCSPCertStatus.GOOD


def test_cli_readiness_line(pki: RunPki) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "testbed.pki.ocsp_server", "--pki-dir", str(pki.directory),
                             "--host", "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[3])
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("ocsp_server ready: listening on http://127.0.0.1:")
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        cert = pki.femto("001122", "A", revoked=True).cert
        assert status_of(post(port, request(cert, pki.issuing.cert))[2]) == ocsp.OCSPCertStatus.REVOKED
    finally:
        proc.terminate()
        assert proc.wait(5) == 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary")
def test_openssl_ocsp_client_agrees(pki: RunPki, server: OcspServer) -> None:
    d = pki.directory
    good, revoked = pki.femto("001122", "A"), pki.femto("001122", "B", revoked=True)
    for issued, word in ((good, "good"), (revoked, "revoked")):
        out = subprocess.run(["openssl", "ocsp", "-issuer", str(d / "issuing.pem"), "-cert", str(issued.cert_path),
                              "-url", f"http://127.0.0.1:{server.port}/", "-CAfile", str(d / "chain.pem")],
                             capture_output=True, text=True, timeout=10)
        assert "Response verify OK" in out.stderr + out.stdout, out
        assert f"{issued.cert_path}: {word}" in out.stdout, out


def test_response_serializes(pki: RunPki) -> None:
    resp = ocsp.load_der_ocsp_response(pki.ocsp_response(request(pki.femto("001122", "A").cert, pki.issuing.cert)))
    assert resp.public_bytes(serialization.Encoding.DER)
