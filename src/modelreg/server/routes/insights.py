"""Reading across versions: training history, lineage, comparison, the full report."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from modelreg.server.auth import Registry
from modelreg.server.wire import Compare, ModelPath, ProjectPath, VersionPath, ref_text, reply
from modelreg.types import Comparison, Epoch, Lineage

router = APIRouter(tags=["insights"])
VERSION = "/projects/{project}/models/{model}/versions/{version}"


@router.get(VERSION + "/history", response_model=list[Epoch], summary="Training history, one row per epoch")
def history(reg: Registry, project: str = ProjectPath, model: str = ModelPath, version: str = VersionPath) -> object:
    return reply(reg.history(ref_text(project, model, version)))


@router.get(VERSION + "/lineage", response_model=Lineage, summary="Ancestors and descendants, across models")
def lineage(reg: Registry, project: str = ProjectPath, model: str = ModelPath, version: str = VersionPath) -> object:
    return reply(reg.lineage(ref_text(project, model, version)))


@router.get(VERSION + "/report", summary="The full report: metadata, files, history, lineage, events",
            responses={200: {"content": {"application/json": {}, "text/markdown": {}}}})
def report(reg: Registry, project: str = ProjectPath, model: str = ModelPath, version: str = VersionPath,
           format: Literal["json", "markdown"] = Query("json", description="json or markdown")) -> Response:
    text = reg.report(ref_text(project, model, version), format)
    media = "application/json" if format == "json" else "text/markdown; charset=utf-8"
    return Response(text, media_type=media)


@router.post("/versions/compare", response_model=Comparison,
             summary="Compare two or more versions: metric and per-class AP deltas, params diff, curves")
def compare(body: Compare, reg: Registry) -> object:
    return reply(reg.compare(body.refs))
