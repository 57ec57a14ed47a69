"""Loading a node's PKI material into its charon through vici (TS 33.310 6.1, TS 33.320 7.2.2/7.2.4).

Trust anchor: the operator root (``x509ca``); the issuing CA is loaded as a plain
``x509`` (an intermediate for path building, not trusted by itself); CRLs as
``x509crl``. With ``revocation = strict`` strongSwan checks every certificate of
the path, so besides the issuing CA's CRL (end entities) an authority CRL
(ARL, signed by the root, covering the issuing CA) is needed: the PKI's
``root_crl()`` when it has one, else :func:`authority_crl` makes one from the
root key of the run PKI.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from testbed.segw.vici_driver import ViciDriver


class _Issued(Protocol):
    cert: x509.Certificate
    key: Any

    def cert_pem(self) -> bytes: ...

    def key_pem(self) -> bytes: ...


def authority_crl(root_cert: x509.Certificate, root_key: Any, revoked_serials: tuple[int, ...] = (),
                  validity: dt.timedelta = dt.timedelta(days=1)) -> bytes:
    """An (empty unless told) CRL signed by the root CA: revocation status of the issuing CA (RFC 5280 5)."""
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateRevocationListBuilder()
         .issuer_name(root_cert.subject)
         .last_update(now - dt.timedelta(minutes=5))
         .next_update(now + validity)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_cert.public_key()), critical=False)
         .add_extension(x509.CRLNumber(time.time_ns() // 1000), critical=False))
    for serial in revoked_serials:
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                      .revocation_date(now).build())
    algo = hashes.SHA384() if isinstance(root_key, ec.EllipticCurvePrivateKey) and \
        root_key.curve.key_size >= 384 else hashes.SHA256()
    if not isinstance(root_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError("root key must be ECDSA or RSA")
    return b.sign(root_key, algo).public_bytes(serialization.Encoding.PEM)


def load_node_credentials(driver: ViciDriver, pki: Any, own: _Issued | None, *,
                          with_crls: bool = True) -> None:
    """Load trust anchor, intermediate, CRLs and (if given) the node's own key into a charon.

    ``pki`` is a :class:`testbed.pki.RunPki` (or anything with ``root``, ``issuing``
    and ``crl()``); ``own`` the node's :class:`~testbed.pki.Issued` (its key goes in
    with ``load-key``; the certificate itself travels in the connection's ``certs``).
    """
    driver.load_cert(pki.root.cert_pem(), "x509ca")
    driver.load_cert(pki.issuing.cert_pem(), "x509")
    if with_crls:
        driver.load_cert(pki.crl().public_bytes(serialization.Encoding.PEM), "x509crl")
        if hasattr(pki, "root_crl"):
            arl = pki.root_crl()
            arl_pem = arl if isinstance(arl, bytes) else arl.public_bytes(serialization.Encoding.PEM)
        else:
            arl_pem = authority_crl(pki.root.cert, pki.root.key)
        driver.load_cert(arl_pem, "x509crl")
    if own is not None:
        driver.load_key(own.key_pem())
