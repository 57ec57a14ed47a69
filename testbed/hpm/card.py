"""The HPM card file: what the hosting-party module (a UICC, TS 33.320 5.1.1) holds.

``<run>/<femto>/hpm/card.json`` (mode 0600, written per run by
:func:`testbed.core.provision.write_hpm_cards`)::

    {"imsi": "001010000009001", "k": "<32 hex>", "opc": "<32 hex>", "sqn": "<12 hex>",
     "amf": "8000", "realm": "nai.5gc.mnc001.mcc001.3gppnetwork.org", "inserted": true}

``sqn`` is SQN_MS, the highest sequence number the card has accepted (TS 33.102 Annex C);
``inserted`` whether the module is in the femto. The HPM process rewrites the file
atomically (temporary file, fsync, rename) after every accepted challenge and every
insert/remove, so a crash never leaves a half-written card or an SQN that goes back.

A bad file raises :class:`~testbed.errors.ConfigError` naming the file and the field; key
material is never echoed.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from testbed.config_files import SECRET_KEYS, config_error, read_data_file
from testbed.errors import ConfigError

__all__ = ["CARD_FILE", "HpmCard", "default_realm", "load_card", "save_card"]

CARD_FILE = "card.json"

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"


def default_realm(mcc: str, mnc: str) -> str:
    """The NAI realm of a PLMN: "nai.5gc.mnc<MNC, 3 digits>.mcc<MCC>.3gppnetwork.org" (TS 23.003 28.7)."""
    return f"nai.5gc.mnc{mnc.zfill(3)}.mcc{mcc}.3gppnetwork.org"


class HpmCard(BaseModel):
    """The content of a card file (see the module docstring). ``repr`` hides K and OPc."""

    model_config = ConfigDict(extra="forbid", strict=True)

    imsi: str = Field(pattern=r"^[0-9]{6,15}$")
    k: str = Field(pattern=r"^[0-9a-fA-F]{32}$", repr=False)
    opc: str = Field(pattern=r"^[0-9a-fA-F]{32}$", repr=False)
    sqn: str = Field(default="000000000000", pattern=r"^[0-9a-fA-F]{12}$")
    amf: str = Field(default="8000", pattern=r"^[0-9a-fA-F]{4}$")
    realm: str = Field(pattern=rf"^{_LABEL}(\.{_LABEL})*$", max_length=200)
    inserted: bool = True

    @field_validator("k", "opc", "sqn", "amf")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()

    @property
    def sqn_int(self) -> int:
        return int(self.sqn, 16)


def _card_error(e: ValidationError, file: str) -> ConfigError:
    err = e.errors()[0]
    if err["loc"] and err["loc"][-1] in SECRET_KEYS:
        path = ".".join(str(p) for p in err["loc"])
        return ConfigError(file, path, "expected 32 hex digits (the value is not shown: key material)")
    return config_error(e, file)


def parse_card(data: Any, file: str = "card") -> HpmCard:
    if not isinstance(data, dict):
        raise ConfigError(file, "", "expected a JSON object with imsi, k, opc, sqn, amf, realm, inserted")
    try:
        return HpmCard.model_validate(data)
    except ValidationError as e:
        raise _card_error(e, file) from None


def load_card(path: str | Path) -> HpmCard:
    """Read and validate a card file (ConfigError naming the file and field)."""
    return parse_card(read_data_file(path), str(path))


def save_card(path: str | Path, card: HpmCard) -> Path:
    """Write ``card`` to ``path`` atomically with mode 0600 (temporary file, fsync, rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(card.model_dump(), indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(p.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return p
