"""Compile the filter AST of ``modelreg.filters`` into SQLAlchemy expressions.

Every value becomes a bound parameter; nothing is pasted into SQL text. The semantics are those of
``modelreg.filters.evaluate`` (and so of the memory store):

* A comparison on an absent value is false, so ``not`` of it is true: metrics, tags and the numbers of
  evaluations (``eval.<dataset>.<metric>``) live in side tables and compile to ``EXISTS``; a nullable
  column compiles to ``col IS NOT NULL AND col <op> v``, which keeps SQL's three-valued logic out of ``not``.
* ``contains`` is a case-insensitive substring test; ``%``, ``_`` and ``\\`` in the value match
  themselves.
* Times compare as instants (the value is ISO 8601; naive means UTC).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Float, Table, and_, exists, literal, not_, or_, select
from sqlalchemy.sql.elements import KeyedColumnElement
from sqlalchemy.sql.selectable import NamedFromClause

from modelreg.errors import InvalidFilter
from modelreg.filters import And, Compare, Field, Node, Not, Or, eval_key
from modelreg.metadata.sql.schema import (
    evaluation_metrics,
    model_tags,
    models,
    projects,
    version_metrics,
    version_tags,
    versions,
)
from modelreg.metadata.values import parse_time_value


@dataclass(frozen=True)
class Target:
    """What a search runs over: the main table, the columns fields name, and its side tables."""

    id: KeyedColumnElement[int]
    columns: Mapping[str, ColumnElement[Any]]
    nullable: frozenset[str]
    tags: Table
    metrics: Table | None
    owner: str  # the side tables' column that points at the main table
    joined: frozenset[str] = frozenset()  # fields whose column needs the models/projects join
    side_scoped: bool = False  # side tables carry model_id (versions' metrics and tags)
    evals: Table | None = None  # evaluations' numbers: (owner, dataset, key, value)

    def column(self, f: Field) -> ColumnElement[Any]:
        if f.kind != "column" or f.name not in self.columns:
            raise InvalidFilter(f"field {f} cannot be used here", field=str(f))
        return self.columns[f.name]

    def side(self, f: Field) -> Table:
        table = {"tag": self.tags, "metric": self.metrics}.get(f.kind)
        if table is None:
            raise InvalidFilter(f"field {f} cannot be used here", field=str(f))
        return table


VERSIONS = Target(
    id=versions.c.id,
    columns={**{name: versions.c[name] for name in ("number", "status", "pinned", "archived", "created_at",
                                                     "created_by", "label", "description", "notes")},
             "model": models.c.name, "project": projects.c.name},
    nullable=frozenset({"label"}),
    tags=version_tags,
    metrics=version_metrics,
    owner="version_id",
    joined=frozenset({"model", "project"}),
    side_scoped=True,
    evals=evaluation_metrics,
)

MODELS = Target(
    id=models.c.id,
    columns={**{name: models.c[name] for name in ("name", "description", "task", "baseline", "pinned",
                                                   "created_at", "updated_at")},
             "project": projects.c.name},
    nullable=frozenset({"baseline"}),
    tags=model_tags,
    metrics=None,
    owner="model_id",
)


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def compare(col: ColumnElement[Any], f: Field, op: str, value: Any) -> ColumnElement[bool]:
    if op == "contains":
        return col.ilike(f"%{escape_like(str(value))}%", escape="\\")
    if f.type == "num":
        value = literal(float(value), Float())
    elif f.type == "time":
        value = literal(parse_time_value(value), col.type)
    elif f.type == "bool":
        return col.is_(bool(value)) if op == "=" else col.is_not(bool(value))
    ops: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
        "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    }
    if op not in ops:
        raise InvalidFilter(f"unknown operator {op!r}")
    return ops[op](col, value)


def side_exists(target: Target, f: Field,
                *conds: Callable[[NamedFromClause], ColumnElement[bool]]) -> ColumnElement[bool]:
    """``EXISTS`` a side-table row (metric or tag ``f``) of the current main row, matching ``conds``."""
    side = target.side(f).alias()
    return exists(
        select(side.c.key).where(side.c[target.owner] == target.id, side.c.key == f.name,
                                 *(cond(side) for cond in conds))
    )


def eval_exists(target: Target, f: Field, op: str, value: Any) -> ColumnElement[bool]:
    """``EXISTS`` an evaluation number (``eval.<dataset>.<metric>``) of the current main row matching op value."""
    if target.evals is None:
        raise InvalidFilter(f"field {f} cannot be used here", field=str(f))
    side = target.evals.alias()
    dataset, metric = eval_key(f)
    return exists(select(side.c.key).where(side.c[target.owner] == target.id, side.c.dataset == dataset,
                                           side.c.key == metric, compare(side.c.value, f, op, value)))


def compile_filter(node: Node, target: Target) -> ColumnElement[bool]:
    if isinstance(node, And):
        return and_(*(compile_filter(n, target) for n in node.items))
    if isinstance(node, Or):
        return or_(*(compile_filter(n, target) for n in node.items))
    if isinstance(node, Not):
        return not_(compile_filter(node.item, target))
    f = node.field
    if f.kind in ("metric", "tag"):
        return side_exists(target, f, lambda side: compare(side.c.value, f, node.op, node.value))
    if f.kind == "eval":
        return eval_exists(target, f, node.op, node.value)
    col = target.column(f)
    cond = compare(col, f, node.op, node.value)
    return and_(col.is_not(None), cond) if f.name in target.nullable else cond


def fields_of(node: Node | None) -> Iterator[Field]:
    if isinstance(node, (And, Or)):
        for item in node.items:
            yield from fields_of(item)
    elif isinstance(node, Not):
        yield from fields_of(node.item)
    elif isinstance(node, Compare):
        yield node.field


def split_filter(node: Node | None) -> tuple[dict[Field, list[Compare]], list[Node]]:
    """Split the top-level ``and`` into metric/tag comparisons, grouped by field, and everything else.

    A top-level comparison on a metric or tag holds exactly when the row has that key with a matching
    value, so it can be an inner join on the side table (one row per key) instead of ``EXISTS``: the
    database can then drive the query from the side table's ``(key, value)`` index.
    """
    lifted: dict[Field, list[Compare]] = {}
    rest: list[Node] = []
    stack: list[Node] = [] if node is None else [node]
    while stack:
        item = stack.pop(0)
        if isinstance(item, And):
            stack[:0] = item.items
        elif isinstance(item, Compare) and item.field.kind in ("metric", "tag"):
            lifted.setdefault(item.field, []).append(item)
        else:
            rest.append(item)
    return lifted, rest
