"""UDR of the built-in core: subscriber file schema, SQLite subscriber store, provisioning commands."""

from .models import (
    FemtoConfig,
    HpmConfig,
    SnssaiConfig,
    SubscriberConfig,
    SubscriberFile,
    SubscriberRange,
    femto_key,
    load_subscriber_file,
    parse_subscriber_data,
)
from .provisioning import handle_provisioning
from .store import FemtoRecord, HpmRecord, Subscriber, SubscriberStore

__all__ = [
    "FemtoConfig",
    "FemtoRecord",
    "HpmConfig",
    "HpmRecord",
    "SnssaiConfig",
    "Subscriber",
    "SubscriberConfig",
    "SubscriberFile",
    "SubscriberRange",
    "SubscriberStore",
    "femto_key",
    "handle_provisioning",
    "load_subscriber_file",
    "parse_subscriber_data",
]
