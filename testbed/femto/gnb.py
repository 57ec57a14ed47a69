"""The software gNB femto as one sans-I/O object: cell + NGAP client + GTP-U relay.

:class:`FemtoGnb` wires the layers together (routing their internal messages, see
:mod:`testbed.femto.outputs`) and owns the radio gate:

**Radio off until allowed.** The cell radiates (answers heartbeats, broadcasts MIB/SIB1) only when
its control plane allows it (``radio_enabled_at_start`` or the control command ``radio_on``; later
the Femto MS logic, TS 33.545 location verification) *and* NG Setup succeeded: a femto
whose NG Setup was refused (e.g. for a CAG ID it is not authorised for) stays silent. The
``skip_checks`` knob drops the second condition.

**Backhaul gate** (``backhaul_control`` set, TS 33.320 7.4: N2/N3 only inside the IPsec tunnel):
N2 is not even attempted until :meth:`FemtoGnb.backhaul_up` gives the tunnel's inner address (the
virtual IP, which becomes the N3 address announced to the AMF); :meth:`FemtoGnb.backhaul_down` drops
the association at once (every UE released locally, no reconnect) and switches the radio off. The
``skip_checks`` knob ignores this gate as well (a compromised femto radiating without backhaul).

Every entry point returns a list of external outputs (:class:`SendAir`, :class:`SendNgap`,
:class:`SendN3`, :class:`ConnectN2`, :class:`Event`) and never raises on bad input.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from .cell import Cell
from .config import FemtoConfig
from .ngap_client import UP, NgapClient
from .outputs import (
    CloseN2,
    ConnectN2,
    DownlinkData,
    DownlinkNas,
    Event,
    InitialNas,
    N3Downlink,
    PageUes,
    RadioLost,
    ReleaseRrc,
    SendAir,
    SendN3,
    SendNgap,
    UplinkData,
    UplinkNas,
)
from .user_plane import UserPlane

log = logging.getLogger("testbed.femto")

__all__ = ["FemtoGnb"]

_EXTERNAL = (SendAir, SendNgap, SendN3, ConnectN2, CloseN2, Event)


class FemtoGnb:
    """The femto gNB. ``clock`` is injectable for tests (seconds, monotonic)."""

    def __init__(self, config: FemtoConfig, *, clock: Callable[[], float] = time.monotonic,
                 sti: int | None = None) -> None:
        self.config = config
        self.clock = clock
        self.user_plane = UserPlane(config.n3_address, clock=clock)  # UL to the UPF's port 2152
        self.cell = Cell(config, clock=clock, sti=sti)
        self.ngap = NgapClient(config, self.user_plane, clock=clock)
        self.radio_allowed = config.radio_enabled_at_start
        self.counters: Counter[str] = Counter()
        #: backhaul gate: without ``backhaul_control`` the backhaul is always usable (in the clear).
        self.backhaul_gated = config.backhaul_control is not None
        self.backhaul_ok = not self.backhaul_gated
        self.backhaul: dict[str, Any] = ({"state": "down", "vip": None, "reason": "waiting for the tunnel"}
                                         if self.backhaul_gated else {"state": "clear", "vip": None, "reason": ""})

    # ------------------------------------------------------------------ plumbing

    def _guard(self, where: str, fn: Callable[[], list]) -> list:
        try:
            items = fn()
            return self._route(items)
        except Exception as exc:  # noqa: BLE001 - bad input never kills the femto
            self.counters["internal_errors"] += 1
            tb = traceback.extract_tb(exc.__traceback__)
            loc = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else "?"
            log.exception("femto: %s failed", where)
            return [Event("femto.internal_error", "error", {"where": where, "at": loc,
                                                            "error": f"{type(exc).__name__}: {exc}"[:200]})]

    def _route(self, items: list) -> list:
        """Deliver internal messages between the layers until only external outputs remain."""
        out: list = []
        queue = deque(items)
        while queue:
            it = queue.popleft()
            if isinstance(it, _EXTERNAL):
                out.append(it)
            elif isinstance(it, InitialNas | UplinkNas | RadioLost):
                queue.extend(self.ngap.from_radio(it))
            elif isinstance(it, UplinkData):
                conn = self.ngap.conn_of(it.ue_id)
                if conn is None:
                    self.counters["drop_ul_data_no_connection"] += 1
                else:
                    queue.extend(self.user_plane.uplink(conn, it.pdu_session_id, it.packet))
            elif isinstance(it, N3Downlink):
                ue_id = self.ngap.ue_id_of(it.conn)
                if ue_id is None:
                    self.counters["drop_dl_data_no_radio"] += 1
                else:
                    queue.extend(self.cell.deliver(DownlinkData(ue_id, it.pdu_session_id, it.packet)))
            elif isinstance(it, DownlinkNas | ReleaseRrc | PageUes | DownlinkData):
                queue.extend(self.cell.deliver(it))
            else:  # pragma: no cover - a programming error
                raise TypeError(f"unroutable item {it!r}")
            if not queue:
                queue.extend(self._radio_gate())
        return out

    def _radio_gate(self) -> list:
        """Radiate iff allowed and NG is up (or ``skip_checks``)."""
        skip = self.config.knobs.skip_checks
        ng_ok = self.ngap.state == UP or skip
        bh_ok = self.backhaul_ok or skip
        want = self.radio_allowed and ng_ok and bh_ok
        if want == self.cell.radiating:
            return []
        items = self.cell.set_radiating(want)
        if want:
            reason = ("allowed and NG up" if self.ngap.state == UP and self.backhaul_ok
                      else "allowed (skip_checks: NG or backhaul not up)")
        elif not self.radio_allowed:
            reason = "not allowed"
        elif not bh_ok:
            reason = f"backhaul down: {self.backhaul.get('reason') or 'no tunnel'}"
        else:
            reason = f"N2 {self.ngap.state}"
        items.append(Event("femto.radio_on" if want else "femto.radio_off", "info" if want else "notice",
                           {"reason": reason, "sti": f"{self.cell.sti:016x}"}))
        return items

    # ------------------------------------------------------------------ entry points

    def start(self) -> list:
        """Start: connect N2 (the radio follows once allowed and NG Setup succeeded).

        With a backhaul gate, N2 waits for :meth:`backhaul_up`.
        """
        if self.backhaul_gated:
            def wait() -> list:
                self.ngap.suspended = True
                return [Event("femto.backhaul_wait", "info", {"backhaul_control": self.config.backhaul_control}),
                        *self._radio_gate()]
            return self._guard("start", wait)
        return self._guard("start", lambda: [*self.ngap.start(), *self._radio_gate()])

    def backhaul_up(self, vip: str) -> list:
        """The IPsec tunnel is up with inner address ``vip``: N3 and N2 use it; connect N2 (NG Setup follows)."""
        def go() -> list:
            self.backhaul_ok = True
            self.backhaul = {"state": "up", "vip": vip, "reason": ""}
            self.user_plane.n3_address = vip
            self.counters["backhaul_up"] += 1
            out: list = [Event("femto.backhaul_up", "info", {"vip": vip})]
            if self.ngap.suspended:
                out += self.ngap.resume()
            return out
        return self._guard("backhaul_up", go)

    def backhaul_down(self, reason: str) -> list:
        """The tunnel is gone (or going): drop N2 now, release UEs locally, radio off (TS 33.320 7.4)."""
        def go() -> list:
            self.backhaul_ok = False
            self.backhaul = {"state": "down", "vip": None, "reason": reason}
            self.counters["backhaul_down"] += 1
            # (the radio gate runs once the releases are routed: UEs get their RRC release first)
            return [*self.ngap.suspend(reason), Event("femto.backhaul_down", "warning", {"reason": reason})]
        return self._guard("backhaul_down", go)

    def air_received(self, data: bytes, addr: tuple[str, int]) -> list:
        """A datagram on the air port (UDP 4997) from a UE at ``addr``."""
        return self._guard("air", lambda: self.cell.air_received(data, addr))

    def ngap_received(self, data: bytes, stream: int = 0) -> list:
        """An NGAP PDU from the AMF."""
        return self._guard("ngap", lambda: self.ngap.ngap_received(data, stream))

    def n2_up(self) -> list:
        """The SCTP association to the AMF is established."""
        return self._guard("n2_up", self.ngap.association_up)

    def n2_down(self, reason: str = "closed") -> list:
        """The association is gone."""
        return self._guard("n2_down", lambda: self.ngap.association_down(reason))

    def n2_connect_failed(self, error: str = "") -> list:
        return self._guard("n2_connect_failed", lambda: self.ngap.connect_failed(error))

    def n3_received(self, data: bytes, addr: tuple[str, int]) -> list:
        """A datagram on the N3 port (UDP 2152)."""
        return self._guard("n3", lambda: self.user_plane.n3_received(data, addr))

    def tick(self) -> list:
        """Periodic work (call every ~100 ms): UE timeouts, SIB1 period, NG Setup/reconnect timers."""
        return self._guard("tick", lambda: [*self.cell.tick(), *self.ngap.tick(), *self._radio_gate()])

    def radio_on(self) -> list:
        """The control plane allows the cell to radiate."""
        def go() -> list:
            self.radio_allowed = True
            return self._radio_gate()
        return self._guard("radio_on", go)

    def radio_off(self) -> list:
        def go() -> list:
            self.radio_allowed = False
            return self._radio_gate()
        return self._guard("radio_off", go)

    def page(self, s_tmsi: int) -> list:
        """Page a UE by its 48-bit 5G-S-TMSI (PCCH Paging on the cell)."""
        return self._guard("page", lambda: [PageUes((s_tmsi,))])

    # ------------------------------------------------------------------ views (pseudonymous only)

    def status(self) -> dict[str, Any]:
        c = self.config
        return {"name": c.name, "radio": {"allowed": self.radio_allowed, "on": self.cell.radiating},
                "n2": self.ngap.describe(), "backhaul": dict(self.backhaul),
                "cell": {"plmn": str(c.plmn), "tac": c.tac, "nci": f"{c.nci:09x}", "gnb_id": c.gnb_id,
                         "cag_ids": list(c.broadcast_cag_ids), "cag_only": c.cag_only_marking,
                         "sti": f"{self.cell.sti:016x}"},
                "ues": len(self.cell.ues), "ng_connections": len(self.ngap.ues),
                "tunnels": len(self.user_plane.by_teid), "knobs": self.config.knobs.active()}

    def ue_views(self) -> list[dict[str, Any]]:
        """UE contexts by pseudonymous ids only: STI, RAN/AMF-UE-NGAP-ID, RRC state, 5G-S-TMSI."""
        views = []
        for ue in self.cell.ues.values():
            v = ue.describe()
            conn = self.ngap.conn_of(ue.ue_id)
            ng = self.ngap.ues.get(conn) if conn is not None else None
            v.update(ng.describe() if ng is not None else {"ran_ue_ngap_id": None, "amf_ue_ngap_id": None})
            views.append(v)
        for ng in self.ngap.ues.values():
            if ng.ue_id is None:
                views.append({"sti": None, "rrc_state": "gone", **ng.describe()})
        return views

    def all_counters(self) -> dict[str, dict[str, int]]:
        return {"radio": dict(self.cell.counters), "ngap": dict(self.ngap.counters),
                "n3": dict(self.user_plane.counters), "femto": dict(self.counters)}

    # ------------------------------------------------------------------ control

    def control(self, request: Any) -> tuple[dict[str, Any], list]:
        """Answer one control request (JSON object with ``op``); returns (reply, outputs)."""
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"ok": False, "error": 'expected a JSON object with an "op" string'}, []
        op = request["op"]
        try:
            if op == "status":
                return {"ok": True, **self.status()}, []
            if op == "ues":
                return {"ok": True, "ues": self.ue_views()}, []
            if op == "counters":
                return {"ok": True, "counters": self.all_counters()}, []
            if op == "radio_on":
                outs = self.radio_on()
                return {"ok": True, "radio": {"allowed": True, "on": self.cell.radiating}}, outs
            if op == "radio_off":
                outs = self.radio_off()
                return {"ok": True, "radio": {"allowed": False, "on": self.cell.radiating}}, outs
            if op == "page":
                v = request.get("s_tmsi")
                s_tmsi = int(v, 16) if isinstance(v, str) else v
                if type(s_tmsi) is not int or not 0 <= s_tmsi < 1 << 48:
                    return {"ok": False, "error": '"s_tmsi" must be a 48-bit integer or hex string'}, []
                return {"ok": True}, self.page(s_tmsi)
            if op == "replay":
                target = request.get("ran_ue_ngap_id")
                reply, items = self.ngap.replay(int(request.get("index", -1)),
                                                None if target is None else int(target), int(request.get("times", 1)))
                return reply, self._route(items)
            if op == "foreign_ue":
                nas_hex = request.get("nas_hex")
                reply, items = self.ngap.send_foreign(int(request["amf_ue_ngap_id"]), int(request["ran_ue_ngap_id"]),
                                                      str(request.get("message", "uplink_nas")),
                                                      bytes.fromhex(nas_hex) if nas_hex else b"\x7e\x00\x43")
                return reply, self._route(items)
            if op == "n2_close":  # drop the association (backhaul loss): the femto reconnects
                return {"ok": True, "n2": self.ngap.state}, [CloseN2()]
            if op == "echo":
                peer = request.get("peer")
                if not isinstance(peer, str):
                    return {"ok": False, "error": '"peer" must be an address'}, []
                return {"ok": True}, self.user_plane.echo_request(peer, int(request.get("seq", 0)))
            return {"ok": False, "error": f"unknown op {op!r}",
                    "ops": ["status", "ues", "counters", "radio_on", "radio_off", "page", "replay", "foreign_ue",
                            "echo", "n2_close"]}, []
        except (KeyError, ValueError, TypeError) as e:
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}, []

