"""``python -m testbed.aaa --udr core/udr.sqlite --secret-file aaa/radius.secret``: run the AAA server.

RADIUS authentication (RFC 2865/3579) with EAP-AKA (RFC 4187) for the femtos' hosting-party
modules, their records and SQNs in the core's store (TS 33.320 7.2.3). Readiness: the
``aaa.ready`` event. The store must exist (the core creates it); the server waits
``--wait-udr`` seconds for it and never creates it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path

from testbed.aaa.eap_aka import AT_ANY_ID_REQ, AT_FULLAUTH_ID_REQ, AT_PERMANENT_ID_REQ
from testbed.errors import TestbedError
from testbed.runtime.events import EventWriter

_ID_REQUESTS = {"none": None, "any": AT_ANY_ID_REQ, "fullauth": AT_FULLAUTH_ID_REQ, "permanent": AT_PERMANENT_ID_REQ}


async def _run(args: argparse.Namespace, events: EventWriter) -> int:
    from testbed.aaa.radius_server import RadiusEapServer, read_secret, serve
    from testbed.aaa.vectors import HpmVectors
    from testbed.core.udr import SubscriberStore

    udr = Path(args.udr)
    deadline = time.monotonic() + args.wait_udr
    while not udr.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    store = SubscriberStore(udr, create=False)
    server = RadiusEapServer(read_secret(args.secret_file), HpmVectors(store), events,
                             first_id_request=_ID_REQUESTS[args.identity_request])
    transport = await serve(server, args.listen, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    host, port = transport.get_extra_info("sockname")[:2]
    events.emit("aaa.ready", "info", listen=host, port=port, hpms=len(store.hpms()))
    logging.getLogger("testbed.aaa").info("AAA (RADIUS) ready on %s:%d", host, port)
    try:
        await stop.wait()
    finally:
        transport.close()
        store.close()
        events.emit("aaa.stopped", "info", **server.counters)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.aaa", description=__doc__.splitlines()[0])
    ap.add_argument("--udr", required=True, help="the core's store (<run>/core/udr.sqlite)")
    ap.add_argument("--listen", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    ap.add_argument("--port", type=int, default=1812, help="UDP port (default 1812; 0 = any)")
    ap.add_argument("--secret-file", required=True, help="file with the RADIUS shared secret")
    ap.add_argument("--events", help="event file (default: $NRFEMTO_EVENTS, else aaa.jsonl beside the store)")
    ap.add_argument("--identity-request", choices=sorted(_ID_REQUESTS), default="none",
                    help="always start with EAP-Request/AKA-Identity asking for this identity (RFC 4187 4.1.4)")
    ap.add_argument("--wait-udr", type=float, default=30.0, help="seconds to wait for the store to appear")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.events:
        events = EventWriter(args.events, "aaa", os.environ.get("NRFEMTO_NODE"))
    else:
        events = EventWriter.from_env("aaa", default_dir=Path(args.udr).parent)
    try:
        return asyncio.run(_run(args, events))
    except (TestbedError, OSError) as e:
        events.emit("aaa.start_failed", "error", error=str(e))
        print(f"aaa: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
