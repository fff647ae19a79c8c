"""Recognition never opens ASL for a non-ASL series, and still finds every vendor's ASL.

Non-ASL inputs: the Siemens BOLD fMRI EPI of shared/data/transfer-syntaxes (its protocol has
``sAsl.ulMode = 0x1``) in all nine transfer syntaxes, every pydicom test file with a series,
and vendor-shaped DWI, T1, T2/FLAIR, localiser and scanner-map headers built here.
"""

from __future__ import annotations

import copy
import glob

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_files
from pydicom.uid import generate_uid

from quant import NotAslError, classify_series, classify_study
from quant.vendors import siemens
from tests.conftest import SHARED_DATA
from tests.quant.builders import ge_series, head, philips_series, siemens_mosaics, small_geometry
from tests.quant.conftest import read_series

TRANSFER_SYNTAX_FILES = sorted(glob.glob(str(SHARED_DATA / "transfer-syntaxes" / "*.dcm")))


def renamed(datasets, description, image_type=None, **attributes):
    uid = generate_uid()
    out = []
    for ds in datasets:
        c = copy.deepcopy(ds)
        c.SeriesInstanceUID, c.SeriesDescription, c.SOPInstanceUID = uid, description, generate_uid()
        c.ProtocolName = description
        if image_type:
            c.ImageType = image_type
        for k, v in attributes.items():
            setattr(c, k, v)
        out.append(c)
    return out


def with_sequence(ds: pydicom.Dataset, old: bytes, new: bytes) -> pydicom.Dataset:
    """The same image with another sequence file in its (binary) CSA protocol (same length)."""
    assert len(old) == len(new)
    c = copy.deepcopy(ds)
    raw = c[(0x0029, 0x1020)].value
    assert old in raw
    c[(0x0029, 0x1020)].value = raw.replace(old, new)
    c.SeriesInstanceUID = generate_uid()
    return c


def assert_not_asl(datasets) -> None:
    info = classify_series(datasets)
    assert info.role != "asl", info
    with pytest.raises(NotAslError):
        classify_study(datasets)


@pytest.mark.parametrize("path", TRANSFER_SYNTAX_FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_siemens_bold_epi_is_not_asl_in_every_transfer_syntax(path: str) -> None:
    ds = pydicom.dcmread(path)
    asc = siemens.ascconv(ds)
    assert asc.get("sAsl.ulMode") == "0x1" and siemens.sequence_file(asc) == "ep2d_bold"
    assert siemens.asl_evidence(ds, asc) is None
    assert_not_asl([ds])


def test_bold_is_not_asl_even_when_its_name_says_asl() -> None:
    ds = pydicom.dcmread(TRANSFER_SYNTAX_FILES[0])
    assert_not_asl(renamed([ds], "rest_ASL_run1"))


@pytest.mark.parametrize(
    ("old", "new", "description"),
    [
        (b"ep2d_bold", b"ep2d_diff", "ep2d_diff_mddw_30"),  # DWI
        (b"ep2d_bold", b"tfl3d1_16", "t1_mprage_sag"),  # T1 MPRAGE
        (b"ep2d_bold", b"tse2d1_15", "t2_tse_tra"),  # T2 TSE
        (b"ep2d_bold", b"tir2d1_21", "t2_tirm_tra_dark-fluid"),  # FLAIR
        (b"ep2d_bold", b"fl2d1_loc", "localizer"),  # localiser
    ],
)
def test_siemens_non_asl_sequences(old: bytes, new: bytes, description: str) -> None:
    ds = with_sequence(pydicom.dcmread(TRANSFER_SYNTAX_FILES[0]), old, new)
    ds.SeriesDescription = ds.ProtocolName = description
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    assert siemens.sequence_file(siemens.ascconv(ds)) == new.decode()
    assert_not_asl([ds])


def test_pydicom_test_files_are_not_asl() -> None:
    datasets = []
    for path in get_testdata_files("*"):
        try:
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - some test files are deliberately broken
            continue
        if "SeriesInstanceUID" not in ds:
            continue
        assert classify_series([ds]).role != "asl", path
        datasets.append(ds)
    assert len(datasets) > 50  # CT, MR, US, NM, SEG, SR, RT, secondary captures ...
    with pytest.raises(NotAslError):
        classify_study(datasets)


def synthetic_non_asl() -> dict[str, list[pydicom.Dataset]]:
    """Vendor-shaped non-ASL series: DWI, T1, T2/FLAIR, localisers, scanner-derived maps."""
    g = small_geometry()
    vol = np.where(head(g.shape), 500.0, 0.0)
    ge = ge_series(vol, vol, g)
    ge_plain = [d for d in ge if "PERFUSION_ASL" not in d.ImageType]
    for d in ge_plain:
        del d[(0x0043, 0x0010)]  # no ASL private block: an ordinary GE image
        for tag in list(d.keys()):
            if tag.group == 0x0043:
                del d[tag]
        d.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    philips = philips_series([("CONTROL", 1, 1, vol)], g, description="T2W_TSE")
    for d in philips:
        for tag in list(d.keys()):
            if tag.group == 0x2005:
                del d[tag]
    bold_asc = {"tSequenceFileName": '"%SiemensSeq%\\ep2d_bold"', "sAsl.ulMode": "0x1", "alTR[0]": "2000000"}
    dwi_asc = {"tSequenceFileName": '"%SiemensSeq%\\ep2d_diff"', "sAsl.ulMode": "0x1"}
    return {
        "GE T1 BRAVO": renamed(ge_plain, "Ax T1 BRAVO"),
        "GE DWI": renamed(ge_plain, "DWI b1000", ["ORIGINAL", "PRIMARY", "OTHER"]),
        "GE localiser": renamed(ge_plain, "3 Plane Loc", ["ORIGINAL", "PRIMARY", "LOCALIZER"]),
        "GE CBF map": renamed(ge_plain, "Cerebral Blood Flow", ["DERIVED", "PRIMARY", "ASL", "CBF"]),
        "GE eASL transit delay": renamed(ge_plain, "eASL: Transit delay", ["DERIVED", "PRIMARY", "ASL"]),
        "Philips T2W": philips,
        "Philips FLAIR": renamed(philips, "FLAIR_longTR"),
        "Philips DWI": renamed(philips, "DWI_SENSE", ["ORIGINAL", "PRIMARY", "DIFFUSION", "ADC"]),
        "Philips survey": renamed(philips, "Survey", ["ORIGINAL", "PRIMARY", "M_FFE", "M", "FFE"]),
        "Philips scanner ΔM": renamed(philips, "pCASL", ["ORIGINAL", "PRIMARY", "PERFUSION", "PERFUSION"]),
        "Siemens BOLD (synthetic)": siemens_mosaics([vol, vol, vol], g, bold_asc, description="fMRI_rest"),
        "Siemens DWI": siemens_mosaics([vol, vol], g, dwi_asc, description="ep2d_diff_ASL_research"),
        "Siemens relCBF": siemens_mosaics(
            [vol], g, {"tSequenceFileName": '"%SiemensSeq%\\tgse_pcasl"'}, description="relCBF",
            image_type=("DERIVED", "PRIMARY", "ASL", "RELCBF", "MOSAIC"),
        ),
    }


@pytest.mark.parametrize("name", list(synthetic_non_asl()))
def test_vendor_shaped_non_asl_series(name: str) -> None:
    assert_not_asl(synthetic_non_asl()[name])


def test_a_study_of_only_non_asl_series_opens_nothing() -> None:
    everything = [d for series in synthetic_non_asl().values() for d in series]
    everything += [pydicom.dcmread(p) for p in TRANSFER_SYNTAX_FILES[:2]]
    with pytest.raises(NotAslError) as exc:
        classify_study(everything)
    assert "scanner_map" in str(exc.value)  # the maps are named, not used


@pytest.mark.parametrize(
    ("folders", "vendor", "labeling"),
    [
        (("siemens/pasl3d/11_pasl_3d",), "Siemens", "pasl"),
        (("siemens/pcasl2d/9_pcasl_2d", "siemens/pcasl2d/10_pcasl_2d_m0"), "Siemens", "pcasl"),
        (("siemens/pcasl3d/15_pcasl_3d",), "Siemens", "pcasl"),
        (("philips/202_SOURCE_-_pCASL",), "Philips", "pcasl"),
    ],
)
def test_every_real_asl_sample_is_recognised(folders, vendor: str, labeling: str) -> None:
    datasets = read_series(*folders)
    (acq,) = classify_study(datasets)
    assert (acq.vendor, acq.labeling_type) == (vendor, labeling)


def test_ge_shaped_asl_is_recognised_next_to_non_asl() -> None:
    g = small_geometry()
    vol = np.where(head(g.shape), 500.0, 0.0)
    study = [d for series in synthetic_non_asl().values() for d in series] + ge_series(vol * 0.01, vol, g)
    (acq,) = classify_study(study)
    assert acq.vendor == "GE" and acq.labeling_type == "pcasl"
    assert {m.description for m in acq.scanner_maps} >= {"Cerebral Blood Flow", "eASL: Transit delay", "relCBF"}
