"""Training runs over HTTP: start (a version in ``training``), log epochs, finish with uploaded blobs, fail.

The client keeps what ``Run`` keeps in memory (final metrics, metadata, the files to upload) and sends
it when the ``with`` block ends. Finishing and failing rebuild the service's ``Run`` for the version and
call its private finishing steps: the service has no public "finish/fail the run of this version" yet.
Finishing re-reads the uploaded blobs through the store (verified; the content is kept once).
"""

from __future__ import annotations

import functools
import time

from fastapi import APIRouter, Response

from modelreg.errors import InvalidState
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
from modelreg.service import Run, Service
from modelreg.service.blobs import Source
from modelreg.service.versions import metadata_changes
from modelreg.types import Version, check_metrics

router = APIRouter(tags=["runs"])
VERSION = "/projects/{project}/models/{model}/versions/{version}"


def _run_of(reg: Service, ref: str) -> Run:
    """The service's Run object for a version still in training, with its start time restored."""
    reg.ctx.require("editor", "logging or ending a run")
    version = reg.get_version(ref)
    if version.status != "training":
        raise InvalidState(f"{version.ref} is {version.status}; only a run in training can log or end",
                           hint="start a new run", version=version.number, status=version.status)
    run = Run(reg, version)
    started = version.training.started_at if version.training else None
    if started is not None:
        run._started_at = started
        run._started = time.monotonic() - max(0.0, (reg.ctx.now() - started).total_seconds())
    return run


@router.post("/runs", response_model=Version, status_code=201,
             summary="Start a training run: a new version with status training")
def start_run(body: RunStart, reg: Registry) -> object:
    run = reg.start_run(body.model, params=body.params, parent=body.parent, description=body.description,
                        tags=body.tags, dataset=body.dataset, source=body.source)
    return reply(run.version, 201)


@router.post(VERSION + "/epochs", status_code=204, summary="Log one epoch of a run")
def log_epoch(body: EpochIn, reg: Registry, project: str = ProjectPath, model: str = ModelPath,
              version: str = VersionPath) -> Response:
    _run_of(reg, ref_text(project, model, version)).log_epoch(body.epoch, **body.metrics)
    return Response(status_code=204)


@router.post(VERSION + "/finish", response_model=Version,
             summary="End a run successfully: its uploaded files, final metrics and metadata; status ready")
def finish_run(body: RunFinish, reg: Registry, project: str = ProjectPath, model: str = ModelPath,
               version: str = VersionPath) -> object:
    run = _run_of(reg, ref_text(project, model, version))
    fields = body.given()
    metrics = check_metrics(fields.pop("metrics", None))
    changes = metadata_changes(**fields)
    artifacts = reg._stored_artifacts([a.model_dump() for a in body.artifacts])
    sources = [Source(a.path, functools.partial(reg.ctx.blobs.open, a.digest), f"blob {a.digest}")
               for a in artifacts]
    return reply(reg._finish_run(run, sources, metrics, changes))


@router.post(VERSION + "/fail", response_model=Version, summary="End a run as failed, with its error")
def fail_run(body: RunFail, reg: Registry, project: str = ProjectPath, model: str = ModelPath,
             version: str = VersionPath) -> object:
    run = _run_of(reg, ref_text(project, model, version))
    return reply(reg._fail_run(run, body.error))
