"""Errors raised by the quantification engine.

Hierarchy::

    QuantError                      every problem the engine reports
    ├── NotAslError                 nothing in the input is usable ASL data
    ├── MissingParameterError       a parameter is needed and nobody supplied it (``.missing``)
    ├── MissingM0Error              no M0 / proton-density image to calibrate against
    ├── GeometryMismatchError       images that must align do not (size, orientation, position)
    ├── ControlLabelMismatchError   control and label images do not pair up
    ├── UnitsError                  values in an impossible range (ms given as s, negative PLD ...)
    └── InputError                  anything else wrong with the input

Each message names the problem in words a radiographer can act on.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ControlLabelMismatchError",
    "GeometryMismatchError",
    "InputError",
    "MissingM0Error",
    "MissingParameterError",
    "NotAslError",
    "QuantError",
    "UnitsError",
]


class QuantError(Exception):
    """Base class: the input cannot be quantified as given."""


class NotAslError(QuantError):
    """No ASL acquisition was found in the input."""


class MissingParameterError(QuantError):
    """One or more acquisition parameters are unknown; ``missing`` lists their names."""

    def __init__(self, missing: Sequence[str], context: str = "") -> None:
        self.missing = list(missing)
        where = f" for {context}" if context else ""
        super().__init__(
            f"missing acquisition parameter(s){where}: {', '.join(self.missing)}; "
            "enter them (overrides) or configure them for this protocol"
        )


class MissingM0Error(QuantError):
    """No M0 (proton density) image is available for calibration."""


class GeometryMismatchError(QuantError):
    """Images that must share a grid do not."""


class ControlLabelMismatchError(QuantError):
    """Control and label images cannot be paired."""


class UnitsError(QuantError):
    """A parameter or image value lies outside any plausible range for its unit.

    ``code`` and ``params`` name the refusal for a user interface that words it in its own language
    (the message stays the English text for API clients); empty when there is no code for it.
    """

    def __init__(self, message: str, code: str = "", params: dict[str, str | float] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.params = dict(params or {})


class InputError(QuantError):
    """Other unusable input."""
