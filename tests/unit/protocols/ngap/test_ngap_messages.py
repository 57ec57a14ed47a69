"""NGAP round trips, encoding rules and error behaviour for every modelled message."""

from __future__ import annotations

import dataclasses

import pytest

from testbed.errors import DecodeError
from testbed.protocols import ngap
from testbed.protocols.ngap import _asn1

from ._samples import ALL, FULL, GUAMI, KGNB, MINIMAL, PLMN, REGISTRATION_REQUEST, ULI


def _id(m: object) -> str:
    return type(m).__name__


@pytest.mark.parametrize("msg", ALL, ids=[_id(m) for m in ALL])
def test_round_trip_with_pycrate_checks(msg, pycrate_checks):
    buf = ngap.encode(msg)
    assert ngap.decode(buf) == msg


@pytest.mark.parametrize("msg", ALL, ids=[_id(m) for m in ALL])
def test_fast_mode_encodes_the_same_bytes(msg):
    fast = ngap.encode(msg)
    _asn1.set_safe(True)
    try:
        checked = ngap.encode(msg)
    finally:
        _asn1.set_safe(False)
    assert fast == checked
    assert ngap.decode(fast) == msg


def test_every_message_type_is_covered_minimal_and_full():
    assert {type(m) for m in MINIMAL} == set(ngap.MESSAGE_TYPES)
    assert {type(m) for m in FULL} == set(ngap.MESSAGE_TYPES)


def test_message_header_fields():
    buf = ngap.encode(MINIMAL[3])
    msg = ngap.decode(buf)
    assert isinstance(msg, ngap.InitialUEMessage)
    assert (msg.procedure_code, msg.kind, msg.name) == (15, ngap.Kind.INITIATING, "InitialUEMessage")
    assert ngap.NGSetupResponse.kind is ngap.Kind.SUCCESSFUL
    assert ngap.NGSetupFailure.kind is ngap.Kind.UNSUCCESSFUL
    # NGAP-PDU: initiatingMessage (choice 0), procedure code 15, criticality ignore (TS 38.413 9.4.4)
    assert buf[:3] == bytes((0x00, 0x0F, 0x40))


def test_ies_follow_the_asn1_order():
    # InitialContextSetupRequest: AMF id, RAN id, UE-AMBR, GUAMI, PDU sessions, allowed NSSAI, UE sec cap,
    # security key, mobility restriction, NAS-PDU (TS 38.413 9.2.2.1 / the IE class set order)
    msg = FULL[6]
    ids = [ie["id"] for ie in msg.to_asn()[1]["value"][1]["protocolIEs"]]
    assert ids == [10, 85, 110, 28, 71, 0, 119, 94, 36, 38]


def test_cag_ids_go_into_npn_access_information():
    msg = dataclasses.replace(MINIMAL[3], cag_ids=(0x00ABCDEF,))
    ies = {ie["id"]: ie for ie in msg.to_asn()[1]["value"][1]["protocolIEs"]}
    assert ies[259]["value"] == ("NPN-AccessInformation", ("pNI-NPN-Access-Information", [(0x00ABCDEF, 32)]))
    assert ies[259]["criticality"] == "reject"
    assert ngap.decode(ngap.encode(msg)).cag_ids == (0x00ABCDEF,)


def test_allowed_cag_list_in_mobility_restriction():
    mr = ngap.MobilityRestriction(PLMN, (), (ngap.AllowedCagList(PLMN, (7, 8), cag_only=True),))
    msg = ngap.InitialContextSetupRequest(1, 2, GUAMI, (ngap.Snssai(1),), ngap.UeSecurityCapabilities(), KGNB,
                                          mobility_restriction=mr)
    out = ngap.decode(ngap.encode(msg))
    assert out.mobility_restriction.allowed_cag == (ngap.AllowedCagList(PLMN, (7, 8), True),)


def test_transfer_accepts_pre_encoded_bytes():
    t = ngap.PduSessionResourceSetupRequestTransfer(ngap.GtpTunnel("10.1.2.3", 42))
    raw = t.to_bytes()
    assert ngap.PduSessionResourceSetupRequestTransfer.from_bytes(raw) == t
    item = ngap.PduSessionSetupRequest(1, ngap.Snssai(1), raw)
    msg = ngap.PDUSessionResourceSetupRequest(1, 2, (item,))
    out = ngap.decode(ngap.encode(msg))
    assert out.sessions[0].transfer == t
    assert ngap.encode(msg) == ngap.encode(dataclasses.replace(msg, sessions=(dataclasses.replace(item, transfer=t),)))


def test_transfer_decode_errors():
    with pytest.raises(DecodeError):
        ngap.PduSessionResourceSetupRequestTransfer.from_bytes(b"\x00")
    with pytest.raises(DecodeError):
        ngap.PduSessionResourceSetupResponseTransfer.from_bytes(b"")
    # a garbage transfer inside a message is a DecodeError of the whole message
    for junk in (b"\xff\xff", b"\x00", b"\x40\x00\x00\x00\x00\x00\x00\x00"):
        msg = ngap.PDUSessionResourceSetupResponse(1, 2, (ngap.PduSessionSetupResult(1, junk),))
        with pytest.raises(DecodeError):
            ngap.decode(ngap.encode(msg))


def test_unmodelled_procedure_is_reported_not_rejected():
    # AMFStatusIndication (procedure code 1) with an empty-ish IE list is outside our model.
    from pycrate_asn1dir import NGAP

    pdu = NGAP.NGAP_PDU_Descriptions.NGAP_PDU
    pdu.set_val(("initiatingMessage", {"procedureCode": 1, "criticality": "ignore", "value": (
        "AMFStatusIndication", {"protocolIEs": [{"id": 120, "criticality": "reject", "value": (
            "UnavailableGUAMIList", [{"gUAMI": {"pLMNIdentity": b"\x00\xf1\x10", "aMFRegionID": (1, 8),
                                                "aMFSetID": (1, 10), "aMFPointer": (0, 6)}}])}]})}))
    out = ngap.decode(pdu.to_aper())
    assert out == ngap.UnsupportedMessage(ngap.Kind.INITIATING, 1, "AMFStatusIndication")


@pytest.mark.parametrize("bad, match", [
    (lambda: ngap.InitialUEMessage(1 << 32, REGISTRATION_REQUEST, ULI), "RAN UE NGAP ID"),
    (lambda: ngap.InitialUEMessage(1, b"", ULI), "NAS-PDU"),
    (lambda: ngap.InitialUEMessage(1, REGISTRATION_REQUEST, ULI, "bogus-cause"), "RRC establishment cause"),
    (lambda: ngap.InitialUEMessage(1, REGISTRATION_REQUEST, ULI, cag_ids=()), "CAG ID list"),
    (lambda: ngap.NGSetupRequest(ngap.GlobalGnbId(PLMN, 1), (), 128), "supported TA list"),
    (lambda: ngap.NGSetupRequest(ngap.GlobalGnbId(PLMN, 1), MINIMAL[0].supported_tas, 100), "paging DRX"),
    (lambda: ngap.NGSetupRequest(ngap.GlobalGnbId(PLMN, 1), MINIMAL[0].supported_tas, 128, "bad_name!"),
     "PrintableString"),
    (lambda: ngap.NGSetupFailure(ngap.Cause("misc", "not-a-cause")), "not a misc cause"),
    (lambda: ngap.NGSetupFailure(ngap.Cause("misc", "unspecified"), 3), "time to wait"),
    (lambda: ngap.InitialContextSetupRequest(1, 1, GUAMI, (ngap.Snssai(1),), ngap.UeSecurityCapabilities(),
                                             KGNB[:16]), "KgNB"),
    (lambda: ngap.UplinkNASTransport(1, 1, REGISTRATION_REQUEST, None), "mandatory IE user_location"),
])
def test_invalid_values_raise_value_error_on_encode(bad, match):
    with pytest.raises(ValueError, match=match):
        ngap.encode(bad())


@pytest.mark.parametrize("make", [
    lambda: ngap.Plmn("01", "01"),
    lambda: ngap.Plmn("001", "1"),
    lambda: ngap.Plmn("00a", "01"),
    lambda: ngap.Snssai(256),
    lambda: ngap.Snssai(1, 1 << 24),
    lambda: ngap.Tai(PLMN, 1 << 24),
    lambda: ngap.NrCgi(PLMN, 1 << 36),
    lambda: ngap.GlobalGnbId(PLMN, 1, 21),
    lambda: ngap.GlobalGnbId(PLMN, 1 << 22, 22),
    lambda: ngap.GtpTunnel("not-an-ip", 1),
    lambda: ngap.GtpTunnel("10.0.0.1", 1 << 32),
    lambda: ngap.Cause("bogus", "x"),
    lambda: ngap.FiveGSTmsi(1 << 10, 0, 0),
    lambda: ngap.UeConnection(),
    lambda: ngap.QosFlowRequest(64),
    lambda: ngap.SecurityIndication("always"),
])
def test_invalid_ie_construction(make):
    with pytest.raises(ValueError):
        make()


def test_encode_rejects_non_messages():
    with pytest.raises(TypeError):
        ngap.encode(b"\x00")  # type: ignore[arg-type]


def test_missing_mandatory_ie_is_a_decode_error():
    from pycrate_asn1dir import NGAP

    pdu = NGAP.NGAP_PDU_Descriptions.NGAP_PDU
    pdu.set_val(("initiatingMessage", {"procedureCode": 46, "criticality": "ignore", "value": (
        "UplinkNASTransport", {"protocolIEs": [
            {"id": 10, "criticality": "reject", "value": ("AMF-UE-NGAP-ID", 1)},
            {"id": 85, "criticality": "reject", "value": ("RAN-UE-NGAP-ID", 1)}]})}))
    with pytest.raises(DecodeError, match="mandatory IE"):
        ngap.decode(pdu.to_aper())


def test_duplicated_ie_is_a_decode_error():
    from pycrate_asn1dir import NGAP

    pdu = NGAP.NGAP_PDU_Descriptions.NGAP_PDU
    msg = ngap.UplinkNASTransport(1, 1, REGISTRATION_REQUEST, ULI)
    val = msg.to_asn()
    ies = val[1]["value"][1]["protocolIEs"]
    ies.append(dict(ies[0]))
    pdu.set_val(val)
    with pytest.raises(DecodeError, match="twice"):
        ngap.decode(pdu.to_aper())


def test_trailing_octets_are_rejected():
    buf = ngap.encode(MINIMAL[4])
    with pytest.raises(DecodeError, match="trailing"):
        ngap.decode(buf + b"\x00")


def test_invalid_plmn_bcd_is_a_decode_error():
    buf = bytearray(ngap.encode(MINIMAL[4]))
    pos = buf.find(PLMN.to_bytes())
    buf[pos] = 0xAA
    with pytest.raises(DecodeError, match="BCD"):
        ngap.decode(bytes(buf))


def test_decode_accepts_bytearray_and_memoryview():
    buf = ngap.encode(MINIMAL[4])
    assert ngap.decode(bytearray(buf)) == ngap.decode(memoryview(buf)) == MINIMAL[4]
    with pytest.raises(TypeError):
        ngap.decode("00")  # type: ignore[arg-type]


def test_failed_decode_leaves_no_codec_state():
    from pycrate_asn1rt.codecs import ASN1CodecPER

    depth = len(ASN1CodecPER._off)
    buf = ngap.encode(FULL[6])
    for cut in range(1, len(buf)):
        with pytest.raises(DecodeError):
            ngap.decode(buf[:cut])
    assert len(ASN1CodecPER._off) == depth
    assert ngap.decode(buf) == FULL[6]
