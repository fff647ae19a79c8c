"""ASL perfusion quantification as a pure library: no I/O.

Public API (stable; locked by ``tests/quant/test_public_api.py``)::

    acqs = classify_study(datasets)            # pydicom datasets of one study -> [AslAcquisition]
    acq.missing                                # parameter names a person must enter
    result = quantify(acq, overrides={"pld": [1.8]}, model="auto")   # -> QuantResult
    derived = build_derived_datasets(result, acq)                    # -> [pydicom.Dataset]
    text = statistics_csv(result)

Regional analysis (:mod:`quant.regions`)::

    atlas = server.analysis.atlases.default_atlas().load()      # quant.regions.Atlas (I/O in server/)
    result = quantify(acq, overrides, model, regions=atlas)       # registers via acq.anatomy (T1) or M0
    result.regions                                                # RegionalAnalysis | None (+ warnings)
    derived = build_derived_datasets(result, acq)                 # ... + SEG of the regions + TID 1500 SR

Override names and units are listed in :mod:`quant.params`. Errors derive from :class:`QuantError`.

For the analysis workflow:

- ``classify_study`` raises :class:`NotAslError` when a study holds no ASL series; each
  acquisition's ``summary()`` is JSON-ready (vendor, labeling type, readout, series roles,
  parameters with provenance, ``missing``, scanner-derived maps that were not used).
- Ask a person for every name in ``acq.missing`` and pass the answers as overrides (plain values
  are recorded as ``user``; pass a :class:`Param` with ``source="setting"`` for per-protocol
  configuration). :class:`MissingParameterError` carries ``.missing`` for the same purpose.
- ``QuantResult.as_dict()`` is JSON-ready (model, parameters used with provenance, statistics,
  timings, warnings); ``build_derived_datasets`` returns datasets ready to store (STOW/ingest).
- ``model="auto"``: kinetic fit for several delays, GE's product formula for GE single delay,
  the consensus formula otherwise.
- M0: the acquisition's M0 images; without them (and without declared background suppression)
  the mean control image corrected for its TR, recorded as parameter ``m0`` with source
  ``derived``. Override ``m0="control"`` forces that, ``m0="required"`` refuses it. Siemens
  sequences whose M0 is a separate series wait for it (``MissingM0Error``); a Siemens "M0"
  series acquired with the ASL protocol itself is refused (parameter ``m0_rejected``).
"""

from quant.acquisition import AslAcquisition, AslVolume, Geometry, SeriesInfo, geometry_from_affine
from quant.classify import classify_series, classify_study
from quant.derived import build_derived_datasets
from quant.engine import MODELS, QuantResult, quantify, statistics_csv
from quant.errors import (
    ControlLabelMismatchError,
    GeometryMismatchError,
    InputError,
    MissingM0Error,
    MissingParameterError,
    NotAslError,
    QuantError,
    UnitsError,
)
from quant.params import DEFAULTS, OVERRIDE_NAMES, Param

__all__ = [
    "DEFAULTS",
    "MODELS",
    "OVERRIDE_NAMES",
    "AslAcquisition",
    "AslVolume",
    "ControlLabelMismatchError",
    "Geometry",
    "GeometryMismatchError",
    "InputError",
    "MissingM0Error",
    "MissingParameterError",
    "NotAslError",
    "Param",
    "QuantError",
    "QuantResult",
    "SeriesInfo",
    "UnitsError",
    "build_derived_datasets",
    "classify_series",
    "classify_study",
    "geometry_from_affine",
    "quantify",
    "statistics_csv",
]
