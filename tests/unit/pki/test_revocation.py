"""CRL (RFC 5280 section 5) and OCSP (RFC 6960) of the run PKI, without the network."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from testbed.pki import RunPki


def request(cert: x509.Certificate, issuer: x509.Certificate, algorithm: hashes.HashAlgorithm | None = None,
            nonce: bytes | None = None) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or hashes.SHA1())
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def check_signed_by_issuing(pki: RunPki, resp: ocsp.OCSPResponse) -> None:
    pub = pki.issuing.cert.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm))
    assert resp.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(pub).digest


def test_crl_contains_exactly_revoked_and_verifies(pki: RunPki) -> None:
    good = pki.femto("001122", "A")
    bad1 = pki.femto("001122", "B", revoked=True)
    bad2 = pki.segw()
    pki.revoke(bad2.cert, x509.ReasonFlags.superseded)
    pki.revoke(bad2.cert)  # idempotent: first reason/time kept
    crl = pki.crl()
    assert {r.serial_number for r in crl} == {bad1.cert.serial_number, bad2.cert.serial_number}
    assert crl.get_revoked_certificate_by_serial_number(good.cert.serial_number) is None
    r1 = crl.get_revoked_certificate_by_serial_number(bad1.cert.serial_number)
    assert r1 is not None and r1.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.key_compromise
    r2 = crl.get_revoked_certificate_by_serial_number(bad2.cert.serial_number)
    assert r2 is not None and r2.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.superseded
    assert crl.issuer == pki.issuing.cert.subject
    assert crl.is_signature_valid(pki.issuing.cert.public_key())
    assert not crl.is_signature_valid(pki.root.cert.public_key())
    now = dt.datetime.now(dt.UTC)
    assert crl.next_update_utc is not None
    assert dt.timedelta(hours=23) < crl.next_update_utc - now <= dt.timedelta(days=1)
    assert crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == \
        pki.issuing.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    n1 = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert pki.crl().extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > n1
    # files rewritten on every revoke
    on_disk = x509.load_der_x509_crl((pki.directory / "crl.der").read_bytes())
    assert {r.serial_number for r in on_disk} == {bad1.cert.serial_number, bad2.cert.serial_number}
    pem = x509.load_pem_x509_crl((pki.directory / "crl.pem").read_bytes())
    assert {r.serial_number for r in pem} == {r.serial_number for r in on_disk}


def test_fresh_pki_has_empty_crl_on_disk(pki: RunPki) -> None:
    crl = x509.load_der_x509_crl((pki.directory / "crl.der").read_bytes())
    assert len(crl) == 0 and crl.is_signature_valid(pki.issuing.cert.public_key())


def test_revoke_refuses_foreign_certificates(pki: RunPki) -> None:
    for cert in (pki.femto("001122", "A", wrong_ca=True).cert, pki.femto("001122", "A", self_signed=True).cert,
                 pki.issuing.cert):
        with pytest.raises(ValueError):
            pki.revoke(cert)
    with pytest.raises(ValueError):
        pki.revoke(pki.femto("001122", "A").cert, x509.ReasonFlags.remove_from_crl)
    assert pki.revoked_serials() == set()


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()], ids=["sha1", "sha256"])
def test_ocsp_good_revoked_unknown(pki: RunPki, algorithm: hashes.HashAlgorithm) -> None:
    good = pki.femto("001122", "A").cert
    revoked = pki.femto("001122", "B", revoked=True).cert
    rogue = pki.femto("001122", "C", wrong_ca=True).cert
    rogue_issuing = x509.load_pem_x509_certificate((pki.directory / "rogue" / "issuing.pem").read_bytes())

    nonce = os.urandom(16)
    resp = ocsp.load_der_ocsp_response(pki.ocsp_response(request(good, pki.issuing.cert, algorithm, nonce)))
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert resp.serial_number == good.serial_number and isinstance(resp.hash_algorithm, type(algorithm))
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert resp.next_update_utc is not None and resp.next_update_utc > dt.datetime.now(dt.UTC)
    check_signed_by_issuing(pki, resp)

    resp = ocsp.load_der_ocsp_response(pki.ocsp_response(request(revoked, pki.issuing.cert, algorithm)))
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason == x509.ReasonFlags.key_compromise
    assert resp.revocation_time_utc is not None and resp.revocation_time_utc <= dt.datetime.now(dt.UTC)
    check_signed_by_issuing(pki, resp)

    # other issuer (the rogue CA, same names) and a serial never issued
    resp = ocsp.load_der_ocsp_response(pki.ocsp_response(request(rogue, rogue_issuing, algorithm)))
    assert resp.certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    h = ocsp.OCSPRequestBuilder().add_certificate(good, pki.issuing.cert, algorithm).build()
    never = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        h.issuer_name_hash, h.issuer_key_hash, 12345, algorithm).build()
    resp = ocsp.load_der_ocsp_response(pki.ocsp_response(never.public_bytes(serialization.Encoding.DER)))
    assert resp.certificate_status == ocsp.OCSPCertStatus.UNKNOWN and resp.serial_number == 12345
    check_signed_by_issuing(pki, resp)


@pytest.mark.parametrize("junk", [b"", b"\x00", b"garbage" * 10, b"\x30\x03\x02\x01\x00", b"\x30\x80" + b"\xff" * 64])
def test_ocsp_malformed(pki: RunPki, junk: bytes) -> None:
    resp = ocsp.load_der_ocsp_response(pki.ocsp_response(junk))
    assert resp.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_revocation_by_another_process_is_seen(pki: RunPki) -> None:
    cert = pki.femto("001122", "A").cert
    req = request(cert, pki.issuing.cert)
    assert ocsp.load_der_ocsp_response(pki.ocsp_response(req)).certificate_status == ocsp.OCSPCertStatus.GOOD
    other = RunPki.load(pki.directory)
    other.femto("001122", "Z")  # concurrent issuance keeps both index entries
    other.revoke(cert)
    assert ocsp.load_der_ocsp_response(pki.ocsp_response(req)).certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert pki.crl().get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert pki.is_revoked(cert)
    pki.femto("001122", "Y")
    assert {"femto-001122-A", "femto-001122-Z", "femto-001122-Y"} <= set(RunPki.load(pki.directory).names())
