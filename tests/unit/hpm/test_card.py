"""The HPM card file (testbed.hpm.card): schema, errors naming file and field, atomic 0600 writes."""

from __future__ import annotations

import json
import os
import stat

import pytest

from testbed.errors import ConfigError
from testbed.hpm.card import HpmCard, default_realm, load_card, save_card

CARD = {"imsi": "001010000009001", "k": "465b5ce8b199b49faa5f0a2ee238a6bc",
        "opc": "cd63cb71954a9f4e48a5994e37a02baf", "sqn": "000000000000", "amf": "8000",
        "realm": "nai.5gc.mnc001.mcc001.3gppnetwork.org", "inserted": True}


def write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_roundtrip_is_private_and_atomic(tmp_path):
    card = HpmCard.model_validate(CARD)
    path = save_card(tmp_path / "hpm" / "card.json", card)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_card(path) == card
    newer = card.model_copy(update={"sqn": "00000000002a", "inserted": False})
    save_card(path, newer)
    assert load_card(path).sqn_int == 42 and not load_card(path).inserted
    assert [p.name for p in path.parent.iterdir()] == ["card.json"]  # no temporary file left


@pytest.mark.parametrize("field,value,fragment", [
    ("imsi", "00101", "imsi"),
    ("imsi", 1010000009001, "imsi"),
    ("sqn", "0000", "sqn"),
    ("realm", "bad realm", "realm"),
    ("inserted", "yes", "inserted"),
])
def test_errors_name_file_and_field(tmp_path, field, value, fragment):
    path = write(tmp_path / "card.json", {**CARD, field: value})
    with pytest.raises(ConfigError) as e:
        load_card(path)
    assert e.value.file == str(path) and fragment in e.value.path


@pytest.mark.parametrize("field", ["k", "opc"])
def test_bad_key_material_is_never_echoed(tmp_path, field):
    bad = CARD[field][:-1] + "z"
    path = write(tmp_path / "card.json", {**CARD, field: bad})
    with pytest.raises(ConfigError) as e:
        load_card(path)
    assert e.value.path == field and bad not in str(e.value)


def test_unknown_field_missing_field_bad_json(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_card(write(tmp_path / "a.json", {**CARD, "pin": "0000"}))
    assert e.value.path == "pin"
    missing = dict(CARD)
    del missing["k"]
    with pytest.raises(ConfigError) as e:
        load_card(write(tmp_path / "b.json", missing))
    assert e.value.path == "k"
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(ConfigError):
        load_card(tmp_path / "c.json")
    with pytest.raises(ConfigError):
        load_card(tmp_path / "missing.json")
    # control: the valid card loads
    assert load_card(write(tmp_path / "d.json", CARD)).imsi == CARD["imsi"]


def test_default_realm_pads_the_mnc():
    assert default_realm("001", "01") == "nai.5gc.mnc001.mcc001.3gppnetwork.org"
    assert default_realm("310", "410") == "nai.5gc.mnc410.mcc310.3gppnetwork.org"


def test_repr_hides_keys():
    card = HpmCard.model_validate(CARD)
    assert CARD["k"] not in repr(card) and CARD["opc"] not in repr(card)
