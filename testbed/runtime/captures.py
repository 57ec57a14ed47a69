"""Packet captures: one tcpdump per segment, started before services, flushed at teardown.

tcpdump listens on the segment's bridge in the root namespace. Segment bridges
run in hub mode (no MAC learning), so the bridge sees every frame of the
segment exactly once. Files: ``<run>/pcaps/<segment>.pcap``.
"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from testbed.errors import TestbedError


@dataclass
class Capture:
    segment: str
    interface: str
    path: Path
    proc: subprocess.Popen
    stderr_path: Path

    def stats(self) -> str:
        try:
            text = self.stderr_path.read_text()
        except OSError:
            return ""
        return " ".join(line.strip() for line in text.splitlines() if "packets" in line)


def start_capture(segment: str, interface: str, pcap_dir: Path, timeout: float = 5.0) -> Capture:
    path = pcap_dir / f"{segment}.pcap"
    err_path = pcap_dir / f".{segment}.tcpdump.log"
    err = open(err_path, "w")  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(
        ["tcpdump", "-i", interface, "-n", "-s", "0", "-U", "--immediate-mode", "-Z", "root", "-w", str(path)],
        stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
    err.close()
    return Capture(segment, interface, path, proc, err_path)


def wait_listening(captures: list[Capture], timeout: float = 5.0) -> None:
    """Block until every tcpdump says it is listening (so nothing early is missed)."""
    deadline = time.monotonic() + timeout
    pending = list(captures)
    while pending:
        for cap in list(pending):
            if cap.proc.poll() is not None:
                raise TestbedError(f"tcpdump on {cap.interface} exited: {cap.stderr_path.read_text().strip()}")
            try:
                if "listening on" in cap.stderr_path.read_text():
                    pending.remove(cap)
            except OSError:
                pass
        if pending and time.monotonic() > deadline:
            raise TestbedError(f"tcpdump not listening after {timeout} s on "
                               + ", ".join(c.interface for c in pending))
        if pending:
            time.sleep(0.01)


def stop_capture(cap: Capture, timeout: float = 5.0) -> None:
    """SIGINT makes tcpdump flush and close the file cleanly."""
    if cap.proc.poll() is None:
        cap.proc.send_signal(signal.SIGINT)
        try:
            cap.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            cap.proc.kill()
            cap.proc.wait(timeout=5)
