"""What a live handle records of a model's answer: ``json_outputs(result)`` turns it into JSON of the shapes
``modelreg.inference_outputs`` declares, or None (not recorded) when it cannot.

- JSON already (dicts with text keys, lists, tuples, text, finite numbers, true/false, None): kept as is;
  NumPy and PyTorch scalars and small arrays become numbers and lists;
- an Ultralytics ``Results`` (what ``YOLO(...)(image)`` returns, one per image): a detector's boxes become
  ``{"detections": [{"class", "score", "box": [x1, y1, x2, y2]}], "width", "height"}`` (pixels of the
  original image), a classifier's answer ``{"class", "score"}``; a list of one ``Results`` is that one;
- anything else: None, so the record keeps its time, latency and status without outputs.

Give ``live(..., outputs=fn)`` to record something else; it runs on the serving path, after the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from modelreg.inference_outputs import BOX, CLASS, DETECTIONS, SCORE

MAX_ARRAY = 10_000  # array elements turned into a list; a bigger array is left out (store it by reference)
DIGITS = 4  # scores and box coordinates are rounded to this many decimals


class _NotJson(Exception):
    """Raised inside the conversion when a part of the answer has no JSON form."""


_FLAT = (str, int, bool, type(None))


def json_outputs(result: Any) -> Any:
    """The JSON a live handle records for ``result`` (see the module docstring); None when it has none."""
    if type(result) is dict:  # the common answer, {"class": "ng", "score": 0.97}: a copy, checked flat
        for key, value in result.items():
            kind = type(value)
            if type(key) is not str or not (kind in _FLAT or (kind is float and math.isfinite(value))):
                break
        else:
            return dict(result)
    try:
        if _is_results(result):
            return _results_json(result)
        if isinstance(result, (list, tuple)) and result and all(_is_results(r) for r in result):
            found = [_results_json(r) for r in result]
            return found[0] if len(found) == 1 else found
        return _plain(result)
    except _NotJson:
        return None


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJson
        return value
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise _NotJson
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    tolist = getattr(value, "tolist", None)  # NumPy and PyTorch scalars and arrays
    if callable(tolist) and _size(value) <= MAX_ARRAY:
        detach = getattr(value, "detach", None)
        return _plain((detach().cpu() if callable(detach) else value).tolist())
    raise _NotJson


def _size(value: Any) -> int:
    numel = getattr(value, "numel", None)
    if callable(numel):
        return int(numel())
    size = getattr(value, "size", 1)
    return int(size) if isinstance(size, int) else MAX_ARRAY + 1


def _is_results(value: Any) -> bool:
    """An Ultralytics ``Results`` (told by its shape, so Ultralytics need not be imported)."""
    return type(value).__name__ == "Results" and hasattr(value, "names") and hasattr(value, "boxes") \
        and hasattr(value, "orig_shape")


def _floats(values: Any) -> list[float]:
    return [round(float(v), DIGITS) for v in values]


def _results_json(result: Any) -> dict[str, Any]:
    names: Mapping[int, str] = result.names
    probs = getattr(result, "probs", None)
    if probs is not None and getattr(result, "boxes", None) is None:
        top = int(probs.top1)
        return {CLASS: str(names.get(top, top)), SCORE: round(float(probs.top1conf), DIGITS)}
    boxes = result.boxes
    height, width = (int(v) for v in result.orig_shape[:2])
    out: list[dict[str, Any]] = []
    if boxes is not None and len(boxes):
        for xyxy, score, cls in zip(boxes.xyxy.tolist(), boxes.conf.tolist(), boxes.cls.tolist(), strict=True):
            out.append({CLASS: str(names.get(int(cls), int(cls))), SCORE: round(float(score), DIGITS),
                        BOX: _floats(xyxy)})
    return {DETECTIONS: out, "width": width, "height": height}
