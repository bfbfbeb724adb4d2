"""Inference records from the command line: log a file of them, list and filter them, see one, live figures per
version, feedback on a record, corrected samples exported as a training set, a project's retention."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from modelreg.cli.common import CursorOpt, JsonOpt, LimitOpt, ModelArg, state
from modelreg.cli.output import emit_json, when
from modelreg.inference_outputs import summary
from modelreg.types import FEEDBACK_FORMATS, InferenceRecord, InferenceStats

app = typer.Typer()
feedback_app = typer.Typer(help="Judge inference records, and export the corrections as a training set.",
                           no_args_is_help=True)

RequestArg = Annotated[str, typer.Argument(metavar="REQUEST_ID", help="The record's request id.")]
VersionOpt = Annotated[int | None, typer.Option("--version", "-v", metavar="N", help="Only version N's records.")]
SinceOpt = Annotated[str | None, typer.Option(
    "--since", metavar="TIME", help="From this time: ISO 8601 (2026-12-01T08:00Z) or an age (30m, 24h, 7d).")]
UntilOpt = Annotated[str | None, typer.Option("--until", metavar="TIME", help="Before this time (as --since).")]
BATCH = 5000  # records per call when logging a file
_AGE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time, or an age before now (``30m``, ``24h``, ``7d``)."""
    if text is None:
        return None
    age = _AGE.match(text.strip())
    if age:
        return datetime.now(UTC) - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither a time (2026-12-01T08:00Z) nor an age (24h, 7d)",
                                 param_hint=option) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _feedback_cell(record: InferenceRecord) -> Text:
    if not record.feedback:
        return Text("-", style="dim")
    newest = record.feedback[-1]
    said = newest.label if newest.label is not None else summary(newest.corrected) or "corrected"
    mark = {True: "✓ ", False: "✗ "}.get(newest.agrees, "") if newest.agrees is not None else ""
    return Text(f"{mark}{said} ({newest.author or newest.source})")


def records_table(rows: list[InferenceRecord]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column, justify in (("time", "left"), ("request id", "left"), ("version", "right"), ("status", "left"),
                            ("latency", "right"), ("outputs", "left"), ("feedback", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        status = Text(r.status, style="red" if r.status == "error" else "")
        latency = "-" if r.latency_ms is None else f"{r.latency_ms:.1f} ms"
        shown = r.error[:60] if r.status == "error" and r.error else summary(r.outputs)
        table.add_row(when(r.time), r.request_id, f"v{r.version}", status, latency, Text(shown),
                      _feedback_cell(r))
    return table


def stats_table(rows: list[InferenceStats]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("version", "records", "errors", "p50", "p95", "judged", "agreement"):
        table.add_column(column, justify="left" if column == "version" else "right")

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} ms"

    for s in rows:
        table.add_row(f"v{s.version}", f"{s.records:,}",
                      "-" if s.error_rate is None else f"{s.errors:,} ({s.error_rate:.1%})",
                      ms(s.latency_p50_ms), ms(s.latency_p95_ms), f"{s.with_feedback:,}",
                      "-" if s.agreement is None else f"{s.agreement:.1%}")
    return table


@app.command("inferences")
def inferences(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    status: Annotated[str | None, typer.Option("--status", help="ok or error.")] = None,
    feedback: Annotated[bool | None, typer.Option(
        "--feedback/--no-feedback", help="Only records with feedback, or only those without.")] = None,
    where: Annotated[str | None, typer.Option(
        "--where", "-w", metavar="FILTER",
        help='The filter language over records: outputs.class = "ng" and latency_ms > 50; '
             "feedback.label != outputs.class.")] = None,
    limit: LimitOpt = 50,
    cursor: CursorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a model's inference records, newest first.

    \b
    Example: modelreg inferences fire-detector --since 24h --status error
             modelreg inferences fire-detector --where 'feedback.label != outputs.class'
    """
    st = state(ctx)
    page = st.registry().list_inferences(model, version=version, since=parse_time(since, "--since"),
                                         until=parse_time(until, "--until"), status=status,  # type: ignore[arg-type]
                                         has_feedback=feedback, where=where, limit=limit, cursor=cursor)
    if as_json:
        emit_json(page)
        return
    if not page.items:
        st.out.print(f"no inference records of {model} match; log some with reg.log_inference(...), a live handle "
                     "(reg.live(..., log=True)) or: modelreg log-inferences FILE.jsonl", soft_wrap=True)
        return
    st.out.print(records_table(page.items))
    if page.next_cursor:
        st.out.print(f"more: add --cursor {page.next_cursor}", style="dim", soft_wrap=True)


@app.command("inference")
def inference(ctx: typer.Context, request_id: RequestArg, as_json: JsonOpt = False) -> None:
    """Show one inference record with its outputs and feedback.

    \b
    Example: modelreg inference 3f2a9c0d…
    """
    st = state(ctx)
    r = st.registry().get_inference(request_id)
    if as_json:
        emit_json(r)
        return
    latency = "-" if r.latency_ms is None else f"{r.latency_ms:.1f} ms"
    st.out.print(f"{r.request_id}  {r.project}/{r.model}:v{r.version}  {when(r.time)}  {r.status}  {latency}",
                 soft_wrap=True, markup=False)
    for label, value in (("client request id", r.client_request_id), ("input", r.input_ref), ("error", r.error)):
        if value:
            st.out.print(f"{label}: {value}", soft_wrap=True, markup=False)
    if r.input is not None:
        st.out.print("inline input: " + json.dumps(r.input)[:2000], soft_wrap=True, markup=False)
    st.out.print("outputs: " + json.dumps(r.outputs, indent=2), soft_wrap=True, markup=False)
    for f in r.feedback:
        said = f"label {f.label}" if f.label is not None else ""
        fixed = f"corrected {json.dumps(f.corrected)[:400]}" if f.corrected is not None else ""
        agreed = {True: "agrees", False: "disagrees"}.get(f.agrees, "") if f.agrees is not None else ""
        parts = ", ".join(p for p in (said, fixed, agreed, f.note) if p)
        st.out.print(f"feedback {when(f.created_at)} by {f.author or '-'} ({f.source}): {parts}", soft_wrap=True,
                     markup=False)


@app.command("log-inferences")
def log_inferences(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="FILE", help="JSON lines (one record per line); - for stdin.")],
    model: Annotated[str | None, typer.Option(
        "--model", metavar="MODEL", help="The model of records that name none.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Log inference records from a JSON-lines file, in batches of 5,000 (each batch all or none).

    Each line: {"model": "fire-detector", "version": 3, "outputs": {...}, "latency_ms": 12.5, "input_ref":
    "s3://…", "request_id": "…"}; see log_inference in the Python reference for every field.

    \b
    Example: modelreg log-inferences served.jsonl --model fire-detector
    """
    st = state(ctx)
    reg = st.registry()
    stream = sys.stdin if source == "-" else open(Path(source), encoding="utf-8")  # noqa: SIM115
    stored, batch, line_no = 0, [], 0
    try:
        for line_no, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record: Any = json.loads(line)
            except ValueError as exc:
                raise typer.BadParameter(f"line {line_no} is not JSON ({exc}); {stored} records were logged "
                                         "before it", param_hint="FILE") from None
            if model and isinstance(record, dict):
                record.setdefault("model", model)
            batch.append(record)
            if len(batch) >= BATCH:
                stored += reg.log_inferences(batch).accepted
                batch = []
                if not as_json:
                    st.err.print(f"logged {stored:,} records", style="dim")
        if batch:
            stored += reg.log_inferences(batch).accepted
    finally:
        if stream is not sys.stdin:
            stream.close()
    if as_json:
        emit_json({"accepted": stored})
        return
    st.out.print(f"logged {stored:,} inference records from {source}")


@app.command("inference-stats")
def inference_stats(
    ctx: typer.Context,
    model: ModelArg,
    version: Annotated[list[int] | None, typer.Option(
        "--version", "-v", metavar="N", help="Only these versions (repeat); default: every version with records.")]
    = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Live figures per version: volume, errors, latency p50/p95, agreement with feedback (default: last 24 h).

    \b
    Example: modelreg inference-stats fire-detector --since 7d
    """
    st = state(ctx)
    rows = st.registry().inference_stats(model, versions=version, since=parse_time(since, "--since"),
                                         until=parse_time(until, "--until"))
    if as_json:
        emit_json(rows)
        return
    if not rows:
        st.out.print(f"{model} has no inference records in this window", soft_wrap=True)
        return
    st.out.print(stats_table(rows))


@feedback_app.command("add")
def feedback_add(
    ctx: typer.Context,
    request_id: RequestArg,
    label: Annotated[str | None, typer.Option(
        "--label", "-l", help="The right class, from the project's label set.")] = None,
    corrected: Annotated[str | None, typer.Option(
        "--corrected", metavar="JSON|@FILE",
        help='The right output as JSON, e.g. {"detections": [{"class": "fire", "box": [10, 20, 110, 220]}]}, '
             "or @file.json.")] = None,
    source: Annotated[str, typer.Option("--source", help="human or auto.")] = "human",
    author: Annotated[str | None, typer.Option("--author", help="Who judged it (default: you).")] = None,
    note: Annotated[str, typer.Option("--note", help="Why, in a few words.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Attach a judgement or a corrected output to an inference record (the newest one wins for exports).

    \b
    Example: modelreg feedback add 3f2a9c0d… --label smoke --note "steam, not smoke"
    """
    st = state(ctx)
    value: Any = None
    if corrected is not None:
        text = Path(corrected[1:]).read_text(encoding="utf-8") if corrected.startswith("@") else corrected
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise typer.BadParameter(f"is not JSON ({exc})", param_hint="--corrected") from None
    saved = st.registry().feedback(request_id, label=label, corrected=value, source=source,  # type: ignore[arg-type]
                                   author=author, note=note)
    if as_json:
        emit_json(saved)
        return
    verdict = {True: " (the model agreed)", False: " (the model answered otherwise)"}.get(saved.agrees, "") \
        if saved.agrees is not None else ""
    st.out.print(f"feedback on {request_id}: {saved.label or 'corrected output'}{verdict}", soft_wrap=True,
                 markup=False)


@feedback_app.command("export")
def feedback_export(
    ctx: typer.Context,
    model: ModelArg,
    to: Annotated[Path, typer.Option("--to", metavar="DIR", help="A new (or empty) folder to write.")],
    format: Annotated[str, typer.Option(
        "--format", "-f", help=f"One of {', '.join(FEEDBACK_FORMATS)}: jsonl keeps everything; yolo and coco "
                               "write boxes for detection training.")] = "jsonl",
    version: VersionOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="The dataset's name in dataset.json (default: MODEL-feedback).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the corrected samples of a model's traffic as a training set, with its dataset reference.

    dataset.json in the folder is the dataset reference (name, version, digest, counts, classes, and which
    versions' traffic it came from): register the model trained on it with --dataset DIR/dataset.json.

    \b
    Example: modelreg feedback export fire-detector --since 7d --format yolo --to data/corrections-w49
    """
    st = state(ctx)
    done = st.registry().export_feedback(model, to, format=format, version=version,  # type: ignore[arg-type]
                                         since=parse_time(since, "--since"), until=parse_time(until, "--until"),
                                         dataset_name=name)
    if as_json:
        emit_json(done)
        return
    skipped = f" ({done.skipped} judged records had nothing this format can hold)" if done.skipped else ""
    st.out.print(f"wrote {done.samples:,} sample(s) to {done.path} as {done.format}{skipped}", soft_wrap=True,
                 markup=False)
    st.out.print(f"dataset {done.dataset.name} {done.dataset.version} {done.dataset.digest}", soft_wrap=True,
                 markup=False)
    st.out.print(f"register the model trained on it with: --dataset {Path(done.path) / 'dataset.json'}",
                 style="dim", soft_wrap=True, markup=False)


@feedback_app.callback()
def _feedback_group() -> None:
    """Judge inference records, and export the corrections as a training set."""
