"""``cirrus quant`` end to end on a DRO ZIP, a Siemens folder and unusable input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest

from server.cli import main
from tests.quant.conftest import ASL


def test_quant_on_dro_zip_writes_dicom_and_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rc = main(["quant", str(next((ASL / "dro").glob("dro_E_*.zip"))), "--out", str(out)])
    assert rc == 0
    report = json.loads((out / "results.json").read_text())
    (entry,) = report["acquisitions"]
    assert entry["result"]["model"] == "kinetic"
    assert entry["result"]["parameters"]["pld"]["source"] == "tag"
    assert entry["result"]["statistics"]["whole_brain"]["mean"] == pytest.approx(60, rel=0.05)
    assert "total_s" in report["timings_s"]
    files = [out / f for f in entry["files"]]
    assert files and all(f.exists() for f in files)
    kinds = {str(pydicom.dcmread(f, stop_before_pixels=True).SeriesDescription).split(" ")[0] for f in files}
    assert {"CBF", "ATT"} <= kinds
    assert (out / "acq1" / "statistics.csv").read_text().startswith("region,n,mean")


def test_quant_overrides_on_philips_and_missing_m0_exit_code(tmp_path: Path, capsys) -> None:
    args = [
        "quant",
        str(ASL / "philips" / "202_SOURCE_-_pCASL"),
        "--pld",
        "1.8",
        "--labeling-duration",
        "1.8",
        "--labeling-type",
        "pcasl",
    ]
    # No M0 series: the control images stand in (no background suppression declared).
    out = tmp_path / "out"
    assert main([*args, "--out", str(out)]) == 0
    (entry,) = json.loads((out / "results.json").read_text())["acquisitions"]
    m0 = entry["result"]["parameters"]["m0"]
    assert (m0["value"], m0["source"]) == ("control", "derived")
    # Refusing the surrogate brings back the missing-M0 error and exit code.
    refused = tmp_path / "refused"
    assert main([*args, "--out", str(refused), "--set", 'm0="required"']) == 2
    assert "no M0" in capsys.readouterr().err
    report = json.loads((refused / "results.json").read_text())
    assert report["acquisitions"][0]["error"]["type"] == "MissingM0Error"


def test_quant_reports_missing_parameters(tmp_path: Path, capsys) -> None:
    src = tmp_path / "nifti"
    src.mkdir()
    import zipfile

    with zipfile.ZipFile(next((ASL / "dro").glob("dro_D_*.zip"))) as zf:
        zf.extractall(src)
    sidecar = src / "asl" / "001_asl.json"
    meta = json.loads(sidecar.read_text())
    del meta["PostLabelingDelay"]
    sidecar.write_text(json.dumps(meta))
    rc = main(["quant", str(src / "asl" / "001_asl.nii.gz"), "--out", str(tmp_path / "o")])
    assert rc == 2 and "pld" in capsys.readouterr().err
    rc = main(["quant", str(src / "asl" / "001_asl.nii.gz"), "--out", str(tmp_path / "o2"), "--pld", "1.8"])
    assert rc == 0


def test_quant_rejects_non_asl_input(tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.txt").write_text("not dicom")
    shutil.copy(next((ASL / "philips" / "201_pCASL").glob("*.dcm")), junk / "one.dcm")
    rc = main(["quant", str(junk), "--out", str(tmp_path / "out")])
    assert rc == 2
    assert "no ASL series" in capsys.readouterr().err
    rc = main(["quant", str(tmp_path / "missing"), "--out", str(tmp_path / "out2")])
    assert rc == 2


def test_quant_on_zip_of_siemens_dicom(tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "pasl.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for folder in ("11_pasl_3d", "13_pasl_3d_m0"):
            for f in sorted((ASL / "siemens" / "pasl3d" / folder).glob("*.dcm")):
                zf.write(f, f"{folder}/{f.name}")
    # Series 13 "pasl_3d_m0" is a control/label pair with background suppression, not M0.
    out = tmp_path / "out"
    assert main(["quant", str(archive), "--out", str(out)]) == 2
    (entry,) = json.loads((out / "results.json").read_text())["acquisitions"]
    assert entry["error"]["type"] == "InputError"
    assert "'pasl_3d_m0' was not used as M0" in entry["error"]["message"]
    # A person may still force the control images; the maps are then written as usual.
    forced = tmp_path / "forced"
    assert main(["quant", str(archive), "--out", str(forced), "--set", 'm0="control"']) == 0
    (entry,) = json.loads((forced / "results.json").read_text())["acquisitions"]
    params = entry["result"]["parameters"]
    assert params["ti1"]["value"] == pytest.approx(0.7) and params["ti1"]["source"] == "protocol"
    assert params["ti"]["value"] == [pytest.approx(1.99)]
    assert params["m0"]["source"] == "derived" and "pasl_3d_m0" in params["m0"]["detail"]
    assert entry["acquisition"]["parameters"]["m0_rejected"]["value"] == "series 13 'pasl_3d_m0'"
    cbf = [f for f in entry["files"] if "series_1111" in f]
    assert len(cbf) == 40  # one derived slice per mosaic tile
