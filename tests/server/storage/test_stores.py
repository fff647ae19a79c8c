"""One contract for every blob store: the same tests on the filesystem and on a real S3 server.

The S3 store talks to moto's standalone server process (``tests/s3_fixtures.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server.storage import BlobNotFound, BlobStore, open_store
from server.storage.fs import FileBlobStore
from server.storage.s3 import S3BlobStore, StorageConfigError, parse_s3_url
from tests.conftest import LiveServer, live_server_env
from tests.s3_fixtures import S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY, new_bucket, s3_admin_client, s3_env

MiB = 1024 * 1024


def make_s3(endpoint: str, bucket: str, prefix: str = "", **kwargs: object) -> S3BlobStore:
    return S3BlobStore(
        bucket,
        prefix,
        endpoint_url=endpoint,
        access_key=S3_ACCESS_KEY,
        secret_key=S3_SECRET_KEY,
        region=S3_REGION,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["fs", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "fs":
        blob_store: BlobStore = FileBlobStore(tmp_path / "blobs")
    else:
        endpoint = request.getfixturevalue("s3_server")
        # A key prefix, a small multipart threshold and tiny list pages exercise those paths.
        blob_store = make_s3(
            endpoint,
            new_bucket(endpoint),
            "cirrus/blobs",
            multipart_threshold=6 * MiB,
            part_size=5 * MiB,
            list_page_size=3,
        )
    try:
        yield blob_store
    finally:
        await blob_store.close()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def payload(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


async def test_round_trip(store: BlobStore, tmp_path: Path) -> None:
    data = payload(300_001)
    await store.put_file("studies/1.2.3/series/4/5.dcm", write(tmp_path, "a", data))
    assert await store.exists("studies/1.2.3/series/4/5.dcm")
    assert await store.get_bytes("studies/1.2.3/series/4/5.dcm") == data
    chunks = [c async for c in store.iter_bytes("studies/1.2.3/series/4/5.dcm", chunk_size=65_536)]
    assert b"".join(chunks) == data
    assert len(chunks) >= 2
    assert max(len(c) for c in chunks) <= 65_536


async def test_ranged_reads(store: BlobStore, tmp_path: Path) -> None:
    data = payload(1_000_000, seed=2)
    await store.put_file("obj", write(tmp_path, "a", data))
    ranges = [
        (500_000, 1000),  # out of order on purpose
        (0, 10),
        (10, 20),  # adjacent to the previous one
        (5, 10),  # overlapping
        (999_999, 1),  # the last byte
        (123_456, 0),  # zero length
        (200_000, 300_000),  # large
        (900_000, 100_000),  # up to the end exactly
    ]
    got = await store.get_ranges("obj", ranges)
    assert got == [data[o : o + n] for o, n in ranges]
    assert await store.get_range("obj", 999_999, 1) == data[-1:]
    assert await store.get_range("obj", 42, 0) == b""
    assert await store.get_range("obj", 0, len(data)) == data
    assert await store.get_ranges("obj", []) == []


async def test_reads_past_the_end_are_short(store: BlobStore, tmp_path: Path) -> None:
    data = payload(1000, seed=3)
    await store.put_file("obj", write(tmp_path, "a", data))
    assert await store.get_range("obj", 990, 100) == data[990:]
    assert await store.get_range("obj", 5000, 10) == b""


async def test_large_object(store: BlobStore, tmp_path: Path) -> None:
    data = payload(12 * MiB + 12_345, seed=4)
    await store.put_file("big", write(tmp_path, "big", data))
    got = await store.get_bytes("big")
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    parts = await store.get_ranges("big", [(5 * MiB - 10, 20), (len(data) - 7, 7), (0, 3)])
    assert parts == [data[5 * MiB - 10 : 5 * MiB + 10], data[-7:], data[:3]]
    streamed = hashlib.sha256()
    async for chunk in store.iter_bytes("big"):
        streamed.update(chunk)
    assert streamed.digest() == hashlib.sha256(data).digest()


async def test_missing_key(store: BlobStore) -> None:
    assert not await store.exists("nope")
    with pytest.raises(BlobNotFound):
        await store.get_bytes("nope")
    with pytest.raises(BlobNotFound):
        await store.get_range("nope", 0, 10)
    with pytest.raises(BlobNotFound):
        await store.get_ranges("nope", [(0, 1), (5, 5)])
    with pytest.raises(BlobNotFound):
        await store.get_range("nope", 0, 0)
    with pytest.raises(BlobNotFound):
        async for _ in store.iter_bytes("nope"):
            pass


async def test_delete_is_idempotent(store: BlobStore, tmp_path: Path) -> None:
    await store.put_file("a/b", write(tmp_path, "a", b"x" * 100))
    await store.put_file("a/c", write(tmp_path, "c", b"y" * 100))
    await store.delete("a/b")
    assert not await store.exists("a/b")
    await store.delete("a/b")
    await store.delete("never/existed")
    assert await store.get_bytes("a/c") == b"y" * 100
    with pytest.raises(BlobNotFound):
        await store.get_bytes("a/b")


async def test_list_with_prefix(store: BlobStore, tmp_path: Path) -> None:
    keys = ["s/1/a", "s/1/b", "s/1/c/d", "s/10/a", "s/2/a", "t/x", "top"]
    src = write(tmp_path, "src", b"k")
    for key in keys:
        await store.put_file(key, src)
    assert sorted([k async for k in store.list_keys()]) == sorted(keys)
    assert sorted([k async for k in store.list_keys("s/1/")]) == ["s/1/a", "s/1/b", "s/1/c/d"]
    assert sorted([k async for k in store.list_keys("s/1")]) == ["s/1/a", "s/1/b", "s/1/c/d", "s/10/a"]
    assert [k async for k in store.list_keys("none/")] == []


async def test_concurrent_puts(store: BlobStore, tmp_path: Path) -> None:
    datas = {f"c/{i:03d}": payload(50_000 + i, seed=i) for i in range(24)}
    paths = {key: write(tmp_path, key.replace("/", "_"), data) for key, data in datas.items()}
    await asyncio.gather(*(store.put_file(key, paths[key]) for key in datas))
    # The same immutable object stored twice at once is fine too.
    await asyncio.gather(*(store.put_file("c/000", paths["c/000"]) for _ in range(4)))
    got = await asyncio.gather(*(store.get_bytes(key) for key in datas))
    assert dict(zip(datas, got, strict=True)) == datas
    assert sorted([k async for k in store.list_keys("c/")]) == sorted(datas)


@pytest.mark.parametrize("key", ["/abs", "a/../b", ".."])
async def test_invalid_keys_are_refused(store: BlobStore, tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        await store.put_file(key, write(tmp_path, "a", b"1"))


# -- S3 specifics -------------------------------------------------------------------------------


async def test_s3_large_object_uses_multipart_and_prefix(s3_server: str, tmp_path: Path) -> None:
    bucket = new_bucket(s3_server)
    store = make_s3(s3_server, bucket, "pre/fix", multipart_threshold=6 * MiB, part_size=5 * MiB)
    try:
        data = payload(12 * MiB, seed=9)
        await store.put_file("big", write(tmp_path, "big", data))
        await store.put_file("small", write(tmp_path, "small", b"abc"))
    finally:
        await store.close()
    admin = s3_admin_client(s3_server)
    # A multipart object's ETag ends in -<number of parts>: 12 MiB in 5 MiB parts is 3.
    assert admin.head_object(Bucket=bucket, Key="pre/fix/big")["ETag"].strip('"').endswith("-3")
    assert "-" not in admin.head_object(Bucket=bucket, Key="pre/fix/small")["ETag"]
    listed = admin.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == ["pre/fix/big", "pre/fix/small"]
    assert not admin.list_multipart_uploads(Bucket=bucket).get("Uploads")


async def test_s3_failed_multipart_leaves_nothing(s3_server: str, tmp_path: Path) -> None:
    """A multipart upload the server refuses is aborted: no object, no pending upload."""
    from botocore.exceptions import ClientError

    bucket = new_bucket(s3_server)
    store = make_s3(s3_server, bucket, multipart_threshold=6 * MiB, part_size=5 * MiB)
    store.part_size = 1 * MiB  # below S3's 5 MiB minimum: the server rejects the completion
    try:
        with pytest.raises(ClientError, match="EntityTooSmall"):
            await store.put_file("big", write(tmp_path, "big", payload(7 * MiB, seed=5)))
        assert not await store.exists("big")
    finally:
        await store.close()
    admin = s3_admin_client(s3_server)
    assert not admin.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert not admin.list_objects_v2(Bucket=bucket).get("Contents")


async def test_s3_missing_bucket_is_a_clear_error_or_created(s3_server: str, tmp_path: Path) -> None:
    name = f"cirrus-missing-{os.getpid()}-{random.randrange(1 << 30)}"
    store = make_s3(s3_server, name)
    with pytest.raises(StorageConfigError, match=name):
        await store.exists("x")
    await store.close()
    store = make_s3(s3_server, name, create_bucket=True)
    try:
        await store.put_file("x", write(tmp_path, "x", b"data"))
        assert await store.get_bytes("x") == b"data"
    finally:
        await store.close()


def test_s3_url_parsing_and_open_store(s3_server: str, settings_factory) -> None:  # type: ignore[no-untyped-def]
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    assert parse_s3_url("s3://bucket/a/b/") == ("bucket", "a/b")
    with pytest.raises(ValueError, match="names no bucket"):
        parse_s3_url("s3:///prefix")
    settings = settings_factory(
        "sqlite+aiosqlite:///unused.db",
        storage_url="s3://b1/p",
        s3_endpoint_url=s3_server,
        s3_create_bucket=True,
    )
    store = open_store(settings)
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix, store.endpoint_url, store.create_bucket) == (
        "b1",
        "p",
        s3_server,
        True,
    )


def test_cirrus_serve_runs_on_s3(s3_server: str, sqlite_url: str, tmp_path: Path, shared_data: Path) -> None:
    """A real ``cirrus serve`` process configured for S3 starts, stores into the bucket and reads back."""
    import pydicom

    data_dir = tmp_path / "live-s3"
    data_dir.mkdir()
    bucket = new_bucket(s3_server)
    env = live_server_env(sqlite_url, data_dir, **s3_env(s3_server, bucket, "cirrus"))
    server = LiveServer(env, data_dir).start()
    source = shared_data / "transfer-syntaxes" / "1.dcm"
    ds = pydicom.dcmread(source)
    try:
        r = httpx.get(server.url + "/", timeout=10)
        assert r.status_code == 200
        assert "Cirrus" in r.text
        r = httpx.post(
            server.dicomweb_url + "/studies",
            content=source.read_bytes(),
            headers={"Content-Type": "application/dicom", "Accept": "application/dicom+json", **server.headers},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        url = (
            f"{server.dicomweb_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}/frames/1"
        )
        accept = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
        r = httpx.get(url, headers={"Accept": accept, **server.headers}, timeout=10)
        assert r.status_code == 200
        assert ds.PixelData in r.content
    finally:
        server.stop()
    keys = [o["Key"] for o in s3_admin_client(s3_server).list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert len(keys) == 1 and keys[0].startswith("cirrus/")
    assert not (data_dir / "blobs").exists()  # nothing fell back to the filesystem store


async def test_assemble_puts_literals_and_ranges_in_one_buffer(store: BlobStore, tmp_path: Path) -> None:
    data = payload(700_000, seed=9)
    await store.put_file("obj", write(tmp_path, "a", data))
    pieces: list[bytes | tuple[int, int]] = [b"--head\r\n", (0, 10), (10, 5), b"", (600_000, 100_000), b"tail",
                                             (42, 0), (300, 1)]
    expected = b"--head\r\n" + data[:15] + data[600_000:] + b"tail" + data[300:301]
    assert bytes(await store.assemble("obj", pieces)) == expected
    assert bytes(await store.assemble("obj", [b"only literals"])) == b"only literals"
    with pytest.raises(BlobNotFound):
        await store.assemble("nope", [b"x", (0, 1)])
    # An index that promises more bytes than the object holds is an error, not a short answer.
    with pytest.raises(OSError, match="ends before byte 700001"):
        await store.assemble("obj", [(699_000, 1001)])


async def test_fs_assemble_reads_off_the_loop_when_the_page_cache_would_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    data = payload(300_000, seed=10)
    await store.put_file("obj", write(tmp_path, "a", data))
    real_preadv = os.preadv
    calls: list[tuple[int, str]] = []

    def preadv(fd: int, buffers: list[memoryview], offset: int, flags: int = 0) -> int:
        import threading

        calls.append((flags, threading.current_thread().name))
        if flags & os.RWF_NOWAIT:
            raise BlockingIOError("not cached")
        return real_preadv(fd, buffers, offset, flags)

    monkeypatch.setattr(os, "preadv", preadv)
    assert bytes(await store.assemble("obj", [b"h", (1000, 200_000)])) == b"h" + data[1000:201_000]
    main = calls[0][1]
    assert calls[0][0] & os.RWF_NOWAIT  # tried on the loop first ...
    assert calls[-1][0] == 0 and calls[-1][1] != main  # ... then read blocking in a worker thread

    # A filesystem that cannot answer "cached only" is not asked again.
    def unsupported(fd: int, buffers: list[memoryview], offset: int, flags: int = 0) -> int:
        if flags:
            raise OSError(95, "Operation not supported")
        return real_preadv(fd, buffers, offset, flags)

    monkeypatch.setattr(os, "preadv", unsupported)
    assert bytes(await store.assemble("obj", [(0, 10)])) == data[:10]
    assert store._nowait == 0


async def test_deferred_puts_are_readable_and_made_durable_by_sync(store: BlobStore, tmp_path: Path) -> None:
    await store.put_bytes("d/a", b"first", durable=False)
    await store.put_file("d/b", write(tmp_path, "b", b"second"), durable=False)
    await store.sync(["d/a", "d/b"])
    assert await store.get_bytes("d/a") == b"first"
    assert await store.get_bytes("d/b") == b"second"


async def test_fs_sync_fsyncs_each_object_and_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    await store.put_bytes("s/x/1", b"1", durable=False)
    await store.put_bytes("s/y/2", b"2", durable=False)
    assert synced == []  # deferred: nothing forced to disk yet
    await store.sync(["s/x/1", "s/y/2"])
    root = (tmp_path / "blobs").resolve()
    assert sorted(synced) == sorted(str(root / p) for p in ("s/x/1", "s/y/2", "s/x", "s/y"))
    synced.clear()
    await store.put_bytes("s/x/3", b"3")  # durable: the file and its folder at once
    [data_file, folder] = synced  # the temp file before its rename, then the folder holding the rename
    assert data_file.startswith(str(root / "s/x/3.")) and data_file.endswith(".part")
    assert folder == str(root / "s/x")
