"""Parity of a detector by what it detects (``modelreg.export.detection_parity``), on head outputs built here
in the layout a YOLO head returns (batch, 4 box values + one score per class, anchors): the same detections
pass, moved boxes and changed classes fail with what moved, and without any detection the box and score
differences decide with their absolute bounds."""

from __future__ import annotations

import numpy as np
import pytest

from modelreg.export.detection_parity import (
    DETECTION_THRESHOLDS,
    compare_detections,
    decode,
    detection_problems,
    map50,
)
from modelreg.export.parity import compare

CLASSES = 3


def head(objects: list[tuple[int, tuple[float, float, float, float], int, float]], anchors: int = 12,
         batch: int = 1) -> np.ndarray:
    """A head output whose anchors hold ``objects`` (anchor, (cx, cy, w, h), class, score); the rest
    background: a small box, scores 1e-4."""
    out = np.zeros((batch, 4 + CLASSES, anchors), dtype=np.float32)
    out[:, :4, :] = np.array([8, 8, 4, 4], dtype=np.float32)[None, :, None]
    out[:, 4:, :] = 1e-4
    for anchor, box, cls, score in objects:
        out[:, :4, anchor] = box
        out[:, 4 + cls, anchor] = score
    return out


SCENE = [(0, (20, 20, 10, 10), 0, 0.9), (1, (20.5, 20, 10, 10), 0, 0.6), (2, (44, 40, 12, 16), 2, 0.8)]


def test_decoding_keeps_the_best_of_overlapping_boxes_of_a_class() -> None:
    (found,) = decode(head(SCENE), CLASSES)
    assert len(found) == 2 and sorted(found.classes.tolist()) == [0, 2]
    assert found.scores.tolist() == pytest.approx([0.9, 0.8])
    np.testing.assert_allclose(found.boxes[0], [15, 15, 25, 25])


def test_overlapping_boxes_of_different_classes_are_both_kept() -> None:
    (found,) = decode(head([(0, (20, 20, 10, 10), 0, 0.9), (1, (20, 20, 10, 10), 1, 0.7)]), CLASSES)
    assert sorted(found.classes.tolist()) == [0, 1]


def test_the_same_detections_pass() -> None:
    reference = head(SCENE, batch=2)
    parity = compare_detections(reference, reference + 1e-6, CLASSES, "fp32")
    assert parity.source_detections == 4 and parity.export_detections == 4
    assert parity.matched == 1.0 and parity.class_agreement == 1.0 and parity.map50 == pytest.approx(1.0)
    assert parity.mean_iou == pytest.approx(1.0) and detection_problems(parity) == []


def test_moved_boxes_fail_with_what_moved() -> None:
    moved = head([(0, (26, 20, 10, 10), 0, 0.9), (2, (44, 40, 12, 16), 2, 0.8)])
    parity = compare_detections(head(SCENE), moved, CLASSES, "fp32")
    assert parity.matched == 0.5 and parity.map50 == pytest.approx(0.5)
    problems = detection_problems(parity)
    assert any("finds 50.0% of the source's 2 detections < 99%" in p for p in problems)
    assert detection_problems(compare_detections(head(SCENE), moved, CLASSES, "int8"))  # 50% fails INT8 too


def test_a_changed_class_is_not_a_match() -> None:
    relabelled = head([(0, (20, 20, 10, 10), 0, 0.9), (2, (44, 40, 12, 16), 1, 0.8)])
    parity = compare_detections(head(SCENE), relabelled, CLASSES, "fp16")
    assert parity.matched == 0.5 and parity.class_agreement == 0.5
    assert any("classes agree on 50.0%" in p for p in detection_problems(parity))


NUDGED = [(0, (20.6, 20, 10, 10), 0, 0.88), (1, (20.5, 20.2, 10, 10), 0, 0.6), (2, (44, 40.5, 12, 16), 2, 0.79)]


def test_slightly_moved_boxes_pass_within_the_precision_of_the_export() -> None:
    nudged = head(NUDGED)
    fp16 = compare_detections(head(SCENE), nudged, CLASSES, "fp16")
    assert fp16.matched == 1.0 and fp16.mean_iou is not None and 0.9 < fp16.mean_iou < 1.0
    assert detection_problems(fp16) == []
    assert fp16.box_max_diff == pytest.approx(0.6, abs=1e-4)  # reported beside the verdict


def test_without_detections_the_raw_values_decide_with_absolute_bounds() -> None:
    quiet = head([])
    shifted = quiet.copy()
    shifted[:, 0, :] += 1.0  # every box one pixel to the right
    fp32 = compare_detections(quiet, shifted, CLASSES, "fp32")
    assert fp32.source_detections == 0 and fp32.box_max_diff == pytest.approx(1.0)
    assert any("box coordinates differ by up to 1 px > 0.05 px" in p for p in detection_problems(fp32))
    assert detection_problems(compare_detections(quiet, shifted, CLASSES, "fp16")) == []  # within 2 px
    scores = quiet.copy()
    scores[:, 4, :] += 0.05
    assert any("class scores differ" in p for p in detection_problems(compare_detections(quiet, scores, CLASSES,
                                                                                         "fp16")))


def test_map50_counts_a_missed_and_an_extra_detection() -> None:
    (source,) = decode(head(SCENE), CLASSES)
    (extra,) = decode(head([*SCENE, (5, (50, 10, 6, 6), 2, 0.95)]), CLASSES)
    assert map50([source], [extra]) < 1.0  # a confident false positive ranks before the true one
    assert map50([source], [source]) == pytest.approx(1.0)


def test_compare_judges_a_detector_by_its_detections_and_keeps_the_raw_figures() -> None:
    reference = head(SCENE)
    nudged = head(NUDGED)
    common = {"task": "detection", "runtime": "test", "batch_size": 1, "inputs": "built"}
    raw = compare([("output", reference)], [nudged], precision="fp16", **common)
    assert raw.status == "failed" and raw.detections is None  # the raw thresholds alone refuse it
    judged = compare([("output", reference)], [nudged], precision="fp16", detector_classes=CLASSES, **common)
    assert judged.status == "passed" and judged.reason is None
    assert judged.detections is not None and judged.detections.matched == 1.0
    assert judged.outputs[0].max_abs_diff > 0  # the raw difference is still reported
    assert judged.detections.thresholds == DETECTION_THRESHOLDS["fp16"]
    moved = head([(0, (30, 20, 10, 10), 0, 0.9), (2, (44, 40, 12, 16), 2, 0.8)])
    failed = compare([("output", reference)], [moved], precision="fp16", detector_classes=CLASSES, **common)
    assert failed.status == "failed" and "finds 50.0%" in (failed.reason or "")


def test_a_detector_whose_output_has_another_shape_fails() -> None:
    reference = head(SCENE)
    parity = compare([("output", reference)], [reference[:, :, :6]], precision="fp32", task="detection",
                     runtime="test", batch_size=1, inputs="built", detector_classes=CLASSES)
    assert parity.status == "failed" and "has shape" in (parity.reason or "")
