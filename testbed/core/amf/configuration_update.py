"""Generic UE configuration update (TS 24.501 5.4.4) after a CAG subscription change.

``Amf.refresh_cag(supi)`` re-reads the subscription. If the UE's current cell is still allowed
(:func:`~.cag.check_cag_access`), the UE gets a protected CONFIGURATION UPDATE COMMAND with the new
CAG information list (acknowledgement requested; TS 33.501 Annex I.4: only under NAS security);
otherwise it is de-registered with cause #76 and the new CAG information list
(TS 24.501 5.5.2.3.1). A UE in CM-IDLE is paged (:mod:`.paging`): its SERVICE REQUEST is checked
against the new Allowed CAG list (#76 if its cell is no longer allowed), and after the SERVICE
ACCEPT the command above follows; a UE that does not answer is checked at its next access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.protocols import nas

from . import deregistration
from .cag import check_cag_access
from .outputs import Output

if TYPE_CHECKING:
    from .amf import Amf

__all__ = ["refresh_cag"]


def refresh_cag(amf: Amf, supi: str, out: list[Output]) -> None:
    from .registration import cag_info_list

    ctx = amf.by_supi.get(supi)
    if ctx is None or ctx.supi is None:
        amf.event(out, "cag_refresh_unknown_ue", supi=supi)
        return
    try:
        sub = amf.udm.subscription(ctx.supi)
    except Exception as exc:
        cause = getattr(exc, "cause", None)
        if not isinstance(cause, str):
            raise
        amf.event(out, "subscription_error", supi=supi, cause=cause)
        return
    ctx.subscription = sub
    cag = cag_info_list(amf, sub) or (nas.CagInfo(amf.nas_plmn, (), False),)
    if not ctx.connected or not ctx.sec_active:
        amf.event(out, "cag_refresh_deferred", supi=supi, amf_ue_ngap_id=ctx.amf_ue_ngap_id,
                  allowed_cag_ids=sorted(sub.allowed_cag_ids), cag_only=bool(sub.cag_only))
        if not ctx.connected and ctx.registered:
            from . import paging

            paging.page(amf, ctx, out, after=("cag",))
        return
    d = check_cag_access(ctx.cell_cag_ids, sub.allowed_cag_ids, bool(sub.cag_only), ctx.emergency)
    if d.allowed:
        plain = nas.ConfigurationUpdateCommand(
            indication=nas.ConfigurationUpdateIndication(acknowledgement_requested=True),
            cag_information_list=cag).encode()
        amf.send_nas(ctx, plain, out)
        amf.event(out, "cag_update", supi=supi, amf_ue_ngap_id=ctx.amf_ue_ngap_id,
                  allowed_cag_ids=sorted(sub.allowed_cag_ids), cag_only=bool(sub.cag_only))
        return
    amf.event(out, "cag_reject", supi=supi, amf_ue_ngap_id=ctx.amf_ue_ngap_id,
              cell_cag_ids=list(ctx.cell_cag_ids), reason=d.reason, procedure="refresh")
    deregistration.network_initiated(
        amf, supi, int(nas.FiveGmmCause.NOT_AUTHORIZED_FOR_THIS_CAG_OR_AUTHORIZED_FOR_CAG_CELLS_ONLY), out,
        cag_info=cag)
