"""strongswan.conf and argv of a femto charon answering EAP-AKA with the HPM, and of a SeGW relaying it to
the AAA with eap-radius (TS 33.320 7.2.3, no root)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from testbed.segw.charon import HPM_PLUGIN_PATH, Charon, RadiusServer

PLUGINS = {"random", "nonce", "openssl", "x509", "revocation", "constraints", "pubkey", "pkcs1", "pkcs8",
           "pem", "gcm", "aes", "sha2", "sha1", "hmac", "gmp", "kdf", "curl", "vici", "socket-default",
           "kernel-netlink", "kernel-libipsec", "eap-aka", "eap-radius", "eap-identity", "fips-prf"}


def _plugin(tmp_path: Path) -> Path:
    so = tmp_path / "plugins" / "libstrongswan-eap-aka-hpm.so"
    so.parent.mkdir(parents=True, exist_ok=True)
    so.write_bytes(b"\x7fELF")
    return so


def _femto(tmp_path: Path, **kw) -> Charon:
    return Charon(tmp_path / "femto", role="femto", ipsec_backend="libipsec", _plugins_present=set(PLUGINS), **kw)


def _load(text: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.strip().startswith("load ="))
    return line.split("=", 1)[1].split()


def _section(text: str, name: str) -> dict[str, str]:
    """key = value lines of the first ``name { ... }`` section (flat)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{name} {{")
    out: dict[str, str] = {}
    for line in lines[start + 1:]:
        s = line.strip()
        if s == "}":
            break
        key, _, value = s.partition(" = ")
        out[key] = value
    return out


def test_hpm_femto_loads_eap_aka_with_the_hpm_card(tmp_path: Path) -> None:
    so = _plugin(tmp_path)
    c = _femto(tmp_path, hpm_socket=tmp_path / "hpm" / "hpm.sock", hpm_plugin=so)
    text = c.render()
    load = _load(text)
    for p in ("eap-aka", "eap-identity", "fips-prf", "eap-aka-hpm"):
        assert p in load, load
    assert "eap-radius" not in load
    assert load.index("eap-aka") < load.index("eap-aka-hpm")
    assert _section(text, "eap-aka-hpm") == {"socket": str(tmp_path / "hpm" / "hpm.sock"), "timeout_ms": "2000"}
    assert c.eap is True


def test_hpm_socket_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    c = _femto(tmp_path, hpm_socket=Path("run/hpm.sock"), hpm_plugin=_plugin(tmp_path))
    assert _section(c.render(), "eap-aka-hpm")["socket"] == str(tmp_path / "run" / "hpm.sock")


def test_hpm_charon_argv_preloads_only_charon(tmp_path: Path) -> None:
    so = _plugin(tmp_path)
    c = _femto(tmp_path, hpm_socket=tmp_path / "hpm.sock", hpm_plugin=so)
    argv, env = c.command()
    assert argv == ["/usr/bin/env", f"LD_PRELOAD={so}", "/usr/lib/ipsec/charon"]
    assert env == {"STRONGSWAN_CONF": str(c.conf_path)} and "LD_PRELOAD" not in env
    nargv, nenv = c.netns_command("nrft-t-x-b")
    assert nargv[-3:] == argv and "LD_PRELOAD" not in nenv
    # the wrapper shell execs the argv unchanged: env(1) is the process that gets LD_PRELOAD, and it execs charon
    res = subprocess.run(["sh", "-c", 'exec "$@"', "x", "/usr/bin/env", f"LD_PRELOAD={so}", "sh", "-c",
                          'echo "$LD_PRELOAD"'], capture_output=True, text=True, check=False)
    assert res.stdout.strip() == str(so)


def test_without_hpm_behaviour_unchanged(tmp_path: Path) -> None:
    plain = _femto(tmp_path)
    assert "eap-aka-hpm" not in plain.render() and "eap-aka" not in _load(plain.render())
    assert plain.command()[0] == ["/usr/lib/ipsec/charon"]
    eap = _femto(tmp_path, eap=True)
    load = _load(eap.render())
    assert "eap-aka" in load and "eap-aka-hpm" not in load
    assert eap.command()[0] == ["/usr/lib/ipsec/charon"]


def test_hpm_plugin_not_built_is_an_error_naming_the_build_script(tmp_path: Path) -> None:
    c = _femto(tmp_path, hpm_socket=tmp_path / "hpm.sock", hpm_plugin=tmp_path / "missing.so")
    with pytest.raises(RuntimeError, match="build_hpm_plugin.sh"):
        c.render()


def test_hpm_needs_eap_aka_installed(tmp_path: Path) -> None:
    for needed in ("eap-aka", "fips-prf"):
        c = Charon(tmp_path, role="femto", ipsec_backend="libipsec", _plugins_present=PLUGINS - {needed},
                   hpm_socket=tmp_path / "hpm.sock", hpm_plugin=_plugin(tmp_path))
        with pytest.raises(RuntimeError, match=needed):
            c.render()


def test_hpm_socket_only_for_femto(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="femto"):
        Charon(tmp_path, role="segw", ipsec_backend="libipsec", _plugins_present=set(PLUGINS),
               hpm_socket=tmp_path / "hpm.sock")


@pytest.mark.parametrize("bad", ["with space", "with:colon"])
def test_plugin_path_must_suit_ld_preload(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="LD_PRELOAD"):
        _femto(tmp_path, hpm_socket=tmp_path / "hpm.sock", hpm_plugin=tmp_path / bad / "x.so")


def test_socket_path_with_brace_refused(tmp_path: Path) -> None:
    c = _femto(tmp_path, hpm_socket=tmp_path / "a{b" / "hpm.sock", hpm_plugin=_plugin(tmp_path))
    with pytest.raises(ValueError):
        c.render()


def test_default_plugin_path_is_the_build_output() -> None:
    assert HPM_PLUGIN_PATH.parts[-3:] == ("build", "strongswan-plugins", "libstrongswan-eap-aka-hpm.so")
    assert (HPM_PLUGIN_PATH.parents[2] / "scripts" / "build_hpm_plugin.sh").is_file()


# -- the SeGW side: eap-radius towards the AAA (RFC 2865/3579) ----------------------------------------
SECRET = "0123456789abcdef0123456789abcdef"


def _segw(tmp_path: Path, **kw) -> Charon:
    return Charon(tmp_path / "segw", role="segw", ipsec_backend="libipsec", _plugins_present=set(PLUGINS), **kw)


def test_segw_radius_servers_section_and_plugins(tmp_path: Path) -> None:
    c = _segw(tmp_path, radius_servers=[RadiusServer("127.0.0.1", SECRET)])
    text = c.render()
    load = _load(text)
    assert "eap-radius" in load and "eap-identity" in load and "eap-aka-hpm" not in load
    assert _section(text, "aaa") == {"address": "127.0.0.1", "secret": SECRET, "auth_port": "1812"}
    lines = [line.strip() for line in text.splitlines()]
    assert lines.index("eap-radius {") < lines.index("servers {") < lines.index("aaa {")
    assert c.eap is True
    assert SECRET not in repr(c.radius_servers[0])


def test_segw_conf_with_secret_is_owner_only(tmp_path: Path) -> None:
    c = _segw(tmp_path, radius_servers=[RadiusServer("127.0.0.1", SECRET)])
    c.conf_path.parent.mkdir(parents=True)
    c.conf_path.write_text("old")
    c.conf_path.chmod(0o644)
    path = c.write_config()
    assert path.stat().st_mode & 0o777 == 0o600 and SECRET in path.read_text()
    plain = _segw(tmp_path / "p")
    assert "eap-radius" not in plain.render()


@pytest.mark.parametrize("kw", [{"secret": "short"}, {"secret": "has space in it"}, {"secret": "x{y}" * 3},
                                {"name": "a b"}, {"auth_port": 0}])
def test_radius_server_validation(kw: dict) -> None:
    args = {"address": "127.0.0.1", "secret": SECRET, **kw}
    with pytest.raises(ValueError):
        RadiusServer(**args)


def test_radius_servers_only_for_segw(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SeGW"):
        _femto(tmp_path, radius_servers=[RadiusServer("127.0.0.1", SECRET)])
