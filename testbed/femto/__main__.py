"""``python -m testbed.femto --config femto.yaml``: run the software gNB femto.

The topology engine starts it as a service of a ``femto`` node; its readiness is the
``femto.ready`` event (NG Setup succeeded). ``--control`` gives the control socket path (default:
``control_socket`` of the config, else ``<config dir>/control.sock``). See :mod:`testbed.femto.process`.
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
    ap = argparse.ArgumentParser(prog="python -m testbed.femto", description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="femto configuration (YAML or JSON)")
    ap.add_argument("--control", help="control socket path (default: control_socket or <config dir>/control.sock)")
    ap.add_argument("--radio-on", action="store_true", help="allow the radio at start (radio_enabled_at_start)")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        from testbed.femto.config import load_femto_config
        from testbed.femto.process import run

        config = load_femto_config(args.config)
        if args.radio_on:
            config = config.model_copy(update={"radio_enabled_at_start": True})
        control = args.control or config.control_socket or str(Path(args.config).resolve().parent / "control.sock")
        events = EventWriter.from_env("femto", default_dir=Path(args.config).resolve().parent)
        return asyncio.run(run(config, events, control_path=control))
    except TestbedError as e:
        print(f"femto: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
