"""Fixtures: an in-process core (real UDR/UDM/AUSF/AMF) and a femto wired to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.femto import FemtoGnb

from .harness import Clock, Net, build_core, femto_config


@pytest.fixture
def core(tmp_path: Path) -> Iterator[tuple[Any, Any, Any]]:
    amf, keys, store = build_core(tmp_path)
    yield amf, keys, store
    store.close()


@pytest.fixture
def net(core: tuple[Any, Any, Any]) -> Iterator[Net]:
    """A femto (radio allowed at start) whose NG Setup with the real AMF succeeded."""
    amf, _, _ = core
    femto = FemtoGnb(femto_config(), clock=Clock(), sti=0xFE00000000000001)
    n = Net(femto, amf)
    n.start()
    yield n
    n.close()
