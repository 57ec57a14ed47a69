"""Tests of :mod:`testbed.crypto.nas_count`: NAS COUNT format (TS 33.501 6.4.3.1, TS 24.501 4.4.3.1),
sender wrap-around (TS 33.501 6.4.5, TS 24.501 4.4.3.5), receiver estimation (TS 24.501 4.4.3.1) and
replay protection (TS 33.501 6.4.3.2, D.1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.crypto.nas_algorithms import DIRECTION_UPLINK, nia
from testbed.crypto.nas_count import (
    MAX_NAS_COUNT,
    NasCountReceiver,
    NasCountSender,
    join_nas_count,
    split_nas_count,
)
from testbed.errors import CryptoError

KNASINT = bytes.fromhex("000102030405060708090a0b0c0d0e0f")


# --------------------------------------------------------------------------- format


def test_join_and_split():
    assert join_nas_count(0x1234, 0x56) == 0x123456
    assert split_nas_count(0x123456) == (0x1234, 0x56)
    assert split_nas_count(MAX_NAS_COUNT) == (0xFFFF, 0xFF)


@pytest.mark.parametrize(("overflow", "sn"), [(0x10000, 0), (-1, 0), (0, 256), (0, -1), (True, 0)])
def test_join_rejects_out_of_range(overflow, sn):
    with pytest.raises(CryptoError):
        join_nas_count(overflow, sn)


@pytest.mark.parametrize("count", [-1, 1 << 24, "1", None])
def test_split_rejects_out_of_range(count):
    with pytest.raises(CryptoError):
        split_nas_count(count)


# --------------------------------------------------------------------------- sender


def test_sender_counts_from_zero_and_carries_into_overflow():
    s = NasCountSender()
    assert [s.next() for _ in range(3)] == [0, 1, 2]
    s = NasCountSender(0x00FF)
    assert (s.overflow, s.sn) == (0, 0xFF)
    assert s.next() == 0x00FF
    assert (s.count, s.overflow, s.sn) == (0x0100, 1, 0)


def test_sender_signals_refresh_and_refuses_to_reuse_counts():
    s = NasCountSender(MAX_NAS_COUNT - 300)
    assert not s.needs_refresh
    for _ in range(45):
        s.next()
    assert s.count == MAX_NAS_COUNT - 255 and s.needs_refresh
    s = NasCountSender(MAX_NAS_COUNT - 1)
    assert s.next() == MAX_NAS_COUNT - 1
    assert s.next() == MAX_NAS_COUNT  # the last value may still be used
    assert s.count == 0 and s.wraps == 1 and s.exhausted and s.needs_refresh
    with pytest.raises(CryptoError):
        s.next()  # 0 would be reused with the same keys


def test_sender_wraps_when_allowed():
    # 5G-IA0 (TS 24.501 4.4.3.5): the counter wraps around instead of requiring a new context.
    s = NasCountSender(MAX_NAS_COUNT, allow_wrap=True)
    assert [s.next(), s.next(), s.next()] == [MAX_NAS_COUNT, 0, 1]
    assert s.wraps == 1 and not s.exhausted and not s.needs_refresh


def test_sender_rejects_bad_start():
    with pytest.raises(CryptoError):
        NasCountSender(1 << 24)
    with pytest.raises(CryptoError):
        NasCountSender(0, refresh_margin=-1)


# --------------------------------------------------------------------------- receiver, strict


def test_first_message():
    r = NasCountReceiver()
    assert r.stored is None
    assert r.estimate(0) == 0 and r.is_acceptable(0)
    r.commit(0)
    assert r.stored == 0


def test_estimation_follows_sender_across_overflow():
    tx, rx = NasCountSender(), NasCountReceiver()
    for _ in range(700):  # SN wraps twice
        count = tx.next()
        assert rx.estimate(count & 0xFF) == count
        rx.commit(count)
    assert rx.stored == 699 and rx.stored >> 8 == 2


@pytest.mark.parametrize(
    ("stored", "sn", "expected"), [(0x01FE, 0x05, 0x0205), (0x01FE, 0xFF, 0x01FF), (5, 4, 0x104)]
)
def test_estimate_is_the_next_value_above_stored(stored, sn, expected):
    assert NasCountReceiver(stored=stored).estimate(sn) == expected


def test_lost_messages_are_tolerated_up_to_255():
    rx = NasCountReceiver(stored=0x0310)
    assert rx.estimate(0x0F) == 0x040F  # 255 messages lost in between
    rx.commit(0x040F)
    assert rx.stored == 0x040F


def test_replayed_message_is_rejected():
    rx = NasCountReceiver()
    for c in range(6):
        rx.commit(rx.estimate(c))
    # The replay of message 5 carries SN 5 again: its estimate is 5 + 256, not 5.
    assert rx.estimate(5) == 0x105
    assert not rx.is_acceptable(5)
    with pytest.raises(CryptoError):
        rx.commit(5)
    assert rx.stored == 5


def test_old_message_is_rejected():
    rx = NasCountReceiver(stored=10)
    assert rx.estimate(7) == 0x107
    assert not rx.is_acceptable(7) and not rx.is_acceptable(10)
    assert rx.is_acceptable(11)


def test_end_to_end_with_nia2_replay_and_reordering_are_dropped():
    """Sender protects with 128-NIA2; the receiver estimates, verifies the MAC, then commits."""
    tx, rx = NasCountSender(), NasCountReceiver()
    sent = []
    for i in range(300):
        count = tx.next()
        msg = bytes([count & 0xFF]) + f"msg{i}".encode()
        sent.append((count, msg, nia(2, KNASINT, count, 0, DIRECTION_UPLINK, msg)))

    def receive(msg: bytes, mac: bytes) -> bool:
        est = rx.estimate(msg[0])
        if nia(2, KNASINT, est, 0, DIRECTION_UPLINK, msg) != mac or not rx.is_acceptable(est):
            return False
        rx.commit(est)
        return True

    assert all(receive(m, mac) for _, m, mac in sent[:260])
    assert rx.stored == 259
    assert not receive(sent[259][1], sent[259][2])  # replay of the last message
    assert not receive(sent[3][1], sent[3][2])  # replay of an old message (SN 3, now estimated 0x203)
    assert not receive(sent[258][1], sent[258][2])
    assert rx.stored == 259  # MAC failures leave the state unchanged
    # Out of order in strict mode: 262 arrives before 261, then 261 is dropped.
    assert receive(sent[260][1], sent[260][2])
    assert receive(sent[262][1], sent[262][2])
    assert not receive(sent[261][1], sent[261][2])
    assert receive(sent[263][1], sent[263][2])


def test_top_of_count_space_without_wrap():
    rx = NasCountReceiver(stored=MAX_NAS_COUNT - 0x0F)
    assert rx.estimate(0xF5) == 0xFFFFF5
    with pytest.raises(CryptoError):
        rx.estimate(0x05)  # would need NAS COUNT 2^24 + 5


def test_wrap_allowed_receiver():
    rx = NasCountReceiver(stored=MAX_NAS_COUNT - 0x0F, allow_wrap=True)
    assert rx.estimate(0x05) == 0x000005
    rx.commit(0x000005)
    assert rx.stored == 5
    assert not rx.is_acceptable(MAX_NAS_COUNT - 0x0F)  # older, from before the wrap
    assert rx.is_acceptable(6)


def test_null_integrity_receiver_has_no_replay_protection():
    # TS 33.501 D.1: replay protection is not activated when NIA0 is used.
    rx = NasCountReceiver(replay_protection=False)
    rx.commit(rx.estimate(5))
    assert rx.is_acceptable(5) and rx.is_acceptable(0)
    rx.commit(5)  # no CryptoError
    assert rx.stored == 5 and rx.estimate(6) == 6


# --------------------------------------------------------------------------- receiver, window


def test_window_accepts_out_of_order_once():
    rx = NasCountReceiver(window=8)
    for c in (0, 1, 2, 10, 12):
        rx.commit(rx.estimate(c))
    assert rx.stored == 12
    assert rx.estimate(11) == 11  # not accepted before and inside the window: the lower estimate
    rx.commit(11)
    assert rx.estimate(11) == 0x10B and not rx.is_acceptable(11)  # a replay of it is not
    assert rx.estimate(12) == 0x10C  # nor of the newest
    assert rx.estimate(5) == 5 and rx.is_acceptable(5)  # 12 - 5 = 7 < 8
    assert rx.estimate(4) == 0x104 and not rx.is_acceptable(4)  # outside the window
    with pytest.raises(CryptoError):
        rx.commit(10)


def test_window_end_to_end_with_nia2():
    tx, rx = NasCountSender(), NasCountReceiver(window=16)
    msgs = []
    for _ in range(40):
        c = tx.next()
        m = bytes([c & 0xFF]) + b"\x7e\x00\x67"
        msgs.append((m, nia(2, KNASINT, c, 0, 0, m)))
    order = list(range(20)) + [25, 21, 22, 20, 24, 23] + list(range(26, 40))
    accepted = []
    for i in order + [22, 25, 39]:  # then three replays
        m, mac = msgs[i]
        est = rx.estimate(m[0])
        if nia(2, KNASINT, est, 0, 0, m) == mac and rx.is_acceptable(est):
            rx.commit(est)
            accepted.append(i)
    assert sorted(accepted) == list(range(40)) and len(accepted) == 40


@pytest.mark.parametrize("window", [-1, 129, True, 1.5])
def test_bad_window(window):
    with pytest.raises(CryptoError):
        NasCountReceiver(window=window)


@pytest.mark.parametrize("sn", [-1, 256, None])
def test_bad_sn(sn):
    with pytest.raises(CryptoError):
        NasCountReceiver().estimate(sn)


@settings(max_examples=50, deadline=None)
@given(window=st.sampled_from([0, 1, 32, 128]), data=st.data())
def test_estimate_recovers_count_and_no_count_is_accepted_twice(window, data):
    # In order, with up to 255 lost messages in a row (256 - window with a window: a larger forward
    # jump is indistinguishable from an out-of-order message inside the window).
    max_gap = 256 - window if window else 256
    gaps = data.draw(st.lists(st.integers(1, max_gap), min_size=1, max_size=60))
    rx = NasCountReceiver(window=window)
    count, accepted = -1, []
    for gap in gaps:
        count += gap
        if count > MAX_NAS_COUNT:
            break
        assert rx.estimate(count & 0xFF) == count
        rx.commit(count)
        accepted.append(count)
    for c in accepted:
        assert not rx.is_acceptable(c)
        assert rx.estimate(c & 0xFF) != c
