"""Derived DICOM: valid, readable by pydicom and highdicom, values and geometry preserved."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pytest
from matplotlib import colormaps

from quant import build_derived_datasets, classify_study, quantify, statistics_csv
from server.commands.quant_inputs import acquisition_from_bids
from tests.quant.builders import ge_series, roundtrip
from tests.quant.conftest import asl_niftis


@pytest.fixture(scope="module")
def ge_case(dro_dir):
    bids = acquisition_from_bids(asl_niftis(dro_dir("E")))
    dm = np.mean(
        [v.loader() for v in bids.volumes if v.kind == "control" and v.delay_index == 5], axis=0
    ) - np.mean([v.loader() for v in bids.volumes if v.kind == "label" and v.delay_index == 5], axis=0)
    m0 = np.mean([v.loader() for v in bids.volumes if v.kind == "m0"], axis=0)
    series = [roundtrip(d) for d in ge_series(dm, m0, bids.geometry, pld_ms=2750)]
    (acq,) = classify_study(series)
    return acq, series, bids


def by_description(datasets, text):
    return [d for d in datasets if text in str(d.SeriesDescription)]


def test_cbf_mr_series_round_trip(ge_case) -> None:
    acq, source, _ = ge_case
    result = quantify(acq)
    derived = [roundtrip(d) for d in build_derived_datasets(result, acq)]
    cbf = sorted(by_description(derived, "CBF (ge)"), key=lambda d: d.InstanceNumber)
    assert len(cbf) == acq.geometry.shape[0]
    src = source[0]
    for k, ds in enumerate(cbf):
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4" and ds.ImageType[0] == "DERIVED"
        assert (
            ds.StudyInstanceUID == src.StudyInstanceUID and ds.FrameOfReferenceUID == src.FrameOfReferenceUID
        )
        assert ds.SeriesInstanceUID != src.SeriesInstanceUID
        assert np.allclose([float(v) for v in ds.ImagePositionPatient], acq.geometry.positions[k])
        assert ds.PixelRepresentation == 1 and ds.pixel_array.dtype == np.int16
        rwvm = ds.RealWorldValueMappingSequence[0]
        assert rwvm.MeasurementUnitsCodeSequence[0].CodeValue == "ml/(100.g.min)"
        values = ds.pixel_array * float(rwvm.RealWorldValueSlope) + float(rwvm.RealWorldValueIntercept)
        assert np.allclose(values, result.cbf[k], atol=float(rwvm.RealWorldValueSlope))
        refs = {r.ReferencedSOPInstanceUID for r in ds.SourceImageSequence}
        assert refs and refs <= {d.SOPInstanceUID for d in source}


def test_parametric_map_and_secondary_capture_read_by_highdicom(ge_case) -> None:
    acq, _, _ = ge_case
    result = quantify(acq)
    derived = build_derived_datasets(result, acq)
    (pm_ds,) = [roundtrip(d) for d in derived if d.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"]
    pm = hd.pm.ParametricMap.from_dataset(pm_ds)
    frames = pm_ds.pixel_array
    assert pm.SeriesInstanceUID == pm_ds.SeriesInstanceUID
    assert frames.dtype == np.float32 and frames.shape == result.cbf.shape
    # highdicom orders frames along the slice normal; match each frame by its position.
    for frame, group in zip(frames, pm_ds.PerFrameFunctionalGroupsSequence, strict=True):
        pos = [float(v) for v in group.PlanePositionSequence[0].ImagePositionPatient]
        (k,) = [i for i, p in enumerate(acq.geometry.positions) if np.allclose(p, pos, atol=1e-3)]
        assert np.allclose(frame, result.cbf[k], atol=1e-3)
    sc = [roundtrip(d) for d in derived if d.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"]
    assert len(sc) == acq.geometry.shape[0]
    img = hd.Image.from_dataset(sc[0])
    assert img.PhotometricInterpretation == "RGB" and sc[0].pixel_array.shape[2] == 3
    assert sc[0].pixel_array.shape[1] > acq.geometry.shape[2]  # image plus the scale bar
    # The colour images lie on the map's planes (synced scrolling, overlays): same frame of reference,
    # a pixel of the map covers scale × scale pixels, the first pixel's centre is inside the map's first pixel.
    (cbf0,) = [roundtrip(d) for d in derived if d.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4" and d.InstanceNumber == 1
               and d.ImageType[2] == "CBF"]
    first = next(d for d in sc if d.InstanceNumber == 1)
    scale = first.Rows // cbf0.Rows
    assert scale >= 1 and first.FrameOfReferenceUID == cbf0.FrameOfReferenceUID
    assert np.allclose([float(v) for v in first.PixelSpacing], [float(v) / scale for v in cbf0.PixelSpacing])
    assert [float(v) for v in first.ImageOrientationPatient] == [float(v) for v in cbf0.ImageOrientationPatient]
    shift = np.array([float(v) for v in first.ImagePositionPatient]) - [float(v) for v in cbf0.ImagePositionPatient]
    half = 0.5 * np.array([float(v) for v in cbf0.PixelSpacing])
    assert np.linalg.norm(shift) <= np.linalg.norm(half) + 1e-3 and (scale == 1 or np.linalg.norm(shift) > 0)
    # The viewer's perfusion palette: jet, black for no flow.
    k = int(np.argmax(np.nanmax(np.nan_to_num(result.cbf), axis=(1, 2))))  # the slice with the most flow
    rgb = next(d for d in sc if d.InstanceNumber == k + 1).pixel_array[:, : cbf0.Columns * scale]
    cbf_k = np.repeat(np.repeat(np.nan_to_num(result.cbf[k]), scale, axis=0), scale, axis=1)
    assert (rgb[cbf_k <= 0] == 0).all()
    flow = cbf_k > 1
    expected = (colormaps["jet"](np.clip(cbf_k[flow] / 100, 0, 1))[:, :3] * 255).astype(np.uint8)
    assert flow.sum() > 100 and (np.abs(rgb[flow].astype(int) - expected) <= 1).all()
    for ds in sc:  # one plane per slice, along the map's slices
        k = ds.InstanceNumber - 1
        assert np.allclose(np.array([float(v) for v in ds.ImagePositionPatient]) - shift, acq.geometry.positions[k],
                           atol=1e-3)


def test_multidelay_outputs_att_series_and_csv(dro_dir) -> None:
    acq = acquisition_from_bids(asl_niftis(dro_dir("E")))
    result = quantify(acq)
    derived = build_derived_datasets(result, acq)
    att = [roundtrip(d) for d in derived if str(d.SeriesDescription).startswith("ATT")]
    assert len(att) == acq.geometry.shape[0]
    assert att[0].RealWorldValueMappingSequence[0].MeasurementUnitsCodeSequence[0].CodeValue == "s"
    csv_text = statistics_csv(result)
    rows = {line.split(",")[0]: line.split(",") for line in csv_text.splitlines()}
    assert float(rows["whole_brain"][2]) == pytest.approx(result.statistics["whole_brain"]["mean"], abs=1e-3)
    assert "att_whole_brain" in rows and "slice_0" in rows and "asymmetry_index" in rows
    # The DRO is symmetric with uniform CBF: hemispheres agree within a few percent.
    assert abs(result.statistics["asymmetry_index_percent"]) < 5


def _world(ds, row: float, col: float) -> np.ndarray:
    """Patient coordinates of the centre of pixel (row, col) of an image (PS3.3 C.7.6.2.1.1)."""
    o = [float(v) for v in ds.ImageOrientationPatient]
    dr, dc = (float(v) for v in ds.PixelSpacing)
    origin = np.array([float(v) for v in ds.ImagePositionPatient])
    return origin + np.array(o[:3]) * col * dc + np.array(o[3:]) * row * dr


def test_colour_series_has_the_map_geometry(ge_case) -> None:
    """The colour SC slices lie where the CBF slices lie: a viewer can scroll both in step."""
    acq, _, _ = ge_case
    derived = [roundtrip(d) for d in build_derived_datasets(quantify(acq), acq)]
    cbf = {int(d.InstanceNumber): d for d in by_description(derived, "CBF (ge)")}
    sc = [d for d in derived if d.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"]
    rows, cols = acq.geometry.shape[1:]
    scale = sc[0].Rows // rows
    assert scale >= 1 and sc[0].Rows == rows * scale
    for colour in sc:
        ref = cbf[int(colour.InstanceNumber)]
        assert colour.FrameOfReferenceUID == ref.FrameOfReferenceUID
        orientation = [float(v) for v in colour.ImageOrientationPatient]
        assert np.allclose(orientation, [float(v) for v in ref.ImageOrientationPatient])
        # The map's corner pixels and their upscaled blocks' centres are the same points in space.
        for r, c in ((0, 0), (rows - 1, cols - 1), (rows // 2, 3)):
            centre = (r * scale + (scale - 1) / 2, c * scale + (scale - 1) / 2)
            assert np.allclose(_world(colour, *centre), _world(ref, r, c), atol=1e-3)
