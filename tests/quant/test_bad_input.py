"""Unusable input gives an error naming the problem, never a silent wrong map."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from quant import (
    ControlLabelMismatchError,
    GeometryMismatchError,
    InputError,
    MissingM0Error,
    MissingParameterError,
    NotAslError,
    UnitsError,
    classify_study,
    quantify,
)
from server.commands.quant_inputs import acquisition_from_bids
from tests.quant.builders import ge_series
from tests.quant.conftest import asl_niftis, read_series


@pytest.fixture()
def acq_d(dro_dir):
    return acquisition_from_bids(asl_niftis(dro_dir("D")))


def test_missing_m0(acq_d) -> None:
    acq = dataclasses.replace(acq_d, volumes=[v for v in acq_d.volumes if v.kind != "m0"])
    with pytest.raises(MissingM0Error, match="no M0"):
        quantify(acq, {"m0": "required"})
    # The control images may stand in, but only with their own TR: the M0 volume's does not do.
    with pytest.raises(MissingParameterError) as exc:
        quantify(acq)
    assert exc.value.missing == ["m0_tr"]
    # Background suppression darkens the control images: no surrogate without being forced.
    with pytest.raises(MissingM0Error, match=r'background suppression is declared.*m0 = "control"'):
        quantify(acq, {"m0_tr": 5.0, "background_suppression": 2})
    with pytest.raises(InputError, match="m0 = 'sometimes' is not known"):
        quantify(acq, {"m0": "sometimes"})


def test_odd_control_label_count(acq_d) -> None:
    vols = list(acq_d.volumes)
    drop = next(i for i, v in enumerate(vols) if v.kind == "label")
    acq = dataclasses.replace(acq_d, volumes=vols[:drop] + vols[drop + 1 :])
    with pytest.raises(ControlLabelMismatchError, match="2 control and 1 label"):
        quantify(acq)


def test_pld_in_milliseconds_is_rejected(acq_d) -> None:
    with pytest.raises(UnitsError, match="milliseconds"):
        quantify(acq_d, {"pld": [1800]})


def test_missing_parameter_is_named(acq_d) -> None:
    params = {k: v for k, v in acq_d.parameters.items() if k != "labeling_duration"}
    with pytest.raises(MissingParameterError) as exc:
        quantify(dataclasses.replace(acq_d, parameters=params))
    assert exc.value.missing == ["labeling_duration"]


def test_mismatched_m0_geometry(acq_d) -> None:
    (m0,) = [v for v in acq_d.volumes if v.kind == "m0"]
    wrong = dataclasses.replace(m0, loader=lambda: np.ones((12, 32, 32)))
    acq = dataclasses.replace(acq_d, volumes=[v for v in acq_d.volumes if v.kind != "m0"] + [wrong])
    with pytest.raises(GeometryMismatchError, match="M0"):
        quantify(acq)


def test_mismatched_series_geometry_on_dicom(acq_d) -> None:
    m0 = np.ones(acq_d.geometry.shape)
    series = ge_series(np.zeros(acq_d.geometry.shape), m0, acq_d.geometry)
    pd_first = next(ds for ds in series if "PERFUSION_ASL" not in ds.ImageType)
    pd_first.ImagePositionPatient = [v + 7.0 for v in pd_first.ImagePositionPatient]
    with pytest.raises(GeometryMismatchError, match="PD"):
        classify_study(series)


def test_no_asl_at_all() -> None:
    ds = read_series("philips/201_pCASL")  # the scanner's ΔM alone is not usable input
    with pytest.raises(NotAslError, match="pCASL"):
        classify_study(ds)


def test_unknown_override(acq_d) -> None:
    from quant import InputError

    with pytest.raises(InputError, match="unknown override 'pldd'"):
        quantify(acq_d, {"pldd": 1.8})
