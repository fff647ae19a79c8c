"""Rendered, thumbnail, WADO-URI and transcoded WADO-RS through the real app (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from dicomweb.pixels.decode import decode_frame
from dicomweb.pixels.description import PixelDescription
from dicomweb.pixels.render import voi_window
from dicomweb.pixels.render_params import Window
from server.app import create_app
from tests.conftest import authed_client
from tests.dicom_helpers import STOW_TYPE, multipart
from tests.server.routes.test_wado import split_multipart

TS_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "transfer-syntaxes"


def relabel(path: Path | str, study: str, series: str, number: int = 1, **changes: object) -> bytes:
    """A real file under new UIDs (so tests do not collide), as Part 10 bytes."""
    ds = pydicom.dcmread(path)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = number
    for key, value in changes.items():
        setattr(ds, key, value)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def store(client, parts: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/dicom-web/studies", content=multipart(parts), headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 200, r.text


def url_of(data: bytes) -> str:
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    return f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def test_rendered_frame_matches_numpy_voi_and_caches(client) -> None:  # type: ignore[no-untyped-def]
    study, series = generate_uid(), generate_uid()
    data = relabel(TS_DIR / "7.dcm", study, series)  # JPEG-LS lossless 16-bit MR
    store(client, [data])
    url = url_of(data) + "/frames/1/rendered"
    r = client.get(url, params={"window": "400,800,linear"}, headers={"Accept": "image/png"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    got = np.asarray(Image.open(io.BytesIO(r.content)))
    ds = pydicom.dcmread(io.BytesIO(data))
    values = ds.pixel_array.astype(np.float64) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    ref = np.rint(voi_window(values, Window(400, 800))).astype(np.uint8)
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1
    etag = r.headers["etag"]
    assert etag.startswith('"') and "immutable" in r.headers["cache-control"]
    again = client.get(url, params={"window": "400,800,linear"}, headers={"Accept": "image/png", "If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
    other = client.get(url, params={"window": "400,801"}, headers={"Accept": "image/png"})
    assert other.headers["etag"] != etag
    # Revalidation needs no rendering: with the output cache emptied, a 304 leaves it empty.
    outputs = client.app.state.ctx.memory.pixels.outputs
    outputs.clear()
    again = client.get(url, params={"window": "400,800,linear"}, headers={"Accept": "image/png", "If-None-Match": etag})
    assert again.status_code == 304 and outputs.size == 0 and len(outputs) == 0
    hot = client.get(url, params={"window": "400,800", "palette": "hot_iron"}, headers={"Accept": "image/png"})
    assert np.asarray(Image.open(io.BytesIO(hot.content))).shape == (*got.shape, 3)
    plain = client.get(url, params={"viewport": "384,384"})
    note = client.get(url, params={"viewport": "384,384", "annotation": "patient"})
    assert plain.status_code == note.status_code == 200 and plain.content != note.content


def test_rendered_levels_thumbnails_and_jpeg(client) -> None:  # type: ignore[no-untyped-def]
    study, series = generate_uid(), generate_uid()
    parts = [relabel(TS_DIR / f"{i}.dcm", study, series, number=i) for i in (1, 5, 9)]
    store(client, parts)
    base = f"/dicom-web/studies/{study}"
    r = client.get(base + "/series/" + series + "/rendered")
    assert r.status_code == 200 and r.headers["content-type"].startswith("multipart/related")
    images = split_multipart(r.headers["content-type"], r.content)
    assert len(images) == 3
    for _, body in images:
        assert Image.open(io.BytesIO(body)).format == "JPEG"
    whole = client.get(base + "/rendered")
    assert len(split_multipart(whole.headers["content-type"], whole.content)) == 3
    for url in (
        base + "/thumbnail",
        base + f"/series/{series}/thumbnail",
        url_of(parts[0]) + "/thumbnail",
        url_of(parts[0]) + "/frames/1/thumbnail",
    ):
        t = client.get(url)
        assert t.status_code == 200, (url, t.text)
        img = Image.open(io.BytesIO(t.content))
        assert img.format == "JPEG" and max(img.size) == 128
    v = client.get(url_of(parts[1]) + "/rendered", params={"viewport": "200,100", "quality": "50"})
    assert Image.open(io.BytesIO(v.content)).size == (100, 100)
    g = client.get(url_of(parts[2]) + "/rendered", headers={"Accept": "image/gif"})
    assert Image.open(io.BytesIO(g.content)).format == "GIF"


def test_colour_and_monochrome1_render_correctly(client) -> None:  # type: ignore[no-untyped-def]
    study, series = generate_uid(), generate_uid()
    ybr = relabel(get_testdata_file("SC_rgb_dcmtk_+eb+cy+np.dcm"), study, series, 1)  # JPEG YBR_FULL_422
    mono1 = relabel(get_testdata_file("CT_small.dcm"), study, series, 2, PhotometricInterpretation="MONOCHROME1")
    store(client, [ybr, mono1])
    r = client.get(url_of(ybr) + "/rendered", headers={"Accept": "image/png"})
    rgb = np.asarray(Image.open(io.BytesIO(r.content)))
    ref = pydicom.dcmread(io.BytesIO(ybr)).pixel_array  # pydicom converts to RGB
    assert rgb.shape == ref.shape and np.abs(rgb.astype(int) - ref.astype(int)).max() <= 1
    r = client.get(url_of(mono1) + "/rendered", params={"window": "40,400"}, headers={"Accept": "image/png"})
    got = np.asarray(Image.open(io.BytesIO(r.content))).astype(int)
    ds = pydicom.dcmread(io.BytesIO(mono1))
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    ref = 255 - np.rint(voi_window(hu, Window(40, 400))).astype(int)
    assert np.abs(got - ref).max() <= 1


def test_wado_uri(client) -> None:  # type: ignore[no-untyped-def]
    study, series = generate_uid(), generate_uid()
    data = relabel(TS_DIR / "9.dcm", study, series)
    store(client, [data])
    ds = pydicom.dcmread(io.BytesIO(data))
    q = {"requestType": "WADO", "studyUID": study, "seriesUID": series, "objectUID": ds.SOPInstanceUID}
    r = client.get("/wado", params=q)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    r = client.get(
        "/wado",
        params={
            **q,
            "contentType": "image/png",
            "windowCenter": "300",
            "windowWidth": "600",
            "rows": "64",
            "columns": "64",
            "frameNumber": "1",
        },
    )
    assert Image.open(io.BytesIO(r.content)).size == (64, 64)
    r = client.get("/wado", params={**q, "contentType": "application/dicom"})
    assert r.content == data
    r = client.get("/wado", params={**q, "contentType": "application/dicom", "transferSyntax": "1.2.840.10008.1.2.5"})
    back = pydicom.dcmread(io.BytesIO(r.content))
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"
    assert np.array_equal(back.pixel_array, ds.pixel_array)
    bad = client.get("/wado", params={**q, "requestType": "X"})
    assert bad.status_code == 400 and "requestType" in bad.json()["error"]
    bad = client.get("/wado", params={**q, "windowCenter": "abc", "windowWidth": "3"})
    assert bad.status_code == 400 and "windowCenter" in bad.json()["error"]


def test_bad_input_is_named_and_server_keeps_serving(client) -> None:  # type: ignore[no-untyped-def]
    study, series = generate_uid(), generate_uid()
    good = relabel(TS_DIR / "5.dcm", study, series, 1)
    ds = pydicom.dcmread(TS_DIR / "5.dcm")
    fragments = list(pydicom.encaps.generate_fragments(ds.PixelData))
    broken = bytearray(fragments[0])
    broken[len(broken) // 3 : len(broken) // 3 + 400] = b"\x00" * 400  # corrupt the entropy-coded data
    ds.PixelData = pydicom.encaps.encapsulate([bytes(broken[:200]) + b"\xff\xd9"])
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    corrupt = buf.getvalue()
    store(client, [good, corrupt])
    r = client.get(url_of(corrupt) + "/rendered")
    assert r.status_code == 422 and ds.SOPInstanceUID in r.json()["error"]
    assert client.get(url_of(good) + "/rendered").status_code == 200
    r = client.get(url_of(good) + "/frames/2/rendered")
    assert r.status_code == 404 and "frame 2" in r.json()["error"]
    for value, name in (("abc,1", "window"), ("40,0", "window"), ("40,400,cubic", "window")):
        r = client.get(url_of(good) + "/rendered", params={"window": value})
        assert r.status_code == 400 and r.json()["error"].startswith(name), r.text
    r = client.get(url_of(good) + "/rendered", params={"viewport": "0,10"})
    assert r.status_code == 400 and "viewport" in r.json()["error"]
    r = client.get(url_of(good) + "/rendered", params={"quality": "101"})
    assert r.status_code == 400 and "quality" in r.json()["error"]
    r = client.get(url_of(good) + "/rendered", headers={"Accept": "image/webp"})
    assert r.status_code == 406
    r = client.get(
        url_of(good) + "/frames/1",
        headers={"Accept": "multipart/related; type=application/octet-stream; transfer-syntax=1.2.3.4"},
    )
    assert r.status_code == 406


FRAME_ACCEPT = 'multipart/related; type="{}"; transfer-syntax={}'
TARGETS = [
    ("application/octet-stream", "1.2.840.10008.1.2.1"),
    ("image/jpeg", "1.2.840.10008.1.2.4.70"),
    ("image/jls", "1.2.840.10008.1.2.4.80"),
    ("image/jp2", "1.2.840.10008.1.2.4.90"),
    ("image/dicom-rle", "1.2.840.10008.1.2.5"),
]


@pytest.mark.parametrize("name", ["2.dcm", "3.dcm", "7.dcm", "9.dcm"])
def test_frames_transcode_round_trip(client, name: str) -> None:  # type: ignore[no-untyped-def]
    study, series = generate_uid(), generate_uid()
    data = relabel(TS_DIR / name, study, series)
    store(client, [data])
    ref = pydicom.dcmread(io.BytesIO(data)).pixel_array
    desc = PixelDescription.from_dataset(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True))
    for media, ts in TARGETS:
        r = client.get(url_of(data) + "/frames/1", headers={"Accept": FRAME_ACCEPT.format(media, ts)})
        assert r.status_code == 200, (media, ts, r.text)
        [(headers, body)] = split_multipart(r.headers["content-type"], r.content)
        assert headers["content-type"].startswith(media) and ts in headers["content-type"]
        arr, _ = decode_frame(body, desc.with_syntax(ts))
        assert np.array_equal(arr, ref), (name, ts)
    r = client.get(url_of(data) + "/frames/1", headers={"Accept": FRAME_ACCEPT.format("*/*", "*")})
    assert r.status_code == 200


def test_instance_retrieve_transcodes(client) -> None:  # type: ignore[no-untyped-def]
    study, series = generate_uid(), generate_uid()
    data = relabel(TS_DIR / "8.dcm", study, series)
    store(client, [data])
    r = client.get(
        url_of(data),
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.90'},
    )
    assert r.status_code == 200, r.text
    [(headers, body)] = split_multipart(r.headers["content-type"], r.content)
    back = pydicom.dcmread(io.BytesIO(body))
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
    assert np.array_equal(back.pixel_array, pydicom.dcmread(io.BytesIO(data)).pixel_array)
    r = client.get(
        url_of(data),
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.100'},
    )
    assert r.status_code == 406
    # 32-bit dose data cannot become JPEG-LS: refused with a reason before any byte is streamed.
    dose = relabel(get_testdata_file("rtdose.dcm"), study, series, 2)
    store(client, [dose])
    r = client.get(
        url_of(dose),
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.80'},
    )
    assert r.status_code == 406 and "32-bit" in r.json()["error"]
    r = client.get(
        url_of(dose),
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.5'},
    )
    [(_, body)] = split_multipart(r.headers["content-type"], r.content)
    assert np.array_equal(pydicom.dcmread(io.BytesIO(body)).pixel_array, pydicom.dcmread(io.BytesIO(dose)).pixel_array)


def test_deflated_and_big_endian_instances_render_and_serve_frames(client) -> None:  # type: ignore[no-untyped-def]
    study, series = generate_uid(), generate_uid()
    deflated = relabel(get_testdata_file("image_dfl.dcm"), study, series, 1)
    big = relabel(TS_DIR / "3.dcm", study, series, 2)
    store(client, [deflated, big])
    for data in (deflated, big):
        ref = pydicom.dcmread(io.BytesIO(data)).pixel_array
        if data is big:  # (frames of deflated objects: ingest records no frame count for them yet)
            r = client.get(url_of(data) + "/frames/1", headers={"Accept": FRAME_ACCEPT.format("*/*", "*")})
            assert r.status_code == 200, r.text
            [(headers, body)] = split_multipart(r.headers["content-type"], r.content)
            assert "1.2.840.10008.1.2.1" in headers["content-type"]
            assert np.array_equal(np.frombuffer(body, ref.dtype.newbyteorder("<")).reshape(ref.shape), ref)
        r = client.get(url_of(data) + "/rendered", headers={"Accept": "image/png"})
        assert r.status_code == 200
        assert np.asarray(Image.open(io.BytesIO(r.content))).shape == ref.shape


def test_multiframe_rendered_thumbnail_and_single_frame_decode(client) -> None:  # type: ignore[no-untyped-def]
    """30-frame JPEG: every frame but #15 is corrupt; frame 15 and the thumbnail (middle frame) still work."""
    study, series = generate_uid(), generate_uid()
    ds = pydicom.dcmread(get_testdata_file("examples_ybr_color.dcm"))
    ref = ds.pixel_array
    frames = [b"".join(f) for f in pydicom.encaps.generate_fragmented_frames(ds.PixelData, number_of_frames=30)]
    broken = [f if i == 14 else f[:100] + b"\x00" * 50 + b"\xff\xd9" for i, f in enumerate(frames)]
    ds.PixelData = pydicom.encaps.encapsulate(broken, has_bot=True)
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    store(client, [data])
    r = client.get(url_of(data) + "/frames/15/rendered", headers={"Accept": "image/png"})
    assert r.status_code == 200
    assert np.abs(np.asarray(Image.open(io.BytesIO(r.content))).astype(int) - ref[14].astype(int)).max() <= 1
    t = client.get(url_of(data) + "/thumbnail", params={"viewport": "320,240"}, headers={"Accept": "image/png"})
    assert t.status_code == 200  # the middle frame of 30: (30 + 1) // 2 = 15
    got = np.asarray(Image.open(io.BytesIO(t.content))).astype(int)
    assert np.abs(got - ref[14].astype(int)).max() <= 1
    r = client.get(url_of(data) + "/frames/3/rendered")
    assert r.status_code == 422 and "frame 3" in r.json()["error"]
    r = client.get(url_of(data) + "/frames/15/rendered")
    assert r.status_code == 200  # the server keeps serving after the failure
    r = client.get(url_of(data) + "/frames/31/rendered")
    assert r.status_code == 404


def test_frame_list_rendered_is_multipart(client) -> None:  # type: ignore[no-untyped-def]
    study, series = generate_uid(), generate_uid()
    data = relabel(get_testdata_file("SC_rgb_rle_2frame.dcm"), study, series)
    store(client, [data])
    r = client.get(url_of(data) + "/frames/1,2/rendered", headers={"Accept": "image/png"})
    parts = split_multipart(r.headers["content-type"], r.content)
    ref = pydicom.dcmread(io.BytesIO(data)).pixel_array
    assert len(parts) == 2
    for (_, body), frame in zip(parts, ref, strict=True):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(body))), frame)
    whole = client.get(url_of(data) + "/rendered")
    assert len(split_multipart(whole.headers["content-type"], whole.content)) == 2
    gif = client.get(url_of(data) + "/rendered", headers={"Accept": "image/gif"})
    assert gif.headers["content-type"] == "image/gif"
    animation = Image.open(io.BytesIO(gif.content))
    assert getattr(animation, "n_frames", 1) == 2
    r = client.get(
        url_of(data) + "/frames/1", headers={"Accept": FRAME_ACCEPT.format("image/jphc", "1.2.840.10008.1.2.4.201")}
    )
    assert r.status_code == 200
    [(_, body)] = split_multipart(r.headers["content-type"], r.content)
    desc = PixelDescription.from_dataset(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True))
    back, _ = decode_frame(body, desc.with_syntax("1.2.840.10008.1.2.4.201"))
    assert np.array_equal(back, ref[0])


def test_native_frames_render_in_the_pool_others_in_a_thread(client) -> None:  # type: ignore[no-untyped-def]
    stats = client.app.state.ctx.memory.pixels
    study, series = generate_uid(), generate_uid()
    native = relabel(get_testdata_file("CT_small.dcm"), study, series, 1)  # 128x128 explicit VR LE
    compressed = relabel(TS_DIR / "7.dcm", study, series, 2)  # JPEG-LS: decoded in a worker thread
    store(client, [native, compressed])
    r = client.get(url_of(native) + "/frames/1/rendered", params={"window": "40,400"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    ds = pydicom.dcmread(io.BytesIO(native))
    assert Image.open(io.BytesIO(r.content)).size == (ds.Columns, ds.Rows)
    assert (stats.renders_pooled, stats.renders_threaded) == (1, 0)  # rendered in the render pool
    r = client.get(url_of(compressed) + "/frames/1/rendered", params={"window": "40,400"})
    assert r.status_code == 200
    assert (stats.renders_pooled, stats.renders_threaded) == (1, 1)  # decoded in a worker thread


def test_first_read_parses_the_header_in_the_render_worker(client) -> None:  # type: ignore[no-untyped-def]
    """A viewer opening a series asks for every instance once: the header of a native instance is
    parsed in the render worker, not in the server process, and the image is the same as the one the
    general path (header parsed here) renders."""
    caches = client.app.state.ctx.memory.pixels
    study, series = generate_uid(), generate_uid()
    mono1 = relabel(get_testdata_file("CT_small.dcm"), study, series, 1, PhotometricInterpretation="MONOCHROME1")
    multi = relabel(get_testdata_file("rtdose.dcm"), study, series, 2)  # 15 native frames, 32-bit implicit VR
    store(client, [mono1, multi])
    cases = [(mono1, "/rendered", {}), (mono1, "/frames/1/rendered", {"window": "40,400"}),
             (multi, "/frames/3/rendered", {"window": "0.5,1,linear-exact"}), (multi, "/frames/15/rendered", {})]
    first = []
    for data, tail, params in cases:
        r = client.get(url_of(data) + tail, params=params, headers={"Accept": "image/png"})
        assert r.status_code == 200, r.text
        first.append((r.content, r.headers["etag"]))
    pooled = caches.renders_pooled
    assert pooled == len(cases) and caches.renders_threaded == 0
    assert len(caches.headers) == 0  # no header was parsed in this process
    # A frame beyond the instance's count is still the general path's 404.
    assert client.get(url_of(multi) + "/frames/16/rendered").status_code == 404
    # Headers parsed here (a thumbnail parses them), outputs forgotten: the general path renders the same.
    for data in (mono1, multi):
        assert client.get(url_of(data) + "/thumbnail").status_code == 200
    assert len(caches.headers) == 2
    caches.outputs.clear()
    for (data, tail, params), (body, etag) in zip(cases, first, strict=True):
        r = client.get(url_of(data) + tail, params=params, headers={"Accept": "image/png"})
        assert r.headers["etag"] == etag
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(r.content))), np.asarray(Image.open(io.BytesIO(body))))
    mono = pydicom.dcmread(io.BytesIO(mono1))
    hu = mono.pixel_array * float(mono.RescaleSlope) + float(mono.RescaleIntercept)
    got = np.asarray(Image.open(io.BytesIO(first[1][0]))).astype(int)
    assert np.abs(got - (255 - np.rint(voi_window(hu, Window(40, 400))).astype(int))).max() <= 1


def test_render_workers_start_with_the_server(sqlite_url: str, settings_factory) -> None:  # type: ignore[no-untyped-def]
    """``render_prewarm`` (the default of ``cirrus serve``): every render worker is running before
    the first rendered request, which then pays no process start-up."""
    app = create_app(settings_factory(sqlite_url, render_prewarm=True, render_processes=2))
    with authed_client(app) as c:
        renderer = c.app.state.ctx.renderer
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if len(set(renderer.live_workers())) == 2:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the render workers did not start with the server")
        assert renderer.batches == 0  # started before, and without, any rendering
        # The warm pool renders: the first request goes to a started worker.
        native = relabel(get_testdata_file("CT_small.dcm"), generate_uid(), generate_uid())
        store(c, [native])
        r = c.get(url_of(native) + "/rendered", headers={"Accept": "image/png"})
        assert r.status_code == 200 and renderer.batches == 1


def test_render_workers_start_on_demand_when_not_prewarmed(sqlite_client) -> None:  # type: ignore[no-untyped-def]
    assert not sqlite_client.app.state.ctx.renderer.started


def test_a_render_worker_that_dies_is_replaced(client) -> None:  # type: ignore[no-untyped-def]
    """Every render worker killed: the requests that meet a dead one fail alone with a named 422,
    fresh workers take their place, and rendering goes on."""
    renderer = client.app.state.ctx.renderer
    study, series = generate_uid(), generate_uid()
    parts = [relabel(get_testdata_file("CT_small.dcm"), study, series, n) for n in range(1, 6)]
    store(client, parts)
    assert client.get(url_of(parts[0]) + "/rendered").status_code == 200
    dead = renderer.live_workers()
    assert len(dead) == renderer.processes
    for pid in dead:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(pid in renderer.live_workers() for pid in dead) and time.monotonic() < deadline:
        time.sleep(0.05)
    answers = []
    for data in parts[1:] * 2:
        r = client.get(url_of(data) + "/rendered")
        answers.append(r.status_code)
        if r.status_code != 200:
            assert r.status_code == 422 and "renderer" in r.text, r.text
    assert answers.count(422) <= renderer.processes and answers[-1] == 200
    deadline = time.monotonic() + 30
    while len(renderer.live_workers()) < renderer.processes and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(renderer.live_workers()) == renderer.processes
    assert not set(renderer.live_workers()) & set(dead)
