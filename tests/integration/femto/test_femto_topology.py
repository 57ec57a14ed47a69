"""The femto process in a topology: radio off until allowed, NG Setup over SCTP with the built-in core,
UEs on the air segment register through it (CAG member accepted, non-member #76), a PDU session and
pings to the DN through femto -> UPF -> N6, and nothing the femto records reveals a SUPI.

The backhaul is routed in the clear (the femto sits on the operator segment) until the SeGW lands.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml

from testbed.femto.topology import femto_config_for
from testbed.protocols.pcap import tshark_check
from testbed.runtime.control import control_request
from testbed.runtime.engine import Testbed
from testbed.runtime.events import read_events
from testbed.topology.model import load_topology
from testbed.topology.plan import build_plan

ROOT = Path(__file__).resolve().parents[3]
PEER = Path(__file__).with_name("ue_peer.py")
CAG = 0x101


def _topology(tmp: Path) -> Path:
    """home-femto reduced to air1/operator/n6, femto1 on the operator segment with a femto service."""
    base = yaml.safe_load((ROOT / "topologies/home-femto.yaml").read_text())
    femto_cfg = tmp / "femto1.json"
    topo = {
        "name": "femto-lab",
        "description": "femto process on the operator segment (backhaul in the clear), built-in core, UPF, DN",
        "segments": {k: base["segments"][k] for k in ("air1", "operator", "n6")},
        "nodes": {
            "ue1": {"role": "ue-host", "position": [10, 0, 0], "links": ["air1"]},
            "femto1": {"role": "femto", "position": [0, 0, 0],
                       "links": [{"segment": "air1", "address": "10.200.1.1"},
                                 {"segment": "operator", "address": "10.10.0.5"}],
                       "services": {"femto": {
                           "command": ["{python}", "-m", "testbed.femto", "--config", str(femto_cfg),
                                       "--control", "femto1/control.sock", "--log-level", "DEBUG"],
                           "depends_on": ["amf"], "ready": {"event": "femto.ready", "timeout": 30}}}},
            **{k: base["nodes"][k] for k in ("core", "upf", "dn")},
        },
        "core": base["core"],
    }
    topo["nodes"]["core"]["services"]["amf"]["restart"] = "always"  # the AMF restart case below
    path = tmp / "femto-lab.yaml"
    path.write_text(yaml.safe_dump(topo, sort_keys=False))
    # the femto's configuration as the orchestrator derives it from the topology
    cfg = femto_config_for(build_plan(load_topology(path)), "femto1", radio_enabled_at_start=False)
    assert (cfg.n3_address, cfg.amf_address, cfg.cag_ids) == ("10.10.0.5", "10.10.0.2", (CAG,))
    femto_cfg.write_text(cfg.model_dump_json())
    return path


def test_femto_registers_ues_to_the_core_and_relays_user_plane(clean_system, runs_dir, tmp_path):
    topo = load_topology(_topology(tmp_path))
    with Testbed(topo, runs_base=runs_dir) as tb:
        run = tb.run_dir.path
        assert tb.state()["services"]["femto"]["status"] == "ready"
        sock = run / "femto1" / "control.sock"
        status = control_request(sock, {"op": "status"}, timeout=5)
        assert status["n2"]["state"] == "up" and status["radio"] == {"allowed": False, "on": False}
        # radio off until allowed: a UE hears nothing
        probe = tb.run("ue1", [sys.executable, str(PEER), "--femto", "10.200.1.1", "--run-dir", str(run),
                               "--probe"], timeout=30)
        assert probe.returncode == 0, probe.stderr[-2000:]
        assert json.loads(probe.stdout.strip().splitlines()[-1]) == {"heard": False}
        assert control_request(sock, {"op": "radio_on"}, timeout=5)["radio"]["on"] is True
        r = tb.run("ue1", [sys.executable, str(PEER), "--femto", "10.200.1.1", "--run-dir", str(run),
                           "--dn", tb.plan.address("dn")], timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        result = json.loads(r.stdout.strip().splitlines()[-1])
        assert result["ue1_sib1_cag_ids"] == [CAG] and result["ue1_dbm"] == -10
        assert result["ue1"] == "accept"
        assert result["ue2"] == "reject 76"
        assert result["pdu_session"] == "PduSessionEstablishmentAccept" and result["ue_ip"].startswith("10.45.")
        assert result["ping_replies"] >= 2
        time.sleep(2.5)  # the UEs have stopped: link timeout, UE context release
        ues = control_request(sock, {"op": "ues"}, timeout=5)
        counters = control_request(sock, {"op": "counters"}, timeout=5)
        assert counters["counters"]["n3"]["ul_packets"] >= 3 and counters["counters"]["n3"]["dl_packets"] >= 2

        events = read_events(run / "events" / "femto.jsonl")
        types = [e["type"] for e in events]
        assert "femto.ready" in types and types.count("femto.initial_ue") >= 2
        assert "femto.pdu_session_setup" in types and "femto.ue_context_release_request" in types
        amf_types = [e["type"] for e in read_events(run / "events" / "amf.jsonl")]
        assert "cag.reject" in amf_types and "cag.accept" in amf_types
        # the AMF restarts: the association drops, the femto reconnects, repeats NG Setup, serves again
        amf = tb.services.states["amf"].proc
        amf.terminate()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if [e["type"] for e in read_events(run / "events" / "femto.jsonl")].count("femto.ng_setup_accepted") >= 2:
                break
            time.sleep(0.5)
        assert control_request(sock, {"op": "status"}, timeout=5)["n2"]["state"] == "up"
        again = tb.run("ue1", [sys.executable, str(PEER), "--femto", "10.200.1.1", "--run-dir", str(run),
                               "--dn", tb.plan.address("dn")], timeout=120)
        assert again.returncode == 0, again.stderr[-3000:]
        result = json.loads(again.stdout.strip().splitlines()[-1])
        assert result["ue1"] == "accept" and result["ping_replies"] >= 2
        events = read_events(run / "events" / "femto.jsonl")
        types = [e["type"] for e in events]
        assert "femto.n2_down" in types and types.count("femto.ready") == 1
        # SUPI hiding: the femto's events, log and control answers never name a subscriber
        text = "\n".join([(run / "events" / "femto.jsonl").read_text(), (run / "logs" / "femto.log").read_text(),
                          json.dumps([status, ues, counters])])
        # (the MSINs 000000000x are too short to search for on their own: STIs and ids contain them)
        for secret in ("imsi-00101", "001010000000001", "001010000000002", "491700000001", "491700000002"):
            assert secret not in text, secret
    # the air segment (RLS over UDP 4997), N2/N3 and N6 captures decode without malformed frames
    for seg, proto in (("air1", "udp"), ("operator", "ngap"), ("n6", "icmp")):
        frames = tshark_check(run / "pcaps" / f"{seg}.pcap")
        bad = [f for f in frames if f.malformed]
        assert frames and not bad, f"{seg}: malformed frames {bad[:3]}"
        protocols = {p for f in frames for p in f.protocols}
        assert proto in protocols, f"{seg}: {sorted(protocols)}"
        if seg == "operator":
            assert "gtp" in protocols, sorted(protocols)
