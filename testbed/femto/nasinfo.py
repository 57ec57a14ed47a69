"""What the femto may say about a NAS PDU it relays (TS 33.545 / design.md "SUPI hiding").

NAS is end to end between UE and AMF (TS 24.501); the femto relays it untouched. Its logs and
events carry at most the length, the extended protocol discriminator, the security header type and,
for a plain or integrity-only 5GMM message, the message type name (TS 24.501 9.1.1, 9.3, 9.7):
never the payload. Only the ``log_everything`` knob (the compromised femto) adds the octets in hex
and the decoded cleartext message; even then there is no SUPI to see, because UEs present SUCI
and everything after the NAS security mode procedure is ciphered.
"""

from __future__ import annotations

from typing import Any

from testbed.protocols.nas.enums import MmMessageType, SecurityHeaderType, SmMessageType

__all__ = ["nas_summary"]

_EPD_5GMM = 0x7E
_EPD_5GSM = 0x2E


def _type_name(epd: int, mtype: int) -> str:
    try:
        if epd == _EPD_5GMM:
            return MmMessageType(mtype).name
        if epd == _EPD_5GSM:
            return SmMessageType(mtype).name
    except ValueError:
        pass
    return f"0x{mtype:02x}"


def nas_summary(pdu: bytes, *, everything: bool = False) -> dict[str, Any]:
    """Length and header facts of a NAS PDU; with ``everything`` also its hex and cleartext decoding."""
    n = len(pdu)
    info: dict[str, Any] = {"nas_len": n}
    if n >= 2:
        epd = pdu[0]
        info["epd"] = f"0x{epd:02x}"
        if epd == _EPD_5GMM:
            sht = pdu[1] & 0x0F
            try:
                info["sht"] = SecurityHeaderType(sht).name
            except ValueError:
                info["sht"] = sht
            if sht == 0 and n >= 3:
                info["nas_type"] = _type_name(epd, pdu[2])
            elif sht in (1, 3) and n >= 10:  # integrity protected only: the inner header is readable
                info["nas_type"] = _type_name(pdu[7], pdu[9])
        elif epd == _EPD_5GSM and n >= 4:
            info["nas_type"] = _type_name(epd, pdu[3])
    if everything:
        info["hex"] = pdu.hex()
        info["decoded"] = _decode_clear(pdu)
    return info


def _decode_clear(pdu: bytes) -> str | None:
    """The cleartext message, as far as a relay can decode it (plain or integrity-protected only)."""
    try:
        from testbed.protocols import nas

        if len(pdu) >= 2 and pdu[0] == _EPD_5GMM and (pdu[1] & 0x0F) in (1, 3):
            pdu = pdu[7:]
        elif len(pdu) >= 2 and pdu[0] == _EPD_5GMM and (pdu[1] & 0x0F) != 0:
            return None  # ciphered: nothing to see
        return repr(nas.decode_plain(pdu))[:2000]
    except Exception:  # noqa: BLE001 - a relay's curiosity must never break relaying
        return None
