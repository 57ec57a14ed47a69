"""IKEv2/IPsec profile of the femto backhaul (TS 33.320 7.2-7.4, TS 33.210 5.4, TS 33.310 5.x/6.x).

* Proposals: TS 33.210 5.4 (IKEv2 profile, referring to RFC 7296 and the
  algorithm requirements of RFC 8221/8247) — only AES-GCM-16 or AES-CBC with
  SHA-2 integrity/PRF and ECP-256/384 or MODP >= 2048 key exchange. swanctl/vici
  proposals are *strict by construction*: a peer is accepted only with one of the
  listed proposals (the ``!`` suffix of ipsec.conf does not exist in vici and the
  keyword ``default``, which would add weak algorithms, is never used), so an
  initiator offering 3DES/SHA-1/MODP-1024 gets NO_PROPOSAL_CHOSEN (RFC 7296 2.7).
* Authentication: certificates on both sides (TS 33.320 7.2.2: device certificate
  of the femto, SeGW certificate; TS 33.310 profile), revocation checked
  strictly (CRL distribution point / OCSP URI from the certificates, or CRLs
  loaded through vici; TS 33.320 7.2.4, TS 33.310 6.1a); optional second round
  EAP-AKA for hosting-party authentication (RFC 4739, TS 33.320 7.2.3).
* Traffic selectors (RFC 7296 2.9): the SeGW offers only the operator services
  (AMF N2, UPF N3, Femto MS, NTP) as /32s and narrows the femto to its virtual IP,
  so a femto can reach nothing else, in particular no other femto.
* Liveness and rekeying: DPD every 10 s (RFC 7296 2.4), IKE SA rekey 4 h, CHILD SA 1 h.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: IKE SA proposals, strongest first (TS 33.210 5.4.2; RFC 8247 MUST/SHOULD set).
IKE_PROPOSALS: tuple[str, ...] = (
    "aes256gcm16-prfsha384-ecp384",
    "aes128gcm16-prfsha256-ecp256",
    "aes256gcm16-prfsha384-modp3072",
    "aes256-sha384-ecp384",
    "aes256-sha384-modp3072",
    "aes128-sha256-ecp256",
    "aes128-sha256-modp2048",
)
#: ESP proposals (TS 33.210 5.3; RFC 8221): AEAD first, then AES-CBC + HMAC-SHA-2; no PFS group
#: in the first CHILD SA (it is created with IKE_AUTH), the groups apply to rekeying (PFS).
ESP_PROPOSALS: tuple[str, ...] = (
    "aes256gcm16-ecp384",
    "aes128gcm16-ecp256",
    "aes256gcm16-modp3072",
    "aes256-sha256-modp2048",
    "aes128-sha256-modp2048",
)
#: Tokens that must never appear in a proposal (RFC 8247 / RFC 8221 MUST NOT / SHOULD NOT, TS 33.210).
WEAK_TOKENS: tuple[str, ...] = (
    "3des", "des", "blowfish", "cast", "null", "md5", "sha1", "aesxcbc", "modp768", "modp1024",
    "modp1536", "modp1024s160", "modp2048s224", "modp2048s256", "default",
)

SEGW_FQDN = "segw.operator.nrfemto.test"
FEMTO_ID_PATTERN = "*.femto.operator.nrfemto.test"

DPD_DELAY = "10s"
IKE_REKEY = "4h"
CHILD_REKEY = "1h"


def is_strong(proposal: str) -> bool:
    """True when no algorithm token of the strongSwan proposal string is a weak one."""
    tokens = proposal.lower().split("-")
    return not any(t in WEAK_TOKENS for t in tokens)


@dataclass
class PkiPaths:
    """Credential files of one node: own certificate and key, trust anchors, intermediates, CRLs."""

    cert: Path
    key: Path
    root: Path
    intermediates: list[Path] = field(default_factory=list)
    crls: list[Path] = field(default_factory=list)

    def cert_bytes(self) -> bytes:
        return Path(self.cert).read_bytes()

    def root_bytes(self) -> bytes:
        return Path(self.root).read_bytes()


def host_ts(addrs: Sequence[str]) -> list[str]:
    """Addresses as /32 (/128) traffic selectors; CIDRs are kept as given."""
    out = []
    for a in addrs:
        net = ipaddress.ip_network(a, strict=False)
        out.append(str(net))
    return out


def _proposals() -> tuple[list[str], list[str]]:
    """The SeGW's proposals: only the strong profile, never overridable (TS 33.210 5.4)."""
    ike, esp = list(IKE_PROPOSALS), list(ESP_PROPOSALS)
    if not all(is_strong(p) for p in ike + esp):
        raise AssertionError("weak algorithm in the SeGW profile")
    return ike, esp


def segw_conn(pki_paths: PkiPaths, pool: str, local_ts: Sequence[str], *,
              remote_id: str = FEMTO_ID_PATTERN, local_id: str = SEGW_FQDN,
              revocation: str = "strict", eap_round: bool = False) -> dict[str, Any]:
    """Responder connection of the SeGW (TS 33.320 7.2.2, TS 33.210 5.4).

    ``local_ts``: the AMF/UPF/Femto MS/NTP addresses (each a /32); ``pool``: the name of a
    vici pool (virtual IPs for femtos, RFC 7296 3.15.1). The remote id must match
    ``*.femto.operator.nrfemto.test`` and appear in the device certificate (TS 33.320 7.2.2).
    ``unique = replace``: a femto reconnecting replaces its old IKE SA.
    With ``eap_round`` a second authentication round (EAP-AKA via eap-radius, RFC 4739) follows.
    """
    ike, esp = _proposals()
    remote: dict[str, Any] = {
        "auth": "pubkey",
        "id": remote_id,
        "cacerts": [pki_paths.root_bytes()],
        "revocation": revocation,
    }
    conn: dict[str, Any] = {
        "version": "2",
        "local_addrs": ["%any"],
        "remote_addrs": ["%any"],
        "proposals": ike,
        "pools": [pool],
        "send_certreq": "yes",
        "send_cert": "always",
        "unique": "replace",
        "dpd_delay": DPD_DELAY,
        "rekey_time": IKE_REKEY,
        "mobike": "no",
        "local-1": {"auth": "pubkey", "id": local_id, "certs": [pki_paths.cert_bytes()]},
        "remote-1": remote,
        "children": {
            "femto": {
                "mode": "tunnel",
                "local_ts": host_ts(local_ts),
                "remote_ts": ["dynamic"],
                "esp_proposals": esp,
                "rekey_time": CHILD_REKEY,
                "dpd_action": "clear",
                "start_action": "none",
            },
        },
    }
    if eap_round:
        conn["remote-2"] = {"auth": "eap-radius", "eap_id": "%any"}
    return conn


def femto_conn(segw_addr: str, identity: str, *, cert: bytes, root: bytes,
               remote_ts: Sequence[str], segw_id: str = SEGW_FQDN,
               proposals: Sequence[str] | None = None, esp_proposals: Sequence[str] | None = None,
               revocation: str = "strict", eap_identity: str | None = None) -> dict[str, Any]:
    """Initiator connection of a femto (TS 33.320 7.2.2, 7.4).

    Requests a virtual IP (``vips = 0.0.0.0``), authenticates with its device
    certificate under ``identity`` (the FQDN in its SubjectAltName), requires the
    SeGW certificate to chain to the operator ``root`` and carry ``segw_id``,
    with revocation checked, and asks only for the operator services as remote
    traffic selectors. ``proposals`` may be overridden only by attacker/test
    initiators (weak-proposal tests).
    """
    ike = list(proposals) if proposals is not None else list(IKE_PROPOSALS)
    esp = list(esp_proposals) if esp_proposals is not None else list(ESP_PROPOSALS)
    conn: dict[str, Any] = {
        "version": "2",
        "remote_addrs": [segw_addr],
        "vips": ["0.0.0.0"],
        "proposals": ike,
        "send_certreq": "yes",
        "send_cert": "always",
        "dpd_delay": DPD_DELAY,
        "rekey_time": IKE_REKEY,
        "keyingtries": "1",
        "mobike": "no",
        "local-1": {"auth": "pubkey", "id": identity, "certs": [cert]},
        "remote-1": {"auth": "pubkey", "id": segw_id, "cacerts": [root], "revocation": revocation},
        "children": {
            "femto": {
                "mode": "tunnel",
                "local_ts": ["dynamic"],
                "remote_ts": host_ts(remote_ts),
                "esp_proposals": esp,
                "rekey_time": CHILD_REKEY,
                "dpd_action": "restart",
                "start_action": "none",
            },
        },
    }
    if eap_identity is not None:
        # RFC 4739 3.1: the second IKE_AUTH round carries its own IDi; keep the device FQDN
        # (charon would send the IP address otherwise) and put the HPM's NAI in the EAP identity.
        conn["local-2"] = {"auth": "eap-aka", "id": identity, "eap_id": eap_identity}
    return conn


def segw_nft_ruleset(pool_cidr: str, table: str = "nrft_segw") -> str:
    """nftables ruleset for the SeGW node: drop forwarding between femto virtual IPs.

    Belt and braces to the traffic selectors (which already confine each femto to the
    operator services): if the SeGW node forwards, nothing from the pool reaches the pool
    (TS 33.320 7.4: femtos must not reach each other).
    """
    net = ipaddress.ip_network(pool_cidr, strict=False)
    fam = "ip" if net.version == 4 else "ip6"
    return (
        f"table inet {table} {{\n"
        f"    chain forward {{\n"
        f"        type filter hook forward priority 0; policy accept;\n"
        f"        {fam} saddr {net} {fam} daddr {net} counter drop\n"
        f"    }}\n"
        f"}}\n"
    )
