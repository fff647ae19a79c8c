"""The PDF's regional table on studies with many slices (40 and 64): every row is printed, a table longer than a
page continues on the next page with its header row repeated (pdftotext reads the pages back)."""

from __future__ import annotations

import subprocess

import pytest

from server.db.analysis import AnalysisJob
from server.workflow import reports

HEADER = "region,n,mean,median,sd,unit"


def regional_csv(slices: int) -> str:
    rows = [HEADER, "whole_brain,92810,41.974,41.565,30.095,ml/100g/min",
            "grey_matter_like,46406,63.417,58.560,22.917,ml/100g/min",
            "left_hemisphere,46397,41.880,,,ml/100g/min", "right_hemisphere,46413,42.067,,,ml/100g/min",
            "asymmetry_index,,-0.446,,,%"]
    rows += [f"slice_{k},{100 + k},{30 + k / 10:.3f},{29 + k / 10:.3f},20.000,ml/100g/min" for k in range(slices)]
    return "\n".join(rows) + "\n"


def first_cells(text: str) -> list[str]:
    return [line.strip().split("  ")[0].strip() for line in text.splitlines() if line.strip()]


def page_texts(pdf: bytes) -> list[str]:
    pages = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True).stdout
    return pages.decode().split("\f")


@pytest.mark.parametrize(("lang", "slices"), [("en", 40), ("zh-CN", 40), ("en", 64), ("zh-CN", 64)])
def test_a_long_regional_table_continues_on_the_next_page_with_its_header(lang: str, slices: int) -> None:
    job = AnalysisJob(study_instance_uid="1.2.3", acquisition_key="k", label="3D pCASL", patient_name="A^B",
                      version=1, statistics={}, provenance={}, regional_csv=regional_csv(slices))
    pages = page_texts(reports.build_pdf(job, {}, lang))
    labels = [reports.region_label(f"slice_{k}", lang) for k in range(slices)]
    where = {}
    for label in labels:
        found = [i for i, text in enumerate(pages) if label in first_cells(text)]
        assert found, f"{label} is missing from the PDF"
        where[label] = found[0]
    first, last = where[labels[0]], where[labels[-1]]
    # 6 summary rows + 40 slices fill the page; 64 slices surely need a second one.
    assert last == first + 1 or (slices == 40 and last == first), "the table should continue on the next page"
    column = reports.REGIONS[lang].get("mean", "mean")
    for page in sorted({first, last}):
        # The header row (its "mean" column title) on both pages, above the first row there.
        text = pages[page]
        rows_here = [label for label in labels if where[label] == page]
        assert column in text and text.index(column) < text.index(rows_here[0]), (lang, page)
    # No row printed twice (a split repeats the header, never data).
    cells = [c for page in sorted({first, last}) for c in first_cells(pages[page])]
    assert all(cells.count(label) == 1 for label in labels)
