"""dicomweb/ and quant/ are pure libraries: no server, web framework, SQL or network imports."""

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


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


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


def test_layering_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from server.app import create_app\nimport sqlalchemy.orm\n")
    assert imported_roots(bad) & FORBIDDEN == {"server", "sqlalchemy"}
