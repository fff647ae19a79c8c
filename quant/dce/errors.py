"""Errors of the DCE engine: the ones of :mod:`quant.errors`, plus :class:`NotDceError`.

Hierarchy::

    QuantError
    ├── NotDceError                 nothing in the input is a DCE (multi-phase T1-weighted) series
    ├── MissingParameterError       flip angle, TR or phase times unknown (``.missing``)
    ├── GeometryMismatchError       phases, VFA volumes, masks or maps on different grids
    ├── UnitsError                  values outside any plausible range
    └── InputError                  anything else
"""

from __future__ import annotations

from quant.errors import GeometryMismatchError, InputError, MissingParameterError, QuantError, UnitsError

__all__ = ["GeometryMismatchError", "InputError", "MissingParameterError", "NotDceError", "QuantError", "UnitsError"]


class NotDceError(QuantError):
    """No DCE acquisition was found in the input."""
