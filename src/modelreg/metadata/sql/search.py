"""Searches with keyset pagination: versions, models and events.

Order: the sort value, then id, both in the sort's direction; rows that lack the value (a metric or
tag they do not have, a NULL column) come after all rows that have it, in either direction. The page
is read in at most two index-friendly segments rather than with ``ORDER BY value IS NULL``, which no
index serves:

1. rows with the value: ``ORDER BY value, id`` after the cursor (a metric or tag sort joins its side
   table and orders by the side table's own id column, so its ``(model_id, key, value, version_id)`` or
   ``(key, value, version_id)`` index delivers the order and the scan stops after ``limit + 1`` rows);
2. only if the page is not full yet: rows without it, ``ORDER BY id``. (At the end of a metric sort
   this scans the rows of the scope once; it runs on one page per walk.)

Top-level metric/tag conditions of the filter become inner joins (see ``filters.split_filter``).

The cursor is ``[value, id]`` of the last row (times as ISO 8601); ``[null, id]`` once in segment 2.
``total`` counts every match with the same conditions: the rows themselves when a first page holds them
all; else ``COUNT(*)``, read from the side tables alone when the filter is only metric/tag conditions,
and from ``models.version_count`` (kept by the store) for a whole model.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, FromClause, Row, and_, bindparam, func, literal, not_, null, or_, select
from sqlalchemy.sql.selectable import NamedFromClause, ScalarSelect

from modelreg.errors import InvalidInput
from modelreg.filters import Compare, Field, Node, Not, Sort, encode_cursor
from modelreg.metadata.sql.filters import (
    MODELS,
    VERSIONS,
    Target,
    compare,
    compile_filter,
    fields_of,
    side_exists,
    split_filter,
)
from modelreg.metadata.sql.rows import MODEL_COLUMNS, among, load_models, load_versions, version_columns
from modelreg.metadata.sql.schema import aliases, events, models, projects, version_metrics, versions
from modelreg.metadata.sql.txbase import TxBase
from modelreg.metadata.sql.version_json import best_params, version_json
from modelreg.metadata.values import check_cursor, cursor_value
from modelreg.types import Event, MetricPoint, Model, Page, PageJson, Version


@dataclass
class _Side:
    """A side-table row joined to the main row: its alias and the conditions of the join."""

    alias: NamedFromClause
    on: list[ColumnElement[bool]]


@dataclass
class _Plan:
    """One search: the main FROM, its conditions, and the side rows joined by field."""

    target: Target
    base: FromClause
    scope: list[ColumnElement[bool]]  # model, project
    residual: list[ColumnElement[bool]]  # the filter's conditions that are not joins
    model_id: int | None = None
    sides: dict[Field, _Side] = field(default_factory=dict)

    @property
    def where(self) -> list[ColumnElement[bool]]:
        return [*self.scope, *self.residual]

    def side(self, f: Field, conds: Sequence[Compare] = ()) -> _Side:
        alias = self.target.side(f).alias(f"side_{len(self.sides)}")
        on = [alias.c.key == f.name, *(compare(alias.c.value, f, c.op, c.value) for c in conds)]
        if self.model_id is not None and self.target.side_scoped:
            on.append(alias.c.model_id == self.model_id)
        return _Side(alias, on)

    def joined(self, extra: _Side | None = None) -> FromClause:
        owner = self.target.owner
        out = self.base
        for side in [*self.sides.values(), *([extra] if extra else [])]:
            out = out.join(side.alias, and_(side.alias.c[owner] == self.target.id, *side.on))
        return out

    def count_query(self) -> Any:
        """COUNT(*) of the matches; from the side tables alone when they carry every condition."""
        scope_in_sides = not self.scope or (self.target.side_scoped and len(self.scope) == 1
                                            and self.model_id is not None)
        if self.sides and not self.residual and scope_in_sides and self.base is self.target.id.table:
            first, *rest = self.sides.values()
            owner = self.target.owner
            source: FromClause = first.alias
            for side in rest:
                source = source.join(side.alias, and_(side.alias.c[owner] == first.alias.c[owner], *side.on))
            return select(func.count()).select_from(source).where(*first.on)
        return select(func.count()).select_from(self.joined()).where(*self.where)


@dataclass(frozen=True)
class _SortKey:
    value: ColumnElement[Any]
    id: ColumnElement[int]
    extra: _Side | None = None  # a side row to join for the value
    present: Sequence[ColumnElement[bool]] = ()
    missing: ColumnElement[bool] | None = None  # None: every matching row has a value


def _sort_key(f: Field, plan: _Plan) -> _SortKey:
    target = plan.target
    if f.kind in ("metric", "tag"):
        lifted = plan.sides.get(f)
        side = lifted or plan.side(f)
        return _SortKey(value=side.alias.c.value, id=side.alias.c[target.owner],
                        extra=None if lifted else side,
                        missing=None if lifted else not_(side_exists(target, f)))
    column = target.column(f)
    if f.name in target.nullable:
        return _SortKey(value=column, id=target.id, present=(column.is_not(None),), missing=column.is_(None))
    return _SortKey(value=column, id=target.id)


def _after(value: ColumnElement[Any], id_: ColumnElement[int], start: tuple[Any, int],
           desc: bool) -> ColumnElement[bool]:
    """Rows strictly after (value, id) in the order; written so an index range scan can serve it."""
    sv = literal(start[0], value.type)
    if desc:
        return and_(value <= sv, or_(value < sv, id_ < start[1]))
    return and_(value >= sv, or_(value > sv, id_ > start[1]))


NOT_ARCHIVED = Not(Compare(Field("column", "archived", "bool"), "=", True))  # "not archived", as parsed


@functools.cache
def _best_number_of_model(descending: bool) -> ScalarSelect[Any]:
    """The number of a model's best version by the metric bound as ``metric``, correlated to ``models``: the
    search ``best_candidates`` names, sorted as ``_keyset`` sorts it (value, then id, in one direction), first row."""
    side = version_metrics.alias("best_side")
    direction: Callable[[ColumnElement[Any]], Any] = (lambda c: c.desc()) if descending else (lambda c: c.asc())
    return (select(versions.c.number)
            .select_from(versions.join(side, and_(side.c.version_id == versions.c.id, side.c.key == bindparam("metric"),
                                                  side.c.value >= -1e308, side.c.model_id == models.c.id)))
            .where(versions.c.model_id == models.c.id, versions.c.status == "ready")
            .order_by(direction(side.c.value), direction(side.c.version_id)).limit(1)
            .correlate(models).scalar_subquery())


@functools.cache
def _points() -> TypeAdapter[list[MetricPoint]]:
    return TypeAdapter(list[MetricPoint])


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit is {limit!r}; it must be a positive integer", field="limit")
    return limit


def _plan(target: Target, base: FromClause, scope: list[ColumnElement[bool]], where: Node | None,
          model_id: int | None = None) -> _Plan:
    lifted, rest = split_filter(where)
    plan = _Plan(target, base, scope, [compile_filter(n, target) for n in rest], model_id=model_id)
    for f, conds in lifted.items():
        plan.sides[f] = plan.side(f, conds)
    return plan


class SearchTx(TxBase):
    def _all(self, query: Any, params: Mapping[str, Any] | None) -> Sequence[Row[Any]]:
        """Every row of ``query`` by one ``fetchall`` (iterating a result fetches a row per call)."""
        rows: Sequence[Row[Any]] = self.conn.execute(query, params).all()
        return rows

    def _keyset(self, columns: Sequence[Any], plan: _Plan, sort: Sort, cursor: list[Any] | None,
                limit: int, params: Mapping[str, Any] | None = None) -> tuple[list[Row[Any]], str | None]:
        start = check_cursor(cursor, sort.field)
        key = _sort_key(sort.field, plan)
        direction: Callable[[ColumnElement[Any]], Any] = (
            (lambda c: c.desc()) if sort.descending else (lambda c: c.asc()))
        want = limit + 1
        rows: list[Row[Any]] = []
        if start is None or start[0] is not None:
            query = (select(*columns, key.value.label("sort_value")).select_from(plan.joined(key.extra))
                     .where(*plan.where, *key.present).order_by(direction(key.value), direction(key.id))
                     .limit(want))
            if start is not None:
                query = query.where(_after(key.value, key.id, start, sort.descending))
            rows.extend(self._all(query, params))
        if key.missing is not None and len(rows) < want:
            target_id = plan.target.id
            query = (select(*columns, null().label("sort_value")).select_from(plan.joined())
                     .where(*plan.where, key.missing).order_by(direction(target_id)).limit(want - len(rows)))
            if start is not None and start[0] is None:
                query = query.where(target_id < start[1] if sort.descending else target_id > start[1])
            rows.extend(self._all(query, params))
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], encode_cursor([cursor_value(last.sort_value), last.id])

    def _count(self, plan: _Plan) -> int:
        return int(self.conn.execute(plan.count_query()).scalar_one())

    def _model_count(self, model_id: int, *, archived_left_out: bool) -> int:
        """A model's versions from its kept ``version_count``, less its archived ones (few, by index) when
        they are left out: no scan of the model's versions."""
        count = int(self.conn.execute(select(models.c.version_count).where(models.c.id == model_id)).scalar() or 0)
        if archived_left_out:
            count -= int(self.conn.execute(select(func.count()).select_from(versions).where(
                versions.c.model_id == model_id, versions.c.archived.is_(True))).scalar_one())
        return count

    def search_versions(self, *, model_id: int | None, project: str | None, where: Node | None, sort: Sort,
                        cursor: list[Any] | None, limit: int) -> Page[Version]:
        rows, next_cursor, total = self._search_versions(version_columns(self.conn), model_id=model_id,
                                                         project=project, where=where, sort=sort, cursor=cursor,
                                                         limit=limit)
        return Page[Version].of(load_versions(self.conn, rows, json_text=True), next_cursor=next_cursor, total=total)

    def search_versions_json(self, *, model_id: int | None, project: str | None, where: Node | None, sort: Sort,
                             cursor: list[Any] | None, limit: int, best: tuple[int, int] | None) -> PageJson:
        columns = [versions.c.id, version_json(self.conn).label("doc")]
        rows, next_cursor, total = self._search_versions(columns, model_id=model_id, project=project, where=where,
                                                         sort=sort, cursor=cursor, limit=limit,
                                                         params=best_params(best))
        doc = 1  # the column of the JSON (by position: a row's attribute lookup costs more)
        return PageJson(b"[" + b",".join([r[doc] for r in rows]) + b"]", next_cursor, total)

    def _search_versions(self, columns: Sequence[Any], *, model_id: int | None, project: str | None,
                         where: Node | None, sort: Sort, cursor: list[Any] | None, limit: int,
                         params: Mapping[str, Any] | None = None) -> tuple[list[Row[Any]], str | None, int]:
        """The rows of ``columns`` of a page, its next cursor, and the count of every match."""
        limit = _limit(limit)
        used = {f.name for f in (*fields_of(where), sort.field) if f.kind == "column"}
        base: FromClause = versions
        if project is not None or used & VERSIONS.joined:
            base = (versions.join(models, models.c.id == versions.c.model_id)
                    .join(projects, projects.c.id == models.c.project_id))
        scope: list[ColumnElement[bool]] = []
        if model_id is not None:
            scope.append(versions.c.model_id == model_id)
        if project is not None:
            scope.append(projects.c.name == project)
        plan = _plan(VERSIONS, base, scope, where, model_id)
        rows, next_cursor = self._keyset(columns, plan, sort, cursor, limit, params)
        if cursor is None and next_cursor is None:  # the first page holds every match
            total = len(rows)
        elif project is None and model_id is not None and where in (None, NOT_ARCHIVED):
            total = self._model_count(model_id, archived_left_out=where is not None)
        else:
            total = self._count(plan)
        return rows, next_cursor, total

    def metric_trend(self, *, model_id: int, metric: str, limit: int, where: Node | None) -> list[MetricPoint]:
        side = version_metrics.alias("trend")
        query = (select(versions.c.number, side.c.value)
                 .select_from(versions.join(side, and_(side.c.version_id == versions.c.id, side.c.key == metric)))
                 .where(versions.c.model_id == model_id,
                        *([compile_filter(where, VERSIONS)] if where is not None else []))
                 .order_by(versions.c.number.desc()).limit(_limit(limit)))
        rows = self.conn.execute(query).all()
        return _points().validate_python([{"number": r[0], "value": r[1]} for r in reversed(rows)])

    def first_version(self, *, model_id: int, where: Node | None, sort: Sort) -> Version | None:
        """The first row of the search, without its count."""
        plan = _plan(VERSIONS, versions, [versions.c.model_id == model_id], where, model_id)
        rows, _ = self._keyset(version_columns(self.conn), plan, sort, None, 1)
        return load_versions(self.conn, rows, json_text=True)[0] if rows else None

    def best_numbers(self, *, by_metric: Mapping[int, tuple[str, bool]]) -> dict[int, int]:
        groups: dict[tuple[str, bool], list[int]] = {}
        for model_id, key in by_metric.items():
            groups.setdefault(key, []).append(model_id)
        out: dict[int, int] = {}
        for (metric, descending), model_ids in groups.items():
            query = select(models.c.id, _best_number_of_model(descending)).where(
                among(self.conn, models.c.id, model_ids))
            rows = self.conn.execute(query, {"metric": metric})
            out.update({int(r[0]): int(r[1]) for r in rows if r[1] is not None})
        return out

    def version_counts(self, *, model_ids: Collection[int]) -> dict[int, int]:
        if not model_ids:
            return {}
        rows = self.conn.execute(select(models.c.id, models.c.version_count).where(
            among(self.conn, models.c.id, list(model_ids))))
        return {int(r.id): int(r.version_count or 0) for r in rows}

    def alias_targets(self, *, model_ids: Collection[int], alias: str) -> dict[int, Version]:
        if not model_ids:
            return {}
        pointed = versions.join(aliases, aliases.c.version_id == versions.c.id)
        rows = self.conn.execute(select(*version_columns(self.conn)).select_from(pointed).where(
            among(self.conn, aliases.c.model_id, list(model_ids)), aliases.c.name == alias)).all()
        loaded = load_versions(self.conn, rows, json_text=True)
        return {row.model_id: version for row, version in zip(rows, loaded, strict=True)}

    def search_models(self, *, project: str | None, where: Node | None, sort: Sort, cursor: list[Any] | None,
                      limit: int) -> Page[Model]:
        limit = _limit(limit)
        scope = [projects.c.name == project] if project is not None else []
        plan = _plan(MODELS, models.join(projects, projects.c.id == models.c.project_id), scope, where)
        rows, next_cursor = self._keyset(MODEL_COLUMNS, plan, sort, cursor, limit)
        total = len(rows) if cursor is None and next_cursor is None else self._count(plan)
        return Page[Model].of(load_models(self.conn, rows), next_cursor=next_cursor, total=total)

    def list_events(self, *, project: str | None = None, model: str | None = None,
                    version: int | None = None, action: str | None = None, actor: str | None = None,
                    cursor: list[Any] | None = None, limit: int = 50) -> Page[Event]:
        limit = _limit(limit)
        start = check_cursor(cursor, None)
        conds = [column == value for column, value in ((events.c.project, project), (events.c.model, model),
                                                        (events.c.version, version), (events.c.action, action),
                                                        (events.c.actor, actor))
                 if value is not None]
        query = select(events).where(*conds).order_by(events.c.id.desc()).limit(limit + 1)
        if start is not None:
            query = query.where(events.c.id < start[1])
        rows = self.conn.execute(query).all()
        items = [Event(id=r.id, at=r.at, actor=r.actor, action=r.action, project=r.project, model=r.model,
                       version=r.version, alias=r.alias, before=r.before, after=r.after) for r in rows[:limit]]
        next_cursor = encode_cursor([items[-1].id]) if len(rows) > limit else None
        if start is None and next_cursor is None:  # the first page holds every match
            return Page[Event].of(items)
        count = select(func.count()).select_from(events).where(*conds)
        return Page[Event].of(items, next_cursor=next_cursor, total=int(self.conn.execute(count).scalar_one()))
