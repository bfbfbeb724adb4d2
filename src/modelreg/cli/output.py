"""How the CLI shows things: JSON, sizes and times, the one-line version summary, tables, progress bars."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from modelreg.metric_text import format_metric, metric_label, metric_value
from modelreg.types import PRODUCTION, Version

ACTIVE_ALIAS = PRODUCTION  # the "active" model, marked ✓


# ---- JSON: pydantic's model_dump(mode="json"), nothing else on stdout
def jsonable(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, datetime):
        return obj.isoformat()
    return obj


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(jsonable(data), indent=2, ensure_ascii=False))


# ---- small formats
def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def when(dt: datetime | None) -> str:
    """A timestamp in the user's local time, to the minute."""
    return dt.astimezone().strftime("%Y-%m-%d %H:%M") if dt else "-"


def short_ref(ref: str) -> str:
    """``default/fire-detector:v3`` reads as ``fire-detector:v3``."""
    return ref.removeprefix("default/")


def version_label(project: str, model: str, number_: int) -> str:
    return short_ref(f"{project}/{model}:v{number_}")


def numbered(v: Version) -> str:
    """A version's number with its label, if any: ``v7 (v4_no_leakage)``."""
    return f"v{v.number} ({v.label})" if v.label else f"v{v.number}"


def titled(v: Version) -> str:
    """A version's short reference with its label, if any: ``fire-detector:v7 (v4_no_leakage)``."""
    return f"{short_ref(v.ref)} ({v.label})" if v.label else short_ref(v.ref)


def hours_of(v: Version) -> float | None:
    if v.training is None or v.training.duration_s is None:
        return None
    return v.training.duration_s / 3600.0


def flags_of(v: Version) -> list[tuple[str, str]]:
    """The version's markers with their style: [ACTIVE] [BEST] [PINNED] [ARCHIVED] [FAILED] @staging."""
    flags: list[tuple[str, str]] = []
    if ACTIVE_ALIAS in v.aliases:
        flags.append(("[ACTIVE]", "bold green"))
    if v.is_best:
        flags.append(("[BEST]", "yellow"))
    if v.pinned:
        flags.append(("[PINNED]", "cyan"))
    if v.archived:
        flags.append(("[ARCHIVED]", "dim"))
    if v.status != "ready":
        flags.append((f"[{v.status.upper()}]", "red" if v.status == "failed" else "blue"))
    flags.extend((f"@{a}", "magenta") for a in v.aliases if a != ACTIVE_ALIAS)
    return flags


@dataclass(frozen=True)
class MetricView:
    """The metrics a version line or table shows: the model's own metric (``main``) and extra ``columns``."""

    main: str | None = None
    columns: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return ((self.main,) if self.main else ()) + tuple(c for c in self.columns if c != self.main)


def _metric_texts(v: Version, view: MetricView) -> list[tuple[str, str]]:
    return [(metric_label(name), format_metric(name, metric_value(v.metrics, name))) for name in view.names]


def version_line(v: Version, view: MetricView, *, number_width: int = 0,
                 value_widths: Sequence[int] = ()) -> Text:
    """The one-line summary: ``✓ v5 | mAP: 0.9123 | Time: 2.15h [ACTIVE]`` (the model's own metric)."""
    active = ACTIVE_ALIAS in v.aliases
    line = Text.assemble(Text("✓ ", style="bold green") if active else Text("  "),
                         (numbered(v).ljust(number_width), "bold" if active else ""))
    widths = list(value_widths) or [0] * len(view.names)
    for (label, value), width in zip(_metric_texts(v, view), widths, strict=True):
        line.append(f" | {label}: {value.ljust(width)}")
    hrs = hours_of(v)
    line.append(" | Time: " + (f"{hrs:.2f}h" if hrs is not None else "-"))
    for label, style in flags_of(v):
        line.append(" ")
        line.append(label, style=style)
    if v.archived:
        line.stylize("dim")
    return line


def version_lines(versions: Sequence[Version], view: MetricView) -> list[Text]:
    """Version lines whose numbers and metric values line up."""
    width = max((len(numbered(v)) for v in versions), default=2)
    texts = [_metric_texts(v, view) for v in versions]
    value_widths = [max((len(t[i][1]) for t in texts), default=0) for i in range(len(view.names))]
    return [version_line(v, view, number_width=width, value_widths=value_widths) for v in versions]


def versions_table(versions: Sequence[Version], views: Sequence[MetricView], *, with_model: bool = False) -> Table:
    """Versions with their metrics, time, size and flags; ``views[i]`` is version i's (one per model)."""
    one_view = len(set(views)) <= 1
    shared = views[0] if views and one_view else MetricView()
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("")
    table.add_column("version")
    if one_view:
        for name in shared.names:
            table.add_column(metric_label(name), justify="right")
    else:  # models with different metrics: each row says which it shows
        table.add_column("metric", justify="right")
    for column in ("time", "size", "created", "by", "flags"):
        table.add_column(column, justify="right" if column in ("time", "size") else "left")
    for v, view in zip(versions, views, strict=True):
        metrics = [value for _, value in _metric_texts(v, view)] if one_view else [
            "  ".join(f"{label} {value}" for label, value in _metric_texts(v, view)) or "-"]
        hrs = hours_of(v)
        flags = Text(" ").join(Text(label, style=style) for label, style in flags_of(v))
        table.add_row(
            Text("✓", style="bold green") if ACTIVE_ALIAS in v.aliases else "",
            titled(v) if with_model else numbered(v), *metrics,
            f"{hrs:.2f}h" if hrs is not None else "-",
            human_size(v.size), when(v.created_at), v.created_by or "-", flags,
            style="dim" if v.archived else None,
        )
    return table


def grid(rows: Sequence[tuple[str, RenderableType | None]]) -> Table:
    """Key/value rows, keys dim; rows whose value is empty are left out."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    for key, value in rows:
        if value is None or value == "":
            continue
        table.add_row(key, value)
    return table


def plain(value: Any) -> str:
    """A parameter value as text: JSON for structures, as is for scalars."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


# ---- differences, coloured by direction
_LOWER_IS_BETTER = re.compile(r"loss|error|err$|mae|mse|rmse|latency|time|duration|fpr|false|miss", re.I)


def lower_is_better(metric: str) -> bool:
    return bool(_LOWER_IS_BETTER.search(metric))


def delta_text(delta: float | None, *, lower_better: bool = False, digits: int = 4) -> Text:
    if delta is None:
        return Text("")
    if abs(delta) < 0.5 * 10 ** -digits:
        return Text("±0", style="dim")
    better = (delta < 0) if lower_better else (delta > 0)
    return Text(f"{delta:+.{digits}f}", style="green" if better else "red")


# ---- progress bars (stderr, terminals only)
@contextmanager
def transfer(console: Console, *, total: int, label: str, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A byte progress bar; yields the SDK's ``progress=`` callback, or None when disabled."""
    if not enabled or total <= 0:
        yield None
        return
    from rich.progress import (  # only when a bar is shown: a read command never loads it
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda moved: bar.advance(task, moved)


@contextmanager
def staged(console: Console, message: str, *, enabled: bool) -> Iterator[Callable[[str], None]]:
    """A spinner for work that goes through stages: the function it yields names the stage now, shown
    after ``message`` with the time since the work began (``exporting m:3 to onnx · checking … · 6 s``)."""
    started = time.monotonic()
    if not enabled:
        yield lambda stage: None
        return
    with console.status(message) as status:
        def show(stage: str) -> None:
            status.update(f"{message} · {stage} · {time.monotonic() - started:.0f} s")

        yield show


@contextmanager
def working(console: Console, message: str, *, enabled: bool) -> Iterator[None]:
    """A spinner for work that reports no bytes (imports)."""
    if not enabled:
        yield
        return
    with console.status(message):
        yield
