"""NGAP PAGING (TS 38.413 8.5.1, 9.2.4.1) for the femto, until :mod:`testbed.protocols.ngap` models it.

The typed NGAP codec returns ``UnsupportedMessage(name="Paging")`` for it; this module decodes the
UE Paging Identity (5G-S-TMSI, 9.3.3.18) and the TAI List for Paging (9.3.3.21) with the same
pycrate objects and process-wide lock the codec uses. :func:`encode_paging` builds one (tests, the
scripted AMF side).
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.errors import DecodeError
from testbed.protocols import ngap

__all__ = ["NgapPaging", "decode_paging", "encode_paging"]

_ID_UE_PAGING_IDENTITY = 115
_ID_TAI_LIST_FOR_PAGING = 103
_PROC_PAGING = 24


@dataclass(frozen=True, slots=True)
class NgapPaging:
    s_tmsi: ngap.FiveGSTmsi
    tais: tuple[ngap.Tai, ...]


def _pdu_obj():  # noqa: ANN202 - pycrate object
    from pycrate_asn1dir import NGAP

    return NGAP.NGAP_PDU_Descriptions.NGAP_PDU


def decode_paging(data: bytes) -> NgapPaging:
    """Decode an NGAP PAGING PDU; :class:`DecodeError` for anything else or malformed content."""
    from testbed.protocols.ngap import _asn1

    v = _asn1.per_decode(_pdu_obj(), data, True, "Paging")
    try:
        kind, body = v
        name, content = body["value"]
        if kind != "initiatingMessage" or name != "Paging":
            raise DecodeError(f"not a PAGING message: {kind}/{name}")
        s_tmsi = None
        tais: list[ngap.Tai] = []
        for ie in content["protocolIEs"]:
            if ie["id"] == _ID_UE_PAGING_IDENTITY:
                alt, ident = ie["value"][1]
                if alt != "fiveG-S-TMSI":
                    raise DecodeError(f"unsupported UE paging identity {alt}")
                s_tmsi = ngap.FiveGSTmsi(ident["aMFSetID"][0], ident["aMFPointer"][0],
                                         int.from_bytes(ident["fiveG-TMSI"], "big"))
            elif ie["id"] == _ID_TAI_LIST_FOR_PAGING:
                for item in ie["value"][1]:
                    t = item["tAI"]
                    tais.append(ngap.Tai(ngap.Plmn.from_bytes(t["pLMNIdentity"]), int.from_bytes(t["tAC"], "big")))
        if s_tmsi is None:
            raise DecodeError("PAGING without UE Paging Identity")
        return NgapPaging(s_tmsi, tuple(tais))
    except DecodeError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise DecodeError(f"PAGING: {type(e).__name__}: {e}") from None


def encode_paging(s_tmsi: ngap.FiveGSTmsi, tais: tuple[ngap.Tai, ...]) -> bytes:
    """An NGAP PAGING PDU (TS 38.413 9.2.4.1) for ``s_tmsi`` in ``tais``."""
    from testbed.protocols.ngap import _asn1

    ident = {"aMFSetID": (s_tmsi.amf_set_id, 10), "aMFPointer": (s_tmsi.amf_pointer, 6),
             "fiveG-TMSI": s_tmsi.tmsi.to_bytes(4, "big")}
    val = ("initiatingMessage", {"procedureCode": _PROC_PAGING, "criticality": "ignore", "value": ("Paging", {
        "protocolIEs": [
            {"id": _ID_UE_PAGING_IDENTITY, "criticality": "ignore", "value": ("UEPagingIdentity", ("fiveG-S-TMSI", ident))},
            {"id": _ID_TAI_LIST_FOR_PAGING, "criticality": "ignore", "value": ("TAIListForPaging", [
                {"tAI": {"pLMNIdentity": t.plmn.to_bytes(), "tAC": t.tac.to_bytes(3, "big")}} for t in tais])},
        ]})})
    return _asn1.per_encode(_pdu_obj(), val, True, "Paging")
