"""Background jobs: an export started with ``"wait": false`` (or ``Prefer: respond-async``) and followed here."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from modelreg.server.auth import Registry
from modelreg.server.wire import ModelPath, ProjectPath, VersionPath, ref_text, reply
from modelreg.types import Job

router = APIRouter(tags=["jobs"])
JOB = "/jobs/{job_id}"
UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"description": "`not_found`: no such job (or it belongs to a project the token may not read)"}}


@router.get(JOB, response_model=Job, responses=UNKNOWN, name="get_job",
            summary="A background job: status (queued, running, done, failed), progress, export_id or error")
def get_job(reg: Registry, job_id: int) -> object:
    return reply(reg.get_job(job_id))


@router.get("/projects/{project}/models/{model}/versions/{version}/jobs", response_model=list[Job],
            summary="The version's background jobs, newest first")
def list_jobs(reg: Registry, project: str = ProjectPath, model: str = ModelPath, version: str = VersionPath,
              limit: int = Query(20, description="At most this many (1 to 1000).")) -> object:
    return reply(reg.list_jobs(ref_text(project, model, version), limit=limit))
