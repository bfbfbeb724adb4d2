"""Corrections become data: the inference records people judged, written as a training set, with the dataset
reference that points at them.

Each judged record becomes one sample: its input reference (and inline input, in JSON lines) with its newest
feedback as the truth: a corrected output when there is one, else the label as its class. Formats:

- ``jsonl``: ``samples.jsonl``, one object per sample (request id, version, time, input_ref, input, and
  ``detections``/``class``/``value``, source, author);
- ``yolo``: ``images.txt`` (the input references, in order), ``labels/<n>.txt`` (``class x_center y_center width
  height``, normalised, one line per box; the class is its index in the project's label set) and ``data.yaml``
  (``names``). Samples without boxes (a label alone) are skipped and counted;
- ``coco``: ``annotations.json`` (images named by their input reference, boxes as ``[x, y, width, height]`` in
  pixels, categories from the label set, numbered from 1).

``dataset.json`` holds the dataset reference (name, version, digest over the files written, counts, classes, and
``derived_from``: the model, its versions, the time range and how many records), to give as ``dataset=`` to the
version trained on it. The folder is written beside its destination and renamed into place whole: an error or a
crash leaves no half-written export.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from modelreg.errors import InvalidInput
from modelreg.filters import walk_pages
from modelreg.inference_outputs import CLASS, DETECTIONS, box_xywhn, class_of, detections_of, image_size, value_of
from modelreg.refs import parse_ref, validate_name
from modelreg.types import FEEDBACK_FORMATS, DatasetRef, FeedbackExport, InferencePage, InferenceRecord, Model, Project

PAGE = 1000
# a format's writer: (folder, judged records, label set) -> (samples, skipped, versions, times)
Writer = Callable[[Path, Iterator[InferenceRecord], list[str]], tuple[int, int, set[int], list[datetime]]]


def _truth(record: InferenceRecord) -> dict[str, Any] | None:
    """What the newest feedback says the answer was: detections, a class or a value."""
    if not record.feedback:
        return None
    newest = record.feedback[-1]
    if newest.corrected is not None:
        found = detections_of(newest.corrected)
        if found is not None:
            return {DETECTIONS: [dict(d) for d in found]}
        if class_of(newest.corrected) is not None:
            return {CLASS: class_of(newest.corrected)}
        value = value_of(newest.corrected)
        if value is not None:
            return {"value": value}
        return {"corrected": newest.corrected}
    return {CLASS: newest.label} if newest.label is not None else None


class JudgedRecords(Protocol):
    """What an export reads from a registry (either kind)."""

    def get_model(self, name: str) -> Model: ...

    def get_project(self, name: str = ...) -> Project: ...

    def list_inferences(self, model: str, *, version: int | None = None, since: datetime | None = None,
                        until: datetime | None = None, has_feedback: bool | None = None, limit: int = 50,
                        cursor: str | None = None) -> InferencePage: ...


def write_feedback_export(reg: JudgedRecords, model: str, to: str | os.PathLike[str], *, format: str = "jsonl",
                          version: int | None = None, since: datetime | None = None, until: datetime | None = None,
                          dataset_name: str | None = None) -> FeedbackExport:
    """Write the judged records of ``model`` (optionally one ``version``, a time range) to ``to``."""
    if format not in FEEDBACK_FORMATS:
        raise InvalidInput(f"format {format!r} is not one of {', '.join(FEEDBACK_FORMATS)}", field="format",
                           hint="jsonl keeps everything; yolo and coco write boxes for detection training")
    dest = Path(to)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidInput(f"{dest} exists and is not an empty folder; nothing was written", field="to",
                           hint="give a new folder (the export is written whole, or not at all)")
    ref = parse_ref(model)
    name = validate_name(dataset_name, kind="dataset name") if dataset_name else f"{ref.model}-feedback"
    found = reg.get_model(model)
    labels = list(reg.get_project(found.project).labels)

    def records() -> Iterator[InferenceRecord]:
        yield from walk_pages(lambda cursor: reg.list_inferences(
            model, version=version, since=since, until=until, has_feedback=True, limit=PAGE, cursor=cursor))

    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        writer: Writer = {"jsonl": _jsonl, "yolo": _yolo, "coco": _coco}[format]
        samples, skipped, versions, times = writer(work, records(), labels)
        files = sorted(p for p in work.rglob("*") if p.is_file())
        stamp = datetime.now(UTC)
        dataset = DatasetRef(
            name=name, version=stamp.strftime("%Y%m%dT%H%M%SZ"), uri=str(dest.resolve()),
            digest=_folder_digest(work, files), train_count=samples, classes=labels or None,
            derived_from={"project": found.project, "model": found.name, "versions": sorted(versions),
                          "since": min(times).isoformat() if times else None,
                          "until": max(times).isoformat() if times else None,
                          "records": samples + skipped, "format": format})
        (work / "dataset.json").write_text(dataset.model_dump_json(indent=2, exclude_none=True) + "\n")
        if dest.exists():
            dest.rmdir()
        os.replace(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return FeedbackExport(path=str(dest), format=format, samples=samples,
                          files=len(files) + 1, skipped=skipped, dataset=dataset)


def _jsonl(work: Path, records: Iterator[InferenceRecord], labels: list[str]) -> tuple[int, int, set[int],
                                                                                       list[datetime]]:
    samples, versions, times = 0, set(), []
    with open(work / "samples.jsonl", "w", encoding="utf-8") as out:
        for record in records:
            truth = _truth(record)
            if truth is None:
                continue
            newest = record.feedback[-1]
            line = {"request_id": record.request_id, "version": record.version, "time": record.time.isoformat(),
                    "input_ref": record.input_ref, "input": record.input, **truth, "source": newest.source,
                    "author": newest.author}
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
            samples += 1
            versions.add(record.version)
            times.append(record.time)
    return samples, 0, versions, times


def _boxes(record: InferenceRecord, truth: Mapping[str, Any], labels: list[str]) -> list[tuple[int, tuple[float, ...]]]:
    width, height = image_size(record.feedback[-1].corrected, record.outputs, record.input)
    out: list[tuple[int, tuple[float, ...]]] = []
    for det in truth.get(DETECTIONS, []):
        xywhn = box_xywhn(det.get("box"), width, height)
        if xywhn is None or str(det[CLASS]) not in labels:
            return []
        out.append((labels.index(str(det[CLASS])), xywhn))
    return out


def _yolo(work: Path, records: Iterator[InferenceRecord], labels: list[str]) -> tuple[int, int, set[int],
                                                                                      list[datetime]]:
    (work / "labels").mkdir()
    samples, skipped, versions, times = 0, 0, set(), []
    with open(work / "images.txt", "w", encoding="utf-8") as images:
        for record in records:
            truth = _truth(record)
            boxes = _boxes(record, truth, labels) if truth is not None and DETECTIONS in truth else None
            if truth is None or boxes is None or (not boxes and truth.get(DETECTIONS)):
                skipped += 1
                continue
            lines = "".join(f"{cls} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for cls, (x, y, w, h) in boxes)
            (work / "labels" / f"{samples:06d}.txt").write_text(lines)
            images.write(f"{record.input_ref or record.request_id}\n")
            samples += 1
            versions.add(record.version)
            times.append(record.time)
    names = "".join(f"  {i}: {json.dumps(n)}\n" for i, n in enumerate(labels))
    (work / "data.yaml").write_text(f"# corrected samples; images.txt lists the images in the order of labels/\n"
                                    f"nc: {len(labels)}\nnames:\n{names}")
    return samples, skipped, versions, times


def _coco(work: Path, records: Iterator[InferenceRecord], labels: list[str]) -> tuple[int, int, set[int],
                                                                                      list[datetime]]:
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    skipped, versions, times = 0, set(), []
    for record in records:
        truth = _truth(record)
        width, height = image_size(record.feedback[-1].corrected, record.outputs, record.input)
        if truth is None or DETECTIONS not in truth or not width or not height:
            skipped += 1
            continue
        boxes = _boxes(record, truth, labels)
        if truth[DETECTIONS] and not boxes:
            skipped += 1
            continue
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": record.input_ref or record.request_id, "width": width,
                       "height": height, "request_id": record.request_id})
        for cls, (x, y, w, h) in boxes:
            bw, bh = w * width, h * height
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": cls + 1,
                                "bbox": [round((x - w / 2) * width, 3), round((y - h / 2) * height, 3),
                                         round(bw, 3), round(bh, 3)],
                                "area": round(bw * bh, 3), "iscrowd": 0})
        versions.add(record.version)
        times.append(record.time)
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(labels)]
    (work / "annotations.json").write_text(json.dumps(
        {"images": images, "annotations": annotations, "categories": categories}, indent=1))
    return len(images), skipped, versions, times


def _folder_digest(root: Path, files: list[Path]) -> str:
    """sha256 over each file's path and content digest, in path order: the same files give the same digest."""
    total = hashlib.sha256()
    for path in files:
        inner = hashlib.sha256(path.read_bytes()).hexdigest()
        total.update(f"{path.relative_to(root).as_posix()}\0{inner}\n".encode())
    return "sha256:" + total.hexdigest()
