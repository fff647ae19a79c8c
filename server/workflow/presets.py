"""Protocol presets in the workflow: remember what a person entered for a protocol, apply it to later
studies of that protocol, and let administrators list, edit and delete presets.

The protocol identity and the rule of which values a preset may fill are the engine's
(``quant.protocol_key`` / ``quant.apply_preset``: a preset never replaces a value read from the
images). A preset belongs to the institution of the job it was saved from; administrators see every
preset, institution administrators their institution's.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

import quant
from server.app_errors import InvalidInput, NotFoundError
from server.auth.principal import Principal
from server.context import AppContext
from server.db.analysis import AnalysisJob
from server.db.database import utcnow
from server.db.presets import ProtocolPreset
from server.workflow import parameters

log = logging.getLogger("cirrus.analysis")

FROM_IMAGES = frozenset({"tag", "protocol"})


def _visible(p: Principal) -> Any:
    if p.is_admin:
        return col(ProtocolPreset.id).is_not(None)
    return col(ProtocolPreset.institution_id) == p.institution_id


def protocol_of(job: AnalysisJob) -> dict[str, str] | None:
    """The job's protocol identity as detection stored it (None: the engine gave none)."""
    protocol = ((job.detected or {}).get("summary") or {}).get("protocol")
    return protocol if isinstance(protocol, dict) and protocol.get("key") else None


def values_to_remember(job: AnalysisJob) -> dict[str, Any]:
    """The job's entered values a preset may hold; never a value the images carried."""
    detected = (job.detected or {}).get("parameters") or {}
    out = {}
    for name, value in (job.overrides or {}).items():
        if name not in parameters.PRESET_PARAMETERS or value is None:
            continue
        if (detected.get(name) or {}).get("source") in FROM_IMAGES:
            continue
        out[name] = value
    return out


def check_rememberable(job: AnalysisJob) -> tuple[dict[str, str], dict[str, Any]]:
    """The protocol and the values a preset of ``job`` would hold; :class:`InvalidInput` if none."""
    protocol = protocol_of(job)
    if protocol is None:
        raise InvalidInput(f"analysis job {job.id} has no protocol identity to remember parameters for")
    values = values_to_remember(job)
    if not values:
        raise InvalidInput(f"analysis job {job.id} has no entered parameters a preset may hold "
                           f"({', '.join(parameters.PRESET_PARAMETERS)})")
    return protocol, values


async def remember(ctx: AppContext, p: Principal, job: AnalysisJob) -> ProtocolPreset:
    """Save (or extend) the preset of ``job``'s protocol from the values entered on it."""
    protocol, values = check_rememberable(job)
    who = p.username or f"user {p.user_id}"
    for attempt in range(2):
        async with ctx.write_session() as s:
            row = (await s.exec(select(ProtocolPreset).where(
                ProtocolPreset.institution_id == job.institution_id,
                ProtocolPreset.protocol_key == protocol["key"]))).first()
            if row is None:
                row = ProtocolPreset(
                    institution_id=job.institution_id, protocol_key=protocol["key"][:512],
                    manufacturer=protocol.get("manufacturer", "")[:64], protocol=protocol.get("protocol", "")[:128],
                    sequence=protocol.get("sequence", "")[:128], station=protocol.get("station", "")[:64],
                    values=values, created_by=who[:128], updated_by=who[:128])
            else:
                row.values = {**row.values, **values}
                row.updated_by = who[:128]
                row.updated_at = utcnow()
            s.add(row)
            try:
                await s.commit()
            except IntegrityError:  # saved by another request meanwhile: extend that one
                if attempt:
                    raise
                continue
            await s.refresh(row)
            log.info("preset %s saved for %s: %s", row.id, protocol.get("label", protocol["key"]), sorted(values))
            return row
    raise AssertionError("unreachable")


async def find(ctx: AppContext, institution_id: int, key: str) -> ProtocolPreset | None:
    async with ctx.sessions() as s:
        return (await s.exec(select(ProtocolPreset).where(  # type: ignore[no-any-return]
            ProtocolPreset.institution_id == institution_id, ProtocolPreset.protocol_key == key))).first()


async def count_use(s: Any, preset_id: int) -> None:
    """One more job started from the preset (in the caller's write session, committed here)."""
    await s.exec(update(ProtocolPreset).where(col(ProtocolPreset.id) == preset_id)
                 .values(times_used=ProtocolPreset.times_used + 1))
    await s.commit()


def applied(acquisition: Any, row: ProtocolPreset) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(overrides, override notes, still missing) of ``row`` applied to an acquisition."""
    try:
        application = quant.apply_preset(acquisition, row.values, acquisition.protocol or row.protocol_key)
    except quant.InputError as exc:
        log.warning("preset %s not applied: %s", row.id, exc)
        return {}, {}, list(acquisition.missing)
    overrides = {k: p.value for k, p in application.overrides.items()}
    notes = {k: {"source": "preset", "detail": f"preset {row.id} ({p.detail})", "preset_id": row.id}
             for k, p in application.overrides.items()}
    still = [m for m in acquisition.missing if m not in overrides]
    still += [m for m in application.missing if m not in still and m in parameters.PARAMETERS]
    return overrides, notes, still


async def list_presets(ctx: AppContext, p: Principal) -> list[ProtocolPreset]:
    async with ctx.sessions() as s:
        rows = await s.exec(select(ProtocolPreset).where(_visible(p)).order_by(
            col(ProtocolPreset.manufacturer), col(ProtocolPreset.protocol), col(ProtocolPreset.id)))
        return list(rows.all())


async def _get(s: Any, p: Principal, preset_id: int) -> ProtocolPreset:
    row = (await s.exec(select(ProtocolPreset).where(col(ProtocolPreset.id) == preset_id, _visible(p)))).first()
    if row is None:
        raise NotFoundError(f"preset {preset_id} not found")
    return row  # type: ignore[no-any-return]


async def get_preset(ctx: AppContext, p: Principal, preset_id: int) -> ProtocolPreset:
    async with ctx.sessions() as s:
        return await _get(s, p, preset_id)


async def update_preset(ctx: AppContext, p: Principal, preset_id: int, values: Any,
                        units: dict[str, Any] | None = None) -> ProtocolPreset:
    """Replace a preset's values (times with their unit, as on a job); ``null`` removes one."""
    if not isinstance(values, dict):
        raise InvalidInput("values must be an object {name: value}")
    entered = parameters.validate(values, units, allowed=parameters.PRESET_PARAMETERS)
    async with ctx.write_session() as s:
        row = await _get(s, p, preset_id)
        merged = {**row.values, **entered.values}
        merged = {k: v for k, v in merged.items() if v is not None}
        if not merged:
            raise InvalidInput("a preset needs at least one value (delete it instead)")
        row.values = merged
        row.updated_by = (p.username or f"user {p.user_id}")[:128]
        row.updated_at = utcnow()
        s.add(row)
        await s.commit()
        await s.refresh(row)
        return row


async def delete_preset(ctx: AppContext, p: Principal, preset_id: int) -> None:
    async with ctx.write_session() as s:
        row = await _get(s, p, preset_id)
        await s.delete(row)
        await s.commit()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def preset_json(row: ProtocolPreset) -> dict[str, Any]:
    return {
        "id": row.id,
        "institution_id": row.institution_id,
        "protocol_key": row.protocol_key,
        "manufacturer": row.manufacturer,
        "protocol": row.protocol,
        "sequence": row.sequence,
        "station": row.station,
        "values": row.values,
        "times_used": row.times_used,
        "created_by": row.created_by,
        "updated_by": row.updated_by,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }
