"""Import every table module so that SQLModel.metadata is complete (Alembic, tests)."""

from server.db import (  # noqa: F401
    access,
    accounts,
    analysis,
    archive,
    audit,
    client_limits,
    dimse,
    presets,
    pull,
    reading,
    shares,
    workitems,
)
