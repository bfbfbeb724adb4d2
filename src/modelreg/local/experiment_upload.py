"""What the HTTP client sends to register an experiment: the manifest and metrics as text, the checkpoints to
upload from here. The server's service checks it all again and decides (``modelreg.service.experiments``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.errors import InvalidInput
from modelreg.local.experiment_files import (
    MAX_MANIFEST_BYTES,
    MAX_METRICS_BYTES,
    TextFile,
    checkpoint_files,
    experiment_id_of,
    load_manifest,
    manifest_models,
    read_text_file,
    weights_roots,
)
from modelreg.local.sources import Source, collect_sources
from modelreg.types import Artifact


@dataclass(frozen=True)
class ExperimentRequest:
    """The JSON body (checkpoints already on the server in it), and the checkpoint files to hash and upload,
    with the model each belongs to."""

    body: dict[str, Any]
    keys: list[str]
    sources: list[Source]


def _file(value: TextFile) -> dict[str, str]:
    return {"name": value.name, "text": value.text}


def experiment_request(config: str | os.PathLike[str] | TextFile, *,
                       metrics: str | os.PathLike[str] | TextFile | Mapping[str, Any] | None,
                       checkpoints: Mapping[str, str | os.PathLike[str] | Artifact | Mapping[str, Any]] | None,
                       experiment: str | None, project: str | None, alias: str | None,
                       update_labels: bool) -> ExperimentRequest:
    """Read the experiment's files here: which checkpoint each model has (the same rule as the service's),
    the manifest's and metrics' text, and the id the metrics file's folder gives."""
    if isinstance(config, TextFile):
        file, roots = config, None
    elif isinstance(config, (str, os.PathLike)):
        file, roots = read_text_file(config, what="manifest", limit=MAX_MANIFEST_BYTES), weights_roots(Path(config))
    else:
        raise InvalidInput(f"config must be the path of a YAML manifest, not {type(config).__name__}",
                           field="config")
    models, _ = manifest_models(load_manifest(file), f"the manifest {file.name}")
    paths, stored = checkpoint_files(models, checkpoints or {}, roots, f"the manifest {file.name}")
    body: dict[str, Any] = {"config": _file(file), "experiment": experiment, "project": project, "alias": alias,
                            "update_labels": update_labels,
                            "checkpoints": {k: {"path": v.get("path"), "digest": v.get("digest"),
                                                "size": v.get("size")} for k, v in stored.items()}}
    if isinstance(metrics, (str, os.PathLike)):
        body["metrics_file"] = _file(read_text_file(metrics, what="metrics", limit=MAX_METRICS_BYTES))
        if experiment is None:
            body["experiment"] = experiment_id_of(metrics)
    elif isinstance(metrics, TextFile):
        body["metrics_file"] = _file(metrics)
    elif metrics is not None:
        body["metrics"] = dict(metrics)
    keys = list(paths)
    sources = [collect_sources({paths[k].name: paths[k]})[0] for k in keys]
    return ExperimentRequest(body={k: v for k, v in body.items() if v is not None}, keys=keys, sources=sources)
