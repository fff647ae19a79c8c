"""The app's own routes: the browser app (built or not), its SPA fallback, and JSON 404s with CORS."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.app import create_app
from tests.conftest import authed_client

MARKER = "cirrus-test-index-7f3a"


@pytest.fixture
def client(database_url: str, settings_factory):  # type: ignore[no-untyped-def]
    """The app as deployed behind a proxy for a viewer on another origin (the test client's peer
    address is ``testclient``): CORS for that origin, forwarded headers honoured."""
    settings = settings_factory(database_url, cors_origins="http://ohif.example,http://viewer.example",
                                trusted_proxies="testclient")
    with authed_client(create_app(settings)) as c:
        yield c


def test_without_a_built_app_the_root_explains_how_to_build_it(sqlite_client) -> None:  # type: ignore[no-untyped-def]
    r = sqlite_client.get("/")
    assert r.status_code == 200
    assert "make run" in r.text and MARKER not in r.text


def test_a_built_app_is_served_with_a_fallback_for_client_routes(  # type: ignore[no-untyped-def]
    sqlite_url: str, settings_factory, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(f"<!doctype html><title>{MARKER}</title>")
    (dist / "assets" / "app-1234.js").write_text("console.log('cirrus')")
    (dist / "favicon.svg").write_text("<svg/>")
    with authed_client(create_app(settings_factory(sqlite_url, static_dir=str(dist)))) as client:
        root = client.get("/")
        assert root.status_code == 200 and MARKER in root.text
        assert root.headers["cache-control"] == "no-cache"  # a new build is picked up at once
        deep = client.get("/viewer/1.2.3/series/4.5.6")
        assert deep.status_code == 200 and MARKER in deep.text
        assert client.get("/assets/app-1234.js").text == "console.log('cirrus')"
        assert client.get("/favicon.svg").text == "<svg/>"
        assert client.get("/assets/missing.js").status_code == 404
        # Protocol paths never fall back to the app page.
        for path in ("/api/nope", "/dicom-webx", "/wado/extra"):
            r = client.get(path)
            assert r.status_code == 404 and MARKER not in r.text, path


def test_unknown_api_path_is_json_404_with_cors(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/api/nope", headers={"Origin": "http://viewer.example"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["status"] == 404
    assert r.headers["access-control-allow-origin"] in ("*", "http://viewer.example")
