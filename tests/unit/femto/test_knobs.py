"""Compromise knobs: each changes what the femto does, compared with the same run without it.

(``skip_checks`` is also covered in test_ngap_client / test_user_plane, ``log_everything`` in
test_privacy.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.core.amf import SendNgap as AmfSendNgap
from testbed.femto import FemtoGnb, Knobs
from testbed.femto.outputs import SendNgap
from testbed.protocols import ngap

from .harness import CAG, CAG_BAD, Clock, Net, RlsUe, build_core, femto_config, nas_ue


def _registered(tmp_path: Path, **knobs) -> tuple[Net, list[RlsUe], object]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    amf, keys, store = build_core(tmp_path)
    femto = FemtoGnb(femto_config(knobs=knobs), clock=Clock())
    n = Net(femto, amf)
    n.start()
    ues = []
    for i in range(2):
        ue = RlsUe(n, ("10.200.1.10", 40000 + i), nas=nas_ue(keys, i + 1))
        ue.heartbeat()
        ue.register()
        assert ue.nas.registered
        ues.append(ue)
    return n, ues, store


def test_all_knobs_off_by_default() -> None:
    assert Knobs().active() == []
    assert femto_config().knobs == Knobs()


@pytest.mark.parametrize("extra", [(), (CAG_BAD,)])
def test_broadcast_extra_cag_ids(tmp_path: Path, extra: tuple[int, ...]) -> None:
    amf, _, store = build_core(tmp_path)
    femto = FemtoGnb(femto_config(knobs={"broadcast_extra_cag_ids": extra}, radio_enabled_at_start=True),
                     clock=Clock())
    n = Net(femto, amf)
    n.start()
    req = ngap.decode(n.to_amf[0])
    assert req.cag_ids == (CAG, *extra)
    assert femto.cell.sib1().cag_ids == (CAG, *extra)
    if extra:  # the AMF refuses a femto announcing a CAG ID it is not authorised for; the radio stays off
        assert n.amf_ev("ng_setup_refused")[0]["unauthorised"] == [CAG_BAD]
        assert n.ev("femto.ng_setup_refused") and not femto.cell.radiating
    else:
        assert n.ev("femto.ready") and femto.cell.radiating
    store.close()


def test_replay_uplink(tmp_path: Path) -> None:
    # control: the knob is off -> nothing captured, nothing sent
    n, ues, store = _registered(tmp_path / "off")
    before = len(n.to_amf)
    reply, outs = n.femto.control({"op": "replay"})
    assert reply == {"ok": False, "error": "knob replay_uplink is off"} and outs == []
    assert len(n.femto.ngap.captured) == 0 and len(n.to_amf) == before
    store.close()
    # knob on: the last uplink NAS (REGISTRATION COMPLETE of UE 2) is re-sent as captured; the AMF
    # drops it as a replay (its NAS COUNT was used); then UE 1's captured message is injected into
    # UE 2's connection and fails the AMF's integrity check
    n, ues, store = _registered(tmp_path / "on", replay_uplink=True)
    assert len(n.femto.ngap.captured) >= 8
    reply, outs = n.femto.control({"op": "replay"})
    assert reply["ok"] and reply["kind"] == "uplink"
    assert [o for o in outs if isinstance(o, SendNgap)] == [SendNgap(n.femto.ngap.captured[-1].ngap, 1)]
    n.feed(outs)
    assert n.amf_ev("nas_replay"), [e.type for e in n.amf_events[-5:]]
    assert n.ev("femto.knob.replay")
    idx = max(i for i, c in enumerate(n.femto.ngap.captured) if c.ran_ue_ngap_id == 1 and c.kind == "uplink")
    reply, outs = n.femto.control({"op": "replay", "index": idx, "ran_ue_ngap_id": 2})
    assert reply["ok"]
    msg = ngap.decode(next(o for o in outs if isinstance(o, SendNgap)).data)
    assert isinstance(msg, ngap.UplinkNASTransport) and msg.ran_ue_ngap_id == 2
    assert msg.nas_pdu == n.femto.ngap.captured[idx].nas_pdu
    seen = len(n.amf_events)
    n.feed(outs)
    assert [e.type for e in n.amf_events[seen:]] == ["nas_mac_failure"]
    assert all(u.nas.registered for u in ues)  # the victims stay registered
    store.close()


def test_foreign_ue_ids(tmp_path: Path) -> None:
    """A second (rogue) femto sends NGAP naming the UE ids of a UE served by femto1."""
    n, ues, store = _registered(tmp_path)
    amf = n.amf
    victim = n.femto.ue_views()[0]
    for knob in (False, True):
        rogue = FemtoGnb(femto_config(name="rogue", gnb_id=2, cag_ids=(), knobs={"foreign_ue_ids": knob}),
                         clock=Clock())
        assoc = 10 + knob
        amf.association_up(assoc, "rogue")
        rogue.start()
        to_rogue = []
        for o in rogue.n2_up():
            if isinstance(o, SendNgap):
                to_rogue += [x for x in amf.ngap_received(assoc, o.data, o.stream) if isinstance(x, AmfSendNgap)]
        for x in to_rogue:
            rogue.ngap_received(x.data, x.stream)
        assert rogue.ngap.state == "up"
        reply, outs = rogue.control({"op": "foreign_ue", "amf_ue_ngap_id": victim["amf_ue_ngap_id"],
                                     "ran_ue_ngap_id": victim["ran_ue_ngap_id"], "message": "release_request"})
        if not knob:
            assert not reply["ok"] and outs == []
            continue
        assert reply["ok"]
        (o,) = [x for x in outs if isinstance(x, SendNgap)]
        assert isinstance(ngap.decode(o.data), ngap.UEContextReleaseRequest)
        answers = amf.ngap_received(assoc, o.data, o.stream)
        kinds = [type(ngap.decode(a.data)).__name__ for a in answers if isinstance(a, AmfSendNgap)]
        assert kinds == ["ErrorIndication"]  # the AMF refuses to act on another gNB's UE
        assert any(getattr(a, "type", None) == "ngap_foreign_ue" for a in answers)
    # the victim's connection through femto1 is untouched
    assert ues[0].rrc_state == "connected" and len(n.femto.ngap.ues) == 2
    store.close()
