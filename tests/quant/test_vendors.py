"""Recognition and parameters on real scanner series (Siemens, Philips) and GE-shaped series."""

from __future__ import annotations

import numpy as np
import pytest

from quant import (
    ControlLabelMismatchError,
    MissingM0Error,
    MissingParameterError,
    classify_study,
    quantify,
)
from quant.images import sort_slices
from quant.vendors.philips import floating_point
from server.quantio import acquisition_from_bids
from tests.quant.builders import ge_series, roundtrip
from tests.quant.conftest import asl_niftis, read_series, truth


def test_siemens_pasl3d_ti1_ti_and_separate_m0() -> None:
    (acq,) = classify_study(read_series("siemens/pasl3d/11_pasl_3d", "siemens/pasl3d/13_pasl_3d_m0"))
    p = acq.parameters
    assert (acq.vendor, acq.labeling_type, acq.readout) == ("Siemens", "pasl", "3D")
    assert p["ti1"].value == pytest.approx(0.7) and p["ti1"].source == "protocol"
    assert p["ti"].value == [pytest.approx(1.99)]
    assert p["m0_placement"].value == "separate series"
    assert acq.kinds() == {"control": 6, "label": 6, "m0": 2}
    assert acq.geometry.shape == (40, 96, 96)
    result = quantify(acq)
    assert result.model == "consensus" and np.isfinite(result.statistics["whole_brain"]["mean"])


def test_siemens_pcasl2d_pld_labeling_duration_and_slice_timing() -> None:
    (acq,) = classify_study(read_series("siemens/pcasl2d/9_pcasl_2d", "siemens/pcasl2d/10_pcasl_2d_m0"))
    p = acq.parameters
    # Protocol: PLD adFree[2] = 200000 µs, 82 RF blocks × 18.4 ms.
    assert p["pld"].value == [pytest.approx(0.2)]
    assert p["labeling_duration"].value == pytest.approx(82 * 0.0184)
    assert p["m0_placement"].value == "separate series" and acq.kinds()["m0"] == 1
    assert acq.readout == "2D" and len(p["slice_times"].value) == 20
    assert max(p["slice_times"].value) == pytest.approx(0.7399999, abs=1e-3)
    result = quantify(acq)
    assert result.parameters["slice_offsets"].value[-1] > 0
    assert not result.warnings


def test_siemens_pcasl3d_m0_first_volume_and_unpaired_rest() -> None:
    (acq,) = classify_study(read_series("siemens/pcasl3d/15_pcasl_3d"))
    p = acq.parameters
    assert p["pld"].value == [pytest.approx(1.2)]  # dcm2niix mislabels this one as LabelingDuration
    assert p["labeling_duration"].value == pytest.approx(1.5088)
    assert p["m0_placement"].value == "first volume"
    assert acq.kinds() == {"m0": 1, "control": 9, "label": 8}
    with pytest.raises(ControlLabelMismatchError, match="9 control and 8 label"):
        quantify(acq)


def test_philips_delta_m_reproduces_scanner_series_201() -> None:
    datasets = read_series("philips/202_SOURCE_-_pCASL", "philips/201_pCASL")
    (acq,) = classify_study(datasets)
    assert acq.vendor == "Philips" and acq.kinds() == {"control": 30, "label": 30}
    assert [m.description for m in acq.scanner_maps] == ["pCASL"]
    assert set(acq.missing) == {"labeling_type", "pld", "labeling_duration"}
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
    assert exc.value.missing == ["labeling_type"]
    with pytest.raises(MissingM0Error):
        quantify(acq, {"labeling_type": "pcasl", "pld": [1.8], "labeling_duration": 1.8})


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
