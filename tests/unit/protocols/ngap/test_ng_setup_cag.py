"""NG Setup Request carrying the femto's CAG IDs in the testbed-private BroadcastPLMNItem extension.

TS 38.413 NG SETUP REQUEST has no CAG IDs; the testbed puts a CellCAGList (9.3.3.x, SIZE(1..64) OF
BIT STRING (SIZE(32))) in a ProtocolExtensionField of each Broadcast PLMN Item with id 65530 and
criticality ignore (10.3.5), so that a standard receiver ignores it.
"""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrate_asn1dir import NGAP

from testbed.errors import DecodeError
from testbed.protocols import ngap
from testbed.protocols.ngap import _asn1
from testbed.protocols.ngap.ies import MAX_CAGS_PER_CELL, TESTBED_CAG_EXTENSION_ID
from testbed.protocols.pcap import ipv4_sctp, tshark_available, tshark_check, write_pcap

from ._samples import FULL, MINIMAL, PLMN, PLMN3

_PDU = NGAP.NGAP_PDU_Descriptions.NGAP_PDU
GNB = ngap.GlobalGnbId(PLMN, 0x1234, 24)

# Encodings of _samples.MINIMAL[0] / FULL[0] (NG Setup Requests without CAG IDs) computed with the
# codec before the CAG extension existed: adding the feature must not change a single octet.
MINIMAL_SETUP_HEX = "00150025000003001b00080000f110000000040066000d00000000010000f110000000080015400140"
FULL_SETUP_HEX = ("0015005f000004001b00090000f11050123456780052400f06006e722d66656d746f2d30303031006600330100abcdef"
                  "1000f110000100088040010203401300140000001000000102000700123456789ab0000000020000f11000000018"
                  "0015400160")


def _setup(*plmn_cags: tuple[int, ...], nid: int | None = None) -> ngap.NGSetupRequest:
    plmns = (PLMN, PLMN3, ngap.Plmn("001", "02"))
    bps = tuple(ngap.BroadcastPlmn(plmns[i], (ngap.Snssai(1),), nid, cags) for i, cags in enumerate(plmn_cags))
    return ngap.NGSetupRequest(GNB, (ngap.SupportedTa(7, bps),), 128, "femto")


def test_extension_id_is_outside_3gpp_range_and_fits_protocol_extension_id():
    assert TESTBED_CAG_EXTENSION_ID == 65530
    ext_ies = NGAP.NGAP_IEs.BroadcastPLMNItem_ExtIEs._val
    assert TESTBED_CAG_EXTENSION_ID not in {e["id"] for e in list(ext_ies.root) + list(ext_ies.ext or [])}
    assert MAX_CAGS_PER_CELL == NGAP.NGAP_Constants.maxnoofCAGSperCell._val == 64


def test_setup_without_cag_ids_is_byte_identical_to_before():
    assert ngap.encode(MINIMAL[0]).hex() == MINIMAL_SETUP_HEX
    assert ngap.encode(FULL[0]).hex() == FULL_SETUP_HEX
    default = ngap.NGSetupRequest(GNB, (ngap.SupportedTa(7, (ngap.BroadcastPlmn(PLMN, (ngap.Snssai(1),)),)),),
                                  128, "femto")
    assert ngap.encode(_setup(())) == ngap.encode(default)  # cag_ids=() is the default: no extension at all
    assert b"\xff\xfa" not in ngap.encode(_setup((), ()))


@pytest.mark.parametrize("n", [0, 1, 3, 64])
def test_round_trip(n):
    cags = tuple(range(0xFFFFFFFF, 0xFFFFFFFF - n, -1))
    msg = _setup(cags)
    buf = ngap.encode(msg)
    out = ngap.decode(buf)
    assert out == msg
    assert out.supported_tas[0].broadcast_plmns[0].cag_ids == cags
    assert out.cag_ids == cags
    assert (b"\xff\xfa\x40" in buf) == bool(n)  # id 65530, criticality ignore: not silently dropped


def test_known_answer_one_cag_id():
    buf = ngap.encode(_setup((0x00C0FFEE,)))
    # ProtocolExtensionField: id 65530 (2 octets), criticality ignore (01 + pad), open type length 5,
    # CellCAGList: 6-bit count-1 = 0 + pad, CAG-ID 32 bits (X.691 11.2, 16.10, 20)
    assert bytes.fromhex("fffa40050000c0ffee") in buf


def test_with_nid_and_several_plmns_and_property_union():
    msg = _setup((5, 6, 7), (), (7, 8, 5, 9), nid=0x123456789AB)
    out = ngap.decode(ngap.encode(msg))
    assert out == msg
    assert out.supported_tas[0].broadcast_plmns[0].nid == 0x123456789AB
    assert out.supported_tas[0].cag_ids == (5, 6, 7, 8, 9)
    assert out.cag_ids == (5, 6, 7, 8, 9)
    two_tas = ngap.NGSetupRequest(GNB, (
        ngap.SupportedTa(1, (ngap.BroadcastPlmn(PLMN, (ngap.Snssai(1),), cag_ids=(3, 1)),)),
        ngap.SupportedTa(2, (ngap.BroadcastPlmn(PLMN, (ngap.Snssai(1),), cag_ids=(1, 2, 3, 4)),))))
    assert ngap.decode(ngap.encode(two_tas)).cag_ids == (3, 1, 2, 4)
    assert MINIMAL[0].cag_ids == ()


def test_round_trip_with_pycrate_checks(pycrate_checks):
    msg = _setup((1, 2, 3), (0xFFFFFFFF,), nid=1)
    assert ngap.decode(ngap.encode(msg)) == msg


def test_list_is_normalised_to_tuple():
    bp = ngap.BroadcastPlmn(PLMN, (ngap.Snssai(1),), None, [1, 2])  # type: ignore[arg-type]
    assert bp.cag_ids == (1, 2)
    assert ngap.BroadcastPlmn(PLMN, (ngap.Snssai(1),)).cag_ids == ()


@pytest.mark.parametrize("cags", [tuple(range(65)), (-1,), (1 << 32,), (True,), ("1",), (1.0,), 5, "12", None])
def test_invalid_cag_ids_rejected(cags):
    with pytest.raises(ValueError):
        ngap.BroadcastPlmn(PLMN, (ngap.Snssai(1),), None, cags)


def _encode_raw(msg: ngap.NGSetupRequest, exts: list[dict]) -> bytes:
    """``msg`` as a peer would send it with ``exts`` as the first Broadcast PLMN Item's extensions."""
    val = msg.to_asn()
    ta_list = next(ie for ie in val[1]["value"][1]["protocolIEs"] if ie["id"] == 102)["value"][1]
    ta_list[0]["broadcastPLMNList"][0]["iE-Extensions"] = exts
    return _asn1.per_encode(_PDU, val, True, "test NGSetupRequest")


def _cag_ext(raw: bytes) -> dict:
    return {"id": TESTBED_CAG_EXTENSION_ID, "criticality": "ignore", "extensionValue": ("_unk_004", raw)}


def test_unknown_extensions_from_peer_are_ignored():
    base = _setup(())
    ext_slices = {"id": 271, "criticality": "reject", "extensionValue": (
        "ExtendedSliceSupportList", [{"s-NSSAI": {"sST": b"\x02", "sD": b"\x00\x00\x01"}}])}
    unknown = {"id": 65000, "criticality": "ignore", "extensionValue": ("_unk_004", b"\xde\xad\xbe\xef")}
    buf = _encode_raw(base, [unknown, ext_slices])
    assert buf != ngap.encode(base)
    assert ngap.decode(buf) == base
    # an unknown extension next to the CAG IDs: the CAG IDs are still found
    buf = _encode_raw(base, [unknown, _cag_ext(bytes.fromhex("0400000001ffffffff")), ext_slices])
    assert ngap.decode(buf).cag_ids == (1, 0xFFFFFFFF)


@pytest.mark.parametrize("raw", [
    bytes.fromhex("0400000001"),          # 2 CAG IDs announced, 1 present
    bytes.fromhex("0000000001ff"),        # trailing octet
    bytes.fromhex("00000001"),            # truncated CAG ID
    b"\xff",                              # 64 announced, none present
])
def test_malformed_cag_extension_is_decode_error(raw):
    with pytest.raises(DecodeError):
        ngap.decode(_encode_raw(_setup(()), [_cag_ext(raw)]))


def test_duplicated_cag_extension_is_decode_error():
    ext = _cag_ext(bytes.fromhex("0000000001"))
    with pytest.raises(DecodeError, match="twice"):
        ngap.decode(_encode_raw(_setup(()), [ext, ext]))


def test_standard_receiver_sees_ignorable_unknown_extension():
    """A stock TS 38.413 decoder (pycrate's NGAP without our layer) keeps the value as opaque octets."""
    val = _asn1.per_decode(_PDU, ngap.encode(_setup((0x11223344,))), True, "NGAP-PDU")
    ta_list = next(ie for ie in val[1]["value"][1]["protocolIEs"] if ie["id"] == 102)["value"][1]
    (ext,) = ta_list[0]["broadcastPLMNList"][0]["iE-Extensions"]
    assert ext["id"] == 65530 and ext["criticality"] == "ignore"
    assert ext["extensionValue"][0].startswith("_unk_")
    assert ext["extensionValue"][1] == bytes.fromhex("0011223344")


@pytest.mark.skipif(not tshark_available(), reason="tshark not installed")
def test_tshark_dissects_cleanly(tmp_path):
    msgs = [_setup(()), _setup((1,)), _setup((1, 2, 3), (4,), nid=9), _setup(tuple(range(64)), tuple(range(64)))]
    path = write_pcap(tmp_path / "ngsetup_cag.pcap",
                      [ipv4_sctp("10.0.0.1", "10.0.0.2", ngap.encode(m), tsn=i + 1) for i, m in enumerate(msgs)])
    reports = tshark_check(path)
    assert len(reports) == len(msgs)
    for rep in reports:
        assert rep.ok and not rep.malformed, rep
        assert not rep.expert, rep.expert
        assert "ngap" in rep.protocols
    ids = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "ngap.id"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert [line.split(",").count("65530") for line in ids] == [0, 1, 2, 2]


_plmns = st.builds(ngap.Plmn, st.text("0123456789", min_size=3, max_size=3), st.text("0123456789", min_size=2, max_size=3))
_cags = st.lists(st.integers(0, (1 << 32) - 1), max_size=MAX_CAGS_PER_CELL).map(tuple)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tas=st.lists(st.builds(ngap.SupportedTa, st.integers(0, (1 << 24) - 1), st.lists(st.builds(
    ngap.BroadcastPlmn, _plmns, st.just((ngap.Snssai(1),)), st.none() | st.integers(0, (1 << 44) - 1), _cags),
    min_size=1, max_size=3).map(tuple)), min_size=1, max_size=3).map(tuple))
def test_hypothesis_round_trip(tas):
    msg = ngap.NGSetupRequest(GNB, tas)
    out = ngap.decode(ngap.encode(msg))
    assert out == msg
    assert out.cag_ids == tuple(dict.fromkeys(c for ta in tas for bp in ta.broadcast_plmns for c in bp.cag_ids))
