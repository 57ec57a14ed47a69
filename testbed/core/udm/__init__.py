"""UDM of the built-in core: SIDF (SUCI de-concealment), Nudm_UEAuthentication, Nudm_SDM."""

from .errors import SIDF_REASONS, UDM_CAUSES, SidfError, UdmError
from .hn_keys import HN_KEYS_FILE, HN_PUBLIC_FILE, HnKey, HomeNetworkKeys
from .sidf import deconceal_suci
from .ueau import SN_NAME_RE, SubscriptionData, Udm, check_sn_name

__all__ = [
    "HN_KEYS_FILE",
    "HN_PUBLIC_FILE",
    "SIDF_REASONS",
    "SN_NAME_RE",
    "UDM_CAUSES",
    "HnKey",
    "HomeNetworkKeys",
    "SidfError",
    "SubscriptionData",
    "Udm",
    "UdmError",
    "check_sn_name",
    "deconceal_suci",
]
