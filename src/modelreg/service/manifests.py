"""The rules of an experiment manifest: which project its versions go to, and its labels against the project's.

An experiment manifest is a YAML config (a ``models/configs/*.yaml`` file) that names a ``project``
and its ``labels`` beside the models and their hyperparameters. When a version is registered with one
(the folder's own config, or ``config=``):

- its ``project`` decides the project when the caller named none (``fire-detector``); a caller that named
  another project (``other/fire-detector``) is refused, naming both, before anything is stored;
- its ``labels`` must be the project's label set, in the same order (class indices follow it). A project
  without a label set takes them; otherwise a difference is refused, naming the missing and extra labels,
  unless the caller passed ``update_labels=True``, which makes them the project's label set (an event).

Registering a whole experiment (one version per model of the manifest) follows the same rules, with the
project named apart from the models (``experiment_project``): see ``modelreg.service.experiments``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from modelreg.errors import Conflict, InvalidInput, InvalidMetadata
from modelreg.refs import Ref, validate_name
from modelreg.registry import DEFAULT_PROJECT
from modelreg.service.projects import check_labels
from modelreg.steps import pass_option

# each face words it: update_labels=True, --update-labels, "update_labels": true
UPDATE_LABELS_STEP = pass_option("update_labels", lead="change the manifest's labels, or")


@dataclass(frozen=True)
class Manifest:
    """What a manifest says about where its versions belong; None where it says nothing."""

    project: str | None = None
    labels: list[str] | None = None
    source: str = "the manifest"  # how messages name it: "the manifest config.yaml"


def read_manifest(content: Mapping[str, Any], file_name: object = None) -> Manifest:
    """The project and labels of a manifest's content, checked; ``file_name`` names it in messages."""
    source = f"the manifest {file_name}" if isinstance(file_name, str) and file_name else "the manifest"
    project = content.get("project")
    if project is not None:
        if not isinstance(project, str):
            raise InvalidMetadata(f"project in {source} must be a project name, not {type(project).__name__}",
                                  field="config.project")
        project = validate_name(project, kind="project name")
    labels = content.get("labels")
    if labels is not None:
        try:
            labels = check_labels(labels)
        except InvalidMetadata as exc:
            raise InvalidMetadata(f"{source}: {exc.message}", hint=exc.hint or "e.g. labels: [ok, ng, scratch]",
                                  field="config.labels") from exc
    return Manifest(project=project, labels=labels, source=source)


def project_of(ref: Ref, manifest: Manifest) -> Ref:
    """The model reference in the manifest's project when the caller named none; refused when they differ."""
    if manifest.project is None:
        return ref
    if ref.project is None:
        return replace(ref, project=manifest.project)
    if ref.project != manifest.project:
        raise InvalidInput(
            f"{ref.project}/{ref.model} is in project {ref.project!r} but {manifest.source} says project "
            f"{manifest.project!r}",
            hint=f"register into {manifest.project}/{ref.model}, or change the manifest's project",
            project=ref.project, manifest_project=manifest.project)
    return ref


def experiment_project(given: str | None, manifest: Manifest) -> str:
    """The project an experiment's versions go to: the manifest's, which a caller's ``project`` must match;
    the caller's when the manifest names none; else the default project."""
    if given is not None:
        given = validate_name(given, kind="project name")
        if manifest.project is not None and given != manifest.project:
            raise InvalidInput(f"the experiment is registered into project {given!r} but {manifest.source} says "
                               f"project {manifest.project!r}",
                               hint=f"register it into {manifest.project}, or change the manifest's project",
                               project=given, manifest_project=manifest.project)
        return given
    return manifest.project or DEFAULT_PROJECT


def labels_to_set(current: list[str], manifest: Manifest, *, project: str, update: bool) -> list[str] | None:
    """The label set ``project`` takes before the version is registered; None when it stays as it is.

    A project without labels takes the manifest's; with ``update`` they replace the project's; otherwise a
    difference is a Conflict naming the labels missing from the project and those the manifest lacks.
    """
    wanted = manifest.labels
    if wanted is None or wanted == current:
        return None
    if not current or update:
        return list(wanted)
    missing = [label for label in wanted if label not in current]
    extra = [label for label in current if label not in wanted]
    parts = []
    if missing:
        parts.append(f"the project lacks {', '.join(missing)}")
    if extra:
        parts.append(f"{manifest.source} lacks {', '.join(extra)}")
    if not parts:
        parts.append(f"the same labels in another order ([{', '.join(wanted)}] there, [{', '.join(current)}] in "
                     "the project)")
    raise Conflict(f"the labels of {manifest.source} are not project {project!r}'s label set: {'; '.join(parts)}",
                   step=UPDATE_LABELS_STEP, project=project, labels=list(wanted), project_labels=list(current),
                   missing=missing, extra=extra)
