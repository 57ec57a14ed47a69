"""Control case of hosting-party authentication (TS 33.320 7.2.3): the operator's policy decides, not the HPM.

home-femto.yaml with ``core.femtos[femto1].hpm.required: false`` (femto1 still has its HPM service):
the SeGW's connection for femto1 has no second round, the femto's agent does not load the HPM plugin,
the tunnel is certificate-only (no EAP identity on the SA, nothing at the AAA or the HPM) and removing
the HPM leaves it up. The opposite verdicts are in ``test_hosting_party.py``. Only the services the
backhaul needs are started (segw, hpm, aaa, amf, upf, backhaul).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from testbed.runtime.control import control_request
from testbed.runtime.engine import Testbed
from testbed.runtime.events import read_events
from testbed.topology.model import parse_topology

ROOT = Path(__file__).resolve().parents[3]
HOME = ROOT / "topologies/home-femto.yaml"
FEMTO_FQDN = "0200F5-HF-0001.femto.operator.nrfemto.test"


def test_policy_not_required_certificate_only(tmp_path: Path, clean_system: Any, record_property: Any) -> None:
    data = yaml.safe_load(HOME.read_text())
    (femto1,) = [f for f in data["core"]["femtos"] if f["name"] == "femto1"]
    femto1["hpm"]["required"] = False
    topo = parse_topology(data, str(HOME))
    t0 = time.time()
    tb = Testbed(topo, runs_base=tmp_path / "runs", capture=False, services={"backhaul"})
    with tb:
        run = tb.run_dir.path
        ev = run / "events"

        def ask(sock: str, op: str) -> dict:
            return control_request(run / sock, {"op": op}, timeout=10)

        up = read_events(ev / "segw.jsonl", "backhaul.up")
        assert len(up) == 1 and up[0]["identity"] == FEMTO_FQDN and up[0]["conn"] == "femto-femto1", up
        assert up[0].get("remote_eap_id") is None  # certificate only: no second round
        (tunnel,) = ask("segw/control.sock", "tunnels")["tunnels"]
        assert tunnel["remote_id"] == FEMTO_FQDN and tunnel["remote_eap_id"] is None
        conns = {c["name"]: c for c in ask("segw/control.sock", "connections")["connections"]}
        assert conns["femto-femto1"]["hp_authentication"] is False
        assert conns["segw"]["hp_authentication"] is True  # unknown femtos still must pass it
        st = ask("femto1/backhaul.sock", "status")
        assert st["state"] == "up" and st["hpm"]["required"] is False
        bh_up = read_events(ev / "backhaul.jsonl", "backhaul.up")
        assert bh_up and bh_up[0]["hp_authentication"] is False
        assert ask("femto1/hpm/hpm.sock", "status")["inserted"] is True  # it has an HPM ...
        assert not read_events(ev / "hpm.jsonl", "hpm.authenticate")  # ... that nobody asked
        assert not read_events(ev / "aaa.jsonl", "aaa.challenge") and not read_events(ev / "aaa.jsonl", "aaa.accept")
        assert "eap-aka-hpm" not in (run / "femto1" / "strongswan.conf").read_text()
        assert ask("femto1/hpm/hpm.sock", "remove") == {"ok": True}
        time.sleep(1.0)
        assert ask("femto1/backhaul.sock", "status")["state"] == "up"
        assert ask("segw/control.sock", "status")["tunnels"] == 1
        record_property("tunnel_up_after_s", round(up[0]["ts"] - t0, 3))
        print(f"certificate-only tunnel up {up[0]['ts'] - t0:.2f} s after the start of 'up'")
