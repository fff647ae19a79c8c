from __future__ import annotations


def test_root_serves_placeholder_or_spa(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/")
    assert r.status_code == 200
    assert "Cirrus" in r.text


def test_unknown_api_path_is_json_404_with_cors(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/api/nope", headers={"Origin": "http://viewer.example"})
    assert r.status_code == 404
    assert r.headers["access-control-allow-origin"] in ("*", "http://viewer.example")
