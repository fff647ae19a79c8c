"""`cirrus dimse` as a real process, driven by DCMTK as the modality and the workstation.

The same database is served by a real `cirrus serve`, so what arrives by C-STORE is checked
through QIDO-RS and WADO-RS, and C-FIND answers are compared with QIDO's.
"""

from __future__ import annotations

import io
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.data import get_testdata_file

from tests.conftest import LiveServer, free_port, live_server_env, wait_for_port
from tests.e2e.dimse_helpers import (
    ANY_SYNTAX,
    DimseProcess,
    cirrus,
    dataset_bytes,
    require_dcmtk,
    retrieve_instance,
    same_object,
    sop_uid,
)
from tests.server.routes.test_wado import split_multipart

# storescu's option that proposes each file's own transfer syntax (kept as received).
TS_OPTION = {
    "1.dcm": "-xe", "2.dcm": "-xi", "3.dcm": "-xb", "4.dcm": "-xr", "5.dcm": "-xs", "6.dcm": "-xs",
    "7.dcm": "-xt", "8.dcm": "-xt", "9.dcm": "-xv",
}
PYDICOM_FILES = {"CT_small.dcm": "-xe", "JPEG2000.dcm": "-xw", "SC_rgb_jpeg_dcmtk.dcm": "-xy",
                 "image_dfl.dcm": "-xd", "MR_small_bigendian.dcm": "-xb"}


class Site:
    def __init__(self, env: dict[str, str], http: httpx.Client, dimse: DimseProcess) -> None:
        self.env = env
        self.http = http
        self.dimse = dimse

    def qido(self, path: str, **params: str) -> list[dict]:
        r = self.http.get(f"/dicom-web/{path}", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def wado_instance(self, study: str, series: str, sop: str) -> bytes:
        return retrieve_instance(self.http, study, series, sop)


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    require_dcmtk()
    data = tmp_path / "live"
    data.mkdir()
    env = live_server_env(database_url, data)
    added = cirrus(env, "ae", "add", "MODALITY")
    assert added.returncode == 0, added.stderr
    server = LiveServer(env, data).start()
    dimse = DimseProcess(env, data / "dimse.log").start()
    try:
        with httpx.Client(base_url=server.url, timeout=60, headers=server.headers) as http:
            yield Site(env, http, dimse)
    finally:
        dimse.stop()
        server.stop()


def first(item: dict, tag: str) -> str:
    values = item.get(tag, {}).get("Value") or [""]
    return str(values[0])


def _uids(path: Path) -> tuple[str, str, str]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def _store(site: Site, files: dict[Path, str], calling: str = "MODALITY") -> None:
    for path, option in files.items():
        done = site.dimse.tool("storescu", calling, option, str(path))
        assert done.returncode == 0, f"{path.name}: {done.stderr}\n{site.dimse.output()}"


def test_store_find_get_move_roundtrip(site: Site, shared_data: Path, tmp_path: Path) -> None:
    echo = site.dimse.tool("echoscu", "MODALITY")
    assert echo.returncode == 0, echo.stderr

    # C-STORE: one image in nine transfer syntaxes, pydicom's files in five more, each sent in its own.
    ts_dir = shared_data / "transfer-syntaxes"
    files = {ts_dir / name: option for name, option in TS_OPTION.items()}
    files.update({Path(str(get_testdata_file(name))): option for name, option in PYDICOM_FILES.items()})
    _store(site, files)

    # Visible through QIDO and byte-identical through WADO (the data set exactly as sent).
    for path in files:
        study, series, sop = _uids(path)
        found = site.qido(f"studies/{study}/instances", SOPInstanceUID=sop)
        assert len(found) == 1, path.name
        stored = site.wado_instance(study, series, sop)
        if path.parent == ts_dir:  # written by DCMTK: sent and kept byte for byte
            assert dataset_bytes(stored) == dataset_bytes(path.read_bytes()), path.name
        assert same_object(path.read_bytes(), stored), path.name

    # Re-sending an identical object is a success, nothing doubles.
    _store(site, {ts_dir / "1.dcm": "-xe"})
    study, series, _ = _uids(ts_dir / "1.dcm")
    assert len(site.qido(f"studies/{study}/instances")) == 9

    # C-FIND at each level answers what QIDO answers.
    out = tmp_path / "find"
    out.mkdir()

    def findscu(model: str, *keys: str) -> list[pydicom.Dataset]:
        target = out / f"{len(list(out.iterdir()))}"
        target.mkdir()
        args = [model, "-X", "-od", str(target)]
        for key in keys:
            args += ["-k", key]
        done = site.dimse.tool("findscu", "MODALITY", *args)
        assert done.returncode == 0, done.stderr + site.dimse.output()
        return [pydicom.dcmread(p) for p in sorted(target.glob("rsp*.dcm"))]

    patients = findscu("-P", "QueryRetrieveLevel=PATIENT", "PatientID", "PatientName",
                       "NumberOfPatientRelatedStudies")
    qido_studies = site.qido("studies")
    assert {str(p.get("PatientID", "")) for p in patients} == {first(s, "00100020") for s in qido_studies}
    assert sum(int(p.NumberOfPatientRelatedStudies) for p in patients) == len(qido_studies)

    studies = findscu("-S", "QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientName", "StudyDate",
                      "ModalitiesInStudy", "NumberOfStudyRelatedInstances")
    assert sorted(str(s.StudyInstanceUID) for s in studies) == sorted(
        first(s, "0020000D") for s in qido_studies)
    ts_study = next(s for s in studies if s.StudyInstanceUID == study)
    assert int(ts_study.NumberOfStudyRelatedInstances) == 9
    assert all(s.RetrieveAETitle == "CIRRUS" for s in studies)

    series_rsp = findscu("-S", "QueryRetrieveLevel=SERIES", f"StudyInstanceUID={study}", "SeriesInstanceUID",
                         "Modality", "NumberOfSeriesRelatedInstances")
    assert [str(s.SeriesInstanceUID) for s in series_rsp] == [
        first(s, "0020000E") for s in site.qido(f"studies/{study}/series")]
    images = findscu("-P", "QueryRetrieveLevel=IMAGE", f"PatientID={ts_study.get('PatientID', '') or ''}",
                     f"StudyInstanceUID={study}", f"SeriesInstanceUID={series}", "SOPInstanceUID", "InstanceNumber")
    assert sorted(str(i.SOPInstanceUID) for i in images) == sorted(
        first(i, "00080018") for i in site.qido(f"studies/{study}/series/{series}/instances"))
    wild = findscu("-S", "QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientName=*", "StudyDate=19000101-")
    assert sorted(str(s.StudyInstanceUID) for s in wild) == sorted(
        first(s, "0020000D") for s in site.qido("studies", PatientName="*", StudyDate="19000101-"))
    assert 0 < len(wild) < len(qido_studies)  # one study has no StudyDate: a range does not match it

    # C-GET a study (stored native syntaxes come back as they are) ...
    got = tmp_path / "got"
    got.mkdir()
    done = site.dimse.tool("getscu", "MODALITY", "-S", "-k", "QueryRetrieveLevel=STUDY",
                           "-k", f"StudyInstanceUID={_uids(Path(str(get_testdata_file('CT_small.dcm'))))[0]}",
                           "-od", str(got))
    assert done.returncode == 0, done.stderr + site.dimse.output()
    received = list(got.iterdir())
    assert len(received) == 1
    original = Path(str(get_testdata_file("CT_small.dcm")))
    assert same_object(original.read_bytes(), received[0].read_bytes())

    # ... and C-MOVE a series to a workstation listening itself (movescu's own SCP), every syntax accepted.
    port = free_port()
    assert cirrus(site.env, "ae", "add", "WORKSTATION", "--host", "127.0.0.1", "--port", str(port)).returncode == 0
    moved = tmp_path / "moved"
    moved.mkdir()
    done = site.dimse.tool("movescu", "WORKSTATION", "-S", "-aem", "WORKSTATION", "+P", str(port), "+xa",
                           "-k", "QueryRetrieveLevel=SERIES", "-k", f"StudyInstanceUID={study}",
                           "-k", f"SeriesInstanceUID={series}", "-od", str(moved))
    assert done.returncode == 0, done.stderr + site.dimse.output()
    back = {sop_uid(p): p for p in moved.iterdir()}
    assert len(back) == 9
    for name in TS_OPTION:
        path = ts_dir / name
        assert dataset_bytes(back[sop_uid(path)].read_bytes()) == dataset_bytes(path.read_bytes()), name


def test_refusals_unknown_ae_conflict_tenant_and_destination(sqlite_url: str, tmp_path: Path) -> None:
    require_dcmtk()
    data = tmp_path / "live"
    data.mkdir()
    env = live_server_env(sqlite_url, data)
    assert cirrus(env, "ae", "add", "MODALITY").returncode == 0
    # Another institution's workstation (CIRRUS_INSTITUTION names the one the command ensures).
    other = cirrus({**env, "CIRRUS_INSTITUTION": "Other Hospital"}, "ae", "add", "OTHERWS",
                   "--institution", "Other Hospital", "--host", "127.0.0.1", "--port", "1")
    assert other.returncode == 0, other.stdout + other.stderr
    listed = cirrus(env, "ae", "list")
    assert "MODALITY" in listed.stdout and "Other Hospital" in listed.stdout and "127.0.0.1:1" in listed.stdout
    bad = cirrus(env, "ae", "add", "NOWHERE", "--institution", "No Such Hospital")
    assert bad.returncode == 2 and "no institution named 'No Such Hospital'" in bad.stdout
    server = LiveServer(env, data).start()
    dimse = DimseProcess(env, data / "dimse.log").start()
    try:
        # Unknown calling AE: rejected at association, nothing else happens.
        echo = dimse.tool("echoscu", "STRANGER")
        assert echo.returncode != 0 and "Calling AE Title Not Recognized" in echo.stderr
        assert "association from 'STRANGER' rejected" in dimse.output()

        # Same SOP Instance UID, other content: 0111H, logged, the first object stays.
        big = Path(str(get_testdata_file("MR_small_bigendian.dcm")))
        rle = Path(str(get_testdata_file("MR_small_RLE.dcm")))
        assert sop_uid(big) == sop_uid(rle)
        assert dimse.tool("storescu", "MODALITY", "-xb", str(big)).returncode == 0
        conflict = dimse.tool("storescu", "MODALITY", "-v", "-xr", str(rle))
        assert conflict.returncode != 0
        # 0111H Duplicate SOP Instance (PS3.7 C.5.8): DCMTK names it for N-CREATE only, hence "Unknown".
        assert "Store Response (Unknown Status: 0x111)" in conflict.stderr, conflict.stderr
        assert "refused (0x0111)" in dimse.output()
        study, series, sop = _uids(big)
        with httpx.Client(base_url=server.url, timeout=60, headers=server.headers) as http:
            r = http.get(f"/dicom-web/studies/{study}/series/{series}/instances/{sop}",
                         headers={"Accept": ANY_SYNTAX})
            assert r.status_code == 200
            stored = split_multipart(r.headers["content-type"], r.content)[0][1]
            assert dataset_bytes(stored) == dataset_bytes(big.read_bytes())

        # The other institution's AE sees nothing of it, by C-FIND or C-GET.
        out = tmp_path / "find"
        out.mkdir()
        found = dimse.tool("findscu", "OTHERWS", "-S", "-X", "-od", str(out), "-k", "QueryRetrieveLevel=STUDY",
                           "-k", "StudyInstanceUID")
        assert found.returncode == 0 and not list(out.glob("rsp*.dcm"))
        mine = dimse.tool("findscu", "MODALITY", "-S", "-X", "-od", str(out), "-k", "QueryRetrieveLevel=STUDY",
                          "-k", "StudyInstanceUID")
        assert mine.returncode == 0 and len(list(out.glob("rsp*.dcm"))) == 1
        got = tmp_path / "got"
        got.mkdir()
        dimse.tool("getscu", "OTHERWS", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                   "-od", str(got))
        assert not list(got.iterdir())

        # The other institution's AE cannot add an instance to that study: 0124H (Refused: Not
        # Authorized) for that instance, and the study keeps its one instance.
        intruder = pydicom.dcmread(big)
        intruder.SOPInstanceUID = intruder.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        intruder.SeriesInstanceUID = pydicom.uid.generate_uid()
        intruder_path = tmp_path / "intruder.dcm"
        intruder.save_as(intruder_path)
        refused = dimse.tool("storescu", "OTHERWS", "-xb", str(intruder_path))
        assert refused.returncode != 0, refused.stderr
        assert "refused (0x0124)" in dimse.output()
        with httpx.Client(base_url=server.url, timeout=60, headers=server.headers) as http:
            [row] = http.get(f"/dicom-web/studies?StudyInstanceUID={study}").json()
            assert row["00201208"]["Value"] == [1]

        # C-MOVE to an AE that is no destination, or another institution's: A801H.
        for dest in ("NOBODY", "OTHERWS"):
            moved = dimse.tool("movescu", "MODALITY", "-S", "-aem", dest, "-k", "QueryRetrieveLevel=STUDY",
                               "-k", f"StudyInstanceUID={study}")
            assert moved.returncode != 0 and "Refused: MoveDestinationUnknown" in moved.stderr, moved.stderr
        assert dimse.tool("echoscu", "MODALITY").returncode == 0  # still serving
    finally:
        dimse.stop()
        server.stop()
        shutil.rmtree(data / "tmp", ignore_errors=True)


def test_abort_mid_transfer_and_association_limit(sqlite_url: str, tmp_path: Path) -> None:
    """A connection cut mid-C-STORE leaves nothing visible and no file behind; a per-AE limit of
    open associations rejects the next one (transient, local limit exceeded); the SCP keeps serving."""
    from pynetdicom import AE, evt
    from pynetdicom.pdu import P_DATA_TF
    from pynetdicom.sop_class import CTImageStorage, Verification

    from tests.dicom_helpers import ct_instance

    require_dcmtk()
    data = tmp_path / "live"
    data.mkdir()
    incoming = tmp_path / "incoming"  # where pynetdicom writes data sets as they arrive
    incoming.mkdir()
    env = live_server_env(sqlite_url, data, TMPDIR=str(incoming))
    assert cirrus(env, "ae", "add", "MODALITY").returncode == 0
    assert cirrus(env, "ae", "add", "LIMITED", "--max-associations", "1").returncode == 0
    dimse = DimseProcess(env, data / "dimse.log").start()
    try:
        raw = ct_instance(size=2048)  # 8 MiB of pixel data: many PDUs
        ds = pydicom.dcmread(io.BytesIO(raw))
        sent = {"pdata": 0}

        def cut_after_a_few(event: evt.Event) -> None:
            if isinstance(event.pdu, P_DATA_TF):
                sent["pdata"] += 1
                if sent["pdata"] == 20:
                    event.assoc.dul.socket.socket.shutdown(socket.SHUT_RDWR)

        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(CTImageStorage, ds.file_meta.TransferSyntaxUID)
        assoc = ae.associate("127.0.0.1", dimse.port, ae_title="CIRRUS", max_pdu=16384,
                             evt_handlers=[(evt.EVT_PDU_SENT, cut_after_a_few)])
        assert assoc.is_established
        status = assoc.send_c_store(ds)
        assert not status or status.Status != 0
        assoc.abort()
        assert sent["pdata"] >= 20
        deadline = time.monotonic() + 10
        while "ended mid-transfer" not in dimse.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "ended mid-transfer" in dimse.output()
        assert not list(incoming.iterdir())
        assert not list((data / "tmp" / "dimse").iterdir())
        find = tmp_path / "find"
        find.mkdir()
        done = dimse.tool("findscu", "MODALITY", "-S", "-X", "-od", str(find), "-k", "QueryRetrieveLevel=IMAGE",
                          "-k", f"StudyInstanceUID={ds.StudyInstanceUID}", "-k",
                          f"SeriesInstanceUID={ds.SeriesInstanceUID}", "-k", "SOPInstanceUID")
        assert done.returncode == 0 and not list(find.glob("rsp*.dcm"))

        # One association open for LIMITED: the second is refused, a third after release is accepted.
        limited = AE(ae_title="LIMITED")
        limited.add_requested_context(Verification)
        held = limited.associate("127.0.0.1", dimse.port, ae_title="CIRRUS")
        assert held.is_established
        echo = dimse.tool("echoscu", "LIMITED")
        assert echo.returncode != 0 and "Local Limit Exceeded" in echo.stderr, echo.stderr
        held.release()
        assert dimse.tool("echoscu", "LIMITED").returncode == 0
        # The whole object, sent again properly, is stored; one without a SeriesInstanceUID is
        # refused with A900H (data set does not match SOP class), and the association goes on.
        again = ae.associate("127.0.0.1", dimse.port, ae_title="CIRRUS")
        assert again.send_c_store(ds).Status == 0
        broken = pydicom.dcmread(io.BytesIO(ct_instance(size=8)))
        del broken.SeriesInstanceUID
        assert again.send_c_store(broken).Status == 0xA900
        assert again.send_c_store(ds).Status == 0  # identical re-send: success
        again.release()
        assert "refused (0xA900)" in dimse.output()
    finally:
        dimse.stop()


def test_embedded_scp_in_serve_accepting_any_caller(database_url: str, tmp_path: Path) -> None:
    """`cirrus serve` with CIRRUS_DIMSE_EMBEDDED runs the SCP in its own process; with
    CIRRUS_DIMSE_ACCEPT_ANY a caller missing from the AE table stores into the default institution."""
    require_dcmtk()
    data = tmp_path / "live"
    data.mkdir()
    port = free_port()
    env = live_server_env(database_url, data, CIRRUS_DIMSE_EMBEDDED="true", CIRRUS_DIMSE_PORT=str(port),
                          CIRRUS_DIMSE_ACCEPT_ANY="true")
    server = LiveServer(env, data).start()
    try:
        wait_for_port(port, timeout=30)
        ct = Path(str(get_testdata_file("CT_small.dcm")))
        done = subprocess.run(["storescu", "-aet", "ANYONE", "-aec", "CIRRUS", "-xe", "127.0.0.1", str(port),
                               str(ct)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        study, _, sop = _uids(ct)
        with httpx.Client(base_url=server.url, timeout=60, headers=server.headers) as http:
            found = http.get(f"/dicom-web/studies/{study}/instances").json()
        assert [first(i, "00080018") for i in found] == [sop]
    finally:
        server.stop()
