"""Inference records: batches in as JSON lines (or a JSON array), pages and live figures out, feedback on a record,
a project's retention."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request

from modelreg.errors import InvalidMetadata
from modelreg.server.auth import Registry
from modelreg.server.wire import Body, ModelPath, ProjectPath, ref_text, reply
from modelreg.types import Feedback, InferenceBatch, InferencePage, InferenceRecord, InferenceStats, Project

router = APIRouter(tags=["inferences"])
MODEL = "/projects/{project}/models/{model}/inferences"
NDJSON = "application/x-ndjson"


class FeedbackCreate(Body):
    # Any: the service checks each value and names what is wrong, as it does locally
    label: Any = None
    corrected: Any = None
    source: Any = "human"
    author: Any = None
    note: Any = ""


class RetentionSet(Body):
    days: Any = None
    count: Any = None


def parse_records(data: bytes, content_type: str) -> list[Any]:
    """A batch body: JSON lines (one record per line, blank lines skipped) or one JSON array of records."""
    hint = f"one JSON object per line ({NDJSON}), or a JSON array of objects"
    if content_type.split(";")[0].strip().lower() != NDJSON:
        try:
            records = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidMetadata(f"the body is not valid JSON ({str(exc)[:120]})", field="records",
                                  hint=hint) from None
        if not isinstance(records, list):
            raise InvalidMetadata("the body is not a list of records", hint=hint, field="records")
        return records
    out: list[Any] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidMetadata(f"line {number} is not valid JSON ({str(exc)[:120]}); nothing was stored",
                                  field="records", hint=hint, line=number) from None
    return out


@router.post("/inferences", response_model=InferenceBatch, status_code=201,
             summary="Log inference records: JSON lines (application/x-ndjson) or a JSON array; all or none",
             description="The body is either JSON lines (`Content-Type: application/x-ndjson`, one record per "
                         "line) or a JSON array of records (`application/json`). Only the array is declared "
                         "below: OpenAPI has no schema for JSON lines.",
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}},
                 "required": True}})
async def log_inferences(request: Request, reg: Registry) -> object:
    data = await request.body()
    records = parse_records(data, request.headers.get("content-type", ""))
    batch = await anyio.to_thread.run_sync(reg.log_inferences, records)
    return reply(batch, 201)


@router.get(MODEL, response_model=InferencePage, summary="A model's inference records, newest first")
def list_inferences(reg: Registry, project: str = ProjectPath, model: str = ModelPath,
                    version: int | None = None, since: datetime | None = None, until: datetime | None = None,
                    status: str | None = Query(None, examples=["error"]), has_feedback: bool | None = None,
                    where: str | None = Query(None, examples=['outputs.class = "ng" and latency_ms > 50']),
                    limit: int = 50, cursor: str | None = None) -> object:
    return reply(reg.list_inferences(ref_text(project, model), version=version, since=since, until=until,
                                     status=status, has_feedback=has_feedback,  # type: ignore[arg-type]
                                     where=where, limit=limit, cursor=cursor))


@router.get(MODEL + "/stats", response_model=list[InferenceStats],
            summary="Live figures per version: volume, error rate, latency p50/p95, agreement with feedback")
def inference_stats(reg: Registry, project: str = ProjectPath, model: str = ModelPath,
                    versions: list[int] | None = Query(None), since: datetime | None = None,
                    until: datetime | None = None) -> object:
    return reply(reg.inference_stats(ref_text(project, model), versions=versions, since=since, until=until))


@router.get("/inferences/{request_id}", response_model=InferenceRecord, summary="One record, with its feedback")
def get_inference(reg: Registry, request_id: str) -> object:
    return reply(reg.get_inference(request_id))


@router.post("/inferences/{request_id}/feedback", response_model=Feedback, status_code=201,
             summary="Attach a judgement (label) or a corrected output to a record")
def feedback(body: FeedbackCreate, reg: Registry, request_id: str) -> object:
    return reply(reg.feedback(request_id, label=body.label, corrected=body.corrected, source=body.source,
                              author=body.author, note=body.note), 201)


@router.put("/projects/{project}/inference-retention", response_model=Project,
            summary="Keep a project's inference records at most `days` old and/or the newest `count` per model")
def set_retention(body: RetentionSet, reg: Registry, project: str = ProjectPath) -> object:
    return reply(reg.set_inference_retention(project, days=body.days, count=body.count))
