"""The public surface of ``quant`` is declared, locked, and the only part the server touches."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    Comprehensive3DSRStorage,
    EncapsulatedPDFStorage,
    MRImageStorage,
    ParametricMapStorage,
    SecondaryCaptureImageStorage,
    SegmentationStorage,
)

import quant

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    "DEFAULTS",
    "MODELS",
    "OVERRIDE_NAMES",
    "AslAcquisition",
    "AslVolume",
    "ControlLabelMismatchError",
    "Geometry",
    "GeometryMismatchError",
    "InputError",
    "MapComparison",
    "MissingM0Error",
    "MissingParameterError",
    "NotAslError",
    "Param",
    "PRESET_NAMES",
    "PresetApplication",
    "ProtocolKey",
    "QcFlag",
    "QcReport",
    "QuantError",
    "QuantResult",
    "SeriesInfo",
    "TIME_PARAMETERS",
    "Source",
    "UnitsError",
    "apply_preset",
    "build_derived_datasets",
    "classify_series",
    "classify_study",
    "compare_with_scanner_maps",
    "derived_role",
    "VolumeKind",
    "geometry_from_affine",
    "parse_time",
    "preset_values",
    "protocol_key",
    "quantify",
    "statistics_csv",
    "time_param",
}


def test_public_names_are_locked() -> None:
    assert set(quant.__all__) == EXPECTED
    assert len(quant.__all__) == len(EXPECTED), "no name is exported twice"


def _quant_names_used_by(path: Path) -> set[str]:
    """Names the module takes from quant: ``from quant import X``, ``quant.X``; submodules as 'quant.sub'."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "quant":
            if node.module == "quant":
                used.update(a.name for a in node.names)
            else:
                used.add(node.module)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "quant":
            used.add(node.attr)
    return used


# Subpackages with a public surface of their own (their ``__all__``), imported as ``from quant.x import y``.
SUBPACKAGES = ("quant.regions", "quant.dce")


def _subpackage_names_used_by(path: Path) -> set[str]:
    """``package.name`` for every ``from quant.<subpackage> import name`` that is not public there."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in SUBPACKAGES:
            public = set(importlib.import_module(node.module).__all__)
            bad.update(f"{node.module}.{a.name}" for a in node.names if a.name not in public)
    return bad


def test_the_server_uses_only_the_public_surface() -> None:
    offenders = {}
    for path in sorted((ROOT / "server").rglob("*.py")):
        outside = (_quant_names_used_by(path) - EXPECTED - set(SUBPACKAGES)) | _subpackage_names_used_by(path)
        if outside:
            offenders[str(path.relative_to(ROOT))] = sorted(outside)
    assert offenders == {}


def test_the_surface_check_sees_a_private_use(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import quant\nfrom quant.engine import _fit\nquant.kinetics.fit()\nquant.quantify()\n")
    assert _quant_names_used_by(bad) - EXPECTED == {"quant.engine", "kinetics"}


def test_every_error_is_a_quant_error() -> None:
    errors = [n for n in EXPECTED if n.endswith("Error")]
    assert len(errors) == 8
    for name in errors:
        assert issubclass(getattr(quant, name), quant.QuantError)


def test_documented_override_names() -> None:
    doc = quant.params.__doc__ or ""
    for name in quant.OVERRIDE_NAMES:
        assert f"``{name}``" in doc or name.startswith("ge_"), name


def _derived(sop_class: str, image_type: list[str] | None = None, label: str = "") -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    if image_type:
        ds.ImageType = image_type
    if label:
        ds.ContentLabel = label
    return ds


@pytest.mark.parametrize(
    ("ds", "role"),
    [
        (_derived(MRImageStorage, ["DERIVED", "SECONDARY", "CBF"]), "CBF"),
        (_derived(MRImageStorage, ["DERIVED", "SECONDARY", "ATT"]), "ATT"),
        (_derived(ParametricMapStorage, label="CBF"), "CBF_PMAP"),
        (_derived(SecondaryCaptureImageStorage, ["DERIVED", "SECONDARY", "CBF"]), "CBF_COLOUR"),
        (_derived(EncapsulatedPDFStorage), "REPORT"),
        (_derived(SegmentationStorage, label="REGIONS"), "REGIONS_SEG"),
        (_derived(Comprehensive3DSRStorage), "MEASUREMENTS_SR"),
    ],
)
def test_derived_roles_come_from_what_the_object_is(ds: Dataset, role: str) -> None:
    ds.SeriesDescription = "renamed by someone"  # never read
    assert quant.derived_role(ds) == role


def test_an_object_that_names_no_quantity_has_no_role() -> None:
    with pytest.raises(ValueError, match="names no quantity"):
        quant.derived_role(_derived(MRImageStorage, ["ORIGINAL", "PRIMARY", "M", "ND"]))
    with pytest.raises(ValueError, match="ContentLabel"):
        quant.derived_role(_derived(ParametricMapStorage))
