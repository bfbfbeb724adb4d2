"""``create_app(settings)``: the FastAPI application of ``modelreg serve`` (nothing happens at import time).

The app opens the two stores once (or takes them, ``state=``) and serves the REST API under ``/api/v1``
(OpenAPI at ``/api/v1/openapi.json``, interactive docs at ``/docs``). ``create_app_from_environ`` is the
factory uvicorn's worker processes call: it builds the settings from the environment, the edge.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from modelreg import __version__
from modelreg.config import Settings
from modelreg.server.errors import install as install_errors
from modelreg.server.guard import RequestGuard
from modelreg.server.limits import BodyLimit
from modelreg.server.routes import ROUTERS
from modelreg.server.state import ServeOptions, ServerState, open_state
from modelreg.server.ui import install as install_ui

API_PREFIX = "/api/v1"

DESCRIPTION = """\
The REST API of a modelreg registry: projects, models, versions, aliases, search, insights, events,
maintenance, tokens and blobs. Every error is `{"error": {"code", "message", "details"}}` with the status
of its class. Send `Authorization: Bearer <token>` once the server has tokens
(`modelreg tokens create NAME --role editor`). References in paths: project `-` means "not given"
(the default project), version `3`, `v3`, `latest`, `best`, `@alias`, or `-` (MODEL_ENVIRONMENT).
"""


def create_app(settings: Settings, *, state: ServerState | None = None,
               options: ServeOptions | None = None) -> FastAPI:
    """The application over the stores ``settings`` name (or the given ``state``, left open at shutdown)."""
    server = state or open_state(settings, options)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.server.close()

    app = FastAPI(title="modelreg", version=__version__, description=DESCRIPTION,
                  openapi_url=f"{API_PREFIX}/openapi.json", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.server = server
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    install_ui(app)  # the dashboard at /, its static files, and /docs (vendored assets)
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestGuard)
    install_errors(app)  # last: its guard is the outermost middleware
    return app


def create_app_from_environ() -> FastAPI:
    """The factory for uvicorn (``modelreg serve`` and its worker processes): settings from the environment."""
    return create_app(Settings.from_env(os.environ), options=ServeOptions.from_env(os.environ))
