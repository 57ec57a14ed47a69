"""AKA vectors for hosting-party modules from the core's store (TS 33.320 7.2.3; TS 33.102 6.3).

:class:`HpmVectors` is the :class:`~testbed.aaa.eap_aka.VectorSource` of the AAA server: the
HPM records of the UDR (:meth:`testbed.core.udr.SubscriberStore.get_hpm`), a fresh SQN per
vector persisted in the store before the vector is used
(:meth:`~testbed.core.udr.SubscriberStore.next_hpm_sqn`), MILENAGE UMTS vectors
(:func:`testbed.crypto.aka.generate_av`) and re-synchronisation from AUTS
(:func:`testbed.crypto.aka.resync`, then
:meth:`~testbed.core.udr.SubscriberStore.apply_hpm_resync`).
"""

from __future__ import annotations

from testbed.core.udr.store import SubscriberStore
from testbed.crypto.aka import Av, generate_av
from testbed.crypto.aka import resync as aka_resync
from testbed.crypto.milenage import Milenage
from testbed.errors import CryptoError

__all__ = ["HpmVectors"]


class HpmVectors:
    """UMTS AVs and re-synchronisation for the HPMs of a :class:`SubscriberStore`."""

    def __init__(self, store: SubscriberStore):
        self.store = store

    def known(self, imsi: str) -> bool:
        return self.store.get_hpm(imsi) is not None

    def femto_of(self, imsi: str) -> str | None:
        rec = self.store.get_hpm(imsi)
        return None if rec is None else rec.femto_name

    def vector(self, imsi: str, rand: bytes | None = None) -> Av | None:
        """A UMTS AV (RAND, XRES, CK, IK, AUTN) for HPM ``imsi`` with the next SQN, or None if unknown."""
        rec = self.store.get_hpm(imsi)
        if rec is None:
            return None
        try:
            sqn = self.store.next_hpm_sqn(imsi)
        except KeyError:
            return None
        return generate_av(Milenage(rec.k, opc=rec.opc), sqn, rec.amf, rand)

    def resync(self, imsi: str, rand: bytes, auts: bytes) -> bool:
        """Verify MAC-S of AUTS and set SQN_HE from SQN_MS (TS 33.102 6.3.5); False if it fails."""
        rec = self.store.get_hpm(imsi)
        if rec is None or len(rand) != 16 or len(auts) != 14:
            return False
        try:
            sqn_ms = aka_resync(Milenage(rec.k, opc=rec.opc), bytes(auts), bytes(rand))
        except CryptoError:
            return False
        try:
            self.store.apply_hpm_resync(imsi, sqn_ms)
        except KeyError:
            return False
        return True
