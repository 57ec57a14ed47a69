"""Rejection reasons from charon logs with per-IKE_SA context (TS 33.320 7.2.2/7.2.4; RFC 7296 2.15).

The excerpts are real charon 5.9.8 log lines (cfg level 2, ``ike_name = yes``) from the
SeGW/femto namespace pair, trimmed to the lines of one IKE_SA.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.runtime.events import EventWriter, read_events
from testbed.segw.events import (
    RejectionScanner,
    TunnelMonitor,
    classify_log_line,
    rejection_reasons,
    scan_rejections,
)

T = "2026-12-02T07:37:44 "
FEMTO = "001122-SN1.femto.operator.nrfemto.test"
DN = f'"O=nrfemto operator, CN={FEMTO}"'


def _log(*lines: str) -> list[str]:
    return [T + line for line in lines]


#: responder side, up to peer config selection (every femto exchange starts like this)
START = (
    "09[IKE] <1> 10.231.179.2 is initiating an IKE_SA",
    "09[IKE] <1> received end entity cert " + DN,
    f"09[CFG] <1> looking for peer configs matching 10.231.179.1[segw.operator.nrfemto.test]...10.231.179.2[{FEMTO}]",
    "09[CFG] <segw|1> selected peer config 'segw'",
)

SELF_SIGNED = _log(*START,
                   f"09[CFG] <segw|1>   using certificate {DN}",
                   f"09[CFG] <segw|1>   certificate {DN} key: 256 bit ECDSA",
                   f"09[CFG] <segw|1>   self-signed certificate {DN} is not trusted",
                   f"09[IKE] <segw|1> no trusted ECDSA public key found for '{FEMTO}'")

WRONG_CA = _log(*START,
                f"15[CFG] <segw|1>   using certificate {DN}",
                f"15[CFG] <segw|1> no issuer certificate found for {DN}",
                '15[CFG] <segw|1>   issuer is "O=nrfemto operator, CN=nrfemto operator Issuing CA"',
                f"15[IKE] <segw|1> no trusted ECDSA public key found for '{FEMTO}'")

OTHER_FEMTOS_IDENTITY = _log(
    "09[IKE] <1> 10.231.67.2 is initiating an IKE_SA",
    "09[IKE] <1> received end entity cert " + DN,
    "09[CFG] <1> looking for peer configs matching 10.231.67.1[segw.operator.nrfemto.test]"
    "...10.231.67.2[001122-SN2.femto.operator.nrfemto.test]",
    "09[CFG] <segw|1> selected peer config 'segw'",
    "09[IKE] <segw|1> no trusted ECDSA public key found for '001122-SN2.femto.operator.nrfemto.test'")

NO_CERT_SENT = _log(
    "12[IKE] <1> 10.231.61.2 is initiating an IKE_SA",
    f"12[CFG] <1> looking for peer configs matching 10.231.61.1[segw.operator.nrfemto.test]...10.231.61.2[{FEMTO}]",
    "12[CFG] <segw|1> selected peer config 'segw'",
    f"12[IKE] <segw|1> no trusted ECDSA public key found for '{FEMTO}'")

PSK = _log(
    "13[IKE] <1> 10.231.213.2 is initiating an IKE_SA",
    f"13[CFG] <1> looking for peer configs matching 10.231.213.1[segw.operator.nrfemto.test]...10.231.213.2[{FEMTO}]",
    "13[CFG] <segw|1> selected peer config 'segw'",
    f"13[IKE] <segw|1> no shared key found for 'segw.operator.nrfemto.test' - '{FEMTO}'")

NO_PRIVATE_KEY = _log(  # initiator (femto) side
    "15[IKE] <femto|1> initiating IKE_SA femto[1] to 10.231.88.1",
    "01[IKE] <femto|1>   IKE_AUTH task",
    f"01[IKE] <femto|1> no private key found for '{FEMTO}'")

OCSP_REVOKED = _log(*START,
                    f"11[CFG] <segw|1>   using certificate {DN}",
                    f"11[CFG] <segw|1> checking certificate status of {DN}",
                    "11[CFG] <segw|1>   requesting ocsp status from 'http://10.231.68.1:8080/ocsp' ...",
                    "11[LIB] <segw|1>   sending request to 'http://10.231.68.1:8080/ocsp'...",
                    '11[CFG] <segw|1>   ocsp response correctly signed by "O=nrfemto operator, CN=nrfemto operator '
                    'Issuing CA"',
                    "11[CFG] <segw|1> certificate was revoked on Dec 02 07:36:13 UTC 2026, reason: key compromise",
                    "11[CFG] <segw|1>   ocsp response is valid: until Dec 03 07:36:14 2026",
                    f"11[IKE] <segw|1> no trusted ECDSA public key found for '{FEMTO}'")

CRL_HTTP_REVOKED = _log(*START,
                        f"13[CFG] <segw|1>   using certificate {DN}",
                        f"13[CFG] <segw|1> checking certificate status of {DN}",
                        "13[CFG] <segw|1> ocsp check skipped, no ocsp found",
                        "13[CFG] <segw|1>   fetching crl from 'http://10.231.177.1:8080/crl.der' ...",
                        '13[CFG] <segw|1>   crl correctly signed by "O=nrfemto operator, CN=nrfemto operator '
                        'Issuing CA"',
                        "13[CFG] <segw|1>   crl is valid: until Dec 03 07:36:34 2026",
                        "13[CFG] <segw|1> certificate was revoked on Dec 02 07:36:34 UTC 2026, reason: key compromise",
                        f"13[IKE] <segw|1> no trusted ECDSA public key found for '{FEMTO}'")

CRL_CACHED_REVOKED = _log(*START,
                          f"13[CFG] <segw|1>   using certificate {DN}",
                          f"13[CFG] <segw|1> checking certificate status of {DN}",
                          "13[CFG] <segw|1> ocsp check skipped, no ocsp found",
                          '13[CFG] <segw|1>   crl correctly signed by "O=nrfemto operator, CN=nrfemto operator '
                          'Issuing CA"',
                          "13[CFG] <segw|1>   crl is valid: until Dec 03 07:36:34 2026",
                          "13[CFG] <segw|1>   using cached crl",
                          "13[CFG] <segw|1> certificate was revoked on Dec 02 07:36:34 UTC 2026, "
                          "reason: key compromise")


@pytest.mark.parametrize("lines,first,also", [
    (SELF_SIGNED, "self_signed_certificate", "untrusted_certificate"),
    (WRONG_CA, "untrusted_certificate", None),
    (OTHER_FEMTOS_IDENTITY, "identity_not_in_certificate", None),
    (NO_CERT_SENT, "no_certificate", None),
    (PSK, "psk_refused", None),
    (NO_PRIVATE_KEY, "no_private_key", None),
    (OCSP_REVOKED, "certificate_revoked", None),
])
def test_reasons_of_real_exchanges(lines: list[str], first: str, also: str | None) -> None:
    reasons = rejection_reasons(lines)
    assert reasons[0] == first, reasons
    if also:
        assert also in reasons
    # the contextual refinements never leak into the neighbouring cases
    if first != "identity_not_in_certificate":
        assert "identity_not_in_certificate" not in reasons
    if first != "no_certificate":
        assert "no_certificate" not in reasons


def test_wrong_ca_stays_untrusted_not_identity() -> None:
    """Control of identity_not_in_certificate: same failure line, but charon used the certificate."""
    assert rejection_reasons(WRONG_CA) == ["untrusted_certificate"]
    assert rejection_reasons(OTHER_FEMTOS_IDENTITY) == ["identity_not_in_certificate"]


def test_revocation_source_and_url() -> None:
    ocsp = [r for r in RejectionScanner().feed(OCSP_REVOKED) if r.reason == "certificate_revoked"]
    assert len(ocsp) == 1
    assert (ocsp[0].via, ocsp[0].fetched_from) == ("ocsp", "http://10.231.68.1:8080/ocsp")
    assert ocsp[0].addr == "10.231.179.2" and ocsp[0].ike_sa == "1"
    crl = [r for r in RejectionScanner().feed(CRL_HTTP_REVOKED) if r.reason == "certificate_revoked"]
    assert (crl[0].via, crl[0].fetched_from) == ("crl", "http://10.231.177.1:8080/crl.der")
    cached = [r for r in RejectionScanner().feed(CRL_CACHED_REVOKED) if r.reason == "certificate_revoked"]
    assert (cached[0].via, cached[0].fetched_from) == ("crl", None)


def test_status_check_of_the_next_certificate_resets_the_source() -> None:
    lines = OCSP_REVOKED[:-3] + _log(
        '11[CFG] <segw|1> checking certificate status of "O=nrfemto operator, CN=nrfemto operator Issuing CA"',
        "11[CFG] <segw|1> certificate was revoked on Dec 02 07:36:13 UTC 2026, reason: key compromise")
    revoked = [r for r in RejectionScanner().feed(lines) if r.reason == "certificate_revoked"]
    assert revoked[0].via is None and revoked[0].fetched_from is None


def test_context_survives_batches_and_sas_are_separate() -> None:
    scanner = RejectionScanner()
    assert scanner.feed(OTHER_FEMTOS_IDENTITY[:3]) == []
    got = scanner.feed(OTHER_FEMTOS_IDENTITY[3:])
    assert [r.reason for r in got] == ["identity_not_in_certificate"]
    # a second IKE_SA (id 2) that sent no certificate, interleaved with a wrong-CA one (id 3)
    two = [line.replace("<1>", "<2>").replace("|1>", "|2>") for line in NO_CERT_SENT]
    three = [line.replace("<1>", "<3>").replace("|1>", "|3>") for line in WRONG_CA]
    mixed = [x for pair in zip(two, three, strict=False) for x in pair] + three[len(two):]
    by_sa = {(r.ike_sa, r.reason) for r in scanner.feed(mixed)}
    assert by_sa == {("2", "no_certificate"), ("3", "untrusted_certificate")}


def test_lines_without_context_are_classified_alone() -> None:
    line = f"16[IKE] <segw|9> no trusted ECDSA public key found for '{FEMTO}'"  # start of SA 9 not seen
    assert [r.reason for r in RejectionScanner().feed([line])] == ["untrusted_certificate"]
    assert list(scan_rejections(["x no trusted ECDSA public key found for 'a'"]))[0][0] == "untrusted_certificate"


@pytest.mark.parametrize("line,reason", [
    (f"09[CFG] <segw|1>   self-signed certificate {DN} is not trusted", "self_signed_certificate"),
    (f"13[IKE] <segw|1> no shared key found for 'segw.operator.nrfemto.test' - '{FEMTO}'", "psk_refused"),
    ("13[CFG] <segw|1> constraint requires public key authentication, but pre-shared key was used", "psk_refused"),
    (f"01[IKE] <femto|1> no private key found for '{FEMTO}'", "no_private_key"),
    ("11[CFG] <segw|1>   requesting ocsp status from 'http://10.231.68.1:8080/ocsp' ...", None),
    ("16[CFG] <segw|1>   fetching crl from 'http://10.231.36.1:8080/crl.der' ...", None),
    ("16[CFG] <segw|1> certificate status is good", None),
    # logged on every successful tunnel (was misread as no_virtual_ip)
    ("10[IKE] <segw|1> peer requested virtual IP %any", None),
    ("10[IKE] <segw|1> assigning virtual IP 10.200.0.1 to peer '001122-SN1.femto.operator.nrfemto.test'", None),
    ("10[IKE] <segw|1> no virtual IP found for %any requested by '001122-SN1.femto.operator.nrfemto.test'",
     "no_virtual_ip"),
])
def test_new_single_line_reasons(line: str, reason: str | None) -> None:
    assert classify_log_line(line) == reason


def test_monitor_event_carries_source_of_revocation(tmp_path: Path) -> None:
    log = tmp_path / "charon.log"
    log.write_text("")
    path = tmp_path / "ev.jsonl"
    writer = EventWriter(path, "segw", "segw")
    mon = TunnelMonitor(tmp_path / "none.vici", log, writer)
    with open(log, "a") as f:
        f.write("\n".join(OCSP_REVOKED[:6]) + "\n")
    mon._scan_log()
    with open(log, "a") as f:  # the rest arrives in the next poll
        f.write("\n".join(OCSP_REVOKED[6:]) + "\n")
    mon._scan_log()
    writer.close()
    failed = read_events(path, "segw.auth_failed")
    revoked = [e for e in failed if e["reason"] == "certificate_revoked"]
    assert len(revoked) == 1
    assert revoked[0]["via"] == "ocsp" and revoked[0]["fetched_from"] == "http://10.231.68.1:8080/ocsp"
    assert revoked[0]["remote_addr"] == "10.231.179.2" and revoked[0]["ike_sa"] == "1"
