"""Signal ↔ concentration, VFA T1, AIFs, relaxivities and curve parameters."""

from __future__ import annotations

import dcmri
import numpy as np
import pytest

from quant.dce import Aif, concentration, curve_parameters, detect_arterial_voxels, parker_blood, spgr_signal, vfa_t1
from quant.dce.aif import WEINMANN, weinmann_plasma
from quant.dce.params import RELAXIVITY, agent_from_text, relaxivity_param
from quant.errors import InputError, UnitsError


def test_signal_concentration_signal_round_trip() -> None:
    rng = np.random.default_rng(0)
    conc = rng.uniform(0, 5, (30, 400))
    t10 = rng.uniform(0.5, 2.5, 400)
    m0 = rng.uniform(100, 2000, 400)
    for tr, flip, r1 in ((0.004, 15.0, 5.0), (0.006, 25.0, 3.5), (0.003, 10.0, 6.3)):
        sig = spgr_signal(m0, 1 / t10 + r1 * conc, tr, flip)
        s0 = spgr_signal(m0, 1 / t10, tr, flip)
        back, valid = concentration(sig, s0, t10, tr, flip, r1)
        assert valid.all()
        assert np.allclose(back, conc, atol=1e-9)
        again = spgr_signal(m0, 1 / t10 + r1 * back, tr, flip)
        assert np.allclose(again, sig, rtol=1e-12)


def test_saturated_signal_is_flagged_and_clipped() -> None:
    tr, flip = 0.004, 15.0
    s0 = spgr_signal(1000.0, 1 / 1.2, tr, flip)
    ceiling = 1000.0 * np.sin(np.deg2rad(flip))  # R1 → ∞
    sig = np.array([[s0], [ceiling * 1.2], [0.0]])
    conc, valid = concentration(sig, np.array([s0]), 1.2, tr, flip, 5.0)
    assert valid[:, 0].tolist() == [True, False, False]
    assert np.all(np.isfinite(conc))


@pytest.mark.parametrize("method", ["linear", "nonlinear"])
def test_vfa_t1_noise_free(method: str) -> None:
    t1 = np.linspace(0.3, 3.0, 50)
    angles = [2.0, 5.0, 10.0, 15.0]
    sig = np.stack([spgr_signal(800.0, 1 / t1, 0.005, a) for a in angles])
    fit, m0, valid = vfa_t1(sig, angles, 0.005, method=method)
    assert valid.all()
    assert np.allclose(fit, t1, rtol=1e-6)
    assert np.allclose(m0, 800.0, rtol=1e-6)


def test_vfa_t1_with_noise_and_dcmri() -> None:
    rng = np.random.default_rng(1)
    angles = [2.0, 5.0, 10.0, 15.0, 20.0]
    tr, true_t1 = 0.005, 1.2
    clean = np.stack([spgr_signal(1000.0, 1 / true_t1, tr, a) for a in angles])[:, None]
    sig = clean + rng.normal(0, 1.0, (len(angles), 300))
    lin, _, _ = vfa_t1(sig, angles, tr, method="linear")
    nonlin, _, _ = vfa_t1(sig, angles, tr, method="nonlinear")
    print(
        f"\nVFA T1 1.2 s, SNR≈{clean.max():.0f}: linear {lin.mean():.3f}±{lin.std():.3f}, "
        f"nonlinear {nonlin.mean():.3f}±{nonlin.std():.3f}"
    )
    assert abs(np.median(lin) / true_t1 - 1) < 0.03
    assert abs(np.median(nonlin) / true_t1 - 1) < 0.03
    # Same voxels through dcmri's VFA fits (R1 in 1/s): the same answer within 2 %.
    for k in range(5):
        r1_lin, _ = dcmri.vfa_linear(sig[:, k], angles, tr)
        r1_nl, _ = dcmri.vfa_nonlinear(sig[:, k], angles, tr)
        assert nonlin[k] == pytest.approx(1 / r1_nl, rel=0.02)
        assert lin[k] == pytest.approx(1 / r1_lin, rel=0.1)  # dcmri's linear fit is unweighted


def test_concentration_matches_dcmri() -> None:
    tr, flip, t10, r1 = 0.005, 15.0, 1.3, 4.5
    conc = np.concatenate([np.zeros(5), np.linspace(0.1, 3.0, 25)])
    sig = spgr_signal(1000.0, 1 / t10 + r1 * conc, tr, flip)
    ours, _ = concentration(sig[:, None], sig[:5].mean(), t10, tr, flip, r1)
    theirs = dcmri.conc_ss(sig, tr, flip, t10, r1=r1 * 1000.0, n0=5) * 1000.0  # M → mM, r1 in 1/(M·s)
    assert np.allclose(ours[:, 0], theirs, atol=1e-6)
    assert np.allclose(ours[:, 0], conc, atol=1e-9)


def test_parker_matches_the_paper_and_dcmri() -> None:
    t = np.linspace(0, 6, 2001)
    cb = parker_blood(t)
    assert 0.16 < t[np.argmax(cb)] < 0.18  # first-pass peak at T1 = 0.17 min
    assert 5.5 < cb.max() < 6.5  # mM
    assert np.allclose(cb, 1000 * dcmri.aif_parker(t * 60.0), rtol=1e-4, atol=1e-6)
    aif = Aif("parker", onset=0.5, hematocrit=0.45)
    assert aif.plasma(np.array([0.0, 0.5]))[1] == 0.0  # nothing before or at the onset
    assert aif.plasma(np.array([0.67]))[0] == pytest.approx(parker_blood(np.array([0.17]))[0] / 0.55)


def test_weinmann() -> None:
    w = WEINMANN
    assert weinmann_plasma(np.array([1e-9]))[0] == pytest.approx(w["D"] * (w["a1"] + w["a2"]))
    assert weinmann_plasma(np.array([-1.0, 0.0])).tolist() == [0.0, 0.0]
    assert weinmann_plasma(np.array([10.0]))[0] == pytest.approx(0.1 * (3.99 * np.exp(-1.44) + 4.78 * np.exp(-0.111)))


def test_measured_aif_is_linear_between_samples() -> None:
    aif = Aif.measured(np.array([0.0, 1.0, 2.0]), np.array([0.0, 2.0, 1.0]), 0.5)
    assert aif.plasma(np.array([0.5, 1.0, 1.5, 3.0])).tolist() == [2.0, 4.0, 3.0, 2.0]


def test_relaxivity_table_matches_dcmri_and_names() -> None:
    spelled = {"gadobenate": "gadobenade"}  # dcmri 0.6 spells it so
    for agent in ("gadobutrol", "gadoterate", "gadopentetate", "gadoteridol", "gadobenate"):
        for field_t in (1.5, 3.0):
            theirs = dcmri.relaxivity(field_t, "plasma", spelled.get(agent, agent)) / 1000.0
            assert RELAXIVITY[agent][field_t] == pytest.approx(theirs), (agent, field_t)
    assert agent_from_text("GADOVIST 1.0") == "gadobutrol"
    assert agent_from_text("Dotarem 0.5 mmol/ml") == "gadoterate"
    assert agent_from_text("saline") is None
    p = relaxivity_param("MultiHance", 1.5)
    assert p.value == 6.3 and p.source == "default" and "Rohrer" in p.detail
    assert relaxivity_param("gadobutrol", 2.9).value == 5.0
    with pytest.raises(InputError, match="relaxivity"):
        relaxivity_param("unobtainium", 3.0)
    with pytest.raises(UnitsError):
        relaxivity_param("gadobutrol", 3000.0)


def test_arterial_detection_finds_the_artery() -> None:
    t = np.arange(40) * 4.0 / 60
    aif = Aif("parker", onset=t[4], hematocrit=0.42)
    from quant.dce import forward

    tissue = forward("extended_tofts", t, aif, np.full(500, 0.2), np.full(500, 0.3), np.full(500, 0.05))
    vein = np.interp(t - 0.15, t, aif.plasma(t) * 0.58)[:, None] * np.ones((1, 10))  # later, lower
    artery = (aif.plasma(t) * 0.58)[:, None] * np.ones((1, 15))
    conc = np.concatenate([tissue, vein, artery], axis=1)
    found = detect_arterial_voxels(conc, t, n_voxels=15, peak_quantile=0.9)
    assert set(found.tolist()) == set(range(510, 525))
    assert detect_arterial_voxels(np.zeros((40, 5)), t).size == 0


def test_curve_parameters_of_a_known_curve() -> None:
    t = np.arange(0, 301, 10.0)
    onset = 50.0
    # A ramp to 1 mM at 100 s, flat, then a linear decline: easy to integrate by hand.
    c = np.interp(t, [0, 50, 100, 200, 300], [0, 0, 1.0, 1.0, 0.5])[:, None]
    re = c * 0.8  # relative enhancement proportional to C here
    out = curve_parameters(c, re, t, onset, auc_window=60.0, initial_slope_window=30.0)
    assert out["ttp"][0] == pytest.approx(50.0)  # the first phase at the peak (100 s)
    assert out["max_enhancement"][0] == pytest.approx(80.0)
    assert out["auc"][0] == pytest.approx(0.5 * 50 * 1.0 + 10 * 1.0)  # ramp 50–100 s, flat to 110 s
    assert out["initial_slope"][0] == pytest.approx(100 * 0.8 * 0.6 / 0.5)  # RE(80 s) = 0.48 over 0.5 min
    assert out["max_slope"][0] == pytest.approx(100 * 0.8 * 0.2 / (10 / 60))
    assert out["washout"][0] == pytest.approx(100 * (0.4 - 0.8) / 1.8)
