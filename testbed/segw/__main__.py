"""``python -m testbed.segw {segw,femto} --state-dir DIR``: the SeGW service or a femto's backhaul agent.

Started by the topology engine inside the SeGW node (``segw``) or a femto node (``femto``), with the
run directory as working directory. ``DIR`` holds the settings the engine derived from the topology
(``segw.json`` / ``backhaul.json``, see :mod:`testbed.segw.config`), charon's ``strongswan.conf``,
log and vici socket. Events go to ``$NRFEMTO_EVENTS``; readiness: ``segw.ready`` / ``backhaul.up``.
See :mod:`testbed.segw.service` and :mod:`testbed.segw.agent`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from testbed.errors import TestbedError
from testbed.runtime.events import EventWriter


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.segw", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("role", choices=("segw", "femto"), help="the SeGW service or a femto's backhaul agent")
    ap.add_argument("--state-dir", required=True, help="node directory with segw.json / backhaul.json")
    ap.add_argument("--config", help="settings file (default: <state-dir>/segw.json or backhaul.json)")
    ap.add_argument("--control", help="control socket (default: control_socket of the settings)")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    state_dir = Path(args.state_dir)
    try:
        from testbed.segw.runner import run_service

        if args.role == "segw":
            from testbed.segw.config import load_segw_settings
            from testbed.segw.service import SegwService

            settings = load_segw_settings(args.config or state_dir / "segw.json")
            events = EventWriter.from_env("segw", default_dir=state_dir)
            service = SegwService(settings, events, node_dir=state_dir)
            control = args.control or settings.control_socket
            return asyncio.run(run_service(service, control, events, "segw"))
        from testbed.segw.agent import BackhaulAgent
        from testbed.segw.config import load_backhaul_settings

        bsettings = load_backhaul_settings(args.config or state_dir / "backhaul.json")
        events = EventWriter.from_env("backhaul", default_dir=state_dir)
        agent = BackhaulAgent(bsettings, events)
        control = args.control or bsettings.control_socket
        return asyncio.run(run_service(agent, control, events, "backhaul"))
    except TestbedError as e:
        print(f"segw: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
