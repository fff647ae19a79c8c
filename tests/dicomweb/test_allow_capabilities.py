"""405 Allow from the whole route table; the Capabilities document (PS3.18 §8.9, Annex H)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from dicomweb.allow import MethodTable
from dicomweb.capabilities import ENDPOINTS, OPTIONS, WADL_NAMESPACE, capabilities_json, wadl

# One route object per (path, method), the way Starlette tables are written.
ROUTES = [
    ("/dicom-web/studies", ["POST"]),
    ("/dicom-web/studies", ["GET"]),
    ("/dicom-web/studies/{study}", ["GET"]),
    ("/dicom-web/studies/{study}", ["DELETE"]),
    ("/dicom-web/studies/{study}", ["POST"]),
    ("/dicom-web/studies/{study}/series/{series}/instances/{instance}/frames/{frames}", ["GET"]),
    ("/dicom-web/studies/{study}/series/{series}/instances/{instance}/bulk/{path}", ["GET"]),
    ("/api/files/{path:path}", ["GET", "PUT"]),
    ("/dicom-web", ["GET", "OPTIONS"]),
]


@pytest.mark.parametrize(
    "path,allow",
    [
        ("/dicom-web/studies", "GET, HEAD, POST"),  # PUT /studies must not answer "Allow: POST"
        ("/dicom-web/studies/1.2.3", "GET, HEAD, POST, DELETE"),
        ("/dicom-web/studies/1.2.3/series/1.2.4/instances/1.2.5/frames/1,2", "GET, HEAD"),
        ("/api/files/a/b/c.txt", "GET, HEAD, PUT"),
        ("/dicom-web", "GET, HEAD, OPTIONS"),
        ("/dicom-web/nothing-here", None),
        ("/dicom-web/studies/1.2.3/extra/segments/that/do/not/exist", None),
    ],
)
def test_allow_lists_every_method_of_the_resource(path: str, allow: str | None) -> None:
    assert MethodTable.build(ROUTES).allow_header(path) == allow


def test_segment_parameters_do_not_cross_slashes() -> None:
    table = MethodTable.build([("/a/{x}", ["GET"]), ("/a/{x}/b", ["DELETE"])])
    assert table.allowed("/a/1") == ("GET", "HEAD")
    assert table.allowed("/a/1/b") == ("DELETE",)
    assert table.allowed("/a/1/2") == ()


def test_endpoints_are_unique_and_documented() -> None:
    keys = [(e.path, e.method) for e in ENDPOINTS]
    assert len(keys) == len(set(keys))
    for e in ENDPOINTS:
        assert e.transaction
        if e.method == "GET":
            assert e.produces, e


def test_wadl_document_follows_annex_h() -> None:
    root = ET.fromstring(wadl("https://pacs.example/dicom-web/"))
    ns = {"w": WADL_NAMESPACE}
    assert root.tag == f"{{{WADL_NAMESPACE}}}application"
    [resources] = root.findall("w:resources", ns)
    assert resources.get("base") == "https://pacs.example/dicom-web/"
    studies = resources.find("w:resource[@path='studies']", ns)
    assert sorted(m.get("name") for m in studies.findall("w:method", ns)) == ["GET", "POST"]
    search = studies.find("w:method[@name='GET']", ns)
    params = {p.get("name") for p in search.findall("w:request/w:param", ns)}
    assert {"includefield", "fuzzymatching", "limit", "offset"} <= params
    types = {r.get("mediaType") for r in search.findall("w:response/w:representation", ns)}
    assert 'multipart/related; type="application/dicom+xml"' in types and "application/dicom+json" in types
    frames = resources.find(
        "w:resource[@path='studies']/w:resource[@path='{study}']/w:resource[@path='series']/"
        "w:resource[@path='{series}']/w:resource[@path='instances']/w:resource[@path='{instance}']/"
        "w:resource[@path='frames']/w:resource[@path='{frames}']", ns)
    assert frames is not None
    assert frames.find("w:param[@style='template']", ns).get("name") == "frames"
    assert frames.find("w:method[@name='GET']", ns) is not None
    # every endpoint appears once as a method of the right resource
    count = len(root.findall(".//w:method", ns))
    assert count == len(ENDPOINTS)


def test_json_form_has_the_same_content() -> None:
    doc = capabilities_json("https://pacs.example/dicom-web/")
    json.dumps(doc)  # serialisable
    assert doc["baseUrl"] == "https://pacs.example/dicom-web/"
    assert doc["options"] is OPTIONS and OPTIONS["fuzzymatching"] is True
    assert "WADO-RS" in doc["services"]

    def methods(node: dict, prefix: str = "") -> set[tuple[str, str]]:  # type: ignore[type-arg]
        path = f"{prefix}/{node['path']}".strip("/") if node.get("path") else prefix
        found = {(path, m["name"]) for m in node.get("methods", [])}
        for child in node.get("resources", []):
            found |= methods(child, path)
        return found

    assert methods({"path": "", "methods": doc["methods"], "resources": doc["resources"]}) == {
        (e.path, e.method) for e in ENDPOINTS}
