"""Independent checks used by the PKI tests: each returns which defects a certificate has."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from testbed.pki import RunPki


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:
        return False
    return True


def defects(pki: RunPki, cert: x509.Certificate, identity: str, eku: x509.ObjectIdentifier,
            ip: str | None = None) -> set[str]:
    """The set of defects (names of the 'bad' keyword arguments) found in ``cert``."""
    now = dt.datetime.now(dt.UTC)
    found: set[str] = set()
    if cert.not_valid_after_utc < now:
        found.add("expired")
    if cert.not_valid_before_utc > now:
        found.add("not_yet_valid")
    if cert.issuer == cert.subject and signed_by(cert, cert):
        found.add("self_signed")
    elif not signed_by(cert, pki.issuing.cert):
        found.add("wrong_ca")
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    cn = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value
    ips = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    if san.get_values_for_type(x509.DNSName) != [identity] or cn != identity or ips != ([ip] if ip else []):
        found.add("identity")
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    ekus = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    if not ku.digital_signature or eku not in ekus:
        found.add("key_usage")
    if pki.crl().get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
        found.add("revoked")
    return found


SERVER = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH
