"""Inference records: what a version answered, logged in batches, queried with the filter language, summed up per
version as live figures, judged by feedback, and kept as long as the project's retention says.

Rules, checked here for every face:
- a record names the version that served it by number (never an alias), and that version must exist;
- a batch is stored whole or not at all: the first bad record is named by its index and nothing is kept;
- request ids are unique (generated when not given); a duplicate is refused;
- sizes are bounded (``LIMITS``); text that cannot be stored is refused, as everywhere;
- feedback labels come from the project's label set, as do the classes of a corrected output.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from modelreg.errors import AlreadyExists, InferenceNotFound, InvalidInput, InvalidMetadata, VersionNotFound
from modelreg.filters import decode_cursor, encode_cursor, inference_fields, parse_filter
from modelreg.inference_outputs import agrees, classes_named
from modelreg.local.feedback_export import JudgedRecords, write_feedback_export
from modelreg.metadata.base import InferenceQuery, MetadataTx, NewFeedback, NewInference
from modelreg.metadata.values import parse_time_value
from modelreg.request_ids import new_request_id
from modelreg.service.base import ServiceBase
from modelreg.service.permissions import operation
from modelreg.text import check_storable
from modelreg.types import (
    FEEDBACK_SOURCES,
    INFERENCE_STATUSES,
    Feedback,
    FeedbackExport,
    FeedbackFormat,
    FeedbackSource,
    InferenceBatch,
    InferencePage,
    InferenceRecord,
    InferenceRetention,
    InferenceStats,
    InferenceStatus,
    Model,
    Project,
)


@dataclass(frozen=True)
class InferenceLimits:
    """The bounds of one record and one call, each declared once (docs/security.md lists them)."""

    outputs_bytes: int = 1 << 20  # a record's outputs as JSON
    input_bytes: int = 64 << 10  # inline input data; larger inputs go by reference (input_ref)
    text_chars: int = 4000  # error, note
    ref_chars: int = 2048  # input_ref
    id_chars: int = 128  # request ids
    batch: int = 50_000  # records per log_inferences call
    page: int = 1000  # records per page


LIMITS = InferenceLimits()
RECORD_KEYS = ("model", "version", "outputs", "latency_ms", "status", "error", "input_ref", "input", "request_id",
               "client_request_id", "time", "sample_rate")
DEFAULT_WINDOW = timedelta(hours=24)


def _bad(index: int | None, message: str, *, field: str, hint: str | None = None) -> InvalidMetadata:
    where = "" if index is None else f"record {index}: "
    return InvalidMetadata(where + message, hint=hint, field=field, **({} if index is None else {"index": index}))


def _json_text(value: Any, field: str, limit: int, index: int | None) -> None:
    """Refuse a value that is not JSON, is over ``limit`` bytes as JSON, or holds text no store can keep."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise _bad(index, f"{field} is not JSON ({exc})", field=field,
                   hint="outputs are objects, lists, text, finite numbers, true/false or null") from None
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        size = -1
    if size > limit:
        raise _bad(index, f"{field} is {size:,} bytes as JSON; the limit is {limit:,}", field=field,
                   hint="store large data elsewhere and give its reference (input_ref)")
    if size < 0 or "\\u0000" in text:
        check_storable(value, field if index is None else f"record {index}: {field}")


def _text(value: Any, field: str, limit: int, index: int | None, *, one_line: bool = False) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(index, f"{field} is {type(value).__name__}; it must be text", field=field)
    if len(value) > limit:
        raise _bad(index, f"{field} is {len(value):,} characters; the limit is {limit:,}", field=field)
    if one_line and any(c.isspace() or not c.isprintable() for c in value):
        raise _bad(index, f"{field} {value[:40]!r} holds spaces or control characters", field=field,
                   hint="ids are one word: letters, digits and punctuation")
    check_storable(value, field if index is None else f"record {index}: {field}")
    return value


def _time(value: Any, index: int | None, now: datetime) -> datetime:
    if value is None:
        return now
    if isinstance(value, (datetime, str)):
        try:
            return parse_time_value(value.isoformat() if isinstance(value, datetime) else value)
        except InvalidInput:
            pass
    raise _bad(index, f"time {str(value)[:40]!r} is not a time", field="time",
               hint="an ISO 8601 time such as 2026-12-03T10:00:00Z, or leave it out for now")


def _number(value: Any, field: str, index: int | None, *, low: float, high: float = math.inf,
            low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)) \
            or value < low or value > high or (low_open and value == low):
        bound = f"over {low:g}" if low_open else f"at least {low:g}"
        upper = "" if high == math.inf else f" and at most {high:g}"
        raise _bad(index, f"{field} is {value!r}; it must be a number {bound}{upper}", field=field)
    return float(value)


class InferencesMixin(ServiceBase):
    # ---- writing
    @operation("editor", "logging inference records")
    def log_inference(self, model: str, *, version: int, outputs: Any = None, latency_ms: float | None = None,
                      status: InferenceStatus | None = None, error: str = "", input_ref: str = "",
                      input: Any = None,
                      request_id: str | None = None, client_request_id: str | None = None,
                      time: datetime | None = None, sample_rate: float = 1.0) -> str:
        """Record one request the version numbered ``version`` of ``model`` answered; returns its request id
        (generated unless given)."""
        record = {"model": model, "version": version, "outputs": outputs, "latency_ms": latency_ms,
                  "status": status, "error": error, "input_ref": input_ref, "input": input,
                  "request_id": request_id, "client_request_id": client_request_id, "time": time,
                  "sample_rate": sample_rate}
        return self._store_inferences([record]).request_ids[0]

    @operation("editor", "logging inference records")
    def log_inferences(self, records: Iterable[Mapping[str, Any]]) -> InferenceBatch:
        """Record many at once, each a mapping of ``log_inference``'s arguments plus ``model``: all or none."""
        return self._store_inferences(records)

    def _store_inferences(self, records: Iterable[Mapping[str, Any]]) -> InferenceBatch:
        if isinstance(records, (str, bytes, Mapping)):
            raise InvalidMetadata("records must be a list of objects, one per request", field="records")
        now = self.ctx.now()
        checked: list[tuple[tuple[str, int], dict[str, Any]]] = []
        for index, raw in enumerate(records):
            if index >= LIMITS.batch:
                raise InvalidMetadata(f"a batch holds at most {LIMITS.batch:,} records",
                                      hint="send them in several calls", field="records", limit=LIMITS.batch)
            checked.append(self._check_record(index, raw, now))
        if not checked:
            return InferenceBatch(accepted=0, request_ids=[])
        ids = [r["request_id"] for _, r in checked]
        if len(set(ids)) != len(ids):
            dup = next(i for i, rid in enumerate(ids) if ids.index(rid) != i)
            raise AlreadyExists(f"record {dup}: request id {ids[dup]!r} appears twice in the batch",
                                hint="give each request its own id, or leave request_id out", request_id=ids[dup])

        def run(tx: MetadataTx) -> InferenceBatch:
            targets: dict[tuple[str, int], tuple[Model, int]] = {}
            for key, _ in checked:
                if key not in targets:
                    targets[key] = self._serving_version(tx, *key)
            tx.insert_inferences(rows=[NewInference(
                request_id=r["request_id"], client_request_id=r["client_request_id"],
                model_id=targets[key][0].id, version_id=targets[key][1], version=key[1], time=r["time"],
                latency_ms=r["latency_ms"], status=r["status"], error=r["error"], input_ref=r["input_ref"],
                input=r["input"], outputs=r["outputs"], sample_rate=r["sample_rate"]) for key, r in checked])
            return InferenceBatch(accepted=len(checked), request_ids=ids)

        return self.ctx.write(run)

    def _check_record(self, index: int, raw: Mapping[str, Any],
                      now: datetime) -> tuple[tuple[str, int], dict[str, Any]]:
        if not isinstance(raw, Mapping):
            raise _bad(index, f"is {type(raw).__name__}; each record is an object", field="records")
        unknown = [k for k in raw if k not in RECORD_KEYS]
        if unknown:
            raise _bad(index, f"unknown field(s) {', '.join(map(repr, sorted(map(str, unknown))))}",
                       field=str(unknown[0]), hint="accepted: " + ", ".join(RECORD_KEYS))
        model = raw.get("model")
        if not isinstance(model, str) or not model:
            raise _bad(index, "names no model", field="model", hint='e.g. "model": "fire-detector"')
        version = raw.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise _bad(index, f"version is {version!r}; it must be the number of the version that served "
                              "(1, 2, …), not an alias", field="version",
                       hint="a live handle's m.version, or get_version('model@production').number")
        status = raw.get("status") or "ok"
        error = _text(raw.get("error"), "error", LIMITS.text_chars, index)
        if error and raw.get("status") is None:
            status = "error"
        if status not in INFERENCE_STATUSES:
            raise _bad(index, f"status {status!r} is not one of {', '.join(INFERENCE_STATUSES)}", field="status")
        latency = raw.get("latency_ms")
        outputs, inline = raw.get("outputs"), raw.get("input")
        if outputs is not None:
            _json_text(outputs, "outputs", LIMITS.outputs_bytes, index)
        if inline is not None:
            _json_text(inline, "input", LIMITS.input_bytes, index)
        request_id = raw.get("request_id")
        client_id = raw.get("client_request_id")
        return (model, version), {
            "request_id": _text(request_id, "request_id", LIMITS.id_chars, index, one_line=True) or new_request_id(),
            "client_request_id": _text(client_id, "client_request_id", LIMITS.id_chars, index) or None,
            "time": _time(raw.get("time"), index, now),
            "latency_ms": None if latency is None else _number(latency, "latency_ms", index, low=0.0),
            "status": status, "error": error,
            "input_ref": _text(raw.get("input_ref"), "input_ref", LIMITS.ref_chars, index),
            "input": inline, "outputs": outputs,
            "sample_rate": _number(1.0 if raw.get("sample_rate") is None else raw["sample_rate"], "sample_rate",
                                   index, low=0.0, high=1.0, low_open=True),
        }

    def _serving_version(self, tx: MetadataTx, model_ref: str, number: int) -> tuple[Model, int]:
        model = self._model(tx, model_ref)
        version = tx.get_version(model_id=model.id, number=number)
        if version is None:
            raise VersionNotFound(f"{model.project}/{model.name} has no version v{number} to have served requests",
                                  hint="log the number of the version that answered (the live handle's version)",
                                  project=model.project, model=model.name, version=number)
        return model, version.id

    @operation("editor", "giving feedback on inference records")
    def feedback(self, request_id: str, *, label: str | None = None, corrected: Any = None,
                 source: FeedbackSource = "human", author: str | None = None, note: str = "") -> Feedback:
        """Attach a judgement (``label``: the right class, from the project's label set) or a corrected output
        to an inference record; the newest of a record's feedback wins for exports."""
        request = _text(request_id, "request_id", LIMITS.id_chars, None, one_line=True)
        if label is not None:
            label = _text(label, "label", 128, None)
        if label is None and corrected is None:
            raise InvalidMetadata("feedback needs a label or a corrected output", field="label",
                                  hint='e.g. feedback(request_id, label="fire"), or corrected={"detections": [...]}')
        if corrected is not None:
            _json_text(corrected, "corrected", LIMITS.outputs_bytes, None)
        if source not in FEEDBACK_SOURCES:
            raise InvalidMetadata(f"source {source!r} is not one of {', '.join(FEEDBACK_SOURCES)}", field="source")
        who = _text(author, "author", 256, None) if author is not None else self.ctx.actor
        remark = _text(note, "note", LIMITS.text_chars, None)

        def run(tx: MetadataTx) -> Feedback:
            record = tx.get_inference(request_id=request)
            if record is None:
                raise InferenceNotFound(f"no inference record has request id {request!r}", request_id=request,
                                        hint="the id log_inference returned, or the one the record was logged with")
            self.ctx.check_project(record.project)
            project = self._project(tx, record.project)
            self._check_labels(project, ([label] if label is not None else []) + classes_named(corrected))
            saved = tx.add_feedback(request_id=request, feedback=NewFeedback(
                label=label, corrected=corrected, source=source, author=who, note=remark,
                agrees=agrees(record.outputs, label=label, corrected=corrected), created_at=self.ctx.now()))
            self._event(tx, "inference.feedback", project=record.project, version=record.version,
                        after={"request_id": request, "label": label, "agrees": saved.agrees, "source": source})
            return saved

        return self.ctx.write(run)

    @staticmethod
    def _check_labels(project: Project, names: Sequence[str]) -> None:
        if not names:
            return
        if not project.labels:
            raise InvalidMetadata(f"project {project.name!r} has no label set, so {names[0]!r} cannot be checked",
                                  hint=f"set the project's labels first (update_project({project.name!r}, "
                                       "labels=[...]))", field="label", project=project.name)
        outside = sorted({n for n in names if n not in project.labels})
        if outside:
            raise InvalidMetadata(f"{', '.join(map(repr, outside))} is not in project {project.name!r}'s label set",
                                  hint="its labels: " + ", ".join(project.labels), field="label",
                                  project=project.name, labels=outside)

    # ---- reading
    @operation("viewer", "reading inference records")
    def get_inference(self, request_id: str) -> InferenceRecord:
        """One inference record, with its feedback."""
        request = _text(request_id, "request_id", LIMITS.id_chars, None, one_line=True)

        def run(tx: MetadataTx) -> InferenceRecord:
            record = tx.get_inference(request_id=request)
            if record is None:
                raise InferenceNotFound(f"no inference record has request id {request!r}", request_id=request)
            self.ctx.check_project(record.project)
            return record

        return self.ctx.read(run)

    @operation("viewer", "reading inference records")
    def list_inferences(self, model: str, *, version: int | None = None, since: datetime | None = None,
                        until: datetime | None = None, status: InferenceStatus | None = None,
                        has_feedback: bool | None = None, where: str | None = None, limit: int = 50,
                        cursor: str | None = None) -> InferencePage:
        """A model's inference records, newest first (by time, then arrival); ``where`` takes the filter
        language over the record (``outputs.class = "ng" and latency_ms > 50``, ``feedback.label !=
        outputs.class``)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= LIMITS.page:
            raise InvalidInput(f"limit is {limit!r}; it must be 1..{LIMITS.page}", field="limit")
        if status is not None and status not in INFERENCE_STATUSES:
            raise InvalidInput(f"status {status!r} is not one of {', '.join(INFERENCE_STATUSES)}", field="status")
        node = parse_filter(where, inference_fields, field_values=True)
        after = _cursor(cursor)

        def run(tx: MetadataTx) -> InferencePage:
            found = self._model(tx, model)
            rows = tx.list_inferences(query=InferenceQuery(
                model_id=found.id, version=version, since=_when(since, "since"), until=_when(until, "until"),
                status=status, has_feedback=has_feedback, where=node, after=after, limit=limit + 1))
            page = rows[:limit]
            more = len(rows) > limit
            return InferencePage(items=page, next_cursor=encode_cursor([page[-1].time.isoformat(), page[-1].seq])
                                 if more else None)

        return self.ctx.read(run)

    @operation("viewer", "reading inference records")
    def inference_stats(self, model: str, *, versions: Sequence[int] | None = None,
                        since: datetime | None = None, until: datetime | None = None) -> list[InferenceStats]:
        """Live figures per version over [since, until) (default: the last 24 hours; every version with records
        unless ``versions`` names some): volume, error rate, latency p50/p95, agreement with feedback."""
        end = _when(until, "until") or self.ctx.now()
        start = _when(since, "since") or end - DEFAULT_WINDOW
        if start >= end:
            raise InvalidInput(f"since ({start.isoformat()}) is not before until ({end.isoformat()})", field="since")
        wanted: Collection[int] | None = None
        if versions is not None:
            if isinstance(versions, (str, bytes)) or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in versions):
                raise InvalidInput("versions are version numbers: [3, 4]", field="versions")
            wanted = sorted(set(versions))

        def run(tx: MetadataTx) -> list[InferenceStats]:
            found = self._model(tx, model)
            return tx.inference_stats(model_id=found.id, versions=wanted, since=start, until=end)

        return self.ctx.read(run)

    @operation("viewer", "exporting corrected samples")
    def export_feedback(self, model: str, to: str | os.PathLike[str], *, format: FeedbackFormat = "jsonl",
                        version: int | None = None, since: datetime | None = None, until: datetime | None = None,
                        dataset_name: str | None = None) -> FeedbackExport:
        """Write the corrected samples (input references and their newest feedback, labels from the project's
        label set) to ``to`` as ``jsonl``, ``yolo`` or ``coco``, with the dataset reference that points at them
        (``dataset.json``; give it to the version trained on them)."""
        return write_feedback_export(cast(JudgedRecords, self), model, to, format=format, version=version,
                                     since=since, until=until, dataset_name=dataset_name)

    # ---- retention
    @operation("maintainer", "setting inference retention")
    def set_inference_retention(self, project: str, *, days: int | None = None,
                                count: int | None = None) -> Project:
        """Keep a project's inference records at most ``days`` old and/or the newest ``count`` per model (None for
        both: keep everything); ``gc`` applies it."""
        for name, value in (("days", days), ("count", count)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidInput(f"{name} is {value!r}; it must be a whole number of at least 1, or None",
                                   field=name)
        retention = None if days is None and count is None else InferenceRetention(days=days, count=count)

        def run(tx: MetadataTx) -> Project:
            found = self._project(tx, project)
            before = found.inference_retention
            changed = tx.set_inference_retention(project_id=found.id, retention=retention)
            self._event(tx, "project.updated", project=found.name,
                        before={"inference_retention": None if before is None else before.model_dump()},
                        after={"inference_retention": None if retention is None else retention.model_dump()})
            return changed

        return self.ctx.write(run)


def _when(value: datetime | str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time_value(value.isoformat() if isinstance(value, datetime) else value)
    except InvalidInput:
        raise InvalidInput(f"{field} {str(value)[:40]!r} is not a time", field=field,
                           hint="an ISO 8601 time such as 2026-12-03T10:00:00Z") from None


def _cursor(cursor: str | None) -> tuple[datetime, int] | None:
    values = decode_cursor(cursor)
    if values is None:
        return None
    if len(values) != 2 or not isinstance(values[0], str) or isinstance(values[1], bool) \
            or not isinstance(values[1], int):
        raise InvalidInput("the cursor is not one this listing issued", field="cursor",
                           hint="pass back next_cursor exactly as the previous page returned it")
    return parse_time_value(values[0]), values[1]


def apply_retention(svc: ServiceBase, *, dry_run: bool) -> int:
    """Remove (or with ``dry_run`` count) every project's inference records past its retention; gc calls it."""
    now = svc.ctx.now()

    def run(tx: MetadataTx) -> int:
        total = 0
        for project in tx.list_projects():
            keep = project.inference_retention
            if keep is None:
                continue
            removed = tx.prune_inferences(
                project_id=project.id, older_than=now - timedelta(days=keep.days) if keep.days else None,
                keep=keep.count, dry_run=dry_run)
            if removed and not dry_run:
                tx.append_event(actor=svc.ctx.actor, action="inference.retention_applied", now=now,
                                project=project.name, after={"removed": removed, **keep.model_dump()})
            total += removed
        return total

    return svc.ctx.read(run) if dry_run else svc.ctx.write(run)
