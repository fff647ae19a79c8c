"""Acquisition parameters with provenance, physical constants and the override vocabulary.

Every number the engine uses is a :class:`Param` that says where it came from, so a
report can show "PLD 1.8 s (tag InversionTime)" or "T1 blood 1.65 s (default)".

Override names accepted by :func:`quant.quantify` (times always in **seconds**):

=====================  ==========================================================
``pld``                post-labeling delay(s): float or list (one per delay); PASL: ignored, use ``ti``
``labeling_duration``  pCASL/CASL labeling duration τ
``ti1``                PASL bolus duration (QUIPSS II TI1)
``ti``                 PASL inversion time (TI)
``labeling_type``      ``"pcasl"``, ``"pasl"`` or ``"casl"``
``readout``            ``"2D"`` or ``"3D"``
``slice_time``         2D readouts: time between successive slices (s); PLD grows by it per slice
``nex``                GE: number of excitations summed into the PW image
``background_suppression``  number of background-suppression pulses (0 = none)
``bs_efficiency``      multiplier of α for background suppression (default from pulse count/vendor)
``labeling_efficiency``  α before background suppression (0.85 pCASL, 0.98 PASL)
``m0_tr``              repetition time of the M0 image (s), for the short-TR correction
``m0``                 where M0 comes from: ``"auto"`` (default: the M0 images; without them the
                       mean control images, TR-corrected, unless background suppression is declared),
                       ``"control"`` (always the mean control images) or ``"required"`` (refuse
                       without M0 images)
``m0_scale``           divide the M0 image by this (e.g. GE/Philips scaling differences); default 1
``field_strength``     tesla; selects T1 blood (1.65 s at 3 T, 1.35 s at 1.5 T)
``t1_blood``           s; the only T1 of the white-paper formulas (and the kinetic model before arrival)
``t1_tissue``          s; a tissue T1 for both places tissue T1 enters (the two below)
``t1_tissue_m0``       s; M0 T1-recovery correction only (short-TR M0, GE saturation-recovery PD);
                       default 1.3 s (grey matter, 3 T)
``t1_tissue_kinetic``  s; kinetic model only: label decay after arrival; default = ``t1_blood``
                       (the single-compartment assumption)
``t1_tissue_map``      numpy array of tissue T1 (s), same shape as the maps; both uses, voxel-wise
``partition_coefficient``  λ in ml/g (0.9)
``ge_saturation_time``, ``ge_t1_tissue``, ``ge_t1_blood``, ``ge_efficiency``, ``ge_scale``: GE formula
``model``              ``"auto"``, ``"consensus"``, ``"ge"``, ``"kinetic"``, ``"weighted_delay"``
``vendor``             force the vendor (``"GE"``, ``"Philips"``, ``"Siemens"``, ``"generic"``)
``mask``               boolean numpy array to use as brain mask
``att_bounds``         (min, max) ATT in s for the kinetic fit (default 0.1–3.0)
``att``                single-delay kinetic model only: assumed ATT (s), scalar or array
``region_reference``   regional analysis: relative CBF to ``"cerebellum"`` (default) or ``"grey_matter"``
=====================  ==========================================================

An override value may be a plain value (provenance ``user``) or a :class:`Param` whose
``source`` the caller chooses (e.g. ``setting`` for a per-protocol configuration).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DEFAULTS",
    "OVERRIDE_NAMES",
    "Param",
    "Source",
    "default_param",
    "override_param",
]

Source = Literal["tag", "protocol", "series description", "setting", "preset", "default", "user", "derived"]


@dataclass(frozen=True)
class Param:
    """A parameter value and where it came from.

    ``source``: ``tag`` (a DICOM attribute, named in ``detail``), ``protocol`` (vendor protocol
    text such as Siemens ASCCONV), ``series description`` (inferred from the series' name, e.g.
    Philips "pCASL"), ``setting`` (per-protocol configuration), ``preset`` (values a person saved
    for this protocol, see :mod:`quant.presets`), ``default`` (a documented constant), ``user``
    (entered by a person) or ``derived`` (computed from others).
    """

    name: str
    value: Any
    unit: str
    source: Source
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        value = self.value
        if hasattr(value, "tolist"):
            value = "array" if getattr(value, "ndim", 0) > 1 else value.tolist()
        return {
            "name": self.name,
            "value": value,
            "unit": self.unit,
            "source": self.source,
            "detail": self.detail,
        }


# Consensus values (Alsop et al. 2015) and GE's product constants; all overridable.
DEFAULTS: dict[str, tuple[Any, str, str]] = {
    "partition_coefficient": (0.9, "ml/g", "consensus (Alsop 2015)"),
    "t1_blood_3t": (1.65, "s", "consensus, 3 T"),
    "t1_blood_1_5t": (1.35, "s", "consensus, 1.5 T"),
    "t1_tissue_m0": (1.3, "s", "grey matter at 3 T (white paper: M0 T1-recovery correction)"),
    "labeling_efficiency_pcasl": (0.85, "", "consensus pCASL"),
    "labeling_efficiency_casl": (0.68, "", "consensus CASL"),
    "labeling_efficiency_pasl": (0.98, "", "consensus PASL"),
    "field_strength": (3.0, "T", "assumed 3 T"),
    "m0_scale": (1.0, "", "no extra M0 scaling"),
    "ge_saturation_time": (2.0, "s", "GE product formula"),
    "ge_t1_tissue": (1.2, "s", "GE product formula"),
    "ge_t1_blood": (1.6, "s", "GE product formula"),
    "ge_efficiency": (0.6, "", "GE product formula (labeling × background suppression)"),
    "ge_scale": (32.0, "", "GE PW scaling factor"),
    "att_bounds": ((0.1, 3.0), "s", "kinetic fit search range"),
}

# Values of the ``m0`` override (where the calibration image comes from).
M0_MODES = ("auto", "control", "required")

# Background-suppression α multipliers by number of inversion pulses (consensus paper, Garcia 2005).
BS_EFFICIENCY_BY_PULSES: dict[int, float] = {0: 1.0, 1: 0.93, 2: 0.83, 3: 0.81, 4: 0.81, 5: 0.75}

OVERRIDE_NAMES = frozenset(
    {
        "pld",
        "labeling_duration",
        "ti1",
        "ti",
        "labeling_type",
        "readout",
        "slice_time",
        "nex",
        "background_suppression",
        "bs_efficiency",
        "labeling_efficiency",
        "m0_tr",
        "m0",
        "m0_scale",
        "field_strength",
        "t1_blood",
        "t1_tissue",
        "t1_tissue_m0",
        "t1_tissue_kinetic",
        "t1_tissue_map",
        "partition_coefficient",
        "ge_saturation_time",
        "ge_t1_tissue",
        "ge_t1_blood",
        "ge_efficiency",
        "ge_scale",
        "model",
        "vendor",
        "mask",
        "att_bounds",
        "att",
        "region_reference",
    }
)

UNITS: dict[str, str] = {
    "pld": "s",
    "labeling_duration": "s",
    "ti1": "s",
    "ti": "s",
    "slice_time": "s",
    "m0_tr": "s",
    "field_strength": "T",
    "t1_blood": "s",
    "t1_tissue": "s",
    "t1_tissue_m0": "s",
    "t1_tissue_kinetic": "s",
    "t1_tissue_map": "s",
    "partition_coefficient": "ml/g",
    "ge_saturation_time": "s",
    "ge_t1_tissue": "s",
    "ge_t1_blood": "s",
    "att_bounds": "s",
    "att": "s",
}


def default_param(key: str, name: str | None = None) -> Param:
    value, unit, why = DEFAULTS[key]
    return Param(name or key, value, unit, "default", why)


def override_param(name: str, value: Any) -> Param:
    if isinstance(value, Param):
        return (
            value if value.name == name else Param(name, value.value, value.unit, value.source, value.detail)
        )
    return Param(name, value, UNITS.get(name, ""), "user", "override")


def merge_overrides(params: Mapping[str, Param], overrides: Mapping[str, Any] | None) -> dict[str, Param]:
    """Return ``params`` with every override applied (overrides win)."""
    merged = dict(params)
    for name, value in (overrides or {}).items():
        if name not in OVERRIDE_NAMES:
            from quant.errors import InputError

            raise InputError(f"unknown override {name!r}; known: {', '.join(sorted(OVERRIDE_NAMES))}")
        if value is None:
            continue
        merged[name] = override_param(name, value)
    return merged
