"""The SeGW service: ``python -m testbed.segw segw --state-dir segw`` inside the SeGW node.

TS 33.320 7.2/7.4 (SeGW of the femto architecture), TS 33.210 (IKEv2/ESP profile), TS 33.310
(certificates). The service

1. starts its own charon in the node (:class:`~testbed.segw.node_charon.ChildCharon`, kernel ESP or
   kernel-libipsec as probed at ``up``);
2. configures it entirely over vici from the run's PKI and ``segw.json``: trust anchor, issuing CA,
   CRLs (issuing CA's and the root's), its own key, the virtual IP pool and the responder connection
   (:func:`testbed.segw.profiles.segw_conn`: strong proposals only, certificate authentication with
   strict revocation checking, the femto identity pattern, traffic selectors = the operator services);
3. filters forwarding in its node (nftables table ``inet nrft_segw``): nothing from the pool to the
   pool (femto to femto), nothing between the pool and anything but the operator services;
   with kernel-libipsec it also prepares the node for *gateway* use (:func:`libipsec_gateway_commands`);
4. watches tunnels (:class:`~testbed.segw.events.TunnelMonitor`) and writes ``backhaul.up`` (the
   femto's authenticated identity, its public address as seen through the NAT, virtual IP, IKE and
   ESP proposals), ``backhaul.down`` and ``backhaul.rejected`` (reason from charon's log);
5. reloads the CRL into charon whenever the PKI rewrites it (a revocation takes effect for the next
   authentication; established SAs are not re-checked, as with any IKEv2 responder);
   *online revocation* (TS 33.320 7.2.4, TS 33.310 6.1a) when the run's PKI has an OCSP URI / CRL
   distribution point (``index.json``: ``ocsp_url``/``crl_url``, set at ``up`` when the topology
   runs ``testbed.pki.ocsp_server``): the issuing CA's CRL is *not* loaded (charon asks the
   responder named in the device certificate, OCSP first, then the CRL distribution point), only
   the root's ARL (the issuing CA's certificate has no pointer; ``strict`` wants its status too);
   on a revocation the service flushes charon's cached OCSP responses and fetched CRLs
   (``segw.revocation_cache_flushed``), so the next authentication asks the responder again;
6. answers its control socket: ``status``, ``tunnels``, ``terminate`` (``identity`` or all),
   ``reload_crl``, ``connections`` (the loaded connections and whether each demands the second round).

Hosting-party authentication (TS 33.320 7.2.3; RFC 4739 multiple authentication): with an AAA
(``radius`` in ``segw.json``) charon loads ``eap-radius`` towards it (the per-run shared secret read
from its file, strongswan.conf 0600). The SeGW tells femtos apart by their authenticated identity
(:func:`segw_connections`): one connection per known femto keyed by its device FQDN, with
``remote-2`` (EAP-AKA relayed to the AAA) where the operator's policy requires it; a femto whose
policy does not require it gets a certificate-only tunnel even if it has an HPM. The wildcard
connection for femtos not in ``segw.json`` demands the second round whenever an AAA is configured:
charon switches to another matching connection when the selected one is not fulfilled
(``update_cfg_candidates``), so a femto that requires the HPM must never match a connection
without the second round, and falls back to nothing weaker. ``backhaul.up`` and ``tunnels`` show
the EAP identity the AAA authenticated (``remote_eap_id``).

Readiness: the event ``segw.ready``.
"""

from __future__ import annotations

import ipaddress
import logging
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from testbed.runtime.events import EventWriter
from testbed.segw import profiles
from testbed.segw.charon import RadiusServer
from testbed.segw.config import SegwSettings
from testbed.segw.events import TunnelMonitor, proposal_of
from testbed.segw.node_charon import ChildCharon
from testbed.segw.runner import EventSink
from testbed.segw.vici_driver import ViciDriver, ViciError

log = logging.getLogger("testbed.segw.service")

__all__ = ["SegwService", "femto_conn_name", "forward_ruleset", "segw_connections", "tunnels_of"]

POOL_NAME = "femtos"
#: the wildcard connection (femtos not listed in ``segw.json``)
CONN_NAME = "segw"
NFT_TABLE = "nrft_segw"
#: vici ``flush-certs`` type of charon's cached OCSP responses (strongSwan certificate_type_names)
OCSP_RESPONSES = "OCSP_RESPONSE"


def femto_conn_name(node: str) -> str:
    """The SeGW's connection for the known femto ``node`` (also the name of its IKE SAs)."""
    return f"femto-{node}"


def segw_connections(settings: SegwSettings, paths: profiles.PkiPaths) -> dict[str, dict[str, Any]]:
    """Connection name -> vici connection of the SeGW (see the module docstring), wildcard last.

    Per known femto: remote identity = its device FQDN (exact match, preferred by charon over the
    wildcard), ``remote-2`` eap-radius iff its policy requires hosting-party authentication. The
    wildcard connection (``femto_id_pattern``) demands the second round whenever an AAA exists.
    """
    s = settings
    conns: dict[str, dict[str, Any]] = {}
    for f in s.femtos:
        conns[femto_conn_name(f.node)] = profiles.segw_conn(paths, POOL_NAME, s.service_addresses, remote_id=f.identity,
                                                           local_id=s.identity, eap_round=f.hpm_required)
    conns[CONN_NAME] = profiles.segw_conn(paths, POOL_NAME, s.service_addresses, remote_id=s.femto_id_pattern,
                                          local_id=s.identity, eap_round=s.radius is not None)
    return conns


def radius_server_of(settings: SegwSettings, base: Path | None = None) -> RadiusServer | None:
    """The AAA as charon's eap-radius server, the shared secret read from its file (ConfigError if unusable)."""
    r = settings.radius
    if r is None:
        return None
    from testbed.aaa.radius_server import read_secret

    path = Path(r.secret_file)
    if base is not None and not path.is_absolute():
        path = base / path
    secret = read_secret(path).decode(errors="replace")
    try:
        return RadiusServer(r.address, secret, auth_port=r.port)
    except ValueError as e:
        from testbed.errors import ConfigError

        raise ConfigError(str(path), "", str(e)) from None


def forward_ruleset(pool: str, services: list[str], table: str = NFT_TABLE) -> str:
    """nftables forward filter of the SeGW node (TS 33.320 7.4).

    - femto to femto (pool -> pool) is dropped: femtos must not reach each other;
    - from the pool only to the operator services, to the pool only from them.
    The traffic selectors already confine each femto; this holds even if a selector were too wide.
    """
    net = ipaddress.IPv4Network(pool)
    elems = ", ".join(str(ipaddress.IPv4Address(a)) for a in services)
    return (
        f"table inet {table} {{\n"
        f"  set services {{\n"
        f"    type ipv4_addr\n"
        f"    elements = {{ {elems} }}\n"
        f"  }}\n"
        f"  chain forward {{\n"
        f"    type filter hook forward priority -10; policy accept;\n"
        f"    ip saddr {net} ip daddr {net} counter drop comment \"femto to femto\"\n"
        f"    ip saddr {net} ip daddr != @services counter drop comment \"pool to non-service\"\n"
        f"    ip daddr {net} ip saddr != @services counter drop comment \"non-service to pool\"\n"
        f"  }}\n"
        f"}}\n"
    )


#: TUN device strongSwan's kernel-libipsec creates (one charon per node namespace: always the first).
LIBIPSEC_TUN = "ipsec0"


def libipsec_gateway_commands(services: list[str], tun: str = LIBIPSEC_TUN) -> list[tuple[list[str], bool]]:
    """Node setup that lets kernel-libipsec act as a security *gateway* for addresses it does not own.

    kernel-libipsec (userspace ESP) installs, for every outbound policy, a route into its TUN device
    whose source is a local address inside the local traffic selector, and fails the CHILD SA
    ("error installing route with policy ... unable to install IPsec policies") when there is none —
    it was written for road-warrior clients. The SeGW's local selectors are the operator services
    (AMF, UPF, MS, NTP), which live on other nodes. So, in the SeGW node only:

    - the service addresses are added to ``lo`` (/32): kernel-libipsec finds its "local" source;
    - decapsulated traffic from the tunnel (``iif <tun>``) is routed with the main table *before* the
      local table (rule 50, local table moved from 0 to 100), so it is forwarded to the real service
      instead of being delivered to the SeGW itself;
    - ``arp_ignore=1``/``arp_announce=2``: the SeGW never answers ARP for those loopback addresses
      on the operator segment (the real AMF/UPF keep their addresses), ``accept_local=1`` and
      ``rp_filter=0``: packets from the services (their source is now "local" here) are accepted.

    With kernel ESP (XFRM) none of this is needed. Returns ``(argv, must_succeed)`` pairs.
    """
    cmds: list[tuple[list[str], bool]] = []
    for a in services:
        cmds.append((["ip", "addr", "replace", f"{a}/32", "dev", "lo"], True))
    sysctls = ["net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
               "net.ipv4.conf.all.accept_local=1", "net.ipv4.conf.default.accept_local=1",
               "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]
    cmds.append((["sysctl", "-qw", *sysctls], True))
    cmds.append((["ip", "rule", "add", "pref", "50", "iif", tun, "lookup", "main"], False))
    cmds.append((["ip", "rule", "add", "pref", "100", "lookup", "local"], False))
    cmds.append((["ip", "rule", "del", "pref", "0", "lookup", "local"], False))
    return cmds


def _interfaces() -> list[str]:
    try:
        return sorted(p.name for p in Path("/sys/class/net").iterdir())
    except OSError:
        return []


def tunnels_of(sas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """vici ``list-sas`` entries -> tunnel summaries (identities, addresses, proposals, CHILD SA states)."""
    out = []
    for entry in sas:
        for name, ike in entry.items():
            if not isinstance(ike, dict):
                continue
            children = list((ike.get("child-sas") or {}).values())
            vips = ike.get("remote-vips") or ike.get("local-vips") or []
            out.append({
                "ike": name, "uniqueid": ike.get("uniqueid"), "state": ike.get("state"),
                "local_id": ike.get("local-id"), "remote_id": ike.get("remote-id"),
                # the second round's EAP identity (RFC 4739; the HPM's NAI), None for certificate-only
                "remote_eap_id": ike.get("remote-eap-id"),
                "local_addr": ike.get("local-host"), "remote_addr": ike.get("remote-host"),
                "remote_port": ike.get("remote-port"), "nat": ike.get("nat-any") == "yes"
                or ike.get("nat-remote") == "yes" or ike.get("nat-local") == "yes",
                "vip": vips[0] if vips else None, "proposal": proposal_of(ike),
                "children": [{"state": c.get("state"), "esp_proposal": proposal_of(c), "encap": c.get("encap"),
                              "local_ts": c.get("local-ts"), "remote_ts": c.get("remote-ts"),
                              "bytes_in": c.get("bytes-in"), "bytes_out": c.get("bytes-out")} for c in children],
            })
    return out


class SegwService:
    """The SeGW of one run (see the module docstring)."""

    def __init__(self, settings: SegwSettings, events: EventWriter, *, node_dir: Path | None = None,
                 charon: ChildCharon | None = None) -> None:
        self.settings = settings
        self.events = events
        self.node_dir = Path(node_dir or settings.name)
        radius = radius_server_of(settings) if charon is None else None
        self.charon = charon or ChildCharon(self.node_dir, "segw", settings.ipsec_backend, settings.log_level,
                                            radius_servers=[radius] if radius else ())
        self.driver: ViciDriver | None = None
        self.monitor: TunnelMonitor | None = None
        self._stop = threading.Event()
        self._crl_thread: threading.Thread | None = None
        self._crl_mtime: float | None = None
        self._pki: Any = None
        self.started_at: float | None = None
        self.conns: dict[str, dict[str, Any]] = {}
        self.counters: dict[str, int] = {"up": 0, "down": 0, "rejected": 0, "crl_reloads": 0}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        from testbed.pki import RunPki
        from testbed.segw.credentials import load_node_credentials

        s = self.settings
        t0 = time.monotonic()
        if self.charon.backend == "libipsec":
            self._libipsec_gateway()
        vici_s = self.charon.start()
        self.driver = ViciDriver(self.charon.vici_socket)
        self._pki = RunPki.load(Path(s.pki_dir))
        cert = self._pki.get(s.cert_name)
        online = self.online_revocation
        load_node_credentials(self.driver, self._pki, cert, with_crls=not online)
        if online:
            # the root's ARL: the issuing CA's status (its certificate carries no OCSP URI / CDP)
            self.driver.load_cert(self._pki.root_crl().public_bytes(serialization.Encoding.PEM), "x509crl")
        self._crl_mtime = self._crl_file().stat().st_mtime if self._crl_file().exists() else None
        self.driver.load_pool(POOL_NAME, s.pool)
        paths = profiles.PkiPaths(cert=cert.cert_path, key=cert.key_path, root=self._pki.root.cert_path)
        self.conns = segw_connections(s, paths)
        for name, conn in self.conns.items():
            self.driver.load_conn(name, conn)
        self._apply_nft()
        self.monitor = TunnelMonitor(self.charon.vici_socket, self.charon.log_path, EventSink(self._on_event)).start()
        self._crl_thread = threading.Thread(target=self._watch_crl, name="segw-crl", daemon=True)
        self._crl_thread.start()
        self.started_at = time.time()
        ike, esp = list(profiles.IKE_PROPOSALS), list(profiles.ESP_PROPOSALS)
        self.events.emit("segw.ready", "info", identity=s.identity, public_address=s.public_address,
                         operator_address=s.operator_address, pool=s.pool, services=s.services,
                         ipsec_backend=self.charon.backend, backend_reason=s.backend_reason,
                         ike_proposals=ike, esp_proposals=esp, charon_pid=self.charon.charon.pid,
                         vici_ready_s=round(vici_s, 3), ready_s=round(time.monotonic() - t0, 3),
                         aaa=f"{s.radius.address}:{s.radius.port}" if s.radius else None,
                         connections=self.connections(), revocation=self.revocation_info())

    def stop(self) -> None:
        self._stop.set()
        if self.monitor is not None:
            self.monitor.stop()
            self.monitor = None
        if self._crl_thread is not None:
            self._crl_thread.join(3)
        if self.driver is not None:
            self.driver.close()
            self.driver = None
        self.charon.stop()

    @property
    def online_revocation(self) -> bool:
        """Device certificates carry an OCSP URI / CRL distribution point (see the module docstring)."""
        return self._pki is not None and bool(self._pki.ocsp_url or self._pki.crl_url)

    def revocation_info(self) -> dict[str, Any]:
        """How device certificates are checked: ``online`` (responder URLs) or ``crl`` (loaded via vici)."""
        if not self.online_revocation:
            return {"mode": "crl"}
        return {"mode": "online", "ocsp_url": self._pki.ocsp_url, "crl_url": self._pki.crl_url}

    def connections(self) -> list[dict[str, Any]]:
        """The loaded connections: name, remote identity, whether the second round (EAP via the AAA) is demanded."""
        return [{"name": n, "remote_id": c["remote-1"]["id"], "hp_authentication": "remote-2" in c}
                for n, c in self.conns.items()]

    # ------------------------------------------------------------------ pieces

    def _apply_nft(self) -> None:
        ruleset = forward_ruleset(self.settings.pool, self.settings.service_addresses)
        res = subprocess.run(["nft", "-f", "-"], input=ruleset, capture_output=True, text=True, timeout=30,
                             check=False)
        if res.returncode != 0:
            raise RuntimeError(f"nft (SeGW forward filter) failed: {res.stderr.strip()}")

    def _libipsec_gateway(self) -> None:
        for argv, must in libipsec_gateway_commands(self.settings.service_addresses):
            res = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
            if res.returncode != 0 and must:
                raise RuntimeError(f"{' '.join(argv)} failed: {res.stderr.strip()}")
        # per-interface values count too (rp_filter: the maximum of all and the interface)
        for ifname in _interfaces():
            subprocess.run(["sysctl", "-qw", f"net.ipv4.conf.{ifname}.rp_filter=0",
                            f"net.ipv4.conf.{ifname}.accept_local=1"], capture_output=True, timeout=30, check=False)

    def _crl_file(self) -> Path:
        return Path(self.settings.pki_dir) / "crl.pem"

    def _watch_crl(self) -> None:
        while not self._stop.wait(self.settings.crl_refresh_s):
            try:
                mtime = self._crl_file().stat().st_mtime
            except OSError:
                continue
            if mtime != self._crl_mtime:
                self._crl_mtime = mtime
                if self.online_revocation:
                    self.flush_revocation_cache("crl file changed")
                else:
                    self.reload_crl("crl file changed")

    def flush_revocation_cache(self, why: str) -> dict[str, Any]:
        """Online revocation: drop charon's cached OCSP responses and fetched CRLs (a cached 'good'
        answer would otherwise stand until its nextUpdate), so the next check asks the responder."""
        if self.driver is None or self._pki is None:
            return {"ok": False, "error": "not started"}
        try:
            # vici flush-certs takes certificate_type_names too: OCSP_RESPONSE is the cached answers
            # ("x509ocsp" would be OCSP *signer* certificates)
            self.driver.flush_certs(OCSP_RESPONSES)  # type: ignore[arg-type]
            self.driver.flush_certs("x509crl")
            # the root's ARL is loaded, not fetched: flushing the cache leaves the loaded one in place
            revoked = sorted(format(x, "x") for x in self._pki.revoked_serials())
        except (OSError, ValueError, ViciError) as e:
            self.events.emit("segw.crl_reload_failed", "warning", error=f"{type(e).__name__}: {e}"[:300])
            return {"ok": False, "error": str(e)}
        self.counters["crl_reloads"] += 1
        self.events.emit("segw.revocation_cache_flushed", "info", why=why, revoked_serials=revoked,
                         **self.revocation_info())
        return {"ok": True, "revoked_serials": revoked, **self.revocation_info()}

    def reload_crl(self, why: str) -> dict[str, Any]:
        """Load the PKI's current CRL into charon (a newer CRL of the same issuer replaces the old one)."""
        if self.driver is None or self._pki is None:
            return {"ok": False, "error": "not started"}
        from cryptography import x509

        try:
            data = self._crl_file().read_bytes()
            crl = x509.load_pem_x509_crl(data)
            self.driver.load_cert(data, "x509crl")
            # the revocation checker takes the first valid CRL it finds, and charon's cache (verified
            # CRLs) is searched before the CRLs loaded through vici: drop the cached one
            self.driver.flush_certs("x509crl")
        except (OSError, ValueError, ViciError) as e:
            self.events.emit("segw.crl_reload_failed", "warning", error=f"{type(e).__name__}: {e}"[:300])
            return {"ok": False, "error": str(e)}
        self.counters["crl_reloads"] += 1
        revoked = [format(r.serial_number, "x") for r in crl]
        self.events.emit("segw.crl_reloaded", "info", why=why, revoked_serials=revoked,
                         this_update=crl.last_update_utc.isoformat())
        return {"ok": True, "revoked_serials": revoked}

    def _on_event(self, type_: str, severity: str, fields: dict[str, Any]) -> None:
        """TunnelMonitor facts -> ``backhaul.*`` events (the femto's identity as the SeGW authenticated it)."""
        if type_ == "segw.tunnel_up":
            self.counters["up"] += 1
            self.events.emit("backhaul.up", "info", identity=fields.get("remote_id"),
                             remote_eap_id=fields.get("remote_eap_id"), conn=fields.get("ike"),
                             segw_identity=fields.get("local_id"), remote_addr=fields.get("remote_addr"),
                             vip=fields.get("vip"), proposal=fields.get("proposal"),
                             esp_proposal=fields.get("esp_proposal"), local_ts=fields.get("local_ts"),
                             remote_ts=fields.get("remote_ts"), ike=fields.get("ike"))
        elif type_ == "segw.tunnel_down":
            self.counters["down"] += 1
            self.events.emit("backhaul.down", "notice", identity=fields.get("remote_id"),
                             remote_addr=fields.get("remote_addr"), ike=fields.get("ike"))
        elif type_ == "segw.auth_failed":
            self.counters["rejected"] += 1
            addr = fields.get("remote_addr")
            peer = self._claimed(addr if addr != self.settings.public_address else None)
            extra = {k: fields[k] for k in ("ike_sa", "via", "fetched_from") if fields.get(k) is not None}
            self.events.emit("backhaul.rejected", "warning", reason=fields.get("reason"),
                             claimed_identity=peer[1] if peer else None,
                             remote_addr=peer[0] if peer else addr, detail=fields.get("detail"), **extra)

    def _claimed(self, remote_addr: str | None) -> tuple[str, str] | None:
        """(address, identity) a rejected peer claimed (from the end of charon's log; never authenticated)."""
        from testbed.segw.events import claimed_peer

        try:
            with open(self.charon.log_path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 65536))
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return None
        return claimed_peer(lines, remote_addr)

    # ------------------------------------------------------------------ control

    def tunnels(self) -> list[dict[str, Any]]:
        return tunnels_of(self.driver.list_sas()) if self.driver is not None else []

    def control(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"ok": False, "error": 'expected a JSON object with an "op" string'}
        op = request["op"]
        s = self.settings
        try:
            if op == "status":
                tunnels = self.tunnels()
                return {"ok": True, "identity": s.identity, "public_address": s.public_address,
                        "operator_address": s.operator_address, "pool": s.pool, "services": s.services,
                        "ipsec_backend": self.charon.backend, "charon_alive": self.charon.alive(),
                        "tunnels": len([t for t in tunnels if t["state"] == "ESTABLISHED"]),
                        "counters": dict(self.counters), "revocation": self.revocation_info(),
                        "monitor_errors": list(self.monitor.errors) if self.monitor else []}
            if op == "tunnels":
                return {"ok": True, "tunnels": self.tunnels()}
            if op == "terminate":
                ident = request.get("identity")
                done = []
                for t in self.tunnels():
                    if ident is None or t["remote_id"] == ident:
                        assert self.driver is not None
                        self.driver.terminate(ike_id=int(t["uniqueid"]))
                        done.append(t["remote_id"])
                return {"ok": True, "terminated": done}
            if op == "reload_crl":
                if self.online_revocation:
                    return self.flush_revocation_cache("control request")
                return self.reload_crl("control request")
            if op == "connections":
                return {"ok": True, "connections": self.connections(),
                        "aaa": f"{s.radius.address}:{s.radius.port}" if s.radius else None}
            return {"ok": False, "error": f"unknown op {op!r}",
                    "ops": ["status", "tunnels", "terminate", "reload_crl", "connections"]}
        except (ViciError, OSError, ValueError, TypeError) as e:
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}
