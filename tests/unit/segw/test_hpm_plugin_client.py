"""The C HPM client of charon's eap-aka-hpm plugin (testbed/segw/hpm_plugin/hpm_client.c), through ctypes.

The client is plain C without strongSwan headers, compiled here with gcc into a small shared
object. It must map the HPM's AUTHENTICATE replies (TS 31.102 7.1.2 / TS 33.102 6.3.3 semantics:
RES/CK/IK, sync_failure + AUTS, mac_failure, no_card) to the card results of RFC 4187's peer and
must turn anything malformed, late or missing into an error, never a crash.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import string
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

SRC = Path(__file__).resolve().parents[3] / "testbed" / "segw" / "hpm_plugin" / "hpm_client.c"

OK, SYNC_FAILURE, MAC_FAILURE, NO_CARD, ERROR = range(5)

RAND = bytes(range(16))
AUTN = bytes(range(0x80, 0x90))
RES, CK, IK, AUTS = bytes.fromhex("a54211d5e3ba50bf"), b"\x11" * 16, b"\x22" * 16, bytes(range(14))


class Answer(ctypes.Structure):
    _fields_ = [
        ("res", ctypes.c_uint8 * 16),
        ("res_len", ctypes.c_size_t),
        ("ck", ctypes.c_uint8 * 16),
        ("ik", ctypes.c_uint8 * 16),
        ("auts", ctypes.c_uint8 * 14),
        ("reason", ctypes.c_char * 256),
    ]


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc missing (scripts/setup.sh installs it)")
    out = tmp_path_factory.mktemp("hpmclient") / "libhpmclient.so"
    res = subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-D_FORTIFY_SOURCE=2", "-fstack-protector-all",
                          "-Wall", "-Wextra", "-Werror", "-o", str(out), str(SRC)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    so = ctypes.CDLL(str(out))
    so.hpm_parse_authenticate.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(Answer)]
    so.hpm_parse_authenticate.restype = ctypes.c_int
    so.hpm_authenticate.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
                                    ctypes.POINTER(Answer)]
    so.hpm_authenticate.restype = ctypes.c_int
    so.hpm_format_authenticate.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_char_p]
    so.hpm_format_authenticate.restype = ctypes.c_size_t
    return so


def parse(lib: ctypes.CDLL, line: bytes | str) -> tuple[int, Answer]:
    data = line.encode() if isinstance(line, str) else line
    ans = Answer()
    # a buffer of exactly len(data) bytes (no terminating NUL the parser could rely on)
    buf = ctypes.create_string_buffer(data, len(data)) if data else ctypes.create_string_buffer(1)
    return lib.hpm_parse_authenticate(buf, len(data), ctypes.byref(ans)), ans


def ok_reply(**over: Any) -> dict[str, Any]:
    reply: dict[str, Any] = {"ok": True, "res": RES.hex(), "ck": CK.hex(), "ik": IK.hex()}
    reply.update(over)
    return reply


# -- request ---------------------------------------------------------------------------------------
def test_request_line_is_the_interface_json(lib: ctypes.CDLL) -> None:
    buf = ctypes.create_string_buffer(128)
    n = lib.hpm_format_authenticate(buf, 128, RAND, AUTN)
    line = buf.raw[:n]
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"op": "authenticate", "rand": RAND.hex(), "autn": AUTN.hex()}
    assert lib.hpm_format_authenticate(buf, 40, RAND, AUTN) == 0  # too small: refused, not truncated


# -- reply parsing ---------------------------------------------------------------------------------
def test_success_gives_res_ck_ik(lib: ctypes.CDLL) -> None:
    status, ans = parse(lib, json.dumps(ok_reply()) + "\n")
    assert status == OK
    assert bytes(ans.res[: ans.res_len]) == RES and bytes(ans.ck) == CK and bytes(ans.ik) == IK
    # RES may be 32..128 bits (TS 33.102 6.3.2); upper-case hex, whitespace and extra keys are fine
    status, ans = parse(lib, json.dumps(ok_reply(res="AB" * 16, extra={"a": [1, 2.5e3, None, "x"]}), indent=1))
    assert status == OK and bytes(ans.res[: ans.res_len]) == b"\xab" * 16


@pytest.mark.parametrize("reply, status", [
    ({"ok": False, "error": "sync_failure", "auts": AUTS.hex()}, SYNC_FAILURE),
    ({"ok": False, "error": "mac_failure"}, MAC_FAILURE),
    ({"ok": False, "error": "no_card"}, NO_CARD),
    ({"ok": False, "error": "sync_failure"}, ERROR),                          # AUTS missing
    ({"ok": False, "error": "sync_failure", "auts": AUTS.hex()[:-2]}, ERROR),  # AUTS short
    ({"ok": False, "error": "bad_request"}, ERROR),
    ({"ok": False}, ERROR),
    ({"ok": "true", "res": RES.hex(), "ck": CK.hex(), "ik": IK.hex()}, ERROR),  # not a boolean
    ({"res": RES.hex(), "ck": CK.hex(), "ik": IK.hex()}, ERROR),
    (ok_reply(res="a54211"), ERROR),              # RES shorter than 32 bits
    (ok_reply(res="a54211d5"), OK),               # 32 bits: the shortest RES
    (ok_reply(res="a5" * 17), ERROR),             # longer than 128 bits
    (ok_reply(res="a54"), ERROR),                 # odd
    (ok_reply(ck=CK.hex()[:-1] + "g"), ERROR),    # not hex
    (ok_reply(ik=None), ERROR),
    (ok_reply(ck=123), ERROR),
])
def test_reply_statuses(lib: ctypes.CDLL, reply: dict[str, Any], status: int) -> None:
    got, ans = parse(lib, json.dumps(reply))
    assert got == status, ans.reason
    if status == SYNC_FAILURE:
        assert bytes(ans.auts) == AUTS
    if status == ERROR:
        assert ans.reason  # a reason for the log
        assert bytes(ans.res) == bytes(16) and bytes(ans.ck) == bytes(16)  # nothing half-parsed left


@pytest.mark.parametrize("line", [
    b"", b"\n", b"null", b"[]", b"[{\"ok\":true}]", b"{", b"}", b"{\"ok\":true", b"{\"ok\" true}",
    b"{\"ok\":tru}", b"{\"ok\":true,}", b"{,}", b"{\"ok\":true}{}", b"{\"ok\":true} x",
    b"{\"ok\":false,\"error\":\"no_card\"", b"{\"error\":\"no_\\card\",\"ok\":false}",
    b"{\"error\":\"no\x01card\",\"ok\":false}", b"{\"a\":\"\\u12\"}", b"{\"a\":\"abc",
    b"{\"a\":" + b"[" * 20 + b"]" * 20 + b"}", b"{\"a\":-}", b"\x00\xff\xfe",
    json.dumps(ok_reply()).encode()[:-1], json.dumps(ok_reply()).encode() + b"\x00",
])
def test_malformed_replies_are_errors(lib: ctypes.CDLL, line: bytes) -> None:
    status, ans = parse(lib, line)
    assert status == ERROR
    assert ans.reason


def test_hpm_error_text_is_sanitised_and_bounded(lib: ctypes.CDLL) -> None:
    status, ans = parse(lib, json.dumps({"ok": False, "error": "weird\u00e9\nthing"}))
    assert status == ERROR and ans.reason.decode() == 'HPM error "weird??thing"'
    status, ans = parse(lib, json.dumps({"ok": False, "error": "x" * 5000}))
    assert status == ERROR and len(ans.reason) < 256


def _expected(obj: Any) -> int:
    """Reference semantics of a decoded reply (the interface of testbed.hpm)."""
    def hexlen(v: Any, lengths: range | tuple[int, ...]) -> bool:
        return isinstance(v, str) and len(v) in lengths and all(c in string.hexdigits for c in v)

    if not isinstance(obj, dict):
        return ERROR
    if obj.get("ok") is True:
        good = hexlen(obj.get("res"), range(8, 33, 2)) and hexlen(obj.get("ck"), (32,)) \
            and hexlen(obj.get("ik"), (32,))
        return OK if good else ERROR
    if obj.get("ok") is False:
        err = obj.get("error")
        if err == "sync_failure":
            return SYNC_FAILURE if hexlen(obj.get("auts"), (28,)) else ERROR
        return {"mac_failure": MAC_FAILURE, "no_card": NO_CARD}.get(err, ERROR) if isinstance(err, str) else ERROR
    return ERROR


_hex = st.text(alphabet="0123456789abcdefABCDEF", min_size=0, max_size=40)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=20), _hex)
_value = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
_reply = st.dictionaries(
    st.sampled_from(["ok", "error", "res", "ck", "ik", "auts", "other", "x" * 70]),
    st.one_of(_value, st.sampled_from(["sync_failure", "mac_failure", "no_card", True, False]),
              st.just(RES.hex()), st.just(CK.hex()), st.just(AUTS.hex())),
    max_size=7)


@settings(max_examples=400, deadline=None)
@given(reply=_reply, indent=st.sampled_from([None, 0, 2]))
def test_parser_agrees_with_reference_on_json(lib: ctypes.CDLL, reply: dict[str, Any], indent: int | None) -> None:
    status, _ = parse(lib, json.dumps(reply, indent=indent))
    assert status == _expected(reply)


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=300) | st.text(alphabet='{}[]":,\\ tfnrue0123456789okabcdef', max_size=200))
def test_parser_never_crashes_on_garbage(lib: ctypes.CDLL, data: bytes | str) -> None:
    raw = data.encode() if isinstance(data, str) else data
    status, _ = parse(lib, raw)
    try:
        expected = _expected(json.loads(raw))
    except (ValueError, UnicodeDecodeError, RecursionError):
        expected = ERROR
    assert status in (expected, ERROR)  # the C reader may be stricter (nesting > 8), never laxer


# -- socket exchange -------------------------------------------------------------------------------
class FakeHpm:
    """A one-connection-at-a-time Unix socket server answering with ``reply(request_bytes)``."""

    def __init__(self, path: Path, reply: Callable[[bytes], bytes | None], chunk: int = 0) -> None:
        self.path, self.reply, self.chunk = path, reply, chunk
        self.requests: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self.sock.bind(f"/proc/self/fd/{dir_fd}/{path.name}")  # also for paths > sun_path
        finally:
            os.close(dir_fd)
        self.sock.listen(4)
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                buf = b""
                try:
                    while not buf.endswith(b"\n"):
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        buf += chunk
                    self.requests.append(buf)
                    out = self.reply(buf) or b""
                    step = self.chunk or max(len(out), 1)
                    for i in range(0, len(out), step):  # in pieces: the client must reassemble
                        conn.sendall(out[i:i + step])
                        if self.chunk:
                            time.sleep(0.01)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def hpm_server(tmp_path: Path) -> Iterator[Callable[..., FakeHpm]]:
    servers: list[FakeHpm] = []

    def start(reply: Callable[[bytes], bytes | None], path: Path | None = None, chunk: int = 0) -> FakeHpm:
        srv = FakeHpm(path or tmp_path / "hpm.sock", reply, chunk)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.close()


def _authenticate(lib: ctypes.CDLL, path: Path, timeout_ms: int = 2000) -> tuple[int, Answer, float]:
    ans = Answer()
    t0 = time.monotonic()
    status = lib.hpm_authenticate(str(path).encode(), timeout_ms, RAND, AUTN, ctypes.byref(ans))
    return status, ans, time.monotonic() - t0


def test_exchange_success(lib: ctypes.CDLL, hpm_server: Callable[..., FakeHpm], tmp_path: Path) -> None:
    srv = hpm_server(lambda req: json.dumps(ok_reply()).encode() + b"\n")
    status, ans, _ = _authenticate(lib, tmp_path / "hpm.sock")
    assert status == OK, ans.reason
    assert bytes(ans.res[: ans.res_len]) == RES
    assert json.loads(srv.requests[0]) == {"op": "authenticate", "rand": RAND.hex(), "autn": AUTN.hex()}


def test_exchange_reply_in_pieces(lib: ctypes.CDLL, hpm_server: Callable[..., FakeHpm], tmp_path: Path) -> None:
    line = json.dumps({"ok": False, "error": "sync_failure", "auts": AUTS.hex()}).encode() + b"\n"
    hpm_server(lambda req: line, chunk=7)
    status, ans, _ = _authenticate(lib, tmp_path / "hpm.sock")
    assert status == SYNC_FAILURE, ans.reason
    assert bytes(ans.auts) == AUTS


def test_exchange_long_socket_path(lib: ctypes.CDLL, hpm_server: Callable[..., FakeHpm], tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = deep / "hpm.sock"
    assert len(str(path)) > 107
    hpm_server(lambda req: json.dumps({"ok": False, "error": "mac_failure"}).encode() + b"\n", path)
    status, ans, _ = _authenticate(lib, path)
    assert status == MAC_FAILURE, ans.reason


def test_exchange_no_server(lib: ctypes.CDLL, tmp_path: Path) -> None:
    status, ans, _ = _authenticate(lib, tmp_path / "nothing.sock")
    assert status == ERROR and b"cannot connect" in ans.reason
    ans = Answer()
    assert lib.hpm_authenticate(b"", 2000, RAND, AUTN, ctypes.byref(ans)) == ERROR
    assert b"no HPM socket" in ans.reason


def test_exchange_silent_server_times_out(lib: ctypes.CDLL, hpm_server: Callable[..., FakeHpm],
                                          tmp_path: Path) -> None:
    def silent(req: bytes) -> None:
        time.sleep(1.0)
        return None

    hpm_server(silent)
    status, ans, elapsed = _authenticate(lib, tmp_path / "hpm.sock", timeout_ms=300)
    assert status == ERROR and b"no reply" in ans.reason
    assert 0.25 < elapsed < 0.9


@pytest.mark.parametrize("reply, reason", [
    (lambda req: None, b"closed the connection"),
    (lambda req: b"{\"ok\":true", b"closed the connection"),   # no newline, then EOF
    (lambda req: b"x" * 5000, b"longer than"),
    (lambda req: b"not json\n", b"malformed"),
])
def test_exchange_bad_replies(lib: ctypes.CDLL, hpm_server: Callable[..., FakeHpm], tmp_path: Path,
                              reply: Callable[[bytes], bytes | None], reason: bytes) -> None:
    hpm_server(reply)
    status, ans, _ = _authenticate(lib, tmp_path / "hpm.sock")
    assert status == ERROR and reason in ans.reason, ans.reason
