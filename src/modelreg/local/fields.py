"""Checking version metadata: each field of ``VersionFields`` turned into its stored value, or refused with
an error that names the field.

The service checks every write with it; a training run checks what it is given as it is given (``run.set``),
on the user's machine whichever registry is behind, so a bad value fails where it was written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from modelreg.errors import InvalidInput, InvalidMetadata
from modelreg.refs import validate_label, validate_name
from modelreg.text import check_storable
from modelreg.types import (
    ClassMetric,
    DatasetRef,
    Signature,
    SourceInfo,
    TrainingInfo,
    check_metrics,
    class_metric_names,
    given_fields,
)

M = TypeVar("M", bound=BaseModel)
MAX_TEXT = 100_000
MAX_FIELD_BYTES = 1024 * 1024  # one metadata field (params, extra, class_metrics, …) as JSON


def validated(cls: type[M], value: Any, field: str) -> M | None:
    """Build a metadata type from a dict (or keep an instance); InvalidMetadata names the bad field."""
    if value is None or isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise InvalidMetadata(f"{field} must be an object, not {type(value).__name__}", field=field)
    try:
        return cls.model_validate(dict(value))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidMetadata(f"{field}.{where}: {first['msg']}", field=f"{field}.{where}") from exc


def check_class_metrics(items: Any) -> list[ClassMetric]:
    """Per-class rows, each stored under the canonical names; an unknown key is refused with the names."""
    if items is None:
        return []
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise InvalidMetadata("class_metrics must be a list of objects", field="class_metrics")
    out = [_class_row(c, f"class_metrics[{i}]") for i, c in enumerate(items)]
    names = [c.class_name for c in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidMetadata(f"class_metrics name {', '.join(map(repr, twice))} more than once",
                              hint="one row per class", field="class_metrics")
    return out


def _class_row(row: Any, where: str) -> ClassMetric:
    if row is None:
        raise InvalidMetadata(f"{where} is null; it must be an object", field=where)
    try:
        metric = validated(ClassMetric, row, where)
    except InvalidMetadata as exc:
        if exc.message.startswith(where):  # pydantic's own errors already say where
            raise
        raise InvalidMetadata(f"{where}: {exc.message}", hint=exc.hint,
                              field=f"{where}.{exc.details.get('field', '')}".rstrip(".")) from exc
    assert metric is not None
    unknown = sorted(metric.model_extra or {})
    if unknown:
        raise InvalidMetadata(f"{where} has unknown key{'s' if len(unknown) > 1 else ''} "
                              f"{', '.join(map(repr, unknown))}",
                              hint=f"per-class rows take {class_metric_names()}; put other per-class numbers "
                                   'under metrics, e.g. "metrics": {"f1": 0.88}',
                              field=f"{where}.{unknown[0]}")
    return metric


def check_text(value: Any, field: str) -> str:
    """A text field (description, notes, limitations): at most ``MAX_TEXT`` characters, storable."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidMetadata(f"{field} must be text", field=field)
    if len(value) > MAX_TEXT:
        raise InvalidMetadata(f"{field} is {len(value)} characters; the limit is {MAX_TEXT}", field=field)
    check_storable(value, field)
    return value


def check_json(value: Any, field: str) -> dict[str, Any]:
    """A JSON object (params, extra) as stored: finite numbers only, keys as text."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidMetadata(f"{field} must be an object", field=field)

    def finite(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            raise InvalidMetadata(f"{field} holds {x}; NaN and infinite values are not stored", field=field)
        if isinstance(x, Mapping):
            return {str(k): finite(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [finite(v) for v in x]
        return x

    try:
        json.dumps(value, default=str)
    except (TypeError, ValueError) as exc:
        raise InvalidMetadata(f"{field} cannot be stored as JSON: {exc}", field=field) from exc
    return dict(json.loads(json.dumps(finite(value), default=str)))


def check_tags(tags: object, *, field: str = "tags") -> dict[str, str]:
    """Tags of a model or a version: name-like keys, values as text (None: not given)."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidMetadata(f"{field} must be an object of key -> text", field=field)
    out: dict[str, str] = {}
    for key, value in tags.items():
        validate_name(key, kind="tag key")
        if value is None:
            continue
        if not isinstance(value, (str, int, float, bool)):
            raise InvalidMetadata(f"{field}.{key} must be text, not {type(value).__name__}", field=f"{field}.{key}")
        out[key] = str(value)
    check_storable(out, field)
    return out


def _changelog(value: Any, field: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(c, str) for c in value):
        raise InvalidMetadata("changelog must be a list of text entries", field=field)
    return list(value)


def _label(value: Any, field: str) -> str | None:
    return validate_label(value) if value != "" else None  # "" removes a version's label


def _model_of(cls: type[BaseModel]) -> Callable[[Any, str], Any]:
    return lambda value, field: validated(cls, value, field)


# How each stored field of ``VersionFields`` is checked and turned into its store value (``parent`` is a link
# the service resolves itself). A test keeps this table's keys equal to the declaration's.
FIELD_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "metrics": lambda value, field: check_metrics(value),
    "class_metrics": lambda value, field: check_class_metrics(value),
    "params": check_json, "extra": check_json,
    "dataset": _model_of(DatasetRef), "training": _model_of(TrainingInfo), "source": _model_of(SourceInfo),
    "signature": _model_of(Signature),
    "description": check_text, "notes": check_text, "limitations": check_text,
    "changelog": _changelog,
    "tags": lambda value, field: check_tags(value),
    "label": _label,
}


def metadata_changes(**fields: Any) -> dict[str, Any]:
    """Validate whatever metadata is given (None = not given) and return it as store values."""
    given = given_fields(fields)
    if "parent" in given:  # a link: register_version and update_version resolve it themselves
        raise InvalidInput("a run's parent cannot be set here", field="parent",
                           hint="give the parent when the run starts, or change it on the version afterwards")
    for key, value in given.items():
        if not isinstance(value, str):
            check_storable(value, key)  # before anything walks it recursively: too deep, or unstorable text
    out: dict[str, Any] = {key: FIELD_CHECKS[key](value, key) for key, value in given.items()}
    for key, value in out.items():  # every string inside, keys included: no lone surrogate, no NUL
        data = jsonable_fields({key: value})[key]
        check_storable(data, key)
        size = len(json.dumps(data, separators=(",", ":")))
        if size > MAX_FIELD_BYTES:
            raise InvalidMetadata(f"{key} is {size:,} bytes of JSON; the limit is {MAX_FIELD_BYTES:,}",
                                  hint="store large data as a file of the version instead", field=key)
    return out


def jsonable_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Store values as JSON values (metadata types and lists of them as plain objects)."""
    return {k: (v.model_dump(mode="json") if isinstance(v, BaseModel) else
                [x.model_dump(mode="json") if isinstance(x, BaseModel) else x for x in v] if isinstance(v, list)
                else v) for k, v in fields.items()}
