"""Fixtures for the quantification tests: DRO sets unzipped once per session, vendor series."""

from __future__ import annotations

import glob
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.conftest import SHARED_DATA

ASL = SHARED_DATA / "asl"


@pytest.fixture(scope="session")
def dro_dir(tmp_path_factory: pytest.TempPathFactory):
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            zip_path = next((ASL / "dro").glob(f"dro_{name}_*.zip"))
            target = tmp_path_factory.mktemp(f"dro_{name}")
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(target)
            cache[name] = target
        return cache[name]

    return get


def truth(folder: Path, quantity: str) -> np.ndarray:
    """A DRO ground-truth map as (z, y, x)."""
    from server.commands.quant_inputs import load_volume_zyx

    return load_volume_zyx(next((folder / "ground_truth").glob(f"*_ground_truth_{quantity}.nii.gz")))


def asl_niftis(folder: Path) -> list[Path]:
    return sorted((folder / "asl").glob("*_asl.nii.gz"))


def read_series(*relative: str, limit: int | None = None) -> list[pydicom.Dataset]:
    """The files of one or more sample folders (the first ``limit`` files of each, sorted)."""
    files = [f for r in relative for f in sorted(glob.glob(str(ASL / r / "*.dcm")))[:limit]]
    assert files, f"no shared data under {relative}"
    return [pydicom.dcmread(f) for f in files]
