"""The UE's radio link endpoint (radio-link-protocol.md; UERANSIM src/ue/rls/udp_task.cpp, ctl_task.cpp)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.protocols import rls
from testbed.ue.radio.link import PDU_TTL_S, RadioLink, RrcIndication, SignalIndication
from testbed.ue.radio.timers import TimerWheel

UE = 0x1111111111111111
GNB1, GNB2 = 0xAAAA000000000001, 0xBBBB000000000002
A1, A2 = ("10.200.1.1", 4997), ("10.200.1.2", 4997)


def link() -> RadioLink:
    return RadioLink(UE, [A1, A2], (10, -5, 3))


def test_heartbeat_goes_to_every_gnb_with_the_position() -> None:
    lk = link()
    sends, lost = lk.heartbeat(0.0)
    assert lost == [] and [a for a, _ in sends] == [A1, A2]
    assert rls.decode(sends[0][1]) == rls.Heartbeat(UE, 10, -5, 3)
    lk.set_position((1, 2, 3))
    assert rls.decode(lk.heartbeat(1.0)[0][0][1]) == rls.Heartbeat(UE, 1, 2, 3)


def test_heartbeat_ack_creates_and_updates_cells() -> None:
    lk = link()
    ind = lk.receive(rls.HeartbeatAck(GNB1, -40).encode(), A1, 0.1)
    assert ind == SignalIndication(GNB1, -40, True)
    assert lk.cells[GNB1].address == A1
    assert lk.receive(rls.HeartbeatAck(GNB1, -40).encode(), A1, 1.1) is None  # same strength: nothing new
    assert lk.receive(rls.HeartbeatAck(GNB1, -55).encode(), A1, 2.1) == SignalIndication(GNB1, -55, False)
    assert lk.cells[GNB1].last_seen == 2.1


def test_radio_link_failure_after_two_seconds_without_ack() -> None:
    lk = link()
    lk.receive(rls.HeartbeatAck(GNB1, -40).encode(), A1, 0.0)
    lk.receive(rls.HeartbeatAck(GNB2, -60).encode(), A2, 0.0)
    lk.receive(rls.HeartbeatAck(GNB2, -60).encode(), A2, 1.5)
    assert lk.heartbeat(1.0)[1] == []
    assert lk.heartbeat(2.0)[1] == []          # exactly 2 s: still there
    assert lk.heartbeat(2.01)[1] == [GNB1]     # GNB1 silent for more than 2 s
    assert set(lk.cells) == {GNB2}
    assert lk.heartbeat(3.6)[1] == [GNB2]
    assert lk.counters["cells_lost"] == 2


def test_other_messages_from_a_cell_without_ack_are_ignored() -> None:
    lk = link()
    pdu = rls.PduTransmission(GNB1, rls.PduType.RRC, 1, b"\x00", 0).encode()
    assert lk.receive(pdu, A1, 0.0) is None
    assert lk.counters["rx_unknown_cell"] == 1
    lk.receive(rls.HeartbeatAck(GNB1, -40).encode(), A1, 0.0)
    assert lk.receive(pdu, A1, 0.1) == RrcIndication(GNB1, 1, b"\x00")
    # after the cell is dropped it is unknown again
    lk.heartbeat(2.5)
    assert lk.receive(pdu, A1, 2.6) is None


def test_received_pdu_ids_are_acknowledged_in_one_batch() -> None:
    lk = link()
    lk.receive(rls.HeartbeatAck(GNB1, -40).encode(), A1, 0.0)
    for i in (7, 8):
        lk.receive(rls.PduTransmission(GNB1, rls.PduType.RRC, 3, b"\x01", i).encode(), A1, 0.1)
    lk.receive(rls.PduTransmission(GNB1, rls.PduType.RRC, 3, b"\x01", 0).encode(), A1, 0.1)  # 0: no ACK wanted
    assert lk.acks_pending
    acks = lk.flush_acks()
    assert acks == [(A1, rls.PduTransmissionAck(UE, (7, 8)).encode())]
    assert lk.flush_acks() == [] and not lk.acks_pending


def test_uplink_pdu_ids_expect_an_ack_within_three_seconds() -> None:
    lk = link()
    lk.receive(rls.HeartbeatAck(GNB1, -40).encode(), A1, 0.0)
    assert lk.pdu(GNB2, rls.PduType.RRC, 5, b"x", 0.0) is None  # unknown cell
    addr, d1 = lk.pdu(GNB1, rls.PduType.RRC, 5, b"x", 0.0, want_ack=True)
    _, d2 = lk.pdu(GNB1, rls.PduType.RRC, 7, b"y", 0.5, want_ack=True)
    m1, m2 = rls.decode(d1), rls.decode(d2)
    assert addr == A1 and m1.pdu_id == 1 and m2.pdu_id == 2
    assert lk.unacked == 2
    # an ACK from another STI does not count
    lk.receive(rls.HeartbeatAck(GNB2, -60).encode(), A2, 0.6)
    lk.receive(rls.PduTransmissionAck(GNB2, (1,)).encode(), A2, 0.7)
    assert lk.unacked == 2
    lk.receive(rls.PduTransmissionAck(GNB1, (1,)).encode(), A1, 0.8)
    assert lk.unacked == 1
    assert lk.expire_unacked(0.5 + PDU_TTL_S) == []
    assert lk.expire_unacked(0.5 + PDU_TTL_S + 0.01) == [2]
    assert lk.counters["tx_failures"] == 1 and lk.unacked == 0


def test_data_and_wrong_direction_messages() -> None:
    lk = link()
    lk.receive(rls.HeartbeatAck(GNB1, -40).encode(), A1, 0.0)
    ind = lk.receive(rls.PduTransmission(GNB1, rls.PduType.DATA, 1, b"\x45\x00", 0).encode(), A1, 0.1)
    assert (ind.psi, ind.pdu) == (1, b"\x45\x00")
    assert lk.receive(rls.Heartbeat(GNB1, 0, 0, 0).encode(), A1, 0.2) is None
    assert lk.counters["rx_bad_direction"] == 1


def test_other_version_is_dropped_and_counted() -> None:
    lk = link()
    assert lk.receive(rls.HeartbeatAck(GNB1, -40).encode((3, 2, 6)), A1, 0.0) is None
    assert lk.counters["rx_malformed"] == 1 and not lk.cells


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_garbage_never_raises(data: bytes) -> None:
    lk = link()
    lk.receive(rls.HeartbeatAck(GNB1, -40).encode(), A1, 0.0)
    lk.receive(data, A1, 0.1)
    lk.receive(bytes.fromhex("0303030005") + GNB1.to_bytes(8, "big") + data, A1, 0.2)
    lk.receive(bytes.fromhex("0303030006") + GNB1.to_bytes(8, "big") + data, A1, 0.2)


def test_timer_wheel_orders_restarts_and_cancels() -> None:
    w = TimerWheel()
    w.start("a", 3.0)
    w.start("b", 1.0)
    w.start("c", 2.0)
    w.start("a", 0.5)  # restart: the old deadline is stale
    w.stop("c")
    assert w.next_deadline() == 0.5 and len(w) == 2 and "c" not in w
    assert w.pop_due(1.0) == ["a", "b"]
    assert w.pop_due(10.0) == [] and w.next_deadline() is None
    for i in range(1000):  # many restarts of one key stay compact
        w.start("k", float(i))
    assert len(w._heap) < 200 and w.pop_due(1e9) == ["k"]
