"""Certificate profiles of the run PKI (TS 33.310 6.1, TS 33.320 device certificates, RFC 5280)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification as v
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from testbed.pki import IKE_INTERMEDIATE, RunPki

from .conftest import CRL_URL, OCSP_URL
from .helpers import CLIENT, SERVER, defects

SEGW = "segw.operator.nrfemto.test"
FEMTO = "001122-SN123.femto.operator.nrfemto.test"
MS = "ms.operator.nrfemto.test"


def ext(cert: x509.Certificate, cls: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(cls)


def days(cert: x509.Certificate) -> float:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() / 86400


def verifier(pki: RunPki, server: str | None) -> v.ServerVerifier | v.ClientVerifier:
    b = v.PolicyBuilder().store(v.Store([pki.root.cert]))
    return b.build_server_verifier(v.DNSName(server)) if server else b.build_client_verifier()


def test_ca_profiles(pki: RunPki) -> None:
    root, issuing = pki.root.cert, pki.issuing.cert
    for cert, pathlen in ((root, 1), (issuing, 0)):
        bc = ext(cert, x509.BasicConstraints)
        assert bc.critical and bc.value.ca and bc.value.path_length == pathlen
        ku = ext(cert, x509.KeyUsage)
        assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
        assert cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value == "nrfemto operator"
        assert cert.serial_number.bit_length() > 64
    assert root.issuer == root.subject and issuing.issuer == root.subject
    issuing.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    assert ext(issuing, x509.AuthorityKeyIdentifier).value.key_identifier == \
        ext(root, x509.SubjectKeyIdentifier).value.digest
    assert 3649 <= days(root) <= 3651 and 1825 <= days(issuing) <= 1827
    now = dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=4) < now - root.not_valid_before_utc < dt.timedelta(minutes=6)
    assert isinstance(pki.root.key, ec.EllipticCurvePrivateKey)
    assert pki.chain_pem() == pki.issuing.cert_pem() + pki.root.cert_pem()


def common_ee_checks(pki: RunPki, cert: x509.Certificate) -> None:
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == \
        ext(pki.issuing.cert, x509.SubjectKeyIdentifier).value.digest
    assert ext(cert, x509.SubjectKeyIdentifier).value == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    dp = ext(cert, x509.CRLDistributionPoints).value[0]
    assert dp.full_name == [x509.UniformResourceIdentifier(CRL_URL)]
    aia = ext(cert, x509.AuthorityInformationAccess).value[0]
    assert aia.access_method == AuthorityInformationAccessOID.OCSP and aia.access_location.value == OCSP_URL
    assert 364.9 < days(cert) < 365.1
    now = dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=4) < now - cert.not_valid_before_utc < dt.timedelta(minutes=6)
    assert cert.serial_number.bit_length() > 64
    assert cert.issuer == pki.issuing.cert.subject
    cert.verify_directly_issued_by(pki.issuing.cert)


def test_segw_profile(pki: RunPki) -> None:
    s = pki.segw(ip="192.0.2.1")
    common_ee_checks(pki, s.cert)
    ekus = list(ext(s.cert, x509.ExtendedKeyUsage).value)
    assert ExtendedKeyUsageOID.SERVER_AUTH in ekus and IKE_INTERMEDIATE in ekus
    assert IKE_INTERMEDIATE.dotted_string == "1.3.6.1.5.5.8.2.2"
    san = ext(s.cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [SEGW]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.0.2.1")]
    chain = verifier(pki, SEGW).verify(s.cert, [pki.issuing.cert])
    assert [c.subject for c in chain] == [s.cert.subject, pki.issuing.cert.subject, pki.root.cert.subject]
    # no IP address when not asked for
    assert ext(pki.segw().cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress) == []


def test_femto_profile(pki: RunPki) -> None:
    assert pki.femto_identity("00:11:22", "SN123") == FEMTO
    assert pki.femto_identity("aabbcc", "x-1") == "AABBCC-x-1.femto.operator.nrfemto.test"
    for bad_oui, bad_serial in (("0011", "SN"), ("00112G", "SN"), ("001122", "a.b"), ("001122", ""),
                                ("001122", "-x")):
        with pytest.raises(ValueError):
            pki.femto_identity(bad_oui, bad_serial)
    f = pki.femto("001122", "SN123")
    common_ee_checks(pki, f.cert)
    assert list(ext(f.cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert ext(f.cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == [FEMTO]
    assert f.cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == FEMTO
    assert f.cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value == "nrfemto operator"
    verified = verifier(pki, None).verify(f.cert, [pki.issuing.cert])
    assert verified.subjects == [x509.DNSName(FEMTO)]


def test_ms_profiles(pki: RunPki) -> None:
    srv, cli = pki.ms(), pki.ms(client=True)
    assert srv.name != cli.name
    for issued, eku in ((srv, ExtendedKeyUsageOID.SERVER_AUTH), (cli, ExtendedKeyUsageOID.CLIENT_AUTH)):
        common_ee_checks(pki, issued.cert)
        assert list(ext(issued.cert, x509.ExtendedKeyUsage).value) == [eku]
    verifier(pki, MS).verify(srv.cert, [pki.issuing.cert])
    verifier(pki, None).verify(cli.cert, [pki.issuing.cert])


def test_no_urls_no_pointers(tmp_path: Path) -> None:
    pki = RunPki.create(tmp_path / "p")
    cert = pki.femto("001122", "A").cert
    for cls in (x509.CRLDistributionPoints, x509.AuthorityInformationAccess):
        with pytest.raises(x509.ExtensionNotFound):
            ext(cert, cls)


KINDS = [
    ("segw", lambda p, **kw: p.segw(ip="192.0.2.1", **kw), SEGW, SERVER, "192.0.2.1"),
    ("femto", lambda p, **kw: p.femto("001122", "SN123", **kw), FEMTO, CLIENT, None),
    ("ms", lambda p, **kw: p.ms(**kw), MS, SERVER, None),
    ("ms-client", lambda p, **kw: p.ms(client=True, **kw), MS, CLIENT, None),
]
BAD = [("expired", True), ("not_yet_valid", True), ("wrong_ca", True), ("self_signed", True),
       ("identity", "other.operator.nrfemto.test"), ("key_usage", "wrong"), ("revoked", True)]


@pytest.mark.parametrize("kind", KINDS, ids=[k[0] for k in KINDS])
def test_each_bad_variant_has_exactly_its_defect(pki: RunPki, kind) -> None:
    _, make, identity, eku, ip = kind
    good = make(pki)
    assert defects(pki, good.cert, identity, eku, ip) == set()  # control
    names = {good.name}
    for key, value in BAD:
        bad = make(pki, **{key: value})
        assert defects(pki, bad.cert, identity, eku, ip) == {key}, key
        assert bad.name not in names
        names.add(bad.name)
        # the chain verifier (RFC 5280 path validation) refuses every defect it can see
        if key not in ("revoked",) and not (key == "identity" and eku == CLIENT):
            with pytest.raises(v.VerificationError):
                verifier(pki, identity if eku == SERVER else None).verify(bad.cert, [pki.issuing.cert])
    assert defects(pki, good.cert, identity, eku, ip) == set()  # revoking 'revoked' did not touch the good one


def test_bad_variant_details(pki: RunPki) -> None:
    rogue = pki.femto("001122", "SN1", wrong_ca=True).cert
    assert rogue.issuer == pki.issuing.cert.subject  # same names, different key
    rogue_issuing = x509.load_pem_x509_certificate((pki.directory / "rogue" / "issuing.pem").read_bytes())
    rogue.verify_directly_issued_by(rogue_issuing)
    assert rogue_issuing.subject == pki.issuing.cert.subject
    ss = pki.femto("001122", "SN1", self_signed=True).cert
    assert not ext(ss, x509.BasicConstraints).value.ca
    ku = pki.femto("001122", "SN1", key_usage="wrong").cert
    kuv = ext(ku, x509.KeyUsage).value
    assert kuv.key_encipherment and not kuv.digital_signature
    assert list(ext(ku, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    seg_ip = pki.segw(ip="192.0.2.1", identity="198.51.100.7").cert
    san = ext(seg_ip, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [SEGW]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("198.51.100.7")]
    with pytest.raises(TypeError):
        pki.femto("001122", "SN1", expird=True)
    with pytest.raises(ValueError):
        pki.femto("001122", "SN1", key_usage="nonsense")


def test_idempotent_and_named(pki: RunPki) -> None:
    a = pki.femto("001122", "SN9")
    b = pki.femto("001122", "SN9")
    assert a.cert == b.cert and a.cert_path == b.cert_path
    c = pki.femto("001122", "SN9", name="femto-renewed")
    assert c.cert != a.cert and c.name == "femto-renewed"
    assert RunPki.load(pki.directory).femto("001122", "SN9").cert == a.cert
    with pytest.raises(ValueError):
        pki.femto("001122", "SN9", name="root")


def test_files_and_modes(pki: RunPki) -> None:
    f = pki.femto("001122", "SN123")
    d = pki.directory
    for name in ("root.pem", "issuing.pem", "chain.pem", "crl.der", "crl.pem", "index.json"):
        assert (d / name).is_file(), name
    for key_file in [d / "root.key", d / "issuing.key", f.key_path]:
        assert key_file is not None and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f.cert_path == d / "femto-001122-SN123.pem" and f.key_path == d / "femto-001122-SN123.key"
    assert f.cert_path.read_bytes() == f.cert_pem()
    assert f.key_path.read_bytes() == f.key_pem()
    assert f.key_pem().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    assert x509.load_der_x509_certificate(f.cert_der()) == f.cert
    assert (d / "chain.pem").read_bytes() == pki.chain_pem()
    pki.femto("001122", "SN1", wrong_ca=True)
    assert stat.S_IMODE((d / "rogue" / "issuing.key").stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        RunPki.create(d)


def test_load_gives_same_certificates(pki: RunPki) -> None:
    s, f = pki.segw(), pki.femto("001122", "SN123", revoked=True)
    again = RunPki.load(pki.directory)
    assert again.root.cert == pki.root.cert and again.issuing.cert == pki.issuing.cert
    assert again.root.key is not None and again.issuing.key is not None
    assert again.issuing.key_pem() == pki.issuing.key_pem()
    assert again.get(s.name).cert == s.cert and again.get(f.name).key_pem() == f.key_pem()
    assert again.operator == pki.operator and again.crl_url == CRL_URL and again.ocsp_url == OCSP_URL
    assert again.revoked_serials() == {f.cert.serial_number}
    assert set(again.names()) == {s.name, f.name}


@pytest.mark.parametrize("key_type", ["rsa-2048", "ecdsa-p384"])
def test_other_key_types(tmp_path: Path, key_type: str) -> None:
    pki = RunPki.create(tmp_path / key_type, key_type=key_type, operator="Other Op")
    f = pki.femto("001122", "SN1")
    assert isinstance(f.key, rsa.RSAPrivateKey if key_type.startswith("rsa") else ec.EllipticCurvePrivateKey)
    if key_type.startswith("rsa"):
        assert ext(f.cert, x509.KeyUsage).value.key_encipherment
    verifier(pki, None).verify(f.cert, [pki.issuing.cert])
    assert RunPki.load(pki.directory).femto("001122", "SN1").cert == f.cert
    with pytest.raises(ValueError):
        RunPki.create(tmp_path / "x", key_type="dsa-1024")
