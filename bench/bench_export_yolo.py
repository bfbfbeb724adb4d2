"""A YOLO checkpoint exported by modelreg beside Ultralytics' own ``yolo export``, on the same checkpoint.

    python bench/bench_export_yolo.py [--runs 3] [--imgsz 640] [--formats onnx torchscript tflite] [--no-doc]

The checkpoint is YOLOv8n (80 classes) built from ``yolov8n.yaml`` and saved the way Ultralytics' trainer
saves ``best.pt`` (``model`` in FP16, ``train_args`` with the task and image size); nothing is downloaded.
For each format, ``--runs`` times, alternating:

- ``yolo export``: ``YOLO(best.pt).export(format=…, imgsz=…)`` in a fresh process; the conversion is the
  ``export`` call alone, timed inside that process (the checkpoint already loaded);
- modelreg: ``reg.export(ref, format, trusted=True, force=True)`` on an embedded registry holding the same
  checkpoint; the conversion is the export's own ``duration_s`` (the converter alone, in its child process),
  and the whole call is timed too: starting the child processes, loading and preparing the model, the
  reference run, the conversion, the parity check (another process running the exported file) and storing.

Ultralytics' LiteRT export (``format=litert``) is the counterpart of modelreg's ``tflite``. Prints the
medians and the ratios, and writes them into docs/benchmarks.md between ``<!-- bench_export_yolo:start -->``
and ``<!-- bench_export_yolo:end -->``.

This machine's PyPI torchvision does not load beside its CPU torch (see tests/_torchvision_nms.py): the
benchmark installs the tests' pure-torch ``torchvision::nms`` for itself and its child processes, and runs
Ultralytics offline with its other integrations off. Where torchvision matches torch, none of that matters.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import machine_facts, markdown_table, replace_section, scratch_dir, text_table

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
ULTRALYTICS_FORMAT = {"onnx": "onnx", "torchscript": "torchscript", "tflite": "litert"}
OTHER_INTEGRATIONS = ("sync", "clearml", "comet", "dvc", "mlflow", "neptune", "raytune", "tensorboard", "wandb", "hub")

YOLO_EXPORT = """
import json, sys, time
from ultralytics import YOLO
from ultralytics.utils import SETTINGS
SETTINGS.update({key: False for key in json.loads(sys.argv[4]) if key in SETTINGS})
weights, fmt, imgsz = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = YOLO(weights)
start = time.perf_counter()
out = model.export(format=fmt, imgsz=imgsz, device="cpu", verbose=False)
print(json.dumps({"seconds": time.perf_counter() - start, "file": str(out)}))
"""


def offline_environment(work: Path) -> dict[str, str]:
    """Ultralytics offline with a private config folder (its font copied in), and the tests' torchvision
    operator for every Python process started with this environment (a ``sitecustomize`` on PYTHONPATH)."""
    import matplotlib

    config = work / "yolo-config"
    config.mkdir()
    shutil.copy(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", config / "Arial.ttf")
    hook = work / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\n"
                                           "import _torchvision_nms\n_torchvision_nms.install()\n")
    paths = [str(hook), str(ROOT / "src"), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    return {"YOLO_CONFIG_DIR": str(config), "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0", "YOLO_VERBOSE": "0",
            "PYTHONPATH": os.pathsep.join(paths)}


def make_checkpoint(path: Path, imgsz: int) -> None:
    """YOLOv8n saved as Ultralytics' trainer saves best.pt (the module in FP16, train_args beside it)."""
    import torch
    from ultralytics import __version__
    from ultralytics.cfg import DEFAULT_CFG_DICT
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov8n.yaml", nc=80, verbose=False)
    model.names = {i: f"class{i}" for i in range(80)}
    model.args = {**DEFAULT_CFG_DICT, "task": "detect", "imgsz": imgsz, "model": "yolov8n.yaml"}
    torch.save({"date": datetime.now(UTC).isoformat(), "version": __version__, "epoch": -1, "best_fitness": None,
                "model": model.half(), "ema": None, "updates": None, "optimizer": None,
                "train_args": {**DEFAULT_CFG_DICT, "task": "detect", "imgsz": imgsz, "model": "yolov8n.yaml"}},
               path)


def yolo_export(weights: Path, fmt: str, imgsz: int, env: dict[str, str], work: Path) -> float:
    """The conversion time of one ``yolo export`` of a fresh copy of ``weights`` (it writes next to it)."""
    run_dir = work / f"yolo-{fmt}-{time.monotonic_ns()}"
    run_dir.mkdir()
    copy = run_dir / weights.name
    shutil.copy(weights, copy)
    done = subprocess.run([sys.executable, "-c", YOLO_EXPORT, str(copy), ULTRALYTICS_FORMAT[fmt], str(imgsz),
                           json.dumps(OTHER_INTEGRATIONS)],
                          env={**os.environ, **env}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"yolo export {fmt} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(run_dir, ignore_errors=True)
    return float(result["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="exports per format and tool (median shown)")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--formats", nargs="+", default=["onnx", "torchscript", "tflite"],
                        choices=sorted(ULTRALYTICS_FORMAT))
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    started = datetime.now(UTC)
    with scratch_dir(None, "modelreg-bench-yolo-") as work:
        env = offline_environment(work)
        os.environ.update(env)
        sys.path.insert(0, str(ROOT / "tests"))
        import _torchvision_nms

        _torchvision_nms.install()
        import modelreg

        weights = work / "best.pt"
        make_checkpoint(weights, args.imgsz)
        rows: list[list[str]] = []
        with modelreg.connect(home=work / "registry") as reg:
            reg.register_version("yolo", files={"weights/best.pt": weights})
            task = reg.get_model("yolo").task
            for fmt in args.formats:
                ours, ours_wall, theirs, verdict = [], [], [], ""
                for _ in range(args.runs):
                    theirs.append(yolo_export(weights, fmt, args.imgsz, env, work))
                    start = time.perf_counter()
                    exported = reg.export("yolo:1", fmt, trusted=True, force=True)
                    ours_wall.append(time.perf_counter() - start)
                    ours.append(exported.duration_s or 0.0)
                    verdict = exported.status
                    print(f"[{fmt}] yolo export {theirs[-1]:.2f} s; modelreg conversion {ours[-1]:.2f} s, "
                          f"whole export {ours_wall[-1]:.2f} s ({verdict})", flush=True)
                t, o, w = (statistics.median(x) for x in (theirs, ours, ours_wall))
                rows.append([fmt, f"{t:.2f} s", f"{o:.2f} s", f"{o / t:.2f}×", "✓" if o <= 2 * t else "✗",
                             f"{w:.2f} s", verdict])
        header = ["format", "yolo export: conversion", "modelreg: conversion", "ratio", "≤ 2×",
                  "modelreg: whole export (load, convert, check, store)", "parity"]
        print(text_table(header, rows))
        facts = machine_facts(work, None)
    if args.no_doc:
        return
    command = "python bench/bench_export_yolo.py" + (f" --runs {args.runs}" if args.runs != 3 else "") + \
        (f" --imgsz {args.imgsz}" if args.imgsz != 640 else "")
    body = "\n".join([
        "## YOLO exports beside `yolo export` (`bench/bench_export_yolo.py`)", "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC. Command:", "", "```sh", command, "```", "",
        f"One YOLOv8n checkpoint (80 classes, built from `yolov8n.yaml` and saved as Ultralytics' trainer saves "
        f"`best.pt`), exported at {args.imgsz}×{args.imgsz} by Ultralytics' own `yolo export` (ultralytics "
        f"{_version('ultralytics')}) and by modelreg, alternating, {args.runs} times each; medians. The "
        "conversion is the exporter's own work with the model loaded (`YOLO.export` timed inside its process; "
        "the export's `duration_s` in modelreg). modelreg's whole export also loads and prepares the model in "
        "a child process, runs it for the reference outputs, checks the exported file in another process "
        f"(parity: the detections on random images, model task `{task}`) and stores it. Ultralytics' "
        "`litert` format is the counterpart of modelreg's `tflite`.", "",
        markdown_table(header, rows), "",
        "Machine:", *[f"- {k}: {v}" for k, v in facts.items()],
    ])
    replace_section(DOC, "bench_export_yolo", body)
    print(f"wrote {DOC}")


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


if __name__ == "__main__":
    main()
