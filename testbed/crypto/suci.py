"""SUCI: SUPI concealment and de-concealment (SIDF).

- Protection schemes (TS 33.501 Annex C.1): null scheme (0), ECIES Profile A
  (1: X25519, C.3.4.1) and Profile B (2: secp256r1 with point compression,
  C.3.4.2). Both profiles: ANSI X9.63 KDF with SHA-256 and SharedInfo1 = the
  ephemeral public key as sent, giving K_enc (16) || ICB (16) || K_mac (32);
  AES-128-CTR from the ICB; MAC tag = HMAC-SHA-256(K_mac, ciphertext) truncated
  to 8 octets (Annex C.3.2, C.3.3, C.3.4). Scheme output = ephemeral public key
  || ciphertext || MAC tag.
- Scheme input: the MSIN in BCD for an IMSI-based SUPI, the username for an NAI
  (TS 24.501 9.11.3.4; test data in TS 33.501 Annex C.4).
- Encodings of the SUCI: the value part of the 5GS mobile identity IE
  (TS 24.501 9.11.3.4, figure 9.11.3.4.3), the string form
  "suci-0-<MCC>-<MNC>-<routing indicator>-<scheme>-<key id>-<output>"
  (TS 23.003 clause 2.2B, TS 29.503 SUCI pattern) and the NAI form
  "type0.rid<RI>.schid<S>.hnkey<K>.ecckey<..>.cip<..>.mac<..>@<realm>"
  (TS 23.003 clause 28.7.3).

All ECC, KDF, AES and HMAC primitives come from ``cryptography``.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidKey, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from testbed.crypto.identity import (
    ID_SUCI,
    Supi,
    bcd_decode,
    bcd_encode,
    plmn_from_bytes,
    plmn_to_bytes,
    valid_nai_username,
    valid_realm,
)
from testbed.errors import CryptoError, DecodeError

__all__ = [
    "NULL_SCHEME",
    "PROFILE_A",
    "PROFILE_B",
    "SUPI_FORMAT_IMSI",
    "SUPI_FORMAT_NAI",
    "HnPrivateKey",
    "Suci",
    "Supi",
    "conceal",
    "deconceal",
    "ecies_protect",
    "ecies_unprotect",
    "generate_hn_keypair",
    "hn_private_key_bytes",
    "hn_public_key_bytes",
    "load_hn_private_key",
]

NULL_SCHEME = 0
PROFILE_A = 1
PROFILE_B = 2

SUPI_FORMAT_IMSI = 0
SUPI_FORMAT_NAI = 1  # "network specific identifier" (TS 24.501 table 9.11.3.4.1)

MAC_LEN = 8  # Annex C.3.4: MAC tag length 64 bits
_EPH_LEN = {PROFILE_A: 32, PROFILE_B: 33}  # Annex C.1: 256-bit key / 264-bit compressed point

HnPrivateKey = x25519.X25519PrivateKey | ec.EllipticCurvePrivateKey


# ---------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------


def generate_hn_keypair(profile: int) -> tuple[HnPrivateKey, bytes]:
    """A home network key pair: (private key, public key bytes as provisioned in the USIM).

    Profile A: X25519, 32-byte public key. Profile B: secp256r1, 33-byte
    compressed public key (Annex C.3.4.2 allows compressed HN keys).
    """
    if profile == PROFILE_A:
        priv: HnPrivateKey = x25519.X25519PrivateKey.generate()
    elif profile == PROFILE_B:
        priv = ec.generate_private_key(ec.SECP256R1())
    else:
        raise CryptoError(f"no key pair for protection scheme {profile}")
    return priv, hn_public_key_bytes(priv)


def hn_public_key_bytes(private_key: HnPrivateKey) -> bytes:
    """Public key bytes of a home network private key (raw X25519 / compressed P-256)."""
    if isinstance(private_key, x25519.X25519PrivateKey):
        return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return private_key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    raise CryptoError("unsupported home network key type")


def hn_private_key_bytes(private_key: HnPrivateKey) -> bytes:
    """The raw 32-byte private scalar (for storing a generated key in the run directory)."""
    if isinstance(private_key, x25519.X25519PrivateKey):
        return private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return private_key.private_numbers().private_value.to_bytes(32, "big")
    raise CryptoError("unsupported home network key type")


def load_hn_private_key(profile: int, raw: bytes) -> HnPrivateKey:
    """A private key object from its raw 32-byte scalar (X25519 or secp256r1)."""
    if len(raw) != 32:
        raise CryptoError("raw private key must be 32 bytes")
    try:
        if profile == PROFILE_A:
            return x25519.X25519PrivateKey.from_private_bytes(bytes(raw))
        if profile == PROFILE_B:
            return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CryptoError(f"invalid private key: {exc}") from None
    raise CryptoError(f"no private key for protection scheme {profile}")


def _as_private(profile: int, key: HnPrivateKey | bytes) -> HnPrivateKey:
    if isinstance(key, (bytes, bytearray)):
        return load_hn_private_key(profile, bytes(key))
    if profile == PROFILE_A and isinstance(key, x25519.X25519PrivateKey):
        return key
    if profile == PROFILE_B and isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise CryptoError("Profile B needs a secp256r1 key")
        return key
    raise CryptoError(f"private key type does not match protection scheme {profile}")


def _public_key(profile: int, data: bytes) -> x25519.X25519PublicKey | ec.EllipticCurvePublicKey:
    try:
        if profile == PROFILE_A:
            if len(data) != 32:
                raise CryptoError("Profile A public key must be 32 bytes")
            return x25519.X25519PublicKey.from_public_bytes(bytes(data))
        if len(data) not in (33, 65):
            raise CryptoError("Profile B public key must be 33 (compressed) or 65 bytes")
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes(data))
    except ValueError as exc:
        raise CryptoError(f"invalid public key: {exc}") from None


# ---------------------------------------------------------------------------
# ECIES (Annex C.3)
# ---------------------------------------------------------------------------


def _ecies_keys(shared: bytes, eph_pub: bytes) -> tuple[bytes, bytes, bytes]:
    """(K_enc, ICB, K_mac) = ANSI-X9.63-KDF-SHA-256(Z, SharedInfo1 = eph_pub), 64 octets (C.3.4)."""
    out = X963KDF(algorithm=hashes.SHA256(), length=64, sharedinfo=eph_pub).derive(shared)
    return out[:16], out[16:32], out[32:]


def _ecdh(profile: int, priv: HnPrivateKey, pub: x25519.X25519PublicKey | ec.EllipticCurvePublicKey) -> bytes:
    try:
        if profile == PROFILE_A:
            assert isinstance(priv, x25519.X25519PrivateKey) and isinstance(pub, x25519.X25519PublicKey)
            return priv.exchange(pub)
        assert isinstance(priv, ec.EllipticCurvePrivateKey) and isinstance(pub, ec.EllipticCurvePublicKey)
        return priv.exchange(ec.ECDH(), pub)
    except (ValueError, InvalidKey) as exc:  # e.g. X25519 all-zero shared secret
        raise CryptoError(f"ECDH failed: {exc}") from None


def _eph_public_bytes(profile: int, priv: HnPrivateKey) -> bytes:
    # Profile B always sends the compressed ephemeral key (Annex C.3.4.2).
    return hn_public_key_bytes(priv)


def _ctr(k_enc: bytes, icb: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(k_enc), modes.CTR(icb)).encryptor()
    return enc.update(data) + enc.finalize()


def _mac(k_mac: bytes, ciphertext: bytes) -> bytes:
    return hmac.digest(k_mac, ciphertext, "sha256")[:MAC_LEN]


def ecies_protect(
    profile: int,
    hn_pubkey: bytes,
    plaintext: bytes,
    ephemeral_private: HnPrivateKey | bytes | None = None,
) -> bytes:
    """ECIES encryption at the UE (Annex C.3.2): eph. public key || ciphertext || MAC tag."""
    if profile not in (PROFILE_A, PROFILE_B):
        raise CryptoError(f"ECIES needs Profile A or B, got scheme {profile}")
    hn_pub = _public_key(profile, hn_pubkey)
    if ephemeral_private is None:
        eph = generate_hn_keypair(profile)[0]
    else:
        eph = _as_private(profile, ephemeral_private)
    eph_pub = _eph_public_bytes(profile, eph)
    k_enc, icb, k_mac = _ecies_keys(_ecdh(profile, eph, hn_pub), eph_pub)
    ct = _ctr(k_enc, icb, plaintext)
    return eph_pub + ct + _mac(k_mac, ct)


def ecies_unprotect(profile: int, hn_private: HnPrivateKey | bytes, output: bytes) -> bytes:
    """ECIES decryption in the SIDF (Annex C.3.3); CryptoError if the MAC tag does not verify."""
    if profile not in (PROFILE_A, PROFILE_B):
        raise CryptoError(f"ECIES needs Profile A or B, got scheme {profile}")
    n = _EPH_LEN[profile]
    if len(output) < n + MAC_LEN:
        raise CryptoError("scheme output too short")
    eph_pub, ct, tag = output[:n], output[n:-MAC_LEN], output[-MAC_LEN:]
    priv = _as_private(profile, hn_private)
    k_enc, icb, k_mac = _ecies_keys(_ecdh(profile, priv, _public_key(profile, eph_pub)), bytes(eph_pub))
    if not hmac.compare_digest(_mac(k_mac, bytes(ct)), bytes(tag)):
        raise CryptoError("SUCI MAC tag verification failed")
    return _ctr(k_enc, icb, bytes(ct))


# ---------------------------------------------------------------------------
# SUCI
# ---------------------------------------------------------------------------

_RI_RE = re.compile(r"^[0-9]{1,4}\Z")
_STRING_IMSI_RE = re.compile(r"^suci-0-([0-9]{3})-([0-9]{2,3})-([0-9]{1,4})-([0-9a-fA-F])-([0-9]{1,3})-(.+)\Z")
_STRING_NAI_RE = re.compile(r"^suci-1-(.+)-([0-9]{1,4})-([0-9a-fA-F])-([0-9]{1,3})-(.+)\Z")
_NAI_PREFIX_RE = re.compile(r"^type([0-9])\.rid([0-9]{1,4})\.schid([0-9]{1,2})\.")
_NAI_NULL_RE = re.compile(r"^userid([^@]*)@(.+)\Z")
_NAI_ECC_RE = re.compile(
    r"^hnkey([0-9]{1,3})\.ecckey([0-9a-fA-F]+)\.cip([0-9a-fA-F]*)\.mac([0-9a-fA-F]{16})@(.+)\Z"
)
_NAI_OUT_RE = re.compile(r"^hnkey([0-9]{1,3})\.out([0-9a-fA-F]*)@(.+)\Z")
_REALM_3GPP_RE = re.compile(r"^5gc\.mnc([0-9]{3})\.mcc([0-9]{3})\.3gppnetwork\.org\Z")


def _unhex(text: str) -> bytes:
    if len(text) % 2:
        raise ValueError("odd-length hex string")
    return bytes.fromhex(text)


@dataclass(frozen=True)
class Suci:
    """A SUCI (TS 23.003 clause 2.2B).

    ``supi_format`` 0 (IMSI: home network identifier = ``mcc``/``mnc``) or 1
    (NAI: home network identifier = ``realm``). ``output`` is the scheme output:
    for the null scheme the MSIN in BCD (IMSI) or the username octets (NAI);
    for Profile A/B the ephemeral public key || ciphertext || MAC tag.
    """

    mcc: str = ""
    mnc: str = ""
    routing_indicator: str = "0000"
    scheme: int = NULL_SCHEME
    key_id: int = 0
    output: bytes = b""
    supi_format: int = SUPI_FORMAT_IMSI
    realm: str = ""

    def __post_init__(self) -> None:
        if self.supi_format == SUPI_FORMAT_IMSI:
            plmn_to_bytes(self.mcc, self.mnc)  # validates digits
            if self.realm:
                raise ValueError("an IMSI-format SUCI has no realm")
        elif self.supi_format == SUPI_FORMAT_NAI:
            if not valid_realm(self.realm) or self.mcc or self.mnc:
                raise ValueError(f"an NAI-format SUCI needs a domain-name realm and no MCC/MNC, got {self.realm!r}")
        else:
            raise ValueError(f"unsupported SUPI format {self.supi_format}")
        if not isinstance(self.routing_indicator, str) or not _RI_RE.match(self.routing_indicator):
            raise ValueError(f"routing indicator must be 1..4 digits, got {self.routing_indicator!r}")
        if not 0 <= self.scheme <= 15:
            raise ValueError("protection scheme id must be 0..15")
        if not 0 <= self.key_id <= 255:
            raise ValueError("home network public key id must be 0..255")
        if not isinstance(self.output, bytes) or not self.output:
            raise ValueError("scheme output must be non-empty bytes")
        if self.scheme == NULL_SCHEME:
            if self.key_id != 0:
                # TS 23.003 clause 2.2B: with the null scheme the key identifier is 0.
                raise ValueError("null-scheme SUCI must have home network public key id 0")
            if self.supi_format == SUPI_FORMAT_IMSI:
                try:
                    msin = bcd_decode(self.output)
                except DecodeError as exc:
                    raise ValueError(f"null-scheme output is not a BCD MSIN: {exc}") from None
                if len(msin) > 15 - 3 - len(self.mnc):
                    raise ValueError("MSIN too long for an IMSI")
            else:
                try:
                    user = self.output.decode("utf-8")
                except UnicodeDecodeError:
                    raise ValueError("null-scheme NAI output is not UTF-8") from None
                if not valid_nai_username(user):
                    raise ValueError("null-scheme NAI username must be printable, without '@' or spaces")
        elif self.scheme in _EPH_LEN:
            n = _EPH_LEN[self.scheme]
            if len(self.output) < n + MAC_LEN + 1:
                raise ValueError(f"Profile {'AB'[self.scheme - 1]} scheme output too short")
            if self.scheme == PROFILE_B and self.output[0] not in (2, 3):
                raise ValueError("Profile B ephemeral public key must be a compressed point")

    # -- parts of an ECIES scheme output ---------------------------------------

    def _ecies_part(self, part: int) -> bytes:
        if self.scheme not in _EPH_LEN:
            raise ValueError("not an ECIES (Profile A/B) SUCI")
        n = _EPH_LEN[self.scheme]
        return (self.output[:n], self.output[n:-MAC_LEN], self.output[-MAC_LEN:])[part]

    @property
    def ephemeral_public(self) -> bytes:
        return self._ecies_part(0)

    @property
    def ciphertext(self) -> bytes:
        return self._ecies_part(1)

    @property
    def mac(self) -> bytes:
        return self._ecies_part(2)

    @property
    def msin(self) -> str:
        """The MSIN of a null-scheme IMSI-format SUCI (it is in clear text)."""
        if self.scheme != NULL_SCHEME or self.supi_format != SUPI_FORMAT_IMSI:
            raise ValueError("MSIN is only visible in a null-scheme IMSI SUCI")
        return bcd_decode(self.output)

    # -- NAS (TS 24.501 9.11.3.4) ------------------------------------------------

    def to_nas_bytes(self) -> bytes:
        """Value part of the 5GS mobile identity IE for a SUCI (figure 9.11.3.4.3)."""
        first = bytes(((self.supi_format << 4) | ID_SUCI,))
        if self.supi_format == SUPI_FORMAT_NAI:
            return first + self.to_nai().encode("utf-8")
        return (
            first
            + plmn_to_bytes(self.mcc, self.mnc)
            + _ri_bytes(self.routing_indicator)
            + bytes((self.scheme & 0x0F, self.key_id))
            + self.output
        )

    @classmethod
    def from_nas_bytes(cls, value: bytes) -> Suci:
        """Decode the SUCI value part; raises :class:`DecodeError` on malformed input."""
        value = bytes(value)
        if not value:
            raise DecodeError("empty 5GS mobile identity")
        if value[0] & 0x07 != ID_SUCI:
            raise DecodeError("5GS mobile identity is not a SUCI")
        fmt = (value[0] >> 4) & 0x07
        if fmt == SUPI_FORMAT_NAI:
            try:
                text = value[1:].decode("utf-8")
            except UnicodeDecodeError:
                raise DecodeError("SUCI NAI is not UTF-8") from None
            suci = cls.from_nai(text)
            if suci.supi_format != SUPI_FORMAT_NAI:
                raise DecodeError("SUCI NAI type does not match the SUPI format")
            return suci
        if fmt != SUPI_FORMAT_IMSI:
            raise DecodeError(f"unsupported SUPI format {fmt}")
        if len(value) < 9:
            raise DecodeError(f"SUCI too short ({len(value)} octets)")
        mcc, mnc = plmn_from_bytes(value[1:4])
        ri = _ri_decode(value[4:6])
        try:
            return cls(mcc, mnc, ri, value[6] & 0x0F, value[7], value[8:])
        except ValueError as exc:
            raise DecodeError(str(exc)) from None

    # -- strings (TS 23.003 2.2B, TS 29.503) ------------------------------------

    def _output_text(self) -> str:
        if self.scheme == NULL_SCHEME:
            return self.msin if self.supi_format == SUPI_FORMAT_IMSI else self.output.decode("utf-8")
        return self.output.hex()

    def to_string(self) -> str:
        """ "suci-0-001-01-0000-1-1-<hex>" (IMSI) or "suci-1-<realm>-<RI>-<S>-<K>-<output>" (NAI).

        For the null scheme the output is the MSIN digits (or the username).
        The NAI form is unambiguous (the realm is a domain name and an ECIES
        output is hex) except for a null-scheme username that contains '-'.
        """
        hn = f"{self.mcc}-{self.mnc}" if self.supi_format == SUPI_FORMAT_IMSI else self.realm
        return f"suci-{self.supi_format}-{hn}-{self.routing_indicator}-{self.scheme:x}-{self.key_id}-{self._output_text()}"

    def __str__(self) -> str:
        return self.to_string()

    @classmethod
    def from_string(cls, text: str) -> Suci:
        """Inverse of :meth:`to_string`; raises :class:`DecodeError`."""
        m = _STRING_IMSI_RE.match(text)
        try:
            if m:
                mcc, mnc, ri, sch, kid, out = m.groups()
                scheme = int(sch, 16)
                if scheme == NULL_SCHEME:
                    if not out.isdigit():
                        raise ValueError("null-scheme output must be MSIN digits")
                    output = bcd_encode(out)
                else:
                    output = _unhex(out)
                return cls(mcc, mnc, ri, scheme, int(kid), output)
            m = _STRING_NAI_RE.match(text)
            if m:
                realm, ri, sch, kid, out = m.groups()
                scheme = int(sch, 16)
                output = out.encode("utf-8") if scheme == NULL_SCHEME else _unhex(out)
                return cls("", "", ri, scheme, int(kid), output, SUPI_FORMAT_NAI, realm)
        except ValueError as exc:
            raise DecodeError(f"invalid SUCI string: {exc}") from None
        raise DecodeError(f"not a SUCI string: {text!r}")

    # -- NAI form (TS 23.003 28.7.3) --------------------------------------------

    def to_nai(self) -> str:
        if self.supi_format == SUPI_FORMAT_IMSI:
            realm = f"5gc.mnc{self.mnc.zfill(3)}.mcc{self.mcc}.3gppnetwork.org"
        else:
            realm = self.realm
        head = f"type{self.supi_format}.rid{self.routing_indicator}.schid{self.scheme}"
        if self.scheme == NULL_SCHEME:
            return f"{head}.userid{self._output_text()}@{realm}"
        if self.scheme in _EPH_LEN:
            return (
                f"{head}.hnkey{self.key_id}.ecckey{self.ephemeral_public.hex()}"
                f".cip{self.ciphertext.hex()}.mac{self.mac.hex()}@{realm}"
            )
        return f"{head}.hnkey{self.key_id}.out{self.output.hex()}@{realm}"

    @classmethod
    def from_nai(cls, text: str, mnc_digits: int | None = None) -> Suci:
        """Parse the NAI form; raises :class:`DecodeError`.

        The realm of an IMSI-format SUCI always carries three MNC digits (a
        two-digit MNC gets a leading 0, TS 23.003 clause 28.2), so the MNC length
        is lost: give ``mnc_digits=2`` to get "01" back from "mnc001"; by default
        the three-digit form is returned.
        """
        m = _NAI_PREFIX_RE.match(text)
        if not m:
            raise DecodeError("not a SUCI NAI")
        fmt, ri, scheme = int(m.group(1)), m.group(2), int(m.group(3))
        rest = text[m.end() :]
        try:
            if scheme == NULL_SCHEME:
                m2 = _NAI_NULL_RE.match(rest)
                if not m2:
                    raise ValueError("bad null-scheme NAI")
                user, realm = m2.groups()
                key_id = 0
                output = bcd_encode(user) if fmt == SUPI_FORMAT_IMSI else user.encode("utf-8")
            elif scheme in _EPH_LEN:
                m2 = _NAI_ECC_RE.match(rest)
                if not m2:
                    raise ValueError("bad ECIES NAI")
                kid, eph, cip, mac, realm = m2.groups()
                key_id = int(kid)
                output = _unhex(eph) + _unhex(cip) + _unhex(mac)
                if len(_unhex(eph)) != _EPH_LEN[scheme]:
                    raise ValueError("ephemeral key length does not match the scheme")
            else:
                m2 = _NAI_OUT_RE.match(rest)
                if not m2:
                    raise ValueError("bad NAI")
                kid, out, realm = m2.groups()
                key_id = int(kid)
                output = _unhex(out)
            if fmt == SUPI_FORMAT_IMSI:
                m3 = _REALM_3GPP_RE.match(realm)
                if not m3:
                    raise ValueError("IMSI SUCI NAI needs a 5gc.mncXXX.mccYYY.3gppnetwork.org realm")
                mnc, mcc = m3.groups()
                if mnc_digits == 2:
                    if mnc[0] != "0":
                        raise ValueError(f"MNC {mnc} has three significant digits")
                    mnc = mnc[1:]
                elif mnc_digits not in (None, 3):
                    raise ValueError("mnc_digits must be 2 or 3")
                return cls(mcc, mnc, ri, scheme, key_id, output)
            if fmt == SUPI_FORMAT_NAI:
                return cls("", "", ri, scheme, key_id, output, SUPI_FORMAT_NAI, realm)
            raise ValueError(f"unsupported SUPI type {fmt}")
        except ValueError as exc:
            raise DecodeError(f"invalid SUCI NAI: {exc}") from None


def _ri_bytes(ri: str) -> bytes:
    """Routing indicator: 4 BCD digits, unused trailing digits coded 0xF (TS 24.501 9.11.3.4)."""
    d = [int(c) for c in ri] + [0xF] * (4 - len(ri))
    return bytes(((d[1] << 4) | d[0], (d[3] << 4) | d[2]))


def _ri_decode(data: bytes) -> str:
    nibbles = [data[0] & 0xF, data[0] >> 4, data[1] & 0xF, data[1] >> 4]
    out = []
    for i, d in enumerate(nibbles):
        if d == 0xF and i > 0 and all(x == 0xF for x in nibbles[i:]):
            break
        if d > 9:
            raise DecodeError("invalid routing indicator digit")
        out.append(str(d))
    return "".join(out)


# ---------------------------------------------------------------------------
# Conceal / de-conceal
# ---------------------------------------------------------------------------


def conceal(
    supi: Supi,
    scheme: int,
    hn_pubkey: bytes | None = None,
    key_id: int = 0,
    routing_indicator: str = "0000",
    ephemeral_private: HnPrivateKey | bytes | None = None,
) -> Suci:
    """SUCI of ``supi`` with protection scheme ``scheme`` (TS 33.501 clause 6.12.2, Annex C).

    For the null scheme ``hn_pubkey`` is ignored and the key id is 0 (TS 24.501
    9.11.3.4). ``ephemeral_private`` fixes the ephemeral key (for test data);
    otherwise a fresh one is generated for every call.
    """
    plaintext = supi.scheme_input()
    if scheme == NULL_SCHEME:
        output, key_id = plaintext, 0
    elif scheme in (PROFILE_A, PROFILE_B):
        if hn_pubkey is None:
            raise CryptoError("ECIES protection scheme needs the home network public key")
        output = ecies_protect(scheme, hn_pubkey, plaintext, ephemeral_private)
    else:
        raise CryptoError(f"unsupported protection scheme {scheme}")
    if supi.kind == "imsi":
        return Suci(supi.mcc, supi.mnc, routing_indicator, scheme, key_id, output)
    return Suci("", "", routing_indicator, scheme, key_id, output, SUPI_FORMAT_NAI, supi.realm)


def deconceal(suci: Suci, hn_private_keys: Mapping[int, HnPrivateKey | bytes]) -> Supi:
    """SIDF: the SUPI of ``suci`` (TS 33.501 clause 6.12.5, Annex C.3.3).

    ``hn_private_keys`` maps home network public key ids to private keys (key
    objects or raw 32-byte scalars). Raises :class:`CryptoError` for an unknown
    key id, a key of the wrong type, an invalid ephemeral key, a MAC failure, an
    unsupported scheme or a plaintext that is not a valid SUPI.
    """
    if suci.scheme == NULL_SCHEME:
        plaintext = suci.output
    elif suci.scheme in (PROFILE_A, PROFILE_B):
        if suci.key_id not in hn_private_keys:
            raise CryptoError(f"unknown home network public key id {suci.key_id}")
        plaintext = ecies_unprotect(suci.scheme, hn_private_keys[suci.key_id], suci.output)
    else:
        raise CryptoError(f"unsupported protection scheme {suci.scheme}")
    try:
        if suci.supi_format == SUPI_FORMAT_IMSI:
            return Supi.imsi(suci.mcc, suci.mnc, bcd_decode(plaintext))
        return Supi.nai(plaintext.decode("utf-8"), suci.realm)
    except (DecodeError, ValueError, UnicodeDecodeError) as exc:
        raise CryptoError(f"de-concealed SUPI is invalid: {exc}") from None
