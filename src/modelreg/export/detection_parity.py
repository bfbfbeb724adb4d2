"""Parity of a detector judged by what it detects (numpy only, no torch).

The raw outputs of a YOLO head (``output0``: for each anchor, 4 box values in pixels and one score per
class) mix pixels with probabilities, so one difference over all of them says little. Here both models'
outputs on the same inputs go through the same post-processing, as Ultralytics' predictor does it (scores
at least ``CONF``, Ultralytics' default for predictions; class-aware non-maximum suppression at IoU
``NMS_IOU``; at most ``MAX_DET`` per image), and the exported model's detections are scored against the
source's, taken as the ground truth:

- ``matched``: the share of the source's detections the export finds: same class, IoU at least ``MATCH_IOU``
  (each export detection matches one source detection, best scores first);
- ``mean_iou``: the mean IoU of those matches;
- ``class_agreement``: for each source detection, whether the export detection overlapping it most (any
  class, IoU at least ``MATCH_IOU``) has its class;
- ``map50``: the export's mAP at IoU 0.5 against the source's detections, averaged over the source's classes.

Beside them, per kind of value: ``box_max_diff``, the largest difference of a box coordinate in pixels, and
``score_max_diff``, of a class score, both over the anchors either model scores at least ``DIFF_CONF``
(the rest are background, whose boxes mean nothing).

The verdict, with the thresholds of the export's precision (``DETECTION_THRESHOLDS``, absolute numbers
applied exactly as written, nothing scaled): when the source detects anything on the inputs, the four
matching figures must each reach their lower bound; when it detects nothing there is nothing to match,
and the box and score differences must each stay within their upper bound instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from modelreg.export.job import DetectionParity, DetectionThresholds

Precision = Literal["fp32", "fp16", "int8"]
CONF = 0.25       # Ultralytics' default confidence for predictions: what an application keeps
DIFF_CONF = 0.001  # Ultralytics' validation threshold: the anchors whose raw values are compared
NMS_IOU = 0.7     # Ultralytics' default
MAX_DET = 300
MATCH_IOU = 0.5
DETECTION_THRESHOLDS: dict[Precision, DetectionThresholds] = {
    "fp32": DetectionThresholds(conf=CONF, matched=0.99, mean_iou=0.95, class_agreement=0.99, map50=0.99,
                                box_max_diff=0.05, score_max_diff=1e-3),
    "fp16": DetectionThresholds(conf=CONF, matched=0.95, mean_iou=0.90, class_agreement=0.95, map50=0.95,
                                box_max_diff=2.0, score_max_diff=1e-2),
    "int8": DetectionThresholds(conf=CONF, matched=0.80, mean_iou=0.80, class_agreement=0.85, map50=0.75,
                                box_max_diff=8.0, score_max_diff=0.1),
}


@dataclass(frozen=True)
class Detections:
    """One image's detections: boxes as x1, y1, x2, y2; scores; class indices."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (n, 4) with every box of ``b`` (m, 4): (n, m)."""
    if a.size == 0 or b.size == 0:
        return np.zeros((a.shape[0], b.shape[0]))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1 or len(keep) >= MAX_DET:
            break
        rest = order[1:]
        order = rest[_iou(boxes[best:best + 1], boxes[rest])[0] <= iou]
    return np.array(keep, dtype=np.int64)


def decode(output: np.ndarray, classes: int, *, conf: float = CONF) -> list[Detections]:
    """The detections of each image of a YOLO head's output (batch, 4 + classes [+ more], anchors)."""
    found: list[Detections] = []
    for image in output.astype(np.float64):
        boxes_xywh, scores = image[:4].T, image[4:4 + classes].T
        cls = scores.argmax(axis=1)
        best = scores.max(axis=1) if classes else np.zeros(len(cls))
        keep = best >= conf
        xywh, best, cls = boxes_xywh[keep], best[keep], cls[keep]
        xyxy = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], axis=1)
        offset = cls[:, None] * (np.abs(xyxy).max() + 1 if xyxy.size else 0)  # class-aware: classes never overlap
        kept = _nms(xyxy + offset, best, NMS_IOU) if len(best) else np.zeros(0, dtype=np.int64)
        found.append(Detections(xyxy[kept], best[kept], cls[kept]))
    return found


def _match(source: Detections, export: Detections) -> tuple[list[float], int]:
    """IoUs of the one-to-one same-class matches (source detections by score) and how many classes agree."""
    ious = _iou(source.boxes, export.boxes)
    used = np.zeros(len(export), dtype=bool)
    matched: list[float] = []
    agree = 0
    for i in np.argsort(-source.scores, kind="stable"):
        if len(export):
            nearest = int(ious[i].argmax())
            agree += int(ious[i, nearest] >= MATCH_IOU and export.classes[nearest] == source.classes[i])
        candidates = np.where(~used & (export.classes == source.classes[i]) & (ious[i] >= MATCH_IOU))[0]
        if candidates.size:
            j = int(candidates[np.argmax(ious[i, candidates])])
            used[j] = True
            matched.append(float(ious[i, j]))
    return matched, agree


def _average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision-recall curve (all points, precision made monotone), as COCO-style tools do."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[1.0], precision, [0.0]])
    p = np.flip(np.maximum.accumulate(np.flip(p)))
    steps = np.where(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def map50(source: list[Detections], export: list[Detections]) -> float:
    """The export's mAP at IoU 0.5 with the source's detections as the ground truth, over the source's classes."""
    aps: list[float] = []
    for c in sorted({int(k) for d in source for k in d.classes}):
        truths = sum(int(np.sum(d.classes == c)) for d in source)
        scored: list[tuple[float, bool]] = []
        for truth, pred in zip(source, export, strict=True):
            gt = truth.boxes[truth.classes == c]
            mine = np.where(pred.classes == c)[0]
            mine = mine[np.argsort(-pred.scores[mine], kind="stable")]
            ious = _iou(pred.boxes[mine], gt)
            taken = np.zeros(len(gt), dtype=bool)
            for k in range(len(mine)):
                hit = False
                if len(gt):
                    j = int(ious[k].argmax())
                    if ious[k, j] >= MATCH_IOU and not taken[j]:
                        taken[j] = hit = True
                scored.append((float(pred.scores[mine[k]]), hit))
        scored.sort(key=lambda item: -item[0])
        hits = np.array([h for _, h in scored], dtype=np.float64)
        if not hits.size:
            aps.append(0.0)
            continue
        tp = np.cumsum(hits)
        aps.append(_average_precision(tp / truths, tp / np.arange(1, len(hits) + 1)))
    return float(np.mean(aps)) if aps else 1.0


def _raw_differences(reference: np.ndarray, actual: np.ndarray, classes: int, box_scale: float) -> tuple[float, float]:
    """The largest box-coordinate difference (pixels) and class-score difference over the anchors either model
    scores at least ``DIFF_CONF``; over every anchor when none does."""
    ref, out = reference.astype(np.float64), actual.astype(np.float64)
    scores_ref, scores_out = ref[:, 4:4 + classes], out[:, 4:4 + classes]
    live = (scores_ref.max(axis=1) >= DIFF_CONF) | (scores_out.max(axis=1) >= DIFF_CONF)  # (batch, anchors)
    if not live.any():
        live = np.ones_like(live)
    boxes = np.abs(ref[:, :4] - out[:, :4]).max(axis=1)[live] * box_scale
    scores = np.abs(scores_ref - scores_out).max(axis=1)[live] if classes else np.zeros(1)
    return float(boxes.max()), float(scores.max())


def compare_detections(reference: np.ndarray, actual: np.ndarray, classes: int, precision: Precision, *,
                       box_scale: float = 1.0) -> DetectionParity:
    """The exported detector's detections on a batch against the source's (see the module's docstring).
    ``box_scale``: pixels per box unit (the image size when the head gives boxes normalised to 0..1)."""
    thresholds = DETECTION_THRESHOLDS[precision]
    source = decode(reference, classes, conf=thresholds.conf)
    export = decode(actual, classes, conf=thresholds.conf)
    ious: list[float] = []
    agree = 0
    for s, e in zip(source, export, strict=True):
        matched, agreeing = _match(s, e)
        ious += matched
        agree += agreeing
    total = sum(len(d) for d in source)
    box_diff, score_diff = _raw_differences(reference, actual, classes, box_scale)
    return DetectionParity(
        source_detections=total, export_detections=sum(len(d) for d in export),
        matched=len(ious) / total if total else 1.0,
        mean_iou=float(np.mean(ious)) if ious else None,
        class_agreement=agree / total if total else None,
        map50=map50(source, export), box_max_diff=box_diff, score_max_diff=score_diff, thresholds=thresholds)


def detection_problems(parity: DetectionParity) -> list[str]:
    """What falls short of the thresholds, as the module's docstring says they apply."""
    t = parity.thresholds
    if not parity.source_detections:
        return [problem for problem in (
            f"box coordinates differ by up to {parity.box_max_diff:.3g} px > {t.box_max_diff:g} px (the source "
            f"detects nothing at conf {t.conf:g}: the raw values decide)" if parity.box_max_diff > t.box_max_diff
            else "",
            f"class scores differ by up to {parity.score_max_diff:.3g} > {t.score_max_diff:g} (the source detects "
            f"nothing at conf {t.conf:g}: the raw values decide)" if parity.score_max_diff > t.score_max_diff
            else "") if problem]
    found = [f"the export finds {parity.matched:.1%} of the source's {parity.source_detections} detections "
             f"< {t.matched:.0%}" if parity.matched < t.matched else "",
             f"matched boxes overlap by IoU {parity.mean_iou:.3f} on average < {t.mean_iou:g}"
             if parity.mean_iou is not None and parity.mean_iou < t.mean_iou else "",
             f"classes agree on {parity.class_agreement:.1%} < {t.class_agreement:.0%}"
             if parity.class_agreement is not None and parity.class_agreement < t.class_agreement else "",
             f"mAP50 against the source's detections {parity.map50:.3f} < {t.map50:g}" if parity.map50 < t.map50
             else ""]
    return [problem for problem in found if problem]
