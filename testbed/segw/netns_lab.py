"""A SeGW namespace and a femto namespace joined by a veth, a charon in each (tests, benchmarks).

Layout (names ``nrft-t-<tag>-a`` / ``-b``)::

    [segw ns a]  veth 10.<x>.<y>.1/24  <---->  veth 10.<x>.<y>.2/24  [femto ns b]
       lo: operator service addresses (AMF/UPF/MS/NTP stand-ins, /32; the kernel has no dummy links)

Each charon runs in its namespace and a private mount namespace with a tmpfs on
/run (:func:`testbed.segw.charon.netns_argv`); the PIDs started here are the
only processes ever killed. :meth:`SegwLab.destroy` removes everything created
(also after a failed :meth:`create`). Needs root.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

from testbed.segw.charon import BackendChoice, Charon, Role


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {res.stderr.strip()}")
    return res


class SegwLab:
    """Namespace pair for IKEv2 tests: ``ns_segw`` (a) and ``ns_femto`` (b)."""

    def __init__(self, services: list[str] | None = None) -> None:
        tag = uuid.uuid4().hex[:6]
        self.tag = tag
        self.ns_segw = f"nrft-t-{tag}-a"
        self.ns_femto = f"nrft-t-{tag}-b"
        self.veth_segw = f"nrft{tag}a"
        self.veth_femto = f"nrft{tag}b"
        octet = int(tag[:2], 16) % 200 + 20
        self.addr_segw = f"10.231.{octet}.1"
        self.addr_femto = f"10.231.{octet}.2"
        self.services = services or ["10.45.0.10", "10.45.0.20"]
        self._procs: list[subprocess.Popen[Any]] = []
        self._made: list[str] = []

    def create(self) -> SegwLab:
        try:
            for ns in (self.ns_segw, self.ns_femto):
                _ip("netns", "add", ns)
                self._made.append(ns)
            _ip("link", "add", self.veth_segw, "type", "veth", "peer", "name", self.veth_femto)
            self._made.append("veth")
            for ns, dev, addr in ((self.ns_segw, self.veth_segw, self.addr_segw),
                                  (self.ns_femto, self.veth_femto, self.addr_femto)):
                _ip("link", "set", dev, "netns", ns)
                _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
                _ip("-n", ns, "link", "set", dev, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
            # no dummy interfaces in this kernel: the service stand-ins live on the SeGW's loopback
            for a in self.services:
                _ip("-n", self.ns_segw, "addr", "add", f"{a}/32", "dev", "lo")
        except BaseException:
            self.destroy()
            raise
        return self

    def popen(self, argv: list[str], env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.Popen[Any]:
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.Popen(argv, env=full_env, **kwargs)
        self._procs.append(proc)
        return proc

    def start_charon(self, role: Role, node_dir: Path, backend: BackendChoice = "auto",
                     timeout: float = 10.0, **kw: Any) -> Charon:
        """Write the node's config, start its charon in its namespace, wait for vici."""
        ns = self.ns_segw if role == "segw" else self.ns_femto
        charon = Charon(node_dir, role=role, ipsec_backend=backend, **kw)
        charon.write_config()
        argv, env = charon.netns_command(ns)
        out = open(node_dir / "charon.stdout", "ab")  # noqa: SIM115 - closed right after Popen
        try:
            proc = self.popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()
        charon.wait_ready(timeout, proc)  # type: ignore[arg-type]
        charon.pid = proc.pid
        return charon

    def apply_nft(self, ns: str, ruleset: str) -> None:
        """Load an nftables ruleset in ``ns`` (gone with the namespace)."""
        res = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=ruleset, capture_output=True,
                             text=True, timeout=30, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"nft in {ns} failed: {res.stderr.strip()}")

    def capture(self, ns: str, iface: str, path: Path) -> subprocess.Popen[Any]:
        return self.popen(["ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-U", "-n", "-w", str(path)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def exec(self, ns: str, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                              timeout=timeout, check=False)

    def kill(self, proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
                proc.wait(timeout=5)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def destroy(self) -> None:
        for proc in reversed(self._procs):
            self.kill(proc)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self._procs.clear()
        for ns in (self.ns_segw, self.ns_femto):
            if ns in self._made:
                _ip("netns", "del", ns, check=False)
        if "veth" in self._made and _ip("link", "show", self.veth_segw, check=False).returncode == 0:
            _ip("link", "del", self.veth_segw, check=False)
        self._made.clear()

    def __enter__(self) -> SegwLab:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()
