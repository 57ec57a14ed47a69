"""TUN per PDU session (root only): each case runs inside a fresh network namespace ``nrft-t-<random>``
(deleted in a finally), with the fake gNB and the UE process on that namespace's loopback; the gNB
answers ICMP echo requests arriving as DATA PDUs, so ``ping`` goes TUN -> UE -> air -> gNB -> air
-> UE -> TUN."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DN = "10.20.0.10"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and iproute2")


def _in_netns(case: str) -> dict:
    ns = f"nrft-t-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                            f"from tests.unit.ue.test_process_tun import inside; inside({case!r})"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        return json.loads(p.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_one_ue_routes_the_dn_in_the_main_table_and_ping_works() -> None:
    r = _in_netns("main")
    assert r["devices"] == ["ue1s1"] and r["routing"] == "main"
    assert r["ping"] == [0], r
    assert r["route"].startswith(f"{DN} dev ue1s1")
    assert r["after_close"] == {"devices": [], "rules": 0}


def test_several_ues_get_policy_tables_and_source_rules() -> None:
    r = _in_netns("policy")
    assert r["devices"] == ["ue1s1", "ue2s1"] and r["routing"] == "policy"
    assert r["ping"] == [0, 0], r   # ping -I ue1s1, ping -I <address of ue2>
    assert r["rules"] == 4           # from <address> and oif <device>, per session
    assert r["after_close"] == {"devices": [], "rules": 0}


# ------------------------------------------------------------------------------------------------
# runs inside the namespace

def _icmp_echo_reply(pkt: bytes) -> bytes | None:
    if len(pkt) < 28 or pkt[0] >> 4 != 4 or pkt[9] != 1:
        return None
    ihl = (pkt[0] & 0x0F) * 4
    if pkt[ihl] != 8:
        return None

    def csum(b: bytes) -> int:
        if len(b) % 2:
            b += b"\0"
        s = sum(int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2))
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        return ~s & 0xFFFF

    icmp = bytearray(pkt[ihl:])
    icmp[0], icmp[2:4] = 0, b"\0\0"
    icmp[2:4] = csum(bytes(icmp)).to_bytes(2, "big")
    ip = bytearray(pkt[:ihl])
    ip[12:16], ip[16:20] = pkt[16:20], pkt[12:16]
    ip[8] = 64
    ip[10:12] = b"\0\0"
    ip[10:12] = csum(bytes(ip)).to_bytes(2, "big")
    return bytes(ip) + bytes(icmp)


def inside(case: str) -> None:
    import asyncio

    from testbed.protocols import rls
    from testbed.ue.config import parse_ue_config
    from testbed.ue.process import UeProcess
    from tests.unit.ue.fake_nas import FakeNas, ScriptedCell, toy_core
    from tests.unit.ue.test_process import OPC, CellProtocol, K, wait_for

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    count = 1 if case == "main" else 2

    class EchoCell(CellProtocol):
        def datagram_received(self, data: bytes, addr) -> None:  # noqa: ANN001
            super().datagram_received(data, addr)
            msg = rls.decode(data)
            if isinstance(msg, rls.PduTransmission) and msg.pdu_type == rls.PduType.DATA:
                reply = _icmp_echo_reply(msg.pdu)
                if reply is not None:
                    self.transport.sendto(self.cell.data(msg.payload, reply), addr)  # type: ignore[union-attr]

    def sh(*args: str) -> str:
        return subprocess.run(args, capture_output=True, text=True).stdout

    def devices() -> list[str]:
        return sorted(line.split(":")[1].strip().split("@")[0] for line in sh("ip", "-o", "link").splitlines()
                      if line.split(":")[1].strip().startswith("ue"))

    def rules() -> int:
        return sum(1 for line in sh("ip", "rule").splitlines() if "lookup 1" in line and "from all lookup" not in line
                   and ("from 10.45." in line or "oif ue" in line))

    async def main() -> dict:
        cell = ScriptedCell(nas_responder=toy_core)
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(lambda: EchoCell(cell), local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        cfg = parse_ue_config({"gnbs": [f"127.0.0.1:{port}"], "scheme": 0, "bind_address": "127.0.0.1",
                               "dn_routes": ["10.20.0.0/24"], "position": [10, 0, 0],
                               "range": {"first_supi": "imsi-001010000100000", "count": count, "k": K, "opc": OPC}})
        proc = UeProcess(cfg, None, nas_factory=lambda uc, nc, clock: FakeNas({0x101}))
        await proc.start()
        out: dict = {}
        try:
            assert await wait_for(lambda: sum(len(s.tuns) for s in proc.slots) == count, 20), proc.stats()
            out["devices"] = devices()
            out["routing"] = proc.slots[0].tuns[1].routing
            out["rules"] = rules()
            if case == "main":
                out["route"] = sh("ip", "route", "get", DN).strip()
                cmds = [["ping", "-c", "1", "-W", "3", DN]]
            else:
                ip2 = proc.slots[1].ue.sessions[1]
                cmds = [["ping", "-c", "1", "-W", "3", "-I", "ue1s1", DN], ["ping", "-c", "1", "-W", "3", "-I", ip2, DN]]
            codes = []
            for cmd in cmds:
                p = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                         stderr=asyncio.subprocess.STDOUT)
                stdout, _ = await p.communicate()
                codes.append(p.returncode)
                out.setdefault("ping_out", []).append(stdout.decode()[-300:])
            out["ping"] = codes
            out["counters"] = proc.stats()["counters"]
        finally:
            await proc.close()
            transport.close()
        out["after_close"] = {"devices": devices(), "rules": rules()}
        return out

    print(json.dumps(asyncio.run(main())))
