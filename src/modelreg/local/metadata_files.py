"""Reading the metadata files users already have: metadata.json, metrics.json, YAML configs.

``version_fields_from_metadata`` maps the metadata.json files of the folder layouts users keep onto a version's fields:
every known field lands where it belongs, and every unknown field is kept under ``extra``.
``metadata_to_register`` is what ``register_version`` reads before it registers, locally or on a server's
client: the folder's metadata files and the experiment manifest (whose ``project`` and ``labels`` the service
checks, see ``modelreg.service.manifests``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelreg.errors import InvalidInput, InvalidMetadata, InvalidName
from modelreg.refs import validate_label

MAX_METADATA_BYTES = 10 * 1024 * 1024
CONFIG_NAMES = ("config.yaml", "config.yml", "args.yaml", "hyp.yaml", "params.yaml")
# A YAML config with one of these is an experiment manifest (project, labels, models, business rules). A training
# tool's own config (Ultralytics' args.yaml) has neither, and its ``project`` is an output folder, not a project.
MANIFEST_KEYS = ("labels", "models")


def _read_text(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_METADATA_BYTES:
        raise InvalidMetadata(f"{path} is {size / (1024 * 1024):.1f} MiB; metadata files are limited to "
                              f"{MAX_METADATA_BYTES // (1024 * 1024)} MiB",
                              hint="keep large data in artifacts, not in metadata", path=str(path))
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidMetadata(f"{path} is not UTF-8 text", hint="save it as UTF-8 JSON", path=str(path)) from exc


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from a file, or InvalidMetadata naming the file, line and column."""
    text = _read_text(path)
    try:
        data = json.loads(text, parse_constant=lambda c: float(c))
    except json.JSONDecodeError as exc:
        raise InvalidMetadata(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                              hint="fix the file (python -m json.tool shows where)", path=str(path)) from exc
    if not isinstance(data, dict):
        raise InvalidMetadata(f"{path} holds a JSON {type(data).__name__}, not an object", path=str(path))
    return data


def read_yaml_object(path: Path) -> dict[str, Any]:
    import yaml  # only when a folder has a YAML file: a read command never loads it

    text = _read_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidMetadata(f"{path} is not valid YAML: {exc}", path=str(path)) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidMetadata(f"{path} holds a YAML {type(data).__name__}, not a mapping", path=str(path))
    normalized: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return normalized


def flatten_metrics(data: dict[str, Any], prefix: str = "") -> tuple[dict[str, float], dict[str, Any]]:
    """Numbers (nested objects flattened with '.') and the rest, which is kept, not dropped."""
    numbers: dict[str, float] = {}
    rest: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            n, r = flatten_metrics(value, f"{name}.")
            numbers.update(n)
            rest.update(r)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(float(value)):
                raise InvalidMetadata(f"metric {name} is {value}; NaN and infinite values are not stored",
                                      hint="remove it or replace it with the real value", field=f"metrics.{name}")
            numbers[name] = float(value)
        else:
            rest[name] = value
    return numbers, rest


def _pop(d: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in d:
            return d.pop(key)
    return None


def version_fields_from_metadata(raw: dict[str, Any]) -> dict[str, Any]:
    """Map a metadata.json onto register_version's keywords.

    Read: modelreg's own fields, those of the ``versions/vN`` and ``production/staging/archive`` layouts,
    and ``training_config`` / ``performance_metrics`` / ``hyperparameters`` as other training tools write them.

    Returns keywords (metrics, params, dataset, training, description, …); unknown fields go to ``extra``.
    """
    d = dict(raw)
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    params: dict[str, Any] = {}

    for key in ("metrics", "performance_metrics"):
        if isinstance(d.get(key), dict):
            numbers, rest = flatten_metrics(d.pop(key))
            metrics.update(numbers)
            if rest:
                extra.setdefault("metrics_other", {}).update(rest)
    if "best_accuracy" in d and isinstance(d["best_accuracy"], (int, float)):
        metrics.setdefault("best_accuracy", float(d.pop("best_accuracy")))
        if not math.isfinite(metrics["best_accuracy"]):
            raise InvalidMetadata("best_accuracy is not a finite number", field="best_accuracy")

    for key in ("params", "training_config", "hyperparameters"):
        if isinstance(d.get(key), dict):
            params.update(d.pop(key))
    for key in ("epochs", "batch_size", "image_size", "imgsz", "learning_rate", "lr", "optimizer",
                "pretrained_model", "model_architecture"):
        if key in d:
            params[key] = d.pop(key)

    dataset: dict[str, Any] = {}
    for key in ("dataset", "dataset_stats"):
        if isinstance(d.get(key), dict):
            dataset.update(d.pop(key))
    renames = {"train_images": "train_count", "val_images": "val_count", "test_images": "test_count",
               "train_samples": "train_count", "val_samples": "val_count", "test_samples": "test_count",
               "train": "train_count", "val": "val_count", "test": "test_count"}
    dataset = {(renames.get(k, k) if isinstance(v, int) and not isinstance(v, bool) else k): v
               for k, v in dataset.items()}

    training: dict[str, Any] = dict(d.pop("training")) if isinstance(d.get("training"), dict) else {}
    hours = _pop(d, "training_time_hours")
    if isinstance(hours, (int, float)):
        training.setdefault("duration_s", float(hours) * 3600.0)
    seconds = _pop(d, "training_duration_seconds", "duration_s")
    if isinstance(seconds, (int, float)):
        training.setdefault("duration_s", float(seconds))

    for key in ("description", "notes", "limitations"):
        if isinstance(d.get(key), str):
            out[key] = d.pop(key)
    if isinstance(d.get("changelog"), list):
        out["changelog"] = [str(x) for x in d.pop("changelog")]
    if isinstance(d.get("tags"), dict):
        out["tags"] = {str(k): str(v) for k, v in d.pop("tags").items()}
    for key in ("class_metrics", "training_classes"):
        if isinstance(d.get(key), list):
            out["class_metrics"] = [_class_metric(c) for c in d.pop(key)]
    for key in ("source", "signature"):
        if isinstance(d.get(key), dict):
            out[key] = d.pop(key)
    if "version" in d:
        if (label := label_or_none(d["version"])) is not None:
            out["label"] = label  # "v4_no_leakage"; "v3" would read as a number, so it stays in extra only
        extra["original_version"] = d.pop("version")
    if "version_id" in d:
        extra["original_version" if "original_version" not in extra else "original_version_id"] = d.pop("version_id")
    created = d.get("created_at")
    if isinstance(created, str) and "finished_at" not in training:
        try:
            stamp = datetime.fromisoformat(created)
        except ValueError:
            stamp = None
        if stamp is not None:
            training["finished_at"] = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    for key in ("parent_version", "parent"):
        if key in d:
            extra["original_parent"] = d.pop(key)
    extra.update(d)  # everything not understood is kept as it was
    if metrics:
        out["metrics"] = metrics
    if params:
        out["params"] = params
    if dataset:
        out["dataset"] = dataset
    if training:
        out["training"] = training
    if extra:
        out["extra"] = extra
    return out


def label_or_none(name: object) -> str | None:
    """``name`` when it is a valid version label (``v4_no_leakage``, ``v3_2024-11-10``), else None (``v3``, ``3``)."""
    if not isinstance(name, str):
        return None
    try:
        return validate_label(name)
    except InvalidName:
        return None


def _class_metric(c: Any) -> dict[str, Any]:
    """One per-class row as it was written; ClassMetric renames ``class``, ``training_annotations_count``, …"""
    if not isinstance(c, dict):
        raise InvalidMetadata(f"a class metric must be an object, not {type(c).__name__}", field="class_metrics")
    return dict(c)


def find_config(folder: Path) -> Path | None:
    """The experiment config of a run folder: a known name, or the only top-level YAML file."""
    for name in CONFIG_NAMES:
        if (folder / name).is_file():
            return folder / name
    yamls = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return yamls[0] if len(yamls) == 1 else None


def fields_from_folder(folder: Path) -> dict[str, Any]:
    """Metadata found in a folder being registered: metadata.json, metrics.json and a YAML config."""
    fields, manifest = folder_metadata(folder)
    if manifest is not None:
        fields["params"] = {**manifest, **fields.get("params", {})}
    return fields


def is_manifest(config: Mapping[str, Any]) -> bool:
    """Whether a YAML config is an experiment manifest (see ``MANIFEST_KEYS``)."""
    return any(key in config for key in MANIFEST_KEYS)


def read_config(config: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """An experiment manifest given to ``register_version``: (its content, its file name; None for a mapping)."""
    if isinstance(config, Mapping):
        try:
            content: dict[str, Any] = json.loads(json.dumps(dict(config), default=str))
        except (TypeError, ValueError) as exc:
            raise InvalidMetadata(f"config is not JSON-like data: {exc}", field="config") from exc
        return content, None
    if not isinstance(config, (str, os.PathLike)):
        raise InvalidInput(f"config must be the path of a YAML manifest or its content, not {type(config).__name__}",
                           field="config")
    path = Path(config).expanduser()
    if not path.is_file():
        raise InvalidInput(f"config {str(path)!r} is not a file", hint="give the path of a YAML manifest",
                           path=str(path))
    return read_yaml_object(path), path.name


def metadata_to_register(files: object, *, read_metadata: bool,
                         config: str | os.PathLike[str] | Mapping[str, Any] | None
                         ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """What ``register_version`` reads before registering: (version fields, experiment manifest).

    The fields come from the folder's metadata.json, metrics.json and YAML config when ``files`` is a folder
    and ``read_metadata``. The manifest is ``config`` when given, else the folder's YAML config when it is one;
    it is returned apart from the fields (the service puts it into ``params`` and checks its project and
    labels), and its file name is kept in ``extra.config_file``.
    """
    fields: dict[str, Any] = {}
    manifest: dict[str, Any] | None = None
    if read_metadata and isinstance(files, (str, os.PathLike)) and Path(files).is_dir():
        fields, manifest = folder_metadata(Path(files))
    if read_metadata:  # a YOLO checkpoint describes itself: its input size, task and classes
        from modelreg.local.checkpoint_facts import checkpoint_fields  # registration only: reads stay quick

        found = checkpoint_fields(files)  # under what the folder's metadata files say
        if "signature" in found:
            fields.setdefault("signature", found["signature"])
        if found:
            fields.setdefault("extra", {}).setdefault("ultralytics", found["extra"]["ultralytics"])
    if config is not None:
        manifest, name = read_config(config)
        if name is not None:
            fields.setdefault("extra", {})["config_file"] = name
    return fields, manifest


def folder_metadata(folder: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The metadata files of a folder being registered: (fields, its YAML config when that is a manifest).

    A YAML config that is no manifest is read into ``params`` (under what metadata.json says).
    """
    fields: dict[str, Any] = {}
    if (folder / "metadata.json").is_file():
        fields = version_fields_from_metadata(read_json_object(folder / "metadata.json"))
    if (folder / "metrics.json").is_file():
        numbers, rest = flatten_metrics(read_json_object(folder / "metrics.json"))
        fields["metrics"] = {**fields.get("metrics", {}), **numbers}
        if rest:
            fields.setdefault("extra", {}).setdefault("metrics_other", {}).update(rest)
    manifest: dict[str, Any] | None = None
    config = find_config(folder)
    if config is not None:
        content = read_yaml_object(config)
        if is_manifest(content):
            manifest = content
        else:
            fields["params"] = {**content, **fields.get("params", {})}
        fields.setdefault("extra", {})["config_file"] = config.name
    return fields, manifest
