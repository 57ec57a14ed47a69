"""Fuzz target: the radio link (RLS) decoder (testbed.protocols.rls.decode), UDP/4997 from any air node.

Only :class:`DecodeError` is acceptable; whatever decodes must re-encode to the
very same bytes (the format has exactly one encoding per message).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    import atheris

    with atheris.instrument_imports(include=["testbed"]):
        from testbed.errors import DecodeError
        from testbed.protocols import rls
else:
    from testbed.errors import DecodeError
    from testbed.protocols import rls

_HDR = bytes((0x03, 3, 3, 0))


def _check(buf: bytes) -> None:
    try:
        msg = rls.decode(buf)
    except DecodeError:
        return
    assert msg.encode() == buf, (buf.hex(), msg)


def test_one_input(data: bytes) -> None:
    _check(data)
    _check(_HDR + data)  # past the marker/version check, into the bodies


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
