"""Fuzz target: the NAS 5GS decoder and the NAS security layer (network-facing, from UEs or AMFs).

``test_one_input`` feeds the input to :func:`testbed.protocols.nas.decode` (plain 5GMM/5GSM messages
and the security protected envelope), re-encodes whatever decodes and checks it decodes back to the
same message, and runs security protected input through ``NasSecurityContext.unprotect`` of a UE and
an AMF context. Only :class:`testbed.errors.DecodeError` (malformed input) and the NAS security
rejections (:class:`NasSecurityError`: MAC failure, replay, not protected) are expected; anything else
propagates and is a bug.

The first input byte selects the mode, so the fuzzer can also reach the inner plain message of a
correctly protected one: mode 0 decodes the rest; mode 1 protects the rest (if it is a plain 5GMM
message) with a valid context and unprotects it again; other modes unprotect the rest as it is.

Run: ``.venv/bin/python tests/fuzz/fuzz_nas.py -max_total_time=20`` (optionally a corpus directory).
"""

from __future__ import annotations

import sys

from testbed.errors import DecodeError
from testbed.protocols import nas

_KEY_INT = bytes(range(16))
_KEY_ENC = bytes(range(16, 32))


def _ctx(role: str) -> nas.NasSecurityContext:
    return nas.NasSecurityContext(role, k_nas_int=_KEY_INT, k_nas_enc=_KEY_ENC, nia=2, nea=2)  # type: ignore[arg-type]


def _check_roundtrip(buf: bytes) -> None:
    try:
        msg = nas.decode(buf)
    except DecodeError:
        return
    again = nas.encode(msg)
    if nas.decode(again) != msg:
        raise AssertionError(f"re-encoding changed the message: {buf.hex()} -> {again.hex()}")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0] % 4, data[1:]
    if mode == 0:
        _check_roundtrip(body)
        return
    if mode == 1:
        if len(body) < 3 or body[0] != 0x7E or body[1] & 0x0F:
            return
        ue, amf = _ctx("ue"), _ctx("amf")
        try:
            wire = ue.protect(body, 1 + data[0] // 4 % 4)
            plain, _ = amf.unprotect(wire)
        except nas.NasSecurityError as exc:
            raise AssertionError(f"a genuine protected message was rejected: {exc}") from None
        if plain != body:
            raise AssertionError("unprotect(protect(x)) != x")
        _check_roundtrip(plain)
        return
    for role in ("ue", "amf"):
        try:
            plain, _ = _ctx(role).unprotect(body)
        except (DecodeError, nas.NasSecurityError):
            continue
        _check_roundtrip(plain)  # only reachable with NIA0-like luck; kept for completeness
    _check_roundtrip(body)


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()  # coverage feedback from the already imported codec (and pycrate)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
