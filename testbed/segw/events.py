"""Tunnel status events from a charon: vici ``ike-updown``/``child-updown`` -> JSON events.

Event types (written with :class:`testbed.runtime.events.EventWriter`):

* ``segw.tunnel_up``   {ike, remote_id, local_id, remote_addr, vip, proposal, esp_proposal}
* ``segw.tunnel_down`` {ike, remote_id, remote_addr}
* ``segw.auth_failed`` {reason, remote_addr?, detail, ike_sa?, via?, fetched_from?}

charon 5.9.8's vici events report SAs that came up or went down; an IKE_SA that
fails authentication (expired/revoked/untrusted certificate, identity mismatch,
TS 33.320 7.2.2/7.2.4) or proposal negotiation (RFC 7296 2.7
NO_PROPOSAL_CHOSEN) never comes up, so no vici event carries the reason. The
reason is then taken from charon's log file: all log parsing lives in
:func:`classify_log_line`, :class:`RejectionScanner` (per-IKE_SA context: no
certificate sent vs. identity not in the certificate vs. untrusted chain; OCSP or
CRL behind a revocation) and :class:`LogTail` here, nowhere else.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.runtime.events import EventWriter
from testbed.segw.vici_driver import listen

#: (regex on a charon log line, reason) — first match wins. Reasons are stable identifiers.
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p, re.I), r) for p, r in (
    (r"certificate was revoked|certificate .* revoked|revoked on", "certificate_revoked"),
    (r"has expired|expired since|not valid anymore|certificate .*expired", "certificate_expired"),
    (r"not valid yet|not yet valid", "certificate_not_yet_valid"),
    (r"no acceptable proposal|received proposals unacceptable|NO_PROPOSAL_CHOSEN", "no_proposal_chosen"),
    # hosting-party authentication (TS 33.320 7.2.3, second IKE_AUTH round, RFC 4739):
    # femto side: what its HPM (eap-aka-hpm card plugin) answered
    (r"eap-aka-hpm: HPM rejected AUTN: MAC failure", "hpm_mac_failure"),
    (r"eap-aka-hpm: HPM has no card inserted", "hpm_no_card"),
    (r"eap-aka-hpm: HPM at .* unusable", "hpm_unreachable"),
    # SeGW side: the AAA refused the EAP-AKA round (Access-Reject)
    (r"RADIUS authentication of '.*' failed|EAP method \S+ failed for peer", "hp_authentication_failed"),
    # SeGW side: the femto skipped the second round the SeGW demands
    (r"unacceptable: insufficient authentication rounds", "hp_authentication_missing"),
    # femto side: the SeGW ended the EAP round with EAP-Failure
    (r"received EAP_FAILURE|EAP method \S+ failed", "eap_failure"),
    # the peer's certificate is its own issuer and no trust anchor (TS 33.320 7.2.2: operator-issued only)
    (r"self-signed certificate .* is not trusted", "self_signed_certificate"),
    # the peer authenticated with a pre-shared key where certificates are required (TS 33.320 7.2.2)
    (r"no shared key found for|constraint requires public key authentication, but pre-shared key",
     "psk_refused"),
    (r"constraint check failed", "constraint_check_failed"),
    (r"no trusted (?:RSA|ECDSA|ED25519|\w+)? ?public key found|no issuer certificate found", "untrusted_certificate"),
    (r"certificate status is not available|revocation status|no revocation", "revocation_unknown"),
    # ("peer requested virtual IP %any" is logged for every femto, also when the pool has one)
    (r"no virtual IP found|INTERNAL_ADDRESS_FAILURE", "no_virtual_ip"),
    (r"no matching peer config|looking for peer configs matching .* no|no peer config found", "identity_mismatch"),
    (r"TS_UNACCEPTABLE|no acceptable traffic selectors", "ts_unacceptable"),
    (r"AUTHENTICATION_FAILED", "authentication_failed"),
    (r"signature validation failed|verification of .* signature failed", "signature_invalid"),
    # this node has no private key for its own identity (e.g. a femto whose TrE released none)
    (r"no private key found for", "no_private_key"),
    (r"giving up after \d+ retransmits", "peer_unreachable"),
))

_ADDR = re.compile(r"(?:from|to) (\d{1,3}(?:\.\d{1,3}){3})\[\d+\]")


_VALIDITY = re.compile(r"certificate invalid \(valid from (.+?) to (.+?)\)")


def _validity_reason(match: re.Match[str], now: dt.datetime | None = None) -> str:
    """charon prints "subject certificate invalid (valid from <T> to <T>)" for both directions (local time)."""
    now = now or dt.datetime.now()
    try:
        not_before = dt.datetime.strptime(match.group(1), "%b %d %H:%M:%S %Y")
    except ValueError:
        return "certificate_expired"
    return "certificate_not_yet_valid" if not_before > now else "certificate_expired"


def classify_log_line(line: str, now: dt.datetime | None = None) -> str | None:
    """The rejection reason a charon log line states, or None."""
    m = _VALIDITY.search(line)
    if m:
        return _validity_reason(m, now)
    for pattern, reason in _REASONS:
        if pattern.search(line):
            return reason
    return None


#: Reasons that are the root cause (preferred over the generic ones appearing in the same exchange).
_SPECIFIC_FIRST = ("hpm_mac_failure", "hpm_no_card", "hpm_unreachable", "hp_authentication_failed",
                   "hp_authentication_missing", "eap_failure",
                   "certificate_revoked", "certificate_expired", "certificate_not_yet_valid",
                   "self_signed_certificate", "no_certificate", "identity_not_in_certificate", "psk_refused",
                   "revocation_unknown", "untrusted_certificate", "constraint_check_failed",
                   "identity_mismatch", "signature_invalid", "no_proposal_chosen", "ts_unacceptable",
                   "no_virtual_ip", "authentication_failed", "no_private_key", "peer_unreachable")


def rejection_reasons(lines: list[str]) -> list[str]:
    """All reasons stated by ``lines`` (with the per-IKE_SA context of :class:`RejectionScanner`),
    most specific first (deduplicated)."""
    found = {r.reason for r in RejectionScanner().feed(lines)}
    return [r for r in _SPECIFIC_FIRST if r in found] + sorted(found - set(_SPECIFIC_FIRST))


# -- per-IKE_SA context ---------------------------------------------------------------------------
#: ``<name|7>`` or ``<7>``: the IKE_SA unique id charon prefixes its lines with (``ike_name = yes``).
_SA_TAG = re.compile(r"<(?:[^<>|]*\|)?(\d+)>")
#: The start of an exchange of one IKE_SA as responder / initiator (context is tracked from there on).
_SA_START = re.compile(r"(\S+) is initiating an IKE_SA|initiating IKE_SA \S+ to (\S+)|looking for peer configs matching")
_CERT_RECEIVED = re.compile(r"received end entity cert")
#: charon found a certificate for the peer's identity (IDi/IDr) and builds its chain (cfg log level 2).
_CERT_USED = re.compile(r'\busing certificate "')
_NO_PUBKEY = re.compile(r"no trusted (?:\w+ )?public key found for")
_CHECKING_STATUS = re.compile(r"checking certificate status of")
_OCSP_FETCH = re.compile(r"requesting ocsp status from '([^']+)'")
_OCSP_USED = re.compile(r"ocsp response correctly signed|ocsp response is valid")
_CRL_FETCH = re.compile(r"fetching crl from '([^']+)'")
_CRL_USED = re.compile(r"crl correctly signed|using cached crl|crl is valid")


@dataclass
class _SaContext:
    addr: str | None = None
    cert_received: bool = False
    cert_used: bool = False
    via: str | None = None
    fetched_from: str | None = None


@dataclass(frozen=True)
class Rejection:
    """One rejection stated by a charon log: reason, peer, the line, and what charon checked.

    ``via`` (``ocsp``/``crl``) and ``fetched_from`` (the OCSP responder / CRL distribution
    point URL, when charon fetched it over HTTP) are set for ``certificate_revoked``.
    """

    reason: str
    addr: str | None
    line: str
    ike_sa: str | None = None
    via: str | None = None
    fetched_from: str | None = None


class RejectionScanner:
    """Classifies charon log lines with the context of their IKE_SA (kept across :meth:`feed` calls).

    One line alone cannot tell why charon found "no trusted public key" for a peer;
    the exchange can (needs the cfg log level >= 2 that :class:`~testbed.segw.charon.Charon`
    sets, so "using certificate" lines are written):

    * no "received end entity cert" in the IKE_SA -> ``no_certificate`` (the peer sent none);
    * a certificate was received but charon found none for the identity the peer claims
      (no "using certificate" line before the failure) -> ``identity_not_in_certificate``
      (the identity, e.g. another femto's, is not in the certificate it sent);
    * otherwise the generic ``untrusted_certificate`` (chain failure) stays.

    Lines without an IKE_SA tag, or of an IKE_SA whose start was not seen, are classified
    line by line (:func:`classify_log_line`).
    """

    def __init__(self) -> None:
        self._sas: dict[str, _SaContext] = {}
        self._addr: str | None = None

    def feed(self, lines: list[str]) -> list[Rejection]:
        out: list[Rejection] = []
        seen: set[tuple[str, str | None]] = set()
        for line in lines:
            m = _ADDR.search(line)
            if m:
                self._addr = m.group(1)
            tag = _SA_TAG.search(line)
            sa = tag.group(1) if tag else None
            ctx = self._context(sa, line)
            reason = classify_log_line(line)
            via = fetched = None
            if reason is None:
                continue
            if ctx is not None:
                if reason == "untrusted_certificate" and _NO_PUBKEY.search(line):
                    if not ctx.cert_received:
                        reason = "no_certificate"
                    elif not ctx.cert_used:
                        reason = "identity_not_in_certificate"
                if reason == "certificate_revoked":
                    via, fetched = ctx.via, ctx.fetched_from
            if (reason, sa) in seen:
                continue
            seen.add((reason, sa))
            addr = (ctx.addr if ctx is not None and ctx.addr else None) or self._addr
            out.append(Rejection(reason, addr, line, sa, via, fetched))
        return out

    def _context(self, sa: str | None, line: str) -> _SaContext | None:
        """Update and return the context of ``sa`` (None when untracked)."""
        if sa is None:
            return None
        start = _SA_START.search(line)
        ctx = self._sas.get(sa)
        if ctx is None:
            if not start:
                return None
            ctx = self._sas[sa] = _SaContext()
            if len(self._sas) > 4096:  # bounded: forget the oldest IKE_SAs
                del self._sas[next(iter(self._sas))]
        if start and (start.group(1) or start.group(2)):
            ctx.addr = (start.group(1) or start.group(2)).split("[")[0]
        if _CERT_RECEIVED.search(line):
            ctx.cert_received = True
        elif _CERT_USED.search(line):
            ctx.cert_used = True
        elif _CHECKING_STATUS.search(line):
            ctx.via = ctx.fetched_from = None
        elif (f := _OCSP_FETCH.search(line)) is not None:
            ctx.via, ctx.fetched_from = "ocsp", f.group(1)
        elif (f := _CRL_FETCH.search(line)) is not None:
            ctx.via, ctx.fetched_from = "crl", f.group(1)
        elif _OCSP_USED.search(line):
            if ctx.via != "ocsp":
                ctx.via, ctx.fetched_from = "ocsp", None
        elif _CRL_USED.search(line) and ctx.via != "crl":
            ctx.via, ctx.fetched_from = "crl", None
        return ctx


class LogTail:
    """Incremental reader of a charon log file (new lines since the last call)."""

    def __init__(self, path: Path, from_end: bool = True) -> None:
        self.path = Path(path)
        self._pos = self.path.stat().st_size if from_end and self.path.exists() else 0

    def new_lines(self) -> list[str]:
        if not self.path.exists():
            return []
        with open(self.path, errors="replace") as f:
            f.seek(self._pos)
            data = f.read()
            # keep a torn last line for the next call
            cut = data.rfind("\n") + 1
            self._pos += len(data[:cut].encode(errors="replace"))
        return data[:cut].splitlines()


def proposal_of(ike: dict[str, Any]) -> str:
    """strongSwan-style proposal string from a vici IKE SA (or CHILD SA) entry."""
    parts = []
    encr = ike.get("encr-alg")
    if encr:
        ks = ike.get("encr-keysize")
        parts.append(f"{encr}_{ks}" if ks else encr)
    for key in ("integ-alg", "prf-alg", "dh-group"):
        if ike.get(key):
            parts.append(ike[key])
    return "/".join(parts)


def tunnel_event_fields(ike_name: str, ike: dict[str, Any]) -> dict[str, Any]:
    vips = ike.get("remote-vips") or ike.get("local-vips") or []
    children = list((ike.get("child-sas") or {}).values())
    fields: dict[str, Any] = {
        "ike": ike_name,
        "remote_id": ike.get("remote-id"),
        "local_id": ike.get("local-id"),
        "remote_addr": ike.get("remote-host"),
        "vip": vips[0] if vips else None,
        "proposal": proposal_of(ike),
    }
    if ike.get("remote-eap-id"):  # a second round with EAP (RFC 4739): the identity the AAA authenticated
        fields["remote_eap_id"] = ike["remote-eap-id"]
    if children:
        fields["esp_proposal"] = proposal_of(children[0])
        fields["local_ts"] = children[0].get("local-ts")
        fields["remote_ts"] = children[0].get("remote-ts")
    return fields


class TunnelMonitor:
    """Background thread: vici events (and the log file for rejections) -> ``segw.*`` events.

    ``ike-updown`` with ``up = yes`` is not enough for ``tunnel_up`` (no CHILD SA yet):
    ``tunnel_up`` is emitted on ``child-updown`` up, with the IKE SA's identities and
    proposal; ``tunnel_down`` on ``ike-updown`` down. Log lines are scanned for
    rejection reasons after every event poll (every ``poll`` seconds).
    """

    def __init__(self, socket_path: Path, log_path: Path, writer: EventWriter, poll: float = 0.2) -> None:
        self.socket_path = socket_path
        self.writer = writer
        self.poll = poll
        self._tail = LogTail(log_path)
        self._scanner = RejectionScanner()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._up: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="segw-monitor", daemon=True)
        self.errors: list[str] = []

    def start(self) -> TunnelMonitor:
        self._thread.start()
        if not self._ready.wait(5.0):
            raise TimeoutError("vici event listener did not register")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self._scan_log()

    def __enter__(self) -> TunnelMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            with listen(self.socket_path, ["ike-updown", "child-updown"], self.poll) as events:
                self._ready.set()
                for etype, msg in events:
                    if etype is not None and msg is not None:
                        self.handle(etype, msg)
                    self._scan_log()
                    if self._stop.is_set():
                        break
        except Exception as exc:  # noqa: BLE001 - reported, the monitor must not kill the node
            self.errors.append(repr(exc))
            self._ready.set()

    def handle(self, etype: str, msg: dict[str, Any]) -> None:
        """Turn one decoded vici event into ``segw.*`` events."""
        for name, ike in msg.items():
            if not isinstance(ike, dict):
                continue
            key = f"{name}/{ike.get('uniqueid')}"
            up = ike.get("up") == "yes" or msg.get("up") == "yes"
            if etype == "child-updown" and up and key not in self._up:
                self._up.add(key)
                self.writer.emit("segw.tunnel_up", **tunnel_event_fields(name, ike))
            elif etype == "ike-updown" and not up and key in self._up:
                self._up.discard(key)
                self.writer.emit("segw.tunnel_down", severity="notice", ike=name,
                                 remote_id=ike.get("remote-id"), remote_addr=ike.get("remote-host"))

    def _scan_log(self) -> None:
        for r in self._scanner.feed(self._tail.new_lines()):
            fields: dict[str, Any] = {"reason": r.reason, "remote_addr": r.addr, "detail": r.line.strip()[-300:]}
            if r.ike_sa is not None:
                fields["ike_sa"] = r.ike_sa
            if r.via is not None:
                fields["via"] = r.via
            if r.fetched_from is not None:
                fields["fetched_from"] = r.fetched_from
            self.writer.emit("segw.auth_failed", severity="warning", **fields)


_PEER_MATCH = re.compile(r"looking for peer configs matching \S+\[[^\]]*\]\.\.\.(\d{1,3}(?:\.\d{1,3}){3})\[([^\]]*)\]")


def claimed_peer(lines: list[str], remote_addr: str | None = None) -> tuple[str, str] | None:
    """(address, IKE identity) the peer (at ``remote_addr``, if given) last claimed in ``lines`` (IDi,
    RFC 7296 3.5). A *claimed* identity: for a rejected peer it was never authenticated."""
    found = None
    for line in lines:
        m = _PEER_MATCH.search(line)
        if m and (remote_addr is None or m.group(1) == remote_addr) and m.group(2) not in ("%any", ""):
            found = (m.group(1), m.group(2))
    return found


def claimed_identity(lines: list[str], remote_addr: str | None = None) -> str | None:
    """The identity part of :func:`claimed_peer`."""
    peer = claimed_peer(lines, remote_addr)
    return peer[1] if peer else None


def scan_rejections(lines: list[str]) -> Iterator[tuple[str, str | None, str]]:
    """(reason, peer address if stated, line) for each line stating a rejection (deduplicated per IKE_SA)."""
    for r in RejectionScanner().feed(lines):
        yield r.reason, r.addr, r.line
