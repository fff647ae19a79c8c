"""The numbers a report can insert: the newest finished ASL or DCE analysis of the request's linked studies.

Each value carries its UCUM unit, the unit as printed and its source (the analysis job and result
version), so the editor inserts editable text and the SR gets NUM items with the same numbers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import col

from server.auth.principal import Principal
from server.context import AppContext
from server.db.analysis import AnalysisJob
from server.reading import service
from server.workflow import dce_params

CBF_UNIT = ("ml/(100.g.min)", "ml/100g/min")
SECONDS = ("s", "s")
PERCENT = ("%", "%")
# (statistics key, field of that entry, name in the report, (UCUM, printed))
VALUES: tuple[tuple[str, str | None, str, tuple[str, str]], ...] = (
    ("whole_brain", "mean", "CBF whole brain", CBF_UNIT),
    ("grey_matter_like", "mean", "CBF grey matter", CBF_UNIT),
    ("left_hemisphere", "mean", "CBF left hemisphere", CBF_UNIT),
    ("right_hemisphere", "mean", "CBF right hemisphere", CBF_UNIT),
    ("asymmetry_index_percent", None, "CBF asymmetry index", PERCENT),
    ("att_whole_brain", "mean", "ATT whole brain", SECONDS),
)


# DCE maps inserted (the median within the fitted mask): (map, name in the report, printed unit)
DCE_VALUES: tuple[tuple[str, str, str], ...] = (
    ("ktrans", "Ktrans", "min⁻¹"),
    ("ve", "ve", "fraction"),
    ("vp", "vp", "fraction"),
    ("kep", "kep", "min⁻¹"),
)
DCE_MODELS = {"tofts": "Tofts", "extended_tofts": "extended Tofts", "patlak": "Patlak"}


def dce_measurements_of(job: AnalysisJob) -> list[dict[str, Any]]:
    """The DCE maps' medians within the fitted mask, with the map's UCUM unit (``/min``, ``{ratio}``)."""
    stats = job.statistics or {}
    dce = stats.get("dce") or {}
    maps = ((dce.get("mask") or {}).get("maps")) or {}
    units = dce.get("units") or {}
    model = str(stats.get("model", ""))
    source = f"DCE analysis job {job.id} v{job.version}" + (f" ({DCE_MODELS.get(model, model)})" if model else "")
    out = []
    for key, name, label in DCE_VALUES:
        value = (maps.get(key) or {}).get("median")
        unit = units.get(key) or ""
        if isinstance(value, int | float) and not isinstance(value, bool) and value == value and unit:
            out.append({"name": f"{name} (median)", "value": round(float(value), 4), "unit": unit,
                        "unit_label": label, "source": source})
    return out


def measurements_of(job: AnalysisJob) -> list[dict[str, Any]]:
    if dce_params.is_dce(job):
        return dce_measurements_of(job)
    stats = job.statistics or {}
    source = f"ASL analysis job {job.id} v{job.version}" + (f" ({job.model})" if job.model else "")
    out = _whole_brain(stats, source)
    out += _regions(stats, source)
    return out


# Regions inserted, in this order: arterial territories, lobes, deep grey matter, cerebellum (the ~90
# cortical gyri stay in the analysis's own report and CSV); left before right within each region.
REGION_GROUPS = ("territory", "lobe", "deep", "cerebellum")


def _regions(stats: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """Mean CBF of the regions of the analysis's regional step (none when it did not run)."""
    regions = ((stats.get("regions") or {}).get("regions")) or {}
    chosen = [e for e in regions.values() if isinstance(e, dict) and e.get("group") in REGION_GROUPS]
    chosen.sort(key=lambda e: (REGION_GROUPS.index(e["group"]), str(e.get("base", "")), str(e.get("side", ""))))
    out = []
    for entry in chosen:
        value = entry.get("cbf_mean")
        if isinstance(value, int | float) and not isinstance(value, bool) and value == value and entry.get("n"):
            side = f" {entry['side']}" if entry.get("side") in ("L", "R") else ""
            name = f"CBF {entry.get('name_en') or entry.get('key')}"[:60] + side
            out.append({"name": name, "value": round(float(value), 2),
                        "unit": CBF_UNIT[0], "unit_label": CBF_UNIT[1], "source": source})
    return out


def _whole_brain(stats: dict[str, Any], source: str) -> list[dict[str, Any]]:
    out = []
    for key, field, name, (unit, label) in VALUES:
        entry = stats.get(key)
        value = entry.get(field) if field and isinstance(entry, dict) else (entry if field is None else None)
        if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
            out.append({"name": name, "value": round(float(value), 2), "unit": unit, "unit_label": label,
                        "source": source})
    return out


async def quantities(ctx: AppContext, p: Principal, request_id: int) -> dict[str, Any]:
    """The newest succeeded analysis of the linked studies the caller sees (none: an empty list)."""
    view = await service.get_request(ctx, p, request_id, with_events=False)
    uids = [s.study_instance_uid for s in view.studies]
    if not uids:
        return {"job_id": None, "study_instance_uid": None, "measurements": []}
    async with ctx.sessions() as session:
        job = (await session.exec(
            select(AnalysisJob).where(col(AnalysisJob.study_instance_uid).in_(uids),
                                      col(AnalysisJob.state) == "succeeded", col(AnalysisJob.version) > 0)
            .order_by(col(AnalysisJob.finished_at).desc(), col(AnalysisJob.id).desc()).limit(1)
        )).scalar()
    if job is None:
        return {"job_id": None, "study_instance_uid": None, "measurements": []}
    return {"job_id": job.id, "study_instance_uid": job.study_instance_uid, "measurements": measurements_of(job)}
