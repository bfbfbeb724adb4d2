"""Bulk-load versions into the SQL store's own tables, for a benchmark that needs 100,000 of them quickly.

The store interface inserts a version with ``insert_version`` + ``add_artifacts``, ~16 statements and
several ms per version (it reloads the whole version after inserting it): 100,000 versions would take
10–40 minutes here. So the benchmark inserts its first batch through the interface (and reports that
rate), then clones, with ``executemany``, the rows the store wrote for the newest version: its
``versions`` row and the rows of every table that points at it (metrics, artifacts, tags …, whatever
the schema holds today). The queries measured afterwards see what the store itself would have written.
Benchmark-only: nothing in the package may do this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select, text, update

from modelreg.metadata.sql import schema as db

Metrics = Callable[[], dict[str, float]]
CHUNK = 5000


@dataclass(frozen=True)
class Child:
    """Rows of one table that point at the template version."""

    table: Table
    column: str  # the column holding the version id
    rows: list[dict[str, Any]]


def _surrogate(table: Table) -> str | None:
    """The name of a single-column integer primary key the database fills itself, if the table has one."""
    pk = list(table.primary_key.columns)
    return pk[0].name if len(pk) == 1 and pk[0].name == "id" else None


def _children(conn: Connection, version_id: int) -> list[Child]:
    out = []
    for table in db.metadata.sorted_tables:
        if table is db.versions:
            continue
        columns = [fk.parent.name for fk in table.foreign_keys if fk.column.table is db.versions]
        if not columns:
            continue
        drop = _surrogate(table)
        rows = conn.execute(select(table).where(table.c[columns[0]] == version_id)).mappings().all()
        out.append(Child(table, columns[0], [{k: v for k, v in r.items() if k != drop} for r in rows]))
    return out


def _chunks(start: int, stop: int) -> Iterator[range]:
    for first in range(start, stop, CHUNK):
        yield range(first, min(stop, first + CHUNK))


def _clone(child: Child, vid: int, metrics: dict[str, float], best_digest: str) -> list[dict[str, Any]]:
    rows = []
    for row in child.rows:
        new = {**row, child.column: vid}
        if child.table is db.version_metrics:
            new["value"] = metrics[row["key"]]
        elif child.table is db.artifacts and row["path"] == "weights/best.pt":
            new["digest"] = best_digest
        rows.append(new)
    return rows


def _model_counters(model_id: int) -> dict[str, Any]:
    """What the store keeps on the model row about its versions (the newest number; a count, if kept)."""
    mine = db.versions.c.model_id == model_id
    values: dict[str, Any] = {"latest_number": select(func.max(db.versions.c.number)).where(mine).scalar_subquery()}
    if "version_count" in db.models.c:
        values["version_count"] = select(func.count()).select_from(db.versions).where(mine).scalar_subquery()
    return values


def bulk_versions(engine: Engine, *, model_id: int, first_number: int, last_number: int, t0: datetime,
                  metrics: Metrics, digests: list[str]) -> None:
    """Insert versions ``first_number..last_number`` of the model, cloning its newest version's rows.

    Version ``k`` is created at ``t0 + k - 1`` seconds, gets ``metrics()`` (the same keys as the template)
    and its ``weights/best.pt`` the digest ``digests[(k - 1) % len(digests)]``.
    """
    with engine.begin() as conn:
        template = dict(conn.execute(select(db.versions).where(db.versions.c.model_id == model_id)
                                     .order_by(db.versions.c.id.desc()).limit(1)).mappings().one())
        children = _children(conn, template["id"])
        next_id = int(conn.execute(select(func.max(db.versions.c.id))).scalar() or 0) + 1
        for numbers in _chunks(first_number, last_number + 1):
            version_rows: list[dict[str, Any]] = []
            child_rows: dict[str, list[dict[str, Any]]] = {c.table.name: [] for c in children}
            for number in numbers:
                vid = next_id + number - first_number
                at = t0 + timedelta(seconds=number - 1)
                values, digest = metrics(), digests[(number - 1) % len(digests)]
                row = {**template, "id": vid, "number": number, "created_at": at, "updated_at": at}
                if "metrics" in db.versions.c:  # the store may keep the metrics on the row too (for display)
                    row["metrics"] = values
                if "listing" in db.versions.c:  # the template's JSON: written again below, as the store would
                    row["listing"] = None
                version_rows.append(row)
                for child in children:
                    child_rows[child.table.name] += _clone(child, vid, values, digest)
            conn.execute(db.versions.insert(), version_rows)
            for child in children:
                if child_rows[child.table.name]:
                    conn.execute(child.table.insert(), child_rows[child.table.name])
        if "listing" in db.versions.c:
            from modelreg.metadata.sql.version_json import refresh_listing

            refresh_listing(conn, (db.versions.c.model_id == model_id) & db.versions.c.listing.is_(None))
        conn.execute(update(db.models).where(db.models.c.id == model_id).values(**_model_counters(model_id)))
        if engine.dialect.name == "postgresql":
            for table in [db.versions, *(c.table for c in children)]:
                if _surrogate(table):
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                      f"(SELECT max(id) FROM {table.name}))"))
