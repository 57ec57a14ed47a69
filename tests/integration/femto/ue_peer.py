"""Scripted UEs on a real air segment, talking RLS over UDP to the femto process (run inside a ue-host node).

``python ue_peer.py --femto 10.200.1.1 --run-dir RUN --dn 10.20.0.10 [--probe]`` runs, per
subscriber of ``RUN/core/subscribers.yaml`` it is told about, the scripted radio UE of the femto
unit tests (:class:`tests.unit.femto.harness.RlsUe`: heartbeats, MIB/SIB1, RRC setup, NAS in
information transfer, DATA PDUs) with the scripted NAS UE of the core tests (USIM 5G-AKA, SUCI
Profile A/B, NAS security), and prints one JSON object with what it observed. ``--probe`` only
sends heartbeats for 2 s and reports whether a cell answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from testbed.crypto.identity import Supi  # noqa: E402
from testbed.crypto.suci import PROFILE_A, PROFILE_B  # noqa: E402
from testbed.protocols import nas, rrc  # noqa: E402
from tests.unit.core.scripted_ran import ScriptedUe  # noqa: E402
from tests.unit.femto.harness import RlsUe  # noqa: E402


class AirLink(asyncio.DatagramProtocol):
    """Stands in for the unit tests' Net: an RlsUe's datagrams go to the femto over UDP."""

    def __init__(self, femto: tuple[str, int]) -> None:
        self.femto = femto
        self.ues: dict[tuple[str, int], RlsUe] = {}
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def air(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, self.femto)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        for ue in self.ues.values():
            try:
                ue.receive(data)
            except Exception as e:  # noqa: BLE001 - report, keep the UE
                print(f"ue_peer: {type(e).__name__}: {e}", file=sys.stderr)


async def _until(pred, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        await asyncio.sleep(0.01)
    return bool(pred())


def _icmp_echo(src: str, dst: str, ident: int, seq: int) -> bytes:
    def csum(b: bytes) -> int:
        if len(b) % 2:
            b += b"\0"
        s = sum(struct.unpack(f"!{len(b) // 2}H", b))
        s = (s >> 16) + (s & 0xFFFF)
        s += s >> 16
        return ~s & 0xFFFF
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"nrfemto-femto-integration"
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), ident, 0, 64, 1, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + icmp


class Ue:
    def __init__(self, link: AirLink, local: tuple[str, int], nas_ue: ScriptedUe | None, position: tuple[int, int, int],
                 sti: int) -> None:
        self.link = link
        self.radio = RlsUe(link, local, nas=nas_ue, position=position, sti=sti)  # type: ignore[arg-type]
        self.task = asyncio.create_task(self._heartbeats())

    async def _heartbeats(self) -> None:
        while True:
            self.radio.heartbeat()
            await asyncio.sleep(0.5)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--femto", required=True)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--dn", default="10.20.0.10")
    ap.add_argument("--probe", action="store_true")
    args = ap.parse_args()
    loop = asyncio.get_running_loop()
    femto = (args.femto, 4997)
    result: dict[str, Any] = {}

    async def link() -> AirLink:
        _, proto = await loop.create_datagram_endpoint(lambda: AirLink(femto), local_addr=("0.0.0.0", 0))
        return proto  # type: ignore[return-value]

    if args.probe:
        lk = await link()
        ue = Ue(lk, ("probe", 0), None, (10, 0, 0), 0x9999)
        await asyncio.sleep(2.0)
        result["heard"] = ue.radio.cell_sti is not None or bool(ue.radio.rls_in)
        print(json.dumps(result))
        return 0

    run = Path(args.run_dir)
    subs = {s["supi"]: s for s in yaml.safe_load((run / "core" / "subscribers.yaml").read_text())["subscribers"]}
    pub = {k["key_id"]: (k["profile"], bytes.fromhex(k["public_key"]))
           for k in json.loads((run / "core" / "hn-public.json").read_text())}

    def nas_ue(supi: str, scheme: int) -> ScriptedUe:
        kid = next(k for k, (prof, _) in pub.items() if prof == scheme)
        s = subs[supi]
        return ScriptedUe(Supi.parse(supi), bytes.fromhex(s["k"]), bytes.fromhex(s["opc"]), scheme=scheme,
                          hn_pub=pub[kid][1], key_id=kid)

    # ue1: member of the femto's CAG (Profile A); ue2: not a member (Profile B) -> #76
    ues = {}
    for i, (name, supi, scheme) in enumerate((("ue1", "imsi-001010000000001", PROFILE_A),
                                              ("ue2", "imsi-001010000000002", PROFILE_B))):
        lk = await link()
        ues[name] = Ue(lk, (name, 0), nas_ue(supi, scheme), (10 + 15 * i, 0, 0), 0x100 + i)
    for name, ue in ues.items():
        r = ue.radio
        await _until(lambda r=r: r.sib1 is not None, 5)
        result[f"{name}_dbm"] = r.dbm
        result[f"{name}_sib1_cag_ids"] = list(r.sib1.cag_ids) if r.sib1 else None
        r.register()
        await _until(lambda r=r: r.nas.accept is not None or r.nas.reject is not None, 15)
        result[name] = "accept" if r.nas.accept else (f"reject {int(r.nas.reject.cause)}" if r.nas.reject else None)

    # PDU session for ue1 and pings to the DN through femto, UPF and N6
    r = ues["ue1"].radio
    req = nas.PduSessionEstablishmentRequest(pdu_session_id=1, pti=1, pdu_session_type=nas.PduSessionType.IPV4)
    r.send_rrc(rrc.ULInformationTransfer(r.nas.ul_nas_transport(req)))
    await _until(lambda: any(isinstance(m, nas.DlNasTransport) for m in r.nas.received), 10)
    accept = next((m for m in r.nas.received if isinstance(m, nas.DlNasTransport)), None)
    ue_ip = None
    if accept is not None:
        sm = nas.decode_plain(accept.payload_container)
        result["pdu_session"] = type(sm).__name__
        if isinstance(sm, nas.PduSessionEstablishmentAccept):
            ue_ip = sm.pdu_address.ipv4
    result["ue_ip"] = ue_ip
    replies = 0
    if ue_ip:
        await asyncio.sleep(0.3)
        for seq in range(1, 4):
            before = len(r.data_in)
            r.send_data(1, _icmp_echo(ue_ip, args.dn, 0x4242, seq))
            if await _until(lambda before=before: len(r.data_in) > before, 2):
                psi, pkt = r.data_in[-1]
                if psi == 1 and pkt[20] == 0 and socket.inet_ntoa(pkt[12:16]) == args.dn:
                    replies += 1
    result["ping_replies"] = replies
    for ue in ues.values():
        ue.task.cancel()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
