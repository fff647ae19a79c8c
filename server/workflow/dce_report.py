"""The report of a DCE job: figures (Ktrans slices, ROI curves against the AIF) and the PDF.

Figures are PNGs kept in the blob store under the same names as the ASL ones (``slices`` and
``plot``), so ``reports.load_figures`` finds them and the PDF can be rebuilt after the diagnostic
text was edited. ``build_pdf_for`` picks the ASL or the DCE layout by the job's kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak

from server.db.analysis import AnalysisJob
from server.workflow import reports
from server.workflow.dce_params import is_dce

KTRANS_VMAX = 0.5  # 1/min, as the colour series
CURVE_COLOURS = ("#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "DCE-MRI pharmacokinetic analysis report",
        "ktrans": "Ktrans (volume transfer constant), 1/min",
        "summary": "Fitted (enhancing) voxels",
        "curves": "Time–intensity curves: tissue regions and arterial input function (AIF)",
        "regional": "Regional values",
        "model": "Model",
        "region": "Region", "map": "Map", "n": "Voxels", "mean": "Mean", "median": "Median", "sd": "SD",
        "p25": "P25", "p75": "P75", "unit": "Unit",
        "mask": "Enhancing mask", "hotspot": "Ktrans hot spot (top 10 %)", "aif_region_row": "Arterial region (AIF)",
        "aif_population": "Arterial input function: population AIF ({kind})",
        "aif_region": "Arterial input function: {how} region, {n} voxels on slice(s) {slices} "
                      "(1-based), centre slice/row/column {centre}; {detail}",
        "drawn": "drawn", "auto": "automatically detected",
    },
    "zh-CN": {
        "title": "DCE-MRI 药代动力学分析报告",
        "ktrans": "Ktrans（容积转运常数），1/min",
        "summary": "拟合（强化）体素",
        "curves": "时间-信号强度曲线：组织区域与动脉输入函数（AIF）",
        "regional": "分区数值",
        "model": "模型",
        "region": "区域", "map": "参数图", "n": "体素数", "mean": "平均值", "median": "中位数", "sd": "标准差",
        "p25": "P25", "p75": "P75", "unit": "单位",
        "mask": "强化区域", "hotspot": "Ktrans 热点（前 10 %）", "aif_region_row": "动脉区域（AIF）",
        "aif_population": "动脉输入函数：群体 AIF（{kind}）",
        "aif_region": "动脉输入函数：{how}区域，{n} 个体素，层面 {slices}（从 1 起），中心 层/行/列 {centre}；{detail}",
        "drawn": "手绘", "auto": "自动检测",
    },
}
MODEL_NAMES = {"extended_tofts": "extended Tofts", "tofts": "Tofts", "patlak": "Patlak"}




def render_figures(result: Any) -> dict[str, bytes]:
    """``slices``: a Ktrans montage with a colour bar; ``plot``: mean concentration curves of the
    mask and the ROIs against the plasma AIF (matplotlib object API: safe in worker threads)."""
    vol = np.nan_to_num(np.asarray(result.maps["ktrans"], dtype=float))
    nz = vol.shape[0]
    picks = np.unique(np.linspace(0, nz - 1, min(nz, 12)).round().astype(int))
    cols = min(4, len(picks))
    rows = int(np.ceil(len(picks) / cols))
    fig = Figure(figsize=(8, 2.1 * rows + 0.6))
    axes = fig.subplots(rows, cols, squeeze=False)
    image = None
    for ax in axes.flat:
        ax.axis("off")
    for ax, z in zip(axes.flat, picks, strict=False):
        image = ax.imshow(vol[z], cmap="inferno", vmin=0, vmax=KTRANS_VMAX, interpolation="nearest")
        ax.set_title(f"slice {z + 1}", fontsize=8)
    if image is not None:
        bar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, pad=0.02)
        bar.set_label("Ktrans 1/min", fontsize=8)
    out = {"slices": reports.png_bytes(fig)}

    t = np.asarray(result.phase_times, dtype=float)
    fig = Figure(figsize=(7.5, 3.4))
    ax = fig.subplots()
    curves = {k: v for k, v in result.curves.items() if k != "aif_region"}
    for i, (name, curve) in enumerate(curves.items()):
        ax.plot(t, curve["concentration_mM"], color=CURVE_COLOURS[i % len(CURVE_COLOURS)], label=name, lw=1.6)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("tissue concentration (mM)")
    twin = ax.twinx()
    twin.plot(t, result.aif, color="#d95f02", ls="--", lw=1.4, label=f"AIF ({result.aif_kind}, plasma)")
    twin.set_ylabel("AIF plasma concentration (mM)", color="#d95f02")
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper right")
    fig.tight_layout()
    out["plot"] = reports.png_bytes(fig)
    return out




def aif_line(aif: dict[str, Any], t: dict[str, str]) -> str:
    """Where the AIF came from: the population curve, or the recorded arterial region."""
    region = aif.get("region")
    if not region:
        return t["aif_population"].format(kind=aif.get("kind") or "parker")
    return t["aif_region"].format(
        how=t.get(region.get("how", ""), region.get("how", "")), n=region.get("n_voxels", 0),
        slices=", ".join(str(k + 1) for k in region.get("slices", [])),
        centre="/".join(f"{v + (1 if i == 0 else 0):g}" for i, v in enumerate(region.get("centroid", []))),
        detail=region.get("detail", ""))


def build_pdf_for(job: AnalysisJob, figures: dict[str, bytes], lang: str = "zh-CN") -> bytes:
    """The job's PDF in its method's layout."""
    return build_pdf(job, figures, lang) if is_dce(job) else reports.build_pdf(job, figures, lang)


def build_pdf(job: AnalysisJob, figures: dict[str, bytes], lang: str = "zh-CN") -> bytes:
    lang = reports.language(lang)
    t = {**reports.LABELS[lang], **LABELS[lang]}
    kit = reports.PdfKit(reports.report_font())
    para, table, image, h2 = kit.para, kit.table, kit.image, kit.h2

    dce = (job.statistics or {}).get("dce") or {}
    model = str((job.statistics or {}).get("model", ""))
    model_row = [t["model"], MODEL_NAMES.get(model, model), "", ""]
    story: list[Any] = [para(t["title"], kit.h1), kit.job_header(job, t, model_row)]
    story.append(para(t["ktrans"], h2))
    if "slices" in figures:
        story.append(image(figures["slices"], 175 * mm))
    mask = dce.get("mask") or {}
    maps = mask.get("maps") or {}
    units = dce.get("units") or {}
    parts = [
        f"{name} {reports.fmt_value((maps.get(name) or {}).get('median'))} {units.get(name, '')}".strip()
        for name in ("ktrans", "ve", "kep", "vp")
        if name in maps
    ]
    story.append(para(f"{t['summary']}: {mask.get('n_voxels', 0)}; {t['median']}: " + ", ".join(parts)))
    story.append(PageBreak())

    story.append(para(t["curves"], h2))
    if "plot" in figures:
        story.append(image(figures["plot"], 165 * mm))
    story.append(para(aif_line(dce.get("aif") or {}, t)))
    story.append(para(t["regional"], h2))
    head, rows = reports.regional_rows(job.regional_csv)
    if head:
        names = {"mask": t["mask"], "hotspot": t["hotspot"], "aif_region": t["aif_region_row"]}
        shown = [r for r in rows if r and r[1] in ("ktrans", "ve", "kep", "vp", "auc", "ttp", "max_enhancement")]
        table_rows = [[names.get(r[0], r[0]), *r[1:]] for r in shown[:60]]
        story.append(table([[t.get(h, h) for h in head], *table_rows]))
    story.append(PageBreak())

    story += kit.parameters_and_diagnosis(job, t)
    return kit.build(story, job, t)


def name_report(epdf: Any, job: AnalysisJob, version: int) -> None:
    """Series description and title of a DCE job's Encapsulated PDF."""
    if is_dce(job):
        epdf.SeriesDescription = f"DCE-MRI report (v{version})"
        epdf.DocumentTitle = f"DCE-MRI pharmacokinetic report v{version}"
