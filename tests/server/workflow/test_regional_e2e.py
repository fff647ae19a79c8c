"""Regional analysis through the server, on SQLite and PostgreSQL: a real Siemens 3D pCASL arrives
over STOW-RS → the worker registers it to MNI, brings the AAL3 regions into its space → the study
gains a SEG of the regions and a TID 1500 SR of their values (read back over WADO-RS and parsed
with highdicom), the PDF report has a page per disease panel, and each panel is a CSV.
"""

from __future__ import annotations

import csv
import io
import subprocess
import time
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
from starlette.testclient import TestClient

import quant
from dicomweb.multipart import MultipartDecoder, PartData, PartEnd, boundary_of, closing, new_boundary, part_header
from quant.regions.space import affine_of, to_sitk
from server.app import create_app
from server.services.atlases import default_atlas
from tests.conftest import authed_client
from tests.server.workflow.analysis_helpers import colourful_fraction, pdf_pages

DICOM = 'multipart/related; type="application/dicom"'


@pytest.fixture
def worker_client(database_url: str, settings_factory):  # type: ignore[no-untyped-def]
    settings = settings_factory(database_url, workers=1, stable_seconds=1.0)
    with authed_client(create_app(settings)) as c:
        yield c


def stow(c: TestClient, files: list[Path]) -> None:
    boundary = new_boundary()
    body = io.BytesIO()
    for i, f in enumerate(files):
        body.write(part_header("application/dicom", first=i == 0, boundary=boundary))
        body.write(f.read_bytes())
    body.write(closing(boundary))
    r = c.post("/dicom-web/studies", content=body.getvalue(),
               headers={"content-type": f"{DICOM}; boundary={boundary}"})
    assert r.status_code == 200, r.text


def retrieve(c: TestClient, study: str, series: str) -> list[pydicom.Dataset]:
    """Every instance of a series over WADO-RS, as datasets."""
    r = c.get(f"/dicom-web/studies/{study}/series/{series}", headers={"accept": DICOM})
    assert r.status_code == 200, r.text[:300]
    decoder = MultipartDecoder(boundary_of(r.headers["content-type"]))
    parts: list[bytes] = []
    current = bytearray()
    for event in [*decoder.feed(r.content), *decoder.close()]:
        if isinstance(event, PartData):
            current += event.data
        elif isinstance(event, PartEnd):
            parts.append(bytes(current))
            current = bytearray()
    return [pydicom.dcmread(io.BytesIO(p)) for p in parts]


def wait_succeeded(c: TestClient, study: str) -> dict:
    deadline = time.monotonic() + 240
    listed: list[dict] = []
    while time.monotonic() < deadline:
        listed = c.get(f"/api/jobs?study={study}").json()["jobs"]
        if listed and listed[0]["state"] in ("succeeded", "failed"):
            break
        time.sleep(0.5)
    assert listed and listed[0]["state"] == "succeeded", listed
    return c.get(f"/api/jobs/{listed[0]['id']}").json()


def test_stowed_3d_pcasl_gets_region_seg_sr_panel_pages_and_csvs(worker_client: TestClient, shared_data: Path,
                                                                 tmp_path: Path) -> None:
    c = worker_client
    files = sorted((shared_data / "asl/siemens/pcasl3d").rglob("*.dcm"))
    stow(c, files)
    study = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    job = wait_succeeded(c, study)
    regions = job["statistics"]["regions"]
    assert regions["registration"]["input"] == "M0" and regions["registration"]["stages"] == ["rigid", "affine"]
    values = regions["regions"]
    # Every region family the panels need is found in this whole-brain 3D acquisition.
    for key in ("frontal_lobe_L", "temporal_lobe_R", "hippocampus_L", "thalamus_R", "cerebellum",
                "aca_territory_L", "mca_territory_R", "pca_territory_L", "precuneus_R", "grey_matter"):
        assert key in values and values[key]["n"] >= 3, key
    # Physiology, not constants: grey-matter regions above the whole brain, the reference is the cerebellum.
    whole = job["statistics"]["whole_brain"]["mean"]
    assert values["grey_matter"]["cbf_mean"] > whole > 0
    assert regions["reference"] == "cerebellum"
    assert regions["reference_cbf"] == pytest.approx(values["cerebellum"]["cbf_mean"])
    ratio = values["mca_territory_L"]["cbf_mean"] / values["cerebellum"]["cbf_mean"]
    assert values["mca_territory_L"]["relative_cbf"] == pytest.approx(ratio)
    [result] = job["results"]
    seg_series, sr_series = result["series"]["REGIONS_SEG"], result["series"]["MEASUREMENTS_SR"]
    listed = c.get(f"/dicom-web/studies/{study}/series?Modality=SEG").json()
    assert [s["0020000E"]["Value"][0] for s in listed] == [seg_series]

    # The SEG, read back: one segment per reported region, its voxels those of the region's values.
    [seg_ds] = retrieve(c, study, seg_series)
    seg = hd.seg.Segmentation.from_dataset(seg_ds)
    cbf_series = result["series"]["CBF"]
    assert seg_ds.ReferencedSeriesSequence[0].SeriesInstanceUID == cbf_series
    cbf_images = retrieve(c, study, cbf_series)
    assert seg_ds.FrameOfReferenceUID == cbf_images[0].FrameOfReferenceUID
    by_key = {d.tracking_id: d.segment_number for d in (seg.get_segment_description(n)
                                                      for n in seg.segment_numbers)}
    assert set(by_key) >= {"cerebellum", "hippocampus_L", "mca_territory_R", "precuneus_L"}
    for key in ("cerebellum", "hippocampus_L", "mca_territory_R"):
        volume = seg.get_volume(segment_numbers=[by_key[key]], combine_segments=False)
        assert int(np.asarray(volume.array).astype(bool).sum()) == values[key]["n"], key

    # The SR, read back: TID 1500 groups referencing those segments, with the same values.
    [sr_ds] = retrieve(c, study, sr_series)
    sr = hd.sr.Comprehensive3DSR.from_dataset(sr_ds)
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == len(by_key)
    seen = 0
    for group in groups:
        key = group.tracking_identifier
        ref = group.referenced_segment
        assert ref.referenced_sop_instance_uid == seg_ds.SOPInstanceUID
        assert ref.referenced_segment_numbers == [by_key[key]], key
        flow = group.get_measurements(name=codes.DCM.AbsoluteRegionalBloodFlow)
        if flow and key in values:
            assert flow[0].value == pytest.approx(values[key]["cbf_mean"], rel=1e-6), key
            seen += 1
    assert seen == len(groups)

    # One CSV per panel, matching the job's values.
    for name, rows in regions["panels"].items():
        r = c.get(f"/api/jobs/{job['id']}/panels/{name}.csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(r.text)))
        assert [t["region"] for t in table] == [row["base"] for row in rows]
        for t, row in zip(table, rows, strict=True):
            if row["left"]:
                assert float(t["cbf_left"]) == pytest.approx(row["left"]["cbf_mean"], abs=1e-3)
    assert "att_left_s" not in c.get(f"/api/jobs/{job['id']}/panels/cerebrovascular.csv").text  # one delay
    missing = c.get(f"/api/jobs/{job['id']}/panels/renal.csv")
    assert missing.status_code == 404 and "alzheimers" in missing.json()["error"]

    # The PDF: a page per panel, each with colour (bars and outlined map slices).
    pdf = c.get(f"/api/jobs/{job['id']}/report.pdf?lang=en")
    assert pdf.status_code == 200
    (tmp_path / "report.pdf").write_bytes(pdf.content)
    pages = pdf_pages(pdf.content, tmp_path)
    # ... the three panel pages come before the last page (parameters and provenance).
    panel_pages = pages[-4:-1]
    assert all(colourful_fraction(p) > 0.01 for p in panel_pages), [colourful_fraction(p) for p in pages]
    text = subprocess.run(["pdftotext", str(tmp_path / "report.pdf"), "-"], capture_output=True, check=True,
                          text=True).stdout
    order = [text.index(t) for t in ("Alzheimer's disease panel", "Cerebrovascular panel",
                                     "Endocrine / metabolic panel", "Parameters")]
    assert order == sorted(order)


def t1_series(like: pydicom.Dataset, volume: np.ndarray, origin: np.ndarray, spacing: float) -> list[pydicom.Dataset]:
    """An axial T1-weighted series of ``volume`` (slice, row, column) in the study of ``like``."""
    series = generate_uid()
    out = []
    scale = float(volume.max()) / 30000.0
    for k, plane in enumerate(volume):
        ds = pydicom.Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = MRImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        for keyword in ("StudyInstanceUID", "PatientName", "PatientID", "StudyDate", "StudyTime", "StudyID",
                        "AccessionNumber", "FrameOfReferenceUID", "Manufacturer", "ReferringPhysicianName"):
            if keyword in like:
                setattr(ds, keyword, like.get(keyword))
        ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = "MR", series, 2, k + 1
        ds.SeriesDescription = ds.ProtocolName = "t1_mprage_tra"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [float(origin[0]), float(origin[1]), float(origin[2] + k * spacing)]
        ds.PixelSpacing = [spacing, spacing]
        ds.SliceThickness = spacing
        ds.Rows, ds.Columns = plane.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit, ds.PixelRepresentation = 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = f"{scale:.8g}", "0"
        ds.PixelData = np.round(np.clip(plane, 0, None) / scale).astype(np.uint16).tobytes()
        out.append(ds)
    return out


@pytest.fixture
def sqlite_worker_client(sqlite_url: str, settings_factory):  # type: ignore[no-untyped-def]
    settings = settings_factory(sqlite_url, workers=1, stable_seconds=1.0)
    with authed_client(create_app(settings)) as c:
        yield c


def test_study_with_a_t1_registers_through_it(sqlite_worker_client: TestClient, shared_data: Path,
                                              tmp_path: Path) -> None:
    """The real 3D pCASL with a T1 series in its study (the template placed where the M0 path puts
    the subject, 2 mm): the job registers through the T1 (affine + demons) and its regions agree
    with the M0 path's. SQLite only: the database plays no part beyond the first test's."""
    c = sqlite_worker_client
    files = sorted((shared_data / "asl/siemens/pcasl3d").rglob("*.dcm"))
    sources = [pydicom.dcmread(f) for f in files]
    atlas = default_atlas().load()
    (acq,) = quant.classify_study(sources)
    via_m0 = quant.quantify(acq, regions=atlas).regions
    assert via_m0 is not None
    # A 2 mm axial grid over the ASL volume's extent, in the scanner's patient coordinates.
    corners = np.array([[i, j, k, 1.0] for i in (0, acq.geometry.shape[2] - 1) for j in (0, acq.geometry.shape[1] - 1)
                        for k in (0, acq.geometry.shape[0] - 1)])
    lps = (affine_of(acq.geometry) @ corners.T).T[:, :3]
    low, high = lps.min(axis=0) - 10.0, lps.max(axis=0) + 10.0
    size = [int(np.ceil((h - lo) / 2.0)) for lo, h in zip(low, high, strict=True)]
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetSpacing([2.0, 2.0, 2.0])
    grid.SetOrigin([float(v) for v in low])
    t1 = sitk.GetArrayFromImage(sitk.Resample(to_sitk(atlas.template), grid, via_m0.transform, sitk.sitkLinear, 0.0))
    files_t1 = []
    for ds in t1_series(sources[0], t1, low, 2.0):
        path = tmp_path / f"t1_{ds.InstanceNumber:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files_t1.append(path)
    stow(c, files + files_t1)
    study = str(sources[0].StudyInstanceUID)
    job = wait_succeeded(c, study)
    assert job["t1_series_instance_uid"] == str(pydicom.dcmread(files_t1[0]).SeriesInstanceUID)
    registration = job["statistics"]["regions"]["registration"]
    assert registration["input"] == "T1", registration
    assert any("demons" in s for s in registration["stages"]), registration
    values = job["statistics"]["regions"]["regions"]
    for key in ("frontal_lobe_L", "parietal_lobe_R", "temporal_lobe_L", "occipital_lobe_R", "cerebellum",
                "mca_territory_L", "aca_territory_R"):
        assert values[key]["cbf_mean"] == pytest.approx(via_m0.values[key].cbf_mean, rel=0.08), key
