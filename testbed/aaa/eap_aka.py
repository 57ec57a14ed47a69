"""EAP-AKA (RFC 4187): message codec, server and peer state machines, sans I/O.

Messages (RFC 4187 8.1): EAP Type 23, then Subtype (1), Reserved (2) and attributes, each
``Type (1) | Length (1, in 4-octet units) | Value``. :func:`decode_aka` raises
:class:`~testbed.errors.DecodeError` (and nothing else) for: a truncated header or attribute, a
zero or overlong attribute Length, a known attribute with the wrong size (AT_RAND, AT_AUTN,
AT_MAC, AT_AUTS, AT_RES of 32..128 bits, AT_IDENTITY, AT_CHECKCODE, ...), a repeated attribute
and an unrecognised non-skippable attribute (types 0..127, RFC 4187 8.1).

:class:`AkaServer` (the EAP server, here behind RADIUS) runs a full authentication:

1. EAP-Response/Identity (forwarded by the NAS, or asked for by :meth:`AkaServer.start`);
2. EAP-Request/AKA-Identity with AT_PERMANENT_ID_REQ when that identity is not a permanent
   identity "0<IMSI>@realm" (RFC 4187 4.1.1.6, 4.1.5), or with AT_ANY_ID_REQ first when
   configured to distrust the EAP-Response/Identity (4.1.4); a less specific request is never
   sent after a more specific one (4.1.6);
3. EAP-Request/AKA-Challenge with AT_RAND, AT_AUTN, AT_CHECKCODE and AT_MAC (9.3, 10.13, 10.15);
   the response must carry AT_RES equal to XRES (length in bits) and a valid AT_MAC;
4. AKA-Synchronization-Failure with AT_AUTS: re-synchronisation in the store (TS 33.102 6.3.5)
   and a new challenge, once per authentication (RFC 4187 6.3.1);
   AKA-Authentication-Reject, AKA-Client-Error or a Nak end in EAP-Failure (6.3.2, 6.3.3, 9.9);
5. EAP-Success with MSK and EMSK (RFC 4187 7).

:class:`AkaPeer` is the other side, for tests and eapol-free clients: it answers with a
callable ``authenticate(rand, autn)`` (a :class:`~testbed.hpm.softuicc.SoftUicc`, or the HPM
socket through :class:`~testbed.hpm.client.HpmClient`).

Neither logs nor returns key material except ``msk``/``emsk`` after success.
"""

from __future__ import annotations

import hmac
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from testbed.crypto.aka import Av, MacFailure, SyncFailure
from testbed.errors import DecodeError

from .eap import (
    EAP_FAILURE,
    EAP_REQUEST,
    EAP_RESPONSE,
    EAP_SUCCESS,
    TYPE_AKA,
    TYPE_IDENTITY,
    TYPE_NAK,
    TYPE_NOTIFICATION,
    EapPacket,
    decode_eap,
)
from .eap_aka_keys import AkaKeys, checkcode, derive_keys, hmac_sha1_128

__all__ = [
    "AT_ANY_ID_REQ",
    "AT_AUTN",
    "AT_AUTS",
    "AT_CHECKCODE",
    "AT_CLIENT_ERROR_CODE",
    "AT_FULLAUTH_ID_REQ",
    "AT_IDENTITY",
    "AT_MAC",
    "AT_NOTIFICATION",
    "AT_PERMANENT_ID_REQ",
    "AT_RAND",
    "AT_RES",
    "SUBTYPE_AUTHENTICATION_REJECT",
    "SUBTYPE_CHALLENGE",
    "SUBTYPE_CLIENT_ERROR",
    "SUBTYPE_IDENTITY",
    "SUBTYPE_NOTIFICATION",
    "SUBTYPE_SYNCHRONIZATION_FAILURE",
    "AkaMessage",
    "AkaPeer",
    "AkaServer",
    "ServerStep",
    "VectorSource",
    "add_mac",
    "at_auts",
    "at_autn",
    "at_checkcode",
    "at_client_error",
    "at_flag",
    "at_identity",
    "at_mac_zero",
    "at_rand",
    "at_res",
    "decode_aka",
    "encode_aka",
    "parse_permanent_identity",
    "permanent_identity",
    "verify_mac",
]

# Subtypes (RFC 4187 11)
SUBTYPE_CHALLENGE = 1
SUBTYPE_AUTHENTICATION_REJECT = 2
SUBTYPE_SYNCHRONIZATION_FAILURE = 4
SUBTYPE_IDENTITY = 5
SUBTYPE_NOTIFICATION = 12
SUBTYPE_REAUTHENTICATION = 13
SUBTYPE_CLIENT_ERROR = 14

# Attributes (RFC 4187 10, 11; RFC 5448 for AT_KDF*, AT_BIDDING)
AT_RAND = 1
AT_AUTN = 2
AT_RES = 3
AT_AUTS = 4
AT_PADDING = 6
AT_PERMANENT_ID_REQ = 10
AT_MAC = 11
AT_NOTIFICATION = 12
AT_ANY_ID_REQ = 13
AT_IDENTITY = 14
AT_FULLAUTH_ID_REQ = 17
AT_COUNTER = 19
AT_COUNTER_TOO_SMALL = 20
AT_NONCE_S = 21
AT_CLIENT_ERROR_CODE = 22
AT_KDF_INPUT = 23
AT_KDF = 24
AT_IV = 129
AT_ENCR_DATA = 130
AT_NEXT_PSEUDONYM = 132
AT_NEXT_REAUTH_ID = 133
AT_CHECKCODE = 134
AT_RESULT_IND = 135
AT_BIDDING = 136

#: Value sizes (octets after Type and Length) of fixed-size attributes.
_FIXED_SIZES = {
    AT_RAND: (18,), AT_AUTN: (18,), AT_MAC: (18,), AT_AUTS: (14,), AT_PERMANENT_ID_REQ: (2,),
    AT_ANY_ID_REQ: (2,), AT_FULLAUTH_ID_REQ: (2,), AT_RESULT_IND: (2,), AT_CLIENT_ERROR_CODE: (2,),
    AT_NOTIFICATION: (2,), AT_COUNTER: (2,), AT_COUNTER_TOO_SMALL: (2,), AT_NONCE_S: (18,),
    AT_IV: (18,), AT_CHECKCODE: (2, 22), AT_BIDDING: (2,), AT_KDF: (2,),
}
_VARIABLE = frozenset({AT_RES, AT_IDENTITY, AT_PADDING, AT_ENCR_DATA, AT_NEXT_PSEUDONYM, AT_NEXT_REAUTH_ID,
                       AT_KDF_INPUT})
_KNOWN = frozenset(_FIXED_SIZES) | _VARIABLE

#: Client error code 0: "unable to process packet" (RFC 4187 10.20).
CLIENT_ERROR_UNABLE_TO_PROCESS = 0

_ID_REQUESTS = (AT_ANY_ID_REQ, AT_FULLAUTH_ID_REQ, AT_PERMANENT_ID_REQ)  # least to most specific (4.1.6)
_PERMANENT_ID_RE = re.compile(r"^0([0-9]{6,15})(@[A-Za-z0-9.-]{1,200})?\Z")


def permanent_identity(imsi: str, realm: str) -> str:
    """EAP-AKA permanent identity "0" + IMSI + "@" + realm (RFC 4187 4.1.1.6, TS 23.003 19.3.2)."""
    return f"0{imsi}@{realm}"


def parse_permanent_identity(identity: str | bytes) -> str | None:
    """The IMSI of an EAP-AKA permanent identity "0<IMSI>[@realm]", else None."""
    if isinstance(identity, bytes):
        try:
            identity = identity.decode("ascii")
        except UnicodeDecodeError:
            return None
    m = _PERMANENT_ID_RE.match(identity) if isinstance(identity, str) else None
    return m.group(1) if m else None


# ------------------------------------------------------------------------------------------------
# codec


@dataclass(frozen=True)
class AkaMessage:
    """An EAP-AKA message: subtype and attributes as (type, value) pairs, the value being the
    octets after Type and Length (so including the Reserved fields)."""

    subtype: int
    attributes: tuple[tuple[int, bytes], ...] = ()

    def get(self, attr: int) -> bytes | None:
        for t, v in self.attributes:
            if t == attr:
                return v
        return None

    def has(self, attr: int) -> bool:
        return any(t == attr for t, _ in self.attributes)

    @property
    def rand(self) -> bytes | None:
        v = self.get(AT_RAND)
        return None if v is None else v[2:]

    @property
    def autn(self) -> bytes | None:
        v = self.get(AT_AUTN)
        return None if v is None else v[2:]

    @property
    def auts(self) -> bytes | None:
        return self.get(AT_AUTS)

    @property
    def res(self) -> bytes | None:
        """RES of AT_RES (the RES Length in bits says how many octets are RES, RFC 4187 10.8)."""
        v = self.get(AT_RES)
        return None if v is None else v[2:2 + struct.unpack_from("!H", v)[0] // 8]

    @property
    def identity(self) -> bytes | None:
        v = self.get(AT_IDENTITY)
        return None if v is None else v[2:2 + struct.unpack_from("!H", v)[0]]

    @property
    def checkcode(self) -> bytes | None:
        v = self.get(AT_CHECKCODE)
        return None if v is None else v[2:]

    @property
    def client_error_code(self) -> int | None:
        v = self.get(AT_CLIENT_ERROR_CODE)
        return None if v is None else struct.unpack("!H", v)[0]

    @property
    def notification(self) -> int | None:
        v = self.get(AT_NOTIFICATION)
        return None if v is None else struct.unpack("!H", v)[0]


def _padded(prefix: bytes, body: bytes) -> bytes:
    """``prefix + body`` zero-padded so that the attribute (2 + value) is a multiple of 4 octets."""
    v = prefix + body
    return v + bytes(-(len(v) + 2) % 4)


def at_rand(rand: bytes) -> tuple[int, bytes]:
    return AT_RAND, b"\x00\x00" + bytes(rand)


def at_autn(autn: bytes) -> tuple[int, bytes]:
    return AT_AUTN, b"\x00\x00" + bytes(autn)


def at_res(res: bytes) -> tuple[int, bytes]:
    """AT_RES with the RES Length in bits (RFC 4187 10.8)."""
    return AT_RES, _padded(struct.pack("!H", 8 * len(res)), bytes(res))


def at_auts(auts: bytes) -> tuple[int, bytes]:
    return AT_AUTS, bytes(auts)


def at_identity(identity: bytes) -> tuple[int, bytes]:
    """AT_IDENTITY with the actual identity length in octets (RFC 4187 10.5)."""
    return AT_IDENTITY, _padded(struct.pack("!H", len(identity)), bytes(identity))


def at_flag(attr: int) -> tuple[int, bytes]:
    """An attribute whose value is 2 reserved octets (AT_*_ID_REQ, AT_RESULT_IND)."""
    return attr, b"\x00\x00"


def at_checkcode(value: bytes) -> tuple[int, bytes]:
    return AT_CHECKCODE, b"\x00\x00" + bytes(value)


def at_client_error(code: int) -> tuple[int, bytes]:
    return AT_CLIENT_ERROR_CODE, struct.pack("!H", code)


def at_mac_zero() -> tuple[int, bytes]:
    return AT_MAC, bytes(18)


def _check_attribute(t: int, v: bytes) -> None:
    sizes = _FIXED_SIZES.get(t)
    if sizes is not None and len(v) not in sizes:
        raise DecodeError(f"EAP-AKA attribute {t} has {len(v)} value octets, expected {' or '.join(map(str, sizes))}")
    if t == AT_RES:
        bits = struct.unpack_from("!H", v)[0] if len(v) >= 2 else -1
        # RES is 32..128 bits (TS 33.102 6.3.2; RFC 4187 10.8), a whole number of octets here.
        if bits < 32 or bits > 128 or bits % 8 or 2 + bits // 8 > len(v):
            raise DecodeError(f"AT_RES with a RES Length of {bits} bits in {len(v)} value octets")
    elif t == AT_IDENTITY:
        n = struct.unpack_from("!H", v)[0] if len(v) >= 2 else -1
        if n < 0 or 2 + n > len(v):
            raise DecodeError("AT_IDENTITY length exceeds the attribute")
    elif t == AT_PADDING and any(v):
        raise DecodeError("AT_PADDING must be zeros (RFC 4187 10.12)")


def decode_aka(data: bytes) -> AkaMessage:
    """Decode the Type-Data of an EAP-AKA packet (after the EAP Type octet)."""
    if len(data) < 3:
        raise DecodeError("EAP-AKA message shorter than Subtype + Reserved")
    subtype = data[0]
    attrs: list[tuple[int, bytes]] = []
    seen: set[int] = set()
    pos = 3
    while pos < len(data):
        if len(data) - pos < 2:
            raise DecodeError("truncated EAP-AKA attribute header")
        t, n = data[pos], data[pos + 1]
        if n == 0:
            raise DecodeError(f"EAP-AKA attribute {t} with Length 0")
        end = pos + 4 * n
        if end > len(data):
            raise DecodeError(f"EAP-AKA attribute {t} overruns the message ({4 * n} > {len(data) - pos} octets)")
        if t < 128 and t not in _KNOWN:
            raise DecodeError(f"unrecognised non-skippable EAP-AKA attribute {t} (RFC 4187 8.1)")
        if t in seen:
            raise DecodeError(f"EAP-AKA attribute {t} appears twice")
        seen.add(t)
        v = bytes(data[pos + 2:end])
        if t in _KNOWN:
            _check_attribute(t, v)
        attrs.append((t, v))
        pos = end
    return AkaMessage(subtype, tuple(attrs))


def encode_aka(msg: AkaMessage) -> bytes:
    """The Type-Data of an EAP-AKA packet."""
    out = bytearray(struct.pack("!BH", msg.subtype, 0))
    for t, v in msg.attributes:
        if (len(v) + 2) % 4 or len(v) + 2 > 4 * 255:
            raise ValueError(f"attribute {t}: value of {len(v)} octets does not make a 4-octet multiple")
        out += struct.pack("!BB", t, (len(v) + 2) // 4) + v
    return bytes(out)


def _aka_packet(code: int, identifier: int, msg: AkaMessage) -> bytes:
    return EapPacket(code, identifier, TYPE_AKA, encode_aka(msg)).encode()


def _mac_offset(packet: bytes) -> int | None:
    """Offset of the 16 MAC octets of AT_MAC in an encoded EAP-AKA packet, or None."""
    pos = 8  # EAP header (4) + Type (1) + Subtype (1) + Reserved (2)
    while pos + 2 <= len(packet):
        t, n = packet[pos], packet[pos + 1]
        if n == 0:
            return None
        if t == AT_MAC and n == 5 and pos + 20 <= len(packet):
            return pos + 4
        pos += 4 * n
    return None


def add_mac(packet: bytes, k_aut: bytes) -> bytes:
    """``packet`` (with a zeroed AT_MAC) with its AT_MAC filled in (RFC 4187 10.15)."""
    off = _mac_offset(packet)
    if off is None:
        raise ValueError("no AT_MAC in the packet")
    zeroed = packet[:off] + bytes(16) + packet[off + 16:]
    return zeroed[:off] + hmac_sha1_128(k_aut, zeroed) + zeroed[off + 16:]


def verify_mac(packet: bytes, k_aut: bytes) -> bool:
    """Whether the AT_MAC of a received EAP-AKA packet verifies with ``k_aut``."""
    length = struct.unpack_from("!H", packet, 2)[0] if len(packet) >= 4 else 0
    packet = bytes(packet[:length])
    off = _mac_offset(packet)
    if off is None:
        return False
    zeroed = packet[:off] + bytes(16) + packet[off + 16:]
    return hmac.compare_digest(hmac_sha1_128(k_aut, zeroed), packet[off:off + 16])


# ------------------------------------------------------------------------------------------------
# server


class VectorSource(Protocol):
    """Where the server gets authentication vectors (e.g. :class:`testbed.aaa.vectors.HpmVectors`)."""

    def vector(self, imsi: str) -> Av | None:
        """A fresh UMTS AV for ``imsi``, or None for an unknown identity."""
        ...

    def resync(self, imsi: str, rand: bytes, auts: bytes) -> bool:
        """Re-synchronise SQN from AUTS (TS 33.102 6.3.5); False if MAC-S does not verify."""
        ...


@dataclass(frozen=True)
class ServerStep:
    """What :class:`AkaServer` did with one input.

    ``status``: "continue" (``eap`` is the next request), "success" / "failure" (``eap`` is
    EAP-Success / EAP-Failure; ``reason`` says why it failed) or "discard" (the input was
    silently discarded, RFC 3748 4.1/7.x; ``eap`` is None). ``stage`` names the request sent;
    ``sync_failure`` is set when the peer reported a synchronisation failure, with
    ``resynced`` whether AUTS verified."""

    status: str
    eap: bytes | None = None
    reason: str = ""
    stage: str = ""
    sync_failure: bool = False
    resynced: bool = False


class AkaServer:
    """EAP-AKA server for one authentication (see the module docstring).

    ``first_id_request``: None (trust a permanent identity in EAP-Response/Identity, ask with
    AT_PERMANENT_ID_REQ otherwise) or one of AT_ANY_ID_REQ / AT_FULLAUTH_ID_REQ /
    AT_PERMANENT_ID_REQ to always start with that AKA-Identity round (RFC 4187 4.1.4).
    """

    def __init__(self, vectors: VectorSource, *, first_id_request: int | None = None, max_resync: int = 1,
                 identifier: int | None = None):
        if first_id_request is not None and first_id_request not in _ID_REQUESTS:
            raise ValueError("first_id_request must be AT_ANY_ID_REQ, AT_FULLAUTH_ID_REQ or AT_PERMANENT_ID_REQ")
        self.vectors = vectors
        self.first_id_request = first_id_request
        self.max_resync = max_resync
        self.state = "identity"  # identity | aka-identity | challenge | success | failure
        self.identity: str | None = None  # the identity the keys are bound to
        self.imsi: str | None = None
        self.msk: bytes | None = None
        self.emsk: bytes | None = None
        self._id = os.urandom(1)[0] if identifier is None else identifier & 0xFF
        self._outstanding: int | None = None  # identifier of the request awaiting a response
        self._identity_bytes = b""
        self._id_level = -1  # index in _ID_REQUESTS of the last AKA-Identity request sent
        self._id_msgs: list[bytes] = []  # AKA-Identity packets for AT_CHECKCODE
        self._av: Av | None = None
        self._keys: AkaKeys | None = None
        self._resyncs = 0

    # -- helpers ---------------------------------------------------------------------------

    def _next_id(self) -> int:
        self._id = (self._id + 1) & 0xFF
        self._outstanding = self._id
        return self._id

    def _fail(self, reason: str, identifier: int, **kw: object) -> ServerStep:
        self.state = "failure"
        self._outstanding = None
        return ServerStep("failure", EapPacket(EAP_FAILURE, identifier).encode(), reason=reason, **kw)  # type: ignore[arg-type]

    def start(self) -> ServerStep:
        """EAP-Request/Identity (for a NAS that sent EAP-Start, RFC 3579 2.1)."""
        return ServerStep("continue", EapPacket(EAP_REQUEST, self._next_id(), TYPE_IDENTITY).encode(),
                          stage="identity")

    def _request_identity(self, level: int) -> ServerStep:
        self._id_level = level
        self.state = "aka-identity"
        pkt = _aka_packet(EAP_REQUEST, self._next_id(),
                          AkaMessage(SUBTYPE_IDENTITY, (at_flag(_ID_REQUESTS[level]),)))
        self._id_msgs.append(pkt)
        return ServerStep("continue", pkt, stage="aka-identity")

    def _challenge(self, identifier: int, **kw: object) -> ServerStep:
        assert self.imsi is not None
        try:
            av = self.vectors.vector(self.imsi)
        except Exception as e:  # noqa: BLE001 - a store failure fails this authentication only
            return self._fail(f"no authentication vector: {type(e).__name__}: {e}", identifier, **kw)
        if av is None:
            return self._fail("unknown identity", identifier, **kw)
        self._av = av
        self._keys = derive_keys(self._identity_bytes, av.ik, av.ck)
        self.state = "challenge"
        msg = AkaMessage(SUBTYPE_CHALLENGE, (at_rand(av.rand), at_autn(av.autn),
                                             at_checkcode(checkcode(self._id_msgs)), at_mac_zero()))
        pkt = add_mac(_aka_packet(EAP_REQUEST, self._next_id(), msg), self._keys.k_aut)
        return ServerStep("continue", pkt, stage="challenge", **kw)  # type: ignore[arg-type]

    def _identity_received(self, identity: bytes, identifier: int) -> ServerStep:
        self._identity_bytes = identity
        self.identity = identity.decode("utf-8", "replace")
        if self.first_id_request is not None and self._id_level < 0:
            return self._request_identity(_ID_REQUESTS.index(self.first_id_request))
        imsi = parse_permanent_identity(identity)
        if imsi is None:
            permanent = len(_ID_REQUESTS) - 1
            if self._id_level < permanent:
                return self._request_identity(permanent)
            return self._fail("no permanent identity", identifier)
        self.imsi = imsi
        return self._challenge(identifier)

    # -- input -----------------------------------------------------------------------------

    def receive(self, data: bytes) -> ServerStep:
        """Process one EAP packet from the peer."""
        if self.state in ("success", "failure"):
            return ServerStep("discard", reason="authentication already finished")
        try:
            pkt = decode_eap(data)
        except DecodeError as e:
            return ServerStep("discard", reason=f"malformed EAP: {e}")
        if pkt.code != EAP_RESPONSE:
            return ServerStep("discard", reason=f"EAP-{pkt.code_name} sent to the server")
        if self._outstanding is not None and pkt.identifier != self._outstanding:
            return ServerStep("discard", reason="EAP identifier does not match the outstanding request")
        if pkt.type == TYPE_NAK:
            return self._fail("peer refused EAP-AKA (Nak)", pkt.identifier)
        if self.state == "identity":
            if pkt.type != TYPE_IDENTITY:
                return ServerStep("discard", reason=f"expected EAP-Response/Identity, got type {pkt.type}")
            return self._identity_received(pkt.data, pkt.identifier)
        if pkt.type != TYPE_AKA:
            return self._fail(f"unexpected EAP type {pkt.type}", pkt.identifier)
        try:
            msg = decode_aka(pkt.data)
        except DecodeError as e:
            return self._fail(f"malformed EAP-AKA: {e}", pkt.identifier)
        if msg.subtype == SUBTYPE_CLIENT_ERROR:
            return self._fail(f"peer client error {msg.client_error_code}", pkt.identifier)
        if self.state == "aka-identity":
            return self._aka_identity(data, pkt, msg)
        return self._challenge_response(data, pkt, msg)

    def _aka_identity(self, raw: bytes, pkt: EapPacket, msg: AkaMessage) -> ServerStep:
        if msg.subtype != SUBTYPE_IDENTITY:
            return self._fail(f"expected AKA-Identity, got subtype {msg.subtype}", pkt.identifier)
        identity = msg.identity
        if identity is None:
            return self._fail("AKA-Identity response without AT_IDENTITY", pkt.identifier)
        self._id_msgs.append(bytes(raw[:len(pkt.encode())]))
        return self._identity_received(identity, pkt.identifier)

    def _challenge_response(self, raw: bytes, pkt: EapPacket, msg: AkaMessage) -> ServerStep:
        assert self._keys is not None and self._av is not None and self.imsi is not None
        if msg.subtype == SUBTYPE_AUTHENTICATION_REJECT:
            # The peer could not authenticate the network (MAC in AUTN, RFC 4187 6.3.2).
            return self._fail("peer rejected the network authentication (AUTN MAC)", pkt.identifier)
        if msg.subtype == SUBTYPE_SYNCHRONIZATION_FAILURE:
            return self._sync_failure(pkt, msg)
        if msg.subtype != SUBTYPE_CHALLENGE:
            return self._fail(f"expected AKA-Challenge, got subtype {msg.subtype}", pkt.identifier)
        if not msg.has(AT_MAC) or not verify_mac(raw, self._keys.k_aut):
            return self._fail("AT_MAC of the challenge response does not verify", pkt.identifier)
        cc = msg.checkcode
        if cc is not None and not hmac.compare_digest(cc, checkcode(self._id_msgs)):
            return self._fail("AT_CHECKCODE mismatch (identity messages modified)", pkt.identifier)
        res = msg.res
        if res is None or not hmac.compare_digest(res, self._av.xres):
            return self._fail("RES does not match XRES", pkt.identifier)
        self.state = "success"
        self._outstanding = None
        self.msk, self.emsk = self._keys.msk, self._keys.emsk
        return ServerStep("success", EapPacket(EAP_SUCCESS, pkt.identifier).encode())

    def _sync_failure(self, pkt: EapPacket, msg: AkaMessage) -> ServerStep:
        assert self._av is not None and self.imsi is not None
        auts = msg.auts
        if auts is None:
            return self._fail("synchronisation failure without AT_AUTS", pkt.identifier, sync_failure=True)
        if self._resyncs >= self.max_resync:
            return self._fail("repeated synchronisation failure", pkt.identifier, sync_failure=True)
        self._resyncs += 1
        try:
            ok = self.vectors.resync(self.imsi, self._av.rand, auts)
        except Exception as e:  # noqa: BLE001
            return self._fail(f"re-synchronisation failed: {type(e).__name__}: {e}", pkt.identifier,
                              sync_failure=True)
        if not ok:
            return self._fail("AUTS does not verify (MAC-S)", pkt.identifier, sync_failure=True)
        return self._challenge(pkt.identifier, sync_failure=True, resynced=True)


# ------------------------------------------------------------------------------------------------
# peer


class AkaPeer:
    """EAP-AKA peer for one authentication.

    ``identity``: the permanent identity (or a callable giving it, e.g. from the HPM;
    None = no card, the peer then answers the challenge with AKA-Client-Error);
    ``authenticate(rand, autn)``: the UICC, returning :class:`~testbed.hpm.softuicc.AuthOk`
    (anything with ``res``, ``ck``, ``ik``), :class:`SyncFailure`, :class:`MacFailure` or
    anything else for "no answer"; ``anonymous_identity``: sent in EAP-Response/Identity
    instead of the permanent identity (the server then asks with AKA-Identity).
    """

    def __init__(self, identity: str | Callable[[], str | None],
                 authenticate: Callable[[bytes, bytes], object], *, anonymous_identity: str | None = None):
        self._identity = identity
        self.authenticate = authenticate
        self.anonymous_identity = anonymous_identity
        self.state = "idle"  # idle | identity | challenge | answered | success | failure
        self.msk: bytes | None = None
        self.emsk: bytes | None = None
        self.last_result: str = ""  # ok | sync_failure | mac_failure | no_card | bad_mac | ...
        self._mk_identity: bytes | None = None
        self._id_level = -1
        self._id_msgs: list[bytes] = []
        self._keys: AkaKeys | None = None
        self._last: tuple[bytes, bytes] | None = None  # (request, response) for retransmissions

    def _current_identity(self) -> str | None:
        return self._identity() if callable(self._identity) else self._identity

    def _answer(self, request: bytes, response: bytes) -> bytes:
        self._last = (request, response)
        return response

    def _client_error(self, request: bytes, identifier: int, why: str) -> bytes:
        self.last_result = why
        self.state = "failure"
        return self._answer(request, _aka_packet(EAP_RESPONSE, identifier, AkaMessage(
            SUBTYPE_CLIENT_ERROR, (at_client_error(CLIENT_ERROR_UNABLE_TO_PROCESS),))))

    def receive(self, data: bytes) -> bytes | None:
        """Process one EAP packet from the server; the response to send, or None."""
        if self._last is not None and data == self._last[0]:
            return self._last[1]  # a retransmitted request gets the same response (RFC 3748 4.1)
        try:
            pkt = decode_eap(data)
        except DecodeError:
            return None
        raw = bytes(data[:len(pkt.encode())])
        if pkt.code == EAP_SUCCESS:
            if self.state == "answered" and self._keys is not None:
                self.state = "success"
                self.msk, self.emsk = self._keys.msk, self._keys.emsk
            else:
                self.state = "failure"  # EAP-Success before the challenge is not accepted (RFC 4187 6.2)
            return None
        if pkt.code == EAP_FAILURE:
            self.state = "failure"
            return None
        if pkt.code != EAP_REQUEST:
            return None
        if pkt.type == TYPE_IDENTITY:
            ident = self.anonymous_identity or self._current_identity()
            if ident is None:
                return None
            self._mk_identity = ident.encode()
            self.state = "identity"
            return self._answer(raw, EapPacket(EAP_RESPONSE, pkt.identifier, TYPE_IDENTITY, ident.encode()).encode())
        if pkt.type == TYPE_NOTIFICATION:
            return self._answer(raw, EapPacket(EAP_RESPONSE, pkt.identifier, TYPE_NOTIFICATION).encode())
        if pkt.type != TYPE_AKA:
            return self._answer(raw, EapPacket(EAP_RESPONSE, pkt.identifier, TYPE_NAK, bytes([TYPE_AKA])).encode())
        try:
            msg = decode_aka(pkt.data)
        except DecodeError:
            return self._client_error(raw, pkt.identifier, "malformed")
        if msg.subtype == SUBTYPE_IDENTITY:
            return self._aka_identity(raw, pkt, msg)
        if msg.subtype == SUBTYPE_CHALLENGE:
            return self._challenge(raw, pkt, msg)
        if msg.subtype == SUBTYPE_NOTIFICATION:
            return self._answer(raw, _aka_packet(EAP_RESPONSE, pkt.identifier, AkaMessage(SUBTYPE_NOTIFICATION)))
        return self._client_error(raw, pkt.identifier, f"unsupported subtype {msg.subtype}")

    def _aka_identity(self, raw: bytes, pkt: EapPacket, msg: AkaMessage) -> bytes:
        levels = [i for i, a in enumerate(_ID_REQUESTS) if msg.has(a)]
        if len(levels) > 1:
            return self._client_error(raw, pkt.identifier, "several identity requests")
        attrs: tuple[tuple[int, bytes], ...] = ()
        if levels:
            # RFC 4187 4.1.6: a request no more specific than an earlier one is an error.
            if levels[0] <= self._id_level:
                return self._client_error(raw, pkt.identifier, "identity request repeated")
            self._id_level = levels[0]
            ident = self._current_identity()
            if ident is None:
                return self._client_error(raw, pkt.identifier, "no_card")
            self._mk_identity = ident.encode()  # no pseudonyms: always the permanent identity
            attrs = (at_identity(self._mk_identity),)
        resp = _aka_packet(EAP_RESPONSE, pkt.identifier, AkaMessage(SUBTYPE_IDENTITY, attrs))
        self._id_msgs += [raw, resp]
        return self._answer(raw, resp)

    def _challenge(self, raw: bytes, pkt: EapPacket, msg: AkaMessage) -> bytes:
        rand, autn = msg.rand, msg.autn
        if self._mk_identity is None:
            # No identity exchange in EAP (e.g. IKEv2 gave the server the identity): the
            # permanent identity is the one the keys are bound to (RFC 4187 7).
            ident = self._current_identity()
            self._mk_identity = ident.encode() if ident is not None else None
        if rand is None or autn is None or not msg.has(AT_MAC) or self._mk_identity is None:
            return self._client_error(raw, pkt.identifier, "incomplete challenge")
        try:
            r = self.authenticate(rand, autn)
        except Exception:  # noqa: BLE001 - the UICC (socket) did not answer
            r = None
        if isinstance(r, MacFailure):
            self.last_result = "mac_failure"
            self.state = "failure"
            return self._answer(raw, _aka_packet(EAP_RESPONSE, pkt.identifier,
                                                 AkaMessage(SUBTYPE_AUTHENTICATION_REJECT)))
        if isinstance(r, SyncFailure):
            self.last_result = "sync_failure"
            self.state = "challenge"
            return self._answer(raw, _aka_packet(EAP_RESPONSE, pkt.identifier,
                                                 AkaMessage(SUBTYPE_SYNCHRONIZATION_FAILURE, (at_auts(r.auts),))))
        if not all(hasattr(r, a) for a in ("res", "ck", "ik")):
            return self._client_error(raw, pkt.identifier, "no_card")
        keys = derive_keys(self._mk_identity, r.ik, r.ck)  # type: ignore[union-attr]
        if not verify_mac(raw, keys.k_aut):
            return self._client_error(raw, pkt.identifier, "bad_mac")
        own = checkcode(self._id_msgs)
        cc = msg.checkcode
        if cc is not None and not hmac.compare_digest(cc, own):
            return self._client_error(raw, pkt.identifier, "checkcode_mismatch")
        attrs = [at_res(r.res)]  # type: ignore[union-attr]
        if cc is not None:
            attrs.append(at_checkcode(own))
        attrs.append(at_mac_zero())
        resp = add_mac(_aka_packet(EAP_RESPONSE, pkt.identifier, AkaMessage(SUBTYPE_CHALLENGE, tuple(attrs))),
                       keys.k_aut)
        self._keys = keys
        self.state = "answered"
        self.last_result = "ok"
        return self._answer(raw, resp)
