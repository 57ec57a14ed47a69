"""NAS COUNT handling: sender counter, receiver estimation and replay protection (sans-I/O).

Format (TS 33.501 6.4.3.1, TS 24.501 4.4.3.1): NAS COUNT := NAS OVERFLOW || NAS SQN, a 24-bit value
made of a 16-bit overflow counter, incremented each time the 8-bit sequence number wraps, and the
8-bit NAS sequence number (SN) carried in each security protected NAS message. The algorithms take
COUNT := 0x00 || NAS COUNT, i.e. the same integer: pass it as ``count`` to
:func:`testbed.crypto.nas_algorithms.nia` / ``nea``. Each NAS connection has one uplink and one
downlink NAS COUNT, starting at 0 for a new KAMF and never reset for the same KAMF (TS 33.501 6.4.5).

Sender (TS 24.501 4.4.3.1): after each new or retransmitted security protected NAS message the NAS
COUNT is increased by one. A NAS COUNT value must never be used twice with the same NAS keys (TS
33.501 6.4.5: keystream re-use), so before the counter wraps at 2^24 the AMF takes a new security
context into use (new primary authentication, or NAS key re-keying); with the null integrity
algorithm 5G-IA0 the counters may wrap instead (TS 24.501 4.4.3.5, "NAS COUNT wrap around").
:class:`NasCountSender` implements this.

Receiver (TS 24.501 4.4.3.1): the receiver forms the NAS COUNT of a received message from the SN in
it and an *estimated* overflow counter: "the sequence number part of the estimated NAS COUNT value
shall be equal to the sequence number in the received NAS message; and if the receiver can guarantee
that this NAS message was not previously accepted, then the receiver may select the estimated NAS
overflow counter so that the estimated NAS COUNT value is lower than the stored NAS COUNT value;
otherwise, the receiver selects the estimated NAS overflow counter so that the estimated NAS COUNT
value is higher than the stored NAS COUNT value". The stored value is the NAS COUNT of the last
message that passed the integrity check. Replay protection (TS 33.501 6.4.3.2) "shall ensure that the
receiver only accepts each incoming NAS COUNT value once using the same NAS security context"; it is
active with integrity protection, except with the NULL integrity algorithm (TS 33.501 6.4.3.2, D.1).

Policy chosen here (:class:`NasCountReceiver`):

* default (``window=0``): strictly increasing. The estimate is always the smallest value above the
  stored NAS COUNT with the received SN (the "otherwise" branch above), and only values above the
  stored one are accepted. A replayed or older message therefore gets an estimate it was not
  protected with, fails the MAC check and is dropped; even a caller that skipped the MAC could not
  :meth:`~NasCountReceiver.commit` it. The receiver follows up to 255 lost messages in a row.
* ``window=W`` (1 <= W <= 128): messages delivered out of order may still be accepted if their NAS
  COUNT is one of the W - 1 values just below the stored one and was not accepted before. The
  receiver remembers every value it accepted in that window, so it "can guarantee that this NAS
  message was not previously accepted" and may pick the lower estimate (the "may" branch above).
  The price: a forward jump of more than 256 - W NAS COUNT values (lost messages) is taken for an
  out-of-order message.
* ``replay_protection=False``: for a context using 5G-IA0, where replay protection is not activated
  (TS 33.501 D.1): estimation as above, but every NAS COUNT is acceptable.

The caller must call :meth:`NasCountReceiver.commit` only after the message's MAC verified with the
estimated COUNT; a message whose MAC fails leaves the receiver unchanged.
"""

from __future__ import annotations

from testbed.errors import CryptoError

__all__ = [
    "DEFAULT_REFRESH_MARGIN",
    "MAX_NAS_COUNT",
    "NAS_COUNT_MODULUS",
    "NasCountReceiver",
    "NasCountSender",
    "join_nas_count",
    "split_nas_count",
]

NAS_COUNT_MODULUS = 1 << 24
MAX_NAS_COUNT = NAS_COUNT_MODULUS - 1
#: How close to 2^24 a sender signals that the security context must be refreshed (one SN cycle).
DEFAULT_REFRESH_MARGIN = 256
_MAX_WINDOW = 128


def _check_count(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_NAS_COUNT:
        raise CryptoError(f"NAS COUNT must be a 24-bit unsigned integer, got {count!r}")
    return count


def _check_sn(sn: int) -> int:
    if isinstance(sn, bool) or not isinstance(sn, int) or not 0 <= sn <= 0xFF:
        raise CryptoError(f"NAS sequence number must be 8 bits, got {sn!r}")
    return sn


def join_nas_count(overflow: int, sn: int) -> int:
    """NAS COUNT = NAS overflow counter (16 bits) || NAS sequence number (8 bits), TS 24.501 4.4.3.1."""
    if isinstance(overflow, bool) or not isinstance(overflow, int) or not 0 <= overflow <= 0xFFFF:
        raise CryptoError(f"NAS overflow counter must be 16 bits, got {overflow!r}")
    return (overflow << 8) | _check_sn(sn)


def split_nas_count(count: int) -> tuple[int, int]:
    """(NAS overflow counter, NAS sequence number) of a 24-bit NAS COUNT."""
    _check_count(count)
    return count >> 8, count & 0xFF


class NasCountSender:
    """The sending side's NAS COUNT of one direction (TS 24.501 4.4.3.1).

    :meth:`next` returns the NAS COUNT to protect the next message with and then increases the
    counter by one. After 2^24 - 1 has been used the counter wraps to 0; unless ``allow_wrap`` (only
    for a context using 5G-IA0, TS 24.501 4.4.3.5) a further :meth:`next` raises
    :class:`CryptoError`, because reusing a NAS COUNT with the same keys would re-use keystream
    (TS 33.501 6.4.5). :attr:`needs_refresh` becomes true ``refresh_margin`` values before that
    point: the owner (the AMF) must then take a new NAS security context into use.
    """

    def __init__(
        self, count: int = 0, *, allow_wrap: bool = False, refresh_margin: int = DEFAULT_REFRESH_MARGIN
    ) -> None:
        self._count = _check_count(count)
        self._allow_wrap = allow_wrap
        if not 0 <= refresh_margin < NAS_COUNT_MODULUS:
            raise CryptoError(f"refresh_margin out of range: {refresh_margin}")
        self._refresh_at = NAS_COUNT_MODULUS - refresh_margin
        self._exhausted = False
        self.wraps = 0

    @property
    def count(self) -> int:
        """The NAS COUNT the next message will use."""
        return self._count

    @property
    def sn(self) -> int:
        """The NAS sequence number the next message will carry."""
        return self._count & 0xFF

    @property
    def overflow(self) -> int:
        return self._count >> 8

    @property
    def exhausted(self) -> bool:
        """Every NAS COUNT value has been used and wrapping is not allowed."""
        return self._exhausted

    @property
    def needs_refresh(self) -> bool:
        """True once the counter is within ``refresh_margin`` of 2^24 (or exhausted), unless wrapping
        is allowed (5G-IA0)."""
        return not self._allow_wrap and (self._exhausted or self._count >= self._refresh_at)

    def next(self) -> int:
        """Return the NAS COUNT for the message being sent now and increase the counter."""
        if self._exhausted:
            raise CryptoError(
                "NAS COUNT space exhausted: a new NAS security context is required before sending "
                "(TS 33.501 6.4.5, TS 24.501 4.4.3.5)"
            )
        used = self._count
        self._count = (used + 1) & MAX_NAS_COUNT
        if self._count == 0:
            self.wraps += 1
            self._exhausted = not self._allow_wrap
        return used


class NasCountReceiver:
    """The receiving side's NAS COUNT of one direction: estimation and replay protection.

    ``stored`` is the NAS COUNT of the last accepted message, or None when no message has been
    accepted in this security context yet; the first message is then estimated with overflow
    counter 0, as the NAS COUNTs of a new context start at 0 (TS 33.501 6.4.5).
    ``window`` and ``replay_protection`` select the policy described in the module docstring;
    ``allow_wrap`` lets the counter run past 2^24 - 1 (5G-IA0 only, TS 24.501 4.4.3.5), otherwise a
    receiver whose stored value leaves no higher NAS COUNT for an SN raises :class:`CryptoError`
    from :meth:`estimate`.
    """

    def __init__(
        self,
        *,
        stored: int | None = None,
        window: int = 0,
        allow_wrap: bool = False,
        replay_protection: bool = True,
    ) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or not 0 <= window <= _MAX_WINDOW:
            raise CryptoError(f"window must be 0..{_MAX_WINDOW}, got {window!r}")
        self._window = window
        self._allow_wrap = allow_wrap
        self._replay_protection = replay_protection
        # Counts are kept "extended" (overflow counter not truncated to 16 bits) so that comparisons
        # stay correct when wrapping is allowed; without wrapping they never exceed MAX_NAS_COUNT.
        self._stored: int | None = None if stored is None else _check_count(stored)
        self._seen: set[int] = set() if stored is None else {stored}

    @property
    def stored(self) -> int | None:
        """The NAS COUNT of the last accepted message (24 bits), or None."""
        return None if self._stored is None else self._stored & MAX_NAS_COUNT

    @property
    def window(self) -> int:
        return self._window

    def _extend(self, count: int) -> int:
        """Map a 24-bit NAS COUNT back to the extended counter it was estimated as."""
        if not self._allow_wrap or self._stored is None:
            return count
        # The extended value congruent to ``count`` nearest to the stored one (within +-2^23).
        half = NAS_COUNT_MODULUS >> 1
        return self._stored + ((count - self._stored + half) & MAX_NAS_COUNT) - half

    def _in_window(self, ext: int) -> bool:
        assert self._stored is not None
        return ext >= 0 and self._stored - ext < self._window and ext not in self._seen

    def estimate(self, sn: int) -> int:
        """The NAS COUNT of a received message with sequence number ``sn`` (TS 24.501 4.4.3.1)."""
        _check_sn(sn)
        if self._stored is None:
            return sn
        stored = self._stored
        low = (stored & ~0xFF) | sn
        if low > stored:
            low -= 0x100
        if self._window and self._in_window(low):
            return low & MAX_NAS_COUNT
        high = low + 0x100
        if high > MAX_NAS_COUNT and not self._allow_wrap:
            raise CryptoError(
                "no NAS COUNT above the stored value is left for this SN; the NAS security context "
                "must be refreshed (TS 33.501 6.4.5, TS 24.501 4.4.3.5)"
            )
        return high & MAX_NAS_COUNT

    def is_acceptable(self, count: int) -> bool:
        """Whether a message protected with NAS COUNT ``count`` may be accepted: it is above the
        stored value, or (with a window) one of the ``window - 1`` values below it not yet accepted.
        """
        _check_count(count)
        if self._stored is None or not self._replay_protection:
            return True
        ext = self._extend(count)
        return ext > self._stored or (self._window > 0 and self._in_window(ext))

    def commit(self, count: int) -> None:
        """Record that the message with NAS COUNT ``count`` passed its integrity check and is
        accepted. Raises :class:`CryptoError` if ``count`` is not acceptable (a replay)."""
        if not self.is_acceptable(count):
            raise CryptoError(
                f"NAS COUNT {count:#08x} already accepted or too old: replay (TS 33.501 6.4.3.2)"
            )
        ext = self._extend(count)
        if self._stored is None or ext > self._stored:
            self._stored = ext
        if self._window:
            self._seen.add(ext)
            floor = self._stored - self._window
            self._seen = {c for c in self._seen if c > floor}
        else:
            self._seen = {self._stored}
