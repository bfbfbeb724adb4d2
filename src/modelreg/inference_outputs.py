"""The shapes an inference's outputs (and a corrected output) take, declared once for every reader: the service's
agreement check, the feedback exports, the dashboard and the live handle.

- **detections**: a list of ``{"class": "fire", "score": 0.91, "box": [x1, y1, x2, y2]}``, or an object holding
  that list under ``detections`` (with the image's ``width`` and ``height`` when boxes are in pixels);
- **a class**: ``{"class": "ng", "score": 0.97}``;
- **a value**: ``{"value": 3.2}`` or a bare number.

Boxes are corner coordinates, in pixels or normalised to 0..1 (all four within 0..1 is read as normalised).
Anything else is kept as given and shown as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DETECTIONS = "detections"
CLASS = "class"
VALUE = "value"
BOX = "box"
SCORE = "score"


def detections_of(outputs: Any) -> list[Mapping[str, Any]] | None:
    """The detections ``outputs`` holds, or None when it is not a detection output."""
    items = outputs.get(DETECTIONS) if isinstance(outputs, Mapping) else outputs
    if isinstance(items, list) and all(isinstance(d, Mapping) and CLASS in d for d in items):
        if items or isinstance(outputs, Mapping):  # an empty list alone could be anything; {"detections": []} not
            return list(items)
    return None


def class_of(outputs: Any) -> str | None:
    """The class a classification output names, or None."""
    if isinstance(outputs, Mapping) and DETECTIONS not in outputs and isinstance(outputs.get(CLASS), str):
        return str(outputs[CLASS])
    return None


def value_of(outputs: Any) -> float | None:
    if isinstance(outputs, bool):
        return None
    if isinstance(outputs, (int, float)):
        return float(outputs)
    if isinstance(outputs, Mapping) and isinstance(outputs.get(VALUE), (int, float)) \
            and not isinstance(outputs.get(VALUE), bool):
        return float(outputs[VALUE])
    return None


def classes_named(outputs: Any) -> list[str]:
    """Every class name an output or a correction uses (a classification's class, each detection's class)."""
    found = detections_of(outputs)
    if found is not None:
        return [str(d[CLASS]) for d in found]
    single = class_of(outputs)
    return [] if single is None else [single]


def agrees(outputs: Any, *, label: str | None, corrected: Any) -> bool | None:
    """Whether the model's outputs match a judgement: a ``label`` against the class it answered; a corrected
    output against the outputs (detections: the same classes, as many of each; a class: the same class; otherwise
    equal JSON). None where it cannot be told (a label on a detection output)."""
    if corrected is not None:
        mine, right = detections_of(outputs), detections_of(corrected)
        if mine is not None and right is not None:
            return sorted(str(d[CLASS]) for d in mine) == sorted(str(d[CLASS]) for d in right)
        if class_of(corrected) is not None:
            return class_of(outputs) == class_of(corrected)
        return bool(outputs == corrected)
    if label is not None:
        answered = class_of(outputs)
        return None if answered is None else answered == label
    return None


def box_xywhn(box: Sequence[Any], width: float | None,
             height: float | None) -> tuple[float, float, float, float] | None:
    """A corner box as YOLO's normalised centre, width and height; None when it cannot be normalised (pixels
    without the image's size) or is not four numbers."""
    if not isinstance(box, Sequence) or len(box) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
        return None
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(0.0 <= v <= 1.0 for v in (x1, y1, x2, y2)):
        if not width or not height:
            return None
        x1, x2, y1, y2 = x1 / width, x2 / width, y1 / height, y2 / height
    x1, x2 = sorted((min(max(x1, 0.0), 1.0), min(max(x2, 0.0), 1.0)))
    y1, y2 = sorted((min(max(y1, 0.0), 1.0), min(max(y2, 0.0), 1.0)))
    return (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1


def image_size(*documents: Any) -> tuple[float | None, float | None]:
    """The image's ``width`` and ``height`` from the first document that gives both."""
    for doc in documents:
        if isinstance(doc, Mapping):
            w, h = doc.get("width"), doc.get("height")
            if isinstance(w, (int, float)) and isinstance(h, (int, float)) and w > 0 and h > 0:
                return float(w), float(h)
    return None, None


def summary(outputs: Any, *, top: int = 3) -> str:
    """A few words for a table cell: ``3 detections: fire 0.91, smoke 0.72, …``, ``ng 0.97``, ``3.2``."""
    found = detections_of(outputs)
    if found is not None:
        ranked = sorted(found, key=lambda d: -float(d.get(SCORE) or 0.0))
        parts = [f"{d[CLASS]} {float(d[SCORE]):.2f}" if isinstance(d.get(SCORE), (int, float)) else str(d[CLASS])
                 for d in ranked[:top]]
        more = ", …" if len(found) > top else ""
        noun = "detection" if len(found) == 1 else "detections"
        return f"{len(found)} {noun}" + (": " + ", ".join(parts) + more if parts else "")
    cls = class_of(outputs)
    if cls is not None:
        score = outputs.get(SCORE)
        return f"{cls} {float(score):.2f}" if isinstance(score, (int, float)) and not isinstance(score, bool) else cls
    value = value_of(outputs)
    if value is not None:
        return f"{value:g}"
    return "" if outputs is None else "…"
