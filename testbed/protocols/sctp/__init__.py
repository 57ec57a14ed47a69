"""NGAP's SCTP transport: kernel SCTP, or usrsctp on raw IP or over UDP (RFC 6951).

Usage (gNB side)::

    assoc = await connect("10.0.0.1", NGAP_PORT, streams=2)
    await assoc.send(ng_setup_request, stream=0, ppid=NGAP_PPID)
    msg = await assoc.recv()          # SctpMessage(data, stream, ppid); ConnectionError when down

AMF side::

    server = await serve("0.0.0.0", NGAP_PORT, handle_association)

See :mod:`testbed.protocols.sctp.transport` for mode selection.
"""

from testbed.protocols.sctp.association import (
    KINDS,
    NGAP_PORT,
    NGAP_PPID,
    SCTP_UDP_PORT,
    SctpAssociation,
    SctpError,
    SctpMessage,
    SctpOptions,
    SctpServer,
    SctpUnavailable,
)
from testbed.protocols.sctp.transport import (
    ENV_MODE,
    MODES,
    ModeChoice,
    connect,
    describe,
    select_mode,
    serve,
    shutdown_usrsctp,
)

__all__ = [
    "ENV_MODE",
    "KINDS",
    "MODES",
    "NGAP_PORT",
    "NGAP_PPID",
    "SCTP_UDP_PORT",
    "ModeChoice",
    "SctpAssociation",
    "SctpError",
    "SctpMessage",
    "SctpOptions",
    "SctpServer",
    "SctpUnavailable",
    "connect",
    "describe",
    "select_mode",
    "serve",
    "shutdown_usrsctp",
]
