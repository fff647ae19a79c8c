"""Routes: rendered (to be filled in)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []

# Routes mounted at the root (WADO-URI lives at /wado, outside /dicom-web).
uri_routes: list[BaseRoute] = []
