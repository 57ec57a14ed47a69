"""Software USIM (TS 31.102) with the UE side of 5G-AKA (TS 33.501 6.1.3.2) and SUCI concealment
(TS 33.501 6.12.2, Annex C).

A :class:`Usim` holds what a real USIM holds for 5GS: the SUPI, K and OPc (MILENAGE, TS 35.206),
the SQN array of TS 33.102 Annex C.2 (freshness check, re-synchronisation with AUTS), the home
network public key with its identifier and protection scheme (null, Profile A, Profile B), the
routing indicator, and the CAG data of TS 31.102 4.4.11.x (allowed CAG list, CAG-only indication),
which the NAS layer updates from the network's CAG information list (TS 24.501 5.5.1.2.4).

:func:`load_usims` builds :class:`UsimConfig` objects from a run directory: the per-run
``<run>/core/subscribers.yaml`` (subscribers and ranges sharing K/OPc, written by
:func:`testbed.core.provision.materialise`) and ``<run>/core/hn-public.json`` (the home network
public keys, :meth:`testbed.core.udm.HomeNetworkKeys.save`).

Nothing here prints or logs key material: ``repr`` of a config hides K and OPc.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from testbed.crypto.aka import AkaSuccess, MacFailure, SeparationBitFailure, SyncFailure, UsimAka
from testbed.crypto.identity import Supi
from testbed.crypto.milenage import Milenage
from testbed.crypto.milenage import opc as compute_opc
from testbed.crypto.suci import NULL_SCHEME, PROFILE_A, PROFILE_B, Suci, conceal
from testbed.errors import ConfigError

__all__ = ["UsimConfig", "Usim", "load_usims"]

_SCHEMES = (NULL_SCHEME, PROFILE_A, PROFILE_B)


@dataclass
class UsimConfig:
    """Provisioning of one USIM. ``supi`` is the TS 29.571 string ("imsi-001010000000001");
    ``scheme`` 0 null, 1 Profile A (X25519), 2 Profile B (secp256r1); ``hn_public_key`` /
    ``hn_key_id`` the home network public key and its identifier (unused for the null scheme);
    ``routing_indicator`` 1-4 digits (TS 23.003 2.2B); ``imeisv`` 16 digits (the ME's)."""

    supi: str
    k: bytes = field(repr=False)
    opc: bytes = field(repr=False)
    scheme: int = PROFILE_A
    hn_public_key: bytes | None = None
    hn_key_id: int = 0
    routing_indicator: str = "0000"
    allowed_cag_ids: frozenset[int] = frozenset()
    cag_only: bool = False
    mnc_len: int = 2
    imeisv: str = "3534900698733191"

    def __post_init__(self) -> None:
        if self.scheme not in _SCHEMES:
            raise ValueError(f"protection scheme must be 0, 1 or 2, got {self.scheme}")
        if self.scheme != NULL_SCHEME and self.hn_public_key is None:
            raise ValueError("Profile A/B needs the home network public key")
        if len(self.k) != 16 or len(self.opc) != 16:
            raise ValueError("K and OPc are 16 bytes")
        if len(self.imeisv) != 16 or not self.imeisv.isdigit():
            raise ValueError("IMEISV is 16 digits")
        self.allowed_cag_ids = frozenset(self.allowed_cag_ids)


class Usim:
    """One USIM (TS 31.102) and the ME's use of it for 5G-AKA and SUCI (TS 33.501 6.1.3.2, 6.12.2).

    ``allowed_cag_ids`` and ``cag_only`` are the USIM's CAG information for the HPLMN; the NAS
    layer replaces them from the network's CAG information list (TS 24.501 5.5.1.2.4, 5.4.4.3).
    The SQN array persists for the life of the object, so a replayed AUTN gives a
    :class:`SyncFailure` (TS 33.102 Annex C.2.2).
    """

    __slots__ = ("config", "supi", "allowed_cag_ids", "cag_only", "_aka", "_routing")

    def __init__(self, config: UsimConfig) -> None:
        self.config = config
        self.supi: Supi = Supi.parse(config.supi, config.mnc_len) if "-" in config.supi \
            else Supi.from_imsi(config.supi, config.mnc_len)
        self.allowed_cag_ids: frozenset[int] = frozenset(config.allowed_cag_ids)
        self.cag_only: bool = config.cag_only
        self._aka: UsimAka | None = None  # MILENAGE key schedule on first use (cheap for idle UEs)

    def __repr__(self) -> str:
        return f"Usim(scheme={self.config.scheme}, key_id={self.config.hn_key_id})"

    @property
    def aka(self) -> UsimAka:
        """The USIM's AKA state (MILENAGE + SQN array)."""
        if self._aka is None:
            self._aka = UsimAka(Milenage(self.config.k, opc=self.config.opc))
        return self._aka

    # -- identities ------------------------------------------------------------------------

    def suci(self, scheme: int | None = None) -> Suci:
        """A SUCI of the SUPI (TS 33.501 6.12.2): a fresh ephemeral key per call for Profile A/B.

        ``scheme`` overrides the provisioned protection scheme (``0`` forces the null scheme, as
        the ``null_scheme`` misbehaviour knob does)."""
        c = self.config
        s = c.scheme if scheme is None else scheme
        if s == NULL_SCHEME:
            return conceal(self.supi, NULL_SCHEME, None, 0, c.routing_indicator)
        return conceal(self.supi, s, c.hn_public_key, c.hn_key_id, c.routing_indicator)

    @property
    def imeisv(self) -> str:
        return self.config.imeisv

    @property
    def imei(self) -> str:
        """The 15-digit IMEI of the ME: TAC + SNR of the IMEISV and the Luhn check digit (TS 23.003 6.2.1)."""
        body = self.config.imeisv[:14]
        total = 0
        for i, ch in enumerate(reversed(body)):
            d = int(ch) * (2 if i % 2 == 0 else 1)
            total += d - 9 if d > 9 else d
        return body + str((10 - total % 10) % 10)

    # -- authentication --------------------------------------------------------------------

    def authenticate(self, rand: bytes, autn: bytes,
                     sn_name: str | bytes) -> AkaSuccess | MacFailure | SyncFailure | SeparationBitFailure:
        """USIM check of (RAND, AUTN) and the ME's 5G-AKA derivations (TS 33.501 6.1.3.2 step 7):
        MAC -> :class:`MacFailure` (#20), SQN freshness -> :class:`SyncFailure` with AUTS (#21),
        AMF separation bit -> :class:`SeparationBitFailure` (#26), else RES*, KAUSF, KSEAF."""
        return self.aka.authenticate_5g(rand, autn, sn_name)

    def auts(self, rand: bytes) -> bytes:
        """AUTS for ``rand`` with the current SQN_MS (TS 33.102 6.3.3; for forced re-synchronisation)."""
        return self.aka._auts(rand)

    @property
    def sqn_ms(self) -> int:
        """The highest SQN accepted so far (TS 33.102 Annex C)."""
        return self.aka.sqn_array.sqn_ms

    def update_cag(self, allowed: Iterable[int], cag_only: bool) -> None:
        """Replace the CAG information of the HPLMN (TS 24.501 5.5.1.2.4)."""
        self.allowed_cag_ids = frozenset(allowed)
        self.cag_only = bool(cag_only)


# ------------------------------------------------------------------------------------------------
# run directory


def _public_key(run_core: Path, scheme: int) -> tuple[bytes | None, int]:
    if scheme == NULL_SCHEME:
        return None, 0
    path = run_core / "hn-public.json"
    try:
        entries = json.loads(path.read_text())
    except OSError as e:
        raise ConfigError(str(path), "", f"cannot read file: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(str(path), "", f"invalid JSON ({e})") from None
    if not isinstance(entries, list):
        raise ConfigError(str(path), "", "expected a list of {key_id, profile, public_key}")
    for i, e in enumerate(entries):
        if isinstance(e, dict) and e.get("profile") == scheme:
            try:
                return bytes.fromhex(e["public_key"]), int(e["key_id"])
            except (KeyError, TypeError, ValueError):
                raise ConfigError(str(path), str(i), "expected key_id and a hex public_key") from None
    raise ConfigError(str(path), "", f"no home network public key for protection scheme {scheme}")


def load_usims(run_dir: Path | str, scheme: int = PROFILE_A, supis: Iterable[str] | None = None) -> list[UsimConfig]:
    """USIM configurations for the subscribers of a run (``<run>/core/subscribers.yaml`` with its
    ranges, and the ``scheme`` key of ``<run>/core/hn-public.json``).

    ``supis`` selects subscribers (SUPI strings, in that order; a SUPI that is not provisioned
    raises :class:`ConfigError`); by default every subscriber, then every range member, in file
    order. Subscribers given with OP get OPc derived (TS 35.206 4.1).
    """
    from testbed.core.provision import SUBSCRIBERS_FILE
    from testbed.core.udr.models import load_subscriber_file

    if scheme not in _SCHEMES:
        raise ValueError(f"protection scheme must be 0, 1 or 2, got {scheme}")
    core = Path(run_dir) / "core"
    data = load_subscriber_file(core / SUBSCRIBERS_FILE)
    pub, kid = _public_key(core, scheme)
    memo: dict[tuple[str, str], bytes] = {}

    def opc_of(k: str, op: str | None, opc: str | None) -> bytes:
        if opc is not None:
            return bytes.fromhex(opc)
        assert op is not None
        if (k, op) not in memo:
            memo[(k, op)] = compute_opc(bytes.fromhex(k), bytes.fromhex(op))
        return memo[(k, op)]

    def make(supi: str, entry) -> UsimConfig:  # noqa: ANN001 - SubscriberConfig | SubscriberRange
        return UsimConfig(supi=supi, k=bytes.fromhex(entry.k), opc=opc_of(entry.k, entry.op, entry.opc),
                          scheme=scheme, hn_public_key=pub, hn_key_id=kid,
                          allowed_cag_ids=frozenset(entry.allowed_cag_ids), cag_only=entry.cag_only,
                          mnc_len=entry.mnc_len)

    if supis is None:
        out = [make(s.supi, s) for s in data.subscribers]
        for r in data.ranges:
            out += [make(s, r) for s in r.supis()]
        return out
    singles = {s.supi: s for s in data.subscribers}
    spans = [(r.imsi_digits[0], r.imsi_digits[0] + r.count - 1, r.imsi_digits[1], r) for r in data.ranges]
    out = []
    for supi in supis:
        entry = singles.get(supi)
        if entry is None and supi.startswith("imsi-") and supi[5:].isdigit():
            n, width = int(supi[5:]), len(supi) - 5
            entry = next((r for lo, hi, w, r in spans if w == width and lo <= n <= hi), None)
        if entry is None:
            raise ConfigError(str(core / SUBSCRIBERS_FILE), "", f"subscriber {supi} is not provisioned")
        out.append(make(supi, entry))
    return out
