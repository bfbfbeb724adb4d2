"""Which project may see a blob: the projects whose versions or exports hold it, and those that uploaded it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select

from modelreg.metadata.sql import schema as db
from modelreg.metadata.sql.txbase import TxBase


class GrantsTx(TxBase):
    def grant_blob(self, *, digest: str, project: str, now: datetime) -> None:
        self._w().execute(self._insert_ignore(db.blob_grants).values(digest=digest, project=project,
                                                                     created_at=now))

    def blob_in_project(self, *, digest: str, project: str) -> bool:
        in_project = (db.models.c.project_id == db.projects.c.id) & (db.projects.c.name == project)
        artifact = (exists().where(db.artifacts.c.digest == digest, db.artifacts.c.version_id == db.versions.c.id,
                                   db.versions.c.model_id == db.models.c.id, in_project))
        export = (exists().where(db.export_files.c.digest == digest, db.export_files.c.export_id == db.exports.c.id,
                                 db.exports.c.version_id == db.versions.c.id,
                                 db.versions.c.model_id == db.models.c.id, in_project))
        granted = exists().where(db.blob_grants.c.digest == digest, db.blob_grants.c.project == project)
        return bool(self.conn.execute(select(artifact | export | granted)).scalar())
