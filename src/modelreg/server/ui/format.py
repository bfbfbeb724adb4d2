"""How the dashboard shows values: metrics (the one rule in ``modelreg.metric_text``), times, sizes, deltas,
latencies, shares, and an inference's outputs in a few words (``modelreg.inference_outputs``)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from modelreg.inference_outputs import summary
from modelreg.metric_text import format_metric, metric_label


def now_ts() -> float:
    return time.time()


def ago(when: datetime | None) -> str:
    """``3 min ago``, ``2 d ago``; the exact time goes in the element's title."""
    if when is None:
        return "-"
    seconds = max(0, int(datetime.now(UTC).timestamp() - when.timestamp()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def stamp(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if when else "-"


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


def ms(value: float | None) -> str:
    """A latency: ``8.4 ms``, ``120 ms``."""
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def percent(share: float | None) -> str:
    """A share (0..1) as ``2.5 %``."""
    return "-" if share is None else f"{share * 100:.1f} %"


def delta_class(delta: float | None, mode: str = "max") -> str:
    """``better``/``worse``/``same`` for a difference, by the metric's direction (best_mode)."""
    if delta is None or delta == 0:
        return "same"
    return "better" if (delta > 0) == (mode != "min") else "worse"


def signed(name: str, delta: float | None) -> str:
    if delta is None:
        return ""
    text = format_metric(name, abs(delta))
    return ("+" if delta > 0 else "−" if delta < 0 else "±") + text


def to_json(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` island (``</`` escaped)."""
    text = json.dumps(value, default=str, separators=(",", ":")).replace("</", "<\\/")
    return Markup(text)


def install(env: Environment) -> None:
    env.filters.update(metric=lambda value, name: format_metric(name, value), label=metric_label, ago=ago,
                       stamp=stamp, size=size, duration=duration, signed=lambda delta, name: signed(name, delta),
                       tojson_island=to_json, ms=ms, percent=percent, outputs=summary)
    env.globals.update(delta_class=delta_class)
