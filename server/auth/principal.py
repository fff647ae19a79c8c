"""Who is asking: the principal every route receives after authentication.

The one shape shared by sessions, API tokens, OIDC access tokens, DIMSE calling AE
titles and patient share links. Routes and services decide on a principal only;
how it was authenticated is recorded for the audit log, never used for access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """Roles of the alliance (issue: accounts and tenancy)."""

    ADMIN = "admin"  # everything, every institution
    INSTITUTION_ADMIN = "institution_admin"  # users and tokens of their institution
    REQUESTING_DOCTOR = "requesting_doctor"
    REPORTING_DOCTOR = "reporting_doctor"
    REVIEWER = "reviewer"
    TECHNOLOGIST = "technologist"  # upload + analysis queue
    READ_ONLY = "read_only"


class Scope(StrEnum):
    """What a credential may do, whatever the role allows (tokens carry one)."""

    READ = "read"
    STOW = "stow"
    WRITE = "write"
    ADMIN = "admin"


class AuthMethod(StrEnum):
    SESSION = "session"
    TOKEN = "token"
    BASIC = "basic"
    OIDC = "oidc"
    SHARE = "share"
    DIMSE = "dimse"
    SYSTEM = "system"  # the server's own background work (worker write-back, pull)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``institution_id`` owns what the caller stores; visibility is the institution's
    studies plus the studies granted to it (``server.db.access.StudyGrant``). A share
    principal (``share_study_uid`` set) sees exactly that one study, read-only.
    """

    method: AuthMethod
    institution_id: int
    role: Role
    user_id: int | None = None
    username: str = ""
    token_id: int | None = None
    share_id: int | None = None
    share_study_uid: str | None = None
    scopes: frozenset[Scope] = field(default_factory=lambda: frozenset(Scope))

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN and Scope.ADMIN in self.scopes

    @property
    def is_share(self) -> bool:
        return self.share_study_uid is not None

    def may(self, scope: Scope) -> bool:
        return scope in self.scopes
