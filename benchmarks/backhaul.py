"""Femto IPsec backhaul benchmark (issue 6): tunnel set-up time, many femtos at once, throughput, SeGW memory.

One SeGW namespace and ``--femtos`` femto namespaces on a Linux bridge
(:class:`testbed.segw.netns_lab.SegwStarLab`), a strongSwan charon in each (private /run),
each femto with its own device certificate from a per-run :class:`testbed.pki.RunPki`,
the SeGW and femto profiles of :mod:`testbed.segw.profiles` (certificates both ways, CRLs
checked, TS 33.210 strong-only proposals, services-only traffic selectors).

Figures (one line each):

a. ``single tunnel establishment``: femto 0 initiates (vici ``initiate``, which returns when
   its CHILD SA is installed), ``--tries`` times, the tunnel torn down between tries;
   median and p95.
b. ``N femtos at once``: every femto initiates at the same moment (one thread per femto,
   released by a barrier); time from the first start until the last CHILD SA is up, how many
   failed, and that the SeGW holds that many CHILD SAs.
c. ``user-plane throughput``: iperf3 (TCP, ``--iperf-seconds``) from femto 0 to the iperf3
   server on a SeGW-side operator service address, through the tunnel; the first 2000 frames
   on the femto's backhaul interface are captured and classified with tshark (ESP in UDP
   4500 vs anything in the clear). With kernel-libipsec, and again with kernel ESP where the
   kernel has it (else the probe's reason is printed).
d. ``SeGW charon RSS per tunnel``: VmRSS growth of the SeGW's charon from no SA to the tunnels
   of figure b, divided by their number.

Targets (issue 6, reported, not asserted): one tunnel < 0.5 s; 50 tunnels < 15 s;
>= 200 Mbit/s through one tunnel with kernel-libipsec.

Needs root, strongSwan (scripts/setup.sh), iperf3, tcpdump and tshark. Run:
``flock /tmp/nrfemto-root.lock .venv/bin/python benchmarks/backhaul.py [--femtos 50 --tries 10
--iperf-seconds 10 --json out.json --keep DIR]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testbed.pki import RunPki  # noqa: E402
from testbed.segw.charon import CHARON_BIN, Backend, esp_backend  # noqa: E402
from testbed.segw.netns_lab import SegwStarLab  # noqa: E402
from testbed.segw.vici_driver import ViciError  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
IPERF_PORT = 5201
CAPTURE_FRAMES = 2000
BACKEND_NAMES = {"libipsec": "kernel-libipsec (userspace ESP, always in UDP 4500)", "kernel": "kernel ESP (XFRM)"}


# -- process and statistics helpers
def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_s(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pctl(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def machine() -> str:
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal:"))
    return (f"{os.cpu_count()} vCPU, {mem / 1024 / 1024:.0f} GiB, kernel {platform.release()}, "
            f"Python {platform.python_version()}")


def segw_children(lab: SegwStarLab) -> list[dict[str, Any]]:
    assert lab.segw_vici is not None
    return [child for _, _, child in lab.segw_vici.child_sas()]


# -- figure a
def fig_single(lab: SegwStarLab, tries: int) -> dict[str, Any]:
    times: list[float] = []
    for _ in range(tries):
        times.append(lab.initiate(0))
        femto = lab.femtos[0].vici
        assert femto is not None
        states = [c["state"] for _, _, c in femto.child_sas()]
        if states != ["INSTALLED"] or [c["state"] for c in segw_children(lab)] != ["INSTALLED"]:
            raise RuntimeError(f"after initiate: femto CHILD SAs {states}, SeGW {segw_children(lab)}")
        lab.terminate(0)
        left = lab.wait_segw_sas(0, timeout=5)
        if left:
            raise RuntimeError(f"SeGW still has {left} IKE SAs after terminate")
    return {"tries": tries, "median_s": statistics.median(times), "p95_s": pctl(times, 95),
            "min_s": min(times), "max_s": max(times), "all_s": times}


# -- figure b (+ d)
def fig_many(lab: SegwStarLab, timeout: float) -> dict[str, Any]:
    assert lab.segw is not None and lab.segw.pid is not None
    n = len(lab.femtos)
    rss0, cpu0 = rss_kib(lab.segw.pid), cpu_s(lab.segw.pid)
    barrier = threading.Barrier(n + 1)
    starts: list[float] = [0.0] * n
    ends: list[float | None] = [None] * n
    errors: dict[int, str] = {}

    def one(i: int) -> None:
        barrier.wait()
        starts[i] = time.monotonic()
        try:
            lab.initiate(i, timeout=timeout)
            ends[i] = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - counted as a failed tunnel and reported
            errors[i] = f"{type(exc).__name__}: {exc}"[:300]

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join(timeout + 30)
    done = [e for e in ends if e is not None]
    t_first = min(starts)
    up = len(done)
    # the SeGW's view: IKE SAs and installed CHILD SAs, once everything settled
    lab.wait_segw_sas(up, timeout=5)
    installed = sum(1 for c in segw_children(lab) if c["state"] == "INSTALLED")
    rss1, cpu1 = rss_kib(lab.segw.pid), cpu_s(lab.segw.pid)
    femto_pid = lab.femtos[0].charon.pid if lab.femtos[0].charon else None
    per_tunnel = [e - s for s, e in zip(starts, ends, strict=True) if e is not None]
    return {
        "femtos": n, "up": up, "failed": n - up, "segw_installed_child_sas": installed,
        "all_up_s": (max(done) - t_first) if done else None,
        "per_tunnel_median_s": statistics.median(per_tunnel) if per_tunnel else None,
        "per_tunnel_p95_s": pctl(per_tunnel, 95) if per_tunnel else None,
        "errors": errors,
        "segw_cpu_ms_per_tunnel": (cpu1 - cpu0) / up * 1e3 if up else None,
        "segw_rss_kib_before": rss0, "segw_rss_kib_after": rss1,
        "segw_rss_kib_per_tunnel": (rss1 - rss0) / up if up else None,
        "femto_charon_rss_kib_one_tunnel": rss_kib(femto_pid) if femto_pid else None,
    }


def terminate_all(lab: SegwStarLab) -> int:
    def one(i: int) -> None:
        try:
            lab.terminate(i, timeout=10)
        except ViciError:
            pass  # no SA (this femto failed to come up)

    threads = [threading.Thread(target=one, args=(f.index,), daemon=True) for f in lab.femtos]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return lab.wait_segw_sas(0, timeout=20)


# -- figure c
def classify_pcap(pcap: Path) -> dict[str, int]:
    """Frames of the capture: ESP in UDP, raw ESP, IKE/NAT keepalives (UDP 500/4500 without ESP),
    iperf3 TCP in the clear, other IP, non-IP."""
    out = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=/t", "-e", "frame.protocols",
                          "-e", "udp.port", "-e", "tcp.port"],
                         capture_output=True, text=True, timeout=120, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"tshark: {out.stderr.strip()}")
    counts = {"frames": 0, "esp_in_udp": 0, "esp_raw": 0, "ike": 0, "iperf_clear": 0, "other_ip": 0, "non_ip": 0}
    for line in out.stdout.splitlines():
        protos, udp_ports, tcp_ports = (line.split("\t") + ["", ""])[:3]
        layers = protos.split(":")
        counts["frames"] += 1
        if "ip" not in layers:
            counts["non_ip"] += 1
        elif "esp" in layers and "udp" in layers:
            counts["esp_in_udp"] += 1
        elif "esp" in layers:
            counts["esp_raw"] += 1
        elif {"500", "4500"} & set(udp_ports.split(",")):
            counts["ike"] += 1
        elif str(IPERF_PORT) in tcp_ports.split(","):
            counts["iperf_clear"] += 1
        else:
            counts["other_ip"] += 1
    return counts


def ns_drops(lab: SegwStarLab, ns: str, tun: str) -> dict[str, int]:
    """UDP receive-buffer drops (``/proc/net/snmp`` of ``ns``) and the TUN device's drop counters."""
    snmp = lab.exec(ns, "cat", "/proc/net/snmp").stdout.splitlines()
    udp = [line.split()[1:] for line in snmp if line.startswith("Udp:")]
    fields = dict(zip(udp[0], (int(x) for x in udp[1]), strict=True)) if len(udp) == 2 else {}
    link = json.loads(lab.exec(ns, "ip", "-j", "-s", "link", "show", "dev", tun).stdout or "[{}]")[0]
    stats = link.get("stats64", {})
    return {"udp_rcvbuf_errors": fields.get("RcvbufErrors", 0),
            "tun_rx_dropped": stats.get("rx", {}).get("dropped", 0),
            "tun_tx_dropped": stats.get("tx", {}).get("dropped", 0)}


def wait_listening(lab: SegwStarLab, addr: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = lab.exec(lab.ns_segw, "ss", "-Hltn", f"src {addr}:{port}")
        if res.stdout.strip():
            return
        time.sleep(0.05)
    raise RuntimeError(f"iperf3 server not listening on {addr}:{port} within {timeout} s")


def fig_throughput(lab: SegwStarLab, seconds: float, workdir: Path, backend: Backend) -> dict[str, Any]:
    """iperf3 TCP from femto 0 to the first service address through femto 0's tunnel (already up)."""
    assert lab.segw is not None and lab.segw.pid is not None
    f0 = lab.femtos[0]
    assert f0.charon is not None and f0.charon.pid is not None
    svc = lab.services[0]
    server = lab.popen(["ip", "netns", "exec", lab.ns_segw, "iperf3", "-s", "-B", svc, "-p", str(IPERF_PORT), "-1"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(lab, svc, IPERF_PORT)
    route = lab.exec(f0.ns, "ip", "-o", "route", "get", svc).stdout.strip()
    pcap = workdir / f"iperf-{backend}.pcap"
    cap = lab.capture(f0.ns, f0.dev, pcap, "-c", str(CAPTURE_FRAMES), "-s", "128")
    assert cap.stderr is not None
    first = cap.stderr.readline().decode(errors="replace")  # "tcpdump: listening on eth0, ..."
    if "listening" not in first:
        raise RuntimeError(f"tcpdump did not start: {first.strip()}")
    tun = lab.tunnel_dev(0)
    d0 = {"segw": ns_drops(lab, lab.ns_segw, tun), "femto": ns_drops(lab, f0.ns, tun)}
    c0 = {"segw": cpu_s(lab.segw.pid), "femto": cpu_s(f0.charon.pid)}
    res = lab.exec(f0.ns, "iperf3", "-c", svc, "-p", str(IPERF_PORT), "-t", str(seconds), "-J",
                   timeout=seconds + 60)
    c1 = {"segw": cpu_s(lab.segw.pid), "femto": cpu_s(f0.charon.pid)}
    d1 = {"segw": ns_drops(lab, lab.ns_segw, tun), "femto": ns_drops(lab, f0.ns, tun)}
    try:
        cap.wait(timeout=10)
    except subprocess.TimeoutExpired:
        lab.kill(cap)
    lab.kill(server)
    try:
        report = json.loads(res.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"iperf3 client failed ({res.returncode}): {res.stderr.strip() or res.stdout[:300]}") \
            from exc
    if "error" in report:
        raise RuntimeError(f"iperf3: {report['error']}")
    end = report["end"]
    wall = end["sum_sent"]["seconds"]
    wire = classify_pcap(pcap)
    esp = wire["esp_in_udp"] + wire["esp_raw"]
    wanted = wire["esp_in_udp"] if backend == "libipsec" else esp
    wire_ok = wire["iperf_clear"] == 0 and wire["other_ip"] == 0 and wanted >= 0.9 * wire["frames"]
    return {
        "backend": backend, "seconds": wall, "route": route,
        "sent_mbit_s": end["sum_sent"]["bits_per_second"] / 1e6,
        "received_mbit_s": end["sum_received"]["bits_per_second"] / 1e6,
        "retransmits": end["sum_sent"].get("retransmits"),
        "charon_cpu_share": {k: (c1[k] - c0[k]) / wall for k in c0},
        "drops": {node: {k: d1[node][k] - d0[node][k] for k in d0[node]} for node in d0},
        "wire": wire, "wire_ok": wire_ok,
    }


def throughput_line(r: dict[str, Any]) -> str:
    w = r["wire"]
    share = ", ".join(f"{k} {v:.0%}" for k, v in r["charon_cpu_share"].items())
    drops = "; ".join(f"{node} " + ", ".join(f"{k} {v}" for k, v in d.items()) for node, d in r["drops"].items())
    return (f"user-plane throughput through one tunnel, iperf3 TCP {r['seconds']:.0f} s femto -> SeGW service, "
            f"{BACKEND_NAMES[r['backend']]}: {r['received_mbit_s']:.0f} Mbit/s received "
            f"(sent {r['sent_mbit_s']:.0f}, TCP retransmits {r['retransmits']}; charon CPU share: {share}; drops: "
            f"{drops}); "
            f"wire check on the femto's backhaul, first {w['frames']} frames: {w['esp_in_udp']} ESP in UDP 4500, "
            f"{w['esp_raw']} raw ESP, {w['ike']} IKE/NAT keepalive, {w['iperf_clear']} iperf3 TCP in the clear, {w['other_ip']} other IP, "
            f"{w['non_ip']} non-IP: {'ok' if r['wire_ok'] else 'NOT OK'}")


def met(ok: bool) -> str:
    return "met" if ok else "not met"


def run(a: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
                               "load_before": os.getloadavg(), "args": vars(a)}
    print(f"machine: {results['machine']}; load average before: "
          + " ".join(f"{x:.2f}" for x in results["load_before"]))
    kind, reason = esp_backend()
    results["esp_probe"] = {"backend": kind, "reason": reason}
    pki = RunPki.create(workdir / "pki")
    t0 = time.monotonic()
    with SegwStarLab(a.femtos) as lab:
        t_ns = time.monotonic() - t0
        lab.start_charons(workdir / "nodes", backend="libipsec", timeout=120)
        t_charons = time.monotonic() - t0
        lab.configure(pki)
        t_conf = time.monotonic() - t0
        print(f"IPsec backend: {BACKEND_NAMES['libipsec']}; kernel ESP probe: {reason}")
        print(f"set-up: {a.femtos} femto + 1 SeGW namespaces on a bridge in {t_ns:.2f} s, "
              f"{a.femtos + 1} charons ready at {t_charons:.2f} s, credentials and connections loaded at "
              f"{t_conf:.2f} s")
        results["setup_s"] = {"namespaces": t_ns, "charons": t_charons, "configured": t_conf}

        single = fig_single(lab, a.tries)
        results["single"] = single
        print(f"single tunnel establishment (initiate -> CHILD SA installed), {a.tries} tries: median "
              f"{single['median_s'] * 1e3:.1f} ms, p95 {single['p95_s'] * 1e3:.1f} ms (min "
              f"{single['min_s'] * 1e3:.1f}, max {single['max_s'] * 1e3:.1f} ms); target < 0.5 s: "
              f"{met(single['p95_s'] < 0.5)}")

        many = fig_many(lab, a.initiate_timeout)
        results["many"] = many
        all_up = many["all_up_s"]
        print(f"{a.femtos} femtos initiating at once -> all CHILD SAs up: "
              + (f"{all_up:.2f} s" if all_up is not None else "never")
              + f" ({many['up']} up, {many['failed']} failed; SeGW holds {many['segw_installed_child_sas']} "
              f"installed CHILD SAs; per tunnel median "
              + (f"{many['per_tunnel_median_s'] * 1e3:.0f} ms, p95 {many['per_tunnel_p95_s'] * 1e3:.0f} ms; "
                 f"SeGW charon CPU {many['segw_cpu_ms_per_tunnel']:.1f} ms per tunnel)" if many["up"] else "-)")
              + f"; target {a.femtos} tunnels < 15 s: "
              + met(all_up is not None and many["failed"] == 0 and all_up < 15))
        for i, err in sorted(many["errors"].items())[:5]:
            print(f"  femto {i} failed: {err}")
        if many["up"]:
            print(f"SeGW charon RSS per tunnel: {many['segw_rss_kib_per_tunnel']:.1f} KiB "
                  f"({many['segw_rss_kib_before'] / 1024:.1f} MiB with no SA -> "
                  f"{many['segw_rss_kib_after'] / 1024:.1f} MiB with {many['up']} tunnels); femto charon RSS "
                  f"with one tunnel: {many['femto_charon_rss_kib_one_tunnel'] / 1024:.1f} MiB")
        left = terminate_all(lab)
        if left:
            raise RuntimeError(f"SeGW still has {left} IKE SAs after terminating every tunnel")

        lab.initiate(0)
        tp = fig_throughput(lab, a.iperf_seconds, workdir, "libipsec")
        results["throughput"] = [tp]
        print(throughput_line(tp) + f"; target >= 200 Mbit/s with libipsec: {met(tp['received_mbit_s'] >= 200)}")
        lab.terminate(0)

    if kind == "kernel":
        with SegwStarLab(1) as klab:
            klab.start_charons(workdir / "nodes-kernel-esp", backend="kernel")
            klab.configure(pki)
            klab.initiate(0)
            ktp = fig_throughput(klab, a.iperf_seconds, workdir, "kernel")
            results["throughput"].append(ktp)
            print(throughput_line(ktp))
    else:
        print(f"kernel ESP: not available ({reason})")
    results["load_after"] = os.getloadavg()
    print("load average after: " + " ".join(f"{x:.2f}" for x in results["load_after"]))
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--femtos", type=int, default=50, help="femtos of figure b (each its own namespace and charon)")
    ap.add_argument("--tries", type=int, default=10, help="tunnel establishments of figure a")
    ap.add_argument("--iperf-seconds", type=float, default=10.0, help="iperf3 duration of figure c")
    ap.add_argument("--initiate-timeout", type=float, default=30.0, help="figure b: seconds per initiate")
    ap.add_argument("--json", help="also write the figures as JSON to this file ('-': stdout)")
    ap.add_argument("--keep", help="keep the run directory (PKI, configs, charon logs, pcaps) here")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("backhaul benchmark: needs root (network and mount namespaces, TUN devices)", file=sys.stderr)
        return 2
    missing = [t for t in ("iperf3", "tcpdump", "tshark", "unshare") if not shutil.which(t)]
    if not CHARON_BIN.exists():
        missing.append(str(CHARON_BIN))
    if missing:
        print(f"backhaul benchmark: missing {', '.join(missing)} (run scripts/setup.sh)", file=sys.stderr)
        return 2
    if a.femtos < 1 or a.tries < 1:
        ap.error("--femtos and --tries must be >= 1")
    t_all = time.monotonic()
    if a.keep:
        workdir = Path(a.keep)
        workdir.mkdir(parents=True, exist_ok=True)
        results = run(a, workdir)
    else:
        # short base path: vici socket paths must fit AF_UNIX (< 108 bytes)
        with tempfile.TemporaryDirectory(prefix="nrft-bh-") as tmp:
            results = run(a, Path(tmp))
    results["benchmark_s"] = time.monotonic() - t_all
    print(f"benchmark time: {results['benchmark_s']:.0f} s")
    if a.json:
        text = json.dumps(results, indent=2, default=str)
        if a.json == "-":
            print(text)
        else:
            Path(a.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
