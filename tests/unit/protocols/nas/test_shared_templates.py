"""The reused pycrate message instances (``nas._pycrate.template``) carry no state from one use to the next.

One instance per message class and thread is parsed into and encoded from (see ``nas._pycrate``).
pycrate matches a type 1 IE (4-bit IEI ``X-``) also on a whole octet ``0x0X`` and stores IEI 0 in the
instance; the adapter refused such a message, but the IEI stayed 0, so every later encoding of that
message type wrote the IE with IEI 0. In a full unit run the random bodies of test_malformed.py did
that to CONFIGURATION UPDATE COMMAND, whose sample then encoded ``7e0054 01 ...`` instead of
``7e0054 d1 ...`` and failed to decode ("bitlen overflow: 952, max 400"). A peer can do the same to a
UE or an AMF with one malformed message. Reference encodings come from a fresh instance: a new
thread gets its own templates.
"""

from __future__ import annotations

import dataclasses
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrate_mobile.TS24007 import Type1TV

from testbed.errors import DecodeError
from testbed.protocols import nas
from testbed.protocols.nas._pycrate import template

from .samples import samples

SAMPLES = samples()


def fresh_encodings(msgs: list[nas.NasMessage]) -> list[bytes]:
    """Encodings made with new pycrate instances (the template cache is per thread)."""
    out: list[bytes] = []
    t = threading.Thread(target=lambda: out.extend(nas.encode(m) for m in msgs))
    t.start()
    t.join()
    assert len(out) == len(msgs)
    return out


REFERENCE = fresh_encodings(SAMPLES)


def mandatory_only(msg: nas.NasMessage) -> nas.NasMessage:
    """``msg`` without its optional IEs (so that a following octet is read as the optional part)."""
    tpl = template(msg._PYCRATE)
    drop = {a: None for f in msg._FIELDS if f.ie in tpl.optional for a in f.attrs}
    return dataclasses.replace(msg, **drop, other_ies=())


def type1_cases() -> list[tuple[int, str, int]]:
    """(sample index, type 1 IE, its IEI) for every optional type 1 IE of every sampled message class."""
    cases, seen = [], set()
    for i, msg in enumerate(SAMPLES):
        if type(msg) in seen or not hasattr(msg, "_PYCRATE"):
            continue
        seen.add(type(msg))
        for name, ie in template(msg._PYCRATE).optional.items():
            if isinstance(ie, Type1TV):
                cases.append((i, name, ie["T"].get_val()))
    return cases


def test_configuration_update_command_after_a_misread_type1_iei() -> None:
    """The failure seen in CI, deterministic: octet 0x0D where an optional IE starts is not the
    Configuration update indication (IEI D-); afterwards the sample still encodes as before."""
    i = next(i for i, m in enumerate(SAMPLES) if isinstance(m, nas.ConfigurationUpdateCommand))
    msg = SAMPLES[i]
    assert REFERENCE[i][3] == 0xD1  # IEI D-, acknowledgement requested
    with pytest.raises(DecodeError, match="misread as ConfigUpdateInd"):
        nas.decode(bytes.fromhex("7e0054" "0d"))
    assert nas.encode(msg) == REFERENCE[i]
    assert nas.decode(nas.encode(msg)) == msg


@pytest.mark.parametrize("index,name,iei", type1_cases(), ids=lambda v: str(v))
def test_every_type1_iei_survives_a_misread(index: int, name: str, iei: int) -> None:
    msg = SAMPLES[index]
    poison = nas.encode(mandatory_only(msg)) + bytes([iei])  # octet 0x0X: pycrate takes it for "X-"
    with pytest.raises(DecodeError, match=f"misread as {name}"):
        nas.decode(poison)
    assert template(msg._PYCRATE).optional[name]["T"].get_val() == iei
    for j, other in enumerate(SAMPLES):  # the samples that carry the IE would show it in their octets
        if type(other) is type(msg):
            assert nas.encode(other) == REFERENCE[j], (other.name, name)


def test_other_ie_with_a_foreign_iei_is_refused_and_leaves_no_trace() -> None:
    """An other IE (RawIe) is put back by parsing its octets into the shared instance: one that does
    not start with its own IEI would leave that IEI there for every later encoding."""
    base = nas.RegistrationRequest(mobile_identity=nas.NoIdentity())
    good = nas.RegistrationRequest(mobile_identity=nas.NoIdentity(), other_ies=(nas.RawIe("MICOInd", 0xB, b"\xb1"),))
    ref_base, ref_good = fresh_encodings([base, good])
    for raw in (nas.RawIe("MICOInd", 0xB, b"\x01"), nas.RawIe("UEUsage", 0x18, bytes.fromhex("990101")),
                nas.RawIe("UEUsage", 0x18, b"")):
        with pytest.raises(ValueError, match="IEI"):
            nas.encode(dataclasses.replace(base, other_ies=(raw,)))
        assert nas.encode(base) == ref_base and nas.encode(good) == ref_good


def test_failed_parse_leaves_the_template_as_declared() -> None:
    """After any refused message the instance's IEIs are the declared ones (test_fastdecode reads
    the layout tables from the same instances)."""
    i = next(i for i, m in enumerate(SAMPLES) if isinstance(m, nas.ConfigurationUpdateCommand))
    tpl = template(SAMPLES[i]._PYCRATE)
    declared = {name: ie["T"].get_val() for name, ie in tpl.optional.items()}
    for buf in ("7e0054" "0d", "7e0054" "0b", "7e0054d1" "77ffff"):
        with pytest.raises(DecodeError):
            nas.decode(bytes.fromhex(buf))
        assert {name: ie["T"].get_val() for name, ie in tpl.optional.items()} == declared


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mtype=st.sampled_from(sorted(nas.MM_MESSAGE_CLASSES) + sorted(nas.SM_MESSAGE_CLASSES)),
       body=st.binary(max_size=60))
def test_random_input_never_changes_what_the_samples_encode_to(mtype: int, body: bytes) -> None:
    prefix = b"\x7e\x00" if mtype in nas.MM_MESSAGE_CLASSES else b"\x2e\x01\x01"
    try:
        nas.decode(prefix + bytes([mtype]) + body)
    except DecodeError:
        pass
    for msg, ref in zip(SAMPLES, REFERENCE, strict=True):
        assert nas.encode(msg) == ref, msg.name
