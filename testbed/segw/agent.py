"""The femto's backhaul agent: ``python -m testbed.segw femto --state-dir femto1`` inside the femto node.

TS 33.320 6.1 (device integrity, TrE), 7.2.2 (certificate-based device authentication with IKEv2),
7.4 (all backhaul traffic of the femto inside the IPsec tunnel to the SeGW); TS 33.545 / TR 33.745
for the NR femto. The agent

1. boots the femto's trusted environment (:class:`testbed.femto.tre.TrustedEnvironment`): only
   after a successful secure boot is the device private key released (else ``backhaul.rejected``
   with reason ``tre_integrity_failure`` and no tunnel, ever, until a ``reboot`` with a good image);
2. starts its own charon in the node and configures it over vici: trust anchor + CRLs, the device
   key from the TrE, the initiator connection (:func:`testbed.segw.profiles.femto_conn`: device FQDN
   identity, strong proposals, virtual IP request, the operator services as remote TS);
3. initiates the tunnel and keeps it: after a rejection or a lost tunnel it re-initiates with
   exponential backoff (``retry_min_s`` .. ``retry_max_s``); ``backhaul.up`` carries the identities
   both sides authenticated, the virtual IP and the IKE/ESP proposals, ``backhaul.down`` the reason,
   ``backhaul.rejected`` the reasons from charon's log;
4. gates the femto's radio on the tunnel: the femto polls ``status`` (state, virtual IP) every
   100 ms and the agent also pushes ``{"op": "backhaul", ...}`` to the femto's control socket on
   every change; on a ``down`` the femto is told *first* (radio off, N2 dropped), then the IKE SA is
   deleted;
5. hosting-party authentication (TS 33.320 7.2.3), when the operator's policy requires it
   (``hpm_required``): charon loads the ``eap-aka-hpm`` card plugin (EAP-AKA answered by the HPM's
   control socket) and the connection gets a second authentication round (RFC 4739 ``local-2``:
   ``auth = eap-aka``, IDi = the device FQDN again, EAP identity = what the HPM's ``identity`` op
   returns; reloaded whenever that changes, never reported in events). The agent polls the HPM's
   ``status`` every ``hpm_poll_s``; on removal (or an HPM that stops answering) it tells the femto to
   switch its radio off (TS 33.320 7.2.3/7.4: the femto's connection to the core is dropped and the
   air interface turned off), deletes the IKE SA and waits for re-insertion; then it re-initiates
   right away. Without the policy the tunnel is certificate-only even if the femto has an HPM.

Control (JSON lines on ``control_socket``): ``status``, ``down``, ``up``, ``reboot`` (a device
reboot: tunnel down, charon restarted, secure boot again).
Readiness: the event ``backhaul.up``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from testbed.runtime.events import EventWriter
from testbed.segw import profiles
from testbed.segw.charon import HPM_PLUGIN_PATH
from testbed.segw.config import BackhaulSettings
from testbed.segw.events import LogTail, TunnelMonitor, proposal_of, rejection_reasons
from testbed.segw.node_charon import ChildCharon
from testbed.segw.runner import EventSink
from testbed.segw.vici_driver import ViciDriver, ViciError

log = logging.getLogger("testbed.segw.agent")

__all__ = ["BackhaulAgent", "Backoff", "HpmWatcher"]

CONN = "femto"
#: while up, the CHILD SA is also checked through list-sas this often (seconds).
VERIFY_S = 2.0

# agent states
STARTING, CONNECTING, UP, WAITING, ADMIN_DOWN, FAILED, NO_HPM = (
    "starting", "connecting", "up", "retry_wait", "admin_down", "failed", "hpm_removed")


class Backoff:
    """min * 2**n seconds, capped at max; :meth:`reset` after a success."""

    def __init__(self, minimum: float, maximum: float) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.failures = 0

    def next_delay(self) -> float:
        delay = min(self.maximum, self.minimum * (2 ** min(self.failures, 16)))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


class HpmWatcher:
    """Polls the HPM control socket (``{"op": "status"}``) every ``interval`` s in a thread.

    ``on_change(present, detail)`` is called on every change of presence (and once at the start).
    A socket that does not answer counts as a removed card (fail closed).
    """

    def __init__(self, socket_path: str | Path, on_change: Callable[[bool, str], None], interval: float = 0.1,
                 request: Callable[..., dict[str, Any]] | None = None) -> None:
        from testbed.runtime.control import control_request

        self.socket_path = Path(socket_path)
        self.on_change = on_change
        self.interval = interval
        self._request = request or control_request
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hpm-watch", daemon=True)
        self.present: bool | None = None  # the card's identity (an IMSI) is never kept or reported here
        self.polls = 0

    def start(self) -> HpmWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def poll_once(self) -> None:
        try:
            reply = self._request(self.socket_path, {"op": "status"}, timeout=max(self.interval * 5, 0.5))
            present = bool(reply.get("ok")) and reply.get("inserted") is True
            detail = "inserted" if present else "removed"
        except (OSError, ValueError) as e:
            present, detail = False, f"hpm unreachable: {type(e).__name__}"
        self.polls += 1
        if present != self.present:
            self.present = present
            self.on_change(present, detail)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.interval)


def _report_dict(report: Any) -> dict[str, Any]:
    if report is None:
        return {}
    if is_dataclass(report) and not isinstance(report, type):
        d = asdict(report)
    else:
        d = {k: v for k, v in vars(report).items() if not k.startswith("_")}
    if hasattr(report, "differing"):
        d["differing"] = list(report.differing)
    return d


class BackhaulAgent:
    """The backhaul of one femto (see the module docstring). ``start()``, ``control()``, ``stop()``."""

    def __init__(self, settings: BackhaulSettings, events: EventWriter, *,
                 charon_factory: Callable[[], ChildCharon] | None = None,
                 tre_factory: Callable[[Path], Any] | None = None,
                 femto_push: Callable[[dict[str, Any]], None] | None = None,
                 hpm_identity_request: Callable[..., dict[str, Any]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.events = events
        self.node_dir = Path(settings.node_dir)
        hpm_socket = settings.hpm_socket if settings.hpm_required else None
        self._charon_factory = charon_factory or (lambda: ChildCharon(self.node_dir, "femto", settings.ipsec_backend,
                                                                      settings.log_level, hpm_socket=hpm_socket))
        self._hpm_identity_request = hpm_identity_request
        self._tre_factory = tre_factory
        self._femto_push = femto_push
        self.clock = clock
        self.charon: ChildCharon | None = None
        self.ctl: ViciDriver | None = None  # initiate (blocks while the exchange runs)
        self.aux: ViciDriver | None = None  # terminate, list-sas
        self.monitor: TunnelMonitor | None = None
        self.hpm: HpmWatcher | None = None
        self.backoff = Backoff(settings.retry_min_s, settings.retry_max_s)
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._key_pem: bytes | None = None
        self._conn: dict[str, Any] | None = None  # the initiator connection without its second round
        self._eap_id: str | None = None  # the EAP identity loaded into charon (never reported)
        self._conn_loaded = False
        # state (under self._cv)
        self.state = STARTING
        self.reason = ""
        self.admin_down = False
        self.hpm_present: bool | None = None if settings.hpm_required else True
        self.tre_ok: bool | None = None
        self.tre_report: dict[str, Any] = {}
        self.tunnel: dict[str, Any] = {}
        self.next_attempt = 0.0
        self.attempts = 0
        self.last_rejection: dict[str, Any] = {}
        self.up_since: float | None = None
        self._reinit = False
        self.counters: dict[str, int] = {"initiated": 0, "up": 0, "down": 0, "rejected": 0, "pushes_failed": 0}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._boot()
        if self.settings.hpm_required and self.settings.hpm_socket:
            self.hpm = HpmWatcher(self.settings.hpm_socket, self._on_hpm, self.settings.hpm_poll_s).start()
        self._thread = threading.Thread(target=self._run, name="backhaul", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Femto told first, then charon stopped (which also ends an initiate in progress), then the thread.

        Quick on purpose: the engine SIGKILLs a service that takes more than a few seconds to stop.
        """
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        if self.hpm is not None:
            self.hpm.stop()
        self._push({"op": "backhaul", "state": "down", "reason": "backhaul agent stopped"})
        self._shutdown_charon()
        if self._thread is not None:
            self._thread.join(2)

    def _boot(self) -> None:
        """Secure boot (TrE), then charon with the device key (TS 33.320 6.1: no key without integrity)."""
        s = self.settings
        from testbed.femto.tre import IntegrityError, TrustedEnvironment

        factory = self._tre_factory or (lambda d: TrustedEnvironment(d, events=self.events))
        tre = factory(self.node_dir)
        try:
            self._key_pem = tre.device_key_pem()
        except IntegrityError as e:
            report = getattr(e, "report", None) or getattr(tre, "last_report", None)
            with self._cv:
                self.tre_ok, self.tre_report = False, _report_dict(report)
                self._set_state(FAILED, "tre_integrity_failure")
                self.last_rejection = {"reason": "tre_integrity_failure", "error": str(e)[:300]}
            self.events.emit("backhaul.rejected", "error", reason="tre_integrity_failure", identity=s.identity,
                             stage="device", error=str(e)[:300], differing=self.tre_report.get("differing", []))
            return
        with self._cv:
            self.tre_ok, self.tre_report = True, _report_dict(getattr(tre, "last_report", None))
        self._start_charon()

    def _start_charon(self) -> None:
        from cryptography import x509

        s = self.settings
        self.charon = self._charon_factory()
        vici_s = self.charon.start()
        self.ctl = ViciDriver(self.charon.vici_socket)
        self.aux = ViciDriver(self.charon.vici_socket)
        # trust: operator root (anchor), issuing CA, CRLs (issuing CA's and the root's); never a PKI key
        self.aux.load_cert(Path(s.root_cert).read_bytes(), "x509ca")
        for path in s.intermediates:
            self.aux.load_cert(Path(path).read_bytes(), "x509")
        for path in s.crls:
            self.aux.load_cert(Path(path).read_bytes(), "x509crl")
        assert self._key_pem is not None
        self.aux.load_key(self._key_pem)
        self._key_pem = None  # charon holds it now
        cert = Path(s.cert).read_bytes()
        conn = profiles.femto_conn(s.segw_address, s.identity, cert=cert, root=Path(s.root_cert).read_bytes(),
                                   remote_ts=s.service_addresses, segw_id=s.segw_identity)
        # the agent, not charon, re-initiates (with backoff) when the tunnel is lost
        conn["children"][CONN]["dpd_action"] = "clear"
        self._conn, self._eap_id, self._conn_loaded = conn, None, False
        if s.hpm_required:
            ident = self._hpm_identity()
            if ident is not None:  # else loaded before the first attempt with an HPM
                self._load_conn(ident)
        else:
            self._load_conn(None)
        self.monitor = TunnelMonitor(self.charon.vici_socket, self.charon.log_path,
                                     EventSink(self._on_monitor)).start()
        subject = x509.load_pem_x509_certificate(cert).subject.rfc4514_string()
        self.events.emit("backhaul.started", "info", identity=s.identity, certificate_subject=subject,
                         segw=s.segw_address, segw_identity=s.segw_identity, services=s.services,
                         ipsec_backend=self.charon.backend, backend_reason=s.backend_reason,
                         charon_pid=self.charon.charon.pid, vici_ready_s=round(vici_s, 3),
                         hpm_required=s.hpm_required,
                         hpm_plugin=str(HPM_PLUGIN_PATH) if s.hpm_required else None)

    def _hpm_identity(self) -> str | None:
        """The HPM's EAP identity (its ``identity`` op: "0<IMSI>@<realm>", RFC 4187 4.1.1.6), None when
        removed or not answering. Kept only to configure charon; never logged or put into events."""
        if not self.settings.hpm_socket:
            return None
        request = self._hpm_identity_request
        if request is None:
            from testbed.runtime.control import control_request as request
        try:
            reply = request(self.settings.hpm_socket, {"op": "identity"}, timeout=1.0)
        except (OSError, ValueError):
            return None
        ident = reply.get("identity") if isinstance(reply, dict) and reply.get("ok") is True else None
        return ident if isinstance(ident, str) and 0 < len(ident) <= 253 else None

    def _load_conn(self, eap_identity: str | None) -> None:
        """(Re)load the initiator connection; with an EAP identity it gets the second round (RFC 4739):
        ``local-2`` eap-aka, IDi = the device FQDN (charon would send its IP address otherwise)."""
        assert self._conn is not None and self.aux is not None
        conn = dict(self._conn)
        if eap_identity is not None:
            conn["local-2"] = {"auth": "eap-aka", "id": self.settings.identity, "eap_id": eap_identity}
        self.aux.load_conn(CONN, conn)
        self._eap_id, self._conn_loaded = eap_identity, True

    def _shutdown_charon(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
            self.monitor = None
        for d in (self.ctl, self.aux):
            if d is not None:
                d.close()
        self.ctl = self.aux = None
        if self.charon is not None:
            self.charon.stop()
            self.charon = None

    # ------------------------------------------------------------------ state

    def _set_state(self, state: str, reason: str = "") -> None:
        """(under self._cv) change state; the femto is told on every change."""
        if state == self.state and reason == self.reason:
            return
        self.state, self.reason = state, reason
        if state != UP:
            self.tunnel = {}
            self.up_since = None
        self._cv.notify_all()

    def _push(self, msg: dict[str, Any]) -> None:
        """Tell the femto right away (it also polls ``status``); a femto not (yet) running is fine."""
        if self._femto_push is not None:
            self._femto_push(msg)
            return
        if not self.settings.femto_control:
            return
        from testbed.runtime.control import control_request

        try:
            control_request(self.settings.femto_control, msg, timeout=1.0)
        except (OSError, ValueError):
            self.counters["pushes_failed"] += 1

    def status(self) -> dict[str, Any]:
        with self._cv:
            s = self.settings
            out: dict[str, Any] = {
                "ok": True, "state": self.state, "reason": self.reason, "identity": s.identity,
                "segw": s.segw_address, "segw_identity": s.segw_identity,
                "vip": self.tunnel.get("vip") if self.state == UP else None,
                "tunnel": dict(self.tunnel), "up_since": self.up_since, "admin_down": self.admin_down,
                "attempts": self.attempts, "last_rejection": dict(self.last_rejection),
                "retry_in_s": round(max(0.0, self.next_attempt - self.clock()), 3) if self.state == WAITING else None,
                "tre": {"ok": self.tre_ok, **{k: v for k, v in self.tre_report.items()
                                               if k in ("measurement", "reference", "differing", "files")}},
                "hpm": {"required": s.hpm_required, "present": self.hpm_present,
                        "polls": self.hpm.polls if self.hpm else 0},
                "ipsec_backend": self.charon.backend if self.charon else s.ipsec_backend,
                "charon_alive": self.charon.alive() if self.charon else False,
                "counters": dict(self.counters),
            }
        return out

    # ------------------------------------------------------------------ the maintenance loop

    def _may_connect(self) -> bool:
        return (not self.admin_down and self.tre_ok is True and self.hpm_present is True
                and self.charon is not None and self.charon.alive() and self.state != FAILED)

    def _run(self) -> None:
        last_verify = self.clock()
        while not self._stop.is_set():
            if self.charon is not None and self.state != FAILED:
                self._check_alive()
            if self.state == UP and self.clock() - last_verify >= VERIFY_S:
                last_verify = self.clock()
                self._verify_up()
            with self._cv:
                if self._stop.is_set():
                    break
                if self._reinit:
                    self._reinit = False
                    self.next_attempt = 0.0
                if not self._may_connect() or self.state == UP:
                    self._cv.wait(0.5)
                    continue
                wait = self.next_attempt - self.clock()
                if wait > 0:
                    if self.state != WAITING:
                        self._set_state(WAITING, self.reason)
                    self._cv.wait(min(wait, 0.5))
                    continue
                self.attempts += 1
                self._set_state(CONNECTING, f"attempt {self.attempts}")
            self._attempt()

    def _verify_up(self) -> None:
        """Safety net besides the vici events: an installed CHILD SA must still exist while UP."""
        try:
            found = self._find_tunnel()
        except (ViciError, OSError):
            found = None
        if found is None:
            self._on_monitor("segw.tunnel_down", "notice", {"source": "list-sas"})

    def _check_alive(self) -> None:
        if self.charon is not None and not self.charon.alive():
            self.events.emit("backhaul.charon_exited", "error")
            with self._cv:
                self._set_state(FAILED, "charon exited")  # a reboot restarts it
            self._push({"op": "backhaul", "state": "down", "reason": "charon exited"})

    def _prepare_hp_round(self) -> str | None:
        """With hosting-party authentication: the connection carries the HPM's current EAP identity.
        Returns a rejection reason when the HPM gives none (removed, not answering)."""
        if not self.settings.hpm_required:
            return None
        ident = self._hpm_identity()
        if ident is None:
            return "hpm_unavailable"
        if ident != self._eap_id or not self._conn_loaded:
            try:
                self._load_conn(ident)
            except (ViciError, OSError) as e:
                log.warning("cannot load the connection with the HPM's identity: %s", e)
                return "initiate_failed"
        return None

    def _attempt(self) -> None:
        s = self.settings
        assert self.ctl is not None and self.charon is not None
        not_ready = self._prepare_hp_round()
        if not_ready is not None:
            with self._cv:
                delay = self.backoff.next_delay()
                self.next_attempt = self.clock() + delay
                self.last_rejection = {"reason": not_ready, "reasons": [not_ready], "attempt": self.attempts}
                self._set_state(WAITING, not_ready)
            self.counters["rejected"] += 1
            self.events.emit("backhaul.rejected", "warning", reason=not_ready, reasons=[not_ready],
                             identity=s.identity, segw=s.segw_address, attempt=self.attempts,
                             retry_in_s=round(delay, 3), stage="hpm")
            return
        tail = LogTail(self.charon.log_path)
        t0 = time.monotonic()
        self.counters["initiated"] += 1
        try:
            lines = self.ctl.initiate(CONN, CONN, timeout=s.initiate_timeout_s)
            error = None
        except (ViciError, OSError) as e:
            lines, error = [str(e)], str(e)
        except Exception as e:  # noqa: BLE001 - a broken vici connection must not end the loop
            lines, error = [repr(e)], repr(e)
        elapsed = time.monotonic() - t0
        lines = lines + tail.new_lines()
        try:
            tunnel = self._find_tunnel() if error is None else None
        except (ViciError, OSError) as e:
            tunnel, error = None, str(e)
        if tunnel is None:
            reasons = rejection_reasons(lines) or ["initiate_failed"]
            with self._cv:
                delay = self.backoff.next_delay()
                self.next_attempt = self.clock() + delay
                self.last_rejection = {"reason": reasons[0], "reasons": reasons, "attempt": self.attempts}
                self._set_state(WAITING, reasons[0])
            self.counters["rejected"] += 1
            self.events.emit("backhaul.rejected", "warning", reason=reasons[0], reasons=reasons, identity=s.identity,
                             segw=s.segw_address, attempt=self.attempts, retry_in_s=round(delay, 3),
                             detail=(error or "")[-300:])
            return
        with self._cv:
            if self.admin_down or self.hpm_present is not True:
                want_down = True  # told to go down while the exchange ran
            else:
                want_down = False
                self.backoff.reset()
                self.tunnel = tunnel
                self.up_since = time.time()
                self._set_state(UP, "")
        if want_down:
            self._terminate("down requested during setup")
            return
        self.counters["up"] += 1
        self.events.emit("backhaul.up", "info", setup_s=round(elapsed, 3), attempt=self.attempts,
                         hp_authentication=self._eap_id is not None, **tunnel)
        self._push({"op": "backhaul", "state": "up", "vip": tunnel["vip"]})

    def _find_tunnel(self) -> dict[str, Any] | None:
        assert self.aux is not None
        for entry in self.aux.list_sas(CONN):
            for name, ike in entry.items():
                children = [c for c in (ike.get("child-sas") or {}).values() if c.get("state") == "INSTALLED"]
                vips = ike.get("local-vips") or []
                if ike.get("state") == "ESTABLISHED" and children and vips:
                    c = children[0]
                    return {"ike": name, "uniqueid": ike.get("uniqueid"), "identity": ike.get("local-id"),
                            "segw_identity": ike.get("remote-id"), "local_addr": ike.get("local-host"),
                            "remote_addr": ike.get("remote-host"), "nat": ike.get("nat-local") == "yes",
                            "vip": vips[0], "proposal": proposal_of(ike), "esp_proposal": proposal_of(c),
                            "encap": c.get("encap") == "yes", "local_ts": c.get("local-ts"),
                            "remote_ts": c.get("remote-ts")}
        return None

    def _terminate(self, why: str) -> None:
        if self.aux is None:
            return
        try:
            self.aux.terminate(CONN, timeout=3.0)
        except ViciError as e:
            log.info("terminate (%s): %s", why, e)

    def _on_monitor(self, type_: str, severity: str, fields: dict[str, Any]) -> None:
        """vici events: a tunnel that goes away without being asked to is a loss (re-initiate with backoff)."""
        if type_ != "segw.tunnel_down":
            return
        with self._cv:
            if self.state != UP:
                return
            vip = self.tunnel.get("vip")
            self.counters["down"] += 1
            delay = self.backoff.next_delay()
            self.next_attempt = self.clock() + delay
            self._set_state(WAITING, "tunnel lost")
        self._push({"op": "backhaul", "state": "down", "reason": "tunnel lost"})
        self.events.emit("backhaul.down", "warning", reason="tunnel lost", identity=self.settings.identity,
                         vip=vip, retry_in_s=round(delay, 3))

    def _on_hpm(self, present: bool, detail: str) -> None:
        """HPM inserted/removed (TS 33.320 7.2.3: hosting party authentication needs the HPM)."""
        with self._cv:
            was_up = self.state == UP
            vip = self.tunnel.get("vip")
            self.hpm_present = present
            if present:
                if self.state == NO_HPM:
                    self._set_state(WAITING, "hpm inserted")
                self._reinit = True
                self._cv.notify_all()  # the maintenance loop connects now, not at its next 0.5 s tick
            else:
                self._set_state(NO_HPM, detail)
        self.events.emit("backhaul.hpm_inserted" if present else "backhaul.hpm_removed",
                         "info" if present else "warning", detail=detail, polls=self.hpm.polls if self.hpm else None)
        if not present:
            t0 = time.monotonic()
            self._push({"op": "backhaul", "state": "down", "reason": "hpm removed"})
            told = time.monotonic() - t0
            self._terminate("hpm removed")
            if was_up:
                self.counters["down"] += 1
                self.events.emit("backhaul.down", "warning", reason="hpm removed", identity=self.settings.identity,
                                 vip=vip, femto_told_s=round(told, 4), terminated_s=round(time.monotonic() - t0, 4))

    # ------------------------------------------------------------------ control

    def down(self, reason: str = "admin") -> dict[str, Any]:
        """Tunnel down on request: the femto is told first (radio off, N2 dropped), then the IKE SA goes."""
        with self._cv:
            was_up = self.state == UP
            vip = self.tunnel.get("vip")
            self.admin_down = True
            self._set_state(ADMIN_DOWN, reason)
        t0 = time.monotonic()
        self._push({"op": "backhaul", "state": "down", "reason": reason})
        pushed_s = time.monotonic() - t0
        self._terminate(reason)
        if was_up:
            self.counters["down"] += 1
            self.events.emit("backhaul.down", "notice", reason=reason, identity=self.settings.identity, vip=vip,
                             femto_told_s=round(pushed_s, 4))
        return {"ok": True, "state": self.state, "was_up": was_up}

    def up(self) -> dict[str, Any]:
        with self._cv:
            self.admin_down = False
            self.backoff.reset()
            self._reinit = True
            if self.state == ADMIN_DOWN:
                self._set_state(WAITING, "up requested")
        return {"ok": True, "state": self.state}

    def reboot(self) -> dict[str, Any]:
        """A device reboot: tunnel down, charon stopped, secure boot again, charon restarted (if the TrE allows)."""
        self.down("reboot")
        with self._cv:
            thread = self._thread
            self._stop.set()
            self._cv.notify_all()
        if thread is not None:
            thread.join(15)
        self._shutdown_charon()
        self._stop.clear()
        with self._cv:
            self.admin_down = False
            self.tre_ok = None
            self.tre_report = {}
            self.backoff.reset()
            self.next_attempt = 0.0
            self._set_state(STARTING, "reboot")
        self.events.emit("backhaul.reboot", "notice", identity=self.settings.identity)
        self._boot()
        self._thread = threading.Thread(target=self._run, name="backhaul", daemon=True)
        self._thread.start()
        return {"ok": True, "state": self.state, "tre_ok": self.tre_ok}

    def control(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"ok": False, "error": 'expected a JSON object with an "op" string'}
        op = request["op"]
        try:
            if op == "status":
                return self.status()
            if op == "down":
                return self.down(str(request.get("reason", "admin"))[:100])
            if op == "up":
                return self.up()
            if op == "reboot":
                return self.reboot()
            return {"ok": False, "error": f"unknown op {op!r}", "ops": ["status", "down", "up", "reboot"]}
        except (ViciError, OSError, ValueError, TypeError) as e:
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}
