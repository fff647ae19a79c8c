"""Disease-panel pages of the PDF report: a table, a left/right bar chart and map slices with
region outlines per panel (Alzheimer's, cerebrovascular, endocrine/metabolic).

The figures are rendered when the job runs (they need the maps and the label map) and kept
with the other report figures; the pages are built from ``statistics["regions"]`` (the JSON
form of :class:`quant.regions.RegionalAnalysis`) and those figures, so the PDF can be rebuilt
later without the arrays.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Spacer
from scipy import ndimage

from quant.regions import PANELS, REGIONS
from server.app_errors import NotFoundError, StateConflict

__all__ = ["FIGURE_NAMES", "panel_csv_of", "panel_figures", "panel_pages", "panel_csvs"]

FIGURE_NAMES = tuple(f"panel_{k}_{part}" for k in PANELS for part in ("bars", "maps"))
LEFT_COLOUR, RIGHT_COLOUR = "#1f77b4", "#d62728"

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "region": "Region", "left": "Left", "right": "Right", "cbf": "CBF (ml/100g/min)",
        "relative": "Relative CBF", "ai": "Asymmetry (L−R) %", "att": "ATT (s)", "reference": "Reference",
        "cerebellum": "cerebellum", "grey_matter": "whole grey matter", "sources": "Sources",
        "registration": "Registration", "atlas": "Atlas", "none": "not available",
    },
    "zh-CN": {
        "region": "区域", "left": "左", "right": "右", "cbf": "CBF (ml/100g/min)", "relative": "相对 CBF",
        "ai": "不对称指数（左−右）%", "att": "ATT（秒）", "reference": "参照区", "cerebellum": "小脑",
        "grey_matter": "全脑灰质", "sources": "文献", "registration": "配准", "atlas": "图谱", "none": "不可用",
    },
}


def panel_csvs(regions: Any) -> dict[str, str]:
    """One CSV per panel (``regions`` is a :class:`quant.regions.RegionalAnalysis`)."""
    return {key: regions.panel_csv(key) for key in regions.panels}


def panel_csv_of(job_id: int, statistics: dict[str, Any], name: str) -> str:
    """The stored CSV of panel ``name`` (404 for a panel that does not exist, 409 for a result
    without regional analysis, e.g. a DCE job or one whose registration failed)."""
    if name not in PANELS:
        raise NotFoundError(f"there is no panel {name!r}; panels: {', '.join(PANELS)}")
    regions = statistics.get("regions") or {}
    csvs = regions.get("panels_csv") or {}
    if name not in csvs:
        raise StateConflict(f"analysis job {job_id} has no regional analysis: no {name} panel")
    return str(csvs[name])


def _png(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _bars(rows: list[dict[str, Any]], relative: bool, title: str) -> bytes:
    names = [r["name_en"] for r in rows]
    field = "relative_cbf" if relative else "cbf_mean"
    left = [((r["left"] or {}).get(field) or 0.0) for r in rows]
    right = [((r["right"] or {}).get(field) or 0.0) for r in rows]
    x = np.arange(len(rows))
    fig = Figure(figsize=(7.5, 3.0))
    ax = fig.subplots()
    ax.bar(x - 0.2, left, 0.4, label="L", color=LEFT_COLOUR)
    ax.bar(x + 0.2, right, 0.4, label="R", color=RIGHT_COLOUR)
    if relative:
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, [n.replace(" ", "\n", 1) for n in names], fontsize=7)
    ax.set_ylabel("relative CBF" if relative else "CBF (ml/100g/min)", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _slices(masks: dict[str, np.ndarray], keys: list[str], n: int = 4) -> list[int]:
    """Up to ``n`` axial slices: each region's largest cross-section, spread over the panel."""
    best = []
    for k in keys:
        area = masks[k].sum(axis=(1, 2))
        if area.max() > 0:
            best.append(int(np.argmax(area)))
    chosen = sorted(set(best))
    if len(chosen) > n:
        chosen = [chosen[int(round(i))] for i in np.linspace(0, len(chosen) - 1, n)]
    return chosen


def _maps(cbf: np.ndarray, masks: dict[str, np.ndarray], bases: list[str], names: dict[str, str]) -> bytes:
    """Axial slices through the panel's regions: CBF in grey (0–100 ml/100g/min) under one outline
    colour per region (left and right alike), a legend naming them; radiological orientation
    (the patient's left on the image's right, as stored: DICOM columns run to the patient's left)."""
    keys = [f"{b}_{s}" for b in bases for s in ("L", "R") if f"{b}_{s}" in masks]
    slices = _slices(masks, keys)
    fig = Figure(figsize=(7.5, 2.9))
    axes = fig.subplots(1, max(1, len(slices)), squeeze=False)
    palette = colormaps["tab10"]
    up = 2  # outlines drawn on a 2× finer grid: half-voxel lines that do not hide the voxels they bound
    for ax in axes.flat:
        ax.axis("off")
    for ax, z in zip(axes.flat, slices, strict=False):
        ax.imshow(np.nan_to_num(cbf[z]), cmap="gray", vmin=0, vmax=100, interpolation="nearest",
                  extent=(0, cbf.shape[2], cbf.shape[1], 0))
        # Outlines as one RGBA overlay (border sub-voxels), far cheaper than contour lines.
        overlay = np.zeros((cbf.shape[1] * up, cbf.shape[2] * up, 4))
        for i, base in enumerate(bases):
            for side in ("L", "R"):
                m = masks.get(f"{base}_{side}")
                if m is None or not m[z].any():
                    continue
                fine = np.kron(m[z], np.ones((up, up), dtype=bool))
                edge = fine & ~ndimage.binary_erosion(fine, iterations=1)
                overlay[edge] = (*palette(i % 10)[:3], 1.0)
        ax.imshow(overlay, interpolation="nearest", extent=(0, cbf.shape[2], cbf.shape[1], 0))
        ax.set_title(f"slice {z + 1}", fontsize=7)
        ax.text(0.02, 0.5, "R", transform=ax.transAxes, color="white", fontsize=7, va="center")
        ax.text(0.98, 0.5, "L", transform=ax.transAxes, color="white", fontsize=7, va="center", ha="right")
    handles = [Patch(facecolor=palette(i % 10), label=names.get(b, b)) for i, b in enumerate(bases)]
    fig.legend(handles=handles, loc="lower center", ncol=min(5, len(handles)), fontsize=6.5, frameon=False)
    fig.tight_layout(rect=(0, 0.14 if len(handles) <= 5 else 0.2, 1, 1))
    return _png(fig, dpi=160)


def panel_figures(cbf: Any, regions: Any) -> dict[str, bytes]:
    """PNG figures of every panel: ``panel_<key>_bars`` and (with the label masks of a
    :class:`quant.regions.RegionalAnalysis`) ``panel_<key>_maps``. ``regions`` may also be its
    JSON form (``statistics["regions"]``): then only the bar charts are drawn."""
    data = regions if isinstance(regions, dict) else regions.as_dict()
    masks = {} if isinstance(regions, dict) else regions.masks
    out: dict[str, bytes] = {}
    for key, panel in PANELS.items():
        rows = data.get("panels", {}).get(key, [])
        if not rows:
            continue
        out[f"panel_{key}_bars"] = _bars(rows, panel.relative and data.get("reference_cbf") is not None,
                                         panel.title_en)
        if cbf is not None and any(f"{b}_{s}" in masks for b in panel.bases for s in ("L", "R")):
            names = {r["base"]: r["name_en"] for r in rows}
            out[f"panel_{key}_maps"] = _maps(np.asarray(cbf, dtype=float), masks, list(panel.bases), names)
    return out


def _f(v: Any, digits: int = 1) -> str:
    return "" if v is None else f"{float(v):.{digits}f}"


def panel_pages(
    regions: dict[str, Any],
    figures: dict[str, bytes],
    lang: str,
    *,
    para: Callable[..., Any],
    table: Callable[..., Any],
    image: Callable[[bytes, float], Any],
    heading: Any,
    small: Any,
) -> list[Any]:
    """ReportLab flowables: one page per panel (call with the report's own helpers and styles)."""
    t = TEXT["zh-CN" if lang == "zh-CN" else "en"]
    zh = lang == "zh-CN"
    reference = t.get(str(regions.get("reference")), str(regions.get("reference")))
    ref_cbf = regions.get("reference_cbf")
    has_att = bool(regions.get("has_att"))
    story: list[Any] = []
    for key, panel in PANELS.items():
        rows = regions.get("panels", {}).get(key) or []
        if not rows:
            continue
        story.append(PageBreak())
        story.append(para(panel.title_zh if zh else panel.title_en, heading))
        story.append(para(
            f"{t['reference']}: {reference} ({_f(ref_cbf) or t['none']} ml/100g/min) · {t['atlas']}: "
            f"{regions.get('atlas', '')} · {t['registration']}: {regions.get('registration', {}).get('input', '')} "
            f"({', '.join(regions.get('registration', {}).get('stages', []))})",
            small,
        ))
        head = [t["region"], f"{t['cbf']} {t['left']}", f"{t['cbf']} {t['right']}", f"{t['relative']} {t['left']}",
                f"{t['relative']} {t['right']}", t["ai"]]
        if panel.att and has_att:
            head += [f"{t['att']} {t['left']}", f"{t['att']} {t['right']}"]
        body = [head]
        for r in rows:
            left, right = r.get("left") or {}, r.get("right") or {}
            line = [r["name_zh"] if zh else r["name_en"], _f(left.get("cbf_mean")), _f(right.get("cbf_mean")),
                    _f(left.get("relative_cbf"), 2), _f(right.get("relative_cbf"), 2),
                    _f(r.get("asymmetry_index_percent"))]
            if panel.att and has_att:
                line += [_f(left.get("att_mean"), 2), _f(right.get("att_mean"), 2)]
            body.append(line)
        story.append(table(body))
        story.append(Spacer(1, 3 * mm))
        for part in ("bars", "maps"):
            data = figures.get(f"panel_{key}_{part}")
            if data:
                story.append(image(data, 170 * mm))
        story.append(para(t["sources"] + ": " + " ".join(panel.sources), small))
    return story


def region_name(key: str, lang: str) -> str:
    region = REGIONS.get(key)
    if region is None:
        return key
    side = {"L": ("L", "左"), "R": ("R", "右")}.get(region.side)
    name = region.name_zh if lang == "zh-CN" else region.name_en
    return f"{name} {side[1] if lang == 'zh-CN' else side[0]}" if side else name
