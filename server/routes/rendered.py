"""Rendered and thumbnail resources (PS3.18 §8.3.5, §10.4.1.1.3) and WADO-URI (PS3.18 §9).

Routes are thin: parse the parameters (dicomweb.pixels.render_params), pick the
instances and frames, and let ``server.services.pixels`` do the work.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from dicomweb.errors import BadRequest, NotAcceptable, NotFound
from dicomweb.multipart import closing, new_boundary, part_header, related_content_type
from dicomweb.pixels.render_params import (
    THUMBNAIL_SIZE,
    RenderParams,
    Viewport,
    Window,
    negotiate_rendered_type,
    parse_quality,
    parse_render_params,
    parse_viewport,
)
from dicomweb.pixels.syntaxes import TARGETS
from dicomweb.uids import uid_problem
from server.http import content_location, ctx_of, path_uids, principal_of
from server.render_pool import BATCH
from server.services import pixels
from server.services.frame_retrieval import parse_frame_list
from server.services.retrieve import StoredInstance

MAX_RENDERED_PARTS = 2000


def _params(request: Request, thumbnail: bool = False) -> RenderParams:
    query = {k: v for k, v in request.query_params.items()}
    default = Viewport(THUMBNAIL_SIZE, THUMBNAIL_SIZE) if thumbnail else None
    return parse_render_params(query, request.headers.get("accept"), default_viewport=default)


def _not_modified(
    request: Request, row: StoredInstance, frame: int, params: RenderParams, kind: str
) -> Response | None:
    """304 straight from the ETag (derived from the immutable instance and the parameters): no rendering."""
    wanted = request.headers.get("if-none-match")
    if not wanted or not 1 <= frame <= row.number_of_frames:
        return None
    etag = pixels.render_etag(row, frame, params, kind)
    if etag in [t.strip() for t in wanted.split(",")]:
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": pixels.IMMUTABLE, "Vary": "Accept"})
    return None


def _image_response(request: Request, out: pixels.RenderedImage) -> Response:
    headers = {"ETag": out.etag, "Cache-Control": pixels.IMMUTABLE, "Vary": "Accept",
               "Content-Location": content_location(request)}
    if out.etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(out.body, media_type=out.media_type, headers=headers)


def _multipart(request: Request, batches: AsyncIterator[list[pixels.RenderedImage]], media_type: str) -> Response:
    """Parts streamed as their batches are rendered: memory holds one batch, and a client that
    goes away stops the rendering."""
    boundary = new_boundary()

    async def body() -> AsyncIterator[bytes]:
        first = True
        async for batch in batches:
            chunks: list[bytes] = []
            for part in batch:
                chunks += [part_header(media_type, first=first, boundary=boundary), part.body]
                first = False
            yield b"".join(chunks)
        yield closing(boundary)

    return StreamingResponse(
        body(), media_type=related_content_type(media_type, boundary),
        headers={"Cache-Control": "no-cache", "Content-Location": content_location(request)},
    )


def _with_pixels(rows: list[StoredInstance]) -> list[StoredInstance]:
    # Deflated objects are indexed without a frame count; their header is read when rendered.
    images = [r for r in rows if r.number_of_frames > 0]
    if not images:
        raise NotFound("no instance with pixel data here")
    return images


async def rendered(request: Request) -> Response:
    """Rendered study / series / instance / frames."""
    svc = pixels.PixelService(ctx_of(request))
    study, series, sop = path_uids(request)
    params = _params(request)
    rows = await svc.instances(principal_of(request), study, series, sop)
    frame_text = request.path_params.get("frames")
    if sop is not None:
        numbers = parse_frame_list(frame_text, ctx_of(request).settings.max_frames_per_request) if frame_text else None
        if numbers is not None and len(numbers) == 1:
            early = _not_modified(request, rows[0], numbers[0], params, "rendered")
            if early is not None:
                return early
        single = numbers[0] if numbers is not None and len(numbers) == 1 else None
        if numbers is None and rows[0].number_of_frames == 1:
            single = 1
        if single is not None:
            first = await svc.render_first(rows[0], single, params)
            if first is not None:
                return _image_response(request, first)
        img = await svc.image(rows[0])
        numbers = numbers or list(range(1, img.frame_count + 1))
        if len(numbers) == 1:
            return _image_response(request, await svc.render(img, numbers[0], params))
        if len(numbers) > MAX_RENDERED_PARTS:
            raise BadRequest(f"frames: at most {MAX_RENDERED_PARTS} frames can be rendered in one request")
        if params.media_type == "image/gif":
            return _image_response(request, await svc.render_animation(img, numbers, params))
        svc.check_frames(img, numbers)  # a 404 before the answer starts

        async def frame_batches() -> AsyncIterator[list[pixels.RenderedImage]]:
            for start in range(0, len(numbers), BATCH):
                yield await svc.render_many(img, numbers[start : start + BATCH], params)

        return _multipart(request, frame_batches(), params.media_type)
    # Study and series: one part per image instance, its first frame.
    images = _with_pixels(rows)
    if len(images) > MAX_RENDERED_PARTS:
        raise BadRequest(f"at most {MAX_RENDERED_PARTS} instances can be rendered in one request")
    async def first_frames() -> AsyncIterator[list[pixels.RenderedImage]]:
        for r in images:
            yield [await svc.render(await svc.image(r), 1, params)]

    return _multipart(request, first_frames(), params.media_type)


async def thumbnail(request: Request) -> Response:
    """Thumbnail of a study, series, instance or frame: one representative image."""
    svc = pixels.PixelService(ctx_of(request))
    study, series, sop = path_uids(request)
    params = _params(request, thumbnail=True)
    rows = await svc.instances(principal_of(request), study, series, sop)
    frame_text = request.path_params.get("frames")
    if sop is None:
        images = _with_pixels(rows)
        if series is None:
            # The first series (rows come ordered by series number) stands for the study.
            first = images[0].series_instance_uid
            images = [r for r in images if r.series_instance_uid == first]
        row = images[len(images) // 2]
    else:
        row = rows[0]
    img = await svc.image(row)
    if frame_text:
        numbers = parse_frame_list(frame_text, ctx_of(request).settings.max_frames_per_request)
        frame = numbers[0]
    else:
        frame = (img.frame_count + 1) // 2
    return _image_response(request, await svc.render(img, frame, params, kind="thumbnail"))


# -- WADO-URI (PS3.18 §9) -----------------------------------------------------------------------


def _float(name: str, text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        raise BadRequest(f"{name}: {text[:40]!r} is not a number") from None
    if not math.isfinite(number):
        raise BadRequest(f"{name}: {text[:40]!r} is not a finite number")
    return number


# WADO-URI parameters (PS3.18 §9.1.2) this server does not implement; refused, never ignored.
WADO_URI_REFUSED = ("anonymize", "region", "presentationUID", "presentationSeriesUID")


async def wado_uri(request: Request) -> Response:
    q = request.query_params
    if q.get("requestType") != "WADO":
        raise BadRequest("requestType: must be WADO")
    for name in WADO_URI_REFUSED:
        if name in q:
            # Ignoring these would answer something else than asked (anonymize: full patient data).
            raise BadRequest(f"{name}: not supported by this server")
    study, series, sop = q.get("studyUID"), q.get("seriesUID"), q.get("objectUID")
    for name, value in (("studyUID", study), ("seriesUID", series), ("objectUID", sop)):
        if not value:
            raise BadRequest(f"{name}: required")
        problem = uid_problem(value)
        if problem:
            raise BadRequest(f"{name}: {problem}")
    assert study and series and sop
    svc = pixels.PixelService(ctx_of(request))
    row = (await svc.instances(principal_of(request), study, series, sop))[0]
    content_types = [t.split(";")[0].strip().lower() for t in (q.get("contentType") or "").split(",") if t.strip()]
    if not content_types:
        content_types = ["image/jpeg"] if row.number_of_frames > 0 else ["application/dicom"]
    if "application/dicom" in content_types:
        return await _wado_uri_dicom(request, svc, row, q.get("transferSyntax"))
    accepted = [t for t in content_types if t in ("image/jpeg", "image/png", "image/gif", "*/*", "image/*")]
    if not accepted:
        raise NotAcceptable(f"contentType: cannot return {', '.join(content_types)}")
    media_type = negotiate_rendered_type(",".join(accepted))
    window = None
    center, width = _float("windowCenter", q.get("windowCenter")), _float("windowWidth", q.get("windowWidth"))
    if (center is None) != (width is None):
        raise BadRequest("windowCenter and windowWidth: give both or neither")
    if center is not None and width is not None:
        if width < 1:
            raise BadRequest(f"windowWidth: must be >= 1, got {width:g}")
        window = Window(center, width)
    viewport = None
    rows_text, cols_text = q.get("rows"), q.get("columns")
    if rows_text or cols_text:
        viewport = parse_viewport(f"{cols_text or 8192},{rows_text or 8192}")
    quality = parse_quality(q["imageQuality"]) if q.get("imageQuality") else 90
    params = RenderParams(media_type=media_type, window=window, viewport=viewport, quality=quality)
    img = await svc.image(row)
    frame_text = q.get("frameNumber")
    if frame_text is not None and not (frame_text.strip().isascii() and frame_text.strip().isdigit()):
        raise BadRequest(f"frameNumber: {frame_text!r} is not a positive integer")
    frame = int(frame_text) if frame_text else 1
    return _image_response(request, await svc.render(img, frame, params))


async def _wado_uri_dicom(
    request: Request, svc: pixels.PixelService, row: StoredInstance, syntax: str | None
) -> Response:
    if syntax and syntax.strip() and syntax.strip() != row.transfer_syntax_uid:
        target = syntax.strip()
        if target not in TARGETS:
            raise NotAcceptable(f"transferSyntax: transcoding to {target} is not supported")
        body = await svc.transcode_instance(row, target)
    else:
        body = await svc.ctx.store.get_bytes(row.blob_key)
    return Response(body, media_type="application/dicom", headers={"Cache-Control": pixels.IMMUTABLE})


S = "/studies/{study}"
SE = S + "/series/{series}"
IN = SE + "/instances/{instance}"
FR = IN + "/frames/{frames}"

routes: list[BaseRoute] = [
    Route(S + "/rendered", rendered, methods=["GET"]),
    Route(SE + "/rendered", rendered, methods=["GET"]),
    Route(IN + "/rendered", rendered, methods=["GET"]),
    Route(FR + "/rendered", rendered, methods=["GET"]),
    Route(S + "/thumbnail", thumbnail, methods=["GET"]),
    Route(SE + "/thumbnail", thumbnail, methods=["GET"]),
    Route(IN + "/thumbnail", thumbnail, methods=["GET"]),
    Route(FR + "/thumbnail", thumbnail, methods=["GET"]),
]

# Routes mounted at the root (WADO-URI lives at /wado, outside /dicom-web).
uri_routes: list[BaseRoute] = [Route("/wado", wado_uri, methods=["GET"])]
