"""``python -m testbed.hpm --card card.json --socket hpm.sock --events events.jsonl``: run the HPM.

The hosting-party module (software UICC) of a femto; see :mod:`testbed.hpm.process` for the
socket protocol. Readiness: the ``hpm.ready`` event (or the socket answering ``status``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from testbed.errors import TestbedError
from testbed.runtime.events import EventWriter


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.hpm", description=__doc__.splitlines()[0])
    ap.add_argument("--card", required=True, help="card file (JSON, 0600) written by provisioning")
    ap.add_argument("--socket", help="control socket path (default: hpm.sock beside the card)")
    ap.add_argument("--events", help="event file (default: $NRFEMTO_EVENTS, else hpm.jsonl beside the card)")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    card = Path(args.card)
    sock = Path(args.socket) if args.socket else card.parent / "hpm.sock"
    if args.events:
        events = EventWriter(args.events, "hpm", os.environ.get("NRFEMTO_NODE"))
    else:
        events = EventWriter.from_env("hpm", default_dir=card.parent)
    try:
        from testbed.hpm.process import run

        return asyncio.run(run(card, sock, events))
    except TestbedError as e:
        print(f"hpm: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"hpm: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
