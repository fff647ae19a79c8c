"""Safe expansion of uploaded files, folders and ZIP archives into ingest candidates.

Entry names are never used as paths: every extracted member is written to a
fresh temporary file, so a hostile name cannot escape the work folder. Names
that would have escaped (``../``, absolute paths, drive letters) still reject
the whole archive, because such an archive did not come from a scanner or a
PACS export. Limits guard against zip bombs: number of entries, total size
(declared AND actually inflated, since headers can lie), and per-entry
compression ratio. Nested archives are listed as skipped, not extracted.

Classes: ``UploadLimits`` (values), ``Candidate`` (a file to ingest) and
``Skipped`` (a file we did not ingest, with the reason a person reads).
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pydicom
from pydicom.errors import InvalidDicomError

from server.app_errors import UnusableInput

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # DICOMDIR: an index, not an image
UTF8_FLAG = 0x800


class UploadRejected(UnusableInput):
    """The upload as a whole cannot be taken (hostile or broken archive, over a limit)."""


@dataclass(frozen=True)
class UploadLimits:
    max_total_bytes: int = 8 * 1024**3
    max_files: int = 100_000
    # Inflated/compressed size of one entry; DICOM compresses ~2-10x, bombs ~1000x.
    max_ratio: float = 200.0
    # Ratios of small entries say nothing (a zero-filled 4 KB file compresses 100x).
    ratio_min_bytes: int = 1 << 20


@dataclass(frozen=True)
class Candidate:
    name: str  # as the user knows it: "upload.zip/DICOM/IM0001"
    path: Path


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


def is_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) in ZIP_MAGIC


def dicom_problem(path: Path) -> str | None:
    """``None`` if ``path`` looks like a DICOM instance we can store, else why not."""
    try:
        with open(path, "rb") as f:
            head = f.read(132)
            if len(head) == 0:
                return "empty file"
            f.seek(0)
            ds = pydicom.dcmread(
                f,
                stop_before_pixels=True,
                force=head[128:132] != b"DICM",
                specific_tags=["SOPClassUID", "SOPInstanceUID", "MediaStorageSOPClassUID"],
            )
    except (InvalidDicomError, EOFError, OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
        return f"not a DICOM file ({type(exc).__name__})"
    meta = getattr(ds, "file_meta", None)
    sop_class = ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta else None)
    sop_instance = ds.get("SOPInstanceUID") or (meta.get("MediaStorageSOPInstanceUID") if meta else None)
    if sop_class == MEDIA_STORAGE_DIRECTORY:
        return "DICOMDIR index file (the images it lists are read on their own)"
    if not sop_instance:
        return "not a DICOM file (no SOP Instance UID)"
    return None


def decode_member_name(info: zipfile.ZipInfo) -> str:
    """The member name as its author typed it.

    Without the UTF-8 flag, ``zipfile`` decodes names as CP437; archives made
    on Chinese Windows carry GBK bytes there and Linux/mac tools write UTF-8
    without setting the flag. Recover the bytes and try those encodings.
    """
    if info.flag_bits & UTF8_FLAG:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for encoding in ("utf-8", "gb18030", "shift_jis", "euc-kr"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def unsafe_reason(name: str) -> str | None:
    """Why a member name could escape an extraction folder, or ``None``."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return "absolute path"
    if ".." in PurePosixPath(normalized).parts:
        return "parent-directory ('..') component"
    if "\x00" in normalized:
        return "NUL character"
    return None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def check_archive(zf: zipfile.ZipFile, archive_name: str, limits: UploadLimits) -> list[zipfile.ZipInfo]:
    """Validate the central directory before inflating anything; return the file members."""
    members = [i for i in zf.infolist() if not i.is_dir()]
    if not members:
        raise UploadRejected(f"{archive_name}: the ZIP archive is empty")
    if len(members) > limits.max_files:
        raise UploadRejected(
            f"{archive_name}: {len(members)} files in the archive, more than the limit of {limits.max_files}"
        )
    declared = 0
    for info in members:
        name = decode_member_name(info)
        reason = unsafe_reason(name)
        if reason:
            raise UploadRejected(f"{archive_name}: unsafe file name {name!r} in the archive ({reason})")
        declared += info.file_size
        if info.file_size >= limits.ratio_min_bytes and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            ratio = info.file_size / max(info.compress_size, 1)
            raise UploadRejected(
                f"{archive_name}: {name!r} expands {ratio:.0f}:1, more than the limit of "
                f"{limits.max_ratio:.0f}:1 (zip bomb?)"
            )
    if declared > limits.max_total_bytes:
        raise UploadRejected(
            f"{archive_name}: the archive expands to {declared} bytes, more than the limit of "
            f"{limits.max_total_bytes}"
        )
    problem = overlap_problem(zf)
    if problem:
        raise UploadRejected(f"{archive_name}: {problem} (zip bomb?)")
    return members


_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, 22 bytes of fields, name and extra lengths


def overlap_problem(zf: zipfile.ZipFile) -> str | None:
    """Entries whose bytes overlap each other or the central directory, or whose local header is
    missing: an archive of such entries inflates the same data many times (a non-recursive zip
    bomb). Python before 3.12 does not check this; every entry is checked before inflating any."""
    fp = zf.fp
    assert fp is not None
    start_dir = getattr(zf, "start_dir", None)
    spans = []
    for info in zf.infolist():
        fp.seek(info.header_offset)
        raw = fp.read(_LOCAL_HEADER.size)
        if len(raw) < _LOCAL_HEADER.size:
            return f"entry {info.filename[:80]!r} points past the end of the archive"
        signature, name_len, extra_len = _LOCAL_HEADER.unpack(raw)
        if signature != b"PK\x03\x04":
            return f"entry {info.filename[:80]!r} has no local header where the directory says"
        end = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len + info.compress_size
        spans.append((info.header_offset, end, info.filename))
    spans.sort()
    for (_, end, name), (next_start, _, next_name) in zip(spans, spans[1:], strict=False):
        if next_start < end:
            return f"entries {name[:80]!r} and {next_name[:80]!r} overlap"
    if spans and isinstance(start_dir, int) and spans[-1][1] > start_dir:
        return f"entry {spans[-1][2][:80]!r} overlaps the central directory"
    return None


class _Budget:
    def __init__(self, limits: UploadLimits) -> None:
        self.limits = limits
        self.used = 0
        self.files = 0

    def take(self, n: int, archive_name: str) -> None:
        self.used += n
        if self.used > self.limits.max_total_bytes:
            raise UploadRejected(
                f"{archive_name}: the upload expands beyond the limit of {self.limits.max_total_bytes} bytes"
            )


def extract_zip(
    archive: Path, archive_name: str, workdir: Path, limits: UploadLimits, budget: _Budget | None = None
) -> Iterator[Candidate | Skipped]:
    """Yield each member as a temporary file (or a reason it was skipped)."""
    budget = budget or _Budget(limits)
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise UploadRejected(f"{archive_name}: not a readable ZIP archive ({exc})") from None
    with zf:
        members = check_archive(zf, archive_name, limits)
        for info in members:
            name = f"{archive_name}/{decode_member_name(info)}"
            if info.flag_bits & 0x1:
                yield Skipped(name, "encrypted entry")
                continue
            if _is_symlink(info):
                yield Skipped(name, "symbolic link")
                continue
            fd, tmp = tempfile.mkstemp(dir=workdir, suffix=".part")
            target = Path(tmp)
            try:
                with os.fdopen(fd, "wb") as out, zf.open(info) as src:
                    written = 0
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        # The header may understate the size: count what really comes out.
                        if written > info.file_size:
                            raise UploadRejected(f"{name}: entry inflates beyond its declared size")
                        budget.take(len(chunk), archive_name)
                        out.write(chunk)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
                target.unlink(missing_ok=True)
                yield Skipped(name, f"unreadable entry ({exc})")
                continue
            except BaseException:
                target.unlink(missing_ok=True)
                raise
            if is_zip(target):
                target.unlink(missing_ok=True)
                yield Skipped(name, "nested archive: not extracted (upload it on its own)")
                continue
            yield Candidate(name, target)


def walk_inputs(
    inputs: Iterable[tuple[str, Path]], workdir: Path, limits: UploadLimits
) -> Iterator[Candidate | Skipped]:
    """Expand uploaded files, folders and ZIPs into ingest candidates.

    ``inputs`` are (display name, path) pairs. Temporary files created for
    ZIP members live in ``workdir``; the caller removes the folder.
    """
    budget = _Budget(limits)
    for display, path in inputs:
        if path.is_dir():
            for sub in sorted(p for p in path.rglob("*") if p.is_file()):
                name = f"{display}/{sub.relative_to(path).as_posix()}"
                yield from _file(name, sub, workdir, limits, budget)
        elif path.is_file():
            yield from _file(display, path, workdir, limits, budget)
        else:
            yield Skipped(display, "no such file or folder")


def _file(
    display: str, path: Path, workdir: Path, limits: UploadLimits, budget: _Budget
) -> Iterator[Candidate | Skipped]:
    budget.files += 1
    if budget.files > limits.max_files:
        raise UploadRejected(f"more than the limit of {limits.max_files} files in one upload")
    if is_zip(path):
        yield from extract_zip(path, display, workdir, limits, budget)
    else:
        yield Candidate(display, path)


def new_workdir(base: Path) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="upload-", dir=base))


def remove_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def expand(inputs: list[tuple[str, Path]], workdir: Path, limits: UploadLimits) -> list[Candidate | Skipped]:
    """Extract and sniff everything (blocking: run it in a thread)."""
    out: list[Candidate | Skipped] = []
    for item in walk_inputs(inputs, workdir, limits):
        if isinstance(item, Candidate):
            problem = dicom_problem(item.path)
            if problem:
                if item.path.is_relative_to(workdir):
                    item.path.unlink(missing_ok=True)
                out.append(Skipped(item.name, problem))
                continue
        out.append(item)
    return out
