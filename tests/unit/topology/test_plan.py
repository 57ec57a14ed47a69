"""Address allocation, routes, NAT and firewall generation (no root needed)."""

import ipaddress
from pathlib import Path

import pytest

from testbed.errors import ConfigError
from testbed.topology.firewall import node_ruleset
from testbed.topology.model import load_topology, parse_topology
from testbed.topology.plan import allocate_addresses, build_plan

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def home():
    return build_plan(load_topology(ROOT / "topologies/home-femto.yaml"))


def _topo(**nodes):
    return parse_topology({"name": "t", "segments": {"a": {"prefix": "10.0.0.0/29"}, "b": {"prefix": "10.1.0.0/24"}},
                           "nodes": nodes})


def test_allocation_keeps_explicit_and_fills_lowest_free_in_order():
    topo = _topo(n1={"links": ["a"]}, n2={"links": [{"segment": "a", "address": "10.0.0.1"}]}, n3={"links": ["a"]})
    addr = allocate_addresses(topo)
    assert addr[("n2", "a")] == "10.0.0.1"
    assert addr[("n1", "a")] == "10.0.0.2"
    assert addr[("n3", "a")] == "10.0.0.3"


def test_allocation_is_deterministic_and_unique(home):
    again = build_plan(load_topology(ROOT / "topologies/home-femto.yaml"))
    seen = set()
    for name, n in home.nodes.items():
        for i, intf in enumerate(n.interfaces):
            assert intf.address == again.nodes[name].interfaces[i].address
            assert intf.address not in seen
            seen.add(intf.address)
            assert ipaddress.IPv4Address(intf.address) in ipaddress.IPv4Network(
                home.topology.segments[intf.segment].prefix)


def test_prefix_exhaustion_is_a_config_error():
    topo = _topo(**{f"n{i}": {"links": ["a"]} for i in range(7)})  # /29 has 6 hosts
    with pytest.raises(ConfigError, match="too few addresses"):
        build_plan(topo)


def test_interface_names_fit_ifnamsiz():
    topo = load_topology(ROOT / "topologies/enterprise.yaml")
    for n in build_plan(topo).nodes.values():
        for intf in n.interfaces:
            assert len(intf.name) <= 15


def _prefixes(plan, node):
    return {r.prefix for r in plan.nodes[node].routes}


def test_femto_reaches_internet_via_home_router_but_not_operator(home):
    routes = {r.prefix: r for r in home.nodes["femto1"].routes}
    assert "203.0.113.0/24" in routes and routes["203.0.113.0/24"].via == "192.168.1.1"
    assert "10.10.0.0/24" not in routes and "10.20.0.0/24" not in routes


def test_ues_have_no_routes(home):
    assert home.nodes["ue1"].routes == [] and home.nodes["ue2"].routes == []


def test_internet_has_no_route_to_home_lan_or_operator(home):
    p = _prefixes(home, "atk-inet")
    assert "192.168.1.0/24" not in p and "10.10.0.0/24" not in p and "10.200.1.0/24" not in p
    assert "100.64.0.0/29" in p  # the NAT's public side is routable


def test_operator_nodes_do_not_route_to_public_side(home):
    assert _prefixes(home, "core") == set()
    # the SeGW itself must reach the femto's NAT address to answer IKE
    assert "100.64.0.0/29" in _prefixes(home, "segw")


def test_forwarding_roles(home):
    assert home.nodes["homegw"].forward and home.nodes["isp"].forward and home.nodes["segw"].forward
    assert not home.nodes["femto1"].forward and not home.nodes["ue1"].forward


def test_home_router_nat(home):
    hg = home.nodes["homegw"]
    assert hg.nat_inside == ["homegw-eth0"] and hg.nat_outside == ["homegw-eth1"]
    rules = node_ruleset(home, hg)
    assert 'oifname { "homegw-eth1" } masquerade' in rules
    assert 'iifname { "homegw-eth1" } counter drop' in rules


def test_segw_firewall_admits_only_ike_and_esp_from_public_side(home):
    rules = node_ruleset(home, home.nodes["segw"])
    assert 'iifname { "segw-eth0" } udp dport { 500, 4500 } accept' in rules
    assert 'iifname { "segw-eth0" } meta l4proto esp accept' in rules
    assert 'iifname { "segw-eth0" } counter drop' in rules
    assert 'iifname { "segw-eth0" } oifname { "segw-eth1" } counter drop' in rules
    # the drop comes after the accepts
    assert rules.index("udp dport") < rules.index('iifname { "segw-eth0" } counter drop')


def test_non_routers_drop_forwarding(home):
    assert "policy drop" in node_ruleset(home, home.nodes["femto1"])


def test_loss_rules_only_without_netem():
    topo = parse_topology({"name": "t", "segments": {"a": {"prefix": "10.0.0.0/24", "loss": 2.5}},
                           "nodes": {"n1": {"links": ["a"]}}})
    plan = build_plan(topo)
    assert "numgen random mod 10000 < 250" in node_ruleset(plan, plan.nodes["n1"], netem_loss=False)
    assert "numgen" not in node_ruleset(plan, plan.nodes["n1"], netem_loss=True)


def test_link_option_overrides_segment_default():
    topo = parse_topology({"name": "t", "segments": {"a": {"prefix": "10.0.0.0/24", "bw": 10}},
                           "nodes": {"n1": {"links": [{"segment": "a", "bw": 50}]}, "n2": {"links": ["a"]}}})
    plan = build_plan(topo)
    assert plan.nodes["n1"].interfaces[0].options.bw == 50
    assert plan.nodes["n2"].interfaces[0].options.bw == 10


def test_extra_static_route_uses_the_interface_of_the_next_hop():
    topo = _topo(n1={"links": ["a", "b"], "routes": [{"prefix": "10.45.0.0/16", "via": "10.1.0.9"}]})
    plan = build_plan(topo)
    route = next(r for r in plan.nodes["n1"].routes if r.prefix == "10.45.0.0/16")
    assert (route.via, route.dev) == ("10.1.0.9", "n1-eth1")


def test_extra_static_route_next_hop_must_be_on_an_attached_segment():
    with pytest.raises(ConfigError) as e:
        _topo(n1={"links": ["a"], "routes": [{"prefix": "10.45.0.0/16", "via": "10.1.0.9"}]})
    assert e.value.path == "nodes.n1.routes.0.via"
    with pytest.raises(ConfigError) as e:
        _topo(n1={"links": ["a"], "routes": [{"prefix": "10.45.0.1/16", "via": "10.0.0.2"}]})
    assert e.value.path == "nodes.n1.routes.0.prefix"


def test_upf_forwards_only_between_its_tun_and_n6(home):
    upf = home.nodes["upf"]
    assert upf.forward
    rules = node_ruleset(home, upf)
    n6 = upf.interface_on("n6").name
    assert "policy drop" in rules
    assert f'iifname "upftun*" oifname {{ "{n6}" }} accept' in rules
    assert f'iifname {{ "{n6}" }} oifname "upftun*" accept' in rules
    operator = upf.interface_on("operator").name
    assert operator not in rules  # never routed between N3/N4 and N6


def test_dn_routes_the_ue_pool_via_the_upf(home):
    upf_n6 = home.nodes["upf"].interface_on("n6").address
    assert any(r.prefix == "10.45.0.0/16" and r.via == upf_n6 for r in home.nodes["dn"].routes)
