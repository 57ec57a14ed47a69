"""The AMF's codec short-cuts for the per-UE hot path: learned splice templates (no hand-written codec).

Most messages the AMF sends or receives in a registration differ from UE to UE only in a few
fixed-size fields (NGAP UE ids, the NAS-PDU, KgNB, RAND/AUTN, the 5G-TMSI). :class:`AmfCodecCache`
serves them from :class:`~testbed.protocols.templates.SpliceTemplate` s learned from the real codecs
(:func:`~testbed.protocols.templates.learn`, see :mod:`testbed.protocols.templates`):

* encoding: the constant bytes with the values spliced in, byte-identical to the codec's output;
* decoding: served from a template only if every constant byte equals the template's; anything else
  (new structure, malformed input) goes to the real decoder, which stays the only judge of malformed
  input.

Templates are learned on the second sighting of a key (a one-off message is not worth four extra
encodes) and kept in bounded LRU caches.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from testbed.protocols import nas, ngap
from testbed.protocols.templates import Build, SpliceTemplate, learn, nbytes

__all__ = ["AmfCodecCache"]


class _Lru:
    """A bounded LRU map; ``None`` values remember keys whose learning failed."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.d: OrderedDict[Any, Any] = OrderedDict()
        self.seen: OrderedDict[Any, int] = OrderedDict()

    def get(self, key: Any) -> Any:
        v = self.d.get(key, _MISSING)
        if v is not _MISSING:
            self.d.move_to_end(key)
        return v

    def put(self, key: Any, value: Any) -> None:
        self.d[key] = value
        if len(self.d) > self.size:
            self.d.popitem(last=False)

    def second_sighting(self, key: Any) -> bool:
        if key in self.seen:
            del self.seen[key]
            return True
        self.seen[key] = 1
        if len(self.seen) > self.size:
            self.seen.popitem(last=False)
        return False


_MISSING = object()


def _b(v: int, n: int) -> bytes:
    return v.to_bytes(n, "big")


class AmfCodecCache:
    """The AMF's hot-path encoders/decoders; each falls back to the real codec on a miss."""

    def __init__(self, size: int = 512) -> None:
        self._enc = _Lru(size)
        self._dec: dict[int, OrderedDict[bytes, tuple[str, SpliceTemplate, Any]]] = {}
        self._dec_seen = _Lru(size)
        self._dec_size = size
        self.hits = 0
        self.misses = 0

    # -- generic ------------------------------------------------------------------------

    def _encode(self, key: Any, values: Sequence[bytes], integer: Sequence[bool], build: Build) -> bytes:
        tpl = self._enc.get(key)
        if isinstance(tpl, SpliceTemplate):
            self.hits += 1
            return tpl.fill(values)
        self.misses += 1
        if tpl is _MISSING and self._enc.second_sighting(key):
            tpl = learn(build, [len(v) for v in values], integer)
            self._enc.put(key, tpl)
            if tpl is not None:
                return tpl.fill(values)
        return build(values)

    # -- NGAP encode ---------------------------------------------------------------------

    def downlink_nas_transport(self, amf_id: int, ran_id: int, pdu: bytes) -> bytes:
        na, nr = nbytes(amf_id), nbytes(ran_id)
        return self._encode(("DLNAS", na, nr, len(pdu)), (_b(amf_id, na), _b(ran_id, nr), pdu),
                            (True, True, False),
                            lambda v: ngap.encode(ngap.DownlinkNASTransport(
                                int.from_bytes(v[0], "big"), int.from_bytes(v[1], "big"), bytes(v[2]))))

    def initial_context_setup_request(self, msg: ngap.InitialContextSetupRequest) -> bytes:
        """Only the UE ids, KgNB and NAS-PDU vary; the rest is the key."""
        pdu = msg.nas_pdu
        if pdu is None or msg.pdu_sessions is not None:
            return ngap.encode(msg)
        na, nr = nbytes(msg.amf_ue_ngap_id), nbytes(msg.ran_ue_ngap_id)
        key = ("ICS", na, nr, len(pdu), msg.guami, msg.allowed_nssai, msg.ue_security_capabilities,
               msg.mobility_restriction, msg.ue_ambr, len(msg.security_key))
        rest = (msg.guami, msg.allowed_nssai, msg.ue_security_capabilities, msg.ue_ambr, msg.mobility_restriction)

        def build(v: Sequence[bytes]) -> bytes:
            return ngap.encode(ngap.InitialContextSetupRequest(
                int.from_bytes(v[0], "big"), int.from_bytes(v[1], "big"), rest[0], rest[1], rest[2], bytes(v[2]),
                ue_ambr=rest[3], mobility_restriction=rest[4], nas_pdu=bytes(v[3])))
        return self._encode(key, (_b(msg.amf_ue_ngap_id, na), _b(msg.ran_ue_ngap_id, nr), msg.security_key, pdu),
                            (True, True, False, False), build)

    # -- NAS encode ------------------------------------------------------------------------

    def authentication_request(self, ngksi: int, abba: bytes, rand: bytes, autn: bytes) -> bytes:
        return self._encode(("AUTHREQ", ngksi, abba), (rand, autn), (False, False),
                            lambda v: nas.AuthenticationRequest(ngksi=nas.NgKsi(ngksi), abba=abba, rand=bytes(v[0]),
                                                                autn=bytes(v[1])).encode())

    def registration_accept(self, accept: nas.RegistrationAccept) -> bytes:
        """Only the 5G-TMSI of the new 5G-GUTI varies."""
        guti = accept.guti
        if guti is None:
            return accept.encode()
        key = ("REGACC", accept.result, guti.mcc, guti.mnc, guti.amf_region_id, guti.amf_set_id, guti.amf_pointer,
               accept.equivalent_plmns, accept.tai_list, accept.allowed_nssai, accept.configured_nssai,
               accept.network_feature_support, accept.pdu_session_status, accept.t3512, accept.t3502,
               accept.cag_information_list, accept.other_ies)

        def build(v: Sequence[bytes]) -> bytes:
            g = nas.Guti5g(guti.mcc, guti.mnc, guti.amf_region_id, guti.amf_set_id, guti.amf_pointer,
                           int.from_bytes(v[0], "big"))
            return _replace(accept, guti=g).encode()
        return self._encode(key, (guti.tmsi.to_bytes(4, "big"),), (False,), build)

    def cached(self, key: Any, build: Callable[[], bytes]) -> bytes:
        """A message fully determined by ``key`` (e.g. SECURITY MODE COMMAND for given algorithms,
        ngKSI and UE capabilities)."""
        v = self._enc.get(("FULL", key))
        if isinstance(v, bytes):
            self.hits += 1
            return v
        self.misses += 1
        data = build()
        self._enc.put(("FULL", key), data)
        return data

    # -- NGAP decode ---------------------------------------------------------------------

    def decode(self, data: bytes) -> Any:
        """``ngap.decode(data)`` (may raise DecodeError), served from a learned template when the
        bytes have a known structure."""
        bucket = self._dec.get(len(data))
        if bucket is not None:
            for head, (kind, tpl, proto) in bucket.items():
                vals = tpl.match(data)
                if vals is not None:
                    bucket.move_to_end(head)
                    self.hits += 1
                    return _rebuild(kind, vals, proto)
        self.misses += 1
        msg = ngap.decode(data)
        kind = _DECODE_KINDS.get(type(msg))
        if kind is not None:
            self._learn_decode(kind, msg, data)
        return msg

    def _learn_decode(self, kind: str, msg: Any, data: bytes) -> None:
        build, values, integer = _decode_spec(kind, msg)
        if build is None:
            return
        key = (kind, len(data), data[:8], tuple(len(v) for v in values))
        if not self._dec_seen.second_sighting(key):
            return
        tpl = learn(build, [len(v) for v in values], integer)
        if tpl is None or tpl.match(data) != tuple(values):
            return
        bucket = self._dec.setdefault(len(data), OrderedDict())
        bucket[tpl.data] = (kind, tpl, msg)
        if len(bucket) > 16:
            bucket.popitem(last=False)
        total = sum(len(b) for b in self._dec.values())
        if total > self._dec_size:
            self._dec.pop(next(iter(self._dec)))


def _replace(obj: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(obj, **changes)


_DECODE_KINDS = {ngap.UplinkNASTransport: "ul", ngap.InitialContextSetupResponse: "icsr",
                 ngap.InitialUEMessage: "iue"}


def _int(v: bytes) -> int:
    return int.from_bytes(v, "big")


def _decode_spec(kind: str, m: Any) -> tuple[Build | None, list[bytes], list[bool]]:
    if kind == "ul":
        na, nr = nbytes(m.amf_ue_ngap_id), nbytes(m.ran_ue_ngap_id)
        uli = m.user_location
        return (lambda v: ngap.encode(ngap.UplinkNASTransport(_int(v[0]), _int(v[1]), bytes(v[2]), uli)),
                [_b(m.amf_ue_ngap_id, na), _b(m.ran_ue_ngap_id, nr), m.nas_pdu], [True, True, False])
    if kind == "icsr":
        if m.pdu_sessions_setup is not None or m.pdu_sessions_failed is not None:
            return None, [], []
        na, nr = nbytes(m.amf_ue_ngap_id), nbytes(m.ran_ue_ngap_id)
        return (lambda v: ngap.encode(ngap.InitialContextSetupResponse(_int(v[0]), _int(v[1]))),
                [_b(m.amf_ue_ngap_id, na), _b(m.ran_ue_ngap_id, nr)], [True, True])
    if kind == "iue":
        nr = nbytes(m.ran_ue_ngap_id)
        fixed = (m.user_location, m.rrc_establishment_cause, m.five_g_s_tmsi, m.ue_context_requested, m.cag_ids)
        return (lambda v: ngap.encode(ngap.InitialUEMessage(_int(v[0]), bytes(v[1]), fixed[0], fixed[1], fixed[2],
                                                            fixed[3], fixed[4])),
                [_b(m.ran_ue_ngap_id, nr), m.nas_pdu], [True, False])
    return None, [], []


def _rebuild(kind: str, vals: tuple[bytes, ...], proto: Any) -> Any:
    if kind == "ul":
        return ngap.UplinkNASTransport(_int(vals[0]), _int(vals[1]), vals[2], proto.user_location)
    if kind == "icsr":
        return ngap.InitialContextSetupResponse(_int(vals[0]), _int(vals[1]))
    return ngap.InitialUEMessage(_int(vals[0]), vals[1], proto.user_location, proto.rrc_establishment_cause,
                                 proto.five_g_s_tmsi, proto.ue_context_requested, proto.cag_ids)
