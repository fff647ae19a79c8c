"""CPU-heavy pixel work (decode, window, resize, encode) in a bounded pool of worker processes.

The event loop only hands work over and takes results back: a 1024×1024 render of a 2,000-frame
instance runs in the pool while QIDO, metadata and frame requests keep being answered. A process
pool, not threads: the work is Python glue around numpy / Pillow / codecs, and a thread doing it
takes the GIL from the loop in slices long enough to be felt.

- Batched: one hand-over carries up to ``BATCH`` frames of one instance, so a multi-frame render
  pays the hand-over once per batch, not once per frame.
- Workers read native frames from the file store themselves (only paths and byte ranges cross the
  process boundary); other stores send the frame bytes.
- Bounded: at most ``processes`` hand-overs run, at most ``2 × processes`` wait; each worker's
  address space is capped (``RLIMIT_AS``) so a hostile request fails alone instead of taking the
  machine's memory. A worker that dies is replaced with the pool; the request that killed it fails.
- Workers fork from multiprocessing's fork server (started once per Python process with this
  module preloaded), never from the server process itself (which holds threads and sockets).
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import os
import resource
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any, TypeVar

import imagecodecs
import numpy as np
import pydicom

from dicomweb.errors import Unprocessable
from dicomweb.pixels.decode import decode_frame
from dicomweb.pixels.description import PixelDescription
from dicomweb.pixels.render import RenderAttributes, render_frame
from dicomweb.pixels.render_params import RenderParams

T = TypeVar("T")
log = logging.getLogger(__name__)

BATCH = 16  # frames per hand-over

# One frame to render: its fragments as bytes, or (offset, length) ranges in ``path``.
FrameSource = tuple[Sequence[bytes] | None, Sequence[tuple[int, int]] | None, RenderAttributes]


def _init_worker(memory_bytes: int) -> None:
    # One thread per worker for numpy's BLAS: the pool is the parallelism.
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _ready() -> int:
    """A task for a fresh worker: proves it started, loads the JPEG encoder (imagecodecs loads its
    codecs on first use) and keeps the worker busy a moment, so the next one goes to another worker."""
    imagecodecs.jpeg8_encode(np.zeros((8, 8), dtype=np.uint8), level=90)
    time.sleep(0.05)
    return os.getpid()


def render_unparsed(path: str, header_length: int, ranges: Sequence[tuple[int, int]], frame: int,
                    params: RenderParams) -> bytes:
    """One native frame of an instance whose header this process has not parsed yet: the worker
    reads and parses the header itself (the first read of an instance), so the server process
    spends no time in pydicom for it. ``frame`` counts from 1."""
    fd = os.open(path, os.O_RDONLY)
    try:
        prefix = os.pread(fd, header_length, 0)
        fragments = [os.pread(fd, length, offset) for offset, length in ranges]
    finally:
        os.close(fd)
    try:
        header = pydicom.dcmread(io.BytesIO(prefix), stop_before_pixels=True, force=True)
    except Exception as exc:
        raise Unprocessable(f"header cannot be read: {exc}") from None
    if "Rows" not in header:
        raise Unprocessable("the instance has no pixel data")
    desc = PixelDescription.from_dataset(header)
    attrs = RenderAttributes.from_dataset(header, frame - 1)
    try:
        arr, photometric = decode_frame(fragments, desc)
        return render_frame(arr, replace(desc, photometric_interpretation=photometric, planar_configuration=0),
                            attrs, params)
    except MemoryError:
        raise Unprocessable("the rendered image does not fit in the renderer's memory") from None


def render_batch(path: str | None, desc: PixelDescription, frames: Sequence[FrameSource],
                 params: RenderParams) -> list[bytes]:
    """Decode and render frames of one instance (runs in a pool worker)."""
    out = []
    fd = os.open(path, os.O_RDONLY) if path is not None else -1
    try:
        for fragments, ranges, attrs in frames:
            if fragments is None:
                assert ranges is not None
                fragments = [os.pread(fd, length, offset) for offset, length in ranges]
            try:
                arr, photometric = decode_frame(list(fragments), desc)
                body = render_frame(arr, replace(desc, photometric_interpretation=photometric, planar_configuration=0),
                                    attrs, params)
            except MemoryError:
                raise Unprocessable("the rendered image does not fit in the renderer's memory") from None
            out.append(body)
    finally:
        if fd >= 0:
            os.close(fd)
    return out


class RenderPool:
    """A lazily started process pool with a bounded queue in front of it."""

    def __init__(self, processes: int, memory_bytes: int) -> None:
        self.processes = max(1, processes)
        self.memory_bytes = memory_bytes
        self._executor: ProcessPoolExecutor | None = None
        self._slots = asyncio.Semaphore(2 * self.processes)
        self.batches = 0  # hand-overs done (a figure for tests and tuning)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload([__name__])
            self._executor = ProcessPoolExecutor(
                self.processes, mp_context=ctx, initializer=_init_worker, initargs=(self.memory_bytes,)
            )
        return self._executor

    async def run(self, fn: Any, *args: Any) -> Any:
        async with self._slots:
            pool = self._pool()
            try:
                result = await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
            except BrokenProcessPool:
                # A worker died (memory cap, signal): start a fresh pool for the next request.
                if self._executor is pool:
                    self._executor = None
                    pool.shutdown(wait=False, cancel_futures=True)
                raise Unprocessable("rendering failed: the renderer ran out of resources") from None
            self.batches += 1
            return result

    async def warm(self) -> int:
        """Start every worker process now (forkserver, imports, fork), so the first images a
        viewer asks for do not wait for them; returns how many distinct workers answered."""
        loop = asyncio.get_running_loop()
        try:
            pool = self._pool()
            pids = await asyncio.gather(*(loop.run_in_executor(pool, _ready) for _ in range(self.processes)))
        except (OSError, BrokenProcessPool) as exc:  # the first request will try again
            log.warning("render workers did not start ahead of requests: %s", exc)
            return 0
        return len(set(pids))

    async def render(self, path: str | None, desc: PixelDescription, frames: Sequence[FrameSource],
                     params: RenderParams) -> list[bytes]:
        return await self.run(render_batch, path, desc, list(frames), params)  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


__all__ = ["BATCH", "RenderPool", "render_batch", "render_unparsed"]
