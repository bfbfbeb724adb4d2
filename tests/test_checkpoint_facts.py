"""Reading what a YOLO checkpoint says about itself without running it (``modelreg.local.checkpoint_facts``):
a real Ultralytics model saved the way its trainer saves it is described; code a pickle would run never runs;
files that are not such checkpoints, damaged or too long give no facts and register as plain files."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from tests._ultralytics import offline_ultralytics

import modelreg
from modelreg.local import checkpoint_facts as facts_module
from modelreg.local.checkpoint_facts import checkpoint_facts, checkpoint_fields, task_of


class Planted:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def detection_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with offline_ultralytics(tmp_path_factory):
        from ultralytics.nn.tasks import DetectionModel

        model = DetectionModel("yolov8n.yaml", nc=3, verbose=False)
        model.names = {0: "fire", 1: "smoke", 2: "person"}
        yield model


def _checkpoint(path: Path, model: Any, **train_args: Any) -> Path:
    torch.save({"model": model, "ema": None, "train_args": {"task": "detect", "imgsz": 320, **train_args},
                "epoch": 3}, path)
    return path


def test_a_yolo_checkpoint_is_described_without_running_it(detection_model: Any, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = _checkpoint(tmp_path / "best.pt", detection_model, planted=Planted(marker))
    found = checkpoint_facts(path)
    assert not marker.exists()  # the planted command did not run
    assert found is not None
    assert (found.task, found.imgsz, found.names) == ("detect", 320, {0: "fire", 1: "smoke", 2: "person"})
    assert found.stride == 32  # the model's strides (8, 16, 32), read as numbers from the archive
    assert found.registry_task == "detection"
    assert found.signature() == {"inputs": [{"name": "images", "dtype": "float32", "shape": [-1, 3, 320, 320]}]}
    fields = checkpoint_fields(tmp_path)  # a run folder keeps it as best.pt or weights/best.pt
    assert fields["extra"]["ultralytics"]["names"] == {"0": "fire", "1": "smoke", "2": "person"}
    assert task_of(fields) == "detection"


def test_a_stride_too_large_to_be_a_models_is_not_read(detection_model: Any, tmp_path: Path) -> None:
    detection_model_copy = type(detection_model).__new__(type(detection_model))
    detection_model_copy.__dict__.update(detection_model.__dict__)
    detection_model_copy.stride = torch.arange(1.0, 1000.0)  # 999 elements: beyond SMALL_TENSOR, left unread
    found = checkpoint_facts(_checkpoint(tmp_path / "best.pt", detection_model_copy))
    assert found is not None and found.stride is None and found.imgsz == 320


def test_a_pickle_that_runs_code_is_not_run_and_gives_no_facts(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"model": Planted(marker), "train_args": {"task": "detect", "imgsz": 640}}, path)
    assert checkpoint_facts(path) is None
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04 damaged"], ids=["empty", "text", "zip"])
def test_files_that_are_no_checkpoint_give_no_facts(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "weights.pt"
    path.write_bytes(content)
    assert checkpoint_facts(path) is None and checkpoint_fields(str(path)) == {}


def test_a_state_dict_or_another_module_gives_no_facts(tmp_path: Path) -> None:
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "state.pt")
    torch.save({"model": torch.nn.Linear(2, 2), "train_args": {"task": "detect"}}, tmp_path / "other.pt")
    assert checkpoint_facts(tmp_path / "state.pt") is None
    assert checkpoint_facts(tmp_path / "other.pt") is None


def test_a_pickle_longer_than_the_bound_is_not_read(detection_model: Any, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = _checkpoint(tmp_path / "best.pt", detection_model)
    with zipfile.ZipFile(path) as archive:
        size = max(archive.getinfo(n).file_size for n in archive.namelist() if n.endswith("data.pkl"))
    monkeypatch.setattr(facts_module, "DETECT_BYTES", size - 1)
    assert checkpoint_facts(path) is None


def test_registering_describes_a_yolo_checkpoint_and_leaves_other_weights_alone(
        detection_model: Any, tmp_path: Path) -> None:
    yolo = _checkpoint(tmp_path / "best.pt", detection_model)
    plain = tmp_path / "plain.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), plain)
    with modelreg.connect(home=tmp_path / "reg") as reg:
        version = reg.register_version("detector", files=str(yolo))
        assert reg.get_model("detector").task == "detection"
        assert version.signature is not None and version.signature.inputs[0].shape == [-1, 3, 320, 320]
        other = reg.register_version("regressor", files=str(plain))
        assert reg.get_model("regressor").task == "other" and "ultralytics" not in other.extra
        assert other.signature is None
        reg.create_model("segmenter", task="segmentation")
        reg.register_version("segmenter", files=str(yolo))
        assert reg.get_model("segmenter").task == "segmentation"  # a task set by hand is kept
        unset = reg.register_version("detector", files=str(yolo), read_metadata=False)
        assert "ultralytics" not in unset.extra


def test_a_client_describes_the_checkpoint_it_uploads_to_a_server(detection_model: Any, tmp_path: Path,
                                                                   remote_server: Any, remote_state: Any) -> None:
    from modelreg.config import Settings

    yolo = _checkpoint(tmp_path / "best.pt", detection_model)
    with modelreg.connect(remote_server.url, settings=Settings(home=tmp_path / "client", actor="tester")) as reg:
        version = reg.register_version("remote-detector", files=str(yolo))
    assert version.extra["ultralytics"]["imgsz"] == 320
    assert remote_state.service().get_model("remote-detector").task == "detection"  # decided on the server
