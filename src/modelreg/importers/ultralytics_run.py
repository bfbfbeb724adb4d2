"""Ultralytics run folders, "ultralytics": ``runs/detect/train3/`` holding ``args.yaml``, ``results.csv`` and
``weights/best.pt`` (and ``weights/last.pt``), as ``yolo train`` leaves them.

Each run folder becomes a version, as ``modelreg.integrations.ultralytics`` would have registered it live:
files ``weights/best.pt``, ``weights/last.pt``, ``args.yaml`` and ``results.csv`` (the plots stay on disk);
``args.yaml`` as params; every ``results.csv`` row as a training-history epoch; the metrics of the best epoch
(the highest mAP50-95, the one best.pt holds) as the version's metrics; the dataset YAML the args name as the
dataset reference; the elapsed time of the last epoch as the training time. A folder holding several run
folders (``runs/detect/``) imports each, in natural order (train, train2, train10). The first version of a
new model becomes production, as a registration makes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelreg.blobs.base import sha256_file
from modelreg.errors import InvalidInput, ModelregError
from modelreg.importers.common import (
    IMPORT_MARKER,
    Candidate,
    Plan,
    check_fields,
    visible_entries,
    with_path,
)
from modelreg.integrations.common import jsonable
from modelreg.integrations.ultralytics_results import (
    RUN_FILES,
    best_row,
    dataset_ref,
    read_results_csv,
    read_yaml_mapping,
)

ARGS = "args.yaml"
RESULTS = "results.csv"
WEIGHTS = ("weights/best.pt", "weights/last.pt")
DESCRIPTION = "ultralytics: a `yolo train` run folder (runs/detect/train3/) holding args.yaml, results.csv and weights/"


def is_run(folder: Path) -> bool:
    """Whether ``folder`` is an Ultralytics run folder: args.yaml, results.csv and a weights/ folder."""
    return (folder / ARGS).is_file() and (folder / RESULTS).is_file() and (folder / "weights").is_dir()


def find_root(path: Path) -> Path | None:
    """``path`` when it is a run folder or holds run folders (``runs/detect/``), else None."""
    if is_run(path):
        return path
    if any(entry.is_dir() and is_run(entry) for entry in visible_entries(path)):
        return path
    return None


def plan(root: Path) -> Plan:
    result = Plan(layout="ultralytics", root=root, keep_auto_activation=True)
    folders = [root] if is_run(root) else [e for e in visible_entries(root) if e.is_dir() and is_run(e)]
    for folder in folders:
        result.candidates.append(read_run(folder))
    if not is_run(root):
        skipped = [e.name for e in visible_entries(root) if not (e.is_dir() and is_run(e))]
        if skipped:
            result.warn(f"not Ultralytics run folders, not imported: {', '.join(skipped)} (in {root})")
    result.baseline = _baseline(result)
    return result


def read_run(folder: Path) -> Candidate:
    """One run folder as a planned version; a problem is kept on the candidate, naming the file."""
    cand = Candidate(source=folder, label=folder.name)
    where = folder
    try:
        if not any((folder / w).is_file() for w in WEIGHTS):
            raise InvalidInput(f"{folder} holds no weights/best.pt or weights/last.pt",
                               hint="a finished `yolo train` run saves them; import the run once it has",
                               path=str(folder))
        cand.files = {name: folder / name for name in RUN_FILES if (folder / name).is_file()}
        cand.digests = {name: sha256_file(path) for name, path in cand.files.items()}
        where = folder / ARGS
        args = read_yaml_mapping(where)
        where = folder / RESULTS
        cand.epochs = read_results_csv(where)
        where = folder
        cand.fields = _fields(folder, args, cand.epochs)
        check_fields(cand.fields, folder)
    except (ModelregError, OSError, ValueError) as exc:
        cand.error = exc if isinstance(exc, ModelregError) and str(folder) in exc.message else with_path(exc, where)
    return cand


def _fields(folder: Path, args: dict[str, Any], epochs: list[dict[str, Any]]) -> dict[str, Any]:
    fields: dict[str, Any] = {"params": jsonable(args)}
    metrics = best_row(epochs)
    if metrics:
        fields["metrics"] = metrics
    data = args.get("data")
    if isinstance(data, str) and data:
        fields["dataset"] = dataset_ref(_beside(folder, data))
    if epochs and "time_s" in epochs[-1]:
        fields["training"] = {"duration_s": float(epochs[-1]["time_s"])}
    fields["extra"] = {
        "original_folder": folder.name,
        IMPORT_MARKER: {"layout": "ultralytics", "path": str(folder), "metadata_sha256": None},
    }
    return fields


def _beside(folder: Path, data: str) -> str:
    """The dataset YAML as args.yaml names it, found where it still is: as written (absolute, or from the
    current folder), else from the run's project folder (runs/detect/train3 → the folder holding runs/)."""
    path = Path(data)
    if path.is_absolute() or path.is_file():
        return str(path.absolute()) if path.is_file() else data
    for base in folder.parents:
        if (base / path).is_file():
            return str(base / path)
    return data


def _baseline(result: Plan) -> str | None:
    """The architecture the newest run started from (``yolov8n`` from model=yolov8n.pt or yolov8n.yaml)."""
    for cand in reversed(result.candidates):
        model = cand.fields.get("params", {}).get("model") if cand.error is None else None
        if isinstance(model, str) and model.strip():
            stem = Path(model.strip()).stem
            if stem not in ("best", "last"):
                return stem
    return None
