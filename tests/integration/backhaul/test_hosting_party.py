"""Hosting-party authentication in the reference topology (TS 33.320 7.2.3; RFC 4739 second IKE_AUTH round).

topologies/home-femto.yaml: femto1 has an HPM (software UICC, service ``hpm``) and the operator's policy
(``core.femtos[femto1].hpm.required``) demands hosting-party authentication. One bring-up (only the
services ue1 needs: ue1, femto, backhaul, hpm, segw, aaa, amf, upf), then:

a. HPM correct: the SeGW's SA has both rounds (device FQDN + the HPM's NAI as remote EAP identity) on
   the per-femto connection, the AAA accepted it (``aaa.accept``), the HPM answered one AUTHENTICATE;
   no HPM identity (IMSI) in the femto's or the agent's events; ue1 registers and pings the DN;
b. ``nrfemto hpm femto1 remove``: tunnel down, N2 dropped and radio off within 1 s of the HPM's
   ``hpm.removed`` (both timestamps from the events files), no re-initiation while removed;
   ``insert``: tunnel (with a new EAP-AKA round) and radio back;
c. wrong K in the HPM's card (card rewritten, HPM restarted): the HPM reports a MAC failure, the AAA
   rejects, the SeGW records the failed EAP round, the agent records the reason; no tunnel, radio
   stays off; control: the right card restored -> tunnel and radio back;
d. a femto agent that skips the second round (its settings without ``hpm_required``) is refused by
   the SeGW (``hp_authentication_missing``): a femto whose policy requires the HPM never falls back
   to a certificate-only connection (control: the same agent settings with the HPM succeed above).

The opposite verdict of the policy (a femto with an HPM whose policy does not require it -> a
certificate-only tunnel, HPM removal does not matter) is ``test_hosting_party_policy.py``, a second,
smaller bring-up (no UEs, no femto radio).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.runtime.control import control_request
from testbed.runtime.engine import Testbed
from testbed.runtime.events import read_events
from testbed.topology.model import load_topology

ROOT = Path(__file__).resolve().parents[3]
HOME = ROOT / "topologies/home-femto.yaml"
DN = "10.20.0.10"
FEMTO_FQDN = "0200F5-HF-0001.femto.operator.nrfemto.test"
HPM_IMSI = "001010000009001"
HPM_NAI = f"0{HPM_IMSI}@nai.5gc.mnc001.mcc001.3gppnetwork.org"  # RFC 4187 4.1.1.6, TS 23.003 28.7
WRONG_K = "f0e0d0c0b0a090807060504030201000"


def _until(pred: Callable[[], Any], timeout: float = 20.0, step: float = 0.05) -> Any:
    end = time.monotonic() + timeout
    while True:
        try:
            value = pred()
        except (OSError, ValueError, KeyError, TypeError):
            value = None
        if value or time.monotonic() > end:
            return value
        time.sleep(step)


def _since(path: Path, type_: str, t: float, **match: Any) -> list[dict]:
    return [e for e in read_events(path, type_, **match) if e["ts"] >= t] if path.exists() else []


def _nrfemto(*args: str, timeout: float = 60.0) -> tuple[int, dict]:
    """The real CLI (``nrfemto hpm ...``) in a subprocess; (exit code, its JSON output)."""
    script = Path(sys.executable).parent / "nrfemto"
    argv = [str(script)] if script.exists() else [sys.executable, "-c", "from testbed.cli.main import main; main()"]
    r = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout, check=False)
    try:
        out = json.loads(r.stdout)
    except json.JSONDecodeError:
        out = {"stdout": r.stdout, "stderr": r.stderr}
    return r.returncode, out


class Run:
    """Helpers around one running home-femto topology."""

    def __init__(self, tb: Testbed) -> None:
        self.tb = tb
        self.path = tb.run_dir.path
        self.ev = self.path / "events"

    def agent(self, op: str, **kw: Any) -> dict:
        return control_request(self.path / "femto1" / "backhaul.sock", {"op": op, **kw}, timeout=30)

    def femto(self) -> dict:
        return control_request(self.path / "femto1" / "control.sock", {"op": "status"}, timeout=10)

    def segw(self, op: str, **kw: Any) -> dict:
        return control_request(self.path / "segw" / "control.sock", {"op": op, **kw}, timeout=10)

    def hpm(self, op: str) -> dict:
        return control_request(self.path / "femto1" / "hpm" / "hpm.sock", {"op": op}, timeout=5)

    def start_hpm(self) -> subprocess.Popen:
        """A replacement HPM process in femto1 (same card, socket and events file as the service)."""
        log = open(self.path / "logs" / "hpm-replacement.log", "ab")  # noqa: SIM115 - closed below
        try:
            proc = self.tb.popen("femto1", [sys.executable, "-m", "testbed.hpm",
                                            "--card", str(self.path / "femto1/hpm/card.json"),
                                            "--socket", str(self.path / "femto1/hpm/hpm.sock"),
                                            "--events", str(self.ev / "hpm.jsonl")],
                                 cwd=str(self.path), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env={**os.environ, "NRFEMTO_NODE": "femto1", "PYTHONPATH": str(ROOT)})
        finally:
            log.close()
        assert _until(lambda: self.hpm("status")["ok"], 15), "replacement HPM not answering"
        return proc


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def home_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Run, float]]:
    from tests.integration.conftest import system_snapshot

    before = system_snapshot()
    topo = load_topology(HOME)
    t_start = time.time()
    tb = Testbed(topo, runs_base=tmp_path_factory.mktemp("runs"), capture=False, services={"ue1"})
    with tb:
        yield Run(tb), t_start
    after = system_snapshot()
    for key in before:
        assert after[key] == before[key], f"{key} changed: before={before[key]} after={after[key]}"


def test_hpm_round_tunnel_and_ue(home_run: tuple[Run, float], record_property: Callable[..., None]) -> None:
    r, t_start = home_run
    ev = r.ev
    up = read_events(ev / "segw.jsonl", "backhaul.up")
    assert len(up) == 1, up
    up = up[0]
    # both rounds of RFC 4739 at the SeGW: the device certificate's FQDN and the HPM's EAP identity
    assert up["identity"] == FEMTO_FQDN and up["remote_eap_id"] == HPM_NAI, up
    assert up["conn"] == "femto-femto1", up  # the per-femto connection that demands the second round
    (tunnel,) = r.segw("tunnels")["tunnels"]
    assert tunnel["remote_id"] == FEMTO_FQDN and tunnel["remote_eap_id"] == HPM_NAI
    conns = {c["name"]: c for c in r.segw("connections")["connections"]}
    assert conns["femto-femto1"] == {"name": "femto-femto1", "remote_id": FEMTO_FQDN, "hp_authentication": True}
    assert conns["segw"]["hp_authentication"] is True  # unknown femtos: fail closed
    assert r.segw("connections")["aaa"] == "10.10.0.6:1812"
    accept = read_events(ev / "aaa.jsonl", "aaa.accept")
    assert len(accept) == 1 and accept[0]["identity"] == HPM_NAI and accept[0]["femto"] == "femto1", accept
    assert [e["result"] for e in read_events(ev / "hpm.jsonl", "hpm.authenticate")] == ["ok"]
    st = r.agent("status")
    assert st["state"] == "up" and st["hpm"]["required"] and st["hpm"]["present"], st
    bh_up = read_events(ev / "backhaul.jsonl", "backhaul.up")
    assert bh_up and bh_up[0]["hp_authentication"] is True
    # the HPM's identity stays between HPM, charon and the operator: not in the femto's or the agent's events
    for name in ("backhaul.jsonl", "femto.jsonl"):
        assert HPM_IMSI not in (ev / name).read_text(), name
    # the RADIUS secret: per run, owner only; the HPM card too
    assert (r.path / "aaa" / "radius.secret").stat().st_mode & 0o777 == 0o600
    assert (r.path / "femto1" / "hpm" / "card.json").stat().st_mode & 0o777 == 0o600

    # ue1 still registers through femto -> tunnel -> core and reaches the DN
    def ue1() -> dict:
        return control_request(r.path / "ue" / "ue1" / "control.sock", {"op": "status", "ue": "ue1"},
                               timeout=30)["ue"]["nas"]

    assert _until(lambda: ue1()["sessions"].get("1", {}).get("state") == "active", 30), ue1()
    assert _until(lambda: r.tb.run("ue1", ["ping", "-c1", "-W1", DN]).returncode == 0, 15)
    timings = {"up_s": r.tb.timings["up_s"], "tunnel_up_after_s": round(up["ts"] - t_start, 3),
               "agent_setup_s": bh_up[0]["setup_s"]}
    for k, v in timings.items():
        record_property(k, v)
    print("bring-up with the EAP-AKA round:", timings)


def test_hpm_removal_radio_off_then_insert(home_run: tuple[Run, float], record_property: Callable[..., None]) -> None:
    r, _ = home_run
    ev = r.ev
    assert r.femto()["radio"]["on"]
    t0 = time.time()
    code, out = _nrfemto("hpm", "femto1", "remove", "--run", str(r.path), "--wait", "5")
    assert code == 0, out
    assert out["hpm"]["inserted"] is False and out["radio"]["radio_on"] is False, out
    removed = _since(ev / "hpm.jsonl", "hpm.removed", t0)
    off = _until(lambda: _since(ev / "femto.jsonl", "femto.radio_off", t0), 5)
    assert removed and off, (removed, off)
    radio_off_s = off[0]["ts"] - removed[0]["ts"]
    record_property("hpm_removed_to_radio_off_s", round(radio_off_s, 4))
    print(f"hpm.removed -> femto.radio_off: {radio_off_s * 1000:.1f} ms; CLI timings {out['timings']}")
    assert 0 <= radio_off_s < 1.0  # TS 33.320 7.2.3: HPM removed -> air interface off
    assert out["timings"]["radio_off_after_s"] is not None and out["timings"]["radio_off_after_s"] < 1.0
    fst = r.femto()
    assert not fst["radio"]["on"] and fst["n2"]["state"] == "down" and fst["backhaul"]["state"] == "down"
    down = _since(ev / "backhaul.jsonl", "backhaul.down", t0)
    assert down and down[0]["reason"] == "hpm removed", down
    assert _until(lambda: r.segw("status")["tunnels"] == 0, 5)
    initiated = r.agent("status")["counters"]["initiated"]
    time.sleep(1.5)  # it stays down while the HPM is out: no re-initiation
    st = r.agent("status")
    assert st["state"] == "hpm_removed" and st["counters"]["initiated"] == initiated and not r.femto()["radio"]["on"]

    t1 = time.time()
    code, out = _nrfemto("hpm", "femto1", "insert", "--run", str(r.path), "--wait", "20")
    assert code == 0, out
    assert out["radio"] == {"radio_on": True, "n2": "up", "backhaul": "up"}, out
    record_property("hpm_inserted_to_radio_on_s", out["timings"]["radio_on_after_s"])
    print(f"hpm.inserted -> tunnel up / radio on: {out['timings']}")
    assert len(_since(ev / "aaa.jsonl", "aaa.accept", t1)) == 1  # a fresh EAP-AKA round, accepted
    (tunnel,) = r.segw("tunnels")["tunnels"]
    assert tunnel["remote_eap_id"] == HPM_NAI


def test_wrong_k_refused_then_restored(home_run: tuple[Run, float]) -> None:
    r, _ = home_run
    ev = r.ev
    card_path = r.path / "femto1" / "hpm" / "card.json"
    service = r.tb.services.states["hpm"] if r.tb.services else None
    replacement: subprocess.Popen | None = None
    try:
        original = card_path.read_text()
        # the HPM process keeps its card in memory: stop it, then a new one reads the wrong K
        assert service is not None and service.proc is not None
        service.proc.send_signal(signal.SIGTERM)
        service.proc.wait(10)
        wrong = {**json.loads(original), "k": WRONG_K}
        fd = os.open(card_path, os.O_WRONLY | os.O_TRUNC)
        with os.fdopen(fd, "w") as f:
            json.dump(wrong, f)
        assert _until(lambda: not r.femto()["radio"]["on"], 5)  # an HPM that does not answer counts as removed
        t0 = time.time()
        replacement = r.start_hpm()
        rejected = _until(lambda: _since(ev / "backhaul.jsonl", "backhaul.rejected", t0, reason="hpm_mac_failure"), 20)
        assert rejected, read_events(ev / "backhaul.jsonl", "backhaul.rejected")
        assert "eap_failure" in rejected[0]["reasons"] or "authentication_failed" in rejected[0]["reasons"], rejected
        assert _since(ev / "hpm.jsonl", "hpm.authenticate", t0, result="mac_failure")
        aaa_reject = _until(lambda: _since(ev / "aaa.jsonl", "aaa.reject", t0), 5)
        assert aaa_reject and aaa_reject[0]["identity"] == HPM_NAI and "MAC" in aaa_reject[0]["reason"], aaa_reject
        segw_rej = _until(lambda: _since(ev / "segw.jsonl", "backhaul.rejected", t0,
                                         reason="hp_authentication_failed"), 5)
        assert segw_rej and segw_rej[0]["claimed_identity"] == FEMTO_FQDN, read_events(ev / "segw.jsonl")
        assert not _since(ev / "aaa.jsonl", "aaa.accept", t0)
        time.sleep(1.0)
        assert not r.femto()["radio"]["on"] and r.segw("status")["tunnels"] == 0
        assert not _since(ev / "femto.jsonl", "femto.radio_on", t0)
        st = r.agent("status")
        assert st["state"] in ("retry_wait", "connecting") and st["last_rejection"]["reason"] == "hpm_mac_failure", st

        # control: the right card again -> the same agent path authenticates, tunnel and radio come back
        _stop(replacement)
        card_path.write_text(original)
        t1 = time.time()
        replacement = r.start_hpm()
        assert r.agent("up")["ok"]  # skip the backoff
        assert _until(lambda: r.femto()["radio"]["on"], 30), (r.agent("status"), r.femto())
        assert _since(ev / "aaa.jsonl", "aaa.accept", t1)
    finally:
        _stop(replacement)


def test_agent_without_second_round_refused(home_run: tuple[Run, float]) -> None:
    """The SeGW enforces the policy: a femto that requires the HPM but authenticates with its certificate
    only is refused; charon does not switch it to a connection without the second round."""
    r, _ = home_run
    ev = r.ev
    service = r.tb.services.states["backhaul"] if r.tb.services else None
    assert service is not None and service.proc is not None
    settings = json.loads((r.path / "femto1" / "backhaul.json").read_text())
    cert_only = {**settings, "hpm_required": False}
    cfg = r.path / "femto1" / "backhaul-cert-only.json"
    cfg.write_text(json.dumps(cert_only))
    service.proc.send_signal(signal.SIGTERM)  # the agent: the femto is told (radio off), charon stops
    service.proc.wait(10)
    t0 = time.time()
    log = open(r.path / "logs" / "backhaul-cert-only.log", "ab")  # noqa: SIM115 - closed below
    try:
        agent = r.tb.popen("femto1", [sys.executable, "-m", "testbed.segw", "femto", "--state-dir", "femto1",
                                      "--config", str(cfg)], cwd=str(r.path), stdout=log, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, env={**os.environ, "NRFEMTO_NODE": "femto1",
                                                          "NRFEMTO_EVENTS": str(ev / "backhaul.jsonl"),
                                                          "PYTHONPATH": str(ROOT)})
    finally:
        log.close()
    try:
        refused = _until(lambda: _since(ev / "segw.jsonl", "backhaul.rejected", t0,
                                        reason="hp_authentication_missing"), 20)
        assert refused and refused[0]["claimed_identity"] == FEMTO_FQDN, read_events(ev / "segw.jsonl")
        seg_log = (r.path / "segw" / "charon.log").read_text()
        assert "no alternative config found" in seg_log  # the wildcard demands the second round too
        rej = _until(lambda: _since(ev / "backhaul.jsonl", "backhaul.rejected", t0), 10)
        assert rej and rej[0]["reason"] == "authentication_failed", rej  # AUTHENTICATION_FAILED from the SeGW
        time.sleep(1.0)
        assert r.segw("status")["tunnels"] == 0 and not r.femto()["radio"]["on"]
        assert not _since(ev / "segw.jsonl", "backhaul.up", t0)
    finally:
        _stop(agent)
