"""Write classic pcap files and check them with tshark.

Used by tests and tools to prove that what our codecs produce is what Wireshark
understands: a frame that tshark flags as malformed, or with an expert error,
is a codec bug.

Link types:
- ``LINKTYPE_RAW`` (101): the frame is an IPv4/IPv6 packet; build one with
  :func:`ipv4_udp`, :func:`ipv4_sctp`.
- ``LINKTYPE_USER0`` (147): raw protocol payloads; tell tshark which dissector
  to use with ``user_dlt=`` in :func:`tshark_check` (e.g. ``"nas-5gs"``,
  ``"nr-rrc.ul.ccch"``, ``"ngap"``).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

LINKTYPE_RAW = 101
LINKTYPE_USER0 = 147

_PCAP_MAGIC = 0xA1B2C3D4


class PcapWriter:
    """Minimal classic-pcap writer (microsecond timestamps)."""

    def __init__(self, path: str | Path, linktype: int = LINKTYPE_RAW, snaplen: int = 262144):
        self.path = Path(path)
        self._f = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._f.write(struct.pack("<IHHiIII", _PCAP_MAGIC, 2, 4, 0, 0, snaplen, linktype))

    def write(self, data: bytes, ts: float | None = None) -> None:
        ts = time.time() if ts is None else ts
        sec = int(ts)
        usec = int((ts - sec) * 1_000_000)
        self._f.write(struct.pack("<IIII", sec, usec, len(data), len(data)))
        self._f.write(data)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_pcap(path: str | Path, frames: Iterable[bytes], linktype: int = LINKTYPE_RAW) -> Path:
    """Write ``frames`` into a new pcap at ``path`` (1 ms apart) and return the path."""
    t0 = time.time()
    with PcapWriter(path, linktype) as w:
        for i, frame in enumerate(frames):
            w.write(frame, t0 + i / 1000)
    return Path(path)


# --- IPv4 framing -----------------------------------------------------------

def _inet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ip(addr: str) -> bytes:
    return bytes(int(x) for x in addr.split("."))


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 0, ttl: int = 64) -> bytes:
    """An IPv4 packet (no options) carrying ``payload``."""
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000, ttl, proto, 0,
                      _ip(src), _ip(dst))
    csum = _inet_checksum(hdr)
    return hdr[:10] + struct.pack("!H", csum) + hdr[12:] + payload


def ipv4_udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """An IPv4/UDP packet with a correct UDP checksum."""
    length = 8 + len(payload)
    pseudo = _ip(src) + _ip(dst) + struct.pack("!BBH", 0, 17, length)
    udp = struct.pack("!HHHH", sport, dport, length, 0) + payload
    csum = _inet_checksum(pseudo + udp) or 0xFFFF
    return ipv4(src, dst, 17, udp[:6] + struct.pack("!H", csum) + udp[8:])


# CRC32c (Castagnoli), reflected, as SCTP uses (RFC 4960 Appendix B).
_CRC32C_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C_TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def sctp_data_packet(sport: int, dport: int, vtag: int, payload: bytes, ppid: int = 60, tsn: int = 1,
                     stream: int = 0, ssn: int = 0) -> bytes:
    """One SCTP packet with a single DATA chunk (B and E set) carrying ``payload``."""
    pad = (-len(payload)) % 4
    chunk = struct.pack("!BBHIHHI", 0, 0x03, 16 + len(payload), tsn, stream, ssn, ppid) + payload + b"\0" * pad
    common = struct.pack("!HHII", sport, dport, vtag, 0)
    pkt = common + chunk
    csum = crc32c(pkt)
    return common[:8] + struct.pack("<I", csum) + chunk


def ipv4_sctp(src: str, dst: str, payload: bytes, sport: int = 38412, dport: int = 38412, ppid: int = 60,
              stream: int = 0, tsn: int = 1) -> bytes:
    """An IPv4 packet with one SCTP DATA chunk (default: NGAP, PPID 60, port 38412)."""
    return ipv4(src, dst, 132, sctp_data_packet(sport, dport, 1, payload, ppid=ppid, tsn=tsn, stream=stream))


# --- tshark -------------------------------------------------------------------

@dataclass
class FrameReport:
    number: int
    protocols: list[str]
    malformed: bool
    expert: list[str] = field(default_factory=list)  # severity:message, warnings and errors only

    @property
    def ok(self) -> bool:
        return not self.malformed and not any(e.startswith("error") for e in self.expert)


def tshark_available() -> bool:
    return shutil.which("tshark") is not None


def _user_dlt_pref(proto: str) -> str:
    return f'uat:user_dlts:"User 0 (DLT=147)","{proto}","0","","0",""'


def tshark_check(path: str | Path, user_dlt: str | None = None, decode_as: Iterable[str] = (),
                 prefs: Iterable[str] = ()) -> list[FrameReport]:
    """Dissect ``path`` with tshark and report, per frame, protocols, malformation and expert items.

    ``decode_as`` entries are tshark ``-d`` arguments (e.g. ``"udp.port==4997,..."``);
    ``prefs`` are extra ``-o`` preferences.
    """
    cmd = ["tshark", "-n", "-r", str(path), "-T", "json", "-V"]
    if user_dlt:
        cmd += ["-o", _user_dlt_pref(user_dlt)]
    for d in decode_as:
        cmd += ["-d", d]
    for p in prefs:
        cmd += ["-o", p]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"tshark failed ({out.returncode}): {out.stderr.strip()}")
    reports = []
    for pkt in json.loads(out.stdout or "[]"):
        layers = pkt["_source"]["layers"]
        frame = layers.get("frame", {})
        protos = frame.get("frame.protocols", "").split(":")
        expert: list[str] = []
        malformed = "_ws.malformed" in layers or "malformed" in protos
        _collect_expert(layers, expert)
        reports.append(FrameReport(int(frame.get("frame.number", 0)), protos, malformed, expert))
    return reports


def _collect_expert(node: object, out: list[str]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "_ws.expert" and isinstance(v, dict):
                sev = v.get("_ws.expert.severity", "")
                msg = v.get("_ws.expert.message", "")
                # severities: 2097152 note, 4194304 warning, 8388608 error (epan/proto.h PI_*)
                level = {"4194304": "warning", "8388608": "error"}.get(str(sev))
                if level:
                    out.append(f"{level}:{msg}")
            elif k == "_ws.malformed":
                out.append("error:Malformed Packet")
            else:
                _collect_expert(v, out)
    elif isinstance(node, list):
        for item in node:
            _collect_expert(item, out)
