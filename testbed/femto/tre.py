"""The femto's trusted environment (TrE): secure boot of its "firmware image" and the sealed device key.

TS 33.320 clause 6.1 (device integrity validation): before the femto connects to
the SeGW it checks the integrity of its software and configuration against a
trusted reference; "if the device integrity check fails, the device
authentication key shall not be usable", so no IKEv2 tunnel can be set up.
TS 33.320 clause 7.1 / 5.1.2 (TrE): the device private key is stored in the TrE,
never in clear outside it. TR 33.745 reuses both for the NR femto.

Emulation (one directory per femto node, created per run by :func:`provision`)::

    <node_dir>/tre/                     mode 0700 (every directory below too)
        root_secret                     32 random bytes: the per-run TrE root of trust (0600)
        image/                          the femto "firmware image": a copy, taken at provisioning,
            testbed/femto/*.py            of the femto software (testbed/femto, testbed/segw)
            testbed/segw/*.py
            config/femto.json             and the femto's configuration
        reference.json                  reference measurement (per-file SHA-256 + manifest hash),
                                        MACed with a key derived from the root secret
        sealed_key.json                 the device key, AES-256-GCM encrypted (0600)

Every file is mode 0600. *Secure boot* (:meth:`TrustedEnvironment.secure_boot`)
measures the image (SHA-256 of each file and a manifest hash over the sorted
``path, digest`` list, so added and removed files change it too) and compares it
with the reference. *Sealing*: the device key is encrypted with AES-256-GCM under
a key derived with HKDF-SHA-256 from the root secret **and the manifest hash
measured at provisioning** (salt), so the key can only be decrypted from an image
whose measurement equals the provisioned one: a tampered image cannot even
decrypt it, independently of the comparison (which only gives the clear
"which files differ" answer). A modified blob, a different root secret or a
different measurement all fail the GCM tag check.

Limit of the emulation: the root secret is a file in the TrE directory (a real TrE
keeps it in hardware), so root on the host can read everything here; what is
modelled is the boot-time binding of the key to the measured image.

Events (:class:`testbed.runtime.events.EventWriter`): ``tre.boot_ok``,
``tre.integrity_failure`` (stage ``measurement``/``reference``/``unseal``/``storage`` and the
files that differ), ``tre.key_released`` (the public key's fingerprint, never the key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import testbed
from testbed.errors import TestbedError
from testbed.runtime.events import EventWriter

TRE_DIR = "tre"
IMAGE_DIR = "image"
ROOT_SECRET_FILE = "root_secret"
REFERENCE_FILE = "reference.json"
SEALED_FILE = "sealed_key.json"
#: Packages of the femto software copied into the image (relative to the ``testbed`` package).
IMAGE_PACKAGES: tuple[str, ...] = ("femto", "segw")
#: Configuration files of the node copied into ``image/config/`` when present.
CONFIG_FILES: tuple[str, ...] = ("femto.json",)
#: The file :func:`tamper` modifies by default.
DEFAULT_TAMPER_FILE = "testbed/femto/gnb.py"

FORMAT_VERSION = 1
ROOT_SECRET_LEN = 32
DIR_MODE = 0o700
FILE_MODE = 0o600
_SEAL_INFO = b"nrfemto TrE v1 device-key sealing key"
_REF_MAC_INFO = b"nrfemto TrE v1 reference measurement MAC key"
_SEAL_AAD = b"nrfemto TrE v1 sealed device key"


class IntegrityError(TestbedError):
    """The device key is not usable: secure boot failed, or the sealed key or TrE storage is bad.

    ``report`` is the failed :class:`BootReport` when a measurement was made.
    """

    def __init__(self, message: str, report: BootReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class SealedKeyError(IntegrityError):
    """The sealed device key cannot be unsealed (modified blob, other root secret or other measurement)."""


class TreStorageError(IntegrityError):
    """A TrE file is missing or unreadable/corrupt (the message names the file and what is wrong)."""


@dataclass(frozen=True)
class BootReport:
    """Result of one secure boot: the measurement against the reference (TS 33.320 6.1)."""

    ok: bool
    measurement: str
    reference: str
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    files: int = 0
    duration_s: float = 0.0

    @property
    def differing(self) -> list[str]:
        """Every image file that differs from the reference (changed, missing or added), sorted."""
        return sorted({*self.changed, *self.missing, *self.added})


# -- measurement ------------------------------------------------------------------------------
def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_hash(files: dict[str, str]) -> str:
    """SHA-256 over the sorted ``<path> NUL <hex digest> LF`` lines: any added/removed/changed file changes it."""
    h = hashlib.sha256(b"nrfemto-tre-manifest-v1\n")
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + files[rel].encode() + b"\n")
    return h.hexdigest()


def measure_image(image: Path) -> dict[str, str]:
    """``{relative posix path: sha256 hex}`` of every regular file under ``image`` (symlinks are not followed)."""
    out: dict[str, str] = {}
    for path in sorted(image.rglob("*")):
        rel = path.relative_to(image).as_posix()
        if path.is_symlink():
            out[rel] = "symlink:" + hashlib.sha256(os.readlink(path).encode()).hexdigest()
        elif path.is_file():
            out[rel] = _sha256_file(path)
    return out


# -- key derivation -----------------------------------------------------------------------------
def _hkdf(root_secret: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(root_secret)


def sealing_key(root_secret: bytes, measurement: str) -> bytes:
    """AES-256 key sealing the device key to ``measurement`` (HKDF-SHA-256, RFC 5869; salt = manifest hash)."""
    return _hkdf(root_secret, bytes.fromhex(measurement), _SEAL_INFO)


def _reference_mac(root_secret: bytes, body: dict[str, Any]) -> str:
    key = _hkdf(root_secret, b"", _REF_MAC_INFO)
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


# -- files ------------------------------------------------------------------------------------
def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the start (never world-readable, even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), FILE_MODE)  # O_CREAT's mode is masked by the umask; make it exact
        f.write(data)


def _mkdir_private(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, parents=False, exist_ok=True)
    os.chmod(path, DIR_MODE)


def default_image_sources(node_dir: Path) -> list[tuple[Path, str]]:
    """(source file, path in the image) for the femto software and the node's configuration."""
    pkg_root = Path(testbed.__file__).resolve().parent
    out: list[tuple[Path, str]] = []
    for pkg in IMAGE_PACKAGES:
        for src in sorted((pkg_root / pkg).rglob("*")):
            if "__pycache__" in src.parts or not src.is_file() or src.suffix not in (".py", ".json", ".yaml"):
                continue
            out.append((src, f"testbed/{pkg}/{src.relative_to(pkg_root / pkg).as_posix()}"))
    for name in CONFIG_FILES:
        cfg = node_dir / name
        if cfg.is_file():
            out.append((cfg, f"config/{name}"))
    return out


def provision(node_dir: Path, device_key_pem: bytes, *,
              image_sources: Iterable[tuple[Path, str]] | None = None,
              root_secret: bytes | None = None) -> None:
    """Create ``<node_dir>/tre/``: image copy, reference measurement and the sealed device key.

    Called by the topology engine at ``up`` (per run). ``device_key_pem`` must be a
    PEM private key (it is checked to load); it is stored only sealed. An existing
    ``tre/`` of an earlier provisioning is replaced. ``image_sources`` (``(file,
    path in image)`` pairs; default :func:`default_image_sources`) and ``root_secret``
    (default: 32 fresh random bytes) are for tests.
    """
    node_dir = Path(node_dir)
    try:
        serialization.load_pem_private_key(device_key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"device_key_pem is not an unencrypted PEM private key: {exc}") from None
    if root_secret is None:
        root_secret = secrets.token_bytes(ROOT_SECRET_LEN)
    if len(root_secret) < 16:
        raise ValueError("root_secret must be at least 16 bytes")
    sources = list(default_image_sources(node_dir) if image_sources is None else image_sources)
    if not sources:
        raise ValueError("the femto image would be empty")

    if not node_dir.is_dir():
        raise TreStorageError(f"{node_dir}: node directory does not exist")
    tre = node_dir / TRE_DIR
    if tre.is_symlink() or (tre.exists() and not tre.is_dir()):
        raise TreStorageError(f"{tre}: exists and is not a directory")
    if tre.exists():
        shutil.rmtree(tre)
    _mkdir_private(tre)
    image = tre / IMAGE_DIR
    _mkdir_private(image)
    seen: set[str] = set()
    for src, rel in sources:
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts or not parts or rel in seen:
            raise ValueError(f"bad or duplicate image path {rel!r}")
        seen.add(rel)
        dst = image
        for part in parts[:-1]:
            dst = dst / part
            _mkdir_private(dst)
        _write_private(dst / parts[-1], Path(src).read_bytes())

    files = measure_image(image)
    measurement = manifest_hash(files)
    _write_private(tre / ROOT_SECRET_FILE, root_secret)
    body = {"version": FORMAT_VERSION, "algorithm": "sha256", "files": files, "manifest": measurement,
            "provisioned_at": time.time()}
    reference = {**body, "mac": _reference_mac(root_secret, body)}
    _write_private(tre / REFERENCE_FILE, (json.dumps(reference, indent=2, sort_keys=True) + "\n").encode())

    nonce = secrets.token_bytes(12)
    ct = AESGCM(sealing_key(root_secret, measurement)).encrypt(nonce, device_key_pem, _SEAL_AAD)
    sealed = {"version": FORMAT_VERSION, "aead": "AES-256-GCM", "kdf": "HKDF-SHA256(root_secret, salt=manifest)",
              "nonce": nonce.hex(), "ciphertext": ct.hex()}
    _write_private(tre / SEALED_FILE, (json.dumps(sealed, indent=2, sort_keys=True) + "\n").encode())


def tamper(node_dir: Path, relative_file: str = DEFAULT_TAMPER_FILE) -> None:
    """Modify one image file (append a line) so the next secure boot fails (scenarios, tests).

    ``relative_file`` is a path inside ``<node_dir>/tre/image/`` (e.g. ``config/femto.json``).
    """
    image = Path(node_dir) / TRE_DIR / IMAGE_DIR
    target = image / relative_file
    if ".." in Path(relative_file).parts or not target.is_file():
        raise FileNotFoundError(f"{target}: no such file in the femto image")
    with open(target, "ab") as f:
        f.write(b"\n# tampered: injected by testbed.femto.tre.tamper\n")


class TrustedEnvironment:
    """The TrE of one femto node (``<node_dir>/tre/`` as made by :func:`provision`).

    ``events``: where ``tre.*`` events go; by default an :class:`EventWriter` on
    ``$NRFEMTO_EVENTS`` when that is set (component ``tre``), otherwise none.
    ``root_secret`` overrides the stored root secret (tests: a wrong one must fail).
    """

    def __init__(self, node_dir: Path, *, events: EventWriter | None = None,
                 root_secret: bytes | None = None) -> None:
        self.node_dir = Path(node_dir)
        self.dir = self.node_dir / TRE_DIR
        self.image = self.dir / IMAGE_DIR
        self._root_override = root_secret
        self._events = events
        self._own_events = False
        if events is None and os.environ.get("NRFEMTO_EVENTS"):
            self._events = EventWriter.from_env("tre")
            self._own_events = True
        self.last_report: BootReport | None = None

    def close(self) -> None:
        """Close the event writer if this object opened it (from ``$NRFEMTO_EVENTS``)."""
        if self._own_events and self._events is not None:
            self._events.close()
            self._events = None

    # -- events
    def _emit(self, type: str, severity: str = "info", **fields: Any) -> None:
        if self._events is not None:
            self._events.emit(type, severity, **fields)

    def _storage_error(self, message: str) -> TreStorageError:
        self._emit("tre.integrity_failure", "error", stage="storage", error=message)
        return TreStorageError(message)

    # -- storage
    def _check_dir(self, path: Path) -> None:
        if not path.is_dir() or path.is_symlink():
            raise self._storage_error(f"{path}: TrE directory missing (was the femto provisioned?)")

    def _read(self, name: str) -> bytes:
        path = self.dir / name
        if path.is_symlink() or not path.is_file():
            raise self._storage_error(f"{path}: TrE file missing")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise self._storage_error(f"{path}: cannot read: {exc.strerror}") from None

    def _root_secret(self) -> bytes:
        if self._root_override is not None:
            return self._root_override
        secret = self._read(ROOT_SECRET_FILE)
        if len(secret) != ROOT_SECRET_LEN:
            raise self._storage_error(f"{self.dir / ROOT_SECRET_FILE}: expected {ROOT_SECRET_LEN} bytes, "
                                      f"found {len(secret)}")
        return secret

    def _json(self, name: str, required: Sequence[str]) -> dict[str, Any]:
        path = self.dir / name
        try:
            data = json.loads(self._read(name))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._storage_error(f"{path}: corrupt (not JSON: {exc})") from None
        if not isinstance(data, dict):
            raise self._storage_error(f"{path}: corrupt (expected a JSON object)")
        for key in required:
            if key not in data:
                raise self._storage_error(f"{path}: {key}: missing")
        if data.get("version") != FORMAT_VERSION:
            raise self._storage_error(f"{path}: version: expected {FORMAT_VERSION}, found {data.get('version')!r}")
        return data

    def reference(self) -> dict[str, Any]:
        """The reference measurement, after checking its MAC (root secret) and shape."""
        path = self.dir / REFERENCE_FILE
        ref = self._json(REFERENCE_FILE, ("version", "files", "manifest", "mac"))
        files, manifest = ref["files"], ref["manifest"]
        if (not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
                or not isinstance(manifest, str) or len(manifest) != 64):
            raise self._storage_error(f"{path}: files/manifest: corrupt")
        body = {k: v for k, v in ref.items() if k != "mac"}
        if not hmac.compare_digest(str(ref["mac"]), _reference_mac(self._root_secret(), body)):
            msg = f"{path}: mac: reference measurement not authentic (modified, or another TrE root secret)"
            self._emit("tre.integrity_failure", "error", stage="reference", error=msg)
            raise IntegrityError(msg)
        if manifest_hash(files) != manifest:
            raise self._storage_error(f"{path}: manifest: does not match the listed files")
        return ref

    # -- secure boot (TS 33.320 6.1)
    def secure_boot(self) -> BootReport:
        """Measure the image and compare it with the reference; emits ``tre.boot_ok`` or ``tre.integrity_failure``.

        Raises :class:`TreStorageError` when the TrE itself is missing or corrupt.
        """
        t0 = time.monotonic()
        self._check_dir(self.dir)
        ref = self.reference()
        self._check_dir(self.image)
        files = measure_image(self.image)
        expected: dict[str, str] = ref["files"]
        changed = sorted(f for f in files.keys() & expected.keys() if files[f] != expected[f])
        missing = sorted(expected.keys() - files.keys())
        added = sorted(files.keys() - expected.keys())
        measurement = manifest_hash(files)
        ok = not (changed or missing or added) and measurement == ref["manifest"]
        report = BootReport(ok=ok, measurement=measurement, reference=ref["manifest"], changed=changed,
                            missing=missing, added=added, files=len(files), duration_s=time.monotonic() - t0)
        self.last_report = report
        if ok:
            self._emit("tre.boot_ok", measurement=measurement, files=len(files),
                       duration_ms=round(report.duration_s * 1000, 2))
        else:
            self._emit("tre.integrity_failure", "error", stage="measurement", changed=changed, missing=missing,
                       added=added, measurement=measurement, reference=ref["manifest"])
        return report

    def device_key_pem(self) -> bytes:
        """The device private key (PEM), only after a successful secure boot of the image as it is now.

        Every call measures the image again and unseals with a key derived from *that*
        measurement. Raises :class:`IntegrityError` (secure boot failed), :class:`SealedKeyError`
        (the blob does not decrypt) or :class:`TreStorageError` (TrE files missing/corrupt).
        """
        report = self.secure_boot()
        if not report.ok:
            raise IntegrityError(f"secure boot failed: image differs from the reference in {report.differing}; "
                                 "the device key stays sealed (TS 33.320 6.1)", report)
        pem = self._unseal(report.measurement)
        self._emit("tre.key_released", measurement=report.measurement, public_key_sha256=_pub_fingerprint(pem))
        return pem

    def _unseal(self, measurement: str) -> bytes:
        path = self.dir / SEALED_FILE
        sealed = self._json(SEALED_FILE, ("version", "nonce", "ciphertext"))
        try:
            nonce = bytes.fromhex(str(sealed["nonce"]))
            ct = bytes.fromhex(str(sealed["ciphertext"]))
        except ValueError:
            raise self._storage_error(f"{path}: nonce/ciphertext: not hex") from None
        if len(nonce) != 12 or len(ct) < 17:
            raise self._storage_error(f"{path}: nonce/ciphertext: wrong length")
        try:
            pem = AESGCM(sealing_key(self._root_secret(), measurement)).decrypt(nonce, ct, _SEAL_AAD)
        except InvalidTag:
            msg = (f"{path}: the sealed device key does not decrypt (blob modified, another TrE root secret, "
                   "or an image measurement other than the provisioned one)")
            self._emit("tre.integrity_failure", "error", stage="unseal", error=msg, measurement=measurement)
            raise SealedKeyError(msg, self.last_report) from None
        return pem


def _pub_fingerprint(pem: bytes) -> str | None:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        return None
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def file_modes(node_dir: Path) -> dict[str, int]:
    """``{path relative to node_dir: permission bits}`` of everything under ``<node_dir>/tre`` (inspection, tests)."""
    tre = Path(node_dir) / TRE_DIR
    out = {TRE_DIR: stat.S_IMODE(tre.lstat().st_mode)}
    for p in tre.rglob("*"):
        out[p.relative_to(node_dir).as_posix()] = stat.S_IMODE(p.lstat().st_mode)
    return out
