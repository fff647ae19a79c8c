"""Registration sanity on the real Siemens samples (no ground truth transform exists for them):
the template's brain brought into the subject's space must cover the subject's own brain mask
(Dice), clearly better than taking the scanner's coordinates as MNI, and the regions must land
on the right side and in the right place."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from quant import classify_study, quantify
from quant.regions import Volume
from quant.regions.registration import resample_to
from quant.regions.space import affine_of
from server.services.atlases import GREY_MATTER, default_atlas, package_dir
from tests.quant.conftest import read_series

SAMPLES = {
    "pcasl3d": ("siemens/pcasl3d/15_pcasl_3d",),
    "pcasl2d": ("siemens/pcasl2d/9_pcasl_2d", "siemens/pcasl2d/10_pcasl_2d_m0"),
}


@pytest.fixture(scope="module")
def atlas():
    return default_atlas().load()


@pytest.fixture(scope="module")
def template_brain(atlas) -> Volume:
    """Grey + white matter probability of the ICBM152 2009a template (nilearn's package data)."""
    wm = nib.load(package_dir("nilearn") / "datasets" / "data" / GREY_MATTER.replace("_gm_", "_wm_"))
    white = Volume.from_ras(np.asanyarray(wm.dataobj).astype(float) / 255.0, wm.affine)
    return Volume(atlas.grey_matter.array + white.array, atlas.grey_matter.affine)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def centroid(mask: np.ndarray, geometry) -> np.ndarray:  # type: ignore[no-untyped-def]
    idx = np.argwhere(mask)[:, ::-1].astype(float)  # (i, j, k)
    return (affine_of(geometry) @ np.c_[idx, np.ones(len(idx))].T).T[:, :3].mean(axis=0)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_registered_template_brain_covers_the_subjects_brain(name, atlas, template_brain) -> None:
    (acq,) = classify_study(read_series(*SAMPLES[name]))
    result = quantify(acq, regions=atlas)
    regions = result.regions
    assert regions is not None, result.warnings
    grid = Volume(np.zeros(acq.geometry.shape), affine_of(acq.geometry))
    registered = resample_to(template_brain, regions.transform, grid).array >= 0.5
    unregistered = resample_to(template_brain, sitk.Transform(), grid).array >= 0.5
    found, baseline = dice(registered, result.mask), dice(unregistered, result.mask)
    # Measured: 0.82 (3D) and 0.79 (2D) against 0.62 and 0.60 unregistered (bench/registration_choice.py).
    assert found >= 0.75 and found > baseline + 0.12, (found, baseline)
    # Anatomy in place: the left hemisphere on the patient's left (LPS +x), the cerebellum below
    # and behind the cerebrum, the frontal lobe in front of the occipital lobe.
    left, right = (centroid(regions.masks[f"hemisphere_{s}"], acq.geometry) for s in ("L", "R"))
    assert left[0] - right[0] > 40.0
    brain = centroid(regions.masks["hemisphere_L"] | regions.masks["hemisphere_R"], acq.geometry)
    if "cerebellum" in regions.masks:
        cerebellum = centroid(regions.masks["cerebellum"], acq.geometry)
        assert cerebellum[2] < brain[2] - 20.0 and cerebellum[1] > brain[1] + 20.0
    frontal = centroid(regions.masks["frontal_lobe_L"], acq.geometry)
    occipital = centroid(regions.masks["occipital_lobe_L"], acq.geometry)
    assert occipital[1] - frontal[1] > 60.0  # LPS +y is posterior
    # Grey-matter regions have more flow than the brain as a whole on real data too.
    assert regions.values["grey_matter"].cbf_mean > result.statistics["whole_brain"]["mean"]
