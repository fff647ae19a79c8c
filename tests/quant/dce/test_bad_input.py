"""Input the engine must refuse, with an error a person can act on."""

from __future__ import annotations

import numpy as np
import pytest

from quant import GeometryMismatchError, InputError, MissingParameterError, UnitsError
from quant.dce import DceAcquisition, quantify
from quant.params import Param
from tests.quant.dce.builders import phantom, signal


@pytest.fixture(scope="module")
def arrays():
    p = phantom(shape=(1, 16, 16), n_phases=20, dt=5.0, injection_phase=3)
    return p, signal(p)


def _acq(p, sig, **params: float) -> DceAcquisition:
    given = {k: Param(k, v, "", "tag", k) for k, v in params.items()}
    return DceAcquisition.from_arrays(sig, p.geometry, given, phase_times=list(p.times))


def test_missing_flip_angle_and_tr(arrays) -> None:
    p, sig = arrays
    with pytest.raises(MissingParameterError) as info:
        quantify(_acq(p, sig))
    assert info.value.missing == ["flip_angle", "tr"]
    # Entered by a person, they are recorded as such.
    result = quantify(_acq(p, sig), {"flip_angle": 15.0, "tr": 0.004, "t10": 1.1, "relaxivity": 5.0})
    assert result.parameters["flip_angle"].source == "user"
    assert not any("fixed T10" in w for w in result.warnings)  # t10 given by the user: no warning


def test_fixed_default_t10_is_warned(arrays) -> None:
    p, sig = arrays
    result = quantify(_acq(p, sig, flip_angle=15.0, tr=0.004))
    assert result.parameters["t10"].source == "default"
    assert any("fixed T10" in w for w in result.warnings)


def test_missing_phase_times(arrays) -> None:
    p, sig = arrays
    acq = DceAcquisition.from_arrays(sig, p.geometry, {"flip_angle": Param("flip_angle", 15.0, "deg", "tag", "")})
    with pytest.raises(MissingParameterError, match="phase_times"):
        quantify(acq, {"tr": 0.004})
    result = quantify(acq, {"tr": 0.004, "temporal_resolution": 5.0, "t10": 1.1})
    assert result.parameters["phase_times"].source == "derived"


@pytest.mark.parametrize(
    ("overrides", "error", "words"),
    [
        ({"tr": 4.0}, UnitsError, "milliseconds"),
        ({"flip_angle": 150.0}, UnitsError, "flip angle"),
        ({"t10": 1100.0}, UnitsError, "T10"),
        ({"relaxivity": 5000.0}, UnitsError, "relaxivity"),
        ({"hematocrit": 42.0}, UnitsError, "hematocrit"),
        ({"phase_times": list(np.arange(20) * 5000.0)}, UnitsError, "milliseconds"),
        ({"phase_times": [0.0] * 20}, UnitsError, "increase"),
        ({"phase_times": [0.0, 1.0]}, InputError, "phase times"),
        ({"model": "shutter_speed"}, InputError, "unknown model"),
        ({"aif": "measured"}, MissingParameterError, "aif_mask"),
        ({"aif": "cardiac"}, InputError, "unknown AIF"),
        ({"injection_phase": 0}, InputError, "injection_phase"),
        ({"baseline_phases": 9}, InputError, "baseline_phases"),
        ({"agent": "unobtainium"}, InputError, "relaxivity"),
        ({"mask": np.ones((2, 2, 2), bool)}, GeometryMismatchError, "mask"),
        ({"t10_map": np.ones((1, 8, 8))}, GeometryMismatchError, "t10_map"),
        ({"rois": {"a": np.ones((1, 3, 3), bool)}}, GeometryMismatchError, "ROI"),
        ({"mask": np.zeros((1, 16, 16), bool)}, InputError, "no voxel"),
        ({"pld": 1.8}, InputError, "unknown DCE override"),
    ],
)
def test_refused(arrays, overrides: dict, error: type, words: str) -> None:
    p, sig = arrays
    with pytest.raises(error, match=words):
        quantify(_acq(p, sig, flip_angle=15.0, tr=0.004), overrides)


def test_no_enhancement(arrays) -> None:
    p, _ = arrays
    flat = np.repeat(signal(p)[:1], 20, axis=0)
    with pytest.raises(InputError, match="no voxel enhances"):
        quantify(_acq(p, flat, flip_angle=15.0, tr=0.004))
