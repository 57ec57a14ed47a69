"""SeGW/femto charon configuration, ESP backend detection, IKEv2 profile and event parsing (no root)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from testbed.runtime.events import EventWriter, read_events
from testbed.segw import profiles
from testbed.segw.charon import Charon, esp_backend, render_conf
from testbed.segw.events import LogTail, TunnelMonitor, classify_log_line, rejection_reasons

ALL_PLUGINS = {"random", "nonce", "openssl", "x509", "revocation", "constraints", "pubkey", "pkcs1", "pkcs8",
               "pem", "gcm", "aes", "sha2", "sha1", "hmac", "gmp", "kdf", "curl", "vici", "socket-default",
               "kernel-netlink", "kernel-libipsec", "eap-aka", "eap-radius", "eap-identity"}


def _charon(tmp_path: Path, role: str = "segw", backend: str = "libipsec", **kw) -> Charon:
    return Charon(tmp_path, role=role, ipsec_backend=backend, _plugins_present=ALL_PLUGINS, **kw)  # type: ignore[arg-type]


# -- strongswan.conf -----------------------------------------------------------------
def test_conf_one_key_per_line_and_balanced(tmp_path: Path) -> None:
    text = _charon(tmp_path).render()
    depth = 0
    for line in text.splitlines():
        s = line.strip()
        assert s.count("=") <= 1, line
        assert not (s.endswith("{") and "=" in s), line
        depth += s.count("{") - s.count("}")
        assert s.endswith("{") or s == "}" or " = " in s, line
    assert depth == 0


def test_conf_libipsec_segw(tmp_path: Path) -> None:
    c = _charon(tmp_path)
    text = c.render()
    load = next(line for line in text.splitlines() if line.strip().startswith("load ="))
    plugins = load.split("=", 1)[1].split()
    assert plugins.index("kernel-libipsec") < plugins.index("kernel-netlink")
    assert "eap-radius" not in plugins and "stroke" not in plugins
    assert f"socket = unix://{tmp_path}/charon.vici" in text
    assert f"path = {tmp_path}/charon.log" in text
    assert "install_virtual_ip = no" in text and "install_routes = yes" in text
    assert "load_modular = no" in text


def test_conf_kernel_femto_eap(tmp_path: Path) -> None:
    text = _charon(tmp_path, role="femto", backend="kernel", eap=True).render()
    assert "kernel-libipsec" not in text
    assert "install_virtual_ip = yes" in text
    assert "eap-aka" in text and "eap-radius" not in text


def test_write_config_and_command(tmp_path: Path) -> None:
    c = _charon(tmp_path / "node")
    path = c.write_config()
    assert path.read_text() == c.render()
    argv, env = c.command()
    assert argv == ["/usr/lib/ipsec/charon"] and env == {"STRONGSWAN_CONF": str(path)}
    nargv, _ = c.netns_command("nrft-t-x-a")
    assert nargv[:4] == ["ip", "netns", "exec", "nrft-t-x-a"] and "tmpfs" in " ".join(nargv)
    assert nargv[-1] == "/usr/lib/ipsec/charon"


def test_missing_required_plugin_is_an_error(tmp_path: Path) -> None:
    c = Charon(tmp_path, role="segw", ipsec_backend="libipsec", _plugins_present=ALL_PLUGINS - {"kernel-libipsec"})
    with pytest.raises(RuntimeError, match="kernel-libipsec"):
        c.render()


def test_render_rejects_multiline_values() -> None:
    with pytest.raises(ValueError):
        render_conf({"charon": {"load": "a\nb"}})


def test_bad_role_or_backend(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Charon(tmp_path, role="ue", ipsec_backend="kernel")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Charon(tmp_path, role="segw", ipsec_backend="esp")  # type: ignore[arg-type]


# -- ESP backend detection -------------------------------------------------------------
class FakeRunner:
    def __init__(self, xfrm_rc: int, stderr: str = "", netns_rc: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.xfrm_rc, self.stderr, self.netns_rc = xfrm_rc, stderr, netns_rc

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.calls.append(argv)
        if "xfrm" in argv:
            return subprocess.CompletedProcess(argv, self.xfrm_rc, "", self.stderr)
        return subprocess.CompletedProcess(argv, self.netns_rc, "", "boom" if self.netns_rc else "")


def test_esp_backend_kernel_when_state_accepted() -> None:
    r = FakeRunner(0)
    assert esp_backend(r, is_root=True)[0] == "kernel"
    ns = r.calls[0][-1]
    assert ns.startswith("nrft-t-") and r.calls[-1] == ["ip", "netns", "del", ns]
    assert "esp" in r.calls[1]


def test_esp_backend_libipsec_when_esp_missing() -> None:
    r = FakeRunner(2, "Error: Requested type not found.")
    backend, reason = esp_backend(r, is_root=True)
    assert backend == "libipsec" and "Requested type not found" in reason
    assert r.calls[-1][:3] == ["ip", "netns", "del"]


def test_esp_backend_without_root_or_netns() -> None:
    assert esp_backend(FakeRunner(0), is_root=False)[0] == "libipsec"
    r = FakeRunner(0, netns_rc=1)
    assert esp_backend(r, is_root=True)[0] == "libipsec" and len(r.calls) == 1


def test_auto_backend_uses_detector(tmp_path: Path) -> None:
    c = Charon(tmp_path, role="femto", ipsec_backend="auto", _detect=lambda: ("kernel", "probe ok"),
               _plugins_present=ALL_PLUGINS)
    assert (c.backend, c.backend_reason) == ("kernel", "probe ok")


# -- IKEv2 profile ---------------------------------------------------------------------
def test_proposals_are_strong_only() -> None:
    for p in profiles.IKE_PROPOSALS + profiles.ESP_PROPOSALS:
        assert profiles.is_strong(p), p
    for weak in ("3des-sha1-modp1024", "aes128-sha1-modp2048", "aes256-sha256-modp1024", "default",
                 "aes128-md5-modp2048", "aes128gcm16-prfsha256-modp1536"):
        assert not profiles.is_strong(weak), weak
    assert profiles.IKE_PROPOSALS[0] == "aes256gcm16-prfsha384-ecp384"


def _pki_paths(tmp_path: Path) -> profiles.PkiPaths:
    (tmp_path / "c.pem").write_bytes(b"CERT")
    (tmp_path / "r.pem").write_bytes(b"ROOT")
    return profiles.PkiPaths(cert=tmp_path / "c.pem", key=tmp_path / "k.pem", root=tmp_path / "r.pem")


def test_segw_conn(tmp_path: Path) -> None:
    c = profiles.segw_conn(_pki_paths(tmp_path), "femtos", ["10.45.0.10", "10.45.0.20/32"])
    assert c["remote_addrs"] == ["%any"] and c["pools"] == ["femtos"] and c["unique"] == "replace"
    assert c["send_certreq"] == "yes" and c["dpd_delay"] == "10s"
    assert c["remote-1"] == {"auth": "pubkey", "id": "*.femto.operator.nrfemto.test", "cacerts": [b"ROOT"],
                             "revocation": "strict"}
    assert c["local-1"]["certs"] == [b"CERT"] and c["local-1"]["id"] == "segw.operator.nrfemto.test"
    child = c["children"]["femto"]
    assert child["local_ts"] == ["10.45.0.10/32", "10.45.0.20/32"] and child["remote_ts"] == ["dynamic"]
    assert all(profiles.is_strong(p) for p in c["proposals"] + child["esp_proposals"])
    assert "remote-2" not in c
    assert profiles.segw_conn(_pki_paths(tmp_path), "p", ["10.0.0.1"], eap_round=True)["remote-2"]["auth"] == \
        "eap-radius"


def test_femto_conn() -> None:
    c = profiles.femto_conn("192.0.2.1", "001122-SN1.femto.operator.nrfemto.test", cert=b"C", root=b"R",
                            remote_ts=["10.45.0.10"])
    assert c["vips"] == ["0.0.0.0"] and c["remote_addrs"] == ["192.0.2.1"]
    assert c["remote-1"]["id"] == "segw.operator.nrfemto.test" and c["remote-1"]["cacerts"] == [b"R"]
    assert c["remote-1"]["revocation"] == "strict"
    assert c["local-1"] == {"auth": "pubkey", "id": "001122-SN1.femto.operator.nrfemto.test", "certs": [b"C"]}
    assert c["children"]["femto"]["local_ts"] == ["dynamic"]
    assert c["children"]["femto"]["remote_ts"] == ["10.45.0.10/32"]
    assert "local-2" not in c
    second = profiles.femto_conn("192.0.2.1", "x.femto", cert=b"", root=b"", remote_ts=[],
                                 eap_identity="0001010000000001@nai")["local-2"]
    # RFC 4739: the second round names the device again (not its IP address); EAP identity = HPM NAI
    assert second == {"auth": "eap-aka", "id": "x.femto", "eap_id": "0001010000000001@nai"}


def test_nft_ruleset_blocks_pool_to_pool() -> None:
    rules = profiles.segw_nft_ruleset("10.200.0.0/24")
    assert "ip saddr 10.200.0.0/24 ip daddr 10.200.0.0/24 counter drop" in rules
    assert "hook forward" in rules


# -- events / log parsing -----------------------------------------------------------------
LINES = {
    "12[CFG] <segw|1> subject certificate invalid (valid from Dec 01 06:14:49 2025 to Dec 01 06:14:49 2026)":
        "certificate_expired",
    "01[CFG] <segw|1> certificate was revoked on Dec 02 06:14:50 UTC 2026, reason: key compromise":
        "certificate_revoked",
    "16[CFG] <segw|1> no issuer certificate found for \"O=x, CN=y\"": "untrusted_certificate",
    "16[IKE] <segw|1> no trusted ECDSA public key found for 'a.femto.operator.nrfemto.test'":
        "untrusted_certificate",
    "16[IKE] <1> received proposals unacceptable": "no_proposal_chosen",
    "09[IKE] received NO_PROPOSAL_CHOSEN notify error": "no_proposal_chosen",
    "10[CFG] <segw|1> constraint check failed: RULE_CRL_VALIDATION is SKIPPED, but requires at least GOOD":
        "constraint_check_failed",
    "10[CFG] <1> no matching peer config found": "identity_mismatch",
    "10[CFG] <1> selected proposal: IKE:AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384": None,
}


def test_classify_log_lines() -> None:
    now = dt.datetime(2026, 12, 2, 6, 20)
    for line, reason in LINES.items():
        assert classify_log_line(line, now) == reason, line
    nyv = "subject certificate invalid (valid from Dec 03 06:14:49 2026 to Dec 03 06:14:49 2027)"
    assert classify_log_line(nyv, now) == "certificate_not_yet_valid"


def test_rejection_reasons_most_specific_first() -> None:
    lines = ["x no trusted ECDSA public key found for 'a'", "x certificate was revoked on ...", "x ok"]
    assert rejection_reasons(lines) == ["certificate_revoked", "untrusted_certificate"]


def test_log_tail_reads_only_new_complete_lines(tmp_path: Path) -> None:
    log = tmp_path / "charon.log"
    log.write_text("old line\n")
    tail = LogTail(log)
    assert tail.new_lines() == []
    with open(log, "a") as f:
        f.write("a\nb partial")
    assert tail.new_lines() == ["a"]
    with open(log, "a") as f:
        f.write(" done\n")
    assert tail.new_lines() == ["b partial done"]


def test_monitor_turns_vici_events_into_json(tmp_path: Path) -> None:
    log = tmp_path / "charon.log"
    log.write_text("")
    path = tmp_path / "ev.jsonl"
    writer = EventWriter(path, "segw", "segw")
    mon = TunnelMonitor(tmp_path / "none.vici", log, writer)
    ike = {"uniqueid": "3", "remote-id": "001122-SN1.femto.operator.nrfemto.test", "local-id": "segw",
           "remote-host": "10.0.0.2", "remote-vips": ["10.200.0.1"], "encr-alg": "AES_GCM_16",
           "encr-keysize": "256", "prf-alg": "PRF_HMAC_SHA2_384", "dh-group": "ECP_384",
           "child-sas": {"femto-1": {"encr-alg": "AES_GCM_16", "encr-keysize": "256",
                                     "local-ts": ["10.45.0.10/32"], "remote-ts": ["10.200.0.1/32"]}}}
    mon.handle("child-updown", {"up": "yes", "segw": ike})
    mon.handle("child-updown", {"up": "yes", "segw": ike})  # once per IKE SA
    mon.handle("ike-updown", {"segw": {k: v for k, v in ike.items() if k != "child-sas"}})
    with open(log, "a") as f:
        f.write("t 12[IKE] <segw|4> received packet: from 10.0.0.3[4500] to 10.0.0.1[4500]\n"
                "t 12[CFG] <segw|4> certificate was revoked on X\n")
    mon._scan_log()
    writer.close()
    events = read_events(path)
    assert [e["type"] for e in events] == ["segw.tunnel_up", "segw.tunnel_down", "segw.auth_failed"]
    up = events[0]
    assert up["vip"] == "10.200.0.1" and up["proposal"] == "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384"
    assert up["remote_id"].endswith(".femto.operator.nrfemto.test") and up["esp_proposal"] == "AES_GCM_16_256"
    assert events[2]["reason"] == "certificate_revoked" and events[2]["remote_addr"] == "10.0.0.3"
    json.dumps(events)
