"""The femto's GTP-U relay (sans-I/O) between radio DATA PDUs and N3 (TS 29.281, TS 38.415).

- Uplink: an IP packet a UE sends on PDU session ``psi`` becomes a G-PDU to the UPF's UL F-TEID
  (from the PDU Session Resource Setup Request Transfer, TS 38.413 9.3.4.1) with a PDU Session
  Container (UL PDU SESSION INFORMATION, TS 38.415 5.5.2.2) carrying the session's QFI.
- Downlink: a G-PDU on a DL TEID this femto allocated goes to its UE as a DATA PDU of that
  session. G-PDUs on unknown TEIDs are dropped and counted, and answered with an Error Indication
  (TS 29.281 7.3.1), rate limited.
- Echo Request is answered with Echo Response (TS 29.281 7.2.1-7.2.2); Echo Response, End Marker
  and Supported Extension Headers Notification are counted; Error Indication from the UPF is
  reported as an event.
- Malformed datagrams are dropped and counted; nothing raises.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from testbed.errors import DecodeError
from testbed.protocols import gtpu

from .outputs import Event, N3Downlink, SendN3

log = logging.getLogger("testbed.femto.user_plane")

__all__ = ["Tunnel", "UserPlane"]

Address = tuple[str, int]


@dataclass
class Tunnel:
    """One PDU session's GTP-U tunnel pair; ``conn`` is the NG connection's RAN-UE-NGAP-ID."""

    conn: int
    pdu_session_id: int
    dl_teid: int
    ul_address: str
    ul_teid: int
    qfi: int
    ul_packets: int = 0
    ul_bytes: int = 0
    dl_packets: int = 0
    dl_bytes: int = 0

    def describe(self) -> dict[str, Any]:
        return {"pdu_session_id": self.pdu_session_id, "dl_teid": self.dl_teid, "ul_teid": self.ul_teid,
                "upf": self.ul_address, "qfi": self.qfi, "ul_packets": self.ul_packets,
                "dl_packets": self.dl_packets}


class UserPlane:
    """GTP-U tunnels keyed by DL TEID and by (conn, PDU session id), conn = RAN-UE-NGAP-ID."""

    def __init__(self, n3_address: str, *, port: int = gtpu.PORT, clock: Callable[[], float] = time.monotonic,
                 error_indication_rate: float = 10.0) -> None:
        self.n3_address = n3_address
        self.port = port
        self.clock = clock
        self.by_teid: dict[int, Tunnel] = {}
        self.by_session: dict[tuple[int, int], Tunnel] = {}
        self.by_conn: dict[int, dict[int, Tunnel]] = {}
        self.counters: Counter[str] = Counter()
        self._ei_interval = 1.0 / error_indication_rate if error_indication_rate > 0 else float("inf")
        self._last_ei = -1e9

    # ------------------------------------------------------------------ tunnels

    def _new_teid(self) -> int:
        while True:
            teid = secrets.randbits(32)
            if teid and teid not in self.by_teid:
                return teid

    def add(self, conn: int, pdu_session_id: int, ul_address: str, ul_teid: int, qfi: int) -> Tunnel:
        """Set up (or replace) the tunnel of a session; allocates a fresh DL TEID."""
        self.remove(conn, (pdu_session_id,))
        t = Tunnel(conn, pdu_session_id, self._new_teid(), ul_address, ul_teid, qfi)
        self.by_teid[t.dl_teid] = t
        self.by_session[(conn, pdu_session_id)] = t
        self.by_conn.setdefault(conn, {})[pdu_session_id] = t
        self.counters["tunnels_created"] += 1
        return t

    def remove(self, conn: int, pdu_session_ids: tuple[int, ...] | None = None) -> list[int]:
        """Forget the tunnels of ``conn`` (all when ``pdu_session_ids`` is None); the removed ids."""
        mine = self.by_conn.get(conn)
        if not mine:
            return []
        psis = list(mine) if pdu_session_ids is None else [p for p in pdu_session_ids if p in mine]
        for p in psis:
            t = mine.pop(p)
            self.by_session.pop((conn, p), None)
            self.by_teid.pop(t.dl_teid, None)
            self.counters["tunnels_removed"] += 1
        if not mine:
            del self.by_conn[conn]
        return psis

    def sessions_of(self, conn: int) -> list[Tunnel]:
        return list(self.by_conn.get(conn, {}).values())

    # ------------------------------------------------------------------ uplink

    def uplink(self, conn: int, pdu_session_id: int, packet: bytes) -> list:
        """An IP packet from the UE -> G-PDU towards the UPF."""
        t = self.by_session.get((conn, pdu_session_id))
        if t is None:
            self.counters["drop_ul_no_session"] += 1
            return []
        if not packet:
            self.counters["drop_ul_empty"] += 1
            return []
        t.ul_packets += 1
        t.ul_bytes += len(packet)
        self.counters["ul_packets"] += 1
        self.counters["ul_bytes"] += len(packet)
        data = gtpu.encode_gpdu(t.ul_teid, packet, qfi=t.qfi, pdu_type=gtpu.PDU_TYPE_UL)
        return [SendN3((t.ul_address, self.port), data)]

    # ------------------------------------------------------------------ N3 input

    def n3_received(self, data: bytes, addr: Address) -> list:
        """One UDP datagram on the N3 port."""
        try:
            msg = gtpu.decode(data)
        except DecodeError as e:
            self.counters["drop_malformed"] += 1
            log.debug("N3: malformed GTP-U from %s: %s", addr, e)
            return []
        if isinstance(msg, gtpu.GPdu):
            t = self.by_teid.get(msg.teid)
            if t is None:
                self.counters["drop_unknown_teid"] += 1
                now = self.clock()
                if now - self._last_ei >= self._ei_interval:
                    self._last_ei = now
                    self.counters["error_indication_out"] += 1
                    return [SendN3(addr, gtpu.ErrorIndication(msg.teid, self.n3_address).encode())]
                return []
            if not msg.payload:
                self.counters["drop_dl_empty"] += 1
                return []
            t.dl_packets += 1
            t.dl_bytes += len(msg.payload)
            self.counters["dl_packets"] += 1
            self.counters["dl_bytes"] += len(msg.payload)
            return [N3Downlink(t.conn, t.pdu_session_id, msg.payload)]
        if isinstance(msg, gtpu.EchoRequest):
            self.counters["echo_request_in"] += 1
            return [SendN3(addr, gtpu.EchoResponse(msg.seq).encode())]
        if isinstance(msg, gtpu.EchoResponse):
            self.counters["echo_response_in"] += 1
            return []
        if isinstance(msg, gtpu.ErrorIndication):
            self.counters["error_indication_in"] += 1
            known = any(t.ul_teid == msg.teid and t.ul_address == msg.peer_address for t in self.by_teid.values())
            return [Event("femto.gtpu_error_indication", "warning",
                          {"teid": msg.teid, "peer": msg.peer_address, "known_session": known})]
        self.counters[f"{type(msg).__name__.lower()}_in"] += 1
        return []

    def echo_request(self, peer: str, seq: int = 0) -> list:
        """An Echo Request to ``peer`` (path management, TS 29.281 7.2.1)."""
        self.counters["echo_request_out"] += 1
        return [SendN3((peer, self.port), gtpu.EchoRequest(seq & 0xFFFF).encode())]
