"""Import every table module so that SQLModel.metadata is complete (Alembic, tests)."""

from server.db import access, accounts, analysis, archive, audit, dimse, reading, shares, workitems  # noqa: F401
