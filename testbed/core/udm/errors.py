"""Errors of the UDM (Nudm_UEAuthentication / Nudm_SDM) and its SIDF."""

from __future__ import annotations

from testbed.errors import TestbedError

__all__ = ["SIDF_REASONS", "UDM_CAUSES", "SidfError", "UdmError"]

#: Causes of :class:`UdmError` (besides the SIDF reasons).
UDM_CAUSES = frozenset(
    {
        "unknown-subscriber",  # TS 29.503: USER_NOT_FOUND
        "resync-mac-failure",  # TS 33.102 6.3.5: MAC-S in AUTS does not verify
        "invalid-subscription",  # stored authentication data unusable (e.g. SQN space exhausted)
        "unknown-context",  # AUSF: no (or an expired) authentication context
    }
)

#: Reasons of :class:`SidfError` (TS 33.501 clause 6.12.5 de-concealment failures).
SIDF_REASONS = frozenset(
    {
        "unknown-key-id",
        "scheme-mismatch",
        "mac-failure",
        "invalid-supi",
        "unsupported-scheme",
        "null-scheme-not-allowed",
    }
)


class UdmError(TestbedError):
    """A UDM/AUSF request failed; ``cause`` is a short machine-readable string."""

    def __init__(self, cause: str, detail: str = ""):
        self.cause = cause
        self.detail = detail
        super().__init__(f"{cause}: {detail}" if detail else cause)


class SidfError(UdmError):
    """SUCI de-concealment failed (TS 33.501 clause 6.12.5); ``reason`` == ``cause``."""

    @property
    def reason(self) -> str:
        return self.cause
