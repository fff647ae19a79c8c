"""The standard-space data regional analysis needs, and the Protocol that supplies it.

The engine never reads files: the I/O layer implements :class:`AtlasSource` (``server`` reads
the template and the atlas from installed packages) and passes the loaded :class:`Atlas` in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from quant.errors import InputError
from quant.regions.definitions import REGIONS
from quant.regions.space import Volume

__all__ = ["Atlas", "AtlasSource"]


@dataclass(frozen=True)
class Atlas:
    """A template with its tissue map and a label atlas, all in one standard space (MNI).

    ``template`` is a whole-head T1-weighted image; ``grey_matter`` a grey-matter probability
    map (0–1) on any grid; ``labels`` an integer label image whose values ``label_names`` names
    (AAL3 names such as ``"Precuneus_L"``). ``provenance`` lists the files, packages and
    licences, for the report.
    """

    name: str
    template: Volume
    grey_matter: Volume
    labels: Volume
    label_names: Mapping[int, str]
    provenance: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = set(self.label_names.values())
        missing = sorted({n for r in REGIONS.values() for n in r.labels} - names)
        # AAL3 leaves two old labels unused; anything else missing means another atlas.
        if len(missing) > len(names) // 2:
            raise InputError(f"atlas {self.name!r} lacks the AAL3 label names the regions use (e.g. {missing[:3]})")

    def indices(self, names: frozenset[str]) -> NDArray[np.int32]:
        """Label values of the given label names (names the atlas lacks are skipped)."""
        lookup = {n: i for i, n in self.label_names.items()}
        return np.asarray(sorted(lookup[n] for n in names if n in lookup), dtype=np.int32)


class AtlasSource(Protocol):
    """Supplies the :class:`Atlas` (loaded once; implementations cache)."""

    def load(self) -> Atlas: ...
