"""SIDF: SUCI de-concealment in the UDM (TS 33.501 clause 6.12.5, Annex C.3.3).

Checks in this order, each with its own :class:`SidfError` reason:

1. null scheme (TS 33.501 Annex C.2) allowed by operator policy, else
   ``null-scheme-not-allowed``;
2. scheme is Profile A or B, else ``unsupported-scheme``;
3. the home network public key id is known, else ``unknown-key-id``;
4. the SUCI's scheme is the profile registered for that key id, else
   ``scheme-mismatch`` (a Profile A SUCI must not be decrypted with a P-256 key
   and vice versa);
5. ECIES decryption with MAC check (Annex C.3.3), else ``mac-failure``;
6. the plaintext is a valid SUPI (MSIN digits / NAI username), else ``invalid-supi``.
"""

from __future__ import annotations

from testbed.crypto.identity import Supi, bcd_decode
from testbed.crypto.suci import NULL_SCHEME, PROFILE_A, PROFILE_B, SUPI_FORMAT_IMSI, Suci, ecies_unprotect
from testbed.errors import CryptoError, DecodeError

from .errors import SidfError
from .hn_keys import HomeNetworkKeys

__all__ = ["deconceal_suci"]


def _supi_from_plaintext(suci: Suci, plaintext: bytes) -> Supi:
    """The SUPI from a scheme input (TS 24.501 9.11.3.4: MSIN in BCD, or the NAI username)."""
    try:
        if suci.supi_format == SUPI_FORMAT_IMSI:
            return Supi.imsi(suci.mcc, suci.mnc, bcd_decode(plaintext))
        return Supi.nai(plaintext.decode("utf-8"), suci.realm)
    except (DecodeError, ValueError, UnicodeDecodeError):
        raise SidfError("invalid-supi", "de-concealed SUPI is not valid") from None


def deconceal_suci(suci: Suci, keys: HomeNetworkKeys, allow_null_scheme: bool = True) -> Supi:
    """The SUPI hidden in ``suci`` (TS 33.501 clause 6.12.5); raises :class:`SidfError`."""
    if not isinstance(suci, Suci):
        raise TypeError(f"expected a Suci, got {type(suci).__name__}")
    if suci.scheme == NULL_SCHEME:
        if not allow_null_scheme:
            raise SidfError("null-scheme-not-allowed", "operator policy refuses null-scheme SUCIs")
        return _supi_from_plaintext(suci, suci.output)
    if suci.scheme not in (PROFILE_A, PROFILE_B):
        raise SidfError("unsupported-scheme", f"protection scheme {suci.scheme}")
    if not keys.has_key(suci.key_id):
        raise SidfError("unknown-key-id", f"home network public key id {suci.key_id}")
    if keys.scheme_of(suci.key_id) != suci.scheme:
        raise SidfError(
            "scheme-mismatch",
            f"key id {suci.key_id} is registered for scheme {keys.scheme_of(suci.key_id)}, SUCI uses {suci.scheme}",
        )
    try:
        plaintext = ecies_unprotect(suci.scheme, keys.private_key(suci.key_id), suci.output)
    except CryptoError:
        # MAC tag mismatch, or an ephemeral key that is not a valid point / gives a zero secret.
        raise SidfError("mac-failure", "SUCI ECIES decryption failed") from None
    return _supi_from_plaintext(suci, plaintext)
