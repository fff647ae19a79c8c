"""The /api/pull routes against the OpenAPI document (SQLite and PostgreSQL): every documented
answer is produced and matches its schema; bad input answers 4xx naming the problem."""

from __future__ import annotations

from pydicom.uid import generate_uid

from server.routes.openapi import OPENAPI
from tests.server.routes.test_openapi_contract import Contract


def test_pull_routes_match_the_document(client) -> None:  # type: ignore[no-untyped-def]
    contract = Contract(OPENAPI)
    c = client
    S, SI, R = "/pull/sources", "/pull/sources/{source}", "/pull/rules"
    RI, T = "/pull/rules/{rule}", "/pull/rules/{rule}/test"
    source = {"name": "PACS 1", "ae_title": "PACS1", "host": "127.0.0.1", "port": 104, "mirror_group": "m"}
    made = contract.check(c.post("/api/pull/sources", json=source), S)
    assert made["retrieve"] == "move" and made["enabled"] is True
    contract.check(c.post("/api/pull/sources", json=source), S)  # 409
    bad = c.post("/api/pull/sources", json={**source, "name": "x", "retrieve": "ftp"})
    assert "retrieve" in contract.check(bad, S)["error"]  # 400
    assert "AE title" in c.post("/api/pull/sources", json={**source, "name": "y", "ae_title": "A\\B"}).json()["error"]
    sid = made["id"]
    changed = contract.check(c.put(f"/api/pull/sources/{sid}", json={"port": 11112, "enabled": False}), SI)
    assert changed["port"] == 11112 and changed["name"] == "PACS 1"
    contract.check(c.put(f"/api/pull/sources/{sid}", json={"port": 0}), SI)  # 400
    contract.check(c.put("/api/pull/sources/999", json={}), SI)  # 404
    assert len(contract.check(c.get("/api/pull/sources"), S)["sources"]) == 1
    contract.check(c.delete(f"/api/pull/sources/{sid}"), SI)
    contract.check(c.delete(f"/api/pull/sources/{sid}"), SI)  # 404
    contract.check(c.delete("/api/pull/sources/abc"), SI)  # 400: not an id

    rule = {"name": "brain", "priority": 3, "study_filter": "ModalitiesInStudy=MR",
            "series_filter": "BodyPartExamined~HEAD,头颅"}
    r = contract.check(c.post("/api/pull/rules", json=rule), R)
    contract.check(c.post("/api/pull/rules", json=rule), R)  # 409
    err = contract.check(c.post("/api/pull/rules", json={"name": "z", "series_filter": "Colour=red"}), R)  # 400
    assert "Colour=red" in err["error"]
    only_desc = c.post("/api/pull/rules", json={"name": "d", "study_filter": "StudyDescription~brain"})
    assert only_desc.status_code == 400 and "StudyDescription alone" in only_desc.json()["error"]
    rid = r["id"]
    contract.check(c.put(f"/api/pull/rules/{rid}", json={"days_back": 1}), RI)
    contract.check(c.put(f"/api/pull/rules/{rid}", json={"days_back": 99}), RI)  # 400
    contract.check(c.put("/api/pull/rules/999", json={}), RI)  # 404
    assert contract.check(c.get("/api/pull/rules"), R)["rules"][0]["days_back"] == 1
    verdict = contract.check(c.post(f"/api/pull/rules/{rid}/test", json={
        "study": {"ModalitiesInStudy": "CT\\MR"},
        "series": [{"SeriesInstanceUID": "1.2", "BodyPartExamined": "HEAD"},
                   {"SeriesInstanceUID": "1.3", "BodyPartExamined": "KNEE"}]}), T)
    assert verdict["taken"] and [s["taken"] for s in verdict["series"]] == [True, False]
    contract.check(c.post(f"/api/pull/rules/{rid}/test", json={"study": "MR"}), T)  # 400
    contract.check(c.post(f"/api/pull/rules/{rid}/test", json={"study_uid": "1.2.3"}), T)  # 404
    contract.check(c.post("/api/pull/rules/999/test", json={"study": {}}), T)  # 404

    uid = generate_uid()
    queued = contract.check(c.post("/api/pull/requests", json={"study_uid": uid}), "/pull/requests")  # 202
    assert queued["state"] == "requested" and queued["urgent"]
    contract.check(c.post("/api/pull/requests", json={}), "/pull/requests")  # 400
    contract.check(c.post("/api/pull/requests", json={"accession_number": "NOPE"}), "/pull/requests")  # 404
    rows = contract.check(c.get("/api/pull/queue"), "/pull/queue")["studies"]
    assert [s["study_uid"] for s in rows] == [uid]
    contract.check(c.get("/api/pull/queue", params={"state": "nonsense"}), "/pull/queue")  # 400
    why = contract.check(c.get("/api/pull/why", params={"study": uid}), "/pull/why")
    assert why["pull"]["state"] == "requested" and [e["kind"] for e in why["events"]] == ["requested"]
    unseen = contract.check(c.get("/api/pull/why", params={"study": "1.2.3"}), "/pull/why")
    assert unseen["pull"] is None and "no source poll" in unseen["summary"]
    contract.check(c.get("/api/pull/why"), "/pull/why")  # 400
    contract.check(c.get("/api/pull/why", params={"accession": "NOPE"}), "/pull/why")  # 404
    contract.check(c.delete(f"/api/pull/rules/{rid}"), RI)
    contract.check(c.delete(f"/api/pull/rules/{rid}"), RI)  # 404
    contract.check(c.delete("/api/pull/rules/abc"), RI)  # 400: not an id

    # RIS/HIS order hints: CSV and JSON; bad lines named; one order per (accession, patient id).
    H = "/pull/hints"
    csv_text = "Accession Number;Patient ID;Body Part;Priority\nACC1;P1;head;STAT\n;P2;chest;\n"
    up = contract.check(c.post("/api/pull/hints", content=csv_text.encode(), headers={"Content-Type": "text/csv"}), H)
    assert up == {"added": 2, "updated": 0, "replaced": False, "total": 2}
    up = contract.check(c.post("/api/pull/hints", json={"orders": [
        {"accession_number": "ACC1", "patient_id": "P1", "body_part": "BRAIN"}]}), H)
    assert up["updated"] == 1 and up["total"] == 2
    listed = contract.check(c.get("/api/pull/hints"), H)
    assert listed["total"] == 2 and {(h["accession_number"], h["body_part"], h["priority"]) for h in listed["hints"]} \
        == {("ACC1", "BRAIN", "routine"), ("", "CHEST", "routine")}
    bad = contract.check(c.post("/api/pull/hints", content=b"accession_number,body_part,priority\nA,HEAD,soon\n",
                                headers={"Content-Type": "text/csv"}), H)  # 400
    assert "CSV line 2" in bad["error"] and "soon" in bad["error"]
    assert "body_part" in c.post("/api/pull/hints", json={"orders": [{"accession_number": "A"}]}).json()["error"]
    xml = {"Content-Type": "application/xml"}
    contract.check(c.post("/api/pull/hints", content=b"<orders/>", headers=xml), H)  # 415
    big = b"accession_number,body_part\n" + b"A,HEAD\n" * (8 * 1024 * 1024 // 7 + 1)
    contract.check(c.post("/api/pull/hints", content=big, headers={"Content-Type": "text/csv"}), H)  # 413
    replaced = contract.check(c.post("/api/pull/hints", params={"replace": "true"}, json={"orders": [
        {"patient_id": "P9", "body_part": "knee", "priority": "urgent"}]}), H)
    assert replaced == {"added": 1, "updated": 0, "replaced": True, "total": 1}

    contract.provoke_refusals(c, lambda template: template.startswith("/pull/"))
    mine = {k for k in contract.documented() if k[0].startswith("/pull/")}
    assert mine - contract.seen == set(), f"documented answers never produced: {sorted(mine - contract.seen)}"
