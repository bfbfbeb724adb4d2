"""Exports of a version and their files (the blobs they hold count for gc like artifacts)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update

from modelreg.errors import InvalidState, NotFound, VersionNotFound
from modelreg.metadata.sql.rows import version_keys
from modelreg.metadata.sql.schema import blobs, export_files, exports
from modelreg.metadata.sql.txbase import TxBase
from modelreg.metadata.values import to_json_value
from modelreg.types import Artifact, Export


class ExportsTx(TxBase):
    def _exports(self, rows: list[Row[Any]]) -> list[Export]:
        if not rows:
            return []
        conn = self.conn
        keys = version_keys(conn, {r.version_id for r in rows})
        files: dict[int, list[Artifact]] = defaultdict(list)
        query = select(export_files).where(export_files.c.export_id.in_([r.id for r in rows]))
        for f in conn.execute(query.order_by(export_files.c.path)):
            files[f.export_id].append(Artifact(path=f.path, digest=f.digest, size=f.size, media_type=f.media_type))
        out = []
        for r in rows:
            key = keys[r.version_id]
            out.append(Export(id=r.id, project=key.project, model=key.model, version=key.number, format=r.format,
                              key=r.key, files=files[r.id], created_at=r.created_at, **r.record))
        return out

    def save_export(self, *, version_id: int, format: str, key: str, record: Mapping[str, Any],
                    files: list[Artifact], now: datetime) -> Export:
        conn = self._w()
        if not version_keys(conn, [version_id]):
            raise VersionNotFound(f"version #{version_id} does not exist", version_id=version_id)
        digests = {f.digest for f in files}
        known = set(conn.execute(select(blobs.c.digest).where(blobs.c.digest.in_(digests))).scalars())
        if digests - known:
            missing = sorted(digests - known)[0]
            raise InvalidState(f"blob {missing} has no row", hint="call claim_blobs first", digest=missing)
        old = select(exports.c.id).where(exports.c.version_id == version_id, exports.c.format == format,
                                         exports.c.key == key)
        conn.execute(export_files.delete().where(export_files.c.export_id.in_(old)))
        conn.execute(exports.delete().where(exports.c.id.in_(old)))
        export_id = conn.execute(exports.insert().values(
            version_id=version_id, format=format, key=key, created_at=now, updated_at=now,
            record=to_json_value(dict(record), field_name="export")).returning(exports.c.id)).scalar_one()
        if files:
            conn.execute(export_files.insert(), [{"export_id": export_id, **f.model_dump()} for f in files])
        return self._exports([self._export_row(export_id)])[0]

    def _export_row(self, export_id: int) -> Row[Any]:
        row = self.conn.execute(select(exports).where(exports.c.id == export_id)).first()
        if row is None:
            raise NotFound(f"export #{export_id} does not exist", export_id=export_id)
        return row

    def get_export(self, *, version_id: int, format: str, key: str) -> Export | None:
        rows = list(self.conn.execute(select(exports).where(
            exports.c.version_id == version_id, exports.c.format == format, exports.c.key == key)))
        found = self._exports(rows)
        return found[0] if found else None

    def list_exports(self, *, version_id: int) -> list[Export]:
        rows = list(self.conn.execute(select(exports).where(exports.c.version_id == version_id)
                                      .order_by(exports.c.id)))
        return self._exports(rows)

    def update_export(self, *, export_id: int, record: Mapping[str, Any], now: datetime) -> Export:
        conn = self._w()
        self._export_row(export_id)
        conn.execute(update(exports).where(exports.c.id == export_id).values(
            record=to_json_value(dict(record), field_name="export"), updated_at=now))
        return self._exports([self._export_row(export_id)])[0]
