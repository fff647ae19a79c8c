"""Patient share links over HTTP on SQLite and PostgreSQL: create, list, revoke, QR, exchange and
lockout, and what the exchanged ``shr_`` token may and may not see.

Staff callers are real users of the alliance's hospitals calling with API tokens of their own
(``tests/auth_helpers.py``); the default caller is the first ``admin``. The share token goes through
the real authentication middleware (``ShareResolver``) and the share guard.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from typing import Any

import pydicom
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select, text, update
from sqlmodel import col
from starlette.testclient import TestClient

from server.app import create_app
from server.auth.principal import Role
from server.db.archive import Study
from server.db.database import utcnow
from server.db.reading import ReadingRequest, ReadingRequestStudy, ReportVersion
from server.db.shares import ShareLink, ShareToken
from server.reading.documents import ReportDocument, build_pdf, encapsulated_pdf
from server.routes.openapi import OPENAPI
from server.services.ingest import IngestService
from server.shares import tokens
from tests.auth_helpers import bearer, create_user, token_for
from tests.conftest import authed_client
from tests.server.reading.helpers import Alliance, make_alliance, store_study
from tests.server.routes.test_openapi_contract import Contract

Ground = tuple[TestClient, Alliance, Any]


@pytest.fixture
def ground(database_url: str, settings_factory) -> Iterator[Ground]:  # type: ignore[no-untyped-def]
    app = create_app(settings_factory(database_url, public_url="https://pacs.example.org"))
    with authed_client(app) as c:
        ctx = app.state.ctx
        assert c.portal is not None
        yield c, c.portal.call(make_alliance, ctx), ctx


_tokens: dict[tuple[int, int, Role], dict[str, str]] = {}


def who(c: TestClient, inst: int, role: Role) -> dict[str, str]:
    """Headers of a real user with ``role`` at ``inst`` (one per test app), calling with their API token."""
    ctx = c.app.state.ctx  # type: ignore[attr-defined]
    key = (id(ctx), inst, role)
    if key not in _tokens:
        assert c.portal is not None
        user = c.portal.call(partial(create_user, ctx, role, inst))
        _tokens[key] = bearer(c.portal.call(partial(token_for, ctx, user, "write")))
    return _tokens[key]


def staff(c: TestClient, inst: int) -> dict[str, str]:
    return who(c, inst, Role.TECHNOLOGIST)


def create(c: TestClient, a: Alliance, study: str, **body: Any) -> dict[str, Any]:
    r = c.post(f"/api/studies/{study}/shares", json={"expires_in_days": 30, **body}, headers=staff(c, a.county))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def exchange(c: TestClient, share: str, code: str) -> Any:
    return c.post(f"/api/shares/{share}/exchange", json={"code": code})


def test_create_list_revoke_and_code_hashed(ground: Ground) -> None:
    c, a, ctx = ground
    assert c.portal is not None
    study, _ = c.portal.call(store_study, ctx, a.county)
    made = create(c, a, study)
    assert made["code"].isdigit() and len(made["code"]) == 6
    assert made["url"] == f"https://pacs.example.org/s/{made['id']}"
    assert made["state"] == "active" and made["allow_download"] is False
    letters = create(c, a, study, code_kind="letters", allow_download=True)
    assert len(letters["code"]) == 8 and letters["code"].isalpha()

    # The code is stored as an argon2id hash, never in plain text.
    async def stored() -> list[ShareLink]:
        async with ctx.sessions() as s:
            return list((await s.exec(select(ShareLink))).scalars())
    rows = c.portal.call(stored)
    for row in rows:
        assert row.code_hash.startswith("$argon2id$")
        assert made["code"] not in row.code_hash and letters["code"] not in row.code_hash

    listed = c.get(f"/api/studies/{study}/shares", headers=staff(c, a.county)).json()["shares"]
    assert [s["id"] for s in listed] == [letters["id"], made["id"]]
    assert all("code" not in s for s in listed)
    # Another hospital sees neither the study's shares nor the link.
    assert c.get(f"/api/studies/{study}/shares", headers=staff(c, a.other)).status_code == 404
    assert c.delete(f"/api/shares/{made['id']}", headers=staff(c, a.other)).status_code == 404
    # A read-only user may not share.
    ro = who(c, a.county, Role.READ_ONLY)
    assert c.post(f"/api/studies/{study}/shares", json={"expires_in_days": 1}, headers=ro).status_code == 403

    revoked = c.delete(f"/api/shares/{made['id']}", headers=staff(c, a.county))
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert exchange(c, made["id"], made["code"]).status_code == 410


def test_create_refusals(ground: Ground) -> None:
    c, a, ctx = ground
    assert c.portal is not None
    study, _ = c.portal.call(store_study, ctx, a.county)
    url, h = f"/api/studies/{study}/shares", staff(c, a.county)
    assert c.post(url, json={}, headers=h).status_code == 400  # expiry is mandatory
    assert c.post(url, json={"expires_in_days": 91}, headers=h).status_code == 400
    assert c.post(url, json={"expires_in_days": 1, "code_kind": "emoji"}, headers=h).status_code == 400
    assert c.post(url, json={"expires_in_days": 1, "series_uid": "1.2.3"}, headers=h).status_code == 400
    assert c.post("/api/studies/1.2.3.4/shares", json={"expires_in_days": 1}, headers=h).status_code == 404


def test_qr_codes_encode_the_url(ground: Ground) -> None:
    c, a, ctx = ground
    assert c.portal is not None
    study, _ = c.portal.call(store_study, ctx, a.county)
    made = create(c, a, study)
    png = c.get(made["qr_png"], headers=staff(c, a.county))
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert [b.text for b in found] == [made["url"]]
    assert made["code"] not in found[0].text
    svg = c.get(made["qr_svg"], headers=staff(c, a.county))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    assert c.get(f"/api/shares/{made['id']}/qr.gif").status_code == 404


def test_exchange_and_what_the_token_sees(ground: Ground) -> None:
    c, a, ctx = ground
    assert c.portal is not None
    study, datasets = c.portal.call(store_study, ctx, a.county)
    other, other_ds = c.portal.call(store_study, ctx, a.county, "Li^Si")
    made = create(c, a, study)
    assert exchange(c, made["id"], "000000" if made["code"] != "000000" else "111111").status_code == 403
    ok = exchange(c, made["id"], made["code"])
    assert ok.status_code == 200, ok.text
    token = ok.json()["token"]
    assert token.startswith("shr_") and ok.json()["study_uid"] == study

    # The token is stored as a digest only.
    async def tokens() -> list[str]:
        async with ctx.sessions() as s:
            return list((await s.exec(select(ShareToken.token_hash))).scalars())
    assert token not in c.portal.call(tokens)

    h = bearer(token)
    view = c.get(f"/api/shares/{made['id']}/view", headers=h)
    assert view.status_code == 200
    body = view.json()
    assert body["study"]["study_uid"] == study and body["report"] is None
    inst = body["series"][0]["instances"]
    assert len(inst) == 2
    series = datasets[0].SeriesInstanceUID
    base = f"/dicom-web/studies/{study}/series/{series}"
    frame = c.get(f"{base}/instances/{inst[0]['sop_instance_uid']}/frames/1/rendered",
                  headers={**h, "Accept": "image/png"})
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/png"
    assert c.get(f"/dicom-web/studies/{study}/series", headers=h).status_code == 200
    assert c.get(f"{base}/metadata", headers=h).status_code == 200
    # Another study, the study list, other API routes: 404; writes: 403; downloads: refused.
    other_series = other_ds[0].SeriesInstanceUID
    assert c.get(f"/dicom-web/studies/{other}/series/{other_series}/rendered", headers=h).status_code == 404
    assert c.get(f"/dicom-web/studies/{other}/metadata", headers=h).status_code == 404
    assert c.get("/dicom-web/studies", headers=h).status_code == 404
    assert c.get("/api/jobs", headers=h).status_code == 404
    # Staff routes: the rule table refuses the share's read-only credential first (403), never 200.
    assert c.get(f"/api/studies/{study}/shares", headers=h).status_code == 403
    assert c.get(f"/api/shares/{made['id']}/qr.png", headers=h).status_code == 403
    assert c.delete(f"/dicom-web/studies/{study}", headers=h).status_code == 403
    assert c.get(f"/dicom-web/studies/{study}", headers=h).status_code == 403
    assert c.get(f"{base}/instances/{inst[0]['sop_instance_uid']}", headers=h).status_code == 403
    assert c.get(f"{base}/instances/{inst[0]['sop_instance_uid']}/frames/1", headers=h).status_code == 403
    assert c.get(f"/wado?requestType=WADO&studyUID={study}&seriesUID={series}&objectUID="
                 f"{inst[0]['sop_instance_uid']}&contentType=application/dicom", headers=h).status_code == 403
    # Staff (here the admin) do not read the patient's page API; no token is 401, a bad one too.
    assert c.get(f"/api/shares/{made['id']}/view").status_code == 404
    assert c.get(f"/api/shares/{made['id']}/view", headers={"Authorization": ""}).status_code == 401
    assert c.get(f"/api/shares/{made['id']}/view", headers=bearer("shr_nonsense")).status_code == 401
    # Revoking the link ends its tokens at once.
    assert c.delete(f"/api/shares/{made['id']}", headers=staff(c, a.county)).status_code == 200
    assert c.get(f"/api/shares/{made['id']}/view", headers=h).status_code == 401


def test_download_allowed_and_series_share(ground: Ground) -> None:
    c, a, ctx = ground
    assert c.portal is not None
    study, datasets = c.portal.call(store_study, ctx, a.county)
    series = datasets[0].SeriesInstanceUID
    made = create(c, a, study, allow_download=True, series_uid=series)
    h = bearer(exchange(c, made["id"], made["code"]).json()["token"])
    sop = datasets[0].SOPInstanceUID
    got = c.get(f"/dicom-web/studies/{study}/series/{series}/instances/{sop}", headers=h)
    assert got.status_code == 200 and got.headers["content-type"].startswith("multipart/related")
    # A series share opens that series only.
    assert c.get(f"/dicom-web/studies/{study}/series", headers=h).status_code == 404
    assert c.get(f"/dicom-web/studies/{study}/series/1.2.3/metadata", headers=h).status_code == 404


def test_wrong_codes_lock_the_link_then_the_address(ground: Ground) -> None:
    c, a, ctx = ground
    assert c.portal is not None
    study, _ = c.portal.call(store_study, ctx, a.county)
    made, second = create(c, a, study), create(c, a, study)
    wrong = "ABCDEFGH"
    answers = [exchange(c, made["id"], wrong) for _ in range(5)]
    assert [r.status_code for r in answers] == [403, 403, 403, 403, 423]
    assert "4 attempts left" in answers[0].json()["error"]
    assert "locked" in answers[-1].json()["error"] and int(answers[-1].headers["Retry-After"]) > 800
    # Locked: even the right code is refused until the lock ends.
    assert exchange(c, made["id"], made["code"]).status_code == 423
    # The address has used its five wrong codes too: another link answers 429 from here.
    assert exchange(c, second["id"], second["code"]).status_code == 429

    async def unlock() -> None:
        async with ctx.write() as conn:
            past = utcnow() - timedelta(seconds=1)
            await conn.execute(text("UPDATE share_throttle SET locked_until = :t"), {"t": past})
    c.portal.call(unlock)
    assert exchange(c, made["id"], made["code"]).status_code == 200


def test_expired_link_is_gone(ground: Ground) -> None:
    c, a, ctx = ground
    assert c.portal is not None
    study, _ = c.portal.call(store_study, ctx, a.county)
    made = create(c, a, study)
    token = exchange(c, made["id"], made["code"]).json()["token"]

    async def expire() -> None:
        async with ctx.write() as conn:
            await conn.execute(update(ShareLink).where(col(ShareLink.public_id) == made["id"])
                               .values(expires_at=utcnow() - timedelta(minutes=1)))
    c.portal.call(expire)
    tokens.forget_all()  # what another process would see once its cache ran out
    assert exchange(c, made["id"], made["code"]).status_code == 410
    assert c.get(f"/api/shares/{made['id']}/view", headers=bearer(token)).status_code == 401
    assert exchange(c, "no-such-link", "123456").status_code == 404


async def study_with_report(ctx: Any, a: Alliance) -> tuple[str, str, list[pydicom.Dataset]]:
    """A study of the county hospital with an approved report version and its Encapsulated PDF."""
    study, datasets = await store_study(ctx, a.county)
    now = utcnow()
    async with ctx.write_session() as s:
        study_id = (await s.exec(select(Study.id).where(col(Study.study_instance_uid) == study))).scalar()
        req = ReadingRequest(number="20261202000001", state="approved", requesting_institution_id=a.county,
                             reading_institution_id=a.city, examination="头颅CT平扫", modality="CT")
        s.add(req)
        await s.flush()
        s.add(ReadingRequestStudy(request_id=req.id or 0, study_id=study_id or 0))
        pdf_uid = pydicom.uid.generate_uid()
        s.add(ReportVersion(request_id=req.id or 0, number=1, findings="脑实质未见异常密度。",
                            impression="未见明显异常。", author_name="报告医生", status="approved",
                            reviewer_name="审核医生", signed_at=now, pdf_sop_instance_uid=pdf_uid))
        await s.commit()
    doc = ReportDocument(request_number="20261202000001", version=1, hospital="County", reading_hospital="City",
                         patient_name="Zhang San", patient_id="P1", patient_sex="M", patient_age="050Y",
                         examination="头颅CT平扫", modality="CT", clinical_history="",
                         findings="脑实质未见异常密度。", impression="未见明显异常。", fields={}, measurements=[],
                         key_images=[], reporter="报告医生", reviewer="审核医生", signed_at=now)
    ds = encapsulated_pdf(build_pdf(doc), datasets[0], doc, series_uid=pydicom.uid.generate_uid(), sop_uid=pdf_uid)
    outcomes = await IngestService(ctx).ingest_datasets([ds], expected_study_uid=study)
    assert all(o.status != "failed" for o in outcomes), outcomes
    return study, pdf_uid, datasets


def test_the_patient_sees_the_approved_report(ground: Ground) -> None:
    c, a, ctx = ground
    assert c.portal is not None
    study, pdf_uid, datasets = c.portal.call(study_with_report, ctx, a)
    made = create(c, a, study)
    h = bearer(exchange(c, made["id"], made["code"]).json()["token"])
    body = c.get(f"/api/shares/{made['id']}/view", headers=h).json()
    assert body["report"]["impression"] == "未见明显异常。" and body["report"]["hospital"] == "City"
    assert [d["sop_instance_uid"] for d in body["documents"]] == [pdf_uid]
    assert all(s["modality"] != "DOC" for s in body["series"])
    pdf = c.get(body["documents"][0]["url"], headers=h)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and b"%%EOF" in pdf.content[-16:]
    assert c.get(f"/api/shares/{made['id']}/documents/{datasets[0].SOPInstanceUID}", headers=h).status_code == 404


def test_spa_serves_the_share_page(ground: Ground) -> None:
    c, _, _ = ground
    r = c.get("/s/abcdef")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]


def test_answers_match_the_openapi_document(ground: Ground) -> None:
    """Every documented answer of the share paths is produced here and matches its schema."""
    c, a, ctx = ground
    assert c.portal is not None
    contract = Contract(OPENAPI)
    study, datasets = c.portal.call(store_study, ctx, a.county)
    h = staff(c, a.county)
    S, L = "/studies/{study}/shares", "/shares/{share}"
    url = f"/api/studies/{study}/shares"
    made = contract.check(c.post(url, json={"expires_in_days": 7}, headers=h), S)
    contract.check(c.post(url, json={}, headers=h), S)  # 400
    contract.check(c.post(url, json={"expires_in_days": 7}, headers={"Authorization": ""}), S)  # 401
    contract.check(c.post(url, json={"expires_in_days": 7}, headers=who(c, a.county, Role.READ_ONLY)), S)  # 403
    contract.check(c.post("/api/studies/1.2.3/shares", json={"expires_in_days": 7}, headers=h), S)  # 404
    contract.check(c.get(url, headers=h), S)
    contract.check(c.get(url, headers={"Authorization": ""}), S)  # 401
    contract.check(c.get(url, headers=staff(c, a.other)), S)  # 404
    share = made["id"]
    contract.check(c.get(f"/api/shares/{share}/qr.png", headers=h), L + "/qr.png")
    contract.check(c.get("/api/shares/nope/qr.png", headers=h), L + "/qr.png")  # 404
    contract.check(c.get(f"/api/shares/{share}/qr.svg", headers=h), L + "/qr.svg")
    contract.check(c.get("/api/shares/nope/qr.svg", headers=h), L + "/qr.svg")  # 404
    x = L + "/exchange"
    contract.check(c.post(f"/api/shares/{share}/exchange", json={}), x)  # 400
    contract.check(c.post("/api/shares/nope/exchange", json={"code": "123456"}), x)  # 404
    session = contract.check(c.post(f"/api/shares/{share}/exchange", json={"code": made["code"]}), x)
    token = bearer(session["token"])
    contract.check(c.get(url, headers=token), S)  # 403: the share's credential may not list
    contract.check(c.get(f"/api/shares/{share}/qr.png", headers=token), L + "/qr.png")  # 403
    contract.check(c.delete(f"/api/shares/{share}", headers=token), L)  # 403
    contract.check(c.get(f"/api/shares/{share}/view", headers=token), L + "/view")
    contract.check(c.get(f"/api/shares/{share}/view"), L + "/view")  # 404: the admin has no share
    contract.check(c.get(f"/api/shares/{share}/view", headers=bearer("shr_x")), L + "/view")  # 401
    d = L + "/documents/{sop}"
    contract.check(c.get(f"/api/shares/{share}/documents/{datasets[0].SOPInstanceUID}", headers=token), d)  # 404
    # The refusals every authenticated operation may answer (added by the document in one place).
    nobody = {"Authorization": ""}
    contract.check(c.get("/api/studies/%C2%95/shares", headers=h), S)  # 400
    contract.check(c.delete(f"/api/shares/{share}", headers=nobody), L)  # 401
    contract.check(c.get(f"/api/shares/{share}/qr.png", headers=nobody), L + "/qr.png")  # 401
    contract.check(c.get(f"/api/shares/{share}/qr.svg", headers=nobody), L + "/qr.svg")  # 401
    contract.check(c.get(f"/api/shares/{share}/qr.svg", headers=token), L + "/qr.svg")  # 403
    contract.check(c.get(f"/api{d.replace('{share}', share).replace('{sop}', '1.2')}", headers=bearer("shr_x")), d)
    wrong = "000000" if made["code"] != "000000" else "111111"
    for _ in range(4):
        contract.check(c.post(f"/api/shares/{share}/exchange", json={"code": wrong}), x)  # 403
    contract.check(c.post(f"/api/shares/{share}/exchange", json={"code": wrong}), x)  # 423
    other = contract.check(c.post(url, json={"expires_in_days": 7}, headers=h), S)
    contract.check(c.post(f"/api/shares/{other['id']}/exchange", json={"code": other["code"]}), x)  # 429
    contract.check(c.delete(f"/api/shares/{other['id']}", headers=h), L)
    contract.check(c.delete(f"/api/shares/{other['id']}", headers=staff(c, a.other)), L)  # 404
    contract.check(c.post(f"/api/shares/{other['id']}/exchange", json={"code": other["code"]}), x)  # 410
    # The documents route's 200 is produced by the report test; here the one with a PDF:
    pdf_study, pdf_uid, _ = c.portal.call(study_with_report, ctx, a)
    shared = contract.check(c.post(f"/api/studies/{pdf_study}/shares", json={"expires_in_days": 7}, headers=h), S)

    async def unlock() -> None:
        async with ctx.write() as conn:
            await conn.execute(text("DELETE FROM share_throttle"))
    c.portal.call(unlock)
    t2 = bearer(c.post(f"/api/shares/{shared['id']}/exchange", json={"code": shared["code"]}).json()["token"])
    contract.check(c.get(f"/api/shares/{shared['id']}/documents/{pdf_uid}", headers=t2), d)

    # (the study's analyse action has its own contract run: tests/server/workflow/test_detection_failures.py;
    # the viewer's measurements and key images theirs: tests/server/measurements)
    others = {"/studies/{study}/analyse", "/studies/{study}/measurements", "/studies/{study}/key-images"}
    mine = {k for k in contract.documented() if k[0].startswith(("/studies/", "/shares/")) and k[0] not in others}
    assert mine - contract.seen == set(), f"documented answers never produced: {sorted(mine - contract.seen)}"
