"""Searching models and versions with the filter language (GET with `q`, or POST with a structured filter)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from modelreg.server.auth import Registry
from modelreg.server.wire import ModelSearch, VersionSearch, reply, reply_page
from modelreg.service.versions import search_versions_json
from modelreg.types import Model, ModelOverview, Page, Version

router = APIRouter(tags=["search"])
Q = Query(None, description="A filter expression, e.g. `metrics.map50 >= 0.8 and not pinned`")


@router.get("/models", response_model=Page[Model], summary="Search models (keyset paged)")
def search_models(reg: Registry, q: str | None = Q, project: str | None = None, sort: str = "name",
                  limit: int = 50, cursor: str | None = None) -> object:
    return reply(reg.search_models(q, project=project, sort=sort, limit=limit, cursor=cursor))


@router.post("/models/search", response_model=Page[Model], summary="Search models with a structured filter")
def search_models_post(body: ModelSearch, reg: Registry) -> object:
    return reply(reg.search_models(body.query, project=body.project, filter=body.filter, sort=body.sort,
                                   limit=body.limit, cursor=body.cursor))


@router.post("/models/overview", response_model=Page[ModelOverview],
             summary="Search models, each with its production version, best and latest numbers and version count")
def model_overview(body: ModelSearch, reg: Registry) -> object:
    return reply(reg.model_overview(body.query, project=body.project, filter=body.filter, sort=body.sort,
                                    limit=body.limit, cursor=body.cursor))


@router.get("/versions", response_model=Page[Version],
            summary="Search versions across models (keyset paged)")
def search_versions(reg: Registry, q: str | None = Q, model: str | None = None, project: str | None = None,
                    sort: str | None = None, limit: int = 50, cursor: str | None = None) -> object:
    return reply_page(search_versions_json(reg, q, model=model, project=project, sort=sort, limit=limit,
                                           cursor=cursor))


@router.post("/versions/search", response_model=Page[Version], summary="Search versions with a structured filter")
def search_versions_post(body: VersionSearch, reg: Registry) -> object:
    return reply_page(search_versions_json(reg, body.query, model=body.model, project=body.project,
                                           filter=body.filter, sort=body.sort, limit=body.limit, cursor=body.cursor))
