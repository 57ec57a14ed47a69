"""NGAP client against the real in-process AMF: NG Setup, registration end to end through the femto."""

from __future__ import annotations

from pathlib import Path

from testbed.femto import FemtoGnb
from testbed.protocols import nas, ngap, rrc

from .harness import CAG, CAG_BAD, Clock, Net, RlsUe, build_core, femto_config, nas_ue


def test_ng_setup_accepted_announces_cag_ids_and_turns_radio_on(net: Net) -> None:
    req = ngap.decode(net.to_amf[0])
    assert isinstance(req, ngap.NGSetupRequest)
    assert req.cag_ids == (CAG,)
    assert req.global_ran_node_id == ngap.GlobalGnbId(ngap.Plmn("001", "01"), 1, 32)
    assert req.supported_tas[0].tac == 1 and req.ran_node_name == "femto1"
    assert isinstance(ngap.decode(net.from_amf[0]), ngap.NGSetupResponse)
    assert net.amf_ev("ng_setup_accepted")[0]["cag_ids"] == [CAG]
    assert net.types().count("femto.ready") == 1
    assert net.ev("femto.radio_on")
    assert net.femto.status()["radio"] == {"allowed": True, "on": True}
    assert net.femto.status()["n2"]["state"] == "up"


def test_ng_setup_refused_for_unauthorised_cag_keeps_radio_off(tmp_path: Path) -> None:
    amf, _, store = build_core(tmp_path, femto_cags=(CAG,))
    femto = FemtoGnb(femto_config(cag_ids=(CAG, CAG_BAD)), clock=Clock())
    n = Net(femto, amf)
    n.start()
    assert isinstance(ngap.decode(n.from_amf[0]), ngap.NGSetupFailure)
    assert n.amf_ev("ng_setup_refused")[0]["unauthorised"] == [CAG_BAD]
    refused = n.ev("femto.ng_setup_refused")
    assert refused and refused[0]["cause"] == "radioNetwork/npn-access-denied"
    assert "femto.ready" not in n.types() and not n.ev("femto.radio_on")
    # radio allowed, but NG refused: a UE's heartbeat is not answered, no SIB1
    ue = RlsUe(n, ("10.200.1.10", 40000))
    ue.heartbeat()
    n.tick(10.0)
    assert ue.rls_in == [] and ue.sib1 is None
    assert femto.status()["radio"] == {"allowed": True, "on": False}
    # the operator authorises the extra CAG ID: the femto's next NG Setup (after 30 s) is accepted
    store.set_femto_cags("001", "01", 1, 32, [CAG, CAG_BAD])
    n.tick(19.0)  # 29 s after the refusal
    assert femto.ngap.state == "refused"
    n.tick(1.5)
    assert femto.ngap.state == "up" and n.ev("femto.ready") and femto.status()["radio"]["on"] is True
    ue.heartbeat()
    assert ue.sib1 is not None and ue.sib1.cag_ids == (CAG, CAG_BAD)
    store.close()


def test_registration_end_to_end_through_the_femto(net: Net, core) -> None:
    _, keys, _ = core
    ue = RlsUe(net, ("10.200.1.10", 40000), nas=nas_ue(keys, 1))
    ue.heartbeat()
    assert ue.sib1 is not None and ue.sib1.cag_ids == (CAG,)
    ue.register()
    assert ue.nas.registered, [type(m).__name__ for m in ue.nas.received]
    assert ue.rrc_of(rrc.RRCSetup) and ue.rrc_of(rrc.DLInformationTransfer)
    # the femto's INITIAL UE MESSAGE carried the cell's identity, TAI, CAG ID and cause
    init = next(m for m in map(ngap.decode, net.to_amf) if isinstance(m, ngap.InitialUEMessage))
    assert init.cag_ids == (CAG,) and init.rrc_establishment_cause == "mo-Signalling"
    assert init.user_location.nr_cgi.nci == (1 << 4) | 1 and init.user_location.tai.tac == 1
    assert any(isinstance(m, ngap.InitialContextSetupResponse) for m in map(ngap.decode, net.to_amf))
    # the AMF's registration events saw a SUCI-based registration through this femto's CAG cell
    assert net.amf_ev("registration_request")[0]["cell_cag_ids"] == [CAG]
    view = net.femto.ue_views()
    assert len(view) == 1 and view[0]["rrc_state"] == "connected" and view[0]["security_context"]
    assert view[0]["amf_ue_ngap_id"] is not None and view[0]["ran_ue_ngap_id"] == 1


def test_radio_link_loss_releases_the_context_and_a_service_request_carries_the_s_tmsi(net: Net, core) -> None:
    _, keys, _ = core
    ues = [RlsUe(net, ("10.200.1.10", 40000 + i), nas=nas_ue(keys, i + 1), position=(10 * i, 0, 0))
           for i in range(2)]
    for ue in ues:
        ue.heartbeat()
        ue.register()
    assert all(u.nas.registered for u in ues)
    ue, other = ues
    # ue goes silent: after 2 s the cell drops it and the femto asks the AMF to release the context
    net.tick(1.5)
    other.heartbeat()
    net.tick(1.0)
    assert [v["ue_id"] for v in net.femto.ue_views()] == [2]
    req = next(m for m in map(ngap.decode, net.to_amf) if isinstance(m, ngap.UEContextReleaseRequest))
    assert req.cause == ngap.Cause("radioNetwork", "radio-connection-with-ue-lost")
    cmd = next(m for m in map(ngap.decode, net.from_amf) if isinstance(m, ngap.UEContextReleaseCommand))
    assert cmd.ran_ue_ngap_id == req.ran_ue_ngap_id
    done = [m for m in map(ngap.decode, net.to_amf) if isinstance(m, ngap.UEContextReleaseComplete)]
    assert done and done[-1].ran_ue_ngap_id == req.ran_ue_ngap_id
    assert net.ev("femto.ue_lost")[0]["reason"] == "heartbeat-timeout"
    # back in coverage: service request from idle with the 5G-S-TMSI in RRC (Part1 + Part2)
    ue.nas.sec_active = False
    ue.heartbeat()
    s_tmsi = ue.nas.guti.s_tmsi
    value = ngap.FiveGSTmsi(s_tmsi.amf_set_id, s_tmsi.amf_pointer, s_tmsi.tmsi).to_int()
    ue.connect(ue.nas.service_request(), cause="mo-Data", s_tmsi=value)
    init = [m for m in map(ngap.decode, net.to_amf) if isinstance(m, ngap.InitialUEMessage)][-1]
    assert init.five_g_s_tmsi == ngap.FiveGSTmsi.from_int(value)
    assert init.rrc_establishment_cause == "mo-Data" and init.ran_ue_ngap_id == 3
    assert any(isinstance(m, nas.ServiceAccept) for m in ue.nas.received), \
        [type(m).__name__ for m in ue.nas.received]
    view = {v["ue_id"]: v for v in net.femto.ue_views()}
    assert view[3]["s_tmsi"] == f"{value:012x}"


def test_many_ues_register_through_one_femto(tmp_path: Path) -> None:
    amf, keys, store = build_core(tmp_path, n_subscribers=150)
    femto = FemtoGnb(femto_config(), clock=Clock())
    n = Net(femto, amf)
    n.start()
    ues = [RlsUe(n, ("10.200.1.10", 20000 + i), nas=nas_ue(keys, i + 1), position=(i % 50, i // 50, 0))
           for i in range(150)]
    for ue in ues:
        ue.heartbeat()
        ue.register()
    assert sum(u.nas.registered for u in ues) == 150
    views = femto.ue_views()
    assert len(views) == 150 and len({v["ran_ue_ngap_id"] for v in views}) == 150
    assert len({v["amf_ue_ngap_id"] for v in views}) == 150
    assert {u.dbm for u in ues[:50]} == {-1, *range(-49, -1)}
    # the hot path was served from learned templates
    assert femto.ngap.codec.hits > 500 and femto.cell.codec.hits > 500
    store.close()


def test_initial_ue_message_carries_cag_ids_only_for_cag_access(net: Net) -> None:
    for i, index in enumerate((1, 2)):
        ue = RlsUe(net, ("10.200.1.10", 41000 + i), selected_plmn_index=index)
        ue.heartbeat()
        ue.connect(b"\x7e\x00\x41\x79\x00\x0d\x01\x00\xf1\x10\x00\x00\x00\x00\x00\x00\x00\x00\x01")
    inits = [m for m in map(ngap.decode, net.to_amf) if isinstance(m, ngap.InitialUEMessage)]
    assert [m.cag_ids for m in inits] == [None, (CAG,)]
    assert [e["cag_access"] for e in net.ev("femto.initial_ue")] == [False, True]
