"""Which T1 is used where, on the OSIPI DROs (ground truth in shared/data/asl/dro).

The white paper's formula has blood T1 only; tissue T1 enters the M0 T1-recovery correction
(``t1_tissue_m0``) and the kinetic model's decay after arrival (``t1_tissue_kinetic``), each
recorded under its own name. Entering the default M0 tissue T1 must not move the kinetic model.
"""

from __future__ import annotations

import numpy as np
import pytest

from quant import quantify
from server.commands.quant_inputs import acquisition_from_bids
from tests.quant.conftest import asl_niftis, truth

GM, WM = 1, 2


@pytest.fixture(scope="module")
def acq_e(dro_dir):
    return acquisition_from_bids(asl_niftis(dro_dir("E")))


@pytest.fixture(scope="module")
def acq_c(dro_dir):
    return acquisition_from_bids(asl_niftis(dro_dir("C")))


def median_in(result, seg, label: int) -> float:
    return float(np.median(result.cbf[seg == label]))


def test_consensus_uses_blood_t1_only(dro_dir) -> None:
    d = acquisition_from_bids(asl_niftis(dro_dir("D")))
    result = quantify(d, model="consensus")
    assert result.parameters["t1_blood"].value == 1.65
    assert "t1_tissue_kinetic" not in result.parameters
    # The DRO's M0 has TR 10 s: the short-TR correction is applied (≈ ×1.0005) with the M0 tissue T1.
    assert result.parameters["m0_tr"].value == 10.0
    m0_t1 = result.parameters["t1_tissue_m0"]
    assert (m0_t1.value, m0_t1.source) == (1.3, "default")
    assert "M0 T1-recovery correction" in m0_t1.detail
    # A different tissue T1 for the kinetic model changes nothing in the consensus formula.
    other = quantify(d, {"t1_tissue_kinetic": 0.9}, model="consensus")
    assert np.array_equal(other.cbf, result.cbf)


def test_kinetic_default_is_blood_t1_and_says_so(acq_e, dro_dir) -> None:
    result = quantify(acq_e, model="kinetic")
    used = result.parameters["t1_tissue_kinetic"]
    assert (used.value, used.source) == (1.65, "derived")
    assert "t1_blood" in used.detail and "single-compartment" in used.detail
    seg = np.rint(truth(dro_dir("E"), "seg_label"))
    assert median_in(result, seg, GM) == pytest.approx(60.0, rel=0.02)


def test_entering_the_m0_tissue_t1_does_not_move_the_kinetic_model(acq_e) -> None:
    # Before the split, entering t1_tissue = 1.3 (the M0 correction's own default) also switched the
    # kinetic model from blood T1 to 1.3 s, moving DRO E's CBF from 60 to ~71.5.
    base = quantify(acq_e, model="kinetic")
    entered = quantify(acq_e, {"t1_tissue_m0": 1.3}, model="kinetic")
    assert np.array_equal(base.cbf, entered.cbf)
    assert entered.parameters["t1_tissue_m0"].source == "user"


def test_a_wrong_tissue_t1_for_the_kinetic_model_biases_cbf(acq_e, dro_dir) -> None:
    # DRO E's tissue T1 is blood T1 (1.65 s): telling the kinetic model 1.3 s overestimates.
    seg = np.rint(truth(dro_dir("E"), "seg_label"))
    wrong = quantify(acq_e, {"t1_tissue_kinetic": 1.3}, model="kinetic")
    assert median_in(wrong, seg, GM) > 66.0
    assert wrong.parameters["t1_tissue_kinetic"].source == "user"
    both = quantify(acq_e, {"t1_tissue": 1.3}, model="kinetic")
    assert np.allclose(both.cbf, wrong.cbf)
    assert "t1_tissue" in both.parameters["t1_tissue_kinetic"].detail


def test_the_right_tissue_t1_recovers_grey_matter_on_realistic_c(acq_c, dro_dir) -> None:
    # DRO C has realistic tissue T1 (grey matter 1.33 s): one value for the kinetic model fits the
    # grey matter; the default (blood T1) does not.
    c = dro_dir("C")
    seg, t1 = np.rint(truth(c, "seg_label")), truth(c, "t1")
    gm_t1 = float(np.median(t1[seg == GM]))
    assert gm_t1 == pytest.approx(1.33, rel=0.02)
    fitted = quantify(acq_c, {"t1_tissue_kinetic": gm_t1}, model="kinetic")
    assert median_in(fitted, seg, GM) == pytest.approx(60.0, rel=0.05)
    default = quantify(acq_c, model="kinetic")
    assert abs(median_in(default, seg, GM) - 60.0) > abs(median_in(fitted, seg, GM) - 60.0)


def test_a_t1_map_serves_both_uses_and_an_explicit_value_wins(acq_c, dro_dir) -> None:
    c = dro_dir("C")
    t1 = truth(c, "t1")
    mapped = quantify(acq_c, {"t1_tissue_map": t1}, model="kinetic")
    assert mapped.parameters["t1_tissue_kinetic"].value == "t1_tissue_map"
    assert "t1_tissue_map" in mapped.parameters
    own = quantify(acq_c, {"t1_tissue_map": t1, "t1_tissue_kinetic": 1.65}, model="kinetic")
    assert own.parameters["t1_tissue_kinetic"].value == 1.65
    # The kinetic model now runs with blood T1 like the default; only the M0 correction (TR 10 s) still
    # uses the map instead of 1.3 s, a < 0.1 % difference.
    plain = quantify(acq_c, model="kinetic")
    seg = np.rint(truth(c, "seg_label"))
    assert median_in(own, seg, GM) == pytest.approx(median_in(plain, seg, GM), rel=1e-3)
    assert abs(median_in(own, seg, GM) - median_in(mapped, seg, GM)) > 1.0
