"""The built-in core in the reference topology: NGAP over SCTP across namespaces, CAG enforcement,
PFCP to the UPF in its own node and GTP-U through the UPF to the DN (TS 23.502 4.2.2, 4.3.2)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from testbed.protocols.pcap import tshark_check
from testbed.runtime.control import control_request
from testbed.runtime.engine import Testbed
from testbed.runtime.events import read_events
from testbed.topology.model import load_topology

ROOT = Path(__file__).resolve().parents[3]
PEER = Path(__file__).with_name("peer.py")


def _control(path: Path, request: dict) -> dict:
    return control_request(path, request, timeout=5)


def test_core_registers_enforces_cag_and_forwards_user_plane(clean_system, runs_dir):
    topo = load_topology(ROOT / "topologies/home-femto.yaml")
    # only the core and the UPF: this test drives its own scripted gNB and UEs
    with Testbed(topo, runs_base=runs_dir, services={"amf", "upf"}) as tb:
        run = tb.run_dir.path
        state = tb.state()
        assert state["services"]["amf"]["status"] == "ready"
        assert state["services"]["upf"]["status"] == "ready"
        # The scripted gNB/UEs run on the operator network (the SeGW backhaul is not in yet).
        local = tb.plan.address("ms", "operator")
        r = tb.run("ms", [sys.executable, str(PEER), "--amf", tb.plan.address("core"), "--local", local,
                          "--run-dir", str(run), "--dn", tb.plan.address("dn")], timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        result = json.loads(r.stdout.strip().splitlines()[-1])
        # NG Setup: a gNB announcing a CAG ID it is not authorised for is refused (control: the femto)
        assert result["rogue_ng_setup"] == "NGSetupFailure"
        assert result["femto_ng_setup"] == "NGSetupResponse"
        assert result["other_ng_setup"] == "NGSetupResponse"
        # CAG: member accepted, non-member #76, emergency bypass
        assert result["ue1"] == "accept"
        assert result["ue2"] == "reject 76"
        assert result["ue2_emergency"] == "accept"
        # cross-gNB message for a foreign UE answered with ErrorIndication
        assert "ErrorIndication" in result["cross_gnb"]
        # user plane: PDU session and pings answered by the DN through the UPF
        assert result["pdu_session"] == "PduSessionEstablishmentAccept"
        assert result["ue_ip"].startswith("10.45.")
        assert result["ping_replies"] >= 2

        events = read_events(run / "events" / "amf.jsonl")
        types = [e["type"] for e in events]
        refused = [e for e in events if e["type"] == "ngsetup.refused"]
        assert refused and 0x999 in refused[0]["cag_ids"]
        rejects = [e for e in events if e["type"] == "cag.reject"]
        assert rejects and rejects[0]["supi"] == "imsi-001010000000002"
        assert "cag.accept" in types and "ngap.foreign_ue" in types
        schemes = {e.get("suci_scheme") for e in events if e["type"] == "registration.request"}
        assert {1, 2} <= schemes, schemes  # SUCI Profile A and B were used
        # the SUPI is in the operator's events, never in what was sent to the gNBs (checked in unit tests)
        assert any(e["type"] == "security.mode" or e["type"] == "nas.security_mode" for e in events)

        import subprocess
        cli = subprocess.run([str(Path(sys.executable).with_name("nrfemto")), "core", "status", "--run", str(run)],
                             capture_output=True, text=True, timeout=30, check=False)
        assert cli.returncode == 0, cli.stderr
        status = json.loads(cli.stdout)
        assert status["subscribers"] == 3 and status["gnbs"] == 0  # the peer has gone: its gNBs with it
        ues = _control(run / "core" / "control.sock", {"op": "ues"})
        assert ues["ok"] and ues["ues"]
        upf = _control(run / "upf" / "control.sock", {"op": "counters"})
        assert upf["ok"]
        # provisioning while running: the member loses CAG 0x101 -> the AMF acts on it
        reply = _control(run / "core" / "control.sock",
                         {"op": "set_allowed_cag", "supi": "imsi-001010000000001", "cag_ids": []})
        assert reply["ok"]
        reply = _control(run / "core" / "control.sock", {"op": "get_subscriber", "supi": "imsi-001010000000001"})
        text = json.dumps(reply)
        assert reply["ok"] and '"k":' not in text and '"opc":' not in text
    # Every pcap of the run decodes without malformed frames (NGAP/SCTP, PFCP, GTP-U).
    for seg in ("operator", "n6"):
        pcap = run / "pcaps" / f"{seg}.pcap"
        frames = tshark_check(pcap)
        bad = [f for f in frames if f.malformed]
        assert frames and not bad, f"{seg}: malformed frames {bad[:3]}"
        protocols = {p for f in frames for p in f.protocols}
        assert {"operator": "ngap", "n6": "icmp"}[seg] in protocols, f"{seg}: {sorted(protocols)}"
        if seg == "operator":
            assert {"pfcp", "gtp"} <= protocols, sorted(protocols)
