"""The hosting-party module (HPM) of a femto: a software UICC (TS 33.320 5.1.1) with a control socket.

- :mod:`testbed.hpm.softuicc`: USIM AUTHENTICATE (sans I/O);
- :mod:`testbed.hpm.card`: the per-run card file;
- :mod:`testbed.hpm.process`: the process and its JSON-lines socket protocol;
- :mod:`testbed.hpm.client`: the Python client (an ``authenticate(rand, autn)`` for EAP-AKA peers).
"""
