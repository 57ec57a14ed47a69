"""``openssl verify -CAfile chain -crl_check`` agrees with the PKI's view of each certificate."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from testbed.pki import Issued, RunPki

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary")


def verify(pki: RunPki, issued: Issued, *extra: str) -> tuple[int, str]:
    d = pki.directory
    crls = d / "crls.pem"
    crls.write_bytes((d / "crl.pem").read_bytes() + pki.root_crl().public_bytes(serialization.Encoding.PEM))
    out = subprocess.run(["openssl", "verify", "-CAfile", str(d / "chain.pem"), "-crl_check",
                          "-CRLfile", str(d / "crl.pem"), *extra, str(issued.cert_path)],
                         capture_output=True, text=True, timeout=10)
    return out.returncode, out.stdout + out.stderr


def test_openssl_verify_matrix(pki: RunPki) -> None:
    cases = {
        "good": (pki.femto("001122", "A"), None),
        "revoked": (pki.femto("001122", "A", revoked=True), "certificate revoked"),
        "expired": (pki.femto("001122", "A", expired=True), "certificate has expired"),
        "not_yet_valid": (pki.femto("001122", "A", not_yet_valid=True), "certificate is not yet valid"),
        "wrong_ca": (pki.femto("001122", "A", wrong_ca=True), None),
        "self_signed": (pki.femto("001122", "A", self_signed=True), "self-signed certificate"),
    }
    for label, (issued, message) in cases.items():
        rc, text = verify(pki, issued)
        if label == "good":
            assert rc == 0 and f"{issued.cert_path}: OK" in text, text
        else:
            assert rc != 0, (label, text)
            if message:
                assert message in text, (label, text)
    # purposes: the device certificate is a TLS/IKE client, the SeGW a server; wrong key usage fails
    assert verify(pki, pki.femto("001122", "A"), "-purpose", "sslclient")[0] == 0
    assert verify(pki, pki.segw(), "-purpose", "sslserver")[0] == 0
    assert verify(pki, pki.femto("001122", "A", key_usage="wrong"), "-purpose", "sslclient")[0] != 0
    assert verify(pki, pki.segw(key_usage="wrong"), "-purpose", "sslserver")[0] != 0
    # a certificate revoked after issuance (new CRL written) is refused on the next check
    seg = pki.segw()
    pki.revoke(seg.cert)
    rc, text = verify(pki, seg)
    assert rc != 0 and "certificate revoked" in text
    # whole path checked (-crl_check_all) with the root's ARL
    crls = str(pki.directory / "crls.pem")
    good = pki.femto("001122", "A")
    out = subprocess.run(["openssl", "verify", "-CAfile", str(pki.directory / "chain.pem"), "-crl_check_all",
                          "-CRLfile", crls, str(good.cert_path)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out
