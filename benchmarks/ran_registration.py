"""RAN benchmark (issue #5): registrations through one femto, attach latency, UEs per femto.

Brings up ``topologies/femto-lab.yaml`` (a variant with enough range subscribers, no packet
captures) and starts UE simulator processes in node ue1 (``python -m testbed.ue --config``: range
UEs, no TUN devices, the user plane is not part of these figures). A fresh testbed per figure
(figure 3: one for all its steps); the Testbed context manager tears everything down.

Figures (one line each):

1. ``registrations/s end to end``: ``--reg-count`` UEs, registrations only (no PDU session),
   started at once (``start_rate`` 0: the UE process spreads the first heartbeats over one
   heartbeat period, 1 s), then at each of ``--reg-rates`` UEs/s. Rate = N / (last
   ``registration.accepted`` - ``ue.ready``) from the UE process's event stream; also the busiest
   1 s window, radio link failures, registration failures, UDP receive-buffer drops in the femto,
   core and UE namespaces, CPU ms per registration and each process's busiest-second CPU share.
2. ``first heartbeat -> PDU session up``: ``--lat-count`` UEs at ``start_rate`` 100 (then 10 s
   worth at each further ``--lat-rates``), a PDU session each. Per UE: from its start (its
   ``ue.registration_deferred`` event, written in the same call that sends its first heartbeat;
   ``ue.ready`` + i / rate, the start schedule, if missing) to ``registration.accepted`` and to
   ``pdu_session.up``; median and p99.
3. ``UEs attached to one femto``: UE processes added in steps (``--steps``, totals) at
   ``--ramp-rate`` UEs/s, each UE registered with a PDU session; a step passes when every UE of
   every process is registered with its session within N / rate + 60 s and still is after
   ``--hold`` seconds. Stops at the first failing step, or before a step that would exceed
   ``--budget``. Per step: RSS per UE (services: growth since bring-up; UE processes: whole RSS),
   CPU ms per attach, the steady-state CPU share over the hold (heartbeats), radio link failures
   and UDP drops (``/proc/<pid>/stat``, ``status``, ``net/snmp``).

Targets (issue #5, reported, not asserted): >= 1000 registrations/s end to end; >= 5000 UEs
attached on one machine; p99 attach < 100 ms at 100 UEs/s.

Needs root; about 9 minutes. Run: ``sudo .venv/bin/python benchmarks/ran_registration.py``
[``--reg-count 1000 --reg-rates 150,300 --lat-count 1000 --lat-rates 100,50
--steps 1000,2000,5000,7500,10000 --ramp-rate 50 --hold 15 --budget 360 --only 1|2|3 --keep DIR``]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testbed.runtime.control import control_request  # noqa: E402
from testbed.runtime.engine import Testbed  # noqa: E402
from testbed.runtime.events import read_events  # noqa: E402
from testbed.topology.model import load_topology  # noqa: E402

FIRST_SUPI = 1010000100000  # imsi-001010000100000: the femto-lab range
GNB = "10.200.1.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVICES = ("femto", "amf", "upf")


def topology(tmp: Path, subscribers: int):
    data = yaml.safe_load((ROOT / "topologies/femto-lab.yaml").read_text())
    data["core"]["ranges"][0]["count"] = subscribers
    path = tmp / "femto-lab-bench.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_topology(path)


def usage(pid: int) -> tuple[float, int]:
    """(CPU seconds user+system, RSS KiB) of a process."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    return cpu, rss


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


class UeProc:
    """One UE simulator process in node ue1 with ``count`` range UEs from ``first`` (offset)."""

    def __init__(self, tb: Testbed, tag: str, first: int, count: int, rate: float, session: bool) -> None:
        run = tb.run_dir.path
        self.dir = run / "ue" / tag
        self.dir.mkdir(parents=True, exist_ok=True)
        self.count = count
        self.sock = self.dir / "control.sock"
        self.events = self.dir / "ue.jsonl"
        config = {"gnbs": [GNB], "position": [12, 3, 0], "run_dir": str(run), "tun": False,
                  "auto_session": session, "start_rate": rate, "dn_routes": ["10.20.0.0/24"],
                  "range": {"first_supi": f"imsi-{FIRST_SUPI + first:015d}", "count": count,
                            "name_prefix": f"{tag}-", "first_index": first + 1}}
        cfg = self.dir / "ue.json"
        cfg.write_text(json.dumps(config))
        env = {**os.environ, "NRFEMTO_EVENTS": str(self.events), "NRFEMTO_NODE": "ue1"}
        self.log = open(self.dir / "ue.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = tb.popen("ue1", [sys.executable, "-m", "testbed.ue", "--config", str(cfg), "--state-dir",
                                     str(self.dir), "--log-level", "WARNING"], cwd=str(run), env=env,
                             stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"UE process exited {self.proc.returncode}: see {self.dir / 'ue.log'}")
            if self.sock.exists():
                try:
                    self.stats()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise TimeoutError("UE process not ready")

    def stats(self) -> dict:
        return control_request(self.sock, {"op": "stats"}, timeout=30)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except Exception:  # noqa: BLE001
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def registered(st: dict) -> int:
    return st["nas_states"].get("registered", 0)


def service_pids(tb: Testbed) -> dict[str, int]:
    services = tb.state()["services"]
    return {name: services[name]["pid"] for name in SERVICES}


def snapshot(pids: dict[str, int], ues: list[UeProc]) -> dict[str, tuple[float, int]]:
    snap = {name: usage(pid) for name, pid in pids.items()}
    cpu = rss = 0
    for u in ues:
        c, r = usage(u.pid)
        cpu += c
        rss += r
    snap["ue"] = (cpu, rss)
    return snap


def check_services(tb: Testbed) -> str | None:
    for name, st in tb.state()["services"].items():
        if st["status"] not in ("ready", "running") or st["restarts"]:
            return f"service {name} {st['status']} (restarts {st['restarts']})"
    return None


def wait_until(pred, timeout: float, poll: float = 0.25) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(poll)
    return bool(pred())


# ------------------------------------------------------------------------------------------------
def udp_drops(pid: int) -> int:
    """UDP receive-buffer drops in the network namespace of ``pid`` (``/proc/<pid>/net/snmp``)."""
    rows = [line.split() for line in Path(f"/proc/{pid}/net/snmp").read_text().splitlines()
            if line.startswith("Udp:")]
    return int(dict(zip(rows[0][1:], rows[1][1:], strict=True))["RcvbufErrors"])


def ns_drops(tb: Testbed) -> dict[str, int]:
    """UDP receive-buffer drops in the namespaces of the femto, core and UE nodes."""
    nodes = tb.state()["nodes"]
    return {k: udp_drops(nodes[node]["pid"]) for k, node in (("femto", "femto1"), ("core", "core"), ("ue", "ue1"))}


def fmt_drops(d0: dict[str, int], d1: dict[str, int]) -> str:
    return ", ".join(f"{k} {d1[k] - d0[k]}" for k in d1)


def fig_registrations(topo, base: str, n: int, rate: float, timeout: float) -> dict:
    """n UEs, registrations only, started at ``rate`` UEs/s (0: at once)."""
    with Testbed(topo, runs_base=base, capture=False) as tb:
        pids = service_pids(tb)
        ue = UeProc(tb, "reg", 0, n, rate, session=False)
        ue.wait_ready()
        s0 = snapshot(pids, [ue])  # the UEs are built: from here on they start
        d0 = ns_drops(tb)
        w0 = time.monotonic()
        samples = [(w0, s0)]  # CPU per second: the busiest second of each process

        def done() -> bool:
            samples.append((time.monotonic(), snapshot(pids, [ue])))
            return registered(ue.stats()) >= n or not ue.alive()

        ok = wait_until(done, n / (rate or 1e9) + timeout, poll=1.0)
        s1 = snapshot(pids, [ue])
        wall = time.monotonic() - w0
        drops = fmt_drops(d0, ns_drops(tb))
        st = ue.stats() if ue.alive() else {}
        ue.stop()
        ev = read_events(ue.events)
    ready = next(e["ts"] for e in ev if e["type"] == "ue.ready")
    acc = sorted(e["ts"] for e in ev if e["type"] == "registration.accepted")
    out = {"n": n, "rate_offered": rate, "ok": ok and len(acc) >= n, "accepted": len(acc),
           "failed": sum(1 for e in ev if e["type"] == "registration.failed"),
           "rlf": sum(1 for e in ev if e["type"] == "radio.link_failure"), "drops": drops,
           "cpu_ms_per_reg": {k: (s1[k][0] - s0[k][0]) / max(1, st.get("ues", n)) * 1e3 for k in s1},
           # over sampling intervals of at least 0.5 s: wait_until's first call of done() comes right
           # after the first sample, and CPU ticks (10 ms) over microseconds gave shares like 200000 %
           "cpu_peak": {k: max(((b[1][k][0] - a[1][k][0]) / (b[0] - a[0]) for a, b in zip(samples, samples[1:], strict=False)
                                if b[0] - a[0] >= 0.5), default=0.0) for k in s1},
           "wall": wall, "timer_lag_ms": st.get("timer_lag_ms")}
    if acc:
        out["rate"] = len(acc) / (acc[-1] - ready)
        out["span"] = acc[-1] - ready
        j, peak = 0, 0
        for i, t in enumerate(acc):  # most accepts in any 1 s window
            while acc[j] < t - 1.0:
                j += 1
            peak = max(peak, i - j + 1)
        out["peak"] = peak
    return out


def fig_latency(topo, base: str, n: int, rate: float, timeout: float) -> dict:
    with Testbed(topo, runs_base=base, capture=False) as tb:
        pids = service_pids(tb)
        ue = UeProc(tb, "lat", 0, n, rate, session=True)
        ue.wait_ready()
        s0, d0, w0 = snapshot(pids, [ue]), ns_drops(tb), time.monotonic()
        ok = wait_until(lambda: ue.stats()["sessions"] >= n or not ue.alive(), n / rate + timeout)
        s1, drops, wall = snapshot(pids, [ue]), fmt_drops(d0, ns_drops(tb)), time.monotonic() - w0
        st = ue.stats() if ue.alive() else {}
        ue.stop()
        ev = read_events(ue.events)
    ready = next(e["ts"] for e in ev if e["type"] == "ue.ready")
    start: dict[str, float] = {}
    reg: dict[str, float] = {}
    up: dict[str, float] = {}
    for e in ev:
        name = e.get("ue")
        if e["type"] == "ue.registration_deferred":
            start.setdefault(name, e["ts"])
        elif e["type"] == "registration.accepted":
            reg.setdefault(name, e["ts"])
        elif e["type"] == "pdu_session.up":
            up.setdefault(name, e["ts"])
    schedule = 0
    for i in range(n):  # fallback: the start schedule (ue.ready + i / rate)
        name = f"lat-{i + 1}"
        if name not in start:
            start[name] = ready + i / rate
            schedule += 1
    t_reg = [(reg[u] - start[u]) * 1e3 for u in reg]
    t_up = [(up[u] - start[u]) * 1e3 for u in up]
    return {"n": n, "ok": ok and len(up) >= n, "registered": len(reg), "sessions": len(up), "from_schedule": schedule,
            "reg_median": statistics.median(t_reg) if t_reg else float("nan"),
            "reg_p99": pct(t_reg, 99) if t_reg else float("nan"),
            "up_median": statistics.median(t_up) if t_up else float("nan"),
            "up_p99": pct(t_up, 99) if t_up else float("nan"), "up_max": max(t_up, default=float("nan")),
            "timer_lag_ms": st.get("timer_lag_ms"), "drops": drops,
            "cpu_share": {k: (s1[k][0] - s0[k][0]) / wall for k in s1},
            "failed": sum(1 for e in ev if e["type"] in ("registration.failed", "ue.session_reject"))}


def fig_capacity(topo, base: str, steps: list[int], rate: float, hold: float, budget: float) -> list[dict]:
    """Add UE processes until ``steps`` totals; a step fails when not every UE is registered with its
    PDU session (in time, and again after ``hold`` seconds) or a process died."""
    results: list[dict] = []
    t_begin = time.monotonic()
    with Testbed(topo, runs_base=base, capture=False) as tb:
        pids = service_pids(tb)
        base_snap = snapshot(pids, [])
        ues: list[UeProc] = []
        total = 0

        def attached() -> int:
            return sum(min(registered(s), s["sessions"]) for s in (x.stats() for x in ues))

        def broken() -> str | None:
            if not all(x.alive() for x in ues):
                return "a UE process exited"
            return check_services(tb)

        try:
            for target in steps:
                add = target - total
                if add <= 0:
                    continue
                need = add / rate + hold + 30
                if time.monotonic() - t_begin + need > budget:
                    results.append({"target": target, "skipped": f"budget ({budget:.0f} s) would be exceeded"})
                    break
                before = snapshot(pids, ues)
                d0 = ns_drops(tb)
                lost0 = sum(x.stats()["cells_lost"] for x in ues)
                t0 = time.monotonic()
                u = UeProc(tb, f"cap{len(ues)}", total, add, rate, session=True)
                ues.append(u)
                u_base = usage(u.pid)
                u.wait_ready(120)
                u_ready = usage(u.pid)
                deadline = add / rate + 60
                done = wait_until(lambda t=target: broken() is not None or attached() >= t, deadline, poll=1.0)
                attach_s = time.monotonic() - t0
                failure = broken()
                if failure is None and not done:
                    failure = f"only {attached()} of {target} attached after {deadline:.0f} s"
                after_attach = snapshot(pids, ues) if failure is None else None
                if failure is None:
                    time.sleep(hold)
                    failure = broken()
                    if failure is None and (now := attached()) < target:
                        failure = f"after the {hold:.0f} s hold only {now} of {target} attached"
                alive = failure is None or all(x.alive() for x in ues)
                stats = [x.stats() for x in ues] if alive else []
                r = {"target": target, "added": add, "attach_s": attach_s, "failure": failure,
                     "rlf": sum(s["cells_lost"] for s in stats) - lost0 if stats else None,
                     "drops": fmt_drops(d0, ns_drops(tb)),
                     "timer_lag_max_ms": max((s["timer_lag_ms"]["max"] for s in stats), default=None)}
                if after_attach is not None and failure is None:
                    after_hold = snapshot(pids, ues)
                    # RSS per attached UE: the services' growth since the bring-up; the UE processes'
                    # whole RSS (interpreter and modules included, ~40 MiB per process)
                    r["rss_kib_per_ue"] = {k: (after_hold[k][1] - base_snap[k][1]) / target for k in SERVICES}
                    r["rss_kib_per_ue"]["ue"] = after_hold["ue"][1] / target
                    # CPU ms per attach: spent while this step's UEs attached, per added UE (the new UE
                    # process: without building its UEs, reported apart)
                    r["cpu_ms_per_attach"] = {k: (after_attach[k][0] - before[k][0]) / add * 1e3 for k in SERVICES}
                    r["cpu_ms_per_attach"]["ue"] = ((after_attach["ue"][0] - before["ue"][0])
                                                    - (u_ready[0] - u_base[0])) / add * 1e3
                    r["ue_build_ms"] = (u_ready[0] - u_base[0]) / add * 1e3
                    # steady state (heartbeats, no signalling): CPU share over the hold
                    r["hold_cpu_share"] = {k: (after_hold[k][0] - after_attach[k][0]) / hold for k in after_hold}
                    r["rss_mib"] = {k: after_hold[k][1] / 1024 for k in after_hold}
                results.append(r)
                total = target
                if failure is not None:
                    break
        finally:
            for u in ues:
                u.stop()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reg-count", type=int, default=1000, help="UEs of figure 1 (registrations only)")
    ap.add_argument("--reg-rates", default="150,300", help="figure 1: start rates (UEs/s) after the at-once run")
    ap.add_argument("--lat-count", type=int, default=1000, help="UEs of figure 2 (at the first --lat-rates)")
    ap.add_argument("--lat-rates", default="100,50", help="figure 2: offered loads (UEs/s); after the first, "
                    "10 s worth of UEs each")
    ap.add_argument("--steps", default="1000,2000,5000,7500,10000", help="figure 3: total UEs per step")
    ap.add_argument("--ramp-rate", type=float, default=50.0, help="figure 3: UEs started per second")
    ap.add_argument("--hold", type=float, default=15.0, help="figure 3: seconds every UE must stay attached")
    ap.add_argument("--budget", type=float, default=360.0, help="figure 3: seconds")
    ap.add_argument("--keep", help="keep the run directories under this directory (default: a temporary one)")
    ap.add_argument("--only", choices=("1", "2", "3"), action="append", help="run only these figures")
    a = ap.parse_args()
    steps = [int(s) for s in a.steps.split(",")]
    a.reg_rates = [float(r) for r in a.reg_rates.split(",") if r]
    a.lat_rates = [float(r) for r in a.lat_rates.split(",") if r]
    only = set(a.only or ("1", "2", "3"))
    subscribers = max([a.reg_count, a.lat_count, *steps]) + 10
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nrfemto-ran-bench-") as tmp:
        topo = topology(Path(tmp), subscribers)
        if a.keep:
            Path(a.keep).mkdir(parents=True, exist_ok=True)
            tmp = a.keep
        if "1" in only:
            best = 0.0
            for rate in [0.0, *a.reg_rates]:
                r = fig_registrations(topo, tmp, a.reg_count, rate, 120)
                how = "at once" if rate == 0 else f"at {rate:.0f}/s"
                cost = ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_ms_per_reg"].items())
                peak = ", ".join(f"{k} {v:.0%}" for k, v in r["cpu_peak"].items())
                if "rate" not in r:
                    print(f"registrations/s end to end, {a.reg_count} UEs {how}: no registration ({r})")
                    continue
                if r["ok"]:
                    best = max(best, r["rate"])
                print(f"registrations/s end to end through one femto, {r['accepted']}/{r['n']} UEs {how} (no session): "
                      f"{r['rate']:.0f} (all registered {r['span']:.2f} s after ue.ready; best 1 s window "
                      f"{r['peak']}/s; radio link failures {r['rlf']}, registration failures {r['failed']}, UDP "
                      f"receive-buffer drops: {r['drops']}, UE timer lag max {(r['timer_lag_ms'] or {}).get('max')} ms); CPU ms per "
                      f"registration: {cost}; busiest second's CPU share: {peak}")
            print(f"registrations/s end to end through one femto (best run with every UE registered): {best:.0f}; "
                  f"target >= 1000/s: {'met' if best >= 1000 else 'not met'}")
        if "2" in only:
            for i, rate in enumerate(a.lat_rates):
                n = a.lat_count if i == 0 else min(a.lat_count, int(rate * 10))
                r = fig_latency(topo, tmp, n, rate, 120)
                share = ", ".join(f"{k} {v:.0%}" for k, v in r["cpu_share"].items())
                print(f"first heartbeat -> registration accepted at {rate:.0f} UEs/s ({r['registered']}/{r['n']} UEs): "
                      f"median {r['reg_median']:.1f} ms, p99 {r['reg_p99']:.1f} ms")
                print(f"first heartbeat -> PDU session up at {rate:.0f} UEs/s ({r['sessions']}/{r['n']} UEs): "
                      f"median {r['up_median']:.1f} ms, p99 {r['up_p99']:.1f} ms, max {r['up_max']:.1f} ms "
                      f"(failed {r['failed']}, start times from the schedule: {r['from_schedule']}, UE timer lag max "
                      f"{(r['timer_lag_ms'] or {}).get('max')} ms, UDP receive-buffer drops: {r['drops']}; CPU share: "
                      f"{share})" + (f"; target p99 < 100 ms at 100 UEs/s: "
                                     f"{'met' if r['ok'] and r['up_p99'] < 100 else 'not met'}" if rate == 100 else ""))
        if "3" in only:
            rs = fig_capacity(topo, tmp, steps, a.ramp_rate, a.hold, a.budget)
            best = 0
            for r in rs:
                if "skipped" in r:
                    print(f"UEs attached, step {r['target']}: skipped ({r['skipped']})")
                    continue
                line = (f"UEs attached to one femto, step {r['target']} (+{r['added']} at {a.ramp_rate:.0f}/s): "
                        f"{'ok' if r['failure'] is None else 'FAILED: ' + r['failure']}, attach phase "
                        f"{r['attach_s']:.1f} s, radio link failures {r['rlf']}, UDP receive-buffer "
                        f"drops: {r['drops']}, UE timer lag max {r['timer_lag_max_ms']} ms")
                if "rss_kib_per_ue" in r:
                    fmt = lambda d, f: ", ".join(f"{k} {v:{f}}" for k, v in d.items())  # noqa: E731
                    line += (f"; RSS/UE KiB: {fmt(r['rss_kib_per_ue'], '.1f')}; CPU ms/attach: "
                             f"{fmt(r['cpu_ms_per_attach'], '.2f')} (UE build {r['ue_build_ms']:.2f}); steady CPU "
                             f"share: {fmt(r['hold_cpu_share'], '.0%')}; RSS MiB: {fmt(r['rss_mib'], '.0f')}")
                print(line)
                if r["failure"] is None:
                    best = r["target"]
            print(f"most UEs attached to one femto (registered + PDU session, held {a.hold:.0f} s): {best}; "
                  f"target >= 5000: {'met' if best >= 5000 else 'not met'}")
    print(f"benchmark time: {time.monotonic() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
