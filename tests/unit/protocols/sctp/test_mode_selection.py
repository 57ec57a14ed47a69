"""Transport selection: explicit mode, NRFEMTO_SCTP_MODE, auto order, and refusals with reasons."""

from __future__ import annotations

import pytest

from testbed.errors import ConfigError
from testbed.protocols.sctp import ENV_MODE, SctpUnavailable, select_mode
from testbed.protocols.sctp.capabilities import Capabilities

ALL = Capabilities(kernel_sctp=True, raw_sctp_socket=True, usrsctp=True)
NO_KERNEL = Capabilities(kernel_sctp=False, raw_sctp_socket=True, usrsctp=True)
UNPRIVILEGED = Capabilities(kernel_sctp=False, raw_sctp_socket=False, usrsctp=True)
NOTHING = Capabilities(kernel_sctp=False, raw_sctp_socket=False, usrsctp=False)


@pytest.mark.parametrize(("caps", "kind"), [
    (ALL, "kernel"),
    (NO_KERNEL, "usrsctp-raw"),
    (UNPRIVILEGED, "usrsctp-udp"),
    (Capabilities(kernel_sctp=True, raw_sctp_socket=False, usrsctp=False), "kernel"),
])
def test_auto_prefers_kernel_then_raw_then_udp(caps, kind):
    choice = select_mode("auto", env={}, caps=caps)
    assert choice.kind == kind
    assert choice.reason.startswith("auto:")


def test_auto_without_any_transport_says_what_is_missing():
    with pytest.raises(SctpUnavailable, match="kernel SCTP missing.*libusrsctp"):
        select_mode("auto", env={}, caps=NOTHING)


def test_env_overrides_auto():
    choice = select_mode("auto", env={ENV_MODE: "usrsctp-udp"}, caps=ALL)
    assert choice.kind == "usrsctp-udp"
    assert ENV_MODE in choice.reason


def test_explicit_parameter_beats_env():
    choice = select_mode("usrsctp-raw", env={ENV_MODE: "usrsctp-udp"}, caps=NO_KERNEL)
    assert (choice.kind, choice.reason) == ("usrsctp-raw", "requested")


@pytest.mark.parametrize("value", ["", "  ", "auto"])
def test_empty_or_auto_env_means_auto(value):
    assert select_mode("auto", env={ENV_MODE: value}, caps=NO_KERNEL).kind == "usrsctp-raw"


def test_invalid_env_value_is_a_config_error_naming_the_variable():
    with pytest.raises(ConfigError) as err:
        select_mode("auto", env={ENV_MODE: "tcp"}, caps=ALL)
    assert err.value.path == ENV_MODE
    assert "usrsctp-udp" in str(err.value)


def test_invalid_parameter_is_a_value_error():
    with pytest.raises(ValueError, match="mode: expected one of"):
        select_mode("sctp", env={}, caps=ALL)


def test_kernel_refused_without_kernel_sctp():
    with pytest.raises(SctpUnavailable, match="kernel SCTP unavailable"):
        select_mode("kernel", env={}, caps=NO_KERNEL)


def test_raw_refused_without_cap_net_raw():
    with pytest.raises(SctpUnavailable, match="CAP_NET_RAW"):
        select_mode("usrsctp-raw", env={}, caps=UNPRIVILEGED)


@pytest.mark.parametrize("mode", ["usrsctp-raw", "usrsctp-udp"])
def test_usrsctp_modes_refused_without_library(mode):
    with pytest.raises(SctpUnavailable, match="libusrsctp"):
        select_mode(mode, env={}, caps=Capabilities(kernel_sctp=False, raw_sctp_socket=True, usrsctp=False))


def test_raw_where_kernel_sctp_exists_is_allowed_but_warned(caplog):
    assert select_mode("usrsctp-raw", env={}, caps=ALL).kind == "usrsctp-raw"
    assert "ABORT" in caplog.text


def test_udp_refused_when_this_process_already_runs_usrsctp_without_udp():
    caps = Capabilities(kernel_sctp=False, raw_sctp_socket=True, usrsctp=True, usrsctp_udp_port=0)
    with pytest.raises(SctpUnavailable, match="one usrsctp stack|usrsctp_init once"):
        select_mode("usrsctp-udp", env={}, caps=caps)
    # and auto then picks raw, which that stack can do
    assert select_mode("auto", env={}, caps=caps).kind == "usrsctp-raw"


def test_auto_unprivileged_with_raw_only_stack_has_nothing_left():
    caps = Capabilities(kernel_sctp=False, raw_sctp_socket=False, usrsctp=True, usrsctp_udp_port=0)
    with pytest.raises(SctpUnavailable):
        select_mode("auto", env={}, caps=caps)


def test_raw_allowed_on_a_stack_started_with_udp():
    caps = Capabilities(kernel_sctp=False, raw_sctp_socket=True, usrsctp=True, usrsctp_udp_port=9899)
    assert select_mode("usrsctp-raw", env={}, caps=caps).kind == "usrsctp-raw"
    assert select_mode("usrsctp-udp", env={}, caps=caps).kind == "usrsctp-udp"


def test_default_env_is_the_process_environment(monkeypatch):
    monkeypatch.setenv(ENV_MODE, "usrsctp-udp")
    assert select_mode(caps=NO_KERNEL).kind == "usrsctp-udp"
    monkeypatch.delenv(ENV_MODE)
    assert select_mode(caps=NO_KERNEL).kind == "usrsctp-raw"
