"""DCE recognition: vendor-shaped synthetic studies are found; real non-DCE data is not."""

from __future__ import annotations

import glob

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from quant.dce import NotDceError, classify_series, classify_study
from tests.conftest import SHARED_DATA
from tests.quant.dce.builders import dce_study, phantom, roundtrip, series_like

VENDORS = ["ge", "philips", "siemens", "siemens_split", "enhanced"]


@pytest.fixture(scope="module")
def small():
    return phantom(shape=(2, 16, 16), n_phases=12, dt=5.0, injection_phase=3)


@pytest.mark.parametrize("vendor", VENDORS)
def test_vendor_series_recognised(small, vendor: str) -> None:
    datasets = [roundtrip(d) for d in dce_study(small, vendor)]
    [acq] = classify_study(datasets)
    assert acq.n_phases == 12
    assert acq.geometry.shape == (2, 16, 16)
    assert np.allclose([p.time for p in acq.phases], small.times, atol=1e-3)
    assert [v.flip_angle for v in acq.vfa] == [2.0, 5.0, 10.0, 15.0]
    assert acq.missing == []
    params = acq.parameters
    assert params["flip_angle"].value == 15.0 and params["flip_angle"].source == "tag"
    assert params["tr"].value == pytest.approx(0.004)
    assert params["agent"].value == "gadobutrol"
    assert params["field_strength"].value == 3.0
    assert params["vfa_tr"].value == pytest.approx(0.004)
    expected_source = {"ge": "TriggerTime", "enhanced": "AcquisitionDateTime/AcquisitionTime"}.get(
        vendor, "AcquisitionDateTime/AcquisitionTime"
    )
    assert params["phase_times"].detail == expected_source
    roles = {s.role for s in acq.series}
    assert roles == {"dce", "vfa"}
    if vendor == "siemens_split":
        assert sum(s.role == "dce" for s in acq.series) == 12
    first = acq.phases[0].loader()
    assert first.shape == (2, 16, 16) and first.max() > 0
    summary = acq.summary()
    assert summary["method"] == "DCE" and summary["n_phases"] == 12


def test_vfa_in_one_series_and_bolus_start_time(small) -> None:
    datasets = dce_study(small, "ge", vfa_in_one_series=True, bolus_start_tag=True)
    [acq] = classify_study(datasets)
    assert [v.flip_angle for v in acq.vfa] == [2.0, 5.0, 10.0, 15.0]
    assert len({v.series_instance_uid for v in acq.vfa}) == 1
    arrival = acq.parameters["bolus_arrival_time"]
    assert arrival.source == "tag" and arrival.value == pytest.approx(small.times[small.injection_phase - 1])


def test_phase_times_missing_without_timing_tags(small) -> None:
    datasets = dce_study(small, "philips")
    for ds in datasets:
        if ds.SeriesDescription == "DCE":
            for kw in ("AcquisitionTime", "TriggerTime", "ContentTime"):
                if kw in ds:
                    delattr(ds, kw)
    [acq] = classify_study(datasets)
    assert acq.missing == ["phase_times"]
    assert acq.phases[0].time is None
    # TemporalResolution (ms) with the temporal positions gives the times back.
    for ds in datasets:
        if ds.SeriesDescription == "DCE":
            ds.TemporalResolution = 5000.0
    [acq] = classify_study(datasets)
    assert acq.missing == []
    assert acq.parameters["phase_times"].value == pytest.approx(list(small.times))


def test_post_contrast_and_other_grid_t1_series_are_not_vfa(small) -> None:
    datasets = dce_study(small, "siemens", vfa_angles=(2.0, 15.0))
    vfa = [d for d in datasets if str(d.SeriesDescription).startswith("t1_vfa")]
    for d in vfa:
        if d.FlipAngle == 2.0:
            d.AcquisitionTime = "110000"  # after the dynamic series
    [acq] = classify_study(datasets)
    assert acq.vfa == []
    assert any("post-contrast" in n for n in acq.notes)
    datasets = dce_study(small, "siemens", vfa_angles=(2.0, 15.0))
    for d in datasets:
        if str(d.SeriesDescription).startswith("t1_vfa"):
            d.ImagePositionPatient = [v + 20.0 for v in d.ImagePositionPatient]
    [acq] = classify_study(datasets)
    assert acq.vfa == []


def _shared(relative: str, limit: int | None = None) -> list[pydicom.Dataset]:
    files = sorted(glob.glob(str(SHARED_DATA / relative / "*.dcm")))
    assert files, relative
    return [pydicom.dcmread(f, stop_before_pixels=True) for f in files[:limit]]


@pytest.mark.parametrize(
    ("relative", "why"),
    [
        ("asl/philips/202_SOURCE_-_pCASL", "TR 4550 ms"),  # 30 dynamics of GR images: ASL, not DCE
        ("asl/philips/201_pCASL", "PERFUSION"),
        ("asl/siemens/pcasl2d/9_pcasl_2d", "MOSAIC"),  # EPI mosaics
        ("asl/siemens/pasl3d/11_pasl_3d", "ASL"),
        ("asl/siemens/pcasl3d/15_pcasl_3d", ""),
        ("transfer-syntaxes", ""),
    ],
)
def test_real_non_dce_series_are_not_recognised(relative: str, why: str) -> None:
    datasets = _shared(relative)
    with pytest.raises(NotDceError) as info:
        classify_study(datasets)
    assert why in str(info.value)
    by_series: dict[str, list[pydicom.Dataset]] = {}
    for ds in datasets:
        by_series.setdefault(str(ds.SeriesInstanceUID), []).append(ds)
    for items in by_series.values():
        assert classify_series(items).role != "dce"


@pytest.mark.parametrize("name", ["MR_small.dcm", "CT_small.dcm", "MR_small_RLE.dcm", "examples_overlay.dcm"])
def test_pydicom_test_files_are_not_dce(name: str) -> None:
    ds = pydicom.dcmread(get_testdata_file(name))
    with pytest.raises(NotDceError):
        classify_study([ds])
    # Even repeated at one position 20 times (a "time series" of a T1 spin echo or a CT), no.
    if "ImagePositionPatient" in ds:
        copies = series_like(ds, 20, ImagePositionPatient=[float(v) for v in ds.ImagePositionPatient])
        assert classify_series(copies).role == "other"


def _dynamic_like(small, **changes: object) -> list[pydicom.Dataset]:
    datasets = dce_study(small, "philips", vfa_angles=())
    for ds in datasets:
        for key, value in changes.items():
            setattr(ds, key, value)
    return datasets


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"ScanningSequence": ["GR", "EP"], "RepetitionTime": 2000.0, "FlipAngle": 80.0}, "echo-planar"),  # BOLD
        ({"ScanningSequence": ["SE", "EP"], "ImageType": ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]}, "DIFFUSION"),
        ({"ScanningSequence": "SE", "RepetitionTime": 3000.0, "EchoTime": 90.0}, "not a gradient echo"),  # T2 TSE
        ({"ScanningSequence": ["GR", "IR"]}, "inversion"),  # MPRAGE-like
        ({"Modality": "CT"}, "modality CT"),
        ({"ImageType": ["DERIVED", "SECONDARY", "SUB"]}, "derived"),
        ({"FlipAngle": 90.0}, "flip angle"),
    ],
)
def test_other_sequences_with_many_time_points_are_not_dce(small, changes: dict, reason: str) -> None:
    datasets = _dynamic_like(small, **changes)
    info = classify_series(datasets)
    assert info.role == "other" and reason in info.reason
    with pytest.raises(NotDceError, match=reason):
        classify_study(datasets)


def test_single_phase_and_few_phase_series_are_not_dce() -> None:
    p = phantom(shape=(2, 16, 16), n_phases=4, dt=5.0, injection_phase=2)
    datasets = dce_study(p, "philips", vfa_angles=())
    info = classify_series(datasets)
    assert info.role == "other" and "4 time points" in info.reason
    single = phantom(shape=(2, 16, 16), n_phases=2, dt=5.0, injection_phase=1)
    one = [d for d in dce_study(single, "siemens", vfa_angles=()) if d.AcquisitionNumber == 1]
    assert classify_series(one).role == "vfa"  # a single T1 GRE volume: a T1-mapping candidate
    with pytest.raises(NotDceError):
        classify_study(one)


def test_multi_echo_series_is_not_dce(small) -> None:
    datasets = _dynamic_like(small)
    for i, ds in enumerate(datasets):
        ds.EchoTime = 1.5 + (i % 2)
    assert "several echoes" in classify_series(datasets).reason


def test_the_asl_classifier_leaves_a_dce_study_alone(small) -> None:
    import quant

    with pytest.raises(quant.NotAslError):
        quant.classify_study(dce_study(small, "siemens"))


def test_label_for_the_worklist(small) -> None:
    [acq] = classify_study(dce_study(small, "ge"))
    assert acq.label == "GE DCE 12 phases, VFA 2/5/10/15°: DCE"
    assert acq.dynamic_series_uids == [acq.series[0].series_instance_uid]
    assert acq.summary()["label"] == acq.label
