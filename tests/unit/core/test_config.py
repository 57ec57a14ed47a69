"""The topology's core section (testbed.core.config) and per-run key generation (testbed.core.provision)."""

import os
import stat
from pathlib import Path

import pytest
import yaml

from testbed.core import provision
from testbed.core.config import parse_core_settings
from testbed.errors import ConfigError
from testbed.topology.model import load_topology, parse_topology

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_and_serving_network_name():
    s = parse_core_settings({})
    assert (s.plmn.mcc, s.plmn.mnc) == ("001", "01")
    assert s.sn_name == "5G:mnc001.mcc001.3gppnetwork.org"
    assert s.amf.nia_priority == [2, 1, 3] and 0 not in s.amf.nia_priority


@pytest.mark.parametrize("data, path", [
    ({"plmn": {"mcc": "1"}}, "core.plmn.mcc"),
    ({"plmn": {"mnc": 1}}, "core.plmn.mnc"),
    ({"amf": {"nia_priority": [0]}}, "core.amf.nia_priority"),
    ({"amf": {"nea_priority": [2, 2]}}, "core.amf.nea_priority"),
    ({"amf": {"sctp_mode": "tcp"}}, "core.amf.sctp_mode"),
    ({"smf": {"ue_pool": "10.45.0.1/16"}}, "core.smf.ue_pool"),
    ({"tacs": [1, 1]}, "core"),
    ({"bogus": 1}, "core.bogus"),
])
def test_bad_core_settings_name_the_field(data, path):
    with pytest.raises(ConfigError) as e:
        parse_core_settings(data, "t.yaml")
    assert e.value.file == "t.yaml"
    assert e.value.path == path


def test_topology_validates_its_core_section_at_load_time():
    data = yaml.safe_load((ROOT / "topologies/home-femto.yaml").read_text())
    data["core"]["amf"]["nia_priority"] = [7]
    with pytest.raises(ConfigError) as e:
        parse_topology(data, "home.yaml")
    assert e.value.path == "core.amf.nia_priority"


def test_materialise_generates_fresh_keys_into_a_private_file(tmp_path):
    topo = load_topology(ROOT / "topologies/home-femto.yaml")
    settings = parse_core_settings(topo.core)
    p1 = provision.materialise(settings, tmp_path / "a", topo.source_file)
    p2 = provision.materialise(settings, tmp_path / "b", topo.source_file)
    assert stat.S_IMODE(os.stat(p1).st_mode) == 0o600
    d1, d2 = yaml.safe_load(p1.read_text()), yaml.safe_load(p2.read_text())
    assert [s["supi"] for s in d1["subscribers"]] == [s["supi"] for s in d2["subscribers"]]
    for a, b in zip(d1["subscribers"], d2["subscribers"], strict=True):
        assert len(bytes.fromhex(a["k"])) == 16 and len(bytes.fromhex(a["opc"])) == 16
        assert a["k"] != b["k"]  # per run, never shared between runs
    assert d1["femtos"][0]["mcc"] == "001" and d1["femtos"][0]["authorised_cag_ids"] == [0x101]
    # the topology itself carries no key material
    assert "k:" not in (ROOT / "topologies/home-femto.yaml").read_text().replace("ok:", "")


def test_materialise_rejects_half_given_keys(tmp_path):
    settings = parse_core_settings({"subscribers": [{"supi": "imsi-001010000000001", "opc": "00" * 16}]})
    with pytest.raises(ConfigError):
        provision.materialise(settings, tmp_path)


def test_materialise_validates_subscribers_with_the_udr_schema(tmp_path):
    settings = parse_core_settings({"subscribers": [{"supi": "imsi-001010000000001", "allowed_cag_ids": [2**32]}]})
    with pytest.raises(ConfigError) as e:
        provision.materialise(settings, tmp_path)
    assert "subscribers.0.allowed_cag_ids" in e.value.path
    assert not (tmp_path / provision.SUBSCRIBERS_FILE).exists()


def test_extra_subscriber_file_is_relative_to_the_topology(tmp_path):
    (tmp_path / "subs.yaml").write_text("subscribers:\n  - {supi: imsi-001010000000009}\n")
    settings = parse_core_settings({"subscribers_file": "subs.yaml"})
    data = provision.subscriber_data(settings, tmp_path / "topo.yaml")
    assert [s["supi"] for s in data["subscribers"]] == ["imsi-001010000000009"]
    settings = parse_core_settings({"subscribers_file": "missing.yaml"})
    with pytest.raises(ConfigError) as e:
        provision.subscriber_data(settings, tmp_path / "topo.yaml")
    assert "missing.yaml" in str(e.value)
