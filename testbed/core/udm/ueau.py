"""UDM of the built-in core: Nudm_UEAuthentication and Nudm_SDM (TS 29.503), sans I/O.

- :meth:`Udm.resolve_identity`: SUCI -> SUPI through the SIDF (TS 33.501 6.12.5).
- :meth:`Udm.generate_auth_data`: the 5G HE AV of TS 33.501 clause 6.1.3.2 step 1
  (UDM/ARPF), with a fresh SQN from the UDR (TS 33.102 Annex C).
- :meth:`Udm.resync`: TS 33.501 clause 6.1.3.3.2 / TS 33.102 clause 6.3.5
  (verify MAC-S of AUTS, then reset SQN_HE).
- :meth:`Udm.subscription`: the subscription data the AMF needs (Nudm_SDM):
  Allowed CAG list and CAG-only indication (TS 23.501 5.30.3), S-NSSAIs, DNNs.

Subscribers are looked up in the :class:`~testbed.core.udr.store.SubscriberStore`
by the TS 29.571 SUPI string (``Supi.to_string()``, "imsi-001010000000001").
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from testbed.core.udr.store import Subscriber, SubscriberStore
from testbed.crypto.aka import HeAv, generate_5g_he_av
from testbed.crypto.aka import resync as aka_resync
from testbed.crypto.identity import Supi
from testbed.crypto.milenage import Milenage
from testbed.crypto.suci import Suci
from testbed.errors import CryptoError

from .errors import UdmError
from .hn_keys import HomeNetworkKeys
from .sidf import deconceal_suci

__all__ = ["SN_NAME_RE", "SubscriptionData", "Udm", "check_sn_name"]

#: Serving network name for 3GPP access (TS 24.501 clause 9.12.1, TS 33.501 6.1.1.4).
SN_NAME_RE = re.compile(r"^5G:mnc[0-9]{3}\.mcc[0-9]{3}\.3gppnetwork\.org\Z")


def check_sn_name(sn_name: str) -> str:
    """``sn_name`` if it is "5G:mnc<3 digits>.mcc<3 digits>.3gppnetwork.org", else ValueError."""
    if not isinstance(sn_name, str) or not SN_NAME_RE.match(sn_name):
        raise ValueError(f"serving network name must be '5G:mncXXX.mccYYY.3gppnetwork.org', got {sn_name!r}")
    return sn_name


@dataclass(frozen=True)
class SubscriptionData:
    """Nudm_SDM data for the AMF (TS 29.503; TS 23.501 5.30.3 for the CAG fields)."""

    supi: str
    allowed_cag_ids: frozenset[int]
    cag_only: bool
    snssai: tuple[tuple[int, int | None], ...]
    dnn: tuple[str, ...]
    msisdn: str | None


class Udm:
    """UDM/ARPF/SIDF over a subscriber store and the home network SUCI keys. Thread-safe."""

    def __init__(
        self,
        store: SubscriberStore,
        keys: HomeNetworkKeys,
        *,
        allow_null_scheme: bool = True,
        mnc_len: int = 2,
        milenage_cache_size: int = 100_000,
    ):
        if mnc_len not in (2, 3):
            raise ValueError("mnc_len must be 2 or 3")
        self.store = store
        self.keys = keys
        self.allow_null_scheme = allow_null_scheme
        self.mnc_len = mnc_len
        self._mil: dict[str, tuple[bytes, bytes, Milenage]] = {}
        self._mil_max = max(1, milenage_cache_size)
        # Milenage reuses one AES context per instance: serialise its use.
        self._lock = threading.Lock()

    # -- identities --------------------------------------------------------------------

    def parse_supi(self, text: str) -> Supi:
        """A store SUPI string back to a :class:`Supi` (IMSI split with this UDM's MNC length)."""
        return Supi.parse(text, self.mnc_len)

    def _subscriber(self, supi: Supi) -> Subscriber:
        if not isinstance(supi, Supi):
            raise TypeError(f"expected a Supi, got {type(supi).__name__}")
        sub = self.store.get(supi.to_string())
        if sub is None:
            raise UdmError("unknown-subscriber")
        return sub

    def resolve_identity(self, identity: Suci | Supi) -> tuple[Supi, int]:
        """(SUPI, protection scheme) of a SUCI or SUPI of a known subscriber.

        The scheme is the SUCI's (0 null, 1 Profile A, 2 Profile B) or -1 for a
        SUPI given directly. Raises :class:`SidfError` if de-concealment fails
        and ``UdmError("unknown-subscriber")`` if no such subscriber exists.
        """
        if isinstance(identity, Suci):
            supi = deconceal_suci(identity, self.keys, self.allow_null_scheme)
            scheme = identity.scheme
        elif isinstance(identity, Supi):
            supi, scheme = identity, -1
        else:
            raise TypeError(f"expected a Suci or Supi, got {type(identity).__name__}")
        self._subscriber(supi)
        return supi, scheme

    # -- authentication (TS 33.501 6.1.3.2) --------------------------------------------------

    def _milenage(self, sub: Subscriber) -> Milenage:
        """Cached Milenage (the AES key schedule is done in its constructor); caller holds the lock."""
        hit = self._mil.get(sub.supi)
        if hit is not None and hit[0] == sub.k and hit[1] == sub.opc:
            return hit[2]
        mil = Milenage(sub.k, opc=sub.opc)
        if sub.supi not in self._mil and len(self._mil) >= self._mil_max:
            del self._mil[next(iter(self._mil))]
        self._mil[sub.supi] = (sub.k, sub.opc, mil)
        return mil

    def generate_auth_data(self, supi: Supi, sn_name: str, rand: bytes | None = None) -> HeAv:
        """5G HE AV (RAND, AUTN, XRES*, KAUSF) for ``supi`` (TS 33.501 6.1.3.2 step 1).

        Takes the next SQN from the store (persisted before use). ``rand`` fixes
        RAND (tests); by default 16 fresh random bytes. Raises
        ``UdmError("unknown-subscriber")``, ValueError for a bad ``sn_name``/``rand``.
        """
        check_sn_name(sn_name)
        if rand is not None and (not isinstance(rand, (bytes, bytearray)) or len(rand) != 16):
            raise ValueError("RAND must be 16 bytes")
        sub = self._subscriber(supi)
        try:
            sqn = self.store.next_sqn(sub.supi)
        except KeyError:
            raise UdmError("unknown-subscriber") from None
        except CryptoError as exc:
            raise UdmError("invalid-subscription", str(exc)) from None
        with self._lock:
            mil = self._milenage(sub)
            try:
                return generate_5g_he_av(mil, sqn, sub.amf, sn_name, rand)
            except CryptoError as exc:
                raise UdmError("invalid-subscription", str(exc)) from None

    def resync(self, supi: Supi, rand: bytes, auts: bytes) -> None:
        """Re-synchronisation (TS 33.501 6.1.3.3.2, TS 33.102 6.3.5).

        ``rand`` is the RAND of the challenge the UE answered with AUTS. Verifies
        MAC-S, then sets SQN_HE from SQN_MS so the next vector is fresh. Raises
        ``UdmError("resync-mac-failure")`` if AUTS (or RAND) is malformed or MAC-S
        does not verify; the stored SQN is then unchanged.
        """
        sub = self._subscriber(supi)
        if not isinstance(rand, (bytes, bytearray)) or len(rand) != 16:
            raise UdmError("resync-mac-failure", "RAND must be 16 bytes")
        if not isinstance(auts, (bytes, bytearray)) or len(auts) != 14:
            raise UdmError("resync-mac-failure", "AUTS must be 14 bytes")
        with self._lock:
            mil = self._milenage(sub)
            try:
                sqn_ms = aka_resync(mil, bytes(auts), bytes(rand))
            except CryptoError:
                raise UdmError("resync-mac-failure") from None
        try:
            self.store.apply_resync(sub.supi, sqn_ms)
        except KeyError:
            raise UdmError("unknown-subscriber") from None

    # -- subscription data (Nudm_SDM) ------------------------------------------------------

    def subscription(self, supi: Supi) -> SubscriptionData:
        """Subscription data of ``supi``; ``UdmError("unknown-subscriber")`` if unknown."""
        sub = self._subscriber(supi)
        return SubscriptionData(sub.supi, sub.allowed_cag_ids, sub.cag_only, sub.snssai, sub.dnn, sub.msisdn)
