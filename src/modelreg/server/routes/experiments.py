"""Experiments over HTTP: one version per model of an experiment manifest, from its text and uploaded checkpoints.

The client sends the manifest's and the metrics file's text (``TextFileIn``) and each model's checkpoint as a
blob uploaded before (``PUT /api/v1/blobs/{digest}``). The server never reads a path of its own for a client:
a checkpoint a request lacks is refused, not looked for on the server's disk.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from modelreg.local.experiment_files import TextFile
from modelreg.server.auth import Registry
from modelreg.server.wire import ArtifactIn, Body, reply
from modelreg.types import Version

router = APIRouter(tags=["experiments"])
MISSING: dict[int | str, dict[str, Any]] = {
    404: {"description": "`blob_not_found` with `details.missing` lists the checkpoint digests to upload first "
                         "(PUT /api/v1/blobs/{digest})"}}


class TextFileIn(Body):
    name: str = Field(description="The file's name, e.g. `widget_line_a.yaml`; it is stored under it.")
    text: str = Field(description="The file's content.")


class ExperimentCreate(Body):
    config: TextFileIn = Field(description="The experiment manifest (YAML): project, labels, models, settings.")
    metrics_file: TextFileIn | None = Field(default=None, description="The run's metrics.json, stored with "
                                                                      "each version.")
    metrics: dict[str, Any] | None = Field(default=None, description="The run's metrics, instead of a file.")
    checkpoints: dict[str, ArtifactIn] = Field(
        default_factory=dict, description="Each model's trained weights, by its key under `models`: an uploaded "
                                          "blob, stored as `weights/<file name of path>`.")
    experiment: str | None = Field(default=None, description="The experiment id (default: made of the time).")
    project: str | None = Field(default=None, description="Must be the manifest's project when it names one.")
    alias: str | None = Field(default=None, description="An alias to point at each new version.")
    update_labels: bool = Field(default=False, description="Make the manifest's `labels` the project's label set.")


@router.post("/experiments", response_model=list[Version], status_code=201, responses=MISSING,
             summary="Register an experiment: one version per model of the manifest, all or none")
def register_experiment(body: ExperimentCreate, reg: Registry) -> object:
    metrics: TextFile | dict[str, Any] | None = body.metrics
    if body.metrics_file is not None:
        metrics = TextFile(name=body.metrics_file.name, text=body.metrics_file.text)
    versions = reg.register_experiment(
        TextFile(name=body.config.name, text=body.config.text), metrics=metrics,
        checkpoints={key: a.model_dump() for key, a in body.checkpoints.items()}, experiment=body.experiment,
        project=body.project, alias=body.alias, update_labels=body.update_labels)
    return reply(versions, 201)
