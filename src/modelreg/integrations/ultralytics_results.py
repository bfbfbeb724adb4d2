"""What an Ultralytics run says, in the registry's words: metric names, ``results.csv`` rows as history epochs,
``args.yaml`` as params, the dataset YAML as a dataset reference, and the version starting weights came from.

No Ultralytics import here: the run-folder importer (``modelreg import runs/detect/train3 …``) reads the same
files without the ``ultralytics`` extra installed.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from modelreg.blobs.base import sha256_file
from modelreg.errors import InvalidInput, NotFound
from modelreg.integrations.common import finite_metrics
from modelreg.refs import parse_ref
from modelreg.registry import Registry

WEIGHTS_SCHEME = "modelreg://"  # model=modelreg://fire-detector@production: the weights of a registered version
DEFAULT_WEIGHTS = "weights/best.pt"
# The files of a run folder a version keeps (the plots stay on disk: pictures of the numbers kept here).
RUN_FILES = ("weights/best.pt", "weights/last.pt", "args.yaml", "results.csv")
_SUFFIX = {"B": "", "M": "_mask", "P": "_pose", "S": "_sem"}  # metrics/mAP50(B) -> map50, (M) -> map50_mask
_VERSIONS_SCANNED = 1000  # a starting checkpoint is looked for among this many of the model's newest versions


def metric_name(key: str) -> str | None:
    """The registry's name of an Ultralytics metric key (None for the epoch number itself).

    ``metrics/mAP50(B)`` → ``map50``, ``metrics/mAP50-95(B)`` → ``map50_95``, ``metrics/precision(M)`` →
    ``precision_mask``, ``train/box_loss`` → ``train_box_loss``, ``lr/pg0`` → ``lr_pg0``, ``time`` → ``time_s``.
    """
    key = key.strip()
    if key == "epoch" or not key:
        return None
    if key == "time":
        return "time_s"
    suffix = ""
    match = re.fullmatch(r"(.*)\((\w)\)", key)
    if match:
        key, suffix = match.group(1), _SUFFIX.get(match.group(2), f"_{match.group(2).lower()}")
    if key.startswith("metrics/"):
        key = key[len("metrics/"):]
    name = re.sub(r"[^0-9a-z]+", "_", key.lower()).strip("_")
    return f"{name}{suffix}"


def epoch_metrics(values: Mapping[str, Any]) -> dict[str, float]:
    """An Ultralytics row of metrics (``trainer.metrics``, a results.csv row) under the registry's names; values
    that are not finite numbers are left out (the registry refuses NaN)."""
    named = {name: value for key, value in values.items() if (name := metric_name(str(key))) is not None}
    return finite_metrics(named)


def read_results_csv(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``results.csv`` as history epochs: ``{"epoch": 1, "map50": …, "train_box_loss": …}``."""
    rows: list[dict[str, Any]] = []
    with open(path, newline="", encoding="utf-8") as f:
        for i, raw in enumerate(csv.DictReader(f)):
            cleaned = {str(k).strip(): v for k, v in raw.items() if k is not None}
            try:
                epoch = int(float(cleaned.get("epoch") or i + 1))
            except ValueError:
                raise InvalidInput(f"{path}: row {i + 1} has epoch {cleaned.get('epoch')!r}, not a number",
                                   path=str(path)) from None
            rows.append({"epoch": epoch, **epoch_metrics(cleaned)})
    return rows


def best_row(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """The metrics of the epoch whose weights became best.pt (Ultralytics' fitness: the highest mAP50-95),
    else of the last epoch; the learning rates and the elapsed time are left out."""
    listed = [dict(r) for r in rows]
    if not listed:
        return {}
    scored = [r for r in listed if "map50_95" in r]
    chosen = max(scored, key=lambda r: r["map50_95"]) if scored else listed[-1]
    return {k: float(v) for k, v in chosen.items() if k != "epoch" and not k.startswith("lr_") and k != "time_s"}


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file holding a mapping (``args.yaml``, a dataset YAML)."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} does not hold a mapping of settings", path=str(path))
    return {str(k): v for k, v in data.items()}


def class_names(names: Any) -> list[str]:
    """Ultralytics' class names (``{0: "fire", 1: "smoke"}`` or a list) as a list in index order."""
    if isinstance(names, Mapping):
        return [str(names[k]) for k in sorted(names, key=lambda k: int(k))]
    if isinstance(names, (list, tuple)):
        return [str(n) for n in names]
    return []


def dataset_ref(yaml_path: str | Path | None, *, names: Any = None, train_count: int | None = None,
                val_count: int | None = None) -> dict[str, Any]:
    """A dataset reference for a dataset YAML: its name (the file's stem), where it is, the SHA-256 of its bytes,
    the class names and the image counts. A YAML that is not on this machine is named by its text alone."""
    ref: dict[str, Any] = {}
    if yaml_path:
        path = Path(str(yaml_path))
        ref["name"] = path.stem
        ref["uri"] = str(path)
        if path.is_file():
            ref["digest"] = sha256_file(path)
            if names is None:
                try:
                    names = read_yaml_mapping(path).get("names")
                except (OSError, InvalidInput, yaml.YAMLError):
                    names = None
    classes = class_names(names)
    if classes:
        ref["classes"] = classes
    if train_count is not None:
        ref["train_count"] = train_count
    if val_count is not None:
        ref["val_count"] = val_count
    return ref


def weights_ref(text: str) -> str | None:
    """``modelreg://fire-detector@production`` → ``fire-detector@production`` (its weights/best.pt are the
    starting weights); None for anything else."""
    if not text.startswith(WEIGHTS_SCHEME):
        return None
    ref = text[len(WEIGHTS_SCHEME):]
    if not ref:
        raise InvalidInput(f"{text!r} names no version", hint="e.g. modelreg://fire-detector@production",
                           field="model")
    parse_ref(ref)  # InvalidReference when it is not one
    return ref


def version_with_file(registry: Registry, model: str, digest: str) -> str | None:
    """The reference of the newest version of ``model`` holding a file with ``digest`` (a checkpoint a run
    starts from), or None (no such version, or no such model yet)."""
    try:
        for i, version in enumerate(registry.iter_versions(model=model)):
            if i >= _VERSIONS_SCANNED:
                break
            if version.status == "ready" and any(a.digest == digest for a in version.artifacts):
                return version.ref
    except NotFound:
        return None
    return None
