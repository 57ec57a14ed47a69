"""The fast framing of uplink 5GMM messages (``nas.fastdecode``) gives exactly what pycrate gives.

Reference: ``cls.decode(buf)`` (pycrate framing); fast path: ``nas.decode_plain(buf)``, which takes
``fastdecode`` for the classes it frames and falls back to pycrate otherwise. For every input the
two give the same outcome: an equal message, or a DecodeError with the same text.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrate_mobile.TS24007 import Type1TV, Type1V, Type2, Type3TV, Type3V, Type4TLV, Type6LVE, Type6TLVE

from testbed.crypto.suci import Suci
from testbed.errors import DecodeError
from testbed.protocols import nas
from testbed.protocols.nas import _pycrate, fastdecode
from testbed.protocols.nas.fastdecode import LVE, NIBBLES, T2, TLV4, TLVE6, TV1, TV3, V1, Layout, Opt
from testbed.protocols.nas.ies import encode_dnn

from .samples import GUTI, IMEISV, SEC_CAP, SLICE, SUCI, TAI, samples
from .test_roundtrip import (
    dnn,
    guti,
    ngksi,
    nssai,
    octets,
    opt,
    psis,
    sec_cap,
    snssai,
    suci_null,
    tai,
    u8,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = sorted(fastdecode.FAST_CLASSES, key=lambda c: c.__name__)
FAST_SAMPLES = [m for m in samples() if type(m) in fastdecode.FAST_CLASSES]


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# captured messages (see test_known_bytes.py for their sources)
KNOWN = [
    h("7e004179000d0100f1100000000022222222222e02e0e0"),  # REGISTRATION REQUEST, pycrate test vector
    h("7e004179000d0100f110000000000000000000" + "2e04f0f0f0f0"),  # UERANSIM's REGISTRATION REQUEST
    h("7e00572d1034f95b9d3826fc095c9d9232f4d182c5"),  # AUTHENTICATION RESPONSE
    h("7e005e"),  # SECURITY MODE COMPLETE, empty
    h("7e005e7700091530014100002100f07100217e004169000d010302460fff000000000000f11001072e02f0f02f05040aabcdef"),
    h("7e004169000d010302460fff000000000000f11001072e02f0f02f05040aabcdef"),  # its container: DecodeError
    h("7e004561000bf2030246010041c0e00010"),  # DEREGISTRATION REQUEST (UE originating)
    h("7e00670100072e0602c1000091120681220401000001250706766973696f6e"),  # UL NAS TRANSPORT
]


def outcome(fn, buf: bytes) -> tuple[str, object]:  # noqa: ANN001
    try:
        return "ok", fn(buf)
    except DecodeError as exc:
        return "error", str(exc)


def pycrate_path(buf: bytes) -> nas.NasMessage:
    """The reference: pycrate framing of the message type in ``buf``."""
    _, _, mtype = nas.peek_header(buf)
    return nas.MM_MESSAGE_CLASSES[mtype].decode(buf)


def assert_same(buf: bytes) -> tuple[str, object]:
    fast = outcome(nas.decode_plain, buf)
    ref = outcome(pycrate_path, buf)
    assert fast == ref, buf.hex()
    return fast


def with_type(cls: type, body: bytes) -> bytes:
    return bytes([0x7E, 0x00, int(cls.MESSAGE_TYPE)]) + body


# --------------------------------------------------------------------------- the layout tables


def _pycrate_layout(cls: type) -> Layout:
    """The framing of ``cls`` as pycrate declares it, in fastdecode's terms."""
    content = _pycrate.template(cls._PYCRATE).msg._content[1:]  # after the header
    mandatory: list[tuple] = []
    optional: list[Opt] = []
    half: list[str | None] = []
    for ie in content:
        if isinstance(ie, Type1TV):
            optional.append(Opt(ie._name, ie["T"].get_val(), TV1))
        elif isinstance(ie, Type2):
            optional.append(Opt(ie._name, ie["T"].get_val(), T2))
        elif isinstance(ie, Type3TV):
            optional.append(Opt(ie._name, ie["T"].get_val(), TV3, ie["V"]._bl // 8))
        elif isinstance(ie, Type6TLVE):
            optional.append(Opt(ie._name, ie["T"].get_val(), TLVE6))
        elif isinstance(ie, Type4TLV):
            optional.append(Opt(ie._name, ie["T"].get_val(), TLV4))
        elif isinstance(ie, Type1V) or ie._name == "spare":
            assert ie.get_bl() == 4
            half.append(None if ie._name == "spare" else ie._name)
            if len(half) == 2:
                mandatory.append((NIBBLES, half[0], half[1]))
                half = []
        elif isinstance(ie, Type3V):
            assert ie["V"]._bl == 8
            mandatory.append((V1, ie._name))
        elif isinstance(ie, Type6LVE):
            mandatory.append((LVE, ie._name))
        else:
            raise AssertionError(f"{cls.__name__}: unexpected pycrate element {ie._name}")
    assert not half
    return Layout(tuple(mandatory), tuple(optional))


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__name__)
def test_layout_tables_match_pycrates_message_definitions(cls: type) -> None:
    assert fastdecode._LAYOUTS[cls] == _pycrate_layout(cls)


def test_the_registration_path_messages_are_framed_fast() -> None:
    required = {nas.RegistrationRequest, nas.AuthenticationResponse, nas.AuthenticationFailure,
                nas.RegistrationComplete, nas.SecurityModeComplete, nas.SecurityModeReject,
                nas.ConfigurationUpdateComplete, nas.DeregistrationAcceptUeOriginating,
                nas.DeregistrationAcceptUeTerminated, nas.UlNasTransport}
    assert required <= fastdecode.FAST_CLASSES
    assert {type(m) for m in FAST_SAMPLES} == fastdecode.FAST_CLASSES


# --------------------------------------------------------------------------- same results


@pytest.mark.parametrize("msg", FAST_SAMPLES, ids=lambda m: m.name)
def test_samples_decode_the_same_and_take_the_fast_path(msg: nas.NasMessage) -> None:
    buf = nas.encode(msg)
    before = fastdecode.STATS[type(msg).__name__, "fast"]
    assert assert_same(buf) == ("ok", msg)
    assert fastdecode.STATS[type(msg).__name__, "fast"] == before + 1


@pytest.mark.parametrize("buf", KNOWN, ids=lambda b: b[:3].hex())
def test_captured_messages_decode_the_same(buf: bytes) -> None:
    assert_same(buf)


def test_fast_path_does_not_touch_pycrate(monkeypatch: pytest.MonkeyPatch) -> None:
    """With pycrate's parser disabled, every handled message still decodes (proof that the fast
    path is taken), and an unusual one (an IEI pycrate does not know) reaches pycrate."""
    calls = []

    def no_pycrate(self, buf):  # noqa: ANN001, ANN202
        calls.append(buf)
        raise AssertionError("pycrate parser called")

    monkeypatch.setattr(_pycrate.Template, "parse", no_pycrate)
    for msg in FAST_SAMPLES:
        assert nas.decode_plain(nas.encode(msg)) == msg
    for buf in KNOWN:  # one has a malformed value: DecodeError from the shared value codec
        outcome(nas.decode_plain, buf)
    assert calls == []
    unknown = nas.encode(nas.RegistrationComplete()) + h("3f0101")
    with pytest.raises(AssertionError, match="pycrate parser called"):
        nas.decode_plain(unknown)
    assert calls == [unknown]


def test_other_ies_come_in_pycrates_order() -> None:
    """Unmodelled known IEs become RawIe in pycrate's declaration order, not the wire order."""
    base = nas.encode(nas.RegistrationRequest(mobile_identity=SUCI, ue_security_capability=SEC_CAP))
    buf = base + h("5101" "02") + h("180101") + h("b1") + h("0a") + h("91")
    kind, msg = assert_same(buf)
    assert kind == "ok"
    assert [r.name for r in msg.other_ies] == ["MICOInd", "UEUsage", "5GSDRXParam", "NetSlicingInd", "N5GCInd"]
    assert nas.encode(msg) == base + h("b1" "180101" "510102" "91" "0a")


@pytest.mark.parametrize("tail,kind", [
    ("0b", "error"),  # octet 0x0B: pycrate misreads it as MICO indication (IEI B-)
    ("09", "error"),  # ... as network slicing indication
    ("0c", "error"),  # ... as the non-current native ngKSI
    ("0a", "ok"),  # pycrate's N5GC indication is a type 2 IE with IEI 0x0A
    ("a1", "ok"),  # the real N5GC indication (A-) is unknown to pycrate: kept as IEI_0xA-
    ("b1b2", "ok"),  # a repeated MICO indication: the second one is an unnamed extra IE
    ("2e02e0e0", "ok"),  # a second UE security capability: an extra IE
    ("3f00", "ok"),  # unknown type 4 IE
    ("7f0000", "ok"),  # unknown type 6 IE
    ("7f00", "error"),  # unknown type 6 IE, truncated
    ("2e", "error"),  # IEI without length
    ("2e05e0e0", "error"),  # length beyond the end
    ("52" "00f110", "error"),  # truncated type 3 IE (last visited TAI)
    ("52" "00f110000001", "ok"),
    ("7100", "error"),  # type 6 IE with a 1-octet length
    ("710000", "error"),  # NAS message container of 0 octets: value error
    ("2b00", "error"),  # UE status of 0 octets: value error
])
def test_registration_request_corner_cases(tail: str, kind: str) -> None:
    buf = nas.encode(nas.RegistrationRequest(mobile_identity=SUCI)) + h(tail)
    assert assert_same(buf)[0] == kind


@pytest.mark.parametrize("buf", [
    "7e0041", "7e004171", "7e00417100", "7e0041710001", "7e00417100000e",  # mandatory part cut / bad
    "7e0059", "7e005f", "7e0064", "7e0067", "7e00670100", "7e0067010001",
    "7e005c", "7e005c0001", "7e00450100", "7e004c", "7e004c1100",
    "7e00570000", "7e00572d00", "7e0057780000", "7e005e770000",
    "7e005e0000",  # octet 0x00 after SECURITY MODE COMPLETE: unknown IEI
    "7e00670100012e" "0a", "7e00670100012e" "08", "7e00670100012e" "81" "82",
    "7e00670100012e" "1201", "7e00670100012e" "12",
    "7e0043" "730000", "7e0055" "00", "7e0048" "b1", "7e0046" "2f00",
])
def test_short_and_odd_messages(buf: str) -> None:
    assert_same(h(buf))


@pytest.mark.parametrize("buf", [nas.encode(m) for m in FAST_SAMPLES] + KNOWN,
                         ids=[m.name for m in FAST_SAMPLES] + [f"known-{i}" for i in range(len(KNOWN))])
def test_every_truncation_and_byte_flip_gives_the_same_outcome(buf: bytes) -> None:
    for cut in range(3, len(buf)):
        assert_same(buf[:cut])
    for pos in range(3, len(buf)):
        for new in {0x00, 0xFF, buf[pos] ^ 0x01, buf[pos] ^ 0x80, (buf[pos] + 1) & 0xFF}:
            mutated = bytearray(buf)
            mutated[pos] = new
            assert_same(bytes(mutated))


# --------------------------------------------------------------------------- hypothesis

suci_ecies = st.one_of(  # Profile A: X25519 key || ciphertext || MAC; Profile B: compressed point || ...
    st.builds(lambda kid, out: Suci("001", "01", "0000", 1, kid, out), u8, st.binary(min_size=41, max_size=80)),
    st.builds(lambda kid, y, out: Suci("001", "01", "12", 2, kid, bytes([y]) + out), u8, st.sampled_from([2, 3]),
              st.binary(min_size=41, max_size=80)))
identity = st.one_of(suci_null, suci_ecies, guti, st.just(nas.NoIdentity()), st.just(IMEISV),
                     st.just(nas.Pei("353490069873311")))


@SETTINGS
@given(st.builds(
    nas.RegistrationRequest,
    registration_type=st.one_of(st.sampled_from(list(nas.RegistrationType)), st.integers(0, 7)),
    follow_on_request=st.booleans(), ngksi=ngksi, mobile_identity=identity,
    non_current_native_ngksi=opt(ngksi), mm_capability=opt(st.binary(min_size=1, max_size=13)),
    ue_security_capability=opt(sec_cap), requested_nssai=opt(nssai), last_visited_tai=opt(tai),
    s1_ue_network_capability=opt(st.binary(min_size=2, max_size=13)),
    uplink_data_status=opt(psis), pdu_session_status=opt(psis),
    ue_status=opt(st.builds(nas.UeStatus, st.booleans(), st.booleans())), additional_guti=opt(guti),
    allowed_pdu_session_status=opt(psis), eps_nas_message_container=opt(octets),
    update_type=opt(st.binary(min_size=1, max_size=1)), nas_message_container=opt(octets),
    other_ies=st.lists(st.sampled_from([
        nas.RawIe("MICOInd", 0xB, h("b1")), nas.RawIe("UEUsage", 0x18, h("180101")),
        nas.RawIe("5GSDRXParam", 0x51, h("510102")), nas.RawIe("NetSlicingInd", 0x9, h("92")),
        nas.RawIe("T3512", 0x3B, h("3b0121")), nas.RawIe("UEReqType", 0x29, h("290100"))]),
        unique_by=lambda r: r.name).map(tuple)))
def test_registration_request_property(msg: nas.RegistrationRequest) -> None:
    buf = nas.encode(msg)
    kind, got = assert_same(buf)
    assert kind == "ok" and nas.encode(got) == buf


@SETTINGS
@given(res=opt(st.binary(min_size=0, max_size=20)), eap=opt(st.binary(min_size=0, max_size=20)),
       cause=u8, auts=opt(st.binary(min_size=0, max_size=20)))
def test_authentication_property(res, eap, cause, auts) -> None:  # noqa: ANN001
    body = b"" if res is None else bytes([0x2D, len(res)]) + res
    body += b"" if eap is None else bytes([0x78, 0, len(eap)]) + eap
    assert_same(with_type(nas.AuthenticationResponse, body))
    assert_same(with_type(nas.AuthenticationFailure, bytes([cause]) + (b"" if auts is None else
                                                                        bytes([0x30, len(auts)]) + auts)))
    assert_same(with_type(nas.SecurityModeReject, bytes([cause])))
    assert_same(with_type(nas.FiveGmmStatus, bytes([cause])))


@SETTINGS
@given(imeisv=opt(st.sampled_from([IMEISV, nas.Pei("353490069873311"), GUTI])),
       container=opt(st.binary(min_size=0, max_size=60)), pei=opt(st.sampled_from([IMEISV, nas.Pei("353490069873311")])),
       order=st.permutations([0, 1, 2]))
def test_security_mode_complete_property(imeisv, container, pei, order) -> None:  # noqa: ANN001
    parts = [b"" if imeisv is None else b"\x77" + len(imeisv.to_nas_bytes()).to_bytes(2, "big") + imeisv.to_nas_bytes(),
             b"" if container is None else b"\x71" + len(container).to_bytes(2, "big") + container,
             b"" if pei is None else b"\x78" + len(pei.to_nas_bytes()).to_bytes(2, "big") + pei.to_nas_bytes()]
    assert_same(with_type(nas.SecurityModeComplete, b"".join(parts[i] for i in order)))


@SETTINGS
@given(payload=st.binary(min_size=0, max_size=80), pct=st.integers(0, 15), spare=st.integers(0, 15),
       psi=opt(u8), old=opt(u8), req=opt(st.integers(0, 15)), s_nssai=opt(snssai), dnn=opt(dnn),
       info=opt(st.binary(min_size=0, max_size=8)), ma=opt(st.integers(0, 15)), rai=opt(st.integers(0, 15)),
       order=st.randoms(use_true_random=False))
def test_ul_nas_transport_property(payload, pct, spare, psi, old, req, s_nssai, dnn, info, ma, rai,  # noqa: ANN001
                                   order) -> None:
    ies = []
    if psi is not None:
        ies.append(bytes([0x12, psi]))
    if old is not None:
        ies.append(bytes([0x59, old]))
    if req is not None:
        ies.append(bytes([0x80 | req]))
    if s_nssai is not None:
        ies.append(bytes([0x22, len(s_nssai.to_bytes())]) + s_nssai.to_bytes())
    if dnn is not None:
        ies.append(bytes([0x25, len(encode_dnn(dnn))]) + encode_dnn(dnn))
    if info is not None:
        ies.append(bytes([0x24, len(info)]) + info)
    if ma is not None:
        ies.append(bytes([0xA0 | ma]))
    if rai is not None:
        ies.append(bytes([0xF0 | rai]))
    order.shuffle(ies)
    body = bytes([(spare << 4) | pct]) + len(payload).to_bytes(2, "big") + payload + b"".join(ies)
    kind, _ = assert_same(with_type(nas.UlNasTransport, body))
    assert kind == "ok" or not payload or (info is not None and not info)


@SETTINGS
@given(cls=st.sampled_from(FAST), body=st.binary(max_size=60))
def test_random_bodies_property(cls: type, body: bytes) -> None:
    assert_same(with_type(cls, body))


_IEIS = sorted({o.iei if o.fmt != TV1 else o.iei << 4 for lay in fastdecode._LAYOUTS.values() for o in lay.optional}
               | {0x00, 0x08, 0x0B, 0x3F, 0x7F, 0xA1})


@SETTINGS
@given(base=st.sampled_from([nas.encode(m) for m in FAST_SAMPLES]),
       ies=st.lists(st.tuples(st.sampled_from(_IEIS), st.integers(0, 15), st.binary(max_size=20)), max_size=5),
       cut=st.integers(0, 3))
def test_appended_ies_property(base: bytes, ies: list, cut: int) -> None:
    """Messages followed by known, unknown, repeated and misplaced IEs of every format."""
    buf = base
    for iei, nibble, value in ies:
        if iei & 0x80:
            buf += bytes([iei | nibble])
        elif iei & 0x70 == 0x70:
            buf += bytes([iei]) + len(value).to_bytes(2, "big") + value
        elif iei < 0x10:
            buf += bytes([iei])
        else:
            buf += bytes([iei, len(value)]) + value
    assert_same(buf[:len(buf) - cut] if len(buf) - cut >= 3 else buf)


def test_samples_used_by_the_amf() -> None:
    """The registration as the AMF sees it: cleartext and full REGISTRATION REQUEST (in the SMC
    container), SECURITY MODE COMPLETE with IMEISV, AUTHENTICATION RESPONSE, REGISTRATION COMPLETE."""
    full = nas.RegistrationRequest(follow_on_request=True, mobile_identity=SUCI, mm_capability=b"\x07",
                                   ue_security_capability=SEC_CAP, requested_nssai=(SLICE,), last_visited_tai=TAI)
    for msg in (nas.cleartext_part(full), full, nas.SecurityModeComplete(imeisv=IMEISV, nas_message_container=full.encode()),
                nas.AuthenticationResponse(res_star=bytes(16)), nas.RegistrationComplete()):
        assert assert_same(nas.encode(msg)) == ("ok", msg)
