"""Inference records and their feedback in SQL: batched inserts, keyset pages with the inference filter language
(columns and values inside the JSON outputs/input, compiled per dialect), live figures per version, retention."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Float,
    Row,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal,
    not_,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from modelreg.errors import InferenceNotFound, InvalidFilter, ProjectNotFound
from modelreg.filters import And, Compare, Field, Node, Not, Or
from modelreg.metadata.base import InferenceQuery, NewFeedback, NewInference, requests_logged_already
from modelreg.metadata.sql.catalog import project_from_row
from modelreg.metadata.sql.filters import compare, escape_like
from modelreg.metadata.sql.schema import inference_feedback, inferences, models, projects
from modelreg.metadata.sql.schema import versions as versions_table
from modelreg.metadata.sql.txbase import TxBase
from modelreg.metadata.values import dump_json, nearest_rank
from modelreg.text import MAX_DEPTH
from modelreg.types import Feedback, InferenceRecord, InferenceRetention, InferenceStats, Project

# filter field -> column (``feedback`` is a test on the count, below)
_COLUMNS: dict[str, ColumnElement[Any]] = {
    name: inferences.c[name] for name in ("request_id", "client_request_id", "version", "time", "latency_ms",
                                          "status", "error", "input_ref", "sample_rate", "feedback_count",
                                          "feedback_label", "feedback_agrees")}
_NULLABLE = frozenset({"client_request_id", "latency_ms", "feedback_label", "feedback_agrees"})
_OPS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _feedback(r: Row[Any]) -> Feedback:
    return Feedback(id=r.id, request_id=r.request_id, label=r.label, corrected=r.corrected, source=r.source,
                    author=r.author, note=r.note, agrees=r.agrees, created_at=r.created_at)


def _json_text(value: Any, field: str) -> str | None:
    """The JSON text the engine's serialiser (``dump_json``) would store for ``value``, made by ``json.dumps``
    alone when that is sure to give the same text: plain JSON data (dicts, lists, tuples, text, finite numbers,
    booleans, None), no NUL, no escaped UTF-16 (which may be a lone surrogate), no key spelt "null" (a None key,
    which the serialiser spells "None"), too few brackets to nest past ``MAX_DEPTH``. Anything else goes
    through ``dump_json``, which converts or refuses it as for every other JSON column."""
    if value is None:
        return None
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError, _NotPlain):
        return dump_json(value, field_name=field)
    if "\\u0000" in text or "\\ud" in text or '"null":' in text \
            or text.count("{") + text.count("[") > MAX_DEPTH:
        return dump_json(value, field_name=field)
    return text


class _NotPlain(Exception):
    pass


def _not_plain(value: Any) -> Any:
    raise _NotPlain


_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=_not_plain)  # dump_json's settings


class InferencesTx(TxBase):
    # ---- writing
    def insert_inferences(self, *, rows: Sequence[NewInference]) -> None:
        if not rows:
            return
        try:
            with self._w().begin_nested():  # a taken request id must not abort the caller's transaction
                self._insert(rows)
        except IntegrityError:
            ids = [r.request_id for r in rows]
            taken = self.existing_request_ids(request_ids=ids)
            if not taken:
                raise
            raise requests_logged_already(ids, taken) from None

    def _insert(self, rows: Sequence[NewInference]) -> None:
        # the JSON documents go in as text made here (_json_text), not through the engine's serialiser: its
        # general walk over every value was two thirds of a batch's time
        self._w().execute(inferences.insert().values(input=self._json_param("input_json", "input"),
                                                     outputs=self._json_param("outputs_json", "outputs")), [
            {"request_id": r.request_id, "client_request_id": r.client_request_id, "model_id": r.model_id,
             "version_id": r.version_id, "version": r.version, "time": r.time, "latency_ms": r.latency_ms,
             "status": r.status, "error": r.error, "input_ref": r.input_ref,
             "input_json": _json_text(r.input, "input"), "outputs_json": _json_text(r.outputs, "outputs"),
             "sample_rate": r.sample_rate, "feedback_count": 0} for r in rows])

    def _json_param(self, name: str, column: str) -> ColumnElement[Any]:
        """A bound JSON text for a JSON column: cast to JSON on PostgreSQL; SQLite keeps JSON as text."""
        param = bindparam(name, type_=Text())
        return cast(param, inferences.c[column].type) if self.postgres else param

    def existing_request_ids(self, *, request_ids: Collection[str]) -> set[str]:
        found: set[str] = set()
        ids = list(request_ids)
        for start in range(0, len(ids), 500):  # SQLite binds at most 32,766 parameters; keep statements small
            chunk = ids[start:start + 500]
            found.update(self.conn.execute(select(inferences.c.request_id)
                                           .where(inferences.c.request_id.in_(chunk))).scalars())
        return found

    def add_feedback(self, *, request_id: str, feedback: NewFeedback) -> Feedback:
        conn = self._w()
        seq = conn.execute(select(inferences.c.seq).where(inferences.c.request_id == request_id)).scalar()
        if seq is None:
            raise InferenceNotFound(f"no inference record has request id {request_id!r}", request_id=request_id)
        row = conn.execute(inference_feedback.insert().values(
            seq=seq, label=feedback.label, corrected=feedback.corrected, source=feedback.source,
            author=feedback.author, note=feedback.note, agrees=feedback.agrees, created_at=feedback.created_at)
            .returning(inference_feedback.c.id)).one()
        conn.execute(update(inferences).where(inferences.c.seq == seq).values(
            feedback_count=inferences.c.feedback_count + 1, feedback_label=feedback.label,
            feedback_agrees=feedback.agrees))
        return Feedback(id=row.id, request_id=request_id, label=feedback.label, corrected=feedback.corrected,
                        source=feedback.source, author=feedback.author, note=feedback.note,
                        agrees=feedback.agrees, created_at=feedback.created_at)

    def set_inference_retention(self, *, project_id: int, retention: InferenceRetention | None) -> Project:
        value = None if retention is None else retention.model_dump()
        self._w().execute(update(projects).where(projects.c.id == project_id).values(inference_retention=value))
        row = self.conn.execute(select(projects).where(projects.c.id == project_id)).first()
        if row is None:
            raise ProjectNotFound(f"project #{project_id} does not exist", project_id=project_id)
        return project_from_row(row)

    def prune_inferences(self, *, project_id: int, older_than: datetime | None, keep: int | None,
                         dry_run: bool) -> int:
        model_ids = list(self.conn.execute(select(models.c.id).where(models.c.project_id == project_id)).scalars())
        total = 0
        for model_id in model_ids:
            conds: list[ColumnElement[bool]] = []
            if older_than is not None:
                conds.append(inferences.c.time < older_than)
            if keep is not None:
                edge = self.conn.execute(
                    select(inferences.c.time, inferences.c.seq).where(inferences.c.model_id == model_id)
                    .order_by(inferences.c.time.desc(), inferences.c.seq.desc()).offset(keep - 1).limit(1)).first()
                if edge is not None:
                    conds.append(tuple_(inferences.c.time, inferences.c.seq) < tuple_(edge.time, edge.seq))
            if not conds:
                continue
            where = and_(inferences.c.model_id == model_id, or_(*conds))
            if dry_run:
                total += self.conn.execute(select(func.count()).select_from(inferences).where(where)).scalar_one()
            else:
                total += self._w().execute(delete(inferences).where(where)).rowcount
        return total

    # ---- reading
    def _records(self, where: ColumnElement[bool], *, limit: int | None = None,
                 newest_first: bool = True) -> list[InferenceRecord]:
        query = (select(inferences, models.c.name.label("model_name"), projects.c.name.label("project_name"))
                 .join(models, models.c.id == inferences.c.model_id)
                 .join(projects, projects.c.id == models.c.project_id).where(where))
        if newest_first:
            query = query.order_by(inferences.c.time.desc(), inferences.c.seq.desc())
        if limit is not None:
            query = query.limit(limit)
        rows = self.conn.execute(query).fetchall()
        judged = [r.seq for r in rows if r.feedback_count]
        notes: dict[int, list[Feedback]] = {}
        if judged:
            fb_rows = self.conn.execute(
                select(inference_feedback, inferences.c.request_id)
                .join(inferences, inferences.c.seq == inference_feedback.c.seq)
                .where(inference_feedback.c.seq.in_(judged)).order_by(inference_feedback.c.id)).fetchall()
            for f in fb_rows:
                notes.setdefault(f.seq, []).append(_feedback(f))
        return [InferenceRecord(
            seq=r.seq, request_id=r.request_id, client_request_id=r.client_request_id, project=r.project_name,
            model=r.model_name, version=r.version, time=r.time, latency_ms=r.latency_ms, status=r.status,
            error=r.error, input_ref=r.input_ref, input=r.input, outputs=r.outputs, sample_rate=r.sample_rate,
            feedback=notes.get(r.seq, [])) for r in rows]

    def get_inference(self, *, request_id: str) -> InferenceRecord | None:
        found = self._records(inferences.c.request_id == request_id, newest_first=False)
        return found[0] if found else None

    def list_inferences(self, *, query: InferenceQuery) -> list[InferenceRecord]:
        conds: list[ColumnElement[bool]] = [inferences.c.model_id == query.model_id]
        if query.version is not None:
            conds.append(inferences.c.version == query.version)
        if query.since is not None:
            conds.append(inferences.c.time >= query.since)
        if query.until is not None:
            conds.append(inferences.c.time < query.until)
        if query.status is not None:
            conds.append(inferences.c.status == query.status)
        if query.has_feedback is not None:
            conds.append(inferences.c.feedback_count > 0 if query.has_feedback else inferences.c.feedback_count == 0)
        if query.where is not None:
            conds.append(self._compile(query.where))
        if query.after is not None:
            conds.append(tuple_(inferences.c.time, inferences.c.seq) < tuple_(
                literal(query.after[0], inferences.c.time.type), literal(query.after[1])))
        return self._records(and_(*conds), limit=query.limit)

    def inference_stats(self, *, model_id: int, versions: Collection[int] | None, since: datetime,
                        until: datetime) -> list[InferenceStats]:
        window = and_(inferences.c.model_id == model_id, inferences.c.time >= since, inferences.c.time < until)
        numbers = sorted(versions) if versions is not None else list(self.conn.execute(
            select(inferences.c.version).where(window).distinct().order_by(inferences.c.version)).scalars())
        version_ids: dict[int, int] = {}
        if numbers:  # the version ids from the versions table (the model's index), not by scanning records
            version_ids = {int(n): int(i) for n, i in self.conn.execute(
                select(versions_table.c.number, versions_table.c.id)
                .where(versions_table.c.model_id == model_id, versions_table.c.number.in_(numbers)))}
        out: list[InferenceStats] = []
        for number in numbers:
            version_id = version_ids.get(number)
            if version_id is None:
                out.append(InferenceStats(version=number, since=since, until=until))
                continue
            out.append(self._version_stats(number, version_id, since, until))
        return out

    def _version_stats(self, number: int, version_id: int, since: datetime, until: datetime) -> InferenceStats:
        c = inferences.c
        window = and_(c.version_id == version_id, c.time >= since, c.time < until)
        row = self.conn.execute(select(
            func.count(), func.sum(case((c.status == "error", 1), else_=0)),
            func.sum(case((c.feedback_count > 0, 1), else_=0)),
            func.sum(case((c.feedback_agrees.is_(None), 0), else_=1)),
            func.sum(case((c.feedback_agrees.is_(True), 1), else_=0))).where(window)).one()
        records, errors, judged, decided, agreed = (int(v or 0) for v in row)
        if self.postgres:
            p50, p95 = self.conn.execute(select(
                func.percentile_disc(0.5).within_group(c.latency_ms),
                func.percentile_disc(0.95).within_group(c.latency_ms)).where(window, c.latency_ms.is_not(None))).one()
        else:
            ordered = list(self.conn.execute(select(c.latency_ms).where(window, c.latency_ms.is_not(None))
                                             .order_by(c.latency_ms)).scalars())
            p50, p95 = nearest_rank(ordered, 0.5), nearest_rank(ordered, 0.95)
        return InferenceStats(version=number, records=records, errors=errors,
                              error_rate=errors / records if records else None,
                              latency_p50_ms=p50, latency_p95_ms=p95, with_feedback=judged, compared=decided,
                              agreement=agreed / decided if decided else None, since=since, until=until)

    # ---- the filter language over records
    def _compile(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, And):
            return and_(*(self._compile(n) for n in node.items))
        if isinstance(node, Or):
            return or_(*(self._compile(n) for n in node.items))
        if isinstance(node, Not):
            return not_(self._compile(node.item))
        return self._comparison(node)

    def _comparison(self, node: Compare) -> ColumnElement[bool]:
        f, op, value = node.field, node.op, node.value
        if f.kind == "column" and f.name == "feedback":
            has = inferences.c.feedback_count > 0
            return has if bool(value) == (op == "=") else not_(has)
        if isinstance(value, Field):
            kind = "num" if "num" in (f.type, value.type) else "str"
            left, right = self._operand(f, kind), self._operand(value, kind)
            return and_(left.is_not(None), right.is_not(None), _OPS[op](left, right))
        if f.kind == "json":
            kind = "bool" if isinstance(value, bool) else "num" if isinstance(value, float) else "str"
            target = self._json(f, kind)
            cond: ColumnElement[bool]
            if op == "contains":
                cond = target.ilike(f"%{escape_like(str(value))}%", escape="\\")
            elif kind == "bool":
                cond = _OPS[op](target, literal("true" if value else "false"))
            else:
                cond = _OPS[op](target, literal(float(value), Float()) if kind == "num" else literal(value))
            return and_(target.is_not(None), cond)
        col = _COLUMNS.get(f.name)
        if col is None:
            raise InvalidFilter(f"field {f} cannot be used here", field=str(f))
        plain = compare(col, f, op, value)
        return and_(col.is_not(None), plain) if f.name in _NULLABLE else plain

    def _operand(self, f: Field, kind: str) -> ColumnElement[Any]:
        if f.kind == "json":
            return self._json(f, kind)
        if f.kind == "column" and f.name in _COLUMNS:
            return _COLUMNS[f.name]
        raise InvalidFilter(f"field {f} cannot be compared with another field", field=str(f))

    def _json(self, f: Field, kind: str) -> ColumnElement[Any]:
        """The value at ``f``'s path inside the record's JSON when it is of ``kind`` (str, num or bool, the
        latter as the text 'true'/'false'), else NULL: a comparison with another kind matches nothing."""
        root, keys = f.json_path
        col = inferences.c[root]
        if self.postgres:
            path = literal(list(keys), ARRAY(Text))
            json_kind = func.json_typeof(col.op("#>", return_type=col.type)(path))
            text = col.op("#>>", return_type=Text())(path)
            wanted = {"str": "string", "num": "number", "bool": "boolean"}[kind]
            value: ColumnElement[Any] = cast(text, Float) if kind == "num" else text.collate("C")
            return case((json_kind == wanted, value), else_=None)
        path_text = "$" + "".join(f'."{k}"' for k in keys)
        json_kind = func.json_type(col, path_text)
        if kind == "num":
            return case((json_kind.in_(("integer", "real")), func.json_extract(col, path_text)), else_=None)
        if kind == "bool":
            return case((json_kind.in_(("true", "false")), json_kind), else_=None)
        return case((json_kind == "text", func.json_extract(col, path_text)), else_=None)


