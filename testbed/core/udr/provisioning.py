"""Provisioning commands of the UDR, as JSON-able dicts (the core's control socket calls this).

Requests and replies::

    {"op": "get_subscriber", "supi": "imsi-001010000000001"}
        -> {"ok": true, "subscriber": {supi, amf, sqn, allowed_cag_ids, cag_only, snssai, dnn, msisdn}}
    {"op": "set_allowed_cag", "supi": ..., "cag_ids": [1, 2], "cag_only": false}   (cag_only optional)
        -> {"ok": true, "subscriber": {...}, "version": N}
    {"op": "set_femto_cags", "mcc": "001", "mnc": "01", "gnb_id": 1, "gnb_id_bits": 32,
     "cag_ids": [1], "name": "femto1"}                                (gnb_id_bits, name optional)
        -> {"ok": true, "femto": {...}, "version": N}
    {"op": "get_femto", "mcc": ..., "mnc": ..., "gnb_id": ..., "gnb_id_bits": 32}
        -> {"ok": true, "femto": {mcc, mnc, gnb_id, gnb_id_bits, name, cag_ids}}
    {"op": "count"} -> {"ok": true, "count": N, "version": N}
    {"op": "get_hpm", "imsi": "001010000009001"}      (a femto's hosting-party module, TS 33.320 7.2.3)
        -> {"ok": true, "hpm": {imsi, femto, amf, sqn, required}}
    {"op": "set_hpm_required", "imsi": ..., "required": true}
        -> {"ok": true, "hpm": {...}, "version": N}

Any bad input gives ``{"ok": false, "error": "..."}``; the handler never raises
for bad input. Key material (K, OPc) is never returned.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from testbed.errors import TestbedError

from .store import FemtoRecord, HpmRecord, Subscriber, SubscriberStore

__all__ = ["OPS", "femto_view", "handle_provisioning", "hpm_view", "subscriber_view"]


class _BadRequest(Exception):
    pass


def subscriber_view(sub: Subscriber) -> dict[str, Any]:
    """JSON-able view of a subscriber WITHOUT key material (no K, no OPc)."""
    return {
        "supi": sub.supi,
        "amf": sub.amf.hex(),
        "sqn": sub.sqn,
        "allowed_cag_ids": sorted(sub.allowed_cag_ids),
        "cag_only": sub.cag_only,
        "snssai": [{"sst": sst, "sd": sd} for sst, sd in sub.snssai],
        "dnn": list(sub.dnn),
        "msisdn": sub.msisdn,
    }


def femto_view(f: FemtoRecord) -> dict[str, Any]:
    return {
        "mcc": f.mcc,
        "mnc": f.mnc,
        "gnb_id": f.gnb_id,
        "gnb_id_bits": f.gnb_id_bits,
        "name": f.name,
        "cag_ids": sorted(f.authorised_cag_ids),
    }


def hpm_view(h: HpmRecord) -> dict[str, Any]:
    """JSON-able view of an HPM record WITHOUT key material."""
    return {"imsi": h.imsi, "femto": h.femto_name, "amf": h.amf.hex(), "sqn": h.sqn, "required": h.required}


def _field(req: dict[str, Any], name: str, typ: type, *, default: Any = ..., what: str = "") -> Any:
    if name not in req:
        if default is ...:
            raise _BadRequest(f"missing field '{name}'")
        return default
    v = req[name]
    if typ is int and (isinstance(v, bool) or not isinstance(v, int)):
        raise _BadRequest(f"field '{name}' must be an integer")
    if typ is not int and not isinstance(v, typ):
        raise _BadRequest(f"field '{name}' must be {what or typ.__name__}")
    return v


def _cag_ids(req: dict[str, Any]) -> list[int]:
    v = _field(req, "cag_ids", list, what="a list of integers")
    if len(v) > 256:
        raise _BadRequest("field 'cag_ids' has more than 256 entries")
    for c in v:
        if isinstance(c, bool) or not isinstance(c, int):
            raise _BadRequest("field 'cag_ids' must be a list of integers")
    return v


def _femto_id(req: dict[str, Any]) -> tuple[str, str, int, int]:
    return (
        _field(req, "mcc", str, what="a string of 3 digits"),
        _field(req, "mnc", str, what="a string of 2 or 3 digits"),
        _field(req, "gnb_id", int),
        _field(req, "gnb_id_bits", int, default=32),
    )


def _get_subscriber(store: SubscriberStore, req: dict[str, Any]) -> dict[str, Any]:
    supi = _field(req, "supi", str, what="a SUPI string")
    sub = store.get(supi)
    if sub is None:
        return {"ok": False, "error": f"unknown subscriber {supi!r}"}
    return {"ok": True, "subscriber": subscriber_view(sub)}


def _set_allowed_cag(store: SubscriberStore, req: dict[str, Any]) -> dict[str, Any]:
    supi = _field(req, "supi", str, what="a SUPI string")
    ids = _cag_ids(req)
    cag_only = _field(req, "cag_only", bool, default=None, what="a boolean")
    try:
        sub = store.set_allowed_cag(supi, ids, cag_only)
    except KeyError:
        return {"ok": False, "error": f"unknown subscriber {supi!r}"}
    return {"ok": True, "subscriber": subscriber_view(sub), "version": store.version}


def _set_femto_cags(store: SubscriberStore, req: dict[str, Any]) -> dict[str, Any]:
    mcc, mnc, gnb_id, bits = _femto_id(req)
    ids = _cag_ids(req)
    name = _field(req, "name", str, default="", what="a string")
    rec = store.set_femto_cags(mcc, mnc, gnb_id, bits, ids, name=name)
    return {"ok": True, "femto": femto_view(rec), "version": store.version}


def _get_femto(store: SubscriberStore, req: dict[str, Any]) -> dict[str, Any]:
    mcc, mnc, gnb_id, bits = _femto_id(req)
    rec = store.get_femto(mcc, mnc, gnb_id, bits)
    if rec is None:
        return {"ok": False, "error": f"unknown femto {mcc}{mnc}:{gnb_id}/{bits}"}
    return {"ok": True, "femto": femto_view(rec)}


def _count(store: SubscriberStore, req: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "count": store.count(), "version": store.version}


def _get_hpm(store: SubscriberStore, req: dict[str, Any]) -> dict[str, Any]:
    imsi = _field(req, "imsi", str, what="a string of digits")
    rec = store.get_hpm(imsi)
    if rec is None:
        return {"ok": False, "error": f"unknown HPM {imsi!r}"}
    return {"ok": True, "hpm": hpm_view(rec)}


def _set_hpm_required(store: SubscriberStore, req: dict[str, Any]) -> dict[str, Any]:
    imsi = _field(req, "imsi", str, what="a string of digits")
    required = _field(req, "required", bool, what="a boolean")
    try:
        rec = store.set_hpm_required(imsi, required)
    except KeyError:
        return {"ok": False, "error": f"unknown HPM {imsi!r}"}
    return {"ok": True, "hpm": hpm_view(rec), "version": store.version}


#: Operation name -> (handler, allowed request fields).
OPS: dict[str, tuple[Callable[[SubscriberStore, dict[str, Any]], dict[str, Any]], frozenset[str]]] = {
    "get_subscriber": (_get_subscriber, frozenset({"supi"})),
    "set_allowed_cag": (_set_allowed_cag, frozenset({"supi", "cag_ids", "cag_only"})),
    "set_femto_cags": (
        _set_femto_cags,
        frozenset({"mcc", "mnc", "gnb_id", "gnb_id_bits", "cag_ids", "name"}),
    ),
    "get_femto": (_get_femto, frozenset({"mcc", "mnc", "gnb_id", "gnb_id_bits"})),
    "count": (_count, frozenset()),
    "get_hpm": (_get_hpm, frozenset({"imsi"})),
    "set_hpm_required": (_set_hpm_required, frozenset({"imsi", "required"})),
}


def handle_provisioning(store: SubscriberStore, request: dict[str, Any]) -> dict[str, Any]:
    """Run one provisioning command; never raises for bad input (see the module docstring)."""
    if not isinstance(request, dict):
        return {"ok": False, "error": "request must be a JSON object"}
    op = request.get("op")
    if not isinstance(op, str) or op not in OPS:
        return {"ok": False, "error": f"unknown op {op!r}; expected one of {sorted(OPS)}"}
    handler, allowed = OPS[op]
    unknown = sorted(str(k) for k in request if k != "op" and k not in allowed)
    if unknown:
        return {"ok": False, "error": f"unknown field(s) for {op}: {', '.join(unknown)}"}
    try:
        return handler(store, request)
    except _BadRequest as exc:
        return {"ok": False, "error": str(exc)}
    except (ValueError, TypeError, TestbedError) as exc:
        return {"ok": False, "error": str(exc)}
    except sqlite3.Error as exc:
        return {"ok": False, "error": f"store error: {exc}"}
