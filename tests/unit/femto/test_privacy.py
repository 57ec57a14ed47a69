"""SUPI hiding (TS 33.545, design.md): whatever the femto records never reveals a SUPI/IMSI or MSISDN.

Full registrations (SUCI Profile A and B) and a PDU session run through the femto against the real
core; every femto event (as written by the EventWriter), every log record of ``testbed.femto*``
(at DEBUG) and every control answer is searched for the subscribers' SUPI, IMSI digits, MSIN and
MSISDN, in decimal and in the BCD octets the NAS would carry them in. By default the femto also
never records NAS payloads; the ``log_everything`` knob (the compromised femto) does, and still
finds no SUPI.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from testbed.core.smf import LocalN4, Smf, SmfConfig
from testbed.core.upf.sessions import Upf
from testbed.crypto.suci import PROFILE_A, PROFILE_B
from testbed.femto import FemtoGnb
from testbed.protocols import nas, ngap, rrc
from testbed.runtime.events import EventWriter

from .harness import MCC, MNC, UPF_N3, Clock, Net, RlsUe, build_core, femto_config, ipv4_udp, nas_ue

MSINS = ("8642097531", "1357924680")
MSISDNS = ("4915112345678", "4915187654321")


def _bcd(digits: str) -> str:
    """Hex of the TS 24.008 BCD octets (low nibble first, filler F)."""
    if len(digits) % 2:
        digits += "F"
    return "".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2)).lower()


def forbidden() -> list[str]:
    out = []
    for msin, msisdn in zip(MSINS, MSISDNS, strict=True):
        imsi = f"{MCC}{MNC}{msin}"
        out += [f"imsi-{imsi}", imsi, msin, msisdn, _bcd(imsi), _bcd(msin), _bcd(msisdn)]
        # the MSIN as BCD after the 5-digit PLMN (odd split): digits 6.. of the IMSI
        out.append(_bcd(imsi)[6:])
    return out


def _run(tmp_path: Path, caplog: pytest.LogCaptureFixture, **knobs) -> tuple[str, list[bytes], Net]:
    caplog.set_level(logging.DEBUG, logger="testbed.femto")
    amf, keys, store = build_core(tmp_path, msins=MSINS, msisdns=MSISDNS)
    upf = Upf(UPF_N3, "10.45.0.0/16")
    smf = Smf(SmfConfig(smf_n4_address=("127.0.0.2", 8805), upf_n4_address=(UPF_N3, 8805)),
              LocalN4(upf, src=("127.0.0.2", 8805)))
    femto = FemtoGnb(femto_config(knobs=knobs), clock=Clock())
    n = Net(femto, amf, upf=upf, smf=smf)
    n.start_smf()
    n.start()
    for i, (msin, scheme) in enumerate(zip(MSINS, (PROFILE_A, PROFILE_B), strict=True)):
        ue = RlsUe(n, ("10.200.1.10", 40000 + i), nas=nas_ue(keys, msin, scheme))
        ue.heartbeat()
        ue.register()
        assert ue.nas.registered
        est = nas.PduSessionEstablishmentRequest(pdu_session_id=1, pti=1, pdu_session_type=nas.PduSessionType.IPV4)
        ue.send_rrc(rrc.ULInformationTransfer(ue.nas.ul_nas_transport(est)))
        info = [s for s in smf.sessions() if s.supi.endswith(msin)][0]
        ue.send_data(1, ipv4_udp(info.ue_ipv4, "10.20.0.10"))
        n.n6_downlink(ipv4_udp("10.20.0.10", info.ue_ipv4))
        assert ue.data_in
    n.tick(2.5)  # both UEs go silent: link timeout, release requests
    # everything the hosting party could read: the event file, the logs, the control answers
    writer = EventWriter(tmp_path / "femto.jsonl", "femto")
    for e in n.events:
        writer.emit(e.type, e.severity, **e.fields)
    writer.close()
    answers = [femto.control({"op": op})[0] for op in ("status", "ues", "counters")]
    text = "\n".join([(tmp_path / "femto.jsonl").read_text(),
                      "\n".join(r.getMessage() + repr(r.args) for r in caplog.records),
                      json.dumps(answers, default=str)])
    nas_pdus = [m.nas_pdu for m in map(ngap.decode, n.to_amf + n.from_amf) if getattr(m, "nas_pdu", None)]
    n.close()
    store.close()
    return text, nas_pdus, n


def _assert_no_identity(text: str) -> None:
    low = text.lower()
    for s in forbidden():
        assert s.lower() not in low, f"{s!r} found in what the femto records"


def test_no_supi_msisdn_or_nas_payload_in_femto_records(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text, nas_pdus, n = _run(tmp_path, caplog)
    assert n.types().count("femto.initial_ue") == 2 and len(text) > 1000
    assert any(r.name.startswith("testbed.femto") for r in caplog.records)  # the capture did capture
    _assert_no_identity(text)
    # no NAS payload in clear: only lengths / header types
    assert len(nas_pdus) > 10
    for p in nas_pdus:
        if len(p) >= 8:
            assert p.hex() not in text, "a NAS payload appears in the femto's records"
    assert '"nas_len"' in text


def test_compromised_femto_logs_everything_yet_sees_no_supi(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    text, nas_pdus, n = _run(tmp_path, caplog, log_everything=True)
    # the knob is effective: NAS payloads (and the decoded cleartext) are recorded now ...
    assert sum(p.hex() in text for p in nas_pdus) >= len(nas_pdus) // 2
    assert "RegistrationRequest" in text and n.ev("femto.seen.ngap")
    # ... the SUCI is all the femto gets to see of the subscriber identity
    assert "Suci" in text
    _assert_no_identity(text)


def test_forbidden_patterns_would_be_found() -> None:
    """The search is not vacuous: a record holding the SUPI in any listed form is caught."""
    imsi = f"{MCC}{MNC}{MSINS[0]}"
    for leak in (f"imsi-{imsi}", MSISDNS[1], bytes.fromhex(_bcd(imsi)).hex(), MSINS[1]):
        with pytest.raises(AssertionError):
            _assert_no_identity(f"event {{'x': '{leak}'}}")
