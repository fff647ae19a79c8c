"""The rule table covers every route of the app: a route no rule names (the admin-only fallback)
fails here, so a new route cannot ship without deciding who may call it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route

from server.app import create_app
from server.auth import rules
from server.auth.principal import AuthMethod, Principal, Role, Scope
from server.settings import Settings

SAMPLE = {"study": "1.2.3", "series": "1.2.3.4", "instance": "1.2.3.4.5", "frames": "1", "path": "x",
          "job_id": "1", "request_id": "1", "attachment_id": "1", "number": "1", "action": "submit",
          "token_id": "1", "user_id": "1"}
# Routes meant for administrators only (the fallback's answer is the rule).
ADMIN_ONLY: set[tuple[str, str]] = set()


def walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        if isinstance(route, Mount):
            yield from walk(list(route.routes or []), prefix + route.path)
        elif isinstance(route, Route):
            path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE.get(m.group(1), "x"), prefix + route.path)
            for method in sorted(route.methods or {"GET"}):
                yield method, path or "/"


def test_every_route_has_a_rule(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, static_dir=str(tmp_path)))
    seen = list(walk(app.routes))
    assert len(seen) > 60
    missing = [(m, p) for m, p in seen if not rules.is_public(m, p) and rules.rule_for(m, p) is rules.FALLBACK
               and (m, p) not in ADMIN_ONLY]
    assert missing == []


def test_roles_and_scopes_of_the_table() -> None:
    def who(role: Role, *scopes: Scope) -> Principal:
        return Principal(method=AuthMethod.TOKEN, institution_id=1, role=role, scopes=frozenset(scopes or Scope))

    reader, tech = who(Role.READ_ONLY), who(Role.TECHNOLOGIST)
    assert rules.refusal(reader, "GET", "/dicom-web/studies") is None
    assert rules.refusal(reader, "POST", "/dicom-web/studies") is not None
    assert rules.refusal(reader, "DELETE", "/dicom-web/studies/1.2.3") is not None
    assert rules.refusal(tech, "POST", "/dicom-web/studies") is None
    assert rules.refusal(tech, "POST", "/api/jobs/1/start") is None
    assert rules.refusal(tech, "GET", "/api/users") is not None
    assert rules.refusal(who(Role.INSTITUTION_ADMIN), "POST", "/api/users") is None
    assert rules.refusal(who(Role.ADMIN, Scope.READ), "POST", "/dicom-web/studies") is not None
    assert rules.refusal(who(Role.ADMIN, Scope.READ, Scope.STOW), "POST", "/dicom-web/studies") is None
    assert rules.refusal(who(Role.ADMIN, Scope.READ, Scope.STOW), "DELETE", "/dicom-web/studies/1") is not None
    assert rules.refusal(who(Role.ADMIN, Scope.WRITE), "POST", "/api/tokens") is not None  # admin scope only
    assert rules.refusal(who(Role.REQUESTING_DOCTOR), "POST", "/api/jobs/1/rerun") is not None
    assert rules.refusal(who(Role.ADMIN), "GET", "/api/unknown") is None  # the fallback: administrators
    assert rules.refusal(tech, "GET", "/api/unknown") is not None
    for public in ("/", "/viewer/1.2.3", "/assets/app.js", "/s/abc", "/healthz", "/api/openapi.json"):
        assert rules.is_public("GET", public), public
    assert rules.is_public("POST", "/api/auth/login") and rules.is_public("POST", "/api/shares/abc/exchange")
    for closed in ("/api/jobs", "/dicom-web", "/dicom-web/studies", "/wado", "/api"):
        assert not rules.is_public("GET", closed), closed
