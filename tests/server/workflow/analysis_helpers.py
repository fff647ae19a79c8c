"""Helpers for the analysis end-to-end tests: archives of shared data, waiting, PDF pages."""

from __future__ import annotations

import io
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

FINAL = {"succeeded", "failed", "cancelled", "waiting"}


def zip_folder(root: Path, base: Path | None = None) -> bytes:
    base = base or root.parent
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(base).as_posix())
    return buf.getvalue()


def wait_jobs(get, ids: list[int], timeout: float = 180, final=FINAL) -> dict[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Poll ``get(path)`` until every job is in a final state; return the full job JSONs."""
    deadline = time.monotonic() + timeout
    jobs: dict[int, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        jobs = {i: get(f"/api/jobs/{i}").json() for i in ids}
        if all(j["state"] in final for j in jobs.values()):
            return jobs
        time.sleep(0.5)
    raise AssertionError(f"jobs not finished after {timeout}s: {[(i, j['state']) for i, j in jobs.items()]}")


def pdf_pages(pdf: bytes, tmp: Path, dpi: int = 60) -> list[np.ndarray]:
    """Render every page with poppler's pdftoppm; return RGB arrays."""
    if shutil.which("pdftoppm") is None:
        raise AssertionError("pdftoppm (poppler-utils) is needed: make system-deps installs it")
    src = tmp / "report.pdf"
    src.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(src), str(tmp / "page")], check=True)
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(tmp.glob("page-*.png"))]


def colourful_fraction(page: np.ndarray) -> float:
    """Share of strongly coloured pixels (the CBF colour map; text and tables are grey)."""
    rgb = page.astype(int)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return float((spread > 80).mean())


def ink_fraction(page: np.ndarray) -> float:
    return float((page.min(axis=2) < 200).mean())
