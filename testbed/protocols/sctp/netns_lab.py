"""Two network namespaces joined by a veth pair, with SCTP peers in them (tests and benchmarks).

Everything created is recorded and removed by :meth:`NetnsPair.destroy` (also
on errors during creation): the peer and capture processes (killed by PID), the
namespaces (deleting a namespace deletes its veth end) and the veth pair.
Needs root.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

_counter = itertools.count()
_REPO_ROOT = Path(__file__).resolve().parents[3]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {res.stderr.strip()}")
    return res


class NetnsPair:
    """Namespaces ``a`` and ``b``; ``a`` has ``addr_a`` on ``veth_a``, ``b`` has ``addr_b`` on ``veth_b``."""

    def __init__(self, prefix: str = "nfsctp") -> None:
        n = next(_counter)
        pid = os.getpid()
        self.ns_a = f"{prefix}{pid}-{n}a"
        self.ns_b = f"{prefix}{pid}-{n}b"
        self.veth_a = f"nfs{pid}x{n}a"[:15]
        self.veth_b = f"nfs{pid}x{n}b"[:15]
        subnet = 16 + (pid * 7 + n) % 200
        self.addr_a = f"10.213.{subnet}.1"
        self.addr_b = f"10.213.{subnet}.2"
        self._procs: list[subprocess.Popen[Any]] = []
        self._created: list[str] = []

    def create(self) -> NetnsPair:
        try:
            for ns in (self.ns_a, self.ns_b):
                _ip("netns", "add", ns)
                self._created.append(ns)
            _ip("link", "add", self.veth_a, "type", "veth", "peer", "name", self.veth_b)
            self._created.append("veth")
            for ns, dev, addr in ((self.ns_a, self.veth_a, self.addr_a), (self.ns_b, self.veth_b, self.addr_b)):
                _ip("link", "set", dev, "netns", ns)
                _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
                _ip("-n", ns, "link", "set", dev, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.destroy()
            raise
        return self

    def popen(self, ns: str, argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside ``ns`` (``ip netns exec`` execs it: the PID is the program's)."""
        env = dict(os.environ if kwargs.get("env") is None else kwargs["env"])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        kwargs["env"] = env
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], **kwargs)
        self._procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def destroy(self) -> None:
        for proc in self._procs:
            self.kill(proc)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self._procs.clear()
        for ns in (self.ns_a, self.ns_b):
            if ns in self._created:
                _ip("netns", "del", ns, check=False)
        if "veth" in self._created:  # normally gone with its namespace
            if _ip("link", "show", self.veth_a, check=False).returncode == 0:
                _ip("link", "del", self.veth_a, check=False)
        self._created.clear()

    def __enter__(self) -> NetnsPair:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # -- helpers
    def peer(self, ns: str, log_path: Path | None = None, env: dict[str, str] | None = None,
             user: str | None = None) -> PeerProcess:
        return PeerProcess(self, ns, log_path, env, user)

    def capture(self, ns: str, iface: str, path: Path, bpf: str = "") -> Capture:
        return Capture(self, ns, iface, path, bpf)


class PeerProcess:
    """A ``python -m testbed.protocols.sctp.peer`` process in a namespace, driven by JSON lines."""

    def __init__(self, lab: NetnsPair, ns: str, log_path: Path | None = None,
                 env: dict[str, str] | None = None, user: str | None = None) -> None:
        self.lab = lab
        self.ns = ns
        self._log: IO[bytes] | int = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        argv = [sys.executable, "-m", "testbed.protocols.sctp.peer"]
        if user is not None:  # setpriv execs (no fork): the PID stays the peer's; switching uid drops all caps
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--", *argv]
        self.proc = lab.popen(ns, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env)
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(b"")

    def call(self, op: str, *, reply_timeout: float | None = None, **args: Any) -> dict[str, Any]:
        """Send one command and return its reply (raises RuntimeError on ``ok: false``).

        ``args`` go to the peer (including an op's own ``timeout``); ``reply_timeout``
        bounds the wait for the reply (default: the op's ``timeout`` + 30 s).
        """
        reply = self.try_call(op, reply_timeout=reply_timeout, **args)
        if not reply.get("ok"):
            raise RuntimeError(f"peer in {self.ns}: {op} failed: {reply.get('error')}")
        return reply

    def try_call(self, op: str, *, reply_timeout: float | None = None, **args: Any) -> dict[str, Any]:
        self.start(op, **args)
        if reply_timeout is None:
            reply_timeout = float(args.get("timeout", 0)) + 30.0
        return self.result(op, reply_timeout)

    def start(self, op: str, **args: Any) -> None:
        """Send a command without waiting; collect its reply with :meth:`result`."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"op": op, **args}) + "\n").encode())
        self.proc.stdin.flush()

    def reply_ready(self) -> bool:
        return not self._lines.empty()

    def result(self, op: str = "?", timeout: float = 30.0) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"peer in {self.ns}: no reply to {op} within {timeout} s") from None
        if not line:
            raise RuntimeError(f"peer in {self.ns} exited (code {self.proc.poll()}) during {op}")
        result: dict[str, Any] = json.loads(line)
        return result

    def kill(self) -> None:
        self.lab.kill(self.proc)
        self._close_log()

    def stop(self, timeout: float = 10.0) -> int | None:
        """Ask the peer to exit; kill it if it does not."""
        if self.proc.poll() is None:
            try:
                self.call("exit", reply_timeout=timeout)
                self.proc.wait(timeout=timeout)
            except (TimeoutError, RuntimeError, subprocess.TimeoutExpired, BrokenPipeError):
                self.lab.kill(self.proc)
        self._close_log()
        return self.proc.returncode

    def _close_log(self) -> None:
        if not isinstance(self._log, int):
            self._log.close()


class Capture:
    """tcpdump writing ``path`` on ``iface`` inside ``ns``."""

    def __init__(self, lab: NetnsPair, ns: str, iface: str, path: Path, bpf: str = "") -> None:
        self.lab = lab
        self.path = path
        argv = ["tcpdump", "-n", "-U", "--immediate-mode", "-i", iface, "-w", str(path), "-s", "0"]
        if bpf:
            argv.append(bpf)
        self.proc = lab.popen(ns, argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 10.0) -> None:
        # tcpdump prints "listening on ..." to stderr once the capture runs
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if b"listening on" in line or not line:
                break
        if b"listening on" not in line:
            raise RuntimeError(f"tcpdump did not start: {line.decode(errors='replace').strip()}")

    def stop(self) -> Path:
        time.sleep(0.3)  # let the last packets reach the capture
        self.lab.kill(self.proc, signal.SIGTERM)
        return self.path
