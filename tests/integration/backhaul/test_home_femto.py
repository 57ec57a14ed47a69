"""The reference topology with the secure backhaul (issue 6): femto1 behind the home NAT reaches the
operator network only through an IKEv2/IPsec tunnel to the strongSwan SeGW (TS 33.320 7.2-7.4,
TS 33.210, TS 33.310; TR 33.745 for the NR femto).

One bring-up of topologies/home-femto.yaml, then:

- tunnel up: the SeGW authenticated the femto's device FQDN (from OUI + serial) through the NAT, then its
  HPM (EAP-AKA second round), AES-GCM proposals, a virtual IP from the pool, service-only traffic selectors;
- ue1 (CAG member) registers and pings the DN through femto -> tunnel -> UPF (the UPF sees GTP-U from
  the virtual IP); ue2 (not a member) gets #76;
- atk-inet and atk-lan cannot reach the operator network, even with routes pointed at the SeGW, the
  home router or the femto (control: the same TCP probe from the operator side is answered);
- tunnel down on request -> the femto's radio is off within 1 s, N2 dropped; up again -> radio on;
- tampered TrE image -> after a reboot no device key, no IKE at all, radio off (control: the
  restored image boots, tunnel and radio come back);
- revocation online: the device certificate names the OCSP responder / CRL server on node 'pki'; the
  SeGW asked it and was told 'good' (control); after 'nrfemto pki revoke femto1' the responder says
  'revoked' and the SeGW refuses the femto (certificate_revoked, via=ocsp), no tunnel, radio off;
- captures: on the home, access and internet segments every packet from/to the femto's addresses
  (its LAN address, the NAT's public address) is ARP or UDP 500/4500; no SCTP/NGAP, GTP-U or NTP in
  clear anywhere there (control: the operator segment does carry NGAP and GTP-U from the virtual IP).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testbed.femto import tre
from testbed.pki import RunPki, crl_urls, ocsp_urls
from testbed.runtime.control import control_request
from testbed.runtime.engine import Testbed
from testbed.runtime.events import read_events
from testbed.topology.model import load_topology

ROOT = Path(__file__).resolve().parents[3]
DN = "10.20.0.10"
AMF = "10.10.0.2"
POOL = ipaddress.IPv4Network("10.11.0.0/24")
FEMTO_FQDN = "0200F5-HF-0001.femto.operator.nrfemto.test"
SUPI_OTHER = "imsi-001010000000002"
SEGW_OPERATOR = "10.10.0.1"
OCSP_URL = "http://10.10.0.7:8080/ocsp"   # node 'pki' (topologies/home-femto.yaml)
CRL_URL = "http://10.10.0.7:8080/crl.der"

_TCP = r"""
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    print("CONNECTED")
except ConnectionRefusedError:
    print("REFUSED")
except OSError as e:
    print("FAIL", type(e).__name__, e)
"""


def _until(pred: Callable[[], Any], timeout: float = 20.0, step: float = 0.05) -> Any:
    end = time.monotonic() + timeout
    while True:
        try:
            value = pred()
        except (OSError, ValueError, KeyError):
            value = None
        if value or time.monotonic() > end:
            return value
        time.sleep(step)


def _tcp(tb: Testbed, node: str, addr: str, port: int, timeout: float = 1.5) -> str:
    r = tb.run(node, [sys.executable, "-c", _TCP, addr, str(port), str(timeout)], timeout=timeout + 15)
    return r.stdout.strip()


def _frames(pcap: Path) -> list[dict[str, str]]:
    fields = ["frame.number", "frame.protocols", "ip.src", "ip.dst", "udp.srcport", "udp.dstport",
              "arp.src.proto_ipv4", "arp.dst.proto_ipv4"]
    cmd = ["tshark", "-n", "-r", str(pcap), "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert out.returncode == 0, out.stderr
    return [dict(zip(fields, line.split("|"), strict=False)) for line in out.stdout.splitlines() if line]


def test_home_femto_secure_backhaul(clean_system, runs_dir, record_property):
    topo = load_topology(ROOT / "topologies/home-femto.yaml")
    t_start = time.time()
    tb = Testbed(topo, runs_base=runs_dir)
    with tb:
        run = tb.run_dir.path
        ev = run / "events"
        nat = tb.plan.address("homegw", "access")
        femto_lan = tb.plan.address("femto1", "home")

        def agent(op: str, **kw: Any) -> dict:
            return control_request(run / "femto1" / "backhaul.sock", {"op": op, **kw}, timeout=30)

        def femto() -> dict:
            return control_request(run / "femto1" / "control.sock", {"op": "status"}, timeout=10)

        def segw(op: str, **kw: Any) -> dict:
            return control_request(run / "segw" / "control.sock", {"op": op, **kw}, timeout=10)

        def ue(node: str) -> dict:
            return control_request(run / "ue" / node / "control.sock", {"op": "status", "ue": node},
                                   timeout=30)["ue"]["nas"]

        # ---- tunnel up: identities, proposals, NAT traversal, virtual IP, selectors
        up = read_events(ev / "segw.jsonl", "backhaul.up")
        assert len(up) == 1, up
        up = up[0]
        assert up["identity"] == FEMTO_FQDN and up["segw_identity"] == "segw.operator.nrfemto.test"
        assert up["proposal"].startswith("AES_GCM_16") and up["esp_proposal"].startswith("AES_GCM_16"), up
        assert up["remote_addr"] == nat  # the SeGW saw the femto through the home router's NAT
        # hosting-party authentication (TS 33.320 7.2.3): the HPM's NAI from the second round (test_hosting_party.py)
        assert up["remote_eap_id"] == "0001010000009001@nai.5gc.mnc001.mcc001.3gppnetwork.org", up
        vip = up["vip"]
        assert ipaddress.IPv4Address(vip) in POOL
        services = sorted(f"{a}/32" for a in ("10.10.0.2", "10.10.0.3", "10.10.0.4", "10.10.0.5"))
        assert sorted(up["local_ts"]) == services and up["remote_ts"] == [f"{vip}/32"]
        st = agent("status")
        assert st["state"] == "up" and st["vip"] == vip and st["tunnel"]["nat"] and st["tunnel"]["encap"]
        assert st["tre"]["ok"] and st["ipsec_backend"] in ("libipsec", "kernel")
        fst = femto()
        assert fst["backhaul"] == {"state": "up", "vip": vip, "reason": ""}
        assert fst["n3"][0] == vip and fst["radio"]["on"] and fst["n2"]["state"] == "up"

        # ---- ue1 registers and reaches the DN through femto -> tunnel -> UPF; ue2 gets #76
        assert _until(lambda: ue("ue1")["sessions"].get("1", {}).get("state") == "active", 30), ue("ue1")
        assert _until(lambda: ue("ue2")["reject_cause"] == 76, 30), ue("ue2")
        assert _until(lambda: tb.run("ue1", ["ping", "-c1", "-W1", DN]).returncode == 0, 15)
        ping = tb.run("ue1", ["ping", "-c3", "-i", "0.2", "-W2", DN])
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert ue("ue2")["state"] != "registered" and tb.run("ue2", ["ping", "-c1", "-W1", DN]).returncode != 0
        assert any(e.get("supi") == SUPI_OTHER for e in read_events(ev / "amf.jsonl", "cag.reject"))
        tunnels = segw("tunnels")["tunnels"]
        assert len(tunnels) == 1 and int(tunnels[0]["children"][0]["bytes_in"]) > 0

        # timings of the bring-up (from the start of 'up')
        ue1_reg = read_events(ev / "ue1.jsonl", "registration.accepted")
        timings = {"up_s": tb.timings["up_s"], "tunnel_up_after_s": round(up["ts"] - t_start, 3),
                   "ue1_registered_after_s": round(ue1_reg[0]["ts"] - t_start, 3)}
        for k, v in timings.items():
            record_property(k, v)
        print("bring-up timings:", timings)

        # ---- attackers: nothing of the operator network, not even with routes via SeGW / router / femto
        tb.run("atk-inet", ["ip", "route", "add", "10.10.0.0/24", "via", "203.0.113.10"])
        tb.run("atk-inet", ["ip", "route", "add", str(POOL), "via", "203.0.113.10"])
        assert tb.run("atk-inet", ["ping", "-c2", "-i", "0.2", "-W1", AMF]).returncode != 0
        assert not _tcp(tb, "atk-inet", AMF, 80).startswith(("CONNECTED", "REFUSED"))
        assert tb.run("atk-inet", ["ping", "-c2", "-i", "0.2", "-W1", vip]).returncode != 0  # into the tunnel
        for via in (tb.plan.address("homegw", "home"), femto_lan):
            tb.run("atk-lan", ["ip", "route", "replace", "10.10.0.0/24", "via", via])
            assert tb.run("atk-lan", ["ping", "-c2", "-i", "0.2", "-W1", AMF]).returncode != 0, via
            assert not _tcp(tb, "atk-lan", AMF, 80).startswith(("CONNECTED", "REFUSED")), via
        # control: the same probes from the operator side do reach the AMF's node (RST from port 80)
        assert _tcp(tb, "ms", AMF, 80) == "REFUSED"
        assert tb.run("ms", ["ping", "-c1", "-W1", AMF]).returncode == 0

        # ---- tunnel down on request: radio off within 1 s, N2 dropped; then up again
        t_down = time.time()
        reply = agent("down")
        assert reply["ok"] and reply["was_up"], reply
        off = _until(lambda: [e for e in read_events(ev / "femto.jsonl", "femto.radio_off") if e["ts"] >= t_down], 5)
        assert off, "no femto.radio_off after the tunnel went down"
        radio_off_s = off[0]["ts"] - t_down
        record_property("radio_off_after_down_s", round(radio_off_s, 4))
        print(f"tunnel down -> radio off: {radio_off_s * 1000:.1f} ms")
        assert radio_off_s < 1.0 and off[0]["reason"].startswith("backhaul down")
        fst = femto()
        assert not fst["radio"]["on"] and fst["n2"]["state"] == "down" and fst["backhaul"]["state"] == "down"
        assert _until(lambda: segw("status")["tunnels"] == 0, 5)
        time.sleep(1.5)  # it stays down: no re-initiation while administratively down
        assert agent("status")["state"] == "admin_down" and not femto()["radio"]["on"]
        t_up = time.time()
        assert agent("up")["ok"]
        assert _until(lambda: femto()["radio"]["on"], 20), femto()
        record_property("radio_on_after_up_s", round(time.time() - t_up, 3))
        vip2 = agent("status")["vip"]
        assert femto()["n3"][0] == vip2 and femto()["n2"]["state"] == "up"

        # ---- tampered TrE image: no device key after the reboot, so no IKE at all and no radio
        image_file = run / "femto1" / "tre" / "image" / tre.DEFAULT_TAMPER_FILE
        original = image_file.read_bytes()
        before = agent("status")["counters"]["initiated"]
        segw_ups = len(read_events(ev / "segw.jsonl", "backhaul.up"))
        tre.tamper(run / "femto1")
        st = agent("reboot")
        assert st["ok"] and st["tre_ok"] is False, st
        st = agent("status")
        assert st["state"] == "failed" and st["reason"] == "tre_integrity_failure"
        assert tre.DEFAULT_TAMPER_FILE in st["tre"]["differing"]
        rejected = read_events(ev / "backhaul.jsonl", "backhaul.rejected", reason="tre_integrity_failure")
        assert rejected and tre.DEFAULT_TAMPER_FILE in rejected[-1]["differing"]
        time.sleep(2.0)
        assert not femto()["radio"]["on"] and femto()["backhaul"]["state"] == "down"
        assert agent("status")["counters"]["initiated"] == before  # the key never left the TrE
        assert len(read_events(ev / "segw.jsonl", "backhaul.up")) == segw_ups
        # control: the restored image boots, the tunnel and the radio come back
        image_file.write_bytes(original)
        assert agent("reboot")["tre_ok"] is True
        assert _until(lambda: femto()["radio"]["on"], 20), (agent("status"), femto())

        # ---- revocation online (TS 33.320 7.2.4, TS 33.310 6.1a): the device certificate names the
        # responder on node 'pki' (AIA OCSP URI, CRL distribution point); the SeGW's charon asked it
        # at every authentication so far and was told 'good' (control for the refusal below)
        pki = RunPki.load(run / "pki")
        cert = pki.get("femto-0200F5-HF-0001").cert
        serial = format(cert.serial_number, "x")
        assert ocsp_urls(cert) == [OCSP_URL] and crl_urls(cert) == [CRL_URL]
        segw_cert = pki.get("segw-203.0.113.10").cert  # the femto could not reach the responder: no pointers
        assert ocsp_urls(segw_cert) == [] and crl_urls(segw_cert) == []
        assert segw("status")["revocation"] == {"mode": "online", "ocsp_url": OCSP_URL, "crl_url": CRL_URL}
        good = read_events(ev / "ocsp.jsonl", "ocsp.response", peer=SEGW_OPERATOR, serial=serial)
        assert good and {e["cert_status"] for e in good} == {"good"}, good

        # ---- revoked with 'nrfemto pki revoke femto1': the responder says 'revoked' to the SeGW's next
        # OCSP request, the SeGW refuses the femto (via=ocsp), no tunnel, radio off
        t_rev = time.time()
        out = subprocess.run([sys.executable, "-m", "testbed.cli.main", "pki", "revoke", "femto1", "--run", str(run)],
                             capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
        revoked = json.loads(out.stdout)
        assert revoked["serial"] == serial and not revoked["already_revoked"] and revoked["ocsp_url"] == OCSP_URL
        # charon's cached 'good' answer is dropped, so the next check asks the responder again
        assert _until(lambda: [e for e in read_events(ev / "segw.jsonl", "segw.revocation_cache_flushed")
                               if e["ts"] >= t_rev and serial in e["revoked_serials"]], 10)
        assert agent("down")["ok"] and agent("up")["ok"]
        refused = _until(lambda: [e for e in read_events(ev / "segw.jsonl", "backhaul.rejected")
                                  if e["ts"] >= t_rev and e["reason"] == "certificate_revoked"], 20)
        assert refused, read_events(ev / "segw.jsonl", "backhaul.rejected")
        assert refused[0]["claimed_identity"] == FEMTO_FQDN and refused[0]["remote_addr"] == nat
        assert refused[0]["via"] == "ocsp" and refused[0]["fetched_from"] == OCSP_URL, refused[0]
        told = [e for e in read_events(ev / "ocsp.jsonl", "ocsp.response", peer=SEGW_OPERATOR, serial=serial)
                if e["ts"] >= t_rev]
        assert told and told[0]["cert_status"] == "revoked", told
        assert _until(lambda: agent("status")["last_rejection"].get("attempt", 0) >= 1
                      and agent("status")["state"] in ("retry_wait", "connecting"), 10), agent("status")
        time.sleep(2.0)
        assert not femto()["radio"]["on"] and segw("status")["tunnels"] == 0
        assert not [e for e in read_events(ev / "femto.jsonl", "femto.radio_on") if e["ts"] >= t_rev]

    # ---- captures (flushed at teardown): nothing but IKE/ESP-in-UDP (and ARP) from/to the femto
    femto_addrs = {femto_lan, nat}
    for seg in ("home", "access", "internet"):
        frames = _frames(run / "pcaps" / f"{seg}.pcap")
        assert frames, seg
        ours = [f for f in frames if femto_addrs & {f["ip.src"], f["ip.dst"], f["arp.src.proto_ipv4"],
                                                     f["arp.dst.proto_ipv4"]}]
        bad = [f for f in ours if "arp" not in f["frame.protocols"].split(":")
               and not {f["udp.srcport"], f["udp.dstport"]} & {"500", "4500"}]
        assert not bad, f"{seg}: cleartext from/to the femto: {bad[:5]}"
        protos = {p for f in frames for p in f["frame.protocols"].split(":")}
        assert not protos & {"sctp", "ngap", "gtp", "ntp"}, (seg, protos)
        assert sum("esp" in f["frame.protocols"] for f in ours) >= 10, seg  # the tunnel carried traffic
        assert any("isakmp" in f["frame.protocols"] for f in ours), seg
    # control: behind the SeGW the same traffic is in clear, from the femto's virtual IP
    op = _frames(run / "pcaps" / "operator.pcap")
    assert any("ngap" in f["frame.protocols"] and f["ip.src"] == vip for f in op)
    assert any("gtp" in f["frame.protocols"] and f["ip.src"] == vip for f in op)
    record_property("test_s", round(time.time() - t_start, 1))
    print(f"test duration {time.time() - t_start:.1f} s")
