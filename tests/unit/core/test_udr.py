"""UDR: subscriber file schema, SQLite store (SQN, CAG, femtos), provisioning commands."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from testbed.core.udr import (
    SubscriberStore,
    handle_provisioning,
    load_subscriber_file,
    parse_subscriber_data,
)
from testbed.core.udr.store import IND_BITS
from testbed.crypto.aka import SyncFailure, UsimAka, UsimResult, UsimSqnArray, generate_av
from testbed.crypto.milenage import Milenage, opc
from testbed.errors import ConfigError

# TS 35.208 test set 1
K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OP = "cdc202d5123e20f62b6d676ac72cb318"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"
SUPI = "imsi-001010000000001"


def sub(**kw):
    d = {"supi": SUPI, "k": K, "opc": OPC}
    d.update(kw)
    return d


def store_with(*subs, femtos=(), ranges=()):
    s = SubscriberStore(":memory:")
    s.load(parse_subscriber_data({"subscribers": list(subs), "femtos": list(femtos), "ranges": list(ranges)}))
    return s


def config_error(data) -> ConfigError:
    with pytest.raises(ConfigError) as ei:
        parse_subscriber_data(data, "subs.yaml")
    return ei.value


# ---------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------

YAML = f"""
subscribers:
  - supi: {SUPI}
    k: {K}
    op: {OP}
    allowed_cag_ids: [1, 0x2a]
    cag_only: true
    snssai: [{{sst: 1}}, {{sst: 2, sd: 0x000102}}]
    dnn: [internet, ims]
    msisdn: "491700000001"
  - supi: nai-alice@example.org
    k: {K}
    opc: {OPC}
ranges:
  - first_supi: imsi-001010000100000
    count: 5
    k: {K}
    opc: {OPC}
    first_msisdn: "4917100000"
femtos:
  - {{name: femto1, mcc: "001", mnc: "01", gnb_id: 1, authorised_cag_ids: [1, 2]}}
"""


def test_yaml_load_with_ranges(tmp_path):
    p = tmp_path / "subs.yaml"
    p.write_text(YAML)
    f = load_subscriber_file(p)
    assert f.subscriber_count() == 7
    s0 = f.subscribers[0]
    assert s0.allowed_cag_ids == [1, 42] and s0.cag_only and s0.dnn == ["internet", "ims"]
    assert [x.as_tuple() for x in s0.snssai] == [(1, None), (2, 0x102)]
    assert f.subscribers[1].supi == "nai-alice@example.org"
    assert list(f.ranges[0].supis()) == [f"imsi-00101000010000{i}" for i in range(5)]
    st = SubscriberStore(":memory:")
    assert st.load(f) == 7
    assert st.count() == 7
    a = st.get(SUPI)
    assert a is not None
    # OP given -> OPc derived and stored (TS 35.208 test set 1)
    assert a.opc == bytes.fromhex(OPC) and a.k == bytes.fromhex(K)
    assert a.amf == b"\x80\x00" and a.sqn == 0 and a.msisdn == "491700000001"
    assert a.allowed_cag_ids == frozenset({1, 42}) and a.cag_only
    assert a.snssai == ((1, None), (2, 0x102)) and a.dnn == ("internet", "ims")
    r = st.get("imsi-001010000100004")
    assert r is not None and r.msisdn == "4917100004" and r.snssai == ((1, None),) and r.dnn == ("internet",)
    assert st.get("imsi-001010000100005") is None
    assert st.femto_authorised_cags("001", "01", 1, 32) == frozenset({1, 2})
    # key material is never in the repr
    assert K not in repr(a) and OPC not in repr(a)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text("")
    assert load_subscriber_file(p).subscriber_count() == 0


@pytest.mark.parametrize(
    "data, path, fragment",
    [
        (
            {"subscribers": [sub(), sub(supi="imsi-001010000000002", k=K[:-1])]},
            "subscribers.1.k",
            "32 hex digits",
        ),
        ({"subscribers": [sub(k="zz" * 16)]}, "subscribers.0.k", "32 hex digits"),
        ({"subscribers": [sub(op=OP)]}, "subscribers.0.opc", "exactly one of 'op' and 'opc'"),
        ({"subscribers": [{"supi": SUPI, "k": K}]}, "subscribers.0.opc", "exactly one"),
        ({"subscribers": [sub(amf="0000")]}, "subscribers.0.amf", "separation bit"),
        ({"subscribers": [sub(amf=8000)]}, "subscribers.0.amf", "quote it"),
        ({"subscribers": [sub(allowed_cag_ids=[1, 2**32])]}, "subscribers.0.allowed_cag_ids.1", "4294967295"),
        ({"subscribers": [sub(allowed_cag_ids=[-1])]}, "subscribers.0.allowed_cag_ids.0", "greater than"),
        ({"subscribers": [sub(allowed_cag_ids=["x"])]}, "subscribers.0.allowed_cag_ids.0", "integer"),
        ({"subscribers": [sub(sqn=2**48)]}, "subscribers.0.sqn", "less than"),
        ({"subscribers": [sub(supi="imsi-12")]}, "subscribers.0.supi", "imsi-"),
        ({"subscribers": [sub(supi="tel-123")]}, "subscribers.0.supi", "imsi-"),
        ({"subscribers": [sub(mnc_len=4)]}, "subscribers.0.mnc_len", "2 or 3"),
        ({"subscribers": [sub(snssai=[{"sst": 256}])]}, "subscribers.0.snssai.0.sst", "255"),
        ({"subscribers": [sub(snssai=[{"sst": 1, "sd": 2**24}])]}, "subscribers.0.snssai.0.sd", "16777215"),
        ({"subscribers": [sub(dnn=["internet", "bad dnn"])]}, "subscribers.0.dnn.1", "DNN"),
        ({"subscribers": [sub(msisdn=491700)]}, "subscribers.0.msisdn", "quote it"),
        ({"subscribers": [sub(kk=1)]}, "subscribers.0.kk", "Extra inputs"),
        ({"subscribers": [sub(), sub()]}, "subscribers.1.supi", "duplicate SUPI"),
        (
            {"ranges": [{"first_supi": "imsi-001010000000000", "count": 0, "k": K, "opc": OPC}]},
            "ranges.0.count",
            "",
        ),
        (
            {"ranges": [{"first_supi": "imsi-001019999999999", "count": 2, "k": K, "opc": OPC}]},
            "ranges.0.count",
            "",
        ),
        (
            {"ranges": [{"first_supi": "nai-a@b.org", "count": 2, "k": K, "opc": OPC}]},
            "ranges.0.first_supi",
            "IMSI",
        ),
        (
            {
                "ranges": [
                    {"first_supi": "imsi-001010000000000", "count": 10, "k": K, "opc": OPC},
                    {"first_supi": "imsi-001010000000009", "count": 10, "k": K, "opc": OPC},
                ]
            },
            "ranges.1",
            "overlaps ranges.0",
        ),
        (
            {
                "subscribers": [sub()],
                "ranges": [{"first_supi": "imsi-001010000000000", "count": 5, "k": K, "opc": OPC}],
            },
            "ranges.0",
            "contains imsi-001010000000001",
        ),
        (
            {
                "femtos": [
                    {
                        "name": "f",
                        "mcc": "001",
                        "mnc": "01",
                        "gnb_id": 2**22,
                        "gnb_id_bits": 22,
                        "authorised_cag_ids": [],
                    }
                ]
            },
            "femtos.0.gnb_id",
            "does not fit",
        ),
        (
            {"femtos": [{"name": "f", "mcc": "1", "mnc": "01", "gnb_id": 1, "authorised_cag_ids": []}]},
            "femtos.0.mcc",
            "",
        ),
        (
            {
                "femtos": [
                    {
                        "name": "f",
                        "mcc": "001",
                        "mnc": "01",
                        "gnb_id": 1,
                        "gnb_id_bits": 21,
                        "authorised_cag_ids": [],
                    }
                ]
            },
            "femtos.0.gnb_id_bits",
            "",
        ),
        (
            {
                "femtos": [
                    {"name": "f", "mcc": "001", "mnc": "01", "gnb_id": 1, "authorised_cag_ids": [2**32]}
                ]
            },
            "femtos.0.authorised_cag_ids.0",
            "",
        ),
        ({"subscriber": []}, "subscriber", "Extra inputs"),
    ],
)
def test_config_errors_name_field_path(data, path, fragment):
    e = config_error(data)
    assert e.file == "subs.yaml"
    assert e.path == path, str(e)
    assert fragment in e.message, str(e)
    assert str(e).startswith(f"subs.yaml: {path}: ")


def test_config_error_never_echoes_key_material():
    bad_k = K[:-1]
    e = config_error({"subscribers": [sub(k=bad_k)]})
    assert bad_k not in str(e)
    bad_op = OP + "00"
    e = config_error({"subscribers": [{"supi": SUPI, "k": K, "op": bad_op}]})
    assert e.path == "subscribers.0.op" and bad_op not in str(e)


def test_config_error_top_level_and_yaml(tmp_path):
    assert config_error([1, 2]).path == ""
    p = tmp_path / "bad.yaml"
    p.write_text("subscribers: [\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_subscriber_file(p)
    with pytest.raises(ConfigError, match="cannot read"):
        load_subscriber_file(tmp_path / "missing.yaml")


def test_valid_control_case_parses():
    # the same shapes as the error cases, made valid, parse fine
    f = parse_subscriber_data(
        {
            "subscribers": [sub(amf="8001", allowed_cag_ids=[0, 2**32 - 1], sqn=2**48 - 1, mnc_len=3)],
            "femtos": [
                {
                    "name": "f",
                    "mcc": "001",
                    "mnc": "001",
                    "gnb_id": 2**22 - 1,
                    "gnb_id_bits": 22,
                    "authorised_cag_ids": [],
                }
            ],
        }
    )
    assert f.subscribers[0].allowed_cag_ids == [0, 2**32 - 1]


# ---------------------------------------------------------------------------
# SQN
# ---------------------------------------------------------------------------


def test_next_sqn_strictly_increasing_and_ind_rotation():
    st = store_with(sub())
    sqns = [st.next_sqn(SUPI) for _ in range(70)]
    assert all(b > a for a, b in zip(sqns, sqns[1:], strict=False))
    inds = [q & ((1 << IND_BITS) - 1) for q in sqns]
    seqs = [q >> IND_BITS for q in sqns]
    assert seqs == list(range(1, 71))  # SEQ + 1 per vector (TS 33.102 C.3.2)
    assert inds[:33] == [(i + 1) % 32 for i in range(33)]  # IND cycles through the 32 entries
    assert set(inds) == set(range(32))
    assert st.get(SUPI).sqn == sqns[-1]


def test_next_sqn_unknown_supi():
    st = store_with(sub())
    with pytest.raises(KeyError):
        st.next_sqn("imsi-001010000000099")


def test_vectors_in_flight_accepted_by_usim_in_any_order():
    """IND rotation lets several vectors be used out of order (TS 33.102 Annex C.2)."""
    st = store_with(sub())
    mil = Milenage(bytes.fromhex(K), opc=bytes.fromhex(OPC))
    usim = UsimAka(Milenage(bytes.fromhex(K), opc=bytes.fromhex(OPC)))
    avs = [generate_av(mil, st.next_sqn(SUPI), b"\x80\x00") for _ in range(5)]
    for av in reversed(avs):
        assert isinstance(usim.check(av.rand, av.autn), UsimResult)
    # a replay is rejected (control: the USIM does check freshness)
    assert isinstance(usim.check(avs[0].rand, avs[0].autn), SyncFailure)


def test_sqn_persisted_across_reopen(tmp_path):
    db = tmp_path / "udr.sqlite"
    st = SubscriberStore(db)
    st.load(parse_subscriber_data({"subscribers": [sub(allowed_cag_ids=[5])]}))
    last = [st.next_sqn(SUPI) for _ in range(3)][-1]
    st.set_allowed_cag(SUPI, [7, 8], cag_only=True)
    st.set_femto_cags("001", "01", 3, 32, [7], name="f3")
    v = st.version
    st.close()
    st2 = SubscriberStore(db)
    s = st2.get(SUPI)
    assert s.sqn == last and s.allowed_cag_ids == frozenset({7, 8}) and s.cag_only
    assert st2.femto_authorised_cags("001", "01", 3, 32) == frozenset({7})
    assert st2.version == v
    assert st2.next_sqn(SUPI) > last
    # reloading the subscriber file (SQN 0 in the file) never lowers the stored SQN
    cur = st2.get(SUPI).sqn
    st2.load(parse_subscriber_data({"subscribers": [sub()]}))
    assert st2.get(SUPI).sqn == cur
    assert st2.next_sqn(SUPI) > cur
    st2.close()
    assert (os.stat(db).st_size) > 0


def test_resync_sets_seq_from_sqn_ms():
    st = store_with(sub())
    st.next_sqn(SUPI)
    sqn_ms = (1000 << IND_BITS) | 7
    st.apply_resync(SUPI, sqn_ms)
    nxt = st.next_sqn(SUPI)
    assert nxt >> IND_BITS == 1001
    arr = UsimSqnArray()
    arr.accept(sqn_ms)
    assert arr.is_fresh(nxt)
    # resync with an SQN_MS for which the next SQN is already fresh leaves SEQ_HE alone
    before = st.get(SUPI).sqn
    st.apply_resync(SUPI, ((before >> IND_BITS) - 5) << IND_BITS)
    assert st.get(SUPI).sqn == before
    with pytest.raises(KeyError):
        st.apply_resync("imsi-001010000000099", 1)
    with pytest.raises(Exception, match="48-bit"):
        st.apply_resync(SUPI, 2**48)


def test_next_sqn_thread_safe_unique():
    st = store_with(sub())
    out: list[int] = []
    lock = threading.Lock()

    def worker():
        got = [st.next_sqn(SUPI) for _ in range(200)]
        with lock:
            out.extend(got)

    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(out) == 800 and len(set(out)) == 800


def test_sqn_exhaustion_raises():
    st = store_with(sub(sqn=2**48 - 1))
    with pytest.raises(Exception, match="exhausted"):
        st.next_sqn(SUPI)


# ---------------------------------------------------------------------------
# CAG and femtos
# ---------------------------------------------------------------------------


def test_set_allowed_cag_bumps_version():
    st = store_with(sub(allowed_cag_ids=[1]))
    v0 = st.version
    s = st.set_allowed_cag(SUPI, [3, 2, 3])
    assert s.allowed_cag_ids == frozenset({2, 3}) and not s.cag_only
    assert st.get(SUPI).allowed_cag_ids == frozenset({2, 3})
    assert st.version == v0 + 1
    s = st.set_allowed_cag(SUPI, [], cag_only=True)
    assert s.allowed_cag_ids == frozenset() and s.cag_only
    s = st.set_allowed_cag(SUPI, [9])  # cag_only None keeps the value
    assert s.cag_only
    assert st.version == v0 + 3
    with pytest.raises(KeyError):
        st.set_allowed_cag("imsi-001010000000099", [1])
    with pytest.raises(ValueError):
        st.set_allowed_cag(SUPI, [2**32])
    with pytest.raises(ValueError):
        st.set_allowed_cag(SUPI, [True])
    assert st.version == v0 + 3  # failed calls change nothing
    assert st.get(SUPI).allowed_cag_ids == frozenset({9})


def test_femto_cag_authorisation():
    st = store_with(
        femtos=[{"name": "f1", "mcc": "001", "mnc": "01", "gnb_id": 5, "authorised_cag_ids": [1]}]
    )
    assert st.femto_authorised_cags("001", "01", 5, 32) == frozenset({1})
    # the Global gNB ID includes the ID length: the same value with 22 bits is another gNB
    assert st.femto_authorised_cags("001", "01", 5, 22) is None
    assert st.femto_authorised_cags("001", "02", 5, 32) is None
    v = st.version
    st.set_femto_cags("001", "01", 5, 32, [1, 2])
    assert st.femto_authorised_cags("001", "01", 5, 32) == frozenset({1, 2})
    assert st.get_femto("001", "01", 5, 32).name == "f1"  # empty name keeps the old one
    st.set_femto_cags("001", "01", 6, 24, [], name="f6")
    assert st.femto_authorised_cags("001", "01", 6, 24) == frozenset()  # known, authorised for nothing
    assert st.version == v + 2
    with pytest.raises(ValueError):
        st.set_femto_cags("001", "01", 2**24, 24, [1])
    with pytest.raises(ValueError):
        st.femto_authorised_cags("01", "01", 1, 32)


# ---------------------------------------------------------------------------
# Provisioning
# ---------------------------------------------------------------------------


def _no_key_material(obj) -> None:
    text = json.dumps(obj)
    for secret in (K, OPC, OP, K.upper(), OPC.upper()):
        assert secret not in text
    assert '"k"' not in text and '"opc"' not in text and '"op"' not in text


def test_provisioning_ops():
    st = store_with(sub(msisdn="4917"))
    r = handle_provisioning(st, {"op": "get_subscriber", "supi": SUPI})
    assert r["ok"] and r["subscriber"]["supi"] == SUPI and r["subscriber"]["msisdn"] == "4917"
    _no_key_material(r)
    r = handle_provisioning(st, {"op": "set_allowed_cag", "supi": SUPI, "cag_ids": [4, 5], "cag_only": True})
    assert r["ok"] and r["subscriber"]["allowed_cag_ids"] == [4, 5] and r["subscriber"]["cag_only"] is True
    _no_key_material(r)
    assert st.get(SUPI).allowed_cag_ids == frozenset({4, 5})
    r = handle_provisioning(
        st, {"op": "set_femto_cags", "mcc": "001", "mnc": "01", "gnb_id": 9, "cag_ids": [4], "name": "home"}
    )
    assert r["ok"] and r["femto"] == {
        "mcc": "001",
        "mnc": "01",
        "gnb_id": 9,
        "gnb_id_bits": 32,
        "name": "home",
        "cag_ids": [4],
    }
    r = handle_provisioning(st, {"op": "get_femto", "mcc": "001", "mnc": "01", "gnb_id": 9})
    assert r["ok"] and r["femto"]["cag_ids"] == [4]
    r = handle_provisioning(st, {"op": "count"})
    assert r["ok"] and r["count"] == 1 and r["version"] == st.version
    json.dumps(r)


@pytest.mark.parametrize(
    "req, fragment",
    [
        ("not a dict", "JSON object"),
        ({}, "unknown op"),
        ({"op": "drop_tables"}, "unknown op"),
        ({"op": ["count"]}, "unknown op"),
        ({"op": "get_subscriber"}, "missing field 'supi'"),
        ({"op": "get_subscriber", "supi": 1}, "'supi'"),
        ({"op": "get_subscriber", "supi": "imsi-001010000000099"}, "unknown subscriber"),
        ({"op": "get_subscriber", "supi": SUPI, "k": "x"}, "unknown field"),
        ({"op": "set_allowed_cag", "supi": SUPI}, "missing field 'cag_ids'"),
        ({"op": "set_allowed_cag", "supi": SUPI, "cag_ids": "1,2"}, "'cag_ids'"),
        ({"op": "set_allowed_cag", "supi": SUPI, "cag_ids": [1, "2"]}, "'cag_ids'"),
        ({"op": "set_allowed_cag", "supi": SUPI, "cag_ids": [True]}, "'cag_ids'"),
        ({"op": "set_allowed_cag", "supi": SUPI, "cag_ids": [2**32]}, "CAG ID"),
        ({"op": "set_allowed_cag", "supi": SUPI, "cag_ids": [-1]}, "CAG ID"),
        ({"op": "set_allowed_cag", "supi": SUPI, "cag_ids": [1], "cag_only": "yes"}, "'cag_only'"),
        ({"op": "set_allowed_cag", "supi": "imsi-001010000000099", "cag_ids": [1]}, "unknown subscriber"),
        ({"op": "set_femto_cags", "mcc": "001", "mnc": "01", "gnb_id": "9", "cag_ids": [1]}, "'gnb_id'"),
        ({"op": "set_femto_cags", "mcc": 1, "mnc": "01", "gnb_id": 9, "cag_ids": [1]}, "'mcc'"),
        (
            {
                "op": "set_femto_cags",
                "mcc": "001",
                "mnc": "01",
                "gnb_id": 9,
                "gnb_id_bits": 40,
                "cag_ids": [],
            },
            "22..32",
        ),
        ({"op": "set_femto_cags", "mcc": "0a1", "mnc": "01", "gnb_id": 9, "cag_ids": []}, "MCC"),
        ({"op": "set_femto_cags", "mcc": "001", "mnc": "01", "gnb_id": -1, "cag_ids": []}, "gNB ID"),
        (
            {"op": "set_femto_cags", "mcc": "001", "mnc": "01", "gnb_id": 1, "cag_ids": [], "name": 5},
            "'name'",
        ),
        ({"op": "get_femto", "mcc": "001", "mnc": "01", "gnb_id": 12345}, "unknown femto"),
        ({"op": "get_femto", "mcc": "001", "mnc": "01"}, "missing field 'gnb_id'"),
    ],
)
def test_provisioning_bad_input(req, fragment):
    st = store_with(sub(allowed_cag_ids=[1]))
    v = st.version
    r = handle_provisioning(st, req)
    assert r["ok"] is False and fragment in r["error"], r
    json.dumps(r)
    _no_key_material(r)
    assert st.version == v
    assert st.get(SUPI).allowed_cag_ids == frozenset({1})


def test_provisioning_on_closed_store_reports_error():
    st = store_with(sub())
    st.close()
    r = handle_provisioning(st, {"op": "count"})
    assert r["ok"] is False and r["error"]


# ---------------------------------------------------------------------------
# Scale
# ---------------------------------------------------------------------------


def test_load_10000_subscribers_fast(tmp_path):
    subs = [{"supi": f"imsi-00101{i:010d}", "k": K, "op": OP, "allowed_cag_ids": [1]} for i in range(5000)]
    f = parse_subscriber_data(
        {
            "subscribers": subs,
            "ranges": [{"first_supi": "imsi-001019000000000", "count": 5000, "k": K, "opc": OPC}],
        }
    )
    st = SubscriberStore(tmp_path / "big.sqlite")
    t0 = time.perf_counter()
    n = st.load(f)
    dt = time.perf_counter() - t0
    assert n == 10_000 and st.count() == 10_000
    assert dt < 2.0, f"load took {dt:.2f} s"
    assert st.get("imsi-001010000004999").opc == opc(bytes.fromhex(K), bytes.fromhex(OP))
    assert st.get("imsi-001019000004999") is not None
    assert st.get("imsi-001019000005000") is None
    st.close()


def test_femto_requires_authorised_cag_ids():
    e = config_error({"femtos": [{"name": "f", "mcc": "001", "mnc": "01", "gnb_id": 1}]})
    assert e.path == "femtos.0.authorised_cag_ids" and "required" in e.message
    e = config_error(
        {
            "femtos": [
                {"name": "f", "mcc": "001", "mnc": "01", "gnb_id": 1, "authorised_cag_ids": []},
                {"name": "g", "mcc": "001", "mnc": "01", "gnb_id": 1, "authorised_cag_ids": [2]},
            ]
        }
    )
    assert e.path == "femtos.1" and "duplicate femto" in e.message


def test_store_accepts_supi_objects():
    from testbed.crypto.identity import Supi

    st = store_with(sub())
    s = Supi.parse(SUPI)
    assert st.get(s) is st.get(SUPI)
    assert st.next_sqn(s) == st.get(SUPI).sqn
    assert st.set_allowed_cag(s, [3]).allowed_cag_ids == frozenset({3})
    assert st.get(12345) is None  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        st.next_sqn(None)  # type: ignore[arg-type]


def test_open_bad_database_file(tmp_path):
    p = tmp_path / "garbage.sqlite"
    p.write_bytes(b"this is not an sqlite database" * 100)
    with pytest.raises(ConfigError) as ei:
        SubscriberStore(p)
    assert ei.value.file == str(p)
    # a database with another schema is refused too, not silently used
    import sqlite3

    q = tmp_path / "other.sqlite"
    c = sqlite3.connect(q)
    c.execute("CREATE TABLE subscribers (supi TEXT PRIMARY KEY, k BLOB)")
    c.commit()
    c.close()
    with pytest.raises(ConfigError, match="columns"):
        SubscriberStore(q)
