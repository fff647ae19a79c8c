"""CBF/ATT accuracy on the OSIPI ASL DRO sets (asldro 2.2.0, general kinetic model).

Per-tissue medians are compared: voxels on tissue borders in the DRO mix signals simulated at
high resolution, which no single-T1 voxel model can reproduce, so means carry a few outliers.
"""

from __future__ import annotations

import numpy as np
import pytest

from quant import quantify
from server.quantio import acquisition_from_bids
from tests.quant.conftest import asl_niftis, truth

TISSUES = {1: "GM", 2: "WM", 3: "CSF"}


def per_tissue(values: np.ndarray, seg: np.ndarray, labels=(1, 2, 3)) -> dict[int, float]:
    return {lab: float(np.median(values[seg == lab])) for lab in labels}


def test_consensus_on_D_within_2_percent(dro_dir) -> None:
    d = dro_dir("D")
    result = quantify(acquisition_from_bids(asl_niftis(d)), model="consensus")
    seg = np.rint(truth(d, "seg_label"))
    for lab, value in per_tissue(result.cbf, seg).items():
        assert value == pytest.approx(60.0, rel=0.02), TISSUES[lab]
    assert result.parameters["pld"].source == "tag"


def test_consensus_bias_on_A_is_the_documented_one(dro_dir) -> None:
    # asldro lets label decay with tissue T1 (1.33 s in GM); the white-paper formula assumes
    # blood T1 throughout and reads ~46 for a true 60. Expected, not a bug.
    a = dro_dir("A")
    result = quantify(acquisition_from_bids(asl_niftis(a)), model="consensus")
    gm = per_tissue(result.cbf, np.rint(truth(a, "seg_label")), (1,))[1]
    assert 44.0 < gm < 48.0


@pytest.mark.parametrize("model", ["kinetic", "weighted_delay"])
def test_multidelay_on_E_cbf_2_percent_att_5_percent(dro_dir, model: str) -> None:
    e = dro_dir("E")
    acq = acquisition_from_bids(asl_niftis(e))
    assert acq.multi_delay and len(acq.plds) == 6
    result = quantify(acq, model=model)
    seg = np.rint(truth(e, "seg_label"))
    assert result.att is not None
    for lab in (1, 2, 3):
        assert np.median(result.cbf[seg == lab]) == pytest.approx(60.0, rel=0.02), TISSUES[lab]
        assert np.median(result.att[seg == lab]) == pytest.approx(1.2, rel=0.05), TISSUES[lab]


def test_kinetic_on_C_with_tissue_t1_map(dro_dir) -> None:
    c = dro_dir("C")
    result = quantify(
        acquisition_from_bids(asl_niftis(c)), {"t1_tissue_map": truth(c, "t1")}, model="kinetic"
    )
    seg = np.rint(truth(c, "seg_label"))
    for lab, value in per_tissue(result.cbf, seg).items():
        assert value == pytest.approx(60.0, rel=0.05), TISSUES[lab]
    assert np.median(result.att[seg == 1]) == pytest.approx(1.2, rel=0.05)
    # Without the T1 map the same fit is biased in grey matter: the map matters.
    plain = quantify(acquisition_from_bids(asl_niftis(c)), model="kinetic")
    assert abs(np.median(plain.cbf[seg == 1]) - 60.0) > 3.0


def test_single_delay_kinetic_on_A_with_t1_and_transit_maps(dro_dir) -> None:
    a = dro_dir("A")
    overrides = {"t1_tissue_map": truth(a, "t1"), "att": truth(a, "transit_time")}
    result = quantify(acquisition_from_bids(asl_niftis(a)), overrides, model="kinetic")
    for lab, value in per_tissue(result.cbf, np.rint(truth(a, "seg_label"))).items():
        assert value == pytest.approx(60.0, rel=0.05), TISSUES[lab]


def test_noisy_B_grey_matter_within_10_percent(dro_dir) -> None:
    # Single delay: ATT cannot be fitted, so the grey-matter ATT of the DRO (0.8 s) is given.
    # White matter is NOT within 10% (22.5 for a true 20): at 15.75 mm slices most WM voxels
    # carry grey-matter signal that the DRO mixed in at high resolution.
    b = dro_dir("B")
    overrides = {"t1_tissue_map": truth(b, "t1"), "att": 0.8}
    result = quantify(acquisition_from_bids(asl_niftis(b)), overrides, model="kinetic")
    seg = np.rint(truth(b, "seg_label"))
    expected = float(np.median(truth(b, "perfusion_rate")[seg == 1]))
    assert float(np.mean(result.cbf[seg == 1])) == pytest.approx(expected, rel=0.10)
    assert float(np.median(result.cbf[seg == 1])) == pytest.approx(expected, rel=0.10)
