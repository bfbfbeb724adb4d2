"""Rows to domain types. Pages load with a constant number of queries: one ``IN (...)`` per side table."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Connection, Row, Select, any_, bindparam, select

from modelreg.metadata.base import VERSION_DOCUMENT_FIELDS, VERSION_PAIR_FIELDS, VERSION_SCALAR_FIELDS
from modelreg.metadata.sql.schema import (
    aliases,
    artifacts,
    model_tags,
    models,
    projects,
    versions,
)
from modelreg.types import Artifact, Model, Policies, Version, VersionKey

MODEL_COLUMNS = (*models.c, projects.c.name.label("project"))


def select_models() -> Select[Any]:
    return select(*MODEL_COLUMNS).select_from(models.join(projects, projects.c.id == models.c.project_id))


def among(conn: Connection, column: ColumnElement[Any], ids: Collection[Any]) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL ``= ANY(array)``: one parameter, the same SQL for any count."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(column.type)))
    return column.in_(ids)


def _pairs(conn: Connection, table: Any, owner: str, ids: Collection[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = defaultdict(dict)
    if ids:
        for owner_id, key, value in conn.execute(
                select(table.c[owner], table.c.key, table.c.value).where(among(conn, table.c[owner], ids))):
            out[owner_id][key] = value
    return out


def load_models(conn: Connection, rows: Sequence[Row[Any]]) -> list[Model]:
    tags = _pairs(conn, model_tags, "model_id", [r.id for r in rows])
    return [
        Model(id=r.id, project=r.project, name=r.name, description=r.description, task=r.task,
              baseline=r.baseline, tags=dict(sorted(tags[r.id].items())), pinned=r.pinned,
              policies=Policies.model_validate(r.policies), marked_best=r.marked_best,
              latest_number=r.latest_number, created_at=r.created_at, updated_at=r.updated_at)
        for r in rows
    ]


def version_keys(conn: Connection, ids: Collection[int]) -> dict[int, VersionKey]:
    if not ids:
        return {}
    query = (select(versions.c.id, versions.c.number, models.c.name, projects.c.name.label("project"))
             .select_from(versions.join(models, models.c.id == versions.c.model_id)
                          .join(projects, projects.c.id == models.c.project_id))
             .where(among(conn, versions.c.id, ids)))
    return {r.id: VersionKey(project=r.project, model=r.name, number=r.number) for r in conn.execute(query)}


def load_versions(conn: Connection, rows: Sequence[Row[Any]]) -> list[Version]:
    """Domain versions for rows of ``versions`` (any extra columns are ignored)."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    names = {r.id: (r.project, r.name) for r in conn.execute(
        select(models.c.id, models.c.name, projects.c.name.label("project"))
        .select_from(models.join(projects, projects.c.id == models.c.project_id))
        .where(among(conn, models.c.id, {r.model_id for r in rows})))}
    files: dict[int, list[Artifact]] = defaultdict(list)
    for a in conn.execute(select(artifacts).where(among(conn, artifacts.c.version_id, ids))):
        files[a.version_id].append(Artifact(path=a.path, digest=a.digest, size=a.size, media_type=a.media_type))
    held: dict[int, list[str]] = defaultdict(list)
    for version_id, name in conn.execute(select(aliases.c.version_id, aliases.c.name)
                                         .where(among(conn, aliases.c.version_id, ids))):
        held[version_id].append(name)
    parents = version_keys(conn, {r.parent_id for r in rows if r.parent_id is not None})
    out = []
    for r in rows:
        project, model = names[r.model_id]
        docs = {name: getattr(r, name) for name in VERSION_DOCUMENT_FIELDS if getattr(r, name) is not None}
        out.append(Version(
            id=r.id, project=project, model=model, number=r.number, updated_at=r.updated_at,
            **{name: getattr(r, name) for name in VERSION_SCALAR_FIELDS + VERSION_PAIR_FIELDS},
            parent=parents.get(r.parent_id) if r.parent_id is not None else None,
            artifacts=sorted(files[r.id], key=lambda a: a.path), aliases=sorted(held[r.id]), **docs,
        ))
    return out
