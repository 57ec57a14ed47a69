"""A femto's configuration derived from the reference topology (what the orchestrator would start)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.errors import ConfigError
from testbed.femto.topology import femto_config_for
from testbed.topology.model import load_topology
from testbed.topology.plan import build_plan

ROOT = Path(__file__).resolve().parents[3]


def test_reference_topology_femto1() -> None:
    plan = build_plan(load_topology(ROOT / "topologies/home-femto.yaml"))
    cfg = femto_config_for(plan, "femto1")
    assert cfg.air_address == "10.200.1.1" and cfg.n3_address == plan.address("femto1", "home")
    assert cfg.amf_address == "10.10.0.2" and cfg.amf_port == 38412
    assert (cfg.mcc, cfg.mnc, cfg.tac) == ("001", "01", 1)
    assert cfg.gnb_id == 1 and cfg.gnb_id_bits == 32 and cfg.cag_ids == (0x101,)
    assert cfg.nci == (1 << 4) | 1 and cfg.radio_enabled_at_start is False and cfg.knobs.active() == []
    assert cfg.position == (0, 0, 0) and cfg.slices == ((1, None),)
    rogue = femto_config_for(plan, "femto1", knobs={"broadcast_extra_cag_ids": [0xBAD]}, radio_enabled_at_start=True)
    assert rogue.broadcast_cag_ids == (0x101, 0xBAD) and rogue.radio_enabled_at_start
    with pytest.raises(ConfigError, match="role femto"):
        femto_config_for(plan, "ue1")
