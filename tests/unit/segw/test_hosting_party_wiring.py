"""Hosting-party authentication wired into a topology (TS 33.320 7.2.3; RFC 4739 second IKE_AUTH round), no root.

What the topology yields (AAA, policy, HPM card), what is provisioned per run (RADIUS secret, segw.json
connections per femto, backhaul.json), the SeGW's vici connections (who must pass the second round,
wildcard fail-closed), the femto agent's second round (EAP identity from the HPM, HPM plugin), the
rejection reasons from real charon log lines, and that the agent no longer imports the femto's pycrate stack.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.errors import ConfigError
from testbed.runtime.events import EventWriter, read_events
from testbed.segw import profiles
from testbed.segw.agent import WAITING, BackhaulAgent
from testbed.segw.config import (
    BackhaulSettings,
    load_backhaul_settings,
    load_segw_settings,
    parse_segw_settings,
)
from testbed.segw.events import rejection_reasons, tunnel_event_fields
from testbed.segw.provision import provision_backhaul, write_radius_secret
from testbed.segw.service import CONN_NAME, SegwService, femto_conn_name, segw_connections, tunnels_of
from testbed.segw.topology import AaaPlan, aaa_of, backhaul_plan, hpm_card_of, hpm_policies_of
from testbed.topology.model import load_topology, parse_topology
from testbed.topology.plan import build_plan

ROOT = Path(__file__).resolve().parents[3]
HOME = ROOT / "topologies/home-femto.yaml"
FQDN = "0200F5-HF-0001.femto.operator.nrfemto.test"
NAI = "0001010000009001@nai.5gc.mnc001.mcc001.3gppnetwork.org"


def _home() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(HOME.read_text())
    return data


def _plan(data: dict[str, Any]):  # noqa: ANN202
    return build_plan(parse_topology(data, "t.yaml"))


def _provision(data: dict[str, Any], run: Path):  # noqa: ANN202
    (run / "femto1").mkdir(parents=True, exist_ok=True)
    (run / "femto1" / "femto.json").write_text("{}\n")
    return provision_backhaul(_plan(data), run, detect=lambda: ("libipsec", "test"))


# -- from the topology ---------------------------------------------------------------------------
def test_reference_topology_aaa_policy_and_card() -> None:
    plan = build_plan(load_topology(HOME))
    bp = backhaul_plan(plan)
    assert bp is not None
    assert aaa_of(plan, bp) == AaaPlan("aaa", "aaa", "10.10.0.6", 1812, "aaa/radius.secret")
    assert "10.10.0.6" not in bp.services.values()  # the AAA is no traffic selector: femtos cannot reach it
    assert hpm_policies_of(plan) == {"femto1": True}
    assert hpm_card_of(plan, "femto1") == "femto1/hpm/card.json"
    svc = plan.topology.nodes["femto1"].services
    assert {"segw", "hpm", "aaa"} <= set(svc["backhaul"].depends_on)  # HPM and AAA up before the first attempt


def test_aaa_placement_errors_name_the_field() -> None:
    data = _home()
    aaa = data["nodes"].pop("aaa")["services"]["aaa"]
    cmd = list(aaa["command"])
    cmd[cmd.index("--listen") + 1] = "0.0.0.0"
    data["nodes"]["core"]["services"]["aaa"] = {**aaa, "command": cmd}
    plan = _plan(data)
    bp = backhaul_plan(plan)
    assert bp is not None
    # on the core node it would share the AMF's address, a traffic selector every femto reaches
    with pytest.raises(ConfigError, match=r"nodes\.core\.services\.aaa\.command.*amf:core.*traffic selector"):
        aaa_of(plan, bp)

    data = _home()
    cmd = data["nodes"]["aaa"]["services"]["aaa"]["command"]
    i = cmd.index("--secret-file")
    del cmd[i:i + 2]
    with pytest.raises(ConfigError, match=r"nodes\.aaa\.services\.aaa\.command.*--secret-file"):
        aaa_of(_plan(data), backhaul_plan(_plan(data)))  # type: ignore[arg-type]

    data = _home()
    cmd = data["nodes"]["aaa"]["services"]["aaa"]["command"]
    cmd[cmd.index("--listen") + 1] = "10.10.0.9"
    with pytest.raises(ConfigError, match=r"--listen 10\.10\.0\.9 is not aaa's address"):
        aaa_of(_plan(data), backhaul_plan(_plan(data)))  # type: ignore[arg-type]

    data = _home()
    data["nodes"]["aaa"]["links"] = ["n6"]
    with pytest.raises(ConfigError, match=r"nodes\.aaa\.links.*operator segment"):
        aaa_of(_plan(data), backhaul_plan(_plan(data)))  # type: ignore[arg-type]


# -- per-run provisioning ------------------------------------------------------------------------------
def test_provision_radius_secret_and_policies(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = _provision(_home(), run)
    assert result is not None and result.hp_required == {"femto1": True} and not result.warnings
    segw = load_segw_settings(run / "segw" / "segw.json")
    assert segw.radius is not None and (segw.radius.address, segw.radius.port) == ("10.10.0.6", 1812)
    assert [(f.node, f.identity, f.hpm_required) for f in segw.femtos] == [("femto1", FQDN, True)]
    secret = run / segw.radius.secret_file
    assert secret.stat().st_mode & 0o777 == 0o600
    value = secret.read_text().strip()
    assert len(value) == 32 and int(value, 16) >= 0  # 128 random bits, per run
    assert value not in (run / "segw" / "segw.json").read_text()  # the settings name the file, not the secret
    bh = load_backhaul_settings(run / "femto1" / "backhaul.json")
    assert bh.hpm_required and bh.hpm_socket == "femto1/hpm/hpm.sock"
    # written once per run: a second call keeps the secret the AAA already read
    assert write_radius_secret(run, "aaa/radius.secret") == secret and secret.read_text().strip() == value
    # another run gets another secret
    _provision(_home(), tmp_path / "run2")
    assert (tmp_path / "run2" / "aaa" / "radius.secret").read_text().strip() != value


def test_policy_not_required_is_certificate_only_even_with_an_hpm(tmp_path: Path) -> None:
    data = _home()
    data["core"]["femtos"][0]["hpm"]["required"] = False
    result = _provision(data, tmp_path)
    assert result is not None and result.hp_required == {"femto1": False}
    segw = load_segw_settings(tmp_path / "segw" / "segw.json")
    assert [f.hpm_required for f in segw.femtos] == [False] and segw.radius is not None
    bh = load_backhaul_settings(tmp_path / "femto1" / "backhaul.json")
    assert bh.hpm_socket == "femto1/hpm/hpm.sock" and not bh.hpm_required  # has an HPM, not asked for it


def _without_aaa() -> dict[str, Any]:
    data = _home()
    del data["nodes"]["aaa"]
    data["nodes"]["femto1"]["services"]["backhaul"]["depends_on"] = ["segw", "hpm"]
    return data


def test_required_without_aaa_or_without_hpm(tmp_path: Path) -> None:
    data = _without_aaa()
    with pytest.raises(ConfigError, match=r"core\.femtos.*femto1.*no AAA"):
        _provision(data, tmp_path / "a")
    # policy required but the femto has no HPM: it cannot pass the SeGW, said up front
    data = _home()
    del data["nodes"]["femto1"]["services"]["hpm"]
    data["nodes"]["femto1"]["services"]["backhaul"]["depends_on"] = ["segw", "aaa"]
    result = _provision(data, tmp_path / "b")
    assert result is not None and "no HPM service" in result.warnings[0]
    assert load_segw_settings(tmp_path / "b" / "segw" / "segw.json").femtos[0].hpm_required
    assert not load_backhaul_settings(tmp_path / "b" / "femto1" / "backhaul.json").hpm_required
    # an HPM service reading another card than the one provisioned with the store's keys: said up front
    data = _home()
    cmd = data["nodes"]["femto1"]["services"]["hpm"]["command"]
    cmd[cmd.index("--card") + 1] = "femto1/other.json"
    result = _provision(data, tmp_path / "d")
    assert result is not None and "--card femto1/other.json" in result.warnings[0]
    assert not _provision(_home(), tmp_path / "e").warnings  # control: the reference topology has none
    # control: a topology without any HPM policy needs no AAA and gets none
    data = _without_aaa()
    del data["core"]["femtos"][0]["hpm"]
    result = _provision(data, tmp_path / "c")
    assert result is not None and result.aaa is None and result.hp_required == {"femto1": False}
    assert load_segw_settings(tmp_path / "c" / "segw" / "segw.json").radius is None


def test_segw_settings_policy_errors() -> None:
    base = {"pki_dir": "pki", "cert_name": "segw", "public_address": "203.0.113.10",
            "operator_address": "10.10.0.1", "services": {"amf": "10.10.0.2"}, "control_socket": "s"}
    femto = {"node": "femto1", "identity": FQDN, "hpm_required": True}
    radius = {"address": "10.10.0.6", "secret_file": "aaa/radius.secret"}
    assert parse_segw_settings({**base, "femtos": [femto], "radius": radius}).radius.port == 1812  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"f\.json.*femto1.*no radius"):
        parse_segw_settings({**base, "femtos": [femto]}, "f.json")
    with pytest.raises(ConfigError, match="traffic selector"):
        parse_segw_settings({**base, "femtos": [femto], "radius": {**radius, "address": "10.10.0.2"}}, "f.json")
    with pytest.raises(ConfigError, match="duplicate"):
        parse_segw_settings({**base, "femtos": [femto, femto], "radius": radius}, "f.json")
    with pytest.raises(ConfigError, match=r"radius\.port"):
        parse_segw_settings({**base, "radius": {**radius, "port": 0}}, "f.json")


# -- the SeGW's connections ------------------------------------------------------------------------------
def _paths(tmp_path: Path) -> profiles.PkiPaths:
    for name in ("cert.pem", "key.pem", "root.pem"):
        (tmp_path / name).write_bytes(f"-----{name}-----\n".encode())
    return profiles.PkiPaths(cert=tmp_path / "cert.pem", key=tmp_path / "key.pem", root=tmp_path / "root.pem")


def _segw_settings(**kw: Any):  # noqa: ANN202
    base = {"pki_dir": "pki", "cert_name": "segw", "public_address": "203.0.113.10",
            "operator_address": "10.10.0.1", "services": {"amf": "10.10.0.2", "upf": "10.10.0.3"},
            "control_socket": "s", "ipsec_backend": "libipsec"}
    return parse_segw_settings({**base, **kw})


def test_segw_connections_by_policy(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    radius = {"address": "10.10.0.6", "secret_file": "aaa/radius.secret"}
    s = _segw_settings(radius=radius, femtos=[{"node": "femto1", "identity": FQDN, "hpm_required": True},
                                              {"node": "femto2", "identity": "X-2.femto.operator.nrfemto.test"}])
    conns = segw_connections(s, paths)
    assert list(conns) == [femto_conn_name("femto1"), femto_conn_name("femto2"), CONN_NAME]  # wildcard last
    f1, f2, wild = conns["femto-femto1"], conns["femto-femto2"], conns[CONN_NAME]
    # femto1: exact device FQDN, certificate round then EAP relayed to the AAA (RFC 4739)
    assert f1["remote-1"]["id"] == FQDN and f1["remote-1"]["auth"] == "pubkey"
    assert f1["remote-2"] == {"auth": "eap-radius", "eap_id": "%any"}
    # control: femto2's policy does not require it -> certificate only
    assert f2["remote-1"]["id"] == "X-2.femto.operator.nrfemto.test" and "remote-2" not in f2
    # unknown femtos (wildcard): the second round too, so femto1 cannot fall back to a weaker connection
    assert wild["remote-1"]["id"] == profiles.FEMTO_ID_PATTERN and "remote-2" in wild
    # every connection: same strong proposals, pool and service-only traffic selectors
    for c in conns.values():
        assert c["proposals"] == list(profiles.IKE_PROPOSALS) and c["pools"] == ["femtos"]
        assert c["children"]["femto"]["local_ts"] == ["10.10.0.2/32", "10.10.0.3/32"]
    # without an AAA (no hosting-party policy anywhere) the wildcard stays certificate-only, as before
    plain = segw_connections(_segw_settings(femtos=[{"node": "femto1", "identity": FQDN}]), paths)
    assert all("remote-2" not in c for c in plain.values())


def test_segw_service_gives_charon_eap_radius(tmp_path: Path) -> None:
    secret = tmp_path / "aaa" / "radius.secret"
    from testbed.aaa.radius_server import write_secret

    value = write_secret(secret).decode()
    s = _segw_settings(radius={"address": "10.10.0.6", "port": 1812, "secret_file": str(secret)},
                       femtos=[{"node": "femto1", "identity": FQDN, "hpm_required": True}])
    svc = SegwService(s, EventWriter(tmp_path / "ev.jsonl", "segw"), node_dir=tmp_path / "segw")
    ch = svc.charon.charon
    assert [(r.address, r.auth_port, r.secret) for r in ch.radius_servers] == [("10.10.0.6", 1812, value)]
    tree = ch.conf_tree()["charon"]["plugins"]["eap-radius"]  # type: ignore[index]
    assert tree == {"servers": {"aaa": {"address": "10.10.0.6", "secret": value, "auth_port": 1812}}}
    ch._plugins_present = {"vici", "x509", "pubkey", "socket-default", "kernel-libipsec", "kernel-netlink",
                           "eap-radius", "eap-identity"}
    assert ch.write_config().stat().st_mode & 0o777 == 0o600  # holds the secret
    assert "eap-radius" in ch.plugins()
    # control: no AAA -> no eap-radius, strongswan.conf without a secret
    plain = SegwService(_segw_settings(), EventWriter(tmp_path / "ev2.jsonl", "segw"), node_dir=tmp_path / "s2")
    assert plain.charon.charon.radius_servers == () and not plain.charon.charon.eap
    secret.write_text("")
    with pytest.raises(ConfigError, match="radius.secret.*empty"):
        SegwService(s, EventWriter(tmp_path / "ev3.jsonl", "segw"), node_dir=tmp_path / "s3")


def test_tunnel_fields_show_the_eap_identity() -> None:
    ike = {"uniqueid": "3", "state": "ESTABLISHED", "local-id": "segw.operator.nrfemto.test", "remote-id": FQDN,
           "remote-eap-id": NAI, "remote-host": "100.64.0.2", "remote-vips": ["10.11.0.1"],
           "child-sas": {"femto-4": {"state": "INSTALLED", "local-ts": ["10.10.0.2/32"], "remote-ts": ["10.11.0.1/32"]}}}
    assert tunnel_event_fields("femto-femto1", ike)["remote_eap_id"] == NAI
    assert tunnels_of([{"femto-femto1": ike}])[0]["remote_eap_id"] == NAI
    cert_only = {k: v for k, v in ike.items() if k != "remote-eap-id"}
    assert "remote_eap_id" not in tunnel_event_fields("femto-femto1", cert_only)
    assert tunnels_of([{"femto-femto1": cert_only}])[0]["remote_eap_id"] is None


def test_rejection_reasons_of_the_second_round() -> None:
    """Lines as charon 5.9.8 and the eap-aka-hpm plugin write them (home-femto run)."""
    femto_wrong_k = [
        "2026-12-02T08:22:59 14[IKE] <femto|3> eap-aka-hpm: HPM rejected AUTN: MAC failure, network not authentic "
        f"(TS 33.102 6.3.3) for '{NAI}'",
        "2026-12-02T08:22:59 01[IKE] <femto|3> received EAP_FAILURE, EAP authentication failed",
        "2026-12-02T08:22:59 01[ENC] <femto|3> generating INFORMATIONAL request 5 [ N(AUTH_FAILED) ]",
    ]
    assert rejection_reasons(femto_wrong_k)[:2] == ["hpm_mac_failure", "eap_failure"]
    assert rejection_reasons(["07[IKE] <femto|1> eap-aka-hpm: HPM has no card inserted"]) == ["hpm_no_card"]
    segw_aaa_reject = [f"2026-12-02T08:22:59 14[IKE] <femto-femto1|3> RADIUS authentication of '{NAI}' failed"]
    assert rejection_reasons(segw_aaa_reject) == ["hp_authentication_failed"]
    segw_skipped = [
        "2026-12-02T08:23:01 13[CFG] <femto-femto1|6> selected peer config 'femto-femto1' unacceptable: "
        "insufficient authentication rounds",
        "2026-12-02T08:23:01 13[CFG] <femto-femto1|6> switching to peer config 'segw'",
        "2026-12-02T08:23:01 13[CFG] <segw|6> selected peer config 'segw' unacceptable: insufficient authentication rounds",
        "2026-12-02T08:23:01 13[CFG] <segw|6> no alternative config found",
    ]
    assert rejection_reasons(segw_skipped) == ["hp_authentication_missing"]
    # control: a successful round states no reason
    ok = ["12[IKE] <femto|1> eap-aka-hpm: HPM verified AUTN and computed RES/CK/IK for 'x'",
          "14[IKE] <femto|1> EAP method EAP_AKA succeeded, MSK established",
          "12[CFG] <femto-femto1|1> received RADIUS Access-Accept from server 'aaa'"]
    assert rejection_reasons(ok) == []


# -- the femto's agent -------------------------------------------------------------------------------------
class _FakeVici:
    def __init__(self) -> None:
        self.loaded: list[tuple[str, dict[str, Any]]] = []

    def load_conn(self, name: str, conn: dict[str, Any]) -> None:
        self.loaded.append((name, copy.deepcopy(conn)))


def _agent(tmp_path: Path, required: bool, identities: list[Any]) -> tuple[BackhaulAgent, list[dict]]:
    settings = BackhaulSettings(node_dir=str(tmp_path / "femto1"), identity=FQDN, cert="c.pem", root_cert="r.pem",
                                segw_address="203.0.113.10", services={"amf": "10.10.0.2"},
                                control_socket=str(tmp_path / "bh.sock"), hpm_socket=str(tmp_path / "hpm.sock"),
                                hpm_required=required, ipsec_backend="libipsec")
    asked: list[dict] = []

    def request(path: Any, req: dict, timeout: float = 1.0) -> dict:
        asked.append(req)
        r = identities.pop(0) if len(identities) > 1 else identities[0]
        if isinstance(r, Exception):
            raise r
        return r

    agent = BackhaulAgent(settings, EventWriter(tmp_path / "ev.jsonl", "backhaul"), femto_push=lambda m: None,
                          hpm_identity_request=request)
    agent.aux = _FakeVici()  # type: ignore[assignment]
    agent._conn = profiles.femto_conn("203.0.113.10", FQDN, cert=b"c", root=b"r", remote_ts=["10.10.0.2"])
    return agent, asked


def test_agent_second_round_with_the_hpm_identity(tmp_path: Path) -> None:
    agent, asked = _agent(tmp_path, True, [{"ok": True, "identity": NAI}])
    ch = agent._charon_factory().charon
    assert ch.hpm_socket == (tmp_path / "hpm.sock").absolute() and ch.eap  # eap-aka + eap-aka-hpm (LD_PRELOAD)
    assert agent._prepare_hp_round() is None
    (name, conn), = agent.aux.loaded  # type: ignore[attr-defined]
    assert name == "femto" and conn["local-1"]["auth"] == "pubkey"
    assert conn["local-2"] == {"auth": "eap-aka", "id": FQDN, "eap_id": NAI}  # RFC 4739: IDi again, NAI for EAP
    assert asked == [{"op": "identity"}]
    assert agent._prepare_hp_round() is None and len(agent.aux.loaded) == 1  # type: ignore[attr-defined]
    # another card: the connection follows its identity
    other = NAI.replace("9001", "9002")
    agent._hpm_identity_request = lambda *a, **k: {"ok": True, "identity": other}
    assert agent._prepare_hp_round() is None
    assert agent.aux.loaded[-1][1]["local-2"]["eap_id"] == other  # type: ignore[attr-defined]
    # a removed or silent HPM: no attempt, a reason instead
    agent._hpm_identity_request = lambda *a, **k: {"ok": False, "error": "no_card"}
    assert agent._prepare_hp_round() == "hpm_unavailable"

    def gone(*a: Any, **k: Any) -> dict:
        raise OSError("no socket")

    agent._hpm_identity_request = gone
    assert agent._prepare_hp_round() == "hpm_unavailable"
    agent.charon = agent._charon_factory()
    agent.ctl = object()  # type: ignore[assignment]
    agent._attempt()
    st = agent.status()
    assert st["state"] == WAITING and st["last_rejection"]["reason"] == "hpm_unavailable"
    assert agent.counters["initiated"] == 0  # nothing sent to the SeGW
    agent.events.close()
    rej = read_events(tmp_path / "ev.jsonl", "backhaul.rejected")
    assert rej[0]["reason"] == "hpm_unavailable" and rej[0]["stage"] == "hpm"
    assert "9001" not in (tmp_path / "ev.jsonl").read_text()  # the HPM's identity is never in the events


def test_agent_without_the_policy_is_certificate_only(tmp_path: Path) -> None:
    agent, asked = _agent(tmp_path, False, [{"ok": True, "identity": NAI}])
    assert agent._charon_factory().charon.hpm_socket is None  # no HPM plugin loaded
    assert agent._prepare_hp_round() is None and asked == []  # the HPM is not even asked
    agent._load_conn(None)
    assert "local-2" not in agent.aux.loaded[-1][1]  # type: ignore[attr-defined]


# -- start-up of the femto's agent --------------------------------------------------------------------------
def test_agent_imports_no_pycrate() -> None:
    """The agent needs only the femto's TrE: ``testbed.femto`` imports its gNB stack lazily (PEP 562)."""
    code = ("import sys, testbed.segw.agent, testbed.segw.__main__, testbed.femto.tre; "
            "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('pycrate', 'testbed.femto.'))}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert json.loads(out.stdout.strip().replace("'", '"')) == ["testbed"]  # only testbed.femto.tre
    # control: the package's public names still resolve (and pull the stack in)
    code2 = ("import sys; from testbed.femto import FemtoGnb, FemtoConfig, SendNgap; import testbed.femto as f; "
             "print(FemtoGnb.__module__, f.Knobs.__name__, any(m.startswith('pycrate') for m in sys.modules))")
    out2 = subprocess.run([sys.executable, "-c", code2], capture_output=True, text=True, timeout=120, check=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out2.stdout.split() == ["testbed.femto.gnb", "Knobs", "True"]
    import testbed.femto as femto

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        femto.Nope  # noqa: B018


# -- the engine at 'up' (its provisioning steps only, no kernel objects) ----------------------------------
def test_engine_writes_card_and_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    import testbed.segw.charon as charon_mod
    from testbed.hpm.card import load_card
    from testbed.runtime.engine import Testbed
    from testbed.runtime.rundir import RunDir

    monkeypatch.setattr(charon_mod, "esp_backend", lambda: ("libipsec", "test"))  # no probe namespace
    topo = load_topology(HOME)
    seen: list[tuple[str, str, str]] = []
    stub = SimpleNamespace(topology=topo, plan=build_plan(topo), run_dir=RunDir.create("t", tmp_path),
                           progress=lambda kind, name, status, detail="": seen.append((kind, name, status)),
                           timings={}, warnings=[])
    Testbed._prepare_core(stub)  # type: ignore[arg-type]
    Testbed._prepare_backhaul(stub)  # type: ignore[arg-type]
    run = stub.run_dir.path
    card_path = run / "femto1" / "hpm" / "card.json"
    assert card_path.stat().st_mode & 0o777 == 0o600 and (run / "aaa" / "radius.secret").stat().st_mode & 0o777 == 0o600
    card = load_card(card_path)
    subs = yaml.safe_load((run / "core" / "subscribers.yaml").read_text())
    (record,) = [f["hpm"] for f in subs["femtos"] if f["name"] == "femto1"]
    assert (card.imsi, card.k, card.opc) == (record["imsi"], record["k"], record["opc"])  # card and store agree
    assert card.k not in (ROOT / "topologies/home-femto.yaml").read_text()  # generated for this run only
    assert ("hpm", "femto1", "provisioned") in seen and ("backhaul", "femto1", "hp-auth") in seen
    assert load_segw_settings(run / "segw" / "segw.json").radius is not None and not stub.warnings
