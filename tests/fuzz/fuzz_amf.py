"""Fuzz target: the AMF's N2 input (``Amf.ngap_received``), what any gNB (or a rogue femto) reaches.

Mutated NGAP PDUs (NG Setup, Initial UE Message with a Registration Request, Uplink NAS
Transport, UE context release) go to a live AMF with a real UDR/UDM/AUSF on two associations.
The AMF must never raise and never hit its internal-error guard: every malformed or unexpected
input is answered (Error Indication, 5GMM STATUS, reject) or dropped with an event.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    import atheris

    with atheris.instrument_imports(include=["testbed"]):
        from testbed.core.amf import Amf, AmfConfig, Event
        from testbed.core.ausf import Ausf
        from testbed.core.udm import HomeNetworkKeys, Udm
        from testbed.core.udr import SubscriberStore, parse_subscriber_data
        from testbed.crypto.identity import Supi
        from testbed.crypto.suci import NULL_SCHEME, conceal
        from testbed.protocols import nas, ngap
else:
    from testbed.core.amf import Amf, AmfConfig, Event
    from testbed.core.ausf import Ausf
    from testbed.core.udm import HomeNetworkKeys, Udm
    from testbed.core.udr import SubscriberStore, parse_subscriber_data
    from testbed.crypto.identity import Supi
    from testbed.crypto.suci import NULL_SCHEME, conceal
    from testbed.protocols import nas, ngap

PLMN = ngap.Plmn("001", "01")
ULI = ngap.UserLocationNR(ngap.NrCgi(PLMN, 1 << 14), ngap.Tai(PLMN, 1))
_STATE: dict = {}


def _amf() -> Amf:
    if "amf" not in _STATE:
        store = SubscriberStore(":memory:")
        store.load(parse_subscriber_data({
            "subscribers": [{"supi": "imsi-001010000000001", "k": "00" * 16, "opc": "11" * 16,
                             "allowed_cag_ids": [0x101]}],
            "femtos": [{"name": "f", "mcc": "001", "mnc": "01", "gnb_id": 1, "gnb_id_bits": 22,
                        "authorised_cag_ids": [0x101]}]}))
        udm = Udm(store, HomeNetworkKeys.generate())
        amf = Amf(AmfConfig(), Ausf(udm), udm, store)
        bp = ngap.BroadcastPlmn(PLMN, (ngap.Snssai(1),), cag_ids=(0x101,))
        setup = ngap.encode(ngap.NGSetupRequest(ngap.GlobalGnbId(PLMN, 1, 22), (ngap.SupportedTa(1, (bp,)),)))
        for assoc in (1, 2):
            amf.association_up(assoc, f"10.10.0.{assoc}:38412")
        amf.ngap_received(1, setup, 0)
        suci = conceal(Supi.parse("imsi-001010000000001"), NULL_SCHEME)
        reg = nas.RegistrationRequest(mobile_identity=suci,
                                      ue_security_capability=nas.UeSecurityCapability(nea={0, 2}, nia={2}))
        reg_b = nas.encode(nas.cleartext_part(reg))
        _STATE["amf"] = amf
        _STATE["seeds"] = [
            setup,
            ngap.encode(ngap.InitialUEMessage(1, reg_b, ULI, cag_ids=(0x101,))),
            ngap.encode(ngap.UplinkNASTransport(1, 1, b"\x7e\x00\x57\x2d\x10" + bytes(16), ULI)),
            ngap.encode(ngap.UEContextReleaseRequest(1, 1, ngap.Cause("radioNetwork", "unspecified"))),
        ]
    return _STATE["amf"]


def _feed(assoc: int, data: bytes) -> None:
    for out in _amf().ngap_received(assoc, data, 1):
        assert not (isinstance(out, Event) and out.type == "internal_error"), (data.hex(), out)


def test_one_input(data: bytes) -> None:
    amf = _amf()
    if len(data) < 3:
        return
    _feed(1 + (data[0] & 1), data[3:])
    seeds = _STATE["seeds"]
    seed = bytearray(seeds[data[1] % len(seeds)])
    for i in range(3, len(data) - 1, 2):
        seed[data[i] % len(seed)] = data[i + 1]
    _feed(1 + (data[2] & 1), bytes(seed))
    if len(amf.ue_contexts()) > 2000:  # keep the state bounded between runs
        _STATE.clear()


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
