"""Reading one stored candidate: validate identifiers, index attributes, frames, DICOM JSON.

Runs in a worker thread (blocking file reads); never loads pixel values.
"""

from __future__ import annotations

import hashlib
import io
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pydicom
from pydicom import config as pydicom_config
from pydicom.errors import InvalidDicomError

from dicomweb.errors import Unprocessable
from dicomweb.frames import frame_ranges
from dicomweb.json_model import dataset_to_json
from dicomweb.media import DEFLATED_LE
from dicomweb.stow import FailureReason, InstanceOutcome
from dicomweb.structure import Cut, check_part10, meta_end
from dicomweb.uids import uid_problem
from server.services import bulk_uri
from server.services.indexing import IndexRecord, extract_index

# Lenient on read: what we index is validated explicitly below; everything else is stored as sent.
pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE


@dataclass
class Parsed:
    path: Path | None  # the object's file when it is not held in memory (``data``)
    size: int
    sha256: str
    index: IndexRecord
    transfer_syntax_uid: str
    frame_index: str | None
    metadata_json: bytes
    data: bytes | None = None  # the object, when it is held in memory rather than at ``path``

    @property
    def sop_instance_uid(self) -> str:
        return str(self.index.instance["sop_instance_uid"])

    @property
    def study_instance_uid(self) -> str:
        return str(self.index.study["study_instance_uid"])

    @property
    def series_instance_uid(self) -> str:
        return str(self.index.series["series_instance_uid"])


def _failed(reason: FailureReason, message: str, ds: Any = None) -> InstanceOutcome:
    def get(kw: str) -> str:
        try:
            value = ds.get(kw, "") if ds is not None else ""
            return str(value) if value and len(str(value)) <= 64 else ""
        except Exception:
            return ""

    return InstanceOutcome(
        sop_class_uid=get("SOPClassUID"),
        sop_instance_uid=get("SOPInstanceUID"),
        study_instance_uid=get("StudyInstanceUID"),
        series_instance_uid=get("SeriesInstanceUID"),
        status="failed",
        failure_reason=int(reason),
        message=message,
    )


def parse_candidate(
    sha256: str, expected_study_uid: str | None = None, *, data: bytes | None = None, path: Path | None = None
) -> Parsed | InstanceOutcome:
    """Parse a spooled object (``data`` in memory, else the file at ``path``); return what to index,
    or a failed outcome naming the problem."""
    size = len(data) if data is not None else os.path.getsize(path) if path is not None else 0
    if size == 0:
        return _failed(FailureReason.CANNOT_UNDERSTAND, "empty part: no DICOM data")
    try:
        return _parse(sha256, expected_study_uid, data, path, size)
    except RecursionError:
        return _failed(FailureReason.CANNOT_UNDERSTAND, "the data set is nested too deeply")
    except Exception as exc:  # every problem of one object is that object's failure, never the batch's
        return _failed(
            FailureReason.CANNOT_UNDERSTAND,
            f"cannot parse the DICOM data set: {type(exc).__name__}: {str(exc)[:200]}",
        )


def _whole(data: bytes | None, fp: Any, ts: pydicom.uid.UID) -> str | None:
    """The structural problem of the object (cut, lengths overrunning it, nested too deeply), or None."""
    if data is not None:
        return check_part10(data, ts.is_little_endian, not ts.is_implicit_VR, deflated=ts.is_deflated)
    with mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return check_part10(mm, ts.is_little_endian, not ts.is_implicit_VR, deflated=ts.is_deflated)


def _meta_problem(head: bytes) -> str | None:
    if len(head) < 132 or head[128:132] != b"DICM":
        return None  # not Part 10: the normalising path decides
    try:
        meta_end(head)
    except Cut as exc:
        return f"File Meta Information: {exc}"
    return None


def _parse(sha256: str, expected_study_uid: str | None, data: bytes | None, path: Path | None, size: int
           ) -> Parsed | InstanceOutcome:
    try:
        with io.BytesIO(data) if data is not None else open(path, "rb") as fp:  # type: ignore[arg-type]
            problem = _meta_problem(data[:65536] if data is not None else fp.read(65536))
            if problem:
                return _failed(FailureReason.CANNOT_UNDERSTAND, problem)
            fp.seek(0)
            try:
                ds = pydicom.dcmread(fp, stop_before_pixels=True, defer_size=1024)
            except InvalidDicomError:
                fp.seek(0)
                normalized = normalize_part10(fp.read())
                if normalized is None:
                    return _failed(
                        FailureReason.CANNOT_UNDERSTAND,
                        "not a DICOM Part 10 file (no 'DICM' prefix after the 128-byte preamble)",
                    )
                return _parse(hashlib.sha256(normalized).hexdigest(), expected_study_uid, normalized, None,
                              len(normalized))
            pixel_offset = fp.tell()
            ts = ds.file_meta.get("TransferSyntaxUID")
            if not ts:
                return _failed(FailureReason.CANNOT_UNDERSTAND, "file meta has no TransferSyntaxUID", ds)
            ts = pydicom.uid.UID(str(ts))
            if not ts.is_transfer_syntax:
                return _failed(FailureReason.CANNOT_UNDERSTAND, f"unknown TransferSyntaxUID {str(ts)[:64]}")
            problem = _whole(data, fp, ts)
            if problem:
                # Never index what was read from a cut object (a truncated UID still looks valid).
                return _failed(FailureReason.CANNOT_UNDERSTAND, f"the object is not whole: {problem}")
            for kw in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
                problem = uid_problem(ds.get(kw))
                if problem:
                    return _failed(FailureReason.DATA_SET_DOES_NOT_MATCH_SOP_CLASS, f"{kw} is {problem}", ds)
            study_uid = str(ds.StudyInstanceUID)
            if expected_study_uid and study_uid != expected_study_uid:
                return _failed(
                    FailureReason.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
                    f"StudyInstanceUID {study_uid} differs from the study in the URL ({expected_study_uid})",
                    ds,
                )
            bulk = bulk_uri.uri_factory(study_uid, str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))
            meta = dataset_to_json(ds, bulk)
            index = extract_index(ds, meta)
            frame_index: str | None = None
            has_pixels = pixel_offset + 8 <= size and not _at_end(fp, pixel_offset)
            if not has_pixels and str(ts) != DEFLATED_LE and _needs_pixels(ds):
                # A cut at an element boundary before the pixel data reads as a whole, smaller object.
                return _failed(FailureReason.CANNOT_UNDERSTAND,
                               "an image object without pixel data (the object is incomplete or truncated)")
            if has_pixels and str(ts) != DEFLATED_LE:
                frames, vr = frame_ranges(fp, ds, pixel_offset, size)
                frame_index = orjson.dumps(frames).decode()
                if not frames:
                    return _failed(FailureReason.CANNOT_UNDERSTAND, "pixel data holds no frames", ds)
                key = _pixel_key(fp, ds, pixel_offset)
                meta[key] = {"vr": vr, "BulkDataURI": bulk(key)}
                index.instance["number_of_frames"] = len(frames)
            elif str(ts) == DEFLATED_LE:
                # The deflated stream was inflated in memory, so file offsets say nothing:
                # look for pixel data in the inflated data set; frames are decoded on request.
                full = pydicom.dcmread(io.BytesIO(data) if data is not None else path, defer_size=1024)
                if "PixelData" in full:
                    meta["7FE00010"] = {"vr": "OB", "BulkDataURI": bulk("7FE00010")}
                    index.instance["number_of_frames"] = int(full.get("NumberOfFrames", 1) or 1)
    except Unprocessable as exc:
        return _failed(FailureReason.CANNOT_UNDERSTAND, exc.message, locals().get("ds"))
    except (EOFError, OSError, ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
        return _failed(
            FailureReason.CANNOT_UNDERSTAND,
            f"cannot parse the DICOM data set: {type(exc).__name__}: {str(exc)[:200]}",
            locals().get("ds"),
        )
    return Parsed(
        path=path,
        size=size,
        sha256=sha256,
        index=index,
        transfer_syntax_uid=str(ts),
        frame_index=frame_index,
        metadata_json=orjson.dumps(meta),
        data=data,
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def normalize_part10(raw: bytes) -> bytes | None:
    """Rewrite a data set sent without preamble (file meta only, or a bare data set) as Part 10.

    Some clients (dicomweb-client's ``store_instances`` with data sets built in memory) send
    the file meta group without the 128-byte preamble and ``DICM`` prefix. The object is kept,
    with a preamble and complete file meta; anything that is not a plausible data set is refused.
    Returns the Part 10 bytes or None.
    """
    # The data set must start with a group 0002 or 0008 element (little or big endian).
    if len(raw) < 8 or raw[:2] not in (b"\x02\x00", b"\x08\x00", b"\x00\x08"):
        return None
    try:
        ds = pydicom.dcmread(io.BytesIO(raw), force=True)
        sop_class, sop = ds.get("SOPClassUID"), ds.get("SOPInstanceUID")
        if not sop_class or not sop:
            return None
        meta = ds.file_meta if hasattr(ds, "file_meta") else pydicom.dataset.FileMetaDataset()
        if "TransferSyntaxUID" not in meta:
            meta.TransferSyntaxUID = (
                pydicom.uid.ImplicitVRLittleEndian if ds.original_encoding[0] else pydicom.uid.ExplicitVRLittleEndian
            )
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = sop
        ds.file_meta = meta
        ds.preamble = b"\x00" * 128
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        return out.getvalue()
    except Exception:
        return None


def _needs_pixels(ds: Any) -> bool:
    """Whether the object's IOD requires pixel data (image storage classes, or an Image Pixel module)."""
    if "Rows" in ds and "Columns" in ds:
        return True
    return str(pydicom.uid.UID(str(ds.SOPClassUID)).name).endswith("Image Storage")


def _at_end(fp: Any, offset: int) -> bool:
    fp.seek(offset)
    return len(fp.read(8)) < 8


def _pixel_key(fp: Any, ds: Any, offset: int) -> str:
    ts = ds.file_meta.TransferSyntaxUID
    fp.seek(offset)
    raw = fp.read(4)
    endian = "little" if ts.is_little_endian else "big"
    group = int.from_bytes(raw[:2], endian)
    elem = int.from_bytes(raw[2:4], endian)
    return f"{group:04X}{elem:04X}"
