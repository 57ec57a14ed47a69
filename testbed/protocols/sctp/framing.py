"""Pure helpers shared by the SCTP transports: message reassembly and notification parsing.

Both the Linux kernel and usrsctp may hand a large message to the application
in pieces (partial delivery, RFC 6458 section 8.1.20 SCTP_PARTIAL_DELIVERY_POINT):
only the last piece carries ``MSG_EOR``.  :class:`Reassembler` joins the pieces
so the transports deliver whole messages.

Notifications (RFC 6458 section 6.1) have the same layout on both stacks, but
the numeric type and state values differ: Linux numbers the types from 0x8000
and the ``sac_state`` values from 0 (``include/uapi/linux/sctp.h``), usrsctp
(FreeBSD) numbers both from 1 (``usrsctp.h``).  :class:`NotificationConstants`
carries one stack's values.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from testbed.errors import DecodeError


class Reassembler:
    """Join partial deliveries into whole messages, per (association, stream).

    With the default fragment interleave level 0 (RFC 6458 section 8.1.20) a
    stack delivers one message at a time, but keying by association and stream
    keeps this correct for interleaving stacks too.
    """

    def __init__(self, max_message: int = 16 * 1024 * 1024) -> None:
        self._parts: dict[tuple[int, int], list[bytes]] = {}
        self._sizes: dict[tuple[int, int], int] = {}
        self.max_message = max_message

    def feed(self, data: bytes, *, stream: int, eor: bool, assoc_id: int = 0) -> bytes | None:
        """Add one piece; return the whole message when ``eor`` completes it, else ``None``."""
        key = (assoc_id, stream)
        if eor and key not in self._parts:
            return bytes(data)
        parts = self._parts.setdefault(key, [])
        parts.append(bytes(data))
        size = self._sizes.get(key, 0) + len(data)
        if size > self.max_message:
            self.discard(assoc_id)
            raise DecodeError(f"SCTP message on stream {stream} exceeds {self.max_message} bytes")
        self._sizes[key] = size
        if not eor:
            return None
        del self._parts[key], self._sizes[key]
        return b"".join(parts)

    def pending(self, assoc_id: int = 0) -> int:
        """Bytes held for incomplete messages of ``assoc_id``."""
        return sum(size for (aid, _), size in self._sizes.items() if aid == assoc_id)

    def discard(self, assoc_id: int = 0) -> None:
        """Forget incomplete messages of an association that went down."""
        for key in [k for k in self._parts if k[0] == assoc_id]:
            del self._parts[key]
            self._sizes.pop(key, None)


@dataclass(frozen=True)
class NotificationConstants:
    assoc_change: int
    peer_addr_change: int
    remote_error: int
    send_failed: int
    shutdown_event: int
    comm_up: int
    comm_lost: int
    restart: int
    shutdown_comp: int
    cant_str_assoc: int
    send_failed_event: int | None = None

    def state_name(self, state: int) -> str:
        names = {self.comm_up: "COMM_UP", self.comm_lost: "COMM_LOST", self.restart: "RESTART",
                 self.shutdown_comp: "SHUTDOWN_COMP", self.cant_str_assoc: "CANT_STR_ASSOC"}
        return names.get(state, f"state {state}")


# include/uapi/linux/sctp.h: enum sctp_sn_type (SCTP_SN_TYPE_BASE = 1 << 15), enum sctp_sac_state
LINUX_NOTIFICATIONS = NotificationConstants(
    assoc_change=0x8001, peer_addr_change=0x8002, send_failed=0x8003, remote_error=0x8004,
    shutdown_event=0x8005, comm_up=0, comm_lost=1, restart=2, shutdown_comp=3, cant_str_assoc=4)

# usrsctp.h (FreeBSD numbering)
USRSCTP_NOTIFICATIONS = NotificationConstants(
    assoc_change=0x0001, peer_addr_change=0x0002, remote_error=0x0003, send_failed=0x0004,
    shutdown_event=0x0005, comm_up=1, comm_lost=2, restart=3, shutdown_comp=4, cant_str_assoc=5,
    send_failed_event=0x000E)


@dataclass(frozen=True)
class Notification:
    """A parsed SCTP notification (only the fields the transports use)."""

    type: str  # "assoc_change", "shutdown_event", "peer_addr_change", "remote_error", "send_failed", "other"
    raw_type: int
    assoc_id: int | None = None
    state: int | None = None  # assoc_change: sac_state
    state_name: str = ""
    error: int | None = None
    outbound_streams: int | None = None
    inbound_streams: int | None = None


def parse_notification(data: bytes, consts: NotificationConstants) -> Notification:
    """Parse the notification in ``data`` (RFC 6458 section 6.1).

    Layout (both stacks): ``sn_type u16, sn_flags u16, sn_length u32`` then the
    type-specific body.  ``sctp_assoc_change``: ``sac_state u16, sac_error u16,
    sac_outbound_streams u16, sac_inbound_streams u16, sac_assoc_id u32``;
    ``sctp_shutdown_event``: ``sse_assoc_id u32``.
    """
    if len(data) < 8:
        raise DecodeError(f"SCTP notification too short ({len(data)} bytes)")
    sn_type, _flags, sn_length = struct.unpack_from("=HHI", data)
    if sn_length > len(data) or sn_length < 8:
        raise DecodeError(f"SCTP notification length {sn_length} does not match {len(data)} bytes")
    if sn_type == consts.assoc_change:
        if sn_length < 20:
            raise DecodeError("sctp_assoc_change shorter than 20 bytes")
        state, error, out_s, in_s, assoc_id = struct.unpack_from("=HHHHI", data, 8)
        return Notification("assoc_change", sn_type, assoc_id, state, consts.state_name(state), error, out_s, in_s)
    if sn_type == consts.shutdown_event:
        if sn_length < 12:
            raise DecodeError("sctp_shutdown_event shorter than 12 bytes")
        (assoc_id,) = struct.unpack_from("=I", data, 8)
        return Notification("shutdown_event", sn_type, assoc_id)
    if sn_type == consts.peer_addr_change:
        return Notification("peer_addr_change", sn_type)
    if sn_type == consts.remote_error:
        return Notification("remote_error", sn_type)
    if sn_type in (consts.send_failed, consts.send_failed_event):
        return Notification("send_failed", sn_type)
    return Notification("other", sn_type)
