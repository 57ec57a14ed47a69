"""AUSF of the built-in core: Nausf_UEAuthentication (5G-AKA, TS 33.501 6.1.3.2)."""

from .ue_authentication import Ausf, AuthChallenge, AuthResult

__all__ = ["AuthChallenge", "AuthResult", "Ausf"]
