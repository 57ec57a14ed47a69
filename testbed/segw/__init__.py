"""Secure backhaul: strongSwan SeGW and femto IKEv2 initiator driven through vici (TS 33.320 7.x, TS 33.210, TS 33.310).

:mod:`~testbed.segw.charon` per-node charon config/argv and ESP backend detection;
:mod:`~testbed.segw.vici_driver` vici client; :mod:`~testbed.segw.profiles` IKEv2 profile and
connection dicts; :mod:`~testbed.segw.credentials` PKI -> vici; :mod:`~testbed.segw.events`
tunnel events and rejection reasons; :mod:`~testbed.segw.netns_lab` namespace pair for tests.
In a topology: :mod:`~testbed.segw.provision` (per-run PKI, TrE, settings, from :mod:`~testbed.segw.topology`),
:mod:`~testbed.segw.service` (the SeGW service), :mod:`~testbed.segw.agent` (a femto's backhaul agent),
``python -m testbed.segw {segw,femto}``.
"""
