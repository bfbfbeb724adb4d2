"""Inference records and their feedback in the in-package fake store, with the SQL store's semantics: newest first
by (time, seq), the filter language evaluated in Python (JSON values compared only with values of their kind),
nearest-rank latency quantiles, retention by age and count per model."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelreg.errors import InferenceNotFound
from modelreg.filters import Field, Op, evaluate
from modelreg.filters import compare as compare_values
from modelreg.metadata.base import InferenceQuery, NewFeedback, NewInference, requests_logged_already
from modelreg.metadata.values import nearest_rank, parse_time_value
from modelreg.types import Feedback, InferenceRecord, InferenceStats

if TYPE_CHECKING:
    from modelreg.metadata.memory import _Data, _Undo


@dataclass(frozen=True, slots=True)
class InferenceRow:
    seq: int
    record: NewInference  # input and outputs as JSON text, as a database keeps them
    feedback: tuple[Feedback, ...] = ()


def _dump(value: Any) -> Any:
    return None if value is None else json.dumps(value, allow_nan=False)


def _load(text: Any) -> Any:
    return None if text is None else json.loads(text)


def _json_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "num"
    if isinstance(value, str):
        return "str"
    return None


class InferencesMemory:
    """Mixed into the fake store's transaction: ``db``, ``undo``, ``_r``, ``_w`` and ``_new_id`` are its own."""

    db: _Data
    undo: _Undo

    if TYPE_CHECKING:
        def _r(self) -> _Data: ...
        def _w(self) -> _Data: ...
        def _new_id(self, table: str) -> int: ...

    def insert_inferences(self, *, rows: Sequence[NewInference]) -> None:
        ids = [r.request_id for r in rows]
        taken = self.existing_request_ids(request_ids=ids)
        if taken:
            raise requests_logged_already(ids, taken)
        db = self._w()
        for r in rows:
            seq = self._new_id("inferences")
            stored = replace(r, input=_dump(r.input), outputs=_dump(r.outputs))
            self.undo.put(db.inferences, seq, InferenceRow(seq, stored))
            self.undo.put(db.inference_seqs, r.request_id, seq)

    def existing_request_ids(self, *, request_ids: Collection[str]) -> set[str]:
        known = self._r().inference_seqs
        return {r for r in request_ids if r in known}

    def add_feedback(self, *, request_id: str, feedback: NewFeedback) -> Feedback:
        db = self._w()
        seq = db.inference_seqs.get(request_id)
        if seq is None:
            raise InferenceNotFound(f"no inference record has request id {request_id!r}", request_id=request_id)
        row = db.inferences[seq]
        note = Feedback(id=self._new_id("inference_feedback"), request_id=request_id, label=feedback.label,
                        corrected=_load(_dump(feedback.corrected)), source=feedback.source,
                        author=feedback.author, note=feedback.note, agrees=feedback.agrees,
                        created_at=feedback.created_at)
        self.undo.put(db.inferences, seq, replace(row, feedback=(*row.feedback, note)))
        return note

    def _record(self, row: InferenceRow) -> InferenceRecord:
        db, r = self.db, row.record
        model = db.models[r.model_id]
        return InferenceRecord(
            seq=row.seq, request_id=r.request_id, client_request_id=r.client_request_id,
            project=db.projects[model.project_id].name, model=model.name, version=r.version, time=r.time,
            latency_ms=r.latency_ms, status=r.status, error=r.error,
            input_ref=r.input_ref, input=_load(r.input), outputs=_load(r.outputs), sample_rate=r.sample_rate,
            feedback=[f.model_copy(deep=True) for f in row.feedback])

    def get_inference(self, *, request_id: str) -> InferenceRecord | None:
        db = self._r()
        seq = db.inference_seqs.get(request_id)
        return None if seq is None else self._record(db.inferences[seq])

    def _model_rows(self, model_id: int) -> list[InferenceRow]:
        rows = [row for row in self._r().inferences.values() if row.record.model_id == model_id]
        rows.sort(key=lambda row: (row.record.time, row.seq), reverse=True)
        return rows

    def list_inferences(self, *, query: InferenceQuery) -> list[InferenceRecord]:
        out: list[InferenceRecord] = []
        for row in self._model_rows(query.model_id):
            r = row.record
            if ((query.version is not None and r.version != query.version)
                    or (query.since is not None and r.time < query.since)
                    or (query.until is not None and r.time >= query.until)
                    or (query.status is not None and r.status != query.status)
                    or (query.has_feedback is not None and bool(row.feedback) != query.has_feedback)
                    or (query.after is not None and (r.time, row.seq) >= query.after)):
                continue
            record = self._record(row)
            if query.where is not None and not evaluate(query.where, _getter(record), compare_typed):
                continue
            out.append(record)
            if len(out) >= query.limit:
                break
        return out

    def inference_stats(self, *, model_id: int, versions: Collection[int] | None, since: datetime,
                        until: datetime) -> list[InferenceStats]:
        window = [row for row in self._model_rows(model_id) if since <= row.record.time < until]
        numbers = sorted(versions) if versions is not None else sorted({row.record.version for row in window})
        out: list[InferenceStats] = []
        for number in numbers:
            rows = [row for row in window if row.record.version == number]
            latencies = sorted(row.record.latency_ms for row in rows if row.record.latency_ms is not None)
            errors = sum(row.record.status == "error" for row in rows)
            decided = [row.feedback[-1].agrees for row in rows if row.feedback and row.feedback[-1].agrees is not None]
            out.append(InferenceStats(
                version=number, records=len(rows), errors=errors, error_rate=errors / len(rows) if rows else None,
                latency_p50_ms=nearest_rank(latencies, 0.5), latency_p95_ms=nearest_rank(latencies, 0.95),
                with_feedback=sum(bool(row.feedback) for row in rows), compared=len(decided),
                agreement=sum(decided) / len(decided) if decided else None, since=since, until=until))
        return out

    def prune_inferences(self, *, project_id: int, older_than: datetime | None, keep: int | None,
                         dry_run: bool) -> int:
        db = self._w() if not dry_run else self._r()
        doomed: list[InferenceRow] = []
        for model_id in [m.id for m in db.models.values() if m.project_id == project_id]:
            rows = self._model_rows(model_id)
            doomed.extend(row for i, row in enumerate(rows)
                          if (older_than is not None and row.record.time < older_than)
                          or (keep is not None and i >= keep))
        if not dry_run:
            for row in doomed:
                self.undo.pop(db.inferences, row.seq)
                self.undo.pop(db.inference_seqs, row.record.request_id)
        return len(doomed)

    def drop_inferences_of(self, version_id: int) -> None:
        """Remove a version's records (the SQL store's ON DELETE CASCADE)."""
        db = self.db
        for row in [row for row in db.inferences.values() if row.record.version_id == version_id]:
            self.undo.pop(db.inferences, row.seq)
            self.undo.pop(db.inference_seqs, row.record.request_id)


def _getter(record: InferenceRecord) -> Any:
    newest = record.feedback[-1] if record.feedback else None
    columns: dict[str, Any] = {
        "request_id": record.request_id, "client_request_id": record.client_request_id,
        "version": float(record.version), "time": record.time, "latency_ms": record.latency_ms,
        "status": record.status, "error": record.error, "input_ref": record.input_ref,
        "sample_rate": record.sample_rate, "feedback": bool(record.feedback),
        "feedback_count": float(len(record.feedback)), "feedback_label": newest.label if newest else None,
        "feedback_agrees": newest.agrees if newest else None,
    }

    def get(f: Field) -> Any:
        if f.kind != "json":
            return columns.get(f.name)
        root, keys = f.json_path
        value: Any = record.outputs if root == "outputs" else record.input
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return _Typed(value) if _json_kind(value) is not None else None

    return get


class _Typed:
    """A value from inside a record's JSON: equal to, or ordered against, only values of its own JSON kind (a
    number is never the text "1", true is never 1), as the SQL stores compare them."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def matches(self, op: Op, other: Any) -> bool:
        if isinstance(other, _Typed):
            other = other.value
        if op != "contains" and _json_kind(self.value) != _json_kind(other):
            return False
        return compare_values(self.value, op, other)


def compare_typed(actual: Any, op: Op, value: Any) -> bool:
    """``filters.compare`` for inference records: JSON values by kind, times as instants."""
    if isinstance(actual, _Typed):
        return actual.matches(op, value)
    if isinstance(value, _Typed):
        value = value.value
        if _json_kind(actual) != _json_kind(value) or isinstance(actual, bool):
            return False
    if isinstance(actual, datetime) and op != "contains":
        if isinstance(value, str):
            value = parse_time_value(value)
        return compare_values(actual.timestamp(), op, value.timestamp())
    return compare_values(actual, op, value)
