"""Hosting-party modules in the core's store (TS 33.320 7.2.3): the femtos' ``hpm`` in the topology and
subscriber file, the ``hpms`` table (SQN per vector, re-synchronisation, two processes on one file),
provisioning commands, per-run keys and the card files the HPM processes use."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.aaa.vectors import HpmVectors
from testbed.core import provision
from testbed.core.config import parse_core_settings
from testbed.core.udr import SubscriberStore, handle_provisioning, load_subscriber_file, parse_subscriber_data
from testbed.errors import ConfigError, CryptoError
from testbed.hpm.card import load_card
from testbed.hpm.softuicc import AuthOk, SoftUicc

ROOT = Path(__file__).resolve().parents[3]
K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"
OP = "cdc202d5123e20f62b6d676ac72cb318"
IMSI = "001010000009001"


def femto(name="femto1", gnb_id=1, **hpm):
    f = {"name": name, "mcc": "001", "mnc": "01", "gnb_id": gnb_id, "authorised_cag_ids": [1]}
    if hpm:
        f["hpm"] = hpm
    return f


def hpm(**kw):
    return {"imsi": IMSI, "k": K, "opc": OPC, **kw}


def store_with(*femtos, path=":memory:"):
    s = SubscriberStore(path)
    s.load(parse_subscriber_data({"femtos": list(femtos)}))
    return s


# -- schema ---------------------------------------------------------------------------------------


def test_femto_with_hpm_parses_and_defaults():
    data = parse_subscriber_data({"femtos": [femto(**hpm()), femto("femto2", 2)]})
    h = data.femtos[0].hpm
    assert (h.imsi, h.amf, h.sqn, h.required) == (IMSI, "8000", 0, True)
    assert data.femtos[1].hpm is None


@pytest.mark.parametrize("entry,path", [
    (hpm(imsi="0010"), "femtos.0.hpm.imsi"),
    (hpm(imsi=1010000009001), "femtos.0.hpm.imsi"),
    (hpm(opc=None), "femtos.0.hpm.opc"),
    (hpm(op=OP), "femtos.0.hpm.opc"),
    (hpm(k="00" * 15), "femtos.0.hpm.k"),
    (hpm(required="yes"), "femtos.0.hpm.required"),
    (hpm(pin="1234"), "femtos.0.hpm.pin"),
])
def test_hpm_errors_name_the_field(entry, path):
    entry = {k: v for k, v in entry.items() if v is not None}
    with pytest.raises(ConfigError) as e:
        parse_subscriber_data({"femtos": [femto(**entry)]}, "subs.yaml")
    assert e.value.file == "subs.yaml" and e.value.path == path
    assert K[:-2] not in str(e.value)


def test_duplicate_hpm_imsi_is_refused():
    with pytest.raises(ConfigError) as e:
        parse_subscriber_data({"femtos": [femto(**hpm()), femto("femto2", 2, **hpm())]})
    assert e.value.path == "femtos.1.hpm.imsi"
    parse_subscriber_data({"femtos": [femto(**hpm()), femto("femto2", 2, **hpm(imsi="001010000009002"))]})


def test_core_settings_validate_the_hpm_early():
    ok = parse_core_settings({"femtos": [{"name": "femto1", "gnb_id": 1, "authorised_cag_ids": [1],
                                          "hpm": {"imsi": IMSI, "required": False}}]})
    pol = ok.hpm_policies()
    assert list(pol) == ["femto1"] and pol["femto1"].imsi == IMSI and pol["femto1"].required is False
    with pytest.raises(ConfigError) as e:
        parse_core_settings({"femtos": [{"name": "femto1", "gnb_id": 1, "authorised_cag_ids": [1],
                                         "hpm": {"imsi": "12", "required": True}}]}, "topo.yaml")
    assert e.value.path.startswith("core.femtos.0.hpm.imsi")
    with pytest.raises(ConfigError) as e:
        parse_core_settings({"femtos": [{"name": "femto1", "gnb_id": 1, "authorised_cag_ids": [1],
                                         "hpm": {"imsi": IMSI, "requried": True}}]})
    assert e.value.path == "core.femtos.0.hpm.requried"


# -- store ----------------------------------------------------------------------------------------


def test_store_holds_hpms_without_touching_subscribers_or_femtos():
    s = store_with(femto(**hpm(op=OP, opc=None, required=False)), femto("femto2", 2))
    rec = s.get_hpm(IMSI)
    assert rec.femto_name == "femto1" and rec.femto_key == "00101:1/32" and rec.required is False
    assert rec.opc.hex() == OPC and rec.k.hex() == K  # OPc derived from OP (TS 35.206 4.1), only OPc kept
    assert s.hpm_for_femto("femto1") == rec and s.hpm_for_femto("femto2") is None
    assert [h.imsi for h in s.hpms()] == [IMSI] and s.get_hpm("001010000009999") is None
    assert s.count() == 0 and len(s.femtos()) == 2
    assert K not in repr(rec)


def test_hpm_sqn_per_vector_is_persisted_and_never_lowered(tmp_path):
    db = tmp_path / "udr.sqlite"
    s = store_with(femto(**hpm()), path=db)
    sqns = [s.next_hpm_sqn(IMSI) for _ in range(3)]
    assert sqns == sorted(set(sqns)) and [q >> 5 for q in sqns] == [1, 2, 3]
    assert [q & 31 for q in sqns] == [1, 2, 3]  # IND rotates (TS 33.102 Annex C.3.2)
    s.close()
    s = SubscriberStore(db)
    assert s.get_hpm(IMSI).sqn == sqns[-1]
    s.load(parse_subscriber_data({"femtos": [femto(**hpm())]}))  # reloading the file keeps the SQN
    assert s.get_hpm(IMSI).sqn == sqns[-1]
    with pytest.raises(KeyError):
        s.next_hpm_sqn("001010000009999")
    s.close()


def test_hpm_resync_and_exhaustion():
    s = store_with(femto(**hpm()))
    s.next_hpm_sqn(IMSI)
    assert s.apply_hpm_resync(IMSI, 500 << 5 | 9) >> 5 == 500
    assert s.next_hpm_sqn(IMSI) >> 5 == 501
    with pytest.raises(CryptoError):
        s.apply_hpm_resync(IMSI, 1 << 48)
    s.load(parse_subscriber_data({"femtos": [femto(**hpm(sqn=(1 << 48) - 1))]}))
    with pytest.raises(CryptoError):
        s.next_hpm_sqn(IMSI)
    assert s.get_hpm(IMSI).sqn == (1 << 48) - 1  # rolled back, unchanged


def test_provisioning_commands_never_return_keys():
    s = store_with(femto(**hpm()))
    r = handle_provisioning(s, {"op": "get_hpm", "imsi": IMSI})
    assert r == {"ok": True, "hpm": {"imsi": IMSI, "femto": "femto1", "amf": "8000", "sqn": 0, "required": True}}
    r = handle_provisioning(s, {"op": "set_hpm_required", "imsi": IMSI, "required": False})
    assert r["ok"] and r["hpm"]["required"] is False and s.get_hpm(IMSI).required is False
    assert K not in json.dumps(r) and OPC not in json.dumps(r)
    for bad in ({"op": "get_hpm", "imsi": "001010000009999"}, {"op": "get_hpm"},
                {"op": "set_hpm_required", "imsi": IMSI, "required": "no"},
                {"op": "set_hpm_required", "imsi": "1", "required": True}, {"op": "get_hpm", "imsi": IMSI, "k": K}):
        assert handle_provisioning(s, bad)["ok"] is False


def test_second_process_must_not_create_the_store(tmp_path):
    with pytest.raises(ConfigError):
        SubscriberStore(tmp_path / "udr.sqlite", create=False)
    assert not (tmp_path / "udr.sqlite").exists()
    store_with(femto(**hpm()), path=tmp_path / "udr.sqlite").close()
    s = SubscriberStore(tmp_path / "udr.sqlite", create=False)
    assert s.get_hpm(IMSI) is not None
    s.close()


_WORKER = """
import json, sys
from testbed.core.udr import SubscriberStore
s = SubscriberStore(sys.argv[1], create=False)
kind, n = sys.argv[2], int(sys.argv[3])
out = [s.next_hpm_sqn(sys.argv[4]) if kind == "hpm" else s.next_sqn(sys.argv[4]) for _ in range(n)]
print(json.dumps(out))
"""


def test_two_processes_share_the_store(tmp_path):
    """The AAA (HPM SQNs) and the core (subscriber SQNs) write the same SQLite file at once: WAL, busy
    timeout and IMMEDIATE transactions give every vector a distinct, persisted SQN."""
    db = tmp_path / "udr.sqlite"
    s = SubscriberStore(db)
    s.load(parse_subscriber_data({"femtos": [femto(**hpm())],
                                  "subscribers": [{"supi": "imsi-001010000000001", "k": K, "opc": OPC}]}))
    n = 150
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(db), kind, str(n), who], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
             for kind, who in (("hpm", IMSI), ("hpm", IMSI), ("sub", "imsi-001010000000001"))]
    mine = [s.next_hpm_sqn(IMSI) for _ in range(n)]
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    hpm_sqns = mine + outs[0] + outs[1]
    assert len(set(hpm_sqns)) == 3 * n  # no SQN handed out twice
    assert s.get_hpm(IMSI).sqn == max(hpm_sqns) and max(hpm_sqns) >> 5 == 3 * n
    assert len(set(outs[2])) == n
    s.close()


# -- per-run keys and cards ------------------------------------------------------------------------


SETTINGS = {"femtos": [{"name": "femto1", "gnb_id": 1, "authorised_cag_ids": [1], "hpm": {"imsi": IMSI}},
                       {"name": "femto2", "gnb_id": 2, "authorised_cag_ids": [1]}]}


def test_materialise_generates_hpm_keys_per_run(tmp_path):
    settings = parse_core_settings(SETTINGS)
    a = load_subscriber_file(provision.materialise(settings, tmp_path / "a")).femtos[0].hpm
    b = load_subscriber_file(provision.materialise(settings, tmp_path / "b")).femtos[0].hpm
    assert a.imsi == b.imsi == IMSI and a.k != b.k and a.opc != b.opc
    with pytest.raises(ConfigError):  # half-given keys
        provision.materialise(parse_core_settings({"femtos": [{"name": "f", "gnb_id": 1, "authorised_cag_ids": [1],
                                                               "hpm": {"imsi": IMSI, "opc": OPC}}]}), tmp_path / "c")


def test_hpm_cards_match_the_store(tmp_path):
    settings = parse_core_settings(SETTINGS)
    provision.materialise(settings, tmp_path / "core")
    cards = provision.write_hpm_cards(settings, tmp_path)
    assert cards == {"femto1": tmp_path / "femto1" / "hpm" / "card.json"}
    path = cards["femto1"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    card = load_card(path)
    assert card.realm == "nai.5gc.mnc001.mcc001.3gppnetwork.org" and card.inserted and card.sqn_int == 0
    store = SubscriberStore(tmp_path / "core" / "udr.sqlite")
    store.load(load_subscriber_file(tmp_path / "core" / provision.SUBSCRIBERS_FILE))
    rec = store.get_hpm(IMSI)
    assert (card.k, card.opc) == (rec.k.hex(), rec.opc.hex())
    av = HpmVectors(store).vector(IMSI)
    assert isinstance(SoftUicc.from_card(card).authenticate(av.rand, av.autn), AuthOk)
    store.close()
    assert not (tmp_path / "femto2" / "hpm").exists()


def test_hpm_cards_keep_an_existing_card_and_provision_on_demand(tmp_path):
    settings = parse_core_settings(SETTINGS)
    path = provision.write_hpm_cards(settings, tmp_path)["femto1"]  # materialises subscribers.yaml itself
    assert (tmp_path / "core" / provision.SUBSCRIBERS_FILE).exists()
    used = load_card(path).model_copy(update={"sqn": "0000000000a1", "inserted": False})
    from testbed.hpm.card import save_card

    save_card(path, used)
    provision.write_hpm_cards(settings, tmp_path)
    assert load_card(path) == used  # SQN_MS and the inserted state are the card's own
    save_card(path, used.model_copy(update={"k": "00" * 16}))
    provision.write_hpm_cards(settings, tmp_path)
    assert load_card(path).k != "00" * 16 and load_card(path).sqn_int == 0  # other keys: rewritten


def test_core_process_loads_the_hpms(tmp_path):
    from testbed.core.process import CoreProcess
    from testbed.runtime.events import EventWriter

    proc = CoreProcess(parse_core_settings(SETTINGS), tmp_path / "core", EventWriter(tmp_path / "e.jsonl", "core"),
                       connect_upf=False)
    proc._build()
    try:
        assert proc.store.get_hpm(IMSI).femto_name == "femto1"
    finally:
        proc.store.close()
