"""STOW-RS client of the gateway: one multipart request per batch, its body streamed from the spool.

The body is ``multipart/related; type="application/dicom"`` (PS3.18 §10.5.1.2) with each part
read from its spool file in chunks, so a batch never sits in memory; its length is known in
advance and sent as Content-Length. An optional bandwidth limit paces the chunks.

The answer is classified per instance (PS3.18 §10.5.3, Store Instances Response):

- in ReferencedSOPSequence: stored (a warning still counts as stored);
- in FailedSOPSequence: failed permanently with its FailureReason (and TextValue if given);
- connection errors, timeouts, 408, 429 and 5xx: the link or the cloud is not available —
  the whole batch is retried later;
- any other 4xx (bad token, forbidden, too large, ...): every instance fails with that status.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pydicom

from dicomweb.stow import FailureReason
from server.gateway.spool import SpooledInstance

CHUNK = 64 * 1024
TRANSIENT_STATUS = {408, 425, 429}


@dataclass
class StowResult:
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # SOP Instance UID -> reason
    retry_reason: str = ""  # set: nothing decided, send the batch again later


class _Body:
    def __init__(self, batch: list[SpooledInstance], bytes_per_second: int) -> None:
        self.batch = batch
        self.boundary = uuid.uuid4().hex
        self.rate = bytes_per_second
        self._heads = [f"--{self.boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() for _ in batch]
        self._tail = f"--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f'multipart/related; type="application/dicom"; boundary={self.boundary}'

    @property
    def length(self) -> int:
        return sum(len(h) + item.size + 2 for h, item in zip(self._heads, self.batch, strict=True)) + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        started, sent = time.monotonic(), 0
        for head, item in zip(self._heads, self.batch, strict=True):
            yield head
            with open(item.path, "rb") as f:
                while chunk := f.read(CHUNK):
                    yield chunk
                    sent += len(chunk)
                    if self.rate:
                        ahead = sent / self.rate - (time.monotonic() - started)
                        if ahead > 0:
                            time.sleep(ahead)
            yield b"\r\n"
        yield self._tail


def _reason_text(code: int, text: str) -> str:
    try:
        name = FailureReason(code).name.lower().replace("_", " ")
    except ValueError:
        name = "failure"
    return f"{code:04X}H {name}" + (f": {text}" if text else "")


def _classify(response: httpx.Response, batch: list[SpooledInstance]) -> StowResult:
    result = StowResult()
    sops = [item.sop_instance_uid for item in batch]
    status = response.status_code
    if status >= 500 or status in TRANSIENT_STATUS:
        result.retry_reason = f"HTTP {status} from the cloud"
        return result
    body = None
    if status in (200, 202, 409):
        try:
            body = pydicom.Dataset.from_json(response.json())
        except Exception:
            body = None
    if body is None:
        detail = response.text.strip().replace("\n", " ")[:200]
        why = f"HTTP {status}" + (f": {detail}" if detail else "")
        result.failed = dict.fromkeys(sops, why)
        return result
    stored = {str(item.get("ReferencedSOPInstanceUID", "")) for item in body.get("ReferencedSOPSequence", [])}
    refused = {
        str(item.get("ReferencedSOPInstanceUID", "")): _reason_text(
            int(item.get("FailureReason", FailureReason.PROCESSING_FAILURE)), str(item.get("TextValue", "")))
        for item in body.get("FailedSOPSequence", [])
    }
    for sop in sops:
        if sop in stored:
            result.sent.append(sop)
        else:
            result.failed[sop] = refused.get(sop, f"HTTP {status}: missing from the STOW-RS response")
    return result


class StowClient:
    def __init__(self, target_url: str, token: str, *, timeout: float, bytes_per_second: int = 0) -> None:
        self.url = target_url.rstrip("/") + "/studies"
        headers = {"Accept": "application/dicom+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.rate = bytes_per_second
        self.http = httpx.Client(headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def send(self, batch: list[SpooledInstance]) -> StowResult:
        body = _Body(batch, self.rate)
        try:
            response = self.http.post(
                self.url, content=iter(body),
                headers={"Content-Type": body.content_type, "Content-Length": str(body.length)},
            )
        except httpx.TransportError as exc:
            return StowResult(retry_reason=f"link down: {type(exc).__name__}: {exc}".strip())
        except OSError as exc:  # a spool file vanished or cannot be read
            return StowResult(failed=dict.fromkeys([i.sop_instance_uid for i in batch], f"spool read: {exc}"))
        return _classify(response, batch)
