"""DCE-MRI pharmacokinetic analysis as a pure library: no I/O.

Public API (locked by ``tests/quant/dce/test_public_api.py``)::

    acqs = classify_study(datasets)               # pydicom datasets of one study -> [DceAcquisition]
    acq.missing                                   # parameter names a person must enter
    result = quantify(acq, overrides={"aif": "parker"}, model="extended_tofts")   # -> DceResult
    derived = build_derived_datasets(result, acq) # -> [pydicom.Dataset] (MR maps, Parametric Maps, colour)
    text = statistics_csv(result)                 # regional values (mask and ROIs) as CSV

``classify_study`` raises :class:`NotDceError` when a study holds no DCE series; ``classify_series``
gives one series' role (``dce``, ``vfa``, ``other``) with the reason. Override names and units are
listed in :mod:`quant.dce.params`; errors derive from :class:`quant.QuantError`.
``DceAcquisition.summary()`` and ``DceResult.as_dict()`` are JSON-ready.
"""

from quant.dce.acquisition import DceAcquisition, DcePhase, DceSeriesInfo, VfaVolume
from quant.dce.aif import Aif, detect_arterial_voxels, parker_blood, weinmann_plasma
from quant.dce.derived import build_derived_datasets
from quant.dce.engine import MAP_UNITS, MODEL_MAPS, DceResult, quantify, statistics_csv
from quant.dce.errors import NotDceError
from quant.dce.models import MODELS, FitResult, fit_model, forward
from quant.dce.params import DEFAULTS, OVERRIDE_NAMES, RELAXIVITY, relaxivity_param
from quant.dce.recognition import MIN_PHASES, classify_series, classify_study
from quant.dce.semiquant import SEMIQUANT_UNITS, curve_parameters
from quant.dce.signal import concentration, spgr_signal, vfa_t1
from quant.dce.stats import map_statistics

__all__ = [
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
]
