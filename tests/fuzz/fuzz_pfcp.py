"""Fuzz target: PFCP on N4 (TS 29.244) — the codec and the UPF's request handler.

``pfcp.decode`` may raise only :class:`DecodeError`; ``Upf.handle_pfcp`` (what a hostile node on
the operator network reaches on UDP 8805) must never raise, whatever it gets.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    import atheris

    with atheris.instrument_imports(include=["testbed"]):
        from testbed.core.smf import pfcp
        from testbed.core.upf.sessions import Upf
        from testbed.errors import DecodeError
else:
    from testbed.core.smf import pfcp
    from testbed.core.upf.sessions import Upf
    from testbed.errors import DecodeError

SMF = ("10.10.0.2", 8805)
_UPF = Upf("10.10.0.3", "10.45.0.0/16")
_SEEDS: list[bytes] = []


def _seeds() -> list[bytes]:
    if not _SEEDS:
        assoc = pfcp.AssociationSetupRequest(seq=1, node_id="10.10.0.2", recovery_ts=1)
        _SEEDS.append(pfcp.encode(assoc))
        _UPF.handle_pfcp(_SEEDS[0], SMF)
        pdrs, fars, urrs, qers = pfcp.pdu_session_rules("10.45.0.2", pfcp.Fteid(choose=True))
        est = pfcp.SessionEstablishmentRequest(seq=2, node_id="10.10.0.2", cp_fseid=pfcp.Fseid(1, "10.10.0.2"),
                                               pdrs=pdrs, fars=fars, urrs=urrs, qers=qers)
        _SEEDS.append(pfcp.encode(est))
        _SEEDS.append(pfcp.encode(pfcp.HeartbeatRequest(seq=3, recovery_ts=1)))
        _SEEDS.append(pfcp.encode(pfcp.SessionDeletionRequest(seq=4, seid=1)))
    return _SEEDS


def test_one_input(data: bytes) -> None:
    try:
        pfcp.decode(data)
    except DecodeError:
        pass
    _UPF.handle_pfcp(data, SMF)
    if len(data) < 2:
        return
    seeds = _seeds()
    seed = bytearray(seeds[data[0] % len(seeds)])
    for i in range(1, len(data) - 1, 2):
        seed[data[i] % len(seed)] = data[i + 1]
    try:
        pfcp.decode(bytes(seed))
    except DecodeError:
        pass
    _UPF.handle_pfcp(bytes(seed), SMF)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
