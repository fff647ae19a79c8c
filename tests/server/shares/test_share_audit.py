"""Share-code exchanges in the audit log (SQLite and PostgreSQL): each one names the link and the
study, its outcome and, when refused, why — wrong code, locked, throttled, expired, revoked, no such
link."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlmodel import col

from server.db.database import utcnow
from server.db.shares import ShareLink
from server.shares import tokens
from tests.server.reading.helpers import store_study
from tests.server.routes.test_audit import records
from tests.server.shares.test_shares import Ground, create, exchange, ground, staff  # noqa: F401


def exchanges(c: Any) -> list[tuple[str, str, int, str]]:
    """(action, outcome, status, detail) of the recorded exchanges, oldest first."""
    rows = [r for r in records(c) if r["path"].endswith("/exchange")]
    return [(r["action"], r["outcome"], r["status"], r["detail"]) for r in rows]


def share_db_id(c: Any, ctx: Any, public_id: str) -> int:
    async def find() -> int:
        async with ctx.sessions() as s:
            return int((await s.exec(select(ShareLink.id).where(col(ShareLink.public_id) == public_id))).scalar())
    return int(c.portal.call(find))


def test_every_exchange_is_audited_with_link_study_and_reason(ground: Ground) -> None:  # noqa: F811
    c, a, ctx = ground
    study, _ = c.portal.call(store_study, ctx, a.county)
    made, second = create(c, a, study), create(c, a, study)
    wrong = "ABCDEFGH"
    assert [exchange(c, made["id"], wrong).status_code for _ in range(5)] == [403, 403, 403, 403, 423]
    assert exchange(c, made["id"], made["code"]).status_code == 423  # the link is locked
    assert exchange(c, second["id"], second["code"]).status_code == 429  # so is this address

    async def unlock() -> None:
        async with ctx.write() as conn:
            await conn.execute(text("UPDATE share_throttle SET locked_until = :t"),
                               {"t": utcnow() - timedelta(seconds=1)})
    c.portal.call(unlock)
    assert exchange(c, made["id"], made["code"]).status_code == 200
    assert c.post(f"/api/shares/{made['id']}/exchange", json={"code": ""}).status_code == 400
    assert exchange(c, "no-such-link", "123456").status_code == 404

    assert exchanges(c) == [
        *[("failed_login", "denied", 403, "wrong code")] * 4,
        ("failed_login", "refused", 423, "wrong code, locked"),
        ("failed_login", "refused", 423, "locked"),
        ("failed_login", "refused", 429, "throttled"),
        ("login", "success", 200, ""),
        ("failed_login", "refused", 400, "malformed code"),
        ("failed_login", "not_found", 404, "no such link"),
    ]
    rows = [r for r in records(c) if r["path"].endswith("/exchange")]
    first, other = share_db_id(c, ctx, made["id"]), share_db_id(c, ctx, second["id"])
    # A malformed code is refused before the link is looked up.
    assert [r["share_id"] for r in rows] == [first] * 6 + [other, first, None, None]
    assert [r["study_uid"] for r in rows] == [study] * 8 + ["", ""]
    assert {r["actor"] for r in rows[:-1]} == {f"share:{made['id']}", f"share:{second['id']}"}
    assert all(r["auth_method"] == "share" and r["client_address"] == "testclient" for r in rows)
    assert rows[7]["patient_id"]  # the study's patient is looked up for the record
    # The successful exchange is the share principal's own record: acting for the owning institution.
    assert rows[7]["acting_for_institution_id"] == a.county
    # Never the code itself.
    assert not any(made["code"] in (r["detail"] + r["path"]) for r in rows)


def test_expired_and_revoked_links_are_audited_as_such(ground: Ground) -> None:  # noqa: F811
    c, a, ctx = ground
    study, _ = c.portal.call(store_study, ctx, a.county)
    expired, revoked = create(c, a, study), create(c, a, study)

    async def expire() -> None:
        async with ctx.write() as conn:
            await conn.execute(update(ShareLink).where(col(ShareLink.public_id) == expired["id"])
                               .values(expires_at=utcnow() - timedelta(minutes=1)))
    c.portal.call(expire)
    assert c.delete(f"/api/shares/{revoked['id']}", headers=staff(c, a.county)).status_code == 200
    tokens.forget_all()
    assert exchange(c, expired["id"], expired["code"]).status_code == 410
    assert exchange(c, revoked["id"], revoked["code"]).status_code == 410
    assert exchanges(c) == [("failed_login", "refused", 410, "expired"), ("failed_login", "refused", 410, "revoked")]
    rows = [r for r in records(c) if r["path"].endswith("/exchange")]
    assert [r["share_id"] for r in rows] == [share_db_id(c, ctx, expired["id"]), share_db_id(c, ctx, revoked["id"])]
    assert {r["study_uid"] for r in rows} == {study}
