"""The AE table: remote application entities allowed to call, their institution, C-MOVE addresses.

The DIMSE principal of an association is built here from the calling AE's row
(method ``DIMSE``, the row's institution), so every service below sees the same
tenant rule as an HTTP caller of that institution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, select

from server.app_errors import InvalidInput, NotFoundError
from server.auth.principal import AuthMethod, Principal, Role, Scope
from server.context import AppContext
from server.db.archive import Institution
from server.db.dimse import RemoteAE

# AE VR (PS3.5 Table 6.2-1): 16 characters at most, default repertoire without backslash
# and control characters; leading and trailing spaces are not significant.
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")
DIMSE_SCOPES = frozenset({Scope.READ, Scope.STOW})


def ae_title(value: str) -> str:
    """``value`` as a stored AE title (stripped); ``InvalidInput`` naming the rule otherwise."""
    title = value.strip()
    if not title or not _AE_TITLE.match(title):
        raise InvalidInput(
            f"AE title {value!r} is not valid: 1 to 16 printable ASCII characters, no backslash"
        )
    return title


@dataclass(frozen=True)
class AEEntry:
    ae_title: str
    institution_id: int
    institution: str
    accepts_calls: bool
    host: str | None
    port: int | None
    max_associations: int
    description: str

    @property
    def is_destination(self) -> bool:
        return self.host is not None and self.port is not None

    def principal(self) -> Principal:
        """The caller every DIMSE operation of this AE acts as."""
        return dimse_principal(self.institution_id, self.ae_title)


def dimse_principal(institution_id: int, title: str) -> Principal:
    return Principal(method=AuthMethod.DIMSE, institution_id=institution_id, role=Role.TECHNOLOGIST,
                     username=title, scopes=DIMSE_SCOPES)


def _entry(row: RemoteAE, institution: str) -> AEEntry:
    return AEEntry(row.ae_title, row.institution_id, institution, row.accepts_calls, row.host, row.port,
                   row.max_associations, row.description)


async def add_ae(
    ctx: AppContext, title: str, *, institution: str, accepts_calls: bool = True, host: str | None = None,
    port: int | None = None, max_associations: int = 0, description: str = "",
) -> AEEntry:
    """Add or replace the row of ``title``. ``institution`` is an existing institution's name."""
    title = ae_title(title)
    if (host is None) != (port is None):
        raise InvalidInput("a C-MOVE destination needs both a host and a port")
    if port is not None and not 0 < port < 65536:
        raise InvalidInput(f"port {port} is not a TCP port (1-65535)")
    if max_associations < 0:
        raise InvalidInput("max associations must be 0 (no limit) or more")
    async with ctx.write_session() as session:
        inst = (await session.exec(select(Institution).where(Institution.name == institution))).scalar()  # type: ignore[call-overload]
        if inst is None:
            raise NotFoundError(f"no institution named {institution!r}")
        await session.exec(delete(RemoteAE).where(RemoteAE.ae_title == title))  # type: ignore[call-overload]
        row = RemoteAE(ae_title=title, institution_id=inst.id, accepts_calls=accepts_calls, host=host, port=port,
                       max_associations=max_associations, description=description)
        session.add(row)
        await session.commit()
        return _entry(row, inst.name)


async def list_aes(ctx: AppContext) -> list[AEEntry]:
    async with ctx.sessions() as session:
        rows = (
            await session.exec(  # type: ignore[call-overload]
                select(RemoteAE, Institution.name)
                .join(Institution, Institution.id == RemoteAE.institution_id)
                .order_by(RemoteAE.ae_title)
            )
        ).all()
    return [_entry(row, name) for row, name in rows]


async def find_ae(ctx: AppContext, title: str) -> AEEntry | None:
    title = title.strip()
    async with ctx.sessions() as session:
        found = (
            await session.exec(  # type: ignore[call-overload]
                select(RemoteAE, Institution.name)
                .join(Institution, Institution.id == RemoteAE.institution_id)
                .where(RemoteAE.ae_title == title)
            )
        ).first()
    return _entry(*found) if found else None


async def remove_ae(ctx: AppContext, title: str) -> None:
    title = ae_title(title)
    async with ctx.write_session() as session:
        result = await session.exec(delete(RemoteAE).where(RemoteAE.ae_title == title))  # type: ignore[call-overload]
        await session.commit()
    if not result.rowcount:
        raise NotFoundError(f"no AE titled {title!r} in the AE table")
