"""What access control costs a request: the authentication middleware timed in-process.

    python bench/auth_overhead.py [--requests 5000]

``bench/run.py`` cannot turn access control off (every Cirrus route needs a credential), so this
times the middleware itself on a real SQLite index with a real admin API token: one request is the
``AuthMiddleware`` resolving the Bearer token and checking the rule table, in front of an ASGI app
that answers at once; beside it the same app without the middleware. Warm: the token's decision is
cached (``CIRRUS_AUTH_CACHE_SECONDS``), as for every request after a client's first; cold: a fresh
cache each request (a token lookup in the index and a hash check). Prints µs per request.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.auth import accounts, api_tokens  # noqa: E402
from server.auth.middleware import Authenticator, AuthMiddleware  # noqa: E402
from server.auth.principal import Role  # noqa: E402
from server.context import open_context  # noqa: E402
from server.db.migrate import upgrade  # noqa: E402
from server.settings import Settings  # noqa: E402

PATHS = ("/dicom-web/studies", "/dicom-web/studies/1.2.3/series/4.5.6/instances/7.8.9/frames/1", "/api/jobs")


async def answer(_scope: Any, _receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def time_requests(app: Any, scopes: list[dict[str, Any]], fresh: Any = None) -> list[float]:
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    out = []
    for scope in scopes:
        if fresh is not None:
            fresh()
        started = time.perf_counter_ns()
        await app(dict(scope), receive, send)
        out.append((time.perf_counter_ns() - started) / 1000)
    if set(statuses) != {204}:
        raise SystemExit(f"unexpected answers {sorted(set(statuses))}: the token was not accepted")
    return out


async def run(requests: int, tmp: str, url: str) -> None:
    settings = Settings(data_dir=Path(tmp), database_url=url, workers=0)  # type: ignore[call-arg]
    async with open_context(settings) as ctx:
        user = await accounts.create_user(ctx, None, "bench-admin", "Bench-admin-pw-1", role=Role.ADMIN,
                                          institution_id=ctx.institution_id)
        _, secret = await api_tokens.create_token(ctx, None, int(user.user.id or 0), scope="admin", name="bench")
        app_state = SimpleNamespace(state=SimpleNamespace(ctx=ctx))
        scopes = [{"type": "http", "method": "GET", "path": PATHS[i % len(PATHS)], "query_string": b"",
                   "headers": [(b"authorization", f"Bearer {secret}".encode()), (b"host", b"bench")],
                   "client": ("127.0.0.1", 1), "app": app_state} for i in range(requests)]
        auth = Authenticator(settings)
        guarded = AuthMiddleware(answer, auth)
        await time_requests(guarded, scopes[:200])  # warm-up: imports, the first lookup
        bare = await time_requests(answer, scopes)
        warm = await time_requests(guarded, scopes)
        cold_n = max(50, requests // 20)

        def fresh() -> None:
            guarded.auth = Authenticator(settings)

        cold = await time_requests(guarded, scopes[:cold_n], fresh)
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"load average {load}; {requests} requests (cold: {cold_n})")
    print("| request | median µs | p95 µs |")
    print("|---|---:|---:|")
    for name, values in (("no middleware", bare), ("AuthMiddleware, decision cached", warm),
                         ("AuthMiddleware, cold (token lookup + hash)", cold)):
        values = sorted(values)
        print(f"| {name} | {statistics.median(values):.1f} | {values[int(len(values) * 0.95)]:.1f} |")
    print(f"overhead, cached: {statistics.median(warm) - statistics.median(bare):.1f} µs per request")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=5000)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cirrus-auth-bench-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'cirrus.db'}"
        upgrade(url)  # runs its own event loop
        asyncio.run(run(a.requests, tmp, url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
