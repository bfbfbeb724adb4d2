"""Versions: register (from uploaded blobs), read, amend, pin/archive/mark-best, delete."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Response

from modelreg.server.auth import Registry, State
from modelreg.server.wire import (
    JSONModel,
    ModelPath,
    ProjectPath,
    VersionCreate,
    VersionPath,
    VersionRegister,
    VersionUpdate,
    ref_text,
    reply,
    reply_page,
)
from modelreg.service import Service
from modelreg.service.versions import list_versions_json
from modelreg.types import MetricPoint, Page, Version

router = APIRouter(tags=["versions"])
MODEL = "/projects/{project}/models/{model}"
VERSION = MODEL + "/versions/{version}"
MISSING: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown model or version; `blob_not_found` with `details.missing` lists the digests "
                         "to upload first (PUT /api/v1/blobs/{digest})"}}


def _register(reg: Service, model: str, body: VersionCreate) -> object:
    version = reg.register_version(model, artifacts=[a.model_dump() for a in body.artifacts], epochs=body.epochs,
                                   config=body.config, update_labels=body.update_labels, **body.given())
    return reply(version, 201)


@router.post("/versions", response_model=Version, status_code=201, responses=MISSING,
             summary="Register a version from uploaded blobs (`model` or `project/model`, created on first use)")
def register(body: VersionRegister, reg: Registry) -> object:
    return _register(reg, body.model, body)


@router.post(MODEL + "/versions", response_model=Version, status_code=201, responses=MISSING,
             summary="Register a version of this model from uploaded blobs")
def register_in(body: VersionCreate, reg: Registry, project: str = ProjectPath, model: str = ModelPath) -> object:
    return _register(reg, ref_text(project, model), body)


@router.get(MODEL + "/versions", response_model=Page[Version], summary="The model's versions, newest first")
def list_versions(reg: Registry, project: str = ProjectPath, model: str = ModelPath, limit: int = 50,
                  cursor: str | None = None, include_archived: bool = True) -> object:
    return reply_page(list_versions_json(reg, ref_text(project, model), limit=limit, cursor=cursor,
                                         include_archived=include_archived))


@router.get(MODEL + "/trend", response_model=list[MetricPoint],
            summary="A metric across the model's versions: the newest `limit` that have it, oldest first")
def metric_trend(reg: Registry, metric: str, project: str = ProjectPath, model: str = ModelPath, limit: int = 1000,
                 include_archived: bool = True) -> object:
    return reply(reg.metric_trend(ref_text(project, model), metric, limit=limit, include_archived=include_archived))


@router.get(VERSION, response_model=Version, summary="Get a version (a number, latest, best, @alias or -)")
async def get_version(reg: Registry, st: State, project: str = ProjectPath, model: str = ModelPath,
                      version: str = VersionPath) -> object:
    # the hot path of resolve(): reuse the reply while nothing was committed (SQLite's change token)
    ref = ref_text(project, model, version)
    key = ("version", ref, reg.ctx.project_scope, reg.ctx.settings.model_environment)
    token = st.meta.change_token()
    body = st.reads.get(token, key)
    if body is None:
        found = await anyio.to_thread.run_sync(reg.get_version, ref)
        body = found.model_dump_json().encode()
        st.reads.put(token, key, body)
    return JSONModel(body)


@router.patch(VERSION, response_model=Version,
              summary="Amend a version's metadata (metrics and tags merge; each call is one event)")
def update_version(body: VersionUpdate, reg: Registry, project: str = ProjectPath, model: str = ModelPath,
                   version: str = VersionPath) -> object:
    return reply(reg.update_version(ref_text(project, model, version), **body.given()))


@router.delete(VERSION, status_code=204,
               summary="Delete a version and the blobs nothing else uses (refused while an alias or pin holds it)")
def delete_version(reg: Registry, project: str = ProjectPath, model: str = ModelPath,
                   version: str = VersionPath) -> Response:
    reg.delete_version(ref_text(project, model, version))
    return Response(status_code=204)


@router.post(VERSION + "/pin", response_model=Version, summary="Pin: a pinned version cannot be deleted")
def pin(reg: Registry, project: str = ProjectPath, model: str = ModelPath, version: str = VersionPath) -> object:
    return reply(reg.pin(ref_text(project, model, version)))


@router.post(VERSION + "/unpin", response_model=Version, summary="Unpin")
def unpin(reg: Registry, project: str = ProjectPath, model: str = ModelPath, version: str = VersionPath) -> object:
    return reply(reg.unpin(ref_text(project, model, version)))


@router.post(VERSION + "/archive", response_model=Version, summary="Archive: hidden from default listings, kept")
def archive(reg: Registry, project: str = ProjectPath, model: str = ModelPath, version: str = VersionPath) -> object:
    return reply(reg.archive(ref_text(project, model, version)))


@router.post(VERSION + "/unarchive", response_model=Version, summary="Unarchive")
def unarchive(reg: Registry, project: str = ProjectPath, model: str = ModelPath,
              version: str = VersionPath) -> object:
    return reply(reg.unarchive(ref_text(project, model, version)))


@router.post(VERSION + "/mark-best", response_model=Version,
             summary="Mark the version best, overriding the best_metric policy")
def mark_best(reg: Registry, project: str = ProjectPath, model: str = ModelPath,
              version: str = VersionPath) -> object:
    return reply(reg.mark_best(ref_text(project, model, version)))
