"""Wireshark (tshark) dissects every message we encode, plain and security protected, without errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.protocols import nas
from testbed.protocols.pcap import LINKTYPE_USER0, tshark_available, tshark_check, write_pcap

from .samples import samples

pytestmark = pytest.mark.skipif(not tshark_available(), reason="tshark is not installed")


def test_tshark_dissects_all_messages(tmp_path: Path) -> None:
    plain = [nas.encode(m) for m in samples()]
    ue = nas.NasSecurityContext("ue", k_nas_int=bytes(range(16)), k_nas_enc=bytes(range(16, 32)), nia=2, nea=2)
    amf = nas.NasSecurityContext("amf", k_nas_int=bytes(range(16)), k_nas_enc=bytes(range(16, 32)), nia=2, nea=2)
    mm_plain = [b for b in plain if b[0] == 0x7E]
    protected = [ctx.protect(b, sht) for b in mm_plain[:6] for ctx in (ue, amf) for sht in (1, 2, 3, 4)]
    reports = tshark_check(write_pcap(tmp_path / "nas.pcap", plain + protected, LINKTYPE_USER0),
                           user_dlt="nas-5gs")
    assert len(reports) == len(plain) + len(protected)
    for rep in reports:
        assert "nas-5gs" in rep.protocols, rep
        assert rep.ok, rep
    for rep, msg in zip(reports, samples(), strict=False):  # plain messages: fully dissected, no warning
        assert rep.expert == [], (msg.name, rep.expert)
