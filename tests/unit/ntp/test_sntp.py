"""SNTP server logic (RFC 4330)."""

import pytest

from testbed.errors import DecodeError
from testbed.ntp.sntp import answer, from_ntp, parse_reply, request, to_ntp


def test_answer_echoes_originate_and_gives_time():
    req = request(transmit=1_700_000_000.25)
    reply = answer(req, received=1_700_000_001.0, now=1_700_000_001.5)
    f = parse_reply(reply)
    assert f["originate"] == to_ntp(1_700_000_000.25)
    assert abs(f["receive"] - 1_700_000_001.0) < 1e-6
    assert abs(f["transmit"] - 1_700_000_001.5) < 1e-6
    assert f["stratum"] == 2


@pytest.mark.parametrize("bad", [b"", b"\x23" * 47, bytes([0x24]) + bytes(47), bytes([0x27]) + bytes(47)])
def test_non_requests_are_dropped(bad):
    # too short, mode 4 (a reply), mode 7 (control): no answer (no amplification)
    assert answer(bad, 0.0) is None


def test_parse_reply_rejects_requests_and_short():
    with pytest.raises(DecodeError):
        parse_reply(request())
    with pytest.raises(DecodeError):
        parse_reply(b"\x24")


def test_timestamp_round_trip():
    assert abs(from_ntp(to_ntp(1234567890.5)) - 1234567890.5) < 1e-6
