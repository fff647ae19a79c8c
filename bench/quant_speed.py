"""Speed figures for the quantification engine (prints; not a test).

1. Single-delay 3D pCASL, 128×128×36, GE-shaped DICOM (PW + PD, 72 images) end to end:
   classify_study → quantify → build_derived_datasets (datasets in, derived datasets out).
2. Six-delay kinetic fit (CBF + ATT) on 64×64×12 (DRO set E, arrays in).

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


if __name__ == "__main__":
    single_delay()
    six_delay()
