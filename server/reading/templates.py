"""Report templates per modality and body part: built-in ones (in code) and the admin's (table rows).

A template has a stable ``key``; a row with a built-in's key is the admin's edit of it (the list shows
the row), and deleting that row brings the built-in back. A built-in without a row cannot be deleted
(it is the fallback the editor always offers). Templates are the alliance's shared text, not patient
data: every doctor reads them, only the alliance admin changes them (``server.auth.rules``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import col

from server.app_errors import InvalidInput, NotFoundError, StateConflict
from server.auth.principal import Principal
from server.context import AppContext
from server.db.database import aware, utcnow
from server.db.reading import ReportTemplate

T = ReportTemplate
KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
TEXT_LIMIT = 20000
FIELDS_LIMIT = 20


@dataclass(frozen=True)
class Builtin:
    key: str
    name: str
    modality: str
    body_part: str
    findings: str
    impression: str
    fields: tuple[str, ...] = ()


BUILTIN: tuple[Builtin, ...] = (
    Builtin("mr-brain-perfusion", "脑 MR 灌注 (ASL) / Brain MR perfusion (ASL)", "MR", "BRAIN",
            "双侧大脑半球对称，灰白质分界清楚。脑室系统未见扩大，中线结构居中。\n"
            "ASL 灌注：双侧大脑半球 CBF 分布对称，未见明显灌注减低或增高区。\n"
            "Both hemispheres symmetric; grey-white differentiation preserved. ASL: symmetric CBF, "
            "no focal hypo- or hyperperfusion.",
            "脑灌注未见明显异常。 / No perfusion abnormality.",
            ("DWI", "FLAIR", "ASL")),
    Builtin("ct-head", "头颅 CT 平扫 / CT head (non-contrast)", "CT", "HEAD",
            "脑实质密度均匀，未见异常密度影。脑室、脑池大小形态正常，中线结构居中。颅骨未见骨折。\n"
            "Brain parenchyma of normal density; ventricles and cisterns normal; midline structures "
            "central; no skull fracture.",
            "头颅 CT 平扫未见明显异常。 / No acute intracranial abnormality.",
            ()),
    Builtin("ct-chest", "胸部 CT / Chest CT", "CT", "CHEST",
            "双肺纹理清晰，未见实变及结节影。气管、支气管通畅。纵隔居中，未见肿大淋巴结。双侧胸腔未见积液。\n"
            "Lungs clear, no consolidation or nodule; airways patent; no mediastinal lymphadenopathy; "
            "no pleural effusion.",
            "胸部 CT 未见明显异常。 / No abnormality of the chest.",
            ("肺结节 / Nodules",)),
    Builtin("mr-dce", "MR 动态增强 (DCE) / DCE-MRI", "MR", "",
            "动态增强扫描：病灶强化方式……\nDCE: enhancement pattern …",
            "……",
            ("Ktrans", "ve", "vp")),
)
BUILTIN_KEYS = {b.key: b for b in BUILTIN}


@dataclass(frozen=True)
class TemplateInput:
    name: str
    modality: str
    body_part: str
    findings: str
    impression: str
    fields: tuple[str, ...]


def _text(body: dict[str, Any], name: str, limit: int, required: bool = False) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(f"{name} must be a text of at most {limit} characters")
    if required and not value.strip():
        raise InvalidInput(f"{name} is required")
    return value.strip() if limit <= 128 else value


def parse_key(key: Any) -> str:
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise InvalidInput("key must be 1-64 lower-case letters, digits, '-' or '_' (starting with a letter or digit)")
    return key


def parse_template(body: dict[str, Any]) -> TemplateInput:
    unknown = set(body) - {"key", "name", "modality", "body_part", "findings", "impression", "fields"}
    if unknown:
        raise InvalidInput(f"unknown template fields: {', '.join(sorted(unknown))}")
    fields = body.get("fields", [])
    if not isinstance(fields, list) or len(fields) > FIELDS_LIMIT or not all(
            isinstance(f, str) and 0 < len(f.strip()) <= 64 for f in fields):
        raise InvalidInput(f"fields must be a list of at most {FIELDS_LIMIT} names of 1-64 characters")
    return TemplateInput(
        name=_text(body, "name", 128, required=True),
        modality=_text(body, "modality", 16).upper(),
        body_part=_text(body, "body_part", 64).upper(),
        findings=_text(body, "findings", TEXT_LIMIT),
        impression=_text(body, "impression", TEXT_LIMIT),
        fields=tuple(f.strip() for f in fields),
    )


def _builtin_json(b: Builtin) -> dict[str, Any]:
    return {"key": b.key, "name": b.name, "modality": b.modality, "body_part": b.body_part,
            "findings": b.findings, "impression": b.impression, "fields": list(b.fields),
            "builtin": True, "edited": False, "updated_by": "", "updated_at": None}


def _row_json(row: ReportTemplate) -> dict[str, Any]:
    return {"key": row.key, "name": row.name, "modality": row.modality, "body_part": row.body_part,
            "findings": row.findings, "impression": row.impression, "fields": list(row.fields or []),
            "builtin": row.key in BUILTIN_KEYS, "edited": True, "updated_by": row.updated_by,
            "updated_at": aware(row.updated_at).isoformat()}


def _applies(t: dict[str, Any], modality: str, body_part: str) -> bool:
    """A template applies to a study when its modality and body part are blank or equal."""
    return (not modality or not t["modality"] or t["modality"] == modality) and \
        (not body_part or not t["body_part"] or t["body_part"] == body_part)


async def list_templates(ctx: AppContext, modality: str = "", body_part: str = "") -> list[dict[str, Any]]:
    async with ctx.engine.connect() as conn:
        rows = [ReportTemplate.model_validate(dict(r._mapping))
                for r in (await conn.execute(select(T).order_by(col(T.key)))).all()]
    by_key = {b.key: _builtin_json(b) for b in BUILTIN}
    by_key.update({r.key: _row_json(r) for r in rows})
    out = [t for t in by_key.values() if _applies(t, modality.upper(), body_part.upper())]
    # Specific ones first (both modality and body part set), then by key.
    return sorted(out, key=lambda t: (-(bool(t["modality"]) + bool(t["body_part"])), t["key"]))


async def _row(conn: Any, key: str) -> ReportTemplate | None:
    row = (await conn.execute(select(T).where(col(T.key) == key))).first()
    return ReportTemplate.model_validate(dict(row._mapping)) if row is not None else None


def _values(inp: TemplateInput, p: Principal) -> dict[str, Any]:
    return {"name": inp.name, "modality": inp.modality, "body_part": inp.body_part, "findings": inp.findings,
            "impression": inp.impression, "fields": list(inp.fields), "updated_by": p.username or "",
            "updated_at": utcnow()}


async def create_template(ctx: AppContext, p: Principal, body: dict[str, Any]) -> dict[str, Any]:
    key = parse_key(body.get("key"))
    inp = parse_template(body)
    async with ctx.write() as conn:
        if key in BUILTIN_KEYS or await _row(conn, key) is not None:
            raise StateConflict(f"a template {key!r} exists already (PUT /api/reading/templates/{key} edits it)")
        await conn.execute(T.__table__.insert().values(key=key, **_values(inp, p)))  # type: ignore[attr-defined]
        row = await _row(conn, key)
    assert row is not None
    return _row_json(row)


async def save_template(ctx: AppContext, p: Principal, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """Edit a template (a built-in one gets its row here)."""
    parse_key(key)
    if "key" in body and body["key"] != key:
        raise InvalidInput("a template's key cannot be changed")
    inp = parse_template({k: v for k, v in body.items() if k != "key"})
    async with ctx.write() as conn:
        row = await _row(conn, key)
        if row is None and key not in BUILTIN_KEYS:
            raise NotFoundError(f"no report template {key!r}")
        if row is None:
            await conn.execute(T.__table__.insert().values(key=key, **_values(inp, p)))  # type: ignore[attr-defined]
        else:
            await conn.execute(T.__table__.update().where(col(T.key) == key).values(  # type: ignore[attr-defined]
                **_values(inp, p)))
        saved = await _row(conn, key)
    assert saved is not None
    return _row_json(saved)


async def delete_template(ctx: AppContext, p: Principal, key: str) -> None:
    """Delete an admin's template; for an edited built-in this restores the built-in text."""
    parse_key(key)
    async with ctx.write() as conn:
        done = await conn.execute(delete(T).where(col(T.key) == key))
    if not done.rowcount:
        if key in BUILTIN_KEYS:
            raise StateConflict(f"{key!r} is a built-in template and cannot be deleted (edit it instead)")
        raise NotFoundError(f"no report template {key!r}")
