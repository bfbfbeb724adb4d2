"""Training runs over HTTP: start (a version in ``training``), log epochs, finish with uploaded blobs, fail.

The client keeps what ``Run`` keeps in memory (final metrics, metadata, the files to upload) and sends
it when the ``with`` block ends. Each request picks the run up again with ``resume_run`` (which checks
the role and that the version is still training) and acts on it as a local run would; the files of a
finished run are blobs uploaded before (``log_blob``), re-read through the store and verified.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from modelreg.server.auth import Registry
from modelreg.server.wire import (
    EpochIn,
    ModelPath,
    ProjectPath,
    RunFail,
    RunFinish,
    RunStart,
    VersionPath,
    ref_text,
    reply,
)
from modelreg.types import Version

router = APIRouter(tags=["runs"])
VERSION = "/projects/{project}/models/{model}/versions/{version}"


@router.post("/runs", response_model=Version, status_code=201,
             summary="Start a training run: a new version with status training")
def start_run(body: RunStart, reg: Registry) -> object:
    run = reg.start_run(body.model, params=body.params, parent=body.parent, description=body.description,
                        tags=body.tags, dataset=body.dataset, source=body.source)
    return reply(run.version, 201)


@router.post(VERSION + "/epochs", status_code=204, summary="Log one epoch of a run")
def log_epoch(body: EpochIn, reg: Registry, project: str = ProjectPath, model: str = ModelPath,
              version: str = VersionPath) -> Response:
    reg.resume_run(ref_text(project, model, version)).log_epoch(body.epoch, **body.metrics)
    return Response(status_code=204)


@router.post(VERSION + "/finish", response_model=Version,
             summary="End a run successfully: its uploaded files, final metrics and metadata; status ready")
def finish_run(body: RunFinish, reg: Registry, project: str = ProjectPath, model: str = ModelPath,
               version: str = VersionPath) -> object:
    run = reg.resume_run(ref_text(project, model, version))
    fields = body.given()
    run.log_metrics(**(fields.pop("metrics", None) or {}))
    run.set(**fields)
    for artifact in body.artifacts:
        run.log_blob(artifact.path, artifact.digest, artifact.size)
    return reply(run.finish())


@router.post(VERSION + "/fail", response_model=Version, summary="End a run as failed, with its error")
def fail_run(body: RunFail, reg: Registry, project: str = ProjectPath, model: str = ModelPath,
             version: str = VersionPath) -> object:
    return reply(reg.resume_run(ref_text(project, model, version)).fail(body.error))


@router.post(VERSION + "/discard", status_code=204,
             summary="End a run and remove its version (a run that never really started; the event keeps the error)")
def discard_run(body: RunFail, reg: Registry, project: str = ProjectPath, model: str = ModelPath,
                version: str = VersionPath) -> Response:
    reg.resume_run(ref_text(project, model, version)).discard(body.error)
    return Response(status_code=204)
