"""Small fakes of the UDM, AUSF and subscriber store with the contract signatures the AMF uses.

They run real 5G-AKA (testbed.crypto.aka) and real SUCI de-concealment (testbed.crypto.suci), so
the scripted UE can authenticate against them; they raise errors carrying ``cause`` like the real
``UdmError`` / ``SidfError``. Counters record calls for assertions.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

from testbed.crypto import aka, suci
from testbed.crypto.identity import Supi
from testbed.crypto.milenage import Milenage
from testbed.errors import CryptoError

AMF_FIELD = b"\x80\x00"  # AMF separation bit set (TS 33.501 6.1.3.2)


class UdmError(Exception):
    def __init__(self, cause: str, detail: str = "") -> None:
        self.cause = cause
        super().__init__(f"{cause}: {detail}" if detail else cause)


class SidfError(UdmError):
    pass


@dataclass(frozen=True)
class SubscriptionData:
    supi: str
    allowed_cag_ids: frozenset[int]
    cag_only: bool
    snssai: tuple[tuple[int, int | None], ...]
    dnn: tuple[str, ...]
    msisdn: str | None


@dataclass(frozen=True)
class AuthChallenge:
    ctx_id: str
    rand: bytes
    autn: bytes
    hxres_star: bytes
    scheme: int


@dataclass(frozen=True)
class AuthResult:
    success: bool
    supi: Supi | None
    kseaf: bytes | None


@dataclass
class FakeSubscriber:
    supi: Supi
    k: bytes
    opc: bytes
    allowed_cag_ids: frozenset[int] = frozenset()
    cag_only: bool = False
    snssai: tuple[tuple[int, int | None], ...] = ((1, None),)
    dnn: tuple[str, ...] = ("internet",)
    msisdn: str | None = None
    sqn: aka.HeSqnGenerator = field(default_factory=aka.HeSqnGenerator)

    @functools.cached_property
    def milenage(self) -> Milenage:
        return Milenage(self.k, opc=self.opc)


class FakeUdm:
    """UDM + SIDF: ``subscription(supi)`` and the SUCI/SUPI resolution the fake AUSF uses."""

    def __init__(self, hn_keys: dict[int, tuple[int, object]] | None = None, *, allow_null_scheme: bool = True):
        self.subscribers: dict[str, FakeSubscriber] = {}
        self.hn_keys = hn_keys or {}
        self.allow_null_scheme = allow_null_scheme
        self.subscription_calls = 0

    def add(self, sub: FakeSubscriber) -> FakeSubscriber:
        self.subscribers[sub.supi.to_string()] = sub
        return sub

    def resolve(self, identity: suci.Suci | Supi) -> tuple[Supi, int]:
        if isinstance(identity, Supi):
            return identity, -1
        s = identity
        if s.scheme == suci.NULL_SCHEME and not self.allow_null_scheme:
            raise SidfError("null-scheme-not-allowed")
        if s.scheme not in (suci.NULL_SCHEME, suci.PROFILE_A, suci.PROFILE_B):
            raise SidfError("unsupported-scheme")
        if s.scheme != suci.NULL_SCHEME:
            if s.key_id not in self.hn_keys:
                raise SidfError("unknown-key-id")
            if self.hn_keys[s.key_id][0] != s.scheme:
                raise SidfError("scheme-mismatch")
        try:
            keys = {kid: priv for kid, (_, priv) in self.hn_keys.items()}
            return suci.deconceal(s, keys), s.scheme  # type: ignore[arg-type]
        except CryptoError as exc:
            raise SidfError("mac-failure", str(exc)) from None

    def subscriber(self, supi: Supi) -> FakeSubscriber:
        sub = self.subscribers.get(supi.to_string())
        if sub is None:
            raise UdmError("unknown-subscriber")
        return sub

    def subscription(self, supi: Supi) -> SubscriptionData:
        self.subscription_calls += 1
        s = self.subscriber(supi)
        return SubscriptionData(s.supi.to_string(), frozenset(s.allowed_cag_ids), s.cag_only, s.snssai, s.dnn,
                                s.msisdn)


class FakeAusf:
    """AUSF with real 5G-AKA (TS 33.501 6.1.3.2) against :class:`FakeUdm`."""

    def __init__(self, udm: FakeUdm):
        self.udm = udm
        self.contexts: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self.calls: list[str] = []

    def _challenge(self, supi: Supi, sn_name: str, scheme: int) -> AuthChallenge:
        sub = self.udm.subscriber(supi)
        he = aka.generate_5g_he_av(sub.milenage, sub.sqn.next(), AMF_FIELD, sn_name)
        se, kseaf = aka.ausf_se_av(he, sn_name)
        cid = f"ctx-{next(self._ids)}"
        self.contexts[cid] = {"supi": supi, "xres": he.xres_star, "kseaf": kseaf, "rand": he.rand,
                              "scheme": scheme}
        return AuthChallenge(cid, se.rand, se.autn, se.hxres_star, scheme)

    def start(self, identity: suci.Suci | Supi, sn_name: str) -> AuthChallenge:
        self.calls.append("start")
        supi, scheme = self.udm.resolve(identity)
        return self._challenge(supi, sn_name, scheme)

    def confirm(self, ctx_id: str, res_star: bytes) -> AuthResult:
        self.calls.append("confirm")
        c = self.contexts.pop(ctx_id, None)
        if c is None or not aka.ausf_verify(res_star, c["xres"]):
            return AuthResult(False, None, None)
        return AuthResult(True, c["supi"], c["kseaf"])

    def resync(self, ctx_id: str, auts: bytes, sn_name: str) -> AuthChallenge:
        self.calls.append("resync")
        c = self.contexts.pop(ctx_id, None)
        if c is None:
            raise UdmError("unknown-context")
        sub = self.udm.subscriber(c["supi"])
        try:
            sqn_ms = aka.resync(sub.milenage, auts, c["rand"])
        except CryptoError:
            raise UdmError("resync-mac-failure") from None
        sub.sqn.apply_resync(sqn_ms)
        return self._challenge(c["supi"], sn_name, c["scheme"])

    def forget(self, ctx_id: str) -> None:
        self.contexts.pop(ctx_id, None)


class FakeStore:
    """``femto_authorised_cags`` and ``version`` of the subscriber store."""

    def __init__(self) -> None:
        self.femtos: dict[tuple[str, str, int, int], frozenset[int]] = {}
        self.version = 1

    def add_femto(self, mcc: str, mnc: str, gnb_id: int, gnb_id_bits: int, cag_ids: set[int] | frozenset[int]) -> None:
        self.femtos[(mcc, mnc, gnb_id, gnb_id_bits)] = frozenset(cag_ids)
        self.version += 1

    def femto_authorised_cags(self, mcc: str, mnc: str, gnb_id: int, gnb_id_bits: int) -> frozenset[int] | None:
        return self.femtos.get((mcc, mnc, gnb_id, gnb_id_bits))


@dataclass
class FakeSmf:
    """Records the AMF's SMF requests; answers are given explicitly by the tests."""

    requests: list[object] = field(default_factory=list)
