"""``nrfemto``: the command-line interface (typer + rich)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from testbed.errors import ConfigError, TestbedError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="nr-femto-testbed: emulate a 5G NR femto deployment and test its security.")
console = Console()
err_console = Console(stderr=True)

RunsOpt = Annotated[str | None, typer.Option("--runs-dir", envvar="NRFEMTO_RUNS",
                                             help="base directory of run directories (default ./runs)")]


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        err_console.print(f"[red]{what} needs root[/red] (network namespaces, bridges, nftables): "
                          f"run it as root, e.g. 'sudo {' '.join(sys.argv)}'")
        raise typer.Exit(3)


def _fail(msg: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {msg}")
    return typer.Exit(code)


def _load_topology(path: Path):
    from testbed.topology.model import load_topology

    try:
        return load_topology(path)
    except ConfigError as e:
        raise _fail(str(e), 2) from None


def _resolve(run: str | None, runs_dir: str | None):
    from testbed.runtime.rundir import resolve_run

    try:
        return resolve_run(run, runs_dir)
    except TestbedError as e:
        raise _fail(str(e)) from None


def _state_of(rd) -> tuple[dict, bool]:
    """(state, live): ask the orchestrator, or fall back to the state file."""
    from testbed.runtime.daemon import orchestrator_pid, request

    if orchestrator_pid(rd):
        try:
            reply = request(rd, "status")
            if reply.get("ok"):
                return reply["state"], True
        except (OSError, json.JSONDecodeError):
            pass
    return rd.read_state(), False


def render_state(state: dict, live: bool = True) -> None:
    title = f"{state.get('topology')}  [{state.get('status') if live else 'not running'}]  {state.get('run_dir')}"
    t = Table(title=title, show_lines=False)
    for col in ("node", "role", "interfaces", "routes"):
        t.add_column(col)
    for name, n in state.get("nodes", {}).items():
        intfs = "\n".join(f"{i['name']} {i['address']}/{i['prefixlen']} ({i['segment']})" for i in n["interfaces"])
        routes = "\n".join(f"{r['prefix']} via {r['via']}" for r in n["routes"]) or "-"
        t.add_row(name, n["role"], intfs, routes)
    console.print(t)
    if state.get("services"):
        s = Table(title="services")
        for col in ("service", "node", "status", "pid", "ready after", "log"):
            s.add_column(col)
        for name, sv in state["services"].items():
            colour = {"ready": "green", "failed": "red", "exited": "red"}.get(sv["status"], "yellow")
            ready = f"{sv['ready_after_s']:.3f} s" if sv.get("ready_after_s") is not None else "-"
            s.add_row(name, sv["node"], f"[{colour}]{sv['status']}[/{colour}]", str(sv.get("pid") or "-"),
                      ready, sv["log"])
        console.print(s)
    segs = Table(title="segments")
    for col in ("segment", "kind", "prefix", "bridge", "capture"):
        segs.add_column(col)
    for name, sg in state.get("segments", {}).items():
        segs.add_row(name, sg["kind"], sg["prefix"], sg["bridge"], sg.get("pcap") or "-")
    console.print(segs)
    for w in state.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {w}")
    if state.get("timings"):
        console.print("timings: " + ", ".join(f"{k}={v}" for k, v in state["timings"].items()))


@app.command()
def up(topology: Annotated[Path, typer.Argument(help="topology YAML file")],
       runs_dir: RunsOpt = None,
       capture: Annotated[bool, typer.Option(help="tcpdump on every segment")] = True,
       timeout: Annotated[float, typer.Option(help="seconds to wait for the topology")] = 300.0) -> None:
    """Bring a topology up (returns once it is ready; it keeps running until 'nrfemto down')."""
    from rich.live import Live

    from testbed.runtime.cleanup import clean_run
    from testbed.runtime.daemon import PROGRESS_FILE
    from testbed.runtime.rundir import RunDir

    topo = _load_topology(topology)
    _need_root("nrfemto up")
    rd = RunDir.create(topo.name, runs_dir)
    log = open(rd.logs / "orchestrator.log", "ab")  # noqa: SIM115
    cmd = [sys.executable, "-m", "testbed.runtime.daemon", "--run-dir", str(rd.path),
           "--topology", str(topology.absolute())]
    if not capture:
        cmd.append("--no-capture")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    log.close()
    progress_path = rd.path / PROGRESS_FILE
    rows: dict[tuple[str, str], tuple[str, str]] = {}
    outcome, detail = None, ""
    deadline = time.monotonic() + timeout

    def table() -> Table:
        t = Table(title=f"bringing up {topo.name} ({rd.path.name})")
        for col in ("what", "name", "status", "detail"):
            t.add_column(col)
        for (kind, name), (status, det) in rows.items():
            colour = {"up": "green", "ready": "green", "failed": "red", "warning": "yellow"}.get(status, "cyan")
            t.add_row(kind, name, f"[{colour}]{status}[/{colour}]", det)
        return t

    pos = 0
    with Live(table(), console=console, refresh_per_second=8, transient=not console.is_terminal) as live:
        while outcome is None:
            if progress_path.exists():
                with open(progress_path) as f:
                    f.seek(pos)
                    chunk = f.read()
                    pos = f.tell()
                for line in chunk.splitlines():
                    try:
                        ev = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if ev["kind"] == "run":
                        if ev["status"] in ("ready", "failed"):
                            outcome, detail = ev["status"], ev["detail"]
                        continue
                    rows[(ev["kind"], ev["name"])] = (ev["status"], ev["detail"])
                live.update(table())
            if outcome is None and proc.poll() is not None:
                outcome, detail = "failed", f"orchestrator exited with code {proc.returncode}"
            if outcome is None and time.monotonic() > deadline:
                proc.terminate()
                outcome, detail = "failed", f"not ready after {timeout} s"
            if outcome is None:
                time.sleep(0.05)
    if outcome != "ready":
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        problems = clean_run(rd)
        tail = (rd.logs / "orchestrator.log").read_text(errors="replace").strip().splitlines()[-15:]
        err_console.print("\n".join(tail))
        if problems:
            err_console.print("[red]cleanup problems:[/red] " + "; ".join(problems))
        raise _fail(f"bring-up failed: {detail}")
    rd.mark_current()
    state, live_ = _state_of(rd)
    render_state(state, live_)
    console.print(f"[green]up[/green] in {detail}. Next: 'nrfemto status', 'nrfemto exec NODE -- CMD', "
                  f"'nrfemto cli', 'nrfemto down'.")


@app.command()
def status(run: Annotated[str | None, typer.Argument(help="run directory or name (default: current)")] = None,
           as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
           runs_dir: RunsOpt = None) -> None:
    """Show nodes, addresses, services and captures of a run."""
    rd = _resolve(run, runs_dir)
    state, live = _state_of(rd)
    if as_json:
        print(json.dumps({**state, "live": live}, indent=2, sort_keys=True))
        return
    render_state(state, live)


CORE_OPS = ("status", "ues", "gnbs", "sessions", "hn-public-keys", "subscriber", "set-cag", "deregister")


@app.command()
def core(op: Annotated[str, typer.Argument(help=f"one of: {', '.join(CORE_OPS)}")],
         supi: Annotated[str | None, typer.Argument(help="SUPI for subscriber/set-cag/deregister")] = None,
         cag_ids: Annotated[str | None, typer.Argument(help="set-cag: comma-separated CAG IDs (0x101,...); "
                                                         "empty string for none")] = None,
         cag_only: Annotated[bool | None, typer.Option("--cag-only/--not-cag-only", help="set-cag")] = None,
         run: Annotated[str | None, typer.Option("--run", help="run (default: current)")] = None,
         runs_dir: RunsOpt = None) -> None:
    """Ask the built-in core of a running topology: nrfemto core ues; nrfemto core set-cag imsi-... 0x101"""
    from testbed.runtime.control import control_request

    if op not in CORE_OPS:
        raise _fail(f"unknown operation {op!r}; expected one of {', '.join(CORE_OPS)}", 2)
    request: dict = {"op": op.replace("-", "_")}
    if op in ("subscriber", "set-cag", "deregister"):
        if not supi:
            raise _fail(f"core {op} needs a SUPI (e.g. imsi-001010000000001)", 2)
        request = {"op": {"subscriber": "get_subscriber", "set-cag": "set_allowed_cag"}.get(op, op), "supi": supi}
    if op == "set-cag":
        if cag_ids is None:
            raise _fail("core set-cag needs the CAG IDs (comma-separated, '' for none)", 2)
        try:
            request["cag_ids"] = [int(x, 0) for x in cag_ids.split(",") if x.strip()]
        except ValueError:
            raise _fail(f"CAG IDs must be integers like 0x101, got {cag_ids!r}", 2) from None
        if cag_only is not None:
            request["cag_only"] = cag_only
    rd = _resolve(run, runs_dir)
    sock = rd.path / "core" / "control.sock"
    try:
        reply = control_request(sock, request)
    except OSError as e:
        raise _fail(f"no core answers on {sock} ({e.strerror or e}); is the run up?") from None
    print(json.dumps(reply, indent=2, sort_keys=True, default=str))
    if not reply.get("ok"):
        raise typer.Exit(1)


UE_OPS = ("list", "stats", "status", "register", "deregister", "session", "release", "position")


@app.command(context_settings={"ignore_unknown_options": True})
def ue(op: Annotated[str, typer.Argument(help=f"one of: {', '.join(UE_OPS)}")],
       target: Annotated[str | None, typer.Argument(help="UE: name (ue1), number (#3), SUPI, or 'all'")] = None,
       args: Annotated[list[str] | None, typer.Argument(help="session: [PSI] [DNN]; release: PSI; position: X Y Z")]
       = None,
       reg_type: Annotated[str, typer.Option("--type", help="register: initial|emergency|mobility|periodic")]
       = "initial",
       switch_off: Annotated[bool, typer.Option("--switch-off", help="deregister: switch-off de-registration")]
       = False,
       psi: Annotated[int | None, typer.Option("--psi", help="session/release: PDU session id")] = None,
       dnn: Annotated[str | None, typer.Option("--dnn", help="session: DNN")] = None,
       wait: Annotated[float, typer.Option("--wait", help="seconds to wait for the outcome (0: don't)")] = 10.0,
       node: Annotated[str | None, typer.Option("--node", help="UE-host node whose UE process to ask")] = None,
       run: Annotated[str | None, typer.Option("--run", help="run (default: current)")] = None,
       runs_dir: RunsOpt = None) -> None:
    """Drive the simulated UEs of a running topology: nrfemto ue register ue1 --type emergency"""
    from testbed.runtime.control import control_request

    if op not in UE_OPS:
        raise _fail(f"unknown operation {op!r}; expected one of {', '.join(UE_OPS)}", 2)
    extra = list(args or [])
    request: dict = {"op": op}
    if op not in ("list", "stats"):
        if not target:
            raise _fail(f"ue {op} needs a UE (name like ue1, #N, a SUPI, or 'all')", 2)
        request["ue"] = target
    try:
        if op == "register":
            request["type"] = reg_type
        elif op == "deregister":
            request["switch_off"] = switch_off
        elif op == "session":
            request["psi"] = psi if psi is not None else (int(extra[0]) if extra else 1)
            request["dnn"] = dnn if dnn is not None else (extra[1] if len(extra) > 1 else None)
        elif op == "release":
            if psi is None and not extra:
                raise _fail("ue release needs the PDU session id (--psi N or a positional N)", 2)
            request["psi"] = psi if psi is not None else int(extra[0])
        elif op == "position":
            if len(extra) != 3:
                raise _fail("ue position needs X Y Z (integers)", 2)
            request["position"] = [int(v) for v in extra]
    except ValueError:
        raise _fail(f"expected integers, got {' '.join(extra)!r}", 2) from None
    if op in ("register", "deregister", "session", "release") and wait > 0:
        request["wait"] = wait
    rd = _resolve(run, runs_dir)
    base = rd.path / "ue"
    socks = sorted(base.glob("*/control.sock")) if base.is_dir() else []
    if node is not None:
        socks = [base / node / "control.sock"]
    elif target and (base / target / "control.sock").exists():
        socks = [base / target / "control.sock"] + [p for p in socks if p.parent.name != target]
    if not socks:
        raise _fail(f"no UE process control socket under {base}; is a UE process running in this run?")
    timeout = wait + 10.0
    replies: dict[str, dict] = {}
    for sock in socks:
        try:
            reply = control_request(sock, request, timeout=timeout)
        except OSError as e:
            reply = {"ok": False, "error": f"no UE process answers on {sock} ({e.strerror or e})", "down": True}
        replies[sock.parent.name] = reply
        if op not in ("list", "stats") and not reply.get("unknown_ue") and not reply.get("down"):
            break  # the process that has this UE answered
    if op in ("list", "stats"):
        print(json.dumps(replies if len(replies) > 1 else next(iter(replies.values())), indent=2, sort_keys=True,
                         default=str))
        if not all(r.get("ok") for r in replies.values()):
            raise typer.Exit(1)
        return
    found = next((r for r in replies.values() if not r.get("unknown_ue") and not r.get("down")), None)
    if found is None:
        detail = "; ".join(f"{n}: {r.get('error')}" for n, r in replies.items())
        raise _fail(f"no UE {target!r} in the UE processes of {rd.name} ({detail})")
    print(json.dumps(found, indent=2, sort_keys=True, default=str))
    if not found.get("ok"):
        raise typer.Exit(1)


HPM_OPS = ("status", "remove", "insert")


def hpm_sockets(run_path: Path, femto: str) -> dict[str, Path | None]:
    """The control sockets around femto ``femto``'s HPM in a run: the HPM itself, its backhaul agent and the
    femto, from ``<run>/<femto>/backhaul.json`` (paths relative to the run); the HPM's default without it."""
    from testbed.segw.config import load_backhaul_settings

    settings_file = run_path / femto / "backhaul.json"
    if not settings_file.exists():
        return {"hpm": run_path / femto / "hpm" / "hpm.sock", "backhaul": None, "femto": None}
    bh = load_backhaul_settings(settings_file)

    def at(p: str | None) -> Path | None:
        return None if p is None else (Path(p) if Path(p).is_absolute() else run_path / p)

    return {"hpm": at(bh.hpm_socket) or run_path / femto / "hpm" / "hpm.sock", "backhaul": at(bh.control_socket),
            "femto": at(bh.femto_control)}


def _node_events(run_path: Path, node: str) -> list[dict]:
    """Every event the services on ``node`` wrote into the run's events directory, oldest first."""
    from testbed.runtime.events import read_events

    return [e for e in read_events(run_path / "events") if e.get("node") == node]


def hpm_timings(events: list[dict], op: str, since: float) -> dict[str, float | None]:
    """Seconds from the HPM's ``hpm.removed``/``hpm.inserted`` (at or after ``since``) to what followed on the
    femto node: the agent noticing it, the tunnel going down/up and the radio going off/on (TS 33.320 7.2.3)."""
    start_type = "hpm.removed" if op == "remove" else "hpm.inserted"
    start = next((e for e in events if e.get("type") == start_type and e.get("ts", 0) >= since), None)
    if start is None:
        return {}
    t0 = float(start["ts"])
    follow = ({"agent_noticed": "backhaul.hpm_removed", "tunnel_down": "backhaul.down", "radio_off": "femto.radio_off"}
              if op == "remove" else
              {"agent_noticed": "backhaul.hpm_inserted", "tunnel_up": "backhaul.up", "radio_on": "femto.radio_on"})
    out: dict[str, float | None] = {}
    for key, type_ in follow.items():
        ev = next((e for e in events if e.get("type") == type_ and e.get("ts", 0) >= t0), None)
        out[f"{key}_after_s"] = round(float(ev["ts"]) - t0, 4) if ev else None
    return out


@app.command()
def hpm(femto: Annotated[str, typer.Argument(help="femto node (e.g. femto1)")],
        op: Annotated[str, typer.Argument(help=f"one of: {', '.join(HPM_OPS)}")] = "status",
        wait: Annotated[float, typer.Option("--wait", help="remove/insert: seconds to wait for the radio to "
                                                           "follow (0: don't)")] = 10.0,
        run: Annotated[str | None, typer.Option("--run", help="run (default: current)")] = None,
        runs_dir: RunsOpt = None) -> None:
    """A femto's hosting-party module (HPM, TS 33.320 7.2.3): nrfemto hpm femto1 remove|insert|status.

    remove: the backhaul agent drops the tunnel, the femto switches its radio off and drops N2;
    insert: the agent authenticates again (certificate + EAP-AKA with the HPM), tunnel and radio come
    back. Prints the timings from the HPM's event to the agent's, the tunnel's and the radio's."""
    from testbed.runtime.control import control_request

    if op not in HPM_OPS:
        raise _fail(f"unknown operation {op!r}; expected one of {', '.join(HPM_OPS)}", 2)
    rd = _resolve(run, runs_dir)
    try:
        socks = hpm_sockets(rd.path, femto)
    except ConfigError as e:
        raise _fail(str(e), 2) from None

    def ask(which: str, request: dict) -> dict | None:
        sock = socks.get(which)
        if sock is None:
            return None
        try:
            return control_request(sock, request, timeout=5.0)
        except (OSError, ValueError) as e:
            return {"ok": False, "error": f"no answer on {sock} ({getattr(e, 'strerror', None) or e})"}

    def femto_view() -> dict | None:
        st = ask("femto", {"op": "status"})
        if not st or not st.get("ok"):
            return st
        return {"radio_on": st.get("radio", {}).get("on"), "n2": st.get("n2", {}).get("state"),
                "backhaul": st.get("backhaul", {}).get("state")}

    def agent_view() -> dict | None:
        st = ask("backhaul", {"op": "status"})
        if not st or not st.get("ok"):
            return st
        return {"state": st.get("state"), "reason": st.get("reason"), "vip": st.get("vip"), "hpm": st.get("hpm")}

    since = time.time()
    reply: dict = {"ok": True, "femto": femto, "op": op}
    if op != "status":
        done = ask("hpm", {"op": op})
        if not done or not done.get("ok"):
            print(json.dumps({"ok": False, "femto": femto, "op": op, "hpm": done}, indent=2, sort_keys=True))
            raise typer.Exit(1)
        if wait > 0 and socks.get("femto") is not None:
            want_on = op == "insert"
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                fv = femto_view()
                if fv and fv.get("radio_on") is want_on and (not want_on or fv.get("n2") == "up"):
                    break
                time.sleep(0.02)
            else:
                reply["ok"] = False
                reply["error"] = f"the femto's radio did not go {'on' if op == 'insert' else 'off'} within {wait:g} s"
    reply["hpm"] = ask("hpm", {"op": "status"})
    reply["backhaul"] = agent_view()
    reply["radio"] = femto_view()
    if op != "status":
        time.sleep(0.1)  # let the last events land in their files
        reply["timings"] = hpm_timings(_node_events(rd.path, femto), op, since)
    print(json.dumps(reply, indent=2, sort_keys=True, default=str))
    if not reply["ok"] or not (reply["hpm"] or {}).get("ok"):
        raise typer.Exit(1)


PKI_OPS = ("status", "revoke")


def femto_cert_name(run_path: Path, femto: str) -> str:
    """The run-PKI name of femto node ``femto``'s device certificate (from ``<run>/<femto>/backhaul.json``)."""
    from testbed.segw.config import load_backhaul_settings

    settings_file = run_path / femto / "backhaul.json"
    if not settings_file.exists():
        raise ConfigError(str(settings_file), "", f"no backhaul settings: {femto!r} is not a tunnelled femto of this run")
    return Path(load_backhaul_settings(settings_file).cert).stem


def pki_revoke(run_path: Path, femto: str, *, terminate: bool = False) -> dict:
    """Revoke femto ``femto``'s device certificate in the run's PKI (keyCompromise, RFC 5280 5.3.1).

    The OCSP responder of the run answers 'revoked' from its next request on (it re-reads the PKI's
    index); the SeGW refuses the femto's next authentication (TS 33.320 7.2.4). An established tunnel
    is not re-checked; ``terminate`` asks the SeGW to close it, so the femto must authenticate again."""
    from testbed.pki import RunPki

    pki = RunPki.load(run_path / "pki")
    name = femto_cert_name(run_path, femto)
    cert = pki.get(name).cert
    already = pki.is_revoked(cert)
    pki.revoke(cert)
    reply: dict = {"ok": True, "femto": femto, "cert": name, "serial": format(cert.serial_number, "x"),
                   "already_revoked": already, "ocsp_url": pki.ocsp_url, "crl_url": pki.crl_url}
    if terminate:
        from cryptography.x509.oid import NameOID

        from testbed.runtime.control import control_request
        from testbed.segw.config import load_segw_settings

        identity = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        done: list = []
        for f in sorted(run_path.glob("*/segw.json")):
            sock = Path(load_segw_settings(f).control_socket)
            try:
                r = control_request(sock if sock.is_absolute() else run_path / sock,
                                    {"op": "terminate", "identity": identity}, timeout=10)
            except (OSError, ValueError) as e:
                r = {"ok": False, "error": str(e)}
            done.append(r)
        reply["terminated"] = done
    return reply


@app.command()
def pki(op: Annotated[str, typer.Argument(help=f"one of: {', '.join(PKI_OPS)}")],
        femto: Annotated[str | None, typer.Argument(help="femto node (revoke)")] = None,
        terminate: Annotated[bool, typer.Option("--terminate", help="revoke: also close its tunnel at the SeGW")] = False,
        run: Annotated[str | None, typer.Option("--run", help="run (default: current)")] = None,
        runs_dir: RunsOpt = None) -> None:
    """The run's operator PKI: nrfemto pki revoke femto1 [--terminate] | nrfemto pki status."""
    from testbed.pki import RunPki

    if op not in PKI_OPS:
        raise _fail(f"unknown operation {op!r}; expected one of {', '.join(PKI_OPS)}", 2)
    rd = _resolve(run, runs_dir)
    try:
        if op == "revoke":
            if not femto:
                raise _fail("nrfemto pki revoke needs a femto node (e.g. femto1)", 2)
            reply = pki_revoke(rd.path, femto, terminate=terminate)
        else:
            p = RunPki.load(rd.path / "pki")
            reply = {"ok": True, "ocsp_url": p.ocsp_url, "crl_url": p.crl_url,
                     "revoked_serials": sorted(format(x, "x") for x in p.revoked_serials()), "certs": p.names()}
    except ConfigError as e:
        raise _fail(str(e), 2) from None
    except (OSError, KeyError, ValueError) as e:
        raise _fail(f"{type(e).__name__}: {e}") from None
    print(json.dumps(reply, indent=2, sort_keys=True))


@app.command(name="exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_(node: Annotated[str, typer.Argument(help="node name")],
          command: Annotated[list[str], typer.Argument(help="command (after --)")],
          run: Annotated[str | None, typer.Option("--run", help="run (default: current)")] = None,
          runs_dir: RunsOpt = None) -> None:
    """Run a command inside a node: nrfemto exec femto1 -- ip addr"""
    _need_root("nrfemto exec")
    rd = _resolve(run, runs_dir)
    state, live = _state_of(rd)
    if not live:
        raise _fail(f"run {rd.name} is not running")
    if node not in state["nodes"]:
        raise _fail(f"no node {node!r}; nodes: {', '.join(state['nodes'])}")
    pid = state["nodes"][node]["pid"]
    os.execvp("mnexec", ["mnexec", "-a", str(pid), *command])


@app.command()
def cli(run: Annotated[str | None, typer.Argument(help="run (default: current)")] = None,
        runs_dir: RunsOpt = None) -> None:
    """Interactive CLI on the running topology ('femto1 ping -c1 segw')."""
    from testbed.cli.shell import TestbedShell

    _need_root("nrfemto cli")
    rd = _resolve(run, runs_dir)
    state, live = _state_of(rd)
    if not live:
        raise _fail(f"run {rd.name} is not running")
    TestbedShell(rd, state, console).cmdloop()


@app.command()
def down(run: Annotated[str | None, typer.Argument(help="run (default: current)")] = None,
         runs_dir: RunsOpt = None, timeout: float = 60.0) -> None:
    """Stop a run: services, captures, nodes, bridges; verify nothing is left."""
    from testbed.runtime.cleanup import clean_run
    from testbed.runtime.daemon import orchestrator_pid, request

    _need_root("nrfemto down")
    rd = _resolve(run, runs_dir)
    pid = orchestrator_pid(rd)
    t0 = time.monotonic()
    if pid:
        try:
            request(rd, "down")
        except OSError:
            os.kill(pid, 15)
        while orchestrator_pid(rd) and time.monotonic() - t0 < timeout:
            time.sleep(0.05)
    problems = clean_run(rd)
    if problems:
        raise _fail("left behind: " + "; ".join(problems))
    console.print(f"[green]down[/green] {rd.name} in {time.monotonic() - t0:.2f} s; pcaps and logs in {rd.path}")


@app.command()
def clean(run: Annotated[str | None, typer.Argument(help="run to clean (default: every stopped run)")] = None,
          force: Annotated[bool, typer.Option(help="also stop runs whose orchestrator is alive")] = False,
          runs_dir: RunsOpt = None) -> None:
    """Remove what crashed runs left behind (only objects recorded in their ledgers)."""
    from testbed.runtime import ledger as L
    from testbed.runtime.cleanup import clean_run
    from testbed.runtime.daemon import orchestrator_pid
    from testbed.runtime.rundir import all_runs

    _need_root("nrfemto clean")
    runs = [_resolve(run, runs_dir)] if run else all_runs(runs_dir)
    cleaned = 0
    for rd in runs:
        live = L.Ledger(rd.path).live()
        if not live:
            continue
        if orchestrator_pid(rd) and not force:
            console.print(f"skip {rd.name}: its orchestrator is running (use 'nrfemto down' or --force)")
            continue
        problems = clean_run(rd)
        cleaned += 1
        if problems:
            err_console.print(f"[red]{rd.name}[/red]: " + "; ".join(problems))
            raise typer.Exit(1)
        console.print(f"cleaned {rd.name}: {len(live)} recorded object(s)")
    if not cleaned:
        console.print("nothing to clean")


@app.command()
def check(file: Annotated[Path, typer.Argument(help="topology (or scenario) YAML file")]) -> None:
    """Validate a file without running anything; print the computed addressing."""
    from testbed.topology.plan import build_plan

    topo = _load_topology(file)
    try:
        plan = build_plan(topo)
    except ConfigError as e:
        raise _fail(f"{file}: {e}", 2) from None
    t = Table(title=f"{file}: topology {topo.name!r} is valid")
    for col in ("node", "role", "addresses", "routes"):
        t.add_column(col)
    for name, n in plan.nodes.items():
        t.add_row(name, n.role.value, " ".join(i.cidr for i in n.interfaces),
                  " ".join(f"{r.prefix}>{r.via}" for r in n.routes) or "-")
    console.print(t)


@app.command()
def caps() -> None:
    """What this machine's kernel can do, and what the testbed does instead."""
    from testbed.runtime.capabilities import FALLBACKS, detect

    c = detect().as_dict()
    t = Table(title="capabilities")
    t.add_column("feature")
    t.add_column("available")
    t.add_column("without it")
    for k, v in c.items():
        t.add_row(k, "[green]yes[/green]" if v else "[red]no[/red]", "" if v else FALLBACKS.get(k, ""))
    console.print(t)


@app.command()
def demo(topology: Annotated[Path, typer.Argument()] = Path("topologies/home-femto.yaml"),
         runs_dir: RunsOpt = None) -> None:
    """Bring the reference topology up, show status and reachability, tear it down."""
    from testbed.runtime.demo import run_demo

    topo = _load_topology(topology)
    _need_root("nrfemto demo")
    code = run_demo(topo, console, runs_dir)
    raise typer.Exit(code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
