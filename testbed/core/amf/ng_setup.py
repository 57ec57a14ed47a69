"""NG Setup (TS 38.413 8.7.1) with the CAG binding check of the femto (TS 33.320 4.4.9 analogue,
TR 33.746 KI#1).

Checks, in order, each refusal answered with NG SETUP FAILURE and ``Event("ng_setup_refused")``:

1. the Global RAN Node ID's PLMN is ours, else cause misc/unknown-PLMN-or-SNPN
   (reason "plmn-mismatch");
2. at least one supported TA has our PLMN among its broadcast PLMNs and a TAC we serve, else
   misc/unknown-PLMN-or-SNPN (reason "no-served-ta"; NGAP has no "unknown TAC" cause, Open5GS
   uses the same one);
3. CAG: the CAG IDs the gNB announces (testbed-private extension of the NG SETUP REQUEST, read
   as ``msg.cag_ids``) must all be in the set the subscriber store authorises for this gNB
   (``SubscriberStore.femto_authorised_cags``); an unknown gNB announcing CAG IDs, or any
   unauthorised CAG ID, is refused with radioNetwork/npn-access-denied (reasons "unknown-femto",
   "unauthorised-cag-id");
4. a gNB announcing no CAG IDs is a non-CAG cell: allowed if the store knows it or
   ``allow_unknown_gnbs``, else misc/unspecified (reason "unknown-gnb").

A second NG Setup on the same association replaces the gNB context and drops the N2 binding of
its UEs (TS 38.413 8.7.1.2: the NG-RAN node and the AMF "shall overwrite" the application data).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.protocols import ngap

from .context import GnbContext
from .outputs import Output

if TYPE_CHECKING:
    from .amf import Amf

__all__ = ["announced_cag_ids", "handle"]


def announced_cag_ids(msg: ngap.NGSetupRequest) -> tuple[int, ...]:
    """The CAG IDs in an NG SETUP REQUEST (testbed-private extension; () before it exists).

    ``msg.cag_ids`` when the codec offers it, else the union of the supported TAs' CAG IDs."""
    ids = getattr(msg, "cag_ids", None)
    if ids is None:
        ids = [c for ta in msg.supported_tas for bp in ta.broadcast_plmns for c in (getattr(bp, "cag_ids", ()) or ())]
    return tuple(dict.fromkeys(ids or ()))


def handle(amf: Amf, assoc: int, msg: ngap.NGSetupRequest, out: list[Output]) -> None:
    cfg = amf.config
    gid = msg.global_ran_node_id
    cag_ids = announced_cag_ids(msg)
    base = {"assoc": assoc, "gnb_id": gid.gnb_id, "gnb_id_bits": gid.gnb_id_bits, "plmn": str(gid.plmn),
            "cag_ids": list(cag_ids), "name": msg.ran_node_name}

    def refuse(reason: str, cause: ngap.Cause, **extra: object) -> None:
        amf.send_ngap(assoc, ngap.NGSetupFailure(cause), out)
        amf.event(out, "ng_setup_refused", reason=reason, cause=str(cause), **base, **extra)

    if gid.plmn != amf.plmn:
        return refuse("plmn-mismatch", ngap.Cause("misc", "unknown-PLMN-or-SNPN"))
    tacs: list[int] = []
    for ta in msg.supported_tas:
        if ta.tac in cfg.tacs and any(bp.plmn == amf.plmn for bp in ta.broadcast_plmns) and ta.tac not in tacs:
            tacs.append(ta.tac)
    if not tacs:
        return refuse("no-served-ta", ngap.Cause("misc", "unknown-PLMN-or-SNPN"),
                      tacs=[ta.tac for ta in msg.supported_tas])
    authorised = amf.store.femto_authorised_cags(gid.plmn.mcc, gid.plmn.mnc, gid.gnb_id, gid.gnb_id_bits)
    if cag_ids:
        if authorised is None:
            return refuse("unknown-femto", ngap.Cause("radioNetwork", "npn-access-denied"),
                          unauthorised=sorted(set(cag_ids)))
        bad = sorted(set(cag_ids) - set(authorised))
        if bad:
            return refuse("unauthorised-cag-id", ngap.Cause("radioNetwork", "npn-access-denied"),
                          unauthorised=bad)
    elif authorised is None and not cfg.allow_unknown_gnbs:
        return refuse("unknown-gnb", ngap.Cause("misc", "unspecified"))

    old = amf.gnb_contexts.pop(assoc, None)
    if old is not None:  # TS 38.413 8.7.1.2: a new NG Setup overwrites the old application data
        amf.drop_gnb_ues(old, out)
    for other in amf.gnb_contexts.values():
        if other.global_id == gid:
            amf.event(out, "gnb_id_duplicate", assoc=assoc, other_assoc=other.assoc, gnb_id=gid.gnb_id)
    amf.gnb_contexts[assoc] = GnbContext(assoc, amf.assocs.get(assoc, ""), gid, msg.ran_node_name,
                                         tuple(msg.supported_tas), tuple(tacs), frozenset(cag_ids),
                                         setup_at=amf.clock())
    slices = tuple(ngap.Snssai(sst, sd) for sst, sd in cfg.snssais)
    amf.send_ngap(assoc, ngap.NGSetupResponse(cfg.amf_name, (amf.guami,), (ngap.PlmnSupport(amf.plmn, slices),),
                                              cfg.relative_capacity), out)
    amf.event(out, "ng_setup_accepted", **base, tacs=tacs, known=authorised is not None,
              replaced=old is not None)
