"""Topology file validation: good files load, every bad one gives one precise error."""

from pathlib import Path

import pytest
import yaml

from testbed.errors import ConfigError
from testbed.topology.model import Role, SegmentKind, load_topology, parse_topology

ROOT = Path(__file__).resolve().parents[3]
CASES = yaml.safe_load((ROOT / "tests/data/bad-topologies/cases.yaml").read_text())


@pytest.mark.parametrize("path", sorted((ROOT / "topologies").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_topologies_are_valid(path):
    topo = load_topology(path)
    assert topo.nodes and topo.segments


def test_home_femto_has_what_the_reference_needs():
    topo = load_topology(ROOT / "topologies/home-femto.yaml")
    roles = [n.role for n in topo.nodes.values()]
    assert roles.count(Role.UE_HOST) == 2
    assert roles.count(Role.FEMTO) == 1
    for r in (Role.HOME_ROUTER, Role.SEGW, Role.CORE, Role.UPF, Role.MS, Role.NTP, Role.DN):
        assert r in roles
    attackers = [n for n in topo.nodes.values() if n.role == Role.ATTACKER]
    kinds = {topo.segments[a.attachments[0].segment].kind for a in attackers}
    assert kinds == {SegmentKind.INTERNET, SegmentKind.HOME_LAN}


def test_enterprise_sizes():
    topo = load_topology(ROOT / "topologies/enterprise.yaml")
    roles = [n.role for n in topo.nodes.values()]
    assert roles.count(Role.FEMTO) == 3
    assert roles.count(Role.UE_HOST) == 12
    assert roles.count(Role.MACRO_CELL) == 2


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_bad_topology_error_names_file_field_and_expectation(case):
    with pytest.raises(ConfigError) as ei:
        parse_topology(case["topology"], "bad.yaml")
    err = ei.value
    assert err.file == "bad.yaml"
    assert err.path == case["path"], str(err)
    for word in case["words"]:
        assert word in str(err), str(err)
    assert str(err).startswith("bad.yaml: ")


def test_yaml_syntax_error_names_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("name: x\nsegments: {a: {prefix: 10.0.0.0/24}\nnodes: [\n")
    with pytest.raises(ConfigError) as ei:
        load_topology(p)
    assert str(p) in str(ei.value) and "line" in str(ei.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_topology(tmp_path / "nope.yaml")
