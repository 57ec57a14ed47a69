"""One strongSwan charon per node: per-node ``strongswan.conf``, ESP backend detection, start argv/env.

The SeGW (TS 33.320 7.2/7.4, TS 33.210 4.x "Za" security gateway) and each femto
run their own charon (IKEv2, RFC 7296). Every instance gets

* its own ``strongswan.conf`` in ``node_dir`` (selected with ``$STRONGSWAN_CONF``),
  written one key per line (charon 5.9.8's parser and swanctl want that);
* its vici socket ``unix://<node_dir>/charon.vici`` (so the host-side driver can
  reach it from the root mount namespace and nodes never share a socket);
* its log file ``<node_dir>/charon.log`` (the fallback source of rejection reasons,
  parsed only in :mod:`testbed.segw.events`);
* a private ``/run`` (charon's pid file ``/run/charon.pid`` would collide): the
  caller starts the argv of :meth:`Charon.command` in the node's network
  namespace *and* a mount namespace with a tmpfs on ``/run`` (the topology
  engine's nodes have one; tests use :func:`netns_argv`).

ESP: kernel ESP (XFRM ``esp4``) where the kernel has it, otherwise strongSwan's
``kernel-libipsec`` plugin (userspace ESP on a TUN device, ESP always in UDP 4500,
RFC 3948). :func:`esp_backend` probes which applies and says why.

Hosting party authentication (TS 33.320 7.2.3; RFC 4739 second IKE_AUTH round with
EAP-AKA, RFC 4187): a femto charon given ``hpm_socket`` loads ``eap-aka`` (the EAP-AKA
peer), ``eap-identity`` and ``eap-aka-hpm`` (``testbed/segw/hpm_plugin``, built by
``scripts/build_hpm_plugin.sh``: the AKA "card" whose RES/CK/IK/AUTS come from the HPM's
control socket, ``charon.plugins.eap-aka-hpm.socket``). charon 5.9.8 loads plugin files
only from its compiled-in plugin directory, but its loader first looks a plugin's
constructor up in the global symbol scope, so the plugin is given to charon with
``LD_PRELOAD`` (only charon's own exec gets it) and nothing under ``/usr`` is changed.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

CHARON_BIN = Path("/usr/lib/ipsec/charon")
PLUGIN_DIR = Path("/usr/lib/ipsec/plugins")
#: The HPM-backed EAP-AKA card plugin, as built by ``scripts/build_hpm_plugin.sh`` (repo-local).
HPM_PLUGIN_NAME = "eap-aka-hpm"
HPM_PLUGIN_PATH = Path(__file__).resolve().parents[2] / "build" / "strongswan-plugins" / "libstrongswan-eap-aka-hpm.so"
#: Bound of one HPM exchange in the plugin (the HPM answers a local socket; 2 s is generous).
HPM_TIMEOUT_MS = 2000

Role = Literal["segw", "femto"]
Backend = Literal["kernel", "libipsec"]
BackendChoice = Literal["auto", "kernel", "libipsec"]

#: Plugins wanted, in load order (earlier ones win for the same feature: kernel-libipsec
#: must come before kernel-netlink so it provides the IPsec part while kernel-netlink
#: still does addresses and routes). Missing plugin files are skipped (see
#: :func:`available_plugins`); ``openssl`` gives AES-GCM, ECP and ECDSA, the others are
#: fallbacks (AES-CBC, SHA-2, MODP via gmp).
BASE_PLUGINS: tuple[str, ...] = (
    "random", "nonce", "openssl", "x509", "revocation", "constraints", "pubkey", "pkcs1",
    "pkcs8", "pem", "gcm", "aes", "sha2", "sha1", "hmac", "gmp", "kdf", "curl",
    "vici", "socket-default",
)
#: Needed for EAP-AKA with the HPM (RFC 4739 second round, TS 33.320 7.2.3); loaded only when asked for.
EAP_PLUGINS_SEGW: tuple[str, ...] = ("eap-radius", "eap-identity")
#: ``fips-prf``: EAP-AKA's PRF (FIPS 186-2 change notice 1, RFC 4187 7); no other plugin provides it.
EAP_PLUGINS_FEMTO: tuple[str, ...] = ("eap-aka", "eap-identity", "fips-prf")
#: A femto with an HPM: the EAP-AKA peer plus the card answered by the HPM.
EAP_PLUGINS_FEMTO_HPM: tuple[str, ...] = (*EAP_PLUGINS_FEMTO, HPM_PLUGIN_NAME)

#: ``ip xfrm state add`` used by the probe (AES-CBC + HMAC-SHA-256: any kernel with ESP has them).
_PROBE_STATE = [
    "xfrm", "state", "add", "src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp", "spi", "0x1001",
    "mode", "tunnel", "enc", "cbc(aes)", "0x" + "11" * 16, "auth", "hmac(sha256)", "0x" + "22" * 32,
]

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


_SECRET_RE = re.compile(r"^[A-Za-z0-9+/=._-]{8,128}$")


@dataclass(frozen=True)
class RadiusServer:
    """A RADIUS server (RFC 2865, EAP in RADIUS RFC 3579) of the SeGW's ``eap-radius`` plugin.

    The SeGW relays the femto's EAP-AKA round (TS 33.320 7.2.3) to this AAA server.
    ``secret``: the shared secret (per run; strongswan.conf is then written with mode 0600).
    """

    address: str
    secret: str = field(repr=False)
    auth_port: int = 1812
    name: str = "aaa"

    def __post_init__(self) -> None:
        if not _SECRET_RE.match(self.secret):
            raise ValueError("RADIUS secret must be 8..128 characters of [A-Za-z0-9+/=._-]")
        if not re.match(r"^[A-Za-z0-9_-]+$", self.name) or not 0 < self.auth_port < 65536:
            raise ValueError(f"bad RADIUS server name/port: {self.name!r}:{self.auth_port}")


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)


def esp_backend(runner: Runner = _run, *, is_root: bool | None = None) -> tuple[Backend, str]:
    """Decide kernel ESP vs ``kernel-libipsec`` by adding an ESP state in a scratch namespace.

    Adding an XFRM state with ``proto esp`` fails with "Requested type not found"
    when the kernel has no ``esp4`` (this machine). The probe namespace is created
    and always deleted here; nothing else is touched. ``runner`` and ``is_root`` are
    injectable for tests.
    """
    if is_root is None:
        is_root = os.geteuid() == 0
    if not is_root:
        return "libipsec", "cannot probe kernel ESP without root; assuming none (kernel-libipsec)"
    ns = f"nrft-t-espprobe-{uuid.uuid4().hex[:8]}"
    made = runner(["ip", "netns", "add", ns])
    if made.returncode != 0:
        return "libipsec", f"cannot create probe namespace: {made.stderr.strip()}"
    try:
        res = runner(["ip", "-n", ns, *_PROBE_STATE])
    finally:
        runner(["ip", "netns", "del", ns])
    if res.returncode == 0:
        return "kernel", "kernel accepted an ESP XFRM state (esp4 present)"
    err = res.stderr.strip() or f"exit {res.returncode}"
    return "libipsec", f"kernel refused an ESP XFRM state ({err}); using kernel-libipsec (ESP in UDP 4500)"


def available_plugins(plugin_dir: Path = PLUGIN_DIR) -> set[str]:
    """Names of the charon plugins installed (``libstrongswan-<name>.so``)."""
    if not plugin_dir.is_dir():
        return set()
    return {p.name[len("libstrongswan-"):-3] for p in plugin_dir.glob("libstrongswan-*.so")}


def render_conf(tree: dict[str, object], indent: int = 0) -> str:
    """Render a nested dict as strongswan.conf, one key per line (sections as nested dicts)."""
    pad = "    " * indent
    lines: list[str] = []
    for key, value in tree.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key} {{")
            lines.append(render_conf(value, indent + 1).rstrip("\n"))
            lines.append(f"{pad}}}")
        else:
            if isinstance(value, bool):
                value = "yes" if value else "no"
            text = str(value)
            if "\n" in text or "{" in text or "}" in text:
                raise ValueError(f"strongswan.conf value for {key!r} must be one line without braces")
            lines.append(f"{pad}{key} = {text}")
    return "\n".join(line for line in lines if line) + "\n"


@dataclass
class Charon:
    """A charon instance of one node (configuration, argv/env, readiness).

    ``role`` selects routing options: the SeGW installs routes to the femtos'
    virtual IPs (needed by kernel-libipsec, harmless with kernel ESP) but has no
    virtual IP itself; a femto installs the virtual IP it is assigned (RFC 7296
    3.15 configuration payload) and the routes to the operator services.

    ``hpm_socket`` (femto only): the HPM's control socket; loads the EAP-AKA peer with the
    HPM-backed card (``eap-aka-hpm`` from ``hpm_plugin``) and implies ``eap``.
    ``radius_servers`` (SeGW only): the AAA servers of ``eap-radius``; implies ``eap``.
    """

    node_dir: Path
    role: Role
    ipsec_backend: BackendChoice = "auto"
    eap: bool = False
    log_level: int = 1
    pid: int | None = None
    hpm_socket: Path | None = None
    hpm_plugin: Path = HPM_PLUGIN_PATH
    radius_servers: Sequence[RadiusServer] = ()
    backend: Backend = field(init=False)
    backend_reason: str = field(init=False)
    _detect: Callable[[], tuple[Backend, str]] = field(default=esp_backend, repr=False)
    _plugins_present: set[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.node_dir = Path(self.node_dir)
        if self.role not in ("segw", "femto"):
            raise ValueError(f"role must be 'segw' or 'femto', not {self.role!r}")
        if self.ipsec_backend == "auto":
            self.backend, self.backend_reason = self._detect()
        elif self.ipsec_backend in ("kernel", "libipsec"):
            self.backend, self.backend_reason = self.ipsec_backend, "chosen explicitly"
        else:
            raise ValueError(f"ipsec_backend must be auto, kernel or libipsec, not {self.ipsec_backend!r}")
        if len(str(self.vici_socket)) > 100:
            raise ValueError(f"vici socket path too long for AF_UNIX: {self.vici_socket}")
        if self.hpm_socket is not None:
            if self.role != "femto":
                raise ValueError("hpm_socket applies to a femto charon only (the SeGW uses eap-radius)")
            # absolute: charon's working directory is not the caller's concern (the plugin reaches
            # paths longer than sun_path itself, through /proc/self/fd)
            self.hpm_socket = Path(self.hpm_socket).absolute()
            self.hpm_plugin = Path(self.hpm_plugin).absolute()
            if any(c in str(self.hpm_plugin) for c in " :\t\n"):
                raise ValueError(f"plugin path unusable in LD_PRELOAD (space or colon): {self.hpm_plugin}")
            self.eap = True
        self.radius_servers = tuple(self.radius_servers)
        if self.radius_servers:
            if self.role != "segw":
                raise ValueError("radius_servers apply to the SeGW charon only")
            self.eap = True

    # -- paths
    @property
    def conf_path(self) -> Path:
        return self.node_dir / "strongswan.conf"

    @property
    def vici_socket(self) -> Path:
        return self.node_dir / "charon.vici"

    @property
    def log_path(self) -> Path:
        return self.node_dir / "charon.log"

    # -- configuration
    def plugins(self) -> list[str]:
        """Plugins to load, in order; only those installed."""
        wanted = list(BASE_PLUGINS)
        if self.hpm_socket is not None:
            wanted += EAP_PLUGINS_FEMTO_HPM
        elif self.eap:
            wanted += EAP_PLUGINS_SEGW if self.role == "segw" else EAP_PLUGINS_FEMTO
        kernel = ["kernel-libipsec", "kernel-netlink"] if self.backend == "libipsec" else ["kernel-netlink"]
        wanted += kernel
        present = set(available_plugins() if self._plugins_present is None else self._plugins_present)
        required = ["vici", "x509", "pubkey", "socket-default", *kernel]
        if self.hpm_socket is not None:
            required += ["eap-aka", "eap-identity", "fips-prf"]
            if not self.hpm_plugin.is_file():
                raise RuntimeError(f"charon plugin {HPM_PLUGIN_NAME} not built: {self.hpm_plugin} missing "
                                   "(run scripts/build_hpm_plugin.sh)")
            present.add(HPM_PLUGIN_NAME)
        missing_required = [p for p in required if p not in present]
        if missing_required:
            raise RuntimeError(f"strongSwan plugins missing: {missing_required} (install libcharon-extra-plugins)")
        return [p for p in wanted if p in present]

    def conf_tree(self) -> dict[str, object]:
        lvl = self.log_level
        plugins: dict[str, object] = {
            "vici": {"socket": f"unix://{self.vici_socket}"},
            "revocation": {"enable_ocsp": True, "enable_crl": True},
        }
        if self.backend == "libipsec":
            # IKE and UDP-encapsulated ESP leave with mark 0x42 and so bypass the routes into the TUN
            # device (routing table 220), even when a traffic selector covers the peer's outer address.
            plugins["kernel-netlink"] = {"fwmark": "!0x42"}
            plugins["socket-default"] = {"fwmark": "0x42"}
        if self.backend == "libipsec":
            plugins["kernel-libipsec"] = {"allow_peer_ts": True}
        if self.hpm_socket is not None:
            plugins[HPM_PLUGIN_NAME] = {"socket": str(self.hpm_socket), "timeout_ms": HPM_TIMEOUT_MS}
        if self.radius_servers:
            plugins["eap-radius"] = {"servers": {
                r.name: {"address": r.address, "secret": r.secret, "auth_port": r.auth_port}
                for r in self.radius_servers
            }}
        tree: dict[str, object] = {
            "charon": {
                "load_modular": False,
                "load": " ".join(self.plugins()),
                "install_routes": True,
                "install_virtual_ip": self.role == "femto",
                "retransmit_tries": 3,
                "retransmit_timeout": "1.0",
                "retransmit_base": "1.4",
                "make_before_break": True,
                "plugins": {k: v for k, v in plugins.items() if v},
                "filelog": {
                    "charon": {
                        "path": str(self.log_path),
                        "time_format": "%Y-%m-%dT%H:%M:%S",
                        "ike_name": True,
                        "append": True,
                        "flush_line": True,
                        "default": lvl,
                        "cfg": max(lvl, 2),
                        "ike": max(lvl, 1),
                        "enc": 0,
                        "net": max(lvl - 1, 0),
                    },
                },
                "syslog": {"daemon": {"default": -1}},
            },
        }
        return tree

    def render(self) -> str:
        return render_conf(self.conf_tree())

    def write_config(self) -> Path:
        self.node_dir.mkdir(parents=True, exist_ok=True)
        text = self.render()
        if self.radius_servers:  # holds the RADIUS secret: owner only
            fd = os.open(self.conf_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
        else:
            self.conf_path.write_text(text)
        return self.conf_path

    def command(self) -> tuple[list[str], dict[str, str]]:
        """argv and the environment additions to start charon (run them in the node with a private /run).

        With an HPM, charon is exec'd through ``env LD_PRELOAD=<eap-aka-hpm plugin>`` so that only
        charon (not the wrappers of :meth:`netns_command`) gets the plugin preloaded.
        """
        argv = [str(CHARON_BIN)]
        if self.hpm_socket is not None:
            argv = ["/usr/bin/env", f"LD_PRELOAD={self.hpm_plugin}", *argv]
        return argv, {"STRONGSWAN_CONF": str(self.conf_path)}

    def netns_command(self, netns: str) -> tuple[list[str], dict[str, str]]:
        """As :meth:`command`, wrapped for a named network namespace plus a new mount namespace with a tmpfs /run.

        ``ip netns exec``, ``unshare`` and ``sh`` all exec, so the PID of the started
        process is charon's own: kill that PID, nothing else.
        """
        argv, env = self.command()
        return netns_argv(netns, argv), env

    def wait_ready(self, timeout: float = 10.0, proc: subprocess.Popen[bytes] | None = None) -> float:
        """Wait until the vici socket accepts connections; returns the seconds waited."""
        t0 = time.monotonic()
        while True:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"charon exited with {proc.returncode}; see {self.log_path}")
            if self.vici_socket.exists():
                s = socket.socket(socket.AF_UNIX)
                try:
                    s.connect(str(self.vici_socket))
                    return time.monotonic() - t0
                except OSError:
                    pass
                finally:
                    s.close()
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"charon vici socket {self.vici_socket} not ready within {timeout} s")
            time.sleep(0.02)


def netns_argv(netns: str, argv: Sequence[str]) -> list[str]:
    """argv running ``argv`` in ``netns`` with a private mount namespace and a fresh tmpfs on /run."""
    return [
        "ip", "netns", "exec", netns, "unshare", "--mount", "--propagation", "private", "--",
        "sh", "-c", 'mount -t tmpfs -o mode=0755 tmpfs /run && exec "$@"', "charon-node", *argv,
    ]
