"""PDU session resource release transfers (TS 38.413 9.3.4.12, 9.3.4.21).

- :class:`PduSessionResourceReleaseCommandTransfer`: SMF -> gNB (via the AMF, in the PDU
  Session Resource Release Command), the NGAP cause of the release (TS 23.502 4.3.4.2 step 3).
- :class:`PduSessionResourceReleaseResponseTransfer`: gNB -> SMF (via the AMF, in the PDU
  Session Resource Release Response); all its contents are optional extensions, which this
  codec does not model (secondary RAT usage, QoS flow additional info), so it is empty.

Like the transfers of :mod:`.transfer`, each has ``to_bytes()`` / ``from_bytes()`` (APER);
``from_bytes`` raises only :class:`testbed.errors.DecodeError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .ies import Cause, cause_from_asn, cause_to_asn
from .transfer import Transfer


@dataclass(slots=True)
class PduSessionResourceReleaseCommandTransfer(Transfer):
    """PDU Session Resource Release Command Transfer (9.3.4.12): why the session is released."""

    cause: Cause = Cause("nas", "normal-release")

    asn_name: ClassVar[str] = "PDUSessionResourceReleaseCommandTransfer"

    def to_asn(self) -> dict:
        if not isinstance(self.cause, Cause):
            raise ValueError(f"expected Cause, got {type(self.cause).__name__}")
        return {"cause": cause_to_asn(self.cause)}

    @classmethod
    def from_asn(cls, v: Any) -> PduSessionResourceReleaseCommandTransfer:
        return cls(cause_from_asn(v["cause"]))


@dataclass(slots=True)
class PduSessionResourceReleaseResponseTransfer(Transfer):
    """PDU Session Resource Release Response Transfer (9.3.4.21): no mandatory contents."""

    asn_name: ClassVar[str] = "PDUSessionResourceReleaseResponseTransfer"

    def to_asn(self) -> dict:
        return {}

    @classmethod
    def from_asn(cls, v: Any) -> PduSessionResourceReleaseResponseTransfer:
        return cls()


__all__ = ["PduSessionResourceReleaseCommandTransfer", "PduSessionResourceReleaseResponseTransfer"]
