"""The UE process I/O layer: many UEs in one event loop on loopback, a fake gNB answering RRC (no core)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from pathlib import Path

import pytest

from testbed.errors import ConfigError
from testbed.runtime.control import control_request
from testbed.runtime.events import EventWriter, read_events
from testbed.runtime.tuning import enlarge_receive_buffer
from testbed.ue.config import load_ue_config, parse_ue_config
from testbed.ue.process import UeProcess, parse_request, raise_nofile

from .fake_nas import FakeNas, ScriptedCell, toy_core

K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "e8ed289deba952e4283b54e88e6183ca"
CAG = 0x101


class CellProtocol(asyncio.DatagramProtocol):
    """A ScriptedCell on a UDP socket."""

    def __init__(self, cell: ScriptedCell) -> None:
        self.cell = cell
        self.transport: CellSocket | None = None
        self.peers: dict[int, tuple[str, int]] = {}

    def connection_made(self, transport) -> None:  # noqa: ANN001
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # noqa: ANN001
        self.peers[int.from_bytes(data[5:13], "big")] = addr
        for out in self.cell.handle(data, addr):
            self.transport.sendto(out, addr)  # type: ignore[union-attr]

    def to_ue(self, ue_sti: int, data: bytes) -> None:
        self.transport.sendto(data, self.peers[ue_sti])  # type: ignore[union-attr]


class CellSocket:
    """The test cell's UDP socket: drained completely on every wakeup, with a large receive buffer.

    The cell shares the event loop with up to 200 UEs. asyncio's own datagram transport reads one
    datagram per loop iteration, and the default receive buffer (``net.core.rmem_default``, ~208 KiB)
    holds only 256 small loopback datagrams (each is charged ~830 bytes): when CPU contention slowed
    the loop, the kernel dropped uplink RRC/NAS to the cell (``/proc/net/udp`` drops 39-244 per run under
    three busy loops) and the UEs whose RRCSetupComplete or PDU request was lost waited on NAS timers
    that the fake NAS does not act on. So read in batches (:data:`_CELL_BATCH` per wakeup, as the UE
    process reads its sockets) from a buffer of :data:`testbed.runtime.tuning.RECEIVE_BUFFER` (the
    scale test's responder has 8 MiB too).
    """

    def __init__(self, sock: socket.socket, protocol: CellProtocol, loop: asyncio.AbstractEventLoop) -> None:
        self.sock, self.protocol, self.loop = sock, protocol, loop
        self.inode = os.fstat(sock.fileno()).st_ino
        self.send_errors = 0
        loop.add_reader(sock.fileno(), self._readable)
        protocol.connection_made(self)

    def _readable(self) -> None:
        for _ in range(_CELL_BATCH):
            try:
                data, addr = self.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            self.protocol.datagram_received(data, addr)

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self.sock.sendto(data, addr)
        except OSError:
            self.send_errors += 1

    def get_extra_info(self, name: str, default=None):  # noqa: ANN001, ANN201
        return {"sockname": self.sock.getsockname(), "socket": self.sock}.get(name, default)

    def drops(self) -> int:
        """Datagrams the kernel dropped for this socket (``/proc/net/udp``, matched by inode)."""
        for line in Path("/proc/self/net/udp").read_text().splitlines()[1:]:
            f = line.split()
            if int(f[9]) == self.inode:
                return int(f[-1])
        return -1

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


_CELL_BATCH = 1024


async def start_cell(cell: ScriptedCell, protocol: type[CellProtocol] = CellProtocol) -> tuple[CellProtocol, int]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    s.bind(("127.0.0.1", 0))
    enlarge_receive_buffer(s)
    proto = protocol(cell)
    CellSocket(s, proto, asyncio.get_running_loop())
    return proto, s.getsockname()[1]


def stuck_report(proc: UeProcess, proto: CellProtocol, done=lambda slot: True) -> str:  # noqa: ANN001
    """Why UEs are not where a test waits for them: per stuck UE its NAS/RRC state next to what the
    cell received from it, and the cell socket's kernel drop counter."""
    cell = proto.cell
    lines = [f"cell socket drops={proto.transport.drops()} send_errors={proto.transport.send_errors} "  # type: ignore[union-attr]
             f"stats={proc.stats()}"]
    stuck = [s for s in proc.slots if not done(s)]
    for s in stuck[:20]:
        ue, ctx = s.ue, cell.ues.get(s.ue.sti)
        seen = None if ctx is None else {"setup_requests": len(ctx.setup_requests),
                                         "setup_completes": len(ctx.setup_completes), "nas_up": ctx.nas_up}
        lines.append(f"{ue.name}: nas={getattr(ue.nas, 'state', '?')} rrc={ue.rrc.describe()} camp={ue.camp} "
                     f"sessions={ue.sessions} rrc_counters={ue.rrc.counters} cell_saw={seen}")
    if len(stuck) > 20:
        lines.append(f"... {len(stuck) - 20} more")
    return "\n".join(lines)


def config(port: int, count: int, **kw) -> dict:
    return {"gnbs": [f"127.0.0.1:{port}"], "scheme": 0, "bind_address": "127.0.0.1", "tun": False,
            "range": {"first_supi": "imsi-001010000100000", "count": count, "k": K, "opc": OPC,
                      "position": [10, 0, 0]}, **kw}


def fake_nas_factory(usim_config, nas_config, clock):  # noqa: ANN001
    return FakeNas(usim_config.allowed_cag_ids or {CAG})


async def wait_for(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        await asyncio.sleep(0.05)
    return pred()


def test_200_ues_in_one_process_register_and_get_sessions(tmp_path: Path) -> None:
    async def main() -> None:
        cell = ScriptedCell(cag_ids=(CAG,), cag_only=True, nas_responder=toy_core)
        proto, port = await start_cell(cell)
        events = EventWriter(tmp_path / "events" / "ue.jsonl", "ue", "ues")
        sock = tmp_path / "ue" / "ues" / "control.sock"
        proc = UeProcess(parse_ue_config(config(port, 200)), events, control_path=sock, nas_factory=fake_nas_factory,
                         seed=1)
        await proc.start()
        try:
            assert proc.nofile[0] >= 200
            t0 = time.monotonic()
            assert await wait_for(lambda: sum(len(s.ue.sessions) for s in proc.slots) == 200, 30), \
                stuck_report(proc, proto, lambda s: bool(s.ue.sessions))
            took = time.monotonic() - t0
            stats = proc.stats()
            assert stats["camped"] == 200 and stats["connected"] == 200 and stats["nas_states"] == {
                "5GMM-REGISTERED": 200}
            assert len(cell.ues) == 200  # 200 distinct STIs, each with its own socket
            assert len({c.address for c in cell.ues.values()}) == 200
            # control socket (blocking client in a thread)
            reply = await asyncio.to_thread(control_request, sock, {"op": "list"})
            assert reply["ok"] and len(reply["ues"]) == 200 and reply["ues"][0]["ue"] == "ue1"
            st = await asyncio.to_thread(control_request, sock, {"op": "status", "ue": "ue7"})
            assert st["ue"]["supi"] == "imsi-001010000100006" and st["ue"]["rrc_state"] == "RRC_CONNECTED"
            assert st["ue"]["sessions"] == {"1": proc.slots[6].ue.sessions[1]}
            # release, session again with wait, position, deregister by SUPI
            r = await asyncio.to_thread(control_request, sock, {"op": "release", "ue": "ue7", "psi": 1, "wait": 5})
            assert r["ok"] and r["outcomes"][0]["type"] == "SessionDown" and r["sessions"] == {}
            r = await asyncio.to_thread(control_request, sock,
                                        {"op": "session", "ue": "#7", "psi": 2, "dnn": "internet", "wait": 5})
            assert r["ok"] and r["outcomes"][0]["type"] == "SessionUp" and "2" in r["sessions"]
            r = await asyncio.to_thread(control_request, sock, {"op": "position", "ue": "ue7", "position": [5, 6, 7]})
            assert r["ok"] and proc.slots[6].ue.link.position == (5, 6, 7)
            r = await asyncio.to_thread(control_request, sock,
                                        {"op": "deregister", "ue": "imsi-001010000100009", "wait": 5})
            assert r["ok"] and r["outcomes"][0]["type"] == "Deregistered"
            r = await asyncio.to_thread(control_request, sock, {"op": "register", "ue": "ue10", "wait": 5})
            assert r["ok"] and r["outcomes"][0]["type"] == "Registered"
            for bad in ({"op": "status", "ue": "nobody"}, {"op": "explode"}, {"nop": 1},
                        {"op": "register", "ue": "ue1", "type": "bogus"}):
                assert not (await asyncio.to_thread(control_request, sock, bad))["ok"]
            print(f"\n200 UEs registered + PDU session in {took:.2f} s; {proc.stats()['cpu_s']} CPU-s")
        finally:
            await proc.close()
            proto.transport.close()  # type: ignore[union-attr]
        assert not sock.exists()
        evs = read_events(tmp_path / "events")
        assert [e["type"] for e in evs][0] == "ue.ready"
        acc = [e for e in evs if e["type"] == "registration.accepted"]
        assert len(acc) >= 200 and acc[0]["supi"].startswith("imsi-") and "k" not in acc[0]
        assert all("ue" in e for e in evs[1:])

    asyncio.run(main())


def test_radio_link_failure_and_recovery_over_sockets(tmp_path: Path) -> None:
    async def main() -> None:
        cell = ScriptedCell(nas_responder=toy_core)
        proto, port = await start_cell(cell)
        proc = UeProcess(parse_ue_config(config(port, 3, auto_session=False)), None, nas_factory=fake_nas_factory)
        await proc.start()
        try:
            assert await wait_for(lambda: all(s.ue.registered for s in proc.slots), 10)
            cell.radio_on = False
            assert await wait_for(lambda: all(s.ue.serving is None for s in proc.slots), 6)
            assert all(s.ue.counters["radio_link_failures"] == 1 for s in proc.slots)
            cell.radio_on = True
            cell.ues.clear()
            assert await wait_for(lambda: all(s.ue.serving is not None for s in proc.slots), 4)
        finally:
            await proc.close()
            proto.transport.close()  # type: ignore[union-attr]

    asyncio.run(main())


def test_downlink_data_and_staggered_start(tmp_path: Path) -> None:
    async def main() -> None:
        cell = ScriptedCell(nas_responder=toy_core)
        proto, port = await start_cell(cell)
        proc = UeProcess(parse_ue_config(config(port, 4, start_rate=20)), None, nas_factory=fake_nas_factory)
        await proc.start()
        try:
            assert await wait_for(lambda: all(s.ue.sessions for s in proc.slots), 10)
            ue = proc.slots[0].ue
            pkt = bytes.fromhex("45000014000000004001") + bytes(10)
            proto.to_ue(ue.sti, cell.data(1, pkt))
            assert await wait_for(lambda: ue.counters["dl_data"] == 1, 3)  # no TUN here: counted, not written
        finally:
            await proc.close()
            proto.transport.close()  # type: ignore[union-attr]

    asyncio.run(main())


def test_text_requests_and_config_errors(tmp_path: Path) -> None:
    assert parse_request(b"status ue1\n") == {"op": "status", "ue": "ue1"}
    assert parse_request("register ue2 emergency") == {"op": "register", "ue": "ue2", "type": "emergency"}
    assert parse_request("session ue1 2 ims") == {"op": "session", "ue": "ue1", "psi": 2, "dnn": "ims"}
    assert parse_request("position ue1 1 -2 3") == {"op": "position", "ue": "ue1", "position": [1, -2, 3]}
    assert parse_request('{"op": "list"}') == {"op": "list"}
    assert parse_request("{bad json") is None and parse_request("") is None
    with pytest.raises(ConfigError, match="range"):
        parse_ue_config({"gnbs": ["127.0.0.1"]}, "ue.yaml")
    with pytest.raises(ConfigError, match=r"ue.yaml: gnbs"):
        parse_ue_config({"gnbs": ["nowhere"], "ues": [{"supi": "imsi-001010000000001"}]}, "ue.yaml")
    with pytest.raises(ConfigError, match="range.count"):
        parse_ue_config({"gnbs": ["127.0.0.1"], "range": {"first_supi": "imsi-001010000000001", "count": 0}})
    p = tmp_path / "ue.json"
    p.write_text(json.dumps({"gnbs": ["10.200.1.1"], "ues": [{"supi": "imsi-001010000000001", "name": "ue1"}]}))
    c = load_ue_config(p)
    assert c.gnb_addresses == [("10.200.1.1", 4997)] and c.ues[0].name == "ue1"
    soft, hard = raise_nofile(64)
    assert soft >= 64


def test_usims_from_the_run_directory(tmp_path: Path) -> None:
    """Keys, CAG data and the home network key come from <run>/core like in a real run."""
    from testbed.core.config import parse_core_settings
    from testbed.core.provision import materialise
    from testbed.core.udm import HomeNetworkKeys

    settings = parse_core_settings({"subscribers": [{"supi": "imsi-001010000000001", "allowed_cag_ids": [CAG]},
                                                    {"supi": "imsi-001010000000002", "cag_only": True,
                                                     "allowed_cag_ids": [0x202]}]})
    materialise(settings, tmp_path / "core")
    HomeNetworkKeys.generate().save(tmp_path / "core")
    cfg = parse_ue_config({"gnbs": ["127.0.0.1:9"], "run_dir": str(tmp_path), "scheme": 2,
                           "ues": [{"supi": "imsi-001010000000001", "name": "ue1"},
                                   {"supi": "imsi-001010000000002", "name": "ue2"}]})
    seen = []

    def factory(uc, nc, clock):  # noqa: ANN001
        seen.append(uc)
        from testbed.ue.process import default_nas_factory

        return default_nas_factory(uc, nc, clock)

    proc = UeProcess(cfg, None, nas_factory=factory)
    proc.build()
    assert [u.supi for u in seen] == ["imsi-001010000000001", "imsi-001010000000002"]
    assert seen[0].allowed_cag_ids == {CAG} and not seen[0].cag_only and seen[1].cag_only
    assert seen[0].scheme == 2 and seen[0].hn_public_key is not None and seen[0].hn_key_id > 0
    assert proc.by_name["ue2"].ue.nas.cell_allowed(("001", "01"), ()) is False  # the real NAS, CAG-only


def test_nrfemto_ue_cli_talks_to_the_process(tmp_path: Path) -> None:
    """``nrfemto ue ...`` finds <run>/ue/<node>/control.sock and prints the process's JSON answers."""
    import threading

    from typer.testing import CliRunner

    from testbed.cli.main import app

    run = tmp_path / "runs" / "r1"
    ready = threading.Event()
    stop: dict = {}

    def serve() -> None:
        async def main() -> None:
            cell = ScriptedCell(nas_responder=toy_core)
            proto, port = await start_cell(cell)
            cfg = parse_ue_config({**config(port, 2), "ues": [{"supi": "imsi-001010000000001", "name": "alice",
                                                                 "k": K, "opc": OPC}]})
            proc = UeProcess(cfg, None, control_path=run / "ue" / "uehost" / "control.sock",
                             nas_factory=fake_nas_factory)
            await proc.start()
            await wait_for(lambda: all(s.ue.sessions for s in proc.slots), 10)
            stop["loop"], stop["proc"] = asyncio.get_running_loop(), proc
            ready.set()
            await proc.wait_stopped()
            proto.transport.close()  # type: ignore[union-attr]

        asyncio.run(main())

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    assert ready.wait(20)
    try:
        cli = CliRunner()
        r = cli.invoke(app, ["ue", "list", "--run", str(run)])
        assert r.exit_code == 0, r.output
        assert [u["ue"] for u in json.loads(r.output)["ues"]] == ["alice", "ue2", "ue3"]
        r = cli.invoke(app, ["ue", "status", "alice", "--run", str(run)])
        assert r.exit_code == 0 and json.loads(r.output)["ue"]["supi"] == "imsi-001010000000001"
        r = cli.invoke(app, ["ue", "release", "alice", "1", "--run", str(run)])
        assert r.exit_code == 0 and json.loads(r.output)["outcomes"][0]["type"] == "SessionDown", r.output
        r = cli.invoke(app, ["ue", "session", "alice", "--psi", "3", "--dnn", "internet", "--run", str(run)])
        assert r.exit_code == 0 and "3" in json.loads(r.output)["sessions"], r.output
        r = cli.invoke(app, ["ue", "position", "ue2", "-5", "0", "7", "--run", str(run)])
        assert r.exit_code == 0, r.output
        assert stop["proc"].slots[1].ue.link.position == (-5, 0, 7)
        r = cli.invoke(app, ["ue", "register", "ue3", "--type", "emergency", "--wait", "0", "--run", str(run)])
        assert r.exit_code == 0, r.output
        r = cli.invoke(app, ["ue", "stats", "--run", str(run)])
        assert r.exit_code == 0 and json.loads(r.output)["ues"] == 3
        r = cli.invoke(app, ["ue", "status", "bob", "--run", str(run)])
        assert r.exit_code == 1 and "no UE 'bob'" in r.output
        r = cli.invoke(app, ["ue", "fly", "--run", str(run)])
        assert r.exit_code == 2
        r = cli.invoke(app, ["ue", "position", "ue2", "1", "--run", str(run)])
        assert r.exit_code == 2
    finally:
        stop["loop"].call_soon_threadsafe(stop["proc"].stop)
        t.join(10)


def test_command_line_flags_build_the_configuration() -> None:
    import argparse

    from testbed.ue.__main__ import config_from_flags

    ns = argparse.Namespace(gnb=["10.200.1.1", "10.200.1.2:5000"], supi=["imsi-001010000000001"], name=["ue1"],
                            range="imsi-001010000100000:50", scheme=2, position=[10, 0, 0], run_dir=None,
                            dn_route=["10.20.0.0/24"], no_register=False, no_session=True, no_tun=False,
                            plmn="001-01", knob=["ignore_cag_only"])
    c = parse_ue_config(config_from_flags(ns), "command line")
    assert c.gnb_addresses == [("10.200.1.1", 4997), ("10.200.1.2", 5000)]
    assert c.ues[0].name == "ue1" and c.range.count == 50 and c.scheme == 2 and not c.auto_session
    assert c.nas.nas_config().knobs.ignore_cag_only and c.dn_routes == ["10.20.0.0/24"]
    ns.knob = ["no_such_knob"]
    with pytest.raises(ConfigError, match="unknown knob"):
        parse_ue_config(config_from_flags(ns), "command line")
