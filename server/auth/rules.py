"""The access rule table: which paths are public, and what scope and role every other request needs.

One table for the whole HTTP surface, read by the authentication middleware before a route runs.
A rule names the scope the credential must carry (a token's scope; sessions carry all) and the
roles allowed; the tenant rule (which studies) is the services' SQL, not this table.

The first matching rule wins; a request no rule matches needs the ``admin`` scope and role, so a
new route is closed until a rule opens it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from server.auth.principal import Principal, Role, Scope

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALL_ROLES = frozenset(Role)
NOT_READ_ONLY = ALL_ROLES - {Role.READ_ONLY}
ADMINS = frozenset({Role.ADMIN, Role.INSTITUTION_ADMIN})
# Removing archive content: the people who manage the archive's intake.
DELETERS = frozenset({Role.ADMIN, Role.INSTITUTION_ADMIN, Role.TECHNOLOGIST})
# The analysis queue (start, cancel, rerun, parameters, delete, reports of a job).
ANALYSTS = NOT_READ_ONLY - {Role.REQUESTING_DOCTOR}
# "Analyse this study": technologists and doctors (of the owning institution: the service), admin.
STUDY_ANALYSERS = frozenset({Role.ADMIN, Role.TECHNOLOGIST, Role.REQUESTING_DOCTOR, Role.REPORTING_DOCTOR,
                             Role.REVIEWER})


@dataclass(frozen=True)
class Rule:
    methods: frozenset[str]  # empty: any method
    pattern: re.Pattern[str]
    scope: Scope | None  # None: any authenticated caller
    roles: frozenset[Role] = ALL_ROLES

    def matches(self, method: str, path: str) -> bool:
        return (not self.methods or method in self.methods) and self.pattern.fullmatch(path) is not None


def _rule(methods: str, pattern: str, scope: Scope | None, roles: frozenset[Role] = ALL_ROLES) -> Rule:
    return Rule(frozenset(methods.split()) if methods != "*" else frozenset(), re.compile(pattern), scope, roles)


# Paths answered without credentials. The SPA is everything outside the API prefixes (it shows its
# own sign-in page); /s/{id} is the patient's share page, and its code exchange is public by design.
PUBLIC: list[Rule] = [
    _rule("POST", r"/api/auth/login", None),
    _rule("GET HEAD", r"/api/openapi\.json", None),
    _rule("GET HEAD", r"/healthz", None),
    _rule("GET HEAD", r"/s/[^/]+", None),
    _rule("POST", r"/api/shares/[^/]+/exchange", None),
    _rule("GET HEAD", r"/(?!api(/|$)|dicom-web(/|$)|wado(/|$)).*", None),
]

RULES: list[Rule] = [
    # Own session and own credentials.
    _rule("*", r"/api/auth/(logout|logout-all|me)", None),
    _rule("*", r"/api/tokens(/[^/]+)?", Scope.ADMIN),
    # Accounts and institutions: administrators (institution admins within their institution).
    _rule("*", r"/api/(users|institutions)(/[^/]+)?", Scope.ADMIN, ADMINS),
    # A hospital's logo (printed on reports): every signed-in caller reads it; its admins set it.
    _rule("GET HEAD", r"/api/institutions/[^/]+/logo", Scope.READ),
    _rule("PUT DELETE", r"/api/institutions/[^/]+/logo", Scope.ADMIN, ADMINS),
    # Protocol presets (made from a job's entered parameters): administrators list, edit, delete.
    _rule("*", r"/api/presets(/[^/]+)?", Scope.ADMIN, ADMINS),
    # The audit log: administrators of the whole alliance only.
    _rule("GET HEAD", r"/api/audit(/export\.(csv|xml))?", Scope.ADMIN, frozenset({Role.ADMIN})),
    # DICOMweb and WADO-URI.
    _rule("GET HEAD OPTIONS", r"/(dicom-web|wado)(/.*)?", Scope.READ),
    _rule("POST", r"/dicom-web/studies(/[^/]+)?", Scope.STOW, NOT_READ_ONLY),
    _rule("DELETE", r"/dicom-web/studies/.+", Scope.WRITE, DELETERS),
    # UPS-RS: reading a worklist and watching it is reading; creating, claiming, updating,
    # completing, cancelling and subscribing change it (not read-only).
    _rule("POST PUT DELETE", r"/dicom-web/workitems(/.*)?", Scope.WRITE, NOT_READ_ONLY),
    # Uploads store like STOW; the analysis queue; live events; the reading workflow (whose
    # services decide who may do what on a request by role and side).
    _rule("POST PUT", r"/api/uploads(/stream)?", Scope.STOW, NOT_READ_ONLY),
    _rule("GET HEAD", r"/api/(jobs|events)(/.*)?", Scope.READ),
    _rule("POST PUT DELETE", r"/api/jobs/.+", Scope.WRITE, ANALYSTS),
    _rule("POST", r"/api/studies/[^/]+/analyse", Scope.WRITE, STUDY_ANALYSERS),
    # The viewer's measurements (an SR) and key images (a KOS), stored in the study (visible studies only).
    _rule("POST", r"/api/studies/[^/]+/(measurements|key-images)", Scope.WRITE, NOT_READ_ONLY),
    # Report templates are the alliance's shared text: every doctor reads them, the alliance admin edits.
    _rule("POST PUT DELETE", r"/api/reading/templates(/[^/]+)?", Scope.ADMIN, frozenset({Role.ADMIN})),
    _rule("GET HEAD", r"/api/reading/.+", Scope.READ),
    _rule("POST PUT PATCH DELETE", r"/api/reading/.+", Scope.WRITE),
    # Share links: staff of the owning institution make, list, print and revoke them; the patient's
    # token reads the share page's API (server/shares/guard.py holds it to its study).
    _rule("GET HEAD POST", r"/api/studies/[^/]+/shares", Scope.WRITE, NOT_READ_ONLY),
    _rule("DELETE", r"/api/shares/[^/]+", Scope.WRITE, NOT_READ_ONLY),
    _rule("GET HEAD", r"/api/shares/[^/]+/qr\.(png|svg)", Scope.WRITE, NOT_READ_ONLY),
    _rule("GET HEAD", r"/api/shares/[^/]+/(view|documents/[^/]+)", Scope.READ),
    # PACS pull: staff ask "pull this study now" for their institution; institution admins manage
    # their institution's rules and see its queue and decision log; sources are the alliance
    # admin's.
    _rule("POST", r"/api/pull/requests", Scope.WRITE, NOT_READ_ONLY),
    _rule("GET HEAD", r"/api/pull/(queue|why|rules|hints)", Scope.ADMIN, ADMINS),
    # The RIS/HIS order hints: an institution admin uploads their institution's orders.
    _rule("POST", r"/api/pull/hints", Scope.ADMIN, ADMINS),
    _rule("POST PUT DELETE", r"/api/pull/rules(/[^/]+(/test)?)?", Scope.ADMIN, ADMINS),
    _rule("*", r"/api/pull/sources(/[^/]+)?", Scope.ADMIN, frozenset({Role.ADMIN})),
]

FALLBACK = Rule(frozenset(), re.compile(".*"), Scope.ADMIN, frozenset({Role.ADMIN}))


def is_public(method: str, path: str) -> bool:
    return any(rule.matches(method, path) for rule in PUBLIC)


def rule_for(method: str, path: str) -> Rule:
    return next((rule for rule in RULES if rule.matches(method, path)), FALLBACK)


def refusal(principal: Principal, method: str, path: str) -> str | None:
    """Why ``principal`` may not make this request, or None when the table allows it."""
    rule = rule_for(method, path)
    if rule.scope is not None and not principal.may(rule.scope):
        return f"this credential lacks the {rule.scope.value!r} scope"
    if principal.role not in rule.roles:
        return f"the role {principal.role.value!r} may not do this"
    return None
