"""Per-run operator PKI of the secure backhaul: root CA -> issuing CA -> end entities.

Everything (keys included) is generated per run into the run directory, never into
the repository. The profiles follow:

* TS 33.310 clause 6.1 (NDS/AF certificate profiles): CA certificates with
  basicConstraints CA:true and a path length, keyCertSign/cRLSign; SEG (SeGW)
  certificates carrying the gateway's FQDN (and IP address) in subjectAltName.
* TS 33.320 (H(e)NB/femto security): the femto's *device certificate* carries the
  device identity in FQDN form derived from the vendor OUI and the serial number
  (``<OUI>-<serial>.femto.operator.nrfemto.test`` here), used for IKEv2 certificate
  authentication towards the SeGW; the SeGW and the Femto MS (TLS) present
  operator-issued server certificates.
* RFC 5280: serial numbers (random, 159 bit), validity, AKI/SKI (4.2.1.1/4.2.1.2),
  keyUsage (4.2.1.3), subjectAltName (4.2.1.6), basicConstraints (4.2.1.9),
  extKeyUsage (4.2.1.12), CRL distribution points (4.2.1.13), AIA OCSP (4.2.2.1) and
  CRLs (section 5).
* RFC 6960: OCSP responses. **Design choice:** responses are signed directly by
  the issuing CA (the CA is its own responder, RFC 6960 4.2.2.2 first case), so
  no delegated OCSP-signing certificate exists and verifiers need only the chain.

Files under ``<dir>``: ``root.pem``/``root.key``, ``issuing.pem``/``issuing.key``,
``chain.pem`` (issuing + root), ``<name>.pem`` + ``<name>.key`` per end entity,
``crl.der``/``crl.pem`` (rewritten on every revocation), ``index.json`` (names,
serials, revocation state) and ``rogue/`` (the separate rogue CA used for
``wrong_ca=True``). Key files are mode 0600. Changes to ``index.json`` are made
under an ``flock`` on ``<dir>/.lock`` after re-reading it, so several processes
(orchestrator, SeGW driver, OCSP responder) can share one directory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

DEFAULT_SEGW_FQDN = "segw.operator.nrfemto.test"
DEFAULT_MS_FQDN = "ms.operator.nrfemto.test"
FEMTO_DOMAIN = "femto.operator.nrfemto.test"
KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096")
#: id-kp-ipsecIKE's predecessor "iKEIntermediate" (1.3.6.1.5.5.8.2.2), expected on IKE gateway certificates.
IKE_INTERMEDIATE = x509.ObjectIdentifier("1.3.6.1.5.5.8.2.2")

ROOT_DAYS = 3650
ISSUING_DAYS = 1826
EE_DAYS = 365
SKEW = dt.timedelta(minutes=5)
CRL_VALIDITY = dt.timedelta(days=1)
OCSP_VALIDITY = dt.timedelta(days=1)
_RESERVED = {"root", "issuing", "chain", "crl", "index", "rogue"}
_BAD_KEYS = ("expired", "not_yet_valid", "wrong_ca", "self_signed", "identity", "key_usage", "revoked")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _generate_key(key_type: str) -> PrivateKey:
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type.startswith("rsa-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    raise ValueError(f"key_type must be one of {KEY_TYPES}, not {key_type!r}")


def _sig_hash(key_type: str) -> hashes.HashAlgorithm:
    return hashes.SHA384() if key_type == "ecdsa-p384" else hashes.SHA256()


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _public_key_bits(cert: x509.Certificate) -> bytes:
    """Contents of subjectPublicKey (the BIT STRING), as hashed into an OCSP CertID (RFC 6960 4.1.1)."""
    pub = cert.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if isinstance(pub, rsa.RSAPublicKey):
        return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    raise ValueError("unsupported public key type")


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


@dataclass(frozen=True)
class Issued:
    """One certificate with its private key, both written to disk as PEM (key file mode 0600)."""

    name: str
    cert: x509.Certificate
    key: PrivateKey | None
    cert_path: Path
    key_path: Path | None

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        if self.key is None:
            raise ValueError(f"{self.name}: no private key")
        return _key_pem(self.key)

    @property
    def serial(self) -> int:
        return self.cert.serial_number


def _load_issued(name: str, cert_path: Path, key_path: Path | None) -> Issued:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = None
    if key_path is not None and key_path.exists():
        loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{key_path}: unsupported key type")
        key = loaded
    return Issued(name, cert, key, cert_path, key_path)


class RunPki:
    """Operator PKI of one run under ``<dir>`` (e.g. ``<run>/pki``): root CA -> issuing CA -> end entities.

    End-entity methods (:meth:`segw`, :meth:`femto`, :meth:`ms`) are idempotent:
    the certificate name is derived from the arguments (e.g. ``femto-001122-SN1``,
    ``segw-expired``), and a second call with the same arguments (in this or another
    process, after :meth:`load`) returns the certificate already on disk. Pass
    ``name=`` to force a distinct certificate. The bad keyword arguments each
    produce exactly one defect:

    ``expired=True``        notAfter in the past (validity still 1 year long)
    ``not_yet_valid=True``  notBefore one day in the future
    ``wrong_ca=True``       issued by a separate rogue CA whose names equal the real ones
    ``self_signed=True``    subject == issuer, signed by its own key (still CA:false)
    ``identity="x"``        CN and dNSName (or iPAddress, if ``x`` is an address) = ``x``
    ``key_usage="wrong"``   keyUsage = keyEncipherment only and extKeyUsage = emailProtection
    ``revoked=True``        issued, then revoked (keyCompromise): in the CRL, OCSP 'revoked'
    """

    def __init__(self, directory: Path, index: dict[str, Any], root: Issued, issuing: Issued):
        self.directory = Path(directory)
        self._index = index
        self.root = root
        self.issuing = issuing
        self._rogue: tuple[Issued, Issued] | None = None

    # -- construction --------------------------------------------------------
    @classmethod
    def create(cls, directory: Path, *, operator: str = "nrfemto operator", key_type: str = "ecdsa-p256",
               crl_url: str | None = None, ocsp_url: str | None = None,
               pointer_kinds: tuple[str, ...] | list[str] | None = None) -> RunPki:
        """Generate a new root CA (10 years) and issuing CA (5 years) into ``directory``.

        ``crl_url``/``ocsp_url``: the CRL distribution point (RFC 5280 4.2.1.13) and OCSP URI
        (authorityInfoAccess, RFC 5280 4.2.2.1) put into end-entity certificates; ``pointer_kinds``
        limits them to those kinds (``femto``, ``segw``, ``ms``, ``ms-client``; default: all), e.g.
        only device certificates, whose relying party (the SeGW) can reach the responder.
        """
        if key_type not in KEY_TYPES:
            raise ValueError(f"key_type must be one of {KEY_TYPES}, not {key_type!r}")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if (directory / "index.json").exists():
            raise FileExistsError(f"{directory}: a PKI already exists here (use RunPki.load)")
        index: dict[str, Any] = {"version": 1, "operator": operator, "key_type": key_type,
                                 "crl_url": crl_url, "ocsp_url": ocsp_url,
                                 "pointer_kinds": list(pointer_kinds) if pointer_kinds is not None else None,
                                 "certs": {}}
        root, issuing = _make_cas(directory, operator, key_type)
        pki = cls(directory, index, root, issuing)
        _write_atomic(directory / "chain.pem", pki.chain_pem())
        with pki._mutate():
            pass
        pki._write_crl()
        return pki

    @classmethod
    def load(cls, directory: Path) -> RunPki:
        """Reopen a PKI created by :meth:`create` (e.g. in the SeGW driver or the OCSP responder)."""
        directory = Path(directory)
        index = json.loads((directory / "index.json").read_text())
        root = _load_issued("root", directory / "root.pem", directory / "root.key")
        issuing = _load_issued("issuing", directory / "issuing.pem", directory / "issuing.key")
        return cls(directory, index, root, issuing)

    @classmethod
    def open(cls, directory: Path, **kwargs: Any) -> RunPki:
        """:meth:`load` if ``directory`` holds a PKI, else :meth:`create` with ``kwargs``."""
        if (Path(directory) / "index.json").exists():
            return cls.load(directory)
        return cls.create(directory, **kwargs)

    # -- properties ------------------------------------------------------------
    @property
    def operator(self) -> str:
        return str(self._index["operator"])

    @property
    def key_type(self) -> str:
        return str(self._index["key_type"])

    @property
    def crl_url(self) -> str | None:
        return self._index.get("crl_url")

    @property
    def ocsp_url(self) -> str | None:
        return self._index.get("ocsp_url")

    @property
    def pointer_kinds(self) -> list[str] | None:
        """Certificate kinds that carry the CRL/OCSP pointers (None: every end entity)."""
        kinds = self._index.get("pointer_kinds")
        return None if kinds is None else list(kinds)

    @property
    def index_path(self) -> Path:
        return self.directory / "index.json"

    def names(self) -> list[str]:
        """Names of the end-entity certificates issued so far."""
        self.refresh()
        return sorted(self._index["certs"])

    def get(self, name: str) -> Issued:
        """A previously issued end-entity certificate by name (KeyError if none)."""
        self.refresh()
        entry = self._index["certs"][name]
        return _load_issued(name, self.directory / entry["cert"], self.directory / entry["key"])

    def is_revoked(self, cert: x509.Certificate) -> bool:
        self.refresh()
        entry = self._entry_by_serial(cert.serial_number)
        return bool(entry and entry.get("revoked"))

    def refresh(self) -> None:
        """Re-read ``index.json`` (revocations made by another process)."""
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            self._index = json.loads(self.index_path.read_text())

    # -- end entities ------------------------------------------------------------
    def segw(self, fqdn: str = DEFAULT_SEGW_FQDN, ip: str | None = None, *, name: str | None = None,
             **bad: Any) -> Issued:
        """SeGW (SEG, TS 33.310 6.1; TS 33.320) certificate: EKU serverAuth + iKEIntermediate, SAN dNSName (+ iPAddress)."""
        default = "segw" + ("" if fqdn == DEFAULT_SEGW_FQDN else f"-{fqdn}") + (f"-{ip}" if ip else "")
        sans: list[x509.GeneralName] = [x509.DNSName(fqdn)]
        if ip:
            sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
        return self._issue_ee(name or default, fqdn, sans, [ExtendedKeyUsageOID.SERVER_AUTH, IKE_INTERMEDIATE],
                              kind="segw", bad=bad, explicit_name=name is not None)

    def femto_identity(self, oui: str, serial: str) -> str:
        """The femto device identity as an FQDN, ``<OUI>-<serial>.femto.operator.nrfemto.test`` (TS 33.320).

        ``oui`` is 6 hex digits (``:``/``-`` separators allowed; normalised to upper case);
        ``serial`` is letters, digits and ``-`` (a DNS label together with the OUI).
        """
        o = re.sub(r"[:\-]", "", oui).upper()
        if not re.fullmatch(r"[0-9A-F]{6}", o):
            raise ValueError(f"OUI must be 6 hex digits, not {oui!r}")
        if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", serial) or len(serial) > 56:
            raise ValueError(f"serial must be 1-56 letters/digits/'-', not {serial!r}")
        return f"{o}-{serial}.{FEMTO_DOMAIN}"

    def femto(self, oui: str, serial: str, *, name: str | None = None, **bad: Any) -> Issued:
        """Femto device certificate (TS 33.320): identity FQDN in CN and SAN dNSName, EKU clientAuth."""
        identity = self.femto_identity(oui, serial)
        default = "femto-" + identity.split(".", 1)[0]
        return self._issue_ee(name or default, identity, [x509.DNSName(identity)],
                              [ExtendedKeyUsageOID.CLIENT_AUTH], kind="femto", bad=bad,
                              explicit_name=name is not None)

    def ms(self, name: str = DEFAULT_MS_FQDN, client: bool = False, *, cert_name: str | None = None,
           **bad: Any) -> Issued:
        """Femto MS TLS server certificate (EKU serverAuth) or, with ``client=True``, client certificate."""
        default = ("ms-client" if client else "ms") + ("" if name == DEFAULT_MS_FQDN else f"-{name}")
        eku = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        return self._issue_ee(cert_name or default, name, [x509.DNSName(name)], [eku],
                              kind="ms-client" if client else "ms", bad=bad, explicit_name=cert_name is not None)

    # -- revocation --------------------------------------------------------------
    def revoke(self, cert: x509.Certificate,
               reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise) -> None:
        """Revoke a certificate of the issuing CA; rewrites ``crl.der``/``crl.pem`` (RFC 5280 5.3.1)."""
        if reason == x509.ReasonFlags.remove_from_crl:
            raise ValueError("removeFromCRL is only meaningful in delta CRLs")
        with self._mutate():
            entry = self._entry_by_serial(cert.serial_number)
            if entry is None or entry.get("issuer") != "issuing":
                raise ValueError(f"serial {cert.serial_number:x} was not issued by this issuing CA")
            if not entry.get("revoked"):
                entry["revoked"] = {"time": _now().isoformat(), "reason": reason.value}
        self._write_crl()

    def crl(self) -> x509.CertificateRevocationList:
        """A fresh CRL (RFC 5280 section 5) signed by the issuing CA, nextUpdate now + 1 day."""
        self.refresh()
        now = _now()
        assert self.issuing.key is not None
        b = (x509.CertificateRevocationListBuilder()
             .issuer_name(self.issuing.cert.subject)
             .last_update(now)
             .next_update(now + CRL_VALIDITY)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.issuing.cert.public_key()),
                            critical=False)
             .add_extension(x509.CRLNumber(time.time_ns() // 1000), critical=False))  # monotonic, stateless
        for serial, revoked in self._revocations():
            rb = (x509.RevokedCertificateBuilder().serial_number(serial)
                  .revocation_date(dt.datetime.fromisoformat(revoked["time"])))
            reason = x509.ReasonFlags(revoked["reason"])
            if reason != x509.ReasonFlags.unspecified:  # RFC 5280 5.3.1: unspecified SHOULD be absent
                rb = rb.add_extension(x509.CRLReason(reason), critical=False)
            b = b.add_revoked_certificate(rb.build())
        return b.sign(self.issuing.key, _sig_hash(self.key_type))

    def root_crl(self) -> x509.CertificateRevocationList:
        """The root CA's (empty) authority revocation list: status of the issuing CA (RFC 5280 5).

        Verifiers that require revocation information for every certificate of the
        path (e.g. strongSwan ``revocation = strict``) need it for the issuing CA.
        Also served by the OCSP server as ``/root-crl.der``.
        """
        now = _now()
        assert self.root.key is not None
        return (x509.CertificateRevocationListBuilder()
                .issuer_name(self.root.cert.subject)
                .last_update(now)
                .next_update(now + CRL_VALIDITY)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root.cert.public_key()),
                               critical=False)
                .add_extension(x509.CRLNumber(time.time_ns() // 1000), critical=False)
                .sign(self.root.key, _sig_hash(self.key_type)))

    def revoked_serials(self) -> set[int]:
        self.refresh()
        return {s for s, _ in self._revocations()}

    def ocsp_response(self, request_der: bytes) -> bytes:
        """DER RFC 6960 OCSPResponse for a DER OCSPRequest, signed by the issuing CA.

        ``good`` for an unrevoked certificate of the issuing CA, ``revoked`` (with time
        and reason) for a revoked one, ``unknown`` for any other CertID (other issuer,
        e.g. the rogue CA, or a serial never issued). A request that does not parse
        gives ``malformedRequest``; a failure while building gives ``internalError``.
        The request's nonce (RFC 8954) is echoed.
        """
        try:
            req = ocsp.load_der_ocsp_request(request_der)
            algorithm = req.hash_algorithm
            name_hash, key_hash, serial = req.issuer_name_hash, req.issuer_key_hash, req.serial_number
            nonce = None
            for ext in req.extensions:
                if isinstance(ext.value, x509.OCSPNonce):
                    nonce = ext.value
        except Exception:
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        try:
            self.refresh()
            now = _now()
            status, rtime, rreason = ocsp.OCSPCertStatus.UNKNOWN, None, None
            if self._is_our_issuer(algorithm, name_hash, key_hash):
                entry = self._entry_by_serial(serial)
                if entry is not None and entry.get("issuer") == "issuing":
                    if entry.get("revoked"):
                        status = ocsp.OCSPCertStatus.REVOKED
                        rtime = dt.datetime.fromisoformat(entry["revoked"]["time"])
                        r = x509.ReasonFlags(entry["revoked"]["reason"])
                        rreason = None if r == x509.ReasonFlags.unspecified else r
                    else:
                        status = ocsp.OCSPCertStatus.GOOD
            b = (ocsp.OCSPResponseBuilder()
                 .add_response_by_hash(name_hash, key_hash, serial, algorithm, status, now - SKEW,
                                       now + OCSP_VALIDITY, rtime, rreason)
                 .responder_id(ocsp.OCSPResponderEncoding.HASH, self.issuing.cert))
            if nonce is not None:
                b = b.add_extension(nonce, critical=False)
            assert self.issuing.key is not None
            resp = b.sign(self.issuing.key, _sig_hash(self.key_type))
            return resp.public_bytes(serialization.Encoding.DER)
        except Exception:
            return _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)

    def chain_pem(self) -> bytes:
        """Issuing CA certificate followed by the root CA certificate (PEM)."""
        return self.issuing.cert_pem() + self.root.cert_pem()

    # -- internals ---------------------------------------------------------------
    @contextlib.contextmanager
    def _mutate(self) -> Iterator[dict[str, Any]]:
        """Lock the directory, re-read ``index.json``, yield it, write it back atomically."""
        with open(self.directory / ".lock", "a") as lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX)
            try:
                if self.index_path.exists():
                    self._index = json.loads(self.index_path.read_text())
                yield self._index
                _write_atomic(self.index_path, json.dumps(self._index, indent=2, sort_keys=True).encode())
            finally:
                fcntl.flock(lockf, fcntl.LOCK_UN)

    def _write_crl(self) -> None:
        crl = self.crl()
        _write_atomic(self.directory / "crl.der", crl.public_bytes(serialization.Encoding.DER))
        _write_atomic(self.directory / "crl.pem", crl.public_bytes(serialization.Encoding.PEM))

    def _revocations(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for entry in self._index["certs"].values():
            if entry.get("issuer") == "issuing" and entry.get("revoked"):
                yield int(entry["serial"], 16), entry["revoked"]

    def _entry_by_serial(self, serial: int) -> dict[str, Any] | None:
        for entry in self._index["certs"].values():
            if int(entry["serial"], 16) == serial:
                return entry
        return None

    def _is_our_issuer(self, algorithm: hashes.HashAlgorithm, name_hash: bytes, key_hash: bytes) -> bool:
        try:
            h = hashlib.new(algorithm.name)
        except ValueError:
            return False
        h.update(self.issuing.cert.subject.public_bytes())
        k = hashlib.new(algorithm.name)
        k.update(_public_key_bits(self.issuing.cert))
        return h.digest() == name_hash and k.digest() == key_hash

    def _rogue_cas(self) -> tuple[Issued, Issued]:
        """The rogue root/issuing CA pair (same subject names as the real ones), made on first use."""
        if self._rogue is None:
            d = self.directory / "rogue"
            with open(self.directory / ".lock", "a") as lockf:
                fcntl.flock(lockf, fcntl.LOCK_EX)
                try:
                    if (d / "issuing.key").exists():
                        self._rogue = (_load_issued("rogue-root", d / "root.pem", d / "root.key"),
                                       _load_issued("rogue-issuing", d / "issuing.pem", d / "issuing.key"))
                    else:
                        d.mkdir(exist_ok=True)
                        self._rogue = _make_cas(d, self.operator, self.key_type, prefix="rogue-")
                        _write_atomic(d / "chain.pem", self._rogue[1].cert_pem() + self._rogue[0].cert_pem())
                finally:
                    fcntl.flock(lockf, fcntl.LOCK_UN)
        return self._rogue

    def _issue_ee(self, name: str, identity: str, sans: list[x509.GeneralName], ekus: list[x509.ObjectIdentifier],
                  *, kind: str, bad: dict[str, Any], explicit_name: bool) -> Issued:
        unknown = set(bad) - set(_BAD_KEYS)
        if unknown:
            raise TypeError(f"unknown keyword argument(s): {', '.join(sorted(unknown))}")
        if bad.get("key_usage") not in (None, "wrong"):
            raise ValueError("key_usage must be 'wrong' (or omitted)")
        if bad.get("expired") and bad.get("not_yet_valid"):
            raise ValueError("expired and not_yet_valid are exclusive")
        if bad.get("wrong_ca") and bad.get("self_signed"):
            raise ValueError("wrong_ca and self_signed are exclusive")
        if bad.get("revoked") and (bad.get("wrong_ca") or bad.get("self_signed")):
            raise ValueError("only certificates of the issuing CA can be revoked")
        if not explicit_name:
            for key in _BAD_KEYS:
                value = bad.get(key)
                if value is True:
                    name += "-" + key.replace("_", "-")
                elif key == "identity" and value:
                    name += f"-identity-{value}"
                elif key == "key_usage" and value:
                    name += f"-ku-{value}"
        name = _safe_name(name)
        if name in _RESERVED or not name or name.startswith("."):
            raise ValueError(f"certificate name {name!r} is reserved")
        self.refresh()
        if name in self._index["certs"]:
            return self.get(name)

        other = bad.get("identity")
        if other:
            try:
                addr = ipaddress.ip_address(other)
            except ValueError:
                identity = str(other)
                sans = [x509.DNSName(identity) if isinstance(g, x509.DNSName) else g for g in sans]
            else:
                ip_sans = [g for g in sans if isinstance(g, x509.IPAddress)]
                if not ip_sans:
                    raise ValueError(f"{kind} certificate has no iPAddress to replace with {other!r}") from None
                sans = [x509.IPAddress(addr) if isinstance(g, x509.IPAddress) else g for g in sans]

        now = _now()
        not_before, not_after = now - SKEW, now + dt.timedelta(days=EE_DAYS)
        if bad.get("expired"):
            not_after = now - dt.timedelta(days=1)
            not_before = not_after - dt.timedelta(days=EE_DAYS)
        elif bad.get("not_yet_valid"):
            not_before = now + dt.timedelta(days=1)
            not_after = not_before + dt.timedelta(days=EE_DAYS)

        key = _generate_key(self.key_type)
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.operator),
                             x509.NameAttribute(NameOID.COMMON_NAME, identity)])
        if bad.get("self_signed"):
            ca: Issued | None = None
            issuer_label = "self"
            issuer_name, signer, aki = subject, key, x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key())
        else:
            ca = self._rogue_cas()[1] if bad.get("wrong_ca") else self.issuing
            issuer_label = "rogue" if bad.get("wrong_ca") else "issuing"
            assert ca.key is not None
            issuer_name, signer = ca.cert.subject, ca.key
            aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.cert.public_key())

        if bad.get("key_usage") == "wrong":
            ku = _key_usage(key_encipherment=True)
            ekus = [ExtendedKeyUsageOID.EMAIL_PROTECTION]
        else:
            ku = _key_usage(digital_signature=True, key_encipherment=isinstance(key, rsa.RSAPrivateKey))
        b = (x509.CertificateBuilder()
             .subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(not_before).not_valid_after(not_after)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(ku, critical=True)
             .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
             .add_extension(x509.SubjectAlternativeName(sans), critical=False)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
             .add_extension(aki, critical=False))
        if self.pointer_kinds is None or kind in self.pointer_kinds:
            b = self._add_revocation_pointers(b)
        cert = b.sign(signer, _sig_hash(self.key_type))

        cert_path, key_path = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        _write_atomic(key_path, _key_pem(key), 0o600)
        _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        entry = {"serial": format(cert.serial_number, "x"), "kind": kind, "identity": identity,
                 "subject": cert.subject.rfc4514_string(), "issuer": issuer_label,
                 "cert": cert_path.name, "key": key_path.name,
                 "not_before": not_before.isoformat(), "not_after": not_after.isoformat(),
                 "defects": sorted(k for k in _BAD_KEYS if bad.get(k)), "revoked": None}
        with self._mutate() as index:
            index["certs"][name] = entry
        issued = Issued(name, cert, key, cert_path, key_path)
        if bad.get("revoked"):
            self.revoke(cert, x509.ReasonFlags.key_compromise)
        return issued

    def _add_revocation_pointers(self, b: x509.CertificateBuilder) -> x509.CertificateBuilder:
        if self.crl_url:
            b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(self.crl_url)], relative_name=None, reasons=None,
                crl_issuer=None)]), critical=False)
        if self.ocsp_url:
            b = b.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                x509.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(self.ocsp_url))]),
                critical=False)
        return b


def _key_usage(*, digital_signature: bool = False, key_encipherment: bool = False,
               ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=False,
                         key_encipherment=key_encipherment, data_encipherment=False, key_agreement=False,
                         key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False)


def _make_cas(directory: Path, operator: str, key_type: str, prefix: str = "") -> tuple[Issued, Issued]:
    """Root CA (10 y, pathlen 1) and issuing CA (5 y, pathlen 0), TS 33.310 6.1 / RFC 5280 4.2.1.9."""
    now = _now()
    h = _sig_hash(key_type)
    root_key, issuing_key = _generate_key(key_type), _generate_key(key_type)
    root_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, operator),
                           x509.NameAttribute(NameOID.COMMON_NAME, f"{operator} Root CA")])
    issuing_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, operator),
                              x509.NameAttribute(NameOID.COMMON_NAME, f"{operator} Issuing CA")])
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (x509.CertificateBuilder()
            .subject_name(root_name).issuer_name(root_name).public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - SKEW).not_valid_after(now + dt.timedelta(days=ROOT_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(root_ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
            .sign(root_key, h))
    issuing = (x509.CertificateBuilder()
               .subject_name(issuing_name).issuer_name(root_name).public_key(issuing_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - SKEW).not_valid_after(now + dt.timedelta(days=ISSUING_DAYS))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(_key_usage(ca=True, digital_signature=True), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(issuing_key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
                              critical=False)
               .sign(root_key, h))
    out = []
    for label, cert, key in (("root", root, root_key), ("issuing", issuing, issuing_key)):
        cert_path, key_path = directory / f"{label}.pem", directory / f"{label}.key"
        _write_atomic(key_path, _key_pem(key), 0o600)
        _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        out.append(Issued(prefix + label, cert, key, cert_path, key_path))
    return out[0], out[1]


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    """The OCSP responder URIs of ``cert`` (authorityInfoAccess, RFC 5280 4.2.2.1); [] without."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [d.access_location.value for d in aia if d.access_method == x509.AuthorityInformationAccessOID.OCSP]


def crl_urls(cert: x509.Certificate) -> list[str]:
    """The CRL distribution point URIs of ``cert`` (RFC 5280 4.2.1.13); [] without."""
    try:
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [n.value for dp in cdp for n in (dp.full_name or [])]
