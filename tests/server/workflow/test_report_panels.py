"""Disease-panel pages of the PDF report, built through the workflow's seam (quant_bridge.compute)."""

from __future__ import annotations

import subprocess
import zipfile

import pytest

from server.db.analysis import AnalysisJob
from server.workflow import quant_bridge, reports
from server.workflow.report_panels import FIGURE_NAMES
from tests.quant.conftest import ASL, asl_niftis


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    from server.commands.quant_inputs import acquisition_from_bids

    target = tmp_path_factory.mktemp("dro_E")
    with zipfile.ZipFile(next((ASL / "dro").glob("dro_E_*.zip"))) as zf:
        zf.extractall(target)
    return quant_bridge.compute(acquisition_from_bids(asl_niftis(target)), {}, "auto")


def test_compute_puts_regions_and_panel_csvs_into_the_statistics(computed) -> None:
    regions = computed.statistics["regions"]
    assert regions["reference"] == "cerebellum" and regions["registration"]["input"] == "M0"
    assert set(regions["panels"]) == {"alzheimers", "cerebrovascular", "metabolic"}
    assert regions["csv"].startswith("region,name,side,group,n,cbf_mean")
    assert regions["panels_csv"]["alzheimers"].splitlines()[1].startswith("posterior_cingulate,")
    assert {d.Modality for d in computed.datasets} >= {"SEG", "SR"}


def test_pdf_has_a_page_per_panel_with_table_and_figures(computed, tmp_path) -> None:
    figures = reports.render_figures(computed.cbf, computed.statistics, computed.regional_csv, computed.regions)
    assert set(FIGURE_NAMES) <= set(figures)
    assert all(figures[name].startswith(b"\x89PNG") for name in FIGURE_NAMES)
    job = AnalysisJob(
        study_instance_uid="1.2.3", acquisition_key="k", label="DRO E", patient_name="DRO^E", version=1,
        statistics=computed.statistics, provenance=computed.provenance, regional_csv=computed.regional_csv,
    )
    for lang, titles in (
        ("en", ["Alzheimer's disease panel", "Cerebrovascular panel", "Endocrine / metabolic panel"]),
        ("zh-CN", ["阿尔茨海默病分析", "脑血管病分析", "内分泌/代谢性疾病分析"]),
    ):
        pdf = tmp_path / f"report-{lang}.pdf"
        pdf.write_bytes(reports.build_pdf(job, figures, lang))
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
        for title in titles:
            assert title in text, (lang, title)
        assert "Tatu L" in text and "Liu J" in text  # sources cited on the pages
    assert "MCA" in text or "大脑中动脉" in text
