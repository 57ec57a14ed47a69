"""The femto's backhaul gate (TS 33.320 7.4: N2/N3 only inside the IPsec tunnel): radio and N2 follow the
tunnel, N3 and the announced DL address are the tunnel's inner address; sans-I/O against the real AMF,
SMF and in-process UPF, and the process adapter against a fake backhaul agent socket."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from testbed.core.smf import LocalN4, Smf, SmfConfig
from testbed.core.upf.sessions import Upf
from testbed.femto import FemtoGnb
from testbed.femto.outputs import CloseN2, ConnectN2
from testbed.femto.process import FemtoProcess
from testbed.protocols import nas, ngap, rrc
from testbed.runtime.control import control_request, serve_json_lines
from testbed.runtime.events import EventWriter, read_events

from .harness import UPF_N3, Clock, Net, RlsUe, build_core, femto_config, nas_ue
from .test_process import FakeAssoc, _until

VIP = "10.11.0.7"
VIP2 = "10.11.0.9"
EST = nas.PduSessionEstablishmentRequest(pdu_session_id=1, pti=1, pdu_session_type=nas.PduSessionType.IPV4)


def _gated_net(tmp_path: Path, **kw: Any) -> tuple[Net, Any, Any]:
    amf, keys, store = build_core(tmp_path)
    upf = Upf(UPF_N3, "10.45.0.0/16")
    smf = Smf(SmfConfig(smf_n4_address=("127.0.0.2", 8805), upf_n4_address=(UPF_N3, 8805)),
              LocalN4(upf, src=("127.0.0.2", 8805)))
    femto = FemtoGnb(femto_config(backhaul_control="femto1/backhaul.sock", **kw), clock=Clock())
    n = Net(femto, amf, upf=upf, smf=smf)
    n.start_smf()
    return n, keys, store


def test_radio_and_n2_wait_for_the_tunnel_and_use_its_inner_address(tmp_path: Path) -> None:
    n, keys, store = _gated_net(tmp_path)
    femto = n.femto
    n.feed(femto.start())
    # radio allowed at start, but no tunnel: no N2 attempt, no radio, not even after minutes
    assert n.connects == 0 and n.ev("femto.backhaul_wait") and not femto.cell.radiating
    ue = RlsUe(n, ("10.200.1.10", 40000), nas=nas_ue(keys, 1))
    ue.heartbeat()
    n.tick(120.0)
    assert ue.rls_in == [] and n.connects == 0
    assert femto.status()["backhaul"] == {"state": "down", "vip": None, "reason": "waiting for the tunnel"}
    # tunnel up: N2 connects (NG Setup follows), the radio comes on only after NG Setup succeeded
    n.feed(femto.backhaul_up(VIP))
    assert n.connects == 1 and not femto.cell.radiating
    n.association_up()
    assert femto.ngap.state == "up" and femto.cell.radiating and n.ev("femto.radio_on")
    assert femto.user_plane.n3_address == VIP
    ue.heartbeat()
    ue.register()
    assert ue.nas.registered
    ue.send_rrc(rrc.ULInformationTransfer(ue.nas.ul_nas_transport(EST)))
    resp = next(m for m in map(ngap.decode, n.to_amf) if isinstance(m, ngap.PDUSessionResourceSetupResponse))
    assert resp.setup[0].transfer.dl_tunnel.address == VIP  # the UPF sends DL into the tunnel
    assert femto.user_plane.by_teid
    # tunnel down: N2 dropped at once, UEs released (RRC release first), radio off, nothing left
    outs = femto.backhaul_down("tunnel lost")
    assert any(isinstance(o, CloseN2) for o in outs)
    n.feed(outs)
    assert ue.rrc_of(rrc.RRCRelease) and ue.rrc_state == "idle"
    assert not femto.cell.radiating and femto.ngap.state == "down" and not femto.ngap.ues
    assert not femto.user_plane.by_teid
    off = n.ev("femto.radio_off")
    assert off and off[-1]["reason"] == "backhaul down: tunnel lost"
    # the association's own drop notification afterwards: no reconnect while the tunnel is down
    n.feed(femto.n2_down("closed locally"))
    n.tick(300.0)
    assert n.connects == 1 and not femto.cell.radiating
    n_in = len(ue.rls_in)
    ue.heartbeat()
    assert len(ue.rls_in) == n_in  # the cell is silent
    # tunnel back with another virtual IP: N2 again, N3 on the new address
    n._amf_out(n.amf.association_down(n.assoc))
    n.assoc += 1
    n.feed(femto.backhaul_up(VIP2))
    assert n.connects == 2 and femto.user_plane.n3_address == VIP2
    n.association_up()
    assert femto.cell.radiating and femto.status()["backhaul"]["vip"] == VIP2
    n.close()
    store.close()


def test_control_without_gate_connects_at_once_and_skip_checks_ignores_the_gate(tmp_path: Path) -> None:
    amf, _, store = build_core(tmp_path)
    clear = FemtoGnb(femto_config(), clock=Clock())
    outs = clear.start()
    assert any(isinstance(o, ConnectN2) for o in outs)  # control: backhaul in the clear
    assert clear.status()["backhaul"]["state"] == "clear" and clear.backhaul_ok
    rogue = FemtoGnb(femto_config(backhaul_control="x.sock", knobs={"skip_checks": True}), clock=Clock())
    rogue.start()
    assert rogue.cell.radiating  # a compromised femto radiates without tunnel and without NG
    gated = FemtoGnb(femto_config(backhaul_control="x.sock"), clock=Clock())
    assert not any(isinstance(o, ConnectN2) for o in gated.start()) and not gated.cell.radiating
    store.close()


class _FakeAgent:
    """The backhaul agent's control socket: answers ``status`` with whatever ``state`` says."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {"ok": True, "state": "connecting", "vip": None, "reason": "attempt 1"}
        self.requests = 0

    def handle(self, request: Any) -> dict[str, Any]:
        self.requests += 1
        return dict(self.state)


class _Sctp:
    def __init__(self, amf: Any) -> None:
        self.amf = amf
        self.calls: list[dict[str, Any]] = []
        self.assocs: list[FakeAssoc] = []

    async def connect(self, host: str, port: int, **kw: Any) -> FakeAssoc:
        self.calls.append({"host": host, "port": port, **kw})
        a = FakeAssoc(self.amf, len(self.assocs) + 1)
        self.assocs.append(a)
        return a


def test_process_binds_to_the_tunnel_and_drops_everything_when_told(tmp_path: Path) -> None:
    amf, _, store = build_core(tmp_path)
    agent_sock = tmp_path / "bh.sock"
    sock = tmp_path / "femto.sock"
    cfg = femto_config(air_address="127.0.0.1", air_port=0, n3_port=0, amf_address="127.0.0.1",
                       backhaul_control=str(agent_sock), backhaul_poll_s=0.05)
    events_path = tmp_path / "femto.jsonl"

    async def main() -> None:
        agent = _FakeAgent()
        server = await asyncio.start_unix_server(lambda r, w: serve_json_lines(r, w, agent.handle),
                                                 path=str(agent_sock))
        sctp = _Sctp(amf)
        events = EventWriter(events_path, "femto")
        proc = FemtoProcess(cfg, events, control_path=sock, connect=sctp.connect, tick_s=0.05, femto=FemtoGnb(cfg))
        await proc.start()
        try:
            await _until(lambda: agent.requests >= 3)
            assert proc.n3_address is None and sctp.calls == [] and not proc.femto.cell.radiating
            # the agent reports the tunnel: N3 on the inner address, SCTP bound to it, NG Setup, radio on
            agent.state = {"ok": True, "state": "up", "vip": "127.0.0.1"}
            await _until(lambda: proc.femto.cell.radiating)
            assert proc.n3_address[0] == "127.0.0.1" and sctp.calls[0]["local"] == "127.0.0.1"
            # the agent pushes 'down' before deleting the IKE SA: everything stops before the reply
            agent.state = {"ok": True, "state": "admin_down", "reason": "admin"}
            t0 = time.monotonic()
            reply = await asyncio.to_thread(control_request, sock, {"op": "backhaul", "state": "down",
                                                                    "reason": "admin"})
            took = time.monotonic() - t0
            assert reply["ok"] and reply["radio"]["on"] is False and took < 0.5
            assert sctp.assocs[0].down_reason and proc.n3_address is None
            await asyncio.sleep(0.4)
            assert len(sctp.calls) == 1 and proc.femto.ngap.state == "down"  # no reconnect without tunnel
            # up again; then the agent dies: no answer means no tunnel
            agent.state = {"ok": True, "state": "up", "vip": "127.0.0.1"}
            await _until(lambda: proc.femto.cell.radiating)
            assert len(sctp.calls) == 2
            server.close()
            await server.wait_closed()
            agent_sock.unlink()
            await _until(lambda: not proc.femto.cell.radiating, 2.0)
            assert proc.femto.backhaul["reason"].startswith("backhaul agent unreachable")
            bad = await asyncio.to_thread(control_request, sock, {"op": "backhaul", "state": "sideways"})
            assert not bad["ok"]
        finally:
            proc.stop()
            await proc.wait_stopped()
            events.close()

    asyncio.run(main())
    offs = read_events(events_path, "femto.radio_off")
    assert [e["reason"] for e in offs] == ["backhaul down: admin",
                                          "backhaul down: backhaul agent unreachable (FileNotFoundError)"]
    store.close()
