"""The Ultralytics integration with real Ultralytics training: YOLOv8n built from ``yolov8n.yaml`` (nothing is
downloaded) on a synthetic dataset the tests draw (16 train / 8 val 64×64 images, 3 classes of rectangles),
on the CPU, offline. One 2-epoch run is shared by the module; the other paths train 1 epoch or stop early.

Checked: the version, its files, params, dataset reference and every epoch; per-class metrics of the 3 classes;
the first version becoming production; ``parent`` from registered starting weights; a crash and Ctrl-C recorded
as failed runs; a registry that is down (the run spooled, then ``modelreg sync`` against a server); the
``python -m modelreg.integrations.ultralytics`` command and a plain ``yolo train`` (through the ``.pth`` file of
modelreg's wheel) in subprocesses against ``modelreg serve``; and
importing the run folder (``modelreg import runs/detect/train …``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw
from tests._ultralytics import offline_ultralytics
from typer.testing import CliRunner

import modelreg
from modelreg.cli.main import app
from modelreg.config import Settings
from modelreg.integrations.spool import RECORD
from modelreg.registry import Registry

CLASSES = ("red", "green", "blue")
COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
TESTS = Path(__file__).parent
RUN_FILES = {"weights/best.pt", "weights/last.pt", "args.yaml", "results.csv"}
EPOCH_METRICS = {"train_box_loss", "train_cls_loss", "train_dfl_loss", "val_box_loss", "precision", "recall",
                 "map50", "map50_95", "lr_pg0"}


@dataclass
class Shapes:
    """The synthetic dataset: its YAML, and the instances of each class in each split."""

    yaml: Path
    train_counts: list[int]
    val_counts: list[int]


@dataclass
class Trained:
    """The module's shared 2-epoch run, recorded in ``reg`` (embedded, in ``home``)."""

    reg: Registry
    home: Path
    save_dir: Path
    callbacks: Any


@pytest.fixture(scope="module")
def yolo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Ultralytics, offline, with a private config folder (the font it would download copied in) and its
    other integrations off; the ``YOLO`` class. Set before Ultralytics is first imported: it reads them then."""
    with offline_ultralytics(tmp_path_factory):
        from ultralytics import YOLO

        yield YOLO


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Shapes:
    root = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    counts: dict[str, list[int]] = {}
    for split, size in (("train", 16), ("val", 8)):
        images, labels = root / "images" / split, root / "labels" / split
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
        counts[split] = [0, 0, 0]
        for i in range(size):
            image = Image.new("RGB", (64, 64))
            draw = ImageDraw.Draw(image)
            lines = []
            for c, colour in enumerate(COLOURS):
                if (i + c) % 2 and c != i % 3:
                    continue
                x0, y0 = (int(v) for v in rng.integers(0, 36, 2))
                w, h = (int(v) for v in rng.integers(14, 26, 2))
                x1, y1 = min(63, x0 + w), min(63, y0 + h)
                draw.rectangle((x0, y0, x1, y1), fill=colour)
                box = ((x0 + x1) / 128, (y0 + y1) / 128, (x1 - x0) / 64, (y1 - y0) / 64)  # centre, size: 0..1
                lines.append(" ".join([str(c), *(f"{v:.5f}" for v in box)]))
                counts[split][c] += 1
            image.save(images / f"{i}.png")
            (labels / f"{i}.txt").write_text("\n".join(lines) + "\n")
    yaml = root / "shapes.yaml"
    names = "".join(f"  {i}: {name}\n" for i, name in enumerate(CLASSES))
    yaml.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n{names}")
    return Shapes(yaml, counts["train"], counts["val"])


def _train(yolo: Any, shapes: Shapes, project: Path, weights: str | Path = "yolov8n.yaml", *, epochs: int = 2,
           name: str = "train", events: Mapping[str, Callable[[Any], None]] | None = None, **options: Any) -> Any:
    """Train; the modelreg callbacks with ``options``, then other callbacks of the run (``events``)."""
    from modelreg.integrations.ultralytics import add_modelreg_callbacks

    model = yolo(str(weights))
    recorder = add_modelreg_callbacks(model, "shapes", **options)
    for event, callback in (events or {}).items():
        model.add_callback(event, callback)
    model.train(data=str(shapes.yaml), epochs=epochs, imgsz=64, batch=8, device="cpu", workers=0, amp=False,
                plots=False, verbose=False, project=str(project), name=name, exist_ok=True, seed=0)
    return recorder


@pytest.fixture(scope="module")
def trained(yolo: Any, shapes: Shapes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    root = tmp_path_factory.mktemp("trained")
    with modelreg.connect(home=root / "reg") as reg:
        callbacks = _train(yolo, shapes, root / "runs", registry=reg, alias="staging", spool=root / "spool")
        yield Trained(reg, root / "reg", root / "runs" / "train", callbacks)


def _results_csv(path: Path) -> list[dict[str, float]]:
    from modelreg.integrations.ultralytics_results import read_results_csv

    return read_results_csv(path)


# ---- the shared run


def test_training_records_a_ready_version(trained: Trained, shapes: Shapes) -> None:
    from modelreg.integrations.ultralytics_results import sha256_file

    reg = trained.reg
    version = reg.get_version("shapes:1")
    assert trained.callbacks.result == version
    assert version.status == "ready"
    assert {"production", "staging"} <= set(version.aliases)  # the first version; the alias asked for
    assert {a.path for a in version.artifacts} == RUN_FILES
    for path in RUN_FILES:
        assert reg.resolve("shapes:1", path).read_bytes() == (trained.save_dir / path).read_bytes()
    assert version.params["epochs"] == 2 and version.params["imgsz"] == 64 and version.params["model"] == "yolov8n.yaml"
    assert version.dataset is not None
    assert version.dataset.name == "shapes" and version.dataset.digest == sha256_file(shapes.yaml)
    assert version.dataset.classes == list(CLASSES)
    assert (version.dataset.train_count, version.dataset.val_count) == (16, 8)
    assert version.source is not None and set(version.source.framework_versions or {}) == {"ultralytics", "torch"}
    assert version.training is not None and (version.training.duration_s or 0) > 0
    assert isinstance(version.training.hardware, dict) and version.training.hardware["device"] == "cpu"
    assert {"map50", "map50_95", "precision", "recall"} <= set(version.metrics)
    assert version.parent is None


def test_every_epoch_is_in_the_history(trained: Trained) -> None:
    history = trained.reg.history("shapes:1")
    assert [e.epoch for e in history] == [1, 2]
    rows = _results_csv(trained.save_dir / "results.csv")
    for epoch, row in zip(history, rows, strict=True):
        assert set(epoch.metrics) >= EPOCH_METRICS
        for name in EPOCH_METRICS:  # results.csv keeps 6 significant digits
            assert epoch.metrics[name] == pytest.approx(row[name], rel=1e-4, abs=1e-6), name


def test_per_class_metrics_from_the_validator(trained: Trained, shapes: Shapes) -> None:
    rows = trained.reg.get_version("shapes:1").class_metrics
    assert [r.class_name for r in rows] == list(CLASSES)
    assert [r.validation_count for r in rows] == shapes.val_counts
    assert [r.training_count for r in rows] == shapes.train_counts
    for row in rows:
        assert row.annotation_type == "bbox"
        assert row.ap is not None and row.precision is not None and row.recall is not None
        assert 0.0 <= row.ap <= 1.0 and "ap50_95" in row.metrics


# ---- failures: the run is recorded failed, with the parent its starting weights name


def _registered_start(trained: Trained, reg: Registry) -> Path:
    """v1 of shapes in ``reg``: the shared run's best.pt; the local path a run starts from (from the cache)."""
    reg.register_version("shapes", files={"weights/best.pt": trained.save_dir / "weights" / "best.pt"})
    return reg.resolve("shapes@production", "weights/best.pt")


def test_a_crash_records_the_run_as_failed_with_its_parent(yolo: Any, shapes: Shapes, trained: Trained,
                                                           tmp_path: Path) -> None:
    def explode(trainer: Any) -> None:
        if trainer.epoch == 1:
            raise RuntimeError("loss exploded")

    with modelreg.connect(home=tmp_path / "reg") as reg:
        start = _registered_start(trained, reg)
        with pytest.raises(RuntimeError, match="loss exploded"):
            _train(yolo, shapes, tmp_path / "runs", start, registry=reg, spool=tmp_path / "spool",
                   events={"on_train_epoch_end": explode})
        version = reg.get_version("shapes:2")
        assert version.status == "failed" and version.error == "RuntimeError: loss exploded"
        assert str(version.parent) == "default/shapes:v1"  # found by the starting weights' SHA-256
        assert [e.epoch for e in reg.history("shapes:2")] == [1]  # the epoch it finished is kept
        assert version.aliases == [] and reg.get_version("shapes@production").number == 1


def test_ctrl_c_records_the_run_as_failed(yolo: Any, shapes: Shapes, tmp_path: Path) -> None:
    def interrupt(trainer: Any) -> None:
        raise KeyboardInterrupt

    with modelreg.connect(home=tmp_path / "reg") as reg:
        with pytest.raises(KeyboardInterrupt):
            _train(yolo, shapes, tmp_path / "runs", registry=reg, spool=tmp_path / "spool",
                   events={"on_train_start": interrupt})
        version = reg.get_version("shapes:1")
        assert version.status == "failed" and version.error == "KeyboardInterrupt"
        assert version.aliases == []


def test_a_ddp_worker_records_nothing(yolo: Any, shapes: Shapes, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Under DDP each GPU's process runs the callbacks; only rank 0 records the run. Ultralytics runs DDP on
    GPUs only, so a rank-1 worker is this process with the rank it reads from ``RANK`` set to 1."""
    import modelreg.integrations.ultralytics as integration

    monkeypatch.setattr(integration, "RANK", 1)
    with modelreg.connect(home=tmp_path / "reg") as reg:
        recorder = _train(yolo, shapes, tmp_path / "runs", epochs=1, registry=reg, spool=tmp_path / "spool")
        assert reg.search_models().total == 0 and recorder.result is None
    assert not (tmp_path / "spool").exists()


# ---- a registry that is down: spooled, then `modelreg sync`


def _stopped_server() -> str:
    with socket.socket() as sock:  # a port nothing listens on: connections are refused
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_registry_that_is_down_spools_the_run_and_sync_registers_it(
        yolo: Any, shapes: Shapes, remote_server: Any, remote_state: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    spool = tmp_path / "spool"
    with modelreg.connect(_stopped_server(), settings=Settings(home=tmp_path / "client", actor="tester")) as down:
        callbacks = _train(yolo, shapes, tmp_path / "runs", epochs=1, registry=down, spool=spool)
    folder = callbacks.result
    assert isinstance(folder, Path) and folder.parent == spool  # training finished; the run waits on disk
    assert any("modelreg sync" in r.getMessage() for r in caplog.records)
    record = json.loads((folder / RECORD).read_text())
    assert record["status"] == "ready" and [e["epoch"] for e in record["epochs"]] == [1]
    assert set(record["files"]) == RUN_FILES
    kept = tmp_path / "kept"
    shutil.copytree(folder, kept)  # as if a sync had registered it and stopped before removing the folder

    monkeypatch.setenv("MODELREG_URL", remote_server.url)
    monkeypatch.delenv("MODELREG_TOKEN", raising=False)
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / "client"))
    result = CliRunner().invoke(app, ["sync", "--spool", str(spool), "--json"])
    assert result.exit_code == 0, result.output
    [item] = json.loads(result.output)
    assert item["version"] == "default/shapes:v1" and item["status"] == "ready" and item["error"] is None
    assert not folder.exists()
    with modelreg.connect(remote_server.url, settings=Settings(home=tmp_path / "client", actor="tester")) as reg:
        version = reg.get_version("shapes:1")
        assert version.status == "ready" and "production" in version.aliases
        assert {a.path for a in version.artifacts} == RUN_FILES
        assert [e.epoch for e in reg.history("shapes:1")] == [1]
        assert [r.class_name for r in version.class_metrics] == list(CLASSES)
        shutil.copytree(kept, folder)
        again = CliRunner().invoke(app, ["sync", "--spool", str(spool), "--json"])
        assert again.exit_code == 0, again.output
        assert json.loads(again.output)[0]["version"] == "default/shapes:v1"  # found, not registered twice
        assert reg.get_model("shapes").latest_number == 1 and not folder.exists()
    empty = CliRunner().invoke(app, ["sync", "--spool", str(spool)])
    assert empty.exit_code == 0 and "nothing to sync" in empty.output


# ---- the command line, against a server


def test_the_command_line_with_the_environment_variable(yolo: Any, shapes: Shapes, trained: Trained,
                                                        remote_server: Any, remote_state: Any,
                                                        tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "client", actor="tester")
    with modelreg.connect(remote_server.url, settings=settings) as reg:
        reg.register_version("shapes", files={"weights/best.pt": trained.save_dir / "weights" / "best.pt"})
        env = {**os.environ, "MODELREG_URL": remote_server.url, "MODELREG_HOME": str(tmp_path / "client"),
               "MODELREG_ULTRALYTICS_MODEL": "shapes", "MODELREG_ULTRALYTICS_ALIAS": "staging",
               "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
        env.pop("MODELREG_TOKEN", None)
        # `python -m modelreg.integrations.ultralytics …`, with the torchvision operator of the tests set up first
        command = ("import _torchvision_nms, runpy; _torchvision_nms.install(); "
                   "runpy.run_module('modelreg.integrations.ultralytics', run_name='__main__', alter_sys=True)")
        done = subprocess.run(
            [sys.executable, "-c", command, "train", "model=modelreg://shapes@production", f"data={shapes.yaml}",
             "epochs=1", "imgsz=64", "batch=8", "device=cpu", "workers=0", "amp=False", "plots=False",
             f"project={tmp_path / 'runs'}", "name=cli", "exist_ok=True"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
        version = reg.get_version("shapes:2")
        assert version.status == "ready" and str(version.parent) == "default/shapes:v1"
        assert version.aliases == ["staging"] and reg.get_version("shapes@production").number == 1
        assert {a.path for a in version.artifacts} == RUN_FILES
        assert [e.epoch for e in reg.history("shapes:2")] == [1]
        assert len(version.class_metrics) == 3


def test_a_plain_yolo_train_records_its_run_through_the_installed_pth(yolo: Any, shapes: Shapes, trained: Trained,
                                                                    remote_server: Any, remote_state: Any,
                                                                    tmp_path: Path) -> None:
    """Ultralytics' own ``yolo`` script, started by a Python whose site-packages holds the ``.pth`` of modelreg's
    wheel (built here): with ``MODELREG_ULTRALYTICS_MODEL`` set the run is a version; without it, nothing is."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                    str(TESTS.parent)], check=True, capture_output=True, timeout=240)
    with zipfile.ZipFile(next(wheels.glob("modelreg-*.whl"))) as wheel:
        pth = wheel.read("modelreg-ultralytics.pth")
    assert pth == (TESTS.parent / "src" / "modelreg-ultralytics.pth").read_bytes()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True,
                   timeout=120)
    site_packages = next(venv.glob("lib/python*/site-packages"))
    (site_packages / "modelreg-ultralytics.pth").write_bytes(pth)
    # the tests' torchvision operator, before anything imports torchvision (see _torchvision_nms)
    (site_packages / "aa-test-torchvision-nms.pth").write_text("import _torchvision_nms; _torchvision_nms.install()\n")
    script = tmp_path / "yolo"  # what pip writes for Ultralytics' console script (wherever this Python keeps it)
    script.write_text("import sys\nfrom ultralytics.cfg import entrypoint\nsys.exit(entrypoint())\n")
    env = {**os.environ, "MODELREG_URL": remote_server.url, "MODELREG_HOME": str(tmp_path / "client"),
           "MODELREG_ULTRALYTICS_MODEL": "shapes",
           "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent / "src")])}  # modelreg, as a wheel would
    env.pop("MODELREG_TOKEN", None)

    def yolo_train(name: str, environ: Mapping[str, str]) -> None:
        done = subprocess.run(
            [str(venv / "bin" / "python"), str(script), "train", "model=yolov8n.yaml", f"data={shapes.yaml}",
             "epochs=1", "imgsz=64", "batch=8", "device=cpu", "workers=0", "amp=False", "plots=False",
             f"project={tmp_path / 'runs'}", f"name={name}", "exist_ok=True"],
            env=dict(environ), cwd=tmp_path, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]

    settings = Settings(home=tmp_path / "client", actor="tester")
    with modelreg.connect(remote_server.url, settings=settings) as reg:
        yolo_train("plain", {k: v for k, v in env.items() if k != "MODELREG_ULTRALYTICS_MODEL"})
        assert reg.search_models().total == 0  # not asked: nothing recorded
        yolo_train("recorded", env)
        version = reg.get_version("shapes@production")
        assert version.number == 1 and version.status == "ready"
        assert {a.path for a in version.artifacts} == RUN_FILES and len(version.class_metrics) == 3
        assert [e.epoch for e in reg.history("shapes:1")] == [1]


def test_the_command_line_needs_the_model_named(yolo: Any) -> None:
    from modelreg.integrations.ultralytics import main

    assert main(["train"], environ={}) == 2


# ---- run folders on disk


def test_importing_a_run_folder(trained: Trained, tmp_path: Path) -> None:
    with modelreg.connect(home=tmp_path / "reg") as reg:
        report = reg.import_folder(trained.save_dir, "shapes")
        assert [i.version for i in report.imported] == ["default/shapes:v1"] and not report.failed
        version = reg.get_version("shapes:1")
        live = trained.reg.get_version("shapes:1")
        assert version.status == "ready" and version.aliases == ["production"]
        assert {a.path: a.digest for a in version.artifacts} == {a.path: a.digest for a in live.artifacts}
        # args.yaml, as given; a live run records the trainer's args once set up (optimizer=auto resolved)
        assert version.params.keys() == live.params.keys() and version.params["optimizer"] == "auto"
        assert {k: v for k, v in version.params.items() if k not in ("optimizer", "lr0", "warmup_bias_lr")} == {
            k: v for k, v in live.params.items() if k not in ("optimizer", "lr0", "warmup_bias_lr")}
        assert version.dataset is not None and version.dataset.digest == live.dataset.digest  # type: ignore[union-attr]
        history, live_history = reg.history("shapes:1"), trained.reg.history("shapes:1")
        assert [e.epoch for e in history] == [1, 2]
        assert set(history[0].metrics) == set(live_history[0].metrics)  # the same names as a live run
        assert version.metrics["map50_95"] == pytest.approx(max(e.metrics["map50_95"] for e in history))
        again = reg.import_folder(trained.save_dir.parent, "shapes")  # the folder of runs: the same run, known
        assert not again.imported and [i.version for i in again.skipped] == ["default/shapes:v1"]


def test_the_import_command_recognises_a_run_folder(trained: Trained, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELREG_URL", raising=False)
    monkeypatch.delenv("MODELREG_TOKEN", raising=False)
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["import", str(trained.save_dir), "fire-detector", "--json"])
    assert result.exit_code == 0, result.output
    assert [i["version"] for i in json.loads(result.output)["imported"]] == ["default/fire-detector:v1"]
    broken = tmp_path / "train9"
    shutil.copytree(trained.save_dir, broken)
    (broken / "weights" / "best.pt").unlink()
    (broken / "weights" / "last.pt").unlink()
    result = CliRunner().invoke(app, ["import", str(broken), "fire-detector", "--layout", "ultralytics", "--json"])
    assert result.exit_code == 5
    [failed] = json.loads(result.stdout)["failed"]
    assert failed["source"] == str(broken) and "holds no weights/best.pt" in failed["error"]


# ---- the spool without a trainer: a registry lost in the middle of a run, and a failed run


def test_a_run_started_live_is_finished_in_place_by_sync(remote_server: Any, remote_state: Any,
                                                         tmp_path: Path) -> None:
    from modelreg.integrations.spool import SpoolingRun, spooled_runs, sync_spool

    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    settings = Settings(home=tmp_path / "client", actor="tester")
    lost = modelreg.connect(remote_server.url, settings=settings)
    run = SpoolingRun("vision/shapes", connect=lambda: lost, spool=tmp_path / "spool", alias="staging")
    run.start(params={"epochs": 2})
    run.log_epoch(1, {"map50": 0.5})
    lost.close()  # the connection is gone from here on
    run.log_epoch(2, {"map50": 0.6})
    folder = run.finish(files={"weights/best.pt": weights}, metrics={"map50": 0.6})
    assert isinstance(folder, Path) and run.offline and run.record["version"] == "vision/shapes:v1"
    with modelreg.connect(remote_server.url, settings=settings) as reg:
        assert reg.get_version("vision/shapes:1").status == "training"
        [item] = sync_spool(reg, tmp_path / "spool")
        assert item.version == "vision/shapes:v1" and item.error is None
        version = reg.get_version("vision/shapes:1")  # the same number, finished
        assert version.status == "ready" and set(version.aliases) == {"production", "staging"}
        assert version.metrics == {"map50": 0.6} and version.params == {"epochs": 2}
        assert [(e.epoch, e.metrics["map50"]) for e in reg.history("vision/shapes:1")] == [(1, 0.5), (2, 0.6)]
        assert reg.resolve("vision/shapes:1", "weights/best.pt").read_bytes() == b"weights"
        assert spooled_runs(tmp_path / "spool") == []


def test_a_failed_run_is_spooled_and_synced_as_failed(tmp_path: Path) -> None:
    from modelreg.integrations.spool import SpoolingRun, spooled_runs, sync_spool

    def unreachable() -> Registry:
        return modelreg.connect(_stopped_server(), settings=Settings(home=tmp_path / "client"))

    run = SpoolingRun("shapes", connect=unreachable, spool=tmp_path / "spool")
    run.start(params={"epochs": 3})
    run.log_epoch(1, {"train_box_loss": 1.5})
    folder = run.fail("RuntimeError: loss exploded")
    assert isinstance(folder, Path) and [s.status for s in spooled_runs(tmp_path / "spool")] == ["failed"]
    with modelreg.connect(home=tmp_path / "reg") as reg:
        [item] = sync_spool(reg, tmp_path / "spool", dry_run=True)
        assert item.version is None and folder.exists()
        [item] = sync_spool(reg, tmp_path / "spool")
        version = reg.get_version("shapes:1")
        assert item.version == version.ref and version.status == "failed"
        assert version.error == "RuntimeError: loss exploded" and version.params == {"epochs": 3}
        assert [e.epoch for e in reg.history("shapes:1")] == [1] and not folder.exists()
