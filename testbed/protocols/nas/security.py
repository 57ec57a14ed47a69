"""5G NAS security: integrity protection, ciphering and replay protection of 5GMM messages.

TS 24.501 4.4 and 9.1.1, TS 33.501 6.4. A :class:`NasSecurityContext` is one side's view of a 5G
NAS security context: ngKSI, K_NASint, K_NASenc, the selected 128-NIA/128-NEA algorithms and the
uplink/downlink NAS COUNTs. ``role="ue"`` sends uplink (DIRECTION 0) and receives downlink
(DIRECTION 1); ``role="amf"`` the reverse.

Protection of a plain 5GMM message (:meth:`NasSecurityContext.protect`), TS 24.501 4.4.3-4.4.5 and
TS 33.501 6.4.3.1:

1. COUNT = 0x00 || NAS COUNT of the sending direction (16-bit overflow || 8-bit sequence number);
2. for security header types 2 and 4 the plain message is ciphered with 128-NEA(K_NASenc, COUNT,
   BEARER, DIRECTION);
3. MAC = 128-NIA(K_NASint, COUNT, BEARER, DIRECTION, SQN || (ciphered) message) (TS 24.501 9.8:
   the MAC covers the sequence number and the NAS message);
4. the result is EPD || security header type || MAC || SQN || (ciphered) message, and the NAS
   COUNT is incremented.

BEARER is the NAS connection identifier: 0x01 for 3GPP access and 0x02 for non-3GPP access
(TS 33.501 6.4.3.1 / 7.2.1 since V15.2.0; the value 0 of earlier versions is not what UERANSIM,
Open5GS, free5GC or pycrate use). It is a constructor parameter.

:meth:`NasSecurityContext.unprotect` estimates the NAS COUNT from the received sequence number
(:class:`testbed.crypto.nas_count.NasCountReceiver`), verifies the MAC, rejects a NAS COUNT that
was already accepted (replay, TS 33.501 6.4.3.1) and deciphers. Failures raise
:class:`NasMacFailure`, :class:`NasReplay` or :class:`NasNotProtected` (all :class:`CryptoError`);
a malformed envelope raises :class:`DecodeError`. A failed message leaves the context unchanged.

The context does not reset its counters by itself for the "new 5G NAS security context" header
types 3 and 4: a new context (new K_AMF) is a new :class:`NasSecurityContext` object, whose NAS
COUNTs start at 0 (TS 24.501 4.4.3.1).

The security header type octet is not covered by the MAC (TS 24.501 9.8: the MAC is computed over
the sequence number and the NAS message): a relay can turn type 2 into type 1, which verifies and
hands the ciphertext over as the "plain" message (it then does not decode). Receivers that know
ciphering is active may want to insist on types 2/4 except for initial NAS messages (4.4.6).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from testbed.crypto.nas_algorithms import DIRECTION_DOWNLINK, DIRECTION_UPLINK, nea, nia
from testbed.crypto.nas_count import MAX_NAS_COUNT, NasCountReceiver, NasCountSender
from testbed.errors import CryptoError, DecodeError

from .codec import SecurityProtectedMessage, decode_plain
from .enums import ExtendedProtocolDiscriminator, SecurityHeaderType
from .ies import NgKsi
from .message import NasMessage

__all__ = [
    "NAS_CONNECTION_ID_3GPP",
    "NAS_CONNECTION_ID_NON_3GPP",
    "NasMacFailure",
    "NasNotProtected",
    "NasReplay",
    "NasSecurityContext",
    "NasSecurityError",
    "UnprotectInfo",
]

NAS_CONNECTION_ID_3GPP = 1
NAS_CONNECTION_ID_NON_3GPP = 2


class NasSecurityError(CryptoError):
    """A security protected NAS message was not accepted."""


class NasMacFailure(NasSecurityError):
    """The NAS-MAC does not verify (TS 24.501 4.4.4: the message is discarded)."""


class NasReplay(NasSecurityError):
    """The message was protected with a NAS COUNT already accepted (TS 33.501 6.4.3.1)."""


class NasNotProtected(NasSecurityError):
    """A plain (security header type 0) message was given to :meth:`NasSecurityContext.unprotect`."""


@dataclass(frozen=True)
class UnprotectInfo:
    """What :meth:`NasSecurityContext.unprotect` established about an accepted message."""

    security_header_type: SecurityHeaderType
    count: int  # the NAS COUNT the message was protected with
    sequence_number: int
    mac: bytes

    @property
    def ciphered(self) -> bool:
        return self.security_header_type.ciphered

    @property
    def new_context(self) -> bool:
        return self.security_header_type.new_context


class NasSecurityContext:
    """One side of a 5G NAS security context (see the module docstring).

    ``ul_count`` / ``dl_count`` are the NAS COUNTs of the next message in each direction (0 for a
    new context). ``replay_window`` is :class:`NasCountReceiver`'s ``window`` (0: strictly
    increasing NAS COUNTs). Keys are 16 octets; NIA0/NEA0 (0) are allowed and then need no key.
    """

    def __init__(
        self,
        role: Literal["ue", "amf"],
        *,
        k_nas_int: bytes | None,
        k_nas_enc: bytes | None,
        nia: int,
        nea: int,
        ngksi: NgKsi | int = 0,
        ul_count: int = 0,
        dl_count: int = 0,
        bearer: int = NAS_CONNECTION_ID_3GPP,
        replay_window: int = 0,
    ) -> None:
        if role not in ("ue", "amf"):
            raise ValueError(f"role must be 'ue' or 'amf', got {role!r}")
        if nia not in (0, 1, 2, 3) or nea not in (0, 1, 2, 3):
            raise CryptoError(f"unsupported NAS algorithms NIA{nia}/NEA{nea}")
        for alg, key, what in ((nia, k_nas_int, "K_NASint"), (nea, k_nas_enc, "K_NASenc")):
            if alg and (not isinstance(key, bytes | bytearray) or len(key) != 16):
                raise CryptoError(f"{what} must be 16 octets for algorithm {alg}")
        if not 0 <= bearer <= 0x1F:
            raise CryptoError("BEARER is 5 bits")
        for c in (ul_count, dl_count):
            if not 0 <= c <= MAX_NAS_COUNT:
                raise CryptoError(f"NAS COUNT must be 24 bits, got {c}")
        self.role = role
        self.ngksi = ngksi if isinstance(ngksi, NgKsi) else NgKsi(ksi=ngksi)
        self.k_nas_int = bytes(k_nas_int) if k_nas_int else bytes(16)
        self.k_nas_enc = bytes(k_nas_enc) if k_nas_enc else bytes(16)
        self.nia = nia
        self.nea = nea
        self.bearer = bearer
        send, recv = (ul_count, dl_count) if role == "ue" else (dl_count, ul_count)
        self.send_direction = DIRECTION_UPLINK if role == "ue" else DIRECTION_DOWNLINK
        self.receive_direction = DIRECTION_DOWNLINK if role == "ue" else DIRECTION_UPLINK
        wrap = nia == 0  # TS 24.501 4.4.3.5: with 5G-IA0 the NAS COUNT may wrap
        self._sender = NasCountSender(send, allow_wrap=wrap)
        self._receiver = NasCountReceiver(stored=None if recv == 0 else recv - 1, window=replay_window,
                                          allow_wrap=wrap)

    # --- counters -------------------------------------------------------------------------

    @property
    def send_count(self) -> int:
        """NAS COUNT the next protected message will use."""
        return self._sender.count

    @property
    def receive_count(self) -> int:
        """Lowest NAS COUNT the next received message can have (stored + 1, or 0)."""
        stored = self._receiver.stored
        return 0 if stored is None else stored + 1

    @property
    def ul_count(self) -> int:
        return self.send_count if self.role == "ue" else self.receive_count

    @property
    def dl_count(self) -> int:
        return self.receive_count if self.role == "ue" else self.send_count

    @property
    def needs_refresh(self) -> bool:
        """The sending NAS COUNT is close to wrapping: a new context is needed (TS 33.501 6.4.3.1)."""
        return self._sender.needs_refresh

    # --- protect ------------------------------------------------------------------------------

    def _mac(self, count: int, direction: int, sqn: int, payload: bytes) -> bytes:
        return nia(self.nia, self.k_nas_int, count, self.bearer, direction, bytes([sqn]) + payload)

    def protect(
        self,
        plain: bytes,
        header_type: SecurityHeaderType | int = SecurityHeaderType.INTEGRITY_PROTECTED_AND_CIPHERED,
    ) -> bytes:
        """Security protect the plain 5GMM message ``plain`` (see the module docstring).

        Header types: 1 integrity protected, 2 integrity protected and ciphered, 3 integrity
        protected with new 5G NAS security context (SECURITY MODE COMMAND), 4 integrity protected
        and ciphered with new 5G NAS security context (SECURITY MODE COMPLETE).
        """
        sht = SecurityHeaderType(header_type)
        if sht == SecurityHeaderType.PLAIN:
            raise ValueError("header type 0 is a plain message: nothing to protect")
        plain = bytes(plain)
        if len(plain) < 3 or plain[0] != ExtendedProtocolDiscriminator.FIVEGMM or plain[1] & 0x0F:
            raise ValueError("only a plain 5GMM message can be security protected (TS 24.501 4.4.5)")
        count = self._sender.next()
        sqn = count & 0xFF
        payload = nea(self.nea, self.k_nas_enc, count, self.bearer, self.send_direction, plain) \
            if sht.ciphered else plain
        mac = self._mac(count, self.send_direction, sqn, payload)
        return SecurityProtectedMessage(sht, mac, sqn, payload).encode()

    def protect_message(
        self,
        msg: NasMessage,
        header_type: SecurityHeaderType | int = SecurityHeaderType.INTEGRITY_PROTECTED_AND_CIPHERED,
    ) -> bytes:
        """Encode ``msg`` and :meth:`protect` it."""
        return self.protect(msg.encode(), header_type)

    # --- unprotect ----------------------------------------------------------------------------

    def unprotect(self, buf: bytes) -> tuple[bytes, UnprotectInfo]:
        """Verify and decipher a security protected 5GMM message; returns the plain message octets.

        Raises :class:`DecodeError` (malformed envelope), :class:`NasNotProtected` (security header
        type 0), :class:`NasMacFailure`, :class:`NasReplay`, or :class:`CryptoError` when the NAS
        COUNT space is exhausted.
        """
        buf = bytes(buf)
        if len(buf) >= 2 and buf[0] == ExtendedProtocolDiscriminator.FIVEGMM and buf[1] & 0x0F == 0:
            raise NasNotProtected("plain NAS message where a security protected one is required")
        if len(buf) >= 2 and buf[1] & 0x0F > 4:
            raise DecodeError(f"reserved security header type {buf[1] & 0x0F} (TS 24.501 9.3.1)")
        env = SecurityProtectedMessage.decode(buf)
        sqn, payload = env.sequence_number, env.payload
        direction = self.receive_direction
        count = self._receiver.estimate(sqn)
        if self.nia != 0 and not hmac.compare_digest(self._mac(count, direction, sqn, payload), env.mac):
            old = self._replayed_count(sqn)
            if old is not None and hmac.compare_digest(self._mac(old, direction, sqn, payload), env.mac):
                raise NasReplay(f"NAS COUNT {old:#08x} is already accepted or too old (TS 33.501 6.4.3.1)")
            raise NasMacFailure(f"NAS-MAC verification failed (SQN {sqn}, estimated COUNT {count:#08x})")
        if not self._receiver.is_acceptable(count):
            raise NasReplay(f"NAS COUNT {count:#08x} was already accepted (TS 33.501 6.4.3.1)")
        self._receiver.commit(count)
        plain = nea(self.nea, self.k_nas_enc, count, self.bearer, direction, payload) if env.ciphered else payload
        return plain, UnprotectInfo(env.security_header_type, count, sqn, env.mac)

    def unprotect_message(self, buf: bytes) -> tuple[NasMessage, UnprotectInfo]:
        """:meth:`unprotect` and decode the plain message (DecodeError if it is malformed; the NAS
        COUNT has then been consumed, as the MAC was valid)."""
        plain, info = self.unprotect(buf)
        return decode_plain(plain), info

    def _replayed_count(self, sqn: int) -> int | None:
        """The already-accepted NAS COUNT with sequence number ``sqn`` nearest below the stored one."""
        stored = self._receiver.stored
        if stored is None:
            return None
        old = (stored & ~0xFF) | sqn
        if old > stored:
            old -= 0x100
        return old if old >= 0 and not self._receiver.is_acceptable(old) else None

    def __repr__(self) -> str:  # no keys in logs
        return (f"NasSecurityContext(role={self.role}, ngKSI={self.ngksi.ksi}, NIA{self.nia}/NEA{self.nea}, "
                f"UL={self.ul_count}, DL={self.dl_count})")
