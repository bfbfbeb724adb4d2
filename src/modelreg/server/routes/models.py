"""Models: create, read, change (policies need admin), delete."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from modelreg.server.auth import Registry
from modelreg.server.wire import ModelCreate, ModelPath, ModelUpdate, ProjectPath, project_arg, ref_text, reply
from modelreg.types import Model, Page

router = APIRouter(tags=["models"])
MODEL = "/projects/{project}/models/{model}"


@router.post("/models", response_model=Model, status_code=201,
             summary="Create a model (`name` or `project/name`; the project is created on first use)")
def create_model(body: ModelCreate, reg: Registry) -> object:
    return reply(reg.create_model(body.name, project=body.project, description=body.description, task=body.task,
                                  baseline=body.baseline, tags=body.tags, best_metric=body.best_metric,
                                  best_mode=body.best_mode, auto_activate_first=body.auto_activate_first,
                                  protected_aliases=body.protected_aliases, promotion_gate=body.promotion_gate,
                                  exist_ok=body.exist_ok), 201)


@router.post("/projects/{project}/models", response_model=Model, status_code=201,
             summary="Create a model in this project")
def create_model_in(body: ModelCreate, reg: Registry, project: str = ProjectPath) -> object:
    return create_model(body.model_copy(update={"project": project_arg(project) or body.project}), reg)


@router.get("/projects/{project}/models", response_model=Page[Model], summary="The project's models, by name")
def list_models(reg: Registry, project: str = ProjectPath, q: str | None = Query(None, description="A filter"),
                sort: str = "name", limit: int = 50, cursor: str | None = None) -> object:
    return reply(reg.search_models(q, project=project_arg(project), sort=sort, limit=limit, cursor=cursor))


@router.get(MODEL, response_model=Model, summary="Get a model")
def get_model(reg: Registry, project: str = ProjectPath, model: str = ModelPath) -> object:
    return reply(reg.get_model(ref_text(project, model)))


@router.patch(MODEL, response_model=Model,
              summary="Change a model: rename, description, tags (merged), pin; policies need admin")
def update_model(body: ModelUpdate, reg: Registry, project: str = ProjectPath, model: str = ModelPath) -> object:
    return reply(reg.update_model(ref_text(project, model), rename=body.rename, description=body.description,
                                  task=body.task, baseline=body.baseline, tags=body.tags, pinned=body.pinned,
                                  best_metric=body.best_metric, best_mode=body.best_mode,
                                  auto_activate_first=body.auto_activate_first,
                                  protected_aliases=body.protected_aliases, promotion_gate=body.promotion_gate,
                                  trusted_sources=body.trusted_sources))


@router.delete(MODEL, status_code=204,
               summary="Delete a model and its versions (refused while an alias or a pin holds one)")
def delete_model(reg: Registry, project: str = ProjectPath, model: str = ModelPath) -> Response:
    reg.delete_model(ref_text(project, model))
    return Response(status_code=204)
