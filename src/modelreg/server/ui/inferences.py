"""The dashboard's inference pages: what each version answered in production, and the corrections people give.

    /m/{project}/{model}/inferences     a model's inference records, newest first, keyset-paginated; filters
                                        (version, since/until, status, feedback, the filter language in
                                        ``where``) are query parameters, so every filter state is a stable URL
    /i/{request_id}                     one record: its outputs, input, error, feedback history, and the
                                        correction form
    POST /feedback                      the correction form: a label from the project's label set, an optional
                                        corrected output (JSON), a note; the service checks all of it

Every read and the correction go through the registry contract, acting as the signed-in token, so the
service's rules (the label set, the editor role, sizes) hold exactly as on the SDK and the REST API. A filter or
a correction the service refuses is shown next to what was typed, not on an error page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from modelreg.errors import InvalidInput
from modelreg.inference_outputs import BOX, CLASS, SCORE, class_of, detections_of, value_of
from modelreg.server.ui.context import Ui, UiRoute, posted, ui_of
from modelreg.server.ui.pages import PAGE, model_ref, run
from modelreg.types import INFERENCE_STATUSES, InferencePage, InferenceRecord, InferenceStatus, Model

router = APIRouter(include_in_schema=False, route_class=UiRoute)
FEEDBACK_CHOICES = {"yes": True, "no": False}  # the "has feedback" filter's values
TIME_SHOWN = "%Y-%m-%dT%H:%M:%S"  # a time filter as a datetime-local input shows it (UTC)
INLINE_SHOWN = 2000  # characters of inline input shown open; longer ones fold


def inferences_url(project: str, model: str) -> str:
    return f"/m/{quote(project, safe='')}/{quote(model, safe='')}/inferences"


def record_url(request_id: str, done: str | None = None) -> str:
    return f"/i/{quote(request_id, safe='')}" + (f"?done={done}" if done else "")


# ---------------------------------------------------------------- the history
def _time(text: str, name: str) -> datetime | None:
    """A time filter as typed or as a datetime-local input sends it; no zone means UTC."""
    if not text.strip():
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{name} {text.strip()[:40]!r} is not a time", field=name,
                           hint="an ISO 8601 time in UTC, e.g. 2026-12-03T10:00") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _version(text: str) -> int | None:
    if not text.strip():
        return None
    number = text.strip().removeprefix("v")
    if not number.isdigit() or int(number) < 1:
        raise InvalidInput(f"version {text.strip()[:20]!r} is not a version number", field="version",
                           hint="a number such as 3 (empty: every version)")
    return int(number)


def _query(params: Mapping[str, str]) -> dict[str, Any]:
    """The ``list_inferences`` arguments a history URL names (InvalidInput when one cannot be read)."""
    status = params.get("status", "")
    if status and status not in INFERENCE_STATUSES:
        raise InvalidInput(f"status {status[:20]!r} is not one of {', '.join(INFERENCE_STATUSES)}", field="status")
    feedback = params.get("feedback", "")
    if feedback and feedback not in FEEDBACK_CHOICES:
        raise InvalidInput(f"feedback {feedback[:20]!r} is yes or no (empty: either)", field="feedback")
    return {"version": _version(params.get("version", "")), "since": _time(params.get("since", ""), "since"),
            "until": _time(params.get("until", ""), "until"),
            "status": cast(InferenceStatus, status) if status else None,
            "has_feedback": FEEDBACK_CHOICES.get(feedback), "where": params.get("where", "").strip() or None}


def _shown_time(when: datetime | None, typed: str) -> str:
    """What a time box shows again: the time read (as a datetime-local input wants it), else what was typed."""
    return when.strftime(TIME_SHOWN) if when is not None else typed


@router.get("/m/{project}/{model}/inferences")
async def inferences_page(request: Request, project: str, model: str, ui: Ui = Depends(ui_of)) -> Response:
    ref = model_ref(project, model)
    params = {k: request.query_params.get(k, "") for k in
              ("version", "since", "until", "status", "feedback", "where", "cursor")}
    error: InvalidInput | None = None
    query: dict[str, Any] = {}
    try:
        query = _query(params)
    except InvalidInput as exc:  # a filter the user typed: shown inline, as the models page does
        error = exc

    def load() -> tuple[Model, InferencePage | None, InvalidInput | None]:
        mdl = ui.reg.get_model(ref)  # an unknown model is the error page (404), not an inline message
        if error is not None:
            return mdl, None, error
        try:
            page = ui.reg.list_inferences(ref, **query, limit=PAGE, cursor=params["cursor"] or None)
        except InvalidInput as exc:
            return mdl, None, exc
        return mdl, page, None

    mdl, page, error = await run(load)
    return ui.render("inferences.html", mdl=mdl, records=page.items if page else [],
                     next_cursor=page.next_cursor if page else None, error=error, f=params,
                     since=_shown_time(query.get("since"), params["since"]),
                     until=_shown_time(query.get("until"), params["until"]), statuses=INFERENCE_STATUSES,
                     version=query.get("version"),
                     filtered=any(params[k] for k in params if k != "cursor"))


# ---------------------------------------------------------------- one record
def _box(box: Any) -> str:
    if isinstance(box, Sequence) and not isinstance(box, str) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
        return ", ".join(f"{float(v):.4g}" for v in box)
    return json.dumps(box)


def outputs_view(outputs: Any) -> dict[str, Any]:
    """How a record's outputs (or a corrected output) read on its page: detections as a table (highest score
    first), a class with its score, a value, a mapping as a tree, anything else as JSON."""
    found = detections_of(outputs)
    if found is not None:
        def score(d: Mapping[str, Any]) -> float | None:
            value = d.get(SCORE)
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

        ranked = sorted(found, key=lambda d: -(score(d) or 0.0))
        rows = [{"class": str(d[CLASS]), "score": score(d), "box": _box(d[BOX]) if BOX in d else "",
                 "other": {k: v for k, v in d.items() if k not in (CLASS, SCORE, BOX)}} for d in ranked]
        return {"kind": "detections", "rows": rows, "other": any(r["other"] for r in rows)}
    if class_of(outputs) is not None:
        return {"kind": "class", "class": class_of(outputs), "score": outputs.get(SCORE),
                "other": {k: v for k, v in outputs.items() if k not in (CLASS, SCORE)}}
    if value_of(outputs) is not None:
        return {"kind": "value", "value": value_of(outputs)}
    if isinstance(outputs, Mapping) and outputs:
        return {"kind": "tree", "node": outputs}
    return {"kind": "json"}


def _record_page(ui: Ui, record: InferenceRecord, labels: list[str], *, form: Mapping[str, str] | None = None,
                 error: InvalidInput | None = None) -> Response:
    inline = None if record.input is None else json.dumps(record.input, indent=1, ensure_ascii=False)
    return ui.render("inference.html", status=422 if error is not None else 200, r=record, labels=labels,
                     outputs=outputs_view(record.outputs), outputs_json=json.dumps(record.outputs, indent=1),
                     inline=inline, inline_folded=inline is not None and len(inline) > INLINE_SHOWN,
                     feedback=[(fb, outputs_view(fb.corrected) if fb.corrected is not None else None)
                               for fb in reversed(record.feedback)],
                     form=form or {}, error=error, history=inferences_url(record.project, record.model))


def _load_record(ui: Ui, request_id: str) -> tuple[InferenceRecord, list[str]]:
    record = ui.reg.get_inference(request_id)
    return record, list(ui.reg.get_project(record.project).labels)


@router.get("/i/{request_id:path}")
async def inference_page(request_id: str, ui: Ui = Depends(ui_of)) -> Response:
    record, labels = await run(_load_record, ui, request_id)
    return _record_page(ui, record, labels)


def _corrected(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"the corrected output is not JSON: {exc}", field="corrected",
                           hint='e.g. {"class": "fire"} or {"detections": [{"class": "fire", "box": [0.1, 0.2, '
                                '0.4, 0.6]}]}; leave it empty to give a label alone') from None


@router.post("/feedback")
async def give_feedback(ui: Ui = Depends(posted)) -> Response:
    """The correction form: a label, a corrected output or both, and a note, as the signed-in principal."""
    request_id = ui.form.get("request_id", "").strip()
    if not request_id:
        raise InvalidInput("the form lacks request_id", hint="reload the page and try again")

    def give() -> InvalidInput | None:
        try:
            ui.reg.feedback(request_id, label=ui.form.get("label", "").strip() or None,
                            corrected=_corrected(ui.form.get("corrected", "")), note=ui.form.get("note", "").strip())
        except InvalidInput as exc:  # a label outside the set, a bad corrected output: shown on the form
            return exc
        return None

    refused = await run(give)
    if refused is None:
        return ui.redirect(record_url(request_id, "feedback"))
    record, labels = await run(_load_record, ui, request_id)
    return _record_page(ui, record, labels, form=ui.form, error=refused)
