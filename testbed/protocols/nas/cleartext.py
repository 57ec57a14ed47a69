"""Protection of initial NAS messages: the cleartext-IE rule of TS 24.501 4.4.6 (TS 33.501 6.4.6).

An initial NAS message (REGISTRATION REQUEST, SERVICE REQUEST) sent without a valid 5G NAS
security context may only contain the *cleartext IEs*; the complete message (cleartext and
non-cleartext IEs) is sent again, ciphered, in the NAS message container of SECURITY MODE
COMPLETE once NAS security is established. With a valid context the UE sends the cleartext IEs
plus a NAS message container carrying the complete, ciphered message, the whole being integrity
protected.

Cleartext IEs of REGISTRATION REQUEST: extended protocol discriminator, security header type,
spare half octet, message identity, 5GS registration type, ngKSI, 5GS mobile identity, UE security
capability, additional GUTI, UE status, EPS NAS message container (and, from Rel-17, NID and
"PLMN with disaster condition"). Of SERVICE REQUEST: the header, service type, ngKSI and
5G-S-TMSI.

Open5GS enforces the rule in its AMF (``src/amf/gmm-handler.c``,
``gmm_handle_registration_request``): a REGISTRATION REQUEST received in an NGAP INITIAL UE MESSAGE
with any IE outside the cleartext set (other than the NAS message container) is logged as
"Non cleartext IEs is included" and answered with REGISTRATION REJECT, 5GMM cause #95
"semantically incorrect message"; so is a NAS message container in a message that is not
integrity protected. :func:`non_cleartext_ies` gives an AMF what it needs to do the same.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from .message import MmMessage
from .mm import RegistrationRequest, ServiceRequest

__all__ = ["CLEARTEXT_FIELDS", "CLEARTEXT_OTHER_IES", "cleartext_part", "non_cleartext_ies"]

#: Typed fields that are cleartext IEs (TS 24.501 4.4.6); the mandatory ones are always allowed.
CLEARTEXT_FIELDS: dict[type[MmMessage], frozenset[str]] = {
    RegistrationRequest: frozenset({
        "registration_type", "follow_on_request", "ngksi", "mobile_identity",
        "ue_security_capability", "additional_guti", "ue_status", "eps_nas_message_container",
    }),
    ServiceRequest: frozenset({"service_type", "ngksi", "s_tmsi"}),
}

#: pycrate names of IEs kept in ``other_ies`` that are cleartext IEs (Rel-17 NID and PLMN with
#: disaster condition of REGISTRATION REQUEST).
CLEARTEXT_OTHER_IES: dict[type[MmMessage], frozenset[str]] = {
    RegistrationRequest: frozenset({"NID", "MSDetPLMNDistasterCond"}),
    ServiceRequest: frozenset(),
}

_M = TypeVar("_M", RegistrationRequest, ServiceRequest)


def _optional_fields(msg: MmMessage) -> list[str]:
    return [f.name for f in dataclasses.fields(msg) if f.name not in ("other_ies",)]


def cleartext_part(msg: _M) -> _M:
    """The initial message with only its cleartext IEs (no NAS message container).

    The UE sends this when it has no valid 5G NAS security context and puts ``msg.encode()`` (the
    complete message) into the NAS message container of SECURITY MODE COMPLETE.
    """
    cls = type(msg)
    if cls not in CLEARTEXT_FIELDS:
        raise TypeError(f"no cleartext IE rule for {cls.__name__}")
    keep = CLEARTEXT_FIELDS[cls]
    changes: dict[str, object] = {}
    for name in _optional_fields(msg):
        if name not in keep and getattr(msg, name) is not None and _is_optional(cls, name):
            changes[name] = None
    changes["other_ies"] = tuple(r for r in msg.other_ies if r.name in CLEARTEXT_OTHER_IES[cls])
    return dataclasses.replace(msg, **changes)


def non_cleartext_ies(msg: MmMessage) -> list[str]:
    """Names of the IEs of an initial NAS message that are not cleartext IEs (TS 24.501 4.4.6).

    Typed fields are named by attribute, other IEs by their :class:`RawIe` name. The NAS message
    container is not listed (it is allowed, but only in an integrity protected message). An empty
    list for message types without a cleartext rule.
    """
    cls = type(msg)
    if cls not in CLEARTEXT_FIELDS:
        return []
    keep = CLEARTEXT_FIELDS[cls] | {"nas_message_container"}
    out = [name for name in _optional_fields(msg)
           if name not in keep and _is_optional(cls, name) and getattr(msg, name) is not None]
    out += [r.name for r in msg.other_ies if r.name not in CLEARTEXT_OTHER_IES[cls]]
    return out


def _is_optional(cls: type, name: str) -> bool:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.default is None
    return False
