"""What this machine's kernel and userland can do (design.md section 3).

Each probe is cheap and side-effect free: kernel features are tried in a
throw-away network namespace (``unshare -n``) that vanishes with the probe
process. Results are cached per process.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
from dataclasses import asdict, dataclass


def is_root() -> bool:
    return os.geteuid() == 0


def _in_scratch_netns(script: str) -> bool:
    if not is_root() or not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, timeout=20, check=False)
    return r.returncode == 0


@functools.cache
def kernel_sctp() -> bool:
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    except OSError:
        return False
    s.close()
    return True


@functools.cache
def netem() -> bool:
    return _in_scratch_netns("ip link add d0 type veth peer name d1 && tc qdisc add dev d0 root netem delay 1ms")


@functools.cache
def kernel_esp() -> bool:
    """Kernel ESP transform (INET_ESP): can an ESP state with AES-GCM be installed?"""
    return _in_scratch_netns(
        "ip xfrm state add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 mode tunnel "
        "aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128")


@functools.cache
def kernel_gtp() -> bool:
    return _in_scratch_netns("ip link add g0 type gtp role sgsn 2>/dev/null || "
                             "test -d /sys/module/gtp")


@functools.cache
def openvswitch() -> bool:
    return shutil.which("ovs-vsctl") is not None and os.path.exists("/var/run/openvswitch/db.sock")


@functools.cache
def nftables() -> bool:
    return shutil.which("nft") is not None and _in_scratch_netns("nft add table inet probe")


@functools.cache
def htb() -> bool:
    return _in_scratch_netns("ip link add d0 type veth peer name d1 && tc qdisc add dev d0 root handle 5: htb default 1")


@dataclass(frozen=True)
class Capabilities:
    root: bool
    kernel_sctp: bool
    kernel_esp: bool
    netem: bool
    kernel_gtp: bool
    openvswitch: bool
    nftables: bool
    htb: bool
    mnexec: bool
    tcpdump: bool
    tshark: bool
    charon: bool

    def as_dict(self) -> dict[str, bool]:
        return asdict(self)


@functools.cache
def detect() -> Capabilities:
    return Capabilities(
        root=is_root(),
        kernel_sctp=kernel_sctp(),
        kernel_esp=kernel_esp(),
        netem=netem(),
        kernel_gtp=kernel_gtp(),
        openvswitch=openvswitch(),
        nftables=nftables(),
        htb=htb(),
        mnexec=shutil.which("mnexec") is not None,
        tcpdump=shutil.which("tcpdump") is not None,
        tshark=shutil.which("tshark") is not None,
        charon=os.path.exists("/usr/lib/ipsec/charon") or os.path.exists("/usr/libexec/ipsec/charon"),
    )


#: What the testbed does instead when a feature is missing (design.md section 3).
FALLBACKS = {
    "kernel_sctp": "userspace SCTP (libusrsctp2) for NGAP",
    "kernel_esp": "strongSwan kernel-libipsec (userspace ESP over TUN, ESP-in-UDP 4500)",
    "netem": "loss via nftables numgen random; link delay cannot be emulated",
    "kernel_gtp": "GTP-U in user space (UPF and gNB), TUN devices on the UE/DN side",
    "openvswitch": "Linux bridges, no controller",
}
