"""Scripted gNB + UEs talking to the built-in core across namespaces (run inside a topology node).

``python peer.py --amf 10.10.0.2 --local 10.10.0.20 --run-dir RUN --dn 10.20.0.10`` connects over SCTP
(kernel or userspace), runs NG Setup and the registration cases, establishes a PDU session, pings
the DN through the UPF with GTP-U, and prints one JSON object with what it observed. The UE side is
the scripted UE of the unit tests (real USIM 5G-AKA, SUCI Profile A/B, NAS security), the gNB side
sends real NGAP over SCTP and real GTP-U over UDP 2152.
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
from testbed.protocols import gtpu, nas, ngap, sctp  # noqa: E402
from tests.unit.core.scripted_ran import ScriptedGnb, ScriptedUe  # noqa: E402

CAG_FEMTO = 0x101


class NetHarness:
    """Stands in for the unit-test harness: what a ScriptedGnb sends goes to its SCTP association."""

    def __init__(self) -> None:
        self.queues: dict[int, asyncio.Queue] = {}
        self.pdu_setup_fails = False

    def to_amf(self, assoc: int, data: bytes) -> None:
        self.queues[assoc].put_nowait(data)


class NetGnb(ScriptedGnb):
    """A ScriptedGnb whose PDU session answers carry its real N3 address and record the UL tunnel."""

    n3_address: str = "127.0.0.1"

    def on_pdu(self, msg: Any) -> None:
        if isinstance(msg, ngap.PDUSessionResourceSetupRequest):
            ue = self.ues.get(msg.ran_ue_ngap_id)
            for s in msg.sessions:
                if s.nas_pdu is not None and ue is not None:
                    self._to_ue(ue, s.nas_pdu)
                transfer = ngap.PduSessionResourceSetupRequestTransfer.from_bytes(s.transfer) \
                    if isinstance(s.transfer, bytes) else s.transfer
                self.ul_tunnels[s.pdu_session_id] = transfer.ul_tunnel
            self.send(ngap.PDUSessionResourceSetupResponse(
                msg.amf_ue_ngap_id, msg.ran_ue_ngap_id, setup=tuple(
                    ngap.PduSessionSetupResult(s.pdu_session_id, ngap.PduSessionResourceSetupResponseTransfer(
                        ngap.GtpTunnel(self.n3_address, 0x1000 + s.pdu_session_id))) for s in msg.sessions)))
            return
        super().on_pdu(msg)


async def _link(assoc_obj, gnb: ScriptedGnb, queue: asyncio.Queue) -> None:
    async def sender() -> None:
        while True:
            data = await queue.get()
            await assoc_obj.send(data, stream=1 if data[1:2] != b"\x15" else 0)

    task = asyncio.create_task(sender())
    try:
        while True:
            try:
                msg = await assoc_obj.recv()
            except ConnectionError:
                return
            try:
                gnb.on_pdu(ngap.decode(msg.data))
            except Exception as e:  # noqa: BLE001 - report, keep the link
                print(f"peer: handling {msg.data[:4].hex()}: {type(e).__name__}: {e}", file=sys.stderr)
    finally:
        task.cancel()


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
    payload = b"nrfemto-core-integration"
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), ident, 0, 64, 1, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + icmp


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--amf", required=True)
    ap.add_argument("--local", required=True, help="this node's address (N2 source and N3 endpoint)")
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--dn", required=True)
    args = ap.parse_args()
    run = Path(args.run_dir)
    subs = yaml.safe_load((run / "core" / "subscribers.yaml").read_text())
    pub = {k["key_id"]: (k["profile"], bytes.fromhex(k["public_key"]))
           for k in json.loads((run / "core" / "hn-public.json").read_text())}
    key_a = next(kid for kid, (prof, _) in pub.items() if prof == PROFILE_A)
    key_b = next(kid for kid, (prof, _) in pub.items() if prof == PROFILE_B)
    by_supi = {s["supi"]: s for s in subs["subscribers"]}
    result: dict[str, Any] = {"sctp": sctp.describe().get("kind")}

    def ue(supi: str, scheme: int, key_id: int) -> ScriptedUe:
        s = by_supi[supi]
        return ScriptedUe(Supi.parse(supi), bytes.fromhex(s["k"]), bytes.fromhex(s["opc"]), scheme=scheme,
                          hn_pub=pub[key_id][1], key_id=key_id)

    harness = NetHarness()
    gnbs: dict[int, NetGnb] = {}
    tasks = []

    async def gnb(assoc: int, gnb_id: int, cag_ids: tuple[int, ...]) -> NetGnb:
        g = NetGnb(harness, assoc, gnb_id, cag_ids=cag_ids, gnb_id_bits=32)
        g.n3_address = args.local
        g.ul_tunnels = {}
        harness.queues[assoc] = asyncio.Queue()
        a = await sctp.connect(args.amf, sctp.NGAP_PORT, streams=2)
        tasks.append(asyncio.create_task(_link(a, g, harness.queues[assoc])))
        gnbs[assoc] = g
        g.send(g.ng_setup_request())
        await _until(lambda: g.setup_result is not None)
        return g

    # 1. an unauthorised CAG ID at NG Setup is refused; the authorised femto is accepted
    rogue = await gnb(2, 99, (0x999,))
    result["rogue_ng_setup"] = type(rogue.setup_result).__name__
    femto = await gnb(1, 1, (CAG_FEMTO,))
    result["femto_ng_setup"] = type(femto.setup_result).__name__

    # 2. CAG matrix over the network: member accepted (Profile A), non-member #76 (Profile B),
    #    non-member emergency registration accepted
    ue1 = ue("imsi-001010000000001", PROFILE_A, key_a)
    femto.connect(ue1, ue1.registration_request())
    await _until(lambda: getattr(ue1, "accept", None) is not None or getattr(ue1, "reject", None) is not None)
    result["ue1"] = "accept" if getattr(ue1, "accept", None) else f"reject {getattr(ue1, 'reject', None)}"
    ue2 = ue("imsi-001010000000002", PROFILE_B, key_b)
    femto.connect(ue2, ue2.registration_request())
    await _until(lambda: getattr(ue2, "reject", None) is not None or getattr(ue2, "accept", None) is not None)
    rej = getattr(ue2, "reject", None)
    result["ue2"] = f"reject {int(rej.cause)}" if rej is not None else "accept"
    ue2e = ue("imsi-001010000000002", PROFILE_B, key_b)
    femto.connect(ue2e, ue2e.registration_request(nas.RegistrationType.EMERGENCY))
    await _until(lambda: getattr(ue2e, "accept", None) is not None or getattr(ue2e, "reject", None) is not None)
    result["ue2_emergency"] = "accept" if getattr(ue2e, "accept", None) else "reject"

    # 3. cross-gNB: the rogue association (it is connected, its setup was refused) and a second,
    #    accepted non-CAG gNB both send NAS for ue1's AMF-UE-NGAP-ID; the AMF answers ErrorIndication
    other = await gnb(3, 3, ())
    result["other_ng_setup"] = type(other.setup_result).__name__
    other.send(ngap.UplinkNASTransport(ue1.amf_ue_ngap_id, 77, b"\x7e\x00\x67", other.uli()))
    await _until(lambda: any(isinstance(m, ngap.ErrorIndication) for m in other.inbox), 5)
    result["cross_gnb"] = [type(m).__name__ for m in other.inbox if not isinstance(m, ngap.NGSetupResponse)]

    # 4. PDU session for ue1 and a ping to the DN through the UPF (GTP-U N3 <-> TUN N6)
    await asyncio.sleep(0.2)
    req = nas.PduSessionEstablishmentRequest(pdu_session_id=1, pti=1, pdu_session_type=nas.PduSessionType.IPV4)
    femto.uplink(ue1, ue1.ul_nas_transport(req))
    await _until(lambda: 1 in femto.ul_tunnels, 10)
    accept = next((m for m in ue1.received if isinstance(m, nas.DlNasTransport)), None)
    ue_ip = None
    if accept is not None:
        sm = nas.decode_plain(accept.payload_container)
        result["pdu_session"] = type(sm).__name__
        if isinstance(sm, nas.PduSessionEstablishmentAccept):
            ue_ip = sm.pdu_address.ipv4
    result["ue_ip"] = ue_ip
    if ue_ip and 1 in femto.ul_tunnels:
        tunnel = femto.ul_tunnels[1]
        await asyncio.sleep(0.3)  # let the PFCP modification with our DL F-TEID land
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((args.local, 2152))
        sock.settimeout(2.0)
        replies = 0
        for seq in range(1, 4):
            pkt = _icmp_echo(ue_ip, args.dn, 0x4242, seq)
            sock.sendto(gtpu.encode_gpdu(tunnel.teid, pkt, qfi=1, pdu_type=gtpu.PDU_TYPE_UL),
                        (tunnel.address, 2152))
            try:
                data, _ = sock.recvfrom(4096)
            except TimeoutError:
                continue
            msg = gtpu.decode(data)
            if isinstance(msg, gtpu.GPdu) and msg.teid == 0x1001 and msg.payload[20] == 0 \
                    and socket.inet_ntoa(msg.payload[12:16]) == args.dn:
                replies += 1
        result["ping_replies"] = replies
        sock.close()
    for t in tasks:
        t.cancel()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
