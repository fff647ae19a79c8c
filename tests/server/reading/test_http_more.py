"""``/api/reading`` templates, saved filter sets, the PDF with the patient's share link, the hospital
logo, and reading requests seen as UPS workitems — over HTTP on SQLite and PostgreSQL, each answer
checked against the OpenAPI document (and every documented answer of these operations produced)."""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pydicom
from PIL import Image
from starlette.testclient import TestClient

from server.auth.principal import Role
from server.routes.openapi import OPENAPI
from tests.server.reading import test_http
from tests.server.reading.helpers import Alliance, store_study
from tests.server.reading.test_http import CONTENT, who
from tests.server.routes.test_openapi_contract import Contract

ground = test_http.ground  # the same ground: an alliance, a client, SQLite and PostgreSQL

TT, TK = "/reading/templates", "/reading/templates/{key}"
FL, FI = "/reading/filters", "/reading/filters/{filter_id}"
EV = "/reading/events"
PDF = "/reading/requests/{request_id}/report.pdf"
LOGO = "/institutions/{institution_id}/logo"
UPS = "application/dicom+json"


def _image(fmt: str, size: tuple[int, int] = (120, 40)) -> bytes:
    img = Image.new("RGB", size, (200, 30, 30))
    for x in range(size[0] // 2):
        img.putpixel((x, size[1] // 2), (0, 0, 255))
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def _pdf_text(pdf: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        return subprocess.run(["pdftotext", f.name, "-"], capture_output=True, check=True).stdout.decode()


def _pdf_images(pdf: bytes) -> list[tuple[int, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.pdf"
        path.write_bytes(pdf)
        out = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, check=True).stdout.decode()
    return [(int(r.split()[3]), int(r.split()[4])) for r in out.splitlines()[2:] if r.strip()]


def _dciodvfy_errors(raw: bytes) -> list[str]:
    """dciodvfy's (dicom3tools) errors on one object; its warnings are left out."""
    with tempfile.NamedTemporaryFile(suffix=".dcm") as f:
        f.write(raw)
        f.flush()
        done = subprocess.run(["dciodvfy", f.name], capture_output=True, text=True, check=False)
    lines = (done.stdout + done.stderr).splitlines()
    assert any(line.strip() in ("ComprehensiveSR", "EncapsulatedPDF") for line in lines), lines  # it did run
    return [line for line in lines if line.startswith("Error")]


def _numbers(ds: pydicom.Dataset) -> list[tuple[str, float, str]]:
    """The SR's NUM content items: (concept meaning, value, UCUM unit), in document order."""
    out = []
    for item in getattr(ds, "ContentSequence", []):
        if getattr(item, "ValueType", "") == "NUM":
            mv = item.MeasuredValueSequence[0]
            out.append((str(item.ConceptNameCodeSequence[0].CodeMeaning), float(mv.NumericValue),
                        str(mv.MeasurementUnitsCodeSequence[0].CodeValue)))
        out += _numbers(item)
    return out


def _v(ds: dict[str, Any], tag: str) -> Any:
    values = ds.get(tag, {}).get("Value")
    return values[0] if values else None


def test_templates_and_saved_filters(ground: tuple[TestClient, Alliance, Any]) -> None:
    c, a, ctx = ground
    contract = Contract(OPENAPI)
    doctor = who(c, a.city, Role.REPORTING_DOCTOR, "报告医生")
    other = who(c, a.city, Role.REVIEWER, "审核医生")
    iadm = who(c, a.city, Role.INSTITUTION_ADMIN, "院管理员")

    listed = contract.check(c.get("/api/reading/templates", headers=doctor), TT)["templates"]
    keys = {t["key"] for t in listed}
    assert {"mr-brain-perfusion", "ct-head", "ct-chest"} <= keys and all(t["builtin"] for t in listed)
    ct = [t["key"] for t in contract.check(c.get("/api/reading/templates?modality=ct&body_part=chest",
                                                 headers=doctor), TT)["templates"]]
    assert ct[0] == "ct-chest" and "ct-head" not in ct and "mr-brain-perfusion" not in ct
    contract.check(c.get(f"/api/reading/templates?modality={'x' * 70}", headers=doctor), TT)  # 400

    new = {"key": "mr-spine", "name": "脊柱 MR", "modality": "mr", "body_part": "spine",
           "findings": "椎体排列整齐。", "impression": "未见异常。", "fields": ["T2"]}
    contract.check(c.post("/api/reading/templates", json=new, headers=doctor), TT)  # 403: not the admin
    contract.check(c.post("/api/reading/templates", json=new, headers=iadm), TT)  # 403: the alliance admin only
    made = contract.check(c.post("/api/reading/templates", json=new), TT)
    assert made["modality"] == "MR" and made["body_part"] == "SPINE" and made["edited"] and not made["builtin"]
    contract.check(c.post("/api/reading/templates", json=new), TT)  # 409
    contract.check(c.post("/api/reading/templates", json={**new, "key": "Bad Key"}), TT)  # 400
    contract.check(c.put("/api/reading/templates/mr-spine", json={**new, "fields": "T2"}), TK)  # 400
    contract.check(c.put("/api/reading/templates/nothing", json={**new, "key": "nothing"}), TK)  # 404
    contract.check(c.put("/api/reading/templates/ct-head", json=new, headers=doctor), TK)  # 403
    edited = contract.check(c.put("/api/reading/templates/ct-head", json={
        "name": "头颅 CT（本院）", "modality": "CT", "body_part": "HEAD", "findings": "本院模板所见。",
        "impression": "本院模板意见。"}), TK)
    assert edited["builtin"] and edited["edited"] and edited["findings"] == "本院模板所见。"
    seen = {t["key"]: t for t in c.get("/api/reading/templates?modality=CT", headers=doctor).json()["templates"]}
    assert seen["ct-head"]["findings"] == "本院模板所见。" and "mr-spine" not in seen
    contract.check(c.delete("/api/reading/templates/ct-head", headers=doctor), TK)  # 403
    contract.check(c.delete("/api/reading/templates/ct-head"), TK)  # 204: back to the built-in text
    back = {t["key"]: t for t in c.get("/api/reading/templates", headers=doctor).json()["templates"]}
    assert not back["ct-head"]["edited"] and "本院" not in back["ct-head"]["findings"]
    contract.check(c.delete("/api/reading/templates/ct-head"), TK)  # 409: a built-in
    contract.check(c.delete("/api/reading/templates/mr-spine"), TK)  # 204
    contract.check(c.delete("/api/reading/templates/mr-spine"), TK)  # 404
    contract.check(c.delete("/api/reading/templates/A%20B"), TK)  # 400

    # Saved filter sets: per user, checked by the worklist's parser, replaced by name.
    body = {"name": "今日 CT", "filters": {"list": "to_report", "preset": "today", "digit": "7", "q": "zhang"}}
    saved = contract.check(c.post("/api/reading/filters", json=body, headers=doctor), FL)
    again = contract.check(c.post("/api/reading/filters", json={**body, "filters": {"list": "review"}},
                                  headers=doctor), FL)
    assert again["id"] == saved["id"] and again["filters"] == {"list": "review"}
    contract.check(c.post("/api/reading/filters", json={"name": "x", "filters": {"list": "bogus"}},
                          headers=doctor), FL)  # 400: the worklist refuses it
    contract.check(c.post("/api/reading/filters", json={"name": "x", "filters": {"limit": "5"}},
                          headers=doctor), FL)  # 400: paging is not kept
    mine = contract.check(c.get("/api/reading/filters", headers=doctor), FL)["filters"]
    assert [f["name"] for f in mine] == ["今日 CT"]
    assert c.get("/api/reading/filters", headers=other).json()["filters"] == []
    # The saved set opens the worklist as it is.
    assert c.get("/api/reading/requests", params=mine[0]["filters"], headers=doctor).status_code == 200
    contract.check(c.delete(f"/api/reading/filters/{saved['id']}", headers=other), FI)  # 404: not theirs
    contract.check(c.delete("/api/reading/filters/abc", headers=doctor), FI)  # 400
    contract.check(c.delete(f"/api/reading/filters/{saved['id']}", headers=doctor), FI)  # 204
    for n in range(50):
        c.post("/api/reading/filters", json={"name": f"f{n}", "filters": {}}, headers=other).raise_for_status()
    contract.check(c.post("/api/reading/filters", json={"name": "one too many", "filters": {}}, headers=other), FL)

    # The live stream's first event is the caller's list counts.
    stream = contract.check(c.get("/api/reading/events?max_seconds=0.3", headers=doctor), EV)
    first = [line for line in stream.decode().splitlines() if line.startswith("data: ")][0]
    assert orjson.loads(first[6:])["counts"] == c.get("/api/reading/counts", headers=doctor).json()
    contract.check(c.get("/api/reading/events?max_seconds=x", headers=doctor), EV)  # 400

    wanted = ("/reading/templates", "/reading/filters", EV)
    contract.provoke_refusals(c, lambda t: t.startswith(wanted))
    documented = {d for d in contract.documented() if d[0].startswith(wanted)}
    assert not documented - contract.seen, sorted(documented - contract.seen)


def test_logo_share_pdf_and_the_request_as_a_ups_workitem(ground: tuple[TestClient, Alliance, Any]) -> None:
    c, a, ctx = ground
    contract = Contract(OPENAPI)
    assert c.portal is not None
    study, stored = c.portal.call(store_study, ctx, a.county)
    requester = who(c, a.county, Role.REQUESTING_DOCTOR, "申请医生")
    reporter = who(c, a.city, Role.REPORTING_DOCTOR, "报告医生")
    reviewer = who(c, a.city, Role.REVIEWER, "审核医生")
    outsider = who(c, a.other, Role.REPORTING_DOCTOR, "外院")
    city_admin = who(c, a.city, Role.INSTITUTION_ADMIN, "市院管理员")
    county_admin = who(c, a.county, Role.INSTITUTION_ADMIN, "县院管理员")

    # The reading hospital's logo: its admin sets it; another hospital's admin may not.
    png = _image("PNG")
    logo = f"/api/institutions/{a.city}/logo"
    contract.check(c.get(logo, headers=requester), LOGO)  # 404: none yet
    contract.check(c.put(logo, content=png, headers={**county_admin, "content-type": "image/png"}), LOGO)  # 403
    contract.check(c.put(logo, content=png, headers={**city_admin, "content-type": "image/gif"}), LOGO)  # 400
    contract.check(c.put(logo, content=_image("JPEG"), headers={**city_admin, "content-type": "image/png"}), LOGO)
    contract.check(c.put(logo, content=png, headers={**city_admin, "content-type": "image/png",
                                                     "content-length": str(600 * 1024)}), LOGO)  # 413
    contract.check(c.put("/api/institutions/999999/logo", content=png, headers={"content-type": "image/png"}), LOGO)
    contract.check(c.put("/api/institutions/x/logo", content=png, headers={"content-type": "image/png"}), LOGO)
    contract.check(c.delete(logo, headers=city_admin), LOGO)  # 404: none to remove
    put = contract.check(c.put(logo, content=png, headers={**city_admin, "content-type": "image/png"}), LOGO)
    assert (put["width"], put["height"]) == (120, 40)
    got = contract.check(c.get(logo, headers=requester), LOGO)
    assert got == png
    contract.check(c.delete(logo, headers=county_admin), LOGO)  # 403

    # A request read by the city hospital; it is a UPS workitem from the start, SCHEDULED.
    req = c.post("/api/reading/requests", headers=requester, json={
        "study_uids": [study], "mode": "superior", "reading_institution_id": a.city, "examination": "头颅 CT"}).json()
    base = f"/api/reading/requests/{req['id']}"
    found = c.get("/dicom-web/workitems", headers={**reporter, "accept": UPS}).json()
    mine = [w for w in found if _v(w, "00741204") and req["number"] in _v(w, "00741204")]
    assert len(mine) == 1 and _v(mine[0], "00741000") == "SCHEDULED"
    uid = _v(mine[0], "00080018")
    inputs = mine[0]["00404021"]["Value"]
    assert [_v(i, "0020000E") for i in inputs] == [str(stored[0].SeriesInstanceUID)]
    assert len(inputs[0]["00081199"]["Value"]) == len(stored)
    assert c.get("/dicom-web/workitems", headers={**outsider, "accept": UPS}).json() in ([], None) or all(
        _v(w, "00080018") != uid for w in c.get("/dicom-web/workitems", headers={**outsider, "accept": UPS}).json())
    assert c.get(f"/dicom-web/workitems/{uid}", headers={**outsider, "accept": UPS}).status_code == 404

    def ups_state() -> str:
        r = c.get(f"/dicom-web/workitems/{uid}", headers={**requester, "accept": UPS})
        assert r.status_code == 200, r.text
        ds = r.json()[0] if isinstance(r.json(), list) else r.json()
        return str(_v(ds, "00741000"))

    c.post(f"{base}/lock", headers=reporter).raise_for_status()
    assert ups_state() == "IN PROGRESS"
    in_progress = c.get("/dicom-web/workitems", params={"ProcedureStepState": "IN PROGRESS"},
                        headers={**reporter, "accept": UPS}).json()
    assert uid in {_v(w, "00080018") for w in in_progress}
    scheduled = c.get("/dicom-web/workitems", params={"ProcedureStepState": "SCHEDULED"},
                      headers={**reporter, "accept": UPS})
    assert uid not in {_v(w, "00080018") for w in (scheduled.json() if scheduled.status_code == 200 else [])}
    # The workitem is a view: UPS-RS does not change a reading request.
    claim = c.put(f"/dicom-web/workitems/{uid}/state", headers={**reporter, "content-type": UPS},
                  json={"00741000": {"vr": "CS", "Value": ["COMPLETED"]},
                        "00081195": {"vr": "UI", "Value": ["1.2.3.4"]}})
    assert claim.status_code == 409 and "reading workflow" in claim.text
    cancel = c.post(f"/dicom-web/workitems/{uid}/cancelrequest", headers={**reporter, "content-type": UPS}, json={})
    assert cancel.status_code == 409
    assert ups_state() == "IN PROGRESS"

    c.put(f"{base}/report", json=CONTENT, headers=reporter).raise_for_status()
    c.post(f"{base}/submit", headers=reporter).raise_for_status()
    c.post(f"{base}/start-review", headers=reviewer).raise_for_status()
    approved = c.post(f"{base}/approve?lang=zh-CN", json={"comment": "同意"}, headers=reviewer).json()
    assert approved["state"] == "approved"
    assert ups_state() == "COMPLETED"
    r = c.get(f"/dicom-web/workitems/{uid}", headers={**requester, "accept": UPS})
    ds = r.json()[0] if isinstance(r.json(), list) else r.json()
    outputs = ds["00741216"]["Value"][0]["00404033"]["Value"]
    final = approved["versions"][-1]
    assert {_v(o["00081199"]["Value"][0], "00081155") for o in outputs} == {
        final["sr_sop_instance_uid"], final["pdf_sop_instance_uid"]}
    # The stored SR and PDF, retrieved over WADO-RS from the workitem's output: dciodvfy finds no error,
    # the SR's numbers are the report's, and the stored PDF has the logo in its header.
    stored_objects = {}
    for o in outputs:
        url = _v(o["0040E025"]["Value"][0], "00081190") + "/instances/" + _v(o["00081199"]["Value"][0], "00081155")
        got = c.get(url, headers={**requester, "accept": 'multipart/related; type="application/dicom"'})
        assert got.status_code == 200, got.text
        raw = test_http._first_part(got)
        ds = pydicom.dcmread(io.BytesIO(raw))
        stored_objects[str(ds.SOPInstanceUID)] = ds
        assert _dciodvfy_errors(raw) == [], f"dciodvfy on {ds.SOPClassUID.name}"
    sr, epdf = stored_objects[final["sr_sop_instance_uid"]], stored_objects[final["pdf_sop_instance_uid"]]
    assert _numbers(sr) == [(m["name"], m["value"], m["unit"]) for m in CONTENT["measurements"]]
    assert (120, 40) in _pdf_images(bytes(epdf.EncapsulatedDocument).rstrip(b"\x00")), "no logo in the stored PDF"

    # Amending the approved report is a new procedure step (a UPS never leaves COMPLETED).
    amended = c.post(f"{base}/amend", headers=reporter)
    assert amended.status_code == 200, amended.text
    steps = [w for w in c.get("/dicom-web/workitems", headers={**reporter, "accept": UPS}).json()
             if req["number"] in (_v(w, "00741204") or "")]
    assert sorted(_v(w, "00741000") for w in steps) == ["IN PROGRESS"], "the amendment is not the new step"
    assert _v(steps[0], "00080018") != uid
    new_uid = _v(steps[0], "00080018")
    # The completed step keeps its UID: retrieved as COMPLETED with the approved version's output.
    old_step = c.get(f"/dicom-web/workitems/{uid}", headers={**requester, "accept": UPS})
    assert old_step.status_code == 200, old_step.text
    old_ds = old_step.json()[0] if isinstance(old_step.json(), list) else old_step.json()
    assert _v(old_ds, "00741000") == "COMPLETED"
    assert {_v(o["00081199"]["Value"][0], "00081155") for o in old_ds["00741216"]["Value"][0]["00404033"]["Value"]} \
        == {final["sr_sop_instance_uid"], final["pdf_sop_instance_uid"]}
    # The amendment approved: a new SR naming the first as its predecessor; both retrievable over WADO-RS.
    c.put(f"{base}/report", json={**CONTENT, "impression": "修正：未见异常。"}, headers=reporter).raise_for_status()
    c.post(f"{base}/submit", headers=reporter).raise_for_status()
    c.post(f"{base}/start-review", headers=reviewer).raise_for_status()
    again = c.post(f"{base}/approve?lang=zh-CN", json={}, headers=reviewer)
    assert again.status_code == 200, again.text
    second = again.json()["versions"][-1]
    assert second["sr_sop_instance_uid"] not in ("", final["sr_sop_instance_uid"])
    got_sr = {}
    for sop in (final["sr_sop_instance_uid"], second["sr_sop_instance_uid"], final["pdf_sop_instance_uid"],
                second["pdf_sop_instance_uid"]):
        found_i = c.get(f"/dicom-web/studies/{study}/instances", params={"SOPInstanceUID": sop},
                        headers={**requester, "accept": "application/dicom+json"})
        assert found_i.status_code == 200 and len(found_i.json()) == 1, f"{sop}: QIDO {found_i.status_code}"
        series_uid = _v(found_i.json()[0], "0020000E")
        hit = c.get(f"/dicom-web/studies/{study}/series/{series_uid}/instances/{sop}",
                    headers={**requester, "accept": 'multipart/related; type="application/dicom"'})
        assert hit.status_code == 200, f"{sop}: {hit.status_code} {hit.text[:200]}"
        got_sr[sop] = pydicom.dcmread(io.BytesIO(test_http._first_part(hit)))
    amendment = got_sr[second["sr_sop_instance_uid"]]
    predecessors = [i.ReferencedSOPInstanceUID for st in amendment.PredecessorDocumentsSequence
                    for se in st.ReferencedSeriesSequence for i in se.ReferencedSOPSequence]
    assert predecessors == [final["sr_sop_instance_uid"]]
    # Every change reached UPS subscribers as the events analysis jobs send, for both steps in order.
    ae = "READSUB"
    sub = c.post(f"/dicom-web/workitems/1.2.840.10008.5.1.4.34.5/subscribers/{ae}", headers=reporter)
    assert sub.status_code in (200, 201), sub.text
    seen: list[tuple[str, int, str]] = []
    with c.websocket_connect(f"/dicom-web/subscribers/{ae}?since=0", headers=reporter) as ws:
        while len([s for s in seen if s[0] == new_uid and s[2] == "COMPLETED"]) < 1:
            report = orjson.loads(ws.receive_text())
            if _v(report, "00001000") in (uid, new_uid):
                seen.append((_v(report, "00001000"), _v(report, "00001002"), _v(report, "00741000") or
                             str(_v(report["00741002"]["Value"][0], "00741006") if "00741002" in report else "")))
    first_step = [(t, s) for u, t, s in seen if u == uid]
    assert first_step[:3] == [(1, "SCHEDULED"), (1, "IN PROGRESS"), (5, "")], seen
    assert (3, "reading request reported") in first_step and (3, "reading request in_review") in first_step, seen
    assert first_step[-1] == (1, "COMPLETED"), seen
    assert [(t, s) for u, t, s in seen if u == new_uid][:3] == [(1, "SCHEDULED"), (1, "IN PROGRESS"), (5, "")], seen

    # The printed report with the patient's share link: QR code and access code in the PDF.
    share = c.post(f"/api/studies/{study}/shares", headers=requester, json={"expires_in_days": 7}).json()
    pdf = contract.check(c.post(f"{base}/report.pdf?lang=zh-CN", headers=requester,
                                json={"share": share["id"], "code": share["code"]}), PDF)
    text = _pdf_text(pdf)
    assert share["code"] in text and "访问码" in text and share["url"] in text.replace("\n", "")
    qr_sizes = [s for s in _pdf_images(pdf) if s[0] == s[1]]
    assert qr_sizes, f"no square QR image in the PDF: {_pdf_images(pdf)}"
    wrong = "0" * len(share["code"]) if share["code"] != "0" * len(share["code"]) else "1" * len(share["code"])
    contract.check(c.post(f"{base}/report.pdf", headers=requester, json={"share": share["id"], "code": wrong}), PDF)
    contract.check(c.post(f"{base}/report.pdf", headers=requester, json={"share": share["id"]}), PDF)  # 400
    contract.check(c.post(f"{base}/report.pdf", headers=requester, json={"share": "nope", "code": "1"}), PDF)  # 404
    contract.check(c.post(f"{base}/report.pdf", headers=outsider,
                          json={"share": share["id"], "code": share["code"]}), PDF)  # 404: not visible

    contract.check(c.get("/api/institutions/x/logo", headers=requester), LOGO)  # 400
    contract.check(c.delete("/api/institutions/x/logo"), LOGO)  # 400
    contract.check(c.delete(logo, headers=city_admin), LOGO)  # 204
    contract.check(c.get(logo, headers=requester), LOGO)  # 404 again
    contract.provoke_refusals(c, lambda t: t in (LOGO, PDF))
    documented = {d for d in contract.documented() if d[0] == LOGO or (d[0] == PDF and d[1] == "post")}
    assert not documented - contract.seen, sorted(documented - contract.seen)
