"""Key images captured from the viewport: PNGs kept with the request, placed in the printed report.

The editor captures what the doctor sees (the viewport with its window, zoom and overlay) and sends
it here with the image it shows (study, series, instance, frame, W/L). The PNG is stored in the blob
store under the request, named by its SHA-256 (a capture stored twice is one blob); the report's
``key_images`` entry names it as ``capture`` beside the source image, which the SR references.
Only the holder of the report lock adds captures; whoever sees a version that names a capture may
read it (the reading side sees every capture of the request).
"""

from __future__ import annotations

import hashlib
import io
import re

from PIL import Image, UnidentifiedImageError

from server.app_errors import InvalidInput, NotFoundError
from server.auth.principal import Principal
from server.context import AppContext
from server.reading import service
from server.reading.states import Party
from server.storage.base import BlobNotFound

CAPTURE_LIMIT = 8 * 1024 * 1024
MAX_SIDE = 4096
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DIGEST = re.compile(r"^[0-9a-f]{64}$")


def blob_key(request_id: int, digest: str) -> str:
    return f"reading/{request_id}/key-images/{digest}.png"


def check_png(data: bytes) -> tuple[int, int]:
    """The PNG's (width, height); InvalidInput naming the problem otherwise."""
    if not data:
        raise InvalidInput("the key image is empty")
    if len(data) > CAPTURE_LIMIT:
        raise InvalidInput(f"a key image may be at most {CAPTURE_LIMIT} bytes")
    if not data.startswith(PNG_MAGIC):
        raise InvalidInput("a key image must be a PNG (image/png)")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            width, height = img.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInput(f"the key image is not a readable PNG ({exc})") from None
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise InvalidInput(f"a key image is at most {MAX_SIDE}×{MAX_SIDE} pixels (got {width}×{height})")
    return width, height


async def add_capture(ctx: AppContext, p: Principal, request_id: int, media_type: str, data: bytes
                      ) -> dict[str, object]:
    """Store a capture for the report being written (the caller must hold the lock)."""
    async with ctx.sessions() as session:
        req = await service._load(session, p, request_id)
        service._authorise(p, req, "save")
        await service._require_lock(session, p, req, "save")
    if media_type != "image/png":
        raise InvalidInput(f"a key image must be sent as image/png, not {media_type or 'no Content-Type'}")
    width, height = check_png(data)
    digest = hashlib.sha256(data).hexdigest()
    await ctx.store.put_bytes(blob_key(request_id, digest), data)
    return {"capture": digest, "width": width, "height": height, "size": len(data),
            "url": f"/api/reading/requests/{request_id}/key-images/{digest}"}


async def get_capture(ctx: AppContext, p: Principal, request_id: int, digest: str) -> bytes:
    if not DIGEST.match(digest):
        raise NotFoundError(f"no key image {digest[:70]!r} on reading request {request_id}")
    view = await service.get_request(ctx, p, request_id, with_events=False)
    reader = p.is_admin or Party.READER in view.parties
    named = any(k.get("capture") == digest for v in view.versions for k in v.key_images)
    if not (reader or named):
        raise NotFoundError(f"no key image {digest} on reading request {request_id}")
    try:
        return await ctx.store.get_bytes(blob_key(request_id, digest))
    except BlobNotFound:
        raise NotFoundError(f"no key image {digest} on reading request {request_id}") from None


async def captures_of(ctx: AppContext, request_id: int, key_images: list[dict[str, object]]) -> dict[str, bytes]:
    """The PNGs the version's key images name (for the PDF); a missing blob is left out."""
    out: dict[str, bytes] = {}
    for k in key_images:
        digest = k.get("capture")
        if isinstance(digest, str) and DIGEST.match(digest) and digest not in out:
            try:
                out[digest] = await ctx.store.get_bytes(blob_key(request_id, digest))
            except BlobNotFound:
                continue
    return out
