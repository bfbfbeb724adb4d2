"""Exports of a real Ultralytics checkpoint that an application written for Ultralytics' own files loads
unchanged: a YOLOv8n trained here (from ``yolov8n.yaml``, nothing downloaded) on rectangles of three colours,
long enough to detect them, registered with sample images; exported to ONNX (FP32, FP16, INT8 dynamic),
TorchScript and TFLite (FP32, INT8 dynamic), each loaded back with ``ultralytics.YOLO`` (class names, boxes
compared with the PyTorch model's) and with the bare runtime by the output name ``output0``; Core ML made
and kept unverified off macOS. Also: registration describes the checkpoint without loading it, the
untrusted error says what trusting means, the default shape asked for in words finds the same export.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw
from tests._ultralytics import offline_ultralytics

import modelreg
from modelreg.errors import InvalidInput, ToolchainMissing, UntrustedSource
from modelreg.registry import Registry

pytestmark = [
    # torch 2.13 deprecates TorchScript, whose files Ultralytics (and this test) load with torch.jit.load
    pytest.mark.filterwarnings(r"ignore:.*torch\.jit.*:DeprecationWarning"),
]
TESTS = Path(__file__).parent
CLASSES = ("red", "green", "blue")
COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
IMGSZ = 64


@dataclass
class Detector:
    reg: Registry
    weights: Path             # the trained checkpoint, as Ultralytics wrote it
    images: list[Path]        # validation images, one rectangle each


def _draw(root: Path, split: str, count: int, rng: np.random.Generator) -> list[Path]:
    images, labels = root / "images" / split, root / "labels" / split
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    paths = []
    for i in range(count):
        image = Image.new("RGB", (IMGSZ, IMGSZ))
        c = i % 3
        x0, y0 = (int(v) for v in rng.integers(0, 30, 2))
        w, h = (int(v) for v in rng.integers(20, 34, 2))
        x1, y1 = min(IMGSZ - 1, x0 + w), min(IMGSZ - 1, y0 + h)
        ImageDraw.Draw(image).rectangle((x0, y0, x1, y1), fill=COLOURS[c])
        box = ((x0 + x1) / (2 * IMGSZ), (y0 + y1) / (2 * IMGSZ), (x1 - x0) / IMGSZ, (y1 - y0) / IMGSZ)
        image.save(images / f"{i}.png")
        (labels / f"{i}.txt").write_text(" ".join([str(c), *(f"{v:.5f}" for v in box)]) + "\n")
        paths.append(images / f"{i}.png")
    return paths


@pytest.fixture(scope="module")
def yolo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Ultralytics offline; export workers (child processes) get the tests' torchvision operator too."""
    hook = tmp_path_factory.mktemp("hook")
    (hook / "sitecustomize.py").write_text(f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n"
                                           "import _torchvision_nms\n_torchvision_nms.install()\n")
    with offline_ultralytics(tmp_path_factory), pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", str(hook))
        from ultralytics import YOLO

        yield YOLO


@pytest.fixture(scope="module")
def detector(yolo: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Detector]:
    root = tmp_path_factory.mktemp("rects")
    rng = np.random.default_rng(0)
    _draw(root, "train", 96, rng)
    val = _draw(root, "val", 12, rng)
    names = "".join(f"  {i}: {name}\n" for i, name in enumerate(CLASSES))
    (root / "rects.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n{names}")
    model = yolo("yolov8n.yaml")
    model.train(data=str(root / "rects.yaml"), epochs=20, imgsz=IMGSZ, batch=8, device="cpu", workers=0, amp=False,
                plots=False, verbose=False, project=str(root / "runs"), name="train", exist_ok=True, seed=0,
                mosaic=0.0, warmup_epochs=0, val=False, lr0=0.02, optimizer="SGD")
    run = root / "runs" / "train"
    folder = root / "version"
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "best.pt").write_bytes((run / "weights" / "last.pt").read_bytes())
    samples = np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255
                        for p in val[:4]])
    np.savez(folder / "sample_inputs.npz", images=samples)
    with modelreg.connect(home=root / "reg") as reg:
        reg.register_version("rects", files=f"{folder}/")
        yield Detector(reg, folder / "weights" / "best.pt", val)


CONFIDENT = 0.5  # a detection whose score is this far above the threshold (0.25) must survive quantization


def _detections(yolo: Any, path: Path,
                images: list[Path]) -> list[tuple[dict[int, str], np.ndarray, np.ndarray, np.ndarray]]:
    model = yolo(str(path), task="detect")
    found = []
    for image in images:
        result = model(str(image), imgsz=IMGSZ, conf=0.25, verbose=False)[0]
        found.append((dict(result.names), result.boxes.xyxy.numpy(), result.boxes.cls.numpy(),
                      result.boxes.conf.numpy()))
    return found


def test_registering_a_yolo_checkpoint_describes_it(detector: Detector) -> None:
    version = detector.reg.get_version("rects:1")
    assert detector.reg.get_model("rects").task == "detection"
    assert version.signature is not None
    assert [(t.name, t.shape) for t in version.signature.inputs] == [("images", [-1, 3, IMGSZ, IMGSZ])]
    assert version.extra["ultralytics"] == {"task": "detect", "imgsz": IMGSZ, "stride": 32,
                                            "names": {"0": "red", "1": "green", "2": "blue"}}


def test_exporting_without_trust_says_what_trusting_means(detector: Detector) -> None:
    with pytest.raises(UntrustedSource) as raised:
        detector.reg.export("rects:1", "onnx")
    assert "Ultralytics checkpoint" in raised.value.message and "your own training run" in raised.value.message
    assert 'pip install "modelreg[ultralytics]"' in raised.value.message
    assert detector.reg.list_exports("rects:1") == []


CASES = [("onnx", {}), ("onnx", {"half": True}), ("onnx", {"int8": "dynamic"}), ("torchscript", {}),
         ("tflite", {}), ("tflite", {"int8": "dynamic"})]
FILES = {"onnx": "model.onnx", "torchscript": "model.torchscript", "tflite": "model.tflite"}


@pytest.mark.parametrize(("fmt", "options"), CASES, ids=["onnx-fp32", "onnx-fp16", "onnx-int8", "torchscript-fp32",
                                                        "tflite-fp32", "tflite-int8"])
def test_an_export_is_a_drop_in_for_ultralytics(yolo: Any, detector: Detector, tmp_path: Path, fmt: str,
                                                options: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    caller = tmp_path / "caller"
    caller.mkdir()
    monkeypatch.chdir(caller)
    exported = detector.reg.export("rects:1", fmt, trusted=True, **options)
    assert list(caller.iterdir()) == []  # the toolchains' temporary files stay in the export's own folder
    assert exported.status == "ok", exported.parity
    parity = exported.parity
    assert parity is not None and parity.inputs == "sample inputs of the version"
    detections = parity.detections
    assert detections is not None and detections.source_detections >= 1  # judged by what it detects
    assert detections.matched >= detections.thresholds.matched
    folder = detector.reg.pull("rects:1", tmp_path / "pulled", format=fmt, export_options=options)
    assert json.loads((folder / "export.json").read_text())["id"] == exported.id  # the one asked for
    path = folder / FILES[fmt]
    assert path.is_file()
    ours = _detections(yolo, path, detector.images)
    source = _detections(yolo, detector.weights, detector.images)
    assert sum(len(found[1]) for found in source) >= 6  # the trained model finds the rectangles
    for (names, boxes, classes, _), (src_names, src_boxes, src_classes, src_scores) in zip(ours, source,
                                                                                                 strict=True):
        assert names == src_names == dict(enumerate(CLASSES))
        if not options:  # FP32: the same boxes
            assert len(boxes) == len(src_boxes) and list(classes) == list(src_classes)
            assert np.abs(boxes - src_boxes).max(initial=0) <= 1.0
            continue
        # FP16 and INT8: every confident detection near one of the same class; a marginal one (score near the
        # 0.25 threshold) may cross it either way
        assert abs(len(boxes) - len(src_boxes)) <= 1
        for box, cls, score in zip(src_boxes, src_classes, src_scores, strict=True):
            same = boxes[classes == cls]
            if score >= CONFIDENT:
                assert len(same) and np.abs(same - box).max(axis=1).min() <= 4.0, (box, same)
    _check_bare_runtime(path, fmt)


def _check_bare_runtime(path: Path, fmt: str) -> None:
    """The file holds Ultralytics' metadata where its runtime keeps it, and one output named output0."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path))
        meta = session.get_modelmeta().custom_metadata_map
        assert meta["task"] == "detect" and meta["names"] == "{0: 'red', 1: 'green', 2: 'blue'}"
        assert [o.name for o in session.get_outputs()] == ["output0"]
        feed = np.zeros((1, 3, IMGSZ, IMGSZ), dtype=np.float16 if "float16" in session.get_inputs()[0].type
                        else np.float32)
        (output,) = session.run(["output0"], {"images": feed})
        assert output.shape == (1, 4 + len(CLASSES), 84)  # 8x8 + 4x4 + 2x2 anchors at 64 px
        import onnx

        assert onnx.load(str(path), load_external_data=False).opset_import[0].version == 18
    elif fmt == "torchscript":
        import torch

        extra = {"config.txt": ""}
        torch.jit.load(str(path), _extra_files=extra)
        meta = json.loads(extra["config.txt"])
        assert meta["names"] == {"0": "red", "1": "green", "2": "blue"} and meta["imgsz"] == [IMGSZ, IMGSZ]
    else:
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read("metadata.json"))
        assert meta["task"] == "detect" and meta["stride"] == 32


def test_a_model_whose_sources_an_admin_trusts_exports_without_being_told(detector: Detector) -> None:
    detector.reg.update_model("rects", trusted_sources=True)
    try:
        exported = detector.reg.export("rects:1", "torchscript")  # no trusted=True
        assert exported.status == "ok"
    finally:
        detector.reg.update_model("rects", trusted_sources=False)
    with pytest.raises(UntrustedSource, match="trusted_sources"):
        detector.reg.export("rects:1", "onnx", int8="static")


def test_the_default_shape_asked_for_in_words_is_the_same_export(detector: Detector) -> None:
    first = detector.reg.export("rects:1", "onnx", trusted=True)
    again = detector.reg.export("rects:1", "onnx", trusted=True, input_shapes=[[-1, 3, IMGSZ, IMGSZ]])
    assert again.id == first.id and again.options.input_shapes is None
    other = detector.reg.export("rects:1", "onnx", trusted=True, input_shapes=[[1, 3, IMGSZ, IMGSZ]])
    assert other.id != first.id  # a fixed batch is another export


def test_core_ml_is_made_and_kept_unverified_off_macos(detector: Detector) -> None:
    exported = detector.reg.export("rects:1", "coreml", trusted=True)
    assert exported.status == "unverified" and exported.parity is not None
    assert "macOS" in (exported.parity.reason or "")


def test_an_option_the_format_lacks_is_refused_and_nothing_is_stored(detector: Detector) -> None:
    before = detector.reg.list_exports("rects:1")
    with pytest.raises(InvalidInput, match="INT8 quantization is not offered for torchscript"):
        detector.reg.export("rects:1", "torchscript", trusted=True, int8="dynamic")
    assert detector.reg.list_exports("rects:1") == before


def test_without_the_ultralytics_package_the_error_names_the_install(detector: Detector, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the export runs without ``ultralytics`` (hidden here from the export's child processes by a
    package of that name that cannot be imported), loading the checkpoint fails with what to install."""
    shadow = tmp_path / "shadow" / "ultralytics"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'ultralytics\'", '
                                        'name="ultralytics")\n')
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(shadow.parent), os.environ["PYTHONPATH"]]))
    before = detector.reg.list_exports("rects:1")
    with pytest.raises(ToolchainMissing) as raised:
        detector.reg.export("rects:1", "torchscript", trusted=True, force=True)
    assert "cannot load an Ultralytics checkpoint" in raised.value.message
    assert raised.value.details["install"] == 'pip install "modelreg[ultralytics]"'
    assert raised.value.details["missing"] == ["ultralytics"]
    assert detector.reg.list_exports("rects:1") == before
