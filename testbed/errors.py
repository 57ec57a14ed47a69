"""Project-wide error types.

Every decoder of network input raises :class:`DecodeError` (and nothing else) on
malformed input; every file loader raises :class:`ConfigError` naming the file,
the field path and what was expected.
"""

from __future__ import annotations


class TestbedError(Exception):
    """Base class of every error the testbed raises on purpose."""

    __test__ = False  # not a pytest test class


class ConfigError(TestbedError):
    """A topology/scenario/config file is invalid.

    ``str()`` gives ``FILE: FIELD.PATH: what was expected``.
    """

    def __init__(self, file: str | None, path: str, message: str):
        self.file = file
        self.path = path
        self.message = message
        where = f"{file}: " if file else ""
        field = f"{path}: " if path else ""
        super().__init__(f"{where}{field}{message}")


class DecodeError(TestbedError):
    """Malformed protocol input (from the wire or from an attacker node)."""


class CryptoError(TestbedError):
    """A cryptographic check failed (MAC failure, bad key size, ...)."""


class NeedsRoot(TestbedError):
    """The operation needs root privileges."""
