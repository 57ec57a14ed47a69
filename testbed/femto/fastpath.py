"""Codec short-cuts for the femto's per-UE hot path, learned from the real codecs.

A registration through the femto costs about ten NGAP (APER) and ten NR RRC (UPER) encodings or
decodings; with pycrate that is 0.1-0.6 ms each, the femto's whole budget. As in the AMF
(:mod:`testbed.core.amf.fastpath`), a template (:mod:`testbed.protocols.templates`) is learned
from the real codec on the second sighting of a message shape: the message is encoded with the
variable fields (UE NGAP ids, NAS-PDU, KgNB, TEID, RRC transaction-independent values) set to
different values, the positions that change are the fields' slots, and the template is kept only
if it reproduces the codec for a further random set of values.

NGAP templates are octet templates (:class:`~testbed.protocols.templates.SpliceTemplate`). NR RRC
is unaligned PER, so its templates are bit templates
(:class:`~testbed.protocols.templates.BitTemplate`): a NAS-PDU in a DLInformationTransfer starts at
bit 24, not at an octet boundary.

Decoding through a template succeeds only if every constant bit/octet equals the learned one, so
the input is exactly the learned message with other slot values; anything else (a new structure,
malformed input) goes to the real decoder, which stays the only judge of malformed input.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from testbed.protocols import ngap, rrc
from testbed.protocols.templates import BitTemplate, SpliceTemplate, learn, learn_bits, nbytes

__all__ = ["NgapFastPath", "RrcFastPath"]


# ---------------------------------------------------------------------------------- caches

class _Lru(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


class _Seen:
    """Second-sighting filter: learning costs a few extra encodings, one-offs are not worth it."""

    def __init__(self, size: int) -> None:
        self.keys = _Lru(size)

    def second(self, key: Any) -> bool:
        if key in self.keys:
            del self.keys[key]
            return True
        self.keys.put(key, True)
        return False


_NONE = object()


class _Decoder:
    """Templates bucketed by (channel, input length); a hit rebuilds the typed message."""

    def __init__(self, size: int) -> None:
        self.buckets: dict[Any, OrderedDict[Any, tuple[Any, Callable[[tuple], Any]]]] = {}
        self.size = size

    def lookup(self, where: Any, data: bytes) -> Any:
        bucket = self.buckets.get((where, len(data)))
        if bucket:
            for key, (tpl, rebuild) in bucket.items():
                vals = tpl.match(data)
                if vals is not None:
                    bucket.move_to_end(key)
                    return rebuild(vals)
        return _NONE

    def add(self, where: Any, data: bytes, tpl: Any, rebuild: Callable[[tuple], Any]) -> None:
        bucket = self.buckets.setdefault((where, len(data)), OrderedDict())
        bucket[getattr(tpl, "data", None) or (tpl.const, tpl.mask)] = (tpl, rebuild)
        if len(bucket) > 16:
            bucket.popitem(last=False)
        if len(self.buckets) > self.size:
            self.buckets.pop(next(iter(self.buckets)))


# ---------------------------------------------------------------------------------- RRC

class RrcFastPath:
    """Hot-path NR RRC: DLInformationTransfer / RRCSetup / RRCRelease encodings, ULInformationTransfer /
    RRCSetupRequest / RRCSetupComplete decodings (TS 38.331 6.2.2, UPER)."""

    def __init__(self, size: int = 256, enabled: bool = True) -> None:
        self.enabled = enabled
        self._enc = _Lru(size)
        self._full: dict[Any, bytes] = {}
        self._seen = _Seen(size)
        self._dec = _Decoder(size)
        self.hits = 0
        self.misses = 0

    def encode(self, msg: rrc.RrcMessage) -> bytes:
        if not self.enabled:
            return rrc.encode(msg)
        if isinstance(msg, rrc.RRCSetup | rrc.RRCRelease):
            key = (type(msg), msg.transaction_id, getattr(msg, "master_cell_group", None))
            data = self._full.get(key)
            if data is None:
                self.misses += 1
                data = self._full[key] = rrc.encode(msg)
            else:
                self.hits += 1
            return data
        if isinstance(msg, rrc.DLInformationTransfer):
            tid, n = msg.transaction_id, len(msg.nas_pdu)
            key = ("DLIT", tid, n)
            tpl = self._enc.get(key, _NONE)
            if isinstance(tpl, BitTemplate):
                self.hits += 1
                return tpl.fill((int.from_bytes(msg.nas_pdu, "big"),))
            self.misses += 1
            if tpl is _NONE and self._seen.second(key):
                tpl = learn_bits(lambda v: rrc.encode(rrc.DLInformationTransfer(v[0].to_bytes(n, "big"), tid)),
                                 (8 * n,))
                self._enc.put(key, tpl)
        return rrc.encode(msg)

    def decode(self, channel: rrc.Channel, data: bytes) -> Any:
        """``rrc.decode(channel, data)`` (may raise DecodeError), from a template when the shape is known."""
        if not self.enabled:
            return rrc.decode(channel, data)
        hit = self._dec.lookup(channel, data)
        if hit is not _NONE:
            self.hits += 1
            return hit
        self.misses += 1
        msg = rrc.decode(channel, data)
        spec = _rrc_spec(msg)
        if spec is not None:
            shape, widths, values, build, rebuild = spec
            if self._seen.second((channel, len(data), shape)):
                tpl = learn_bits(build, widths)
                if tpl is not None and tpl.match(data) == tuple(values):
                    self._dec.add(channel, data, tpl, rebuild)
        return msg


def _rrc_spec(m: Any) -> tuple | None:
    """(shape key, slot widths, the message's slot values, build, rebuild) of a learnable UL message."""
    if isinstance(m, rrc.ULInformationTransfer):
        n = len(m.nas_pdu)
        return (("ULIT", n), (8 * n,), (int.from_bytes(m.nas_pdu, "big"),),
                lambda v: rrc.encode(rrc.ULInformationTransfer(v[0].to_bytes(n, "big"))),
                lambda v: rrc.ULInformationTransfer(v[0].to_bytes(n, "big")))
    if isinstance(m, rrc.RRCSetupRequest):
        cause, part1 = m.establishment_cause, m.identity_is_s_tmsi_part1
        return (("RSR", cause, part1), (39,), (m.ue_identity,),
                lambda v: rrc.encode(rrc.RRCSetupRequest(v[0], cause, part1)),
                lambda v: rrc.RRCSetupRequest(v[0], cause, part1))
    if isinstance(m, rrc.RRCSetupComplete):
        n = len(m.nas_pdu)
        has2, has_full = m.s_tmsi_part2 is not None, m.s_tmsi is not None
        widths = [8 * n] + ([9] if has2 else []) + ([48] if has_full else [])
        values = [int.from_bytes(m.nas_pdu, "big")] + ([m.s_tmsi_part2] if has2 else []) + (
            [m.s_tmsi] if has_full else [])
        proto = m

        def make(v: Sequence[int]) -> rrc.RRCSetupComplete:
            rest = list(v[1:])
            return dataclasses.replace(proto, nas_pdu=v[0].to_bytes(n, "big"),
                                       s_tmsi_part2=rest.pop(0) if has2 else None,
                                       s_tmsi=rest.pop(0) if has_full else None)
        shape = ("RSC", n, m.transaction_id, m.selected_plmn_index, m.registered_amf, has2, has_full)
        return shape, tuple(widths), tuple(values), lambda v: rrc.encode(make(v)), make
    return None


# ---------------------------------------------------------------------------------- NGAP

def _b(v: int, n: int) -> bytes:
    return v.to_bytes(n, "big")


def _i(v: bytes) -> int:
    return int.from_bytes(v, "big")


class NgapFastPath:
    """Hot-path NGAP (TS 38.413, APER) of a gNB: UL encodings, DL decodings."""

    def __init__(self, size: int = 512, enabled: bool = True) -> None:
        self.enabled = enabled
        self._enc = _Lru(size)
        self._seen = _Seen(size)
        self._dec = _Decoder(size)
        self.hits = 0
        self.misses = 0

    def _encode(self, key: Any, values: Sequence[bytes], integer: Sequence[bool],
                build: Callable[[Sequence[bytes]], bytes]) -> bytes:
        tpl = self._enc.get(key, _NONE)
        if isinstance(tpl, SpliceTemplate):
            self.hits += 1
            return tpl.fill(values)
        self.misses += 1
        if tpl is _NONE and self._seen.second(key):
            tpl = learn(build, [len(v) for v in values], integer)
            self._enc.put(key, tpl)
            if tpl is not None:
                return tpl.fill(values)
        return build(values)

    def encode(self, msg: ngap.NgapMessage) -> bytes:
        """``ngap.encode(msg)``, from a template for the per-UE messages of a registration."""
        if not self.enabled:
            return ngap.encode(msg)
        spec = _ngap_enc_spec(msg)
        if spec is None:
            return ngap.encode(msg)
        key, values, integer, build = spec
        return self._encode(key, values, integer, build)

    def decode(self, data: bytes) -> Any:
        """``ngap.decode(data)`` (may raise DecodeError), from a template when the shape is known."""
        if not self.enabled:
            return ngap.decode(data)
        hit = self._dec.lookup(0, data)
        if hit is not _NONE:
            self.hits += 1
            return hit
        self.misses += 1
        msg = ngap.decode(data)
        spec = _ngap_dec_spec(msg)
        if spec is not None:
            shape, values, integer, build, rebuild = spec
            if self._seen.second((len(data), data[:8], shape)):
                tpl = learn(build, [len(v) for v in values], integer)
                if tpl is not None and tpl.match(data) == tuple(values):
                    self._dec.add(0, data, tpl, rebuild)
        return msg


def _ids(m: Any) -> tuple[int, int, bytes, bytes]:
    na, nr = nbytes(m.amf_ue_ngap_id), nbytes(m.ran_ue_ngap_id)
    return na, nr, _b(m.amf_ue_ngap_id, na), _b(m.ran_ue_ngap_id, nr)


def _ngap_enc_spec(m: Any) -> tuple | None:
    if isinstance(m, ngap.UplinkNASTransport):
        na, nr, a, r = _ids(m)
        uli = m.user_location
        return (("UL", na, nr, len(m.nas_pdu), uli), (a, r, m.nas_pdu), (True, True, False),
                lambda v: ngap.encode(ngap.UplinkNASTransport(_i(v[0]), _i(v[1]), bytes(v[2]), uli)))
    if isinstance(m, ngap.InitialUEMessage):
        if m.five_g_s_tmsi is not None:
            return None
        nr = nbytes(m.ran_ue_ngap_id)
        fixed = (m.user_location, m.rrc_establishment_cause, m.ue_context_requested, m.cag_ids)
        return (("IUE", nr, len(m.nas_pdu), fixed), (_b(m.ran_ue_ngap_id, nr), m.nas_pdu), (True, False),
                lambda v: ngap.encode(ngap.InitialUEMessage(_i(v[0]), bytes(v[1]), fixed[0], fixed[1], None,
                                                            fixed[2], fixed[3])))
    if isinstance(m, ngap.InitialContextSetupResponse) and m.pdu_sessions_setup is None \
            and m.pdu_sessions_failed is None:
        na, nr, a, r = _ids(m)
        return (("ICSR", na, nr), (a, r), (True, True),
                lambda v: ngap.encode(ngap.InitialContextSetupResponse(_i(v[0]), _i(v[1]))))
    if isinstance(m, ngap.UEContextReleaseComplete):
        na, nr, a, r = _ids(m)
        rest = (m.user_location, m.pdu_session_ids)
        return (("UCRC", na, nr, rest), (a, r), (True, True),
                lambda v: ngap.encode(ngap.UEContextReleaseComplete(_i(v[0]), _i(v[1]), *rest)))
    if isinstance(m, ngap.UEContextReleaseRequest):
        na, nr, a, r = _ids(m)
        rest = (m.cause, m.pdu_session_ids)
        return (("UCRR", na, nr, rest), (a, r), (True, True),
                lambda v: ngap.encode(ngap.UEContextReleaseRequest(_i(v[0]), _i(v[1]), *rest)))
    if isinstance(m, ngap.PDUSessionResourceSetupResponse) and m.failed is None and m.setup is not None \
            and len(m.setup) == 1 and isinstance(m.setup[0].transfer, ngap.PduSessionResourceSetupResponseTransfer):
        na, nr, a, r = _ids(m)
        item = m.setup[0]
        tr = item.transfer
        psi, addr, qfis, sec = item.pdu_session_id, tr.dl_tunnel.address, tr.qos_flows, tr.security_result

        def build(v: Sequence[bytes]) -> bytes:
            t = ngap.PduSessionResourceSetupResponseTransfer(ngap.GtpTunnel(addr, _i(v[2])), qfis, sec)
            return ngap.encode(ngap.PDUSessionResourceSetupResponse(_i(v[0]), _i(v[1]), (
                ngap.PduSessionSetupResult(psi, t),)))
        if tr.dl_tunnel.ipv6 is not None:
            return None
        return (("PSRSP", na, nr, psi, addr, qfis, sec), (a, r, _b(tr.dl_tunnel.teid, 4)), (True, True, False),
                build)
    return None


def _ngap_dec_spec(m: Any) -> tuple | None:
    if isinstance(m, ngap.DownlinkNASTransport):
        na, nr, a, r = _ids(m)
        rest = (m.mobility_restriction, m.allowed_nssai)
        n = len(m.nas_pdu)
        return (("DL", na, nr, n, rest), (a, r, m.nas_pdu), (True, True, False),
                lambda v: ngap.encode(ngap.DownlinkNASTransport(_i(v[0]), _i(v[1]), bytes(v[2]), *rest)),
                lambda v: ngap.DownlinkNASTransport(_i(v[0]), _i(v[1]), v[2], *rest))
    if isinstance(m, ngap.InitialContextSetupRequest) and m.pdu_sessions is None and m.nas_pdu is not None \
            and len(m.security_key) == 32:
        na, nr, a, r = _ids(m)
        rest = (m.guami, m.allowed_nssai, m.ue_security_capabilities)
        opt = (m.ue_ambr, m.mobility_restriction)

        def make(v: Sequence[bytes]) -> ngap.InitialContextSetupRequest:
            return ngap.InitialContextSetupRequest(_i(v[0]), _i(v[1]), *rest, bytes(v[2]), ue_ambr=opt[0],
                                                   mobility_restriction=opt[1], nas_pdu=bytes(v[3]))
        return (("ICS", na, nr, len(m.nas_pdu), rest, opt), (a, r, m.security_key, m.nas_pdu),
                (True, True, False, False), lambda v: ngap.encode(make(v)), make)
    if isinstance(m, ngap.UEContextReleaseCommand) and m.ran_ue_ngap_id is not None:
        na, nr, a, r = _ids(m)
        cause = m.cause
        return (("UCRCMD", na, nr, cause), (a, r), (True, True),
                lambda v: ngap.encode(ngap.UEContextReleaseCommand(_i(v[0]), cause, _i(v[1]))),
                lambda v: ngap.UEContextReleaseCommand(_i(v[0]), cause, _i(v[1])))
    return None
