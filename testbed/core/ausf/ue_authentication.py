"""AUSF of the built-in core: Nausf_UEAuthentication for 5G-AKA (TS 33.501 6.1.3.2), sans I/O.

Flow (SEAF = the AMF)::

    ch = ausf.start(suci, sn_name)      # steps 1-5: UDM HE AV, HXRES*, KSEAF kept here
    # AMF sends ch.rand/ch.autn to the UE, compares HRES*(RES*) with ch.hxres_star (step 10)
    r = ausf.confirm(ch.ctx_id, res_star)   # step 11-12: RES* == XRES*; SUPI and KSEAF only now
    # on synch failure (5GMM cause #21 with AUTS, TS 33.501 6.1.3.3.2):
    ch = ausf.resync(ch.ctx_id, auts, sn_name)

The challenge never carries the SUPI: the SEAF learns it only in the
confirmation response (step 12). A context is usable once, expires after
``context_ttl`` seconds, and the number of live contexts is bounded.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from testbed.core.udm import Udm, UdmError, check_sn_name
from testbed.crypto.aka import ausf_se_av, ausf_verify
from testbed.crypto.identity import Supi
from testbed.crypto.suci import Suci

__all__ = ["AuthChallenge", "AuthResult", "Ausf"]


@dataclass(frozen=True)
class AuthChallenge:
    """5G SE AV for the SEAF (step 4) plus the context id and the SUCI protection scheme used (-1: SUPI)."""

    ctx_id: str
    rand: bytes
    autn: bytes
    hxres_star: bytes
    scheme: int


@dataclass(frozen=True)
class AuthResult:
    """Outcome of the AUSF's RES* check (step 12); SUPI and KSEAF only on success."""

    success: bool
    supi: Supi | None
    kseaf: bytes | None = field(repr=False)


@dataclass
class _Context:
    supi: Supi
    sn_name: str
    rand: bytes
    xres_star: bytes
    kseaf: bytes
    scheme: int
    expires: float


class Ausf:
    """Nausf_UEAuthentication (5G-AKA) over a :class:`~testbed.core.udm.Udm`. Thread-safe."""

    def __init__(
        self,
        udm: Udm,
        *,
        context_ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        max_contexts: int = 100_000,
    ):
        if context_ttl <= 0:
            raise ValueError("context_ttl must be positive")
        self.udm = udm
        self.context_ttl = float(context_ttl)
        self.clock = clock
        self.max_contexts = max(1, max_contexts)
        self._ctx: dict[str, _Context] = {}  # insertion order == expiry order (constant TTL)
        self._lock = threading.Lock()

    @property
    def context_count(self) -> int:
        """Number of stored contexts (expired ones are purged on the next start/confirm/resync)."""
        return len(self._ctx)

    def _purge_locked(self, now: float) -> None:
        ctx = self._ctx
        while ctx:
            first = next(iter(ctx))
            if ctx[first].expires > now:
                break
            del ctx[first]

    def _new_context(self, supi: Supi, sn_name: str, scheme: int, rand: bytes | None) -> AuthChallenge:
        he = self.udm.generate_auth_data(supi, sn_name, rand)
        se, kseaf = ausf_se_av(he, sn_name)
        ctx_id = secrets.token_hex(16)
        with self._lock:
            now = self.clock()
            self._purge_locked(now)
            while len(self._ctx) >= self.max_contexts:
                del self._ctx[next(iter(self._ctx))]  # drop the oldest
            self._ctx[ctx_id] = _Context(
                supi, sn_name, he.rand, he.xres_star, kseaf, scheme, now + self.context_ttl
            )
        return AuthChallenge(ctx_id, se.rand, se.autn, se.hxres_star, scheme)

    def start(self, identity: Suci | Supi, sn_name: str, *, rand: bytes | None = None) -> AuthChallenge:
        """Steps 1-5 of TS 33.501 6.1.3.2: resolve the identity, get a HE AV, keep XRES* and KSEAF.

        Raises ValueError for a malformed ``sn_name``, :class:`SidfError` /
        :class:`UdmError` when the identity cannot be resolved. ``rand`` fixes
        RAND (tests only).
        """
        check_sn_name(sn_name)
        supi, scheme = self.udm.resolve_identity(identity)
        return self._new_context(supi, sn_name, scheme, rand)

    def _take(self, ctx_id: str) -> _Context | None:
        if not isinstance(ctx_id, str):
            return None
        with self._lock:
            now = self.clock()
            self._purge_locked(now)
            ctx = self._ctx.pop(ctx_id, None)
        if ctx is None or ctx.expires <= now:
            return None
        return ctx

    def confirm(self, ctx_id: str, res_star: bytes) -> AuthResult:
        """Steps 11-12: RES* == XRES* (constant time). A context is consumed by the first call."""
        ctx = self._take(ctx_id)
        if ctx is None or not isinstance(res_star, (bytes, bytearray)):
            return AuthResult(False, None, None)
        if not ausf_verify(bytes(res_star), ctx.xres_star):
            return AuthResult(False, None, None)
        return AuthResult(True, ctx.supi, ctx.kseaf)

    def resync(self, ctx_id: str, auts: bytes, sn_name: str) -> AuthChallenge:
        """Synchronisation failure (TS 33.501 6.1.3.3.2): UDM resync with the stored RAND, new vector.

        The old context is consumed; the returned challenge has a new ``ctx_id``.
        Raises ``UdmError("unknown-context")`` for an unknown/expired context and
        ``UdmError("resync-mac-failure")`` if AUTS does not verify.
        """
        check_sn_name(sn_name)
        ctx = self._take(ctx_id)
        if ctx is None:
            raise UdmError("unknown-context")
        self.udm.resync(ctx.supi, ctx.rand, auts)
        return self._new_context(ctx.supi, sn_name, ctx.scheme, None)

    def forget(self, ctx_id: str) -> None:
        """Drop a context (e.g. the UE went away)."""
        with self._lock:
            self._ctx.pop(ctx_id, None)
