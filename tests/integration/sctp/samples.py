"""Test data: fast SCTP timers, and valid NGAP PDUs (TS 38.413, APER via pycrate) to decode with tshark."""

from __future__ import annotations

from functools import cache

PLMN = bytes.fromhex("00f110")  # MCC 001, MNC 01

# Short timers so that a dead peer is noticed within seconds (defaults take minutes, RFC 4960 section 15).
FAST_OPTIONS = {
    "rto_initial_ms": 300, "rto_min_ms": 100, "rto_max_ms": 500, "hb_interval_ms": 500, "path_max_retrans": 2,
    "assoc_max_retrans": 3, "max_init_attempts": 2, "max_init_timeo_ms": 500, "connect_timeout_s": 3.0,
}


@cache
def _pdu():  # type: ignore[no-untyped-def]
    from pycrate_asn1dir import NGAP

    return NGAP.NGAP_PDU_Descriptions.NGAP_PDU


def ng_setup_request() -> bytes:
    """NGSetupRequest (procedure code 21): non-UE-associated, sent on stream 0 (TS 38.412 section 7)."""
    ies = [
        {"id": 27, "criticality": "reject",
         "value": ("GlobalRANNodeID", ("globalGNB-ID", {"pLMNIdentity": PLMN, "gNB-ID": ("gNB-ID", (1, 22))}))},
        {"id": 82, "criticality": "ignore", "value": ("RANNodeName", "nrfemto-test")},
        {"id": 102, "criticality": "reject", "value": ("SupportedTAList", [
            {"tAC": b"\x00\x00\x01",
             "broadcastPLMNList": [{"pLMNIdentity": PLMN, "tAISliceSupportList": [{"s-NSSAI": {"sST": b"\x01"}}]}]},
        ])},
        {"id": 21, "criticality": "ignore", "value": ("PagingDRX", "v128")},
    ]
    pdu = _pdu()
    pdu.set_val(("initiatingMessage", {"procedureCode": 21, "criticality": "reject",
                                       "value": ("NGSetupRequest", {"protocolIEs": ies})}))
    return pdu.to_aper()


def ue_context_release_request() -> bytes:
    """UEContextReleaseRequest (procedure code 42): UE-associated, sent on a stream other than 0."""
    ies = [
        {"id": 10, "criticality": "reject", "value": ("AMF-UE-NGAP-ID", 1)},
        {"id": 85, "criticality": "reject", "value": ("RAN-UE-NGAP-ID", 1)},
        {"id": 15, "criticality": "ignore", "value": ("Cause", ("radioNetwork", "user-inactivity"))},
    ]
    pdu = _pdu()
    pdu.set_val(("initiatingMessage", {"procedureCode": 42, "criticality": "ignore",
                                       "value": ("UEContextReleaseRequest", {"protocolIEs": ies})}))
    return pdu.to_aper()
