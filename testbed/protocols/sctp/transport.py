"""Choose an SCTP transport and open associations with it: the API the AMF and the gNB use.

Modes (``mode=`` argument, or the ``NRFEMTO_SCTP_MODE`` environment variable when
the argument is ``"auto"``):

- ``"kernel"``: the kernel's SCTP (``socket(..., IPPROTO_SCTP)``);
- ``"usrsctp-raw"``: usrsctp sending native SCTP on raw IP sockets -- real SCTP
  on the wire, so captures decode as SCTP/NGAP; needs CAP_NET_RAW; one usrsctp
  process per network namespace; do not use where kernel SCTP is loaded (the
  kernel would answer packets meant for usrsctp with ABORT);
- ``"usrsctp-udp"``: usrsctp with SCTP over UDP (RFC 6951), port 9899 on both
  sides by default (what an Open5GS AMF built with usrsctp listens on);
- ``"auto"``: kernel if available, else usrsctp-raw if raw sockets can be
  opened, else usrsctp-udp.

Every association reports its ``kind``; the choice and its reason are logged.

usrsctp learns the local addresses when its stack starts (at the first
``connect``/``serve`` of the process) and does not notice addresses added later.
If the process's addresses change (e.g. a new virtual IP from the SeGW), close
every association and call :func:`shutdown_usrsctp`; the next ``connect`` or
``serve`` starts a fresh stack that sees the current addresses.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from testbed.errors import ConfigError
from testbed.protocols.sctp import capabilities
from testbed.protocols.sctp.association import (
    KINDS,
    NGAP_PORT,
    AssociationHandler,
    SctpAssociation,
    SctpOptions,
    SctpServer,
    SctpUnavailable,
)

log = logging.getLogger("testbed.sctp")

ENV_MODE = "NRFEMTO_SCTP_MODE"
MODES = ("auto", *KINDS)
DEFAULT_CLIENT_STREAMS = 2  # stream 0 non-UE-associated + one UE-associated stream (TS 38.412 section 7)
DEFAULT_SERVER_STREAMS = 16


@dataclass(frozen=True)
class ModeChoice:
    kind: str
    reason: str


def _check_mode(value: str, where: str) -> str:
    if value not in MODES:
        if where == ENV_MODE:
            raise ConfigError(None, ENV_MODE, f"expected one of {', '.join(MODES)}, got {value!r}")
        raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {value!r}")
    return value


def select_mode(mode: str = "auto", *, env: Mapping[str, str] | None = None,
                caps: capabilities.Capabilities | None = None) -> ModeChoice:
    """Pick the transport kind for ``mode`` and say why; raise :class:`SctpUnavailable` if it cannot run.

    An explicit ``mode`` wins; with ``"auto"`` a non-empty ``NRFEMTO_SCTP_MODE``
    decides; otherwise the capabilities do.
    """
    env = os.environ if env is None else env
    mode = _check_mode(mode, "mode")
    source = "requested"
    if mode == "auto":
        env_value = env.get(ENV_MODE, "").strip()
        if env_value:
            mode = _check_mode(env_value, ENV_MODE)
            source = f"from {ENV_MODE}"
    caps = capabilities.probe() if caps is None else caps

    if mode == "auto":
        if caps.kernel_sctp:
            return ModeChoice("kernel", "auto: the kernel supports SCTP")
        # a usrsctp stack started with a UDP port also serves raw SCTP when privileged
        if caps.usrsctp and caps.raw_sctp_socket:
            return ModeChoice("usrsctp-raw", "auto: no kernel SCTP; raw IP sockets available (CAP_NET_RAW)")
        if caps.usrsctp and caps.usrsctp_udp_port != 0:
            return ModeChoice("usrsctp-udp", "auto: no kernel SCTP and no CAP_NET_RAW; SCTP over UDP (RFC 6951)")
        raise SctpUnavailable(_missing(caps))

    if mode == "kernel":
        if not caps.kernel_sctp:
            raise SctpUnavailable("kernel SCTP unavailable: socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) fails "
                                  "(sctp module missing or not loadable); use usrsctp-raw or usrsctp-udp")
        return ModeChoice("kernel", source)
    if not caps.usrsctp:
        raise SctpUnavailable(f"{mode} needs libusrsctp (Debian package libusrsctp2), which is not loadable")
    if mode == "usrsctp-raw":
        if not caps.raw_sctp_socket:
            raise SctpUnavailable("usrsctp-raw needs CAP_NET_RAW (a raw IPPROTO_SCTP socket cannot be opened); "
                                  "run as root or use usrsctp-udp")
        if caps.kernel_sctp:
            log.warning("usrsctp-raw chosen although the kernel supports SCTP: the kernel will answer SCTP "
                        "packets meant for usrsctp with ABORT; prefer mode 'kernel'")
        return ModeChoice("usrsctp-raw", source)
    if caps.usrsctp_udp_port == 0:
        raise SctpUnavailable("usrsctp-udp: this process's usrsctp stack already runs without UDP "
                              "encapsulation (usrsctp_init once per process); use one process per mode")
    return ModeChoice("usrsctp-udp", source)


def _missing(caps: capabilities.Capabilities) -> str:
    parts = ["no SCTP transport available: kernel SCTP missing"]
    if not caps.usrsctp:
        parts.append("libusrsctp not loadable (install libusrsctp2)")
    return "; ".join(parts)


def shutdown_usrsctp(timeout: float = 3.0) -> bool:
    """Stop this process's usrsctp stack (aborting open usrsctp sockets); True when it stopped.

    Also runs at interpreter exit.  A later ``connect``/``serve`` starts a new stack.
    """
    from testbed.protocols.sctp import libusrsctp

    return libusrsctp.shutdown_stack(timeout)


def describe(mode: str = "auto") -> dict[str, object]:
    """Capabilities and the choice ``mode`` leads to (for ``nrfemto`` status output and run reports)."""
    caps = capabilities.probe()
    info: dict[str, object] = {"capabilities": caps.as_dict(), "requested": mode,
                               "env": os.environ.get(ENV_MODE)}
    try:
        choice = select_mode(mode, caps=caps)
        info.update(kind=choice.kind, reason=choice.reason)
    except (SctpUnavailable, ConfigError, ValueError) as e:
        info.update(kind=None, reason=str(e))
    return info


async def connect(host: str, port: int = NGAP_PORT, *, mode: str = "auto", streams: int = DEFAULT_CLIENT_STREAMS,
                  local: str | None = None, options: SctpOptions | None = None) -> SctpAssociation:
    """Establish an SCTP association to ``host:port`` (the gNB side of N2).

    ``streams`` is the number of outbound streams requested (and inbound
    streams accepted).  Raises :class:`OSError` (``ConnectionError``,
    ``TimeoutError``) when the association cannot be established and
    :class:`SctpUnavailable` when the transport cannot run here.
    """
    options = options or SctpOptions()
    choice = select_mode(mode)
    log.info("SCTP transport %s (%s): connecting to %s:%d", choice.kind, choice.reason, host, port)
    if choice.kind == "kernel":
        from testbed.protocols.sctp import kernel

        return await kernel.connect(host, port, streams=streams, local=local, options=options)
    from testbed.protocols.sctp import usrsctp

    return await usrsctp.connect(host, port, kind=choice.kind, streams=streams, local=local, options=options)


async def serve(host: str, port: int, on_association: AssociationHandler, *, mode: str = "auto",
                streams: int = DEFAULT_SERVER_STREAMS, options: SctpOptions | None = None,
                backlog: int = 16) -> SctpServer:
    """Listen on ``host:port`` (the AMF side of N2); run ``on_association(assoc)`` per association."""
    options = options or SctpOptions()
    choice = select_mode(mode)
    log.info("SCTP transport %s (%s): listening on %s:%d", choice.kind, choice.reason, host, port)
    if choice.kind == "kernel":
        from testbed.protocols.sctp import kernel

        return await kernel.serve(host, port, on_association, streams=streams, options=options, backlog=backlog)
    from testbed.protocols.sctp import usrsctp

    return await usrsctp.serve(host, port, on_association, kind=choice.kind, streams=streams, options=options,
                               backlog=backlog)
