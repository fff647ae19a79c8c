"""The seam between the workflow and the quantification engine (``quant``).

Everything the workflow needs from ``quant`` goes through here, turned into
plain JSON-ready values, so that jobs, reports and the API never touch the
engine's objects directly.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydicom

import quant
from server.services.atlases import default_atlas
from server.workflow.parameters import PARAMETERS
from server.workflow.report_panels import panel_csvs

log = logging.getLogger("cirrus.analysis")

# quant's override names for the parameters a person can be asked for.
ASL_ROLE = "asl"
M0_ROLE = "m0"
ANATOMY_ROLE = "anatomy"


@contextlib.contextmanager
def library_warnings_logged() -> Iterator[None]:
    """Log warnings the libraries raise about the input (odd person names, ...).

    They describe the scanner's data, not a failure of the analysis, so they
    must not abort a job even where warnings are turned into errors. (The
    warnings filter is process-wide: while this block runs, warnings raised
    by other threads are recorded here too, which only ever makes them softer.)
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for message in sorted({str(w.message) for w in caught}):
        log.info("input warning: %s", message[:300])


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
    return classify_explained(datasets)[0]


def classify_explained(datasets: list[pydicom.Dataset]) -> tuple[list[Found], str]:
    """The acquisitions, and why there are none (the engine's words; empty when some were found)."""
    try:
        with library_warnings_logged():
            acquisitions = quant.classify_study(datasets)
    except quant.NotAslError as exc:
        return [], str(exc)
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
    return found, ""


def with_provenance(overrides: dict[str, Any], notes: dict[str, Any] | None) -> dict[str, Any]:
    """A job's overrides for the engine: values from a preset or entered with a unit carry that
    provenance (``preset`` / ``user``, "entered as 1800 ms") into the result's parameters."""
    out: dict[str, Any] = {}
    for name, value in overrides.items():
        note = (notes or {}).get(name)
        if isinstance(note, dict) and note.get("source") in ("preset", "user") and name != "model":
            out[name] = quant.Param(name, value, str(PARAMETERS.get(name, {}).get("unit", "")),
                                    note["source"], str(note.get("detail", "")))
        else:
            out[name] = value
    return out


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
    regions: Any = None  # quant.regions.RegionalAnalysis (label map for the panel figures)
    dce: Any = None  # quant.dce.DceResult of a DCE job (maps and curves for its report figures)


def compute(acq: Any, overrides: dict[str, Any], model: str, *, regions: bool = True) -> Computed:
    """Quantify one acquisition and build its derived DICOM objects (CPU-bound; run in a thread).

    With ``regions`` the atlas regions and disease panels are computed too (registration to
    MNI space through the study's T1 or the M0 image); their JSON is ``statistics["regions"]``
    (with the region CSV under ``csv`` and one CSV per panel under ``panels_csv``).
    """
    atlas = None
    if regions:
        atlas = default_atlas().load()
    with library_warnings_logged():
        result = quant.quantify(acq, overrides, model or "auto", regions=atlas)
        datasets = list(quant.build_derived_datasets(result, acq))
    statistics = jsonable(result.statistics)
    statistics["model"] = result.model
    if result.regions is not None:
        statistics["regions"] = jsonable(result.regions.as_dict())
        statistics["regions"]["csv"] = result.regions.csv()
        statistics["regions"]["panels_csv"] = panel_csvs(result.regions)
    return Computed(
        datasets=datasets,
        statistics=statistics,
        provenance={k: jsonable(p) for k, p in result.parameters.items()},
        regional_csv=quant.statistics_csv(result),
        cbf=result.cbf,
        notes=[str(n) for n in result.warnings],
        regions=result.regions,
    )
