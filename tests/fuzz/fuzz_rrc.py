"""Fuzz target: the NR RRC decoder (testbed.protocols.rrc.decode), UPER from the air interface.

The first input byte picks the logical channel; the rest is decoded as is and
also used to mutate a valid encoding of each modelled message (so the fuzzer
reaches the SIB1 NPN list, RRCSetupComplete options, ...). Only
:class:`DecodeError` is acceptable; whatever decodes must re-encode to an
encoding that decodes to the same message.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    import atheris

    # Coverage feedback for our code and pycrate's PER runtime only (see fuzz_ngap.py).
    with atheris.instrument_imports(include=["testbed", "pycrate_asn1rt", "pycrate_core"]):
        from testbed.errors import DecodeError
        from testbed.protocols import rrc
else:
    from testbed.errors import DecodeError
    from testbed.protocols import rrc

_P = rrc.Plmn("001", "01")
_NAS = bytes.fromhex("7e004171000d010011000000000099898877f71001002e04804080402f020101")

SEEDS = [(m.channel, rrc.encode(m)) for m in (
    rrc.Mib(),
    rrc.Sib1.for_cell(_P, 1, 0x10),
    rrc.Sib1((rrc.PlmnIdentityInfo((_P, rrc.Plmn("001", "001")), 7, 0x123456789, True),
              rrc.PlmnIdentityInfo((rrc.Plmn("310", "410"),), None, 5)), True,
             (rrc.NpnIdentityInfo((rrc.PniNpn(_P, (1, 2), True),), 7, 0x123456789),), 0x41),
    rrc.RRCSetupRequest(0x123456789, "mo-Data", True),
    rrc.RRCSetup(2),
    rrc.RRCReject(3),
    rrc.RRCSetupComplete(_NAS, 1, 1, rrc.RegisteredAmf(0x010203, _P), s_tmsi=0x123456789ABC),
    rrc.RRCSetupComplete(_NAS, 0, 2, None, s_tmsi_part2=5),
    rrc.ULInformationTransfer(_NAS),
    rrc.DLInformationTransfer(_NAS, 1),
    rrc.RRCRelease(3),
    rrc.Paging((1, 0xFFFFFFFFFFFF)),
)]


def _check(channel: int, buf: bytes) -> None:
    try:
        msg = rrc.decode(channel, buf)
    except DecodeError:
        return
    if isinstance(msg, rrc.UnsupportedRrcMessage):
        return
    again = rrc.decode(channel, rrc.encode(msg))
    assert again == msg, (channel, buf.hex(), msg, again)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    _check(data[0] % 8, data[1:])
    if len(data) < 3:
        return
    channel, seed = SEEDS[data[0] % len(SEEDS)]
    buf = bytearray(seed)
    cut = len(buf) - data[1] % 4 if data[1] & 0x80 else len(buf)
    for i in range(2, len(data) - 1, 2):
        buf[data[i] % len(buf)] = data[i + 1]
    _check(channel, bytes(buf[:cut]))


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
