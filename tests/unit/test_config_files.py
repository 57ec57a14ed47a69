"""testbed.config_files: YAML/JSON reading and pydantic errors -> ConfigError, without echoing keys."""

import pytest
from pydantic import BaseModel, ValidationError

from testbed.config_files import config_error, read_data_file
from testbed.errors import ConfigError


class _Sub(BaseModel):
    k: str
    n: int


class _Top(BaseModel):
    subs: list[_Sub]


def _error(data) -> ValidationError:
    with pytest.raises(ValidationError) as e:
        _Top.model_validate(data)
    return e.value


def test_error_names_file_and_field_path():
    err = config_error(_error({"subs": [{"k": "x", "n": "many"}]}), "f.yaml", "core")
    assert (err.file, err.path) == ("f.yaml", "core.subs.0.n")
    assert "'many'" in err.message
    assert config_error(_error({"subs": [{"k": "x", "n": "many"}]}), None).path == "subs.0.n"


def test_rejected_mapping_with_key_material_is_not_echoed():
    secret = "465b5ce8b199b49faa5f0a2ee238a6bc"
    err = config_error(_error({"subs": [{"k": secret, "n": 1, "extra": 1}, "not a mapping"]}), "f.yaml")
    assert secret not in str(err)
    err = config_error(_error({"subs": [{"k": secret}]}), "f.yaml")  # missing n: input is the mapping
    assert secret not in str(err) and "{...}" in str(err)


def test_read_yaml_and_json(tmp_path):
    (tmp_path / "a.yaml").write_text("a: 1\n")
    (tmp_path / "b.json").write_text('{"b": 2}')
    assert read_data_file(tmp_path / "a.yaml") == {"a": 1}
    assert read_data_file(tmp_path / "b.json") == {"b": 2}


@pytest.mark.parametrize("name, text, expect", [
    ("bad.yaml", "a: [1,\n", "not valid YAML"),
    ("bad.json", "{nope", "not valid JSON"),
])
def test_unparsable_files(tmp_path, name, text, expect):
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError) as e:
        read_data_file(tmp_path / name)
    assert expect in str(e.value) and name in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as e:
        read_data_file(tmp_path / "missing.yaml")
    assert "cannot read" in str(e.value)


def test_shared_address_and_prefix_checks() -> None:
    import pytest as _pytest

    from testbed.config_files import StrictModel, check_ip_address, check_ipv4_address, check_ipv4_prefix

    assert check_ipv4_address("10.0.0.5") == "10.0.0.5"
    with _pytest.raises(ValueError, match="IPv4 address like 192.0.2.1"):
        check_ipv4_address("10.0.0.256", example="192.0.2.1")
    with _pytest.raises(ValueError, match="IPv4 address"):
        check_ipv4_address("2001:db8::1")
    assert check_ip_address("2001:db8:0::1") == "2001:db8::1"
    with _pytest.raises(ValueError, match="expected an IP address"):
        check_ip_address("host.example")
    assert check_ipv4_prefix("10.45.0.0/16", example="x", max_prefixlen=29, too_small="small") == "10.45.0.0/16"
    with _pytest.raises(ValueError, match="host bits set"):  # strict: host bits must be zero
        check_ipv4_prefix("10.45.0.1/16", example="10.45.0.0/16", max_prefixlen=29, too_small="small")
    with _pytest.raises(ValueError, match="^small$"):
        check_ipv4_prefix("10.45.0.0/30", example="x", max_prefixlen=29, too_small="small")

    class M(StrictModel):
        a: int = 1

    with _pytest.raises(Exception, match="Extra inputs are not permitted"):
        M(b=2)
    with _pytest.raises(Exception, match="frozen"):
        M().a = 3
