"""Regional CBF (and ATT): atlas regions in ASL space, relative values, asymmetry, panels."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import SimpleITK as sitk
from numpy.typing import NDArray
from scipy import ndimage

from quant.acquisition import Geometry
from quant.errors import InputError
from quant.regions.atlas import Atlas
from quant.regions.definitions import PANELS, REGIONS, Panel, Region
from quant.regions.registration import (
    Registration,
    compose,
    register_rigid,
    register_to_template,
    sample_fraction,
    warp_labels,
)
from quant.regions.space import Volume

__all__ = ["REFERENCES", "RegionValue", "RegionalAnalysis", "analyse_regions", "asymmetry_index"]

Array = NDArray[np.float64]
Reference = Literal["cerebellum", "grey_matter"]
REFERENCES: tuple[Reference, ...] = ("cerebellum", "grey_matter")
GREY_MATTER_FRACTION = 0.5
MIN_VOXELS = 3


def asymmetry_index(left: float | None, right: float | None) -> float | None:
    """200·(L−R)/(L+R) in %: positive when the left side has more flow."""
    if left is None or right is None or (left + right) == 0:
        return None
    return 200.0 * (left - right) / (left + right)


@dataclass
class RegionValue:
    """Values of one region in the subject's ASL space."""

    region: Region
    segment: int  # 1-based segment number in the derived SEG
    n: int
    cbf_mean: float | None
    cbf_median: float | None
    cbf_sd: float | None
    att_mean: float | None = None
    relative: float | None = None

    def as_dict(self) -> dict[str, Any]:
        r = self.region
        return {
            "key": r.key, "base": r.base, "side": r.side, "group": r.group, "name_en": r.name_en,
            "name_zh": r.name_zh, "segment": self.segment, "n": self.n, "cbf_mean": self.cbf_mean,
            "cbf_median": self.cbf_median, "cbf_sd": self.cbf_sd, "att_mean": self.att_mean,
            "relative_cbf": self.relative,
        }


@dataclass
class PanelRow:
    base: str
    name_en: str
    name_zh: str
    left: RegionValue | None
    right: RegionValue | None
    asymmetry: float | None

    def as_dict(self) -> dict[str, Any]:
        def side(v: RegionValue | None) -> dict[str, Any] | None:
            if v is None:
                return None
            return {"key": v.region.key, "n": v.n, "cbf_mean": v.cbf_mean, "relative_cbf": v.relative,
                    "att_mean": v.att_mean}

        return {"base": self.base, "name_en": self.name_en, "name_zh": self.name_zh, "left": side(self.left),
                "right": side(self.right), "asymmetry_index_percent": self.asymmetry}


@dataclass
class RegionalAnalysis:
    """Everything regional: per-region values, panels, and the label map behind them."""

    atlas: str
    reference: Reference
    reference_cbf: float | None
    registration: dict[str, Any]
    values: dict[str, RegionValue]
    panels: dict[str, list[PanelRow]]
    label_map: NDArray[np.int32]  # atlas label per ASL voxel (0: none)
    grey_matter: Array  # grey-matter fraction per ASL voxel
    masks: dict[str, NDArray[np.bool_]] = field(repr=False, default_factory=dict)
    has_att: bool = False
    provenance: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # ASL LPS → template LPS (SimpleITK), for checks and figures; not part of the JSON.
    transform: sitk.Transform | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (no arrays)."""
        return {
            "atlas": self.atlas,
            "reference": self.reference,
            "reference_cbf": self.reference_cbf,
            "registration": self.registration,
            "regions": {k: v.as_dict() for k, v in self.values.items()},
            "panels": {k: [row.as_dict() for row in rows] for k, rows in self.panels.items()},
            "has_att": self.has_att,
            "provenance": dict(self.provenance),
            "warnings": list(self.warnings),
        }

    def csv(self) -> str:
        """Every region: key, names, side, group, voxels, CBF mean/median/SD, relative CBF, ATT."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["region", "name", "side", "group", "n", "cbf_mean", "cbf_median", "cbf_sd",
                    f"relative_cbf_to_{self.reference}", "att_mean_s"])
        for v in self.values.values():
            r = v.region
            w.writerow([r.key, r.name_en, r.side, r.group, v.n, _fmt(v.cbf_mean), _fmt(v.cbf_median),
                        _fmt(v.cbf_sd), _fmt(v.relative, 4), _fmt(v.att_mean, 4)])
        return buf.getvalue()

    def panel_csv(self, key: str) -> str:
        """One panel: region, left/right CBF, relative CBF, asymmetry index (%), and ATT where the
        panel shows it (cerebrovascular) and the acquisition has it (several delays)."""
        rows = self.panels[key]
        with_att = self.has_att and PANELS[key].att
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        head = ["region", "name", "cbf_left", "cbf_right", "relative_left", "relative_right", "asymmetry_index_percent"]
        if with_att:
            head += ["att_left_s", "att_right_s"]
        w.writerow(head)
        for row in rows:
            left, right = row.left, row.right
            line = [row.base, row.name_en, _fmt(_get(left, "cbf_mean")), _fmt(_get(right, "cbf_mean")),
                    _fmt(_get(left, "relative"), 4), _fmt(_get(right, "relative"), 4), _fmt(row.asymmetry)]
            if with_att:
                line += [_fmt(_get(left, "att_mean"), 4), _fmt(_get(right, "att_mean"), 4)]
            w.writerow(line)
        return buf.getvalue()


def _get(v: RegionValue | None, name: str) -> float | None:
    value = getattr(v, name) if v is not None else None
    return None if value is None else float(value)


def _fmt(v: float | None, digits: int = 3) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _summary(values: Array) -> tuple[float | None, float | None, float | None]:
    if values.size == 0:
        return None, None, None
    return float(np.mean(values)), float(np.median(values)), float(np.std(values))


def _register(
    m0: Array,
    mask: NDArray[np.bool_],
    geometry: Geometry,
    atlas: Atlas,
    anatomy: Volume | None,
) -> tuple[sitk.Transform, dict[str, Any]]:
    """ASL grid → template transform, via the T1 when there is one."""
    asl = Volume.from_geometry(m0, geometry)
    brain = ndimage.binary_dilation(mask, iterations=1)
    info: dict[str, Any] = {"template": atlas.name}
    if anatomy is None:
        reg = register_to_template(asl, atlas.template, subject_mask=brain)
        info.update(input="M0", stages=reg.stages, metric=reg.metric, seconds=round(reg.seconds, 3))
        return reg.transform, info
    t1_reg: Registration = register_to_template(anatomy, atlas.template, deformable=True)
    # M0 → T1 is rigid and starts at the scanner's patient coordinates (same session).
    asl_reg = register_rigid(asl, anatomy, fixed_mask=brain)
    moved = float(np.linalg.norm(np.asarray(asl_reg.transform.GetTranslation())))
    info.update(
        input="T1",
        stages=[f"M0→T1 {s}" for s in asl_reg.stages] + [f"T1→template {s}" for s in t1_reg.stages],
        metric=t1_reg.metric,
        seconds=round(t1_reg.seconds + asl_reg.seconds, 3),
        m0_to_t1_shift_mm=round(moved, 2),
    )
    return compose(t1_reg.transform, asl_reg.transform), info


def analyse_regions(
    cbf: Array,
    mask: NDArray[np.bool_],
    geometry: Geometry,
    m0: Array,
    atlas: Atlas,
    *,
    att: Array | None = None,
    anatomy: Volume | None = None,
    reference: Reference = "cerebellum",
    transform: sitk.Transform | None = None,
) -> RegionalAnalysis:
    """Register (unless ``transform`` is given: ASL LPS → template LPS), bring the atlas into
    ASL space and compute every region's values and the panels."""
    if reference not in REFERENCES:
        raise InputError(f"reference = {reference!r} is not known; choose one of {', '.join(REFERENCES)}")
    t0 = time.perf_counter()
    try:
        if transform is None:
            transform, info = _register(m0, mask, geometry, atlas, anatomy)
        else:
            info = {"input": "given", "stages": [], "seconds": 0.0, "template": atlas.name}
        target = Volume.from_geometry(np.zeros(geometry.shape), geometry)
        t1 = time.perf_counter()
        label_map = warp_labels(atlas.labels, transform, target)
        gm = sample_fraction(atlas.grey_matter, transform, target)
    except RuntimeError as exc:  # ITK's errors (e.g. an empty image) arrive as RuntimeError
        raise InputError(f"registration to {atlas.name} failed: {str(exc).strip().splitlines()[-1][:200]}") from exc
    info["regions_seconds"] = round(time.perf_counter() - t1, 3)
    warnings: list[str] = []
    finite = np.isfinite(cbf)
    brain = mask & finite
    values: dict[str, RegionValue] = {}
    masks: dict[str, NDArray[np.bool_]] = {}
    segment = 0
    for key, region in REGIONS.items():
        idx = atlas.indices(region.labels)
        m = np.isin(label_map, idx) & brain
        if int(m.sum()) < MIN_VOXELS:
            continue
        segment += 1
        masks[key] = m
        mean, median, sd = _summary(cbf[m])
        att_mean = float(np.mean(att[m])) if att is not None else None
        values[key] = RegionValue(region, segment, int(m.sum()), mean, median, sd, att_mean)
    if reference == "cerebellum":
        ref = values.get("cerebellum")
        ref_cbf = ref.cbf_mean if ref is not None else None
        if ref is None:
            warnings.append("the cerebellum is not in the imaged volume: relative CBF is not available")
    else:
        gm_mask = brain & (gm >= GREY_MATTER_FRACTION)
        ref_cbf = float(np.mean(cbf[gm_mask])) if gm_mask.sum() >= MIN_VOXELS else None
    if ref_cbf is not None and ref_cbf <= 0:
        warnings.append(f"the {reference} reference CBF is {ref_cbf:.1f}: relative CBF is not available")
        ref_cbf = None
    for v in values.values():
        if ref_cbf is not None and v.cbf_mean is not None:
            v.relative = v.cbf_mean / ref_cbf
    gm_all = brain & (gm >= GREY_MATTER_FRACTION)
    if gm_all.sum() >= MIN_VOXELS:
        values["grey_matter"] = RegionValue(
            Region("grey_matter", "grey_matter", "", "tissue", frozenset(), "Grey matter (atlas tissue map >= 50 %)",
                   "灰质（图谱组织概率 ≥ 50%）", "GrayMatter"),
            segment + 1, int(gm_all.sum()), *_summary(cbf[gm_all]),
            float(np.mean(att[gm_all])) if att is not None else None,
            float(np.mean(cbf[gm_all])) / ref_cbf if ref_cbf else None,
        )
        masks["grey_matter"] = gm_all
    panels = {key: _panel(panel, values) for key, panel in PANELS.items()}
    info["total_seconds"] = round(time.perf_counter() - t0, 3)
    return RegionalAnalysis(
        atlas=atlas.name,
        reference=reference,
        reference_cbf=ref_cbf,
        registration=info,
        values=values,
        panels=panels,
        label_map=label_map,
        grey_matter=gm,
        masks=masks,
        has_att=att is not None,
        provenance=dict(atlas.provenance),
        warnings=warnings,
        transform=transform,
    )


def _panel(panel: Panel, values: dict[str, RegionValue]) -> list[PanelRow]:
    rows = []
    for base in panel.bases:
        left, right = values.get(f"{base}_L"), values.get(f"{base}_R")
        template = REGIONS.get(f"{base}_L")
        if template is None:
            continue
        rows.append(
            PanelRow(
                base, template.name_en, template.name_zh, left, right,
                asymmetry_index(left.cbf_mean if left else None, right.cbf_mean if right else None),
            )
        )
    return rows
