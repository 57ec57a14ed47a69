"""``make demo`` / ``nrfemto demo``: up, status, reachability policy, down."""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from testbed.runtime.engine import Testbed
from testbed.runtime.policy import check_policy
from testbed.topology.model import Topology


def run_demo(topo: Topology, console: Console, runs_dir: str | None = None) -> int:
    from testbed.cli.main import render_state

    def progress(kind: str, name: str, status: str, detail: str = "") -> None:
        if kind in ("segment", "capture", "service", "warning", "run"):
            console.print(f"  {kind:<8} {name:<10} {status:<8} {detail}")

    console.rule(f"[bold]bringing up {topo.name}")
    t0 = time.monotonic()
    tb = Testbed(topo, progress=progress, runs_base=runs_dir)
    tb.up()
    failures = 0
    try:
        render_state(tb.state())
        console.rule("[bold]reachability policy (TS 33.320 cl. 7: only IKE/ESP reaches the SeGW)")
        checks = check_policy(tb)
        t = Table()
        for col in ("check", "expected", "observed", "verdict"):
            t.add_column(col)
        for c in checks:
            verdict = "[green]PASS[/green]" if c.ok else "[red]FAIL[/red]"
            exp = "reachable" if c.expect else "blocked"
            obs = "reachable" if c.result.reachable else "blocked"
            t.add_row(c.name, exp, obs, verdict)
        console.print(t)
        failures = sum(not c.ok for c in checks)
    finally:
        console.rule("[bold]tearing down")
        tb.down()
    console.print(f"pcaps: {tb.run_dir.pcaps}")
    console.print(f"up {tb.timings.get('up_s')} s, down {tb.timings.get('down_s')} s, "
                  f"total {time.monotonic() - t0:.2f} s; {len(checks) - failures}/{len(checks)} policy checks passed")
    return 1 if failures else 0
