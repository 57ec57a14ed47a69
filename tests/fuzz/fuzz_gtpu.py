"""Fuzz target: the GTP-U decoder (testbed.protocols.gtpu.decode), UDP/2152 payloads from N3 peers.

Only :class:`DecodeError` is acceptable; whatever decodes must re-encode to bytes
that decode to the same message (extension headers other than the PDU Session
Container and the N-PDU number are not re-encoded, so those are compared loosely).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    import atheris

    with atheris.instrument_imports(include=["testbed"]):
        from testbed.errors import DecodeError
        from testbed.protocols import gtpu
else:
    from testbed.errors import DecodeError
    from testbed.protocols import gtpu


def test_one_input(data: bytes) -> None:
    try:
        msg = gtpu.decode(data)
    except DecodeError:
        return
    again = gtpu.decode(msg.encode())
    if isinstance(msg, gtpu.GPdu):
        assert (again.teid, again.payload, again.pdu_session, again.seq) == (
            msg.teid, msg.payload, msg.pdu_session, msg.seq), (data.hex(), msg, again)
    else:
        assert again == msg, (data.hex(), msg, again)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
