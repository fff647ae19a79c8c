"""Import every table module so that SQLModel.metadata is complete (Alembic, tests)."""

from server.db import models  # noqa: F401
from server.workflow import models as workflow_models  # noqa: F401
