"""AAA server for hosting-party authentication (TS 33.320 7.2.3): RADIUS + EAP-AKA over the core's store.

- :mod:`testbed.aaa.eap`: EAP packets (RFC 3748);
- :mod:`testbed.aaa.eap_aka`: EAP-AKA codec, server and peer (RFC 4187);
- :mod:`testbed.aaa.eap_aka_keys`: MK, the FIPS 186-2 PRF, AT_MAC, AT_CHECKCODE;
- :mod:`testbed.aaa.vectors`: AKA vectors for HPMs from the UDR;
- :mod:`testbed.aaa.radius_server`: the RADIUS server (pyrad), ``python -m testbed.aaa``.
"""
