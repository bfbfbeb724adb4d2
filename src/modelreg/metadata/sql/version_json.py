"""A version's JSON written by the database: a listing's page leaves SQL as the text the REST reply sends.

``version_json(conn)`` is one column expression: per row of ``versions``, the object ``Version`` serializes to
(the same keys and values, so ``Version.model_validate_json`` of it equals the store's ``Version``). Rows never
become Python objects on the way: 5,000 versions leave the store as 5 strings instead of 5,000 validated models
serialized again.

Two parts. What the version's own row and files decide (``OWN_FIELDS``: its columns, its JSON documents, its
files sorted by path) is kept, already written, in ``versions.listing``: the store refreshes it in the same
transaction as every write of those (``refresh_listing``), and a NULL (a row written otherwise) is computed on
the fly. What other rows decide (``JOINED_FIELDS``: the project and model names, the parent's key, the aliases,
whether it is the best one) is added at every read. Writing the JSON once per change instead of at every
listing makes a page of 1,000 versions a few milliseconds of SQL.

Fields are derived from the declarations: the plain columns of ``VERSION_SCALAR_FIELDS`` (booleans as JSON
booleans, times as ISO 8601 UTC), the documents of ``VERSION_PAIR_FIELDS`` and ``VERSION_DOCUMENT_FIELDS`` (a
NULL cell as the field's default). SQLite concatenates the text (values through ``json_quote``, stored
documents placed as the store wrote them); PostgreSQL uses ``json_build_object``. Tests compare the result,
field by field, with the ``Version`` the store loads, on both databases, after every kind of write.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from functools import cache
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.types import NullType

from modelreg.metadata.base import VERSION_DOCUMENT_FIELDS, VERSION_PAIR_FIELDS, VERSION_SCALAR_FIELDS
from modelreg.metadata.sql.schema import UtcDateTime, aliases, artifacts, models, projects, versions
from modelreg.types import Artifact, Version

COLUMN_FIELDS = ("id", "number", "updated_at", *VERSION_SCALAR_FIELDS)
DOCUMENT_FIELDS = (*VERSION_PAIR_FIELDS, *VERSION_DOCUMENT_FIELDS)


# The bound values that name the version whose ``is_best`` is true (``best_params``).
BEST_MODEL, BEST_NUMBER = "best_model_id", "best_number"


def best_params(best: tuple[int, int] | None) -> dict[str, int]:
    """The values of ``version_json``'s parameters for ``best`` = (model id, number), or for no best version
    (no version has number 0)."""
    model_id, number = best if best is not None else (0, 0)
    return {BEST_MODEL: model_id, BEST_NUMBER: number}


def version_json(conn: Connection) -> ColumnElement[bytes]:
    """The JSON of each row of ``versions`` as ``Version`` writes it, UTF-8 encoded by the database (the reply's
    bytes, never decoded to ``str`` on the way); execute it with ``best_params``."""
    return _Prebuilt(_version_json(conn.dialect.name))


class _Prebuilt(ColumnElement[bytes]):
    """A large expression that never changes, under a constant cache key: SQLAlchemy otherwise walks all of it
    to compute the key of every statement that holds it (a millisecond a page). Its only parameters are bound by
    name at execution (``best_params``). The driver's bytes come back as they are (no result processing)."""

    inherit_cache = True
    _traverse_internals: list[Any] = []  # noqa: RUF012  # nothing to walk: the key is constant (``_gen_cache_key``)

    def __init__(self, inner: ColumnElement[Any]) -> None:
        self.inner = inner
        self.type = NullType()  # type: ignore[assignment]  # no result processing: the driver's bytes

    def _gen_cache_key(self, anon_map: Any, bindparams: list[Any]) -> tuple[Any, ...]:
        return (self.__class__, id(self.inner))  # one per database kind, built once (``_version_json``)


@compiles(_Prebuilt)
def _compile_prebuilt(element: _Prebuilt, compiler: Any, **kw: Any) -> str:
    text: str = compiler.process(element.inner, **kw)
    return text


# What ``versions.listing`` holds: a change to this list (a new field of ``Version``) needs a migration that
# sets the column to NULL or recomputes it (``refresh_listing``); a test checks it against ``Version``.
OWN_FIELDS = (*COLUMN_FIELDS, *DOCUMENT_FIELDS, "artifacts")
JOINED_FIELDS = ("project", "model", "parent", "aliases", "is_best")


def own_json(dialect_name: str) -> ColumnElement[str]:
    """The JSON object of a version's ``OWN_FIELDS``, computed from its row and files (text)."""
    return _own_json(dialect_name)


def refresh_listing(conn: Connection, where: ColumnElement[bool]) -> None:
    """Write ``versions.listing`` of the rows ``where`` selects, from what they hold now."""
    conn.execute(update(versions).where(where).values(listing=own_json(conn.dialect.name)))


@cache
def _dialect(dialect_name: str) -> _Dialect:
    return _Postgres() if dialect_name == "postgresql" else _Sqlite()


@cache
def _own_json(dialect_name: str) -> ColumnElement[str]:
    dialect = _dialect(dialect_name)
    pairs: dict[str, ColumnElement[Any]] = {}
    for name in COLUMN_FIELDS:
        pairs[name] = dialect.scalar(versions.c[name])
    for name in DOCUMENT_FIELDS:
        pairs[name] = dialect.document(versions.c[name], _default_json(name))
    pairs["artifacts"] = dialect.array(
        select(dialect.obj({f: dialect.scalar(artifacts.c[f]) for f in Artifact.model_fields}).label("item"),
               artifacts.c.path.label("sort")).where(artifacts.c.version_id == versions.c.id).correlate(versions))
    return dialect.text(dialect.obj(pairs))


@cache
def _version_json(dialect_name: str) -> ColumnElement[Any]:
    """Built once per database kind: the expression is large, and SQLAlchemy caches its compiled form."""
    dialect = _dialect(dialect_name)
    pairs: dict[str, ColumnElement[Any]] = {}
    # aliases of their own: a search may join models and projects already, which would correlate them
    own_model, own_project = models.alias("own_model"), projects.alias("own_project")
    pairs["project"] = dialect.scalar(
        select(own_project.c.name).select_from(own_model.join(own_project, own_project.c.id == own_model.c.project_id))
        .where(own_model.c.id == versions.c.model_id).scalar_subquery())
    pairs["model"] = dialect.scalar(
        select(own_model.c.name).where(own_model.c.id == versions.c.model_id).scalar_subquery())
    pairs["parent"] = case((versions.c.parent_id.is_(None), dialect.null()), else_=_parent(dialect))
    pairs["aliases"] = dialect.array(
        select(dialect.scalar(aliases.c.name).label("item"), aliases.c.name.label("sort"))
        .where(aliases.c.version_id == versions.c.id).correlate(versions))
    pairs["is_best"] = dialect.boolean(and_(versions.c.model_id == bindparam(BEST_MODEL, type_=Integer),
                                            versions.c.number == bindparam(BEST_NUMBER, type_=Integer)))
    assert set(pairs) == set(JOINED_FIELDS) and set(OWN_FIELDS) | set(JOINED_FIELDS) == set(Version.model_fields)
    own = func.coalesce(versions.c.listing, _own_json(dialect_name))
    return dialect.utf8(dialect.merged(own, dialect.obj(pairs)))


def _quoted(text: str) -> str:
    """An SQL string literal of ``text`` (JSON written here, never a user's value)."""
    return "'" + text.replace("'", "''") + "'"


def _sql_text(text: str) -> ColumnElement[str]:
    return literal_column(_quoted(text), Text)


@cache
def _default_json(name: str) -> str:
    """The JSON of a field's default: what a NULL document cell means."""
    info = Version.model_fields[name]
    return json.dumps(info.get_default(call_default_factory=True))


def _parent(dialect: _Dialect) -> ColumnElement[Any]:
    parent = versions.alias("parent_version")
    parent_model = models.alias("parent_model")
    parent_project = projects.alias("parent_project")
    key = dialect.obj({"project": dialect.scalar(parent_project.c.name), "model": dialect.scalar(parent_model.c.name),
                       "number": dialect.scalar(parent.c.number)})
    found = (select(key).select_from(parent.join(parent_model, parent_model.c.id == parent.c.model_id)
                                     .join(parent_project, parent_project.c.id == parent_model.c.project_id))
             .where(parent.c.id == versions.c.parent_id).scalar_subquery())
    return dialect.nullable(found)


class _Dialect(ABC):
    """How a database writes each kind of JSON value. Every method returns an expression whose value is JSON:
    what ``obj`` builds nests in another ``obj`` as JSON, never as a string."""

    @abstractmethod
    def obj(self, pairs: dict[str, ColumnElement[Any]]) -> ColumnElement[Any]: ...

    @abstractmethod
    def text(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        """JSON as the text the database writes (not parsed by the driver)."""

    @abstractmethod
    def merged(self, first: ColumnElement[Any], second: ColumnElement[Any]) -> ColumnElement[str]:
        """The text of one object with the members of ``first`` (text) and then of ``second`` (``obj``)."""

    @abstractmethod
    def null(self) -> ColumnElement[Any]: ...

    @abstractmethod
    def utf8(self, text: ColumnElement[str]) -> ColumnElement[bytes]:
        """Text as its UTF-8 bytes."""

    @abstractmethod
    def nullable(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        """JSON that may be SQL NULL (a subquery that found nothing): ``null`` then."""

    def scalar(self, column: Any) -> ColumnElement[Any]:
        kind = column.type
        if isinstance(kind, UtcDateTime | DateTime):
            return self.time(column)
        if isinstance(kind, Boolean):
            return self.boolean(column)
        return self.value(column)

    @abstractmethod
    def value(self, column: Any) -> ColumnElement[Any]:
        """A text or integer column as a JSON string or number (NULL as null)."""

    @abstractmethod
    def boolean(self, condition: ColumnElement[Any]) -> ColumnElement[Any]: ...

    @abstractmethod
    def time(self, column: Any) -> ColumnElement[Any]:
        """ISO 8601 in UTC with a ``Z``: the value pydantic writes for an aware UTC time (microseconds always
        written, where pydantic leaves ``.000000`` out)."""

    @abstractmethod
    def document(self, column: Any, default: str) -> ColumnElement[Any]:
        """A JSON column; ``default`` (JSON) when it is NULL."""

    @abstractmethod
    def array(self, rows: Any) -> ColumnElement[Any]:
        """The ``item`` column of ``rows`` as a JSON array in the order of their ``sort`` column; [] for none."""


class _Postgres(_Dialect):
    """PostgreSQL's JSON functions."""

    def obj(self, pairs: dict[str, ColumnElement[Any]]) -> ColumnElement[Any]:
        args: list[Any] = []
        for key, value in pairs.items():
            args += [literal_column(_quoted(key), Text), value]
        from sqlalchemy.dialects.postgresql import JSON  # only where PostgreSQL is used: ~30 ms to import

        return type_coerce(func.json_build_object(*args), JSON)

    def text(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        return cast(value, Text)

    def merged(self, first: ColumnElement[Any], second: ColumnElement[Any]) -> ColumnElement[str]:
        # "{a...}" and "{b...}" -> "{a..., b...}"
        return type_coerce(func.left(first, -1).op("||")(literal_column("', '"))
                           .op("||")(func.substr(cast(second, Text), 2)), Text)

    def null(self) -> ColumnElement[Any]:
        return literal_column("'null'::json")

    def utf8(self, text: ColumnElement[str]) -> ColumnElement[bytes]:
        return type_coerce(func.convert_to(text, literal_column("'UTF8'")), LargeBinary)

    def nullable(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        return value

    def value(self, column: Any) -> ColumnElement[Any]:
        out: ColumnElement[Any] = column
        return out

    def boolean(self, condition: ColumnElement[Any]) -> ColumnElement[Any]:
        return type_coerce(condition, Boolean)

    def time(self, column: Any) -> ColumnElement[Any]:
        return func.to_char(func.timezone("UTC", column), literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"))

    def document(self, column: Any, default: str) -> ColumnElement[Any]:
        return func.coalesce(column, literal_column(f"{_quoted(default)}::json"))

    def array(self, rows: Any) -> ColumnElement[Any]:
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        inner = rows.subquery()
        return func.coalesce(select(func.json_agg(aggregate_order_by(inner.c.item, inner.c.sort))).scalar_subquery(),
                             literal_column("'[]'::json"))


class _Sqlite(_Dialect):
    """SQLite: the JSON text concatenated (``||``), values through ``json_quote``, stored JSON documents through
    ``json()`` (checked, minified). No piece may be NULL: one NULL makes the whole text NULL."""

    def obj(self, pairs: dict[str, ColumnElement[Any]]) -> ColumnElement[Any]:
        pieces: list[ColumnElement[Any]] = []
        for i, (key, value) in enumerate(pairs.items()):
            pieces += [_sql_text(("{" if i == 0 else ",") + json.dumps(key) + ":"), value]
        pieces.append(_sql_text("}"))
        return _concat(pieces)

    def text(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        return type_coerce(value, Text)

    def merged(self, first: ColumnElement[Any], second: ColumnElement[Any]) -> ColumnElement[str]:
        # as bytes: length() and substr() of text count characters, reading every byte; of a blob they do not
        raw = cast(first, LargeBinary)
        return _concat([func.substr(raw, 1, func.length(raw) - 1), _sql_text(","), func.substr(second, 2)])

    def null(self) -> ColumnElement[Any]:
        return _sql_text("null")

    def utf8(self, text: ColumnElement[str]) -> ColumnElement[bytes]:
        return type_coerce(cast(text, LargeBinary), LargeBinary)  # the text's own bytes: UTF-8 in SQLite

    def nullable(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.coalesce(value, _sql_text("null"))

    def value(self, column: Any) -> ColumnElement[Any]:
        return type_coerce(func.json_quote(column), Text)  # json_quote(NULL) is 'null'

    def boolean(self, condition: ColumnElement[Any]) -> ColumnElement[Any]:
        return case((condition, _sql_text("true")), else_=_sql_text("false"))

    def time(self, column: Any) -> ColumnElement[Any]:
        # SQLite keeps naive UTC text, "YYYY-MM-DD HH:MM:SS.ffffff"
        return func.coalesce(_concat([_sql_text('"'), func.replace(type_coerce(column, Text), " ", "T"),
                                      _sql_text('Z"')]), _sql_text("null"))

    def document(self, column: Any, default: str) -> ColumnElement[Any]:
        # json() checks the cell is one JSON value (text written otherwise fails, never shifts the next field);
        # it runs when the listing is written, not when it is read
        return func.json(func.coalesce(type_coerce(column, Text), _sql_text(default)))

    def array(self, rows: Any) -> ColumnElement[Any]:
        # group_concat keeps the order of the subquery it reads: SQLite does not promise it before 3.44's
        # group_concat(… ORDER BY …), but does it; the tests check the order of files and aliases
        inner = rows.subquery()
        ordered = select(inner.c.item).order_by(inner.c.sort).subquery()
        joined = select(func.group_concat(ordered.c.item, _sql_text(","))).scalar_subquery()
        return _concat([_sql_text("["), func.coalesce(joined, _sql_text("")), _sql_text("]")])


def _concat(pieces: list[ColumnElement[Any]]) -> ColumnElement[Any]:
    out: ColumnElement[Any] = type_coerce(pieces[0], Text)
    for piece in pieces[1:]:
        out = out.op("||")(piece)
    return type_coerce(out, Text)
