"""Tenancy on SQLite and PostgreSQL: every route of the app × the callers, and nothing leaks.

Two hospitals (A and B) store studies through STOW as their own doctors; B grants nothing, a study
of B is granted to A (live) and another was (expired). The matrix is generated from the app's
route table: every path and method must have a rule in ``CASES`` (a new route without one fails
``test_every_route_has_a_rule``), and each rule says what every caller gets — 401 unauthenticated,
403 when the role may not, 404 for another tenant's study or job (like one that does not exist),
and success otherwise. Every answer is also searched for the UIDs and patient names of the studies
the caller may not see (QIDO results and counts, BulkDataURIs, job lists, events, reports).

Callers come from ``tests/tenancy_helpers.py`` (one place to switch to real accounts).
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
import pydicom
import pytest
from PIL import Image as PILImage
from sqlmodel import col, select
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from dicomweb.stow import FailureReason
from server.app import create_app
from server.db.access import GrantReason, StudyGrant
from server.db.analysis import AnalysisJob
from server.db.archive import Institution, Study
from server.db.database import utcnow
from server.db.presets import ProtocolPreset
from tests.dicom_helpers import STOW_TYPE, ct_instance, multipart
from tests.tenancy_helpers import make_callers, tenancy_app

CALLERS = ["anon", "ro_a", "doc_b", "iadm_b", "doc_a", "admin"]  # the order requests are sent in
A_SIDE = {"ro_a", "doc_a"}
B_SIDE = {"doc_b", "iadm_b"}


# -- the ground ---------------------------------------------------------------------------------------


@dataclass
class StudyRef:
    uid: str
    series: str
    sops: list[str]
    patient: str


@dataclass
class World:
    client: TestClient
    ctx: Any
    a: int
    b: int
    studies: dict[str, StudyRef] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    reading_request: int = 0
    share: dict[str, str] = field(default_factory=dict)  # a real share link of A1: id, code, token
    workitems: dict[str, str] = field(default_factory=dict)  # UPS workitems for A1 and B1
    callers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_(self, who: str | None) -> dict[str, str]:
        """Request headers of caller ``who`` (None or "anon": no credentials)."""
        if who is None or who == "anon":
            return {}
        if who == "share_a":
            return {"authorization": f"Bearer {self.share['token']}"}
        return dict(self.callers[who]["headers"])

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        assert self.client.portal is not None
        return self.client.portal.call(fn, *args)


def instance_bytes(study: str, series: str, sop: str, patient: str, number: int = 1, **extra: str) -> bytes:
    raw = ct_instance(study, series, sop, number=number, patient=patient)
    if not extra:
        return raw
    ds = pydicom.dcmread(io.BytesIO(raw))
    for k, v in extra.items():
        setattr(ds, k, v)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def stow(world: World, who: str, parts: list[bytes], study: str | None = None) -> Any:
    url = "/dicom-web/studies" + (f"/{study}" if study else "")
    return world.client.post(url, content=multipart(parts), headers={"content-type": STOW_TYPE, **world.as_(who)})


def store_study(world: World, who: str, patient: str, n: int = 2) -> StudyRef:
    ref = StudyRef(pydicom.uid.generate_uid(), pydicom.uid.generate_uid(),
                   [pydicom.uid.generate_uid() for _ in range(n)], patient)
    parts = [instance_bytes(ref.uid, ref.series, s, patient, i + 1) for i, s in enumerate(ref.sops)]
    r = stow(world, who, parts)
    assert r.status_code == 200, r.text
    return ref


async def _institutions(ctx: Any) -> tuple[int, int]:
    async with ctx.write_session() as s:
        tag = uuid.uuid4().hex[:6]
        a, b = Institution(name=f"Hospital A {tag}"), Institution(name=f"Hospital B {tag}")
        s.add(a)
        s.add(b)
        await s.commit()
        return a.id, b.id


async def _grant(ctx: Any, study_uid: str, institution: int, expired: bool) -> None:
    async with ctx.write_session() as s:
        study = (await s.exec(study_query(study_uid))).one()
        s.add(StudyGrant(study_id=study.id, institution_id=institution, reason=GrantReason.ASSISTANCE.value,
                         source_id=0, expires_at=utcnow() - timedelta(hours=1) if expired else None))
        await s.commit()


def study_query(study_uid: str) -> Any:
    return select(Study).where(col(Study.study_instance_uid) == study_uid)


async def _job(ctx: Any, ref: StudyRef, institution: int) -> int:
    async with ctx.write_session() as s:
        job = AnalysisJob(institution_id=institution, study_instance_uid=ref.uid, acquisition_key=uuid.uuid4().hex,
                          series_uids=[ref.series], patient_name=ref.patient, patient_name_upper=ref.patient.upper(),
                          patient_id="PID", study_date="20240315", state="waiting", missing=["pld"],
                          detected={"missing_raw": ["pld"]}, reason="waiting for: pld")
        s.add(job)
        await s.commit()
        return job.id or 0


async def _preset(ctx: Any, institution: int) -> int:
    async with ctx.write_session() as s:
        row = ProtocolPreset(institution_id=institution, protocol_key=f"philips|pcasl|{uuid.uuid4().hex}|st",
                             manufacturer="Philips", protocol="pCASL", values={"pld": 1.8})
        s.add(row)
        await s.commit()
        return row.id or 0


def a_preset(**req: Any) -> Target:
    """A fresh preset of A's institution (deleting takes it away)."""
    return lambda world, who: Req(params={"preset_id": world.call(_preset, world.ctx, world.a)}, **req)


async def _study_owner(ctx: Any, uid: str) -> int | None:
    async with ctx.sessions() as s:
        study = (await s.exec(study_query(uid))).one_or_none()
        return None if study is None else study.institution_id


@pytest.fixture
def world(database_url: str, settings_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    app = tenancy_app(settings_factory(database_url))
    with TestClient(app, base_url="http://testserver") as client:
        ctx = app.state.ctx
        world = World(client, ctx, 0, 0)
        world.a, world.b = world.call(_institutions, ctx)
        world.callers = world.call(make_callers, ctx, {"A": world.a, "B": world.b})
        world.studies["A1"] = store_study(world, "doc_a", "Alpha^Own")
        world.studies["B1"] = store_study(world, "doc_b", "Bravo^Own")
        world.studies["BG"] = store_study(world, "doc_b", "Bravo^Granted")
        world.studies["BX"] = store_study(world, "doc_b", "Bravo^Expired")
        world.call(_grant, ctx, world.studies["BG"].uid, world.a, False)
        world.call(_grant, ctx, world.studies["BX"].uid, world.a, True)
        world.jobs["A1"] = world.call(_job, ctx, world.studies["A1"], world.a)
        world.jobs["B1"] = world.call(_job, ctx, world.studies["B1"], world.b)
        r = client.post("/api/reading/requests", json={"study_uids": [world.studies["A1"].uid]},
                        headers=world.as_("doc_a"))
        assert r.status_code == 201, r.text
        world.reading_request = r.json()["id"]
        world.workitems["A1"] = new_workitem(world, "doc_a", "A1")
        world.workitems["B1"] = new_workitem(world, "doc_b", "B1")
        world.share = new_share(world)
        r = client.post(f"/api/shares/{world.share['id']}/exchange", json={"code": world.share["code"]})
        assert r.status_code == 200, r.text
        world.share["token"] = r.json()["token"]
        yield world


def workitem_body(world: World, study: str) -> dict[str, Any]:
    ref = world.studies[study]
    return {
        "00741200": {"vr": "CS", "Value": ["MEDIUM"]}, "00741204": {"vr": "LO", "Value": ["Read"]},
        "00404005": {"vr": "DT", "Value": ["20260301090000"]}, "00404041": {"vr": "CS", "Value": ["READY"]},
        "00741000": {"vr": "CS", "Value": ["SCHEDULED"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": ref.patient}]},
        "0040A370": {"vr": "SQ", "Value": [{"0020000D": {"vr": "UI", "Value": [ref.uid]}}]},
    }


def new_workitem(world: World, who: str, study: str) -> str:
    """A SCHEDULED workitem for ``study``, created through UPS-RS by ``who``."""
    uid = pydicom.uid.generate_uid()
    r = world.client.post(f"/dicom-web/workitems?{uid}", content=orjson.dumps(workitem_body(world, study)),
                          headers={"content-type": "application/dicom+json", **world.as_(who)})
    assert r.status_code == 201, r.text
    return uid


def new_share(world: World) -> dict[str, str]:
    """A real share link of A1, made by A's doctor: {"id", "code"}."""
    r = world.client.post(f"/api/studies/{world.studies['A1'].uid}/shares",
                          json={"expires_in_days": 7}, headers=world.as_("doc_a"))
    assert r.status_code == 201, r.text
    return {"id": r.json()["id"], "code": r.json()["code"]}


# -- the route table ----------------------------------------------------------------------------------


def route_table(app: Any) -> list[tuple[str, str]]:
    """Every (path, method) the app serves (HEAD is GET's)."""
    out: list[tuple[str, str]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for r in routes:
            if isinstance(r, Mount):
                if r.routes:
                    walk(r.routes, prefix + r.path)
                else:
                    out.append((prefix + r.path + "/{path:path}", "GET"))  # static files
            elif isinstance(r, Route):
                for m in sorted((r.methods or {"GET"}) - {"HEAD"}):
                    out.append((prefix + r.path, m))

    walk(app.routes, "")
    return out


@dataclass(frozen=True)
class Req:
    params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


Target = Callable[[World, str], Req]
Expect = dict[str, set[int]]

OK = {200}
STATEFUL = {200, 201, 204, 409}  # passed the tenant and role checks; the state decides


def expect(ok: set[int], ro_a: set[int] | None = None, b_side: set[int] | None = None,
           doc_a: set[int] | None = None, anon: set[int] | None = None) -> Expect:
    return {"anon": anon or {401}, "ro_a": ro_a or ok, "doc_b": b_side or {404}, "iadm_b": b_side or {404},
            "doc_a": doc_a or ok, "admin": ok}


def visible_to_all(ok: set[int]) -> Expect:
    return expect(ok, b_side=ok)


def a1(level: str = "study", **extra: Any) -> Target:
    def make(world: World, who: str) -> Req:
        s = world.studies["A1"]
        params = {"study": s.uid, "series": s.series, "instance": s.sops[0], "frames": "1", "path": "7FE00010"}
        keep = {"study": ["study"], "series": ["study", "series"], "instance": ["study", "series", "instance"]}
        return Req(params={k: params[k] for k in keep.get(level, params)} | extra)

    return make


def fresh_a_study(level: str) -> Target:
    """A study of A stored for this one request (DELETE takes it away)."""
    def make(world: World, who: str) -> Req:
        ref = store_study(world, "doc_a", "Alpha^Del")
        world.studies[f"del-{level}-{who}"] = ref
        params = {"study": ref.uid, "series": ref.series, "instance": ref.sops[0]}
        return Req(params=params)

    return make


def job(name: str = "A1", fresh: bool = False, **req: Any) -> Target:
    def make(world: World, who: str) -> Req:
        job_id = world.call(_job, world.ctx, world.studies["A1"], world.a) if fresh else world.jobs[name]
        return Req(params={"job_id": job_id}, **req)

    return make


def new_instance(world: World, who: str) -> Req:
    body = multipart([instance_bytes(pydicom.uid.generate_uid(), pydicom.uid.generate_uid(),
                                     pydicom.uid.generate_uid(), "Mallory^New")])
    return Req(content=body, headers={"content-type": STOW_TYPE})


def into_a1(world: World, who: str) -> Req:
    s = world.studies["A1"]
    body = multipart([instance_bytes(s.uid, pydicom.uid.generate_uid(), pydicom.uid.generate_uid(), "Mallory^Into")])
    return Req(params={"study": s.uid}, content=body, headers={"content-type": STOW_TYPE})


def upload(world: World, who: str) -> Req:
    raw = instance_bytes(pydicom.uid.generate_uid(), pydicom.uid.generate_uid(), pydicom.uid.generate_uid(),
                         "Mallory^Upload")
    return Req(content=raw, query={"filename": "x.dcm", "analyse": "0"},
               headers={"content-type": "application/dicom"})


def measured(world: World, who: str) -> Req:
    """A length on A1's first image (the viewer's measurement report)."""
    s = world.studies["A1"]
    m = {"tool": "length", "series_instance_uid": s.series, "sop_instance_uid": s.sops[0], "points": [[1, 1], [5, 5]],
         "values": {"length": 5.6}}
    return Req(params={"study": s.uid}, json={"measurements": [m]})


def key_image(world: World, who: str) -> Req:
    """A key image of A1's first image (a KOS in the study)."""
    s = world.studies["A1"]
    return Req(params={"study": s.uid}, json={"series_instance_uid": s.series, "sop_instance_uid": s.sops[0]})


def plain(**req: Any) -> Target:
    return lambda world, who: Req(**req)


def _png() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (40, 20), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


LOGO_PNG = _png()


def ALLIANCE_ADMIN(ok: set[int]) -> Expect:  # noqa: N802
    """The alliance admin only (institution admins, doctors and read-only tokens are refused)."""
    return {"anon": {401}, "ro_a": {403}, "doc_b": {403}, "iadm_b": {403}, "doc_a": {403}, "admin": ok}


def admins_template(world: World, who: str) -> Req:
    key = f"del-{who}-{uuid.uuid4().hex[:6]}"
    r = world.client.post("/api/reading/templates", json={"key": key, "name": "To delete"}, headers=world.as_("admin"))
    assert r.status_code == 201, r.text
    return Req(params={"key": key})


def doc_a_filter(world: World, who: str) -> Req:
    r = world.client.post("/api/reading/filters", json={"name": f"a-{uuid.uuid4().hex[:6]}", "filters": {}},
                          headers=world.as_("doc_a"))
    assert r.status_code == 201, r.text
    return Req(params={"filter_id": r.json()["id"]})


def a_logo(world: World, who: str) -> Req:
    """Hospital A has a logo (set by the alliance admin) when the caller asks."""
    r = world.client.put(f"/api/institutions/{world.a}/logo", content=LOGO_PNG,
                         headers={"content-type": "image/png", **world.as_("admin")})
    assert r.status_code == 200, r.text
    return Req(params={"institution_id": world.a})


def reading(action: str = "", relink: bool = False, json_of: Callable[[World], Any] | None = None,
            **extra: Any) -> Target:
    def make(world: World, who: str) -> Req:
        if json_of is not None:
            extra["json"] = json_of(world)
        if relink:  # the study this caller unlinks is linked again first
            r = world.client.post(f"/api/reading/requests/{world.reading_request}/studies",
                              json={"study_uids": [world.studies["A1"].uid]}, headers=world.as_("doc_a"))
            assert r.status_code == 200, r.text
        return Req(params={"request_id": world.reading_request, "study": world.studies["A1"].uid,
                           "attachment_id": 1, "number": 1, "action": action, "digest": "0" * 64}, **extra)

    return make


def wado_uri(world: World, who: str) -> Req:
    s = world.studies["A1"]
    return Req(query={"requestType": "WADO", "studyUID": s.uid, "seriesUID": s.series, "objectUID": s.sops[0]})


def ups(fresh: bool = False, json: Any = None, uid: str = "", **req: Any) -> Target:
    """The A1 workitem (or a fresh one of A1, made by A's doctor) as ``{uid}``, with ``ae``."""
    def make(world: World, who: str) -> Req:
        target = uid or (new_workitem(world, "doc_a", "A1") if fresh else world.workitems["A1"])
        content = orjson.dumps(json) if json is not None else None
        return Req(params={"uid": target, "ae": f"AE{who.upper()[:10]}"}, content=content,
                   headers={"content-type": "application/dicom+json"} if content else {}, **req)

    return make


def ups_create(world: World, who: str) -> Req:
    return Req(content=orjson.dumps(workitem_body(world, "A1")), headers={"content-type": "application/dicom+json"})


def ups_suspend(world: World, who: str) -> Req:
    """A global subscription of the caller's AE, to be suspended."""
    if who not in ("anon", "ro_a"):
        r = world.client.post(f"/dicom-web/workitems/1.2.840.10008.5.1.4.34.5/subscribers/AE{who.upper()[:10]}",
                              headers=world.as_(who))
        assert r.status_code == 201, r.text
    return Req(params={"uid": "1.2.840.10008.5.1.4.34.5", "ae": f"AE{who.upper()[:10]}"})


def ADMINS_ONLY(ok: set[int], other: set[int] | None = None) -> Expect:  # noqa: N802
    """Administrators (B's institution admin for its own institution); nobody else."""
    return {"anon": {401}, "ro_a": {403}, "doc_b": {403}, "doc_a": {403}, "iadm_b": other or ok, "admin": ok}


def a_token(world: World, who: str) -> Req:
    """A fresh token of A's doctor (revoking takes it away)."""
    from tests.auth_helpers import token_for

    async def mint() -> int:
        from server.auth import api_tokens
        from server.auth.accounts import get_user

        user = await get_user(world.ctx, world.callers["doc_a"]["user_id"])
        await token_for(world.ctx, user, scope="read", name=f"revoke-{who}")
        rows = await api_tokens.list_tokens(world.ctx, None, user.id)
        return max(int(t.id or 0) for t, _ in rows)

    return Req(params={"token_id": world.call(mint)})


def a_user(world: World, who: str) -> Req:
    return Req(params={"user_id": world.callers["doc_a"]["user_id"]}, json={"display_name": f"Dr A ({who})"})


def new_user(world: World, who: str) -> Req:
    return Req(json={"username": f"new-{who}-{uuid.uuid4().hex[:6]}", "password": "Another-horse-8",
                     "role": "read_only"})


def new_institution(world: World, who: str) -> Req:
    return Req(json={"name": f"Clinic {who} {uuid.uuid4().hex[:6]}"})


def share(**req: Any) -> Target:
    return lambda world, who: Req(params={"share": world.share["id"], "sop": world.studies["A1"].sops[0],
                                          "study": world.studies["A1"].uid}, **req)


def fresh_share(world: World, who: str) -> Req:
    return Req(params={"share": new_share(world)["id"]})


def right_code(world: World, who: str) -> Req:
    return Req(params={"share": world.share["id"]}, json={"code": world.share["code"]})


def pull_source(world: World, who: str) -> Req:
    """A pull source made by the alliance admin for this one request."""
    r = world.client.post("/api/pull/sources", json={"name": f"pacs-{who}-{uuid.uuid4().hex[:6]}",
                                                     "ae_title": "PACS", "host": "127.0.0.1", "port": 104},
                          headers=world.as_("admin"))
    assert r.status_code == 201, r.text
    return Req(params={"source": r.json()["id"]}, json={"port": 105})


def new_pull_source(world: World, who: str) -> Req:
    return Req(json={"name": f"pacs-{who}-{uuid.uuid4().hex[:6]}", "ae_title": "PACS", "host": "127.0.0.1",
                     "port": 104})


def pull_rule(world: World, who: str) -> Req:
    """A pull rule of A's institution (the admin's) made for this one request."""
    r = world.client.post("/api/pull/rules", json={"name": f"rule-{who}-{uuid.uuid4().hex[:6]}",
                                                   "study_filter": "ModalitiesInStudy=MR"},
                          headers=world.as_("admin"))
    assert r.status_code == 201, r.text
    return Req(params={"rule": r.json()["id"]}, json={"priority": 3})


def new_pull_rule(world: World, who: str) -> Req:
    return Req(json={"name": f"rule-{who}-{uuid.uuid4().hex[:6]}", "series_filter": "Modality=MR"})


def pull_request(world: World, who: str) -> Req:
    return Req(json={"study_uid": pydicom.uid.generate_uid()})


def pull_why(world: World, who: str) -> Req:
    return Req(query={"study": pydicom.uid.generate_uid()})


STORE = expect({200}, ro_a={403}, b_side={200})
STORE_INTO_A = expect({200}, ro_a={403}, b_side={409})
DELETE = expect({204}, ro_a={403}, doc_a={403}, b_side=None) | {"doc_b": {403}, "iadm_b": {404}}
ANALYSE = expect(STATEFUL, ro_a={403})
# Reading: roles, sides and states are the reading tests' business; here the tenant rule: the other
# hospital's callers get 404, everybody else gets past it (whatever the role and state then say).
READING_PAST = {200, 201, 204, 400, 403, 409, 413, 415, 422}
READING = expect(READING_PAST)
PUBLIC = {c: {200, 404} for c in CALLERS}  # SPA files: no principal involved

S, SE = "/dicom-web/studies/{study}", "/dicom-web/studies/{study}/series/{series}"
IN = SE + "/instances/{instance}"
J = "/api/jobs/{job_id}"
WI = "/dicom-web/workitems/{uid}"
UPS_WRITE = expect({200}, ro_a={403})
RR = "/api/reading/requests/{request_id}"

CASES: dict[tuple[str, str], tuple[Target, Expect]] = {
    ("/dicom-web", "GET"): (plain(), visible_to_all(OK)),
    ("/dicom-web", "OPTIONS"): (plain(), visible_to_all(OK)),
    ("/dicom-web/", "GET"): (plain(), visible_to_all(OK)),
    ("/dicom-web/", "OPTIONS"): (plain(), visible_to_all(OK)),
    # STOW
    ("/dicom-web/studies", "POST"): (new_instance, STORE),
    (S, "POST"): (into_a1, STORE_INTO_A),
    # QIDO: a search is 200 for everyone; what another tenant gets is checked for leaks (an empty list)
    ("/dicom-web/studies", "GET"): (plain(), visible_to_all(OK)),
    ("/dicom-web/series", "GET"): (plain(), visible_to_all(OK)),
    ("/dicom-web/instances", "GET"): (plain(query={"includefield": "all"}), visible_to_all(OK)),
    (S + "/series", "GET"): (a1("study"), visible_to_all(OK)),
    (S + "/instances", "GET"): (a1("study", ), visible_to_all(OK)),
    (SE + "/instances", "GET"): (a1("series"), visible_to_all(OK)),
    # WADO-RS
    (S, "GET"): (a1("study"), expect(OK)),
    (SE, "GET"): (a1("series"), expect(OK)),
    (IN, "GET"): (a1("instance"), expect(OK)),
    (S + "/metadata", "GET"): (a1("study"), expect(OK)),
    (SE + "/metadata", "GET"): (a1("series"), expect(OK)),
    (IN + "/metadata", "GET"): (a1("instance"), expect(OK)),
    (IN + "/frames/{frames}", "GET"): (a1("all"), expect(OK)),
    (IN + "/bulk/{path}", "GET"): (a1("all"), expect(OK)),
    (S + "/rendered", "GET"): (a1("study"), expect(OK)),
    (SE + "/rendered", "GET"): (a1("series"), expect(OK)),
    (IN + "/rendered", "GET"): (a1("instance"), expect(OK)),
    (IN + "/frames/{frames}/rendered", "GET"): (a1("all"), expect(OK)),
    (S + "/thumbnail", "GET"): (a1("study"), expect(OK)),
    (SE + "/thumbnail", "GET"): (a1("series"), expect(OK)),
    (IN + "/thumbnail", "GET"): (a1("instance"), expect(OK)),
    (IN + "/frames/{frames}/thumbnail", "GET"): (a1("all"), expect(OK)),
    ("/wado", "GET"): (wado_uri, expect(OK)),
    # UPS-RS: another tenant's workitem (and a workitem for another tenant's study) is 404
    ("/dicom-web/workitems", "GET"): (plain(), visible_to_all(OK)),
    ("/dicom-web/workitems", "POST"): (ups_create, expect({201}, ro_a={403})),
    (WI, "GET"): (ups(), expect(OK)),
    (WI, "PUT"): (ups(json={"00400400": {"vr": "LT", "Value": ["note"]}}), UPS_WRITE),
    (WI, "POST"): (ups(json={"00400400": {"vr": "LT", "Value": ["note"]}}), UPS_WRITE),
    (WI + "/state", "PUT"): (ups(fresh=True, json={"00741000": {"vr": "CS", "Value": ["IN PROGRESS"]},
                                                   "00081195": {"vr": "UI", "Value": ["1.2.3.4"]}}), UPS_WRITE),
    (WI + "/cancelrequest", "POST"): (ups(fresh=True), expect({202}, ro_a={403})),
    (WI + "/subscribers/{ae}", "POST"): (ups(), expect({201}, ro_a={403})),
    (WI + "/subscribers/{ae}", "DELETE"): (ups(), UPS_WRITE),
    (WI + "/subscribers/{ae}/suspend", "POST"): (ups_suspend, expect({200}, ro_a={403}, b_side={200})),
    # DELETE
    (S, "DELETE"): (fresh_a_study("study"), DELETE),
    (SE, "DELETE"): (fresh_a_study("series"), DELETE),
    (IN, "DELETE"): (fresh_a_study("instance"), DELETE),
    # /api
    ("/api/uploads", "POST"): (upload, STORE),
    ("/api/uploads/stream", "POST"): (upload, STORE),
    ("/api/uploads/stream", "PUT"): (upload, STORE),
    ("/api/jobs", "GET"): (plain(), visible_to_all(OK)),
    (J, "GET"): (job(), expect(OK)),
    (J, "DELETE"): (job(fresh=True), expect({204}, ro_a={403})),
    (J + "/parameters", "POST"): (job(json={"pld": 1.8}), ANALYSE),
    (J + "/start", "POST"): (job(), ANALYSE),
    (J + "/cancel", "POST"): (job(), ANALYSE),
    (J + "/rerun", "POST"): (job(), ANALYSE),
    # a waiting job is not a failed detection: 409 for whoever gets past the role and tenant rules
    (J + "/retry-detection", "POST"): (job(), ANALYSE),
    # "analyse this study": technologists, doctors and admin; B's institution admin fails the role rule
    ("/api/studies/{study}/analyse", "POST"): (a1("study"), expect(OK, ro_a={403}) | {"iadm_b": {403}}),
    # the viewer's measurements as an SR in the study: not read-only; another tenant's study is a 404
    ("/api/studies/{study}/measurements", "POST"): (measured, expect(OK, ro_a={403})),
    ("/api/studies/{study}/key-images", "POST"): (key_image, expect(OK, ro_a={403})),
    (J + "/diagnosis", "POST"): (job(json={"diagnostic_text": "ok"}), expect(OK, ro_a={403})),
    (J + "/diagnosis", "PUT"): (job(json={"diagnostic_text": "ok"}), expect(OK, ro_a={403})),
    (J + "/report.pdf", "GET"): (job(), expect({200, 409})),
    (J + "/report", "POST"): (job(), expect({201, 409}, ro_a={403})),
    (J + "/report.csv", "GET"): (job(), expect({200, 409})),
    # the job of these cases has no regional analysis: 409 for whoever sees it
    (J + "/panels/{panel}.csv", "GET"): (
        lambda world, who: Req(params={"job_id": world.jobs["A1"], "panel": "alzheimers"}), expect({200, 409})),
    (J + "/dce/curve", "GET"): (job(query={"slice": "0", "x": "1", "y": "1", "r": "1"}), expect({400, 409})),
    (J + "/dce/rois", "PUT"): (job(json={"rois": {}}), expect(STATEFUL | {400}, ro_a={403})),
    ("/api/events", "GET"): (plain(query={"max_seconds": "0.2"}), visible_to_all(OK)),
    ("/api/openapi.json", "GET"): (plain(), {c: OK for c in CALLERS}),  # public
    # accounts (identity is tested in tests/server/auth; here: callers and institutions)
    ("/api/auth/login", "POST"): (plain(json={"username": "nobody", "password": "wrong-password-1"}),
                                  {c: {401, 429} for c in CALLERS}),
    ("/api/auth/logout", "POST"): (plain(), visible_to_all({204})),
    ("/api/auth/logout-all", "POST"): (plain(), visible_to_all({204})),
    ("/api/auth/me", "GET"): (plain(), visible_to_all(OK)),
    ("/api/tokens", "GET"): (plain(), ADMINS_ONLY(OK)),
    ("/api/tokens", "POST"): (plain(json={"scope": "read", "name": "matrix"}), ADMINS_ONLY({201})),
    ("/api/tokens/{token_id}", "DELETE"): (a_token, ADMINS_ONLY({204}, other={403, 404})),
    ("/api/users", "GET"): (plain(), ADMINS_ONLY(OK)),
    ("/api/users", "POST"): (new_user, ADMINS_ONLY({201})),
    ("/api/users/{user_id}", "PATCH"): (a_user, ADMINS_ONLY(OK, other={403, 404})),
    ("/api/institutions", "GET"): (plain(), ADMINS_ONLY(OK)),
    ("/api/institutions", "POST"): (new_institution, ADMINS_ONLY({201}, other={403})),
    # protocol presets: administrators (an institution admin sees its own institution's only)
    ("/api/presets", "GET"): (plain(), ADMINS_ONLY(OK)),
    ("/api/presets/{preset_id}", "GET"): (a_preset(), ADMINS_ONLY(OK, other={404})),
    ("/api/presets/{preset_id}", "PATCH"): (a_preset(json={"values": {"pld": {"value": 2000, "unit": "ms"}}}),
                                            ADMINS_ONLY(OK, other={404})),
    ("/api/presets/{preset_id}", "DELETE"): (a_preset(), ADMINS_ONLY({204}, other={404})),
    # share links: staff of the owning institution manage them; the code is exchanged by anyone (public);
    # the patient's view takes the exchanged token only (tests/server/shares)
    ("/api/studies/{study}/shares", "POST"): (lambda world, who: Req(params={"study": world.studies["A1"].uid},
                                                                        json={"expires_in_days": 7}),
                                              expect({201}, ro_a={403})),
    ("/api/studies/{study}/shares", "GET"): (a1("study"), expect(OK, ro_a={200, 403})),
    ("/api/shares/{share}", "DELETE"): (fresh_share, expect(OK, ro_a={403})),
    ("/api/shares/{share}/qr.png", "GET"): (share(), expect(OK, ro_a={200, 403})),
    ("/api/shares/{share}/qr.svg", "GET"): (share(), expect(OK, ro_a={200, 403})),
    ("/api/shares/{share}/exchange", "POST"): (right_code, {c: OK for c in CALLERS}),
    ("/api/shares/{share}/view", "GET"): (share(), expect({404}, b_side={404})),
    ("/api/shares/{share}/documents/{sop}", "GET"): (share(), expect({404}, b_side={404})),
    # PACS pull: sources are the alliance admin's; institution admins manage their own institution's
    # rules (A's rule is not found for B's); staff request a pull for their institution
    ("/api/pull/sources", "GET"): (plain(), ADMINS_ONLY(OK, other={403})),
    ("/api/pull/sources", "POST"): (new_pull_source, ADMINS_ONLY({201}, other={403})),
    ("/api/pull/sources/{source}", "PUT"): (pull_source, ADMINS_ONLY(OK, other={403})),
    ("/api/pull/sources/{source}", "DELETE"): (pull_source, ADMINS_ONLY({204}, other={403})),
    ("/api/pull/rules", "GET"): (plain(), ADMINS_ONLY(OK)),
    ("/api/pull/rules", "POST"): (new_pull_rule, ADMINS_ONLY({201})),
    ("/api/pull/rules/{rule}", "PUT"): (pull_rule, ADMINS_ONLY(OK, other={404})),
    ("/api/pull/rules/{rule}", "DELETE"): (pull_rule, ADMINS_ONLY({204}, other={404})),
    ("/api/pull/rules/{rule}/test", "POST"): (lambda world, who: Req(
        params=pull_rule(world, who).params, json={"study": {"ModalitiesInStudy": "MR"}}),
        ADMINS_ONLY(OK, other={404})),
    ("/api/pull/queue", "GET"): (plain(), ADMINS_ONLY(OK)),
    ("/api/pull/why", "GET"): (pull_why, ADMINS_ONLY(OK)),
    ("/api/pull/requests", "POST"): (pull_request, expect({202}, ro_a={403}, b_side={202})),
    # RIS/HIS order hints: each institution admin uploads and sees their institution's
    ("/api/pull/hints", "GET"): (plain(), ADMINS_ONLY(OK)),
    ("/api/pull/hints", "POST"): (lambda world, who: Req(json={"orders": [
        {"accession_number": f"ACC-{who}", "body_part": "HEAD", "priority": "urgent"}]}), ADMINS_ONLY(OK)),
    # the audit log: administrators of the whole alliance only
    ("/api/audit", "GET"): (plain(), ADMINS_ONLY(OK, other={403})),
    ("/api/audit/export.csv", "GET"): (plain(), ADMINS_ONLY(OK, other={403})),
    ("/api/audit/export.xml", "GET"): (plain(), ADMINS_ONLY(OK, other={403})),
    # /api/reading
    ("/api/reading/requests", "GET"): (plain(), visible_to_all(OK)),
    ("/api/reading/requests", "POST"): (lambda world, who: Req(json={"study_uids": [world.studies["A1"].uid]}),
                                        expect(READING_PAST, b_side={400}) | {"iadm_b": {403}}),
    ("/api/reading/counts", "GET"): (plain(), visible_to_all(OK)),
    ("/api/reading/institutions", "GET"): (plain(), visible_to_all(OK)),
    (RR, "GET"): (reading(), READING),
    (RR + "/studies", "POST"): (lambda world, who: Req(params={"request_id": world.reading_request},
                                                      json={"study_uids": [world.studies["A1"].uid]}), READING),
    (RR + "/studies/{study}", "DELETE"): (reading(relink=True), READING),
    (RR + "/attachments", "POST"): (reading(content=b"x", query={"filename": "note.txt"},
                                                         headers={"content-type": "text/plain"}), READING),
    (RR + "/attachments/{attachment_id}", "GET"): (reading(), READING | {"doc_a": {200, 404}, "ro_a": {200, 404},
                                                                           "admin": {200, 404}}),
    (RR + "/report", "PUT"): (reading(json={"findings": "x"}), READING),
    (RR + "/report", "POST"): (reading(json={"findings": "x"}), READING),
    (RR + "/versions", "GET"): (reading(), READING),
    (RR + "/versions/{number}/diff", "GET"): (reading(), READING | {"doc_a": READING_PAST | {404},
                                                                  "ro_a": READING_PAST | {404},
                                                                  "admin": READING_PAST | {404}}),
    (RR + "/report.pdf", "GET"): (reading(), READING),
    (RR + "/quantities", "GET"): (reading(), READING),
    (RR + "/key-images", "POST"): (reading(content=b"\x89PNG\r\n\x1a\n", headers={"content-type": "image/png"}),
                                   READING),
    # No capture exists in the world: the request's own side gets past the tenant rule to "no such image".
    (RR + "/key-images/{digest}", "GET"): (reading(), expect(READING_PAST | {404})),
    (RR + "/{action}", "POST"): (reading("release"), READING),
    (RR + "/report.pdf", "POST"): (reading(json_of=lambda world: {"share": world.share["id"],
                                                                  "code": world.share["code"]}), READING),
    ("/api/reading/events", "GET"): (plain(query={"max_seconds": "0.2"}), visible_to_all(OK)),
    # report templates: the alliance's shared text (no patient data); the alliance admin edits them
    ("/api/reading/templates", "GET"): (plain(), visible_to_all(OK)),
    ("/api/reading/templates", "POST"): (lambda world, who: Req(json={"key": f"t-{who}-{uuid.uuid4().hex[:6]}",
                                                                      "name": "Matrix"}), ALLIANCE_ADMIN({201})),
    ("/api/reading/templates/{key}", "PUT"): (plain(params={"key": "ct-chest"}, json={"name": "Chest CT"}),
                                              ALLIANCE_ADMIN(OK)),
    ("/api/reading/templates/{key}", "DELETE"): (admins_template, ALLIANCE_ADMIN({204})),
    # saved filter sets: each caller's own (another's set is not found)
    ("/api/reading/filters", "GET"): (plain(), visible_to_all(OK)),
    ("/api/reading/filters", "POST"): (lambda world, who: Req(json={"name": f"set-{uuid.uuid4().hex[:6]}",
                                                                    "filters": {"list": "to_report"}}),
                                       expect({201}, ro_a={403}, b_side={201})),
    ("/api/reading/filters/{filter_id}", "DELETE"): (doc_a_filter, expect({404}, ro_a={403}, doc_a={204})),
    # a hospital's logo: every signed-in caller reads it; its own admins (and the alliance's) set it
    ("/api/institutions/{institution_id}/logo", "GET"): (a_logo, visible_to_all(OK)),
    ("/api/institutions/{institution_id}/logo", "PUT"): (
        lambda world, who: Req(params={"institution_id": world.a}, content=LOGO_PNG,
                               headers={"content-type": "image/png"}), ALLIANCE_ADMIN(OK)),
    ("/api/institutions/{institution_id}/logo", "DELETE"): (a_logo, ALLIANCE_ADMIN({204})),
    # the browser app (static files; no principal)
    ("/", "GET"): (plain(), PUBLIC),
    ("/{path:path}", "GET"): (lambda world, who: Req(params={"path": "favicon.ico"}), PUBLIC),
}


# Answers that name a study to whoever holds its credential: the share code is that credential (any
# caller who has it is the patient, or someone the patient gave it to).
CREDENTIAL_ANSWERS = {("/api/shares/{share}/exchange", "POST")}


def missing_rules(app: Any) -> list[tuple[str, str]]:
    return [key for key in route_table(app) if key not in CASES]


def test_every_route_has_a_rule(sqlite_url: str, settings_factory) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings_factory(sqlite_url))
    assert missing_rules(app) == [], "routes without a tenancy rule in CASES"
    assert not [key for key in CASES if key not in route_table(app)], "rules for routes that do not exist"
    # The check is real: a route added without a rule is reported.
    app.router.routes.append(Route("/api/brand-new", lambda request: None, methods=["GET", "POST"]))
    assert missing_rules(app) == [("/api/brand-new", "GET"), ("/api/brand-new", "POST")]


# -- leaks ----------------------------------------------------------------------------------------


def forbidden_markers(world: World, who: str) -> set[str]:
    """UIDs and patient names of the studies ``who`` may not see."""
    if who == "admin":
        return set()
    if who in B_SIDE:
        hidden = [ref for name, ref in world.studies.items() if name == "A1" or name.startswith("del-")]
    else:
        hidden = [world.studies[n] for n in ("B1", "BX")]
    out: set[str] = set()
    for ref in hidden:
        out |= {ref.uid, ref.series, *ref.sops, ref.patient}
    return out


def leaks(body: bytes, markers: set[str], sent: str) -> list[str]:
    text = body.decode("latin-1")
    return sorted(m for m in markers if m in text and m not in sent)


def fill(path: str, params: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(params[m.group(1)]), path)


def test_route_matrix(world: World) -> None:
    failures: list[str] = []
    for (path, method), (target, expected) in CASES.items():
        for who in CALLERS:
            req = target(world, who)
            url = fill(path, req.params)
            r = world.client.request(method, url, params=req.query or None, json=req.json, content=req.content,
                                     headers={**req.headers, **world.as_(who)})
            sent = url + str(req.query) + orjson.dumps(req.json).decode() + (req.content or b"").decode("latin-1")
            if r.status_code not in expected[who]:
                failures.append(f"{method} {path} as {who}: {r.status_code} not in {sorted(expected[who])}: "
                                f"{r.text[:160]}")
            if r.status_code == 401:
                assert r.headers.get("www-authenticate", "").startswith("Bearer")
            hidden = set() if (path, method) in CREDENTIAL_ANSWERS else forbidden_markers(world, who)
            found = leaks(r.content, hidden, sent)
            if found:
                failures.append(f"{method} {path} as {who}: answer holds {found}")
    assert not failures, "\n".join(failures)


# -- what the matrix states in detail ---------------------------------------------------------------


def _qido(world: World, who: str, url: str) -> list[dict[str, Any]]:
    r = world.client.get(url, headers=world.as_(who))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _uids(items: list[dict[str, Any]]) -> set[str]:
    return {i["0020000D"]["Value"][0] for i in items}


def test_workitem_events_stay_in_their_tenant(world: World) -> None:
    """A subscriber of B gets B's workitem events (from seq 0 on), never A's."""
    r = world.client.post("/dicom-web/workitems/1.2.840.10008.5.1.4.34.5/subscribers/BWATCH",
                          headers=world.as_("doc_b"))
    assert r.status_code == 201
    with world.client.websocket_connect("/dicom-web/subscribers/BWATCH?since=0", headers=world.as_("doc_b")) as ws:
        mine = new_workitem(world, "doc_b", "B1")
        seen = []
        while not seen or seen[-1] != mine:
            seen.append(orjson.loads(ws.receive_text())["00001000"]["Value"][0])
    assert world.workitems["B1"] in seen and world.workitems["A1"] not in seen
    r = world.client.get(f"/dicom-web/workitems/{world.workitems['A1']}", headers=world.as_("doc_b"))
    assert r.status_code == 404


def test_qido_sees_own_and_granted_studies_with_their_own_counts(world: World) -> None:
    st = world.studies
    assert _uids(_qido(world, "doc_a", "/dicom-web/studies")) == {st["A1"].uid, st["BG"].uid}
    assert _uids(_qido(world, "doc_b", "/dicom-web/studies")) == {st["B1"].uid, st["BG"].uid, st["BX"].uid}
    assert _uids(_qido(world, "admin", "/dicom-web/studies")) >= {s.uid for s in st.values()}
    # A's doctor tries to add an instance to B's study: refused for that instance, never merged.
    r = stow(world, "doc_a", [
        instance_bytes(st["B1"].uid, pydicom.uid.generate_uid(), pydicom.uid.generate_uid(), "Mallory^X"),
        instance_bytes(pydicom.uid.generate_uid(), pydicom.uid.generate_uid(), pydicom.uid.generate_uid(),
                       "Alpha^Second", InstitutionName="Hospital B"),
    ])
    assert r.status_code == 202, r.text
    [failed] = r.json()["00081198"]["Value"]
    assert failed["00081197"]["Value"] == [int(FailureReason.NOT_AUTHORIZED)]
    assert "not accessible" in failed["0040A160"]["Value"][0]
    stored_study = r.json()["00081199"]["Value"][0]["00081190"]["Value"][0].split("/studies/")[1].split("/")[0]
    # Ownership comes from the caller, never from attributes inside the file.
    assert world.call(_study_owner, world.ctx, stored_study) == world.a
    for who in ("doc_b", "admin"):
        [b1] = [i for i in _qido(world, who, f"/dicom-web/studies?StudyInstanceUID={st['B1'].uid}")]
        assert b1["00201208"]["Value"] == [2]  # NumberOfStudyRelatedInstances
        assert b1["00201206"]["Value"] == [1]
        assert b1["00080061"]["Value"] == ["CT"]
    assert len(_qido(world, "admin", f"/dicom-web/studies/{st['B1'].uid}/instances")) == 2
    # The granted study: counts and instances as its owner sees them; the expired grant shows nothing.
    [bg] = _qido(world, "doc_a", f"/dicom-web/studies?StudyInstanceUID={st['BG'].uid}")
    assert bg["00201208"]["Value"] == [2]
    assert _qido(world, "doc_a", f"/dicom-web/studies/{st['BX'].uid}/instances") == []
    assert _qido(world, "doc_a", f"/dicom-web/instances?StudyInstanceUID={st['B1'].uid}") == []
    r = world.client.get(f"/dicom-web/studies/{st['BG'].uid}/metadata", headers=world.as_("doc_a"))
    assert r.status_code == 200 and "BulkDataURI" in r.text and st["BG"].uid in r.text
    # Another tenant's study answers exactly like one that does not exist.
    missing = pydicom.uid.generate_uid()
    for url in ("/dicom-web/studies/{}/metadata", "/dicom-web/studies/{}", "/dicom-web/studies/{}/thumbnail"):
        hidden = world.client.get(url.format(st["BX"].uid), headers=world.as_("doc_a"))
        absent = world.client.get(url.format(missing), headers=world.as_("doc_a"))
        assert hidden.status_code == absent.status_code == 404
        assert hidden.json()["error"].replace(st["BX"].uid, "X") == absent.json()["error"].replace(missing, "X")


def test_stow_of_a_stored_sop_instance_of_another_tenant_is_refused(world: World) -> None:
    b1 = world.studies["B1"]
    raw = instance_bytes(b1.uid, b1.series, b1.sops[0], b1.patient)
    r = stow(world, "doc_a", [raw])
    assert r.status_code == 409
    assert r.json()["00081198"]["Value"][0]["00081197"]["Value"] == [int(FailureReason.NOT_AUTHORIZED)]
    assert stow(world, "doc_b", [raw]).status_code == 200  # the owner re-sends: a duplicate


def test_caches_do_not_bypass_the_rule(world: World) -> None:
    b1 = world.studies["B1"]
    inst = f"/dicom-web/studies/{b1.uid}/series/{b1.series}/instances/{b1.sops[0]}"
    urls = [inst + "/frames/1", inst + "/rendered", inst + "/thumbnail", inst + "/metadata",
            f"/dicom-web/studies/{b1.uid}/series/{b1.series}/rendered", f"/dicom-web/studies/{b1.uid}/thumbnail",
            f"/dicom-web/studies/{b1.uid}/series/{b1.series}/metadata",
            f"/wado?requestType=WADO&studyUID={b1.uid}&seriesUID={b1.series}&objectUID={b1.sops[1]}"]
    for url in urls:
        assert world.client.get(url, headers=world.as_("admin")).status_code == 200, url  # fills the caches
        assert world.client.get(url, headers=world.as_("doc_b")).status_code == 200, url
        assert world.client.get(url, headers=world.as_("doc_a")).status_code == 404, url
    assert world.ctx.memory.series.get(b1.uid, b1.series) is not None  # the table was there to be served


def test_share_principal_sees_exactly_its_study_read_only(world: World) -> None:
    a1, b1 = world.studies["A1"], world.studies["B1"]
    # Only the shared study's own resources answer (the share guard); an archive search does not.
    assert {i["0020000E"]["Value"][0] for i in _qido(world, "share_a", f"/dicom-web/studies/{a1.uid}/series")} == {
        a1.series}
    assert world.client.get("/dicom-web/studies", headers=world.as_("share_a")).status_code == 404
    assert world.client.get(f"/dicom-web/studies/{a1.uid}/metadata", headers=world.as_("share_a")).status_code == 200
    assert world.client.get(f"/dicom-web/studies/{b1.uid}/metadata", headers=world.as_("share_a")).status_code == 404
    bg = world.studies["BG"]  # granted to the share's institution, but not shared
    assert world.client.get(f"/dicom-web/studies/{bg.uid}", headers=world.as_("share_a")).status_code == 404
    assert world.client.delete(f"/dicom-web/studies/{a1.uid}", headers=world.as_("share_a")).status_code == 403
    assert stow(world, "share_a", [instance_bytes(a1.uid, a1.series, pydicom.uid.generate_uid(),
                                                         a1.patient)]).status_code == 403
    assert world.client.get("/api/jobs", headers=world.as_("share_a")).status_code == 404


def test_job_lists_and_events_are_scoped(world: World) -> None:
    jobs_a = world.client.get("/api/jobs", headers=world.as_("doc_a")).json()
    assert {j["id"] for j in jobs_a["jobs"]} == {world.jobs["A1"]} and jobs_a["total"] == 1
    jobs_b = world.client.get("/api/jobs", headers=world.as_("doc_b")).json()
    assert {j["id"] for j in jobs_b["jobs"]} == {world.jobs["B1"]}
    admin = {j["id"] for j in world.client.get("/api/jobs", headers=world.as_("admin")).json()["jobs"]}
    assert admin >= {world.jobs["A1"], world.jobs["B1"]}
    events = world.client.get("/api/events?max_seconds=0.2", headers=world.as_("doc_b")).text
    assert f"id: {world.jobs['B1']}\n" in events and f"id: {world.jobs['A1']}\n" not in events
    one = world.client.get(f"/api/events?max_seconds=0.2&job={world.jobs['A1']}", headers=world.as_("doc_b")).text
    assert "event: job" not in one
