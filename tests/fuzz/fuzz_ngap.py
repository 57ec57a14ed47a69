"""Fuzz target: the NGAP decoder (testbed.protocols.ngap.decode), APER from the N2 peer.

Each input is decoded as is, and also used to mutate a valid encoding of every
modelled message type (byte overwrites and a truncation chosen by the input), so
the fuzzer reaches deep into the IE decoders without a seed corpus. Only
:class:`DecodeError` is acceptable; whatever decodes must re-encode to an
encoding that decodes to the same message.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    import atheris

    # Coverage feedback for our code and pycrate's PER runtime only: atheris.instrument_all()
    # would also walk pycrate's compiled ASN.1 modules (~45 s of start-up).
    with atheris.instrument_imports(include=["testbed", "pycrate_asn1rt", "pycrate_core"]):
        from testbed.errors import DecodeError
        from testbed.protocols import ngap
else:
    from testbed.errors import DecodeError
    from testbed.protocols import ngap

_P = ngap.Plmn("001", "01")
_P3 = ngap.Plmn("310", "410")
_ULI = ngap.UserLocationNR(ngap.NrCgi(_P, 0x10), ngap.Tai(_P, 1))
_NAS = bytes.fromhex("7e004171000d010011000000000099898877f71001002e04804080402f020101")
_REQ_T = ngap.PduSessionResourceSetupRequestTransfer(
    ngap.GtpTunnel("10.0.0.1", 5), "ipv4", (ngap.QosFlowRequest(1), ngap.QosFlowRequest(2, 5, 1)),
    ngap.UeAmbr(1000, 2000), ngap.SecurityIndication("required", "preferred", "maximum-UE-rate"))
_RES_T = ngap.PduSessionResourceSetupResponseTransfer(ngap.GtpTunnel("10.0.0.2", 6, "2001:db8::1"), (1, 2))
_RES_T_SEC = ngap.PduSessionResourceSetupResponseTransfer(ngap.GtpTunnel("10.0.0.3", 7), (1,),
                                                          ngap.SecurityResult("not-performed", "performed"))
_CAUSE = ngap.Cause("radioNetwork", "user-inactivity")
_MR = ngap.MobilityRestriction(_P, (_P3,), (ngap.AllowedCagList(_P, (1, 0xFFFFFFFF), True),))

SEEDS = [ngap.encode(m) for m in (
    ngap.NGSetupRequest(ngap.GlobalGnbId(_P, 0x1234, 24), (ngap.SupportedTa(1, (
        ngap.BroadcastPlmn(_P, (ngap.Snssai(1), ngap.Snssai(2, 3))), ngap.BroadcastPlmn(_P3, (ngap.Snssai(1),), 7))),),
        64, "femto"),
    ngap.NGSetupRequest(ngap.GlobalGnbId(_P, 1, 32), (ngap.SupportedTa(1, (
        ngap.BroadcastPlmn(_P, (ngap.Snssai(1),), cag_ids=(0x101, 0xCAFE)),)),)),  # testbed CAG extension
    ngap.NGSetupResponse("amf", (ngap.Guami(_P, 1, 2, 3),), (ngap.PlmnSupport(_P, (ngap.Snssai(1, 2),)),), 10),
    ngap.NGSetupFailure(ngap.Cause("misc", "unknown-PLMN-or-SNPN"), 60),
    ngap.InitialUEMessage(1, _NAS, _ULI, "mo-Data", ngap.FiveGSTmsi(1, 2, 3), True, (5, 6)),
    ngap.UplinkNASTransport(2, 1, _NAS, _ULI),
    ngap.DownlinkNASTransport(2, 1, _NAS, _MR, (ngap.Snssai(1),)),
    ngap.InitialContextSetupRequest(2, 1, ngap.Guami(_P, 1, 2, 3), (ngap.Snssai(1),), ngap.UeSecurityCapabilities(),
                                    bytes(32), ngap.UeAmbr(1, 2),
                                    (ngap.PduSessionSetupRequest(1, ngap.Snssai(1), _REQ_T, _NAS),), _MR, _NAS),
    ngap.InitialContextSetupResponse(2, 1, (ngap.PduSessionSetupResult(1, _RES_T),),
                                     (ngap.PduSessionFailed(2, _CAUSE),)),
    ngap.InitialContextSetupFailure(2, 1, _CAUSE, (ngap.PduSessionFailed(2, _CAUSE),)),
    ngap.PDUSessionResourceSetupRequest(2, 1, (ngap.PduSessionSetupRequest(1, ngap.Snssai(1), _REQ_T, _NAS),), _NAS,
                                        ngap.UeAmbr(1, 2)),
    ngap.PDUSessionResourceSetupResponse(2, 1, (ngap.PduSessionSetupResult(1, _RES_T),),
                                         (ngap.PduSessionFailed(2, _CAUSE),)),
    ngap.PDUSessionResourceSetupResponse(2, 1, (ngap.PduSessionSetupResult(1, _RES_T_SEC),)),
    ngap.Paging(ngap.FiveGSTmsi(1, 2, 3), (ngap.Tai(_P, 1), ngap.Tai(_P3, 0xABCDEF)), 64, 3, "non-3gpp"),
    ngap.Paging(ngap.FiveGSTmsi(0x3FF, 0x3F, 0xFFFFFFFF), (ngap.Tai(_P, 1),)),
    ngap.UEContextReleaseRequest(2, 1, _CAUSE, (1, 2)),
    ngap.UEContextReleaseCommand(2, _CAUSE, 1),
    ngap.UEContextReleaseComplete(2, 1, _ULI, (1,)),
    ngap.ErrorIndication(2, 1, _CAUSE, ngap.FiveGSTmsi(1, 2, 3)),
    ngap.NGReset(_CAUSE, (ngap.UeConnection(1, 2), ngap.UeConnection(None, 3))),
    ngap.NGResetAcknowledge((ngap.UeConnection(1, None),)),
)]


def _check(buf: bytes) -> None:
    try:
        msg = ngap.decode(buf)
    except DecodeError:
        return
    if isinstance(msg, ngap.UnsupportedMessage):
        return
    again = ngap.decode(ngap.encode(msg))
    assert again == msg, (buf.hex(), msg, again)


def test_one_input(data: bytes) -> None:
    _check(data)
    if len(data) < 2:
        return
    seed = bytearray(SEEDS[data[0] % len(SEEDS)])
    cut = len(seed) - data[1] % 4 if data[1] & 0x80 else len(seed)
    for i in range(2, len(data) - 1, 2):
        seed[data[i] % len(seed)] = data[i + 1]
    _check(bytes(seed[:cut]))


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
