"""Jobs: background work on a version (exports), with their state; rows become ``Job`` here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update

from modelreg.errors import NotFound, VersionNotFound
from modelreg.metadata.base import check_job_limit, job_changes
from modelreg.metadata.sql.rows import version_keys
from modelreg.metadata.sql.schema import jobs
from modelreg.metadata.sql.txbase import TxBase
from modelreg.metadata.values import to_json_value
from modelreg.types import Job


class JobsTx(TxBase):
    def _jobs(self, rows: list[Row[Any]]) -> list[Job]:
        keys = version_keys(self.conn, {r.version_id for r in rows})
        out = []
        for r in rows:
            key = keys[r.version_id]
            fields = {name: value for name, value in r._mapping.items() if name != "version_id"}
            out.append(Job.model_validate({**fields, "project": key.project, "model": key.model,
                                           "version": key.number}))
        return out

    def _job_row(self, job_id: int) -> Row[Any] | None:
        return self.conn.execute(select(jobs).where(jobs.c.id == job_id)).first()

    def create_job(self, *, version_id: int, kind: str, format: str, options: Mapping[str, Any], trusted: bool,
                   force: bool, source: str | None, entry_point: str | None, status: str, progress: str,
                   created_by: str, now: datetime, runner: str | None = None, export_id: int | None = None) -> Job:
        conn = self._w()
        if not version_keys(conn, [version_id]):
            raise VersionNotFound(f"version #{version_id} does not exist", version_id=version_id)
        job_changes({"status": status})
        ended = now if status in ("done", "failed") else None
        job_id = conn.execute(jobs.insert().values(
            version_id=version_id, kind=kind, format=format, options=to_json_value(dict(options), field_name="options"),
            trusted=trusted, force=force, source=source, entry_point=entry_point, status=status, progress=progress,
            export_id=export_id, created_by=created_by, created_at=now, started_at=ended, finished_at=ended,
            runner=runner, heartbeat_at=now if runner else None).returning(jobs.c.id)).scalar_one()
        row = self._job_row(job_id)
        assert row is not None
        return self._jobs([row])[0]

    def get_job(self, *, job_id: int) -> Job | None:
        row = self._job_row(job_id)
        return self._jobs([row])[0] if row is not None else None

    def update_job(self, *, job_id: int, changes: Mapping[str, Any]) -> Job:
        conn = self._w()
        values = job_changes(changes)
        if values:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))
        row = self._job_row(job_id)
        if row is None:
            raise NotFound(f"job #{job_id} does not exist", job_id=job_id)
        return self._jobs([row])[0]

    def list_jobs(self, *, version_id: int, limit: int = 20) -> list[Job]:
        check_job_limit(limit)
        rows = list(self.conn.execute(select(jobs).where(jobs.c.version_id == version_id)
                                      .order_by(jobs.c.id.desc()).limit(limit)))
        return self._jobs(rows)
