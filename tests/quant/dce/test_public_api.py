"""The DCE surface the server integration will call is declared and stays put."""

from __future__ import annotations

import quant
import quant.dce
from quant.dce import params

EXPECTED = {
    "DEFAULTS",
    "MAP_UNITS",
    "MIN_PHASES",
    "MODELS",
    "MODEL_MAPS",
    "OVERRIDE_NAMES",
    "RELAXIVITY",
    "SEMIQUANT_UNITS",
    "Aif",
    "DceAcquisition",
    "DcePhase",
    "DceResult",
    "DceSeriesInfo",
    "FitResult",
    "NotDceError",
    "VfaVolume",
    "build_derived_datasets",
    "classify_series",
    "classify_study",
    "concentration",
    "curve_parameters",
    "detect_arterial_voxels",
    "fit_model",
    "map_statistics",
    "forward",
    "parker_blood",
    "quantify",
    "relaxivity_param",
    "spgr_signal",
    "statistics_csv",
    "vfa_t1",
    "weinmann_plasma",
}


def test_public_names() -> None:
    assert set(quant.dce.__all__) == EXPECTED
    for name in quant.dce.__all__:
        assert getattr(quant.dce, name) is not None


def test_errors_are_quant_errors() -> None:
    assert issubclass(quant.dce.NotDceError, quant.QuantError)
    assert not issubclass(quant.dce.NotDceError, quant.NotAslError)


def test_every_override_is_documented() -> None:
    doc = params.__doc__ or ""
    for name in params.OVERRIDE_NAMES:
        assert f"``{name}``" in doc, name


def test_the_asl_surface_is_unchanged() -> None:
    assert "dce" not in quant.__all__
