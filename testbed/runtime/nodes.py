"""Mininet node classes used by the engine.

- :class:`TestbedHost`: a Mininet host (own network *and* mount namespace via
  ``mnexec -n``) with private ``/run`` (hence ``/var/run``) and ``/var/log``
  tmpfs and a private copy-on-write ``/etc`` (overlayfs whose upper layer lives
  in the run directory), so every node can run its own charon/sshd with its
  own configuration and OS state. IPv6 is disabled to keep captures clean.
- :class:`SegmentBridge`: a Linux bridge in the root namespace (no Open vSwitch,
  no controller). With ``hub=True`` it never learns MAC addresses, so every
  frame is flooded to every port and to the bridge itself: a capture on the
  bridge sees the whole segment, as an on-path observer would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from mininet.node import Host
from mininet.nodelib import LinuxBridge


def _private_dirs() -> list[str]:
    dirs = ["/run", "/var/log"]
    if not os.path.islink("/var/run"):
        dirs.append("/var/run")
    return dirs


class TestbedHost(Host):
    """A node: network + mount namespace, private /run, /var/log and /etc."""

    __test__ = False

    def __init__(self, name: str, etc_upper: str | None = None, **params):
        params.setdefault("privateDirs", _private_dirs())
        super().__init__(name, inNamespace=True, **params)
        self.etc_upper = etc_upper
        # No IPv6 (router solicitations, MLD) in our captures; set before links exist.
        self.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1")
        if etc_upper:
            upper = Path(etc_upper)
            work = upper.parent / (upper.name + ".work")
            upper.mkdir(parents=True, exist_ok=True)
            work.mkdir(parents=True, exist_ok=True)
            out = self.cmd(f"mount -n -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc"
                           " && echo MOUNTED")
            if "MOUNTED" not in out:
                raise RuntimeError(f"{name}: private /etc overlay failed: {out.strip()}")

    def unmountPrivateDirs(self) -> None:  # noqa: N802 (Mininet API)
        # The mounts live in this node's private mount namespace and vanish with
        # its last process; unmounting through the shell first keeps it tidy.
        if self.shell and self.shell.poll() is None and self.etc_upper:
            self.cmd("umount -l /etc")
        super().unmountPrivateDirs()


class SegmentBridge(LinuxBridge):
    """Linux bridge for one segment; optional hub behaviour for full captures."""

    def __init__(self, name: str, hub: bool = True, **params):
        self.hub = hub
        super().__init__(name, stp=False, inNamespace=False, **params)

    @classmethod
    def setup(cls) -> None:
        """Bridged frames pass the root namespace's iptables FORWARD chain when
        br_netfilter is loaded; a DROP policy there (Docker sets one) silently
        breaks every segment. Detect that instead of failing mysteriously."""
        try:
            with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
                nf_call = f.read().strip() == "1"
        except OSError:
            return
        if not nf_call or not shutil.which("iptables"):
            return
        out = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True, check=False).stdout
        if "-P FORWARD DROP" in out:
            raise RuntimeError("the root namespace's iptables FORWARD policy is DROP and bridged traffic is "
                               "filtered (net.bridge.bridge-nf-call-iptables=1, e.g. Docker is installed): "
                               "segments would carry nothing. Run 'sysctl -w "
                               "net.bridge.bridge-nf-call-iptables=0' or accept bridged traffic.")

    def start(self, _controllers) -> None:
        ageing = 0 if self.hub else 30000
        cmds = [f"ip link add name {self.name} type bridge stp_state 0 forward_delay 0 ageing_time {ageing}",
                f"sysctl -qw net.ipv6.conf.{self.name}.disable_ipv6=1"]
        for intf in self.intfList():
            if self.name in intf.name:
                cmds.append(f"sysctl -qw net.ipv6.conf.{intf.name}.disable_ipv6=1")
                cmds.append(f"ip link set {intf.name} master {self.name} up")
        cmds.append(f"ip link set {self.name} up")
        # A shell line through Mininet's pty must stay under the 4095-byte canonical limit.
        for i in range(0, len(cmds), 24):
            out = self.cmd(" && ".join(cmds[i:i + 24]) + " && echo BRIDGED")
            if "BRIDGED" not in out:
                raise RuntimeError(f"bridge {self.name}: {out.strip()}")

    def stop(self, deleteIntfs: bool = True) -> None:  # noqa: N803 (Mininet API)
        self.cmd(f"ip link del {self.name}")
        super(LinuxBridge, self).stop(deleteIntfs)
        self.terminate()  # Mininet's Switch.stop leaves the bridge's shell running
