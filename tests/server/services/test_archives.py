"""Safe extraction of uploads: traversal, bombs, nested and empty archives, odd names."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from server.services.archives import (
    Candidate,
    Skipped,
    UploadLimits,
    UploadRejected,
    decode_member_name,
    dicom_problem,
    expand,
)
from tests.server.services import hostile_archives as hostile


def write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d


def test_traversal_and_absolute_names_reject_the_archive(tmp_path: Path, workdir: Path) -> None:
    for builder, words in ((hostile.traversal_zip, "'..'"), (hostile.absolute_zip, "absolute path")):
        z = write(tmp_path, "evil.zip", builder())
        with pytest.raises(UploadRejected, match="unsafe file name") as info:
            expand([("evil.zip", z)], workdir, UploadLimits())
        assert words in info.value.message
    assert list(workdir.iterdir()) == []
    assert not (tmp_path.parent / "etc").exists()


def test_zip_bomb_rejected_by_ratio_before_inflating(tmp_path: Path, workdir: Path) -> None:
    z = write(tmp_path, "bomb.zip", hostile.bomb_zip())
    with pytest.raises(UploadRejected, match=r"expands \d+:1.*zip bomb"):
        expand([("bomb.zip", z)], workdir, UploadLimits())
    assert list(workdir.iterdir()) == []


def test_total_size_and_file_count_limits(tmp_path: Path, workdir: Path) -> None:
    z = write(tmp_path, "big.zip", hostile.zip_bytes({f"f{i}": b"a" * 1000 for i in range(5)}))
    with pytest.raises(UploadRejected, match="more than the limit of 4000"):
        expand([("big.zip", z)], workdir, UploadLimits(max_total_bytes=4000))
    with pytest.raises(UploadRejected, match="5 files in the archive, more than the limit of 3"):
        expand([("big.zip", z)], workdir, UploadLimits(max_files=3))


def test_nested_archive_skipped_and_empty_archive_rejected(
    tmp_path: Path, workdir: Path, shared_data: Path
) -> None:
    dcm = (shared_data / "asl/siemens/pasl3d/13_pasl_3d_m0/0001.dcm").read_bytes()
    z = write(tmp_path, "nested.zip", hostile.nested_zip({"a.dcm": dcm}))
    items = expand([("nested.zip", z)], workdir, UploadLimits())
    reasons = {i.name: i.reason for i in items if isinstance(i, Skipped)}
    assert reasons["nested.zip/inner.zip"].startswith("nested archive")
    assert reasons["nested.zip/readme.txt"].startswith("not a DICOM file")
    assert not [i for i in items if isinstance(i, Candidate)]

    e = write(tmp_path, "empty.zip", hostile.empty_zip())
    with pytest.raises(UploadRejected, match="the ZIP archive is empty"):
        expand([("empty.zip", e)], workdir, UploadLimits())

    broken = write(tmp_path, "broken.zip", b"PK\x03\x04" + b"garbage" * 10)
    with pytest.raises(UploadRejected, match="not a readable ZIP archive"):
        expand([("broken.zip", broken)], workdir, UploadLimits())


def test_gbk_member_names_and_dicom_sniffing(tmp_path: Path, workdir: Path, shared_data: Path) -> None:
    dcm = (shared_data / "asl/siemens/pasl3d/13_pasl_3d_m0/0001.dcm").read_bytes()
    z = write(tmp_path, "cn.zip", hostile.gbk_named_zip(dcm))
    with zipfile.ZipFile(z) as zf:
        assert decode_member_name(zf.infolist()[0]) == "检查/图像1.dcm"
    [item] = expand([("cn.zip", z)], workdir, UploadLimits())
    assert isinstance(item, Candidate) and item.name == "cn.zip/检查/图像1.dcm"
    assert dicom_problem(item.path) is None
    assert dicom_problem(write(tmp_path, "x.txt", b"hello world")).startswith("not a DICOM file")
    assert dicom_problem(write(tmp_path, "empty", b"")) == "empty file"


def test_folders_and_loose_files(tmp_path: Path, workdir: Path, shared_data: Path) -> None:
    folder = shared_data / "asl/siemens/pasl3d/13_pasl_3d_m0"
    items = expand([("m0", folder), ("missing", tmp_path / "nope")], workdir, UploadLimits())
    assert sorted(i.name for i in items if isinstance(i, Candidate)) == ["m0/0001.dcm", "m0/0041.dcm"]
    skipped = [(i.name, i.reason) for i in items if isinstance(i, Skipped)]
    assert skipped == [("missing", "no such file or folder")]


def test_overlapping_entries_rejected_before_inflating(tmp_path: Path, workdir: Path) -> None:
    z = write(tmp_path, "overlap.zip", hostile.overlapping_zip())
    with pytest.raises(UploadRejected, match="overlap.*zip bomb"):
        expand([("overlap.zip", z)], workdir, UploadLimits())
    assert list(workdir.iterdir()) == []


def test_an_entry_lying_about_its_size_stops_at_the_declared_size(tmp_path: Path, workdir: Path) -> None:
    """Inflation stops at the declared size; the entry is skipped as unreadable, nothing kept."""
    z = write(tmp_path, "lie.zip", hostile.lying_size_zip())
    results = list(expand([("lie.zip", z)], workdir, UploadLimits()))
    assert [type(r) for r in results] == [Skipped]
    assert "unreadable entry" in results[0].reason
    assert list(workdir.iterdir()) == []
