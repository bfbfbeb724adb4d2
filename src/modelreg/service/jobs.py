"""Exports as background jobs: start one, follow its state and progress, wait for it.

``start_export`` checks everything ``export`` checks before converting, in the caller's thread, so a bad
request is refused at once with the same error and stores no job. Then either the same export is stored
(the job is created ``done``, naming it) or a ``queued`` job is stored and handed to this process's runner
(``service.job_runner``), which runs the same export path as ``export`` and records the outcome: ``done``
with ``export_id``, or ``failed`` with the error ``export`` would have raised (code, message, hint, details).
A job whose process stopped is reported ``failed`` ("interrupted") by whoever reads it next.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from modelreg.errors import ModelregError, NotFound
from modelreg.export.job import ExportOptions
from modelreg.local.export_options import export_options, given_options
from modelreg.local.job_wait import check_job_id, wait_for_job
from modelreg.metadata.base import MetadataTx
from modelreg.service.exports import ExportPlan, ExportsMixin
from modelreg.service.job_runner import Task, is_stale, job_runner, runner_id
from modelreg.service.permissions import operation
from modelreg.types import Job, JobError

log = logging.getLogger("modelreg.jobs")


def interrupted() -> JobError:
    """The error of a job whose process stopped before it finished (built when needed: a model instance made at
    import would build its validator in every command that imports the service)."""
    return JobError(code="export_failed", message="interrupted: the server stopped before it finished",
                    hint="start it again", details={"reason": "interrupted"})


def unexpected() -> JobError:
    """The error of a job that stopped on an exception modelreg did not expect."""
    return JobError(code="internal", message="the export stopped on an unexpected error",
                    hint="the log of the process that ran it has the details; start it again")


def job_error(exc: ModelregError) -> JobError:
    """The facts of an error, as a job keeps them (the same ``code``, ``message``, ``hint`` and details)."""
    return JobError(code=exc.code, message=exc.message, hint=exc.hint, details=dict(exc.details))


class JobsMixin(ExportsMixin):
    @operation("editor", "exporting a version")
    def start_export(self, ref: str, format: str = "onnx", *, force: bool = False, trusted: bool = False,
                     source: str | None = None, entry_point: str | None = None,
                     options: Mapping[str, Any] | ExportOptions | None = None, **more_options: Any) -> Job:
        """Start exporting a version in the background and return its job at once (``export``'s arguments).

        What ``export`` would refuse is refused here, before any job exists. When ``export`` would serve a
        stored export, the job is already ``done``. Follow it with ``get_job`` / ``wait_job``; ``list_jobs``
        lists a version's jobs. The job runs in this process (a server's, over ``MODELREG_URL``).
        """
        opts = export_options(format, given_options(options, more_options))
        plan = self._plan_export(ref, format, opts, force=force, trusted=trusted, source=source,
                                 entry_point=entry_point)
        stored = plan.stored

        def create(tx: MetadataTx) -> Job:
            return tx.create_job(
                version_id=plan.version.id, kind="export", format=plan.format, options=opts.model_dump(mode="json"),
                trusted=trusted, force=force, source=source, entry_point=entry_point,
                status="queued" if stored is None else "done",
                progress="waiting for a worker" if stored is None else "served from the registry: the same "
                                                                       "export is stored",
                export_id=stored.id if stored is not None else None, runner=runner_id() if stored is None else None,
                created_by=self.ctx.actor, now=self.ctx.now())

        job = self.ctx.write(create)
        if stored is None:
            job_runner().submit(Task(name=f"#{job.id} ({job.format} export of {job.ref})",
                                     work=lambda: self._run_job(job.id, plan), beat=lambda: self._beat_job(job.id)))
        return job

    @operation("viewer", "reading a job")
    def get_job(self, job_id: int) -> Job:
        """A background job: its state (queued, running, done, failed), progress, export or error."""
        check_job_id(job_id)
        found = self.ctx.read(lambda tx: tx.get_job(job_id=job_id))
        if found is None or (self.ctx.project_scope is not None and found.project != self.ctx.project_scope):
            raise NotFound(f"there is no job #{job_id}", hint="job ids come from starting an export in the background",
                           job_id=job_id)
        return self._reaped([found])[0]

    @operation("viewer", "listing jobs")
    def list_jobs(self, ref: str, *, limit: int = 20) -> list[Job]:
        """The version's background jobs, newest first (at most ``limit``, up to 1000)."""
        version = self.get_version(ref)
        return self._reaped(self.ctx.read(lambda tx: tx.list_jobs(version_id=version.id, limit=limit)))

    @operation("viewer", "reading a job")
    def wait_job(self, job_id: int, timeout: float | None = None) -> Job:
        """The job once it is done or failed; after ``timeout`` seconds, as it is then (check ``job.finished``)."""
        check_job_id(job_id)
        return wait_for_job(lambda: self.get_job(job_id), timeout)

    # ---- the worker's side

    def _run_job(self, job_id: int, plan: ExportPlan) -> None:
        """Run the export of a queued job to its end and record the outcome (in a runner's thread)."""
        self._change_job(job_id, status="running", started_at=self.ctx.now(), progress="starting")
        try:
            stored = None if plan.force else self._find_export(plan.version, plan.format, plan.key)
            exported = stored or self._make_export(plan, lambda stage: self._change_job(job_id, progress=stage))
        except ModelregError as exc:
            self._end_job(job_id, error=job_error(exc))
        except Exception:
            log.exception("the export job #%s stopped on an unexpected error", job_id)
            self._end_job(job_id, error=unexpected())
        else:
            self._end_job(job_id, export_id=exported.id)

    def _end_job(self, job_id: int, *, export_id: int | None = None, error: JobError | None = None) -> None:
        self._change_job(job_id, status="failed" if error else "done", progress="failed" if error else "done",
                         export_id=export_id, error=error.model_dump(mode="json") if error else None,
                         finished_at=self.ctx.now())

    def _beat_job(self, job_id: int) -> None:
        self._change_job(job_id, heartbeat_at=self.ctx.now(), runner=runner_id())

    def _change_job(self, job_id: int, **changes: Any) -> None:
        """Record a change of a job; a job deleted meanwhile (with its version) is left alone."""
        try:
            self.ctx.write(lambda tx: tx.update_job(job_id=job_id, changes=changes))
        except NotFound:
            log.info("job #%s was deleted while it ran (its version was deleted)", job_id)

    # ---- jobs whose process stopped

    def _reaped(self, jobs: list[Job]) -> list[Job]:
        """``jobs``, those that no process runs any more recorded (and shown) as failed: interrupted."""
        now = self.ctx.now()
        if not any(is_stale(job, now) for job in jobs):
            return jobs

        def run(tx: MetadataTx) -> list[Job]:
            out = []
            for job in jobs:
                current = tx.get_job(job_id=job.id) if is_stale(job, now) else job
                if current is not None and is_stale(current, now):
                    current = tx.update_job(job_id=job.id, changes={
                        "status": "failed", "progress": "interrupted", "finished_at": now,
                        "error": interrupted().model_dump(mode="json")})
                out.append(current or job)
            return out

        return self.ctx.write(run)


__all__ = ["JobsMixin", "job_error"]
