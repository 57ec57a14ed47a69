"""Fixtures: a fresh per-test run PKI in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.pki import RunPki

CRL_URL = "http://10.99.0.10:8080/crl.der"
OCSP_URL = "http://10.99.0.10:8080/ocsp"


@pytest.fixture
def pki(tmp_path: Path) -> RunPki:
    return RunPki.create(tmp_path / "pki", crl_url=CRL_URL, ocsp_url=OCSP_URL)
