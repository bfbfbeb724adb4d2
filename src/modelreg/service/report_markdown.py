"""A version report as Markdown, for a pull request, a wiki page or an email."""

from __future__ import annotations

import json

from modelreg.types import Epoch, Event, Lineage, Version


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


def render_markdown(version: Version, history: list[Epoch], lineage: Lineage, events: list[Event]) -> str:
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
                                           [[k, f"{v:.4f}"] for k, v in sorted(version.metrics.items())])
    if version.class_metrics:
        rows = [[c.class_name, c.annotation_type or "", *(f"{x:.4f}" if x is not None else "" for x in
                                                          (c.ap, c.precision, c.recall)),
                 str(c.training_count or ""), str(c.validation_count or "")] for c in version.class_metrics]
        out += ["## Per-class results", ""] + _table(
            ["class", "type", "AP", "precision", "recall", "train", "val"], rows)
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
            ["epoch", *names], [[str(e.epoch), *(f"{e.metrics[n]:.4f}" if n in e.metrics else "" for n in names)]
                                for e in history])
    if lineage.ancestors or lineage.descendants:
        out += ["## Lineage", ""]
        out += [f"- ancestor: {a}" for a in lineage.ancestors] + [f"- descendant: {d}" for d in lineage.descendants]
        out.append("")
    if events:
        out += ["## Events", ""] + _table(["when", "who", "what"],
                                          [[e.at.isoformat(timespec="seconds"), e.actor, e.action] for e in events])
    return "\n".join(out)
