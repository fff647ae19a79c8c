"""Request body readers, one per media type; routes only pick one (``dicom_reader``, ``upload_reader``).

- ``application/dicom``: the body is one DICOM object (STOW-RS single part).
- ``multipart/related``: one DICOM object per part (STOW-RS, PS3.18 §10.5); a part of another
  type becomes a per-part failure, a body that breaks off keeps what came before it.
- ``multipart/form-data``: uploaded files (browser uploads; ZIPs, DICOM files), written to a work
  folder under their form file names.
- anything else for uploads: the raw body is one file.

Every reader streams: STOW parts are ``Spool``-ed (in memory within the process's budget, else to a
temp file) while being hashed; upload files go straight to disk with a byte limit.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import unquote

from dicomweb.errors import BadRequest, UnsupportedMediaType
from dicomweb.multipart import MultipartDecoder, PartData, PartEnd, PartStart, boundary_of, parse_media_type
from server.app_errors import InvalidInput, PayloadTooLarge
from server.memory import MemoryBudget
from server.services.ingest import Spooled

ACCEPTED_PART_TYPES = ("application/dicom", "application/octet-stream")
STOW_HINT = 'send multipart/related; type="application/dicom"'

Body = AsyncIterator[bytes]


async def limited(body: Body, max_bytes: int) -> Body:
    """``body``, refused with 413 once more than ``max_bytes`` came (the rest is never read)."""
    total = 0
    async for chunk in body:
        total += len(chunk)
        if total > max_bytes:
            raise PayloadTooLarge(f"request body larger than the limit of {max_bytes} bytes")
        yield chunk


async def multipart_events(
    body: Body, decoder: MultipartDecoder
) -> AsyncIterator[PartStart | PartData | PartEnd]:
    """Feed a body through a ``MultipartDecoder`` and yield its events as they come."""
    async for chunk in body:
        for ev in decoder.feed(chunk):
            yield ev
    for ev in decoder.close():
        yield ev


# -- DICOM bodies (STOW-RS) ----------------------------------------------------------------------


class Spool:
    """Collects one part while hashing it: in memory while it is small and the budget allows (no
    file to create, write, read back and delete), else in a temp file."""

    def __init__(self, tmp_dir: Path, budget: MemoryBudget, part_memory_max: int) -> None:
        self.path = tmp_dir / f"stow-{uuid.uuid4().hex}"
        self._budget = budget
        self._part_memory_max = part_memory_max
        self._chunks: list[bytes] | None = []
        self._f: BinaryIO | None = None
        self._h = hashlib.sha256()
        self.size = 0
        self.held = 0  # bytes taken from the budget (given back by ``Spooled.release``)

    def write(self, data: bytes) -> None:
        self._h.update(data)
        self.size += len(data)
        if self._chunks is not None:
            if self.size <= self._part_memory_max and self._budget.take(len(data)):
                self.held += len(data)
                self._chunks.append(data)
                return
            self._spill()
        assert self._f is not None
        self._f.write(data)

    def _spill(self) -> None:
        self._f = open(self.path, "wb")  # noqa: SIM115 - closed in finish/abort
        assert self._chunks is not None
        for chunk in self._chunks:
            self._f.write(chunk)
        self._chunks = None
        self._budget.give(self.held)
        self._budget.spills += 1
        self.held = 0

    def finish(self) -> Spooled:
        if self._chunks is not None:
            return Spooled(self._h.hexdigest(), data=b"".join(self._chunks), held=self.held, budget=self._budget)
        assert self._f is not None
        self._f.close()
        return Spooled(self._h.hexdigest(), path=self.path)

    def abort(self) -> None:
        self._budget.give(self.held)
        self.held = 0
        if self._f is not None:
            self._f.close()
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class PartFailure:
    """A part that is not a DICOM object we take (reported per part in the STOW response)."""

    index: int
    message: str
    reason: int = 0xC000  # Cannot understand; 0xA700 (out of resources) for a part over the size limit


@dataclass(frozen=True)
class StowLimits:
    """Hard limits of one STOW-RS request (settings ``stow_max_*``)."""

    max_bytes: int = 4 * 1024**3
    max_part_bytes: int = 1024**3
    max_parts: int = 10_000


@dataclass(frozen=True)
class SpoolConfig:
    tmp_dir: Path
    budget: MemoryBudget
    part_memory_max: int
    limits: StowLimits = StowLimits()

    def new(self) -> Spool:
        return Spool(self.tmp_dir, self.budget, self.part_memory_max)


class DicomBodyReader(Protocol):
    # Why the body broke off after the parts already yielded (None when it ended properly).
    malformed: str | None

    def parts(self, body: Body) -> AsyncIterator[Spooled | PartFailure]: ...


class SingleDicomReader:
    """``application/dicom``: the whole body is one object."""

    def __init__(self, spool: SpoolConfig) -> None:
        self.spool = spool
        self.malformed: str | None = None

    async def parts(self, body: Body) -> AsyncIterator[Spooled | PartFailure]:
        spool = self.spool.new()
        limits = self.spool.limits
        try:
            async for chunk in limited(body, min(limits.max_bytes, limits.max_part_bytes)):
                spool.write(chunk)
        except BaseException:
            spool.abort()
            raise
        yield spool.finish()


class MultipartDicomReader:
    """``multipart/related``: one object per part."""

    def __init__(self, spool: SpoolConfig, boundary: str, default_type: str) -> None:
        self.spool = spool
        self.boundary = boundary
        self.default_type = default_type
        self.malformed: str | None = None

    async def parts(self, body: Body) -> AsyncIterator[Spooled | PartFailure]:
        spool: Spool | None = None
        bad_type: str | None = None
        too_large = False
        index = 0
        limits = self.spool.limits
        try:
            async for ev in multipart_events(limited(body, limits.max_bytes), MultipartDecoder(self.boundary)):
                if isinstance(ev, PartStart):
                    index += 1
                    if index > limits.max_parts:
                        raise PayloadTooLarge(f"more than the limit of {limits.max_parts} parts in one request")
                    ptype = parse_media_type(ev.headers.get("content-type", self.default_type)).type
                    bad_type = None if ptype in ACCEPTED_PART_TYPES else ptype
                    too_large = False
                    spool = self.spool.new()
                elif isinstance(ev, PartData) and spool is not None:
                    if too_large:
                        continue  # the rest of an oversized part is read and dropped
                    spool.write(ev.data)
                    if spool.size > limits.max_part_bytes:
                        too_large = True
                        spool.abort()
                elif isinstance(ev, PartEnd) and spool is not None:
                    done, spool = spool, None
                    if bad_type or too_large:
                        done.abort()
                        message = (f"part {index} is larger than the limit of {limits.max_part_bytes} bytes"
                                   if too_large else
                                   f"part {index} has Content-Type {bad_type}, expected application/dicom")
                        yield PartFailure(index, message, 0xA700 if too_large else 0xC000)
                    else:
                        yield done.finish()
        except BadRequest as exc:
            self.malformed = exc.message
        finally:
            if spool is not None:
                spool.abort()


def dicom_reader(content_type: str | None, spool: SpoolConfig) -> DicomBodyReader:
    """The reader for a STOW-RS body of ``content_type``; 415 for a type we do not take."""
    if not content_type:
        raise UnsupportedMediaType(f"missing Content-Type; {STOW_HINT}")
    media = parse_media_type(content_type)
    if media.type == "application/dicom":
        return SingleDicomReader(spool)
    if media.type == "multipart/related":
        part_type = media.params.get("type", "application/dicom").lower()
        if part_type not in ACCEPTED_PART_TYPES:
            raise UnsupportedMediaType(f'multipart/related type "{part_type}" is not supported; {STOW_HINT}')
        return MultipartDicomReader(spool, boundary_of(content_type), part_type)
    raise UnsupportedMediaType(f"Content-Type {media.type} is not supported; {STOW_HINT}")


# -- uploads (files, ZIPs) -----------------------------------------------------------------------


class UploadBodyReader(Protocol):
    def files(self, body: Body, workdir: Path) -> AsyncIterator[tuple[str, Path]]: ...


def part_filename(disposition: str, index: int) -> str | None:
    """File name of a form-data part (RFC 7578 / RFC 5987); ``None`` for plain fields."""
    params: dict[str, str] = {}
    for piece in disposition.split(";")[1:]:
        key, _, value = piece.strip().partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    if "filename*" in params:
        charset, _, rest = params["filename*"].partition("'")
        _, _, encoded = rest.partition("'")
        return unquote(encoded, encoding=charset or "utf-8", errors="replace") or f"file-{index}"
    if "filename" in params:
        return params["filename"] or f"file-{index}"
    return None


class _Limit:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0

    def add(self, n: int) -> None:
        self.total += n
        if self.total > self.limit:
            raise PayloadTooLarge(f"upload larger than the limit of {self.limit} bytes")


class FormFilesReader:
    """``multipart/form-data``: every file field, streamed to its own file in ``workdir``."""

    def __init__(self, boundary: str, max_bytes: int) -> None:
        self.boundary = boundary
        self.max_bytes = max_bytes

    async def files(self, body: Body, workdir: Path) -> AsyncIterator[tuple[str, Path]]:
        limit = _Limit(self.max_bytes)
        out: BinaryIO | None = None
        current: tuple[str, Path] | None = None
        index = 0
        try:
            async for ev in multipart_events(body, MultipartDecoder(self.boundary)):
                if isinstance(ev, PartStart):
                    index += 1
                    headers = {k.lower(): v for k, v in ev.headers.items()}
                    name = part_filename(headers.get("content-disposition", ""), index)
                    if name is not None:
                        target = workdir / f"part-{index:06d}"
                        out = open(target, "wb")  # noqa: SIM115  (closed at PartEnd or below)
                        current = (name, target)
                elif isinstance(ev, PartData) and out is not None:
                    limit.add(len(ev.data))
                    out.write(ev.data)
                elif isinstance(ev, PartEnd) and out is not None and current is not None:
                    out.close()
                    out = None
                    yield current
                    current = None
        except BadRequest as exc:
            raise InvalidInput(f"malformed multipart/form-data body: {exc.message}") from None
        finally:
            if out is not None:
                out.close()


class RawFileReader:
    """Any other type: the body is one file (large uploads without form encoding)."""

    def __init__(self, name: str, max_bytes: int) -> None:
        self.name = name
        self.max_bytes = max_bytes

    async def files(self, body: Body, workdir: Path) -> AsyncIterator[tuple[str, Path]]:
        limit = _Limit(self.max_bytes)
        fd, tmp = tempfile.mkstemp(dir=workdir)
        with os.fdopen(fd, "wb") as out:
            async for chunk in body:
                limit.add(len(chunk))
                out.write(chunk)
        if limit.total == 0:
            raise InvalidInput("the upload is empty")
        yield self.name, Path(tmp)


def upload_reader(content_type: str | None, filename: str, max_bytes: int) -> UploadBodyReader:
    """The reader for an upload body of ``content_type``."""
    media = parse_media_type(content_type or "application/octet-stream")
    if media.type == "multipart/form-data":
        boundary = media.params.get("boundary")
        if not boundary:
            raise InvalidInput("multipart/form-data without a boundary parameter")
        return FormFilesReader(boundary, max_bytes)
    return RawFileReader(filename, max_bytes)


__all__ = [
    "DicomBodyReader",
    "PartFailure",
    "Spool",
    "SpoolConfig",
    "UploadBodyReader",
    "dicom_reader",
    "multipart_events",
    "part_filename",
    "upload_reader",
]
