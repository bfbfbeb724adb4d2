"""Reading across versions: ``compare``, ``history``, ``lineage``, ``report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from modelreg.cli.common import JsonOpt, RefArg, state
from modelreg.cli.output import delta_text, emit_json, lower_is_better, plain, short_ref, when
from modelreg.metric_text import format_metric, is_fraction
from modelreg.types import Comparison

app = typer.Typer()


def _labels(refs: list[str]) -> list[str]:
    """Column headers: ``v4`` when every version belongs to one model, else the short reference."""
    models = {r.rsplit(":", 1)[0] for r in refs}
    return [r.rsplit(":", 1)[1] if len(models) == 1 else short_ref(r) for r in refs]


def _value_cell(name: str, value: float | None, delta: float | None, *, first: bool, lower_better: bool,
                digits: int) -> Text:
    if value is None:
        return Text("-", style="dim")
    cell = Text(format_metric(name, value))
    if not first and delta is not None:
        cell.append(" ")
        cell.append_text(delta_text(delta, lower_better=lower_better, digits=digits))
    return cell


def _row(name: str, values: list[float | None], deltas: list[float | None], *, lower_better: bool) -> list[Text]:
    """One metric's cells: each value as the metric reads, with its difference from the first."""
    counts = all(v is None or (v.is_integer() and not is_fraction(name)) for v in values)
    return [_value_cell(name, v, d, first=i == 0, lower_better=lower_better, digits=0 if counts else 4)
            for i, (v, d) in enumerate(zip(values, deltas, strict=True))]


def comparison_tables(c: Comparison, *, hide_identical: bool) -> list[Table]:
    labels = _labels(c.versions)
    tables: list[Table] = []

    def table(title: str, first: str) -> Table:
        t = Table(title=title, title_justify="left", title_style="bold", box=None, pad_edge=False,
                  header_style="bold")
        t.add_column(first)
        for label in labels:
            t.add_column(label, justify="right")
        return t

    metrics = table("metrics (difference from the first version)", "metric")
    for m in c.metrics:
        if hide_identical and len(set(m.values)) == 1:
            continue
        metrics.add_row(m.name, *_row(m.name, m.values, m.deltas, lower_better=lower_is_better(m.name)))
    if metrics.row_count:
        tables.append(metrics)
    evaluations = table("evaluations (difference from the first version)", "eval.dataset.metric")
    for m in c.evaluations:
        if hide_identical and len(set(m.values)) == 1:
            continue
        metric = m.name.split(".", 2)[-1]
        evaluations.add_row(m.name, *_row(metric, m.values, m.deltas, lower_better=lower_is_better(metric)))
    if evaluations.row_count:
        tables.append(evaluations)
    if c.class_ap:
        per_class = table("per-class AP", "class")
        for row in c.class_ap:
            if hide_identical and len(set(row.values)) == 1:
                continue
            per_class.add_row(row.class_name, *_row("ap", row.values, row.deltas, lower_better=False))
        if per_class.row_count:
            tables.append(per_class)
    params = table("params" + (" (differences only)" if hide_identical else ""), "param")
    for p in c.params:
        if hide_identical and p.identical:
            continue
        style = "dim" if p.identical else "bold"
        params.add_row(p.name, *[Text("-" if v is None else plain(v), style=style) for v in p.values])
    if params.row_count:
        tables.append(params)
    return tables


@app.command("compare")
def compare(
    ctx: typer.Context,
    refs: Annotated[list[str], typer.Argument(metavar="REF REF...", help="Two or more versions.")],
    hide_identical: Annotated[bool, typer.Option(
        "--hide-identical", help="Leave out params, metrics and classes that are the same everywhere.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Compare versions: metrics, per-class AP, params.

    Metrics show their difference from the first version (green better, red worse).

    \b
    Example: modelreg compare fire-detector:4 fire-detector:5 --hide-identical
    """
    st = state(ctx)
    comparison = st.registry().compare(refs)
    if as_json:
        emit_json(comparison)
        return
    tables = comparison_tables(comparison, hide_identical=hide_identical)
    if not tables:
        st.out.print("the versions have no metrics or params to compare" +
                     (" that differ" if hide_identical else ""))
    for i, t in enumerate(tables):
        if i:
            st.out.print()
        st.out.print(t)


@app.command("history")
def history(
    ctx: typer.Context,
    ref: RefArg,
    metric: Annotated[list[str] | None, typer.Option(
        "--metric", "-m", help="Only these metric columns (repeat).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a version's training history, one row per epoch.

    \b
    Example: modelreg history fire-detector:5 -m train_loss -m val_loss -m map50
    """
    st = state(ctx)
    epochs = st.registry().history(ref)
    if as_json:
        emit_json(epochs)
        return
    if not epochs:
        st.out.print(f"{short_ref(ref)} has no training history (register it with --history results.csv)")
        return
    names: list[str] = list(metric or [])
    if not names:
        for e in epochs:
            names.extend(n for n in e.metrics if n not in names)
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("epoch", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("time")
    for e in epochs:
        table.add_row(str(e.epoch), *[f"{e.metrics[n]:.4f}" if n in e.metrics else "-" for n in names],
                      when(e.timestamp))
    st.out.print(table)


@app.command("lineage")
def lineage(ctx: typer.Context, ref: RefArg, as_json: JsonOpt = False) -> None:
    """Show a version's parents and descendants.

    Parents are followed across models.

    \b
    Example: modelreg lineage fire-detector:5
    """
    st = state(ctx)
    result = st.registry().lineage(ref)
    if as_json:
        emit_json(result)
        return
    chain = [short_ref(str(k)) for k in reversed(result.ancestors)]
    root = Tree(Text(chain[0] if chain else short_ref(result.version), style="bold" if not chain else ""))
    node = root
    for name in chain[1:]:
        node = node.add(name)
    if chain:
        node = node.add(Text(short_ref(result.version), style="bold"))
    for child in result.descendants:
        node.add(short_ref(str(child)))
    st.out.print(root)
    if not chain and not result.descendants:
        st.out.print(Text("no parent and nothing derived from it", style="dim"))


@app.command("report")
def report(
    ctx: typer.Context,
    ref: RefArg,
    fmt: Annotated[Literal["markdown", "json"], typer.Option(
        "--format", help="markdown (for a pull request or a wiki) or json.")] = "markdown",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", dir_okay=False, help="Write to this file instead of stdout.")] = None,
) -> None:
    """Write a full report of a version.

    Metadata, files, aliases, training history, lineage and events.

    \b
    Example: modelreg report fire-detector@production -o report.md
    """
    st = state(ctx)
    text = st.registry().report(ref, fmt)
    if output is None:
        typer.echo(text)
        return
    output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    st.err.print(f"wrote {fmt} report of {short_ref(ref)} to {output}", soft_wrap=True)
