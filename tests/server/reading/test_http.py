"""``/api/reading`` over HTTP on SQLite and PostgreSQL: the full flow, the refusals, and the contract.

The callers are real users of the alliance's hospitals (rows in the test database), each calling
with an API token of their own; without other headers a call is the first ``admin``. Every answer
is checked against the OpenAPI document, and every documented ``/reading`` answer must have been
produced.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tempfile
from collections.abc import Iterator
from functools import partial
from typing import Any

import pydicom
import pytest
from PIL import Image
from starlette.testclient import TestClient

from server.app import create_app
from server.auth.principal import Role
from server.routes.openapi import OPENAPI
from tests.auth_helpers import bearer, create_user, token_for
from tests.conftest import authed_client
from tests.server.reading.helpers import Alliance, make_alliance, store_study
from tests.server.routes.test_openapi_contract import Contract

T = "/reading/requests/{request_id}"  # the OpenAPI path of one request


@pytest.fixture
def ground(database_url: str, settings_factory) -> Iterator[tuple[TestClient, Alliance, Any]]:  # type: ignore[no-untyped-def]
    app = create_app(settings_factory(database_url, reading_lock_seconds=600))
    with authed_client(app) as c:
        ctx = app.state.ctx
        assert c.portal is not None
        yield c, c.portal.call(make_alliance, ctx), ctx


def who(c: TestClient, inst: int, role: Role, name: str) -> dict[str, str]:
    """Headers of a real user (``name``, ``role`` at ``inst``) calling with an API token of theirs."""
    assert c.portal is not None
    ctx = c.app.state.ctx  # type: ignore[attr-defined]
    user = c.portal.call(partial(create_user, ctx, role, inst, name))
    return bearer(c.portal.call(token_for, ctx, user))


CONTENT = {"findings": "双侧大脑半球对称。\n灰白质分界清楚。", "impression": "未见明显异常。",
           "measurements": [{"name": "CBF whole brain", "value": 47.5, "unit": "ml/(100.g.min)",
                             "unit_label": "ml/100g/min", "source": "ASL job 1 v1"}]}


def test_flow_request_report_review_approve_and_refusals(ground: tuple[TestClient, Alliance, Any]) -> None:
    c, a, ctx = ground
    contract = Contract(OPENAPI)
    assert c.portal is not None
    study, stored = c.portal.call(store_study, ctx, a.county)
    outside, _ = c.portal.call(store_study, ctx, a.other, "Li^Si")
    requester = who(c, a.county, Role.REQUESTING_DOCTOR, "申请医生")
    reporter = who(c, a.city, Role.REPORTING_DOCTOR, "报告医生")
    colleague = who(c, a.city, Role.REPORTING_DOCTOR, "同事")
    reviewer = who(c, a.city, Role.REVIEWER, "审核医生")
    outsider = who(c, a.other, Role.REVIEWER, "外院")

    # The requester's choices and a request to the superior (city) hospital.
    inst = contract.check(c.get("/api/reading/institutions", headers=requester), "/reading/institutions")
    assert [i["id"] for i in inst["superiors"]] == [a.county, a.city, a.province]
    bad = contract.check(c.post("/api/reading/requests", json={"mode": "superior"}, headers=requester),
                         "/reading/requests")
    assert "reading_institution_id" in bad["error"]
    reader_only = who(c, a.county, Role.READ_ONLY, "x")
    contract.check(c.post("/api/reading/requests", json={"mode": "self"}, headers=reader_only),
                   "/reading/requests")  # 403
    contract.check(c.post("/api/reading/requests", json={"study_uids": [outside]}, headers=requester),
                   "/reading/requests")  # 400: not visible
    req = contract.check(c.post("/api/reading/requests", headers=requester, json={
        "study_uids": [study], "mode": "superior", "reading_institution_id": a.city,
        "clinical_history": "头痛三天", "chief_complaint": "头痛"}), "/reading/requests")
    rid = req["id"]
    base = f"/api/reading/requests/{rid}"
    assert req["state"] == "to_report" and req["reading_institution"]["id"] == a.city
    assert req["actions"] == ["cancel"] and req["studies"][0]["study_instance_uid"] == study
    att = contract.check(c.post(f"{base}/attachments?filename=申请单.png", content=b"\x89PNG fake",
                                headers={**requester, "content-type": "image/png"}), T + "/attachments")
    got = c.get(f"{base}/attachments/{att['id']}", headers=reporter)
    # The file comes back as uploaded, under its own media type (documented as any: */*).
    assert got.status_code == 200 and got.headers["content-type"] == "image/png" and got.content == b"\x89PNG fake"
    contract.seen.add((T + "/attachments/{attachment_id}", "get", "200"))
    contract.check(c.post(f"{base}/attachments?filename=a.txt", content=b"x", headers=reporter),
                   T + "/attachments")  # 403: the reader side
    contract.check(c.post(f"{base}/attachments?filename=a.txt", content=b"PK",
                          headers={**requester, "content-length": str(60 * 1024 * 1024)}),
                   T + "/attachments")  # 413

    # Worklists: the city reporter sees it to report; the outsider sees nothing; filters.
    page = contract.check(c.get("/api/reading/requests?list=to_report&preset=today&tz=480", headers=reporter),
                          "/reading/requests")
    assert [r["id"] for r in page["requests"]] == [rid] and page["total"] == 1
    digit = req["number"][-1]
    assert c.get(f"/api/reading/requests?digit={digit}&q=zhang", headers=reporter).json()["total"] == 1
    assert c.get(f"/api/reading/requests?q={req['number']}&exact=1", headers=reporter).json()["total"] == 1
    assert c.get("/api/reading/requests?q=nobody", headers=reporter).json()["total"] == 0
    assert c.get(f"/api/reading/requests?requesting={a.other}", headers=reporter).json()["total"] == 0
    assert c.get("/api/reading/requests?list=mine", headers=reporter).json()["total"] == 0
    assert c.get("/api/reading/requests?list=mine", headers=requester).json()["total"] == 1
    assert c.get("/api/reading/requests", headers=outsider).json()["total"] == 0
    contract.check(c.get("/api/reading/requests?list=bogus", headers=reporter), "/reading/requests")  # 400
    counts = contract.check(c.get("/api/reading/counts", headers=reporter), "/reading/counts")
    assert counts["to_report"] == 1 and counts["mine"] == 0
    contract.check(c.get(base, headers=outsider), T)  # 404: not visible

    # Illegal transitions answer 409 naming the state; wrong roles 403.
    refused = contract.check(c.post(f"{base}/approve", headers=reviewer), T + "/{action}")
    assert refused["status"] == 409 and refused["state"] == "to_report" and "to_report" in refused["error"]
    contract.check(c.post(f"{base}/lock", headers=requester), T + "/{action}")  # 403
    contract.check(c.post(f"{base}/bogus", headers=reporter), T + "/{action}")  # 404
    contract.check(c.post(f"{base}/send-back", json={}, headers=reporter),
                   T + "/{action}")  # 400: needs a reason
    contract.check(c.put(f"{base}/report", json=CONTENT, headers=reporter), T + "/report")  # 409
    contract.check(c.put(f"{base}/report", json=CONTENT, headers=requester),
                   T + "/report")  # 403

    # Report under the lock: the colleague is told who holds it.
    locked = contract.check(c.post(f"{base}/lock", headers=reporter), T + "/{action}")
    assert locked["state"] == "reporting" and locked["lock"]["holder_name"] == "报告医生" and locked["lock"]["mine"]
    held = c.post(f"{base}/lock", headers=colleague)
    assert held.status_code == 409 and "报告医生" in held.json()["error"] and held.json()["state"] == "reporting"
    listed = c.get("/api/reading/requests?list=reporting", headers=colleague).json()["requests"][0]
    assert listed["lock"]["holder_name"] == "报告医生" and listed["lock"]["expired"] is False
    assert listed["lock"]["mine"] is False
    contract.check(c.post(f"{base}/studies", json={"study_uids": [study]}, headers=requester),
                   T + "/studies")  # 409: material is closed while reporting
    contract.check(c.delete(f"{base}/studies/{study}", headers=requester), T + "/studies/{study}")
    contract.check(c.post(f"{base}/attachments?filename=b.txt", content=b"x", headers=requester),
                   T + "/attachments")  # 409
    contract.check(c.put(f"{base}/report", json={"findings": 3}, headers=reporter),
                   T + "/report")  # 400
    v1 = contract.check(c.put(f"{base}/report", json={**CONTENT, "impression": "初稿"}, headers=reporter),
                        T + "/report")
    same = c.put(f"{base}/report", json={**CONTENT, "impression": "初稿"}, headers=reporter)
    assert same.status_code == 200 and same.json()["number"] == v1["number"] == 1
    contract.check(same, T + "/report")
    assert c.put(f"{base}/report", json=CONTENT, headers=colleague).status_code == 409
    v2 = contract.check(c.put(f"{base}/report", json=CONTENT, headers=reporter), T + "/report")
    assert v2["number"] == 2
    diff = contract.check(c.get(f"{base}/versions/2/diff", headers=reporter), T + "/versions/{number}/diff")
    assert {"op": "-", "text": "初稿"} in diff["impression"]
    assert {"op": "+", "text": "未见明显异常。"} in diff["impression"]
    assert diff["from"] == 1 and all(d["op"] == "=" for d in diff["findings"])
    contract.check(c.get(f"{base}/versions/9/diff", headers=reporter), T + "/versions/{number}/diff")
    contract.check(c.get(f"{base}/versions/2/diff?against=x", headers=reporter),
                   T + "/versions/{number}/diff")  # 400
    q = contract.check(c.get(f"{base}/quantities", headers=reporter), T + "/quantities")
    assert q == {"job_id": None, "study_instance_uid": None, "measurements": []}
    contract.check(c.post(f"{base}/submit", headers=reporter), T + "/{action}")

    # Review: returned with a reason, fixed, approved.
    assert c.get("/api/reading/counts", headers=reviewer).json()["review"] == 1
    c.post(f"{base}/start-review", headers=reviewer).raise_for_status()
    back = c.post(f"{base}/return", json={"reason": "请补充灌注结果"}, headers=reviewer).json()
    assert back["state"] == "returned" and back["reason"] == "请补充灌注结果"
    c.post(f"{base}/lock", headers=reporter).raise_for_status()
    # A key image captured from the viewport: stored by the lock holder, named in the report, printed.
    png = _png(64, 48)
    shot = contract.check(c.post(f"{base}/key-images", content=png, headers={**reporter, "content-type": "image/png"}),
                          T + "/key-images")
    assert shot["capture"] == hashlib.sha256(png).hexdigest() and (shot["width"], shot["height"]) == (64, 48)
    for headers, body in (({**colleague, "content-type": "image/png"}, png),  # 409: the lock is held
                          ({**requester, "content-type": "image/png"}, png),  # 403: the requesting side
                          ({**reporter, "content-type": "image/png"}, b"GIF89a"),  # 400: not a PNG
                          ({**reporter, "content-type": "image/jpeg"}, png),  # 400: not sent as a PNG
                          ({**reporter, "content-type": "image/png", "content-length": str(9 * 1024 * 1024)}, png)):
        contract.check(c.post(f"{base}/key-images", content=body, headers=headers), T + "/key-images")
    got = c.get(f"{base}/key-images/{shot['capture']}", headers=colleague)  # the reading side sees captures
    assert got.status_code == 200 and got.content == png and got.headers["content-type"] == "image/png"
    contract.seen.add((T + "/key-images/{digest}", "get", "200"))
    assert c.get(f"{base}/key-images/{shot['capture']}", headers=requester).status_code == 404  # not yet named
    contract.check(c.get(f"{base}/key-images/{'0' * 64}", headers=reporter), T + "/key-images/{digest}")  # 404
    key = {"study_instance_uid": study, "series_instance_uid": str(stored[0].SeriesInstanceUID),
           "sop_instance_uid": str(stored[0].SOPInstanceUID), "frame": 1, "window_center": 40, "window_width": 80,
           "label": "右侧基底节", "capture": shot["capture"]}
    contract.check(c.put(f"{base}/report", json={**CONTENT, "key_images": [{**key, "capture": "x"}]},
                         headers=reporter), T + "/report")  # 400: not a digest
    c.put(f"{base}/report", json={**CONTENT, "findings": CONTENT["findings"] + "\nCBF 正常。", "key_images": [key]},
          headers=reporter).raise_for_status()
    c.post(f"{base}/submit", headers=reporter).raise_for_status()
    c.post(f"{base}/start-review", headers=reviewer).raise_for_status()
    assert c.get(base, headers=requester).json()["versions"] == []  # not before approval
    approved = contract.check(c.post(f"{base}/approve?lang=zh-CN", json={"comment": "同意"}, headers=reviewer),
                              T + "/{action}")
    assert approved["state"] == "approved" and approved["reviewer_name"] == "审核医生"
    final = approved["versions"][-1]
    assert final["status"] == "approved" and final["sr_sop_instance_uid"] and final["pdf_sop_instance_uid"]
    assert [e["action"] for e in approved["events"]][-3:] == ["submit", "start_review", "approve"]
    assert contract.check(c.post(f"{base}/cancel", headers=requester),
                          T + "/{action}")["state"] == "approved"

    # Only the requesting side changes the material.
    contract.check(c.post(f"{base}/studies", json={"study_uids": [study]}, headers=reporter),
                   T + "/studies")  # 403
    contract.check(c.delete(f"{base}/studies/{study}", headers=reporter),
                   T + "/studies/{study}")  # 403

    # The requester now sees the approved report, prints it, and finds the SR and PDF in the study.
    mine = contract.check(c.get(base, headers=requester), T)
    assert [v["status"] for v in mine["versions"]] == ["approved"]
    contract.check(c.get(f"{base}/versions", headers=requester), T + "/versions")
    pdf = contract.check(c.get(f"{base}/report.pdf?lang=en", headers=requester), T + "/report.pdf")
    assert pdf[:4] == b"%PDF"
    # The capture is in the printed report, pixel for pixel (pdfimages lists it at its own size).
    assert _pdf_images(pdf) == [(64, 48)]
    assert c.get(f"{base}/key-images/{shot['capture']}", headers=requester).content == png
    contract.check(c.get(f"{base}/report.pdf?version=x", headers=requester), T + "/report.pdf")
    series = c.get(f"/dicom-web/studies/{study}/series", params={"includefield": "00080060"}).json()
    modalities = {s["00080060"]["Value"][0] for s in series}
    assert {"SR", "DOC"} <= modalities
    sr_url = f"/dicom-web/studies/{study}/series/{_series_of(series, 'SR')}/instances/{final['sr_sop_instance_uid']}"
    sr_bytes = c.get(sr_url, headers={"accept": 'multipart/related; type="application/dicom"'})
    assert sr_bytes.status_code == 200
    sr = pydicom.dcmread(io.BytesIO(_first_part(sr_bytes)))
    assert sr.VerificationFlag == "VERIFIED" and sr.CompletionFlag == "COMPLETE"
    texts = _texts(sr)
    assert "未见明显异常。" in texts and any("CBF 正常。" in t for t in texts)

    # Malformed and unknown ids on every request path.
    for template, ops in OPENAPI["paths"].items():
        if "{request_id}" not in template:
            continue
        for method in ops:
            for raw in ("abc", "999999"):
                path = "/api" + (template.replace("{request_id}", raw).replace("{action}", "lock")
                                 .replace("{study}", study).replace("{attachment_id}", "1").replace("{number}", "1")
                                 .replace("{digest}", "0" * 64))
                kwargs: dict[str, Any] = {"json": CONTENT} if method in ("put", "post") and "report" in template else {}
                contract.check(c.request(method.upper(), path, headers=requester, **kwargs), template)

    contract.check(c.post("/api/reading/requests/999999/studies", json={"study_uids": [study]}, headers=requester),
                   T + "/studies")
    contract.check(c.post("/api/reading/requests/999999/attachments?filename=a", content=b"x", headers=requester),
                   T + "/attachments")

    _cancel_and_material(c, a, contract, requester, reporter, study)
    contract.provoke_refusals(c, lambda template: template.startswith("/reading/"))
    # Templates, saved filters and the PDF with a share link: tests/server/reading/test_http_more.py.
    documented = {d for d in contract.documented() if d[0].startswith("/reading/")
                  and not d[0].startswith(("/reading/templates", "/reading/filters", "/reading/events"))
                  and not (d[0] == T + "/report.pdf" and d[1] == "post")}
    missing = documented - contract.seen
    assert not missing, f"documented answers never produced: {sorted(missing)}"


def _cancel_and_material(c: TestClient, a: Alliance, contract: Contract, requester: dict[str, str],
                         reporter: dict[str, str], study: str) -> None:
    req = c.post("/api/reading/requests", headers=requester, json={"mode": "self"}).json()
    base = f"/api/reading/requests/{req['id']}"
    assert req["studies"] == [] and req["reading_institution"]["id"] == a.county
    linked = contract.check(c.post(f"{base}/studies", json={"study_uids": [study]}, headers=requester),
                            T + "/studies")
    assert [s["study_instance_uid"] for s in linked["studies"]] == [study]
    contract.check(c.post(f"{base}/studies", json={"study_uids": []}, headers=requester),
                   T + "/studies")  # 400
    assert c.post(f"{base}/studies", json={"study_uids": [study]}, headers=reporter).status_code == 404  # the city
    contract.check(c.delete(f"{base}/studies/1.2.3", headers=requester),
                   T + "/studies/{study}")  # 404: not linked
    unlinked = contract.check(c.delete(f"{base}/studies/{study}", headers=requester),
                              T + "/studies/{study}")
    assert unlinked.get("studies") == [], unlinked
    cancelled = c.post(f"{base}/cancel", json={"reason": "患者转院"}, headers=requester).json()
    assert cancelled["state"] == "cancelled"
    contract.check(c.post(f"{base}/studies", json={"study_uids": [study]}, headers=requester),
                   T + "/studies")  # 409
    contract.check(c.delete(f"{base}/studies/{study}", headers=requester),
                   T + "/studies/{study}")
    assert c.get("/api/reading/requests?list=cancelled", headers=requester).json()["total"] == 1
    assert c.get("/api/reading/requests?state=cancelled,approved", headers=requester).json()["total"] == 2
    contract.check(c.get(f"/api/reading/requests/{req['id']}/attachments/1", headers=requester),
                   T + "/attachments/{attachment_id}")


def _png(width: int, height: int) -> bytes:
    img = Image.new("RGB", (width, height))
    img.putdata([(x * 4 % 256, y * 5 % 256, (x + y) % 256) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _pdf_images(pdf: bytes) -> list[tuple[int, int]]:
    """(width, height) of every image of the PDF (poppler's pdfimages)."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        listed = subprocess.run(["pdfimages", "-list", f.name], capture_output=True, check=True).stdout.decode()
    rows = [line.split() for line in listed.splitlines()[2:] if line.strip()]
    return [(int(r[3]), int(r[4])) for r in rows if r[2] == "image"]


def _series_of(series: list[dict[str, Any]], modality: str) -> str:
    return next(s["0020000E"]["Value"][0] for s in series if s["00080060"]["Value"][0] == modality)


def _first_part(response: Any) -> bytes:
    boundary = response.headers["content-type"].split("boundary=")[1].split(";")[0].strip('"').encode()
    part = response.content.split(b"--" + boundary)[1]
    return part.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n")


def _texts(ds: pydicom.Dataset) -> list[str]:
    out = []
    for item in getattr(ds, "ContentSequence", []):
        if getattr(item, "ValueType", "") == "TEXT":
            out.append(str(item.TextValue))
        out += _texts(item)
    return out
