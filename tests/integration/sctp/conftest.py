"""Fixtures for SCTP integration tests: a namespace pair with a veth link and peer processes in it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testbed.protocols.sctp.capabilities import usrsctp_available
from testbed.protocols.sctp.netns_lab import NetnsPair, PeerProcess


def _netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.fixture
def lab() -> Iterator[NetnsPair]:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces, veth pairs and raw sockets")
    if not usrsctp_available():
        pytest.skip("libusrsctp not installed (Debian package libusrsctp2)")
    pair = NetnsPair()
    pair.create()
    try:
        yield pair
    finally:
        pair.destroy()
    left = _netns_names() & {pair.ns_a, pair.ns_b}
    assert not left, f"namespaces left behind: {left}"
    link = subprocess.run(["ip", "link", "show", pair.veth_a], capture_output=True, check=False)
    assert link.returncode != 0, f"veth {pair.veth_a} left behind"


@pytest.fixture
def start_peer(lab: NetnsPair, tmp_path: Path) -> Iterator[Callable[..., PeerProcess]]:
    """Start peer processes; their logs are printed (shown by pytest when a test fails)."""
    logs: list[Path] = []

    def start(ns: str, user: str | None = None) -> PeerProcess:
        log = tmp_path / f"peer{len(logs)}-{ns}.log"
        logs.append(log)
        return lab.peer(ns, log, user=user)

    yield start
    for log in logs:
        if log.exists():
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
