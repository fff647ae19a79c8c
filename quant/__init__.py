"""ASL perfusion quantification as a pure library: no I/O.

Public API (stable; locked by ``tests/quant/test_public_api.py``)::

    acqs = classify_study(datasets)            # pydicom datasets of one study -> [AslAcquisition]
    acq.missing                                # parameter names a person must enter
    result = quantify(acq, overrides={"pld": [1.8]}, model="auto")   # -> QuantResult
    derived = build_derived_datasets(result, acq)                    # -> [pydicom.Dataset]
    text = statistics_csv(result)

Regional analysis (:mod:`quant.regions`)::

    atlas = server.services.atlases.default_atlas().load()      # quant.regions.Atlas (I/O in server/)
    result = quantify(acq, overrides, model, regions=atlas)       # registers via acq.anatomy (T1) or M0
    result.regions                                                # RegionalAnalysis | None (+ warnings)
    derived = build_derived_datasets(result, acq)                 # ... + SEG of the regions + TID 1500 SR

Override names and units are listed in :mod:`quant.params`. Errors derive from :class:`QuantError`.

For the analysis workflow:

- Recognition never opens ASL for non-ASL series (BOLD, DWI, anatomy, localisers, scanner maps).
- ``acq.protocol`` (:class:`ProtocolKey`) identifies the protocol for presets
  (:mod:`quant.presets`: ``apply_preset`` gives overrides with provenance ``preset``).
- Times entered by a person go through :func:`time_param` / :func:`parse_time` with an explicit
  unit (``"ms"`` or ``"s"``); implausible values raise :class:`UnitsError`.
- ``compare_with_scanner_maps(result, acq)``: our CBF/ATT against the scanner's maps of the
  study (GE eASL transit-corrected flow and transit delay), as :class:`MapComparison` rows.
- Every result carries QC (:mod:`quant.qc`): ``result.qc`` and ``statistics["qc"]``; failed QC is
  also said in ``warnings``.
- Attributes copied into derived objects are cleaned per VR (:mod:`quant.attributes`); what was
  changed is appended to ``result.warnings`` by ``build_derived_datasets``.

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

from quant.acquisition import (
    AslAcquisition,
    AslVolume,
    Geometry,
    ProtocolKey,
    SeriesInfo,
    VolumeKind,
    geometry_from_affine,
)
from quant.classify import classify_series, classify_study
from quant.compare import MapComparison, compare_with_scanner_maps
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
from quant.params import DEFAULTS, OVERRIDE_NAMES, Param, Source
from quant.presets import PRESET_NAMES, PresetApplication, apply_preset, preset_values, protocol_key
from quant.qc import QcFlag, QcReport
from quant.roles import derived_role
from quant.units import TIME_PARAMETERS, parse_time, time_param

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
]
