"""The names people read on a request and its report are the accounts' display names (SQLite and PostgreSQL).

Requester, lock holder, reporter, author, reviewer and the observers of the stored SR (and the PDF's
signing lines, built from the same names) show ``display_name``; the event log keeps the login name
(the audit identity); an account without a display name shows its login name.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import pydicom
import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.auth.principal import Role
from tests.auth_helpers import bearer, create_user, token_for
from tests.conftest import authed_client
from tests.server.reading.helpers import Alliance, make_alliance, store_study


@pytest.fixture
def ground(database_url: str, settings_factory) -> Iterator[tuple[TestClient, Alliance, Any]]:  # type: ignore[no-untyped-def]
    app = create_app(settings_factory(database_url, reading_lock_seconds=600))
    with authed_client(app) as c:
        ctx = app.state.ctx
        assert c.portal is not None
        yield c, c.portal.call(make_alliance, ctx), ctx


def person(c: TestClient, inst: int, role: Role, username: str, display: str) -> dict[str, str]:
    assert c.portal is not None
    ctx = c.app.state.ctx  # type: ignore[attr-defined]
    user = c.portal.call(partial(create_user, ctx, role, inst, username, display_name=display))
    return bearer(c.portal.call(token_for, ctx, user))


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _sr_texts(ds: pydicom.Dataset) -> list[str]:
    out: list[str] = []
    for item in getattr(ds, "ContentSequence", []):
        if "PersonName" in item:
            out.append(str(item.PersonName))
        if "TextValue" in item:
            out.append(str(item.TextValue))
        out.extend(_sr_texts(item))
    return out


def test_display_names_on_the_request_the_lock_and_the_signed_report(
        ground: tuple[TestClient, Alliance, Any]) -> None:
    c, a, ctx = ground
    assert c.portal is not None
    study, _ = c.portal.call(store_study, ctx, a.county)
    requester = person(c, a.county, Role.REQUESTING_DOCTOR, "req_login", "Dr Li Ming")
    reporter = person(c, a.city, Role.REPORTING_DOCTOR, "rep_login", "Dr Wang Fang")
    reviewer = person(c, a.city, Role.REVIEWER, "rev_login", "")  # no display name: the login name

    req = ok(c.post("/api/reading/requests", headers=requester, json={
        "mode": "superior", "reading_institution_id": a.city, "study_uids": [study], "modality": "CT"}), 201)
    assert req["requester_name"] == "Dr Li Ming"
    r = f"/api/reading/requests/{req['id']}"
    locked = ok(c.post(f"{r}/lock", headers=reporter, json={}))
    assert locked["reporter_name"] == "Dr Wang Fang"
    assert locked["lock"]["holder_name"] == "Dr Wang Fang" and locked["lock"]["mine"] is True
    # Another doctor of the reading hospital is told who holds the lock, by name.
    other = person(c, a.city, Role.REPORTING_DOCTOR, "rep2_login", "Dr Zhao")
    held = c.post(f"{r}/lock", headers=other, json={})
    assert held.status_code == 409 and "Dr Wang Fang" in held.text, held.text
    saved = ok(c.put(f"{r}/report", headers=reporter, json={"findings": "No bleed.", "impression": "Normal."}), 201)
    assert saved["author_name"] == "Dr Wang Fang"
    ok(c.post(f"{r}/submit", headers=reporter, json={}))
    reviewing = ok(c.post(f"{r}/start-review", headers=reviewer, json={}))
    assert reviewing["reviewer_name"] == "rev_login"
    done = ok(c.post(f"{r}/approve?lang=en", headers=reviewer, json={"comment": "Agreed"}))
    version = done["versions"][-1]
    assert version["status"] == "approved"
    assert (version["author_name"], version["reviewer_name"]) == ("Dr Wang Fang", "rev_login")
    # The event log keeps the login names.
    actors = {e["action"]: e["actor_name"] for e in done["events"]}
    assert actors["create"] == "req_login" and actors["lock"] == "rep_login" and actors["approve"] == "rev_login"

    # The stored SR names the signing doctors by display name.
    sr = c.get(f"/dicom-web/studies/{study}/series/{_series(c, study, 'SR')}/instances/"
               f"{version['sr_sop_instance_uid']}", headers={**requester, "Accept": "multipart/related; "
                                                           "type=\"application/dicom\""})
    assert sr.status_code == 200, sr.text[:300]
    body = sr.content
    start = body.index(b"\r\n\r\n") + 4
    end = body.rindex(b"\r\n--")
    ds = pydicom.dcmread(io.BytesIO(body[start:end]))
    texts = " ".join(_sr_texts(ds))
    assert "Dr Wang Fang" in texts and "rep_login" not in texts, texts
    assert str(ds.VerifyingObserverSequence[0].VerifyingObserverName) == "rev_login^"


def _series(c: TestClient, study: str, modality: str) -> str:
    rows = ok(c.get(f"/dicom-web/studies/{study}/series", headers={"Accept": "application/dicom+json"}))
    uids = [s["0020000E"]["Value"][0] for s in rows if s.get("00080060", {}).get("Value", [""])[0] == modality]
    assert len(uids) == 1, rows
    assert re.fullmatch(r"[0-9.]+", uids[0])
    return uids[0]
