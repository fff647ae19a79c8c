"""S3-compatible blob store (AWS S3, MinIO, Alibaba OSS, moto) over aiobotocore.

One client per store, created lazily on first use inside the running event
loop and reused for every call, so its aiohttp connection pool stays warm.
Frame reads are ranged GETs (``Range: bytes=a-b``); several ranges of one
object run concurrently, and ranges that (nearly) touch are fetched with one
GET because a round trip costs far more than a few wasted bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from server.storage.base import BlobNotFound, Piece, assemble_from_ranges

if TYPE_CHECKING:
    from server.settings import Settings

__all__ = ["S3BlobStore", "StorageConfigError", "parse_s3_url"]

T = TypeVar("T")

_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}
MiB = 1024 * 1024


class StorageConfigError(RuntimeError):
    """The configured object store cannot be used as set up (e.g. its bucket is missing)."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket[/prefix]`` → (bucket, prefix without slashes at the ends)."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// storage URL: {url!r}")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"storage URL {url!r} names no bucket (expected s3://bucket[/prefix])")
    return bucket, prefix.strip("/")


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _merge_ranges(ranges: list[tuple[int, int]], max_gap: int, max_span: int) -> list[tuple[int, int]]:
    """Spans (offset, end exclusive) covering the non-empty ranges, joining near neighbours."""
    spans: list[tuple[int, int]] = []
    for offset, length in sorted((o, n) for o, n in ranges if n > 0):
        end = offset + length
        if spans:
            start, last_end = spans[-1]
            if offset - last_end <= max_gap and max(end, last_end) - start <= max_span:
                spans[-1] = (start, max(end, last_end))
                continue
        spans.append((offset, end))
    return spans


class S3BlobStore:
    """The ``BlobStore`` Protocol on one bucket (optionally under a key prefix)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        create_bucket: bool = False,
        multipart_threshold: int = 16 * MiB,
        part_size: int = 8 * MiB,
        max_concurrency: int = 8,
        max_pool_connections: int = 64,
        list_page_size: int = 1000,
    ) -> None:
        if part_size < 5 * MiB:
            raise ValueError("S3 multipart parts must be at least 5 MiB")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url or None
        self.region = region
        self.create_bucket = create_bucket
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.max_concurrency = max_concurrency
        self.list_page_size = list_page_size
        self._access_key = access_key or None
        self._secret_key = secret_key or None
        self._config = AioConfig(
            region_name=region,
            max_pool_connections=max_pool_connections,
            retries={"max_attempts": 4, "mode": "standard"},
            # Custom endpoints (MinIO, moto, OSS) are reached by path, not by bucket subdomain.
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
            # Newer botocore adds CRC checksums to every PUT; several S3-compatible stores reject them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock: asyncio.Lock | None = None

    @classmethod
    def from_settings(cls, url: str, settings: Settings) -> S3BlobStore:
        bucket, prefix = parse_s3_url(url)
        return cls(
            bucket,
            prefix,
            endpoint_url=settings.s3_endpoint_url or None,
            access_key=settings.s3_access_key or None,
            secret_key=settings.s3_secret_key or None,
            region=settings.s3_region or "us-east-1",
            create_bucket=bool(getattr(settings, "s3_create_bucket", False)),
        )

    def __repr__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"S3BlobStore(s3://{self.bucket}/{self.prefix}{where})"

    # -- client ---------------------------------------------------------------------------------

    async def _get_client(self) -> Any:
        if self._client is not None:
            return self._client
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._client is None:
                stack = contextlib.AsyncExitStack()
                client = await stack.enter_async_context(
                    get_session().create_client(
                        "s3",
                        endpoint_url=self.endpoint_url,
                        aws_access_key_id=self._access_key,
                        aws_secret_access_key=self._secret_key,
                        config=self._config,
                    )
                )
                try:
                    await self._check_bucket(client)
                except BaseException:
                    await stack.aclose()
                    raise
                self._stack, self._client = stack, client
        return self._client

    async def _check_bucket(self, client: Any) -> None:
        """Fail once with a clear message (not on every call) if the bucket is missing."""
        try:
            await client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                raise
            if not self.create_bucket:
                raise StorageConfigError(
                    f"S3 bucket {self.bucket!r} does not exist at {self.endpoint_url or 'AWS'}; "
                    "create it or set CIRRUS_S3_CREATE_BUCKET=true"
                ) from exc
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            await client.create_bucket(**kwargs)
        except ClientError as exc:
            if _error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    # -- keys -----------------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _call(self, key: str, op: Awaitable[T]) -> T:
        try:
            return await op
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise BlobNotFound(key) from exc
            raise

    # -- writes ---------------------------------------------------------------------------------

    async def sync(self, keys: Sequence[str]) -> None:
        return None  # an S3 PUT is durable when it is answered

    async def put_bytes(self, key: str, data: bytes, durable: bool = True) -> None:
        client = await self._get_client()
        await client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    async def put_file(self, key: str, path: Path, durable: bool = True) -> None:
        client = await self._get_client()
        full = self._key(key)
        size = os.path.getsize(path)
        if size <= self.multipart_threshold:
            body = await asyncio.to_thread(Path(path).read_bytes)
            await client.put_object(Bucket=self.bucket, Key=full, Body=body)
            return
        await self._put_multipart(client, full, Path(path), size)

    async def _put_multipart(self, client: Any, full: str, path: Path, size: int) -> None:
        upload = await client.create_multipart_upload(Bucket=self.bucket, Key=full)
        upload_id = upload["UploadId"]
        limit = asyncio.Semaphore(max(1, self.max_concurrency // 2))

        def read_part(offset: int) -> bytes:
            with open(path, "rb") as f:
                f.seek(offset)
                return f.read(self.part_size)

        async def send(number: int, offset: int) -> dict[str, Any]:
            async with limit:  # bounds memory too: at most this many parts are held at once
                data = await asyncio.to_thread(read_part, offset)
                resp = await client.upload_part(
                    Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumber=number, Body=data
                )
                return {"PartNumber": number, "ETag": resp["ETag"]}

        offsets = range(0, size, self.part_size)
        tasks = [asyncio.ensure_future(send(i + 1, off)) for i, off in enumerate(offsets)]
        try:
            try:
                parts = await asyncio.gather(*tasks)
            except BaseException:
                # One part failed: stop the others before aborting, so no part lands after the abort.
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
            await client.complete_multipart_upload(
                Bucket=self.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": list(parts)}
            )
        except BaseException:
            # Nothing becomes visible without complete_multipart_upload; abort frees the parts.
            with contextlib.suppress(Exception):
                await asyncio.shield(client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id))
            raise

    async def delete(self, key: str) -> None:
        client = await self._get_client()
        try:
            await client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _error_code(exc) not in _NOT_FOUND_CODES:
                raise

    # -- reads ----------------------------------------------------------------------------------

    async def _get(self, client: Any, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of an object; past the end yields what exists (like ``pread``)."""
        try:
            resp = await client.get_object(Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end - 1}")
        except ClientError as exc:
            code = _error_code(exc)
            if code in _NOT_FOUND_CODES:
                raise BlobNotFound(key) from exc
            if code == "InvalidRange":
                return b""
            raise
        async with resp["Body"] as body:
            return bytes(await body.read())

    async def get_range(self, key: str, offset: int, length: int) -> bytes:
        return (await self.get_ranges(key, [(offset, length)]))[0]

    async def assemble(self, key: str, pieces: Sequence[Piece]) -> bytes:
        return await assemble_from_ranges(self, key, pieces)

    async def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        client = await self._get_client()
        for offset, length in ranges:
            if offset < 0 or length < 0:
                raise ValueError(f"invalid byte range offset={offset} length={length}")
        spans = _merge_ranges(ranges, max_gap=64 * 1024, max_span=4 * MiB)
        if not spans:
            # Only empty ranges: still report a missing object, as the filesystem store does.
            if not await self.exists(key):
                raise BlobNotFound(key)
            return [b"" for _ in ranges]
        limit = asyncio.Semaphore(self.max_concurrency)

        async def fetch(span: tuple[int, int]) -> bytes:
            async with limit:
                return await self._get(client, key, *span)

        datas = await asyncio.gather(*(fetch(s) for s in spans))
        out: list[bytes] = []
        for offset, length in ranges:
            if length == 0:
                out.append(b"")
                continue
            for (start, end), data in zip(spans, datas, strict=True):
                if start <= offset and offset + length <= end:
                    out.append(data[offset - start : offset - start + length])
                    break
        return out

    async def iter_bytes(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        client = await self._get_client()
        resp = await self._call(key, client.get_object(Bucket=self.bucket, Key=self._key(key)))
        async with resp["Body"] as body:
            while True:
                chunk = await body.read(chunk_size)
                if not chunk:
                    break
                yield bytes(chunk)

    async def get_bytes(self, key: str) -> bytes:
        client = await self._get_client()
        resp = await self._call(key, client.get_object(Bucket=self.bucket, Key=self._key(key)))
        async with resp["Body"] as body:
            return bytes(await body.read())

    async def exists(self, key: str) -> bool:
        client = await self._get_client()
        try:
            await self._call(key, client.head_object(Bucket=self.bucket, Key=self._key(key)))
        except BlobNotFound:
            return False
        return True

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        client = await self._get_client()
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(
            Bucket=self.bucket, Prefix=base + prefix, PaginationConfig={"PageSize": self.list_page_size}
        ):
            for item in page.get("Contents", []):
                yield item["Key"][len(base) :]
