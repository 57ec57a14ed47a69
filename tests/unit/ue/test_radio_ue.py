"""SimUe: the radio side composed with a NAS layer, against scripted cells (fake clock, no sockets)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.protocols import rls, rrc
from testbed.protocols.rrc import Channel
from testbed.ue.nas.outputs import Deregistered, Registered, RegistrationFailed, SessionUp
from testbed.ue.radio.ue import DeliverData, RadioConfig, SimUe, Transmit, s_tmsi_of

from .fake_nas import FakeNas, ScriptedCell, UeDriver, toy_core

A1, A2 = ("10.200.1.1", 4997), ("10.200.1.2", 4997)
CAG = 0x101


def make(cells: dict, nas: FakeNas | None = None, *, position=(10, 0, 0), config: RadioConfig | None = None,
         auto_register: str | None = "initial", auto_sessions=((1, "internet", (1, None)),)) -> UeDriver:
    ue = SimUe(nas or FakeNas({CAG}), gnbs=list(cells), position=position, rng=random.Random(7),
               config=config, auto_register=auto_register, auto_sessions=auto_sessions, name="ue1")
    return UeDriver(ue, cells)


def test_camps_registers_and_brings_the_session_up() -> None:
    cell = ScriptedCell(cag_ids=(CAG,), cag_only=True, nas_responder=toy_core)
    d = make({A1: cell})
    d.start()
    ue = d.ue
    assert ue.serving == cell.sti and ue.camp == "normal" and ue.via == "cag"
    assert ue.nas.calls[0] == ("cell_changed", ("001", "01"), 1, (CAG,))
    ctx = cell.ues[ue.sti]
    req = ctx.setup_requests[0]
    assert req.establishment_cause == "mo-Signalling" and not req.identity_is_s_tmsi_part1
    assert ctx.setup_completes[0].nas_pdu == b"REG:initial"
    assert ctx.setup_completes[0].selected_plmn_index == 2  # the NPN entry: access through the CAG
    assert ctx.nas_up == [b"REG:initial", b"REGCOMPLETE", b"PDUREQ:1:internet"]
    assert any(isinstance(o, Registered) for o in d.outputs)
    ups = [o for o in d.outputs if isinstance(o, SessionUp)]
    assert len(ups) == 1 and ue.sessions == {1: ups[0].ipv4}
    assert [e.type for e in d.events()][:3] == ["ue.registration_deferred", "cell.selected", "rrc.connected"]
    st = ue.status()
    assert st["rrc_state"] == "RRC_CONNECTED" and st["cells"][0]["suitable"] and st["sessions"] == {"1": ups[0].ipv4}
    # heartbeats keep going every second
    hb = cell.heartbeats
    d.advance(3.0)
    assert cell.heartbeats == hb + 3


def test_strongest_suitable_of_two_cells() -> None:
    near = ScriptedCell(0xA1, position=(0, 0, 0), nas_responder=toy_core)
    far = ScriptedCell(0xA2, position=(500, 0, 0), nas_responder=toy_core)
    d = make({A1: far, A2: near}, position=(10, 0, 0), auto_register=None)
    d.start()
    assert d.ue.serving == 0xA1
    # the UE moves next to the other cell: reselection in RRC_IDLE
    d.feed(d.ue.set_position((495, 0, 0)))
    d.advance(1.0)
    assert d.ue.serving == 0xA2 and d.ue.counters["reselections"] == 2


def test_radio_link_failure_releases_and_tells_the_nas() -> None:
    cell = ScriptedCell(nas_responder=toy_core)
    d = make({A1: cell})
    d.start()
    assert d.ue.rrc.connected
    cell.radio_on = False
    d.advance(1.0)
    d.advance(1.0)
    assert d.ue.serving == cell.sti  # 2 s are not yet a failure
    d.advance(1.0)
    assert d.ue.serving is None and d.ue.rrc.idle and d.ue.camp == "none"
    assert ("connection_released", "radio-link-failure") in d.ue.nas.calls
    assert [e.fields["rrc"] for e in d.events("radio.link_failure")] == ["RRC_CONNECTED"]
    assert d.events("cell.none")
    # the cell comes back (it forgot the silent UE too): MIB/SIB1 again, camped again
    cell.radio_on = True
    cell.ues.clear()
    d.advance(1.0)
    assert d.ue.serving == cell.sti


def test_after_a_radio_link_failure_the_ue_camps_again_from_the_periodic_system_information() -> None:
    """The UE forgets a lost cell with its MIB/SIB1 (TS 38.304 5.2: no suitable cell without system
    information); the cell, which still knows the UE, only broadcasts them periodically (TS 38.331
    5.2.1), and that is what brings the UE back. Control: a cell that never repeats them."""
    for si_every, camps in ((5, True), (None, False)):
        cell = ScriptedCell(nas_responder=toy_core, si_every=si_every)
        d = make({A1: cell})
        d.start()
        cell.radio_on = False
        d.advance(3.0)
        assert d.ue.serving is None and d.ue.counters["radio_link_failures"] == 1
        cell.radio_on = True  # cell.ues kept: no "first heartbeat" MIB/SIB1
        d.advance(1.0)
        assert d.ue.serving is None and d.ue.cells  # heard again, but no system information yet
        d.advance(5.0)
        assert (d.ue.serving == cell.sti) is camps, si_every
        assert d.ue.rrc.idle and d.ue.camp == ("normal" if camps else "none")


def test_cause_76_makes_the_cag_cell_unsuitable_and_the_ue_reselects() -> None:
    def reject_76(ue, nas):
        return [b"REJECT:76"] if nas.startswith(b"REG") else []

    cag = ScriptedCell(0xCA6, cag_ids=(CAG,), cag_only=True, position=(0, 0, 0), nas_responder=reject_76)
    plain = ScriptedCell(0x91A, position=(100, 0, 0), nas_responder=toy_core)
    d = make({A1: cag, A2: plain}, position=(0, 0, 0), auto_sessions=())
    d.start()
    # initial camping on the strong CAG cell, rejected with #76 there
    assert any(isinstance(o, RegistrationFailed) and o.cause == 76 for o in d.outputs)
    assert CAG not in d.ue.nas.allowed
    d.inject(A1, cag.release(d.ue.sti))
    assert d.ue.serving == plain.sti and d.ue.via == "plmn"
    assert d.ue.nas.calls[-1] == ("cell_changed", ("001", "01"), 1, ())


def test_non_member_camps_in_limited_service_and_only_emergency_registers() -> None:
    cell = ScriptedCell(cag_ids=(CAG,), cag_only=True, nas_responder=toy_core)
    nas = FakeNas(set())
    d = make({A1: cell}, nas, auto_register="initial")
    d.start()
    assert d.ue.camp == "limited" and d.ue.serving == cell.sti
    assert not cell.ues[d.ue.sti].setup_requests  # the normal registration waits
    assert d.ue.status()["pending_registration"] == "initial"
    d.feed(d.ue.register("emergency", d.now))
    req = cell.ues[d.ue.sti].setup_requests[0]
    assert req.establishment_cause == "emergency"
    assert cell.ues[d.ue.sti].setup_completes[0].selected_plmn_index == 1
    assert ("register", "emergency") in nas.calls


def test_paging_triggers_the_nas_service_request_with_s_tmsi() -> None:
    cell = ScriptedCell(nas_responder=toy_core)
    d = make({A1: cell}, auto_sessions=())
    d.start()
    s_tmsi = s_tmsi_of(d.ue.nas.guti)
    assert s_tmsi is not None
    d.inject(A1, cell.release(d.ue.sti))
    assert d.ue.rrc.idle and ("connection_released", "rrc-release") in d.ue.nas.calls
    d.inject(A1, cell.page(12345))  # someone else
    assert ("paging_received",) not in d.ue.nas.calls
    d.inject(A1, cell.page(s_tmsi))
    assert ("paging_received",) in d.ue.nas.calls
    req = cell.ues[d.ue.sti].setup_requests[-1]
    assert req.identity_is_s_tmsi_part1 and req.ue_identity == s_tmsi & ((1 << 39) - 1)
    assert req.establishment_cause == "mt-Access"
    assert cell.ues[d.ue.sti].setup_completes[-1].s_tmsi_part2 == s_tmsi >> 39


def test_paging_without_nas_handler_registers_again() -> None:
    cell = ScriptedCell(nas_responder=toy_core)
    d = make({A1: cell}, FakeNas({CAG}, paging_handler=False), auto_sessions=())
    d.start()
    s_tmsi = s_tmsi_of(d.ue.nas.guti)
    d.inject(A1, cell.release(d.ue.sti))
    d.inject(A1, cell.page(s_tmsi))
    assert ("register", "mobility") in d.ue.nas.calls
    assert cell.ues[d.ue.sti].setup_requests[-1].establishment_cause == "mt-Access"


def test_user_plane_only_with_the_serving_cell() -> None:
    cell = ScriptedCell(nas_responder=toy_core)
    other = ScriptedCell(0x0BAD, position=(1000, 0, 0))
    d = make({A1: cell, A2: other})
    d.start()
    assert d.ue.sessions
    pkt = bytes.fromhex("4500001c000000004001") + bytes(18)
    assert d.ue.datagram_received(cell.data(1, pkt), A1, d.now) == [DeliverData(1, pkt)]
    assert d.ue.datagram_received(cell.data(2, pkt), A1, d.now) == []  # no such session
    assert d.ue.datagram_received(other.data(1, pkt), A2, d.now) == []  # not the serving cell
    assert d.ue.counters["dl_data_dropped"] == 2
    out = d.ue.uplink_data(1, pkt, d.now)
    assert len(out) == 1 and isinstance(out[0], Transmit) and out[0].address == A1
    assert rls.decode(out[0].data) == rls.PduTransmission(d.ue.sti, rls.PduType.DATA, 1, pkt, 0)
    assert d.ue.uplink_data(5, pkt, d.now) == []
    d.inject(A1, cell.release(d.ue.sti))
    assert d.ue.uplink_data(1, pkt, d.now) == []  # RRC_IDLE: dropped


def test_rrc_from_another_cell_is_ignored() -> None:
    cell = ScriptedCell(nas_responder=toy_core)
    other = ScriptedCell(0x0BAD, position=(1000, 0, 0))
    d = make({A1: cell, A2: other}, auto_sessions=())
    d.start()
    assert d.ue.datagram_received(other.dl_nas(b"ACCEPT:00000001"), A2, d.now) == []
    assert d.ue.datagram_received(other.release(d.ue.sti), A2, d.now) == []
    assert d.ue.rrc.connected and d.ue.counters["rrc_other_cell"] == 2


def test_rls_acknowledgements_both_ways() -> None:
    cell = ScriptedCell(nas_responder=toy_core, pdu_ids=True)
    d = make({A1: cell}, config=RadioConfig(request_acks=True, ack_delay_s=0.1))
    d.start()
    assert "rls.ack_send" in d.timers
    d.advance(0.2)
    ctx = cell.ues[d.ue.sti]
    assert len(ctx.acks) >= 3  # MIB, SIB1, RRCSetup, DL NAS ... were acknowledged
    d.advance(5.0)
    assert not d.events("rls.transmission_failure")  # the cell acknowledged our RRC PDUs
    assert d.ue.link.counters["acks_received"] > 0
    # a cell that stops acknowledging: transmission failures are reported after ~3 s
    cell.handle = _no_ack(cell.handle)
    d.feed(d.ue.deregister(False, d.now))
    d.advance(5.0)
    assert d.events("rls.transmission_failure")


def _no_ack(handle):
    def wrapped(data, address):
        return [dg for dg in handle(data, address) if rls.decode(dg).__class__ is not rls.PduTransmissionAck]
    return wrapped


def test_deregistration_switch_off_releases_locally() -> None:
    cell = ScriptedCell(nas_responder=toy_core)
    d = make({A1: cell}, auto_sessions=())
    d.start()
    d.feed(d.ue.deregister(True, d.now))
    assert any(isinstance(o, Deregistered) for o in d.outputs)
    assert d.ue.rrc.idle and ("connection_released", "switch-off") in d.ue.nas.calls


def test_rrc_reject_then_success() -> None:
    cell = ScriptedCell(nas_responder=toy_core, reject=1, reject_wait=2)
    d = make({A1: cell}, auto_sessions=())
    d.start()
    assert d.ue.rrc.describe() == "RRC_IDLE (waiting after RRCReject)"
    d.advance(2.0)
    assert d.ue.rrc.connected and d.ue.registered
    assert len(cell.ues[d.ue.sti].setup_requests) == 2


def test_garbage_and_bad_rrc_never_crash() -> None:
    cell = ScriptedCell(nas_responder=toy_core)
    d = make({A1: cell}, auto_sessions=())
    d.start()
    for junk in (b"", b"\x03", cell.pdu(Channel.DL_DCCH, b"\xff\xff\xff\xff"), cell.pdu(Channel.BCCH_DL_SCH, b"\x99"),
                 cell.pdu(Channel.UL_DCCH, b"\x00"), cell.pdu(Channel.DL_CCCH, rrc.encode(rrc.RRCSetup(0)))):
        d.ue.datagram_received(junk, A1, d.now)
    assert d.ue.rrc.connected
    c = d.ue.status()["counters"]
    assert c["rls_rx_malformed"] == 2 and c["rrc_malformed"] == 1 and c["rrc_wrong_direction"] == 1
    assert c["rrc_rrc_malformed"] if "rrc_rrc_malformed" in c else c["rrc_malformed"] >= 1


def test_s_tmsi_of_string_and_object() -> None:
    from testbed.crypto.identity import Guti5g

    g = Guti5g("001", "01", 1, 0x155, 0x2A, 0xDEADBEEF)
    expect = (0x155 << 38) | (0x2A << 32) | 0xDEADBEEF
    assert s_tmsi_of(g) == expect
    assert s_tmsi_of("5g-guti-00101011552adeadbeef") == expect
    assert s_tmsi_of("5g-guti-001001011552adeadbeef") == expect  # 3-digit MNC
    assert s_tmsi_of(None) is None and s_tmsi_of("junk") is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from([0, 1, 2, 3, 4, 5, 7, 9]), st.binary(max_size=48),
                          st.sampled_from([rls.PduType.RRC, rls.PduType.DATA]), st.integers(0, 3)),
                max_size=8),
       st.booleans())
def test_random_downlink_never_crashes(pdus, connected: bool) -> None:
    cell = ScriptedCell(nas_responder=toy_core)
    d = make({A1: cell}, auto_register="initial" if connected else None, auto_sessions=())
    d.start()
    for channel, data, ptype, pdu_id in pdus:
        if ptype == rls.PduType.RRC and channel > 7:
            dgram = bytes.fromhex("0303030006") + cell.sti.to_bytes(8, "big") + bytes((1,)) + \
                pdu_id.to_bytes(4, "big") + channel.to_bytes(4, "big") + len(data).to_bytes(4, "big") + data
        else:
            dgram = rls.PduTransmission(cell.sti, ptype, channel, data, pdu_id).encode()
        d.feed(d.ue.datagram_received(dgram, A1, d.now))
    d.advance(3.0)
    assert d.ue.serving == cell.sti or d.ue.serving is None
    d.ue.status()
