"""Interactive CLI on a running topology, in the style of Mininet's CLI.

``femto1 ping segw`` runs ``ping <segw's address>`` inside femto1 (node names
in arguments become the node's primary address, as in Mininet). Other
commands: ``nodes``, ``net``, ``status``, ``help``, ``exit``. Works from any
process: commands enter the node's namespaces with ``mnexec -a``.
"""

from __future__ import annotations

import cmd
import shlex
import subprocess

from rich.console import Console

from testbed.runtime.rundir import RunDir


class TestbedShell(cmd.Cmd):
    __test__ = False
    intro = "nr-femto-testbed CLI. 'NODE CMD' runs CMD in NODE (e.g. 'femto1 ping -c1 segw'); 'help' lists more."

    def __init__(self, run: RunDir, state: dict, console: Console | None = None):
        super().__init__()
        self.run = run
        self.state = state
        self.console = console or Console()
        self.prompt = f"nrfemto:{state.get('topology', '?')}> "

    @property
    def nodes(self) -> dict:
        return self.state.get("nodes", {})

    def substitute(self, args: list[str]) -> list[str]:
        return [self.nodes[a]["primary_address"] if a in self.nodes else a for a in args]

    def run_in(self, node: str, args: list[str]) -> int:
        pid = self.nodes[node]["pid"]
        return subprocess.call(["mnexec", "-a", str(pid), *args])

    def default(self, line: str) -> bool:  # type: ignore[override]
        try:
            words = shlex.split(line)
        except ValueError as e:
            self.console.print(f"[red]{e}[/red]")
            return False
        if not words:
            return False
        if words[0] in self.nodes:
            if len(words) == 1:
                self.console.print(f"usage: {words[0]} COMMAND [ARGS...]")
                return False
            self.run_in(words[0], self.substitute(words[1:]))
        else:
            self.console.print(f"[red]unknown node or command {words[0]!r}[/red]; nodes: {' '.join(self.nodes)}")
        return False

    def emptyline(self) -> bool:  # type: ignore[override]
        return False

    def do_nodes(self, _arg: str) -> None:
        """List nodes."""
        self.console.print(" ".join(self.nodes))

    def do_net(self, _arg: str) -> None:
        """Show every node's interfaces and segments."""
        for name, n in self.nodes.items():
            links = " ".join(f"{i['name']}:{i['segment']}:{i['address']}" for i in n["interfaces"])
            self.console.print(f"{name:<10} {n['role']:<12} {links}")

    def do_status(self, _arg: str) -> None:
        """Services and their readiness."""
        for name, s in self.state.get("services", {}).items():
            self.console.print(f"{name:<16} {s['node']:<10} {s['status']}")

    def do_exit(self, _arg: str) -> bool:
        """Leave the CLI (the topology keeps running)."""
        return True

    do_quit = do_exit
    do_EOF = do_exit  # noqa: N815 (cmd.Cmd convention)
