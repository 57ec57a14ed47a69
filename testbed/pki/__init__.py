"""Per-run operator PKI for the secure backhaul (TS 33.310 NDS/AF profiles, TS 33.320 device certificates).

See :mod:`testbed.pki.ca` for the profiles and files, :mod:`testbed.pki.ocsp_server`
for the HTTP OCSP responder / CRL server (RFC 6960 A.1).
"""

from testbed.pki.ca import (
    DEFAULT_MS_FQDN,
    DEFAULT_SEGW_FQDN,
    FEMTO_DOMAIN,
    IKE_INTERMEDIATE,
    KEY_TYPES,
    Issued,
    PrivateKey,
    RunPki,
    crl_urls,
    ocsp_urls,
)

__all__ = ["DEFAULT_MS_FQDN", "DEFAULT_SEGW_FQDN", "FEMTO_DOMAIN", "IKE_INTERMEDIATE", "KEY_TYPES", "Issued",
           "PrivateKey", "RunPki", "crl_urls", "ocsp_urls"]
