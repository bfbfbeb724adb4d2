"""A version report as Markdown, for a pull request, a wiki page or an email."""

from __future__ import annotations

import json

from modelreg.metric_text import format_metric
from modelreg.types import ClassMetric, Epoch, Evaluation, Event, Export, Lineage, Version


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines + [""]


def _class_table(rows: list[ClassMetric]) -> list[str]:
    """Per-class rows under their canonical names; each row's other metrics as more columns."""
    others = list(dict.fromkeys(name for c in rows for name in c.metrics))

    def cell(name: str, value: float | None) -> str:
        return format_metric(name, value) if value is not None else ""

    return _table(["class", "type", "AP", "precision", "recall", "train", "val", *others], [
        [c.class_name, c.annotation_type or "", cell("ap", c.ap), cell("precision", c.precision),
         cell("recall", c.recall), *("" if n is None else str(n) for n in (c.training_count, c.validation_count)),
         *(cell(name, c.metrics.get(name)) for name in others)] for c in rows])


def _evaluations(rows: list[Evaluation]) -> list[str]:
    """One row per dataset with its metrics as columns, then each dataset's per-class rows."""
    names = list(dict.fromkeys(name for e in rows for name in e.metrics))
    out = ["## Evaluations", ""] + _table(["dataset", "digest", *names, "logged", "notes"], [
        [e.dataset, e.digest, *(format_metric(n, e.metrics[n]) if n in e.metrics else "" for n in names),
         f"{e.created_at.isoformat()} by {e.created_by}", e.notes.replace("\n", " ")] for e in rows])
    for e in rows:
        if e.class_metrics:
            out += [f"### Per class on {e.dataset}", ""] + _class_table(e.class_metrics)
    return out


def render_markdown(version: Version, history: list[Epoch], lineage: Lineage, events: list[Event],
                    exports: list[Export] | None = None, evaluations: list[Evaluation] | None = None) -> str:
    flags = [f for f, on in (("ACTIVE", "production" in version.aliases), ("BEST", version.is_best),
                             ("PINNED", version.pinned), ("ARCHIVED", version.archived)) if on]
    out = [f"# {version.ref}" + (f" [{', '.join(flags)}]" if flags else ""), ""]
    out += [f"- status: {version.status}", f"- created: {version.created_at.isoformat()} by {version.created_by}"]
    if version.aliases:
        out.append(f"- aliases: {', '.join(version.aliases)}")
    if version.parent:
        out.append(f"- parent: {version.parent}")
    if version.training and version.training.duration_s is not None:
        out.append(f"- training time: {version.training.duration_s / 3600:.2f}h")
    out.append("")
    for title, text in (("Description", version.description), ("Notes", version.notes),
                        ("Limitations", version.limitations)):
        if text:
            out += [f"## {title}", "", text, ""]
    if version.changelog:
        out += ["## Changelog", ""] + [f"- {c}" for c in version.changelog] + [""]
    if version.metrics:
        out += ["## Metrics", ""] + _table(["metric", "value"],
                                           [[k, format_metric(k, v)] for k, v in sorted(version.metrics.items())])
    if version.class_metrics:
        out += ["## Per-class results", ""] + _class_table(version.class_metrics)
    if evaluations:
        out += _evaluations(evaluations)
    if version.params:
        out += ["## Parameters", "", "```json", json.dumps(version.params, indent=2, sort_keys=True), "```", ""]
    if version.dataset:
        out += ["## Dataset", "", "```json", version.dataset.model_dump_json(indent=2, exclude_none=True), "```",
                ""]
    if version.artifacts:
        out += ["## Files", ""] + _table(["path", "size", "sha256"],
                                         [[a.path, _size(a.size), a.digest.removeprefix("sha256:")[:16]]
                                          for a in version.artifacts])
    if history:
        names = sorted({k for e in history for k in e.metrics})
        out += ["## Training history", ""] + _table(
            ["epoch", *names], [[str(e.epoch), *(format_metric(n, e.metrics[n]) if n in e.metrics else ""
                                                 for n in names)] for e in history])
    if lineage.ancestors or lineage.descendants:
        out += ["## Lineage", ""]
        out += [f"- ancestor: {a}" for a in lineage.ancestors] + [f"- descendant: {d}" for d in lineage.descendants]
        out.append("")
    if exports:
        out += ["## Exports", ""] + _table(
            ["format", "status", "options", "max abs diff", "latency p50", "size", "toolchain"],
            [[e.format, e.status, export_options_text(e), _parity(e), export_speed_text(e), _size(e.size),
              ", ".join(f"{k} {v}" for k, v in sorted(e.toolchain.items()))] for e in exports])
    if events:
        out += ["## Events", ""] + _table(["when", "who", "what"],
                                          [[e.at.isoformat(timespec="seconds"), e.actor, e.action] for e in events])
    return "\n".join(out)



def export_options_text(e: Export) -> str:
    """``dynamic, 1x3x640x640, fp16, opset 18``: an export's options in one line."""
    o = e.options
    parts = ["dynamic" if o.dynamic_batch else "static"]
    if o.input_shapes:
        parts.append(" ".join("x".join(str(d) for d in s) for s in o.input_shapes))
    parts += [name for name, on in (("fp16", o.half), ("simplify", o.simplify)) if on]
    return ", ".join(parts + ([f"int8 {o.int8}"] if o.int8 else []) + ([f"opset {o.opset}"] if o.opset else []))


def export_speed_text(e: Export) -> str:
    """``b1 1.2 ms · b16 9.8 ms``: the exported runtime's p50 latency per batch size."""
    rows = [r for r in (e.bench.rows if e.bench else []) if r.runtime != "pytorch-eager"]
    return " · ".join(f"b{r.batch} {r.p50_ms:.3g} ms" for r in rows) or "-"


def _parity(e: Export) -> str:
    if e.parity is None:
        return "-"
    if not e.parity.outputs:
        return e.parity.reason or "-"
    return f"{max(o.max_abs_diff for o in e.parity.outputs):.2g}"
