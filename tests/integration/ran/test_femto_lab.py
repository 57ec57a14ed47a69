"""The RAN on the built-in core (issue 5), in topologies/femto-lab.yaml: UE processes on the air segment,
the femto process, core and UPF in their nodes. A CAG member registers and pings the DN through its
PDU session TUN; a non-member gets #76 and its emergency registration is accepted; 200 UEs in one
process register and each pings the DN; the pcaps decode."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from testbed.protocols.pcap import tshark_check
from testbed.runtime.control import control_request
from testbed.runtime.engine import Testbed
from testbed.runtime.events import read_events
from testbed.topology.model import load_topology

ROOT = Path(__file__).resolve().parents[3]
DN = "10.20.0.10"
SUPI_MEMBER = "imsi-001010000000001"
SUPI_OTHER = "imsi-001010000000002"


def _until(pred, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return bool(pred())


def test_ues_register_through_the_femto_cag_and_user_plane(clean_system, runs_dir):
    topo = load_topology(ROOT / "topologies/femto-lab.yaml")
    with Testbed(topo, runs_base=runs_dir) as tb:
        run = tb.run_dir.path

        def ue(node: str, request: dict) -> dict:
            return control_request(run / "ue" / node / "control.sock", request, timeout=30)

        def nas_state(node: str) -> dict:
            return ue(node, {"op": "status", "ue": node})["ue"]["nas"]

        assert _until(lambda: nas_state("ue1")["sessions"].get("1", {}).get("state") == "active")
        assert _until(lambda: nas_state("ue2")["reject_cause"] == 76)
        # member: registered with a PDU session; the DN answers pings through its TUN
        st1 = nas_state("ue1")
        assert st1["state"] == "registered" and st1["sessions"]["1"]["ipv4"].startswith("10.45.")
        # (the TUN and its route come up right after the accept)
        assert _until(lambda: tb.run("ue1", ["ping", "-c1", "-W1", DN]).returncode == 0, 10)
        ping = tb.run("ue1", ["ping", "-c3", "-W2", DN])
        assert ping.returncode == 0, ping.stdout + ping.stderr
        # control: the non-member got #76 and holds no session ...
        st2 = nas_state("ue2")
        assert st2["state"] != "registered" and not st2["sessions"]
        assert tb.run("ue2", ["ping", "-c1", "-W1", DN]).returncode != 0
        # ... but its emergency registration is accepted (TS 23.501 5.30.3: emergency bypasses CAG)
        reply = ue("ue2", {"op": "register", "ue": "ue2", "type": "emergency", "wait": 10})
        assert reply["ok"], reply
        assert _until(lambda: nas_state("ue2")["state"] == "registered" and nas_state("ue2")["emergency"])

        amf_events = read_events(run / "events" / "amf.jsonl")
        assert any(e["type"] == "cag.reject" and e.get("supi") == SUPI_OTHER for e in amf_events)
        assert any(e["type"] == "cag.accept" for e in amf_events)
        assert any(e["type"] == "cag.bypass_emergency" for e in amf_events)
        # the femto never saw a SUPI (only SUCI/GUTI/NGAP ids)
        femto_text = (run / "events" / "femto.jsonl").read_text()
        for supi in (SUPI_MEMBER, SUPI_OTHER):
            assert supi[5:] not in femto_text and supi[-10:] not in femto_text

        # 200 UEs in one process on ue1's node: all register and each pings the DN from its address
        sock = run / "ue" / "bulk" / "control.sock"
        proc = tb.popen("ue1", [sys.executable, "-m", "testbed.ue", "--gnb", "10.200.1.1",
                                "--range", "imsi-001010000100000:200", "--position", "12,3,0",
                                "--dn-route", "10.20.0.0/24", "--tun-prefix", "bk", "--table-base", "20000",
                                "--state-dir", str(run / "ue" / "bulk"),
                                "--run-dir", str(run)], cwd=str(run))
        try:
            assert _until(lambda: sock.exists(), 30)

            def stats() -> dict:
                return control_request(sock, {"op": "stats"}, timeout=10)

            assert _until(lambda: stats()["sessions"] == 200 and stats()["tuns"] == 200, 120), stats()
            ues = control_request(sock, {"op": "list"}, timeout=10)["ues"]
            addresses = [u["sessions"]["1"] for u in ues]  # {psi: PDU address}
            assert len(set(addresses)) == 200
            script = " ".join(f"ping -c1 -W2 -I {a} {DN} >/dev/null && echo ok;" for a in addresses)
            out = tb.run("ue1", ["sh", "-c", script], timeout=300)
            assert out.stdout.count("ok") == 200, (out.stdout.count("ok"), out.stderr[-800:])
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    for seg, proto in (("air1", "udp"), ("operator", "ngap"), ("n6", "icmp")):
        frames = tshark_check(run / "pcaps" / f"{seg}.pcap")
        bad = [f for f in frames if f.malformed]
        assert frames and not bad, f"{seg}: malformed {bad[:3]}"
        assert proto in {p for f in frames for p in f.protocols}, seg
