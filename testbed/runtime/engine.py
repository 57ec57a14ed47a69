"""The topology engine: build a topology on this machine, run services, tear it all down.

Lifecycle (design.md section 2): validate -> allocate addresses -> create nodes
and segment bridges -> links -> addresses, routes, NAT, firewall -> captures ->
services in dependency order -> (hand over) -> stop services -> stop captures
-> remove nodes and bridges.

Built on the Mininet API (hosts via ``mnexec``, Linux bridges, TCLink for
HTB/TBF shaping) but never Mininet's global cleanup: every object is recorded
in the run's ledger as it is created and removed by name/PID.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mininet.link import Link, TCLink

from testbed.errors import NeedsRoot, TestbedError
from testbed.runtime import capabilities
from testbed.runtime import ledger as L
from testbed.runtime.captures import Capture, start_capture, stop_capture, wait_listening
from testbed.runtime.cleanup import clean_run
from testbed.runtime.nodes import SegmentBridge, TestbedHost
from testbed.runtime.rundir import RunDir
from testbed.runtime.services import Probe, ServiceManager, ServiceSpec, ServiceState
from testbed.topology.firewall import node_ruleset
from testbed.topology.model import Topology
from testbed.topology.plan import NetworkPlan, build_plan

log = logging.getLogger("testbed.engine")

ProgressFn = Callable[[str, str, str, str], None]  # (kind, name, status, detail)


def _noop(kind: str, name: str, status: str, detail: str = "") -> None:
    pass


class Testbed:
    """A running (or to-be-running) topology. Use as a context manager or call up()/down()."""

    __test__ = False  # not a pytest class

    def __init__(self, topology: Topology, run_dir: RunDir | None = None, *, capture: bool = True,
                 progress: ProgressFn | None = None, extra_services: list[ServiceSpec] | None = None,
                 runs_base: str | Path | None = None, services: bool | Collection[str] = True):
        """``services``: True starts every service of the topology, False none (network only), a
        collection of names only those and what they depend on."""
        self.topology = topology
        self.service_selection = services
        self.plan: NetworkPlan = build_plan(topology)
        self.run_dir = run_dir or RunDir.create(topology.name, runs_base)
        self.ledger = L.Ledger(self.run_dir.path)
        self.capture = capture
        self.progress = progress or _noop
        self.extra_services = extra_services or []
        self.hosts: dict[str, TestbedHost] = {}
        self.bridges: dict[str, SegmentBridge] = {}
        self.captures: list[Capture] = []
        self.services: ServiceManager | None = None
        self.warnings: list[str] = []
        self.timings: dict[str, float] = {}
        self.caps = capabilities.detect()
        self._up = False

    # -- helpers ------------------------------------------------------------
    def bridge_name(self, segment: str) -> str:
        idx = list(self.topology.segments).index(segment)
        return f"nf{self.run_dir.tag}{idx:02d}"

    def node(self, name: str) -> TestbedHost:
        try:
            return self.hosts[name]
        except KeyError:
            raise TestbedError(f"no node {name!r}; nodes: {', '.join(self.hosts)}") from None

    def sh(self, node: str, command: str) -> str:
        """Run a short shell command in ``node`` and return its output."""
        return self.node(node).cmd(command)

    def popen(self, node: str, argv: list[str], **kwargs) -> subprocess.Popen:
        """Start a process in ``node``'s namespaces (recorded in the ledger)."""
        host = self.node(node)
        kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(["mnexec", "-a", str(host.pid), *argv], **kwargs)
        self.ledger.process(proc.pid, "process", argv[0], node)
        return proc

    def run(self, node: str, argv: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run a command in ``node`` to completion (not recorded: it is waited for)."""
        host = self.node(node)
        return subprocess.run(["mnexec", "-a", str(host.pid), *argv], capture_output=True, text=True,
                              timeout=timeout, check=False)

    # -- up -----------------------------------------------------------------
    def __enter__(self) -> Testbed:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> None:
        if not self.caps.root:
            raise NeedsRoot("building a topology needs root (network namespaces, bridges): run with sudo")
        if not self.caps.mnexec:
            raise TestbedError("mnexec not found: install Debian's 'mininet' package (make setup)")
        t0 = time.monotonic()
        self._write_state("starting")
        try:
            self._check_link_options()
            self._prepare_core()
            self._prepare_backhaul()
            self._create_nodes()
            self._create_segments()
            self._configure_nodes()
            self.timings["network_s"] = round(time.monotonic() - t0, 3)
            if self.capture:
                self._start_captures()
            self._start_services()
        except BaseException:
            self.progress("run", self.topology.name, "failed", "tearing down")
            self.down()
            raise
        self._up = True
        self.timings["up_s"] = round(time.monotonic() - t0, 3)
        self._write_state("running")
        self.progress("run", self.topology.name, "ready", f"{self.timings['up_s']:.2f} s")

    def _check_link_options(self) -> None:
        for seg_name, intfs in self.plan.segments.items():
            for intf in intfs:
                if intf.options.delay and not self.caps.netem:
                    msg = (f"segment {seg_name} ({intf.node}): delay={intf.options.delay} ms cannot be honoured: "
                           "this kernel has no netem (sch_netem); the link runs without delay")
                    if msg not in self.warnings:
                        self.warnings.append(msg)
                        log.warning(msg)
                        self.progress("warning", seg_name, "warning", msg)

    def _prepare_core(self) -> None:
        """Write the built-in core's settings and this run's subscriber file (with generated keys).

        Runs before any kernel object exists so a bad ``core:`` section fails cleanly.
        """
        if self.topology.core is None:
            return
        import json

        from testbed.core import provision
        from testbed.core.config import parse_core_settings

        source = self.topology.source_file
        settings = parse_core_settings(self.topology.core, source)
        core_dir = self.run_dir.sub("core")
        provision.materialise(settings, core_dir, source)
        (core_dir / "core.json").write_text(json.dumps(settings.model_dump(mode="json"), indent=2) + "\n")
        self.progress("core", "subscribers", "provisioned", str(core_dir / provision.SUBSCRIBERS_FILE))
        if settings.hpm_policies():
            # hosting-party modules (TS 33.320 7.2.3): each femto's card with this run's K/OPc
            # (<run>/<femto>/hpm/card.json, 0600), the same keys the core's store gives the AAA
            for femto, card in provision.write_hpm_cards(settings, self.run_dir.path).items():
                self.progress("hpm", femto, "provisioned", str(card))
        # Every femto's configuration as derived from the topology (<run>/<femto>/femto.json), for
        # its service: ["{python}", -m, testbed.femto, --config, <femto>/femto.json, ...].
        from testbed.femto.topology import femto_config_for
        from testbed.topology.model import Role

        for name, node in self.plan.nodes.items():
            if node.role == Role.FEMTO:
                cfg = femto_config_for(self.plan, name)
                path = self.run_dir.sub(name)
                path.mkdir(parents=True, exist_ok=True)
                (path / "femto.json").write_text(cfg.model_dump_json(indent=2) + "\n")

    def _prepare_backhaul(self) -> None:
        """With a SeGW: the run's PKI, SeGW and femto device certificates, each femto's TrE (its device
        key sealed there), the SeGW/backhaul settings files and the routes of the operator nodes to
        the SeGW's virtual IP pool (:mod:`testbed.segw.provision`). Before any kernel object exists."""
        from testbed.segw.provision import provision_backhaul

        t0 = time.monotonic()
        result = provision_backhaul(self.plan, self.run_dir.path)
        if result is None:
            return
        for node, route in result.routes.items():
            self.plan.nodes[node].routes.append(route)
        self.timings["backhaul_provision_s"] = round(time.monotonic() - t0, 3)
        self.progress("backhaul", "pki", "provisioned", str(self.run_dir.sub("pki")))
        self.progress("backhaul", "ipsec", result.backend, result.backend_reason)
        for node, identity in result.femtos.items():
            self.progress("backhaul", node, "provisioned", f"{identity} (device key sealed in its TrE)")
        if result.aaa is not None:
            self.progress("backhaul", "aaa", "provisioned",
                          f"{result.aaa.address}:{result.aaa.port} (RADIUS secret {result.aaa.secret_file}, 0600)")
        for node, required in result.hp_required.items():
            if required:
                self.progress("backhaul", node, "hp-auth", "hosting-party authentication required (EAP-AKA, HPM)")
        for msg in result.warnings:
            if msg not in self.warnings:
                self.warnings.append(msg)
                log.warning(msg)
                self.progress("warning", "backhaul", "warning", msg)

    def _create_nodes(self) -> None:
        for name in self.plan.nodes:
            self.progress("node", name, "creating", "")
            host = TestbedHost(name, etc_upper=str(self.run_dir.sub("nodes", name, "etc")))
            self.ledger.process(host.pid, "node-shell", name, name)
            for d in host.privateDirs:
                self.ledger.created(L.MOUNT, f"{name}:{d}", node=name, target=d, scope="node-mount-namespace")
            self.ledger.created(L.MOUNT, f"{name}:/etc", node=name, target="/etc", scope="node-mount-namespace")
            self.hosts[name] = host

    def _create_segments(self) -> None:
        for seg_name, intfs in self.plan.segments.items():
            bname = self.bridge_name(seg_name)
            self.ledger.created(L.BRIDGE, bname, segment=seg_name)
            bridge = SegmentBridge(bname, hub=self.topology.segments[seg_name].capture)
            self.ledger.process(bridge.pid, "bridge-shell", bname)
            self.bridges[seg_name] = bridge
            for port, intf in enumerate(intfs, start=1):
                peer = f"{bname}-eth{port}"
                self.ledger.created(L.LINK, peer, segment=seg_name, node=intf.node)
                opts = intf.options
                shaped = opts.bw is not None or (self.caps.netem and (opts.delay or opts.loss))
                if shaped:
                    params: dict = {}
                    if opts.bw is not None:
                        params["bw"] = opts.bw
                    if self.caps.netem and opts.delay:
                        params["delay"] = f"{opts.delay}ms"
                    if self.caps.netem and opts.loss:
                        params["loss"] = opts.loss
                    TCLink(self.hosts[intf.node], bridge, intfName1=intf.name, intfName2=peer, **params)
                else:
                    Link(self.hosts[intf.node], bridge, intfName1=intf.name, intfName2=peer)
            bridge.start([])
            self.progress("segment", seg_name, "up", f"{bname} {self.topology.segments[seg_name].prefix}")

    def _hosts_file(self) -> str:
        lines = ["127.0.0.1 localhost"]
        for name, n in self.plan.nodes.items():
            lines.append(f"{n.primary_address} {name}")
            for intf in n.interfaces:
                lines.append(f"{intf.address} {name}-{intf.segment}")
        return "\n".join(lines) + "\n"

    def _configure_nodes(self) -> None:
        cfg = self.run_dir.sub("config")
        hosts_path = cfg / "hosts"
        hosts_path.write_text(self._hosts_file())

        def configure(name: str) -> None:
            n = self.plan.nodes[name]
            cmds = ["ip link set lo up"]
            for intf in n.interfaces:
                cmds.append(f"ip addr add {intf.cidr} dev {intf.name}")
                cmds.append(f"ip link set {intf.name} up")
            cmds.append(f"sysctl -qw net.ipv4.ip_forward={1 if n.forward else 0}")
            for r in n.routes:
                cmds.append(f"ip route add {r.prefix} via {r.via} dev {r.dev}")
            ruleset = node_ruleset(self.plan, n, netem_loss=self.caps.netem)
            if ruleset:
                path = cfg / f"{name}.nft"
                path.write_text(ruleset)
                cmds.append(f"nft -f {shlex.quote(str(path))}")
                self.ledger.created(L.NFT_TABLE, f"{name}:nrfemto", node=name, scope="node-network-namespace")
            cmds.append(f"cp {shlex.quote(str(hosts_path))} /etc/hosts")
            # A shell line through Mininet's pty must stay under the 4095-byte canonical limit.
            for i in range(0, len(cmds), 24):
                out = self.hosts[name].cmd(" && ".join(cmds[i:i + 24]) + " && echo CONFIGURED")
                if "CONFIGURED" not in out:
                    raise TestbedError(f"configuring node {name} failed: {out.strip()}")
            self.progress("node", name, "up", ", ".join(i.cidr for i in n.interfaces))

        # Each host has its own shell: configure them concurrently.
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(configure, self.plan.nodes))

    def _start_captures(self) -> None:
        for seg_name, seg in self.topology.segments.items():
            if not seg.capture:
                continue
            cap = start_capture(seg_name, self.bridge_name(seg_name), self.run_dir.pcaps)
            self.ledger.process(cap.proc.pid, "capture", seg_name)
            self.captures.append(cap)
        wait_listening(self.captures)
        for cap in self.captures:
            self.progress("capture", cap.segment, "up", str(cap.path))

    def _service_specs(self) -> list[ServiceSpec]:
        specs = []
        for node_name, node in self.topology.nodes.items():
            for svc_name, svc in node.services.items():
                specs.append(ServiceSpec(name=svc_name, node=node_name, command=list(svc.command),
                                         depends_on=list(svc.depends_on), probe=Probe.from_model(svc.ready),
                                         restart=svc.restart, max_restarts=svc.max_restarts, env=dict(svc.env)))
        sel = self.service_selection
        if sel is False:
            specs = []
        elif sel is not True:
            by_name = {s.name: s for s in specs}
            unknown = set(sel) - set(by_name)
            if unknown:
                raise TestbedError(f"services {sorted(unknown)} are not in the topology; it has {sorted(by_name)}")
            wanted: set[str] = set()
            todo = list(sel)
            while todo:  # with everything they depend on
                name = todo.pop()
                if name not in wanted:
                    wanted.add(name)
                    todo.extend(by_name[name].depends_on)
            specs = [s for s in specs if s.name in wanted]
        return specs + list(self.extra_services)

    def expand(self, argv: list[str]) -> list[str]:
        """Substitute ``{python}`` (this interpreter) and ``{run_dir}`` in a service command."""
        subst = {"{python}": sys.executable, "{run_dir}": str(self.run_dir.path)}
        out = []
        for arg in argv:
            for k, v in subst.items():
                arg = arg.replace(k, v)
            out.append(arg)
        return out

    def _spawn_service(self, node: str, argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
        argv = self.expand(argv)
        with open(log_path, "ab") as logf:
            return subprocess.Popen(["mnexec", "-a", str(self.node(node).pid), *argv],
                                    stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, **env}, start_new_session=True,
                                    cwd=str(self.run_dir.path))

    def _start_services(self) -> None:
        specs = self._service_specs()
        if not specs:
            return

        def changed(st: ServiceState) -> None:
            self.progress("service", st.spec.name, st.status, st.error or st.spec.node)

        self.services = ServiceManager(
            specs, spawn=self._spawn_service, node_sh=self.sh, logs_dir=self.run_dir.logs,
            events_dir=self.run_dir.events, on_change=changed,
            on_spawn=lambda st: self.ledger.process(st.pid, "service", st.spec.name, st.spec.node))
        self.services.start_all()

    # -- state ----------------------------------------------------------------
    def state(self, status: str | None = None) -> dict:
        nodes = {}
        for name, n in self.plan.nodes.items():
            host = self.hosts.get(name)
            nodes[name] = {
                "role": n.role.value, "pid": host.pid if host else None,
                "interfaces": [{"name": i.name, "segment": i.segment, "address": i.address,
                                "prefixlen": i.prefixlen} for i in n.interfaces],
                "routes": [{"prefix": r.prefix, "via": r.via, "dev": r.dev} for r in n.routes],
                "forward": n.forward, "position": list(n.position) if n.position else None,
                "primary_address": n.primary_address,
            }
        segments = {name: {"kind": s.kind.value, "prefix": s.prefix, "bridge": self.bridge_name(name),
                           "pcap": str(self.run_dir.pcaps / f"{name}.pcap") if s.capture and self.capture else None}
                    for name, s in self.topology.segments.items()}
        return {
            "topology": self.topology.name, "run_dir": str(self.run_dir.path), "status": status or
            ("running" if self._up else "stopped"), "nodes": nodes, "segments": segments,
            "services": {k: v.as_dict() for k, v in self.services.states.items()} if self.services else {},
            "capabilities": self.caps.as_dict(), "warnings": self.warnings, "timings": self.timings,
            "orchestrator_pid": os.getpid(),
        }

    def _write_state(self, status: str) -> None:
        self.run_dir.write_state(self.state(status))

    # -- down -----------------------------------------------------------------
    def down(self) -> None:
        """Stop services and captures, remove nodes and bridges; then verify nothing is left."""
        t0 = time.monotonic()
        errors: list[str] = []
        if self.services:
            try:
                self.services.stop_all()
                for st in self.services.states.values():
                    if st.pid:
                        self.ledger.removed(L.PROCESS, str(st.pid))
            except Exception as e:  # noqa: BLE001 - keep tearing down
                errors.append(f"services: {e}")
        for cap in self.captures:
            try:
                stop_capture(cap)
                self.ledger.removed(L.PROCESS, str(cap.proc.pid))
            except Exception as e:  # noqa: BLE001
                errors.append(f"capture {cap.segment}: {e}")
        self.captures = []

        def stop_host(item: tuple[str, TestbedHost]) -> None:
            name, host = item
            pid = host.pid
            try:
                host.terminate()
            except Exception as e:  # noqa: BLE001
                errors.append(f"node {name}: {e}")
            _reap(pid)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(stop_host, list(self.hosts.items())))
        for name, host in self.hosts.items():
            if not L.process_alive(host.pid, None):
                self.ledger.removed(L.PROCESS, str(host.pid))
            for d in [*host.privateDirs, "/etc"]:
                self.ledger.removed(L.MOUNT, f"{name}:{d}")
            self.ledger.removed(L.NFT_TABLE, f"{name}:nrfemto")
        self.hosts = {}
        for _seg_name, bridge in self.bridges.items():
            try:
                bridge.stop(deleteIntfs=True)
            except Exception as e:  # noqa: BLE001
                errors.append(f"bridge {bridge.name}: {e}")
            bpid = bridge.pid
            _reap(bpid)
            if not L.process_alive(bpid, None):
                self.ledger.removed(L.PROCESS, str(bpid))
        self.bridges = {}
        # Whatever is still recorded as live (e.g. after a partial failure) goes now.
        leftovers = clean_run(self.run_dir, quiet=True)
        if leftovers:
            errors.extend(leftovers)
        self._up = False
        self.timings["down_s"] = round(time.monotonic() - t0, 3)
        self._write_state("stopped")
        if errors:
            raise TestbedError("teardown problems: " + "; ".join(errors))


def _reap(pid: int | None) -> None:
    """Make sure a shell we started is gone (it was our child: also reap it)."""
    if not pid:
        return
    for _ in range(50):
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done == pid or not L.process_alive(pid, None):
            return
        time.sleep(0.01)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
