"""Encode and decode cost of the protocol codecs (NGAP, NR RRC, GTP-U, RLS, and NAS when present).

Prints one line per figure, ``<name> <encode|decode>: X us/op`` (best of 3 timed rounds).
Usage: .venv/bin/python benchmarks/codecs.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testbed.protocols import gtpu, ngap, rls, rrc  # noqa: E402

# A plain initial Registration Request as UERANSIM sends it (aligungr/UERANSIM mts/decoder.py)
REGISTRATION_REQUEST = bytes.fromhex("7e004171000d010011000000000099898877f71001002e04804080402f020101")
IP_PACKET = bytes(range(256)) * 5 + bytes(120)  # a 1400-octet user-plane packet


def per_op(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def cases() -> list[tuple[str, Callable[[], object], Callable[[], object], int]]:
    plmn = ngap.Plmn("001", "01")
    uli = ngap.UserLocationNR(ngap.NrCgi(plmn, 0x10), ngap.Tai(plmn, 1))
    snssai = ngap.Snssai(1)
    transfer = ngap.PduSessionResourceSetupRequestTransfer(
        ngap.GtpTunnel("10.45.0.1", 1), "ipv4", (ngap.QosFlowRequest(1),), ngap.UeAmbr(10**9, 10**9))
    ngap_msgs = {
        "NGAP NGSetupRequest": ngap.NGSetupRequest(
            ngap.GlobalGnbId(plmn, 1, 22), (ngap.SupportedTa(1, (ngap.BroadcastPlmn(plmn, (snssai,)),)),), 128, "femto"),
        "NGAP InitialUEMessage": ngap.InitialUEMessage(1, REGISTRATION_REQUEST, uli, "mo-Signalling", None, True,
                                                       (0x1234,)),
        "NGAP DownlinkNASTransport": ngap.DownlinkNASTransport(1, 1, REGISTRATION_REQUEST),
        "NGAP InitialContextSetupRequest": ngap.InitialContextSetupRequest(
            1, 1, ngap.Guami(plmn, 2, 1, 0), (snssai,), ngap.UeSecurityCapabilities(), bytes(32),
            nas_pdu=REGISTRATION_REQUEST,
            mobility_restriction=ngap.MobilityRestriction(plmn, (), (ngap.AllowedCagList(plmn, (0x1234,)),))),
        "NGAP PDUSessionResourceSetupRequest": ngap.PDUSessionResourceSetupRequest(
            1, 1, (ngap.PduSessionSetupRequest(1, snssai, transfer, REGISTRATION_REQUEST),)),
    }
    out = []
    for name, msg in ngap_msgs.items():
        buf = ngap.encode(msg)
        out.append((name, lambda m=msg: ngap.encode(m), lambda b=buf: ngap.decode(b), 300))
    rrc_msgs = {
        "RRC SIB1": rrc.Sib1.for_cell(plmn, 1, 0x10, cag_ids=(0x1234,), cag_only=True),
        "RRC RRCSetupComplete": rrc.RRCSetupComplete(REGISTRATION_REQUEST),
    }
    for name, msg in rrc_msgs.items():
        buf = rrc.encode(msg)
        out.append((name, lambda m=msg: rrc.encode(m), lambda b=buf, c=msg.channel: rrc.decode(c, b), 500))
    gpdu = gtpu.encode_gpdu(0x1234, IP_PACKET, qfi=1)
    out.append(("GTP-U G-PDU (1400 B, QFI)", lambda: gtpu.encode_gpdu(0x1234, IP_PACKET, qfi=1),
                lambda: gtpu.decode(gpdu), 20000))
    pdu = rls.PduTransmission(0x0102030405060708, rls.PduType.DATA, 1, IP_PACKET, 7)
    rbuf = pdu.encode()
    out.append(("RLS PDU_TRANSMISSION (1400 B)", pdu.encode, lambda: rls.decode(rbuf), 20000))
    try:
        from testbed.protocols import nas
    except ImportError:
        pass
    else:
        reg = nas.decode(REGISTRATION_REQUEST)
        out.append(("NAS RegistrationRequest", lambda: nas.encode(reg), lambda: nas.decode(REGISTRATION_REQUEST), 500))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer iterations (about 10x faster)")
    args = ap.parse_args()
    for name, enc, dec, n in cases():
        n = max(10, n // 10) if args.quick else n
        print(f"{name} encode: {per_op(enc, n):.1f} us/op", flush=True)
        print(f"{name} decode: {per_op(dec, n):.1f} us/op", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
