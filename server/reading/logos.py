"""The hospital logo printed on reports: one PNG or JPEG per institution, size-limited, in the blob store.

The institution row names the blob (``logo_key``) and its media type; a new upload gets a new key
(the content's SHA-256), so a cached old logo is never served as the new one. Institution admins set
their own institution's logo, the alliance admin any; every signed-in caller may read a logo (the
requesting hospital prints the reading hospital's header). Logos are not patient data.
"""

from __future__ import annotations

import hashlib
import io

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select, update
from sqlmodel import col

from server.app_errors import Forbidden, InvalidInput, NotFoundError
from server.auth.principal import Principal, Role
from server.context import AppContext
from server.db.archive import Institution
from server.storage.base import BlobNotFound

LOGO_LIMIT = 512 * 1024
MAX_SIDE = 2000
FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}


def check_logo(media_type: str, data: bytes) -> tuple[int, int]:
    """The image's (width, height); InvalidInput naming what is wrong otherwise."""
    if media_type not in FORMATS:
        raise InvalidInput(f"a logo is sent as image/png or image/jpeg, not {media_type or 'no Content-Type'}")
    if not data:
        raise InvalidInput("the logo is empty")
    if len(data) > LOGO_LIMIT:
        raise InvalidInput(f"a logo may be at most {LOGO_LIMIT} bytes (got {len(data)})")
    try:
        with Image.open(io.BytesIO(data)) as img:
            found = img.format
            img.verify()
            width, height = img.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInput(f"the logo is not a readable image ({exc})") from None
    if found != FORMATS[media_type]:
        raise InvalidInput(f"the logo is {found}, but was sent as {media_type}")
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise InvalidInput(f"a logo is at most {MAX_SIDE}×{MAX_SIDE} pixels (got {width}×{height})")
    return width, height


def _may_change(p: Principal, institution_id: int) -> None:
    if p.is_admin:
        return
    if p.role is not Role.INSTITUTION_ADMIN or p.institution_id != institution_id:
        raise Forbidden("only the institution's own administrator (or the alliance admin) sets its logo")


async def _institution(ctx: AppContext, institution_id: int) -> Institution:
    async with ctx.sessions() as s:
        inst = (await s.exec(select(Institution).where(col(Institution.id) == institution_id))).scalar()
    if inst is None:
        raise NotFoundError(f"no institution {institution_id}")
    return inst


async def set_logo(ctx: AppContext, p: Principal, institution_id: int, media_type: str, data: bytes
                   ) -> dict[str, object]:
    _may_change(p, institution_id)
    await _institution(ctx, institution_id)
    width, height = check_logo(media_type, data)
    key = f"institutions/{institution_id}/logo/{hashlib.sha256(data).hexdigest()}"
    await ctx.store.put_bytes(key, data)
    async with ctx.write() as conn:
        await conn.execute(update(Institution).where(col(Institution.id) == institution_id)
                           .values(logo_key=key, logo_media_type=media_type))
    return {"institution_id": institution_id, "media_type": media_type, "width": width, "height": height,
            "size": len(data), "url": f"/api/institutions/{institution_id}/logo"}


async def remove_logo(ctx: AppContext, p: Principal, institution_id: int) -> None:
    _may_change(p, institution_id)
    inst = await _institution(ctx, institution_id)
    if not inst.logo_key:
        raise NotFoundError(f"institution {institution_id} has no logo")
    async with ctx.write() as conn:
        await conn.execute(update(Institution).where(col(Institution.id) == institution_id)
                           .values(logo_key="", logo_media_type=""))


async def logo_of(ctx: AppContext, institution_id: int) -> tuple[bytes, str] | None:
    """The institution's logo and its media type (None: it has none)."""
    inst = await _institution(ctx, institution_id)
    if not inst.logo_key:
        return None
    try:
        return await ctx.store.get_bytes(inst.logo_key), inst.logo_media_type
    except BlobNotFound:
        return None


async def get_logo(ctx: AppContext, institution_id: int) -> tuple[bytes, str]:
    found = await logo_of(ctx, institution_id)
    if found is None:
        raise NotFoundError(f"institution {institution_id} has no logo")
    return found
