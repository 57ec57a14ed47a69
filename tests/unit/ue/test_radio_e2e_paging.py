"""Idle UEs are reachable again: SimUe + the real femto gNB + the real core (UDR/UDM/AUSF/AMF, SMF with
an in-process UPF), no sockets, one fake clock.

(a) network-triggered (TS 23.502 4.2.3.3): the femto releases the UE (user inactivity) -> the SMF
    deactivates the user plane (UPF FAR BUFF|NOCP) -> a packet from N6 is buffered -> PFCP Session
    Report -> N1N2MessageTransfer -> NGAP PAGING -> the femto pages on PCCH -> the UE answers with a
    SERVICE REQUEST "mobile terminated services" -> INITIAL CONTEXT SETUP with the PDU session ->
    the UPF sends the buffered packet -> the UE delivers it to its TUN;
(b) UE-triggered (TS 23.502 4.2.3.2): an uplink packet while idle is held, SERVICE REQUEST "data"
    with the Uplink data status -> the packet reaches the UPF's N6 side.

Controls: a UE with another 5G-S-TMSI stays idle; nothing the femto sees carries a SUPI."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.core.amf import SmfActivate, SmfDeactivate, SmfPagingFailed
from testbed.core.smf import LocalN4, Smf, SmfConfig
from testbed.core.upf.sessions import Upf
from testbed.femto import FemtoGnb
from testbed.protocols import ngap
from testbed.ue.nas import Event, SessionUp, UeNas, UeNasConfig
from testbed.ue.radio.ue import DeliverData, SimUe, s_tmsi_of
from testbed.ue.usim import Usim, UsimConfig
from tests.unit.core.scripted_ran import OPC, K
from tests.unit.femto.harness import CAG, N3_ADDR, UPF_N3, Clock, Net, build_core, femto_config, ipv4_udp

from .test_radio_e2e_femto import CELL, DN, AirUe, advance


class PagingNet(Net):
    """The femto harness plus the SMF calls of UP (de)activation and paging, the UPF's own PFCP
    requests (pumped over LocalN4) and the G-PDUs it sends on its own (flushed buffers)."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.amf_outputs: list[Any] = []
        assert self.smf is not None
        self.smf.on_downlink_data = lambda supi, psi: self.queue.append(
            (self._amf_out, (self.amf.n1n2_message_transfer(supi, psi),)))

    def _amf_out(self, outs: list) -> None:
        self.amf_outputs += outs
        for o in outs:
            if isinstance(o, SmfActivate | SmfDeactivate | SmfPagingFailed):
                self.queue.append((self._up_call, (o,)))
        super()._amf_out([o for o in outs if not isinstance(o, SmfActivate | SmfDeactivate | SmfPagingFailed)])

    def _up_call(self, o: Any) -> None:
        assert self.smf is not None and self._loop is not None and self.amf is not None
        run = self._loop.run_until_complete
        if isinstance(o, SmfActivate):
            self._amf_out(self.amf.smf_reply(o.amf_ue_ngap_id, run(self.smf.activate(o.supi, o.pdu_session_id))))
        elif isinstance(o, SmfDeactivate):
            run(self.smf.deactivate(o.supi, o.pdu_session_ids))
        else:
            run(self.smf.paging_failed(o.supi, o.pdu_session_ids))
        self.pump()

    def _smf_call(self, o: Any) -> None:
        super()._smf_call(o)
        self.pump()  # an N2 setup response turns the FAR to FORW: the UPF sends what it buffered

    def pump(self) -> None:
        self.smf.n4.pump()  # type: ignore[union-attr]
        for gpdu, peer in self.upf.take_n3():
            assert peer[0] == N3_ADDR  # towards the femto's N3 address
            self.queue.append((lambda d: self.feed(self.femto.n3_received(d, (UPF_N3, 2152))), (gpdu,)))
        self.run()

    def dn_send(self, packet: bytes) -> bool:
        """A packet from the data network; True if it was forwarded at once (else buffered)."""
        r = self.upf.downlink(packet)
        if r is not None:
            self.feed(self.femto.n3_received(r[0], (UPF_N3, 2152)))
        self.pump()
        return r is not None


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[PagingNet, Any, Clock]]:
    amf, keys, store = build_core(tmp_path, n_subscribers=3)
    clock = Clock()
    upf = Upf(UPF_N3, "10.45.0.0/16", clock=clock)
    smf = Smf(SmfConfig(smf_n4_address=("127.0.0.2", 8805), upf_n4_address=(UPF_N3, 8805)),
              LocalN4(upf, src=("127.0.0.2", 8805)))
    femto = FemtoGnb(femto_config(cag_only_marking=True), clock=clock)
    net = PagingNet(femto, amf, upf=upf, smf=smf)
    net.start_smf()
    net.start()
    yield net, keys, clock
    net.close()
    store.close()


def air_ue(net: Net, keys: Any, clock: Clock, msin: int, port: int) -> AirUe:
    kid = next(k for k in keys.key_ids() if keys.scheme_of(k) == 1)
    usim = Usim(UsimConfig(supi=f"imsi-00101{msin:010d}", k=K, opc=OPC, scheme=1, hn_public_key=keys.public_key(kid),
                           hn_key_id=kid, allowed_cag_ids=frozenset({CAG})))
    nas = UeNas(usim, UeNasConfig(mcc="001", mnc="01"), clock=lambda: clock.now)
    ue = SimUe(nas, gnbs=[CELL], position=(3, 4, 0), rng=random.Random(msin), name=f"ue{msin}",
               auto_register="initial", auto_sessions=((1, "internet", (1, None)),))
    a = AirUe(net, ue, ("10.200.1.10", port), clock)
    a.feed(ue.start(clock.now))
    return a


def release_to_idle(net: PagingNet, a: AirUe) -> None:
    """User inactivity: the femto asks the AMF to release the UE's context (TS 38.413 8.3.2)."""
    (view,) = [v for v in net.femto.ue_views() if v.get("sti") == f"{a.ue.sti:016x}"
               and v.get("amf_ue_ngap_id") is not None]
    net._amf_in(ngap.encode(ngap.UEContextReleaseRequest(view["amf_ue_ngap_id"], view["ran_ue_ngap_id"],
                                                         ngap.Cause("radioNetwork", "user-inactivity"))), 0)
    assert a.ue.rrc.idle and a.ue.nas.cm_state == "idle" and a.ue.nas.state == "registered"


def _registered_idle(net: PagingNet, keys: Any, clock: Clock, msin: int = 1, port: int = 40000) -> tuple[AirUe, str]:
    a = air_ue(net, keys, clock, msin, port)
    (up,) = a.of(SessionUp)
    assert a.ue.nas.state == "registered" and a.ue.rrc.connected
    release_to_idle(net, a)
    (info,) = net.smf.sessions(f"imsi-00101{msin:010d}")  # type: ignore[union-attr]
    assert info.state == "inactive"
    return a, up.ipv4


def _no_supi_towards_the_femto(net: PagingNet, supis: list[str]) -> None:
    digits = [s.removeprefix("imsi-").encode() for s in supis]
    for data in net.from_amf:
        for d in digits:
            assert d not in data
    msgs = [ngap.decode(d) for d in net.from_amf]
    assert any(isinstance(m, ngap.Paging) for m in msgs)  # control: the paging is among what was searched


def test_downlink_data_pages_the_idle_ue_and_reaches_it(world) -> None:
    net, keys, clock = world
    a, ip = _registered_idle(net, keys, clock)
    ue = a.ue
    n_ics = len([d for d in net.from_amf if isinstance(ngap.decode(d), ngap.InitialContextSetupRequest)])
    pkt = ipv4_udp(DN, ip, b"ping-from-the-dn")
    assert net.dn_send(pkt) is False  # buffered at the UPF, then: report -> paging -> service request -> ICS
    assert net.upf.counters()["sessions"][0]["dl_buffered"] == 1
    assert [e for e in net.amf_events if e.type == "paging_sent"]
    assert any(isinstance(o, Event) and o.type == "ue.paged" for o in a.outputs)
    assert a.of(DeliverData)[-1] == DeliverData(1, pkt)  # the buffered packet arrived at the UE
    assert ue.rrc.connected and ue.nas.cm_state == "connected"
    acc = [e.fields for e in net.amf_events if e.type == "service_request_accepted"]
    assert acc and acc[-1]["reactivated"] == [1] and acc[-1]["service_type"] == "mobile-terminated"
    ics = [m for m in map(ngap.decode, net.from_amf) if isinstance(m, ngap.InitialContextSetupRequest)]
    assert len(ics) == n_ics + 1 and [s.pdu_session_id for s in ics[-1].pdu_sessions] == [1]
    (view,) = [v for v in net.femto.ue_views() if v.get("sti") == f"{ue.sti:016x}"]
    assert view["establishment_cause"] == "mt-Access" and view["amf_ue_ngap_id"] is not None
    # a second packet goes straight through now
    pkt2 = ipv4_udp(DN, ip, b"second")
    assert net.dn_send(pkt2) is True and a.of(DeliverData)[-1] == DeliverData(1, pkt2)
    # the UE stays registered for a while: no implicit de-registration, no registration needed
    advance(net, [a], clock, 10.0)
    assert ue.nas.state == "registered" and not [e for e in net.amf_events if e.type.startswith("deregistration")]
    assert not [e for e in net.amf_events if e.type == "paging_failed"]
    _no_supi_towards_the_femto(net, ["imsi-001010000000001"])


def test_uplink_data_while_idle_brings_the_user_plane_back(world) -> None:
    net, keys, clock = world
    a, ip = _registered_idle(net, keys, clock)
    ue = a.ue
    n6_before = len(net.n6)
    pkt = ipv4_udp(ip, DN, b"hello-dn")
    a.feed(ue.uplink_data(1, pkt, clock.now))
    assert net.n6[n6_before:] == [pkt]  # held, service request "data", user plane back, sent
    assert ue.counters["ul_data_held"] == 1 and ue.counters["ul_data_released"] == 1
    assert ue.counters["ul_data_dropped"] == 0
    acc = [e.fields for e in net.amf_events if e.type == "service_request_accepted"][-1]
    assert acc["service_type"] == "data" and acc["reactivated"] == [1]
    # and the way back works too
    back = ipv4_udp(DN, ip, b"answer")
    assert net.dn_send(back) is True and a.of(DeliverData)[-1] == DeliverData(1, back)


def test_a_ue_with_another_s_tmsi_does_not_answer(world) -> None:
    net, keys, clock = world
    a1, ip1 = _registered_idle(net, keys, clock, msin=1, port=40001)
    a2, _ = _registered_idle(net, keys, clock, msin=2, port=40002)
    assert s_tmsi_of(a1.ue.nas.guti) != s_tmsi_of(a2.ue.nas.guti)
    sent2 = a2.ue.nas.counters["nas_tx"]
    net.dn_send(ipv4_udp(DN, ip1, b"for-ue1"))
    assert a1.of(DeliverData) and a1.ue.rrc.connected
    assert a2.ue.rrc.idle and a2.ue.nas.cm_state == "idle" and a2.ue.nas.counters["nas_tx"] == sent2
    assert not a2.of(DeliverData) and not any(isinstance(o, Event) and o.type == "ue.paged" for o in a2.outputs)
