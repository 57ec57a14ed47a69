"""Python client of the HPM control socket (:mod:`testbed.hpm.process`).

``HpmClient(path).authenticate`` has the signature an EAP-AKA peer needs
(:class:`testbed.aaa.eap_aka.AkaPeer`): ``(rand, autn) -> AuthOk | SyncFailure | MacFailure | NoCard``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testbed.crypto.aka import MacFailure, SyncFailure
from testbed.errors import TestbedError
from testbed.runtime.control import control_request

from .softuicc import AuthOk, AuthResult, NoCard

__all__ = ["HpmClient", "HpmUnavailable"]


class HpmUnavailable(TestbedError):
    """The HPM socket did not answer, or answered something unexpected."""


class HpmClient:
    def __init__(self, path: str | Path, timeout: float = 5.0):
        self.path = Path(path)
        self.timeout = timeout

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = control_request(self.path, req, self.timeout)
        except (OSError, ValueError) as e:
            raise HpmUnavailable(f"HPM at {self.path}: {e}") from None
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            raise HpmUnavailable(f"HPM at {self.path}: unexpected reply")
        return reply

    def status(self) -> dict[str, Any]:
        return self.request({"op": "status"})

    def identity(self) -> str | None:
        """The permanent identity, or None while the HPM is removed."""
        r = self.request({"op": "identity"})
        return r.get("identity") if r["ok"] else None

    def insert(self) -> None:
        self.request({"op": "insert"})

    def remove(self) -> None:
        self.request({"op": "remove"})

    def authenticate(self, rand: bytes, autn: bytes) -> AuthResult:
        r = self.request({"op": "authenticate", "rand": bytes(rand).hex(), "autn": bytes(autn).hex()})
        try:
            if r["ok"]:
                return AuthOk(bytes.fromhex(r["res"]), bytes.fromhex(r["ck"]), bytes.fromhex(r["ik"]))
            err = r.get("error")
            if err == "sync_failure":
                auts = bytes.fromhex(r["auts"])
                if len(auts) != 14:
                    raise ValueError("AUTS must be 14 bytes")
                return SyncFailure(auts)
            if err == "mac_failure":
                return MacFailure()
            if err == "no_card":
                return NoCard()
        except (KeyError, TypeError, ValueError):
            pass
        raise HpmUnavailable(f"HPM at {self.path}: unexpected authenticate reply {r.get('error')!r}")
