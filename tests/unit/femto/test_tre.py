"""The femto's TrE: secure boot of the image and the device key sealed to its measurement (TS 33.320 6.1, 7.1)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from testbed.errors import TestbedError
from testbed.femto import tre
from testbed.femto.tre import (
    IntegrityError,
    SealedKeyError,
    TreStorageError,
    TrustedEnvironment,
    provision,
    tamper,
)
from testbed.runtime.events import EventWriter, read_events


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture
def node(tmp_path: Path, key_pem: bytes) -> Path:
    node_dir = tmp_path / "femto1"
    node_dir.mkdir()
    (node_dir / "femto.json").write_text(json.dumps({"gnb_id": 1, "cag_ids": [257]}) + "\n")
    provision(node_dir, key_pem)
    return node_dir


def _env(node_dir: Path, tmp_path: Path, **kw) -> tuple[TrustedEnvironment, EventWriter, Path]:
    path = tmp_path / "events" / "tre.jsonl"
    writer = EventWriter(path, "tre", "femto1")
    return TrustedEnvironment(node_dir, events=writer, **kw), writer, path


def test_integrity_error_is_a_testbed_error() -> None:
    assert issubclass(IntegrityError, TestbedError)
    assert issubclass(SealedKeyError, IntegrityError) and issubclass(TreStorageError, IntegrityError)


def test_good_boot_releases_the_provisioned_key(node: Path, tmp_path: Path, key_pem: bytes) -> None:
    te, writer, events = _env(node, tmp_path)
    report = te.secure_boot()
    assert report.ok and report.differing == [] and report.measurement == report.reference
    assert report.files > 10
    assert te.device_key_pem() == key_pem
    writer.close()
    assert read_events(events, "tre.boot_ok")
    released = read_events(events, "tre.key_released")
    assert len(released) == 1 and len(released[0]["public_key_sha256"]) == 64
    assert not read_events(events, "tre.integrity_failure")
    # the key never appears in the events
    body = b"".join(key_pem.splitlines()[1:-1])
    assert body[:40] not in events.read_bytes()


def test_image_holds_the_femto_software_and_config(node: Path) -> None:
    image = node / "tre" / "image"
    assert (image / "testbed" / "femto" / "gnb.py").is_file()
    assert (image / "testbed" / "femto" / "tre.py").is_file()
    assert (image / "testbed" / "segw" / "profiles.py").is_file()
    assert (image / "config" / "femto.json").read_bytes() == (node / "femto.json").read_bytes()
    ref = json.loads((node / "tre" / "reference.json").read_text())
    assert set(ref["files"]) == {p.relative_to(image).as_posix() for p in image.rglob("*") if p.is_file()}
    assert ref["manifest"] == tre.manifest_hash(ref["files"])


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_file_modes(tmp_path: Path, key_pem: bytes, umask: int) -> None:
    node_dir = tmp_path / "n"
    node_dir.mkdir()
    old = os.umask(umask)
    try:
        provision(node_dir, key_pem)
    finally:
        os.umask(old)
    modes = tre.file_modes(node_dir)
    assert modes["tre"] == 0o700
    for rel, mode in modes.items():
        p = node_dir / rel
        want = 0o700 if stat.S_ISDIR(p.lstat().st_mode) else 0o600
        assert mode == want, (rel, oct(mode))
    assert {"tre/root_secret", "tre/reference.json", "tre/sealed_key.json"} <= set(modes)


def test_key_is_never_stored_in_clear(node: Path, key_pem: bytes) -> None:
    der = serialization.load_pem_private_key(key_pem, None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    needles = [key_pem, der, base64.b64encode(der)[:48], der.hex().encode()[:64]]
    for p in node.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert not any(n in data for n in needles), p


def test_tampered_file_fails_boot_and_keeps_the_key_sealed(node: Path, tmp_path: Path) -> None:
    tamper(node, "testbed/segw/profiles.py")
    te, writer, events = _env(node, tmp_path)
    report = te.secure_boot()
    assert not report.ok
    assert report.changed == ["testbed/segw/profiles.py"] and not report.missing and not report.added
    with pytest.raises(IntegrityError) as info:
        te.device_key_pem()
    assert not isinstance(info.value, SealedKeyError)  # refused at the measurement, before any unsealing
    assert info.value.report is not None and info.value.report.differing == ["testbed/segw/profiles.py"]
    writer.close()
    failures = read_events(events, "tre.integrity_failure")
    assert failures and failures[-1]["stage"] == "measurement"
    assert failures[-1]["changed"] == ["testbed/segw/profiles.py"]
    assert not read_events(events, "tre.key_released") and not read_events(events, "tre.boot_ok")


def test_tampered_config_default_tamper_missing_and_added_files(node: Path, tmp_path: Path, key_pem: bytes) -> None:
    image = node / "tre" / "image"
    te, writer, _ = _env(node, tmp_path)
    original = (image / tre.DEFAULT_TAMPER_FILE).read_bytes()
    tamper(node)
    assert te.secure_boot().changed == [tre.DEFAULT_TAMPER_FILE]
    (image / tre.DEFAULT_TAMPER_FILE).write_bytes(original)  # restored: the control boots again
    assert te.device_key_pem() == key_pem

    tamper(node, "config/femto.json")
    assert te.secure_boot().changed == ["config/femto.json"]
    (node / "tre" / "image" / "config" / "femto.json").write_bytes((node / "femto.json").read_bytes())
    assert te.secure_boot().ok

    (image / "testbed" / "femto" / "cell.py").unlink()
    (image / "testbed" / "femto" / "backdoor.py").write_text("import os\n")
    report = te.secure_boot()
    assert report.missing == ["testbed/femto/cell.py"] and report.added == ["testbed/femto/backdoor.py"]
    with pytest.raises(IntegrityError):
        te.device_key_pem()
    writer.close()

    with pytest.raises(FileNotFoundError):
        tamper(node, "testbed/femto/no_such_file.py")
    with pytest.raises(FileNotFoundError):
        tamper(node, "../reference.json")


def test_key_is_sealed_to_the_measurement_not_just_flag_checked(node: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An attacker who defeats the comparison (reference = tampered measurement) still cannot unseal."""
    tamper(node, "testbed/femto/ngap_client.py")
    te, writer, events = _env(node, tmp_path)
    real_reference = TrustedEnvironment.reference

    def forged(self: TrustedEnvironment) -> dict:
        ref = dict(real_reference(self))
        ref["files"] = tre.measure_image(self.image)
        ref["manifest"] = tre.manifest_hash(ref["files"])
        return ref

    monkeypatch.setattr(TrustedEnvironment, "reference", forged)
    assert te.secure_boot().ok  # the comparison is fooled ...
    with pytest.raises(SealedKeyError):  # ... but the sealing key derives from the measurement
        te.device_key_pem()
    writer.close()
    assert read_events(events, "tre.integrity_failure")[-1]["stage"] == "unseal"
    assert not read_events(events, "tre.key_released")


def test_tampered_sealed_blob_is_refused(node: Path, tmp_path: Path) -> None:
    path = node / "tre" / "sealed_key.json"
    sealed = json.loads(path.read_text())
    ct = bytearray(bytes.fromhex(sealed["ciphertext"]))
    ct[len(ct) // 2] ^= 0x01
    sealed["ciphertext"] = ct.hex()
    path.write_text(json.dumps(sealed))
    te, writer, events = _env(node, tmp_path)
    assert te.secure_boot().ok  # the image is fine; the blob is not
    with pytest.raises(SealedKeyError, match="does not decrypt"):
        te.device_key_pem()
    writer.close()
    assert not read_events(events, "tre.key_released")


def test_tampered_nonce_is_refused(node: Path) -> None:
    path = node / "tre" / "sealed_key.json"
    sealed = json.loads(path.read_text())
    sealed["nonce"] = ("00" if sealed["nonce"][:2] != "00" else "01") + sealed["nonce"][2:]
    path.write_text(json.dumps(sealed))
    with pytest.raises(SealedKeyError):
        TrustedEnvironment(node).device_key_pem()


def test_wrong_root_secret_is_refused(node: Path, key_pem: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = bytes(32)
    with pytest.raises(IntegrityError, match="root secret"):
        TrustedEnvironment(node, root_secret=wrong).device_key_pem()
    # the same with the file replaced
    (node / "tre" / "root_secret").write_bytes(os.urandom(32))
    with pytest.raises(IntegrityError):
        TrustedEnvironment(node).device_key_pem()
    # and even with the reference check bypassed the seal does not open under another root secret
    monkeypatch.setattr(TrustedEnvironment, "_root_secret", lambda self: wrong)
    with pytest.raises(SealedKeyError):
        TrustedEnvironment(node)._unseal(json.loads((node / "tre" / "reference.json").read_text())["manifest"])


def test_right_root_secret_override_works(tmp_path: Path, key_pem: bytes) -> None:
    """Control of the wrong-secret case: the explicitly given right secret opens the seal."""
    node_dir = tmp_path / "n"
    node_dir.mkdir()
    secret = os.urandom(32)
    provision(node_dir, key_pem, root_secret=secret)
    assert TrustedEnvironment(node_dir, root_secret=secret).device_key_pem() == key_pem
    assert TrustedEnvironment(node_dir).device_key_pem() == key_pem


@pytest.mark.parametrize("victim,expect", [
    ("tre", "TrE directory missing"),
    ("tre/image", "TrE directory missing"),
    ("tre/sealed_key.json", "TrE file missing"),
    ("tre/reference.json", "TrE file missing"),
    ("tre/root_secret", "TrE file missing"),
])
def test_missing_tre_files_give_clear_errors(node: Path, tmp_path: Path, victim: str, expect: str) -> None:
    import shutil

    target = node / victim
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    te, writer, events = _env(node, tmp_path)
    with pytest.raises(TreStorageError) as info:
        te.device_key_pem()
    assert expect in str(info.value)
    assert str(node / victim) in str(info.value)
    writer.close()
    assert read_events(events, "tre.integrity_failure", stage="storage")
    assert not read_events(events, "tre.key_released")


@pytest.mark.parametrize("victim,content,expect", [
    ("reference.json", b"{not json", "reference.json: corrupt"),
    ("reference.json", b"[]", "expected a JSON object"),
    ("reference.json", b'{"version": 1, "files": {}, "manifest": "x"}', "mac: missing"),
    ("sealed_key.json", b'{"version": 1, "nonce": "zz", "ciphertext": "00"}', "not hex"),
    ("sealed_key.json", b'{"version": 1, "nonce": "00", "ciphertext": "00"}', "wrong length"),
    ("sealed_key.json", b'{"version": 2, "nonce": "00", "ciphertext": "00"}', "version: expected 1"),
    ("root_secret", b"short", "expected 32 bytes"),
])
def test_corrupt_tre_files_give_clear_errors(node: Path, victim: str, content: bytes, expect: str) -> None:
    (node / "tre" / victim).write_bytes(content)
    with pytest.raises(TreStorageError) as info:
        TrustedEnvironment(node).device_key_pem()
    assert expect in str(info.value) and victim in str(info.value)


def test_reprovisioning_replaces_the_key_and_the_image(node: Path, tmp_path: Path, key_pem: bytes) -> None:
    tamper(node)
    other = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    provision(node, other)
    got = TrustedEnvironment(node).device_key_pem()
    assert got == other and got != key_pem


def test_provision_rejects_non_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PEM private key"):
        provision(tmp_path, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert not (tmp_path / "tre").exists()


def test_events_from_environment(node: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env-events.jsonl"
    monkeypatch.setenv("NRFEMTO_EVENTS", str(path))
    monkeypatch.setenv("NRFEMTO_NODE", "femto1")
    te = TrustedEnvironment(node)
    te.device_key_pem()
    te.close()
    ev = read_events(path, "tre.")
    assert [e["type"] for e in ev] == ["tre.boot_ok", "tre.key_released"]
    assert all(e["component"] == "tre" and e["node"] == "femto1" for e in ev)
