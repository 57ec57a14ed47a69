"""Configuration of the software gNB femto (``python -m testbed.femto --config femto.yaml``).

Example (YAML or JSON)::

    name: femto1
    mcc: "001"
    mnc: "01"
    tac: 1
    gnb_id: 1              # gnb_id_bits: 32 (TS 38.413 9.3.1.6: 22..32)
    cag_ids: [0x101]       # empty: a non-CAG cell
    cag_only_marking: true # SIB1 cellReservedForOtherUse (TS 38.304 5.3.1)
    air_address: 10.200.1.1
    position: [0, 0, 0]
    amf_address: 10.10.0.2
    n3_address: 192.168.1.2
    backhaul_control: femto1/backhaul.sock   # optional: N2/N3 only through the SeGW tunnel
    radio_enabled_at_start: false
    knobs: {broadcast_extra_cag_ids: [0xBAD]}

Errors name the file and the field path (:func:`parse_femto_config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator

from testbed.config_files import (
    StrictModel,
    check_ip_address,
    check_mcc,
    check_mnc,
    config_error,
    read_data_file,
)
from testbed.errors import ConfigError
from testbed.protocols import ngap

__all__ = ["FemtoConfig", "Knobs", "load_femto_config", "parse_femto_config"]

CagId = Annotated[int, Field(ge=0, le=0xFFFFFFFF)]
#: cag-IdentityList-r16 of one PNI-NPN in SIB1 holds at most 12 CAG IDs (TS 38.331 6.3.2).
MAX_SIB1_CAG_IDS = 12


_Strict = StrictModel
_ip = check_ip_address


class Knobs(_Strict):
    """Compromise knobs for attack scenarios; all off by default.

    - ``broadcast_extra_cag_ids``: CAG IDs the femto is *not* authorised for, added to its SIB1
      NPN identity list and to its NG Setup announcement (the AMF must refuse it, TS 33.545 /
      design.md "CAG").
    - ``skip_checks``: the femto skips its own checks: it radiates although NG Setup did not
      succeed, accepts PDU sessions whose UP integrity/confidentiality is 'required' although its
      air interface has no PDCP security (TS 38.413 8.2.1.2), and acts on downlink NGAP whose
      AMF-UE-NGAP-ID differs from the stored one (TS 38.413 10.6).
    - ``log_everything``: the "compromised femto" that logs and reports everything it sees (NAS
      PDUs in hex, decoded cleartext NAS); even so it never sees a SUPI (TS 33.545).
    - ``replay_uplink``: keep the uplink NAS/NGAP it relayed and re-send one on request (control
      ``replay``), also into another UE's connection.
    - ``foreign_ue_ids``: allow sending NGAP with arbitrary (another gNB's) UE NGAP IDs
      (control ``foreign_ue``).
    """

    broadcast_extra_cag_ids: tuple[CagId, ...] = ()
    skip_checks: bool = False
    log_everything: bool = False
    replay_uplink: bool = False
    foreign_ue_ids: bool = False

    def active(self) -> list[str]:
        """Names of the knobs that are on."""
        return [k for k in type(self).model_fields if getattr(self, k)]


class FemtoConfig(_Strict):
    """Everything the femto gNB needs; see the module docstring for an example."""

    name: str = Field(default="femto1", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,149}$")
    mcc: str = "001"
    mnc: str = "01"
    tac: Annotated[int, Field(ge=0, le=0xFFFFFF)] = 1
    gnb_id: Annotated[int, Field(ge=0, le=0xFFFFFFFF)] = 1
    gnb_id_bits: Annotated[int, Field(ge=22, le=32)] = 32
    #: 36-bit NR cell identity (TS 38.413 9.3.1.7); default gNB ID << (36 - bits) | 1.
    nr_cell_id: Annotated[int, Field(ge=0, le=(1 << 36) - 1)] | None = None
    #: S-NSSAIs announced per broadcast PLMN in NG Setup: (sst, sd or None).
    slices: tuple[tuple[Annotated[int, Field(ge=0, le=255)], Annotated[int, Field(ge=0, le=0xFFFFFF)] | None], ...] = (
        (1, None),)
    cag_ids: tuple[CagId, ...] = ()
    cag_only_marking: bool = False
    air_address: str = "0.0.0.0"
    #: 0: an ephemeral port (tests); UEs expect 4997.
    air_port: Annotated[int, Field(ge=0, le=65535)] = 4997
    position: tuple[int, int, int] = (0, 0, 0)
    amf_address: str = "127.0.0.1"
    amf_port: Annotated[int, Field(ge=1, le=65535)] = 38412
    n3_address: str = "127.0.0.1"
    n3_port: Annotated[int, Field(ge=0, le=65535)] = 2152
    sctp_mode: str = "auto"
    radio_enabled_at_start: bool = False
    sib_period_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    #: RLS protocol version put in and expected in datagrams (UERANSIM: 3.3.0).
    rls_version: tuple[int, int, int] = (3, 3, 0)
    paging_drx: int = 128
    ng_setup_timeout_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    reconnect_min_s: Annotated[float, Field(gt=0, le=600)] = 0.5
    reconnect_max_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    #: serve the per-UE NGAP/RRC encodings and decodings from templates learned from the codecs.
    codec_cache: bool = True
    #: control socket (Unix) and default event directory; None: no control socket.
    control_socket: str | None = None
    #: the backhaul agent's control socket (:mod:`testbed.segw.agent`). Set: N2 and N3 run only inside
    #: the IPsec tunnel (TS 33.320 7.4): the femto waits for the tunnel, binds N3 and the SCTP association
    #: to the tunnel's inner address (virtual IP) instead of ``n3_address``, and its radio stays off
    #: while the tunnel is down. None: backhaul in the clear (femto-lab).
    backhaul_control: str | None = None
    #: how often the backhaul agent's status is polled (the agent also pushes changes).
    backhaul_poll_s: Annotated[float, Field(gt=0, le=10)] = 0.1
    knobs: Knobs = Field(default_factory=Knobs)

    @field_validator("mcc")
    @classmethod
    def _mcc(cls, v: str) -> str:
        return check_mcc(v)

    @field_validator("mnc")
    @classmethod
    def _mnc(cls, v: str) -> str:
        return check_mnc(v)

    @field_validator("air_address", "amf_address", "n3_address")
    @classmethod
    def _addr(cls, v: str) -> str:
        return _ip(v)

    @field_validator("sctp_mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        from testbed.protocols.sctp import MODES

        if v not in MODES:
            raise ValueError(f"expected one of {', '.join(MODES)}")
        return v

    @field_validator("paging_drx")
    @classmethod
    def _drx(cls, v: int) -> int:
        if v not in (32, 64, 128, 256):
            raise ValueError("expected one of 32, 64, 128, 256")
        return v

    @field_validator("cag_ids")
    @classmethod
    def _cags(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(v)) != len(v):
            raise ValueError("duplicate CAG ID")
        return v

    @model_validator(mode="after")
    def _check(self) -> FemtoConfig:
        if self.gnb_id >> self.gnb_id_bits:
            raise ValueError(f"gnb_id {self.gnb_id} does not fit in gnb_id_bits={self.gnb_id_bits}")
        if self.nr_cell_id is not None and self.nr_cell_id >> (36 - self.gnb_id_bits) != self.gnb_id:
            raise ValueError("nr_cell_id must start with the gNB ID (TS 38.300 8.2: NCI = gNB ID | local cell id)")
        if self.cag_only_marking and not self.broadcast_cag_ids:
            raise ValueError("cag_only_marking needs at least one CAG ID (a CAG-only cell broadcasts its CAG IDs)")
        if len(self.broadcast_cag_ids) > MAX_SIB1_CAG_IDS:
            raise ValueError(f"at most {MAX_SIB1_CAG_IDS} CAG IDs (SIB1 cag-IdentityList-r16)")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self

    # -- derived values --------------------------------------------------------------------
    @property
    def nci(self) -> int:
        """The 36-bit NR cell identity."""
        if self.nr_cell_id is not None:
            return self.nr_cell_id
        return (self.gnb_id << (36 - self.gnb_id_bits)) | 1

    @property
    def plmn(self) -> ngap.Plmn:
        return ngap.Plmn(self.mcc, self.mnc)

    @property
    def broadcast_cag_ids(self) -> tuple[int, ...]:
        """The CAG IDs in SIB1 and NG Setup: the configured ones plus the knob's extra ones."""
        return tuple(dict.fromkeys((*self.cag_ids, *self.knobs.broadcast_extra_cag_ids)))

    @property
    def user_location(self) -> ngap.UserLocationNR:
        """User Location Information (TS 38.413 9.3.1.16): NR-CGI and TAI of the cell."""
        return ngap.UserLocationNR(ngap.NrCgi(self.plmn, self.nci), ngap.Tai(self.plmn, self.tac))


def parse_femto_config(data: Any, file: str | None = None, prefix: str = "") -> FemtoConfig:
    """Validate a femto configuration; errors name the file and the field path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(file, prefix, "expected a mapping")
    try:
        return FemtoConfig.model_validate(data)
    except ValidationError as e:
        raise config_error(e, file, prefix) from None


def load_femto_config(path: str | Path) -> FemtoConfig:
    """Read a YAML or JSON femto configuration file."""
    return parse_femto_config(read_data_file(path), str(path))
