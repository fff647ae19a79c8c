"""multipart/related (RFC 2387) for DICOMweb: a push-style streaming decoder and an encoder.

The decoder never holds more than one chunk plus a boundary's worth of bytes:
it is fed chunks and emits events, so a 2 GB STOW body streams through.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from dicomweb.errors import BadRequest, UnsupportedMediaType


@dataclass(frozen=True)
class MediaType:
    """A parsed media type: ``type/subtype`` plus lower-cased parameter names."""

    type: str
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        extra = "".join(f'; {k}="{v}"' if _needs_quotes(v) else f"; {k}={v}" for k, v in self.params.items())
        return f"{self.type}{extra}"


def _needs_quotes(value: str) -> bool:
    return any(c in value for c in ' ,;="/\\:') or value == ""


def parse_media_type(text: str) -> MediaType:
    """Parse ``type/subtype; a=b; c="d"`` (quoted or unquoted parameter values)."""
    text = text.strip()
    if not text:
        raise BadRequest("empty media type")
    head, _, rest = text.partition(";")
    params: dict[str, str] = {}
    i = 0
    while i < len(rest):
        while i < len(rest) and rest[i] in " ;\t":
            i += 1
        if i >= len(rest):
            break
        eq = rest.find("=", i)
        if eq < 0:
            break
        name = rest[i:eq].strip().lower()
        i = eq + 1
        if i < len(rest) and rest[i] == '"':
            end = i + 1
            value_chars = []
            while end < len(rest) and rest[end] != '"':
                if rest[end] == "\\" and end + 1 < len(rest):
                    end += 1
                value_chars.append(rest[end])
                end += 1
            value = "".join(value_chars)
            i = end + 1
        else:
            end = rest.find(";", i)
            end = len(rest) if end < 0 else end
            value = rest[i:end].strip()
            i = end
        if name:
            params[name] = value
    return MediaType(head.strip().lower(), params)


def boundary_of(content_type: str) -> str:
    mt = parse_media_type(content_type)
    if mt.type != "multipart/related":
        raise UnsupportedMediaType(f"expected multipart/related, got {mt.type}")
    boundary = mt.params.get("boundary")
    if not boundary:
        raise BadRequest("multipart/related without a boundary parameter")
    if len(boundary) > 200:
        raise BadRequest("multipart boundary longer than 200 characters")
    return boundary


@dataclass(frozen=True)
class PartStart:
    headers: dict[str, str]


@dataclass(frozen=True)
class PartData:
    data: bytes


@dataclass(frozen=True)
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd

MAX_HEADER_BYTES = 16 * 1024


class MultipartDecoder:
    """Incremental decoder: ``feed(chunk)`` yields events, ``close()`` checks the end.

    States: preamble → headers → body → (headers | epilogue).
    """

    def __init__(self, boundary: str) -> None:
        self._delim = b"\r\n--" + boundary.encode("latin-1")
        self._buf = bytearray(b"\r\n")  # lets the first boundary match the same delimiter
        self._state = "preamble"
        self.parts = 0

    def feed(self, chunk: bytes) -> Iterator[Event]:
        self._buf += chunk
        yield from self._run()

    def close(self) -> Iterator[Event]:
        yield from self._run()
        if self._state == "body":
            raise BadRequest(f"multipart body ended inside part {self.parts} (no closing boundary)")
        if self._state == "headers":
            raise BadRequest(f"multipart body ended inside the headers of part {self.parts + 1}")
        if self._state == "preamble":
            raise BadRequest("multipart body has no part with the declared boundary")

    def _run(self) -> Iterator[Event]:
        buf = self._buf
        delim = self._delim
        while True:
            if self._state == "preamble":
                idx = buf.find(delim)
                if idx < 0:
                    keep = len(delim)
                    if len(buf) > keep:
                        del buf[: len(buf) - keep]
                    return
                after = idx + len(delim)
                if len(buf) < after + 2:
                    return
                if buf[after : after + 2] == b"--":
                    self._state = "epilogue"
                    buf.clear()
                    return
                del buf[:after]
                self._state = "after_delim"
            elif self._state == "after_delim":
                # Transport padding, then CRLF.
                nl = buf.find(b"\r\n")
                if nl < 0:
                    if len(buf) > 1024:
                        raise BadRequest("malformed multipart boundary line")
                    return
                if buf[:nl].strip(b" \t"):
                    raise BadRequest("malformed multipart boundary line")
                del buf[: nl + 2]
                self._state = "headers"
            elif self._state == "headers":
                end = buf.find(b"\r\n\r\n")
                if end < 0 and buf.startswith(b"\r\n"):
                    end = -2  # a part with no headers
                if end == -1:
                    if len(buf) > MAX_HEADER_BYTES:
                        raise BadRequest("multipart part headers larger than 16 KB")
                    return
                raw = bytes(buf[: max(end, 0)])
                del buf[: (end + 4) if end >= 0 else 2]
                headers: dict[str, str] = {}
                for line in raw.split(b"\r\n"):
                    if not line.strip():
                        continue
                    name, sep, value = line.partition(b":")
                    if not sep:
                        raise BadRequest(f"malformed multipart header line {line[:80]!r}")
                    headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
                self.parts += 1
                self._state = "body"
                yield PartStart(headers)
            elif self._state == "body":
                idx = buf.find(delim)
                if idx < 0:
                    safe = len(buf) - len(delim)
                    if safe > 0:
                        yield PartData(bytes(buf[:safe]))
                        del buf[:safe]
                    return
                after = idx + len(delim)
                if len(buf) < after + 2:
                    if idx > 0:
                        yield PartData(bytes(buf[:idx]))
                        del buf[:idx]
                    return
                if idx > 0:
                    yield PartData(bytes(buf[:idx]))
                yield PartEnd()
                closing = buf[after : after + 2] == b"--"
                del buf[:after]
                if closing:
                    self._state = "epilogue"
                    buf.clear()
                    return
                self._state = "after_delim"
            else:  # epilogue: ignore everything
                buf.clear()
                return


def new_boundary() -> str:
    import secrets

    return "cirrus-" + secrets.token_hex(12)


def part_header(content_type: str, extra: dict[str, str] | None = None, first: bool = False, *,
                boundary: str) -> bytes:
    lines = [("" if first else "\r\n") + f"--{boundary}", f"Content-Type: {content_type}"]
    for k, v in (extra or {}).items():
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def closing(boundary: str) -> bytes:
    return f"\r\n--{boundary}--\r\n".encode("latin-1")


def related_content_type(part_type: str, boundary: str, transfer_syntax: str | None = None) -> str:
    ts = f"; transfer-syntax={transfer_syntax}" if transfer_syntax else ""
    return f'multipart/related; type="{part_type}"; boundary={boundary}{ts}'
