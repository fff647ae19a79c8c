"""Regional analysis: atlas regions brought into ASL space, their values, panels and asymmetry.

Ground truth comes from the OSIPI DRO: its anatomy is MNI ICBM152 2009a, the template's own
space, so the true subject → template transform is known (identity, or the head motion a
test applies). Tissue-specific regional truth: set D's noise-free ΔM (tissue T1 = blood T1, so
the consensus formula recovers CBF everywhere up to a uniform ~1.5 % T1' offset) scaled
voxel by voxel by set B's tissue-specific CBF map — ΔM is proportional to CBF.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from quant import AslAcquisition, quantify
from quant.regions import REGIONS, Volume, analyse_regions, asymmetry_index
from quant.regions.definitions import PANELS, TERRITORIES
from quant.regions.registration import register_to_template
from quant.regions.space import affine_of
from server.commands.quant_inputs import acquisition_from_bids
from server.services.atlases import default_atlas
from tests.quant.conftest import asl_niftis, truth


@pytest.fixture(scope="session")
def atlas():
    return default_atlas().load()


def rotation(deg_z: float, deg_x: float, shift: tuple[float, float, float]) -> np.ndarray:
    a, b = np.radians(deg_z), np.radians(deg_x)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    m = np.eye(4)
    m[:3, :3] = rz @ rx
    m[:3, 3] = shift
    return m


def scaled_acquisition(d_dir: Path, cbf: np.ndarray, left_gain: float = 1.0) -> AslAcquisition:
    """Set D with ΔM scaled to ``cbf``/60 (and by ``left_gain`` on the patient's left)."""
    acq = acquisition_from_bids(asl_niftis(d_dir))
    scale = cbf / 60.0
    if left_gain != 1.0:
        x = acq.geometry.voxel_x_lps()
        scale = np.where(x > 0, scale * left_gain, scale)  # LPS: +x is the patient's left
    volumes = [[v.kind, v.delay_index, v.loader()] for v in acq.volumes]
    controls = [v for v in volumes if v[0] == "control"]
    labels = [v for v in volumes if v[0] == "label"]
    for c, lab in zip(controls, labels, strict=True):
        lab[2] = c[2] - (c[2] - lab[2]) * scale
    return AslAcquisition.from_arrays(
        [tuple(v) for v in volumes], acq.parameters, acq.geometry, labeling_type=acq.labeling_type,
        readout=acq.readout,
    )


@pytest.fixture(scope="session")
def tissue_specific(dro_dir, atlas):
    """(acquisition, result with regions registered through M0, true CBF map)."""
    true_cbf = truth(dro_dir("B"), "perfusion_rate")
    acq = scaled_acquisition(dro_dir("D"), true_cbf)
    result = quantify(acq, model="consensus", regions=atlas)
    return acq, result, true_cbf


def test_every_region_label_is_in_the_packaged_atlas(atlas) -> None:
    names = set(atlas.label_names.values())
    for region in REGIONS.values():
        assert region.labels <= names, (region.key, sorted(region.labels - names))
    assert atlas.template.shape == (189, 233, 197)
    assert 0.0 <= atlas.grey_matter.array.min() and atlas.grey_matter.array.max() <= 1.0


def test_territories_split_the_cerebrum_without_overlap() -> None:
    for side in ("L", "R"):
        sets = [REGIONS[f"{t}_{side}"].labels for t in TERRITORIES]
        for i in range(len(sets)):
            for j in range(i + 1, len(sets)):
                assert not sets[i] & sets[j]
        cortical = set().union(*(r.labels for r in REGIONS.values() if r.side == side and r.group == "cortical"))
        assert cortical <= set().union(*sets)  # every cortical label has an artery
        assert not REGIONS[f"amygdala_{side}"].labels & set().union(*sets)  # anterior choroidal: none of the three
    for panel in PANELS.values():
        assert panel.sources
        for base in panel.bases:
            assert f"{base}_L" in REGIONS and f"{base}_R" in REGIONS, base


def test_m0_registration_recovers_a_known_head_position(dro_dir, atlas) -> None:
    m0 = truth(dro_dir("B"), "m0")
    acq = acquisition_from_bids(asl_niftis(dro_dir("B")))
    brain = m0 > 0.5 * m0[m0 > 0].mean()
    moved = rotation(-15.0, 10.0, (-10.0, 12.0, -8.0))  # subject (LPS) = moved @ template (LPS)
    subject = Volume(m0, moved @ affine_of(acq.geometry))
    # The engine's brain mask, dilated by a voxel, as analyse_regions passes it.
    reg = register_to_template(subject, atlas.template, subject_mask=ndimage.binary_dilation(brain))
    idx = np.argwhere(brain)[:, ::-1][::5]
    points = (subject.affine @ np.c_[idx, np.ones(len(idx))].T).T[:, :3]
    expected = (np.linalg.inv(moved) @ np.c_[points, np.ones(len(points))].T).T[:, :3]
    found = np.array([reg.transform.TransformPoint([float(v) for v in p]) for p in points])
    error = np.linalg.norm(found - expected, axis=1)
    assert error.mean() < 1.5 and np.percentile(error, 95) < 2.5, (error.mean(), np.percentile(error, 95))
    assert reg.stages == ["rigid", "affine"]


def test_regional_cbf_matches_tissue_specific_truth_within_5_percent(tissue_specific) -> None:
    _, result, true_cbf = tissue_specific
    regions = result.regions
    assert regions is not None and regions.registration["input"] == "M0"
    assert len(regions.values) > 90
    expected = {}
    for key, value in regions.values.items():
        expected[key] = float(true_cbf[regions.masks[key]].mean())
        assert value.cbf_mean == pytest.approx(expected[key], rel=0.05), key
    # Tissue-specific: the regions' true values differ (grey/white mix), so a uniform map would fail.
    assert max(expected.values()) > 1.4 * min(expected.values())


def test_relative_cbf_and_its_reference(tissue_specific, atlas) -> None:
    acq, result, _ = tissue_specific
    regions = result.regions
    cerebellum = regions.values["cerebellum"]
    assert regions.reference == "cerebellum" and cerebellum.relative == pytest.approx(1.0)
    precuneus = regions.values["precuneus_L"]
    assert precuneus.relative == pytest.approx(precuneus.cbf_mean / cerebellum.cbf_mean)
    grey_result = quantify(acq, {"region_reference": "grey_matter"}, model="consensus", regions=atlas)
    grey = grey_result.regions
    assert grey.reference == "grey_matter"
    assert grey.values["grey_matter"].relative == pytest.approx(1.0)
    assert grey.values["precuneus_L"].relative != pytest.approx(precuneus.relative)
    assert result.parameters.get("region_reference") is None
    assert grey_result.parameters["region_reference"].source == "user"  # provenance in the report


def test_left_right_asymmetry_has_the_patient_side(dro_dir, atlas) -> None:
    # 20 % more flow on the patient's left (LPS +x): a left-sided AI of about +18 %
    # (200·0.2/2.2), less where a midline region's voxels straddle x = 0.
    true_cbf = truth(dro_dir("B"), "perfusion_rate")
    acq = scaled_acquisition(dro_dir("D"), true_cbf, left_gain=1.2)
    result = quantify(acq, model="consensus")
    regions = analyse_regions(result.cbf, result.mask, acq.geometry, result.m0, atlas, transform=sitk.Transform())
    gained = np.where(acq.geometry.voxel_x_lps() > 0, true_cbf * 1.2, true_cbf)
    rows = {row.base: row for row in regions.panels["cerebrovascular"]}
    for base in ("aca_territory", "mca_territory", "pca_territory", "thalamus", "cerebellum", "hemisphere"):
        left, right = (float(gained[regions.masks[f"{base}_{s}"]].mean()) for s in ("L", "R"))
        found = asymmetry_index(regions.values[f"{base}_L"].cbf_mean, regions.values[f"{base}_R"].cbf_mean)
        assert found == pytest.approx(asymmetry_index(left, right), abs=1.0), base
        assert found > 10.0, base
        if base in rows:
            assert rows[base].asymmetry == pytest.approx(found)
    assert "asymmetry_index_percent" in regions.panel_csv("cerebrovascular").splitlines()[0]


def test_multidelay_att_per_territory(dro_dir, atlas) -> None:
    result = quantify(acquisition_from_bids(asl_niftis(dro_dir("E"))), regions=atlas)
    regions = result.regions
    assert regions.has_att
    for base in ("aca_territory", "mca_territory", "pca_territory"):
        for side in ("L", "R"):
            value = regions.values[f"{base}_{side}"]
            assert value.att_mean == pytest.approx(1.2, rel=0.05)
            assert value.cbf_mean == pytest.approx(60.0, rel=0.05)
    header = regions.panel_csv("cerebrovascular").splitlines()[0]
    assert header.endswith("att_left_s,att_right_s")
    assert "att_left_s" not in regions.panel_csv("alzheimers")


def test_t1_path_places_the_regions_like_the_true_transform(dro_dir, atlas) -> None:
    """A T1 (the template itself, as the patient lies in the scanner) steers the registration."""
    acq = scaled_acquisition(dro_dir("D"), truth(dro_dir("B"), "perfusion_rate"))
    result = quantify(acq, model="consensus")
    moved = rotation(8.0, -6.0, (5.0, -7.0, 4.0))
    geometry_affine = moved @ affine_of(acq.geometry)
    t1 = Volume(atlas.template.array, moved @ atlas.template.affine)
    # The ASL images move with the head: the same motion applied to their grid.
    from quant.acquisition import Geometry

    o = geometry_affine[:3, :3] / np.linalg.norm(geometry_affine[:3, :3], axis=0)
    nz = acq.geometry.shape[0]
    geometry = Geometry(
        shape=acq.geometry.shape,
        pixel_spacing=acq.geometry.pixel_spacing,
        slice_thickness=acq.geometry.slice_thickness,
        orientation=tuple(float(v) for v in np.concatenate([o[:, 0], o[:, 1]])),  # type: ignore[arg-type]
        positions=tuple(
            tuple(float(v) for v in geometry_affine[:3, 3] + k * geometry_affine[:3, 2]) for k in range(nz)
        ),
    )
    via_t1 = analyse_regions(result.cbf, result.mask, geometry, result.m0, atlas, anatomy=t1)
    assert via_t1.registration["input"] == "T1"
    assert any("demons" in s for s in via_t1.registration["stages"])
    reference = analyse_regions(
        result.cbf, result.mask, geometry, result.m0, atlas, transform=_affine_transform(np.linalg.inv(moved))
    )
    labelled = (reference.label_map > 0) | (via_t1.label_map > 0)
    agreement = float(np.mean(reference.label_map[labelled] == via_t1.label_map[labelled]))
    assert agreement > 0.75, agreement
    for key in ("frontal_lobe_L", "occipital_lobe_R", "cerebellum"):
        assert via_t1.values[key].cbf_mean == pytest.approx(reference.values[key].cbf_mean, rel=0.05), key


def _affine_transform(matrix: np.ndarray) -> sitk.Transform:
    t = sitk.AffineTransform(3)
    t.SetMatrix([float(v) for v in matrix[:3, :3].ravel()])
    t.SetTranslation([float(v) for v in matrix[:3, 3]])
    return t


def test_regional_analysis_failure_keeps_the_maps(dro_dir, atlas) -> None:
    acq = acquisition_from_bids(asl_niftis(dro_dir("D")))
    empty = atlas.__class__(
        name="blank", template=Volume(np.zeros((20, 20, 20)), np.eye(4)), grey_matter=atlas.grey_matter,
        labels=atlas.labels, label_names=atlas.label_names,
    )
    result = quantify(acq, model="consensus", regions=empty)
    assert result.regions is None
    assert any("regional analysis failed" in w for w in result.warnings)
    assert result.statistics["whole_brain"]["mean"] == pytest.approx(59, rel=0.03)
