"""The secure backhaul wired into a topology (no root): what is derived from the plan, what is provisioned
per run (PKI, TrE, settings), the SeGW's node rules, and the backhaul agent's TrE/HPM/backoff logic."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from testbed.errors import ConfigError
from testbed.femto import tre
from testbed.runtime.events import EventWriter, read_events
from testbed.segw.agent import ADMIN_DOWN, FAILED, NO_HPM, WAITING, BackhaulAgent, Backoff, HpmWatcher
from testbed.segw.config import (
    BackhaulSettings,
    load_backhaul_settings,
    load_segw_settings,
    parse_backhaul_settings,
    parse_segw_settings,
)
from testbed.segw.node_charon import ChildCharon, short_path
from testbed.segw.provision import provision_backhaul
from testbed.segw.service import forward_ruleset, libipsec_gateway_commands, tunnels_of
from testbed.segw.topology import (
    DEFAULT_OUI,
    backhaul_plan,
    device_of,
    femto_control_path,
    hpm_socket_of,
    pool_routes,
    tunnelled_femtos,
)
from testbed.topology.model import load_topology, parse_topology
from testbed.topology.plan import build_plan

ROOT = Path(__file__).resolve().parents[3]
HOME = ROOT / "topologies/home-femto.yaml"
SERVICES = {"amf:core": "10.10.0.2", "upf:upf": "10.10.0.3", "ms:ms": "10.10.0.4", "ntp:ntp": "10.10.0.5"}


def _home_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(HOME.read_text())
    return data


def _plan(data: dict[str, Any]):  # noqa: ANN202
    return build_plan(parse_topology(data, "t.yaml"))


# -- derived from the plan -----------------------------------------------------------------------
def test_reference_topology_backhaul_plan() -> None:
    plan = build_plan(load_topology(HOME))
    bp = backhaul_plan(plan)
    assert bp is not None and bp.segw == "segw"
    assert (bp.public_address, bp.operator_address, bp.pool) == ("203.0.113.10", "10.10.0.1", "10.11.0.0/24")
    assert bp.services == SERVICES  # AMF (N2), UPF (N3), MS, NTP: the only traffic selectors
    assert tunnelled_femtos(plan) == ["femto1"]
    assert device_of(plan, "femto1") == ("0200F5", "HF-0001")
    assert femto_control_path(plan, "femto1") == "femto1/control.sock"
    routes = pool_routes(plan, bp)
    assert set(routes) == {"core", "upf", "ms", "ntp"}  # every operator service node: not the SeGW, DN or AAA
    assert all(r.prefix == "10.11.0.0/24" and r.via == "10.10.0.1" for r in routes.values())
    assert routes["upf"].dev == "upf-eth0"
    assert hpm_socket_of(plan, "femto1") == "femto1/hpm/hpm.sock"  # hosting-party module (TS 33.320 7.2.3)


def test_control_femto_lab_has_no_tunnel() -> None:
    plan = build_plan(load_topology(ROOT / "topologies/femto-lab.yaml"))
    assert backhaul_plan(plan) is None and tunnelled_femtos(plan) == []
    from testbed.femto.topology import femto_config_for

    assert femto_config_for(plan, "femto1").backhaul_control is None
    assert femto_config_for(build_plan(load_topology(HOME)), "femto1").backhaul_control == "femto1/backhaul.sock"


def test_device_defaults_routes_given_and_hpm_detection() -> None:
    data = _home_data()
    del data["nodes"]["femto1"]["device"]
    data["nodes"]["core"]["routes"] = [{"prefix": "10.11.0.0/16", "via": "10.10.0.1"}]
    data["nodes"]["femto1"]["services"]["hpm"] = {"command": ["{python}", "-m", "testbed.hpm", "--card", "c.json",
                                                              "--socket", "femto1/hpm/hpm.sock"]}
    plan = _plan(data)
    assert device_of(plan, "femto1") == (DEFAULT_OUI, "FEMTO1")
    bp = backhaul_plan(plan)
    assert bp is not None and "core" not in pool_routes(plan, bp)  # the topology's own route covers the pool
    assert hpm_socket_of(plan, "femto1") == "femto1/hpm/hpm.sock"


def test_topology_errors_name_the_field() -> None:
    data = _home_data()
    data["nodes"]["core"]["device"] = {"oui": "001122", "serial": "X1"}
    with pytest.raises(ConfigError, match=r"nodes\.core\.device"):
        parse_topology(data, "t.yaml")
    data = _home_data()
    data["nodes"]["femto1"]["device"] = {"oui": "0011", "serial": "X1"}
    with pytest.raises(ConfigError, match=r"nodes\.femto1\.device\.oui"):
        parse_topology(data, "t.yaml")
    data = _home_data()
    data["segments"]["extra"] = {"prefix": "10.11.0.0/25"}
    data["nodes"]["dn"]["links"].append("extra")
    with pytest.raises(ConfigError, match=r"segments\.extra\.prefix.*pool"):
        backhaul_plan(_plan(data), pool="10.11.0.0/24")  # an explicit pool must not overlap
    # the default pool moves out of the way instead (enterprise.yaml uses 10.11.0.0/24)
    assert backhaul_plan(_plan(data)).pool == "10.12.0.0/24"


# -- per-run provisioning ------------------------------------------------------------------------
def test_provision_pki_tre_and_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = build_plan(load_topology(HOME))
    run = tmp_path / "run"
    (run / "femto1").mkdir(parents=True)
    (run / "femto1" / "femto.json").write_text("{}\n")  # measured into the TrE image
    result = provision_backhaul(plan, run, detect=lambda: ("libipsec", "test: no ESP"))
    assert result is not None and result.femtos == {"femto1": "0200F5-HF-0001.femto.operator.nrfemto.test"}
    segw = load_segw_settings(run / "segw" / "segw.json")
    assert segw.services == SERVICES and segw.ipsec_backend == "libipsec" and segw.public_address == "203.0.113.10"
    bh = load_backhaul_settings(run / "femto1" / "backhaul.json")
    assert bh.identity == result.femtos["femto1"] and bh.segw_address == "203.0.113.10"
    assert bh.control_socket == "femto1/backhaul.sock" and bh.femto_control == "femto1/control.sock"
    assert bh.hpm_required and bh.hpm_socket == "femto1/hpm/hpm.sock"  # home-femto.yaml: HPM required
    # paths are relative to the run directory (the services' working directory)
    monkeypatch.chdir(run)
    cert = x509.load_pem_x509_certificate(Path(bh.cert).read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [bh.identity]
    segw_cert = x509.load_pem_x509_certificate((run / "pki" / f"{segw.cert_name}.pem").read_bytes())
    assert "203.0.113.10" in str(segw_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    assert all(Path(p).exists() for p in (bh.root_cert, *bh.intermediates, *bh.crls))
    # the device key exists only sealed in the TrE: no clear femto key anywhere in the run directory ...
    assert not (run / "pki" / f"{Path(bh.cert).stem}.key").exists()
    clear = [p for p in run.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()]
    assert {p.name for p in clear} == {"root.key", "issuing.key", f"{segw.cert_name}.key"}
    # ... and the TrE releases the matching key after a good secure boot (control: a tampered image does not)
    key = serialization.load_pem_private_key(tre.TrustedEnvironment(run / "femto1").device_key_pem(), None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]
    tre.tamper(run / "femto1")
    with pytest.raises(tre.IntegrityError):
        tre.TrustedEnvironment(run / "femto1").device_key_pem()
    assert len(result.routes) == 4 and result.backend == "libipsec"


def test_no_segw_no_provisioning(tmp_path: Path) -> None:
    plan = build_plan(load_topology(ROOT / "topologies/femto-lab.yaml"))
    assert provision_backhaul(plan, tmp_path, detect=lambda: ("libipsec", "")) is None
    assert list(tmp_path.iterdir()) == []


def test_settings_errors_name_file_and_field() -> None:
    base = {"pki_dir": "pki", "cert_name": "segw", "public_address": "203.0.113.10",
            "operator_address": "10.10.0.1", "services": {"amf": "10.10.0.2"}, "control_socket": "s"}
    assert parse_segw_settings(base).pool == "10.11.0.0/24"
    with pytest.raises(ConfigError, match=r"f\.json.*services.*inside the virtual IP pool"):
        parse_segw_settings({**base, "services": {"amf": "10.11.0.5"}}, "f.json")
    with pytest.raises(ConfigError, match="public_address"):
        parse_segw_settings({**base, "public_address": "nope"}, "f.json")
    bh = {"node_dir": "femto1", "identity": "x", "cert": "c", "root_cert": "r", "segw_address": "203.0.113.10",
          "services": {"amf": "10.10.0.2"}, "control_socket": "s"}
    assert parse_backhaul_settings(bh).retry_min_s == 1.0
    with pytest.raises(ConfigError, match="hpm_socket"):
        parse_backhaul_settings({**bh, "hpm_required": True})
    with pytest.raises(ConfigError, match="retry_min_s"):
        parse_backhaul_settings({**bh, "retry_min_s": 10, "retry_max_s": 5})


# -- the SeGW node -----------------------------------------------------------------------------------
def test_forward_ruleset_and_libipsec_gateway_setup() -> None:
    rules = forward_ruleset("10.11.0.0/24", ["10.10.0.2", "10.10.0.3"])
    assert "ip saddr 10.11.0.0/24 ip daddr 10.11.0.0/24 counter drop" in rules  # femto to femto
    assert "ip saddr 10.11.0.0/24 ip daddr != @services counter drop" in rules
    assert "ip daddr 10.11.0.0/24 ip saddr != @services counter drop" in rules
    assert "elements = { 10.10.0.2, 10.10.0.3 }" in rules and rules.count("{") == rules.count("}")
    cmds = [" ".join(argv) for argv, _ in libipsec_gateway_commands(["10.10.0.2"])]
    assert "ip addr replace 10.10.0.2/32 dev lo" in cmds
    assert "ip rule add pref 50 iif ipsec0 lookup main" in cmds  # decapsulated traffic is forwarded ...
    assert cmds.index("ip rule add pref 100 lookup local") < cmds.index("ip rule del pref 0 lookup local")
    assert any("arp_ignore=1" in c and "accept_local=1" in c for c in cmds)  # ... and no ARP for the services


def test_tunnels_of_vici_list_sas() -> None:
    sas = [{"segw": {"uniqueid": "3", "state": "ESTABLISHED", "local-id": "segw.operator.nrfemto.test",
                     "remote-id": "A-B.femto.operator.nrfemto.test", "remote-host": "100.64.0.2", "remote-port": "4500",
                     "nat-remote": "yes", "remote-vips": ["10.11.0.1"], "encr-alg": "AES_GCM_16", "encr-keysize": "256",
                     "prf-alg": "PRF_HMAC_SHA2_384", "dh-group": "ECP_384",
                     "child-sas": {"femto-4": {"state": "INSTALLED", "encr-alg": "AES_GCM_16", "encr-keysize": "256",
                                               "encap": "yes", "local-ts": ["10.10.0.2/32"],
                                               "remote-ts": ["10.11.0.1/32"], "bytes-in": "84"}}}}]
    (t,) = tunnels_of(sas)
    assert t["remote_id"] == "A-B.femto.operator.nrfemto.test" and t["vip"] == "10.11.0.1" and t["nat"]
    assert t["proposal"] == "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384"
    assert t["children"][0]["esp_proposal"] == "AES_GCM_16_256" and t["children"][0]["bytes_in"] == "84"


def test_vici_socket_path_fits_af_unix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "segw"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep.parent)
    ch = ChildCharon(deep, "segw", "libipsec")
    assert len(str(ch.vici_socket)) <= 100 and ch.vici_socket == Path("segw/charon.vici")
    assert short_path(Path("/")) == Path("/")


# -- the backhaul agent without charon ---------------------------------------------------------------
def _settings(tmp_path: Path, **kw: Any) -> BackhaulSettings:
    return BackhaulSettings(node_dir=str(tmp_path / "femto1"), identity="0200F5-X.femto.operator.nrfemto.test",
                            cert="c.pem", root_cert="r.pem", segw_address="203.0.113.10",
                            services={"amf": "10.10.0.2"}, control_socket=str(tmp_path / "bh.sock"), **kw)


def test_backoff_doubles_up_to_the_cap() -> None:
    b = Backoff(1.0, 5.0)
    assert [b.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    b.reset()
    assert b.next_delay() == 1.0


def test_agent_with_a_tampered_trE_never_starts_ike(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    node = tmp_path / "femto1"
    node.mkdir()
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    src = tmp_path / "gnb.py"
    src.write_text("print('femto')\n")
    tre.provision(node, key, image_sources=[(src, "testbed/femto/gnb.py")])
    tre.tamper(node)
    pushed: list[dict] = []
    started: list[str] = []
    events = EventWriter(tmp_path / "ev.jsonl", "backhaul")

    def no_charon() -> ChildCharon:
        started.append("charon")
        raise AssertionError("charon must not start without the device key")

    agent = BackhaulAgent(_settings(tmp_path), events, charon_factory=no_charon, femto_push=pushed.append)
    agent.start()
    try:
        st = agent.status()
        assert st["state"] == FAILED and st["reason"] == "tre_integrity_failure" and st["vip"] is None
        assert st["tre"]["ok"] is False and st["tre"]["differing"] == ["testbed/femto/gnb.py"]
        assert started == []
        # down/up do not bring anything up without a key
        assert agent.control({"op": "down"})["ok"] and agent.status()["state"] == ADMIN_DOWN
        assert agent.control({"op": "up"})["ok"] and agent.status()["state"] == WAITING
        assert not agent.control({"op": "bogus"})["ok"] and not agent.control("x")["ok"]
        assert pushed and all(p["state"] == "down" for p in pushed)
    finally:
        agent.stop()
        events.close()
    rej = read_events(tmp_path / "ev.jsonl", "backhaul.rejected")
    assert rej and rej[0]["reason"] == "tre_integrity_failure" and rej[0]["differing"] == ["testbed/femto/gnb.py"]
    types = [e["type"] for e in read_events(tmp_path / "ev.jsonl")]
    assert "tre.integrity_failure" in types and "tre.key_released" not in types and "backhaul.up" not in types


def test_hpm_watcher_fails_closed_and_agent_follows(tmp_path: Path) -> None:
    replies: list[Any] = [{"ok": True, "inserted": True, "identity": "0001010000009001@realm"},
                          {"ok": True, "inserted": False}, OSError("gone"),
                          {"ok": True, "inserted": True, "identity": "0001010000009001@realm"}]
    seen: list[tuple[bool, str]] = []

    def fake(path: Any, request: dict, timeout: float = 1.0) -> dict:
        assert request == {"op": "status"}
        r = replies.pop(0)
        if isinstance(r, Exception):
            raise r
        return copy.deepcopy(r)

    w = HpmWatcher(tmp_path / "hpm.sock", lambda p, d: seen.append((p, d)), request=fake)
    for _ in range(4):
        w.poll_once()
    assert seen == [(True, "inserted"), (False, "removed"), (True, "inserted")]  # unreachable == still removed
    assert "0001010000009001" not in json.dumps(vars(w), default=str)  # the card identity is not kept

    pushed: list[dict] = []
    events = EventWriter(tmp_path / "ev.jsonl", "backhaul")
    agent = BackhaulAgent(_settings(tmp_path, hpm_socket="h.sock", hpm_required=True), events,
                          femto_push=pushed.append)
    agent.tre_ok = True
    assert agent.status()["hpm"]["present"] is None and not agent._may_connect()
    agent._on_hpm(True, "inserted")
    assert agent.hpm_present and agent._reinit
    agent._on_hpm(False, "removed")
    assert agent.status()["state"] == NO_HPM and pushed[-1] == {"op": "backhaul", "state": "down",
                                                                 "reason": "hpm removed"}
    agent._on_hpm(True, "inserted")
    assert agent.status()["state"] == WAITING
    events.close()
    types = [e["type"] for e in read_events(tmp_path / "ev.jsonl")]
    assert types == ["backhaul.hpm_inserted", "backhaul.hpm_removed", "backhaul.hpm_inserted"]


def test_claimed_identity_from_charon_log() -> None:
    from testbed.segw.events import claimed_identity

    lines = [
        "07[CFG] <1> looking for peer configs matching 203.0.113.10[segw.operator.nrfemto.test]..."
        "100.64.0.2[0200F5-HF-0001.femto.operator.nrfemto.test]",
        "07[CFG] <2> looking for peer configs matching 203.0.113.10[%any]...100.64.0.9[evil.example.test]",
        "05[CFG] <segw|4> certificate was revoked on Dec 02 07:46:44 UTC 2026, reason: key compromise",
    ]
    assert claimed_identity(lines, "100.64.0.2") == "0200F5-HF-0001.femto.operator.nrfemto.test"
    assert claimed_identity(lines) == "evil.example.test"
    assert claimed_identity(lines, "100.64.0.3") is None and claimed_identity([]) is None
