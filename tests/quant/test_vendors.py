"""Recognition and parameters on real scanner series (Siemens, Philips) and GE-shaped series."""

from __future__ import annotations

import numpy as np
import pytest

from quant import (
    InputError,
    MissingM0Error,
    MissingParameterError,
    classify_study,
    quantify,
)
from quant.images import sort_slices
from quant.vendors.philips import floating_point
from server.commands.quant_inputs import acquisition_from_bids
from tests.quant.builders import ge_series, roundtrip
from tests.quant.conftest import asl_niftis, read_series, truth


def test_siemens_pasl3d_m0_series_is_really_control_label_so_no_cbf() -> None:
    """Series 13 'pasl_3d_m0' was acquired with the ASL protocol itself (background suppression
    on): its images are a control/label pair, not M0. Calibrating with it gave ~670 ml/100g/min;
    with no M0 and suppressed control images the series cannot be quantified, and says why."""
    datasets = read_series("siemens/pasl3d/11_pasl_3d", "siemens/pasl3d/13_pasl_3d_m0")
    (acq,) = classify_study(datasets)
    p = acq.parameters
    assert (acq.vendor, acq.labeling_type, acq.readout) == ("Siemens", "pasl", "3D")
    assert p["ti1"].value == pytest.approx(0.7) and p["ti1"].source == "protocol"
    assert p["ti"].value == [pytest.approx(1.99)]
    assert p["background_suppression"].value == 2 and "ulSuppressionMode = 2" in p["background_suppression"].detail
    assert p["m0_rejected"].value == "series 13 'pasl_3d_m0'" and "m0_placement" not in p
    assert acq.kinds() == {"control": 6, "label": 6}
    assert acq.geometry.shape == (40, 96, 96)
    # The data agree with the protocol: the "M0" pair differs like control − label does.
    asl = np.stack([v.loader() for v in acq.volumes])
    m0_series = [d for d in datasets if d.SeriesNumber == 13]
    from quant.images import unpack_mosaic

    pair = np.stack([unpack_mosaic(d, 40) for d in sorted(m0_series, key=lambda d: d.InstanceNumber)])
    dm_asl = asl[0::2].mean(axis=0) - asl[1::2].mean(axis=0)
    bright = asl[0] > np.percentile(asl[0], 75)
    assert np.corrcoef(dm_asl[bright], (pair[0] - pair[1])[bright])[0, 1] > 0.6
    assert pair[0][bright].mean() / asl[0::2].mean(axis=0)[bright].mean() == pytest.approx(1.0, abs=0.03)
    with pytest.raises(InputError, match="background suppression is declared") as exc:
        quantify(acq)
    assert "series 13 'pasl_3d_m0' was not used as M0" in str(exc.value)
    assert 'm0 = "control"' in str(exc.value)
    # Forcing the suppressed control images as M0 shows why it is refused.
    forced = quantify(acq, {"m0": "control"})
    assert forced.statistics["whole_brain"]["mean"] > 300
    assert any("background suppression is declared" in w for w in forced.warnings)


def test_siemens_pcasl2d_pld_labeling_duration_and_slice_timing() -> None:
    (acq,) = classify_study(read_series("siemens/pcasl2d/9_pcasl_2d", "siemens/pcasl2d/10_pcasl_2d_m0"))
    p = acq.parameters
    # Protocol: PLD adFree[2] = 200000 µs, 82 RF blocks × 18.4 ms.
    assert p["pld"].value == [pytest.approx(0.2)]
    assert p["labeling_duration"].value == pytest.approx(82 * 0.0184)
    # 0.2 s is this QA protocol's real PLD, not a unit slip: labeling, PLD and the 20-slice
    # readout (last slice at 0.74 s) fill the 2.54 s TR.
    readout_end = p["labeling_duration"].value + p["pld"].value[0] + max(p["slice_times"].value)
    assert 2.3 < readout_end < p["tr"].value == pytest.approx(2.54)
    assert p["m0_placement"].value == "separate series" and acq.kinds()["m0"] == 1
    assert "m0_rejected" not in p and "background_suppression" not in p
    assert acq.readout == "2D" and len(p["slice_times"].value) == 20
    assert max(p["slice_times"].value) == pytest.approx(0.7399999, abs=1e-3)
    result = quantify(acq)
    offsets = result.parameters["slice_offsets"].value
    assert offsets == pytest.approx(p["slice_times"].value)
    assert result.parameters["m0_tr"].value == pytest.approx(2.0)  # the M0 series' own TR
    assert result.parameters["m0"].value == "separate series"
    assert not result.warnings
    assert 20 < result.statistics["whole_brain"]["mean"] < 80


def test_siemens_pcasl2d_without_its_m0_series_waits_for_it() -> None:
    (acq,) = classify_study(read_series("siemens/pcasl2d/9_pcasl_2d"))
    assert acq.parameters["m0"].value == "required"
    with pytest.raises(MissingM0Error, match="no M0"):
        quantify(acq)


def test_siemens_pcasl3d_m0_first_volume_unpaired_last_control_and_bs() -> None:
    (acq,) = classify_study(read_series("siemens/pcasl3d/15_pcasl_3d"))
    p = acq.parameters
    assert p["pld"].value == [pytest.approx(1.2)]  # dcm2niix mislabels this one as LabelingDuration
    assert p["labeling_duration"].value == pytest.approx(1.5088)
    assert p["m0_placement"].value == "first volume"
    # 18 measurements (lRepetitions 17): M0, then 8 control/label pairs and one last control.
    assert acq.kinds() == {"m0": 1, "control": 9, "label": 8}
    assert p["background_suppression"].value == 2 and p["background_suppression"].source == "protocol"
    result = quantify(acq)
    assert result.warnings == [
        "delay 0: the last control volume (of 9 control and 8 label) has no partner and was left out"
    ]
    assert result.parameters["bs_efficiency"].value == pytest.approx(0.83)
    assert result.parameters["alpha"].value == pytest.approx(0.85 * 0.83)
    assert result.parameters["m0"].value == "first volume"
    assert 30 < result.statistics["whole_brain"]["mean"] < 80
    # Declared off, the suppression still shows in the data (control ≈ 16 % of M0): warned.
    undeclared = quantify(acq, {"background_suppression": 0})
    assert any("background suppression seems on but is not declared" in w for w in undeclared.warnings)


def test_philips_delta_m_reproduces_scanner_series_201() -> None:
    datasets = read_series("philips/202_SOURCE_-_pCASL", "philips/201_pCASL")
    (acq,) = classify_study(datasets)
    assert acq.vendor == "Philips" and acq.kinds() == {"control": 30, "label": 30}
    assert [m.description for m in acq.scanner_maps] == ["pCASL"]
    # The series name says pCASL; the timing is not in classic Philips headers.
    assert acq.labeling_type == "pcasl" and acq.parameters["labeling_type"].source == "series description"
    assert acq.missing == ["pld", "labeling_duration"]
    dm = np.mean([v.loader() for v in acq.volumes if v.kind == "control"], axis=0) - np.mean(
        [v.loader() for v in acq.volumes if v.kind == "label"], axis=0
    )
    scanner = np.stack(
        [floating_point(d) for d in sort_slices([d for d in datasets if d.SeriesDescription == "pCASL"])]
    )
    ours = np.clip(dm, 0, None)  # the scanner stores ΔM clipped at zero
    r = np.corrcoef(ours.ravel(), scanner.ravel())[0, 1]
    slope = float(np.sum(ours * scanner) / np.sum(ours * ours))
    assert r >= 0.99 and slope == pytest.approx(1.0, abs=0.02)
    with pytest.raises(MissingParameterError) as exc:
        quantify(acq)
    assert exc.value.missing == ["pld", "labeling_duration"]
    entered = {"pld": [1.8], "labeling_duration": 1.8}
    with pytest.raises(MissingM0Error):
        quantify(acq, {**entered, "m0": "required"})


def test_philips_202_without_m0_series_uses_control_images() -> None:
    """202 has no M0 series and no background suppression: the mean control image, corrected
    for TR 4.55 s, calibrates. The sample is a spherical phantom without flow, so the honest
    whole-"brain" CBF is close to zero (ΔM is noise around 0.01 % of M0)."""
    (acq,) = classify_study(read_series("philips/202_SOURCE_-_pCASL"))
    assert acq.parameters["tr"].value == pytest.approx(4.55)
    result = quantify(acq, {"labeling_type": "pcasl", "pld": [1.8], "labeling_duration": 1.8})
    m0 = result.parameters["m0"]
    assert (m0.value, m0.source) == ("control", "derived")
    assert m0.detail == "mean control images, TR-corrected (no M0 series)"
    assert result.parameters["m0_tr"].value == pytest.approx(4.55)
    assert result.parameters["m0_tr"].source == "tag"
    control = np.mean([v.loader() for v in acq.volumes if v.kind == "control"], axis=0)
    assert np.allclose(result.m0, control)  # the surrogate as stored, before the TR correction
    from quant.kinetics import consensus_pcasl

    expected = consensus_pcasl(
        result.delta_m[0], control / (1 - np.exp(-4.55 / 1.3)), 1.8, 1.8, 1.65, 0.85, 0.9
    )
    assert np.allclose(result.cbf[result.mask], expected[result.mask])
    whole = result.statistics["whole_brain"]
    assert whole["n"] > 50_000 and abs(whole["mean"]) < 5


def test_ge_shaped_series_recovers_cbf_with_ge_formula(dro_dir) -> None:
    d = dro_dir("D")
    bids = acquisition_from_bids(asl_niftis(d))
    control = np.mean([v.loader() for v in bids.volumes if v.kind == "control"], axis=0)
    label = np.mean([v.loader() for v in bids.volumes if v.kind == "label"], axis=0)
    m0 = next(v.loader() for v in bids.volumes if v.kind == "m0")
    series = [roundtrip(ds) for ds in ge_series(control - label, m0, bids.geometry, nex=3)]
    (acq,) = classify_study(series)
    p = acq.parameters
    assert acq.vendor == "GE" and p["pld"].value == [1.8] and p["labeling_duration"].value == 1.8
    assert p["nex"].value == 3 and p["nex"].source == "tag"
    result = quantify(acq)
    assert result.model == "ge"
    # GE's formula with its constants, written out independently of the engine:
    ratio = np.divide(control - label, m0, out=np.zeros_like(m0), where=m0 > 0)
    expected = 6000 * 0.9 * np.exp(1.8 / 1.6) / (2 * 1.6 * (1 - np.exp(-1.8 / 1.6)) * 0.6) * ratio
    seg = np.rint(truth(d, "seg_label"))
    brain = (seg > 0) & result.mask
    assert np.median(result.cbf[brain]) == pytest.approx(np.median(expected[brain]), rel=0.005)
    # The consensus model on the same GE series undoes PW ×32 / NEX and PD saturation: ~59.
    consensus = quantify(acq, {"t1_tissue": 1.2}, model="consensus")
    assert np.median(consensus.cbf[seg == 1]) == pytest.approx(60.0, rel=0.02)
