"""Namespace labs for the SeGW (tests, benchmarks): a SeGW/femto pair, or one SeGW and N femtos on a bridge.

:class:`SegwLab` (names ``nrft-t-<tag>-a`` / ``-b``)::

    [segw ns a]  veth 10.<x>.<y>.1/24  <---->  veth 10.<x>.<y>.2/24  [femto ns b]
       lo: operator service addresses (AMF/UPF/MS/NTP stand-ins, /32; the kernel has no dummy links)

:class:`SegwStarLab` (names ``nrft-t-<tag>-s``, ``-x``, ``-f<i>``)::

    [segw ns s] eth0 10.232.0.1/16 ---- s0 [bridge ns x: br0] f<i> ---- eth0 10.232.<hi>.<lo>/16 [femto ns f<i>]
       lo: operator service addresses                                     (one per femto, i = 0..N-1)

Each veth is created directly inside its two namespaces, so nothing appears in the
root namespace. Each charon runs in its namespace and a private mount namespace
with a tmpfs on /run (:func:`testbed.segw.charon.netns_argv`); the PIDs started
here are the only processes ever killed. ``destroy()`` removes everything created
(also after a failed ``create()`` or a failure half-way through starting daemons).
Needs root.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.segw import profiles
from testbed.segw.charon import Backend, BackendChoice, Charon, Role, esp_backend
from testbed.segw.credentials import load_node_credentials
from testbed.segw.vici_driver import ViciDriver


def _ip(*args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False, input=input)
    if check and res.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {res.stderr.strip()}")
    return res


class _LabProcesses:
    """Processes started by a lab (only these are ever signalled) and helpers to run things in its namespaces."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[Any]] = []

    def popen(self, argv: list[str], env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.Popen[Any]:
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.Popen(argv, env=full_env, **kwargs)
        self._procs.append(proc)
        return proc

    def _spawn_charon(self, ns: str, role: Role, node_dir: Path, backend: BackendChoice,
                      **kw: Any) -> tuple[Charon, subprocess.Popen[Any]]:
        """Write the node's config and start its charon in ``ns`` (not waiting for it)."""
        charon = Charon(node_dir, role=role, ipsec_backend=backend, **kw)
        charon.write_config()
        argv, env = charon.netns_command(ns)
        out = open(node_dir / "charon.stdout", "ab")  # noqa: SIM115 - closed right after Popen
        try:
            proc = self.popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()
        charon.pid = proc.pid  # ip netns exec, unshare and sh all exec: this PID is charon's
        return charon, proc

    def apply_nft(self, ns: str, ruleset: str) -> None:
        """Load an nftables ruleset in ``ns`` (gone with the namespace)."""
        res = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=ruleset, capture_output=True,
                             text=True, timeout=30, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"nft in {ns} failed: {res.stderr.strip()}")

    def capture(self, ns: str, iface: str, path: Path, *extra: str) -> subprocess.Popen[Any]:
        """tcpdump on ``iface`` of ``ns`` into ``path`` (``extra``: more tcpdump options, e.g. ``-c 1000``)."""
        return self.popen(["ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-U", "-n", *extra, "-w", str(path)],
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

    def _stop_all(self, grace: float = 5.0) -> None:
        """SIGTERM every process still running (all at once), SIGKILL what is left after ``grace`` seconds."""
        alive = [p for p in self._procs if p.poll() is None]
        for proc in alive:
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        for proc in alive:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        for proc in self._procs:
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self._procs.clear()


class SegwLab(_LabProcesses):
    """Namespace pair for IKEv2 tests: ``ns_segw`` (a) and ``ns_femto`` (b)."""

    def __init__(self, services: list[str] | None = None) -> None:
        super().__init__()
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

    def start_charon(self, role: Role, node_dir: Path, backend: BackendChoice = "auto",
                     timeout: float = 10.0, **kw: Any) -> Charon:
        """Write the node's config, start its charon in its namespace, wait for vici."""
        ns = self.ns_segw if role == "segw" else self.ns_femto
        charon, proc = self._spawn_charon(ns, role, node_dir, backend, **kw)
        charon.wait_ready(timeout, proc)  # type: ignore[arg-type]
        return charon

    def destroy(self) -> None:
        self._stop_all()
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


@dataclass
class FemtoNode:
    """One femto of a :class:`SegwStarLab`: its namespace, backhaul address and (once started) charon."""

    index: int
    ns: str
    addr: str
    port: str  # its bridge port in the bridge namespace
    dev: str = "eth0"
    charon: Charon | None = None
    vici: ViciDriver | None = None
    cert: Any = None  # testbed.pki.Issued
    identity: str | None = None


class SegwStarLab(_LabProcesses):
    """One SeGW namespace and ``femtos`` femto namespaces on a Linux bridge (in its own namespace).

    Typical use (root)::

        with SegwStarLab(50) as lab:
            lab.start_charons(run_dir)            # one charon per node, private /run each
            lab.configure(RunPki.create(run_dir / "pki"))  # own device certificate per femto
            lab.initiate(0)

    The SeGW gets the operator service addresses on its loopback, the virtual IP pool
    ``pool`` and the responder connection of :func:`testbed.segw.profiles.segw_conn`
    (traffic selectors: the services only, so femtos cannot reach each other,
    TS 33.320 7.4); with ``forwarding`` the SeGW namespace routes (as a real SeGW in
    front of an operator network does), so only its traffic selectors and firewall
    keep femtos apart.
    """

    DEV = "eth0"
    BRIDGE = "br0"

    def __init__(self, femtos: int, services: list[str] | None = None, *, pool: str = "10.200.0.0/22",
                 backhaul: str = "10.232.0.0/16", forwarding: bool = True) -> None:
        super().__init__()
        net = ipaddress.ip_network(backhaul)
        if femtos < 1 or femtos + 2 > net.num_addresses:
            raise ValueError(f"femtos must be 1..{net.num_addresses - 2} for backhaul {backhaul}, not {femtos}")
        if femtos > ipaddress.ip_network(pool).num_addresses - 2:
            raise ValueError(f"virtual IP pool {pool} too small for {femtos} femtos")
        tag = uuid.uuid4().hex[:6]
        self.tag = tag
        self.ns_segw = f"nrft-t-{tag}-s"
        self.ns_bridge = f"nrft-t-{tag}-x"
        self.prefixlen = net.prefixlen
        hosts = net.hosts()
        self.addr_segw = str(next(hosts))
        self.femtos = [FemtoNode(i, f"nrft-t-{tag}-f{i}", str(next(hosts)), f"f{i}") for i in range(femtos)]
        self.services = services or ["10.45.0.10", "10.45.0.20"]
        self.pool = pool
        self.forwarding = forwarding
        self.segw: Charon | None = None
        self.segw_vici: ViciDriver | None = None
        self.backend: Backend | None = None
        self.backend_reason = ""
        self._made: list[str] = []  # namespaces, in creation order
        self._drivers: list[ViciDriver] = []

    # -- topology
    def namespaces(self) -> list[str]:
        return [self.ns_bridge, self.ns_segw, *(f.ns for f in self.femtos)]

    def create(self) -> SegwStarLab:
        try:
            _ip("netns", "add", self.ns_bridge)
            self._made.append(self.ns_bridge)
            bridge_cmds = [f"link add {self.BRIDGE} type bridge", f"link set {self.BRIDGE} up"]
            self._add_node(self.ns_segw, "s0", self.addr_segw,
                           [f"addr add {a}/32 dev lo" for a in self.services])
            bridge_cmds.append("link set s0 master br0 up")
            for f in self.femtos:
                self._add_node(f.ns, f.port, f.addr, [])
                bridge_cmds.append(f"link set {f.port} master {self.BRIDGE} up")
            # ports are enslaved after the bridge exists; one batch for all of them
            _ip("-n", self.ns_bridge, "-batch", "-", input="\n".join(bridge_cmds) + "\n")
            self._wait_ports_forwarding()
            if self.forwarding:
                res = self.exec(self.ns_segw, "sysctl", "-qw", "net.ipv4.ip_forward=1")
                if res.returncode != 0:
                    raise RuntimeError(f"sysctl ip_forward in {self.ns_segw}: {res.stderr.strip()}")
        except BaseException:
            self.destroy()
            raise
        return self

    def _wait_ports_forwarding(self, timeout: float = 5.0) -> None:
        """Wait until every bridge port forwards: a port's carrier (and so its state) can lag by up to
        1 s (linkwatch), and IKE packets sent before would be dropped and retransmitted (1 s later)."""
        ports = {"s0", *(f.port for f in self.femtos)}
        deadline = time.monotonic() + timeout
        while True:
            out = _ip("-n", self.ns_bridge, "-o", "link", "show", "master", self.BRIDGE).stdout
            ready = {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()
                     if "LOWER_UP" in line and "NO-CARRIER" not in line}
            if ports <= ready:
                states = subprocess.run(["bridge", "-n", self.ns_bridge, "link"], capture_output=True, text=True,
                                        timeout=30, check=False).stdout
                if states.count("state forwarding") >= len(ports):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"bridge ports of {self.ns_bridge} not forwarding within {timeout} s")
            time.sleep(0.05)

    def _add_node(self, ns: str, port: str, addr: str, extra: list[str]) -> None:
        _ip("netns", "add", ns)
        self._made.append(ns)
        # both ends are created inside their namespaces (nothing in the root namespace)
        _ip("link", "add", "name", self.DEV, "netns", ns, "type", "veth", "peer", "name", port,
            "netns", self.ns_bridge)
        cmds = [f"addr add {addr}/{self.prefixlen} dev {self.DEV}", f"link set {self.DEV} up", "link set lo up",
                *extra]
        _ip("-n", ns, "-batch", "-", input="\n".join(cmds) + "\n")

    # -- daemons
    def start_charons(self, base_dir: Path, backend: BackendChoice = "auto", timeout: float = 60.0,
                      log_level: int = 1) -> SegwStarLab:
        """Start the SeGW's and every femto's charon (all at once), wait for their vici sockets, connect.

        ``backend`` ``auto`` probes once (:func:`~testbed.segw.charon.esp_backend`) for all nodes.
        Node directories: ``base_dir/segw`` and ``base_dir/femto<i>``.
        """
        base_dir = Path(base_dir)
        if backend == "auto":
            self.backend, self.backend_reason = esp_backend()
        else:
            self.backend, self.backend_reason = backend, "chosen explicitly"
        started: list[tuple[Charon, subprocess.Popen[Any]]] = []
        self.segw, proc = self._spawn_charon(self.ns_segw, "segw", base_dir / "segw", self.backend,
                                             log_level=log_level)
        started.append((self.segw, proc))
        for f in self.femtos:
            f.charon, proc = self._spawn_charon(f.ns, "femto", base_dir / f"femto{f.index}", self.backend,
                                                log_level=log_level)
            started.append((f.charon, proc))
        deadline = time.monotonic() + timeout
        for charon, proc in started:
            charon.wait_ready(max(0.1, deadline - time.monotonic()), proc)
        self.segw_vici = self._driver(self.segw)
        for f in self.femtos:
            assert f.charon is not None
            f.vici = self._driver(f.charon)
        return self

    def _driver(self, charon: Charon) -> ViciDriver:
        drv = ViciDriver(charon.vici_socket)
        self._drivers.append(drv)
        return drv

    # -- configuration
    def configure_segw(self, pki: Any, segw_cert: Any = None, *, local_ts: list[str] | None = None) -> None:
        """Credentials, virtual IP pool and responder connection ``segw`` (``local_ts``: default the services)."""
        assert self.segw_vici is not None, "start_charons() first"
        cert = segw_cert if segw_cert is not None else pki.segw()
        load_node_credentials(self.segw_vici, pki, cert)
        paths = profiles.PkiPaths(cert=cert.cert_path, key=cert.key_path, root=pki.root.cert_path)
        self.segw_vici.load_pool("femtos", self.pool)
        self.segw_vici.load_conn("segw", profiles.segw_conn(paths, "femtos", local_ts or self.services))

    def configure_femto(self, index: int, pki: Any, *, oui: str = "001122", serial: str | None = None,
                        remote_ts: list[str] | None = None) -> FemtoNode:
        """Issue femto ``index`` its own device certificate (``<oui>-<serial>``, default ``SN<index>``),
        load it and the initiator connection ``femto`` (``remote_ts``: default the services)."""
        f = self.femtos[index]
        assert f.vici is not None, "start_charons() first"
        serial = serial or f"SN{index}"
        f.cert = pki.femto(oui, serial)
        f.identity = pki.femto_identity(oui, serial)
        load_node_credentials(f.vici, pki, f.cert)
        f.vici.load_conn("femto", profiles.femto_conn(
            self.addr_segw, f.identity, cert=f.cert.cert_pem(), root=pki.root.cert_pem(),
            remote_ts=remote_ts or self.services))
        return f

    def configure(self, pki: Any, *, oui: str = "001122") -> None:
        """The SeGW and every femto with the standard profile (services-only traffic selectors)."""
        self.configure_segw(pki)
        for f in self.femtos:
            self.configure_femto(f.index, pki, oui=oui)

    # -- control
    def initiate(self, index: int, timeout: float = 10.0) -> float:
        """Initiate femto ``index``'s tunnel; seconds until its CHILD SA is installed (ViciError if not)."""
        vici = self.femtos[index].vici
        assert vici is not None, "start_charons() first"
        t0 = time.monotonic()
        vici.initiate("femto", "femto", timeout=timeout)
        return time.monotonic() - t0

    def terminate(self, index: int, timeout: float = 5.0) -> None:
        vici = self.femtos[index].vici
        assert vici is not None, "start_charons() first"
        vici.terminate("femto", timeout=timeout)

    def wait_segw_sas(self, count: int, timeout: float = 10.0) -> int:
        """Wait until the SeGW has exactly ``count`` IKE SAs; returns the number it has at the end."""
        assert self.segw_vici is not None
        deadline = time.monotonic() + timeout
        while True:
            n = len(self.segw_vici.list_sas())
            if n == count or time.monotonic() > deadline:
                return n
            time.sleep(0.05)

    def tunnel_dev(self, index: int, dst: str | None = None) -> str:
        """Interface femto ``index`` routes ``dst`` (default: the first service) through (``ipsec0`` with libipsec)."""
        res = _ip("-n", self.femtos[index].ns, "-o", "route", "get", dst or self.services[0])
        words = res.stdout.split()
        return words[words.index("dev") + 1]

    # -- teardown
    def destroy(self) -> None:
        for drv in self._drivers:
            drv.close()
        self._drivers.clear()
        self._stop_all()
        for ns in reversed(self._made):
            _ip("netns", "del", ns, check=False)
        self._made.clear()

    def __enter__(self) -> SegwStarLab:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()
