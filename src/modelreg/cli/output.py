"""How the CLI shows things: JSON, sizes and times, the seed-000 version line, tables, progress bars."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from modelreg.types import Version

ACTIVE_ALIAS = "production"  # seed 000's "active" model, marked ✓


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


def map_of(v: Version) -> float | None:
    """Seed 000's mAP: ``metrics.map50``, else ``best_accuracy``."""
    value = v.metrics.get("map50")
    return value if value is not None else v.metrics.get("best_accuracy")


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


def version_line(v: Version, *, number_width: int = 0) -> Text:
    """Seed 000's line: ``✓ v5 | mAP: 0.9123 | Time: 2.15h [ACTIVE]``."""
    active = ACTIVE_ALIAS in v.aliases
    mark = Text("✓ ", style="bold green") if active else Text("  ")
    mp, hrs = map_of(v), hours_of(v)
    line = Text.assemble(
        mark,
        (f"v{v.number}".ljust(number_width), "bold" if active else ""),
        " | mAP: ", (f"{mp:.4f}" if mp is not None else "-".ljust(6)),
        " | Time: ", (f"{hrs:.2f}h" if hrs is not None else "-"),
    )
    for label, style in flags_of(v):
        line.append(" ")
        line.append(label, style=style)
    if v.archived:
        line.stylize("dim")
    return line


def version_lines(versions: Sequence[Version]) -> list[Text]:
    width = max((len(f"v{v.number}") for v in versions), default=2)
    return [version_line(v, number_width=width) for v in versions]


def versions_table(versions: Sequence[Version], *, with_model: bool = False) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("")
    table.add_column("version")
    table.add_column("mAP", justify="right")
    table.add_column("time", justify="right")
    table.add_column("size", justify="right")
    table.add_column("created")
    table.add_column("by")
    table.add_column("flags")
    for v in versions:
        mp, hrs = map_of(v), hours_of(v)
        flags = Text(" ").join(Text(label, style=style) for label, style in flags_of(v))
        table.add_row(
            Text("✓", style="bold green") if ACTIVE_ALIAS in v.aliases else "",
            short_ref(v.ref) if with_model else f"v{v.number}",
            f"{mp:.4f}" if mp is not None else "-",
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
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda moved: bar.advance(task, moved)


@contextmanager
def working(console: Console, message: str, *, enabled: bool) -> Iterator[None]:
    """A spinner for work that reports no bytes (imports)."""
    if not enabled:
        yield
        return
    with console.status(message):
        yield
