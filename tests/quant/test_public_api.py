"""The public surface the analysis workflow relies on is declared and stays put."""

from __future__ import annotations

import quant

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
    "PresetApplication",
    "ProtocolKey",
    "QcFlag",
    "QcReport",
    "QuantError",
    "QuantResult",
    "SeriesInfo",
    "UnitsError",
    "apply_preset",
    "build_derived_datasets",
    "classify_series",
    "classify_study",
    "compare_with_scanner_maps",
    "geometry_from_affine",
    "parse_time",
    "preset_values",
    "protocol_key",
    "quantify",
    "statistics_csv",
    "time_param",
}


def test_public_names() -> None:
    assert set(quant.__all__) == EXPECTED
    for name in quant.__all__:
        assert getattr(quant, name) is not None


def test_every_error_is_a_quant_error() -> None:
    for name in (
        "ControlLabelMismatchError",
        "GeometryMismatchError",
        "InputError",
        "MissingM0Error",
        "MissingParameterError",
        "NotAslError",
        "UnitsError",
    ):
        assert issubclass(getattr(quant, name), quant.QuantError)


def test_documented_override_names() -> None:
    doc = quant.params.__doc__ or ""
    for name in quant.OVERRIDE_NAMES:
        assert f"``{name}``" in doc or name.startswith("ge_"), name
