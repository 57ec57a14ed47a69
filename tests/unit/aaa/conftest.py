"""Fixtures of the AAA tests."""

from __future__ import annotations

import pytest

from testbed.aaa.radius_server import RadiusEapServer
from testbed.aaa.vectors import HpmVectors
from testbed.runtime.events import EventWriter

from .helpers import SECRET, hpm_store, radius_server


@pytest.fixture
def aaa(tmp_path):
    """(port, server, events path) of a RADIUS server on 127.0.0.1 backed by a store file with one HPM."""
    store = hpm_store(tmp_path / "udr.sqlite")
    events = tmp_path / "aaa.jsonl"
    server = RadiusEapServer(SECRET, HpmVectors(store), EventWriter(events, "aaa"))
    with radius_server(server) as port:
        yield port, server, events
    store.close()
