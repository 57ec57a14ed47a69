"""A software UICC for the hosting-party module (HPM, TS 33.320 5.1.1), sans I/O.

:class:`SoftUicc` answers AUTHENTICATE like a USIM (TS 31.102 7.1.2, TS 33.102 6.3.3):
MILENAGE (TS 35.206) checks MAC-A, then the SQN freshness of TS 33.102 Annex C (the SEQ/IND
array, the delta limit) with :class:`testbed.crypto.aka.UsimAka`, the same code as the UE
simulator's USIM (:mod:`testbed.ue.usim`). Results:

- :class:`AuthOk` (RES, CK, IK), the SQN is accepted;
- :class:`~testbed.crypto.aka.SyncFailure` with AUTS (SQN not fresh: a replayed or old
  AUTN), the network re-synchronises (TS 33.102 6.3.5);
- :class:`~testbed.crypto.aka.MacFailure` (AUTN not made with this card's K);
- :class:`NoCard` while the module is removed.

The card file keeps only SQN_MS (the highest accepted SQN). When a card is loaded every
array entry is set to SEQ_MS, which is stricter than the lost array (an old SQN with another
IND is refused too) and still accepts the network's next SQN (SEQ_HE + 1).

Nothing here logs or shows key material.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from testbed.aaa.eap_aka import permanent_identity
from testbed.crypto.aka import MacFailure, SyncFailure, UsimAka, UsimResult, UsimSqnArray
from testbed.crypto.milenage import Milenage

from .card import HpmCard

__all__ = ["AuthOk", "AuthResult", "MacFailure", "NoCard", "SoftUicc", "SyncFailure", "permanent_identity"]


@dataclass(frozen=True)
class AuthOk:
    """A successful AUTHENTICATE: RES, CK, IK (TS 33.102 6.3.3)."""

    res: bytes = field(repr=False)
    ck: bytes = field(repr=False)
    ik: bytes = field(repr=False)


@dataclass(frozen=True)
class NoCard:
    """The HPM is removed: no answer from the card."""


AuthResult = AuthOk | SyncFailure | MacFailure | NoCard


class SoftUicc:
    """One HPM: IMSI, K, OPc, SQN_MS, AMF, realm, and whether it is inserted."""

    def __init__(self, imsi: str, k: bytes, opc: bytes, *, sqn_ms: int = 0, amf: bytes = b"\x80\x00",
                 realm: str = "nai.5gc.mnc001.mcc001.3gppnetwork.org", inserted: bool = True):
        if not (isinstance(imsi, str) and imsi.isdigit() and 6 <= len(imsi) <= 15):
            raise ValueError("IMSI must be 6..15 digits")
        if len(amf) != 2:
            raise ValueError("AMF must be 2 bytes")
        self.imsi = imsi
        self.realm = realm
        self.amf = bytes(amf)
        self.inserted = bool(inserted)
        self._aka = UsimAka(Milenage(k, opc=opc), _restored_array(sqn_ms))

    def __repr__(self) -> str:
        return f"SoftUicc(imsi={self.imsi}, inserted={self.inserted})"

    @classmethod
    def from_card(cls, card: HpmCard) -> SoftUicc:
        return cls(card.imsi, bytes.fromhex(card.k), bytes.fromhex(card.opc), sqn_ms=card.sqn_int,
                   amf=bytes.fromhex(card.amf), realm=card.realm, inserted=card.inserted)

    def to_card(self, card: HpmCard) -> HpmCard:
        """``card`` with this UICC's SQN_MS and inserted state."""
        return card.model_copy(update={"sqn": f"{self.sqn_ms:012x}", "inserted": self.inserted})

    @property
    def sqn_ms(self) -> int:
        """SQN_MS: the highest SQN accepted (TS 33.102 Annex C.2)."""
        return self._aka.sqn_array.sqn_ms

    @property
    def identity(self) -> str | None:
        """The EAP-AKA permanent identity, or None while removed."""
        return permanent_identity(self.imsi, self.realm) if self.inserted else None

    def insert(self) -> None:
        self.inserted = True

    def remove(self) -> None:
        self.inserted = False

    def authenticate(self, rand: bytes, autn: bytes) -> AuthResult:
        """AUTHENTICATE (TS 31.102 7.1.2; TS 33.102 6.3.3): MAC, then SQN freshness (Annex C).

        ``rand`` and ``autn`` are 16 bytes each (ValueError otherwise)."""
        if not self.inserted:
            return NoCard()
        if not isinstance(rand, (bytes, bytearray)) or len(rand) != 16:
            raise ValueError("RAND must be 16 bytes")
        if not isinstance(autn, (bytes, bytearray)) or len(autn) != 16:
            raise ValueError("AUTN must be 16 bytes")
        r = self._aka.check(bytes(rand), bytes(autn))
        if isinstance(r, UsimResult):
            return AuthOk(r.res, r.ck, r.ik)
        return r


def _restored_array(sqn_ms: int) -> UsimSqnArray:
    """An SQN array whose every entry is SEQ(sqn_ms) and whose SQN_MS is ``sqn_ms``."""
    arr = UsimSqnArray()
    if not 0 <= sqn_ms < 1 << 48:
        raise ValueError("SQN must be 48 bits")
    if sqn_ms:
        arr.accept(sqn_ms)
        seq, _ = arr.split(sqn_ms)
        arr.seq_ms = [seq] * len(arr.seq_ms)
    return arr
