"""Frame retrieval (PS3.18 §10.4.1.1.5): which bytes and media type answer a frames request.

Frames are byte-range reads of the stored object, located by the frame index
recorded at ingest. When the client asks for a syntax other than the stored
one, the request needs transcoding (see ``server.services.pixels``).
"""

from __future__ import annotations

from dataclasses import dataclass

from dicomweb.errors import InvalidFrameList, NotAcceptable, NotFound
from dicomweb.media import (
    EXPLICIT_VR_BE,
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    Choice,
    frame_media_type,
)
from dicomweb.multipart import closing, part_header
from dicomweb.pixels.syntaxes import TARGETS
from server.context import AppContext
from server.services.pixels import PixelService, target_for_plan
from server.services.retrieve import StoredInstance
from server.storage.base import Piece

LE_NATIVE = frozenset({EXPLICIT_VR_LE, IMPLICIT_VR_LE})


@dataclass(frozen=True)
class FramePlan:
    """Serve the stored bytes (``transcode_to`` None) or transcode to a syntax."""

    media_type: str
    transfer_syntax: str
    transcode_to: str | None = None


def parse_frame_list(text: str, limit: int = 10000) -> list[int]:
    """Frame numbers of a frame list: positive, each at most once, at most ``limit`` of them."""
    pieces = text.replace("%2C", ",").replace("%2c", ",").split(",")
    if len(pieces) > limit:
        raise InvalidFrameList(f"more than {limit} frames requested at once")
    numbers = []
    for piece in pieces:
        piece = piece.strip()
        if not (piece.isascii() and piece.isdigit()) or len(piece) > 12 or int(piece) < 1:
            raise InvalidFrameList(
                f"frame numbers must be positive integers separated by commas, got {piece[:40]!r}")
        numbers.append(int(piece))
    if len(set(numbers)) != len(numbers):
        raise InvalidFrameList("a frame number is repeated in the frame list")
    return numbers


def plan_frames(inst: StoredInstance, choice: Choice) -> FramePlan:
    """Decide how to answer for ``inst`` given the negotiated media range."""
    stored = inst.transfer_syntax_uid
    stored_type = frame_media_type(stored)
    asked_type = choice.offer.part_type
    asked_ts = choice.transfer_syntax
    addressable = inst.frame_index is not None and stored != EXPLICIT_VR_BE
    if asked_ts == "*" and addressable:
        return FramePlan(stored_type, stored if stored not in LE_NATIVE else EXPLICIT_VR_LE)
    if asked_ts is None:
        if stored in LE_NATIVE and asked_type in ("application/octet-stream", "*/*"):
            return FramePlan("application/octet-stream", EXPLICIT_VR_LE)
        if addressable and asked_type in ("*/*", stored_type):
            return FramePlan(stored_type, stored)
        asked_ts = EXPLICIT_VR_LE if asked_type == "application/octet-stream" else asked_ts
    elif asked_ts == stored or (asked_ts in LE_NATIVE and stored in LE_NATIVE):
        # Native little-endian frame bytes are the same in both syntaxes: label them as asked.
        return FramePlan(stored_type, asked_ts if stored in LE_NATIVE else stored)
    # --- transcoding target (pixels branch): make it concrete and refuse what cannot be made ---
    target = target_for_plan(stored, asked_type, asked_ts or "")
    if target not in TARGETS:
        raise NotAcceptable(f"transcoding frames to transfer syntax {target} is not supported")
    return FramePlan(frame_media_type(target), target, transcode_to=target)


def frame_ranges(inst: StoredInstance, numbers: list[int]) -> list[list[tuple[int, int]]]:
    """The stored (offset, length) fragments of each requested frame (1-based)."""
    frames = inst.frames()
    if frames is None:
        raise NotAcceptable(
            f"frames of instance {inst.sop_instance_uid} (transfer syntax {inst.transfer_syntax_uid}) "
            "cannot be served as stored; ask for an uncompressed transfer syntax"
        )
    for n in numbers:
        if n > len(frames):
            raise NotFound(f"frame {n} does not exist: instance {inst.sop_instance_uid} has {len(frames)} frames")
    return [frames[n - 1] for n in numbers]


async def read_frames(ctx: AppContext, inst: StoredInstance, numbers: list[int]) -> list[bytes]:
    """The stored bytes of the requested frames (1-based), one byte string per frame."""
    per_frame = frame_ranges(inst, numbers)
    pieces = await ctx.store.get_ranges(inst.blob_key, [r for frame in per_frame for r in frame])
    out = []
    i = 0
    for frame in per_frame:
        c = len(frame)
        out.append(pieces[i] if c == 1 else b"".join(pieces[i : i + c]))
        i += c
    return out


async def multipart_frames(ctx: AppContext, inst: StoredInstance, numbers: list[int], content_type: str,
                           boundary: str, location_prefix: str) -> bytes | memoryview:
    """A whole multipart body of stored frames, read straight into one buffer.

    Each part carries ``Content-Location: <location_prefix><frame number>`` (PS3.18 §8.6.1.2).
    """
    pieces: list[Piece] = []
    for i, (n, frame) in enumerate(zip(numbers, frame_ranges(inst, numbers), strict=True)):
        pieces.append(part_header(content_type, {"Content-Location": f"{location_prefix}{n}"}, first=i == 0,
                                  boundary=boundary))
        pieces.extend(frame)
    pieces.append(closing(boundary))
    return await ctx.store.assemble(inst.blob_key, pieces)


async def transcode_frames(ctx: AppContext, inst: StoredInstance, numbers: list[int], plan: FramePlan) -> list[bytes]:
    """Decode the requested frames and re-encode them (``server.services.pixels``)."""
    assert plan.transcode_to is not None
    data, _ = await PixelService(ctx).transcode_frames(inst, numbers, plan.transcode_to)
    return data
