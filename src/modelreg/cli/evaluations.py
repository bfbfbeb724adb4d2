"""Evaluations after training: ``evaluate`` (log one on a named dataset) and ``evaluations`` (list them)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from modelreg.cli.common import JsonOpt, RefArg, VersionRefArg, parse_metrics, read_class_metrics_file, state
from modelreg.cli.output import emit_json, when
from modelreg.metric_text import format_metric
from modelreg.types import Evaluation

app = typer.Typer()

DatasetOpt = Annotated[str, typer.Option(
    "--dataset", "-D", metavar="NAME", help="The dataset evaluated on, a name without '.', e.g. night_images.")]
EvalMetricOpt = Annotated[list[str] | None, typer.Option(
    "--metric", "-m", metavar="NAME=VALUE", help="A metric measured on the dataset, e.g. -m map50=0.81 (repeat).")]
EvalClassMetricsOpt = Annotated[Path | None, typer.Option(
    "--class-metrics", exists=True, dir_okay=False,
    help="A JSON list of per-class rows on the dataset: [{\"class_name\": \"fire\", \"ap\": 0.8}, ...].")]
EvalNotesOpt = Annotated[str, typer.Option("--notes", help="Free text: how the evaluation was run.")]
EvalDigestOpt = Annotated[str, typer.Option(
    "--digest", metavar="REF", help="Which copy of the dataset, optional: sha256:3f2a…, a tag.")]


def evaluations_table(rows: Sequence[Evaluation]) -> Table:
    """One row per dataset: its metrics (one column each, as every dataset names them), classes, when, by whom."""
    names = list(dict.fromkeys(name for e in rows for name in e.metrics))
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("dataset")
    digests = any(e.digest for e in rows)
    if digests:
        table.add_column("digest")
    for name in names:
        table.add_column(name, justify="right")
    for column in ("classes", "logged", "by"):
        table.add_column(column, justify="right" if column == "classes" else "left")
    for e in rows:
        cells = [Text(format_metric(n, e.metrics[n])) if n in e.metrics else Text("-", style="dim") for n in names]
        copy = [Text(e.digest or "-")] if digests else []
        table.add_row(e.dataset, *copy, *cells, str(len(e.class_metrics)) if e.class_metrics else "-",
                      when(e.created_at), Text(e.created_by or "-"))
    return table


def print_evaluation(out: Console, e: Evaluation) -> None:
    shown = ", ".join(f"{name}={format_metric(name, value)}" for name, value in e.metrics.items())
    copy = f" ({e.digest})" if e.digest else ""
    classes = f" ({len(e.class_metrics)} classes)" if e.class_metrics else ""
    out.print(f"{e.dataset}{copy}: {shown or 'no metrics'}{classes}", soft_wrap=True, markup=False)


@app.command("evaluate")
def evaluate(
    ctx: typer.Context,
    ref: VersionRefArg,
    dataset: DatasetOpt,
    metric: EvalMetricOpt = None,
    class_metrics: EvalClassMetricsOpt = None,
    notes: EvalNotesOpt = "",
    digest: EvalDigestOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Log an evaluation of a version on a named dataset.

    Logging the same dataset again replaces its evaluation (the events log keeps the one before); the
    version's training metrics stay as they are. Filters and gates read it as eval.<dataset>.<metric>.

    \b
    Example: modelreg evaluate fire-detector:5 --dataset night_images -m map50=0.81 -m recall=0.77
    """
    st = state(ctx)
    rows = read_class_metrics_file(class_metrics) if class_metrics else None
    evaluation = st.registry().log_evaluation(ref, dataset=dataset, metrics=parse_metrics(metric),
                                              class_metrics=rows, notes=notes, digest=digest)
    if as_json:
        emit_json(evaluation)
        return
    st.out.print(f"evaluated {ref} on {evaluation.dataset}", soft_wrap=True)
    print_evaluation(st.out, evaluation)


@app.command("evaluations")
def evaluations(ctx: typer.Context, ref: RefArg, as_json: JsonOpt = False) -> None:
    """List a version's evaluations, one per dataset.

    \b
    Example: modelreg evaluations fire-detector@production
    """
    st = state(ctx)
    found = st.registry().list_evaluations(ref)
    if as_json:
        emit_json(found)
        return
    if not found:
        st.out.print(f"{ref} has no evaluations; log one with: modelreg evaluate {ref} --dataset NAME "
                     "-m map50=0.8", soft_wrap=True)
        return
    st.out.print(evaluations_table(found))
