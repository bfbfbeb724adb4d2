"""Value rules both metadata stores share: JSON values, filter times and keyset cursors.

One definition keeps the in-memory fake and the SQL store answering alike (the same JSON round trip,
the same refusals of NaN and of text that cannot be stored, the same cursor checks).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python

from modelreg.errors import InvalidFilter, InvalidMetadata
from modelreg.filters import Field
from modelreg.text import check_storable


def _jsonable_fallback(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    return item() if callable(item) else str(value)


def to_json_value(value: Any, *, field_name: str) -> Any:
    """A metadata value as plain JSON data; NaN/inf anywhere inside raise InvalidMetadata naming the field."""
    check_storable(value, field_name)  # first: too deep a value would overflow the serialiser
    data = to_jsonable_python(value, fallback=_jsonable_fallback)
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise InvalidMetadata(f"{field_name} contains {item}, which cannot be stored",
                                  hint="replace it with null or leave it out", field=field_name)
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    check_storable(data, field_name)
    return data


def dump_json(value: Any, *, field_name: str) -> str | None:
    """JSON text of a metadata value (``None`` stays ``None``, as SQL NULL)."""
    if value is None:
        return None
    return json.dumps(to_json_value(value, field_name=field_name), separators=(",", ":"))


def epoch_stride(count: int, max_rows: int) -> int:
    """Keep every stride-th of ``count`` epoch rows (plus the last) so that at most ``max_rows`` remain."""
    return max(1, -(-count // max(1, max_rows - 1)))


def parse_time_value(value: Any) -> datetime:
    """An ISO time from a filter or cursor as an aware UTC datetime (naive means UTC)."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidFilter(f"{value!r} is not a time", hint="use ISO 8601, e.g. '2024-05-01T12:00:00Z'",
                            value=str(value)) from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def check_cursor(cursor: list[Any] | None, field_: Field | None) -> tuple[Any, int] | None:
    """Validate a decoded ``[sort_value, id]`` cursor (``[id]`` when ``field_`` is None)."""
    if cursor is None:
        return None
    bad = InvalidFilter("the cursor is not valid", hint="pass back next_cursor exactly as it was returned")
    expected = 1 if field_ is None else 2
    if not isinstance(cursor, list) or len(cursor) != expected:
        raise bad
    last_id = cursor[-1]
    if isinstance(last_id, bool) or not isinstance(last_id, int):
        raise bad
    if field_ is None or cursor[0] is None:
        return None, last_id
    value = cursor[0]
    kind = field_.type
    if kind == "num" and (isinstance(value, bool) or not isinstance(value, (int, float))
                          or not math.isfinite(value)):
        raise bad
    if kind == "bool" and not isinstance(value, bool):
        raise bad
    if kind in ("str", "status", "time") and not isinstance(value, str):
        raise bad
    if kind == "time":
        try:
            value = parse_time_value(value)
        except InvalidFilter as exc:
            raise bad from exc
    return value, last_id


def cursor_value(value: Any) -> Any:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


def nearest_rank(ordered: Sequence[float], p: float) -> float | None:
    """The ``p`` quantile of sorted values by nearest rank (the smallest value with at least a share ``p`` of
    them at or below it); None for no values. Live latency figures use it on every store."""
    if not ordered:
        return None
    return float(ordered[max(0, math.ceil(p * len(ordered)) - 1)])
