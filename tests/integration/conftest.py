"""Integration tests: root, network namespaces, real processes. Skipped (with the reason) otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, bridges)"
    for tool in ("mnexec", "tcpdump", "nft", "ip"):
        if not shutil.which(tool):
            return f"{tool} not installed (run 'make setup')"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _why_not()
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def system_snapshot() -> dict:
    """What a run may create: named netns, root-namespace links, root mounts, processes outside the root netns."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout.split("\n")
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    link_names = sorted(line.split(":", 2)[1].strip().split("@")[0] for line in links.splitlines() if ":" in line)
    with open("/proc/self/mounts") as f:
        mounts = sorted(f.read().splitlines())
    root_ns = os.readlink("/proc/self/ns/net")
    foreign = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{pid}/ns/net") != root_ns:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    foreign.add((int(pid), f.read().replace(b"\0", b" ").decode(errors="replace")[:80]))
        except OSError:
            continue
    return {"netns": sorted(x for x in netns if x), "links": link_names, "mounts": mounts, "foreign": sorted(foreign)}


@pytest.fixture
def clean_system():
    """Assert that the test leaves namespaces, links, mounts and processes exactly as it found them."""
    before = system_snapshot()
    yield before
    after = system_snapshot()
    for key in before:
        assert after[key] == before[key], f"{key} changed: before={before[key]} after={after[key]}"


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"
