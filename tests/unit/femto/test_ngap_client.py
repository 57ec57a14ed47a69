"""NGAP client procedures: reconnect after an AMF restart, NG Setup retries, NG Reset, AP ID checks,
error handling, paging (TS 38.413)."""

from __future__ import annotations

from testbed.core.amf import Amf, AmfConfig
from testbed.femto import FemtoGnb
from testbed.femto.outputs import ConnectN2, SendNgap
from testbed.protocols import ngap, rrc

from .harness import MCC, MNC, Clock, Net, RlsUe, femto_config, nas_ue

PLMN = ngap.Plmn(MCC, MNC)
GUAMI = ngap.Guami(PLMN, 1, 1, 0)
SETUP_OK = ngap.encode(ngap.NGSetupResponse("amf", (GUAMI,), (ngap.PlmnSupport(PLMN, (ngap.Snssai(1),)),)))


def scripted(**kw) -> tuple[FemtoGnb, Net]:
    """A femto with no AMF behind it: the test plays the AMF by hand."""
    femto = FemtoGnb(femto_config(**kw), clock=Clock())
    n = Net(femto)
    n.feed(femto.start())
    n.feed(femto.n2_up())
    return femto, n


def sent(n: Net) -> list:
    return [ngap.decode(d) for d in n.to_amf]


def amf_says(n: Net, msg: ngap.NgapMessage | bytes, stream: int = 1) -> None:
    n.feed(n.femto.ngap_received(msg if isinstance(msg, bytes) else ngap.encode(msg), stream))


def connected_ue(n: Net, amf_id: int = 77) -> RlsUe:
    """A UE with an RRC connection and an NG connection whose AMF-UE-NGAP-ID is ``amf_id``."""
    ue = RlsUe(n, ("10.200.1.10", 40000 + len(n.ues)))
    ue.heartbeat()
    ue.connect(b"\x7e\x00\x41\x79")
    init = [m for m in sent(n) if isinstance(m, ngap.InitialUEMessage)][-1]
    amf_says(n, ngap.DownlinkNASTransport(amf_id, init.ran_ue_ngap_id, b"\x7e\x00\x56"))
    return ue


def test_amf_restart_reconnect_with_backoff_and_repeat_ng_setup(net: Net, core) -> None:
    amf, keys, _ = core
    ue = RlsUe(net, ("10.200.1.10", 40000), nas=nas_ue(keys, 1))
    ue.heartbeat()
    ue.register()
    assert ue.nas.registered
    new_amf = Amf(AmfConfig(mcc=MCC, mnc=MNC), amf.ausf, amf.udm, amf.store)
    net.amf_up = False
    net.amf_restart(new_amf)
    # local release of every UE (RRC release), radio off, reconnect scheduled
    assert ue.rrc_state == "idle" and net.femto.ngap.ues == {}
    assert net.ev("femto.n2_down") and net.ev("femto.radio_off")[0]["reason"] == "N2 down"
    assert net.femto.status()["radio"]["on"] is False
    heard = len(ue.rls_in)
    ue.heartbeat()
    assert len(ue.rls_in) == heard  # radio off while N2 is down: silence
    # backoff: connection attempts fail twice, delays grow
    connects = net.connects
    net.tick(0.4)
    assert net.connects == connects
    net.tick(0.2)
    assert net.connects == connects + 1
    net.feed(net.femto.n2_connect_failed("refused"))
    net.tick(0.9)
    assert net.connects == connects + 1
    net.tick(0.2)
    assert net.connects == connects + 2
    # the AMF is back: NG Setup repeated and accepted, radio on again, UEs register again
    net.amf_up = True
    net.association_up()
    assert net.femto.ngap.state == "up" and net.types().count("femto.ng_setup_accepted") == 2
    assert net.types().count("femto.ready") == 1
    assert net.femto.status()["radio"]["on"] is True
    ue2 = RlsUe(net, ("10.200.1.11", 40000), nas=nas_ue(keys, 2))
    ue2.heartbeat()
    ue2.register()
    assert ue2.nas.registered


def test_backoff_is_capped() -> None:
    femto = FemtoGnb(femto_config(reconnect_min_s=1, reconnect_max_s=5), clock=Clock())
    assert femto.start() == [ConnectN2()]
    delays = []
    for _ in range(6):
        femto.n2_connect_failed("x")
        delays.append(femto.ngap._deadline - femto.clock())
    assert delays == [1, 2, 4, 5, 5, 5]


def test_ng_setup_timeout_and_time_to_wait() -> None:
    femto, n = scripted()
    assert isinstance(sent(n)[0], ngap.NGSetupRequest)
    n.tick(4.0)
    assert len(n.to_amf) == 1
    n.tick(1.5)  # no answer within 5 s: repeated
    assert [type(m).__name__ for m in sent(n)] == ["NGSetupRequest", "NGSetupRequest"]
    amf_says(n, ngap.NGSetupFailure(ngap.Cause("misc", "om-intervention"), time_to_wait=2), 0)
    assert n.ev("femto.ng_setup_refused")[0]["time_to_wait"] == 2 and femto.ngap.state == "refused"
    n.tick(1.0)
    assert len(n.to_amf) == 2
    n.tick(1.5)  # Time to Wait elapsed: new NG Setup (TS 38.413 8.7.1.3)
    assert len(n.to_amf) == 3
    amf_says(n, SETUP_OK, 0)
    assert femto.ngap.state == "up" and n.ev("femto.ready")
    # a refusal without Time to Wait is retried after reconnect_max_s (30 s)
    femto2, n2 = scripted()
    amf_says(n2, ngap.NGSetupFailure(ngap.Cause("radioNetwork", "npn-access-denied")), 0)
    n2.tick(29)
    assert len(n2.to_amf) == 1 and femto2.status()["radio"]["on"] is False
    n2.tick(1.5)
    assert len(n2.to_amf) == 2 and femto2.status()["radio"]["on"] is False


def test_ng_reset_from_the_amf() -> None:
    femto, n = scripted()
    amf_says(n, SETUP_OK, 0)
    a, b = connected_ue(n, 70), connected_ue(n, 71)
    assert len(femto.ngap.ues) == 2
    amf_says(n, ngap.NGReset(ngap.Cause("misc", "om-intervention"), (ngap.UeConnection(71, None),)), 0)
    ack = sent(n)[-1]
    assert isinstance(ack, ngap.NGResetAcknowledge) and ack.ue_connections == (ngap.UeConnection(71, None),)
    assert b.rrc_state == "idle" and a.rrc_state == "connected" and len(femto.ngap.ues) == 1
    amf_says(n, ngap.NGReset(ngap.Cause("misc", "om-intervention")), 0)
    assert isinstance(sent(n)[-1], ngap.NGResetAcknowledge) and sent(n)[-1].ue_connections is None
    assert a.rrc_state == "idle" and femto.ngap.ues == {}
    assert [e["released"] for e in n.ev("femto.ng_reset")] == [1, 1]


def test_ap_id_checks_unknown_and_inconsistent_ids() -> None:
    femto, n = scripted()
    amf_says(n, SETUP_OK, 0)
    ue = connected_ue(n, 70)
    ran = femto.ngap.conn_of(1)
    dl = len(ue.rrc_of(rrc.DLInformationTransfer))
    # unknown RAN-UE-NGAP-ID
    amf_says(n, ngap.DownlinkNASTransport(70, 999, b"\x7e\x00\x56"))
    ei = sent(n)[-1]
    assert isinstance(ei, ngap.ErrorIndication) and ei.cause == ngap.Cause("radioNetwork", "unknown-local-UE-NGAP-ID")
    assert (ei.amf_ue_ngap_id, ei.ran_ue_ngap_id) == (70, 999)
    # known RAN id, other AMF id: not acted upon (TS 38.413 10.6)
    amf_says(n, ngap.DownlinkNASTransport(71, ran, b"\x7e\x00\x56"))
    ei = sent(n)[-1]
    assert ei.cause == ngap.Cause("radioNetwork", "inconsistent-remote-UE-NGAP-ID")
    assert len(ue.rrc_of(rrc.DLInformationTransfer)) == dl and n.ev("femto.ngap_inconsistent_ids")
    amf_says(n, ngap.UEContextReleaseCommand(71, ngap.Cause("nas", "normal-release"), ran))
    assert isinstance(sent(n)[-1], ngap.ErrorIndication) and ue.rrc_state == "connected"
    # the right ids work
    amf_says(n, ngap.DownlinkNASTransport(70, ran, b"\x7e\x00\x56"))
    assert len(ue.rrc_of(rrc.DLInformationTransfer)) == dl + 1
    # release of an already-gone connection is confirmed anyway
    amf_says(n, ngap.UEContextReleaseCommand(5, ngap.Cause("nas", "normal-release"), 4242))
    assert isinstance(sent(n)[-1], ngap.UEContextReleaseComplete) and sent(n)[-1].ran_ue_ngap_id == 4242


def test_skip_checks_knob_acts_on_inconsistent_ids() -> None:
    femto, n = scripted(knobs={"skip_checks": True})
    amf_says(n, SETUP_OK, 0)
    ue = connected_ue(n, 70)
    ran = femto.ngap.conn_of(1)
    dl = len(ue.rrc_of(rrc.DLInformationTransfer))
    amf_says(n, ngap.DownlinkNASTransport(71, ran, b"\x7e\x00\x56"))
    assert len(ue.rrc_of(rrc.DLInformationTransfer)) == dl + 1
    assert femto.ngap.ues[ran].amf_ue_ngap_id == 71 and not isinstance(sent(n)[-1], ngap.ErrorIndication)


def test_skip_checks_knob_radiates_without_ng_setup() -> None:
    for skip, expect in ((False, False), (True, True)):
        femto, n = scripted(knobs={"skip_checks": skip})
        amf_says(n, ngap.NGSetupFailure(ngap.Cause("radioNetwork", "npn-access-denied")), 0)
        ue = RlsUe(n, ("10.200.1.10", 40000))
        ue.heartbeat()
        assert (ue.sib1 is not None) is expect
        assert femto.status()["radio"]["on"] is expect


def test_malformed_unexpected_and_before_setup() -> None:
    femto, n = scripted()
    # UE-associated before NG Setup completed
    amf_says(n, ngap.DownlinkNASTransport(1, 1, b"\x7e\x00\x56"))
    assert sent(n)[-1].cause == ngap.Cause("protocol", "message-not-compatible-with-receiver-state")
    amf_says(n, SETUP_OK, 0)
    for junk in (b"", b"\x00", b"\xff" * 40, SETUP_OK[:-3]):
        amf_says(n, junk, 0)
        assert sent(n)[-1] == ngap.ErrorIndication(cause=ngap.Cause("protocol", "transfer-syntax-error"))
    assert femto.ngap.counters["drop_malformed"] == 4 and len(n.ev("femto.ngap_malformed")) == 1
    # a gNB-originated message type from the AMF
    amf_says(n, ngap.InitialUEMessage(1, b"\x7e", femto_config().user_location))
    assert n.ev("femto.ngap_unexpected") and femto.ngap.state == "up"
    # an Error Indication from the AMF is reported
    amf_says(n, ngap.ErrorIndication(5, 6, ngap.Cause("protocol", "semantic-error")))
    assert n.ev("femto.ngap_error_indication")[0]["cause"] == "protocol/semantic-error"


def test_paging_reaches_the_ues_on_pcch() -> None:
    femto, n = scripted()
    amf_says(n, SETUP_OK, 0)
    ues = [RlsUe(n, ("10.200.1.10", 40000 + i)) for i in range(2)]
    for u in ues:
        u.heartbeat()
    tmsi = ngap.FiveGSTmsi(1, 0, 0xC0FFEE)
    # our TA among others, with the optional IEs
    amf_says(n, ngap.Paging(tmsi, (ngap.Tai(PLMN, 99), ngap.Tai(PLMN, 1)), paging_drx=64, paging_priority=2), 0)
    assert [u.paged for u in ues] == [[tmsi.to_int()]] * 2
    amf_says(n, ngap.Paging(tmsi, (ngap.Tai(PLMN, 99),)), 0)  # not our TA
    amf_says(n, ngap.Paging(tmsi, (ngap.Tai(ngap.Plmn("999", "99"), 1),)), 0)  # our TAC, another PLMN
    assert [u.paged for u in ues] == [[tmsi.to_int()]] * 2
    c = femto.ngap.counters
    assert (c["paging_in"], c["paging_other_ta"], c["unsupported"], c["error_indication_out"]) == (3, 2, 0, 0)
    # a PAGING without the mandatory TAI List for Paging is malformed: dropped, Error Indication
    from pycrate_asn1dir import NGAP

    from testbed.protocols.ngap import _asn1

    full = ngap.Paging(tmsi, (ngap.Tai(PLMN, 1),)).to_asn()
    ies = full[1]["value"][1]["protocolIEs"]
    full[1]["value"][1]["protocolIEs"] = [ie for ie in ies if ie["id"] != 103]
    pdu = NGAP.NGAP_PDU_Descriptions.NGAP_PDU
    with _asn1.LOCK:
        pdu.set_val(full)
        no_tais = pdu.to_aper()
    before = len(n.to_amf)
    amf_says(n, no_tais, 0)
    assert [u.paged for u in ues] == [[tmsi.to_int()]] * 2
    assert c["paging_in"] == 3 and c["drop_malformed"] == 1
    (err,) = [ngap.decode(d) for d in n.to_amf[before:]]
    assert err == ngap.ErrorIndication(cause=ngap.Cause("protocol", "transfer-syntax-error"))
    # the control interface pages too
    reply, outs = femto.control({"op": "page", "s_tmsi": "000000c0ffee"})
    n.feed(outs)
    assert reply["ok"] and ues[0].paged[-1] == 0xC0FFEE


def test_initial_ue_message_is_not_sent_while_n2_is_down() -> None:
    femto, n = scripted(knobs={"skip_checks": True})  # radiates although NG Setup is pending
    ue = RlsUe(n, ("10.200.1.10", 40000))
    ue.heartbeat()
    ue.connect(b"\x7e\x00\x41")
    assert not any(isinstance(m, ngap.InitialUEMessage) for m in sent(n))
    assert ue.rrc_of(rrc.RRCRelease) and femto.ngap.counters["drop_initial_ng_down"] == 1
    assert not any(isinstance(o, SendNgap) for o in femto.tick())


def test_initial_context_setup_for_a_ue_whose_radio_is_gone_fails() -> None:
    femto, n = scripted()
    amf_says(n, SETUP_OK, 0)
    connected_ue(n, 70)
    ran = femto.ngap.conn_of(1)
    n.tick(2.5)  # no heartbeats: the cell drops the UE, the femto asks for release
    assert isinstance(sent(n)[-1], ngap.UEContextReleaseRequest)
    ics = ngap.InitialContextSetupRequest(70, ran, GUAMI, (ngap.Snssai(1),), ngap.UeSecurityCapabilities(),
                                          bytes(32), nas_pdu=b"\x7e\x00\x42")
    amf_says(n, ics)
    fail = sent(n)[-1]
    assert isinstance(fail, ngap.InitialContextSetupFailure)
    assert fail.cause == ngap.Cause("radioNetwork", "radio-connection-with-ue-lost")
    # the AMF's release command finishes it
    amf_says(n, ngap.UEContextReleaseCommand(70, ngap.Cause("radioNetwork", "radio-connection-with-ue-lost"), ran))
    assert isinstance(sent(n)[-1], ngap.UEContextReleaseComplete) and femto.ngap.ues == {}


def test_mutated_input_on_every_interface_never_breaks_the_femto() -> None:
    """Bit flips of valid air, NGAP and GTP-U messages: dropped or handled, never an internal error."""
    import random

    from testbed.protocols import gtpu, rls

    femto, n = scripted()
    amf_says(n, SETUP_OK, 0)
    connected_ue(n, 70)
    ran = femto.ngap.conn_of(1)
    rnd = random.Random(5)
    sti = n.ues[("10.200.1.10", 40000)].sti
    air = [rls.Heartbeat(sti, 1, 2, 3).encode(),
           rls.PduTransmission(sti, rls.PduType.RRC, 7, rrc.encode(rrc.ULInformationTransfer(b"\x7e\x00\x43")), 9)
           .encode(),
           rls.PduTransmission(sti, rls.PduType.RRC, 5, rrc.encode(rrc.RRCSetupRequest(5)), 0).encode(),
           rls.PduTransmission(sti, rls.PduType.DATA, 1, b"\x45" + bytes(19), 0).encode()]
    dl = [ngap.encode(m) for m in (
        ngap.DownlinkNASTransport(70, ran, b"\x7e\x00\x56\x01\x02"),
        ngap.UEContextReleaseCommand(70, ngap.Cause("nas", "normal-release"), ran),
        ngap.PDUSessionResourceSetupRequest(70, ran, (ngap.PduSessionSetupRequest(
            1, ngap.Snssai(1), ngap.PduSessionResourceSetupRequestTransfer(ngap.GtpTunnel("10.10.0.3", 5))),)),
        ngap.NGReset(ngap.Cause("misc", "unspecified"), (ngap.UeConnection(70, ran),)))]
    n3 = [gtpu.encode_gpdu(1, b"x", qfi=1), gtpu.EchoRequest(1).encode()]

    def mutate(b: bytes) -> bytes:
        x = bytearray(b)
        for _ in range(rnd.randint(1, 3)):
            i = rnd.randrange(len(x))
            x[i] ^= 1 << rnd.randrange(8)
        return bytes(x)

    for _ in range(300):
        n.feed(femto.air_received(mutate(rnd.choice(air)), ("10.200.1.10", 40000)))
        n.feed(femto.ngap_received(mutate(rnd.choice(dl)), 1))
        n.feed(femto.n3_received(mutate(rnd.choice(n3)), ("10.10.0.3", 2152)))
    assert "femto.internal_error" not in n.types()
    c = femto.all_counters()
    assert c["radio"].get("drop_malformed_rls", 0) + c["radio"].get("drop_malformed_rrc", 0) > 10
    assert c["ngap"]["drop_malformed"] > 10 and c["n3"]["drop_malformed"] > 10
    assert femto.status()["n2"]["state"] == "up"
