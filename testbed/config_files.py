"""Reading configuration files: one place for YAML/JSON parsing and pydantic errors -> ConfigError.

Every component's settings file (core, femto, UE process) is validated by a pydantic model; a bad
file gives a :class:`~testbed.errors.ConfigError` naming the file, the field path and what was
expected, and never echoes key material.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from testbed.errors import ConfigError

#: Field names whose values are secrets: a rejected mapping holding one is not echoed.
SECRET_KEYS = frozenset({"k", "op", "opc"})


def config_error(e: ValidationError, file: str | None, prefix: str = "") -> ConfigError:
    """The :class:`ConfigError` for the first error of ``e``, its field path under ``prefix``."""
    err = e.errors()[0]
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    path = ".".join([p for p in (prefix,) if p] + [str(p) for p in err["loc"]])
    got = err.get("input")
    if isinstance(got, dict) and SECRET_KEYS & set(got):
        got = "{...}"  # never echo key material
    return ConfigError(file, path, f"{msg}; got {got!r}")


def read_data_file(path: str | Path) -> Any:
    """The data of a YAML file, or a JSON file when the name ends in ``.json``."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(str(p), "", f"cannot read: {e.strerror}") from None
    try:
        if p.suffix == ".json":
            return json.loads(text)
        import yaml

        return yaml.safe_load(text)
    except Exception as e:  # noqa: BLE001 - any parser error becomes a ConfigError
        raise ConfigError(str(p), "", f"not valid {'JSON' if p.suffix == '.json' else 'YAML'}: {e}") from None


def check_mcc(v: str) -> str:
    """An MCC field: exactly 3 digits (TS 23.003 2.2)."""
    if not isinstance(v, str) or not v.isdigit() or not v.isascii() or len(v) != 3:
        raise ValueError("expected 3 digits (quote it in YAML: \"001\")")
    return v


def check_mnc(v: str) -> str:
    """An MNC field: 2 or 3 digits (TS 23.003 2.2)."""
    if not isinstance(v, str) or not v.isdigit() or not v.isascii() or len(v) not in (2, 3):
        raise ValueError("expected 2 or 3 digits (quote it in YAML: \"01\")")
    return v


class StrictModel(BaseModel):
    """Base of the settings models: unknown keys are errors (a typo is never silently ignored),
    values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_ipv4_address(v: str, example: str = "10.0.0.5") -> str:
    """An IPv4 address field, normalised (``010.0.0.1`` is refused by :mod:`ipaddress`)."""
    try:
        return str(ipaddress.IPv4Address(v))
    except ValueError:
        raise ValueError(f"expected an IPv4 address like {example}") from None


def check_ip_address(v: str) -> str:
    """An IPv4 or IPv6 address field, normalised."""
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        raise ValueError("expected an IP address") from None


def check_ipv4_prefix(v: str, *, example: str, max_prefixlen: int, too_small: str) -> str:
    """An IPv4 prefix field (host bits zero) no longer than ``/max_prefixlen``; ``too_small`` is
    the message when it is."""
    try:
        net = ipaddress.IPv4Network(v, strict=True)
    except ValueError as e:
        raise ValueError(f"expected an IPv4 prefix like {example} ({e})") from None
    if net.prefixlen > max_prefixlen:
        raise ValueError(too_small)
    return str(net)
