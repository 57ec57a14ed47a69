"""Online revocation in the topology (TS 33.320 7.2.4, TS 33.310 6.1a), no root: the OCSP responder / CRL
server derived from the topology, the URLs in the device certificates (and only there), the SeGW service's
revocation mode and cache flush, 'nrfemto pki revoke', and the responder's events."""

from __future__ import annotations

import copy
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from testbed.cli.main import femto_cert_name, pki_revoke
from testbed.errors import ConfigError
from testbed.pki import RunPki, crl_urls, ocsp_urls
from testbed.pki.ocsp_server import make_server
from testbed.runtime.events import EventWriter, read_events
from testbed.segw.config import load_segw_settings
from testbed.segw.provision import pki_options, provision_backhaul
from testbed.segw.service import SegwService
from testbed.segw.topology import RevocationPlan, backhaul_plan, responder_of
from testbed.topology.model import parse_topology
from testbed.topology.plan import build_plan

ROOT = Path(__file__).resolve().parents[3]
HOME = ROOT / "topologies/home-femto.yaml"
OCSP_URL = "http://10.10.0.7:8080/ocsp"
CRL_URL = "http://10.10.0.7:8080/crl.der"


def _home() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(HOME.read_text())
    return data


def _plan(data: dict[str, Any]):  # noqa: ANN202
    return build_plan(parse_topology(data, "t.yaml"))


def _without_responder(data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    del data["nodes"]["pki"]
    data["nodes"]["segw"]["services"]["segw"].pop("depends_on", None)
    return data


def _provision(data: dict[str, Any], run: Path):  # noqa: ANN202
    (run / "femto1").mkdir(parents=True, exist_ok=True)
    (run / "femto1" / "femto.json").write_text("{}\n")
    return provision_backhaul(_plan(data), run, detect=lambda: ("libipsec", "test"))


def _ocsp_status(pki: RunPki, cert: x509.Certificate) -> ocsp.OCSPCertStatus:
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, pki.issuing.cert, hashes.SHA256()).build()
    resp = ocsp.load_der_ocsp_response(pki.ocsp_response(req.public_bytes(serialization.Encoding.DER)))
    return resp.certificate_status


# -- the responder in the topology ------------------------------------------------------------------
def test_reference_topology_responder() -> None:
    plan = _plan(_home())
    bp = backhaul_plan(plan)
    assert bp is not None
    r = responder_of(plan, bp)
    assert r == RevocationPlan("pki", "ocsp", "10.10.0.7", 8080)
    assert (r.ocsp_url, r.crl_url) == (OCSP_URL, CRL_URL)
    assert r.address not in bp.services.values()  # not a traffic selector: the femtos cannot reach it
    assert pki_options(r) == {"ocsp_url": OCSP_URL, "crl_url": CRL_URL, "pointer_kinds": ("femto",)}
    # control: without the service, no responder and no PKI options
    plan2 = _plan(_without_responder(_home()))
    assert responder_of(plan2, backhaul_plan(plan2)) is None and pki_options(None) == {}


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d["nodes"]["pki"]["services"]["ocsp"]["command"].__setitem__(4, "elsewhere"),
     r"nodes\.pki\.services\.ocsp\.command.*--pki-dir must be the run's PKI"),
    (lambda d: d["nodes"]["pki"]["services"]["ocsp"]["command"].__setitem__(8, "http"),
     r"--port 'http' is not a number"),
    (lambda d: d["nodes"]["pki"]["services"]["ocsp"]["command"].__setitem__(6, "10.10.0.9"),
     r"--host 10\.10\.0\.9 is not pki's address"),
    (lambda d: d["nodes"]["ms"].__setitem__("services", copy.deepcopy(d["nodes"]["pki"]["services"]))
     or d["nodes"]["ms"]["services"]["ocsp"]["command"].__setitem__(6, "0.0.0.0") or d["nodes"].pop("pki"),
     r"shares the address of ms:ms, a traffic selector"),
    (lambda d: d["nodes"]["pki"].__setitem__("links", ["n6"]),
     r"nodes\.pki\.links.*operator segment"),
    (lambda d: d["nodes"]["aaa"]["services"].__setitem__("ocsp2", copy.deepcopy(d["nodes"]["pki"]["services"]["ocsp"]))
     or d["nodes"]["aaa"]["services"]["ocsp2"]["command"].__setitem__(6, "0.0.0.0"),
     r"more than one testbed\.pki\.ocsp_server"),
])
def test_responder_errors_name_file_and_field(edit, match: str) -> None:  # noqa: ANN001
    data = _home()
    edit(data)
    plan = _plan(data)
    with pytest.raises(ConfigError, match=match):
        responder_of(plan, backhaul_plan(plan))


# -- provisioning: URLs in the device certificates only ------------------------------------------------
def test_provision_embeds_responder_urls_in_device_certificates(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = _provision(_home(), run)
    assert result is not None and result.revocation is not None and result.revocation.ocsp_url == OCSP_URL
    pki = RunPki.load(run / "pki")
    assert (pki.ocsp_url, pki.crl_url, pki.pointer_kinds) == (OCSP_URL, CRL_URL, ["femto"])
    femto = pki.get(femto_cert_name(run, "femto1")).cert
    assert ocsp_urls(femto) == [OCSP_URL] and crl_urls(femto) == [CRL_URL]
    segw = pki.get(load_segw_settings(run / "segw" / "segw.json").cert_name).cert
    assert ocsp_urls(segw) == [] and crl_urls(segw) == []  # the femto cannot reach the responder before its tunnel
    assert ocsp_urls(pki.issuing.cert) == [] and crl_urls(pki.issuing.cert) == []  # its status: the root's ARL (vici)


def test_provision_without_responder_has_no_pointers(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = _provision(_without_responder(_home()), run)
    assert result is not None and result.revocation is None
    pki = RunPki.load(run / "pki")
    femto = pki.get(femto_cert_name(run, "femto1")).cert
    assert pki.ocsp_url is None and ocsp_urls(femto) == [] and crl_urls(femto) == []


def test_existing_pki_pointing_elsewhere_is_an_error(tmp_path: Path) -> None:
    run = tmp_path / "run"
    RunPki.create(run / "pki", ocsp_url="http://192.0.2.1/ocsp")
    with pytest.raises(ConfigError, match=r"nodes\.pki\.services\.ocsp.*192\.0\.2\.1"):
        _provision(_home(), run)


# -- the SeGW service: revocation mode and cache flush ---------------------------------------------------
class FakeDriver:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def flush_certs(self, type: str | None = None) -> None:  # noqa: A002 - vici's name
        self.calls.append(("flush", type))

    def load_cert(self, data: bytes, type: str = "x509", flag: str = "NONE") -> None:  # noqa: A002
        self.calls.append(("load", type))


def _service(run: Path, tmp_path: Path) -> tuple[SegwService, FakeDriver, Path]:
    settings = load_segw_settings(run / "segw" / "segw.json")
    settings = settings.model_copy(update={"pki_dir": str(run / settings.pki_dir), "radius": None})
    ev = tmp_path / "segw.jsonl"
    svc = SegwService(settings, EventWriter(ev, "segw"), node_dir=tmp_path / "segw")
    drv = FakeDriver()
    svc.driver, svc._pki = drv, RunPki.load(Path(settings.pki_dir))  # type: ignore[assignment]
    return svc, drv, ev


def test_online_mode_flushes_ocsp_and_crl_cache(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _provision(_home(), run)
    svc, drv, ev = _service(run, tmp_path)
    assert svc.online_revocation and svc.revocation_info() == {"mode": "online", "ocsp_url": OCSP_URL,
                                                               "crl_url": CRL_URL}
    pki = RunPki.load(run / "pki")
    cert = pki.get(femto_cert_name(run, "femto1")).cert
    pki.revoke(cert)
    reply = svc.control({"op": "reload_crl"})
    assert reply["ok"] and reply["mode"] == "online", reply
    assert drv.calls == [("flush", "OCSP_RESPONSE"), ("flush", "x509crl")]  # nothing loaded: no issuing-CA CRL
    flushed = read_events(ev, "segw.revocation_cache_flushed")
    assert flushed and format(cert.serial_number, "x") in flushed[0]["revoked_serials"]
    assert not read_events(ev, "segw.crl_reloaded")


def test_crl_mode_control_reloads_crl(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _provision(_without_responder(_home()), run)
    svc, drv, ev = _service(run, tmp_path)
    assert not svc.online_revocation and svc.revocation_info() == {"mode": "crl"}
    assert svc.control({"op": "reload_crl"})["ok"]
    assert drv.calls == [("load", "x509crl"), ("flush", "x509crl")]
    assert read_events(ev, "segw.crl_reloaded") and not read_events(ev, "segw.revocation_cache_flushed")


# -- nrfemto pki revoke -------------------------------------------------------------------------------
def test_pki_revoke_femto(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _provision(_home(), run)
    pki = RunPki.load(run / "pki")
    cert = pki.get(femto_cert_name(run, "femto1")).cert
    assert _ocsp_status(pki, cert) == ocsp.OCSPCertStatus.GOOD  # control
    reply = pki_revoke(run, "femto1")
    assert reply["serial"] == format(cert.serial_number, "x") and not reply["already_revoked"]
    assert reply["ocsp_url"] == OCSP_URL and "terminated" not in reply
    assert _ocsp_status(RunPki.load(run / "pki"), cert) == ocsp.OCSPCertStatus.REVOKED
    assert pki_revoke(run, "femto1")["already_revoked"]
    with pytest.raises(ConfigError, match="not a tunnelled femto"):
        pki_revoke(run, "ue1")


# -- the responder's events: which certificate, which answer ---------------------------------------------
def test_responder_events_name_serial_and_status(tmp_path: Path) -> None:
    pki = RunPki.create(tmp_path / "pki", ocsp_url="http://127.0.0.1/ocsp")
    good, bad = pki.femto("0200F5", "G1").cert, pki.femto("0200F5", "R1", revoked=True).cert
    seen: list[tuple[str, dict[str, Any]]] = []
    srv = make_server(pki.directory, "127.0.0.1", 0, emit=lambda t, sev, **kw: seen.append((t, kw)))
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        for cert in (good, bad):
            der = ocsp.OCSPRequestBuilder().add_certificate(cert, pki.issuing.cert, hashes.SHA256()).build() \
                .public_bytes(serialization.Encoding.DER)
            req = urllib.request.Request(f"http://127.0.0.1:{srv.port}/ocsp", data=der,
                                         headers={"Content-Type": "application/ocsp-request"})
            urllib.request.urlopen(req, timeout=5).read()
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{srv.port}/ocsp", data=b"junk"),
                               timeout=5).read()
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(2)
    assert [(ty, kw.get("serial"), kw.get("cert_status"), kw["status"]) for ty, kw in seen] == [
        ("ocsp.response", format(good.serial_number, "x"), "good", "successful"),
        ("ocsp.response", format(bad.serial_number, "x"), "revoked", "successful"),
        ("ocsp.response", None, None, "malformed_request"),
    ]
