"""PDU sessions through the femto with the real AMF + SMF + in-process UPF, and the GTP-U relay alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.core.smf import LocalN4, Smf, SmfConfig
from testbed.core.upf.sessions import Upf
from testbed.femto import FemtoGnb, UserPlane
from testbed.femto.outputs import Event, N3Downlink, SendN3
from testbed.protocols import gtpu, nas, ngap

from .harness import N3_ADDR, UPF_N3, Clock, Net, RlsUe, build_core, femto_config, ipv4_udp, nas_ue

DN = "10.20.0.10"
EST = nas.PduSessionEstablishmentRequest(pdu_session_id=1, pti=1, pdu_session_type=nas.PduSessionType.IPV4)


def _net(tmp_path: Path, security: ngap.SecurityIndication | None = None, **knobs: Any) -> tuple[Net, Any, Any]:
    amf, keys, store = build_core(tmp_path)
    upf = Upf(UPF_N3, "10.45.0.0/16")
    cfg = SmfConfig(smf_n4_address=("127.0.0.2", 8805), upf_n4_address=(UPF_N3, 8805),
                    **({"security_indication": security} if security else {}))
    smf = Smf(cfg, LocalN4(upf, src=("127.0.0.2", 8805)))
    femto = FemtoGnb(femto_config(knobs=knobs), clock=Clock())
    n = Net(femto, amf, upf=upf, smf=smf)
    n.start_smf()
    n.start()
    return n, keys, store


@pytest.fixture
def session_net(tmp_path: Path) -> Iterator[tuple[Net, RlsUe, Any]]:
    n, keys, store = _net(tmp_path)
    ue = RlsUe(n, ("10.200.1.10", 40000), nas=nas_ue(keys, 1))
    ue.heartbeat()
    ue.register()
    assert ue.nas.registered
    yield n, ue, n.smf
    n.close()
    store.close()


def _establish(n: Net, ue: RlsUe) -> None:
    from testbed.protocols import rrc

    ue.send_rrc(rrc.ULInformationTransfer(ue.nas.ul_nas_transport(EST)))


def test_pdu_session_and_gtpu_relay_both_ways(session_net) -> None:
    n, ue, smf = session_net
    _establish(n, ue)
    resp = next(m for m in map(ngap.decode, n.to_amf) if isinstance(m, ngap.PDUSessionResourceSetupResponse))
    assert resp.failed is None and len(resp.setup) == 1
    tun = resp.setup[0].transfer.dl_tunnel
    assert tun.address == N3_ADDR and tun.teid != 0 and resp.setup[0].transfer.qos_flows == (1,)
    # SMF policy 'preferred' / 'preferred', no PDCP security on the air: reported as not performed
    not_performed = ngap.SecurityResult("not-performed", "not-performed")
    assert resp.setup[0].transfer.security_result == not_performed
    assert tun.teid in n.femto.user_plane.by_teid
    # the UE got the PDU SESSION ESTABLISHMENT ACCEPT (inside DL NAS TRANSPORT)
    assert any(isinstance(m, nas.DlNasTransport) for m in ue.nas.received)
    info = smf.sessions()[0]
    assert info.state == "active" and info.security_result == not_performed
    ue_ip = info.ue_ipv4
    # uplink: DATA PDU -> G-PDU with a UL PDU Session Container -> UPF -> N6
    pkt = ipv4_udp(ue_ip, DN, b"ping")
    ue.send_data(1, pkt)
    assert n.n6 == [pkt]
    g = gtpu.decode(n.n3_out[-1].data)
    assert isinstance(g, gtpu.GPdu) and g.pdu_session.pdu_type == gtpu.PDU_TYPE_UL and g.qfi == 1
    # downlink: N6 -> UPF -> G-PDU on our DL TEID -> DATA PDU of session 1 to the UE
    back = ipv4_udp(DN, ue_ip, b"pong")
    n.n6_downlink(back)
    assert ue.data_in == [(1, back)]
    c = n.femto.all_counters()["n3"]
    assert c["ul_packets"] == 1 and c["dl_packets"] == 1
    assert n.ev("femto.up_security_not_performed")  # SMF default policy: 'preferred'
    # data on a session the UE does not have is dropped
    ue.send_data(2, pkt)
    assert len(n.n6) == 1 and n.femto.user_plane.counters["drop_ul_no_session"] == 1


def test_pdu_session_release(session_net) -> None:
    from testbed.protocols import rrc

    n, ue, smf = session_net
    _establish(n, ue)
    assert len(n.femto.user_plane.by_teid) == 1
    rel = nas.PduSessionReleaseRequest(pdu_session_id=1, pti=2)
    ue.send_rrc(rrc.ULInformationTransfer(ue.nas.ul_nas_transport(rel, dnn=None, snssai=None)))
    resp = [m for m in map(ngap.decode, n.to_amf) if isinstance(m, ngap.PDUSessionResourceReleaseResponse)]
    assert resp and resp[0].sessions[0].pdu_session_id == 1
    assert n.femto.user_plane.by_teid == {} and n.ev("femto.pdu_session_released")
    assert any(isinstance(m, nas.DlNasTransport) and m.payload_container[3] == nas.SmMessageType.PDU_SESSION_RELEASE_COMMAND
               for m in ue.nas.received)


def test_required_up_integrity_cannot_be_honoured(tmp_path: Path) -> None:
    n, keys, store = _net(tmp_path, ngap.SecurityIndication("required", "preferred"))
    ue = RlsUe(n, ("10.200.1.10", 40000), nas=nas_ue(keys, 1))
    ue.heartbeat()
    ue.register()
    _establish(n, ue)
    resp = next(m for m in map(ngap.decode, n.to_amf) if isinstance(m, ngap.PDUSessionResourceSetupResponse))
    assert resp.setup is None
    assert resp.failed == (ngap.PduSessionFailed(1, ngap.Cause("radioNetwork", "up-integrity-protection-not-possible")),)
    ev = n.ev("femto.up_security_not_honoured")
    assert ev and ev[0]["outcome"] == "rejected" and ev[0]["integrity"] == "required"
    assert n.femto.user_plane.by_teid == {}
    # the accept was not delivered: the UE only got the SMF's release command afterwards
    sm_types = [m.payload_container[3] for m in ue.nas.received if isinstance(m, nas.DlNasTransport)]
    assert nas.SmMessageType.PDU_SESSION_ESTABLISHMENT_ACCEPT not in sm_types
    assert n.smf.sessions() == [] or all(s.state != "active" for s in n.smf.sessions())
    n.close()
    store.close()


def test_skip_checks_knob_accepts_required_integrity_without_protection(tmp_path: Path) -> None:
    n, keys, store = _net(tmp_path, ngap.SecurityIndication("required", "required"), skip_checks=True)
    ue = RlsUe(n, ("10.200.1.10", 40000), nas=nas_ue(keys, 1))
    ue.heartbeat()
    ue.register()
    _establish(n, ue)
    resp = next(m for m in map(ngap.decode, n.to_amf) if isinstance(m, ngap.PDUSessionResourceSetupResponse))
    assert resp.failed is None and resp.setup
    assert n.ev("femto.up_security_not_honoured")[0]["outcome"].startswith("accepted")
    # accepted without protection, and honestly reported so
    assert resp.setup[0].transfer.security_result == ngap.SecurityResult("not-performed", "not-performed")
    info = n.smf.sessions()[0]
    assert info.state == "active" and (info.up_integrity_result, info.up_confidentiality_result) == (
        "not-performed", "not-performed")
    n.close()
    store.close()


def test_no_security_result_when_the_policy_needs_no_protection(tmp_path: Path) -> None:
    n, keys, store = _net(tmp_path, ngap.SecurityIndication("not-needed", "not-needed"))
    ue = RlsUe(n, ("10.200.1.10", 40000), nas=nas_ue(keys, 1))
    ue.heartbeat()
    ue.register()
    _establish(n, ue)
    resp = next(m for m in map(ngap.decode, n.to_amf) if isinstance(m, ngap.PDUSessionResourceSetupResponse))
    assert resp.failed is None and resp.setup[0].transfer.security_result is None
    assert not n.ev("femto.up_security_not_performed")
    info = n.smf.sessions()[0]
    assert info.state == "active" and info.security_result is None
    n.close()
    store.close()


# -- the relay alone ------------------------------------------------------------------------------

def test_echo_unknown_teid_malformed_and_error_indication() -> None:
    clock = Clock()
    up = UserPlane("192.168.1.2", clock=clock)
    t = up.add(7, 1, "10.10.0.3", 0x55, 9)
    upf = ("10.10.0.3", 2152)
    # echo request -> response with the same sequence number
    (o,) = up.n3_received(gtpu.EchoRequest(42).encode(), upf)
    assert isinstance(o, SendN3) and o.addr == upf and gtpu.decode(o.data) == gtpu.EchoResponse(42)
    # G-PDU on our TEID -> downlink to connection 7, session 1
    assert up.n3_received(gtpu.encode_gpdu(t.dl_teid, b"x", qfi=9), upf) == [N3Downlink(7, 1, b"x")]
    # unknown TEID: dropped, counted, one Error Indication (rate limited)
    (ei,) = up.n3_received(gtpu.encode_gpdu(t.dl_teid ^ 1, b"x"), upf)
    assert isinstance(gtpu.decode(ei.data), gtpu.ErrorIndication)
    assert up.n3_received(gtpu.encode_gpdu(t.dl_teid ^ 1, b"x"), upf) == []
    assert up.counters["drop_unknown_teid"] == 2
    # malformed
    for bad in (b"", b"\x30\xff", bytes(7), b"\x32\xff\x00\x10" + bytes(4)):
        assert up.n3_received(bad, upf) == []
    assert up.counters["drop_malformed"] == 4
    # the UPF's error indication for our UL tunnel is reported
    (ev,) = up.n3_received(gtpu.ErrorIndication(0x55, "10.10.0.3").encode(), upf)
    assert isinstance(ev, Event) and ev.fields["known_session"] is True
    # uplink encapsulation
    (ul,) = up.uplink(7, 1, b"ip")
    g = gtpu.decode(ul.data)
    assert ul.addr == upf and g.teid == 0x55 and g.qfi == 9 and g.pdu_session.pdu_type == gtpu.PDU_TYPE_UL
    # removal
    assert up.remove(7) == [1] and up.by_teid == {} and up.uplink(7, 1, b"ip") == []
