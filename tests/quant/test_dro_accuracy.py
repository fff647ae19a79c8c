"""CBF/ATT accuracy on the OSIPI ASL DRO sets (asldro 2.2.0, general kinetic model).

Per-tissue medians are compared: voxels on tissue borders in the DRO mix signals simulated at
high resolution, which no single-T1 voxel model can reproduce, so means carry a few outliers.
"""

from __future__ import annotations

import numpy as np
import pytest

from quant import quantify
from server.commands.quant_inputs import acquisition_from_bids
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


def test_noisy_B_within_10_percent_per_tissue(dro_dir) -> None:
    # Single delay: ATT cannot be fitted, so the DRO's transit-time map is given with its T1
    # map. Per-tissue medians over voxels that are purely that tissue (label, T1 and truth
    # agree): asldro downsamples signals simulated at high resolution, so voxels next to grey
    # matter carry extra signal no voxel model can attribute (it skews WM means to ~23).
    b = dro_dir("B")
    att = np.clip(truth(b, "transit_time"), 0.1, 3.0)  # CSF is marked 1000 s ("never arrives")
    result = quantify(
        acquisition_from_bids(asl_niftis(b)), {"t1_tissue_map": truth(b, "t1"), "att": att}, model="kinetic"
    )
    seg, t1, true_cbf = np.rint(truth(b, "seg_label")), truth(b, "t1"), truth(b, "perfusion_rate")
    for lab, tissue_t1, tissue_cbf in ((1, 1.33, 60.0), (2, 0.83, 20.0)):
        pure = (seg == lab) & (np.abs(t1 - tissue_t1) < 0.02 * tissue_t1)
        pure &= np.abs(true_cbf - tissue_cbf) < 0.02 * tissue_cbf
        assert pure.sum() > 1000
        assert float(np.median(result.cbf[pure])) == pytest.approx(tissue_cbf, rel=0.10), TISSUES[lab]
