from __future__ import annotations

import pytest

from testbed.protocols.ngap import _asn1


@pytest.fixture
def pycrate_checks():
    """Run with pycrate's own value/constraint checks switched on (production runs without)."""
    _asn1.set_safe(True)
    try:
        yield
    finally:
        _asn1.set_safe(False)
