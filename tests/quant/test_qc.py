"""QC in every result: implausible CBF, swapped control/label, motion and temporal SNR, with numbers."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from quant import AslAcquisition, Param, build_derived_datasets, classify_study, quantify
from server.commands.quant_inputs import acquisition_from_bids
from tests.quant.builders import ge_series, head, small_geometry
from tests.quant.conftest import asl_niftis, read_series

PCASL = {
    "labeling_type": Param("labeling_type", "pcasl", "", "tag", "test"),
    "pld": Param("pld", [1.8], "s", "tag", "test"),
    "labeling_duration": Param("labeling_duration", 1.8, "s", "tag", "test"),
}


def codes(result) -> set[str]:
    return {f.code for f in result.qc.flags}


def synthetic(n_pairs: int, *, shift_at: int | None = None, shift_voxels: int = 0, noise: float = 0.0, seed: int = 0):
    """Control/label pairs of a uniform head: ΔM = 0.6 % of M0 (CBF ≈ 52 with these parameters)."""
    g = small_geometry(nz=6, ny=32, nx=32, spacing=2.5)
    brain = head(g.shape, 0.7)
    m0 = np.where(brain, 1000.0, 0.0)
    rng = np.random.default_rng(seed)
    volumes = [("m0", 0, m0)]
    for i in range(n_pairs):
        c = m0 + noise * rng.standard_normal(g.shape)
        lab = m0 * 0.994 + noise * rng.standard_normal(g.shape)
        if shift_at is not None and i >= shift_at:
            c, lab = (np.roll(v, shift_voxels, axis=2) for v in (c, lab))
        volumes += [("control", 0, c), ("label", 0, lab)]
    return AslAcquisition.from_arrays(volumes, PCASL, g), g


def test_good_data_passes_with_numbers() -> None:
    acq, _ = synthetic(6)
    result = quantify(acq, model="consensus")
    qc = result.qc
    assert qc is not None and qc.status == "pass" and not [f for f in qc.flags if f.severity != "info"]
    m = qc.measures
    assert 40 < m["whole_brain_cbf"] < 80 and m["delta_m_negative_fraction"] == 0.0
    assert m["delta_m_percent_of_m0"] == pytest.approx(0.6, rel=0.05)
    assert (m["n_volumes"], m["n_pairs"]) == (12, 6) and m["motion_max_mm"] == pytest.approx(0.0, abs=1e-6)
    # The same numbers in the statistics JSON the server stores, and in as_dict().
    assert result.statistics["qc"] == qc.as_dict() == result.as_dict()["qc"]
    json.dumps(result.as_dict())


def test_swapped_control_and_label_fail() -> None:
    acq, _ = synthetic(4)
    swap = {"control": "label", "label": "control", "m0": "m0"}
    swapped = dataclasses.replace(acq, volumes=[dataclasses.replace(v, kind=swap[v.kind]) for v in acq.volumes])
    result = quantify(swapped, model="consensus")
    assert result.qc.status == "fail"
    assert {"control_label_swapped", "cbf_negative"} <= codes(result)
    flag = next(f for f in result.qc.flags if f.code == "control_label_swapped")
    assert flag.values["negative_fraction"] == 1.0
    assert flag.values["delta_m_percent_of_m0"] == pytest.approx(-0.6, rel=0.05)
    assert any(w.startswith("QC fail: ΔM is negative in 100% of the brain") for w in result.warnings)


def test_motion_between_pairs_is_measured_in_mm() -> None:
    # From pair 4 of 6 on, the head moved 2 voxels (5 mm) along the rows.
    acq, _ = synthetic(6, shift_at=4, shift_voxels=2)
    result = quantify(acq, model="consensus")
    m = result.qc.measures
    assert m["motion_max_mm"] == pytest.approx(5.0, rel=0.05)
    assert m["motion_mean_fd_mm"] == pytest.approx(5.0 / 11, rel=0.05)  # one 5 mm jump in 11 steps
    flag = next(f for f in result.qc.flags if f.code == "motion")
    assert flag.severity == "warning" and "peak displacement 5.0 mm" in flag.message
    still = quantify(synthetic(6)[0], model="consensus")
    assert "motion" not in codes(still)


def test_temporal_snr_matches_the_noise() -> None:
    # ΔM = 6 per voxel and pair; noise σ = 3 on control and on label: voxel tSNR = 6 / (3·√2).
    acq, g = synthetic(40, noise=3.0)
    result = quantify(acq, model="consensus")
    m = result.qc.measures
    assert m["tsnr_voxel_median"] == pytest.approx(6 / (3 * np.sqrt(2)), rel=0.15)
    n_brain = int(head(g.shape, 0.7).sum())
    # The brain mean averages the noise over the voxels: far higher, and not flagged.
    assert m["tsnr_global"] > 0.5 * 6 / (3 * np.sqrt(2) / np.sqrt(n_brain))
    assert "tsnr_low" not in codes(result)
    noisy = quantify(synthetic(40, noise=2000.0)[0], model="consensus")
    assert "tsnr_low" in codes(noisy) and noisy.qc.measures["tsnr_global"] < 2


def test_too_few_pairs_is_said_not_hidden() -> None:
    result = quantify(synthetic(2)[0], model="consensus")
    assert "tsnr_not_assessed" in codes(result) and result.qc.measures["tsnr_global"] is None
    g = small_geometry()
    brain = head(g.shape)
    (ge,) = classify_study(ge_series(np.where(brain, 5.0, 0.0), np.where(brain, 1000.0, 0.0), g))
    only_dm = quantify(ge)
    assert 15 < only_dm.statistics["whole_brain"]["mean"] < 100
    assert {"motion_not_assessed", "tsnr_not_assessed"} <= codes(only_dm)
    assert only_dm.qc.status == "pass"


@pytest.mark.parametrize(("scale", "code", "status"), [
    (0.0, "cbf_absent", "fail"), (0.15, "cbf_low", "warning"), (2.0, "cbf_high", "warning"),
    (4.0, "cbf_implausible_high", "fail"),
])
def test_cbf_range(scale: float, code: str, status: str) -> None:
    acq, g = synthetic(3)
    m0 = next(v for v in acq.volumes if v.kind == "m0").loader()
    vols = [("m0", 0, m0)]
    for _ in range(3):
        vols += [("control", 0, m0), ("label", 0, m0 - 0.006 * scale * m0)]
    result = quantify(AslAcquisition.from_arrays(vols, PCASL, g), model="consensus")
    assert code in codes(result) and result.qc.status == status
    flag = next(f for f in result.qc.flags if f.code == code)
    assert flag.values["whole_brain_cbf"] == pytest.approx(result.statistics["whole_brain"]["mean"])


def test_dro_passes(dro_dir) -> None:
    result = quantify(acquisition_from_bids(asl_niftis(dro_dir("D"))), model="consensus")
    assert result.qc.status == "pass"


def test_real_samples_qc() -> None:
    (pcasl,) = classify_study(read_series("siemens/pcasl3d/15_pcasl_3d"))
    good = quantify(pcasl)
    assert good.qc.status == "pass" and 3 < good.qc.measures["tsnr_global"] < 30
    assert good.qc.measures["motion_max_mm"] < 1.0
    # The Philips phantom has no flow: its CBF is reported with a failed QC, never as normal.
    (phantom,) = classify_study(read_series("philips/202_SOURCE_-_pCASL"))
    result = quantify(phantom, {"pld": [1.8], "labeling_duration": 1.8})
    assert result.qc.status == "fail" and {"cbf_absent", "tsnr_low"} <= codes(result)
    derived = build_derived_datasets(result, phantom)
    cbf = [d for d in derived if str(d.SeriesDescription).startswith("CBF (")]
    assert cbf and all(str(d.ImageComments).startswith("QC fail: whole-brain CBF 0.7") for d in cbf)
    assert "low temporal SNR of ΔM" in cbf[0].ImageComments and cbf[0].SpecificCharacterSet == "ISO_IR 192"
    assert "ImageComments" not in build_derived_datasets(good, pcasl)[0]
