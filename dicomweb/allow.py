"""The ``Allow`` header of a 405 answer: every method the target resource supports (PS3.18 §8.5).

"The origin server shall include an Allow header field in a 405 response containing a list
of the target service or resource's currently supported methods." A web framework that keeps
one route object per (path, method) answers a wrong method with the methods of the *first*
route whose path matched (``PUT /studies`` → ``Allow: POST``, though ``GET /studies`` works).
:class:`MethodTable` is built from the whole route table (path template → methods) and
answers for a concrete path with the union over every template that matches it.

Path templates use ``{name}`` for one segment and ``{name:path}`` for the rest of the path.
HEAD is allowed wherever GET is (RFC 7231 §4.3.2; Starlette serves it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["METHOD_ORDER", "MethodTable"]

METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(path|str|int))?\}")


def _compile(template: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in _PARAM.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        out.append(".+" if m.group(2) == "path" else r"\d+" if m.group(2) == "int" else "[^/]+")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(out) + "$")


def _ordered(methods: Iterable[str]) -> tuple[str, ...]:
    unique = {m.upper() for m in methods}
    if "GET" in unique:
        unique.add("HEAD")
    known = [m for m in METHOD_ORDER if m in unique]
    return tuple(known + sorted(unique - set(METHOD_ORDER)))


@dataclass(frozen=True)
class MethodTable:
    """Path template → methods, for every resource the server routes."""

    routes: tuple[tuple[str, frozenset[str]], ...]
    _patterns: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", tuple((_compile(p), m) for p, m in self.routes))

    @classmethod
    def build(cls, routes: Iterable[tuple[str, Iterable[str]]]) -> MethodTable:
        merged: dict[str, set[str]] = {}
        for path, methods in routes:
            merged.setdefault(path, set()).update(m.upper() for m in methods)
        return cls(tuple((p, frozenset(m)) for p, m in merged.items()))

    def allowed(self, path: str) -> tuple[str, ...]:
        """Methods of the resource at ``path`` in a stable order (empty: no such resource, 404)."""
        found: set[str] = set()
        for pattern, methods in self._patterns:
            if pattern.match(path):
                found |= methods
        return _ordered(found) if found else ()

    def allow_header(self, path: str) -> str | None:
        """The ``Allow`` value for a 405 at ``path``, or None when nothing is routed there."""
        methods = self.allowed(path)
        return ", ".join(methods) if methods else None
