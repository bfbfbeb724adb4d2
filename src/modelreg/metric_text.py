"""How a metric reads, and which metric a listing of a model's versions shows.

The one declaration of both rules; the CLI's version lines, tables, ``info`` and ``compare`` and the Markdown
report use it. JSON output never goes through it: machine data stays unformatted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

# Metrics that are fractions in [0, 1]: shown with 4 decimals (0.9123), as detection results always were.
_FRACTION = re.compile("|".join((
    "map", "^ap", "_ap", "precision", "recall", "accuracy", "^acc", "_acc", "acc$", "f1", "fbeta", "auc", "iou",
    "dice", "jaccard", "ndcg", "mrr", "hit", r"top\d", "fitness")), re.I)
# Metrics that may look like fractions but are not bounded by 1 (losses, errors): shown plainly.
_UNBOUNDED = re.compile(r"loss|error|err$|mae|mse|rmse|perplexity|latency|time|duration", re.I)
SIGNIFICANT_DIGITS = 5  # a loss or an error reads 0.42, 1.2346, 1234.6

# The name a version line gives a metric where users know it by another: ``✓ v5 | mAP: 0.9123 | …``.
LINE_LABELS: dict[str, str] = {"map50": "mAP"}
# A metric that older metadata stores under another name: shown when a version lacks the metric itself
# (``best_accuracy`` is the mAP50 of the ``versions/vN`` metadata.json).
STORED_AS: dict[str, str] = {"map50": "best_accuracy"}


def is_fraction(name: str) -> bool:
    """Whether a metric is a fraction in [0, 1] (mAP, precision, recall, accuracy, F1, AUC, IoU, nDCG, …)."""
    return bool(_FRACTION.search(name)) and not _UNBOUNDED.search(name)


def decimals(name: str, value: float) -> int:
    """How many decimals a metric value reads with: 4 for fractions, none for integers, else 5 significant."""
    if is_fraction(name) and 0.0 <= value <= 1.0:
        return 4
    if not math.isfinite(value) or value.is_integer():
        return 0
    digits_before_point = math.floor(math.log10(abs(value))) + 1
    return max(0, SIGNIFICANT_DIGITS - digits_before_point)


def format_metric(name: str, value: float | None) -> str:
    """``map50`` 0.9123 → ``0.9123``; ``epochs`` 43.0 → ``43``; ``rmse`` 0.42 → ``0.42``; None → ``-``."""
    if value is None:
        return "-"
    places = decimals(name, value)
    text = f"{value:.{places}f}"
    if places and not (is_fraction(name) and 0.0 <= value <= 1.0):
        text = text.rstrip("0").rstrip(".")
    return text


def metric_label(name: str) -> str:
    """What a version line calls a metric: ``mAP`` for map50, else its own name."""
    return LINE_LABELS.get(name, name)


def metric_value(metrics: Mapping[str, float], name: str) -> float | None:
    """A version's value of a metric, read under its older name where the version has only that."""
    value = metrics.get(name)
    if value is None and name in STORED_AS:
        value = metrics.get(STORED_AS[name])
    return value


def listed_metric(best_metric: str | None, metrics: Iterable[Mapping[str, float]]) -> str | None:
    """The metric a listing of a model's versions shows: the model's ``best_metric`` policy, else the first
    metric of the first version (in the listing's order) that has metrics; None when there is none."""
    if best_metric:
        return best_metric
    first = next((next(iter(m)) for m in metrics if m), None)
    if first is None:
        return None
    return next((name for name, older in STORED_AS.items() if older == first), first)
