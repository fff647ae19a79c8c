"""Times entered by a person: a number with an explicit unit, checked against what is plausible.

The engine takes seconds. A form that shows "ms" must say so: ``parse_time("pld", 1800, "ms")``
is 1.8 s, while ``parse_time("pld", 1800, "s")`` is refused — no PLD lasts half an hour — with
the hint that 1800 ms was probably meant. Nothing is ever rescaled silently.
"""

from __future__ import annotations

import math
import re
from typing import Any

from quant.errors import UnitsError
from quant.params import Param, Source

__all__ = ["PLAUSIBLE_SECONDS", "TIME_PARAMETERS", "TIME_UNITS", "check_seconds", "parse_time", "time_param"]

TIME_UNITS = ("ms", "s")
# Plausible range in seconds and the name shown in messages.
PLAUSIBLE_SECONDS: dict[str, tuple[float, float, str]] = {
    "pld": (0.02, 10.0, "post-labeling delay"),
    "labeling_duration": (0.05, 6.0, "labeling duration"),
    "ti": (0.05, 10.0, "inversion time TI"),
    "ti1": (0.05, 5.0, "bolus duration TI1"),
    "slice_time": (0.0, 0.5, "time between slices"),
    "m0_tr": (0.3, 100.0, "repetition time of the M0 images"),
    "t1_blood": (0.5, 3.0, "T1 of blood"),
    "t1_tissue": (0.2, 5.0, "T1 of tissue"),
    "t1_tissue_m0": (0.2, 5.0, "T1 of tissue for the M0 correction"),
    "t1_tissue_kinetic": (0.2, 5.0, "T1 of tissue for the kinetic model"),
    "att": (0.0, 5.0, "arterial transit time"),
}
TIME_PARAMETERS = frozenset(PLAUSIBLE_SECONDS)
# Parameters that take one value per delay.
LISTS = frozenset({"pld", "ti", "labeling_duration"})
_DECIMAL_COMMA = re.compile(r"^\s*\d+,\d{1,3}\s*$")


def _numbers(name: str, value: Any) -> list[float]:
    if isinstance(value, bool):
        raise UnitsError(f"{name}: {value!r} is not a time")
    if isinstance(value, (int, float)):
        items: list[Any] = [value]
    elif isinstance(value, str):
        if _DECIMAL_COMMA.match(value):
            raise UnitsError(
                f"{name}: {value!r} is ambiguous; write the decimal with a point ({value.replace(',', '.')}) "
                "or separate several values with a comma and a space"
            )
        items = [v for v in re.split(r"[,;\s]+", value.strip()) if v]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise UnitsError(f"{name}: {value!r} is not a time")
    out = []
    for v in items:
        try:
            number = float(v)
        except (TypeError, ValueError):
            raise UnitsError(f"{name}: {v!r} is not a number", code="not_a_number",
                             params={"name": name, "value": str(v)}) from None
        if isinstance(v, bool) or not math.isfinite(number):
            raise UnitsError(f"{name}: {v!r} is not a number", code="not_a_number",
                             params={"name": name, "value": str(v)})
        out.append(number)
    if not out:
        raise UnitsError(f"{name}: no value given")
    return out


def check_seconds(name: str, seconds: list[float], shown: list[float] | None = None, unit: str = "s") -> None:
    """Raise :class:`UnitsError` when a value (in s) lies outside the plausible range for ``name``.

    ``shown``/``unit``: the values as entered, for the message and the hint.
    """
    lo, hi, label = PLAUSIBLE_SECONDS.get(name, (0.0, math.inf, name))
    for k, s in enumerate(seconds):
        entered = (shown or seconds)[k]
        if lo <= s <= hi:
            continue
        hint = ""
        if unit == "s" and lo <= s / 1000.0 <= hi:
            hint = f"; did you mean {entered:g} ms?"
        elif unit == "ms" and lo <= entered <= hi:
            hint = f"; did you mean {entered:g} s?"
        raise UnitsError(
            f"{label} {entered:g} {unit} is implausible (expected {lo:g}–{hi:g} s){hint}",
            code="implausible_time_hint" if hint else "implausible_time",
            params={"name": name, "value": entered, "unit": unit, "low": lo, "high": hi,
                    "other_unit": "ms" if unit == "s" else "s"},
        )


def parse_time(name: str, value: Any, unit: str) -> float | list[float]:
    """Seconds from ``value`` entered in ``unit`` (``"ms"`` or ``"s"``), range-checked.

    ``value``: a number, a list of numbers, or text ("1800", "1800, 2000"). PLD, TI and labeling
    duration return a list (one value per delay), the others a float.
    """
    if name not in TIME_PARAMETERS:
        raise UnitsError(f"{name} is not a time parameter; time parameters: {', '.join(sorted(TIME_PARAMETERS))}")
    u = str(unit or "").strip().lower()
    if u not in TIME_UNITS:
        raise UnitsError(f"{name}: the unit must be given as 'ms' or 's' (got {unit!r})")
    numbers = _numbers(name, value)
    if len(numbers) > 1 and name not in LISTS:
        raise UnitsError(f"{name} takes one value, got {len(numbers)}")
    seconds = [v / 1000.0 if u == "ms" else v for v in numbers]
    check_seconds(name, seconds, numbers, u)
    if name in ("pld", "ti"):
        return seconds
    if name == "labeling_duration":
        return seconds[0] if len(seconds) == 1 else seconds
    return seconds[0]


def time_param(name: str, value: Any, unit: str, source: Source = "user", detail: str = "") -> Param:
    """:func:`parse_time` as a :class:`Param` (pass it as an override to :func:`quant.quantify`)."""
    seconds = parse_time(name, value, unit)
    shown = value if isinstance(value, str) else ", ".join(f"{v:g}" for v in _numbers(name, value))
    note = f"entered as {shown} {unit.strip().lower()}"
    return Param(name, seconds, "s", source, f"{note}; {detail}" if detail else note)
