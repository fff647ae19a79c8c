"""Web hardening (issue 12): forwarded headers only from trusted proxies, a configured public URL
wins, allowed hosts, CORS allow-list, security headers on every answer."""

from __future__ import annotations

import io

import pydicom
from starlette.testclient import TestClient

from server.app import create_app
from server.middleware import trusted
from tests.conftest import authed_client
from tests.dicom_helpers import ct_instance

FORGED = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https",
          "Forwarded": 'proto=https;host="evil.example"'}


def _stored(c: TestClient) -> str:
    data = ct_instance()
    assert c.post("/dicom-web/studies", content=data, headers={"Content-Type": "application/dicom"}
                  ).status_code == 200
    ds = pydicom.dcmread(io.BytesIO(data))
    return f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/metadata"


def test_forwarded_headers_only_from_trusted_proxies_and_public_url_wins(database_url, settings_factory) -> None:  # type: ignore[no-untyped-def]
    with authed_client(create_app(settings_factory(database_url))) as c:
        url = _stored(c)
        meta = c.get(url, headers={k: v for k, v in FORGED.items() if k != "Host"}).json()
        assert meta[0]["7FE00010"]["BulkDataURI"].startswith("http://testserver/dicom-web/")
    settings = settings_factory(database_url, trusted_proxies="testclient")
    with authed_client(create_app(settings)) as c:
        meta = c.get(url, headers={"X-Forwarded-Host": "pacs.example.org", "X-Forwarded-Proto": "https"}).json()
        assert meta[0]["7FE00010"]["BulkDataURI"].startswith("https://pacs.example.org/dicom-web/")
    settings = settings_factory(database_url, trusted_proxies="*", public_url="https://pacs.example.org/")
    with authed_client(create_app(settings)) as c:
        r = c.get(url, headers=FORGED)
        assert r.json()[0]["7FE00010"]["BulkDataURI"].startswith("https://pacs.example.org/dicom-web/")
        assert r.headers["strict-transport-security"].startswith("max-age=")


def test_allowed_hosts(sqlite_url, settings_factory) -> None:  # type: ignore[no-untyped-def]
    settings = settings_factory(sqlite_url, allowed_hosts="pacs.example.org")
    with authed_client(create_app(settings), base_url="http://pacs.example.org") as c:
        assert c.get("/dicom-web/studies").status_code == 200
        assert c.get("/dicom-web/studies", headers={"Host": "evil.example"}).status_code == 400


def test_cors_same_origin_by_default_listed_origins_and_read_only_wildcard(sqlite_url, settings_factory) -> None:  # type: ignore[no-untyped-def]
    origin = {"Origin": "http://other.example"}
    preflight = {**origin, "Access-Control-Request-Method": "DELETE"}
    with authed_client(create_app(settings_factory(sqlite_url))) as c:
        r = c.get("/dicom-web/studies", headers=origin)
        assert "access-control-allow-origin" not in r.headers
        assert c.options("/dicom-web/studies", headers=preflight).headers.get("access-control-allow-origin") is None
    with authed_client(create_app(settings_factory(sqlite_url, cors_origins="*"))) as c:
        r = c.get("/dicom-web/studies", headers={**origin, "Cookie": "x=1"})
        assert r.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in r.headers
        assert c.options("/dicom-web/studies", headers=preflight).status_code == 400  # DELETE never from *
    settings = settings_factory(sqlite_url, cors_origins="http://viewer.example")
    with authed_client(create_app(settings)) as c:
        r = c.options("/dicom-web/studies", headers={"Origin": "http://viewer.example",
                                                     "Access-Control-Request-Method": "DELETE"})
        assert r.status_code == 200 and r.headers["access-control-allow-credentials"] == "true"
        assert "access-control-allow-origin" not in c.get("/dicom-web/studies", headers=origin).headers


def test_security_headers_on_every_answer(sqlite_url, settings_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>x</title>")
    settings = settings_factory(sqlite_url, static_dir=str(dist))
    with authed_client(create_app(settings)) as c:
        for path, status in (("/", 200), ("/dicom-web/studies", 200), ("/api/nope", 404),
                             ("/dicom-web/studies?offset=x", 400)):
            r = c.get(path)
            assert r.status_code == status, path
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["referrer-policy"] == "same-origin"
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
            assert "strict-transport-security" not in r.headers  # plain HTTP
        assert "script-src 'self'" in c.get("/").headers["content-security-policy"]


def test_trusted_matches_addresses_and_networks() -> None:
    assert trusted("10.1.2.3", ["10.0.0.0/8"]) and trusted("::1", ["127.0.0.1", "::1"])
    assert not trusted("192.168.1.1", ["10.0.0.0/8"]) and not trusted("1.2.3.4", [])
    assert trusted("anything", ["*"]) and not trusted(None, ["*"])
