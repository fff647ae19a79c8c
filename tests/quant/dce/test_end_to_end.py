"""A synthetic DCE study through the quant API: DICOM bytes → acquisition → maps → derived DICOM."""

from __future__ import annotations

import csv
import io
import json

import highdicom as hd
import numpy as np
import pytest

from quant.dce import MAP_UNITS, build_derived_datasets, classify_study, quantify, statistics_csv
from tests.quant.dce.builders import QUADRANTS, dce_study, phantom, roundtrip

MAPS = {"ktrans": 0, "ve": 1, "vp": 2}


@pytest.fixture(scope="module")
def truth():
    return phantom(shape=(3, 40, 40), n_phases=40, dt=4.0, injection_phase=5)


def _errors(result, p) -> dict[str, dict[str, float]]:
    out = {}
    for q in QUADRANTS:
        m = p.regions[q] & result.mask
        out[q] = {k: float(np.median(result.maps[k][m]) / QUADRANTS[q][i] - 1) for k, i in MAPS.items()}
    return out


@pytest.mark.parametrize("vendor", ["ge", "philips", "siemens", "siemens_split", "enhanced"])
def test_maps_recovered_from_dicom(truth, vendor: str) -> None:
    datasets = [roundtrip(d) for d in dce_study(truth, vendor)]
    [acq] = classify_study(datasets)
    result = quantify(acq)
    assert result.model == "extended_tofts"
    used = result.parameters
    assert used["injection_phase"].value == truth.injection_phase and used["injection_phase"].source == "derived"
    assert used["relaxivity"].value == 5.0 and "gadobutrol" in used["relaxivity"].detail
    assert used["t10"].source == "derived" and "VFA" in used["t10"].detail
    assert used["flip_angle"].source == "tag"
    assert np.allclose(result.maps["t10"][truth.regions["tissue"]], 1.1, rtol=1e-3)
    for q, errs in _errors(result, truth).items():
        for k, e in errs.items():
            assert abs(e) < 0.02, (vendor, q, k, e)
    assert result.mask[truth.regions["tissue"]].all()
    assert not result.mask[0, 0, 0]  # air
    assert result.warnings == []


def test_measured_and_detected_aif(truth) -> None:
    [acq] = classify_study(dce_study(truth, "siemens"))
    drawn = quantify(acq, {"aif": "measured", "aif_mask": truth.regions["artery"]})
    found = quantify(acq, {"aif": "auto"})
    assert found.aif_mask is not None
    assert (found.aif_mask & truth.regions["artery"]).sum() == found.aif_mask.sum() > 0
    assert found.parameters["aif"].source == "derived"
    for result in (drawn, found):
        # A measured AIF is known only at the phases (4 s apart): a few % from the sampled first pass.
        for errs in _errors(result, truth).values():
            assert abs(errs["ktrans"]) < 0.05 and abs(errs["ve"]) < 0.05
        assert np.allclose(
            result.aif[truth.injection_phase + 2 :],
            truth.aif.plasma(truth.times / 60)[truth.injection_phase + 2 :],
            rtol=0.02,
        )


def test_noisy_study_and_models(truth) -> None:
    [acq] = classify_study(dce_study(truth, "ge", noise_sd=5.0))  # SNR 60–120 in tissue
    r2 = {}
    for model in ("extended_tofts", "tofts", "patlak"):
        result = quantify(acq, model=model)
        assert set(result.model_maps) <= set(result.maps)
        if model == "extended_tofts":
            errs = _errors(result, truth)
            print("\nnoisy median errors:", {q: {k: f"{v:+.1%}" for k, v in e.items()} for q, e in errs.items()})
            for e in errs.values():
                assert abs(e["ktrans"]) < 0.1 and abs(e["ve"]) < 0.15
        assert np.all(result.maps["r2"][result.mask] <= 1.0)
        r2[model] = float(np.median(result.maps["r2"][truth.regions["tissue"]]))
    print("median R² in tissue:", r2)
    assert r2["extended_tofts"] > 0.8
    assert r2["extended_tofts"] >= max(r2["tofts"], r2["patlak"])  # the generating model fits best


def test_statistics_rois_csv_and_json(truth) -> None:
    [acq] = classify_study(dce_study(truth, "philips"))
    rois = {name: truth.regions[name] for name in ("q1", "q3")}
    result = quantify(acq, {"rois": rois})
    stats = result.statistics
    assert stats["mask"]["n_voxels"] == int(result.mask.sum())
    assert stats["rois"]["q1"]["maps"]["ktrans"]["median"] == pytest.approx(0.05, rel=0.02)
    assert stats["rois"]["q3"]["maps"]["vp"]["mean"] == pytest.approx(0.05, rel=0.02)
    rows = list(csv.DictReader(io.StringIO(statistics_csv(result))))
    by_key = {(r["region"], r["map"]): r for r in rows}
    assert float(by_key[("q1", "ktrans")]["median"]) == pytest.approx(0.05, rel=0.02)
    assert by_key[("q1", "ktrans")]["unit"] == "/min"
    assert {r["region"] for r in rows} == {"mask", "q1", "q3"}
    summary = json.loads(json.dumps(result.as_dict()))
    assert summary["parameters"]["rois"]["value"] == ["q1", "q3"]
    assert set(summary["curves"]) == {"mask", "q1", "q3"}
    assert len(summary["curves"]["q1"]["concentration_mM"]) == 40
    assert json.loads(json.dumps(acq.summary()))["n_phases"] == 40


def test_derived_objects(truth) -> None:
    datasets = dce_study(truth, "ge")
    [acq] = classify_study(datasets)
    result = quantify(acq)
    derived = [roundtrip(d) for d in build_derived_datasets(result, acq, semiquantitative=True)]
    study_uid = datasets[0].StudyInstanceUID
    assert {d.StudyInstanceUID for d in derived} == {study_uid}
    assert {d.PatientID for d in derived} == {"DCE-1"}
    by_series: dict[str, list] = {}
    for d in derived:
        by_series.setdefault(d.SeriesInstanceUID, []).append(d)
    numbers = [items[0].SeriesNumber for items in by_series.values()]
    assert len(numbers) == len(set(numbers)) == 4 + 6 + 4 + 1  # MR maps, curve maps, PMs, colour
    mr = {
        d.RealWorldValueMappingSequence[0].LUTLabel: d
        for d in derived
        if d.Modality == "MR" and "RealWorldValueMappingSequence" in d and d.SOPClassUID.name == "MR Image Storage"
    }
    units = {
        label: d.RealWorldValueMappingSequence[0].MeasurementUnitsCodeSequence[0].CodeValue for label, d in mr.items()
    }
    assert (
        units["Ktrans"] == "/min" and units["kep"] == "/min" and units["ve"] == "{ratio}" and units["vp"] == "{ratio}"
    )
    # Stored values × slope give the map back (to the int16 quantisation).
    ktrans_mr = sorted(
        (d for d in derived if d.get("SeriesDescription", "").startswith("DCE Ktrans")), key=lambda d: d.InstanceNumber
    )
    values = np.stack([d.pixel_array * float(d.RescaleSlope) for d in ktrans_mr])
    assert np.allclose(values, result.maps["ktrans"], atol=float(ktrans_mr[0].RescaleSlope))
    assert ktrans_mr[0].SourceImageSequence  # provenance: the dynamic images of that slice
    pms = [d for d in derived if d.SOPClassUID.name == "Parametric Map Storage"]
    assert len(pms) == 4
    for pm_ds in pms:
        pm = hd.pm.ParametricMap.from_dataset(pm_ds)
        label = (
            pm_ds.RealWorldValueMappingSequence[0].LUTLabel
            if "RealWorldValueMappingSequence" in pm_ds
            else pm_ds.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0].LUTLabel
        )
        key = {"Ktrans": "ktrans", "ve": "ve", "kep": "kep", "vp": "vp"}[label]
        arr = pm_ds.pixel_array.reshape(result.maps[key].shape)
        assert np.allclose(arr, result.maps[key].astype(np.float32))
        assert pm.SeriesInstanceUID == pm_ds.SeriesInstanceUID
    colour = [d for d in derived if d.get("PhotometricInterpretation") == "RGB"]
    assert len(colour) == 3 and colour[0].SamplesPerPixel == 3
    assert MAP_UNITS["ktrans"] == "/min"


def test_invalid_source_attributes_never_fail_the_build(truth) -> None:
    datasets = dce_study(truth, "siemens")
    for ds in datasets:
        ds.PatientBirthDate = "not-a-date"
        ds.StudyID = "STUDY-ID-FAR-TOO-LONG-FOR-SH"
        ds.PatientSex = "X"
        ds.AccessionNumber = "A" * 20
        ds.PatientAge = "45Y"
        ds.StudyTime = "25xx"
        ds.PatientName = "Single"
    [acq] = classify_study([roundtrip(d) for d in datasets])
    result = quantify(acq)
    derived = [roundtrip(d) for d in build_derived_datasets(result, acq)]
    first = derived[0]
    assert first.PatientBirthDate == "" and first.PatientSex == "" and first.StudyTime == ""
    assert first.StudyID == "STUDY-ID-FAR-TOO"  # shortened to the SH limit
    assert first.AccessionNumber == "A" * 16
    assert "PatientAge" not in first
    assert str(first.PatientName) == "Single"
    assert any(d.SOPClassUID.name == "Parametric Map Storage" for d in derived)


def test_population_aif_onset_is_fitted() -> None:
    late = phantom(shape=(2, 32, 32), n_phases=40, dt=4.0, injection_phase=5, arrival_delay=2.5)
    [acq] = classify_study(dce_study(late, "siemens"))
    fitted = quantify(acq)
    fixed = quantify(acq, {"fit_arrival": False})
    arrival = fitted.parameters["bolus_arrival_time"]
    assert arrival.source == "derived" and "fitted" in arrival.detail
    assert arrival.value == pytest.approx(late.times[4] + 2.5, abs=0.6)
    worst_fitted = max(abs(e) for errs in _errors(fitted, late).values() for e in errs.values())
    worst_fixed = max(abs(e) for errs in _errors(fixed, late).values() for e in errs.values())
    print(f"\nAIF 2.5 s late: worst median error {worst_fitted:.1%} with the onset fitted, {worst_fixed:.1%} without")
    assert worst_fitted < 0.05
    assert worst_fixed > 2 * worst_fitted
