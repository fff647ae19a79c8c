"""DCE parameters with provenance, the relaxivity table and the override vocabulary.

Every number the DCE engine uses is a :class:`quant.params.Param` saying where it came from
(``tag``, ``default``, ``user``, ``setting`` or ``derived``), as for ASL.

Override names accepted by :func:`quant.dce.quantify` (times in **seconds** unless noted):

========================  ====================================================================
``flip_angle``            flip angle of the dynamic series (degrees)
``tr``                    repetition time of the dynamic series (s)
``phase_times``           acquisition time of every phase, relative to the first (s)
``temporal_resolution``   time between phases (s), when the headers give no per-phase time
``baseline_phases``       number of pre-contrast phases averaged into the baseline signal S0
``injection_phase``       0-based index of the first phase acquired with contrast in the tissue
``bolus_arrival_time``    onset of the population AIF, relative to the first phase (s)
``fit_arrival``           population AIF without a given arrival time: fit the onset (default True)
``field_strength``        tesla; selects the relaxivity and the blood T1
``agent``                 contrast agent generic name (``gadobutrol``, ``gadoterate``, ...)
``relaxivity``            r1 in 1/(mM·s) (overrides the table)
``hematocrit``            large-vessel hematocrit (plasma = blood / (1 − Hct))
``t10``                   fixed pre-contrast tissue T1 (s), used without a VFA map
``t10_map``               numpy array (slice, row, column) of T1 (s)
``t1_blood``              pre-contrast blood T1 (s) for a measured AIF
``vfa_tr``                repetition time of the VFA series (s), when the headers do not give one
``vfa``                   ``"linear"`` (default) or ``"nonlinear"`` VFA T1 fit; ``"off"`` ignores the VFA series
``aif``                   ``"parker"`` (default), ``"weinmann"``, ``"measured"`` (needs ``aif_mask``) or ``"auto"``
``aif_mask``              boolean numpy array: arterial ROI for a measured AIF
``model``                 ``"extended_tofts"`` (default), ``"tofts"`` or ``"patlak"``
``mask``                  boolean numpy array: voxels to fit (default: enhancing voxels above noise)
``enhancement_threshold``  relative signal enhancement a voxel must reach to be fitted (ratio, 0.1)
``ktrans_max``            upper bound of Ktrans (1/min)
``kep_bounds``            (min, max) of kep (1/min) searched by the fit
``vp_max``                upper bound of vp
``ve_max``                upper bound of ve
``auc_window``            window of the area under the concentration curve after arrival (s)
``initial_slope_window``  window of the initial slope after arrival (s)
``rois``                  mapping name → boolean array: regions reported in the statistics and CSV
========================  ====================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quant.errors import InputError, UnitsError
from quant.params import Param

__all__ = [
    "AGENT_NAMES",
    "DEFAULTS",
    "OVERRIDE_NAMES",
    "RELAXIVITY",
    "agent_from_text",
    "merge_overrides",
    "relaxivity_param",
]

# r1 in plasma at 37 °C, 1/(mM·s), from Rohrer M, Bauer H, Mintorovitch J, Requardt M, Weinmann HJ.
# "Comparison of magnetic properties of MRI contrast media solutions at different magnetic field
# strengths." Invest Radiol 2005;40(11):715-724, Table 3 (plasma). dcmri's table quotes the same study.
RELAXIVITY: dict[str, dict[float, float]] = {
    "gadobutrol": {1.5: 5.2, 3.0: 5.0},
    "gadoterate": {1.5: 3.6, 3.0: 3.5},
    "gadopentetate": {1.5: 4.1, 3.0: 3.7},
    "gadoteridol": {1.5: 4.1, 3.0: 3.7},
    "gadobenate": {1.5: 6.3, 3.0: 5.5},
    "gadodiamide": {1.5: 4.3, 3.0: 4.0},
    "gadoxetate": {1.5: 6.9, 3.0: 6.2},
}
RELAXIVITY_SOURCE = "Rohrer et al., Invest Radiol 2005;40:715 (plasma, 37 °C)"

# Brand and alternative names found in ContrastBolusAgent (0018,0010) → generic name.
AGENT_NAMES: dict[str, str] = {
    "gadobutrol": "gadobutrol",
    "gadovist": "gadobutrol",
    "gadavist": "gadobutrol",
    "gadoterate": "gadoterate",
    "gadoteric": "gadoterate",
    "dotarem": "gadoterate",
    "clariscan": "gadoterate",
    "artirem": "gadoterate",
    "gd-dota": "gadoterate",
    "gadopentetate": "gadopentetate",
    "magnevist": "gadopentetate",
    "gd-dtpa": "gadopentetate",
    "gadoteridol": "gadoteridol",
    "prohance": "gadoteridol",
    "gadobenate": "gadobenate",
    "multihance": "gadobenate",
    "gadodiamide": "gadodiamide",
    "omniscan": "gadodiamide",
    "gadoxetate": "gadoxetate",
    "primovist": "gadoxetate",
    "eovist": "gadoxetate",
}

# (value, unit, why). Blood T1: 1.5 T from Stanisz et al., MRM 2005;54:507; 3 T from Lu et al.,
# MRM 2004;52:679 (Hct 0.42). Hematocrit 0.42: the large-vessel value usual in DCE (Tofts 1999).
DEFAULTS: dict[str, tuple[Any, str, str]] = {
    "field_strength": (3.0, "T", "assumed 3 T"),
    "agent": ("gadobutrol", "", "assumed agent (no ContrastBolusAgent)"),
    "hematocrit": (0.42, "", "large-vessel hematocrit (Tofts 1999)"),
    "t10": (1.2, "s", "assumed tissue T1 (no VFA series)"),
    "t1_blood_3t": (1.664, "s", "blood T1 at 3 T (Lu 2004)"),
    "t1_blood_1_5t": (1.441, "s", "blood T1 at 1.5 T (Stanisz 2005)"),
    "vfa": ("linear", "", "linearised VFA fit"),
    "aif": ("parker", "", "population AIF (Parker 2006)"),
    "fit_arrival": (True, "", "onset of the population AIF fitted to the tissue curves"),
    "model": ("extended_tofts", "", "extended Tofts model"),
    "enhancement_threshold": (0.1, "", "10 % relative signal enhancement"),
    "ktrans_max": (5.0, "1/min", "fit bound"),
    "kep_bounds": ((0.005, 20.0), "1/min", "fit search range"),
    "vp_max": (1.0, "", "fit bound"),
    "ve_max": (1.0, "", "fit bound"),
    "auc_window": (60.0, "s", "IAUGC60"),
    "initial_slope_window": (60.0, "s", "first minute after arrival"),
}

UNITS: dict[str, str] = {
    "flip_angle": "deg",
    "tr": "s",
    "phase_times": "s",
    "temporal_resolution": "s",
    "bolus_arrival_time": "s",
    "field_strength": "T",
    "relaxivity": "1/(mM.s)",
    "t10": "s",
    "t10_map": "s",
    "t1_blood": "s",
    "vfa_tr": "s",
    "ktrans_max": "1/min",
    "kep_bounds": "1/min",
    "auc_window": "s",
    "initial_slope_window": "s",
}

OVERRIDE_NAMES = frozenset(
    {
        "flip_angle",
        "tr",
        "phase_times",
        "temporal_resolution",
        "baseline_phases",
        "injection_phase",
        "bolus_arrival_time",
        "fit_arrival",
        "field_strength",
        "agent",
        "relaxivity",
        "hematocrit",
        "t10",
        "t10_map",
        "t1_blood",
        "vfa",
        "vfa_tr",
        "aif",
        "aif_mask",
        "model",
        "mask",
        "enhancement_threshold",
        "ktrans_max",
        "kep_bounds",
        "vp_max",
        "ve_max",
        "auc_window",
        "initial_slope_window",
        "rois",
    }
)


def default_param(key: str, name: str | None = None) -> Param:
    value, unit, why = DEFAULTS[key]
    return Param(name or key, value, unit, "default", why)


def override_param(name: str, value: Any) -> Param:
    if isinstance(value, Param):
        return value if value.name == name else Param(name, value.value, value.unit, value.source, value.detail)
    return Param(name, value, UNITS.get(name, ""), "user", "override")


def merge_overrides(params: Mapping[str, Param], overrides: Mapping[str, Any] | None) -> dict[str, Param]:
    """``params`` with every override applied (overrides win; ``None`` values are ignored)."""
    merged = dict(params)
    for name, value in (overrides or {}).items():
        if name not in OVERRIDE_NAMES:
            raise InputError(f"unknown DCE override {name!r}; known: {', '.join(sorted(OVERRIDE_NAMES))}")
        if value is None:
            continue
        merged[name] = override_param(name, value)
    return merged


def agent_from_text(text: str) -> str | None:
    """Generic agent name found in free text such as ContrastBolusAgent (``None`` if unknown)."""
    low = text.lower()
    for word, generic in AGENT_NAMES.items():
        if word in low:
            return generic
    return None


def relaxivity_param(agent: str, field_tesla: float) -> Param:
    """r1 of ``agent`` at the table field strength nearest ``field_tesla`` (1.5 T or 3 T)."""
    generic = AGENT_NAMES.get(agent.strip().lower(), agent.strip().lower())
    table = RELAXIVITY.get(generic)
    if table is None:
        raise InputError(
            f"no relaxivity known for agent {agent!r}; enter 'relaxivity' (1/(mM·s)) or choose one of "
            + ", ".join(sorted(RELAXIVITY))
        )
    if not 0.1 < field_tesla < 12:
        raise UnitsError(f"field strength {field_tesla} T is implausible")
    nearest = min(table, key=lambda f: abs(f - field_tesla))
    note = f"{generic} at {nearest:g} T, {RELAXIVITY_SOURCE}"
    if abs(nearest - field_tesla) > 0.3:
        note += f" (nearest tabulated field to {field_tesla:g} T)"
    return Param("relaxivity", table[nearest], "1/(mM.s)", "default", note)
