"""One router per resource, all mounted under ``/api/v1`` by ``create_app``."""

from __future__ import annotations

from fastapi import APIRouter

from modelreg.server.routes import (
    aliases,
    blobs,
    evaluations,
    events,
    experiments,
    exports,
    health,
    inferences,
    insights,
    jobs,
    maintenance,
    models,
    projects,
    runs,
    search,
    tokens,
    versions,
    watch,
)

ROUTERS: list[APIRouter] = [health.router, projects.router, models.router, search.router, versions.router,
                            experiments.router, evaluations.router, inferences.router, runs.router, exports.router,
                            jobs.router, aliases.router, watch.router, insights.router, events.router,
                            maintenance.router, tokens.router, blobs.router]

__all__ = ["ROUTERS"]
