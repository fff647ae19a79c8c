"""Cross-check with dcmri (the maintained DCE-MRI toolbox): same curves → same parameters.

dcmri names the models after their physiology: Tofts is the weakly vascularised model ``WV``,
extended Tofts the high-flow model ``HF`` (PS = Ktrans, vb = vp / (1 − Hct)), Patlak ``HFU``.
It works in seconds and molar; its input is the *blood* concentration.
"""

from __future__ import annotations

import dcmri
import numpy as np
import pytest

from quant.dce import Aif, fit_model, forward, spgr_signal

HCT = 0.45
DT = 0.1  # s: dcmri's convolution grid
T_ACQ = np.arange(75) * 4.0  # 75 phases, 4 s apart
ONSET = T_ACQ[5]
PARAMS = [(0.02, 0.1, 0.01), (0.05, 0.3, 0.02), (0.1, 0.2, 0.05), (0.25, 0.4, 0.03), (0.4, 0.5, 0.08)]


def _dcmri_curves(kinetics: str) -> np.ndarray:
    """dcmri's concentrations (mM) at the acquisition times for PARAMS, Parker AIF (blood, M)."""
    tf = np.arange(0, T_ACQ[-1] + DT / 2, DT)
    aif = Aif("parker", onset=ONSET / 60, hematocrit=HCT)
    cb = aif.plasma(tf / 60) * (1 - HCT) / 1000.0  # blood, M
    out = []
    for kt, ve, vp in PARAMS:
        if kinetics == "WV":
            c = dcmri.conc_tissue(cb, dt=DT, kinetics="WV", H=HCT, vi=ve, Ktrans=kt / 60)
        elif kinetics == "HF":
            c = dcmri.conc_tissue(cb, dt=DT, kinetics="HF", H=HCT, vi=ve, vb=vp / (1 - HCT), PS=kt / 60)
        else:
            c = dcmri.conc_tissue(cb, dt=DT, kinetics="HFU", H=HCT, vb=vp / (1 - HCT), PS=kt / 60)
        out.append(np.interp(T_ACQ, tf, c) * 1000.0)
    return np.stack(out, axis=1)


@pytest.mark.parametrize(("kinetics", "model"), [("WV", "tofts"), ("HF", "extended_tofts"), ("HFU", "patlak")])
def test_forward_models_agree(kinetics: str, model: str) -> None:
    aif = Aif("parker", onset=ONSET / 60, hematocrit=HCT)
    p = np.array(PARAMS)
    ours = forward(
        model, T_ACQ / 60, aif, p[:, 0], None if model == "patlak" else p[:, 1], None if model == "tofts" else p[:, 2]
    )
    theirs = _dcmri_curves(kinetics)
    # dcmri integrates on its own 0.1 s grid: agreement to 1 % of each curve's peak.
    assert np.all(np.abs(ours - theirs).max(axis=0) < 0.01 * theirs.max(axis=0))


@pytest.mark.parametrize(("kinetics", "model"), [("WV", "tofts"), ("HF", "extended_tofts"), ("HFU", "patlak")])
def test_our_fit_recovers_dcmri_curves(kinetics: str, model: str) -> None:
    aif = Aif("parker", onset=ONSET / 60, hematocrit=HCT)
    fit = fit_model(_dcmri_curves(kinetics), T_ACQ / 60, aif, model)
    p = np.array(PARAMS)
    assert np.allclose(fit.ktrans, p[:, 0], rtol=0.02)
    if model != "patlak":
        assert np.allclose(fit.ve, p[:, 1], rtol=0.02)
    if model != "tofts":
        assert np.allclose(fit.vp, p[:, 2], rtol=0.02, atol=5e-4)


def test_dcmri_fit_recovers_our_signals() -> None:
    """dcmri's own fit (Tissue.train: extended Tofts, fast water exchange, steady-state SPGR) on the
    signals of our forward model and SPGR equation gives our parameters back."""
    aif = Aif("parker", onset=ONSET / 60, hematocrit=HCT)
    tf = np.arange(0, T_ACQ[-1] + DT / 2, DT)
    cb = aif.plasma(tf / 60) * (1 - HCT) / 1000.0
    r1, r10, tr, flip = 5.0, 1 / 1.2, 0.005, 15.0
    for kt, ve, vp in PARAMS[1:4]:
        conc = forward("extended_tofts", T_ACQ / 60, aif, np.array([kt]), np.array([ve]), np.array([vp]))[:, 0]
        signal = spgr_signal(100.0, r10 + r1 * conc, tr, flip)
        tissue = dcmri.Tissue(
            kinetics="HF",
            water_exchange="FF",
            sequence="SS",
            ca=cb,
            dt=DT,
            H=HCT,
            r1=r1 * 1000.0,
            R10=r10,
            TR=tr,
            FA=flip,
            n0=6,
            S0=100.0,
        )
        tissue.train(T_ACQ, signal)
        assert tissue.PS * 60 == pytest.approx(kt, rel=0.02)
        assert tissue.vi == pytest.approx(ve, rel=0.02)
        assert tissue.vb * (1 - HCT) == pytest.approx(vp, rel=0.02)
