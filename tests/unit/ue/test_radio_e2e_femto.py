"""SimUe + the real femto gNB (testbed.femto, sans-I/O) + the real core (UDR/UDM/AUSF/AMF, SMF with an
in-process UPF): RLS heartbeats, MIB/SIB1, cell selection, RRC setup, registration, PDU session and
user-plane packets both ways through femto and UPF; paging and radio link failure. No sockets, one
fake clock shared by UEs and femto."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.core.smf import LocalN4, Smf, SmfConfig
from testbed.core.upf.sessions import Upf
from testbed.femto import FemtoGnb
from testbed.ue.nas import Registered, SessionUp, StartTimer, StopTimer, UeNas, UeNasConfig
from testbed.ue.radio.ue import DeliverData, SimUe, Transmit, s_tmsi_of
from testbed.ue.usim import Usim, UsimConfig
from tests.unit.core.scripted_ran import OPC, K
from tests.unit.femto.harness import CAG, FEMTO_ADDR, UPF_N3, Clock, Net, build_core, femto_config, ipv4_udp

CELL = (FEMTO_ADDR, 4997)
DN = "10.20.0.10"


class AirUe:
    """A SimUe plugged into the femto harness: ``receive`` is called for the femto's SendAir to us."""

    def __init__(self, net: Net, ue: SimUe, addr: tuple[str, int], clock: Clock) -> None:
        self.net, self.ue, self.addr, self.clock = net, ue, addr, clock
        self.timers: dict[str, float] = {}
        self.outputs: list[Any] = []
        net.ues[addr] = self  # type: ignore[assignment]

    def receive(self, data: bytes) -> None:
        self.feed(self.ue.datagram_received(data, CELL, self.clock.now))

    def feed(self, outs: list[Any]) -> None:
        for o in outs:
            if isinstance(o, Transmit):
                self.net.air(o.data, self.addr)
            elif isinstance(o, StartTimer):
                self.timers[o.timer_id] = self.clock.now + o.seconds
            elif isinstance(o, StopTimer):
                self.timers.pop(o.timer_id, None)
            else:
                self.outputs.append(o)

    def of(self, cls: type) -> list[Any]:
        return [o for o in self.outputs if isinstance(o, cls)]


def advance(net: Net, ues: list[AirUe], clock: Clock, seconds: float, step: float = 0.1) -> None:
    end = clock.now + seconds
    while clock.now < end - 1e-9:
        clock.now = min(end, clock.now + step)
        for u in ues:
            for tid, t in sorted(u.timers.items(), key=lambda kv: kv[1]):
                if t <= clock.now and tid in u.timers:
                    del u.timers[tid]
                    u.feed(u.ue.timer_expired(tid, clock.now))
        net.tick()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Net, Any, Clock]]:
    amf, keys, store = build_core(tmp_path, n_subscribers=3)
    upf = Upf(UPF_N3, "10.45.0.0/16")
    smf = Smf(SmfConfig(smf_n4_address=("127.0.0.2", 8805), upf_n4_address=(UPF_N3, 8805)),
              LocalN4(upf, src=("127.0.0.2", 8805)))
    clock = Clock()
    femto = FemtoGnb(femto_config(cag_only_marking=True), clock=clock)
    net = Net(femto, amf, upf=upf, smf=smf)
    net.start_smf()
    net.start()
    yield net, keys, clock
    net.close()
    store.close()


def air_ue(net: Net, keys: Any, clock: Clock, msin: int, *, allowed: set[int] | None = None,
           port: int = 40000) -> AirUe:
    kid = next(k for k in keys.key_ids() if keys.scheme_of(k) == 1)
    usim = Usim(UsimConfig(supi=f"imsi-00101{msin:010d}", k=K, opc=OPC, scheme=1, hn_public_key=keys.public_key(kid),
                           hn_key_id=kid, allowed_cag_ids=frozenset({CAG} if allowed is None else allowed)))
    nas = UeNas(usim, UeNasConfig(mcc="001", mnc="01"), clock=lambda: clock.now)
    ue = SimUe(nas, gnbs=[CELL], position=(3, 4, 0), rng=random.Random(msin), name=f"ue{msin}",
               auto_register="initial", auto_sessions=((1, "internet", (1, None)),))
    a = AirUe(net, ue, ("10.200.1.10", port), clock)
    a.feed(ue.start(clock.now))
    return a


def test_register_session_and_user_plane_through_the_real_femto(world) -> None:
    net, keys, clock = world
    a = air_ue(net, keys, clock, 1)
    ue = a.ue
    assert ue.camp == "normal" and ue.via == "cag" and ue.serving == net.femto.cell.sti
    (reg,) = a.of(Registered)
    (up,) = a.of(SessionUp)
    assert ue.nas.state == "registered" and up.ipv4.startswith("10.45.")
    assert net.amf_ev("registration_accept") or ue.nas.registered
    # uplink: UE -> femto -> N3 -> UPF -> N6
    pkt = ipv4_udp(up.ipv4, DN, b"ping")
    a.feed(ue.uplink_data(1, pkt, clock.now))
    assert net.n6 and net.n6[-1] == pkt
    # downlink: N6 -> UPF -> N3 -> femto -> UE -> (TUN)
    back = ipv4_udp(DN, up.ipv4, b"pong")
    net.n6_downlink(back)
    assert a.of(DeliverData)[-1] == DeliverData(1, back)
    # heartbeats keep the link up for a while
    advance(net, [a], clock, 5.0)
    assert ue.serving is not None and ue.rrc.connected and ue.counters["radio_link_failures"] == 0
    assert ue.link.counters["acks_sent"] > 0  # the femto's dedicated RRC carries pduIds: acknowledged


def test_release_then_paging_brings_the_idle_ue_back(world) -> None:
    from testbed.protocols import ngap

    net, keys, clock = world
    a = air_ue(net, keys, clock, 2)
    ue = a.ue
    assert ue.nas.state == "registered" and ue.rrc.connected
    s_tmsi = s_tmsi_of(ue.nas.guti)
    # user inactivity: the femto asks the AMF to release the UE -> RRCRelease -> RRC_IDLE / 5GMM-IDLE
    (view,) = [v for v in net.femto.ue_views() if v.get("amf_ue_ngap_id") is not None]
    net._amf_in(ngap.encode(ngap.UEContextReleaseRequest(view["amf_ue_ngap_id"], view["ran_ue_ngap_id"],
                                                         ngap.Cause("radioNetwork", "user-inactivity"))), 0)
    assert ue.rrc.idle and ue.nas.cm_state == "idle" and ue.nas.state == "registered"
    # paging with our 5G-S-TMSI: RRCSetupRequest with ng-5G-S-TMSI-Part1, back to RRC_CONNECTED with a
    # SERVICE REQUEST of type "mobile terminated services" (TS 24.501 5.6.2.2.1)
    sent_before = ue.nas.counters["service_requests"]
    net.feed(net.femto.page(s_tmsi))
    assert ue.rrc.connected and ue.nas.state == "registered"
    assert ue.nas.counters["service_requests"] == sent_before + 1
    (view,) = [v for v in net.femto.ue_views() if v.get("amf_ue_ngap_id") is not None]
    assert view["s_tmsi"] == f"{s_tmsi:012x}"  # Part1 of the request + Part2 of the complete, joined
    assert view["establishment_cause"] == "mt-Access"


def test_femto_radio_off_is_a_radio_link_failure(world) -> None:
    net, keys, clock = world
    a = air_ue(net, keys, clock, 3)
    ue = a.ue
    assert ue.rrc.connected
    net.feed(net.femto.radio_off())
    advance(net, [a], clock, 3.5)
    assert ue.serving is None and ue.counters["radio_link_failures"] == 1
    assert ue.nas.cm_state == "idle"
    net.feed(net.femto.radio_on())
    advance(net, [a], clock, 2.0)
    assert ue.serving == net.femto.cell.sti and ue.camp == "normal"
