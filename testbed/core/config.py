"""Settings of the built-in core: the ``core:`` section of a topology file.

Example (``topologies/home-femto.yaml``)::

    core:
      plmn: {mcc: "001", mnc: "01"}
      tacs: [1]
      snssai: [{sst: 1}]
      amf: {nia_priority: [2, 1, 3], nea_priority: [2, 1, 3, 0]}
      smf: {ue_pool: 10.45.0.0/16, dnn: [internet], upf_n4: 10.10.0.3}
      subscribers:
        - {supi: imsi-001010000000001, allowed_cag_ids: [0x00000001], msisdn: "491700000001"}
      femtos:
        - {name: femto1, gnb_id: 1, authorised_cag_ids: [0x00000001],
           hpm: {imsi: "001010000009001", required: true}}

Subscriber keys (K, OPc) are never written in a topology: when ``k`` is left
out, :mod:`testbed.core.provision` generates K and OPc per run into the run
directory (the UE simulators read the same file). Giving ``k`` explicitly is
meant for published test vectors only.

A femto's ``hpm`` is its hosting-party module (a UICC, TS 33.320 5.1.1) and the operator's
policy for it: ``required`` means the SeGW must run hosting-party authentication (EAP-AKA
through the AAA server, TS 33.320 7.2.3) after device authentication. Its K/OPc are
generated per run like the subscribers' and written both to the store and to the femto's
card file (:func:`testbed.core.provision.write_hpm_cards`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from testbed.config_files import check_ipv4_address, check_ipv4_prefix, check_mcc, check_mnc, config_error
from testbed.errors import ConfigError

CagId = Annotated[int, Field(ge=0, le=0xFFFFFFFF)]
NIA_IDS = (0, 1, 2, 3)  # TS 33.501 5.11.1.2 / TS 24.501 9.11.3.32
NEA_IDS = (0, 1, 2, 3)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlmnSettings(_Strict):
    mcc: str = "001"
    mnc: str = "01"

    @field_validator("mcc")
    @classmethod
    def _mcc(cls, v: str) -> str:
        return check_mcc(v)

    @field_validator("mnc")
    @classmethod
    def _mnc(cls, v: str) -> str:
        return check_mnc(v)


class SnssaiSettings(_Strict):
    sst: Annotated[int, Field(ge=0, le=255)] = 1
    sd: Annotated[int, Field(ge=0, le=0xFFFFFF)] | None = None


class AmfSettings(_Strict):
    """AMF identity (TS 23.003 2.10.1 GUAMI) and security policy."""

    name: str = Field(default="nrfemto-amf", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,149}$")
    region_id: Annotated[int, Field(ge=0, le=255)] = 1
    set_id: Annotated[int, Field(ge=0, le=1023)] = 1
    pointer: Annotated[int, Field(ge=0, le=63)] = 0
    ngap_port: Annotated[int, Field(ge=1, le=65535)] = 38412
    sctp_mode: str = "auto"
    #: Integrity algorithms in order of preference (1, 2, 3); NIA0 is never chosen by priority.
    nia_priority: list[int] = Field(default_factory=lambda: [2, 1, 3], min_length=1)
    #: Ciphering algorithms in order of preference; NEA0 only when listed (TS 33.501 5.3.2).
    nea_priority: list[int] = Field(default_factory=lambda: [2, 1, 3, 0], min_length=1)
    allow_null_scheme: bool = True
    allow_unauthenticated_emergency: bool = True
    allow_unknown_gnbs: bool = True

    @field_validator("nia_priority")
    @classmethod
    def _nia(cls, v: list[int]) -> list[int]:
        if any(a not in NIA_IDS for a in v) or len(set(v)) != len(v):
            raise ValueError("expected distinct NIA ids among 0, 1, 2, 3")
        if 0 in v:
            # TS 33.501 5.5.2: NIA0 only for unauthenticated emergency sessions, never by priority.
            raise ValueError("NIA0 must not be listed (used only for unauthenticated emergency registration)")
        return v

    @field_validator("nea_priority")
    @classmethod
    def _nea(cls, v: list[int]) -> list[int]:
        if any(a not in NEA_IDS for a in v) or len(set(v)) != len(v):
            raise ValueError("expected distinct NEA ids among 0, 1, 2, 3")
        return v

    @field_validator("sctp_mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        from testbed.protocols.sctp import MODES

        if v not in MODES:
            raise ValueError(f"expected one of {', '.join(MODES)}")
        return v


class SmfSettings(_Strict):
    ue_pool: str = "10.45.0.0/16"
    dnn: list[str] = Field(default_factory=lambda: ["internet"], min_length=1)
    dns: str | None = None
    upf_n4: str = "10.10.0.3"
    upf_n4_port: Annotated[int, Field(ge=1, le=65535)] = 8805

    @field_validator("ue_pool")
    @classmethod
    def _pool(cls, v: str) -> str:
        return check_ipv4_prefix(v, example="10.45.0.0/16", max_prefixlen=29,
                                 too_small="the UE pool needs at least a /29")

    @field_validator("upf_n4", "dns")
    @classmethod
    def _addr(cls, v: str | None) -> str | None:
        return v if v is None else check_ipv4_address(v)


class HpmSettings(_Strict):
    """``core.femtos[].hpm``: a femto's hosting-party module and whether HP authentication is required.
    ``k``/``op``/``opc``/``amf``/``sqn`` are optional here (keys are generated per run) and
    validated with the UDR schema (:class:`testbed.core.udr.models.HpmConfig`)."""

    imsi: str = Field(pattern=r"^[0-9]{6,15}$")
    required: bool = True
    k: str | None = None
    op: str | None = None
    opc: str | None = None
    amf: str | None = None
    sqn: int | None = None


class CoreSettings(_Strict):
    plmn: PlmnSettings = Field(default_factory=PlmnSettings)
    tacs: list[Annotated[int, Field(ge=0, le=0xFFFFFF)]] = Field(default_factory=lambda: [1], min_length=1)
    snssai: list[SnssaiSettings] = Field(default_factory=lambda: [SnssaiSettings()], min_length=1)
    amf: AmfSettings = Field(default_factory=AmfSettings)
    smf: SmfSettings = Field(default_factory=SmfSettings)
    #: Subscribers as in a subscriber file (testbed.core.udr.models.SubscriberConfig), K/OPc optional.
    subscribers: list[dict[str, Any]] = Field(default_factory=list)
    #: Compact ranges of subscribers (testbed.core.udr.models.SubscriberRange), K/OPc optional.
    ranges: list[dict[str, Any]] = Field(default_factory=list)
    #: Femtos and the CAG IDs each may serve; mcc/mnc default to the core's PLMN.
    femtos: list[dict[str, Any]] = Field(default_factory=list)
    #: Extra subscriber file (YAML), relative to the topology file.
    subscribers_file: str | None = None

    @model_validator(mode="after")
    def _check(self) -> CoreSettings:
        if len(set(self.tacs)) != len(self.tacs):
            raise ValueError("tacs: duplicate TAC")
        return self

    def hpm_policies(self) -> dict[str, HpmSettings]:
        """Femto name -> its HPM settings, for the femtos that have an ``hpm``."""
        return {f["name"]: HpmSettings.model_validate(f["hpm"]) for f in self.femtos
                if isinstance(f, dict) and f.get("hpm") is not None and isinstance(f.get("name"), str)}

    @property
    def sn_name(self) -> str:
        """Serving network name (TS 24.501 9.12.1)."""
        from testbed.crypto.keys import serving_network_name

        return serving_network_name(self.plmn.mcc, self.plmn.mnc)


def parse_core_settings(data: Any, file: str | None = None, prefix: str = "core") -> CoreSettings:
    """Validate the ``core:`` section; errors name the file and the field path under ``prefix``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(file, prefix, "expected a mapping")
    try:
        settings = CoreSettings.model_validate(data)
    except ValidationError as e:
        raise config_error(e, file, prefix) from None
    for i, f in enumerate(settings.femtos):
        if isinstance(f, dict) and f.get("hpm") is not None:
            try:
                HpmSettings.model_validate(f["hpm"])
            except ValidationError as e:
                raise config_error(e, file, f"{prefix}.femtos.{i}.hpm") from None
    return settings
