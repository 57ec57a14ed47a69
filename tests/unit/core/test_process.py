"""The core process's glue (testbed.core.process): construction from settings, control requests,
event naming. The sockets themselves are exercised by tests/integration/core."""

import json
import os
import stat

import pytest

from testbed.core.config import parse_core_settings
from testbed.core.process import CoreProcess, amf_config, event_severity, event_type
from testbed.runtime.events import EventWriter, read_events

SETTINGS = {
    "plmn": {"mcc": "001", "mnc": "01"},
    "amf": {"nia_priority": [1, 2], "nea_priority": [2, 0]},
    "subscribers": [{"supi": "imsi-001010000000001", "msisdn": "491700000001", "allowed_cag_ids": [0x101]}],
    "femtos": [{"name": "femto1", "gnb_id": 1, "authorised_cag_ids": [0x101]}],
}


@pytest.fixture
def core(tmp_path):
    events = EventWriter(tmp_path / "events.jsonl", "core")
    proc = CoreProcess(parse_core_settings(SETTINGS), tmp_path / "core", events, connect_upf=False)
    proc._build()
    yield proc
    proc.store.close()


def test_event_names_are_dotted_and_failures_are_warnings():
    assert event_type("cag_reject") == "cag.reject"
    assert event_type("ng_setup_refused") == "ngsetup.refused"
    assert event_type("nas_replay") == "nas.replay_dropped"
    assert event_type("pdu_session_setup") == "pdu_session.setup"
    assert event_severity("cag_reject") == "warning" and event_severity("cag_accept") == "info"
    assert event_severity("internal_error") == "error"


def test_amf_config_follows_the_settings():
    cfg = amf_config(parse_core_settings(SETTINGS))
    assert cfg.nia_priority == (1, 2) and cfg.nea_priority == (2, 0)
    assert (cfg.mcc, cfg.mnc) == ("001", "01")


def test_first_start_provisions_keys_and_store(core, tmp_path):
    state = tmp_path / "core"
    assert stat.S_IMODE(os.stat(state / "hn-keys.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(state / "subscribers.yaml").st_mode) == 0o600
    public = json.loads((state / "hn-public.json").read_text())
    assert {k["profile"] for k in public} == {1, 2} and all("private" not in json.dumps(k) for k in public)
    assert core.store.count() == 1
    assert core.store.femto_authorised_cags("001", "01", 1, 32) == frozenset({0x101})


def test_restart_keeps_keys_and_sqn(core, tmp_path):
    before = (tmp_path / "core" / "hn-keys.json").read_text()
    sqn = core.store.next_sqn("imsi-001010000000001")
    core.store.close()
    again = CoreProcess(parse_core_settings(SETTINGS), tmp_path / "core", core.events, connect_upf=False)
    again._build()
    try:
        assert (tmp_path / "core" / "hn-keys.json").read_text() == before
        assert again.store.next_sqn("imsi-001010000000001") > sqn  # never reused after a restart
    finally:
        again.store.close()


def test_control_requests(core, tmp_path):
    assert core.control({"op": "status"})["subscribers"] == 1
    assert core.control({"op": "ues"}) == {"ok": True, "ues": []}
    assert len(core.control({"op": "hn_public_keys"})["keys"]) == 2
    sub = core.control({"op": "get_subscriber", "supi": "imsi-001010000000001"})
    assert sub["ok"] and '"k"' not in json.dumps(sub) and '"opc"' not in json.dumps(sub)
    changed = core.control({"op": "set_allowed_cag", "supi": "imsi-001010000000001", "cag_ids": [0x102]})
    assert changed["ok"]
    assert core.store.get("imsi-001010000000001").allowed_cag_ids == frozenset({0x102})
    # bad requests are answered, never raised
    assert not core.control(None)["ok"]
    assert not core.control({"op": 5})["ok"]
    assert not core.control({"op": "bogus"})["ok"]
    assert not core.control({"op": "deregister"})["ok"]
    assert not core.control({"op": "set_allowed_cag", "supi": "imsi-001019999999999", "cag_ids": [1]})["ok"]


def test_amf_events_reach_the_event_stream(core, tmp_path):
    from testbed.core.amf import Event

    core._execute([Event("cag_reject", {"supi": "imsi-001010000000001", "cell_cag_ids": [0x101]})])
    ev = read_events(tmp_path / "events.jsonl", "cag.reject")
    assert ev and ev[0]["severity"] == "warning" and ev[0]["supi"] == "imsi-001010000000001"
