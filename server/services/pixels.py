"""Pixel work behind /rendered, /thumbnail, WADO-URI and transcoded WADO-RS.

Nothing heavier than a look-up runs on the event loop. Native frames are
rendered in the render pool's worker processes (``server.render_pool``), which
read the recorded byte ranges themselves, several frames per hand-over;
compressed frames are decoded in a worker thread (the codecs release the GIL)
and kept decoded.
Objects whose frames are not byte-addressable (deflated, big endian) are
read whole and decoded through pydicom.

Caches (per process, bounded; ``server.memory.PixelCaches``):
- single instances through ``retrieve.find_instance`` (evicted on DELETE), and the
  instance lists of study/series requests for ``ROW_TTL`` seconds, so repeated
  requests do no SQL (a study/series list may lag a STOW or DELETE by ``ROW_TTL``);
- parsed headers (pixel description and presentation attributes) by blob key;
- rendered outputs by (blob key, frame, parameters);
- decoded frames of compressed instances (window changes on a JPEG 2000 frame then
  skip the codec).
Outputs carry a strong ETag computed from the same key, so a 304 needs no
rendering at all; stored instances are immutable, hence
``Cache-Control: public, max-age=31536000, immutable`` for CDNs.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from dataclasses import dataclass, replace
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dicomweb.errors import NotAcceptable, NotFound, Unprocessable
from dicomweb.pixels.decode import decode_dataset_frame, decode_frame
from dicomweb.pixels.description import PixelDescription
from dicomweb.pixels.render import RenderAttributes, render_animation, render_frame
from dicomweb.pixels.render_params import RenderParams
from dicomweb.pixels.syntaxes import DEFAULT_SYNTAX, NATIVE_SYNTAXES, stored_frame_syntax
from dicomweb.pixels.transcode import check_encodable, encode_frame, transcode_dataset
from server.auth.principal import Principal
from server.auth.visibility import ensure_visible
from server.context import AppContext
from server.render_pool import BATCH, render_unparsed
from server.services import retrieve
from server.services.retrieve import StoredInstance
from server.storage import BlobNotFound

IMMUTABLE = "public, max-age=31536000, immutable"
# Native syntaxes whose frames sit at recorded byte ranges of the stored file.
ADDRESSABLE_NATIVE = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian})
# Bump when rendering changes output bytes, so ETags change with them.
RENDER_VERSION = "1"


@dataclass(frozen=True)
class Image:
    """One stored instance ready for pixel work."""

    row: StoredInstance
    header: Dataset
    desc: PixelDescription

    @property
    def frame_count(self) -> int:
        # Deflated rows may carry no frame count from ingest; the header knows.
        return self.row.number_of_frames or self.desc.number_of_frames


@dataclass(frozen=True)
class RenderedImage:
    body: bytes
    media_type: str
    etag: str


def render_etag(row: StoredInstance, frame: int, params: RenderParams, kind: str = "rendered") -> str:
    key = f"{RENDER_VERSION}|{kind}|{row.blob_key}|{row.sop_instance_uid}|{frame}|{params.cache_key()}"
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:40] + '"'


class PixelService:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        caches = ctx.memory.pixels
        self.rows = caches.rows
        self.headers = caches.headers
        self.outputs = caches.outputs
        self.decoded = caches.decoded

    # -- look-ups ---------------------------------------------------------------------------------

    async def instances(
        self, p: Principal, study: str, series: str | None = None, sop: str | None = None
    ) -> list[StoredInstance]:
        """The instances a rendered / thumbnail / WADO-URI URL names, as ``p`` sees them."""
        if series is not None and sop is not None:
            # One instance: the archive-wide instance cache (evicted on DELETE in this process).
            return [await retrieve.find_instance(self.ctx, p, study, series, sop)]
        key = (study, series, sop)
        hit = self.rows.get(key)
        if hit is not None:
            await ensure_visible(self.ctx, p, study)  # the lists are shared by every caller
            return hit  # type: ignore[no-any-return]
        rows = await retrieve.find_instances(self.ctx, p, study, series, sop)
        self.rows.put(key, rows)
        return rows

    async def image(self, row: StoredInstance) -> Image:
        cached = self.headers.get(row.blob_key)
        if cached is not None:
            return Image(row, cached[0], cached[1])
        if row.number_of_frames == 0 and row.transfer_syntax_uid != DeflatedExplicitVRLittleEndian:
            raise Unprocessable(f"instance {row.sop_instance_uid} has no pixel data")
        frames = row.frames()
        if frames and frames[0] and row.transfer_syntax_uid != ExplicitVRBigEndian:
            prefix = await self.ctx.store.get_range(row.blob_key, 0, frames[0][0][0])
        else:
            prefix = await self.ctx.store.get_bytes(row.blob_key)
        header = await asyncio.to_thread(_read_header, prefix, row)
        if "Rows" not in header:
            raise Unprocessable(f"instance {row.sop_instance_uid} has no pixel data")
        desc = PixelDescription.from_dataset(header)
        # A parsed header takes a few times its encoded size in memory.
        self.headers.put(row.blob_key, (header, desc), 4 * len(prefix))
        return Image(row, header, desc)

    # -- decoding ---------------------------------------------------------------------------------

    def check_frames(self, img: Image, numbers: list[int]) -> None:
        for n in numbers:
            self._check_frame(img, n)

    def _check_frame(self, img: Image, frame: int) -> None:
        if frame < 1 or frame > img.frame_count:
            raise NotFound(
                f"frame {frame} does not exist: instance {img.row.sop_instance_uid} has {img.frame_count} frame(s)"
            )

    async def _frame_source(self, img: Image, frame: int) -> list[bytes] | Dataset:
        """The stored fragments of a frame, or the whole dataset when frames are not addressable."""
        self._check_frame(img, frame)
        frames = img.row.frames()
        if frames is not None and img.desc.transfer_syntax_uid != ExplicitVRBigEndian:
            return await self.ctx.store.get_ranges(img.row.blob_key, frames[frame - 1])
        raw = await self.ctx.store.get_bytes(img.row.blob_key)
        return await asyncio.to_thread(pydicom.dcmread, io.BytesIO(raw), force=True)

    @staticmethod
    def _decode(img: Image, source: list[bytes] | Dataset, frame: int) -> tuple[Any, PixelDescription]:
        try:
            if isinstance(source, Dataset):
                arr, photometric = decode_dataset_frame(source, frame - 1)
            else:
                arr, photometric = decode_frame(source, img.desc)
        except Unprocessable as exc:
            raise Unprocessable(f"frame {frame} of instance {img.row.sop_instance_uid}: {exc.message}") from exc
        return arr, replace(img.desc, photometric_interpretation=photometric, planar_configuration=0)

    # -- rendering --------------------------------------------------------------------------------

    async def render(self, img: Image, frame: int, params: RenderParams, kind: str = "rendered") -> RenderedImage:
        return (await self.render_many(img, [frame], params, kind))[0]

    async def render_first(self, row: StoredInstance, frame: int, params: RenderParams,
                           kind: str = "rendered") -> RenderedImage | None:
        """One frame of an instance whose header this process has not parsed, rendered with the
        header parsed in the render worker (a viewer opening a series asks for every instance once:
        parsing each header here would hold the event loop's process for it). None when the
        instance does not qualify (header already known, not a native byte-addressable frame, not
        in the file store, no such frame): the caller takes the general path."""
        local = getattr(self.ctx.store, "local_path", None)
        frames = row.frames()
        if (local is None or frames is None or not frames or not frames[0]
                or row.transfer_syntax_uid not in ADDRESSABLE_NATIVE
                or not 1 <= frame <= min(row.number_of_frames, len(frames))
                or self.headers.get(row.blob_key) is not None):
            return None
        etag = render_etag(row, frame, params, kind)
        cached = self.outputs.get(etag)
        if cached is not None:
            return RenderedImage(cached, params.media_type, etag)
        try:
            body = await self.ctx.renderer.run(render_unparsed, local(row.blob_key), frames[0][0][0],
                                               frames[frame - 1], frame, params)
        except FileNotFoundError as exc:
            raise BlobNotFound(row.blob_key) from exc
        except Unprocessable as exc:
            raise Unprocessable(f"instance {row.sop_instance_uid}: {exc.message}") from exc
        self.ctx.memory.pixels.renders_pooled += 1
        self.outputs.put(etag, body, len(body))
        return RenderedImage(body, params.media_type, etag)

    async def render_many(self, img: Image, numbers: list[int], params: RenderParams,
                          kind: str = "rendered") -> list[RenderedImage]:
        """Frames of one instance, rendered off the event loop (native frames in the render pool,
        ``render_pool.BATCH`` per hand-over) and cached by their ETag."""
        out: dict[int, RenderedImage] = {}
        todo: list[tuple[int, str]] = []
        for n in numbers:
            self._check_frame(img, n)
            etag = render_etag(img.row, n, params, kind)
            cached = self.outputs.get(etag)
            if cached is not None:
                out[n] = RenderedImage(cached, params.media_type, etag)
            else:
                todo.append((n, etag))
        frames = img.row.frames()
        pooled = img.desc.is_native and frames is not None and img.desc.transfer_syntax_uid != ExplicitVRBigEndian
        for start in range(0, len(todo), BATCH):
            chunk = todo[start : start + BATCH]
            if pooled:
                assert frames is not None
                bodies = await self._render_pooled(img, frames, [n for n, _ in chunk], params)
            else:
                bodies = [await self._render_threaded(img, n, params) for n, _ in chunk]
            for (n, etag), body in zip(chunk, bodies, strict=True):
                self.outputs.put(etag, body, len(body))
                out[n] = RenderedImage(body, params.media_type, etag)
        return [out[n] for n in numbers]

    async def _render_pooled(self, img: Image, frames: list[list[tuple[int, int]]], numbers: list[int],
                             params: RenderParams) -> list[bytes]:
        store = self.ctx.store
        local = getattr(store, "local_path", None)
        attrs = [RenderAttributes.from_dataset(img.header, n - 1) for n in numbers]
        if local is not None:
            sources = [(None, frames[n - 1], a) for n, a in zip(numbers, attrs, strict=True)]
            path = local(img.row.blob_key)
        else:
            sources = [(await store.get_ranges(img.row.blob_key, frames[n - 1]), None, a)
                       for n, a in zip(numbers, attrs, strict=True)]
            path = None
        try:
            bodies = await self.ctx.renderer.render(path, img.desc, sources, params)  # type: ignore[arg-type]
            self.ctx.memory.pixels.renders_pooled += len(bodies)
            return bodies
        except FileNotFoundError as exc:
            raise BlobNotFound(img.row.blob_key) from exc

    async def _render_threaded(self, img: Image, frame: int, params: RenderParams) -> bytes:
        """Compressed or not byte-addressable frames: decoded in a worker thread (codecs release the
        GIL) and kept decoded, so a viewer dragging the window skips the codec."""
        decoded_key = (img.row.blob_key, frame)
        decoded = self.decoded.get(decoded_key)
        source = None if decoded is not None else await self._frame_source(img, frame)

        def work() -> tuple[bytes, Any]:
            frame_data = decoded
            if frame_data is None:
                assert source is not None
                frame_data = self._decode(img, source, frame)
            arr, desc = frame_data
            attrs = RenderAttributes.from_dataset(img.header, frame - 1)
            return render_frame(arr, desc, attrs, params), frame_data

        body, frame_data = await asyncio.to_thread(work)
        self.ctx.memory.pixels.renders_threaded += 1
        if decoded is None and not img.desc.is_native:
            self.decoded.put(decoded_key, frame_data, int(frame_data[0].nbytes))
        return body

    async def render_animation(self, img: Image, numbers: list[int], params: RenderParams) -> RenderedImage:
        """Frames of one instance as an animated GIF (frames decoded one at a time)."""
        for n in numbers:
            self._check_frame(img, n)
        key = RenderParams(**{**params.__dict__, "media_type": "image/gif"})
        etag = render_etag(img.row, 0, key, "animation:" + ",".join(map(str, numbers)))
        cached = self.outputs.get(etag)
        if cached is not None:
            return RenderedImage(cached, "image/gif", etag)
        decoded = []
        for n in numbers:
            source = await self._frame_source(img, n)

            def work(src: list[bytes] | Dataset = source, n: int = n) -> tuple[Any, PixelDescription, Any]:
                arr, desc = self._decode(img, src, n)
                return arr, desc, RenderAttributes.from_dataset(img.header, n - 1)

            decoded.append(await asyncio.to_thread(work))
        body = await asyncio.to_thread(render_animation, decoded, params)
        self.outputs.put(etag, body, len(body))
        return RenderedImage(body, "image/gif", etag)

    # -- transcoding ------------------------------------------------------------------------------

    async def transcode_frames(self, row: StoredInstance, numbers: list[int], target: str) -> tuple[list[bytes], str]:
        """Frames (1-based) of ``row`` encoded in ``target``; returns (frames, syntax served)."""
        img = await self.image(row)
        if target == "*":
            target = stored_frame_syntax(row.transfer_syntax_uid)
        out: list[bytes] = []
        for n in numbers:
            source = await self._frame_source(img, n)

            def work(src: list[bytes] | Dataset = source, n: int = n) -> bytes:
                arr, desc = self._decode(img, src, n)
                return encode_frame(arr, desc, target).data

            out.append(await asyncio.to_thread(work))
        return out, target

    async def check_transcodable(self, row: StoredInstance, target: str) -> None:
        """Raise ``NotAcceptable`` now if ``row`` cannot be transcoded to ``target`` (before streaming)."""
        if row.number_of_frames == 0 and row.transfer_syntax_uid != DeflatedExplicitVRLittleEndian:
            return
        img = await self.image(row)
        try:
            check_encodable(img.desc, target)
        except NotAcceptable as exc:
            raise NotAcceptable(f"instance {row.sop_instance_uid}: {exc.message}") from exc

    async def transcode_instance(self, row: StoredInstance, target: str) -> bytes:
        """The whole instance as Part 10 bytes in ``target`` (WADO-RS/URI with a transfer syntax)."""
        raw = await self.ctx.store.get_bytes(row.blob_key)

        def work() -> bytes:
            ds = pydicom.dcmread(io.BytesIO(raw), force=True)
            if (
                row.number_of_frames == 0
                or "PixelData" not in ds
                and "FloatPixelData" not in ds
                and ("DoubleFloatPixelData" not in ds)
            ):
                # Nothing to re-encode: only the dataset encoding changes.
                out = ds
                out.file_meta.TransferSyntaxUID = target
            else:
                try:
                    out = transcode_dataset(ds, target)
                except Unprocessable as exc:
                    raise Unprocessable(f"instance {row.sop_instance_uid}: {exc.message}") from exc
            buf = io.BytesIO()
            out.save_as(buf, enforce_file_format=True)
            return buf.getvalue()

        return await asyncio.to_thread(work)


def target_for_plan(stored_syntax: str, media_type: str, transfer_syntax: str) -> str:
    """Turn a frames plan's target (a UID, ``*``, or a placeholder) into a concrete syntax."""
    if transfer_syntax == "*":
        return stored_frame_syntax(stored_syntax)
    if transfer_syntax.startswith("1."):
        return transfer_syntax
    return DEFAULT_SYNTAX.get(media_type, stored_frame_syntax(stored_syntax))


def _read_header(prefix: bytes, row: StoredInstance) -> Dataset:
    try:
        return pydicom.dcmread(io.BytesIO(prefix), stop_before_pixels=True, force=True)
    except Exception as exc:
        raise Unprocessable(f"instance {row.sop_instance_uid}: header cannot be read: {exc}") from exc


__all__ = ["IMMUTABLE", "NATIVE_SYNTAXES", "PixelService", "RenderedImage", "render_etag", "target_for_plan"]
