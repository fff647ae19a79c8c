"""Speed of the DCE engine (prints; not a test): 256×256×20 voxels × 60 phases → maps.

The synthetic study: a body ellipse filling ~60 % of each slice, extended-Tofts tissue with 64
parameter combinations spread over the voxels, noise, three VFA volumes; arrays in
(``DceAcquisition.from_arrays``), so the figure is the engine's: VFA T1 fit, signal →
concentration, mask, model fit (extended Tofts), curve parameters, statistics. The derived DICOM
build (4 MR series, 4 Parametric Maps, a colour series) is timed apart. ``--dicom`` also times
classify + load of the same study as 1,260 in-memory single-frame MR instances.

Run: .venv/bin/python bench/dce_speed.py [--phases 60] [--slices 20] [--size 256] [--dicom]
Goal: ≤ 30 s for the maps on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quant import Geometry  # noqa: E402
from quant.dce import Aif, DceAcquisition, build_derived_datasets, forward, quantify, spgr_signal  # noqa: E402
from quant.params import Param  # noqa: E402


def synthetic(size: int, slices: int, phases: int, dt: float = 5.0) -> tuple[np.ndarray, list[np.ndarray], Geometry]:
    rng = np.random.default_rng(0)
    t = np.arange(phases) * dt
    aif = Aif("parker", onset=t[4] / 60, hematocrit=0.42)
    combos = np.array(
        [(kt, ve, vp) for kt in (0.02, 0.05, 0.1, 0.2) for ve in (0.1, 0.2, 0.3, 0.5) for vp in (0.0, 0.01, 0.03, 0.06)]
    )
    curves = forward("extended_tofts", t / 60, aif, combos[:, 0], combos[:, 1], combos[:, 2])  # (T, 64)
    yy, xx = np.mgrid[0:size, 0:size]
    body = ((yy - size / 2) / (0.45 * size)) ** 2 + ((xx - size / 2) / (0.4 * size)) ** 2 <= 1
    body3 = np.broadcast_to(body, (slices, size, size))
    which = rng.integers(0, combos.shape[0], (slices, size, size))
    conc = np.zeros((phases, slices, size, size), dtype=np.float32)
    conc[:, body3] = curves[:, which[body3]]
    t10, m0, tr, flip = 1.2, np.where(body3, 1000.0, 0.0), 0.004, 15.0
    signal = np.empty_like(conc)
    for k in range(phases):  # phase by phase keeps the temporaries small
        signal[k] = spgr_signal(m0, 1 / t10 + 5.0 * conc[k], tr, flip) + rng.normal(0, 2.0, m0.shape)
    vfa = [spgr_signal(m0, 1 / t10, tr, a) + rng.normal(0, 2.0, m0.shape) for a in (3.0, 8.0, 15.0)]
    geometry = Geometry(
        shape=(slices, size, size),
        pixel_spacing=(1.0, 1.0),
        slice_thickness=3.0,
        orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        positions=tuple((-128.0, -128.0, 3.0 * k) for k in range(slices)),
    )
    return signal, vfa, geometry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--slices", type=int, default=20)
    ap.add_argument("--phases", type=int, default=60)
    ap.add_argument("--dicom", action="store_true", help="also time classify + load from DICOM datasets")
    args = ap.parse_args()
    t0 = time.perf_counter()
    signal, vfa, geometry = synthetic(args.size, args.slices, args.phases)
    print(
        f"synthetic study {args.size}×{args.size}×{args.slices} × {args.phases} phases made in "
        f"{time.perf_counter() - t0:.1f} s (cores: {os.cpu_count()}, load {os.getloadavg()[0]:.1f})"
    )
    params = {
        "flip_angle": Param("flip_angle", 15.0, "deg", "tag", "FlipAngle"),
        "tr": Param("tr", 0.004, "s", "tag", "RepetitionTime"),
        "vfa_tr": Param("vfa_tr", 0.004, "s", "tag", "RepetitionTime"),
        "vfa_flip_angles": Param("vfa_flip_angles", [3.0, 8.0, 15.0], "deg", "tag", "FlipAngle"),
        "field_strength": Param("field_strength", 3.0, "T", "tag", "MagneticFieldStrength"),
    }
    acq = DceAcquisition.from_arrays(
        signal,
        geometry,
        params,
        phase_times=list(np.arange(args.phases) * 5.0),
        vfa=list(zip((3.0, 8.0, 15.0), vfa, strict=True)),
        vfa_tr=0.004,
    )
    t1 = time.perf_counter()
    result = quantify(acq)
    t_maps = time.perf_counter() - t1
    tim = result.timings
    print(
        f"maps (extended Tofts + curve parameters): {t_maps:.1f} s for {int(tim['voxels'])} fitted voxels "
        f"(load {tim['load_s']:.1f} s, T10/mask/AIF {tim['prepare_s']:.1f} s, fit {tim['fit_s']:.1f} s); "
        f"goal ≤ 30 s: {'yes' if t_maps <= 30 else 'no'}"
    )
    print(
        f"median Ktrans {result.statistics['mask']['maps']['ktrans']['median']:.3f} /min, "
        f"ve {result.statistics['mask']['maps']['ve']['median']:.3f}"
    )
    t2 = time.perf_counter()
    derived = build_derived_datasets(result, acq)
    print(f"derived DICOM: {len(derived)} datasets in {time.perf_counter() - t2:.1f} s")
    if args.dicom:
        from quant.dce import classify_study
        from tests.quant.dce.builders import mr_image

        t3 = time.perf_counter()
        uid = "1.2.826.0.1.3680043.8.498.1"
        datasets = []
        slope = float(signal.max()) / 60000.0
        for j in range(args.phases):
            attrs = {
                "StudyInstanceUID": uid + ".1",
                "SeriesInstanceUID": uid + ".2",
                "SeriesNumber": 10,
                "SeriesDescription": "DCE",
                "Manufacturer": "GE MEDICAL SYSTEMS",
                "ScanningSequence": "GR",
                "SequenceVariant": "SP",
                "ImageType": ["ORIGINAL", "PRIMARY"],
                "FlipAngle": 15.0,
                "RepetitionTime": 4.0,
                "EchoTime": 1.5,
                "TemporalPositionIdentifier": j + 1,
                "TriggerTime": j * 5000.0,
            }
            geometry_ff = Geometry(
                geometry.shape,
                geometry.pixel_spacing,
                geometry.slice_thickness,
                geometry.orientation,
                geometry.positions,
                uid + ".3",
            )
            for k in range(args.slices):
                datasets.append(mr_image(signal[j, k], geometry_ff, k, attrs, slope, j * args.slices + k + 1))
        t4 = time.perf_counter()
        (dicom_acq,) = classify_study(datasets)
        t5 = time.perf_counter()
        dicom_acq.signal()
        print(
            f"DICOM: {len(datasets)} instances built in {t4 - t3:.1f} s; classify {t5 - t4:.1f} s, "
            f"load all phases {time.perf_counter() - t5:.1f} s"
        )


if __name__ == "__main__":
    main()
