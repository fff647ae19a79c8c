"""The import graph keeps the layering of ARCHITECTURE.md.

- ``dicomweb/`` and ``quant/`` are pure libraries: no server, web framework, SQL or network imports.
- Inside ``server/`` imports run downwards only: entry points (app, cli, commands) → routes →
  workflow → services → context → db / storage / memory / settings / app_errors. Routes reach the
  database and blob store only through services.
- No module imports itself back through a circle.

Every import counts, at module level or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "server", "starlette", "uvicorn", "sqlalchemy", "sqlmodel", "asyncpg", "aiosqlite",
    "alembic", "aiobotocore", "botocore", "boto3", "httpx", "requests", "socket", "urllib",
    "http", "aiohttp", "subprocess",
}

# Higher ranks may import lower (or equal) ranks, never higher ones.
RANKS: list[tuple[str, int]] = [
    ("server.app", 6),
    ("server.cli", 6),
    ("server.commands", 6),
    ("server.routes", 5),
    ("server.http", 5),
    ("server.middleware", 5),
    # Per-client concurrency and rate limits: HTTP glue (a middleware, and a slot the frame route
    # takes), counting in this process or in the database (server.db.client_limits).
    ("server.limits", 5),
    ("server.errors", 5),
    ("server.workflow", 4),
    ("server.reading", 4),
    # Viewer measurements and key objects saved as DICOM (SR, KOS) in the study.
    ("server.measurements", 4),
    ("server.dimse", 4),
    ("server.gateway", 4),
    # PACS pull: its worker and receiver use the DIMSE pieces and the gateway's filter language.
    ("server.pull", 4),
    ("server.services", 3),
    # Authentication services (sessions, tokens, OIDC) sit beside the other services;
    # the principal itself is a plain value every layer may name.
    ("server.auth.principal", 1),
    # The authentication middleware is HTTP glue (it answers refusals through server.errors).
    ("server.auth.middleware", 5),
    # Access control off (benchmarks, lab): a middleware in place of the authentication one.
    ("server.auth.open_lab", 5),
    ("server.auth", 3),
    # Share links: staff service and patient view beside the reading workflow; the token resolver
    # is asked by the authentication layer; the guard middleware is HTTP glue.
    ("server.shares.middleware", 5),
    ("server.shares.tokens", 3),
    ("server.shares.codes", 3),
    ("server.shares.throttle", 3),
    ("server.shares.guard", 1),
    ("server.shares", 4),
    ("server.context", 2),
    ("server.db", 1),
    ("server.storage", 1),
    ("server.memory", 1),
    ("server.render_pool", 1),
    ("server.settings", 1),
    ("server.app_errors", 1),
]
# Besides the ranks: what the HTTP layer may not reach directly.
ROUTES_MAY_NOT_IMPORT = ("server.db", "server.storage")


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (``from a.b import c`` gives a.b and a.b.c)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def imported_roots(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported_modules(path)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def rank(module: str) -> int | None:
    for prefix, value in RANKS:
        if module == prefix or module.startswith(prefix + "."):
            return value
    return None


def server_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in (ROOT / "server").rglob("*.py") if p != ROOT / "server" / "__init__.py"}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        graph[name] = {m for m in imported_modules(path) if m in files and m != name}
    return graph


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for src, targets in sorted(graph.items()):
        r = rank(src)
        if r is None:
            bad.append(f"{src}: not placed in a layer (add it to RANKS)")
            continue
        for dst in sorted(targets):
            dr = rank(dst)
            if dr is not None and dr > r:
                bad.append(f"{src} -> {dst}")
            if src.startswith("server.routes") and dst.startswith(ROUTES_MAY_NOT_IMPORT):
                bad.append(f"{src} -> {dst} (routes use services, not the database or blob store)")
    return bad


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # ``from server.x import y`` also names the package ``server.x``; a package importing
            # its own submodules is not a circle.
            if node.startswith(nxt + ".") or nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


@pytest.mark.parametrize("package", ["dicomweb", "quant"])
def test_pure_packages_import_no_io_layers(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    offenders = {
        str(f.relative_to(ROOT)): sorted(imported_roots(f) & FORBIDDEN)
        for f in files
        if imported_roots(f) & FORBIDDEN
    }
    assert offenders == {}


def test_server_imports_run_downwards_only() -> None:
    assert upward_imports(server_graph()) == []


def test_server_has_no_import_circles() -> None:
    assert circles(server_graph()) == []


def test_layering_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from server.app import create_app\nimport sqlalchemy.orm\n")
    assert imported_roots(bad) & FORBIDDEN == {"server", "sqlalchemy"}


def test_the_checks_see_an_upward_import_and_a_circle() -> None:
    graph = {
        "server.services.a": {"server.routes.b"},
        "server.routes.b": {"server.db.c", "server.services.a"},
        "server.db.c": set(),
    }
    assert upward_imports(graph) == [
        "server.routes.b -> server.db.c (routes use services, not the database or blob store)",
        "server.services.a -> server.routes.b",
    ]
    assert circles(graph) == [["server.routes.b", "server.services.a", "server.routes.b"]]
