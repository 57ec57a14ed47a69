"""Message reassembly and notification parsing (both stacks' numbering)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testbed.errors import DecodeError
from testbed.protocols.sctp.framing import (
    LINUX_NOTIFICATIONS,
    USRSCTP_NOTIFICATIONS,
    Reassembler,
    parse_notification,
)


def test_whole_message_passes_through():
    r = Reassembler()
    assert r.feed(b"abc", stream=0, eor=True) == b"abc"
    assert r.pending() == 0


def test_pieces_join_on_eor_per_stream_and_association():
    r = Reassembler()
    assert r.feed(b"a1", stream=1, eor=False) is None
    assert r.feed(b"b1", stream=1, eor=False, assoc_id=2) is None
    assert r.feed(b"x", stream=0, eor=True) == b"x"  # another stream is unaffected
    assert r.pending() == 2 and r.pending(2) == 2
    assert r.feed(b"a2", stream=1, eor=True) == b"a1a2"
    assert r.feed(b"b2", stream=1, eor=True, assoc_id=2) == b"b1b2"
    assert r.pending() == 0 and r.pending(2) == 0


def test_discard_forgets_one_association():
    r = Reassembler()
    r.feed(b"a", stream=0, eor=False, assoc_id=1)
    r.feed(b"b", stream=0, eor=False, assoc_id=2)
    r.discard(1)
    assert r.pending(1) == 0 and r.pending(2) == 1
    assert r.feed(b"c", stream=0, eor=True, assoc_id=1) == b"c"


def test_oversized_message_is_a_decode_error():
    r = Reassembler(max_message=10)
    r.feed(b"123456", stream=0, eor=False)
    with pytest.raises(DecodeError, match="exceeds 10 bytes"):
        r.feed(b"123456", stream=0, eor=False)
    assert r.pending() == 0


@given(st.binary(min_size=1, max_size=5000), st.lists(st.integers(min_value=1, max_value=700), max_size=20))
def test_any_split_reassembles_to_the_original(message, cuts):
    pieces, pos = [], 0
    for cut in cuts:
        if pos + cut >= len(message):
            break
        pieces.append(message[pos:pos + cut])
        pos += cut
    pieces.append(message[pos:])
    r = Reassembler()
    results = [r.feed(p, stream=3, eor=i == len(pieces) - 1) for i, p in enumerate(pieces)]
    assert results[:-1] == [None] * (len(pieces) - 1)
    assert results[-1] == message


def _assoc_change(consts, state, error=0, out_s=2, in_s=2, assoc_id=9) -> bytes:
    return struct.pack("=HHIHHHHI", consts.assoc_change, 0, 20, state, error, out_s, in_s, assoc_id)


@pytest.mark.parametrize("consts", [LINUX_NOTIFICATIONS, USRSCTP_NOTIFICATIONS], ids=["linux", "usrsctp"])
def test_assoc_change_states(consts):
    for state, name in ((consts.comm_up, "COMM_UP"), (consts.comm_lost, "COMM_LOST"), (consts.restart, "RESTART"),
                        (consts.shutdown_comp, "SHUTDOWN_COMP"), (consts.cant_str_assoc, "CANT_STR_ASSOC")):
        n = parse_notification(_assoc_change(consts, state, out_s=5, in_s=3) + b"\x00\x01", consts)
        assert (n.type, n.state, n.state_name, n.assoc_id) == ("assoc_change", state, name, 9)
        assert (n.outbound_streams, n.inbound_streams) == (5, 3)


def test_numbering_differs_between_stacks():
    # usrsctp COMM_UP (type 1, state 1) read with Linux numbering is not an association change
    n = parse_notification(_assoc_change(USRSCTP_NOTIFICATIONS, USRSCTP_NOTIFICATIONS.comm_up), LINUX_NOTIFICATIONS)
    assert n.type == "other"
    n = parse_notification(_assoc_change(USRSCTP_NOTIFICATIONS, 1), USRSCTP_NOTIFICATIONS)
    assert n.state_name == "COMM_UP"
    n = parse_notification(_assoc_change(LINUX_NOTIFICATIONS, 1), LINUX_NOTIFICATIONS)
    assert n.state_name == "COMM_LOST"


@pytest.mark.parametrize("consts", [LINUX_NOTIFICATIONS, USRSCTP_NOTIFICATIONS], ids=["linux", "usrsctp"])
def test_shutdown_event_and_others(consts):
    n = parse_notification(struct.pack("=HHII", consts.shutdown_event, 0, 12, 4), consts)
    assert (n.type, n.assoc_id) == ("shutdown_event", 4)
    assert parse_notification(struct.pack("=HHI", consts.peer_addr_change, 0, 8), consts).type == "peer_addr_change"
    assert parse_notification(struct.pack("=HHI", consts.remote_error, 0, 8), consts).type == "remote_error"
    assert parse_notification(struct.pack("=HHI", consts.send_failed, 0, 8), consts).type == "send_failed"
    assert parse_notification(struct.pack("=HHI", 0x7777, 0, 8), consts).type == "other"


@pytest.mark.parametrize("data", [
    b"",
    b"\x01\x00\x00\x00",  # shorter than the header
    struct.pack("=HHI", 1, 0, 400),  # length beyond the data
    struct.pack("=HHI", 1, 0, 4),  # length shorter than the header
    struct.pack("=HHIHH", 1, 0, 12, 1, 0),  # truncated sctp_assoc_change
    struct.pack("=HHI", 5, 0, 8),  # truncated sctp_shutdown_event
])
def test_malformed_notifications_raise_decode_error(data):
    with pytest.raises(DecodeError):
        parse_notification(data, USRSCTP_NOTIFICATIONS)


@given(st.binary(max_size=64))
def test_parse_notification_only_raises_decode_error(data):
    for consts in (LINUX_NOTIFICATIONS, USRSCTP_NOTIFICATIONS):
        try:
            parse_notification(data, consts)
        except DecodeError:
            pass
