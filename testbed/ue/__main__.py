"""``python -m testbed.ue --config ue.yaml``: run many simulated UEs in one process.

Without a file, flags build the configuration (handy in a topology's service command)::

    python -m testbed.ue --gnb 10.200.1.1 --supi imsi-001010000000001 --name ue1 --position 10,0,0 \\
        --dn-route 10.20.0.0/24
    python -m testbed.ue --gnb 10.200.1.1 --range imsi-001010000100000:200 --scheme 2

The topology engine starts it inside a UE-host node (working directory: the run directory, whose
``core/subscribers.yaml`` and ``core/hn-public.json`` provide the USIM data); its readiness is the
``ue.ready`` event (sockets bound, control socket listening). The control socket defaults to
``<run>/ue/<node>/control.sock`` (``nrfemto ue ...`` talks to it). See :mod:`testbed.ue.process`
and :mod:`testbed.ue.config`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from testbed.errors import ConfigError, TestbedError
from testbed.runtime.events import EventWriter


def _position(v: str) -> list[int]:
    parts = v.split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError("expected X,Y,Z")
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError("expected integers X,Y,Z") from None


def config_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration mapping the flags describe."""
    data: dict[str, Any] = {"gnbs": args.gnb or []}
    if args.supi:
        names = args.name or []
        data["ues"] = [{"supi": s, **({"name": names[i]} if i < len(names) else {})}
                       for i, s in enumerate(args.supi)]
    if args.range:
        first, _, count = args.range.partition(":")
        try:
            data["range"] = {"first_supi": first, "count": int(count)}
        except ValueError:
            raise ConfigError(None, "--range", f"expected FIRST_SUPI:COUNT, got {args.range!r}") from None
    for key in ("scheme", "position", "run_dir"):
        v = getattr(args, key)
        if v is not None:
            data[key] = v
    if args.dn_route:
        data["dn_routes"] = args.dn_route
    if args.no_register:
        data["auto_register"] = False
    if args.no_session:
        data["auto_session"] = False
    if args.no_tun:
        data["tun"] = False
    if getattr(args, "tun_prefix", None):
        data["tun_prefix"] = args.tun_prefix
    if getattr(args, "table_base", None):
        data["table_base"] = args.table_base
    nas: dict[str, Any] = {}
    if args.plmn:
        mcc, _, mnc = args.plmn.partition("-")
        nas.update(mcc=mcc, mnc=mnc)
    if args.knob:
        nas["knobs"] = {k: True for k in args.knob}
    if nas:
        data["nas"] = nas
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.ue", description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="UE process configuration (YAML or JSON); or use the flags below")
    ap.add_argument("--gnb", action="append", help="gNB air address[:port] (repeatable)")
    ap.add_argument("--supi", action="append", help="a UE's SUPI (repeatable)")
    ap.add_argument("--name", action="append", help="name of the --supi UE at the same position (repeatable)")
    ap.add_argument("--range", help="FIRST_SUPI:COUNT")
    ap.add_argument("--scheme", type=int, choices=(0, 1, 2), help="SUCI protection scheme")
    ap.add_argument("--position", type=_position, help="X,Y,Z")
    ap.add_argument("--plmn", help="MCC-MNC, e.g. 001-01")
    ap.add_argument("--dn-route", action="append", help="prefix routed through the PDU session TUN (repeatable)")
    ap.add_argument("--knob", action="append", help="NAS misbehaviour knob to switch on (repeatable)")
    ap.add_argument("--no-register", action="store_true", help="do not register automatically")
    ap.add_argument("--no-session", action="store_true", help="no PDU session after registration")
    ap.add_argument("--no-tun", action="store_true", help="no TUN devices (count the user plane only)")
    ap.add_argument("--tun-prefix", help="TUN name prefix (default ue): distinct per UE process in one node")
    ap.add_argument("--table-base", type=int, help="first policy routing table (default 10000)")
    ap.add_argument("--state-dir", help="directory for the control socket (default ue/<node>)")
    ap.add_argument("--control", help="control socket path (default <state-dir>/control.sock)")
    ap.add_argument("--run-dir", help="run directory with core/subscribers.yaml (default: the config's or .)")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    node = os.environ.get("NRFEMTO_NODE") or "ue"
    state_dir = Path(args.state_dir or Path("ue") / node)
    control = Path(args.control) if args.control else state_dir / "control.sock"
    try:
        from testbed.ue.config import load_ue_config, parse_ue_config

        if args.config:
            config = load_ue_config(args.config)
            if args.run_dir:
                config = config.model_copy(update={"run_dir": args.run_dir})
        else:
            config = parse_ue_config(config_from_flags(args), "command line")
        from testbed.ue.process import run

        events = EventWriter.from_env("ue", default_dir=state_dir)
        return asyncio.run(run(config, events, control))
    except TestbedError as e:
        print(f"ue: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
