"""The HPM process over its Unix socket (python -m testbed.hpm): the shared JSON-lines protocol.

status / identity / authenticate (ok, sync_failure, mac_failure, no_card) / remove / insert,
the SQN and inserted state persisted in the card file, events without key material."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed.crypto.aka import MacFailure, SyncFailure, generate_av
from testbed.crypto.milenage import Milenage
from testbed.hpm.card import HpmCard, load_card, save_card
from testbed.hpm.client import HpmClient, HpmUnavailable
from testbed.hpm.process import HpmProcess
from testbed.hpm.softuicc import AuthOk, NoCard
from testbed.runtime.control import control_request
from testbed.runtime.events import EventWriter, read_events

IMSI = "001010000009001"
REALM = "nai.5gc.mnc001.mcc001.3gppnetwork.org"
IDENTITY = f"0{IMSI}@{REALM}"
K, OPC = os.urandom(16), os.urandom(16)
MIL = Milenage(K, opc=OPC)
ROOT = Path(__file__).resolve().parents[3]


def make_card(path: Path, **kw) -> Path:
    return save_card(path, HpmCard(imsi=IMSI, k=K.hex(), opc=OPC.hex(), realm=REALM, **kw))


def av(seq: int):
    return generate_av(MIL, seq << 5 | (seq & 31), b"\x80\x00")


@pytest.fixture
def hpm(tmp_path):
    """The real process; yields (client, card path, events path)."""
    node = tmp_path / "femto1" / "hpm"
    card = make_card(node / "card.json")
    sock, events = node / "hpm.sock", node / "events.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "testbed.hpm", "--card", str(card), "--socket", str(sock),
                             "--events", str(events)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not read_events(events, "hpm.ready"):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "hpm.ready not seen"
            time.sleep(0.05)
        yield HpmClient(sock), card, events
    finally:
        proc.terminate()
        proc.wait(10)
    assert read_events(events, "hpm.stopped")
    assert not sock.exists()


def test_status_identity_and_socket_mode(hpm):
    client, card, _ = hpm
    assert client.status() == {"ok": True, "inserted": True, "identity": IDENTITY}
    assert client.identity() == IDENTITY
    assert stat.S_IMODE(os.stat(card.parent / "hpm.sock").st_mode) == 0o600


def test_authenticate_ok_then_replay_is_sync_failure_and_sqn_persisted(hpm):
    client, card, _ = hpm
    v = av(3)
    r = client.authenticate(v.rand, v.autn)
    assert isinstance(r, AuthOk) and (r.res, r.ck, r.ik) == (v.xres, v.ck, v.ik)
    assert load_card(card).sqn_int == v.sqn  # persisted before the answer
    replay = client.authenticate(v.rand, v.autn)
    assert isinstance(replay, SyncFailure) and len(replay.auts) == 14
    wrong = generate_av(Milenage(os.urandom(16), opc=OPC), 9 << 5, b"\x80\x00")
    assert isinstance(client.authenticate(wrong.rand, wrong.autn), MacFailure)
    v4 = av(4)
    assert isinstance(client.authenticate(v4.rand, v4.autn), AuthOk)  # control


def test_raw_protocol_replies(hpm):
    client, card, _ = hpm
    sock = card.parent / "hpm.sock"
    v = av(1)
    ok = control_request(sock, {"op": "authenticate", "rand": v.rand.hex(), "autn": v.autn.hex()})
    assert ok == {"ok": True, "res": v.xres.hex(), "ck": v.ck.hex(), "ik": v.ik.hex()}
    sync = control_request(sock, {"op": "authenticate", "rand": v.rand.hex(), "autn": v.autn.hex()})
    assert sync["ok"] is False and sync["error"] == "sync_failure" and len(sync["auts"]) == 28
    for bad in ({"op": "authenticate", "rand": "00", "autn": v.autn.hex()}, {"op": "nope"}, {"rand": 1}, [1]):
        r = control_request(sock, bad)
        assert r["ok"] is False and r["error"] == "bad_request"


def test_remove_and_insert(hpm):
    client, card, events = hpm
    client.remove()
    assert client.status() == {"ok": True, "inserted": False}
    assert client.identity() is None
    assert control_request(card.parent / "hpm.sock", {"op": "identity"}) == {"ok": False, "error": "no_card"}
    v = av(2)
    assert isinstance(client.authenticate(v.rand, v.autn), NoCard)
    assert load_card(card).inserted is False
    assert read_events(events, "hpm.removed")
    client.insert()
    assert client.status()["identity"] == IDENTITY and load_card(card).inserted is True
    assert read_events(events, "hpm.inserted")
    assert isinstance(client.authenticate(v.rand, v.autn), AuthOk)


def test_events_carry_results_never_keys(hpm):
    client, _, events = hpm
    v = av(5)
    client.authenticate(v.rand, v.autn)
    client.authenticate(v.rand, v.autn)
    results = [e["result"] for e in read_events(events, "hpm.authenticate")]
    assert results == ["ok", "sync_failure"]
    text = Path(events).read_text()
    for secret in (K, OPC, v.xres, v.ck, v.ik):
        assert secret.hex() not in text


def test_state_survives_a_restart(tmp_path):
    card = make_card(tmp_path / "card.json")
    ev = EventWriter(tmp_path / "ev.jsonl", "hpm")
    first = HpmProcess(card, tmp_path / "s.sock", ev)
    v = av(7)
    assert first.handle({"op": "authenticate", "rand": v.rand.hex(), "autn": v.autn.hex()})["ok"]
    assert first.handle({"op": "remove"}) == {"ok": True}
    second = HpmProcess(card, tmp_path / "s.sock", ev)
    assert second.handle({"op": "status"}) == {"ok": True, "inserted": False}
    second.handle({"op": "insert"})
    r = second.handle({"op": "authenticate", "rand": v.rand.hex(), "autn": v.autn.hex()})
    assert r == {"ok": False, "error": "sync_failure", "auts": r["auts"]}  # the old SQN stays refused


def test_unwritable_card_refuses_to_answer(tmp_path):
    card = make_card(tmp_path / "card.json")
    events = tmp_path / "ev.jsonl"
    proc = HpmProcess(card, tmp_path / "s.sock", EventWriter(events, "hpm"))
    card.unlink()
    card.mkdir()  # the rename onto the card path now fails (even for root)
    v = av(1)
    r = proc.handle({"op": "authenticate", "rand": v.rand.hex(), "autn": v.autn.hex()})
    assert r == {"ok": False, "error": "card_io"}
    assert read_events(events, "hpm.card_write_failed")
    assert list(tmp_path.glob(".card.json.*")) == []  # the temporary file is cleaned up
    card.rmdir()
    # control: with the card writable again the next fresh vector is answered
    v2 = av(2)
    assert proc.handle({"op": "authenticate", "rand": v2.rand.hex(), "autn": v2.autn.hex()})["ok"] is True


def test_long_socket_path_and_client_errors(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    card = make_card(deep / "card.json")
    sock = deep / "hpm.sock"
    assert len(str(sock)) > 107
    ev = tmp_path / "ev.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "testbed.hpm", "--card", str(card), "--socket", str(sock),
                             "--events", str(ev)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while not read_events(ev, "hpm.ready"):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        assert HpmClient(sock).status()["identity"] == IDENTITY
    finally:
        proc.terminate()
        proc.wait(10)
    with pytest.raises(HpmUnavailable):
        HpmClient(sock, timeout=1).status()


def test_bad_card_file_exits_with_an_error(tmp_path):
    (tmp_path / "card.json").write_text(json.dumps({"imsi": "x"}))
    r = subprocess.run([sys.executable, "-m", "testbed.hpm", "--card", str(tmp_path / "card.json"),
                        "--events", str(tmp_path / "ev.jsonl")], cwd=ROOT, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "imsi" in r.stderr
