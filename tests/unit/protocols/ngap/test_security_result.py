"""Security Result in the PDU Session Resource Setup Response Transfer (TS 38.413 9.3.4.2, 8.2.1.2).

The encodings without a Security Result are pinned (taken before the field existed): adding the
optional field must leave them byte-identical.
"""

from __future__ import annotations

import pytest

from testbed.protocols import ngap

T = ngap.PduSessionResourceSetupResponseTransfer

# (transfer, its APER encoding) as produced before ``security_result`` was added
PINNED_TRANSFERS = [
    (T(ngap.GtpTunnel("192.168.1.2", 0x0B), (1,)), "0003e0c0a801020000000b0001"),
    (T(ngap.GtpTunnel("10.0.0.2", 6, "2001:db8::1"), (1, 2)),
     "0013e00a00000220010db80000000000000000000000010000000604010080"),
    (T(ngap.GtpTunnel("2001:db8::5", 0xFFFFFFFF), (0, 63)), "000fe020010db8000000000000000000000005ffffffff04000fc0"),
    (T(ngap.GtpTunnel("5.5.5.2", 0x0B), (0,)), "0003e0050505020000000b0000"),
]

PINNED_MESSAGES = [
    (ngap.PDUSessionResourceSetupResponse(5, 65537, (ngap.PduSessionSetupResult(5, PINNED_TRANSFERS[3][0]),)),
     "201d0026000003000a400200050055400480010001004b40110000050d0003e0050505020000000b0000"),
    (ngap.InitialContextSetupResponse(7, 9, (ngap.PduSessionSetupResult(5, PINNED_TRANSFERS[0][0]),)),
     "200e0024000003000a40020007005540020009004840110000050d0003e0c0a801020000000b0001"),
]


@pytest.mark.parametrize("t, hexed", PINNED_TRANSFERS)
def test_transfers_without_security_result_are_unchanged(t, hexed, pycrate_checks):
    assert t.to_bytes().hex() == hexed
    assert T.from_bytes(bytes.fromhex(hexed)) == t


@pytest.mark.parametrize("msg, hexed", PINNED_MESSAGES)
def test_messages_without_security_result_are_unchanged(msg, hexed):
    assert ngap.encode(msg).hex() == hexed
    assert ngap.decode(bytes.fromhex(hexed)) == msg


RESULTS = [ngap.SecurityResult(i, c) for i in ("performed", "not-performed") for c in ("performed", "not-performed")]


@pytest.mark.parametrize("res", RESULTS, ids=lambda r: f"{r.integrity}-{r.confidentiality}")
def test_transfer_with_security_result_round_trips(res, pycrate_checks):
    t = T(ngap.GtpTunnel("10.10.0.5", 0x1234), (1, 5), res)
    again = T.from_bytes(t.to_bytes())
    assert again == t and again.security_result == res
    msg = ngap.PDUSessionResourceSetupResponse(3, 4, (ngap.PduSessionSetupResult(1, t),))
    assert ngap.decode(ngap.encode(msg)) == msg


def test_known_answer_against_a_hand_built_pycrate_value():
    """The value built directly with pycrate (not through our converters) gives the same octets."""
    from pycrate_asn1dir import NGAP

    from testbed.protocols.ngap import _asn1

    obj = NGAP.NGAP_IEs.PDUSessionResourceSetupResponseTransfer
    val = {"dLQosFlowPerTNLInformation": {
        "uPTransportLayerInformation": ("gTPTunnel", {"transportLayerAddress": (0x0A0A0005, 32),
                                                      "gTP-TEID": b"\x00\x00\x12\x34"}),
        "associatedQosFlowList": [{"qosFlowIdentifier": 1}]},
        "securityResult": {"integrityProtectionResult": "not-performed", "confidentialityProtectionResult": "performed"}}
    with _asn1.LOCK:
        obj.set_val(val)
        expected = obj.to_aper()
    assert expected.hex() == "2003e00a0a000500001234000110"
    t = T(ngap.GtpTunnel("10.10.0.5", 0x1234), (1,), ngap.SecurityResult("not-performed", "performed"))
    assert t.to_bytes() == expected
    assert T.from_bytes(expected) == t


def test_security_result_values_are_checked():
    with pytest.raises(ValueError, match="protection results"):
        ngap.SecurityResult("not-needed", "performed")
    with pytest.raises(ValueError, match="protection results"):
        ngap.SecurityResult("performed", "preferred")
    with pytest.raises(ValueError, match="expected SecurityResult"):
        T(ngap.GtpTunnel("10.0.0.1", 1), (1,), ngap.SecurityIndication()).to_bytes()  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        RESULTS[0].integrity = "not-performed"  # type: ignore[misc]


def test_unknown_extension_result_value_is_a_decode_error():
    from testbed.errors import DecodeError

    good = bytes.fromhex("2003e00a0a000500001234000110")
    # integrityProtectionResult with the extension bit set (value index 0 of the extension additions)
    ext = good[:-1] + b"\x20\x00"
    with pytest.raises(DecodeError, match="integrityProtectionResult"):
        T.from_bytes(ext)
    for cut in range(1, len(good)):
        with pytest.raises(DecodeError):
            T.from_bytes(good[:cut])


def test_wireshark_reads_the_security_result(tmp_path):
    import subprocess

    from testbed.protocols.pcap import ipv4_sctp, tshark_available, tshark_check, write_pcap

    if not tshark_available():
        pytest.skip("tshark not installed")
    msgs = [ngap.PDUSessionResourceSetupResponse(3, 4, (ngap.PduSessionSetupResult(1, T(
        ngap.GtpTunnel("10.10.0.5", 0x1234), (1,), res)),)) for res in RESULTS]
    msgs.append(PINNED_MESSAGES[0][0])
    path = write_pcap(tmp_path / "secres.pcap",
                      [ipv4_sctp("10.0.0.1", "10.0.0.2", ngap.encode(m), tsn=i + 1) for i, m in enumerate(msgs)])
    reports = tshark_check(path)
    assert len(reports) == len(msgs)
    for rep in reports:
        assert rep.ok and not rep.expert, rep.expert
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=|",
                          "-e", "ngap.integrityProtectionResult", "-e", "ngap.confidentialityProtectionResult"],
                         capture_output=True, text=True, check=True).stdout
    rows = [r.split("|") for r in out.strip("\n").split("\n")]
    names = {"0": "performed", "1": "not-performed"}
    assert [(names[a], names[b]) for a, b in rows[:4]] == [(r.integrity, r.confidentiality) for r in RESULTS]
    assert rows[4] == ["", ""]
