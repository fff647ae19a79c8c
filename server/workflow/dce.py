"""The seam between the workflow and the DCE engine (``quant.dce``), like ``quant_bridge`` for ASL.

``classify`` turns the engine's acquisitions into :class:`quant_bridge.Found` rows (kind ``dce``,
with the parameters the job will use and where they come from: flip angle, TR, VFA, agent and
relaxivity, hematocrit, AIF, injection phase); ``compute`` runs the engine and builds the derived
DICOM (Ktrans / ve / kep / vp as MR images with a Real World Value Mapping and as Parametric Maps,
the Ktrans colour series), the JSON statistics and the regional CSV.

Regions reported: ``mask`` (every fitted, enhancing voxel), ``hotspot`` (the enhancing voxels
whose Ktrans is in the top decile: the usual tumour hot-spot summary) and any ROI a person drew
(``roi_<name>``), each with the mean curves (signal and concentration) beside the AIF.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pydicom
from matplotlib.path import Path

from quant import InputError, Param
from quant.dce import (
    DEFAULTS,
    MODELS,
    OVERRIDE_NAMES,
    SEMIQUANT_UNITS,
    DceAcquisition,
    DceResult,
    NotDceError,
    build_derived_datasets,
    classify_study,
    map_statistics,
    quantify,
    relaxivity_param,
    statistics_csv,
)
from server.workflow.dce_params import DCE_KIND, KEY_PREFIX, MISSING_ALIASES
from server.workflow.quant_bridge import Computed, Found, acquisition_key, jsonable, library_warnings_logged

HOTSPOT_QUANTILE = 0.9


def _queue_parameters(acq: DceAcquisition) -> dict[str, Param]:
    """What the job will use, known before the run: the headers' values and the defaults."""
    params = dict(acq.parameters)

    def default(name: str, key: str | None = None) -> None:
        if name not in params:
            value, unit, why = DEFAULTS[key or name]
            params[name] = Param(name, value, unit, "default", why)

    for name in ("field_strength", "agent", "hematocrit", "aif", "model"):
        default(name)
    try:
        r1 = relaxivity_param(str(params["agent"].value), float(params["field_strength"].value))
        params["relaxivity"] = r1
    except InputError:
        pass  # an agent without a table value: the run asks for the relaxivity
    if not acq.vfa:
        default("t10")
    if "bolus_arrival_time" not in params:
        params["injection_phase"] = Param(
            "injection_phase", None, "", "derived", "at run time: first phase where the most-enhancing voxels rise"
        )
    return params


def classify(datasets: list[pydicom.Dataset]) -> list[Found]:
    """The DCE acquisitions of a study (``[]`` when it holds none)."""
    return classify_explained(datasets)[0]


def classify_explained(datasets: list[pydicom.Dataset]) -> tuple[list[Found], str]:
    """The DCE acquisitions, and why there are none (empty when some were found)."""
    try:
        with library_warnings_logged():
            acquisitions = classify_study(datasets)
    except NotDceError as exc:
        return [], str(exc)
    found = []
    for acq in acquisitions:
        uids = sorted(acq.series_uids)
        found.append(
            Found(
                key=KEY_PREFIX + acquisition_key(acq.dynamic_series_uids),
                series_uids=uids,
                m0_series_uid="",
                t1_series_uid="",
                label=acq.label,
                vendor=str(acq.vendor or ""),
                labeling=DCE_KIND,
                missing=[MISSING_ALIASES.get(m, m) for m in acq.missing],
                parameters={k: jsonable(p) for k, p in _queue_parameters(acq).items()},
                summary=jsonable(acq.summary()),
                acquisition=acq,
            )
        )
    return found, ""


ROI_KEYS = ("slice", "x", "y", "r", "rx", "ry", "width", "height", "points")
AIF_VOXELS_KEPT = 4096  # voxels of an arterial region listed with the job (more: the count and the box only)


def _polygon(points: Any, ny: int, nx: int) -> np.ndarray:
    try:
        vertices = np.asarray(points, dtype=float)
    except (TypeError, ValueError):
        raise InputError("ROI points must be [[x, y], ...] pixel coordinates") from None
    if vertices.ndim != 2 or vertices.shape[1] != 2 or len(vertices) < 3 or not np.isfinite(vertices).all():
        raise InputError("a freehand ROI needs at least 3 points [[x, y], ...]")
    yy, xx = np.mgrid[0:ny, 0:nx]
    # A pixel is inside when its centre is (pixel (c, r) has its centre at x = c, y = r).
    inside = Path(vertices).contains_points(np.column_stack([xx.ravel(), yy.ravel()]))
    return inside.reshape(ny, nx)


def roi_mask(shape: tuple[int, int, int], roi: dict[str, Any]) -> np.ndarray:
    """A boolean (slice, row, column) mask of a region drawn on one slice, pixel coordinates:

    ``{"slice": k, "x": column, "y": row, "r": radius}`` (circle),
    ``{"slice": k, "x": cx, "y": cy, "rx": a, "ry": b}`` (axis-aligned ellipse around its centre),
    ``{"slice": k, "x": column, "y": row, "width": w, "height": h}`` (rectangle from its top-left corner),
    ``{"slice": k, "points": [[x, y], ...]}`` (freehand polygon; x and y not needed).
    """
    nz, ny, nx = shape
    try:
        k = int(roi["slice"])
    except (KeyError, TypeError, ValueError):
        raise InputError("an ROI needs its slice (and x, y with r, rx/ry or width/height, or points)") from None
    if not 0 <= k < nz:
        raise InputError(f"ROI slice {k} is outside the series (0–{nz - 1})")
    if roi.get("points") is not None:
        plane = _polygon(roi["points"], ny, nx)
    else:
        try:
            x, y = float(roi["x"]), float(roi["y"])
        except (KeyError, TypeError, ValueError):
            raise InputError("an ROI needs slice, x and y (and r, rx and ry, or width and height)") from None
        yy, xx = np.mgrid[0:ny, 0:nx]
        if roi.get("r") is not None:
            r = float(roi["r"])
            if r <= 0:
                raise InputError("the ROI radius must be positive")
            plane = (xx - x) ** 2 + (yy - y) ** 2 <= r * r
        elif roi.get("rx") is not None and roi.get("ry") is not None:
            a, b = float(roi["rx"]), float(roi["ry"])
            if a <= 0 or b <= 0:
                raise InputError("the ellipse radii rx and ry must be positive")
            plane = ((xx - x) / a) ** 2 + ((yy - y) / b) ** 2 <= 1.0
        elif roi.get("width") is not None and roi.get("height") is not None:
            w, h = float(roi["width"]), float(roi["height"])
            if w <= 0 or h <= 0:
                raise InputError("the ROI width and height must be positive")
            plane = (xx >= x) & (xx < x + w) & (yy >= y) & (yy < y + h)
        else:
            raise InputError("an ROI is a circle (r), an ellipse (rx, ry), a rectangle (width, height) or points")
    if not plane.any():
        raise InputError("the ROI holds no pixel of the slice")
    mask = np.zeros(shape, dtype=bool)
    mask[k] = plane
    return mask


def slice_of_image(acq: DceAcquisition, ds: pydicom.Dataset) -> int:
    """The slice of the dynamic series an image of another series lies on, when it shares the pixel
    grid (a derived map, or another series on the same grid): same rows, columns, pixel spacing and
    orientation, and its position on one of the series' slices (within a quarter of a pixel and a
    quarter of the slice spacing). ROIs drawn on it then mean the same pixels of the dynamic series.
    """
    g = acq.geometry
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        spacing = [float(v) for v in ds.PixelSpacing]
        orientation = [float(v) for v in ds.ImageOrientationPatient]
        position = np.asarray([float(v) for v in ds.ImagePositionPatient], dtype=float)
    except (AttributeError, TypeError, ValueError):
        raise InputError("the image the ROI was drawn on has no usable plane (a multi-frame or "
                         "colour image?); draw it on the dynamic series or on a map") from None
    if (rows, cols) != tuple(g.shape[1:]) or not np.allclose(spacing, g.pixel_spacing, rtol=1e-3):
        raise InputError(f"the image the ROI was drawn on has another pixel grid ({rows}×{cols}, spacing "
                         f"{spacing}) than the dynamic series ({g.shape[1]}×{g.shape[2]}, {list(g.pixel_spacing)})")
    if not np.allclose(orientation, g.orientation, atol=1e-3):
        raise InputError("the image the ROI was drawn on has another orientation than the dynamic series")
    offsets = position[None, :] - np.asarray(g.positions, dtype=float)
    k = int(np.argmin(np.linalg.norm(offsets, axis=1)))
    tolerance = 0.25 * min(min(g.pixel_spacing), g.spacing_between_slices or g.slice_thickness or 1.0)
    if float(np.linalg.norm(offsets[k])) > tolerance:
        raise InputError("the image the ROI was drawn on lies on no slice of the dynamic series")
    return k


def engine_overrides(overrides: dict[str, Any], shape: tuple[int, int, int]) -> dict[str, Any]:
    """A job's overrides as the engine takes them (unknown names dropped, drawn ROIs as masks).

    A drawn arterial region (``aif_roi``) makes the AIF a measured one from exactly that region.
    """
    out = {k: v for k, v in overrides.items() if k in OVERRIDE_NAMES and k not in ("rois", "mask", "aif_mask")}
    drawn = overrides.get("rois")
    if isinstance(drawn, dict) and drawn:
        out["rois"] = {f"roi_{name}": roi_mask(shape, spec) for name, spec in drawn.items()}
    aif_roi = overrides.get("aif_roi")
    if isinstance(aif_roi, dict) and aif_roi:
        out["aif"] = "measured"
        out["aif_mask"] = roi_mask(shape, aif_roi)
    return out


def _runs(flat: np.ndarray) -> list[list[int]]:
    """[start, length] runs of a sorted array of flat voxel indices."""
    if flat.size == 0:
        return []
    breaks = np.nonzero(np.diff(flat) != 1)[0] + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [flat.size]])
    return [[int(flat[a]), int(b - a)] for a, b in zip(starts, ends, strict=True)]


def aif_region(result: DceResult, overrides: dict[str, Any], series_uid: str = "") -> dict[str, Any] | None:
    """Where a measured AIF came from, kept with the job: how it was chosen and which voxels.

    ``how`` is ``auto`` (detected: early, high, washing-out peak) or ``drawn`` (``roi`` is the drawn
    region); ``series_uid`` is the dynamic series the region lies on (its grid is the maps' grid);
    ``voxels`` lists (slice, row, column) when at most ``AIF_VOXELS_KEPT``, beyond that ``runs``
    gives the region as [start, length] runs of flat (slice, row, column) indices; the count, the
    slices and the bounding box always. None for a population AIF (no region).
    """
    m = result.aif_mask
    if m is None or not m.any():
        return None
    drawn = overrides.get("aif_roi") if isinstance(overrides.get("aif_roi"), dict) else None
    idx = np.argwhere(m)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    aif = result.parameters.get("aif")
    small = len(idx) <= AIF_VOXELS_KEPT
    return {
        "how": "drawn" if drawn else "auto",
        "detail": (aif.detail if aif is not None else "") or ("drawn arterial region" if drawn else ""),
        "roi": drawn,
        "series_uid": series_uid,
        "n_voxels": int(len(idx)),
        "slices": sorted({int(k) for k in idx[:, 0]}),
        "bbox": {"slice": [int(lo[0]), int(hi[0])], "row": [int(lo[1]), int(hi[1])],
                 "column": [int(lo[2]), int(hi[2])]},
        "centroid": [round(float(v), 2) for v in idx.mean(axis=0)],
        "voxels": idx.astype(int).tolist() if small else None,
        "runs": None if small else _runs(np.flatnonzero(m.reshape(-1))),
    }


def region_param(region: dict[str, Any]) -> Param:
    """The arterial region in the job's provenance: how it was chosen, its size, slices and series."""
    slices = ", ".join(str(k + 1) for k in region["slices"])
    how = "drawn arterial region" if region["how"] == "drawn" else "automatically detected arterial region"
    return Param(
        "aif_region",
        f"{region['how']}: {region['n_voxels']} voxels on slice(s) {slices} (1-based)",
        "",
        "user" if region["how"] == "drawn" else "derived",
        f"{how}; {region['detail']}; series {region.get('series_uid') or '?'}; "
        "voxels in statistics.dce.aif.region",
    )


def region_mask(shape: tuple[int, int, int], region: dict[str, Any] | None) -> np.ndarray | None:
    """The recorded arterial region as a mask again (None: no region, or one that does not fit ``shape``)."""
    if not region:
        return None
    if region.get("roi"):
        return roi_mask(shape, region["roi"])
    size = int(np.prod(shape))
    if region.get("runs"):
        flat = np.zeros(size, dtype=bool)
        for start, length in region["runs"]:
            if not (0 <= int(start) and int(length) > 0 and int(start) + int(length) <= size):
                return None
            flat[int(start) : int(start) + int(length)] = True
        return flat.reshape(shape)
    voxels = region.get("voxels")
    if not voxels:
        return None
    idx = np.asarray(voxels, dtype=int)
    if idx.ndim != 2 or idx.shape[1] != 3 or (idx < 0).any() or (idx >= np.asarray(shape)).any():
        return None
    mask = np.zeros(shape, dtype=bool)
    mask[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    return mask


def _add_hotspot(result: DceResult) -> None:
    kt = result.maps["ktrans"]
    inside = kt[result.mask]
    if inside.size < 10:
        return
    threshold = float(np.quantile(inside, HOTSPOT_QUANTILE))
    hot = result.mask & (kt >= threshold)
    extra = map_statistics(result.maps, result.mask, {"hotspot": hot})["rois"]
    result.statistics.setdefault("rois", {}).update(extra)


def _add_aif_region(result: DceResult) -> None:
    """The arterial region's values beside the tissue's (``aif_region`` in the statistics and CSV)."""
    if result.aif_mask is None or not result.aif_mask.any():
        return
    extra = map_statistics(result.maps, result.mask, {"aif_region": result.aif_mask})["rois"]
    result.statistics.setdefault("rois", {}).update(extra)


def compute(acq: DceAcquisition, overrides: dict[str, Any], model: str) -> Computed:
    """Quantify one DCE acquisition and build its derived DICOM (CPU-bound; run in a thread).

    The derived series: Ktrans / ve / kep / vp (as the model gives them) as MR images and Parametric
    Maps, the Ktrans colour series, and the semi-quantitative curve parameters (TTP, maximum
    enhancement, initial and maximum slope, wash-out, AUC) as MR images.
    """
    chosen = model if model in MODELS else None
    with library_warnings_logged():
        result = quantify(acq, engine_overrides(overrides, acq.geometry.shape), chosen)
        _add_hotspot(result)
        _add_aif_region(result)
        datasets = list(build_derived_datasets(result, acq, semiquantitative=True))
    summary = result.as_dict()
    dynamic = acq.dynamic_series_uids
    region = aif_region(result, overrides, dynamic[0] if dynamic else "")
    if region is not None:
        summary["aif"]["region"] = region
        result.parameters["aif_region"] = region_param(region)
    statistics = {
        "model": result.model,
        "dce": jsonable(
            {
                "mask": result.statistics["mask"],
                "rois": result.statistics.get("rois", {}),
                "curves": result.curves,
                "phase_times_s": summary["phase_times_s"],
                "aif": summary["aif"],
                "units": summary["units"],
                "shape": summary["shape"],
            }
        ),
    }
    return Computed(
        datasets=datasets,
        statistics=statistics,
        provenance={k: jsonable(p) for k, p in result.parameters.items()},
        regional_csv=statistics_csv(result),
        cbf=None,
        notes=[*acq.notes, *result.warnings],
        dce=result,
    )


def roi_curve(acq: DceAcquisition, provenance: dict[str, Any], roi: dict[str, Any],
              aif_region_kept: dict[str, Any] | None = None) -> dict[str, Any]:
    """The mean time–intensity curve of one drawn ROI: signal, relative enhancement, concentration,
    and the ROI's Ktrans / ve / kep / vp and curve parameters (TTP, maximum enhancement, initial and
    maximum slope, wash-out, AUC), each as n, mean, median, sd, quartiles over its voxels.

    The run's injection phase, baseline, T10 choice, relaxivity, model and population AIF with its
    fitted onset (its provenance) are used again, so the curve is the one the maps were fitted to;
    only the ROI's voxels are fitted. A measured or detected AIF is measured again from the arterial
    region recorded with the job (``aif_region_kept``); a region not kept voxel by voxel (very
    large) falls back to Parker's population AIF for the ROI's model values (the curves do not
    depend on the AIF).
    """
    shape = acq.geometry.shape
    mask = roi_mask(shape, roi)
    keep = {}
    for name in ("injection_phase", "baseline_phases", "bolus_arrival_time", "relaxivity", "hematocrit", "t10",
                 "flip_angle", "tr", "vfa_tr", "temporal_resolution", "aif", "model"):
        p = provenance.get(name)
        if isinstance(p, dict) and p.get("value") is not None and not (name == "t10" and p["value"] == "map"):
            keep[name] = p["value"]
    arterial = region_mask(shape, aif_region_kept)
    if keep.get("aif") not in ("parker", "weinmann"):
        keep.pop("aif", None)
        if arterial is not None:
            keep["aif"], keep["aif_mask"] = "measured", arterial
    keep["fit_arrival"] = False
    with library_warnings_logged():
        result = quantify(acq, {**keep, "mask": mask, "rois": {"roi": mask}}, None)
    curve = result.curves["roi"]
    nb = int(result.parameters["baseline_phases"].value)
    signal = np.asarray(curve["signal"], dtype=float)
    base = float(signal[:nb].mean()) if nb else float(signal[0])
    enhancement = (signal / base - 1.0) if base > 0 else np.zeros_like(signal)
    fitted = result.statistics["rois"]["roi"]["maps"]
    return {
        "n_voxels": int(mask.sum()),
        "maps": jsonable({k: fitted[k] for k in (*result.model_maps, *SEMIQUANT_UNITS) if k in fitted}),
        "phase_times_s": [float(v) for v in result.phase_times],
        "signal": [float(v) for v in signal],
        "relative_enhancement": [float(v) for v in enhancement],
        "concentration_mM": [float(v) for v in curve["concentration_mM"]],
        "baseline_phases": nb,
        "aif_kind": result.aif_kind,
        "aif_plasma_mM": [float(v) for v in result.aif],
    }
