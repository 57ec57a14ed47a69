"""Fuzz the NTP server's request handling and the reply parser (network-facing, operator NTP node)."""

import sys

from testbed.errors import DecodeError
from testbed.ntp.sntp import answer, parse_reply


def test_one_input(data: bytes) -> None:
    reply = answer(data, 1.0e9, now=1.0e9 + 0.001)
    if reply is not None:
        assert len(reply) == 48
        parse_reply(reply)  # our own replies always parse
    try:
        parse_reply(data)
    except DecodeError:
        pass


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
