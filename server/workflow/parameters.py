"""The parameters a person may set on an analysis job, and how entered values are checked.

Times may be entered in milliseconds or seconds, always with the unit said: a value is a number
(seconds, the engine's unit), or ``{"value": 1800, "unit": "ms"}``, or the body names the unit per
parameter (``"units": {"pld": "ms"}``). Nothing is rescaled silently: 1800 in seconds is refused
with the hint that 1800 ms was probably meant (``quant.parse_time``). Every wrong value of one
request is reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import quant
from server.app_errors import InvalidInput
from server.workflow import dce_params

# Parameters a person may set, with the unit the engine takes and a check.
PARAMETERS: dict[str, dict[str, Any]] = {
    "pld": {"unit": "s", "kind": "seconds_list", "label": "post-labeling delay(s)"},
    "labeling_duration": {"unit": "s", "kind": "seconds", "label": "labeling duration"},
    "ti1": {"unit": "s", "kind": "seconds", "label": "PASL bolus duration TI1"},
    "ti": {"unit": "s", "kind": "seconds_list", "label": "PASL inversion time(s) TI"},
    "labeling_type": {"kind": "choice", "choices": ["pcasl", "pasl", "casl"], "label": "labeling type"},
    "model": {"kind": "choice", "choices": ["auto", "consensus", "ge", "kinetic", "weighted_delay",
                                            *dce_params.DCE_MODELS], "label": "model"},
    "vendor": {"kind": "choice", "choices": ["GE", "Philips", "Siemens", "generic"], "label": "vendor"},
    "field_strength": {"unit": "T", "kind": "number", "label": "field strength"},
    "t1_blood": {"unit": "s", "kind": "seconds", "label": "T1 of blood"},
    "labeling_efficiency": {"kind": "number", "label": "labeling efficiency"},
    "background_suppression": {"kind": "integer", "label": "background-suppression pulses"},
}
ASL_PARAMETER_NAMES = tuple(PARAMETERS)
PARAMETERS.update({k: v for k, v in dce_params.PARAMETERS.items() if k not in PARAMETERS})
TIME_UNITS = ("ms", "s")
# Parameters a protocol preset may hold (what classic headers lack; per-site constants).
PRESET_PARAMETERS = tuple(n for n in ASL_PARAMETER_NAMES if n in quant.PRESET_NAMES)


class Refused(ValueError):
    """One value refused: the English message, and a code with parameters a UI words in its language."""

    def __init__(self, message: str, code: str = "", **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params

    def problem(self) -> dict[str, Any]:
        return {"code": self.code or "invalid", "params": self.params, "message": str(self)}


@dataclass
class Entered:
    """Checked values (times in seconds) and, per name, how they were entered ("1800 ms")."""

    values: dict[str, Any]
    notes: dict[str, str]


def _split(value: Any, unit: str | None) -> tuple[Any, str | None]:
    if isinstance(value, dict):
        if set(value) - {"value", "unit"} or "value" not in value:
            raise Refused("a value with a unit is {\"value\": ..., \"unit\": \"ms\" | \"s\"}", "value_with_unit")
        return value["value"], value.get("unit", unit)
    return value, unit


def _one(name: str, spec: dict[str, Any], value: Any, unit: str | None) -> tuple[Any, str]:
    kind = spec["kind"]
    label = f"{spec['label']} ({name})"
    if kind.startswith("seconds") and unit is not None:
        if unit not in TIME_UNITS:
            raise Refused(f"{label}: the unit must be 'ms' or 's', got {unit!r}", "bad_unit", name=name, unit=str(unit))
        if name in quant.TIME_PARAMETERS:
            try:
                seconds = quant.parse_time(name, value, unit)
            except quant.UnitsError as exc:
                raise Refused(str(exc), getattr(exc, "code", ""), **getattr(exc, "params", {})) from None
        else:
            seconds = float(value) / (1000.0 if unit == "ms" else 1.0)
        if isinstance(seconds, list):
            if kind == "seconds" and len(seconds) > 1:
                raise Refused(f"{label} takes one value, got {len(seconds)}", "one_value", name=name,
                              count=len(seconds))
            seconds = seconds if len(seconds) > 1 else seconds[0]
        shown = value if isinstance(value, str) else ", ".join(f"{float(v):g}" for v in
                                                               (value if isinstance(value, list) else [value]))
        return seconds, f"entered as {shown} {unit}"
    try:
        if kind == "seconds_list":
            items = value if isinstance(value, list) else [value]
            nums = [float(v) for v in items]
            if not nums:
                raise ValueError
            out: Any = nums if len(nums) > 1 else nums[0]
            check = nums
        elif kind in ("seconds", "number"):
            out = float(value)
            check = [out]
        elif kind == "integer":
            out = int(value)
            check = [out]
        else:
            if value not in spec["choices"]:
                raise Refused(f"{spec['label']} must be one of {', '.join(spec['choices'])}", "not_a_choice",
                              name=name, choices=", ".join(spec["choices"]))
            return value, ""
    except Refused:
        raise
    except (TypeError, ValueError):
        raise Refused(f"{label} must be a number, got {value!r}", "not_a_number", name=name, value=str(value)) from None
    if any(v < 0 for v in check):
        raise Refused(f"{label} must not be negative", "negative", name=name)
    if kind.startswith("seconds") and any(v > 30 for v in check):
        raise Refused(f"{label} is in seconds; {max(check):g} s is not plausible (did you mean "
                      f"{max(check):g} ms? give the unit)", "implausible_seconds", name=name, value=max(check))
    return out, ""


def validate(values: dict[str, Any], units: dict[str, Any] | None = None,
             allowed: tuple[str, ...] | None = None) -> Entered:
    """Check a person's parameters; all problems of the request in one :class:`InvalidInput`."""
    if units is not None and not isinstance(units, dict):
        raise InvalidInput("units must be an object {name: 'ms' | 's'}")
    known = allowed if allowed is not None else tuple(PARAMETERS)
    clean: dict[str, Any] = {}
    notes: dict[str, str] = {}
    errors: list[Refused] = []
    for name, raw in values.items():
        spec = PARAMETERS.get(name)
        if spec is None or name not in known:
            errors.append(Refused(f"unknown parameter {name!r}; known: {', '.join(known)}", "unknown_parameter",
                                  name=str(name)))
            continue
        try:
            value, unit = _split(raw, (units or {}).get(name))
            if value is None or value == "":
                clean[name] = None  # removes an earlier override
                continue
            clean[name], notes[name] = _one(name, spec, value, unit)
        except Refused as exc:
            errors.append(exc)
    if errors:
        raise InvalidInput("; ".join(str(e) for e in errors), problems=[e.problem() for e in errors])
    return Entered(clean, {k: v for k, v in notes.items() if v})
