"""Subscriber store of the built-in core (UDR, TS 23.501 clause 6.2.11), backed by SQLite.

One SQLite connection (WAL, ``synchronous=NORMAL``) guarded by a lock, plus an
in-memory cache of :class:`Subscriber` records keyed by SUPI string (TS 29.571
form, "imsi-001010000000001"). Every write goes through this object, so the
cache is updated or invalidated in the same critical section.

SQN management follows TS 33.102 Annex C.1.1/C.3.2 (non time-based SQN =
SEQ || IND, IND 5 bits): each :meth:`SubscriberStore.next_sqn` increments SEQ by
one (:class:`testbed.crypto.aka.HeSqnGenerator`) and rotates IND through the 32
array entries of the USIM, and the new value is written to the database before
it is returned, so a restarted core never reuses an SQN.

Hosting-party modules (HPM, TS 33.320 7.2.3) have their own table (``hpms``: IMSI, K, OPc,
AMF, SQN, the femto they belong to and whether the operator requires hosting-party
authentication). Their SQNs are used by the AAA server, a second process on the same file:
every HPM read and SQN update goes to the database inside one ``BEGIN IMMEDIATE``
transaction (no cache), SQLite's busy timeout (:data:`BUSY_TIMEOUT_S`) makes a writer wait
for the other process's lock, and WAL lets readers go on meanwhile.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed.crypto.aka import DEFAULT_IND_BITS, HeSqnGenerator
from testbed.crypto.identity import Supi
from testbed.crypto.milenage import opc as compute_opc
from testbed.errors import ConfigError, CryptoError

from .models import CAG_ID_MAX, SQN_MAX, SubscriberFile, SubscriberRange, femto_key

__all__ = ["BUSY_TIMEOUT_S", "IND_BITS", "FemtoRecord", "HpmRecord", "Subscriber", "SubscriberStore"]

IND_BITS = DEFAULT_IND_BITS  # TS 33.102 Annex C.3.2: 5 bits of IND
_IND_MASK = (1 << IND_BITS) - 1
BUSY_TIMEOUT_S = 10.0  # wait this long for another process's write lock (core + AAA share the file)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscribers (
    supi TEXT PRIMARY KEY,
    k BLOB NOT NULL,
    opc BLOB NOT NULL,
    amf BLOB NOT NULL,
    sqn INTEGER NOT NULL,
    allowed_cag TEXT NOT NULL,
    cag_only INTEGER NOT NULL,
    snssai TEXT NOT NULL,
    dnn TEXT NOT NULL,
    msisdn TEXT
);
CREATE TABLE IF NOT EXISTS femtos (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    authorised_cag TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hpms (
    imsi TEXT PRIMARY KEY,
    femto_key TEXT NOT NULL,
    femto_name TEXT NOT NULL,
    k BLOB NOT NULL,
    opc BLOB NOT NULL,
    amf BLOB NOT NULL,
    sqn INTEGER NOT NULL,
    required INTEGER NOT NULL
);
"""

_UPSERT = """
INSERT INTO subscribers (supi, k, opc, amf, sqn, allowed_cag, cag_only, snssai, dnn, msisdn)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(supi) DO UPDATE SET
    k = excluded.k, opc = excluded.opc, amf = excluded.amf,
    sqn = MAX(subscribers.sqn, excluded.sqn),
    allowed_cag = excluded.allowed_cag, cag_only = excluded.cag_only,
    snssai = excluded.snssai, dnn = excluded.dnn, msisdn = excluded.msisdn
"""
# The SQN is never lowered by reloading a subscriber file into an existing
# database: a restarted core must not reuse an SQN (TS 33.102 Annex C.1.1).

_COLUMNS = ["supi", "k", "opc", "amf", "sqn", "allowed_cag", "cag_only", "snssai", "dnn", "msisdn"]

_SELECT = "SELECT supi, k, opc, amf, sqn, allowed_cag, cag_only, snssai, dnn, msisdn FROM subscribers WHERE supi = ?"

_HPM_COLUMNS = ["imsi", "femto_key", "femto_name", "k", "opc", "amf", "sqn", "required"]
_HPM_SELECT = f"SELECT {', '.join(_HPM_COLUMNS)} FROM hpms"
_HPM_UPSERT = f"""
INSERT INTO hpms ({', '.join(_HPM_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(imsi) DO UPDATE SET
    femto_key = excluded.femto_key, femto_name = excluded.femto_name,
    k = excluded.k, opc = excluded.opc, amf = excluded.amf,
    sqn = MAX(hpms.sqn, excluded.sqn), required = excluded.required
"""


@dataclass(frozen=True)
class Subscriber:
    """One subscriber record; ``sqn`` is the last SQN used by the home network."""

    supi: str
    k: bytes = field(repr=False)
    opc: bytes = field(repr=False)
    amf: bytes
    sqn: int
    allowed_cag_ids: frozenset[int]
    cag_only: bool
    snssai: tuple[tuple[int, int | None], ...]
    dnn: tuple[str, ...]
    msisdn: str | None


@dataclass(frozen=True)
class HpmRecord:
    """A femto's hosting-party module (TS 33.320 7.2.3); ``sqn`` is the last SQN the AAA used."""

    imsi: str
    femto_key: str
    femto_name: str
    k: bytes = field(repr=False)
    opc: bytes = field(repr=False)
    amf: bytes
    sqn: int
    required: bool


def _next_sqn_value(last: int) -> int:
    """The SQN after ``last``: SEQ + 1 and IND on to the next array entry (TS 33.102 Annex C.3.2)."""
    gen = HeSqnGenerator(seq=last >> IND_BITS, ind_bits=IND_BITS)
    return gen.next(((last & _IND_MASK) + 1) & _IND_MASK)


def _resync_value(last: int, sqn_ms: int) -> int:
    """SQN_HE after re-synchronisation to ``sqn_ms`` (TS 33.102 6.3.5), keeping the last IND."""
    if isinstance(sqn_ms, bool) or not isinstance(sqn_ms, int) or not 0 <= sqn_ms <= SQN_MAX:
        raise CryptoError(f"SQN_MS must be a 48-bit integer, got {sqn_ms!r}")
    gen = HeSqnGenerator(seq=last >> IND_BITS, ind_bits=IND_BITS)
    gen.apply_resync(sqn_ms)
    return (gen.seq << IND_BITS) | (last & _IND_MASK)


@dataclass(frozen=True)
class FemtoRecord:
    """A femto (CAG cell) known to the operator and the CAG IDs it may advertise."""

    mcc: str
    mnc: str
    gnb_id: int
    gnb_id_bits: int
    name: str
    authorised_cag_ids: frozenset[int]


def _cag_json(ids: Iterable[int]) -> str:
    return json.dumps(sorted(set(ids)))


def _snssai_json(snssai: Iterable[Any]) -> str:
    return json.dumps([[s.sst, s.sd] for s in snssai])


def _check_cag_ids(cag_ids: Iterable[int]) -> frozenset[int]:
    if isinstance(cag_ids, (str, bytes)):
        raise ValueError("CAG IDs must be a collection of integers")
    out = []
    for c in cag_ids:
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= CAG_ID_MAX:
            raise ValueError(f"CAG ID must be an integer 0..{CAG_ID_MAX} (TS 23.003, 32 bits), got {c!r}")
        out.append(c)
    return frozenset(out)


def _check_femto_id(mcc: str, mnc: str, gnb_id: int, gnb_id_bits: int) -> None:
    if not (isinstance(mcc, str) and len(mcc) == 3 and mcc.isascii() and mcc.isdigit()):
        raise ValueError(f"MCC must be 3 digits, got {mcc!r}")
    if not (isinstance(mnc, str) and len(mnc) in (2, 3) and mnc.isascii() and mnc.isdigit()):
        raise ValueError(f"MNC must be 2 or 3 digits, got {mnc!r}")
    if isinstance(gnb_id_bits, bool) or not isinstance(gnb_id_bits, int) or not 22 <= gnb_id_bits <= 32:
        raise ValueError(f"gNB ID length must be 22..32 bits (TS 38.413 9.3.1.6), got {gnb_id_bits!r}")
    if isinstance(gnb_id, bool) or not isinstance(gnb_id, int) or not 0 <= gnb_id < (1 << gnb_id_bits):
        raise ValueError(f"gNB ID must be an integer that fits in {gnb_id_bits} bits, got {gnb_id!r}")


class SubscriberStore:
    """UDR: subscribers (authentication and subscription data) and femto CAG authorisations.

    ``path`` is an SQLite file (created if missing, unless ``create`` is false: a second
    process such as the AAA server must not create the core's store) or ":memory:". Thread-safe.
    """

    def __init__(self, path: str | Path, *, cache_size: int = 200_000, create: bool = True):
        self.path = str(path)
        self._lock = threading.Lock()
        self._cache: dict[str, Subscriber] = {}
        self._cache_size = max(1, cache_size)
        self._femtos: dict[str, FemtoRecord] | None = None
        try:
            if create or self.path == ":memory:":
                self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                           timeout=BUSY_TIMEOUT_S)
            else:
                uri = f"file:{Path(self.path).resolve().as_posix()}?mode=rw"
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None,
                                           timeout=BUSY_TIMEOUT_S)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            cols = [r[1] for r in self._db.execute("PRAGMA table_info(subscribers)")]
            if cols != _COLUMNS:
                raise sqlite3.DatabaseError(f"unexpected subscribers table columns {cols}")
            cols = [r[1] for r in self._db.execute("PRAGMA table_info(hpms)")]
            if cols != _HPM_COLUMNS:
                raise sqlite3.DatabaseError(f"unexpected hpms table columns {cols}")
            row = self._db.execute("SELECT version FROM meta").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta (version) VALUES (0)")
                self._version = 0
            else:
                self._version = int(row[0])
        except sqlite3.Error as exc:
            with contextlib.suppress(Exception):
                self._db.close()
            raise ConfigError(self.path, "", f"cannot open subscriber database: {exc}") from None

    # -- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._cache.clear()
            self._db.close()

    def __enter__(self) -> SubscriberStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> int:
        """Provisioning version: incremented by every load or provisioning change."""
        return self._version

    def _bump_version(self) -> None:
        # caller holds the lock and is inside a transaction or autocommit
        self._version += 1
        self._db.execute("UPDATE meta SET version = ?", (self._version,))

    # -- bulk load --------------------------------------------------------------

    @staticmethod
    def _range_rows(r: SubscriberRange, k: bytes, opc_b: bytes, amf: bytes) -> Iterator[tuple[Any, ...]]:
        cag = _cag_json(r.allowed_cag_ids)
        snssai = _snssai_json(r.snssai)
        dnn = json.dumps(list(r.dnn))
        cag_only = int(r.cag_only)
        for supi, msisdn in zip(r.supis(), r.msisdns(), strict=True):
            yield (supi, k, opc_b, amf, r.sqn, cag, cag_only, snssai, dnn, msisdn)

    def load(self, file: SubscriberFile) -> int:
        """Insert or update every subscriber and femto of ``file`` in one transaction.

        OPc is derived from OP (TS 35.206 clause 4.1) when OP is given; only OPc
        is stored. An existing subscriber keeps the higher of its stored SQN and
        the file's. Returns the number of subscribers written.
        """
        opc_memo: dict[tuple[str, str], bytes] = {}

        def opc_of(k_hex: str, op: str | None, opc_hex: str | None) -> bytes:
            if opc_hex is not None:
                return bytes.fromhex(opc_hex)
            assert op is not None
            key = (k_hex, op)
            if key not in opc_memo:
                opc_memo[key] = compute_opc(bytes.fromhex(k_hex), bytes.fromhex(op))
            return opc_memo[key]

        rows = [
            (
                s.supi,
                bytes.fromhex(s.k),
                opc_of(s.k, s.op, s.opc),
                bytes.fromhex(s.amf),
                s.sqn,
                _cag_json(s.allowed_cag_ids),
                int(s.cag_only),
                _snssai_json(s.snssai),
                json.dumps(list(s.dnn)),
                s.msisdn,
            )
            for s in file.subscribers
        ]
        femto_rows = [(f.key, f.name, _cag_json(f.authorised_cag_ids)) for f in file.femtos]
        hpm_rows = [
            (f.hpm.imsi, f.key, f.name, bytes.fromhex(f.hpm.k), opc_of(f.hpm.k, f.hpm.op, f.hpm.opc),
             bytes.fromhex(f.hpm.amf), f.hpm.sqn, int(f.hpm.required))
            for f in file.femtos if f.hpm is not None
        ]
        n = len(rows)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if rows:
                    self._db.executemany(_UPSERT, rows)
                for r in file.ranges:
                    k = bytes.fromhex(r.k)
                    self._db.executemany(
                        _UPSERT, self._range_rows(r, k, opc_of(r.k, r.op, r.opc), bytes.fromhex(r.amf))
                    )
                    n += r.count
                if femto_rows:
                    self._db.executemany(
                        "INSERT INTO femtos (key, name, authorised_cag) VALUES (?, ?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET name = excluded.name, authorised_cag = excluded.authorised_cag",
                        femto_rows,
                    )
                if hpm_rows:
                    self._db.executemany(_HPM_UPSERT, hpm_rows)
                self._bump_version()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._version = int(self._db.execute("SELECT version FROM meta").fetchone()[0])
                raise
            finally:
                self._cache.clear()
                self._femtos = None
        return n

    # -- reads -----------------------------------------------------------------

    @staticmethod
    def _from_row(row: tuple[Any, ...]) -> Subscriber:
        supi, k, opc_b, amf, sqn, cag, cag_only, snssai, dnn, msisdn = row
        return Subscriber(
            supi=supi,
            k=bytes(k),
            opc=bytes(opc_b),
            amf=bytes(amf),
            sqn=int(sqn),
            allowed_cag_ids=frozenset(json.loads(cag)),
            cag_only=bool(cag_only),
            snssai=tuple((int(s[0]), None if s[1] is None else int(s[1])) for s in json.loads(snssai)),
            dnn=tuple(json.loads(dnn)),
            msisdn=msisdn,
        )

    def _cache_put(self, sub: Subscriber) -> None:
        cache = self._cache
        if sub.supi not in cache and len(cache) >= self._cache_size:
            del cache[next(iter(cache))]  # evict the oldest entry (insertion order)
        cache[sub.supi] = sub

    def _get_locked(self, supi: str) -> Subscriber | None:
        sub = self._cache.get(supi)
        if sub is not None:
            return sub
        row = self._db.execute(_SELECT, (supi,)).fetchone()
        if row is None:
            return None
        sub = self._from_row(row)
        self._cache_put(sub)
        return sub

    def get(self, supi: str | Supi) -> Subscriber | None:
        """The subscriber with SUPI string ``supi`` ("imsi-..."/"nai-...", or a :class:`Supi`), or None."""
        if not isinstance(supi, str):
            if not isinstance(supi, Supi):
                return None
            supi = supi.to_string()
        sub = self._cache.get(supi)  # dict reads are atomic; writers replace whole entries
        if sub is not None:
            return sub
        with self._lock:
            return self._get_locked(supi)

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM subscribers").fetchone()[0])

    def supis(self) -> list[str]:
        """All SUPI strings, sorted (for tools and tests; not for large stores in a hot path)."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT supi FROM subscribers ORDER BY supi")]

    # -- SQN (TS 33.102 Annex C) ---------------------------------------------------

    def _require(self, supi: str | Supi) -> Subscriber:
        if isinstance(supi, Supi):
            supi = supi.to_string()
        sub = self._get_locked(supi) if isinstance(supi, str) else None
        if sub is None:
            raise KeyError(supi)
        return sub

    def _set_sqn_locked(self, sub: Subscriber, sqn: int) -> None:
        self._db.execute("UPDATE subscribers SET sqn = ? WHERE supi = ?", (sqn, sub.supi))
        self._cache_put(dataclasses.replace(sub, sqn=sqn))

    def next_sqn(self, supi: str | Supi) -> int:
        """The SQN for the next authentication vector of ``supi``, persisted before it is returned.

        SQN = SEQ || IND (TS 33.102 Annex C.3.2): SEQ is incremented by one
        (:meth:`HeSqnGenerator.next`) and IND moves to the next of the 32 array
        entries, so successive SQNs strictly increase and several vectors in
        flight are each accepted by the USIM. Raises KeyError for an unknown SUPI
        and CryptoError when the 48-bit SQN space is exhausted.
        """
        with self._lock:
            sub = self._require(supi)
            sqn = _next_sqn_value(sub.sqn)
            self._set_sqn_locked(sub, sqn)
            return sqn

    def apply_resync(self, supi: str | Supi, sqn_ms: int) -> None:
        """Re-synchronisation (TS 33.102 clause 6.3.5): SEQ_HE := SEQ_MS unless the next SQN is fresh.

        ``sqn_ms`` is the SQN_MS recovered from a verified AUTS. The IND of the
        last vector is kept, so the next :meth:`next_sqn` is (SEQ_MS + 1) || IND',
        which the USIM accepts (Annex C.2.2).
        """
        _resync_value(0, sqn_ms)  # CryptoError for a bad SQN_MS before anything is looked up
        with self._lock:
            sub = self._require(supi)
            sqn = _resync_value(sub.sqn, sqn_ms)
            if sqn != sub.sqn:
                self._set_sqn_locked(sub, sqn)

    # -- provisioning ------------------------------------------------------------------

    def set_allowed_cag(
        self, supi: str | Supi, cag_ids: Iterable[int], cag_only: bool | None = None
    ) -> Subscriber:
        """Replace the Allowed CAG list (and optionally "CAG-only") of ``supi`` (TS 23.501 5.30.3).

        Raises KeyError for an unknown SUPI and ValueError for a bad CAG ID.
        """
        ids = _check_cag_ids(cag_ids)
        if cag_only is not None and not isinstance(cag_only, bool):
            raise ValueError(f"cag_only must be a boolean, got {cag_only!r}")
        with self._lock:
            sub = self._require(supi)
            new = dataclasses.replace(
                sub, allowed_cag_ids=ids, cag_only=sub.cag_only if cag_only is None else cag_only
            )
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "UPDATE subscribers SET allowed_cag = ?, cag_only = ? WHERE supi = ?",
                    (_cag_json(ids), int(new.cag_only), sub.supi),
                )
                self._bump_version()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._cache.pop(sub.supi, None)
                self._version = int(self._db.execute("SELECT version FROM meta").fetchone()[0])
                raise
            self._cache_put(new)
            return new

    def _load_femtos_locked(self) -> dict[str, FemtoRecord]:
        if self._femtos is None:
            femtos: dict[str, FemtoRecord] = {}
            for key, name, cag in self._db.execute("SELECT key, name, authorised_cag FROM femtos"):
                plmn, _, rest = key.partition(":")
                gid, _, bits = rest.partition("/")
                femtos[key] = FemtoRecord(
                    plmn[:3], plmn[3:], int(gid), int(bits), name, frozenset(json.loads(cag))
                )
            self._femtos = femtos
        return self._femtos

    def get_femto(self, mcc: str, mnc: str, gnb_id: int, gnb_id_bits: int = 32) -> FemtoRecord | None:
        """The femto with this Global gNB ID, or None (ValueError for a malformed ID)."""
        _check_femto_id(mcc, mnc, gnb_id, gnb_id_bits)
        with self._lock:
            return self._load_femtos_locked().get(femto_key(mcc, mnc, gnb_id, gnb_id_bits))

    def femtos(self) -> list[FemtoRecord]:
        with self._lock:
            return sorted(
                self._load_femtos_locked().values(), key=lambda f: (f.mcc, f.mnc, f.gnb_id_bits, f.gnb_id)
            )

    def femto_authorised_cags(
        self, mcc: str, mnc: str, gnb_id: int, gnb_id_bits: int = 32
    ) -> frozenset[int] | None:
        """CAG IDs the femto with this Global gNB ID may advertise; None if the femto is unknown.

        The AMF refuses NG Setup of a femto that advertises a CAG ID outside this
        set (TS 33.545; TS 23.501 5.30.3).
        """
        f = self.get_femto(mcc, mnc, gnb_id, gnb_id_bits)
        return None if f is None else f.authorised_cag_ids

    def set_femto_cags(
        self, mcc: str, mnc: str, gnb_id: int, gnb_id_bits: int, cag_ids: Iterable[int], name: str = ""
    ) -> FemtoRecord:
        """Create or update a femto's authorised CAG IDs (an empty ``name`` keeps the stored one)."""
        _check_femto_id(mcc, mnc, gnb_id, gnb_id_bits)
        ids = _check_cag_ids(cag_ids)
        if not isinstance(name, str) or len(name) > 64:
            raise ValueError("femto name must be a string of at most 64 characters")
        key = femto_key(mcc, mnc, gnb_id, gnb_id_bits)
        with self._lock:
            femtos = self._load_femtos_locked()
            old = femtos.get(key)
            rec = FemtoRecord(mcc, mnc, gnb_id, gnb_id_bits, name or (old.name if old else ""), ids)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO femtos (key, name, authorised_cag) VALUES (?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET name = excluded.name, authorised_cag = excluded.authorised_cag",
                    (key, rec.name, _cag_json(ids)),
                )
                self._bump_version()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._femtos = None
                self._version = int(self._db.execute("SELECT version FROM meta").fetchone()[0])
                raise
            femtos[key] = rec
            return rec

    # -- hosting-party modules (TS 33.320 7.2.3) ------------------------------------------------
    # No cache: the AAA server (another process) updates HPM SQNs in the same file.

    @staticmethod
    def _hpm_from_row(row: tuple[Any, ...]) -> HpmRecord:
        imsi, fkey, fname, k, opc_b, amf, sqn, required = row
        return HpmRecord(imsi, fkey, fname, bytes(k), bytes(opc_b), bytes(amf), int(sqn), bool(required))

    def get_hpm(self, imsi: str) -> HpmRecord | None:
        """The HPM with this IMSI (digits), or None."""
        if not isinstance(imsi, str):
            return None
        with self._lock:
            row = self._db.execute(_HPM_SELECT + " WHERE imsi = ?", (imsi,)).fetchone()
        return None if row is None else self._hpm_from_row(row)

    def hpms(self) -> list[HpmRecord]:
        """All HPMs, by IMSI."""
        with self._lock:
            return [self._hpm_from_row(r) for r in self._db.execute(_HPM_SELECT + " ORDER BY imsi")]

    def hpm_for_femto(self, name: str) -> HpmRecord | None:
        """The HPM of the femto called ``name``, or None."""
        with self._lock:
            row = self._db.execute(_HPM_SELECT + " WHERE femto_name = ?", (name,)).fetchone()
        return None if row is None else self._hpm_from_row(row)

    @contextlib.contextmanager
    def _hpm_write(self, bump_version: bool) -> Iterator[None]:
        """One IMMEDIATE write transaction (the caller holds the lock); rolled back on any error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            if bump_version:
                self._bump_version()
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            if bump_version:
                self._version = int(self._db.execute("SELECT version FROM meta").fetchone()[0])
            raise

    def _update_hpm_sqn(self, imsi: str, new_sqn: Callable[[int], int]) -> int:
        """Read-modify-write of an HPM's SQN in one IMMEDIATE transaction (safe across processes)."""
        with self._lock, self._hpm_write(bump_version=False):
            row = self._db.execute("SELECT sqn FROM hpms WHERE imsi = ?", (imsi,)).fetchone()
            if row is None:
                raise KeyError(imsi)
            sqn = new_sqn(int(row[0]))
            if sqn != int(row[0]):
                self._db.execute("UPDATE hpms SET sqn = ? WHERE imsi = ?", (sqn, imsi))
            return sqn

    def next_hpm_sqn(self, imsi: str) -> int:
        """The SQN for the next AKA vector of HPM ``imsi``, persisted before it is returned
        (as :meth:`next_sqn`). KeyError for an unknown IMSI, CryptoError when SQN is exhausted."""
        return self._update_hpm_sqn(imsi, _next_sqn_value)

    def apply_hpm_resync(self, imsi: str, sqn_ms: int) -> int:
        """Re-synchronisation of an HPM (TS 33.102 6.3.5, as :meth:`apply_resync`); the new SQN_HE."""
        _resync_value(0, sqn_ms)
        return self._update_hpm_sqn(imsi, lambda last: _resync_value(last, sqn_ms))

    def set_hpm_required(self, imsi: str, required: bool) -> HpmRecord:
        """Change whether hosting-party authentication is required for the HPM's femto."""
        if not isinstance(required, bool):
            raise ValueError(f"required must be a boolean, got {required!r}")
        with self._lock:
            with self._hpm_write(bump_version=True):
                cur = self._db.execute("UPDATE hpms SET required = ? WHERE imsi = ?", (int(required), imsi))
                if cur.rowcount != 1:
                    raise KeyError(imsi)
            row = self._db.execute(_HPM_SELECT + " WHERE imsi = ?", (imsi,)).fetchone()
        return self._hpm_from_row(row)
