"""Evaluations of a version on named datasets: log one (the same dataset again replaces it), list them."""

from __future__ import annotations

from fastapi import APIRouter

from modelreg.server.auth import Registry
from modelreg.server.wire import EvaluationCreate, ModelPath, ProjectPath, VersionPath, ref_text, reply
from modelreg.types import Evaluation

router = APIRouter(tags=["evaluations"])
PATH = "/projects/{project}/models/{model}/versions/{version}/evaluations"


@router.post(PATH, response_model=Evaluation, status_code=201,
             summary="Log an evaluation of the version on a named dataset (replaces that dataset's previous one)")
def log_evaluation(body: EvaluationCreate, reg: Registry, project: str = ProjectPath, model: str = ModelPath,
                   version: str = VersionPath) -> object:
    return reply(reg.log_evaluation(ref_text(project, model, version), dataset=body.dataset, metrics=body.metrics,
                                    class_metrics=body.class_metrics, notes=body.notes, digest=body.digest),
                 201)


@router.get(PATH, response_model=list[Evaluation], summary="The version's evaluations, one per dataset")
def list_evaluations(reg: Registry, project: str = ProjectPath, model: str = ModelPath,
                     version: str = VersionPath) -> object:
    return reply(reg.list_evaluations(ref_text(project, model, version)))
