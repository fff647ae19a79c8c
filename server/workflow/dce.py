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

from quant import InputError, Param
from quant.dce import (
    DEFAULTS,
    MODELS,
    OVERRIDE_NAMES,
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


def roi_mask(shape: tuple[int, int, int], roi: dict[str, Any]) -> np.ndarray:
    """A boolean (slice, row, column) mask of a circle or rectangle drawn on one slice.

    ``{"slice": k, "x": column, "y": row, "r": radius}`` (circle, pixels) or
    ``{"slice": k, "x": column, "y": row, "width": w, "height": h}`` (rectangle from its top-left corner).
    """
    nz, ny, nx = shape
    try:
        k = int(roi["slice"])
        x, y = float(roi["x"]), float(roi["y"])
    except (KeyError, TypeError, ValueError):
        raise InputError("an ROI needs slice, x and y (and r, or width and height)") from None
    if not 0 <= k < nz:
        raise InputError(f"ROI slice {k} is outside the series (0–{nz - 1})")
    yy, xx = np.mgrid[0:ny, 0:nx]
    if roi.get("r") is not None:
        r = float(roi["r"])
        if r <= 0:
            raise InputError("the ROI radius must be positive")
        plane = (xx - x) ** 2 + (yy - y) ** 2 <= r * r
    elif roi.get("width") is not None and roi.get("height") is not None:
        w, h = float(roi["width"]), float(roi["height"])
        if w <= 0 or h <= 0:
            raise InputError("the ROI width and height must be positive")
        plane = (xx >= x) & (xx < x + w) & (yy >= y) & (yy < y + h)
    else:
        raise InputError("an ROI is a circle (r) or a rectangle (width and height)")
    if not plane.any():
        raise InputError("the ROI holds no pixel of the slice")
    mask = np.zeros(shape, dtype=bool)
    mask[k] = plane
    return mask


def engine_overrides(overrides: dict[str, Any], shape: tuple[int, int, int]) -> dict[str, Any]:
    """A job's overrides as the engine takes them (unknown names dropped, drawn ROIs as masks)."""
    out = {k: v for k, v in overrides.items() if k in OVERRIDE_NAMES and k not in ("rois", "mask", "aif_mask")}
    drawn = overrides.get("rois")
    if isinstance(drawn, dict) and drawn:
        out["rois"] = {f"roi_{name}": roi_mask(shape, spec) for name, spec in drawn.items()}
    return out


def _add_hotspot(result: DceResult) -> None:
    kt = result.maps["ktrans"]
    inside = kt[result.mask]
    if inside.size < 10:
        return
    threshold = float(np.quantile(inside, HOTSPOT_QUANTILE))
    hot = result.mask & (kt >= threshold)
    extra = map_statistics(result.maps, result.mask, {"hotspot": hot})["rois"]
    result.statistics.setdefault("rois", {}).update(extra)


def compute(acq: DceAcquisition, overrides: dict[str, Any], model: str) -> Computed:
    """Quantify one DCE acquisition and build its derived DICOM (CPU-bound; run in a thread)."""
    chosen = model if model in MODELS else None
    with library_warnings_logged():
        result = quantify(acq, engine_overrides(overrides, acq.geometry.shape), chosen)
        _add_hotspot(result)
        datasets = list(build_derived_datasets(result, acq))
    summary = result.as_dict()
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


def roi_curve(acq: DceAcquisition, provenance: dict[str, Any], roi: dict[str, Any]) -> dict[str, Any]:
    """The mean time–intensity curve of one drawn ROI: signal, relative enhancement, concentration,
    and the ROI's Ktrans / ve / kep / vp (n, mean, median, sd, quartiles).

    The run's injection phase, baseline, T10 choice, relaxivity, model and population AIF with its
    fitted onset (its provenance) are used again, so the curve is the one the maps were fitted to;
    only the ROI's voxels are fitted. A measured or detected AIF's region is not kept with the job:
    the ROI's model values then use Parker's population AIF (the curves do not depend on the AIF).
    """
    shape = acq.geometry.shape
    mask = roi_mask(shape, roi)
    keep = {}
    for name in ("injection_phase", "baseline_phases", "bolus_arrival_time", "relaxivity", "hematocrit", "t10",
                 "flip_angle", "tr", "vfa_tr", "temporal_resolution", "aif", "model"):
        p = provenance.get(name)
        if isinstance(p, dict) and p.get("value") is not None and not (name == "t10" and p["value"] == "map"):
            keep[name] = p["value"]
    if keep.get("aif") not in ("parker", "weinmann"):
        keep.pop("aif", None)  # a measured AIF's region is not kept: the curve does not depend on it
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
        "maps": jsonable({k: fitted[k] for k in result.model_maps if k in fitted}),
        "phase_times_s": [float(v) for v in result.phase_times],
        "signal": [float(v) for v in signal],
        "relative_enhancement": [float(v) for v in enhancement],
        "concentration_mM": [float(v) for v in curve["concentration_mM"]],
        "baseline_phases": nb,
    }
