"""Per-run subscriber provisioning: generate the secrets a topology leaves out.

A topology names its subscribers (SUPI, CAG lists, MSISDN, ...) but never their
keys. :func:`materialise` writes ``<run>/core/subscribers.yaml`` (mode 0600):
the topology's subscribers, ranges and femtos (plus an optional extra
subscriber file), with a fresh random K and OPc (TS 35.206) for every
subscriber (one per range) that has none. The core's UDR loads that file and
the UE simulators take their USIM data from it, so both sides agree on keys
that exist only in this run directory.

Femtos with an ``hpm`` (hosting-party module, TS 33.320 7.2.3) get K and OPc for it the same
way; :func:`write_hpm_cards` then writes each such femto's card file
``<run>/<femto>/hpm/card.json`` (0600) with the keys of ``subscribers.yaml``, so the HPM
process and the AAA server (through the store) agree.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import yaml

from testbed.core.config import CoreSettings
from testbed.errors import ConfigError

SUBSCRIBERS_FILE = "subscribers.yaml"


def _with_keys(entry: dict[str, Any]) -> dict[str, Any]:
    out = dict(entry)
    if "k" not in out:
        if "op" in out or "opc" in out:
            raise ConfigError(None, "k", "an OP/OPc without K makes no sense: leave all out to generate them")
        out["k"] = secrets.token_hex(16)
        out["opc"] = secrets.token_hex(16)
    return out


def _femto_entry(settings: CoreSettings, f: dict[str, Any]) -> dict[str, Any]:
    """A femto of the topology with the core's PLMN by default and keys for its HPM."""
    out = {"mcc": settings.plmn.mcc, "mnc": settings.plmn.mnc, **f}
    if isinstance(out.get("hpm"), dict):
        out["hpm"] = _with_keys(out["hpm"])
    return out


def subscriber_data(settings: CoreSettings, topology_file: str | Path | None = None) -> dict[str, Any]:
    """The subscriber-file data for ``settings``, with generated keys where none are given."""
    data: dict[str, Any] = {
        "subscribers": [_with_keys(s) for s in settings.subscribers],
        "ranges": [_with_keys(r) for r in settings.ranges],
        "femtos": [_femto_entry(settings, f) for f in settings.femtos],
    }
    mnc_len = len(settings.plmn.mnc)
    for entry in data["subscribers"] + data["ranges"]:
        entry.setdefault("mnc_len", mnc_len)
    if settings.subscribers_file:
        base = Path(topology_file).parent if topology_file else Path.cwd()
        path = (base / settings.subscribers_file).resolve()
        try:
            extra = yaml.safe_load(path.read_text()) or {}
        except OSError as e:
            raise ConfigError(str(path), "", f"cannot read subscriber file: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise ConfigError(str(path), "", f"invalid YAML ({e})") from None
        if not isinstance(extra, dict):
            raise ConfigError(str(path), "", "expected a mapping with subscribers/ranges/femtos")
        for key in ("subscribers", "ranges", "femtos"):
            items = extra.get(key) or []
            if not isinstance(items, list):
                raise ConfigError(str(path), key, "expected a list")
            if key == "femtos":
                data[key] += [_femto_entry(settings, f) if isinstance(f, dict) else f for f in items]
            else:
                data[key] += [_with_keys(e) if isinstance(e, dict) else e for e in items]
    return data


def validate(data: dict[str, Any], file: str | None = None):
    """Validate subscriber data with the UDR's schema (raises ConfigError naming the field)."""
    from testbed.core.udr import parse_subscriber_data

    return parse_subscriber_data(data, file)


def materialise(settings: CoreSettings, out_dir: str | Path, topology_file: str | Path | None = None) -> Path:
    """Write ``out_dir/subscribers.yaml`` (0600) and return its path."""
    data = subscriber_data(settings, topology_file)
    validate(data, f"{topology_file or 'topology'}: core")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / SUBSCRIBERS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# Generated per run: subscriber keys of this run only. Never commit.\n")
        yaml.safe_dump(data, f, sort_keys=False)
    os.chmod(path, 0o600)
    return path


def write_hpm_cards(settings: CoreSettings, run_root: str | Path) -> dict[str, Path]:
    """Write ``<run_root>/<femto>/hpm/card.json`` (0600) for every femto with an ``hpm``.

    The keys come from ``<run_root>/core/subscribers.yaml`` (written by :func:`materialise`
    first if missing), the same file the core loads into its store, so card and store agree.
    An existing card with the same IMSI and keys is kept (its SQN_MS and inserted state are
    the card's own). Returns femto name -> card path.
    """
    from testbed.core.udr import load_subscriber_file
    from testbed.crypto.milenage import opc as compute_opc
    from testbed.hpm.card import CARD_FILE, HpmCard, default_realm, load_card, save_card

    root = Path(run_root)
    sub_path = root / "core" / SUBSCRIBERS_FILE
    if not sub_path.exists():
        materialise(settings, root / "core")
    data = load_subscriber_file(sub_path)
    cards: dict[str, Path] = {}
    for f in data.femtos:
        if f.hpm is None:
            continue
        if "/" in f.name or f.name in (".", ".."):
            raise ConfigError(str(sub_path), "femtos", f"femto name {f.name!r} cannot name a node directory")
        h = f.hpm
        opc_hex = h.opc if h.opc is not None else compute_opc(bytes.fromhex(h.k), bytes.fromhex(h.op or "")).hex()
        card = HpmCard(imsi=h.imsi, k=h.k, opc=opc_hex, sqn=f"{h.sqn:012x}", amf=h.amf,
                       realm=default_realm(f.mcc, f.mnc), inserted=True)
        path = root / f.name / "hpm" / CARD_FILE
        try:
            old = load_card(path) if path.exists() else None
        except ConfigError:
            old = None
        if old is None or (old.imsi, old.k, old.opc) != (card.imsi, card.k, card.opc):
            save_card(path, card)
        cards[f.name] = path
    return cards
