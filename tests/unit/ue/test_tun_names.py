"""UE processes sharing a node keep their TUN devices and policy tables apart (found in the
femto-lab integration test: a second process's ue1s1 collided with the first's)."""

import argparse

import pytest

from testbed.errors import ConfigError
from testbed.ue.__main__ import config_from_flags
from testbed.ue.config import parse_ue_config
from testbed.ue.tun import tun_name


def _flags(**kw) -> argparse.Namespace:
    base = dict(gnb=["10.200.1.1"], supi=None, name=None, range="imsi-001010000100000:3", scheme=None,
                position=None, run_dir=None, dn_route=None, no_register=False, no_session=False, no_tun=False,
                plmn=None, knob=None, tun_prefix=None, table_base=None)
    base.update(kw)
    return argparse.Namespace(**base)


def test_default_and_prefixed_names():
    assert tun_name(1, 1) == "ue1s1"
    assert tun_name(12, 3, "bk") == "bk12s3"


def test_flags_set_prefix_and_table_base():
    cfg = parse_ue_config(config_from_flags(_flags(tun_prefix="bk", table_base=20000)))
    assert (cfg.tun_prefix, cfg.table_base) == ("bk", 20000)
    assert parse_ue_config(config_from_flags(_flags())).tun_prefix == "ue"


@pytest.mark.parametrize("bad", ["", "UE", "toolong", "1a", "a-b"])
def test_bad_prefix_is_a_config_error(bad):
    with pytest.raises(ConfigError) as e:
        parse_ue_config(config_from_flags(_flags(tun_prefix=bad)) | {"tun_prefix": bad})
    assert "tun_prefix" in str(e.value)
