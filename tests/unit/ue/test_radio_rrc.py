"""The UE's RRC client (TS 38.331 5.3.3 setup, 5.3.15 reject, 5.3.8 release, 5.3.2 paging, 5.7 NAS transfer)."""

from __future__ import annotations

import random

from pycrate_asn1dir import RRCNR

from testbed.protocols import rrc
from testbed.protocols.rrc import Channel
from testbed.ue.nas.outputs import Event, StartTimer, StopTimer
from testbed.ue.radio.rrc import (
    T300,
    T302,
    Connected,
    NasDelivery,
    Paged,
    Released,
    RrcClient,
    RrcSend,
    RrcTimers,
)

S_TMSI = (0x155 << 38) | (0x2A << 32) | 0xDEADBEEF  # AMF set 0x155, pointer 0x2A, 5G-TMSI


def sent(out, channel=None):
    return [rrc.decode(o.channel, o.pdu) for o in out if isinstance(o, RrcSend)
            and (channel is None or o.channel == channel)]


def test_setup_with_random_identity_then_nas_transfer() -> None:
    c = RrcClient(rng=random.Random(1))
    out = c.connect(b"\x7e\x00\x41", "mo-Signalling", None, plmn_index=2)
    (req,) = sent(out, Channel.UL_CCCH)
    assert isinstance(req, rrc.RRCSetupRequest) and not req.identity_is_s_tmsi_part1
    assert req.establishment_cause == "mo-Signalling" and 0 <= req.ue_identity < 1 << 39
    assert StartTimer(T300, 1.0) in out and c.describe() == "RRC_IDLE (connecting)"
    c.send_nas(b"queued")  # NAS sent while the setup runs goes out after RRCSetupComplete
    out = c.handle(rrc.RRCSetup(transaction_id=3))
    assert out[0] == StopTimer(T300)
    complete, queued = sent(out)
    assert complete == rrc.RRCSetupComplete(b"\x7e\x00\x41", 3, 2)
    assert queued == rrc.ULInformationTransfer(b"queued")
    assert Connected() in out and c.connected
    assert sent(c.send_nas(b"\x7e\x00\x43")) == [rrc.ULInformationTransfer(b"\x7e\x00\x43")]
    assert c.received(Channel.DL_DCCH, rrc.encode(rrc.DLInformationTransfer(b"\x7e\x00\x42"))) == \
        [NasDelivery(b"\x7e\x00\x42")]


def test_setup_with_s_tmsi_parts() -> None:
    c = RrcClient()
    (req,) = sent(c.connect(b"\x7e\x00\x4c", "mt-Access", S_TMSI))
    assert req.identity_is_s_tmsi_part1 and req.ue_identity == S_TMSI & ((1 << 39) - 1)
    assert req.establishment_cause == "mt-Access"
    (complete,) = sent(c.handle(rrc.RRCSetup(0)))
    assert complete.s_tmsi_part2 == S_TMSI >> 39 and complete.s_tmsi is None
    assert (complete.s_tmsi_part2 << 39) | req.ue_identity == S_TMSI


def test_reject_waits_and_retries_then_gives_up() -> None:
    c = RrcClient(RrcTimers(max_rejects=2))
    c.connect(b"nas", "mo-Signalling", None)
    out = c.handle(rrc.RRCReject(wait_time=5))
    assert StopTimer(T300) in out and StartTimer(T302, 5.0) in out
    assert any(isinstance(o, Event) and o.type == "rrc.reject" for o in out)
    assert c.handle(rrc.RRCSetup(0)) == []  # nothing to set up while waiting
    assert sent(c.timer_expired(T302), Channel.UL_CCCH)  # retry with the same NAS message
    out = c.handle(rrc.RRCReject())  # no waitTime: the default wait
    assert StartTimer(T302, 1.0) in out
    c.timer_expired(T302)
    out = c.handle(rrc.RRCReject(wait_time=1))
    assert Released("rrc-reject") in out and c.idle
    assert c.counters["rejects"] == 3


def test_t300_expiry_retries_then_reports_failure() -> None:
    c = RrcClient(RrcTimers(t300_s=0.5, t300_retries=1))
    c.connect(b"nas", "mo-Signalling", None)
    out = c.timer_expired(T300)
    assert len(sent(out, Channel.UL_CCCH)) == 1 and StartTimer(T300, 0.5) in out
    out = c.timer_expired(T300)
    assert Released("rrc-setup-failure") in out and c.idle
    assert c.timer_expired(T300) == []  # stale


def test_t300_strictly_per_spec_without_retries() -> None:
    c = RrcClient(RrcTimers(t300_retries=0))
    c.connect(b"nas", "mo-Signalling", None)
    assert Released("rrc-setup-failure") in c.timer_expired(T300)


def test_release_returns_to_idle() -> None:
    c = RrcClient()
    c.connect(b"nas", "mo-Signalling", None)
    c.handle(rrc.RRCSetup(0))
    assert c.received(Channel.DL_DCCH, rrc.encode(rrc.RRCRelease(1))) == [Released("rrc-release")]
    assert c.idle and c.counters["releases"] == 1
    # DL NAS or a release in RRC_IDLE is unexpected and ignored
    assert c.handle(rrc.DLInformationTransfer(b"x")) == [] and c.handle(rrc.RRCRelease()) == []
    assert c.counters["unexpected"] == 2


def test_local_release_and_connect_while_connected() -> None:
    c = RrcClient()
    assert c.release_local("radio-link-failure") == []
    c.connect(b"a", "mo-Signalling", None)
    assert c.release_local("radio-link-failure") == [StopTimer(T300), Released("radio-link-failure")]
    c.connect(b"a", "mo-Signalling", None)
    c.handle(rrc.RRCSetup(0))
    assert sent(c.connect(b"b", "mo-Data", None)) == [rrc.ULInformationTransfer(b"b")]


def test_paging_only_for_our_s_tmsi_in_idle() -> None:
    c = RrcClient()
    page = rrc.encode(rrc.Paging((1, S_TMSI)))
    assert c.received(Channel.PCCH, page, S_TMSI) == [Paged()]
    assert c.received(Channel.PCCH, rrc.encode(rrc.Paging((1, 2))), S_TMSI) == []
    assert c.received(Channel.PCCH, page, None) == []
    c.connect(b"a", "mo-Signalling", None)
    c.handle(rrc.RRCSetup(0))
    assert c.received(Channel.PCCH, page, S_TMSI) == []


def test_malformed_and_unsupported_messages_are_counted() -> None:
    c = RrcClient()
    c.connect(b"a", "mo-Signalling", None)
    assert c.received(Channel.DL_CCCH, b"\xff\xfe") == [] and c.counters["malformed"] == 1
    c.handle(rrc.RRCSetup(0))
    m = RRCNR.NR_RRC_Definitions.DL_DCCH_Message
    m.set_val({"message": ("c1", ("rrcReconfiguration", {"rrc-TransactionIdentifier": 1,
                                                          "criticalExtensions": ("rrcReconfiguration", {})}))})
    out = c.received(Channel.DL_DCCH, m.to_uper())
    assert [o.type for o in out] == ["rrc.unsupported_message"] and c.counters["unsupported"] == 1
    assert c.connected


def test_ul_nas_without_connection_is_dropped() -> None:
    c = RrcClient()
    out = c.send_nas(b"x")
    assert out[0].type == "rrc.ul_nas_dropped" and c.counters["dropped_ul_nas"] == 1
