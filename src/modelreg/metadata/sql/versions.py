"""Versions, their artifacts and training history, and the blob rows gc relies on."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, exists, func, select, update

from modelreg.errors import (
    AlreadyExists,
    InvalidInput,
    InvalidState,
    ModelNotFound,
    StorageError,
    VersionInUse,
    VersionNotFound,
)
from modelreg.metadata.base import (
    VERSION_DOCUMENT_FIELDS,
    VERSION_PAIR_FIELDS,
    VERSION_SCALAR_FIELDS,
    VERSION_UPDATABLE,
    BlobState,
    VersionDraft,
)
from modelreg.metadata.sql import schema as db
from modelreg.metadata.sql.rows import VERSION_ROW, among, load_versions, version_keys
from modelreg.metadata.sql.schema import aliases, models, projects, version_metrics, version_tags, versions
from modelreg.metadata.sql.txbase import TxBase
from modelreg.metadata.sql.version_json import refresh_listing
from modelreg.metadata.values import epoch_stride, to_json_value
from modelreg.types import Artifact, Epoch, Version, VersionKey

log = logging.getLogger(__name__)
_LOCK_ATTEMPTS = 5


class VersionsTx(TxBase):
    # ---- versions

    def insert_version(self, *, draft: VersionDraft) -> Version:
        conn = self._w()
        names = conn.execute(select(models.c.name, projects.c.name.label("project"))
                             .select_from(models.join(projects, projects.c.id == models.c.project_id))
                             .where(models.c.id == draft.model_id)).first()
        if names is None:
            raise ModelNotFound(f"model #{draft.model_id} does not exist", model_id=draft.model_id)
        parent = None
        if draft.parent_id is not None:
            parent = version_keys(conn, [draft.parent_id]).get(draft.parent_id)
            if parent is None:
                raise VersionNotFound(f"version #{draft.parent_id} does not exist", version_id=draft.parent_id)
        if draft.label is not None:
            self._check_label(draft.model_id, draft.label, None)
        docs = {name: to_json_value(getattr(draft, name), field_name=name) for name in VERSION_DOCUMENT_FIELDS}
        values = draft.model_dump(exclude=set(VERSION_DOCUMENT_FIELDS))
        version_id = conn.execute(
            self._insert_ignore(versions).values(updated_at=draft.created_at, **values, **docs)
            .returning(versions.c.id)).scalar()
        if version_id is None:
            raise AlreadyExists(f"version {names.name}:v{draft.number} already exists", model=names.name,
                                version=draft.number)
        for table, pairs in ((version_metrics, draft.metrics), (version_tags, draft.tags)):
            if pairs:
                conn.execute(table.insert(), [{"version_id": version_id, "model_id": draft.model_id, "key": k,
                                               "value": v} for k, v in pairs.items()])
        refresh_listing(conn, versions.c.id == version_id)
        conn.execute(update(models).where(models.c.id == draft.model_id).values(
            version_count=models.c.version_count + 1,
            latest_number=case((models.c.latest_number < draft.number, draft.number),
                               else_=models.c.latest_number)))
        # Built from what was written (after the same JSON round trip) rather than read back: one
        # registration is the hot path, and a new version has no artifacts or aliases yet.
        return Version(
            id=version_id, project=names.project, model=names.name, parent=parent, updated_at=draft.created_at,
            **draft.model_dump(include={"number", *VERSION_SCALAR_FIELDS, *VERSION_PAIR_FIELDS}),
            **{name: value for name, value in docs.items() if value is not None},
        )

    def _require_version(self, version_id: int) -> Any:
        row = self.conn.execute(select(versions.c.model_id, versions.c.number)
                                .where(versions.c.id == version_id)).first()
        if row is None:
            raise VersionNotFound(f"version #{version_id} does not exist", version_id=version_id)
        return row

    def _version(self, version_id: int) -> Version:
        found = self.get_version_by_id(version_id=version_id)
        if found is None:
            raise VersionNotFound(f"version #{version_id} does not exist", version_id=version_id)
        return found

    def get_version(self, *, model_id: int, number: int) -> Version | None:
        rows = self.conn.execute(select(*VERSION_ROW).where(versions.c.model_id == model_id,
                                                        versions.c.number == number)).all()
        return load_versions(self.conn, rows)[0] if rows else None

    def get_version_by_id(self, *, version_id: int) -> Version | None:
        rows = self.conn.execute(select(*VERSION_ROW).where(versions.c.id == version_id)).all()
        return load_versions(self.conn, rows)[0] if rows else None

    def _check_label(self, model_id: int, label: str, version_id: int | None) -> None:
        """A label is unique in its model: a clear error before the unique index would refuse it."""
        other = self.conn.execute(select(versions.c.id, versions.c.number).where(
            versions.c.model_id == model_id, versions.c.label == label)).first()
        if other is not None and other.id != version_id:
            raise AlreadyExists(f"v{other.number} already has the label {label!r}", label=label,
                                version=other.number)

    def get_version_by_label(self, *, model_id: int, label: str) -> Version | None:
        rows = self.conn.execute(select(*VERSION_ROW).where(versions.c.model_id == model_id,
                                                        versions.c.label == label)).all()
        return load_versions(self.conn, rows)[0] if rows else None

    def update_version(self, *, version_id: int, changes: Mapping[str, Any], now: datetime) -> Version:
        conn = self._w()
        unknown = set(changes) - VERSION_UPDATABLE
        if unknown:
            raise InvalidInput(f"version fields {sorted(unknown)} cannot be updated", fields=sorted(unknown))
        row = self._require_version(version_id)
        if changes.get("parent_id") is not None:
            self._require_version(changes["parent_id"])
        if changes.get("label") is not None:
            self._check_label(row.model_id, changes["label"], version_id)
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name in VERSION_DOCUMENT_FIELDS:
                values[name] = to_json_value(value, field_name=name)
            elif name in VERSION_PAIR_FIELDS:
                values[name] = dict(value or {})
                table = version_tags if name == "tags" else version_metrics
                self._replace_pairs(table, "version_id", version_id, values[name], model_id=row.model_id)
            else:
                values[name] = value
        conn.execute(update(versions).where(versions.c.id == version_id).values(updated_at=now, **values))
        refresh_listing(conn, versions.c.id == version_id)
        return self._version(version_id)

    def delete_version(self, *, version_id: int) -> list[str]:
        conn = self._w()
        row = self._require_version(version_id)
        held = list(conn.execute(select(aliases.c.name).where(aliases.c.version_id == version_id)
                                 .order_by(aliases.c.name)).scalars())
        if held:
            raise VersionInUse(f"version v{row.number} is the target of alias(es) {', '.join(held)}",
                               hint="move or delete the alias first", version=row.number, aliases=held)
        own_exports = select(db.exports.c.id).where(db.exports.c.version_id == version_id)
        digests = sorted(set(conn.execute(select(db.artifacts.c.digest)
                                          .where(db.artifacts.c.version_id == version_id)).scalars())
                         | set(conn.execute(select(db.export_files.c.digest)
                                            .where(db.export_files.c.export_id.in_(own_exports))).scalars()))
        conn.execute(db.export_files.delete().where(db.export_files.c.export_id.in_(own_exports)))
        for table in (db.exports, db.artifacts, db.epochs, version_metrics, version_tags):
            conn.execute(table.delete().where(table.c.version_id == version_id))
        conn.execute(update(versions).where(versions.c.parent_id == version_id).values(parent_id=None))
        conn.execute(versions.delete().where(versions.c.id == version_id))
        conn.execute(update(models).where(models.c.id == row.model_id)
                     .values(version_count=models.c.version_count - 1))
        return digests

    def children(self, *, version_id: int) -> list[VersionKey]:
        ids = list(self.conn.execute(select(versions.c.id).where(versions.c.parent_id == version_id)
                                     .order_by(versions.c.id)).scalars())
        keys = version_keys(self.conn, ids)
        return [keys[i] for i in ids]

    def version_key(self, *, version_id: int) -> VersionKey | None:
        return version_keys(self.conn, [version_id]).get(version_id)

    # ---- artifacts and blob rows

    def add_artifacts(self, *, version_id: int, artifacts: list[Artifact]) -> None:
        conn = self._w()
        row = self._require_version(version_id)
        if not artifacts:
            return
        table = db.artifacts
        counts = Counter(a.path for a in artifacts)  # linear: this runs inside the write transaction
        taken = set(conn.execute(select(table.c.path).where(table.c.version_id == version_id)).scalars())
        dup = sorted({p for p, n in counts.items() if n > 1} | (taken & counts.keys()))
        if dup:
            raise AlreadyExists(f"version v{row.number} already has a file at {dup[0]!r}", path=dup[0],
                                version=row.number)
        digests = {a.digest for a in artifacts}
        known = set(conn.execute(select(db.blobs.c.digest).where(among(conn, db.blobs.c.digest, digests))).scalars())
        if digests - known:
            missing = sorted(digests - known)[0]
            raise InvalidState(f"blob {missing} has no row", hint="call claim_blobs first", digest=missing)
        conn.execute(table.insert(), [{"version_id": version_id, **a.model_dump()} for a in artifacts])
        refresh_listing(conn, versions.c.id == version_id)

    def _lock_blob_rows(self, sizes: Mapping[str, int]) -> dict[str, str]:
        """Create (as ``live``) the rows that are missing, lock every row; return digest -> state.

        Under READ COMMITTED another transaction may delete a row between our insert (which did
        nothing because the row existed) and our lock (which then finds nothing): insert again.
        Rows are handled in digest order, one lock order for every writer, so claims never deadlock.
        """
        conn = self._w()
        table = db.blobs
        states: dict[str, str] = {}
        for _ in range(_LOCK_ATTEMPTS):
            missing = sorted(d for d in sizes if d not in states)
            if not missing:
                return states
            now = datetime.now(UTC)
            conn.execute(self._insert_ignore(table),
                         [{"digest": d, "size": sizes[d], "state": "live", "created_at": now} for d in missing])
            rows = conn.execute(select(table.c.digest, table.c.state).where(table.c.digest.in_(missing))
                                .order_by(table.c.digest).with_for_update())
            states.update({d: state for d, state in rows})
        raise StorageError("blob rows kept disappearing while being locked", hint="try again", retryable=True)

    def claim_blobs(self, *, blobs: Mapping[str, int]) -> list[str]:
        if not blobs:
            self._w()
            return []
        states = self._lock_blob_rows(blobs)
        deleting = sorted(d for d, state in states.items() if state == "deleting")
        if deleting:
            log.debug("claim: blobs %s are being deleted by gc", deleting)
        return deleting

    def mark_blob_deleting(self, *, digest: str, size: int) -> bool:
        conn = self._w()
        if self._lock_blob_rows({digest: size})[digest] == "deleting":
            log.debug("mark %s: another gc marked it", digest)
            return False
        # A later statement: under READ COMMITTED it sees references committed while we waited for the lock.
        if self._referenced(digest):
            log.debug("mark %s: referenced", digest)
            return False
        conn.execute(update(db.blobs).where(db.blobs.c.digest == digest).values(state="deleting"))
        log.debug("mark %s: deleting", digest)
        return True

    def _referenced(self, digest: str) -> bool:
        """Whether an artifact or an export file holds the blob."""
        return bool(self.conn.execute(select(exists().where(db.artifacts.c.digest == digest)
                                             | exists().where(db.export_files.c.digest == digest))).scalar())

    def delete_blob_row(self, *, digest: str) -> None:
        conn = self._w()
        if self._referenced(digest):
            raise InvalidState(f"blob {digest} is still referenced", digest=digest)
        conn.execute(db.blobs.delete().where(db.blobs.c.digest == digest))
        conn.execute(db.blob_grants.delete().where(db.blob_grants.c.digest == digest))

    def blob_rows(self) -> dict[str, tuple[int, BlobState]]:
        table = db.blobs
        return {d: (int(s), state) for d, s, state in
                self.conn.execute(select(table.c.digest, table.c.size, table.c.state))}

    def unreferenced_blobs(self) -> dict[str, int]:
        table = db.blobs
        query = select(table.c.digest, table.c.size).where(
            ~exists().where(db.artifacts.c.digest == table.c.digest),
            ~exists().where(db.export_files.c.digest == table.c.digest))
        return {d: int(s) for d, s in self.conn.execute(query)}

    def referenced_digests(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for holder in (db.artifacts, db.export_files):
            query = select(holder.c.digest, func.max(holder.c.size)).group_by(holder.c.digest)
            found.update({d: int(s) for d, s in self.conn.execute(query)})
        return found

    # ---- training history

    def add_epochs(self, *, version_id: int, epochs: list[Epoch]) -> None:
        conn = self._w()
        self._require_version(version_id)
        if epochs:
            rows = [{"version_id": version_id, "epoch": e.epoch, "timestamp": e.timestamp,
                     "metrics": to_json_value(e.metrics, field_name="epoch metrics")} for e in epochs]
            conn.execute(self._upsert(db.epochs, ["version_id", "epoch"], ["metrics", "timestamp"]), rows)

    def count_epochs(self, *, version_id: int) -> int:
        table = db.epochs
        return int(self.conn.execute(select(func.count()).where(table.c.version_id == version_id)).scalar_one())

    def list_epochs(self, *, version_id: int, max_rows: int | None = None) -> list[Epoch]:
        table = db.epochs
        query = select(table).where(table.c.version_id == version_id).order_by(table.c.epoch)
        if max_rows is not None:
            count = self.count_epochs(version_id=version_id)
            if count > max_rows:  # thinned in SQL: only the kept rows are read
                stride = epoch_stride(count, max_rows)
                position = func.row_number().over(order_by=table.c.epoch).label("position")
                numbered = select(table, position).where(table.c.version_id == version_id).subquery()
                query = (select(numbered).where(((numbered.c.position - 1) % stride == 0)
                                                | (numbered.c.position == count))
                         .order_by(numbered.c.epoch))
        return [_stored_epoch(r.epoch, r.metrics, r.timestamp) for r in self.conn.execute(query)]


def _stored_epoch(epoch: Any, metrics: Any, timestamp: Any) -> Epoch:
    """An epoch row as the store wrote it (checked by ``Epoch`` on the way in) made an ``Epoch`` without its
    validators; any other shape is validated as before."""
    if (type(epoch) is int and type(metrics) is dict and type(timestamp) is datetime
            and all(type(v) is float for v in metrics.values())):
        return Epoch.model_construct(epoch=epoch, metrics=metrics, timestamp=timestamp)
    return Epoch(epoch=epoch, metrics=metrics, timestamp=timestamp)
