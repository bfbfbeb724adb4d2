"""Inference records as JSON lines, the body ``POST /api/v1/inferences`` takes (one object per line)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def ndjson(records: Iterable[Mapping[str, Any]]) -> bytes:
    """One compact JSON object per line; times as ISO 8601. NaN and lone surrogates are written as JSON can
    carry them, for the registry to refuse by field and record rather than this encoder to fail without one."""
    return "\n".join(json.dumps(dict(r) if isinstance(r, Mapping) else r, default=_plain, separators=(",", ":"))
                     for r in records).encode("ascii")
