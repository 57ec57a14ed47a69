"""``python -m testbed.core --state-dir <run>/core``: run the built-in core (UDR, UDM, AUSF, AMF, SMF).

The topology engine starts it as the ``amf`` service of the ``core`` node; its
readiness is the ``core.ready`` event (NGAP listening, PFCP association with the
UPF established). See :mod:`testbed.core.process`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from testbed.core.config import parse_core_settings
from testbed.errors import TestbedError
from testbed.runtime.events import EventWriter


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.core", description=__doc__.splitlines()[0])
    ap.add_argument("--state-dir", default="core", help="directory with core.json, subscribers.yaml, udr.sqlite")
    ap.add_argument("--config", help="core settings JSON/YAML (default: <state-dir>/core.json)")
    ap.add_argument("--no-upf", action="store_true", help="run without SMF/UPF (no PDU sessions)")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    state_dir = Path(args.state_dir)
    config = Path(args.config) if args.config else state_dir / "core.json"
    try:
        import yaml

        data = yaml.safe_load(config.read_text()) if config.exists() else {}
        settings = parse_core_settings(data, str(config))
        from testbed.core.process import run

        events = EventWriter.from_env("core", default_dir=state_dir)
        return asyncio.run(run(settings, state_dir, events, connect_upf=not args.no_upf))
    except TestbedError as e:
        print(f"core: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
