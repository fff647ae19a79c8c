"""Protocol presets: parameters a person entered once, reused for later studies of the protocol.

The storage lives in the server; this module decides *what* identifies a protocol and *how*
stored values enter a quantification::

    key = protocol_key(acq)                 # ProtocolKey: manufacturer, protocol, sequence, station
    key.key                                 # "siemens|pcasl_3d|tgse_pcasl_ve11c|mrc35131" (look-up key)
    values = preset_values(acq, entered)    # what to remember after a person entered parameters
    applied = apply_preset(acq, values, key)
    applied.overrides                       # {name: Param(source="preset")}, pass to quantify()
    applied.missing                         # what is still missing ([] → the job can start at once)

Values read from the images always win over a preset (a preset only fills what the headers do
not carry); times in presets are stored in seconds, checked like entered times.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pydicom

from quant.acquisition import AslAcquisition, ProtocolKey
from quant.engine import missing_parameters
from quant.errors import InputError
from quant.params import UNITS, Param
from quant.units import TIME_PARAMETERS, check_seconds
from quant.vendors.common import private

__all__ = ["PRESET_NAMES", "PresetApplication", "apply_preset", "preset_values", "protocol_key"]

# Parameters a preset may hold: what classic headers may lack, and per-site constants.
PRESET_NAMES = frozenset(
    {
        "labeling_type",
        "pld",
        "labeling_duration",
        "ti",
        "ti1",
        "nex",
        "readout",
        "slice_time",
        "background_suppression",
        "bs_efficiency",
        "labeling_efficiency",
        "m0_tr",
        "m0_scale",
        "field_strength",
        "t1_blood",
    }
)
# Provenances that come from the images themselves: a preset never replaces them.
FROM_IMAGES = frozenset({"tag", "protocol"})


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())


def _sequence(acq: AslAcquisition, ref: pydicom.Dataset | None) -> str:
    seq = acq.parameters.get("sequence")
    if seq is not None and seq.value:
        return str(seq.value)  # Siemens tSequenceFileName
    if ref is None:
        return ""
    for value in (
        private(ref, 0x0019, "GEMS_ACQU_01", 0x9E),  # GE internal sequence name (3dpcasl, easl)
        private(ref, 0x2001, "Philips Imaging DD 001", 0x20),  # Philips scanning technique (FEEPI)
        ref.get("PulseSequenceName"),
        ref.get("SequenceName"),
    ):
        if _text(value):
            return _text(value)
    return ""


def protocol_key(acq: AslAcquisition) -> ProtocolKey:
    """The protocol an acquisition was made with: manufacturer (the engine's vendor name),
    protocol name (ProtocolName, else the ASL series' description), sequence (Siemens
    tSequenceFileName, GE (0019,xx9E), Philips (2001,xx20), else PulseSequenceName/SequenceName)
    and StationName."""
    ref = acq.reference
    protocol = _text(ref.get("ProtocolName")) if ref is not None else ""
    if not protocol:
        asl = [s for s in acq.series if s.role == "asl"] or acq.series
        protocol = _text(asl[0].description) if asl else ""
    station = _text(ref.get("StationName")) if ref is not None else ""
    return ProtocolKey(acq.vendor, protocol, _sequence(acq, ref), station)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def preset_values(acq: AslAcquisition, entered: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready values to remember for ``acq``'s protocol from what a person entered.

    Only preset parameters the images did not carry are kept (a preset never replaces a value
    read from the headers). Values may be plain (seconds) or :class:`Param` objects.
    """
    out: dict[str, Any] = {}
    for name, value in entered.items():
        if name not in PRESET_NAMES or value is None:
            continue
        known = acq.parameters.get(name)
        if known is not None and known.source in FROM_IMAGES:
            continue
        out[name] = _jsonable(value.value if isinstance(value, Param) else value)
    return out


@dataclass
class PresetApplication:
    """Stored values turned into overrides: ``overrides`` (source ``preset``), ``missing`` (what
    still needs a person), ``skipped`` (name → why a stored value was not used)."""

    overrides: dict[str, Param]
    missing: list[str]
    skipped: dict[str, str] = field(default_factory=dict)


def apply_preset(acq: AslAcquisition, values: Mapping[str, Any], key: ProtocolKey | str) -> PresetApplication:
    """Overrides from a stored preset, with provenance ``preset``; raises :class:`InputError`
    for a stored time outside its plausible range (a damaged preset must not run)."""
    label = key.label if isinstance(key, ProtocolKey) else str(key)
    overrides: dict[str, Param] = {}
    skipped: dict[str, str] = {}
    for name, value in values.items():
        if name not in PRESET_NAMES:
            skipped[name] = "not a preset parameter"
            continue
        known = acq.parameters.get(name)
        if known is not None and known.source in FROM_IMAGES:
            skipped[name] = f"read from the images ({known.source}: {known.detail})"
            continue
        if value is None:
            continue
        if name in TIME_PARAMETERS:
            seconds = [float(v) for v in np.atleast_1d(np.asarray(value, dtype=np.float64))]
            try:
                check_seconds(name, seconds)
            except Exception as exc:
                raise InputError(f"preset for {label}: {exc}") from exc
        overrides[name] = Param(name, value, UNITS.get(name, ""), "preset", f"preset for {label}")
    merged = {**acq.parameters, **overrides}
    labeling_param = merged.get("labeling_type")
    labeling = str(labeling_param.value if labeling_param else acq.labeling_type or "").lower()
    return PresetApplication(overrides, missing_parameters(acq, labeling, merged), skipped)
