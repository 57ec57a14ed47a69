"""Settings of the SeGW service and of a femto's backhaul agent (JSON files written per run by the engine).

``<run>/<segw node>/segw.json`` (:class:`SegwSettings`) and ``<run>/<femto node>/backhaul.json``
(:class:`BackhaulSettings`) are derived from the topology by :mod:`testbed.segw.topology`; paths in
them are relative to the run directory (the services' working directory) unless absolute.
Errors name the file and the field path (:func:`load_segw_settings`, :func:`load_backhaul_settings`).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from testbed.config_files import (
    StrictModel,
    check_ipv4_address,
    check_ipv4_prefix,
    config_error,
    read_data_file,
)
from testbed.errors import ConfigError
from testbed.segw.profiles import FEMTO_ID_PATTERN, SEGW_FQDN

__all__ = ["BackhaulSettings", "FemtoPolicy", "RadiusSettings", "SegwSettings", "load_backhaul_settings",
           "load_segw_settings"]

Backend = Literal["auto", "kernel", "libipsec"]


_Strict = StrictModel
_ipv4 = check_ipv4_address


class RadiusSettings(_Strict):
    """The AAA server of the SeGW's ``eap-radius`` (RFC 2865/3579; TS 33.320 7.2.3 hosting-party authentication)."""

    address: str
    port: Annotated[int, Field(gt=0, lt=65536)] = 1812
    #: the per-run shared secret's file (0600), relative to the run directory unless absolute.
    secret_file: str

    @field_validator("address")
    @classmethod
    def _addr(cls, v: str) -> str:
        return _ipv4(v)


class FemtoPolicy(_Strict):
    """A femto the SeGW knows: its device identity and whether hosting-party authentication is required
    (the operator's ``core.femtos[].hpm.required``, TS 33.320 7.2.3)."""

    node: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")
    #: device FQDN (TS 33.320 4.4.2), as in its certificate.
    identity: str = Field(min_length=1, max_length=253)
    hpm_required: bool = False


class SegwSettings(_Strict):
    """The SeGW responder (TS 33.320 7.2/7.4): its PKI material, virtual IP pool and operator services.

    ``femtos``: one IKE connection per known femto, keyed by its device FQDN, with a second
    authentication round (EAP-AKA relayed to ``radius``, RFC 4739) where its policy requires it.
    Femtos not listed match the wildcard connection (``femto_id_pattern``), which requires the
    second round too whenever an AAA is configured (fail closed).
    """

    name: str = "segw"
    #: the run's PKI directory (:class:`testbed.pki.RunPki`) and the SeGW certificate's name in it.
    pki_dir: str
    cert_name: str
    identity: str = SEGW_FQDN
    femto_id_pattern: str = FEMTO_ID_PATTERN
    public_address: str
    operator_address: str
    #: virtual IPs handed to femtos (RFC 7296 3.15 configuration payload).
    pool: str = "10.11.0.0/24"
    #: operator services a femto may reach, name -> address (AMF N2, UPF N3, Femto MS, NTP); each a /32 TS.
    services: dict[str, str] = Field(min_length=1)
    ipsec_backend: Backend = "auto"
    backend_reason: str = ""
    #: how often the CRL file of the PKI is checked for a new version (reloaded into charon).
    crl_refresh_s: Annotated[float, Field(gt=0, le=3600)] = 0.5
    control_socket: str
    log_level: Annotated[int, Field(ge=-1, le=4)] = 1
    femtos: tuple[FemtoPolicy, ...] = ()
    radius: RadiusSettings | None = None

    @field_validator("public_address", "operator_address")
    @classmethod
    def _addr(cls, v: str) -> str:
        return _ipv4(v)

    @field_validator("pool")
    @classmethod
    def _pool(cls, v: str) -> str:
        return check_ipv4_prefix(v, example="10.11.0.0/24", max_prefixlen=30,
                                 too_small="the pool must hold at least two addresses (/30 or larger)")

    @field_validator("services")
    @classmethod
    def _services(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        out = {k: _ipv4(a) for k, a in v.items()}
        pool = info.data.get("pool")
        for name, addr in out.items():
            if pool and ipaddress.IPv4Address(addr) in ipaddress.IPv4Network(pool):
                raise ValueError(f"service {name} ({addr}) lies inside the virtual IP pool {pool}")
        return out

    @model_validator(mode="after")
    def _check_policies(self) -> SegwSettings:
        nodes = [f.node for f in self.femtos]
        idents = [f.identity for f in self.femtos]
        if len(set(nodes)) != len(nodes) or len(set(idents)) != len(idents):
            raise ValueError("femtos: duplicate node or identity")
        required = [f.node for f in self.femtos if f.hpm_required]
        if required and self.radius is None:
            raise ValueError(f"femtos {required} require hosting-party authentication but no radius (AAA) is set")
        if self.radius is not None and self.radius.address in self.services.values():
            raise ValueError(f"radius.address {self.radius.address} is one of the services (a traffic selector)")
        return self

    @property
    def service_addresses(self) -> list[str]:
        return sorted(set(self.services.values()), key=ipaddress.IPv4Address)


class BackhaulSettings(_Strict):
    """A femto's IKEv2 initiator (TS 33.320 7.2.2/7.4) and how it gates the femto's radio."""

    name: str = "femto1"
    #: the femto node's directory in the run (TrE under ``<node_dir>/tre``).
    node_dir: str
    #: device identity (FQDN from OUI and serial, TS 33.320 4.4.2) and its certificate file.
    identity: str
    cert: str
    #: trust material (no private keys): operator root, issuing CA, CRLs of the issuing CA and the root.
    root_cert: str
    intermediates: tuple[str, ...] = ()
    crls: tuple[str, ...] = ()
    segw_address: str
    segw_identity: str = SEGW_FQDN
    #: operator services asked for as remote traffic selectors (each a /32).
    services: dict[str, str] = Field(min_length=1)
    ipsec_backend: Backend = "auto"
    backend_reason: str = ""
    control_socket: str
    #: the femto's control socket: the agent tells it ``backhaul`` up/down right away (it also polls).
    femto_control: str | None = None
    #: re-initiation backoff after a failure or a lost tunnel: min * 2**n, at most max.
    retry_min_s: Annotated[float, Field(gt=0, le=600)] = 1.0
    retry_max_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    initiate_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    #: the hosting party module (software UICC) control socket; with ``hpm_required`` (the operator's
    #: policy, TS 33.320 7.2.3) the femto runs the second authentication round (EAP-AKA answered by
    #: the HPM, RFC 4739) and the HPM's removal tears the tunnel down (status polled every ``hpm_poll_s``).
    hpm_socket: str | None = None
    hpm_required: bool = False
    hpm_poll_s: Annotated[float, Field(gt=0, le=10)] = 0.1
    log_level: Annotated[int, Field(ge=-1, le=4)] = 1

    @field_validator("segw_address")
    @classmethod
    def _addr(cls, v: str) -> str:
        return _ipv4(v)

    @field_validator("services")
    @classmethod
    def _services(cls, v: dict[str, str]) -> dict[str, str]:
        return {k: _ipv4(a) for k, a in v.items()}

    @model_validator(mode="after")
    def _check(self) -> BackhaulSettings:
        if self.retry_min_s > self.retry_max_s:
            raise ValueError("retry_min_s must not exceed retry_max_s")
        if self.hpm_required and not self.hpm_socket:
            raise ValueError("hpm_required needs hpm_socket")
        return self

    @property
    def service_addresses(self) -> list[str]:
        return sorted(set(self.services.values()), key=ipaddress.IPv4Address)


def _parse(model: type[BaseModel], data: Any, file: str | None) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(file, "", "expected a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise config_error(e, file, "") from None


def parse_segw_settings(data: Any, file: str | None = None) -> SegwSettings:
    result: SegwSettings = _parse(SegwSettings, data, file)
    return result


def parse_backhaul_settings(data: Any, file: str | None = None) -> BackhaulSettings:
    result: BackhaulSettings = _parse(BackhaulSettings, data, file)
    return result


def load_segw_settings(path: str | Path) -> SegwSettings:
    return parse_segw_settings(read_data_file(path), str(path))


def load_backhaul_settings(path: str | Path) -> BackhaulSettings:
    return parse_backhaul_settings(read_data_file(path), str(path))
