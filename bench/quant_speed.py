"""Speed figures for the quantification engine (prints; not a test).

1. Single-delay 3D pCASL, 128×128×36, GE-shaped DICOM (PW + PD, 72 images) end to end:
   classify_study → quantify → build_derived_datasets (datasets in, derived datasets out).
2. Six-delay kinetic fit (CBF + ATT) on 64×64×12 (DRO set E, arrays in).
3. Regional analysis on a brain-shaped single-delay 3D pCASL (128×128×36, GE-shaped DICOM made
   from the MNI template): classify → quantify with the atlas → derived DICOM (maps, SEG, SR)
   → report figures and the PDF with the panel pages; once registered through the M0 image, once through a 1 mm T1.

Run: .venv/bin/python bench/quant_speed.py
"""

from __future__ import annotations

import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import quant  # noqa: E402
from server.commands.quant_inputs import acquisition_from_bids  # noqa: E402
from tests.quant.builders import ge_series  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "asl" / "dro"


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def single_delay() -> None:
    rng = np.random.default_rng(0)
    shape = (36, 128, 128)
    zz, yy, xx = np.meshgrid(*(np.linspace(-1, 1, s) for s in shape), indexing="ij")
    head = (zz**2 + yy**2 + xx**2) < 0.8
    m0 = np.where(head, 1000.0, 0.0) + rng.normal(0, 5, shape)
    dm = np.where(head, 8.0, 0.0) + rng.normal(0, 1, shape)
    geometry = quant.Geometry(
        shape=shape,
        pixel_spacing=(1.875, 1.875),
        slice_thickness=4.0,
        orientation=(1, 0, 0, 0, 1, 0),
        positions=tuple((-120.0, -120.0, -70.0 + 4.0 * k) for k in range(36)),
    )
    datasets = ge_series(dm, m0, geometry)

    def run() -> None:
        (acq,) = quant.classify_study(datasets)
        result = quant.quantify(acq)
        quant.build_derived_datasets(result, acq)

    t = best_of(3, run)
    print(f"single-delay 3D pCASL 128x128x36 (72 GE images) end to end: {t:.2f} s (target < 2 s)")


def six_delay() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(next(SHARED.glob("dro_E_*.zip"))) as zf:
            zf.extractall(tmp)
        acq = acquisition_from_bids(sorted((Path(tmp) / "asl").glob("*_asl.nii.gz")))
        t = best_of(3, lambda: quant.quantify(acq, model="kinetic"))
        t_wd = best_of(3, lambda: quant.quantify(acq, model="weighted_delay"))
        n = int(quant.quantify(acq).mask.sum())
        everything = np.ones(acq.geometry.shape, dtype=bool)
        t_all = best_of(1, lambda: quant.quantify(acq, {"mask": everything}, model="kinetic"))
    print(
        f"six-delay kinetic fit 64x64x12 ({n} brain voxels): {t:.2f} s (target < 5 s); "
        f"all 49152 voxels: {t_all:.2f} s; weighted-delay: {t_wd:.2f} s"
    )


def _brain_series():
    import SimpleITK as sitk

    from quant.regions.space import Volume, affine_of, to_sitk
    from server.services.atlases import default_atlas

    atlas = default_atlas().load()
    shape = (36, 128, 128)
    geometry = quant.Geometry(
        shape=shape,
        pixel_spacing=(1.875, 1.875),
        slice_thickness=4.0,
        orientation=(1, 0, 0, 0, 1, 0),
        positions=tuple((-119.0, -140.0, -60.0 + 4.0 * k) for k in range(36)),
    )
    grid = to_sitk(Volume(np.zeros(shape), affine_of(geometry)))
    moved = sitk.Euler3DTransform((0.0, 0.0, 0.0), 0.05, -0.03, 0.08, (4.0, -6.0, 3.0))

    def sample(v: Volume) -> np.ndarray:
        return sitk.GetArrayFromImage(sitk.Resample(to_sitk(v), grid, moved, sitk.sitkLinear, 0.0)).astype(float)

    rng = np.random.default_rng(0)
    t1w, gm = sample(atlas.template), sample(atlas.grey_matter)
    m0 = 10.0 * t1w + rng.normal(0, 5, shape)
    dm = np.where(t1w > 20, 2.0 + 10.0 * gm, 0.0) + rng.normal(0, 0.5, shape)
    from tests.quant.builders import ge_series

    anatomy = Volume(atlas.template.array, atlas.template.affine)
    return atlas, ge_series(dm, m0, geometry), anatomy


def regional() -> None:
    from server.db.analysis import AnalysisJob
    from server.workflow import quant_bridge, reports

    atlas, datasets, anatomy = _brain_series()
    for label, t1 in (("through M0", None), ("through T1 (1 mm, 197x233x189)", anatomy)):
        t = time.perf_counter()
        (acq,) = quant.classify_study(datasets)
        result = quant.quantify(acq, regions=atlas, anatomy=t1)
        t_quant = time.perf_counter() - t
        derived = quant.build_derived_datasets(result, acq)
        t_derived = time.perf_counter() - t - t_quant
        if result.regions is None:
            raise SystemExit(f"regional analysis failed: {result.warnings}")
        # The report as the worker makes it: every figure (CBF slices, plot, 3 panels × bars and
        # outlined maps), then the PDF with the panel pages.
        statistics = quant_bridge.jsonable(result.as_dict()["statistics"]) | {
            "regions": quant_bridge.jsonable(result.regions.as_dict())}
        csv_text = quant.statistics_csv(result)
        figures = reports.render_figures(result.cbf, statistics, csv_text, result.regions)
        t_figures = time.perf_counter() - t - t_quant - t_derived
        job = AnalysisJob(study_instance_uid="1.2.3", acquisition_key="k", label="bench", patient_name="BENCH",
                          version=1, statistics=statistics, provenance={}, regional_csv=csv_text)
        pdf = reports.build_pdf(job, figures, "en")
        total = time.perf_counter() - t
        reg = result.regions.registration
        print(
            f"single-delay 3D pCASL 128x128x36 with regions {label}: {total:.2f} s "
            f"(registration {reg['seconds']:.2f} s [{', '.join(reg['stages'])}], regions "
            f"{result.timings['regions_s']:.2f} s, quantify total {t_quant:.2f} s, derived {len(derived)} objects "
            f"incl. SEG+SR {t_derived:.2f} s, {len(figures)} figures {t_figures:.2f} s, PDF {len(pdf) // 1024} KiB "
            f"{total - t_quant - t_derived - t_figures:.2f} s; target {'30' if t1 is not None else '10'} s)"
        )


if __name__ == "__main__":
    single_delay()
    six_delay()
    regional()
