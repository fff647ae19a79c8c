"""WADO-RS (PS3.18 §10.4): instances, metadata, frames and bulk data; DELETE; capabilities."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import io
import itertools
import re
from collections.abc import AsyncIterator

import orjson
import pydicom
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from dicomweb.capabilities import WADL, capabilities_json, wadl
from dicomweb.errors import BadRequest, NotAcceptable, NotFound
from dicomweb.media import Offer, frame_media_type, negotiate, parse_accept
from dicomweb.multipart import closing, new_boundary, part_header, related_content_type
from dicomweb.pixels.decode import can_decode
from dicomweb.pixels.syntaxes import TARGETS
from dicomweb.transfer import Resource, TransferPlan, plan_transfer
from dicomweb.xml_model import DICOM_XML, multipart_xml
from server import limits
from server.context import AppContext
from server.errors import route_templates, websocket_templates
from server.http import content_location, ctx_of, dicomweb_base, json_response, path_uids, principal_of
from server.services import bulk_uri, retrieve
from server.services import frame_retrieval as frame_service
from server.services.pixels import PixelService

DICOM = "application/dicom"
PREFETCH_DEPTH = 8
PREFETCH_MAX_BYTES = 4 * 1024 * 1024
OCTET = "application/octet-stream"


# -- instances ----------------------------------------------------------------------------------


async def retrieve_instances(request: Request) -> Response:
    ctx = ctx_of(request)
    study, series, sop = path_uids(request)
    # One instance may also be answered single-part (``Accept: application/dicom``, OHIF "singlepart").
    offers = [Offer(DICOM)] + ([Offer(DICOM, multipart=False)] if sop is not None else [])
    choice = negotiate(parse_accept(request.headers.get("accept")), offers)
    rows = await retrieve.find_instances(ctx, principal_of(request), study, series, sop)
    # PS3.18 §8.7.3.5.2: with no syntax named the answer is Explicit VR Little Endian (compressed
    # pixel data decoded); ``transfer-syntax=*`` asks for the stored bytes (dicomweb/transfer.py).
    plans: dict[str, TransferPlan] = {}
    for r in rows:
        stored = r.transfer_syntax_uid
        try:
            plan = plan_transfer(Resource.INSTANCE, DICOM, choice.transfer_syntax, stored,
                                 can_decode=r.number_of_frames == 0 or can_decode(stored),
                                 can_encode=TARGETS.__contains__)
        except NotAcceptable as exc:
            raise NotAcceptable(f"instance {r.sop_instance_uid}: {exc.message}") from exc
        plans[r.sop_instance_uid] = plan
        if plan.transcode_to is not None:
            await PixelService(ctx).check_transcodable(r, plan.transcode_to)
    transcode = {uid: p.transcode_to for uid, p in plans.items() if p.transcode_to is not None}
    located = {"Content-Location": content_location(request)}
    if not choice.offer.multipart:
        [row] = rows
        target = transcode.get(row.sop_instance_uid)
        data = (await PixelService(ctx).transcode_instance(row, target) if target is not None
                else await ctx.store.get_bytes(row.blob_key))
        return Response(data, media_type=plans[row.sop_instance_uid].content_type(), headers=located)
    boundary = new_boundary()
    base = dicomweb_base(request)

    def header(i: int, r: retrieve.StoredInstance) -> bytes:
        # Each part names the instance it holds (PS3.18 §8.6.1.2 / §8.4.2).
        where = {"Content-Location": instance_url(base, r)}
        return part_header(plans[r.sop_instance_uid].content_type(), where, first=i == 0, boundary=boundary)

    async def fetch(i: int, r: retrieve.StoredInstance) -> bytes | memoryview | None:
        """A whole part (header and object in one buffer) for small objects; None: stream it."""
        target = transcode.get(r.sop_instance_uid)
        if target is not None:
            return header(i, r) + await PixelService(ctx).transcode_instance(r, target)
        if r.size <= PREFETCH_MAX_BYTES:
            return await ctx.store.assemble(r.blob_key, [header(i, r), (0, r.size)])
        return None

    async def body() -> AsyncIterator[bytes | memoryview]:
        # Keep a few reads in flight so storage latency overlaps with sending (S3 round trips,
        # disk reads on a cold cache).
        pending: collections.deque[asyncio.Task[bytes | memoryview | None]] = collections.deque()
        it = iter(enumerate(rows))
        try:
            for i, r in itertools.islice(it, PREFETCH_DEPTH):
                pending.append(asyncio.ensure_future(fetch(i, r)))
            for i, r in enumerate(rows):
                part = await pending.popleft()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(asyncio.ensure_future(fetch(*nxt)))
                if part is not None:
                    yield part
                else:
                    yield header(i, r)
                    async for chunk in ctx.store.iter_bytes(r.blob_key):
                        yield chunk
            yield closing(boundary)
        finally:
            for task in pending:
                task.cancel()

    headers = dict(located)
    if not transcode:
        # Sizes are known: a Content-Length spares the chunked encoding (and its copy of every part).
        length = sum(len(header(i, r)) + r.size for i, r in enumerate(rows)) + len(closing(boundary))
        headers["Content-Length"] = str(length)
    return StreamingResponse(body(), media_type=related_content_type(DICOM, boundary), headers=headers)


# -- metadata -----------------------------------------------------------------------------------


async def metadata(request: Request) -> Response:
    ctx = ctx_of(request)
    study, series, sop = path_uids(request)
    choice = negotiate(parse_accept(request.headers.get("accept")),
                       [Offer("application/dicom+json", multipart=False), Offer("application/json", multipart=False),
                        Offer(DICOM_XML)])
    base = dicomweb_base(request)
    p = principal_of(request)
    version = await retrieve.metadata_version(ctx, p, study, series, sop)
    # One ETag per representation: JSON and XML of the same metadata are different bodies.
    etag = '"' + hashlib.sha1(f"{version}:{base}:{choice.offer.part_type}".encode()).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept",
               "Content-Location": content_location(request)}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    cache = ctx.memory.metadata
    key = (study, series or "", sop or "", version, base)
    body = cache.get(key)
    if body is None:
        docs = await retrieve.metadata_documents(ctx, p, study, series, sop)
        body = bulk_uri.resolve(b"[" + b",".join(docs) + b"]", base)
        cache.put(key, body, len(body))
    if choice.offer.part_type == DICOM_XML:
        # One NativeDicomModel document per instance (PS3.18 §10.4.3, Table 8.7.3-3).
        boundary = new_boundary()
        return Response(multipart_xml(orjson.loads(body), boundary), headers=headers,
                        media_type=related_content_type(DICOM_XML, boundary))
    return Response(body, media_type="application/dicom+json", headers=headers)


# -- frames -------------------------------------------------------------------------------------


def instance_url(base: str, r: retrieve.StoredInstance) -> str:
    """The public WADO-RS URL of one stored instance (``base`` ends with ``/dicom-web/``)."""
    return f"{base}studies/{r.study_instance_uid}/series/{r.series_instance_uid}/instances/{r.sop_instance_uid}"


def _multipart_body(parts: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """One multipart body of (content type, Content-Location, bytes) parts."""
    boundary = new_boundary()
    chunks = []
    for i, (ctype, where, data) in enumerate(parts):
        chunks.append(part_header(ctype, {"Content-Location": where}, first=i == 0, boundary=boundary))
        chunks.append(data)
    chunks.append(closing(boundary))
    return b"".join(chunks), boundary


async def frames(request: Request) -> Response:
    ctx = ctx_of(request)
    study, series, sop = path_uids(request)
    numbers = frame_service.parse_frame_list(request.path_params["frames"], ctx.settings.max_frames_per_request)
    assert series is not None and sop is not None
    inst = await retrieve.find_instance(ctx, principal_of(request), study, series, sop)
    if inst.number_of_frames == 0:
        raise NotFound(f"instance {sop} has no pixel data")
    for n in numbers:
        if n > inst.number_of_frames:
            raise NotFound(f"frame {n} does not exist: instance {sop} has {inst.number_of_frames} frames")
    stored_type = frame_media_type(inst.transfer_syntax_uid)
    offers = [Offer(OCTET)] + ([Offer(stored_type)] if stored_type != OCTET else [])
    offers += [Offer(t) for t in ("image/jpeg", "image/jls", "image/jp2", "image/jphc", "image/dicom-rle")
               if t != stored_type]
    # One frame may be answered single-part (``Accept: application/octet-stream`` or the stored
    # bitstream's type): what dicomweb-client and OHIF's "singlepart" setting ask for.
    offers += [Offer(o.part_type, multipart=False) for o in offers]
    choice = negotiate(parse_accept(request.headers.get("accept")), offers)
    if not choice.offer.multipart and len(numbers) != 1:
        raise NotAcceptable(f"a single-part answer ({choice.offer.part_type}) holds one frame, {len(numbers)} were "
                            f"asked for: accept multipart/related; type=\"{choice.offer.part_type}\"")
    plan = frame_service.plan_frames(inst, choice)
    ctype = f"{plan.media_type}; transfer-syntax={plan.transfer_syntax}"
    # The answer depends on the Accept header (single-part or multipart, the transfer syntax): a cache
    # must key on it (RFC 9110 §12.5.5), else it hands one representation to a client that asked for another.
    cache = {"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept",
             "Content-Location": content_location(request)}
    limiter: limits.ClientLimiter = request.app.state.limiter
    if not choice.offer.multipart:
        if plan.transcode_to is None:
            [frame] = await frame_service.read_frames(ctx, inst, numbers)
        else:
            async with limits.hold(limiter, limits.TRANSCODE, limits.scope_key(request.scope)):
                [frame] = await frame_service.transcode_frames(ctx, inst, numbers, plan)
        return Response(frame, media_type=ctype, headers=cache)
    # Each part names its frame (PS3.18 §8.6.1.2): .../frames/{n}.
    frame_base = instance_url(dicomweb_base(request), inst) + "/frames/"
    if plan.transcode_to is None:
        boundary = new_boundary()
        body: bytes | memoryview = await frame_service.multipart_frames(ctx, inst, numbers, ctype, boundary,
                                                                        frame_base)
    else:
        async with limits.hold(limiter, limits.TRANSCODE, limits.scope_key(request.scope)):
            data = await frame_service.transcode_frames(ctx, inst, numbers, plan)
        body, boundary = _multipart_body([(ctype, f"{frame_base}{n}", d) for n, d in zip(numbers, data, strict=True)])
    return Response(body, media_type=related_content_type(plan.media_type, boundary), headers=cache)


# -- bulk data ----------------------------------------------------------------------------------


async def bulk(request: Request) -> Response:
    ctx = ctx_of(request)
    study, series, sop = path_uids(request)
    path = request.path_params["path"]
    if not BULK_PATH.fullmatch(path):
        raise BadRequest(f"bulk data path: {path[:80]!r} is not tag(.item.tag)* (8 hex digits per tag, item numbers"
                         " from 0)")
    choice = negotiate(parse_accept(request.headers.get("accept")), [Offer(OCTET), Offer(OCTET, multipart=False)])
    assert series is not None and sop is not None
    inst = await retrieve.find_instance(ctx, principal_of(request), study, series, sop)
    media, ctype = OCTET, OCTET
    if path.upper() in ("7FE00010", "7FE00008", "7FE00009") and inst.frame_index is not None:
        # Pixel data follows the frame rules (§8.7.3.5.2): no syntax named → Explicit VR LE (compressed
        # frames decoded); ``transfer-syntax=*`` → the stored bitstream, labelled with its own type.
        numbers = list(range(1, inst.number_of_frames + 1))
        plan = frame_service.plan_frames(inst, choice)
        media, ctype = plan.media_type, f"{plan.media_type}; transfer-syntax={plan.transfer_syntax}"
        if plan.transcode_to is None:
            data = b"".join(await frame_service.read_frames(ctx, inst, numbers))
        else:
            limiter: limits.ClientLimiter = request.app.state.limiter
            async with limits.hold(limiter, limits.TRANSCODE, limits.scope_key(request.scope)):
                data = b"".join(await frame_service.transcode_frames(ctx, inst, numbers, plan))
    else:
        data = await _element_bytes(ctx, inst, path)
    located = {"Content-Location": content_location(request)}
    if not choice.offer.multipart:  # a single-part request (OHIF "singlepart"): the bytes alone
        return Response(data, media_type=ctype, headers=located)
    body, boundary = _multipart_body([(ctype, located["Content-Location"], data)])
    return Response(body, media_type=related_content_type(media, boundary), headers=located)


async def _element_bytes(ctx: AppContext, inst: retrieve.StoredInstance, path: str) -> bytes:
    raw = await ctx.store.get_bytes(inst.blob_key)

    def extract() -> bytes:
        ds = pydicom.dcmread(io.BytesIO(raw))
        parts = path.split(".")
        node = ds
        try:
            for i in range(0, len(parts) - 1, 2):
                node = node[int(parts[i], 16)].value[int(parts[i + 1])]
            elem = node[int(parts[-1], 16)]
        except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
            raise NotFound(f"no bulk data element {path} in instance {inst.sop_instance_uid}") from exc
        value = elem.value
        if isinstance(value, bytes):
            return value
        raise NotFound(f"element {path} of instance {inst.sop_instance_uid} is not bulk data")

    return await asyncio.to_thread(extract)


# -- delete and capabilities --------------------------------------------------------------------


async def delete_resource(request: Request) -> Response:
    ctx = ctx_of(request)
    study, series, sop = path_uids(request)
    p = principal_of(request)
    await retrieve.delete_instances(ctx, p, study, series, sop)
    return Response(status_code=204)


async def capabilities(request: Request) -> Response:
    """Retrieve Capabilities (PS3.18 §8.9): JSON by default, WADL (Annex H) when asked for."""
    base = dicomweb_base(request)
    choice = negotiate(parse_accept(request.headers.get("accept")),
                       [Offer("application/json", multipart=False), Offer(WADL, multipart=False)])
    # The document follows the mounted routes (server.errors.route_templates), described by dicomweb.capabilities.
    mounted = [(path.removeprefix("/dicom-web"), method) for path, methods in route_templates(list(request.app.routes))
               if path == "/dicom-web" or path.startswith("/dicom-web/") for method in methods]
    # WebSocket routes (the UPS event channel) are opened with a GET upgrade.
    mounted += [(path.removeprefix("/dicom-web"), "GET") for path in websocket_templates(list(request.app.routes))
                if path.startswith("/dicom-web/")]
    if choice.offer.part_type == WADL:
        return Response(wadl(base, mounted), media_type=WADL, headers={"Vary": "Accept"})
    return json_response(capabilities_json(base, mounted), media_type="application/json", headers={"Vary": "Accept"})


# A bulk data element: its tag, or sequence tag, item index (from 0) and so on (see bulk_uri).
BULK_PATH = re.compile(r"[0-9A-Fa-f]{8}(\.[0-9]{1,6}\.[0-9A-Fa-f]{8})*")

S = "/studies/{study}"
SE = S + "/series/{series}"
IN = SE + "/instances/{instance}"

routes: list[BaseRoute] = [
    Route("/", capabilities, methods=["GET", "OPTIONS"]),
    Route(S, retrieve_instances, methods=["GET"]),
    Route(S, delete_resource, methods=["DELETE"]),
    Route(S + "/metadata", metadata, methods=["GET"]),
    Route(SE, retrieve_instances, methods=["GET"]),
    Route(SE, delete_resource, methods=["DELETE"]),
    Route(SE + "/metadata", metadata, methods=["GET"]),
    Route(IN, retrieve_instances, methods=["GET"]),
    Route(IN, delete_resource, methods=["DELETE"]),
    Route(IN + "/metadata", metadata, methods=["GET"]),
    Route(IN + "/frames/{frames}", frames, methods=["GET"]),
    Route(IN + "/bulk/{path}", bulk, methods=["GET"]),
]
