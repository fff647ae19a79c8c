"""``cirrus quant``: quantify ASL from DICOM files/folders/ZIPs or a BIDS ASL NIfTI.

Writes the derived DICOM files (CBF/ATT MR series, Parametric Map, colour Secondary Capture,
and — unless ``--no-regions`` — a SEG of the atlas regions with a TID 1500 SR of their values)
under ``--out``, ``results.json`` with parameters and their provenance, statistics and
timings, and ``regions.csv`` plus one ``panel_<name>.csv`` per disease panel.
Exits 2 with a message naming the problem when the input cannot be quantified.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import quant
from server.commands.quant_inputs import acquisition_from_bids, load_volume_zyx, read_inputs
from server.services.atlases import default_atlas

EXIT_UNUSABLE = 2


def register(sub: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("quant", help=help_text)
    p.add_argument("paths", nargs="+", type=Path, help="DICOM files, folders, ZIPs, or BIDS *_asl.nii.gz")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--pld", type=float, nargs="+", help="post-labeling delay(s) in seconds")
    p.add_argument("--labeling-duration", type=float, help="labeling duration in seconds (pCASL)")
    p.add_argument("--labeling-type", choices=["pcasl", "pasl", "casl"])
    p.add_argument("--ti", type=float, nargs="+", help="PASL inversion time(s) TI in seconds")
    p.add_argument("--ti1", type=float, help="PASL bolus duration TI1 in seconds")
    p.add_argument(
        "--model", choices=["auto", "consensus", "ge", "kinetic", "weighted_delay"], default="auto"
    )
    p.add_argument("--t1-map", type=Path, help="tissue T1 map (NIfTI, seconds) for the kinetic model")
    p.add_argument("--att-map", type=Path, help="transit-time map (NIfTI, s) for single-delay kinetic")
    p.add_argument(
        "--no-regions", dest="regions", action="store_false",
        help="skip the atlas regions and disease panels (registration to MNI space)",
    )
    p.add_argument(
        "--reference", choices=["cerebellum", "grey_matter"], help="reference region of relative CBF"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other override from quant.params (value parsed as JSON)",
    )
    p.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.pld:
        out["pld"] = args.pld
    for name in ("labeling_duration", "labeling_type", "ti1"):
        if getattr(args, name) is not None:
            out[name] = getattr(args, name)
    if args.ti:
        out["ti"] = args.ti
    if args.t1_map:
        out["t1_tissue_map"] = load_volume_zyx(args.t1_map)
    if args.att_map:
        out["att"] = load_volume_zyx(args.att_map)
    if getattr(args, "reference", None):
        out["region_reference"] = args.reference
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects NAME=VALUE, got {item!r}")
        try:
            out[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[name.strip()] = value
    return out


def _write(derived: list[Any], out: Path, index: int) -> list[str]:
    files = []
    for ds in derived:
        folder = out / f"acq{index}" / f"series_{ds.SeriesNumber}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{int(ds.InstanceNumber):04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(str(path.relative_to(out)))
    return files


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"inputs": [str(p) for p in args.paths], "acquisitions": []}
    failures = 0
    try:
        overrides = _overrides(args)
        with tempfile.TemporaryDirectory(prefix="cirrus-quant-") as tmp:
            datasets, niftis = read_inputs(args.paths, Path(tmp))
            t_read = time.perf_counter()
            if niftis:
                acqs = [acquisition_from_bids(niftis)]
            elif datasets:
                acqs = quant.classify_study(datasets)
            else:
                raise quant.InputError("no DICOM images or BIDS ASL NIfTI found in the given paths")
            atlas = None
            if getattr(args, "regions", True):
                atlas = default_atlas().load()
            for i, acq in enumerate(acqs, start=1):
                entry: dict[str, Any] = {"acquisition": acq.summary()}
                try:
                    t1 = time.perf_counter()
                    result = quant.quantify(acq, overrides, model=args.model, regions=atlas)
                    derived = quant.build_derived_datasets(result, acq)
                    files = _write(derived, out, i)
                    (out / f"acq{i}" / "statistics.csv").write_text(
                        quant.statistics_csv(result), encoding="utf-8"
                    )
                    if result.regions is not None:
                        (out / f"acq{i}" / "regions.csv").write_text(result.regions.csv(), encoding="utf-8")
                        for key in result.regions.panels:
                            (out / f"acq{i}" / f"panel_{key}.csv").write_text(
                                result.regions.panel_csv(key), encoding="utf-8"
                            )
                    entry["result"] = result.as_dict()
                    entry["files"] = files
                    entry["result"]["timings_s"]["derived_and_write_s"] = (
                        time.perf_counter() - t1 - result.timings["total_s"]
                    )
                except quant.QuantError as exc:
                    failures += 1
                    entry["error"] = {
                        "type": type(exc).__name__,
                        "message": str(exc),
                        "missing": getattr(exc, "missing", []),
                    }
                    print(f"error: {acq.vendor} {acq.series[0].description!r}: {exc}", file=sys.stderr)
                report["acquisitions"].append(entry)
        report["timings_s"] = {"read_s": t_read - t0, "total_s": time.perf_counter() - t0}
    except (quant.QuantError, ValueError, OSError) as exc:
        report["error"] = {"type": type(exc).__name__, "message": str(exc)}
        (out / "results.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    (out / "results.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    if failures:
        return EXIT_UNUSABLE
    for entry in report["acquisitions"]:
        stats = entry["result"]["statistics"]["whole_brain"]
        print(
            f"{entry['acquisition']['vendor']}: model {entry['result']['model']}, whole-brain CBF "
            f"{stats['mean']:.1f} ml/100g/min, {len(entry['files'])} files"
        )
    return 0
