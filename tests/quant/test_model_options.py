"""Model options change CBF exactly as the formulas say (2D slice timing, BS, short-TR M0, GE delays)."""

from __future__ import annotations

import numpy as np
import pytest

from quant import InputError, classify_study, quantify
from server.commands.quant_inputs import acquisition_from_bids
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


def test_m0_from_control_images_when_no_m0_was_acquired(acq_d, dro_dir) -> None:
    """Without M0 images the mean control image, corrected for its TR, calibrates instead.

    DRO D writes control volumes with TR 5 s and tissue T1 = blood T1 (1.65 s), so the corrected
    control images are M0 again and CBF must match the M0-calibrated result.
    """
    import dataclasses
    import json

    sidecar = json.loads(next((dro_dir("D") / "asl").glob("*_asl.json")).read_text())
    context = (next((dro_dir("D") / "asl").glob("*_aslcontext.tsv")).read_text().split())[1:]
    control_tr = float(sidecar["RepetitionTime"][context.index("control")])
    with_m0 = quantify(acq_d, model="consensus")
    assert with_m0.parameters["m0"].source != "derived"
    no_m0 = dataclasses.replace(acq_d, volumes=[v for v in acq_d.volumes if v.kind != "m0"])
    derived = quantify(no_m0, {"m0_tr": control_tr, "t1_tissue": 1.65}, model="consensus")
    m0 = derived.parameters["m0"]
    assert (m0.value, m0.source) == ("control", "derived")
    assert m0.detail == "mean control images, TR-corrected (no M0 series)"
    assert derived.parameters["m0_tr"].value == control_tr
    ratio = derived.statistics["whole_brain"]["mean"] / with_m0.statistics["whole_brain"]["mean"]
    assert ratio == pytest.approx(1.0, abs=0.01)
    # Uncorrected (a very long TR assumed), the surrogate M0 would be 1 − e^(−TR/T1) too small.
    uncorrected = quantify(no_m0, {"m0_tr": 100.0, "t1_tissue": 1.65}, model="consensus")
    assert brain_ratio(uncorrected.cbf, derived.cbf, derived.mask) == pytest.approx(
        1 / (1 - np.exp(-control_tr / 1.65)), rel=1e-6
    )
    # Forced although M0 images exist: same numbers, and the record says it was forced.
    forced = quantify(acq_d, {"m0": "control", "m0_tr": control_tr, "t1_tissue": 1.65}, model="consensus")
    assert "forced" in forced.parameters["m0"].detail
    assert np.allclose(forced.cbf, derived.cbf)
