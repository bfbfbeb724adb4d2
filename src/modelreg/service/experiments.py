"""Experiments: one run of an experiment manifest registered as one version per model, linked by an id.

``register_experiment(config, metrics=..., checkpoints=...)`` reads the manifest (``project``, ``labels``,
``models``: ``detector``, ``classifier`` …, shared settings such as ``business_rules``) and the run's
``metrics.json``, and registers, in one transaction, a version of each model of the manifest:

- the model: ``<project>/<key>``, the key under ``models`` (``widget_line_a/detector``); its ``name``
  (``yolov8-seg``) is the architecture, kept in params;
- its files: the checkpoint under ``weights/``, the manifest and the metrics file under their own names;
- its params: the manifest's shared settings (``labels``, ``business_rules`` …), then the model's entry
  (``name``, ``weights``), then its ``hyperparameters`` (each wins over what comes before it);
- its metrics: the numbers of its section of metrics.json (``{"detector": {...}, "classifier": {...}}``, or
  the same under ``models``; a section may also be named by the model's ``name``) over the file's numbers
  outside any section, which are the experiment's and go to every version; a section's ``class_metrics`` list
  is its per-class rows; nested objects flatten with ``.`` and non-numbers are kept in ``extra.metrics_other``;
- the link: the tag ``experiment=<id>`` (filter ``tags.experiment = '<id>'``) and ``extra.experiment``
  ``{id, model, versions}`` listing every version of the experiment. The id is the one given, else the name
  of the metrics file's folder (``artifacts/experiments/<timestamp>/``), else one made of the time.

Everything is checked before anything is stored: the manifest and metrics (malformed or hostile input), the
project (a caller's that differs from the manifest's is refused), the labels against the project's label set
(see ``modelreg.service.manifests``), every checkpoint, an experiment id the project already has, the alias.
Then the files are stored and every version is committed in one transaction: all of them or none.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from modelreg.blobs.base import Progress
from modelreg.errors import AlreadyExists, BlobNotFound, InvalidInput, InvalidName, StorageError
from modelreg.filters import parse_sort, version_fields
from modelreg.local.experiment_files import (
    MAX_MANIFEST_BYTES,
    MAX_METRICS_BYTES,
    ManifestModel,
    TextFile,
    checkpoint_files,
    experiment_id_of,
    load_manifest,
    load_metrics,
    manifest_models,
    read_text_file,
    weights_roots,
)
from modelreg.local.fields import jsonable_fields, metadata_changes
from modelreg.local.metadata_files import flatten_metrics
from modelreg.local.sources import Source
from modelreg.metadata.base import MetadataTx, VersionDraft
from modelreg.refs import Ref, validate_alias, validate_name
from modelreg.service.aliases import AliasesMixin
from modelreg.service.blobs import BlobsBusy, check_version_paths, claim, collect_sources, store_sources
from modelreg.service.manifests import Manifest, experiment_project, read_manifest
from modelreg.service.permissions import PROTECTED, operation
from modelreg.service.projects import where_of
from modelreg.service.versions import VersionsMixin
from modelreg.steps import next_step
from modelreg.types import Artifact, Model, Policies, Version

EXPERIMENT_TAG = "experiment"  # the tag that links an experiment's versions: tags.experiment = '<id>'
WEIGHTS_FOLDER = "weights"
ConfigArg = str | os.PathLike[str] | TextFile
MetricsArg = str | os.PathLike[str] | TextFile | Mapping[str, Any]


@dataclass(frozen=True)
class _Planned:
    """One version to register: its model, checked metadata, and its files (here, or already stored)."""

    model: ManifestModel
    changes: dict[str, Any]
    sources: list[Source]
    stored: list[dict[str, Any]]  # {path, digest, size} of a checkpoint a client uploaded


def _metrics_sections(content: Mapping[str, Any], models: list[ManifestModel]
                      ) -> tuple[dict[str, Mapping[str, Any]], dict[str, Any]]:
    """Each model's section of metrics.json (by its key, else its ``name``), and the numbers outside them."""
    wrapper = content.get("models")
    holder: Mapping[str, Any] = wrapper if isinstance(wrapper, Mapping) else content
    sections: dict[str, Mapping[str, Any]] = {}
    used: set[str] = set()
    for model in models:
        for name in (model.key, model.entry.get("name")):
            if isinstance(name, str) and isinstance(holder.get(name), Mapping):
                sections[model.key] = holder[name]
                used.add(name)
                break
    shared = {k: v for k, v in content.items() if not (holder is content and k in used)
              and not (holder is not content and k == "models")}
    return sections, shared


def version_metadata(model: ManifestModel, shared: Mapping[str, Any], metrics: Mapping[str, Any],
                     models: list[ManifestModel]) -> dict[str, Any]:
    """A model's version fields from the manifest and metrics.json (see the module docstring), unchecked."""
    sections, common = _metrics_sections(metrics, models)
    section = dict(sections.get(model.key, {}))
    class_metrics = section.pop("class_metrics", None)
    own, own_rest = flatten_metrics(section)
    shared_numbers, shared_rest = flatten_metrics(dict(common))
    numbers = {**own, **{k: v for k, v in shared_numbers.items() if k not in own}}  # its own first
    rest = {**shared_rest, **own_rest}
    entry = {k: v for k, v in model.entry.items() if k != "hyperparameters"}
    fields: dict[str, Any] = {"params": {**shared, **entry, **model.hyperparameters}, "metrics": numbers}
    if class_metrics is not None:
        fields["class_metrics"] = class_metrics
    if rest:
        fields["extra"] = {"metrics_other": rest}
    return fields


def _manifest_file(config: ConfigArg) -> tuple[TextFile, list[Path] | None]:
    """The manifest's text, and where its relative weights are looked for (None: given as text, not looked for)."""
    if isinstance(config, TextFile):
        return config, None
    if not isinstance(config, (str, os.PathLike)):
        raise InvalidInput(f"config must be the path of a YAML manifest, not {type(config).__name__}",
                           field="config")
    return read_text_file(config, what="manifest", limit=MAX_MANIFEST_BYTES), weights_roots(Path(config))


def _metrics_of(metrics: MetricsArg | None) -> tuple[dict[str, Any], TextFile | None]:
    """metrics.json's content and the file itself (None when given as content, or not at all)."""
    if metrics is None:
        return {}, None
    if isinstance(metrics, TextFile):
        return load_metrics(metrics), metrics
    if isinstance(metrics, (str, os.PathLike)):
        file = read_text_file(metrics, what="metrics", limit=MAX_METRICS_BYTES)
        return load_metrics(file), file
    if isinstance(metrics, Mapping):
        import json

        text = json.dumps(dict(metrics), default=str)
        return load_metrics(TextFile(name="metrics.json", text=text)), None
    raise InvalidInput(f"metrics must be a metrics.json path or its content, not {type(metrics).__name__}",
                       field="metrics")


def experiment_id(given: str | None, metrics: MetricsArg | None, now: Any) -> str:
    """The experiment's id: the one given, else the metrics file's folder name, else one made of the time."""
    if given is not None:
        try:
            return validate_name(given, kind="experiment id")
        except InvalidName as exc:
            raise InvalidInput(exc.message, hint="e.g. 2024-06-01_14-30 or baseline-3", field="experiment") from exc
    if isinstance(metrics, (str, os.PathLike)) and (found := experiment_id_of(metrics)) is not None:
        return found
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _file_name(name: str, what: str) -> str:
    """The manifest's or metrics' file name, stored at the top of each version: a plain name, no folder."""
    if not name or PurePosixPath(name).name != name or "\\" in name:
        raise InvalidInput(f"the {what} file's name {name!r} must be a plain file name (no folder)", field=what)
    return name


def _missing(digests: list[str]) -> BlobNotFound:
    return BlobNotFound(f"{len(digests)} checkpoint file(s) of the experiment are not in the blob store",
                        step=next_step("upload_blobs"), missing=digests)


class ExperimentsMixin(VersionsMixin, AliasesMixin):
    @operation("editor", "registering an experiment", extra=PROTECTED)
    def register_experiment(self, config: str | os.PathLike[str] | TextFile, *,
                            metrics: str | os.PathLike[str] | TextFile | Mapping[str, Any] | None = None,
                            checkpoints: Mapping[str, str | os.PathLike[str] | Artifact | Mapping[str, Any]]
                            | None = None,
                            experiment: str | None = None, project: str | None = None, alias: str | None = None,
                            update_labels: bool = False, progress: Progress | None = None) -> list[Version]:
        """Register one version per model of an experiment manifest, linked by an experiment id, all or none.

        ``config``: the manifest's path (or a ``TextFile``). ``metrics``: the run's metrics.json (a path, a
        ``TextFile`` or its content). ``checkpoints``: {model key: the trained weights' path}, or a file
        already in the blob store as {path, digest, size}; a model without one takes its manifest ``weights``
        path, looked for under the current directory, then the manifest's folder and the two above it.
        ``experiment``: the id (default: the metrics file's folder name). ``project``: must be the manifest's
        when it names one. ``alias``: also point it at each new version. ``update_labels``: make the
        manifest's labels the project's label set. Returns the versions in the manifest's order.
        """
        file, roots = _manifest_file(config)
        content = load_manifest(file)
        manifest = read_manifest(content, file.name)
        models, shared = manifest_models(content, manifest.source)
        target = experiment_project(project, manifest)
        self.ctx.check_project(target)
        alias = validate_alias(alias) if alias is not None else None
        values, metrics_file = _metrics_of(metrics)
        exp_id = experiment_id(experiment, metrics, self.ctx.now())
        paths, given_stored = checkpoint_files(models, checkpoints or {}, roots, manifest.source)
        extra_files: dict[str, bytes] = {_file_name(file.name, "config"): file.text.encode()}
        if metrics_file is not None:
            extra_files[_file_name(metrics_file.name, "metrics")] = metrics_file.text.encode()
        plans: list[_Planned] = []
        for model in models:
            fields = version_metadata(model, shared, values, models)
            fields["tags"] = {EXPERIMENT_TAG: exp_id}
            fields["extra"] = {**fields.get("extra", {}), "config_file": file.name,
                               **({"metrics_file": metrics_file.name} if metrics_file else {})}
            changes = metadata_changes(**fields)
            if model.key in paths:
                checkpoint = paths[model.key]
                sources = collect_sources({f"{WEIGHTS_FOLDER}/{checkpoint.name}": checkpoint, **extra_files})
                stored: list[dict[str, Any]] = []
            else:
                sources = collect_sources(extra_files)
                raw = given_stored[model.key]
                name = PurePosixPath(str(raw.get("path") or "")).name
                if not name:
                    raise InvalidInput(f"the checkpoint of {model.key} has no file name (path)", model=model.key)
                stored = [{**raw, "path": f"{WEIGHTS_FOLDER}/{name}"}]
            check_version_paths([s.path for s in sources] + [str(a["path"]) for a in stored])
            plans.append(_Planned(model=model, changes=changes, sources=sources, stored=stored))
        self.ctx.read(lambda tx: self._check_experiment(tx, target, manifest, models, exp_id, alias, update_labels))
        uploaded = self._stored_checkpoints(plans)  # after every other check
        artifacts = {p.model.key: sorted([*store_sources(self.ctx, p.sources, progress),
                                          *uploaded.get(p.model.key, [])], key=lambda a: a.path) for p in plans}
        by_digest = {a.digest: s for p in plans for s in p.sources
                     for a in artifacts[p.model.key] if a.path == s.path}

        def commit() -> list[Version]:
            return self.ctx.write(lambda tx: self._commit_experiment(
                tx, target, manifest, plans, artifacts, exp_id, alias, update_labels))

        return _with_retries(self, commit, by_digest)

    def _stored_checkpoints(self, plans: list[_Planned]) -> dict[str, list[Artifact]]:
        """The checkpoints a client uploaded, checked (path, digest, size, in the blob store), per model; else
        BlobNotFound with every digest still to upload."""
        out: dict[str, list[Artifact]] = {}
        missing: set[str] = set()
        for plan in plans:
            if not plan.stored:
                continue
            try:
                out[plan.model.key] = self._stored_artifacts(plan.stored)
            except BlobNotFound as exc:
                missing.update(str(d) for d in exc.details.get("missing") or [])
        if missing:
            raise _missing(sorted(missing))
        return out

    def _check_experiment(self, tx: MetadataTx, project: str, manifest: Manifest, models: list[ManifestModel],
                          exp_id: str, alias: str | None, update_labels: bool) -> None:
        """What would refuse the commit, checked before any file is stored (the commit checks it again)."""
        self._manifest_labels(tx, Ref(model=models[0].key, project=project), manifest, update_labels, apply=False)
        self._experiment_free(tx, project, exp_id)
        if alias is None:
            return
        for model in models:
            found = tx.get_model(project=project, name=model.key)
            if found is not None:
                self._check_move(found, alias)
            elif alias in Policies().protected_aliases:  # a new model gets the default policies
                self.ctx.require("maintainer", f"moving the protected alias {alias!r}")

    def _experiment_free(self, tx: MetadataTx, project: str, exp_id: str) -> None:
        """Refuse an experiment id the project's versions already carry, naming them."""
        if tx.get_project(name=project) is None:
            return
        where = where_of(f"tags.{EXPERIMENT_TAG} = '{exp_id}'", None, version_fields)  # a name: no quote in it
        page = tx.search_versions(model_id=None, project=project, where=where,
                                  sort=parse_sort(None, version_fields, "-created_at"), cursor=None, limit=20)
        if page.items:
            refs = ", ".join(sorted(v.ref for v in page.items))
            raise AlreadyExists(f"experiment {exp_id!r} is already registered in project {project!r}: {refs}",
                                hint="give the experiment another id, or delete those versions first",
                                experiment=exp_id, versions=[v.ref for v in page.items])

    def _commit_experiment(self, tx: MetadataTx, project: str, manifest: Manifest, plans: list[_Planned],
                           artifacts: Mapping[str, list[Artifact]], exp_id: str, alias: str | None,
                           update_labels: bool) -> list[Version]:
        """Every version of the experiment, in one transaction (models locked in name order)."""
        proj = self._project_or_create(tx, project)
        self._manifest_labels(tx, Ref(model=plans[0].model.key, project=project), manifest, update_labels,
                              apply=True)
        self._experiment_free(tx, project, exp_id)
        now = self.ctx.now()
        models: dict[str, Model] = {}
        numbers: dict[str, int] = {}
        for plan in sorted(plans, key=lambda p: p.model.key):
            key = plan.model.key
            found = tx.get_model(project=project, name=key, lock=True)
            if found is None:
                found = tx.create_model(project_id=proj.id, name=key, now=now)
                self._event(tx, "model.created", model=found, after=found.model_dump(mode="json"))
            models[key] = found
            numbers[key] = tx.allocate_number(model_id=found.id)
        refs = [f"{project}/{p.model.key}:v{numbers[p.model.key]}" for p in plans]
        out: list[Version] = []
        for plan in plans:
            key, mdl, number = plan.model.key, models[plan.model.key], numbers[plan.model.key]
            arts = list(artifacts[key])
            claim(self.ctx, tx, arts)
            changes = dict(plan.changes)
            changes["extra"] = {**changes.get("extra", {}),
                                "experiment": {"id": exp_id, "model": key, "versions": refs}}
            version = tx.insert_version(draft=VersionDraft(
                model_id=mdl.id, number=number, status="ready", created_at=now, created_by=self.ctx.actor,
                **changes))
            tx.add_artifacts(version_id=version.id, artifacts=arts)
            self._event(tx, "version.registered", model=mdl, version=number,
                        after={"artifacts": [a.model_dump() for a in arts], **jsonable_fields(changes)})
            self._auto_activate(tx, mdl, number)
            if alias is not None:
                self._check_move(mdl, alias)
                reloaded = tx.get_version(model_id=mdl.id, number=number)
                assert reloaded is not None
                self._move(tx, mdl, alias, reloaded)
            out.append(self._reload(tx, mdl, number))
        return out


def _with_retries(service: ExperimentsMixin, commit: Callable[[], list[Version]],
                  by_digest: Mapping[str, Source], attempts: int = 8) -> list[Version]:
    """Commit; when a gc took some blobs meanwhile, store them again from here (or ask the client for them)
    and commit again; a model created by a concurrent first registration is found on the next attempt."""
    for attempt in range(attempts):
        try:
            return commit()
        except BlobsBusy as busy:
            if any(d not in by_digest for d in busy.digests):
                raise _missing(busy.digests) from None
            time.sleep(0.05 * (attempt + 1))
            for digest in busy.digests:
                with by_digest[digest].open() as stream:
                    service.ctx.blobs.put(stream, expected_digest=digest)  # type: ignore[arg-type]
        except AlreadyExists as exc:
            if "experiment" in exc.details or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise StorageError("the blob store kept losing this experiment's files while registering",
                       hint="a gc may be running; try again when it has finished")


__all__ = ["EXPERIMENT_TAG", "ExperimentsMixin", "experiment_id", "version_metadata"]
