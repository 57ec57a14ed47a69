"""NG Setup (TS 38.413 8.7.1) with the femto CAG binding check, and the N2 guard rails."""

from __future__ import annotations

from testbed.protocols import nas, ngap

from .scripted_ran import CAG_FEMTO, CAG_OTHER, MCC, MNC, Env


def test_provisioned_femto_with_its_cag_id_is_accepted() -> None:
    env = Env()
    g = env.femto()
    assert isinstance(g.setup_result, ngap.NGSetupResponse)
    assert g.setup_result.served_guamis == (env.amf.config.guami,)
    assert g.setup_result.plmn_support[0].slices == (ngap.Snssai(1),)
    (ev,) = env.h.ev("ng_setup_accepted")
    assert ev["cag_ids"] == [CAG_FEMTO] and ev["gnb_id"] == 1 and ev["known"]
    assert env.amf.gnbs()[0]["cag_ids"] == [CAG_FEMTO]


def test_wrong_plmn_is_refused() -> None:
    env = Env()
    g = env.h.setup(1, 1, plmn=ngap.Plmn("999", "99"))
    assert isinstance(g.setup_result, ngap.NGSetupFailure)
    assert g.setup_result.cause == ngap.Cause("misc", "unknown-PLMN-or-SNPN")
    assert env.h.ev("ng_setup_refused")[0]["reason"] == "plmn-mismatch"
    assert env.amf.gnbs() == []


def test_no_served_tac_is_refused_and_a_served_one_is_accepted() -> None:
    env = Env(tacs=(7,))
    g = env.h.setup(1, 1, tacs=(1, 2))
    assert isinstance(g.setup_result, ngap.NGSetupFailure)
    assert env.h.ev("ng_setup_refused")[0]["reason"] == "no-served-ta"
    g2 = env.h.setup(2, 2, tacs=(1, 7))
    assert isinstance(g2.setup_result, ngap.NGSetupResponse)
    assert env.amf.gnbs()[0]["tacs"] == [7]


def test_unknown_gnb_announcing_cag_ids_is_refused() -> None:
    env = Env()
    g = env.h.setup(1, 5, cag_ids=(CAG_FEMTO,))  # not in the store
    assert isinstance(g.setup_result, ngap.NGSetupFailure)
    assert g.setup_result.cause == ngap.Cause("radioNetwork", "npn-access-denied")
    (ev,) = env.h.ev("ng_setup_refused")
    assert ev["reason"] == "unknown-femto" and ev["gnb_id"] == 5 and ev["unauthorised"] == [CAG_FEMTO]


def test_femto_announcing_an_unauthorised_cag_id_is_refused() -> None:
    env = Env()
    g = env.femto(cag_ids=(CAG_FEMTO, CAG_OTHER), authorise=(CAG_FEMTO,))
    assert isinstance(g.setup_result, ngap.NGSetupFailure)
    (ev,) = env.h.ev("ng_setup_refused")
    assert ev["reason"] == "unauthorised-cag-id" and ev["unauthorised"] == [CAG_OTHER]
    assert ev["cag_ids"] == [CAG_FEMTO, CAG_OTHER]
    # control: the same femto announcing only its authorised CAG ID gets in
    g2 = env.femto(assoc=2, cag_ids=(CAG_FEMTO,), authorise=(CAG_FEMTO,))
    assert isinstance(g2.setup_result, ngap.NGSetupResponse)


def test_non_cag_gnb_known_or_unknown() -> None:
    env = Env()
    unknown = env.h.setup(1, 9)
    assert isinstance(unknown.setup_result, ngap.NGSetupResponse)
    assert env.h.ev("ng_setup_accepted")[0]["known"] is False
    strict = Env(allow_unknown_gnbs=False)
    g = strict.h.setup(1, 9)
    assert isinstance(g.setup_result, ngap.NGSetupFailure)
    assert strict.h.ev("ng_setup_refused")[0]["reason"] == "unknown-gnb"
    strict.store.add_femto(MCC, MNC, 10, 22, set())  # known, no CAG: a plain gNB
    g2 = strict.h.setup(2, 10)
    assert isinstance(g2.setup_result, ngap.NGSetupResponse)


def test_ue_message_before_ng_setup_gets_error_indication() -> None:
    env = Env()
    g = env.h.gnb(1, 1)
    ue = env.ue()
    g.connect(ue, ue.registration_request())
    err = [m for m in g.inbox if isinstance(m, ngap.ErrorIndication)]
    assert err and err[0].cause == ngap.Cause("protocol", "message-not-compatible-with-receiver-state")
    assert env.h.ev("ngap_before_setup") and env.amf.ue_contexts() == []


def test_second_ng_setup_replaces_the_gnb_and_drops_its_ue_connections() -> None:
    env = Env()
    g = env.femto()
    ue = env.ue(allowed_cag_ids=(CAG_FEMTO,))
    env.h.register(ue, g)
    assert ue.registered
    env.h.to_amf(1, g.ng_setup_request())
    assert env.h.ev("ng_setup_accepted")[-1]["replaced"] is True
    (ctx,) = env.amf.ue_contexts()
    assert ctx["cm"] == "idle" and ctx["registered"]  # registration kept, N2 binding gone
    assert env.amf.gnbs()[0]["ue_count"] == 0


def test_association_down_keeps_registered_ues_idle_and_drops_others() -> None:
    env = Env()
    g = env.femto()
    ue = env.ue(allowed_cag_ids=(CAG_FEMTO,))
    env.h.register(ue, g)
    half = env.ue(allowed_cag_ids=(CAG_FEMTO,))
    half.drop = {"AuthenticationRequest"}
    env.h.register(half, g)
    assert len(env.amf.ue_contexts()) == 2
    env.h.feed(env.amf.association_down(1))
    ctxs = env.amf.ue_contexts()
    assert len(ctxs) == 1 and ctxs[0]["cm"] == "idle" and ctxs[0]["registered"]
    assert env.amf.gnbs() == [] and not env.h.timers  # the T3560 of the half-registered UE is cancelled
    assert env.h.ev("gnb_down")


def test_ng_reset_releases_the_connections_and_is_acknowledged() -> None:
    env = Env()
    g = env.femto()
    ue = env.ue(allowed_cag_ids=(CAG_FEMTO,))
    env.h.register(ue, g)
    g.send(ngap.NGReset(ngap.Cause("misc", "om-intervention")))
    assert isinstance(g.inbox[-1], ngap.NGResetAcknowledge)
    assert env.amf.ue_contexts()[0]["cm"] == "idle"
    # the UE comes back with its GUTI: no new authentication needed
    env.h.clear()
    env.h.register(ue, g, nas.RegistrationType.MOBILITY_UPDATING)
    assert "auth_success" not in env.h.types() and ue.registered
