"""Registration library choice: SimpleITK (ours) beside ANTsPy (antspyx) on the real samples.

For each real ASL sample in shared/data that the engine quantifies without entered
parameters (Siemens 3D pCASL, 2D pCASL; the 3D PASL has no usable M0) the engine's
M0 image and brain mask are registered to the MNI ICBM152 2009a template (nilearn's package
data) with an affine (12 dof) transform by both libraries. The template's brain (grey + white
matter probability ≥ 0.5) is then brought into the subject's grid and compared with the
subject's own brain mask (Dice). "identity" is the same comparison with no registration (the
scanner's patient coordinates taken as MNI), the baseline any registration must beat.

A deformable stage is timed on a 1 mm whole-head T1 (the template moved by a known rigid
motion, then warped by a smooth field): SimpleITK demons on a 4 mm field (ours) beside ANTs SyN.

antspyx is not a Cirrus dependency: give an interpreter that has it (``--ants-python``, e.g. a
scratch venv with ``pip install antspyx``); without it only our figures are printed.

Run: .venv/bin/python bench/registration_choice.py [--ants-python /tmp/antsvenv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import quant  # noqa: E402
from quant.regions.registration import register_to_template, resample_to  # noqa: E402
from quant.regions.space import RAS_TO_LPS, Volume, from_sitk, to_sitk  # noqa: E402
from server.services.atlases import GREY_MATTER, TEMPLATE, default_atlas, package_dir  # noqa: E402

SAMPLES = {
    "Siemens 3D pCASL": ("siemens/pcasl3d/15_pcasl_3d",),
    "Siemens 2D pCASL": ("siemens/pcasl2d/9_pcasl_2d", "siemens/pcasl2d/10_pcasl_2d_m0"),
}
ASL = ROOT.parent / "shared" / "data" / "asl"

# Run by the ANTs interpreter: affine (and SyN) registration, the template brain warped onto the
# subject's grid; times in seconds as JSON on stdout.
ANTS_SCRIPT = r"""
import json, sys, time
import ants
fixed_path, moving_path, brain_path, out_path, kind = sys.argv[1:6]
fixed = ants.image_read(fixed_path)
moving = ants.image_read(moving_path)
t = time.perf_counter()
reg = ants.registration(fixed=fixed, moving=moving, type_of_transform=kind, mask=ants.get_mask(fixed, 1e-6))
seconds = time.perf_counter() - t
brain = ants.image_read(brain_path)
warped = ants.apply_transforms(fixed=fixed, moving=brain, transformlist=reg["fwdtransforms"], interpolator="linear")
ants.image_write(warped, out_path)
print(json.dumps({"seconds": seconds}))
"""


def to_nifti(volume: Volume, path: Path) -> None:
    nib.save(nib.Nifti1Image(volume.array.transpose(2, 1, 0).astype(np.float32), RAS_TO_LPS @ volume.affine), path)


def from_nifti(path: Path) -> Volume:
    img = nib.load(path)
    return Volume.from_ras(np.asanyarray(img.dataobj), img.affine)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(1, a.sum() + b.sum()))


def subject(folders: tuple[str, ...]) -> tuple[Volume, np.ndarray]:
    datasets = [pydicom.dcmread(f) for folder in folders for f in sorted((ASL / folder).glob("*.dcm"))]
    (acq,) = quant.classify_study(datasets)
    result = quant.quantify(acq)
    return Volume.from_geometry(result.m0, acq.geometry), result.mask


def run_ants(python: str, fixed: Path, moving: Path, brain: Path, out: Path, kind: str) -> float:
    done = subprocess.run([python, "-c", ANTS_SCRIPT, str(fixed), str(moving), str(brain), str(out), kind],
                          capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ants-python", help="an interpreter with antspyx installed")
    args = p.parse_args()
    atlas = default_atlas().load()
    data = package_dir("nilearn") / "datasets" / "data"
    wm = from_nifti(data / GREY_MATTER.replace("_gm_", "_wm_"))
    brain = Volume(atlas.grey_matter.array + wm.array / 255.0, atlas.grey_matter.affine)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        to_nifti(brain, work / "brain.nii.gz")
        print("affine registration of the M0 image to MNI ICBM152 2009a; Dice of the template brain vs the subject's")
        for name, folders in SAMPLES.items():
            m0, mask = subject(folders)
            identity = resample_to(brain, sitk.Transform(), m0).array >= 0.5
            t = time.perf_counter()
            reg = register_to_template(m0, atlas.template, subject_mask=mask)
            ours_s = time.perf_counter() - t
            ours = resample_to(brain, reg.transform, m0).array >= 0.5
            line = (f"  {name:17s} {m0.shape}: identity Dice {dice(identity, mask):.3f}; SimpleITK {ours_s:5.2f} s "
                    f"Dice {dice(ours, mask):.3f}")
            if args.ants_python:
                to_nifti(Volume(m0.array * mask, m0.affine), work / "fixed.nii.gz")
                s = run_ants(args.ants_python, work / "fixed.nii.gz", data / TEMPLATE, work / "brain.nii.gz",
                             work / "warped.nii.gz", "Affine")
                theirs = from_nifti(work / "warped.nii.gz").array >= 0.5
                line += f"; ANTsPy Affine {s:5.2f} s Dice {dice(theirs, mask):.3f}"
            print(line, flush=True)
        deformable(atlas, work, args.ants_python)


def deformable(atlas, work: Path, ants_python: str | None) -> None:  # type: ignore[no-untyped-def]
    """1 mm T1: the template rigidly moved and smoothly warped; the whole registration timed."""

    tpl = to_sitk(atlas.template)
    rng = np.random.default_rng(3)
    coarse = sitk.Image([8, 8, 8], sitk.sitkVectorFloat64, 3)
    coarse.SetSpacing([s * n / 8 for s, n in zip(tpl.GetSpacing(), tpl.GetSize(), strict=True)])
    coarse.SetOrigin(tpl.GetOrigin())
    coarse.SetDirection(tpl.GetDirection())
    field = sitk.GetImageFromArray(rng.normal(0, 2.0, (8, 8, 8, 3)), isVector=True)
    field.CopyInformation(coarse)
    field = sitk.Resample(field, tpl, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkVectorFloat64)
    warp = sitk.DisplacementFieldTransform(field)
    rigid = sitk.Euler3DTransform((0.0, -20.0, 10.0), 0.08, -0.05, 0.1, (5.0, -8.0, 4.0))
    moved = from_sitk(sitk.Resample(tpl, tpl, sitk.CompositeTransform([rigid, warp]), sitk.sitkLinear, 0.0))
    t = time.perf_counter()
    reg = register_to_template(moved, atlas.template, deformable=True)
    ours_s = time.perf_counter() - t
    labels = atlas.labels
    truth = resample_to(labels, sitk.CompositeTransform([rigid, warp]), moved, order=0).array
    ours = resample_to(labels, reg.transform, moved, order=0).array
    line = (f"deformable, 1 mm T1 {moved.shape}: SimpleITK rigid+affine+demons {ours_s:.2f} s, "
            f"mean AAL3 label Dice {label_dice(truth, ours):.3f}")
    if ants_python:
        to_nifti(moved, work / "t1.nii.gz")
        to_nifti(labels, work / "labels.nii.gz")
        s = run_ants_labels(ants_python, work, "SyN")
        theirs = from_nifti(work / "warped.nii.gz").array
        line += f"; ANTsPy SyN {s:.2f} s, Dice {label_dice(truth, np.rint(theirs)):.3f}"
    print(line, flush=True)


def run_ants_labels(python: str, work: Path, kind: str) -> float:
    script = ANTS_SCRIPT.replace('interpolator="linear"', 'interpolator="nearestNeighbor"').replace(
        "mask=ants.get_mask(fixed, 1e-6)", "")
    data = package_dir("nilearn") / "datasets" / "data"
    done = subprocess.run([python, "-c", script, str(work / "t1.nii.gz"), str(data / TEMPLATE),
                           str(work / "labels.nii.gz"), str(work / "warped.nii.gz"), kind],
                          capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def label_dice(truth: np.ndarray, found: np.ndarray) -> float:
    values = [v for v in np.unique(truth) if v > 0]
    return float(np.mean([dice(truth == v, found == v) for v in values]))


if __name__ == "__main__":
    main()
