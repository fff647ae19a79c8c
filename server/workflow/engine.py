"""The seam between the workflow and the quantification engine (``quant``).

Everything the workflow needs from ``quant`` goes through here, turned into
plain JSON-ready values, so that jobs, reports and the API never touch the
engine's objects directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pydicom

import quant

# quant's override names for the parameters a person can be asked for.
ASL_ROLE = "asl"
M0_ROLE = "m0"
ANATOMY_ROLE = "anatomy"


def jsonable(value: Any) -> Any:
    """Plain JSON value (numpy scalars/arrays, tuples, NaN → None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        if getattr(value, "ndim", 0) > 1 or getattr(value, "size", 0) > 64:
            return f"array{list(getattr(value, 'shape', []))}"
        return jsonable(value.tolist())
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if hasattr(value, "as_dict"):
        return jsonable(value.as_dict())
    return str(value)


@dataclass
class Found:
    """One ASL acquisition found in a study, as the workflow stores it."""

    key: str
    series_uids: list[str]
    m0_series_uid: str
    t1_series_uid: str
    label: str
    vendor: str
    labeling: str
    missing: list[str]
    parameters: dict[str, Any]
    summary: dict[str, Any]
    acquisition: Any = field(default=None, repr=False)


def acquisition_key(series_uids: Sequence[str]) -> str:
    return ",".join(sorted(series_uids))


def _describe(acq: Any, asl_series: list[Any]) -> str:
    kind = (acq.labeling_type or "ASL").upper().replace("PCASL", "pCASL").replace("PASL", "PASL")
    plds = getattr(acq, "plds", [])
    delays = "multi-delay" if getattr(acq, "multi_delay", False) or len(plds) > 1 else "single-delay"
    names = ", ".join(s.description or f"series {s.series_number}" for s in asl_series)
    return f"{acq.vendor} {kind} {delays}: {names}"[:256]


def classify(datasets: list[pydicom.Dataset]) -> list[Found]:
    """Run the engine's classifier; one ``Found`` per acquisition."""
    try:
        acquisitions = quant.classify_study(datasets)
    except quant.NotAslError:
        return []
    found = []
    for acq in acquisitions:
        asl = [s for s in acq.series if s.role == ASL_ROLE] or list(acq.series)
        m0 = [s.series_instance_uid for s in acq.series if s.role == M0_ROLE]
        anatomy = acq.anatomy_series_uid or next(
            (s.series_instance_uid for s in acq.series if s.role == ANATOMY_ROLE), ""
        )
        uids = [s.series_instance_uid for s in asl]
        found.append(
            Found(
                key=acquisition_key(uids),
                series_uids=sorted(uids),
                m0_series_uid=m0[0] if m0 else "",
                t1_series_uid=anatomy or "",
                label=_describe(acq, asl),
                vendor=str(acq.vendor or ""),
                labeling=str(acq.labeling_type or ""),
                missing=list(acq.missing),
                parameters={k: jsonable(p) for k, p in acq.parameters.items()},
                summary=jsonable(acq.summary()),
                acquisition=acq,
            )
        )
    return found


def pick(found: list[Found], key: str) -> Found | None:
    return next((f for f in found if f.key == key), None)


@dataclass
class Computed:
    """What one analysis run produced, before it is stored."""

    datasets: list[pydicom.Dataset]
    statistics: dict[str, Any]
    provenance: dict[str, Any]
    regional_csv: str
    cbf: Any  # numpy array (slice, row, column) in ml/100g/min, for the report figures
    notes: list[str]


def _whole_brain(cbf: Any, mask: Any) -> dict[str, Any]:
    import numpy as np

    values = np.asarray(cbf, dtype=float)
    m = np.asarray(mask, dtype=bool) if mask is not None else np.isfinite(values) & (values != 0)
    v = values[m & np.isfinite(values)]
    if v.size == 0:
        return {}
    return {
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "std": float(v.std()),
        "p5": float(np.percentile(v, 5)),
        "p95": float(np.percentile(v, 95)),
        "voxels": int(v.size),
    }


def compute(acq: Any, overrides: dict[str, Any], model: str) -> Computed:
    """Quantify one acquisition and build its derived DICOM objects (CPU-bound; run in a thread)."""
    result = quant.quantify(acq, overrides, model or "auto")
    datasets = list(quant.build_derived_datasets(result, acq))
    csv_text = quant.statistics_csv(result)
    cbf = getattr(result, "cbf", None)
    stats_obj = getattr(result, "statistics", None) or getattr(result, "regions", None)
    statistics: dict[str, Any] = {"regions": jsonable(stats_obj) if stats_obj is not None else None}
    if cbf is not None:
        statistics["whole_brain"] = _whole_brain(cbf, getattr(result, "mask", None))
    params = getattr(result, "parameters", None) or acq.parameters
    provenance = {k: jsonable(p) for k, p in params.items()}
    return Computed(
        datasets=datasets,
        statistics=jsonable(statistics),
        provenance=provenance,
        regional_csv=csv_text,
        cbf=cbf,
        notes=[str(n) for n in getattr(result, "notes", []) or []],
    )
