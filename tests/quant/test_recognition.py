"""Series roles: scanner-derived maps and anatomy are recognised and never used as ASL input."""

from __future__ import annotations

import copy

import numpy as np
from pydicom.uid import generate_uid

from quant import classify_series, classify_study
from server.commands.quant_inputs import acquisition_from_bids
from tests.quant.builders import ge_series
from tests.quant.conftest import asl_niftis, read_series


def renamed(datasets, description, image_type=None):
    uid = generate_uid()
    out = []
    for ds in datasets:
        c = copy.deepcopy(ds)
        c.SeriesInstanceUID, c.SeriesDescription, c.SOPInstanceUID = uid, description, generate_uid()
        if image_type:
            c.ImageType = image_type
        out.append(c)
    return out


def test_siemens_pwi_is_a_scanner_map() -> None:
    pwi = renamed(
        read_series("siemens/pcasl3d/15_pcasl_3d")[:1],
        "pcasl_3d_PWI",
        ["DERIVED", "PRIMARY", "ASL", "PERFUSION", "MOSAIC"],
    )
    info = classify_series(pwi)
    assert (info.vendor, info.role) == ("Siemens", "scanner_map")


def test_philips_delta_m_series_and_t1_anatomy(dro_dir) -> None:
    raw = read_series("philips/202_SOURCE_-_pCASL")[:64]  # two dynamics are enough here
    scanner = read_series("philips/201_pCASL")
    t1 = renamed(scanner[:4], "T1W_3D_TFE", ["ORIGINAL", "PRIMARY", "M_FFE", "M", "FFE"])
    (acq,) = classify_study(raw + scanner + t1)
    assert [m.role for m in acq.scanner_maps] == ["scanner_map"]
    assert acq.anatomy_series_uid == t1[0].SeriesInstanceUID
    assert all(v.series_instance_uid == raw[0].SeriesInstanceUID for v in acq.volumes)


def test_ge_transit_maps_are_scanner_maps(dro_dir) -> None:
    bids = acquisition_from_bids(asl_niftis(dro_dir("D")))
    m0 = np.ones(bids.geometry.shape)
    raw = ge_series(np.zeros(bids.geometry.shape), m0, bids.geometry)
    transit = renamed(
        [d for d in raw if "PERFUSION_ASL" not in d.ImageType],
        "eASL: Transit delay",
        ["DERIVED", "PRIMARY", "ASL"],
    )
    (acq,) = classify_study(raw + transit)
    assert [m.description for m in acq.scanner_maps] == ["eASL: Transit delay"]
    assert acq.kinds() == {"delta_m": 1, "m0": 1}
