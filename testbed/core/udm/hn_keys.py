"""Home network key pairs for SUCI protection (TS 33.501 clause 6.12, Annex C).

The SIDF holds the private keys; UEs are provisioned with the public keys and
their identifiers ("home network public key identifier", TS 23.003 2.2B).
:meth:`HomeNetworkKeys.generate` creates one Profile A (X25519) key with id 1
and one Profile B (secp256r1) key with id 2. :meth:`HomeNetworkKeys.save`
writes into a run directory:

- ``hn-keys.json`` (mode 0600): ``[{"key_id", "profile", "private_key": hex}]``
- ``hn-public.json``: ``[{"key_id", "profile", "public_key": hex}]`` (what UEs get)

Private keys are generated per run and never committed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed.crypto.suci import (
    PROFILE_A,
    PROFILE_B,
    HnPrivateKey,
    generate_hn_keypair,
    hn_private_key_bytes,
    hn_public_key_bytes,
    load_hn_private_key,
)
from testbed.errors import ConfigError, CryptoError

__all__ = ["HN_KEYS_FILE", "HN_PUBLIC_FILE", "HnKey", "HomeNetworkKeys"]

HN_KEYS_FILE = "hn-keys.json"
HN_PUBLIC_FILE = "hn-public.json"
_PROFILES = (PROFILE_A, PROFILE_B)


@dataclass(frozen=True)
class HnKey:
    """One home network key pair: id (1..255), protection scheme (Profile A/B) and private key."""

    key_id: int
    profile: int
    private_key: HnPrivateKey = field(repr=False)

    @property
    def public_key(self) -> bytes:
        """Raw X25519 (32 bytes) or compressed secp256r1 (33 bytes) public key."""
        return hn_public_key_bytes(self.private_key)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the start (no window with wider permissions)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fd = -1
            fh.write(text)
    finally:
        if fd >= 0:
            os.close(fd)
    os.replace(tmp, path)


class HomeNetworkKeys:
    """The SIDF's home network private keys, indexed by key id (TS 23.003 2.2B: 0..255, 0 = null scheme)."""

    def __init__(self, keys: Iterable[HnKey]):
        self._keys: dict[int, HnKey] = {}
        for k in keys:
            if not 1 <= k.key_id <= 255:
                raise ValueError(f"home network public key id must be 1..255, got {k.key_id}")
            if k.profile not in _PROFILES:
                raise ValueError(f"protection scheme must be Profile A (1) or B (2), got {k.profile}")
            if k.key_id in self._keys:
                raise ValueError(f"duplicate home network public key id {k.key_id}")
            hn_public_key_bytes(k.private_key)  # type check
            self._keys[k.key_id] = k

    def __repr__(self) -> str:
        return f"HomeNetworkKeys({[(k.key_id, k.profile) for k in self._keys.values()]})"

    @classmethod
    def generate(cls) -> HomeNetworkKeys:
        """Fresh keys: Profile A (X25519) with key id 1 and Profile B (secp256r1) with key id 2."""
        return cls(
            HnKey(kid, prof, generate_hn_keypair(prof)[0]) for kid, prof in ((1, PROFILE_A), (2, PROFILE_B))
        )

    # -- queries ------------------------------------------------------------------

    def key_ids(self) -> list[int]:
        return sorted(self._keys)

    def private_keys(self) -> dict[int, HnPrivateKey]:
        """Key id -> private key object (the mapping :func:`testbed.crypto.suci.deconceal` takes)."""
        return {kid: k.private_key for kid, k in self._keys.items()}

    def private_key(self, key_id: int) -> HnPrivateKey:
        return self._keys[key_id].private_key

    def public_key(self, key_id: int) -> bytes:
        """Public key bytes of ``key_id`` (KeyError if unknown)."""
        return self._keys[key_id].public_key

    def public_keys(self) -> list[dict[str, Any]]:
        """``[{"key_id", "profile", "public_key": hex}]`` sorted by key id (what UEs are provisioned with)."""
        return [
            {"key_id": k.key_id, "profile": k.profile, "public_key": k.public_key.hex()}
            for k in sorted(self._keys.values(), key=lambda x: x.key_id)
        ]

    def scheme_of(self, key_id: int) -> int:
        """Protection scheme registered for ``key_id`` (KeyError if unknown)."""
        return self._keys[key_id].profile

    def has_key(self, key_id: int) -> bool:
        return key_id in self._keys

    # -- files -----------------------------------------------------------------------

    def save(self, run_dir_path: Path | str) -> tuple[Path, Path]:
        """Write ``hn-keys.json`` (0600) and ``hn-public.json`` into ``run_dir_path``; return both paths."""
        d = Path(run_dir_path)
        d.mkdir(parents=True, exist_ok=True)
        priv = [
            {
                "key_id": k.key_id,
                "profile": k.profile,
                "private_key": hn_private_key_bytes(k.private_key).hex(),
            }
            for k in sorted(self._keys.values(), key=lambda x: x.key_id)
        ]
        priv_path = d / HN_KEYS_FILE
        pub_path = d / HN_PUBLIC_FILE
        _write_private(priv_path, json.dumps(priv, indent=2) + "\n")
        pub_path.write_text(json.dumps(self.public_keys(), indent=2) + "\n")
        return priv_path, pub_path

    @classmethod
    def load(cls, path: Path | str) -> HomeNetworkKeys:
        """Load ``hn-keys.json``; raises ConfigError naming the file and entry on bad content."""
        p = Path(path)
        file = str(p)
        try:
            data = json.loads(p.read_text())
        except OSError as e:
            raise ConfigError(file, "", f"cannot read file: {e.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(file, "", f"invalid JSON ({e})") from None
        if not isinstance(data, list):
            raise ConfigError(file, "", "expected a list of {key_id, profile, private_key}")
        keys: list[HnKey] = []
        seen: set[int] = set()
        for i, entry in enumerate(data):
            if not isinstance(entry, dict):
                raise ConfigError(file, str(i), "expected a mapping {key_id, profile, private_key}")
            extra = set(entry) - {"key_id", "profile", "private_key"}
            if extra:
                raise ConfigError(file, f"{i}.{sorted(extra)[0]}", "unknown field")
            kid, prof, raw = entry.get("key_id"), entry.get("profile"), entry.get("private_key")
            if isinstance(kid, bool) or not isinstance(kid, int) or not 1 <= kid <= 255:
                raise ConfigError(file, f"{i}.key_id", "expected an integer 1..255")
            if kid in seen:
                raise ConfigError(file, f"{i}.key_id", f"duplicate key id {kid}")
            seen.add(kid)
            if prof not in _PROFILES or isinstance(prof, bool):
                raise ConfigError(file, f"{i}.profile", "expected 1 (Profile A) or 2 (Profile B)")
            if not isinstance(raw, str):
                raise ConfigError(file, f"{i}.private_key", "expected 64 hex digits")
            try:
                key = load_hn_private_key(prof, bytes.fromhex(raw))
            except (ValueError, CryptoError):
                raise ConfigError(
                    file, f"{i}.private_key", "expected 64 hex digits of a valid private key"
                ) from None
            keys.append(HnKey(kid, prof, key))
        return cls(keys)
