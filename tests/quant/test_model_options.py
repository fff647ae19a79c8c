"""Model options change CBF exactly as the formulas say (2D slice timing, BS, short-TR M0, GE delays)."""

from __future__ import annotations

import numpy as np
import pytest

from quant import InputError, classify_study, quantify
from server.quantio import acquisition_from_bids
from tests.quant.builders import ge_series
from tests.quant.conftest import asl_niftis


@pytest.fixture(scope="module")
def acq_d(dro_dir):
    return acquisition_from_bids(asl_niftis(dro_dir("D")))


def brain_ratio(a, b, mask):
    keep = mask & (b > 1.0)
    return float(np.median(a[keep] / b[keep]))


def test_2d_readout_adds_slice_time_to_each_slice(acq_d) -> None:
    base = quantify(acq_d, {"readout": "3D"}, model="consensus")
    late = quantify(acq_d, {"readout": "2D", "slice_time": 0.05}, model="consensus")
    slices = [k for k in range(base.cbf.shape[0]) if base.mask[k].sum() > 100]
    assert len(slices) > 5
    for k in slices:
        m = base.mask[k]
        assert brain_ratio(late.cbf[k], base.cbf[k], m) == pytest.approx(np.exp(k * 0.05 / 1.65), rel=1e-6)
    assert late.parameters["slice_offsets"].value[11] == pytest.approx(0.55)
    assert late.parameters["slice_time"].source == "user"


def test_background_suppression_lowers_alpha(acq_d) -> None:
    base = quantify(acq_d, model="consensus")
    bs = quantify(acq_d, {"background_suppression": 2}, model="consensus")
    assert brain_ratio(bs.cbf, base.cbf, base.mask) == pytest.approx(1 / 0.83, rel=1e-6)
    assert bs.parameters["alpha"].value == pytest.approx(0.85 * 0.83)
    explicit = quantify(acq_d, {"bs_efficiency": 0.75}, model="consensus")
    assert brain_ratio(explicit.cbf, base.cbf, base.mask) == pytest.approx(1 / 0.75, rel=1e-6)


def test_short_tr_m0_correction(acq_d) -> None:
    long_tr = quantify(acq_d, {"m0_tr": 100.0, "t1_tissue": 1.3}, model="consensus")
    short = quantify(acq_d, {"m0_tr": 2.0, "t1_tissue": 1.3}, model="consensus")
    expected = 1 - np.exp(-2.0 / 1.3)
    assert brain_ratio(short.cbf, long_tr.cbf, long_tr.mask) == pytest.approx(expected, rel=1e-6)


def test_constants_are_overridable_and_reported(acq_d) -> None:
    result = quantify(acq_d, {"partition_coefficient": 0.98, "t1_blood": 1.6}, model="consensus")
    assert result.parameters["partition_coefficient"].source == "user"
    assert result.parameters["t1_blood"].value == 1.6
    default = quantify(acq_d, model="consensus")
    assert default.parameters["t1_blood"].source == "default"
    assert default.parameters["partition_coefficient"].value == 0.9


def test_ge_series_with_two_delays_splits_by_inversion_time(dro_dir) -> None:
    e = acquisition_from_bids(asl_niftis(dro_dir("E")))
    m0 = np.mean([v.loader() for v in e.volumes if v.kind == "m0"], axis=0)
    series = []
    for delay, pld_ms in ((3, 1750.0), (5, 2750.0)):
        vols = [v for v in e.volumes if v.delay_index == delay]
        dm = np.mean([v.loader() for v in vols if v.kind == "control"], axis=0) - np.mean(
            [v.loader() for v in vols if v.kind == "label"], axis=0
        )
        part = ge_series(dm, m0, e.geometry, pld_ms=pld_ms)
        series += part if not series else [d for d in part if "PERFUSION_ASL" in d.ImageType]
    uid, study = series[0].SeriesInstanceUID, series[0].StudyInstanceUID
    for d in series:
        d.SeriesInstanceUID, d.StudyInstanceUID = uid, study
    (acq,) = classify_study(series)
    assert acq.plds == [1.75, 2.75] and acq.multi_delay
    result = quantify(acq, {"t1_tissue": 1.2}, model="kinetic")
    assert result.att is not None and np.isfinite(result.statistics["whole_brain"]["mean"])
    # Two PW volumes at the same InversionTime cannot be told apart: refuse.
    for d in series:
        if "PERFUSION_ASL" in d.ImageType:
            d.InversionTime = 1750.0
    with pytest.raises(InputError, match="InversionTime"):
        classify_study(series)
