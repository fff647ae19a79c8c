"""The visibility decision cache (``ensure_visible``, kept ``DECISION_TTL`` seconds) follows a grant
change made in this process at once: a reading request sent, studies linked or unlinked, a request
cancelled, a share revoked (SQLite and PostgreSQL, through the real services)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from dicomweb.errors import NotFound
from server.auth.principal import Role
from server.auth.visibility import ensure_visible
from server.context import AppContext, open_context
from server.reading import service
from server.reading.inputs import parse_request
from server.settings import Settings
from server.shares import service as shares
from tests.server.reading.helpers import Alliance, doctor, make_alliance, store_study


@pytest_asyncio.fixture
async def ground(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[AppContext, Alliance]]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, workers=0)
    async with open_context(settings) as ctx:
        yield ctx, await make_alliance(ctx)


async def visible(ctx: AppContext, p, study: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        await ensure_visible(ctx, p, study)
    except NotFound:
        return False
    return True


async def test_a_sent_or_cancelled_request_is_seen_at_once(ground: tuple[AppContext, Alliance]) -> None:
    ctx, a = ground
    requester = doctor(a.county, Role.REQUESTING_DOCTOR, 1, "county")
    reader = doctor(a.city, Role.REPORTING_DOCTOR, 2, "city")
    study, _ = await store_study(ctx, a.county)
    assert not await visible(ctx, reader, study)  # a "no" is now cached for DECISION_TTL
    req = await service.create_request(ctx, requester, parse_request(
        {"study_uids": [study], "mode": "superior", "reading_institution_id": a.city}))
    assert await visible(ctx, reader, study)  # the grant counts at once, not after the "no" expires
    await service.simple_action(ctx, requester, req.id or 0, "cancel", "患者转院")
    assert not await visible(ctx, reader, study)  # and the cached "yes" does not outlive the grant


async def test_linked_and_unlinked_studies_are_seen_at_once(ground: tuple[AppContext, Alliance]) -> None:
    ctx, a = ground
    requester = doctor(a.county, Role.REQUESTING_DOCTOR, 3, "county")
    reader = doctor(a.city, Role.REPORTING_DOCTOR, 4, "city")
    first, _ = await store_study(ctx, a.county)
    second, _ = await store_study(ctx, a.county, "Li^Si")
    req = await service.create_request(ctx, requester, parse_request(
        {"study_uids": [first], "mode": "superior", "reading_institution_id": a.city}))
    await service.simple_action(ctx, reader, req.id or 0, "send_back", "缺少既往片")
    assert not await visible(ctx, reader, second)
    await service.link_studies(ctx, requester, req.id or 0, [second])
    assert await visible(ctx, reader, second)
    await service.unlink_study(ctx, requester, req.id or 0, second)
    assert not await visible(ctx, reader, second)
    assert await visible(ctx, reader, first)


async def test_a_revoked_share_drops_the_cached_decisions(ground: tuple[AppContext, Alliance]) -> None:
    ctx, a = ground
    staff = doctor(a.county, Role.TECHNOLOGIST, 5, "tech")
    study, _ = await store_study(ctx, a.county)
    link, _ = await shares.create_share(ctx, staff, study, shares.parse_create({"expires_in_days": 7}))
    assert await visible(ctx, staff, study)
    assert ctx.memory.visibility.get((a.county, study)) is True
    await shares.revoke_share(ctx, staff, link.public_id)
    assert ctx.memory.visibility.get((a.county, study)) is None
