"""The femto process (asyncio adapters): UDP air and N3 on loopback, the control socket, events,
N2 through a fake SCTP association to the real in-process AMF (reconnect after it drops)."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from testbed.core.amf import SendNgap as AmfSendNgap
from testbed.femto import FemtoGnb, load_femto_config
from testbed.femto.process import FemtoProcess
from testbed.protocols import gtpu, ngap, rls, rrc
from testbed.protocols.sctp import NGAP_PPID, SctpMessage
from testbed.runtime.control import control_request
from testbed.runtime.events import EventWriter, read_events

from .harness import CAG, build_core, femto_config


class FakeAssoc:
    """An SCTP association whose peer is the sans-I/O AMF, on association id ``aid``."""

    kind = "fake"
    outbound_streams = 2

    def __init__(self, amf: Any, aid: int) -> None:
        self.amf, self.aid = amf, aid
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.sent: list[tuple[bytes, int, int]] = []
        self.down_reason: str | None = None
        self.amf.association_up(aid, "127.0.0.1:1")

    async def send(self, data: bytes, stream: int = 0, ppid: int = NGAP_PPID) -> None:
        if self.down_reason:
            raise ConnectionError(self.down_reason)
        self.sent.append((data, stream, ppid))
        for o in self.amf.ngap_received(self.aid, data, stream):
            if isinstance(o, AmfSendNgap):
                self.inbox.put_nowait(SctpMessage(o.data, o.stream, NGAP_PPID))

    async def recv(self) -> SctpMessage:
        m = await self.inbox.get()
        if m is None:
            raise ConnectionError(self.down_reason or "closed")
        return m

    def drop(self, reason: str) -> None:
        self.down_reason = reason
        self.amf.association_down(self.aid)
        self.inbox.put_nowait(None)

    def close(self) -> None:
        if not self.down_reason:
            self.drop("closed locally")


class FakeSctp:
    def __init__(self, amf: Any, fail_first: int = 0) -> None:
        self.amf, self.fail_first = amf, fail_first
        self.assocs: list[FakeAssoc] = []
        self.calls: list[tuple[str, int, str]] = []

    async def connect(self, host: str, port: int, *, mode: str = "auto", streams: int = 2) -> FakeAssoc:
        self.calls.append((host, port, mode))
        if self.fail_first > 0:
            self.fail_first -= 1
            raise ConnectionRefusedError("AMF not listening yet")
        a = FakeAssoc(self.amf, len(self.assocs) + 1)
        self.assocs.append(a)
        return a


async def _until(pred, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


class UdpPeer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: asyncio.Queue = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.put_nowait(data)


async def _udp_peer() -> tuple[asyncio.DatagramTransport, UdpPeer]:
    loop = asyncio.get_running_loop()
    tr, p = await loop.create_datagram_endpoint(UdpPeer, local_addr=("127.0.0.1", 0))
    return tr, p


async def _drain(p: UdpPeer, wait: float = 0.3) -> list[bytes]:
    out = []
    try:
        while True:
            out.append(await asyncio.wait_for(p.got.get(), wait))
    except TimeoutError:
        return out


def test_process_end_to_end_on_loopback(tmp_path: Path) -> None:
    amf, _, store = build_core(tmp_path)
    cfg = femto_config(air_address="127.0.0.1", air_port=0, n3_address="127.0.0.1", n3_port=0,
                       amf_address="127.0.0.1", radio_enabled_at_start=False, reconnect_min_s=0.1,
                       reconnect_max_s=0.2)
    events_path = tmp_path / "events" / "femto.jsonl"
    sock = tmp_path / "femto" / "control.sock"

    async def main() -> None:
        sctp = FakeSctp(amf, fail_first=1)
        events = EventWriter(events_path, "femto")
        proc = FemtoProcess(cfg, events, control_path=sock, connect=sctp.connect, tick_s=0.05,
                            femto=FemtoGnb(cfg))
        await proc.start()
        try:
            await _until(lambda: proc.femto.ngap.state == "up")
            assert len(sctp.calls) == 2 and sctp.calls[0] == ("127.0.0.1", 38412, "auto")  # one refused, retried
            data, stream, ppid = sctp.assocs[0].sent[0]
            assert isinstance(ngap.decode(data), ngap.NGSetupRequest) and stream == 0 and ppid == 60
            # radio off until allowed: a heartbeat is not answered
            tr, ue = await _udp_peer()
            air = proc.air_address
            tr.sendto(rls.Heartbeat(7, 3, 4, 0).encode(), air)
            assert await _drain(ue) == []
            reply = await asyncio.to_thread(control_request, sock, {"op": "radio_on"})
            assert reply["ok"] and reply["radio"] == {"allowed": True, "on": True}
            tr.sendto(rls.Heartbeat(7, 3, 4, 0).encode(), air)
            got = [rls.decode(d) for d in await _drain(ue)]
            assert isinstance(got[0], rls.HeartbeatAck) and got[0].dbm == -5
            sib1 = [rrc.decode(m.payload, m.pdu) for m in got if isinstance(m, rls.PduTransmission)][-1]
            assert isinstance(sib1, rrc.Sib1) and sib1.cag_ids == (CAG,)
            # malformed datagrams on both ports: dropped, counted, the process lives on
            tr.sendto(b"\x03garbage", air)
            tr.sendto(b"\x30\xff\x00", proc.n3_address)
            tr.sendto(gtpu.EchoRequest(9).encode(), proc.n3_address)
            echo = await asyncio.wait_for(ue.got.get(), 2)
            assert gtpu.decode(echo) == gtpu.EchoResponse(9)
            counters = (await asyncio.to_thread(control_request, sock, {"op": "counters"}))["counters"]
            assert counters["radio"]["drop_malformed_rls"] == 1 and counters["n3"]["drop_malformed"] == 1
            status = await asyncio.to_thread(control_request, sock, {"op": "status"})
            assert status["n2"]["state"] == "up" and status["ues"] == 1 and status["cell"]["cag_ids"] == [CAG]
            ues = (await asyncio.to_thread(control_request, sock, {"op": "ues"}))["ues"]
            assert ues[0]["sti"] == f"{7:016x}" and ues[0]["rrc_state"] == "idle"
            bad = await asyncio.to_thread(control_request, sock, {"op": "nonsense"})
            assert not bad["ok"]
            # the AMF goes away: the association drops, the femto reconnects and repeats NG Setup
            sctp.assocs[0].drop("ABORT")
            await _until(lambda: len(sctp.assocs) == 2 and proc.femto.ngap.state == "up")
            assert isinstance(ngap.decode(sctp.assocs[1].sent[0][0]), ngap.NGSetupRequest)
            # the control plane drops the association itself (backhaul loss): same recovery
            assert (await asyncio.to_thread(control_request, sock, {"op": "n2_close"}))["ok"]
            await _until(lambda: len(sctp.assocs) == 3 and proc.femto.ngap.state == "up")
            tr.close()
        finally:
            proc.stop()
            await proc.wait_stopped()
            events.close()
        assert not sock.exists()

    asyncio.run(main())
    types = [e["type"] for e in read_events(events_path)]
    assert types[0] == "femto.started"
    assert types.count("femto.ready") == 1 and types.count("femto.ng_setup_accepted") == 3
    assert "femto.n2_connect_failed" in types and "femto.n2_down" in types and "femto.radio_on" in types
    detected = read_events(events_path, "femto.ue_detected")
    assert detected and detected[0]["component"] == "femto"
    store.close()


def test_config_file_yaml_json_and_errors(tmp_path: Path) -> None:
    from testbed.errors import ConfigError

    y = tmp_path / "femto.yaml"
    y.write_text("name: femto1\nmcc: '001'\nmnc: '01'\ngnb_id: 1\ncag_ids: [0x101]\ncag_only_marking: true\n"
                 "knobs: {broadcast_extra_cag_ids: [0xBAD]}\n")
    c = load_femto_config(y)
    assert c.nci == (1 << 4) | 1 and c.broadcast_cag_ids == (0x101, 0xBAD) and c.knobs.active() == [
        "broadcast_extra_cag_ids"]
    assert c.radio_enabled_at_start is False and c.air_port == 4997
    j = tmp_path / "femto.json"
    j.write_text(json.dumps({"gnb_id": 5, "gnb_id_bits": 24, "nr_cell_id": (5 << 12) | 7}))
    assert load_femto_config(j).nci == (5 << 12) | 7
    for text, path in (("gnb_id: 5\ngnb_id_bits: 22\nnr_cell_id: 1\n", "nr_cell_id"),
                       ("knobs: {skip_chekcs: true}\n", "knobs.skip_chekcs"),
                       ("mcc: 1\n", "mcc"),
                       ("cag_only_marking: true\n", ""),
                       ("gnb_id: 5000000\ngnb_id_bits: 22\n", ""),
                       ("cag_ids: [1, 1]\n", "cag_ids"),
                       ("air_address: nope\n", "air_address")):
        y.write_text(text)
        with pytest.raises(ConfigError) as err:
            load_femto_config(y)
        assert str(y) in str(err.value) and path in str(err.value)
    y.write_text(": : :")
    with pytest.raises(ConfigError):
        load_femto_config(y)


def test_main_reports_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from testbed.femto.__main__ import main

    bad = tmp_path / "f.yaml"
    bad.write_text("tac: -1\n")
    assert main(["--config", str(bad)]) == 2
    assert "tac" in capsys.readouterr().err


def test_event_fields_never_clobber_the_event_line(tmp_path: Path) -> None:
    events = EventWriter(tmp_path / "e.jsonl", "femto")
    proc = FemtoProcess(femto_config(), events)
    from testbed.femto.outputs import Event

    proc.execute([Event("femto.x", "info", {"type": "evil", "severity": "x", "n": 1})])
    events.close()
    (e,) = read_events(tmp_path / "e.jsonl")
    assert e["type"] == "femto.x" and e["field_type"] == "evil" and e["severity"] == "info"


def test_udp_ports_really_bound(tmp_path: Path) -> None:
    """The adapters bind what the config says (air and N3 on the given address)."""
    cfg = femto_config(air_address="127.0.0.1", air_port=0, n3_address="127.0.0.1", n3_port=0)

    async def main() -> tuple[Any, Any]:
        proc = FemtoProcess(cfg, EventWriter(tmp_path / "e.jsonl", "femto"), connect=_never)
        await proc.start()
        a, n = proc.air_address, proc.n3_address
        await proc.close()
        return a, n

    air, n3 = asyncio.run(main())
    assert air[0] == "127.0.0.1" and n3[0] == "127.0.0.1" and air[1] != n3[1]
    # after close the port is free again
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", air[1]))


async def _never(*a: Any, **kw: Any) -> Any:
    await asyncio.sleep(3600)
