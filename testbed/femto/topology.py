"""Derive a femto's configuration from a topology (for the orchestrator that starts femto services).

For femto node ``femto1`` of a :class:`~testbed.topology.plan.NetworkPlan`:

- ``air_address``: its address on its ``air`` segment; ``position`` from the node;
- ``n3_address``: its address on its first non-air segment (the backhaul in the clear);
- ``backhaul_control``: when the femto reaches the operator network only through a SeGW
  (:func:`testbed.segw.topology.tunnelled_femtos`), its backhaul agent's control socket
  ``<node>/backhaul.sock``: N2 and N3 then run inside the IPsec tunnel, on the inner address the
  SeGW assigns at run time (which replaces ``n3_address``), and the radio waits for the tunnel;
- ``amf_address`` / ``amf_port`` / ``sctp_mode``: the ``core`` node's address and the core's AMF settings;
- PLMN, TAC (the first of the core's TACs), S-NSSAIs from the ``core:`` section;
- ``gnb_id``, ``gnb_id_bits`` and ``cag_ids`` from the ``core.femtos`` entry named like the node
  (the CAG IDs it is authorised for: what it broadcasts unless a knob says otherwise).

Usage::

    cfg = femto_config_for(plan, "femto1", radio_enabled_at_start=False)
    (run / "femto1" / "femto.json").write_text(cfg.model_dump_json())
    # service: ["{python}", "-m", "testbed.femto", "--config", "femto1/femto.json",
    #           "--control", "femto1/control.sock"], ready: {event: femto.ready}
"""

from __future__ import annotations

from typing import Any

from testbed.errors import ConfigError
from testbed.topology.model import Role, SegmentKind
from testbed.topology.plan import NetworkPlan

from .config import FemtoConfig, parse_femto_config

__all__ = ["femto_config_for"]


def femto_config_for(plan: NetworkPlan, node: str, **overrides: Any) -> FemtoConfig:
    """The :class:`FemtoConfig` of femto ``node``; ``overrides`` replace derived fields (e.g. ``knobs``)."""
    from testbed.core.config import parse_core_settings

    topo = plan.topology
    where = f"nodes.{node}"
    np_ = plan.nodes.get(node)
    if np_ is None or np_.role != Role.FEMTO:
        raise ConfigError(None, where, "expected a node with role femto")
    air = [i for i in np_.interfaces if topo.segments[i.segment].kind == SegmentKind.AIR]
    backhaul = [i for i in np_.interfaces if topo.segments[i.segment].kind != SegmentKind.AIR]
    if not air:
        raise ConfigError(None, f"{where}.links", "a femto needs a link to an air segment")
    if not backhaul:
        raise ConfigError(None, f"{where}.links", "a femto needs a backhaul link (a non-air segment)")
    core_nodes = [n for n, p in plan.nodes.items() if p.role == Role.CORE]
    if not core_nodes:
        raise ConfigError(None, "nodes", "no node with role core (the AMF) in the topology")
    core = parse_core_settings(topo.core)
    entry = next((f for f in core.femtos if f.get("name") == node), None)
    data: dict[str, Any] = {
        "name": node, "mcc": core.plmn.mcc, "mnc": core.plmn.mnc, "tac": core.tacs[0],
        "slices": [(s.sst, s.sd) for s in core.snssai],
        "air_address": air[0].address, "n3_address": backhaul[0].address,
        "amf_address": plan.address(core_nodes[0]), "amf_port": core.amf.ngap_port, "sctp_mode": core.amf.sctp_mode,
        "position": [round(c) for c in (np_.position or (0, 0, 0))],
    }
    from testbed.segw.topology import tunnelled_femtos

    if node in tunnelled_femtos(plan):
        data["backhaul_control"] = f"{node}/backhaul.sock"
    if entry is not None:
        data.update(gnb_id=entry["gnb_id"], gnb_id_bits=entry.get("gnb_id_bits", 32),
                    cag_ids=sorted(set(entry.get("authorised_cag_ids", ()))))
        if "mcc" in entry:
            data["mcc"], data["mnc"] = entry["mcc"], entry.get("mnc", core.plmn.mnc)
    data.update(overrides)
    return parse_femto_config(data, topo._source_file, where)
