"""The radio side alone (Cell) against scripted RLS UEs: heartbeats, system information, RRC, drops."""

from __future__ import annotations

import pytest

from testbed.femto import Cell, signal_dbm
from testbed.femto.outputs import (
    DownlinkData,
    DownlinkNas,
    Event,
    InitialNas,
    PageUes,
    RadioLost,
    ReleaseRrc,
    SendAir,
    UplinkData,
    UplinkNas,
)
from testbed.protocols import ngap, rls, rrc

from .harness import CAG, Clock, femto_config

UE = ("10.200.1.10", 40000)
STI = 0xABCDEF0123456789


def make_cell(**kw) -> tuple[Cell, Clock]:
    clock = Clock()
    cell = Cell(femto_config(**kw), clock=clock, sti=0x1111)
    cell.set_radiating(True)
    return cell, clock


def air(outs: list, addr=UE) -> list:
    return [rls.decode(o.data) for o in outs if isinstance(o, SendAir) and o.addr == addr]


def rrc_msgs(outs: list, addr=UE) -> list:
    return [(rrc.Channel(m.payload), rrc.decode(m.payload, m.pdu), m.pdu_id) for m in air(outs, addr)
            if isinstance(m, rls.PduTransmission) and m.pdu_type == rls.PduType.RRC]


def hb(pos=(3, 4, 0), sti=STI) -> bytes:
    return rls.Heartbeat(sti, *pos).encode()


def rrc_pdu(msg: rrc.RrcMessage, pdu_id: int = 7, sti=STI) -> bytes:
    return rls.PduTransmission(sti, rls.PduType.RRC, int(msg.channel), rrc.encode(msg), pdu_id).encode()


def connect(cell: Cell, nas_pdu: bytes = b"\x7e\x00\x41\x01") -> list:
    cell.air_received(hb(), UE)
    cell.air_received(rrc_pdu(rrc.RRCSetupRequest(0x55)), UE)
    return cell.air_received(rrc_pdu(rrc.RRCSetupComplete(nas_pdu)), UE)


def test_signal_strength_is_minus_the_distance() -> None:
    assert signal_dbm((0, 0, 0), (3, 4, 0)) == -5
    assert signal_dbm((0, 0, 0), (0, 0, 0)) == -1
    assert signal_dbm((10, 0, 0), (-20, 0, 40)) == -50
    assert signal_dbm((0, 0, 0), (200, 0, 0)) < rls.NO_COVERAGE_DBM


def test_heartbeat_ack_and_system_information_on_first_contact() -> None:
    cell, clock = make_cell(position=(1, 2, 3))
    outs = cell.air_received(hb((4, 6, 3)), UE)
    msgs = air(outs)
    assert isinstance(msgs[0], rls.HeartbeatAck) and msgs[0].dbm == -5 and msgs[0].sti == 0x1111
    assert outs[0].data[:4] == b"\x03\x03\x03\x00"  # marker + version 3.3.0
    si = rrc_msgs(outs)
    assert [(ch, type(m)) for ch, m, _ in si] == [(rrc.Channel.BCCH_BCH, rrc.Mib),
                                                 (rrc.Channel.BCCH_DL_SCH, rrc.Sib1)]
    assert all(pid == 0 for _, _, pid in si)  # broadcast: no acknowledgement wanted
    assert not si[0][1].cell_barred
    sib1 = si[1][1]
    assert sib1.plmn == ngap.Plmn("001", "01") and sib1.tac == 1 and sib1.nci == (1 << 4) | 1
    assert sib1.cag_ids == (CAG,) and not sib1.is_cag_only
    assert any(isinstance(e, Event) and e.type == "femto.ue_detected" for e in outs)
    # a known UE: only the ACK; its position updates the strength
    outs = cell.air_received(hb((1, 2, 3)), UE)
    assert [type(m) for m in air(outs)] == [rls.HeartbeatAck] and air(outs)[0].dbm == -1
    # SIB1 period
    clock.now += 1.0
    cell.air_received(hb(), UE)
    assert rrc_msgs(cell.tick()) == []
    clock.now += 4.5
    cell.air_received(hb(), UE)
    assert [type(m) for _, m, _ in rrc_msgs(cell.tick())] == [rrc.Mib, rrc.Sib1]


def test_closed_cag_cell_and_extra_cag_ids_in_sib1() -> None:
    cell, _ = make_cell(cag_ids=(CAG, 0x202), cag_only_marking=True, knobs={"broadcast_extra_cag_ids": [0xBAD]})
    sib1 = rrc_msgs(cell.air_received(hb(), UE))[1][1]
    assert sib1.cag_ids == (CAG, 0x202, 0xBAD) and sib1.is_cag_only
    plain, _ = make_cell(cag_ids=())
    sib1 = rrc_msgs(plain.air_received(hb(), UE))[1][1]
    assert sib1.cag_ids == () and not sib1.is_cag_only


def test_radio_off_is_silence() -> None:
    clock = Clock()
    cell = Cell(femto_config(), clock=clock)
    for _ in range(3):
        assert cell.air_received(hb(), UE) == []
        clock.now += 6
        assert cell.tick() == []
    assert cell.air_received(rrc_pdu(rrc.RRCSetupRequest(1)), UE) == []
    assert cell.ues == {} and cell.counters["ignored_radio_off"] == 4
    # switched on: answers; switched off again: forgets the UEs and is silent
    cell.set_radiating(True)
    assert air(cell.air_received(hb(), UE))
    connect(cell)
    outs = cell.set_radiating(False)
    assert RadioLost(1) in outs and cell.ues == {}
    assert cell.air_received(hb(), UE) == []


def test_ue_dropped_after_two_seconds_without_heartbeat() -> None:
    cell, clock = make_cell()
    cell.air_received(hb(), UE)
    other = ("10.200.1.11", 40000)
    cell.air_received(hb(sti=5), other)
    clock.now += 1.9
    cell.air_received(hb(sti=5), other)
    assert not any(isinstance(o, RadioLost | Event) for o in cell.tick())
    clock.now += 0.2
    outs = cell.tick()
    assert list(cell.ues) == [2]  # the other UE kept heart-beating
    assert not any(isinstance(o, RadioLost) for o in outs)  # no NG connection: nothing to release
    assert [e.fields["reason"] for e in outs if isinstance(e, Event)] == ["heartbeat-timeout"]
    # a connected UE that goes silent is reported lost (-> UE context release request)
    connect(cell)
    clock.now += 2.5
    assert RadioLost(3) in cell.tick()


def test_same_sti_from_another_address_is_another_ue() -> None:
    cell, _ = make_cell()
    cell.air_received(hb(), UE)
    cell.air_received(hb(), ("10.200.1.66", 5000))
    assert len(cell.ues) == 2
    # an RRC message from an unknown (sti, address) is dropped
    assert cell.air_received(rrc_pdu(rrc.RRCSetupRequest(1), sti=99), UE) == []
    assert cell.counters["drop_unknown_ue"] == 1


def test_rrc_setup_nas_relay_release_and_paging() -> None:
    cell, _ = make_cell()
    cell.air_received(hb(), UE)
    outs = cell.air_received(rrc_pdu(rrc.RRCSetupRequest(0x123, "mo-Data", True), pdu_id=41), UE)
    msgs = air(outs)
    assert isinstance(msgs[0], rls.PduTransmissionAck) and msgs[0].pdu_ids == (41,)
    ch, setup, pid = rrc_msgs(outs)[0]
    assert ch == rrc.Channel.DL_CCCH and isinstance(setup, rrc.RRCSetup) and pid != 0
    # RRCSetupComplete with ng-5G-S-TMSI-Part2 -> initial NAS with the whole 5G-S-TMSI
    outs = cell.air_received(rrc_pdu(rrc.RRCSetupComplete(b"\x7e\x00\x4c", setup.transaction_id,
                                                          s_tmsi_part2=0x1A5)), UE)
    init = [o for o in outs if isinstance(o, InitialNas)]
    assert init == [InitialNas(1, b"\x7e\x00\x4c", "mo-Data", (0x1A5 << 39) | 0x123)]
    # uplink / downlink NAS
    outs = cell.air_received(rrc_pdu(rrc.ULInformationTransfer(b"\x7e\x00\x43")), UE)
    assert UplinkNas(1, b"\x7e\x00\x43") in outs
    outs = cell.deliver(DownlinkNas(1, b"\x7e\x00\x42"))
    (ch, dl, pid), = rrc_msgs(outs)
    assert ch == rrc.Channel.DL_DCCH and dl.nas_pdu == b"\x7e\x00\x42" and pid
    # the UE acknowledges: nothing left to count as missing
    cell.air_received(rls.PduTransmissionAck(STI, (pid,)).encode(), UE)
    # data both ways
    assert UplinkData(1, 5, b"ip") in cell.air_received(
        rls.PduTransmission(STI, rls.PduType.DATA, 5, b"ip").encode(), UE)
    data = air(cell.deliver(DownlinkData(1, 5, b"dl")))
    assert data[0].pdu_type == rls.PduType.DATA and data[0].payload == 5 and data[0].pdu == b"dl"
    # release
    (ch, rel, _), = rrc_msgs(cell.deliver(ReleaseRrc(1)))
    assert ch == rrc.Channel.DL_DCCH and isinstance(rel, rrc.RRCRelease)
    assert cell.ues[1].rrc_state == "idle"
    # after release: UL information transfer and data are out of state
    assert not [o for o in cell.air_received(rrc_pdu(rrc.ULInformationTransfer(b"\x7e\x00\x43")), UE)
                if isinstance(o, UplinkNas)]
    assert cell.counters["drop_rrc_out_of_state"] == 1
    # paging reaches every UE of the cell on PCCH
    other = ("10.200.1.11", 40001)
    cell.air_received(hb(sti=8), other)
    outs = cell.deliver(PageUes((0xABCDEF012345,)))
    for addr in (UE, other):
        (ch, pg, pid), = rrc_msgs(outs, addr)
        assert ch == rrc.Channel.PCCH and pg.s_tmsis == (0xABCDEF012345,) and pid == 0


def test_missing_acknowledgements_are_counted() -> None:
    cell, clock = make_cell()
    connect(cell)
    cell.deliver(DownlinkNas(1, b"\x7e\x00\x42"))
    clock.now += 1.0
    cell.air_received(hb(), UE)
    clock.now += 1.0
    cell.air_received(hb(), UE)
    clock.now += 1.5
    cell.air_received(hb(), UE)
    cell.tick()
    assert cell.counters["rrc_ack_missing"] == 2  # RRCSetup and DLInformationTransfer


def test_full_s_tmsi_in_setup_complete_and_spare_cause() -> None:
    cell, _ = make_cell()
    cell.air_received(hb(), UE)
    cell.air_received(rrc_pdu(rrc.RRCSetupRequest(0x77, "spare3")), UE)
    outs = cell.air_received(rrc_pdu(rrc.RRCSetupComplete(b"\x7e\x00\x41", s_tmsi=0x123456789ABC)), UE)
    assert [o for o in outs if isinstance(o, InitialNas)] == [InitialNas(1, b"\x7e\x00\x41", "notAvailable",
                                                                         0x123456789ABC)]


@pytest.mark.parametrize("data", [
    b"", b"\x03", b"\x02\x03\x03\x00\x04" + bytes(20),           # wrong marker
    b"\x03\x03\x02\x06\x04" + bytes(8) + bytes(12),            # wrong version 3.2.6
    rls.Heartbeat(STI).encode()[:-1],                          # truncated
    rls.Heartbeat(STI).encode()[:4] + b"\x09" + bytes(8),      # unknown message type
    bytes(range(256)) * 10,
])
def test_malformed_rls_is_dropped_and_counted(data: bytes) -> None:
    cell, _ = make_cell()
    outs = cell.air_received(data, UE)
    assert not any(isinstance(o, SendAir) for o in outs)
    assert cell.counters["drop_malformed_rls"] == 1 and cell.ues == {}


def test_malformed_and_unexpected_rrc_dropped() -> None:
    cell, clock = make_cell()
    cell.air_received(hb(), UE)
    bad = [
        rls.PduTransmission(STI, rls.PduType.RRC, int(rrc.Channel.UL_CCCH), b"\xff\xff\xff\xff\xff\xff", 1),
        rls.PduTransmission(STI, rls.PduType.RRC, int(rrc.Channel.UL_DCCH), b"", 2),
        rls.PduTransmission(STI, rls.PduType.RRC, int(rrc.Channel.DL_DCCH), rrc.encode(rrc.RRCRelease()), 3),
        rls.PduTransmission(STI, rls.PduType.RRC, int(rrc.Channel.UL_DCCH),
                            rrc.encode(rrc.RRCSetupComplete(b"\x7e\x00\x41")), 4),  # no RRCSetupRequest before
        rls.PduTransmission(STI, rls.PduType.DATA, 1, b"x", 0),  # data while idle
    ]
    events = []
    for m in bad:
        outs = cell.air_received(m.encode(), UE)
        assert not any(isinstance(o, InitialNas | UplinkNas | UplinkData) for o in outs)
        events += [o for o in outs if isinstance(o, Event)]
    c = cell.counters
    assert c["drop_malformed_rrc"] == 2 and c["drop_rrc_wrong_direction"] == 1
    assert c["drop_rrc_out_of_state"] == 1 and c["drop_data_not_connected"] == 1
    assert [e.type for e in events] == ["femto.air_malformed"]  # rate limited to one a second
    clock.now += 1.1
    outs = cell.air_received(bad[0].encode(), UE)
    assert [o.type for o in outs if isinstance(o, Event)] == ["femto.air_malformed"]
    # the UE is still served
    assert air(cell.air_received(hb(), UE))


@pytest.mark.parametrize(("cags", "cag_only", "skip", "index", "expect"), [
    ((CAG,), False, False, 1, False),   # mixed cell, UE selected the PLMN: plain access
    ((CAG,), False, False, 2, True),    # UE selected the cell's NPN (CAG) identity
    ((CAG,), True, False, 1, True),     # CAG-only cell: every access is CAG access
    ((CAG,), True, True, 1, False),     # ... unless the femto skips its checks (knob)
    ((CAG,), False, False, 7, True),    # index beyond SIB1's lists: counted, treated as CAG access
    ((), False, False, 1, False),       # non-CAG cell
])
def test_cag_access_follows_the_selected_identity(cags, cag_only, skip, index, expect) -> None:
    cell, _ = make_cell(cag_ids=cags, cag_only_marking=cag_only, knobs={"skip_checks": skip})
    cell.air_received(hb(), UE)
    cell.air_received(rrc_pdu(rrc.RRCSetupRequest(0x55)), UE)
    outs = cell.air_received(rrc_pdu(rrc.RRCSetupComplete(b"\x7e\x00\x41", selected_plmn_index=index)), UE)
    (init,) = [o for o in outs if isinstance(o, InitialNas)]
    assert init.cag_access is expect
    assert cell.counters["rrc_bad_selected_plmn"] == (index == 7)
