"""The AMF's uplink NAS decodes of a registration take the fast framing (``nas.fastdecode``), and the
SECURITY MODE COMMAND it sends is the same whether or not it comes from the codec cache."""

from __future__ import annotations

import pytest

from testbed.protocols import nas
from testbed.protocols.nas import _pycrate, fastdecode

from .scripted_ran import Env

FAST_PYCRATE = {cls._PYCRATE for cls in fastdecode.FAST_CLASSES}


def test_registration_uplink_nas_is_decoded_without_pycrate(monkeypatch: pytest.MonkeyPatch) -> None:
    env = Env()
    g = env.h.setup()
    parsed: list[str] = []
    orig = _pycrate.Template.parse

    def spy(self, buf):  # noqa: ANN001, ANN202
        if type(self.msg) in FAST_PYCRATE:
            parsed.append(type(self.msg).__name__)
        return orig(self, buf)

    monkeypatch.setattr(_pycrate.Template, "parse", spy)
    before = dict(fastdecode.STATS)
    ue = env.ue()
    env.h.register(ue, g)
    assert ue.registered
    assert parsed == []
    delta = {k: v - before.get(k, 0) for k, v in fastdecode.STATS.items() if v != before.get(k, 0)}
    # cleartext REGISTRATION REQUEST + the full one in the SMC container; no fall-back
    assert delta == {("RegistrationRequest", "fast"): 2, ("AuthenticationResponse", "fast"): 1,
                     ("SecurityModeComplete", "fast"): 1, ("RegistrationComplete", "fast"): 1}


@pytest.mark.parametrize("codec_cache", [0, 512])
def test_security_mode_command_is_the_same_with_and_without_the_cache(codec_cache: int) -> None:
    env = Env(codec_cache=codec_cache)
    g = env.h.setup()
    for _ in range(3):  # the cache serves the second and later ones
        ue = env.ue()
        env.h.register(ue, g)
        assert ue.registered
        (smc,) = [m for m in ue.received if isinstance(m, nas.SecurityModeCommand)]
        assert smc == nas.SecurityModeCommand(
            selected_algorithms=nas.NasSecurityAlgorithms(ciphering=2, integrity=2),
            ngksi=smc.ngksi, replayed_ue_security_capability=ue.cap, imeisv_request=True,
            additional_security_information=nas.Additional5gSecurityInformation(retransmission_requested=True))
