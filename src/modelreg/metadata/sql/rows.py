"""Rows to domain types. Pages load with a constant number of queries: one ``IN (...)`` per side table."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import ARRAY, ColumnElement, Connection, Row, Select, Text, any_, bindparam, cast, select, type_coerce

from modelreg.metadata.base import VERSION_DOCUMENT_FIELDS, VERSION_PAIR_FIELDS, VERSION_SCALAR_FIELDS
from modelreg.metadata.sql.schema import (
    aliases,
    artifacts,
    model_tags,
    models,
    projects,
    versions,
)
from modelreg.types import ClassMetric, Model, Policies, Version, VersionKey

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


# A version's columns as the object path reads them: all but ``listing`` (its JSON for listings, read by
# ``version_json`` alone).
VERSION_ROW = tuple(c for c in versions.c if c.name != "listing")


def version_columns(conn: Connection) -> list[ColumnElement[Any]]:
    """The columns of ``versions`` with the JSON ones read as their text, for ``load_versions(json_text=True)``:
    it decodes a page's JSON in one ``json.loads`` instead of one call per cell."""
    dialect = conn.dialect.name
    return [(type_coerce(c, Text) if dialect == "sqlite" else cast(c, Text)).label(c.name) if c.name in _JSON_FIELDS
            else c for c in VERSION_ROW]


def load_versions(conn: Connection, rows: Sequence[Row[Any]], *, json_text: bool = False) -> list[Version]:
    """Domain versions for rows of ``versions`` (any extra columns are ignored); ``json_text``: the rows come
    from ``version_columns`` (their JSON columns are text).

    A page is validated at once, from plain values; per-class rows are rebuilt without their validators
    when they have the shape the store wrote (see ``_stored_class_metric``).
    """
    if not rows:
        return []
    ids = [r.id for r in rows]
    names = {r.id: (r.project, r.name) for r in conn.execute(
        select(models.c.id, models.c.name, projects.c.name.label("project"))
        .select_from(models.join(projects, projects.c.id == models.c.project_id))
        .where(among(conn, models.c.id, {r.model_id for r in rows})))}
    files: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for version_id, path, digest, size, media_type in conn.execute(
            select(artifacts.c.version_id, artifacts.c.path, artifacts.c.digest, artifacts.c.size,
                   artifacts.c.media_type).where(among(conn, artifacts.c.version_id, ids))).all():
        files[version_id].append({"path": path, "digest": digest, "size": size, "media_type": media_type})
    held: dict[int, list[str]] = defaultdict(list)
    for version_id, name in conn.execute(select(aliases.c.version_id, aliases.c.name)
                                         .where(among(conn, aliases.c.version_id, ids))).all():
        held[version_id].append(name)
    parents = version_keys(conn, {r.parent_id for r in rows if r.parent_id is not None})
    columns = rows[0]._fields
    plain = itemgetter(*(columns.index(name) for name in _PLAIN_FIELDS))
    at_json = [columns.index(name) for name in _JSON_FIELDS]
    at_model, at_parent = columns.index("model_id"), columns.index("parent_id")
    cells = _decode_cells(rows, at_json) if json_text else [[r[i] for i in at_json] for r in rows]
    out: list[dict[str, Any]] = []
    for r, documents in zip(rows, cells, strict=True):
        item = dict(zip(_PLAIN_FIELDS, plain(r), strict=True))
        item.update((name, value) for name, value in zip(_JSON_FIELDS, documents, strict=True) if value is not None)
        if item.get("class_metrics"):
            item["class_metrics"] = [_stored_class_metric(c) for c in item["class_metrics"]]
        item["project"], item["model"] = names[r[at_model]]
        item["parent"] = None if r[at_parent] is None else parents.get(r[at_parent])
        found = files.get(item["id"], [])
        item["artifacts"] = sorted(found, key=_path) if len(found) > 1 else found
        item["aliases"] = sorted(held.get(item["id"], ()))
        out.append(item)
    return _version_list().validate_python(out)


_PLAIN_FIELDS = ("id", "number", "updated_at", *VERSION_SCALAR_FIELDS)
_JSON_FIELDS = (*VERSION_PAIR_FIELDS, *VERSION_DOCUMENT_FIELDS)
_CLASS_FIELDS = frozenset(ClassMetric.model_fields)
_NUMBER = (float, type(None))
_COUNT = (int, type(None))


def _decode_cells(rows: Sequence[Row[Any]], at: list[int]) -> list[list[Any]]:
    """The JSON text cells ``at`` of every row, decoded by one ``json.loads`` of them all (NULL stays None);
    cell by cell if that does not give one value a cell (text the store did not write)."""
    text = ",".join(cell if (cell := r[i]) is not None else "null" for r in rows for i in at)
    width = len(at)
    try:
        values = json.loads(f"[{text}]")
    except ValueError:
        values = []
    if len(values) != len(rows) * width:
        return [[None if r[i] is None else json.loads(r[i]) for i in at] for r in rows]
    return [values[k:k + width] for k in range(0, len(values), width)]


def _path(artifact: dict[str, Any]) -> str:
    return str(artifact["path"])


@cache
def _version_list() -> TypeAdapter[list[Version]]:
    return TypeAdapter(list[Version])


def _stored_class_metric(row: Any) -> Any:
    """A per-class row as the store wrote it (every value already checked by ``ClassMetric`` on the way in),
    made a ``ClassMetric`` without running its validators again; any other shape is returned as it is, for
    the version's validation to check as before."""
    if (type(row) is dict and row.keys() <= _CLASS_FIELDS and type(row.get("class_name")) is str
            and type(row.get("annotation_type")) in (str, type(None))
            and type(row.get("ap")) in _NUMBER and type(row.get("precision")) in _NUMBER
            and type(row.get("recall")) in _NUMBER and type(row.get("training_count")) in _COUNT
            and type(row.get("validation_count")) in _COUNT and type(metrics := row.get("metrics", {})) is dict
            and all(type(v) is float for v in metrics.values())):
        return ClassMetric.model_construct(**row)
    return row
