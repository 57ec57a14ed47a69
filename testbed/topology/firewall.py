"""nftables rulesets per node (pure text generation; applied inside each node).

Every ruleset lives in one table ``inet nrfemto`` (plus ``ip nrfemto_nat`` for
NAT) inside the node's own network namespace, so it disappears with the node.
"""

from __future__ import annotations

from testbed.topology.model import OPERATOR_KINDS, Role, SegmentKind
from testbed.topology.plan import NetworkPlan, NodePlan

#: IKEv2 and NAT-T ports (RFC 7296, RFC 3948).
IKE_PORTS = (500, 4500)

#: TUN devices of a UPF are named "<prefix><n>" (see testbed.core.upf).
UPF_TUN_PREFIX = "upftun"


def _loss_rules(node: NodePlan) -> list[str]:
    """Random egress loss per interface: ``numgen random mod 10000 < p*100`` drops p percent."""
    rules = []
    for intf in node.interfaces:
        loss = intf.options.loss
        if loss:
            threshold = round(loss * 100)
            rules.append(f'oifname "{intf.name}" numgen random mod 10000 < {threshold} counter drop')
    return rules


def node_ruleset(plan: NetworkPlan, node: NodePlan, netem_loss: bool = False) -> str:
    """The nft script for ``node`` ("" when it needs none)."""
    topo = plan.topology
    input_rules: list[str] = []
    forward_rules: list[str] = []
    forward_policy = "accept"
    if node.role == Role.SEGW:
        public = [i.name for i in node.interfaces if topo.segments[i.segment].kind not in OPERATOR_KINDS]
        operator = [i.name for i in node.interfaces if topo.segments[i.segment].kind in OPERATOR_KINDS]
        pub = "{ " + ", ".join(f'"{n}"' for n in public) + " }" if public else None
        if pub:
            ports = ", ".join(str(p) for p in IKE_PORTS)
            input_rules += [
                f"iifname {pub} ct state established,related accept",
                f"iifname {pub} udp dport {{ {ports} }} accept",
                f"iifname {pub} meta l4proto esp accept",
                f"iifname {pub} counter drop",
            ]
        if public and operator:
            opr = "{ " + ", ".join(f'"{n}"' for n in operator) + " }"
            forward_rules += [
                f"iifname {pub} oifname {opr} counter drop",
                f"iifname {opr} oifname {pub} counter drop",
            ]
    elif node.role == Role.HOME_ROUTER and node.nat_outside:
        outside = "{ " + ", ".join(f'"{n}"' for n in node.nat_outside) + " }"
        forward_rules += [
            "ct state established,related accept",
            f"iifname {outside} counter drop",  # no new inbound connections through the NAT
        ]
        input_rules += [
            f"iifname {outside} ct state established,related accept",
            f"iifname {outside} meta l4proto icmp accept",
            f"iifname {outside} counter drop",
        ]
    elif node.role == Role.UPF:
        # The UPF's TUN (N3 decapsulated user plane) may reach N6 and back; nothing is
        # routed between the operator network and N6 (TS 23.501 5.8: user plane only via the UPF).
        n6 = [i.name for i in node.interfaces if topo.segments[i.segment].kind == SegmentKind.N6]
        forward_policy = "drop"
        if n6:
            n6_set = "{ " + ", ".join(f'"{n}"' for n in n6) + " }"
            forward_rules += [
                f'iifname "{UPF_TUN_PREFIX}*" oifname {n6_set} accept',
                f'iifname {n6_set} oifname "{UPF_TUN_PREFIX}*" accept',
            ]
    elif not node.forward:
        forward_policy = "drop"  # femtos, UE hosts, servers never route

    output_rules = [] if netem_loss else _loss_rules(node)
    if not (input_rules or forward_rules or output_rules or forward_policy == "drop" or node.nat_outside):
        return ""
    lines = ["table inet nrfemto {",
             "  chain input {", "    type filter hook input priority 0; policy accept;"]
    lines += [f"    {r}" for r in input_rules]
    lines += ["  }", "  chain forward {", f"    type filter hook forward priority 0; policy {forward_policy};"]
    lines += [f"    {r}" for r in forward_rules]
    # postrouting sees both local and forwarded egress, so loss applies to routers too
    lines += ["  }", "  chain egress {", "    type filter hook postrouting priority 0; policy accept;"]
    lines += [f"    {r}" for r in output_rules]
    lines += ["  }", "}"]
    if node.nat_outside:
        outside = "{ " + ", ".join(f'"{n}"' for n in node.nat_outside) + " }"
        lines += ["table ip nrfemto_nat {",
                  "  chain postrouting {", "    type nat hook postrouting priority 100; policy accept;",
                  f"    oifname {outside} masquerade", "  }", "}"]
    return "\n".join(lines) + "\n"
