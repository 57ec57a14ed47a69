"""Femto -> SeGW IKEv2 (RFC 7296) with certificates (TS 33.320 7.2.2, TS 33.310), real charons in namespaces.

Certificate matrix of the femto's device authentication (TS 33.320 7.2.2/7.2.4, TS 33.310 6.1a,
TR 33.745 KI#2): the valid certificate gets a CHILD SA (the control of every refusal here);
expired, not yet valid, revoked (CRL loaded, CRL fetched over HTTP from the distribution point,
OCSP over HTTP), wrong CA, self-signed, a wrong identity (foreign FQDN / another femto's), no
certificate (not sent / PSK / no credentials) and weak proposals are refused, each with its reason
recorded as a ``segw.auth_failed`` event; a SeGW with a wrong identity is refused by the femto; a
tampered trusted environment releases no device key, so no IKE happens at all (TS 33.320 6.1).
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509

from testbed.femto import tre
from testbed.pki import crl_urls, ocsp_urls
from testbed.runtime.events import EventWriter, read_events
from testbed.segw import profiles
from testbed.segw.events import rejection_reasons
from tests.integration.segw.conftest import POOL, Backhaul

OUI = "001122"


def _wait_events(path: Path, type: str, timeout: float = 3.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = read_events(path, type) if path.exists() else []
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _refused(bh: Backhaul) -> str:
    with pytest.raises(Exception) as info:  # noqa: B017 - ViciError carries the initiator log
        bh.initiate(timeout=8)
    assert not bh.femto_vici.child_sas()
    assert not bh.segw_vici.child_sas()
    return str(info.value)


def _reasons(path: Path | None, want: str, timeout: float = 3.0) -> list[dict]:
    """``segw.auth_failed`` events of ``path`` once one with reason ``want`` is there (or the timeout)."""
    assert path is not None
    deadline = time.monotonic() + timeout
    while True:
        found = read_events(path, "segw.auth_failed") if path.exists() else []
        if any(e["reason"] == want for e in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _established(bh: Backhaul) -> None:
    children = bh.femto_vici.child_sas()
    assert len(children) == 1 and children[0][2]["state"] == "INSTALLED"
    assert len(bh.segw_vici.child_sas()) == 1
    assert not read_events(bh.events_path, "segw.auth_failed")


def _start_capture(bh: Backhaul, pcap: Path) -> subprocess.Popen:
    """tcpdump on the femto's backhaul link; ``--immediate-mode``: each packet reaches the file at once
    (otherwise packets still in the kernel's capture block are lost when tcpdump is stopped)."""
    cap = bh.lab.popen(["ip", "netns", "exec", bh.lab.ns_femto, "tcpdump", "-i", bh.lab.veth_femto, "-U",
                        "--immediate-mode", "-n", "-w", str(pcap)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not (pcap.exists() and pcap.stat().st_size >= 24):  # pcap header written: the capture is live
        assert time.monotonic() < deadline, "tcpdump did not start"
        time.sleep(0.02)
    return cap


def _ike_packets(bh: Backhaul, cap: subprocess.Popen, pcap: Path) -> list[str]:
    time.sleep(0.1)
    bh.lab.kill(cap)
    out = subprocess.run(["tcpdump", "-nn", "-r", str(pcap), "udp port 500 or udp port 4500"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line.strip()]


def test_valid_femto_cert_tunnel_up_ping_and_only_ike_esp_on_wire(backhaul: Backhaul, run_pki, tmp_path: Path,
                                                                 record_property) -> None:
    bh = backhaul
    pcap = tmp_path / "wire.pcap"
    cap = bh.lab.capture(bh.lab.ns_femto, bh.lab.veth_femto, pcap)
    time.sleep(0.5)  # tcpdump attaches
    femto = run_pki.femto(OUI, "SN1")
    bh.lab.apply_nft(bh.lab.ns_segw, profiles.segw_nft_ruleset(POOL))  # femto-to-femto drop on the SeGW
    bh.configure(run_pki, run_pki.segw(), femto)
    elapsed = bh.initiate()
    record_property("tunnel_setup_s", elapsed)
    print(f"tunnel establishment (initiate -> CHILD SA up): {elapsed * 1000:.1f} ms, backend {bh.segw.backend}")
    assert elapsed < 2.0

    children = bh.femto_vici.child_sas()
    assert len(children) == 1
    _, ike, child = children[0]
    vip = ike["local-vips"][0]
    assert vip.startswith(POOL.rsplit(".", 2)[0])
    assert child["state"] == "INSTALLED"
    assert sorted(child["remote-ts"]) == sorted(f"{a}/32" for a in bh.lab.services)
    assert child["local-ts"] == [f"{vip}/32"]
    assert ike["encr-alg"] == "AES_GCM_16" and ike["dh-group"] == "ECP_384"

    ping = bh.lab.exec(bh.lab.ns_femto, "ping", "-c", "3", "-i", "0.2", "-W", "2", bh.lab.services[0])
    assert ping.returncode == 0, ping.stdout + ping.stderr
    # the other side of the pool / anything not an operator service is not routed into the tunnel
    other = bh.lab.exec(bh.lab.ns_femto, "ping", "-c", "1", "-W", "1", "10.200.0.77")
    assert other.returncode != 0

    up = _wait_events(bh.events_path, "segw.tunnel_up")
    assert up and up[0]["remote_id"] == run_pki.femto_identity(OUI, "SN1") and up[0]["vip"] == vip
    assert "AES_GCM_16" in up[0]["proposal"]

    time.sleep(0.5)
    bh.lab.kill(cap)
    out = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "frame.protocols"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    protos = [line for line in out.stdout.splitlines() if line]
    ip_frames = [p for p in protos if ":ip:" in p]
    assert sum(":esp" in p for p in ip_frames) >= 2, protos  # echo + reply at least: ESP in UDP 4500 (libipsec) or raw ESP
    stray = subprocess.run(["tshark", "-r", str(pcap), "-Y",
                            "ip and not (udp.port == 500 or udp.port == 4500 or esp)"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert stray.stdout.strip() == "", f"cleartext IP on the wire:\n{stray.stdout}"
    assert not any("icmp" in p and ":esp" not in p for p in ip_frames)

    bh.femto_vici.terminate("femto")
    assert _wait_events(bh.events_path, "segw.tunnel_down")


def test_expired_femto_cert_refused_with_reason(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    bh.configure(run_pki, run_pki.segw(), run_pki.femto(OUI, "EXP1", expired=True))
    msg = _refused(bh)
    assert "AUTHENTICATION_FAILED" in msg
    failed = _wait_events(bh.events_path, "segw.auth_failed")
    assert "certificate_expired" in [e["reason"] for e in failed], failed
    assert rejection_reasons(bh.segw.log_path.read_text().splitlines())[0] == "certificate_expired"


def test_not_yet_valid_femto_cert_refused_with_reason(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    bh.configure(run_pki, run_pki.segw(), run_pki.femto(OUI, "NYV1", not_yet_valid=True))
    _refused(bh)
    reasons = [e["reason"] for e in _wait_events(bh.events_path, "segw.auth_failed")]
    assert "certificate_not_yet_valid" in reasons, reasons


def test_revoked_femto_cert_refused_by_crl(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    bh.configure(run_pki, run_pki.segw(), run_pki.femto(OUI, "REV1", revoked=True))
    _refused(bh)
    reasons = [e["reason"] for e in _wait_events(bh.events_path, "segw.auth_failed")]
    assert "certificate_revoked" in reasons, reasons


def test_wrong_ca_refused(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    bh.configure(run_pki, run_pki.segw(), run_pki.femto(OUI, "RogueCA", wrong_ca=True))
    _refused(bh)
    reasons = [e["reason"] for e in _wait_events(bh.events_path, "segw.auth_failed")]
    assert "untrusted_certificate" in reasons, reasons


def test_weak_proposals_get_no_proposal_chosen(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    bh.configure(run_pki, run_pki.segw(), run_pki.femto(OUI, "SN1"),
                 proposals=["3des-sha1-modp1024"], esp_proposals=["3des-sha1"])
    msg = _refused(bh)
    assert "NO_PROPOSAL_CHOSEN" in msg, msg
    reasons = [e["reason"] for e in _wait_events(bh.events_path, "segw.auth_failed")]
    assert "no_proposal_chosen" in reasons, reasons


def test_segw_with_wrong_identity_cert_refused_by_femto(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    bad_segw = run_pki.segw(identity="evil.example.test")
    bh.configure(run_pki, bad_segw, run_pki.femto(OUI, "SN1"))
    _refused(bh)
    # the SeGW's certificate (operator-issued) does not contain the identity the femto requires
    femto_reasons = rejection_reasons(bh.femto.log_path.read_text().splitlines())
    assert femto_reasons[0] == "identity_not_in_certificate", femto_reasons
    recorded = [e["reason"] for e in _reasons(bh.femto_events_path, "identity_not_in_certificate")]
    assert "identity_not_in_certificate" in recorded, recorded
    # the femto, not the SeGW, refused: the SeGW authenticated the femto
    assert "authentication of '" in bh.segw.log_path.read_text()


# -- revocation over HTTP (TS 33.320 7.2.4, TS 33.310 6.1a: OCSP and CRL distribution points) ------
def _segw_crl_issuers(bh: Backhaul) -> list[str]:
    """Issuers of the CRLs the SeGW's charon holds (loaded through vici, or cached after a fetch)."""
    out = []
    for entry in bh.segw_vici._session.list_certs({"type": "X509_CRL"}):
        out.append(x509.load_der_x509_crl(bytes(entry["data"])).issuer.rfc4514_string())
    return out


@pytest.mark.parametrize("revoked", [False, True], ids=["good-control", "revoked"])
def test_revocation_checked_by_ocsp_over_http(backhaul: Backhaul, tmp_path: Path, revoked: bool) -> None:
    """The SeGW asks the OCSP responder in its namespace (AIA URI of the device certificate); no CRL
    covering the femto's certificate is loaded and its certificate has no CRL distribution point, so
    only OCSP can know it is revoked."""
    bh = backhaul
    srv = bh.pki_server(tmp_path / "pki-ocsp", ocsp=True)
    pki = srv.pki
    femto = pki.femto(OUI, "OCSP1", revoked=revoked)
    assert ocsp_urls(femto.cert) == [srv.ocsp_url] and crl_urls(femto.cert) == []
    assert pki.is_revoked(femto.cert) is revoked
    bh.configure(pki, pki.segw(), femto, segw_crls="arl")
    # the only CRL the SeGW holds is the root's ARL (about the issuing CA, never about a femto)
    assert _segw_crl_issuers(bh) == [pki.root.cert.subject.rfc4514_string()]
    if revoked:
        _refused(bh)
        failed = _reasons(bh.events_path, "certificate_revoked")
        rev = [e for e in failed if e["reason"] == "certificate_revoked"]
        assert rev, failed
        assert rev[0]["via"] == "ocsp" and rev[0]["fetched_from"] == srv.ocsp_url, rev[0]
    else:
        bh.initiate()
        _established(bh)
    log = bh.segw.log_path.read_text()
    assert f"requesting ocsp status from '{srv.ocsp_url}'" in log
    assert "fetching crl" not in log
    assert not re.search(r'crl correctly signed by "[^"]*Issuing CA"', log)  # no CRL path for the femto
    answered = read_events(srv.events, "ocsp.response", peer=bh.lab.addr_segw, status="successful")
    assert answered, read_events(srv.events)
    assert any("POST /ocsp" in r for r in srv.requests())


@pytest.mark.parametrize("revoked", [False, True], ids=["good-control", "revoked"])
def test_crl_fetched_over_http_from_distribution_point(backhaul: Backhaul, tmp_path: Path, revoked: bool) -> None:
    """The issuing CA's CRL is not loaded through vici: charon fetches it from the certificate's CDP."""
    bh = backhaul
    srv = bh.pki_server(tmp_path / "pki-crl", crl=True)
    pki = srv.pki
    femto = pki.femto(OUI, "CRL1", revoked=revoked)
    assert crl_urls(femto.cert) == [srv.crl_url] and ocsp_urls(femto.cert) == []
    bh.configure(pki, pki.segw(), femto, segw_crls="arl")
    assert _segw_crl_issuers(bh) == [pki.root.cert.subject.rfc4514_string()]  # no issuing-CA CRL loaded
    if revoked:
        _refused(bh)
        failed = _reasons(bh.events_path, "certificate_revoked")
        rev = [e for e in failed if e["reason"] == "certificate_revoked"]
        assert rev, failed
        assert rev[0]["via"] == "crl" and rev[0]["fetched_from"] == srv.crl_url, rev[0]
    else:
        bh.initiate()
        _established(bh)
    assert f"fetching crl from '{srv.crl_url}'" in bh.segw.log_path.read_text()
    assert any(r.startswith(bh.lab.addr_segw) and "GET /crl.der" in r for r in srv.requests()), srv.requests()
    assert pki.issuing.cert.subject.rfc4514_string() in _segw_crl_issuers(bh)  # the fetched CRL, cached


# -- certificate defects -------------------------------------------------------------------------------
def test_self_signed_femto_cert_refused(backhaul: Backhaul, run_pki) -> None:
    bh = backhaul
    selfsigned = run_pki.femto(OUI, "SELF1", self_signed=True)
    assert selfsigned.cert.issuer == selfsigned.cert.subject
    bh.configure(run_pki, run_pki.segw(), selfsigned)
    _refused(bh)
    reasons = [e["reason"] for e in _reasons(bh.events_path, "self_signed_certificate")]
    assert "self_signed_certificate" in reasons, reasons


@pytest.mark.parametrize("case", ["foreign-fqdn", "other-femto"])
def test_femto_presenting_wrong_identity_refused(backhaul: Backhaul, run_pki, case: str) -> None:
    """foreign-fqdn: an operator-issued certificate whose identity is outside ``*.femto.operator...``
    (and the femto claims it); other-femto: a valid device certificate, but the femto claims another
    (real) femto's identity, which its certificate does not contain."""
    bh = backhaul
    if case == "foreign-fqdn":
        cert = run_pki.femto(OUI, "SN1", identity="femto.evil.example.test")
        identity, want = "femto.evil.example.test", "identity_mismatch"
    else:
        cert = run_pki.femto(OUI, "SN1")
        run_pki.femto(OUI, "SN2")  # the other femto exists and has its own certificate
        identity, want = run_pki.femto_identity(OUI, "SN2"), "identity_not_in_certificate"
    bh.configure(run_pki, run_pki.segw(), cert, identity=identity)
    _refused(bh)
    reasons = [e["reason"] for e in _reasons(bh.events_path, want)]
    assert want in reasons, reasons
    assert "untrusted_certificate" not in reasons  # not mistaken for a chain problem


@pytest.mark.parametrize("case", ["cert-not-sent", "psk-only", "no-credentials"])
def test_femto_without_certificate_refused(backhaul: Backhaul, run_pki, case: str) -> None:
    """cert-not-sent: IKE_AUTH signed with the device key but without a CERT payload; psk-only: a
    pre-shared key instead of a certificate; no-credentials: neither key nor certificate, so the femto
    cannot even build IKE_AUTH (TR 33.745 KI#2: any cert-less success is a failure)."""
    bh = backhaul
    femto = run_pki.femto(OUI, "NOCERT1")
    identity = run_pki.femto_identity(OUI, "NOCERT1")
    if case == "cert-not-sent":
        bh.configure(run_pki, run_pki.segw(), femto, femto_conn_extra={"send_cert": "never"})
    elif case == "psk-only":
        bh.configure(run_pki, run_pki.segw(), None, identity=identity,
                     femto_local={"auth": "psk", "id": identity}, femto_key_pem=None)
        bh.femto_vici._session.load_shared({"type": "IKE", "data": b"a femto guessing a PSK",
                                            "owners": [identity.encode()]})
    else:
        bh.configure(run_pki, run_pki.segw(), None, identity=identity,
                     femto_local={"auth": "pubkey", "id": identity}, femto_key_pem=None)
    _refused(bh)
    if case == "no-credentials":
        reasons = [e["reason"] for e in _reasons(bh.femto_events_path, "no_private_key")]
        assert "no_private_key" in reasons, reasons
        assert "looking for peer configs" not in bh.segw.log_path.read_text()  # no IKE_AUTH reached the SeGW
    else:
        want = "no_certificate" if case == "cert-not-sent" else "psk_refused"
        reasons = [e["reason"] for e in _reasons(bh.events_path, want)]
        assert want in reasons, reasons
    assert not [sa for sa in bh.segw_vici.list_sas() for v in sa.values() if v.get("state") == "ESTABLISHED"]


# -- trusted environment (TS 33.320 6.1: no device key without a successful integrity check) --------
@pytest.mark.parametrize("tampered", [False, True], ids=["intact-control", "tampered"])
def test_tampered_tre_releases_no_key_and_no_ike_happens(backhaul: Backhaul, run_pki, tmp_path: Path,
                                                        tampered: bool) -> None:
    """The femto's backhaul start takes the device key from its TrE before anything else; a tampered
    image fails secure boot, the key stays sealed and not one IKE packet leaves the femto."""
    bh = backhaul
    femto = run_pki.femto(OUI, "TRE1")
    node_dir = tmp_path / "femto-node"
    node_dir.mkdir()
    tre.provision(node_dir, femto.key_pem())
    if tampered:
        tre.tamper(node_dir)
    bh.configure(run_pki, run_pki.segw(), None)
    pcap = tmp_path / "tre.pcap"
    cap = _start_capture(bh, pcap)
    tre_events = tmp_path / "events" / "tre.jsonl"
    writer = EventWriter(tre_events, "tre", "femto")

    def start_backhaul() -> None:  # the femto's backhaul agent: key from the TrE, then IKE
        key = tre.TrustedEnvironment(node_dir, events=writer).device_key_pem()
        bh.configure_femto(run_pki, femto, key_pem=key)
        bh.initiate()

    try:
        if tampered:
            with pytest.raises(tre.IntegrityError) as info:
                start_backhaul()
            assert info.value.report is not None and info.value.report.changed == [tre.DEFAULT_TAMPER_FILE]
        else:
            start_backhaul()
            _established(bh)
    finally:
        writer.close()
    ike = _ike_packets(bh, cap, pcap)
    if tampered:
        assert ike == [], ike
        assert not bh.femto_vici.list_conns() and not bh.segw_vici.list_sas()
        assert "is initiating an IKE_SA" not in bh.segw.log_path.read_text()
        failure = read_events(tre_events, "tre.integrity_failure")
        assert failure and failure[0]["changed"] == [tre.DEFAULT_TAMPER_FILE]
        assert not read_events(tre_events, "tre.key_released")
    else:
        assert len(ike) >= 4, ike  # IKE_SA_INIT and IKE_AUTH both ways: the capture sees IKE when there is some
        assert read_events(tre_events, "tre.boot_ok") and read_events(tre_events, "tre.key_released")
