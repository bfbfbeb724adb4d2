"""Reading an experiment's files where they are: its manifest (YAML), its metrics.json and its checkpoints.

An experiment manifest (``models/configs/*.yaml``) names a ``project``, its ``labels``, and under ``models``
one entry per model (``detector``, ``classifier``: ``name``, ``weights``, ``hyperparameters``) beside shared
settings such as ``business_rules``. The training pipelines write ``artifacts/experiments/<timestamp>/metrics.json``.

Shared by the service (files on its own machine) and the HTTP client (which reads them here, uploads the
checkpoints and sends the manifest's and the metrics' text to the server). What a registration makes of them
(project, labels, which version gets what) is the service's rule: ``modelreg.service.experiments``.

The YAML and JSON come from users' files and, on a server, from anyone with a token, so they are read
defensively: a size limit, a nesting limit, a limit on the values aliases expand to (a "billion laughs" file
is refused before it is built), and plain YAML only (``!!python/object`` and other tags are refused).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.errors import InvalidInput, InvalidMetadata, InvalidName
from modelreg.refs import validate_name
from modelreg.types import Artifact

MAX_MANIFEST_BYTES = 1024 * 1024
MAX_METRICS_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 32  # nesting of mappings and lists
MAX_VALUES = 100_000  # values a document holds once its aliases are expanded
# An entry under ``models`` with one of these is a model; another entry (``business_rules``) is a shared setting.
MODEL_ENTRY_KEYS = ("name", "weights", "hyperparameters")
# The tags plain YAML resolves to by itself (``!!str`` written out is fine); any other tag is refused.
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in (
    "str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge", "value"))


@dataclass(frozen=True)
class TextFile:
    """A small text file as it travels: its name (``widget_line_a.yaml``) and its content."""

    name: str
    text: str


@dataclass(frozen=True)
class ManifestModel:
    """One model of a manifest: its key (the registered model's name) and its entry as written."""

    key: str
    entry: dict[str, Any] = field(default_factory=dict)

    @property
    def weights(self) -> str | None:
        weights = self.entry.get("weights")
        return weights if isinstance(weights, str) and weights else None

    @property
    def hyperparameters(self) -> dict[str, Any]:
        found = self.entry.get("hyperparameters")
        return dict(found) if isinstance(found, Mapping) else {}


def read_text_file(path: str | os.PathLike[str], *, what: str, limit: int) -> TextFile:
    """A UTF-8 file's text, or InvalidInput / InvalidMetadata naming it (missing, a folder, too large, binary)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InvalidInput(f"{what} {str(p)!r} is not a file", hint=f"give the path of the {what} file",
                           path=str(p))
    size = p.stat().st_size
    if size > limit:
        raise InvalidMetadata(f"{what} {p.name} is {size:,} bytes; the limit is {limit:,}", path=str(p))
    try:
        return TextFile(name=p.name, text=p.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InvalidMetadata(f"{what} {p.name} is not UTF-8 text", path=str(p)) from exc


def _check_size(file: TextFile, what: str, limit: int) -> None:
    try:
        size = len(file.text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidMetadata(f"{what} {file.name} is not UTF-8 text: {exc.reason}", field=what) from exc
    if size > limit:
        raise InvalidMetadata(f"{what} {file.name} is {size:,} bytes; the limit is {limit:,}", field=what)


def _scan_yaml(text: str, source: str) -> None:
    """Refuse before building it: YAML nested deeper than ``MAX_DEPTH``, expanding to more than ``MAX_VALUES``
    values through aliases, or carrying a tag plain YAML does not resolve (``!!python/object/apply:os.system``)."""
    import yaml

    sizes: list[int] = []  # values inside each open mapping or list
    anchors: list[str | None] = []
    anchored: dict[str, int] = {}
    total = 0

    def add(n: int) -> None:
        nonlocal total
        if sizes:
            sizes[-1] += n
        else:
            total += n
        if total + sum(sizes) > MAX_VALUES:
            raise InvalidMetadata(f"{source} expands to more than {MAX_VALUES:,} values (through aliases)",
                                  hint="write the manifest out plainly; it is a small config")

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in _PLAIN_TAGS and tag != "!":
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise InvalidMetadata(f"{source} uses the YAML tag {shown}; a manifest is plain YAML (no tags)",
                                  hint="remove the tag", tag=shown)
        if isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                anchored[event.anchor] = 1
            add(1)
        elif isinstance(event, yaml.AliasEvent):
            add(anchored.get(event.anchor or "", 1))
        elif isinstance(event, yaml.CollectionStartEvent):
            sizes.append(1)
            anchors.append(event.anchor)
            if len(sizes) > MAX_DEPTH:
                raise InvalidMetadata(f"{source} is nested more than {MAX_DEPTH} levels deep",
                                      hint="a manifest is a small config; flatten it")
        elif isinstance(event, yaml.CollectionEndEvent):
            size, anchor = sizes.pop(), anchors.pop()
            if anchor:
                anchored[anchor] = size
            add(size)


def load_manifest(file: TextFile) -> dict[str, Any]:
    """A manifest's content as JSON-like data (dates as text), read defensively (see the module docstring)."""
    import yaml  # only when a manifest is read: other commands never load it

    source = f"the manifest {file.name}"
    _check_size(file, "manifest", MAX_MANIFEST_BYTES)
    try:
        _scan_yaml(file.text, source)
        data = yaml.safe_load(file.text)
    except yaml.YAMLError as exc:
        raise InvalidMetadata(f"{source} is not valid YAML: {exc}", hint="fix the file", file=file.name) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidMetadata(f"{source} holds a YAML {type(data).__name__}, not a mapping",
                              hint="a manifest is a mapping: project, labels, models …", file=file.name)
    normalized: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return normalized


def _depth(value: Any) -> int:
    """How deeply a JSON value nests (iteratively: the value may be deeper than Python's recursion limit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level + 1)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level + 1)
            stack.extend((v, level + 1) for v in item)
    return deepest


def load_metrics(file: TextFile) -> dict[str, Any]:
    """A metrics.json's content: a JSON object, at most ``MAX_DEPTH`` deep (NaN is read; the service refuses it)."""
    source = f"the metrics file {file.name}"
    _check_size(file, "metrics", MAX_METRICS_BYTES)
    try:
        data = json.loads(file.text, parse_constant=float)
    except json.JSONDecodeError as exc:
        raise InvalidMetadata(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                              hint="fix the file (python -m json.tool shows where)", file=file.name) from exc
    except RecursionError as exc:
        raise InvalidMetadata(f"{source} is nested too deeply", file=file.name) from exc
    if not isinstance(data, dict):
        raise InvalidMetadata(f"{source} holds a JSON {type(data).__name__}, not an object", file=file.name)
    if _depth(data) > MAX_DEPTH:
        raise InvalidMetadata(f"{source} is nested more than {MAX_DEPTH} levels deep", file=file.name)
    return data


def manifest_models(content: Mapping[str, Any], source: str) -> tuple[list[ManifestModel], dict[str, Any]]:
    """The models of a manifest, in its order, and its shared settings (every other key but ``project``
    and ``models``, and the entries under ``models`` that are no model, such as ``business_rules``)."""
    models = content.get("models")
    if not isinstance(models, Mapping):
        raise InvalidMetadata(f"{source} has no models (a mapping such as models: {{detector: {{...}}}})",
                              hint="name each model under models: with its name, weights and hyperparameters",
                              field="models")
    found: list[ManifestModel] = []
    shared = {k: v for k, v in content.items() if k not in ("project", "models")}
    for key, entry in models.items():
        if not isinstance(entry, Mapping) or not any(k in entry for k in MODEL_ENTRY_KEYS):
            shared[key] = entry
            continue
        try:
            validate_name(key, kind="model name")
        except InvalidName as exc:
            raise InvalidMetadata(f"{source}: the model {key!r} cannot be a registered model's name: {exc.message}",
                                  hint="rename it under models:", field=f"models.{key}") from exc
        for name, kind in (("hyperparameters", Mapping), ("weights", str), ("name", str)):
            if name in entry and entry[name] is not None and not isinstance(entry[name], kind):
                expected = "a mapping" if kind is Mapping else "text"
                raise InvalidMetadata(f"{source}: models.{key}.{name} must be {expected}",
                                      field=f"models.{key}.{name}")
        found.append(ManifestModel(key=key, entry=dict(entry)))
    if not found:
        raise InvalidMetadata(f"{source} has no model under models: (an entry with {', '.join(MODEL_ENTRY_KEYS)})",
                              hint="e.g. models: {detector: {name: yolov8n, weights: weights/best.pt}}",
                              field="models")
    return found, shared


def experiment_id_of(metrics: str | os.PathLike[str]) -> str | None:
    """The experiment id a metrics file's folder gives (``artifacts/experiments/<timestamp>/metrics.json``);
    None when that folder's name is no usable id."""
    name = Path(metrics).expanduser().resolve().parent.name
    try:
        return validate_name(name, kind="experiment id")
    except InvalidName:
        return None


def weights_roots(manifest: Path) -> list[Path]:
    """Where a manifest's relative ``weights`` paths are looked for, in order: the current directory, then the
    manifest's folder and the two above it (``models/configs/`` → ``models/`` → the repository)."""
    folder = manifest.expanduser().resolve().parent
    roots = [Path.cwd(), folder, folder.parent, folder.parent.parent]
    return list(dict.fromkeys(roots))


def _candidates(weights: str, roots: list[Path]) -> Iterator[Path]:
    path = Path(weights).expanduser()
    if path.is_absolute():
        yield path
        return
    for root in roots:
        yield root / path


def checkpoint_files(models: list[ManifestModel], given: Mapping[str, object], roots: list[Path] | None,
                     source: str) -> tuple[dict[str, Path], dict[str, Mapping[str, Any]]]:
    """Each model's checkpoint: (files here, files already in the blob store as ``{path, digest, size}``).

    A model's checkpoint is the one given for it (a path, or a stored file), else its manifest ``weights``
    found under ``roots`` (None: not looked for, as on a server). Refused, naming them: a checkpoint for a
    model the manifest does not have, a given file that is missing, a model without one.
    """
    keys = [m.key for m in models]
    unknown = sorted(str(k) for k in given if k not in keys)
    if unknown:
        raise InvalidInput(f"a checkpoint is given for {', '.join(unknown)}, which {source} does not have; "
                           f"its models: {', '.join(keys)}", hint="name one of the manifest's models",
                           models=keys, unknown=unknown)
    stored: dict[str, Mapping[str, Any]] = {}
    out: dict[str, Path] = {}
    missing: list[str] = []
    for model in models:
        value = given.get(model.key)
        if isinstance(value, Mapping):
            stored[model.key] = value
            continue
        if isinstance(value, Artifact):
            stored[model.key] = value.model_dump()
            continue
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise InvalidInput(f"the checkpoint of {model.key} must be a file's path, not {type(value).__name__}",
                               model=model.key)
        if value is not None:
            path = Path(value).expanduser()
            if not path.is_file():
                raise InvalidInput(f"the checkpoint of {model.key}, {str(path)!r}, is not a file",
                                   hint="give the path of the trained weights file", model=model.key,
                                   path=str(path))
            out[model.key] = path
            continue
        found = next((p for p in _candidates(model.weights, roots) if p.is_file()), None) \
            if model.weights and roots is not None else None
        if found is None:
            missing.append(model.key)
        else:
            out[model.key] = found
    if missing:
        said = "; ".join(f"{k}: weights {m.weights!r} is not a file" if m.weights else f"{k}: no weights"
                         for m in models for k in [m.key] if k in missing)
        raise InvalidInput(f"no checkpoint file for {', '.join(missing)} ({said})",
                           hint=f"give the trained weights of each as a checkpoint, e.g. {missing[0]}=PATH",
                           missing=missing)
    return out, stored
